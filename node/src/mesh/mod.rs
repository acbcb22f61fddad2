//! The libp2p mesh: one swarm per node (TCP+noise+yamux, QUIC, and in-process memory links
//! for many nodes in one process; identify, ping, Kademlia,
//! gossipsub with strict validation, request-response for occasional direct requests, and
//! long-lived [links](spawn_link) for dispatch), driven by an actor and used through the
//! cloneable [`MeshClient`].
//!
//! This module does not know what a worker or a gateway is: it moves bytes, asks the
//! application to validate every gossip message before forwarding it, and hands inbound
//! direct requests to the application. A Rust service embeds a gateway by spawning a mesh
//! (no wasmtime involved: the `worker` feature is separate).

mod actor;
mod addresses;
mod behaviour;
mod client;
mod codec;
mod config;
mod event;
#[cfg(feature = "test-utils")]
mod faults;
mod identity;
mod link;
mod nat;
mod routing;
mod scoring;
mod trim;

use libp2p::{
    Multiaddr, PeerId, SwarmBuilder, Transport,
    core::{
        muxing::StreamMuxerBox,
        transport::{Boxed, MemoryTransport},
        upgrade::Version,
    },
    identity::Keypair,
    multiaddr::Protocol,
    noise, tcp, yamux,
};
use peerhost_protocol::NodeSecret;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

pub use behaviour::BehaviourError;
pub use client::{MeshClient, MeshError};
pub use config::{MeshConfig, MeshConfigError};
pub use event::{GossipMessage, MeshEvent, Publication};
#[cfg(feature = "test-utils")]
pub use faults::LinkFaults;
pub use identity::{keypair, node_key, peer_id};
pub use libp2p::gossipsub::MessageAcceptance;
pub use link::{FrameLimits, LINK_QUEUE, LinkHandler, LinkSendError, LinkSender};
pub use nat::{Link, NatConfig, RelayLimits};

/// Commands queued to the actor before callers wait: absorbs bursts of publishes and
/// deliveries from many concurrent requests.
const COMMAND_CAPACITY: usize = 4096;
/// Events queued to the application before the actor starts shedding them.
const EVENT_CAPACITY: usize = 4096;

/// Why the mesh could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MeshStartError {
    /// The configuration is inconsistent.
    #[error(transparent)]
    Config(#[from] MeshConfigError),
    /// The transport could not be built.
    #[error("transport: {0}")]
    Transport(String),
    /// The behaviour could not be built.
    #[error(transparent)]
    Behaviour(#[from] BehaviourError),
    /// A listen address could not be bound.
    #[error("cannot listen on {addr}: {reason}")]
    Listen {
        /// The address.
        addr: Multiaddr,
        /// Why.
        reason: String,
    },
}

/// The peer id at the end of a `/p2p/<peer id>` multiaddr.
pub fn peer_of(addr: &Multiaddr) -> Option<PeerId> {
    addr.iter().find_map(|p| match p {
        Protocol::P2p(peer) => Some(peer),
        _ => None,
    })
}

/// Starts the mesh actor on the current tokio runtime. It runs until `shutdown` is
/// cancelled; the returned receiver yields its events.
///
/// # Errors
///
/// See [`MeshStartError`].
pub fn spawn(
    secret: &NodeSecret,
    config: MeshConfig,
    shutdown: CancellationToken,
) -> Result<(MeshClient, mpsc::Receiver<MeshEvent>), MeshStartError> {
    config.validate()?;
    let key = keypair(secret);
    let transport_err = |e: &dyn std::fmt::Display| MeshStartError::Transport(e.to_string());
    let mut behaviour_error = None;
    let mut swarm = SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(tcp::Config::new().nodelay(true), noise::Config::new, yamux::Config::default)
        .map_err(|e| transport_err(&e))?
        .with_quic_config(|mut quic| {
            // Notice dead peers in seconds, not the default minute.
            quic.max_idle_timeout = 10_000;
            quic.keep_alive_interval = std::time::Duration::from_secs(2);
            quic
        })
        .with_other_transport(|key| {
            memory_transport(key, &config)
                .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { Box::new(e) })
        })
        .map_err(|e| transport_err(&e))?
        .with_relay_client(noise::Config::new, yamux::Config::default)
        .map_err(|e| transport_err(&e))?
        .with_behaviour(|key, relay_client| {
            match behaviour::Behaviour::new(key, relay_client, &config) {
                Ok(b) => Ok(b),
                Err(e) => {
                    let message = e.to_string();
                    behaviour_error = Some(e);
                    Err(message.into())
                }
            }
        })
        .map_err(|e| match behaviour_error.take() {
            Some(b) => MeshStartError::Behaviour(b),
            None => transport_err(&e),
        })?
        .with_swarm_config(|c| c.with_idle_connection_timeout(config.idle_timeout))
        .build();

    for addr in &config.listen {
        swarm
            .listen_on(addr.clone())
            .map_err(|e| MeshStartError::Listen { addr: addr.clone(), reason: e.to_string() })?;
    }
    for addr in &config.nat.external {
        swarm.add_external_address(addr.clone());
    }
    for topic in [
        peerhost_protocol::topics::DEPLOYMENTS,
        peerhost_protocol::topics::WORKERS,
        peerhost_protocol::topics::EPOCHS,
    ] {
        swarm
            .behaviour_mut()
            .gossipsub
            .subscribe(&libp2p::gossipsub::IdentTopic::new(topic))
            .map_err(|e| MeshStartError::Transport(e.to_string()))?;
    }

    let (commands_tx, commands_rx) = mpsc::channel(COMMAND_CAPACITY);
    let (events_tx, events_rx) = mpsc::channel(EVENT_CAPACITY);
    let (listen_tx, listen_rx) = watch::channel(Vec::new());
    let linked = trim::Linked::default();
    let client = MeshClient {
        commands: commands_tx,
        linked: linked.clone(),
        streams: swarm.behaviour().streams.new_control(),
        peer_id: *swarm.local_peer_id(),
        key: secret.public(),
        listen: listen_rx,
        publisher: std::sync::Arc::new(client::Publisher::new(secret.clone())),
    };
    let actor = actor::MeshActor {
        swarm,
        config,
        commands: commands_rx,
        events: events_tx,
        listen: listen_tx,
        shutdown,
        deliveries: Default::default(),
        bodies: Default::default(),
        catalogs: Default::default(),
        orders: Default::default(),
        replies: Default::default(),
        nat: Default::default(),
        linked,
        usage: Default::default(),
    };
    // Many nodes share a process in tests and simnet: every mesh log line names its node.
    let span =
        tracing::info_span!(target: "peerhost::mesh", "mesh", node = %client.node_key().short());
    tokio::spawn(tracing::Instrument::instrument(actor.run(), span));
    Ok((client, events_rx))
}

