//! `peerhost-bootstrap`: a long-lived entry point to the mesh. It speaks Kademlia (so joining
//! nodes find each other), relays deployment announcements and heartbeats, and serves the
//! deployment catalog to late joiners. It runs no functions and holds no bundles.

#![allow(clippy::print_stdout)] // prints its addresses for operators

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use libp2p::Multiaddr;
use peerhost_node::{Node, NodeConfig};

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
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&args.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();

    let data_dir =
        args.data_dir.unwrap_or_else(|| peerhost_node::keys::default_data_dir().join("bootstrap"));
    let mut config = NodeConfig::new(data_dir).bootstrap(args.peer);
    config.mesh.listen = args.listen;
    config.mesh.target_peers = 256;
    let node = Node::start(config).await.context("starting the bootstrap node")?;
    // Give the swarm a moment to report every interface it listens on.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    println!("peer {}", node.peer_id());
    for addr in node.dial_addrs() {
        println!("listening {addr}");
    }
    tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")?;
    node.shutdown().await;
    Ok(())
}
