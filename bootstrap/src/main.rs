//! `peerhost-bootstrap`: a long-lived entry point to the mesh. It speaks Kademlia (so joining
//! nodes find each other), relays deployment announcements and heartbeats, and serves the
//! deployment catalog to late joiners. It runs no functions and holds no bundles. For nodes
//! behind NATs it serves as a libp2p circuit relay (on by default, within limits) and answers
//! AutoNAT probes, and it can run an iroh relay for bundle transfers (`--blob-relay`).

#![allow(clippy::print_stdout)] // prints its addresses for operators

mod blob_relay;

use std::{net::SocketAddr, num::NonZeroU32, path::PathBuf, time::Duration};

use anyhow::Context;
use clap::Parser;
use libp2p::{Multiaddr, multiaddr::Protocol};
use peerhost_node::{
    Node, NodeConfig,
    mesh::{NatConfig, RelayLimits},
};

/// Runs a PeerHost bootstrap node and prints the multiaddrs to join through.
#[derive(Debug, Parser)]
#[command(name = "peerhost-bootstrap", version)]
struct Args {
    /// Listen address (repeatable).
    #[arg(long, value_name = "MULTIADDR", default_values = ["/ip4/0.0.0.0/tcp/4001", "/ip4/0.0.0.0/udp/4001/quic-v1"])]
    listen: Vec<Multiaddr>,
    /// Other bootstrap peers to connect to (repeatable).
    #[arg(long, value_name = "MULTIADDR")]
    peer: Vec<Multiaddr>,
    /// Where the node key is kept (a stable key means a stable peer id).
    #[arg(long, env = "PEERHOST_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Log filter.
    #[arg(long, env = "PEERHOST_LOG", default_value = "warn,peerhost=info")]
    log: String,
    /// An address this node is reachable at (repeatable), announced to peers; a relay needs
    /// one. Default: the listen addresses that name an IP (with `0.0.0.0`, AutoNAT probes by
    /// peers confirm the public address instead).
    #[arg(long, value_name = "MULTIADDR")]
    external: Vec<Multiaddr>,
    /// Do not relay circuits for peers behind NATs.
    #[arg(long)]
    no_relay: bool,
    /// Relay: most peers holding a reservation (listening through this node) at once.
    #[arg(long, default_value_t = RelayLimits::default().max_reservations)]
    relay_reservations: usize,
    /// Relay: most circuits at once.
    #[arg(long, default_value_t = RelayLimits::default().max_circuits)]
    relay_circuits: usize,
    /// Relay: a circuit closes after this many seconds (hole punching replaces most sooner).
    #[arg(long, value_name = "SECONDS", default_value_t = RelayLimits::default().max_circuit_duration.as_secs())]
    relay_circuit_secs: u64,
    /// Relay: a circuit closes after carrying this many bytes.
    #[arg(long, value_name = "BYTES", default_value_t = RelayLimits::default().max_circuit_bytes)]
    relay_circuit_bytes: u64,
    /// Run an iroh relay for bundle transfers on this socket (plain HTTP), e.g. `0.0.0.0:3340`;
    /// nodes use it with `--blob-relay http://<public address>:3340`.
    #[arg(long, value_name = "SOCKET")]
    blob_relay: Option<SocketAddr>,
    /// Most bytes per second the blob relay reads from each client.
    #[arg(long, value_name = "BYTES", default_value_t = NonZeroU32::new(4 << 20).expect("positive"))]
    blob_relay_rate: NonZeroU32,
}

impl Args {
    /// Relays, AutoNAT and the addresses to advertise from the flags.
    fn nat(&self) -> NatConfig {
        let external = if self.external.is_empty() {
            self.listen.iter().filter(|a| names_an_ip(a)).cloned().collect()
        } else {
            self.external.clone()
        };
        let relay_server = (!self.no_relay).then(|| RelayLimits {
            max_reservations: self.relay_reservations,
            max_circuits: self.relay_circuits,
            max_circuit_duration: Duration::from_secs(self.relay_circuit_secs),
            max_circuit_bytes: self.relay_circuit_bytes,
            ..RelayLimits::default()
        });
        NatConfig { relay_server, autonat: true, external, ..NatConfig::default() }
    }
}

/// Whether `addr` names a specific IP address (not `0.0.0.0` or `::`).
fn names_an_ip(addr: &Multiaddr) -> bool {
    addr.iter().any(|p| match p {
        Protocol::Ip4(ip) => !ip.is_unspecified(),
        Protocol::Ip6(ip) => !ip.is_unspecified(),
        _ => false,
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&args.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();

    let nat = args.nat();
    let data_dir =
        args.data_dir.unwrap_or_else(|| peerhost_node::keys::default_data_dir().join("bootstrap"));
    let mut config = NodeConfig::new(data_dir).bootstrap(args.peer);
    config.mesh.nat = nat;
    config.mesh.listen = args.listen;
    config.mesh.target_peers = 256;
    let blob_relay = match args.blob_relay {
        Some(bind) => Some(blob_relay::spawn(bind, args.blob_relay_rate).await?),
        None => None,
    };
    let node = Node::start(config).await.context("starting the bootstrap node")?;
    // Give the swarm a moment to report every interface it listens on.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    println!("peer {}", node.peer_id());
    for addr in node.dial_addrs() {
        println!("listening {addr}");
    }
    if let Some(addr) = blob_relay.as_ref().and_then(|r| r.http_addr()) {
        println!("blob relay http://{addr}");
    }
    tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")?;
    node.shutdown().await;
    if let Some(relay) = blob_relay {
        let _ = relay.shutdown().await;
    }
    Ok(())
}