/// In-process links (`/memory/<port>` addresses) with noise and yamux, like TCP's; under the
/// configured fault model when there is one.
fn memory_transport(
    key: &Keypair,
    config: &MeshConfig,
) -> Result<Boxed<(PeerId, StreamMuxerBox)>, noise::Error> {
    let upgraded = MemoryTransport::default()
        .upgrade(Version::V1)
        .authenticate(noise::Config::new(key)?)
        .multiplex(yamux::Config::default());
    #[cfg(feature = "test-utils")]
    if let Some(model) = config.faults.clone() {
        let local = key.public().to_peer_id();
        return Ok(upgraded
            .and_then(move |(remote, muxer), _| {
                let wrapped = faults::wrap(muxer, local, remote, model)
                    .map(|muxer| (remote, StreamMuxerBox::new(muxer)));
                std::future::ready(wrapped)
            })
            .boxed());
    }
    let _ = config;
    Ok(upgraded.map(|(remote, muxer), _| (remote, StreamMuxerBox::new(muxer))).boxed())
}

/// The IP address of a multiaddr, if it has one.
pub fn ip_of(addr: &Multiaddr) -> Option<std::net::IpAddr> {
    addr.iter().find_map(|p| match p {
        Protocol::Ip4(ip) => Some(ip.into()),
        Protocol::Ip6(ip) => Some(ip.into()),
        _ => None,
    })
}

/// Where to listen to reach peers at `ip`: loopback stays on loopback (tests and local
/// networks never leave the machine); anything else listens on all interfaces.
pub fn listen_ip(ip: std::net::IpAddr) -> std::net::IpAddr {
    if ip.is_loopback() { ip } else { std::net::IpAddr::from([0, 0, 0, 0]) }
}

/// TCP and QUIC listen addresses with ephemeral ports on [`listen_ip`]`(ip)`.
pub fn listen_addrs_on(ip: std::net::IpAddr) -> Vec<Multiaddr> {
    let ip = listen_ip(ip);
    vec![
        Multiaddr::from(ip).with(Protocol::Tcp(0)),
        Multiaddr::from(ip).with(Protocol::Udp(0)).with(Protocol::QuicV1),
    ]
}
