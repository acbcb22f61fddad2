//! Mesh configuration.

use std::time::Duration;

use libp2p::Multiaddr;

/// How a node joins and behaves in the libp2p mesh.
#[derive(Debug, Clone)]
pub struct MeshConfig {
    /// Addresses to listen on. Default: TCP and QUIC on an ephemeral loopback port.
    pub listen: Vec<Multiaddr>,
    /// Peers to join through (with `/p2p/<peer id>`). Redialed when the node has no peers.
    pub bootstrap: Vec<Multiaddr>,
    /// Dial peers discovered through Kademlia until this many are connected. Above it, the
    /// connections nothing uses (no gossip mesh, link, relay or direct request for
    /// ten seconds) are closed, oldest use first.
    pub target_peers: usize,
    /// Most established connections in total.
    pub max_connections: u32,
    /// A connection with no open streams closes after this long.
    pub idle_timeout: Duration,
    /// Timeout of one direct request (result delivery, body fetch, catalog page).
    pub request_timeout: Duration,
    /// Gossipsub's mesh degree D: each node keeps D peers per topic in its mesh (between D − 1
    /// and 2D) and gossips message ids to D others. Lower degrees send fewer copies of each
    /// message; at least 2. Default 6 (gossipsub's own).
    pub mesh_degree: usize,
    /// How often to run a Kademlia bootstrap (random walk) to refresh the routing table once
    /// `target_peers` are connected (more often before: 1 s, doubling up to this). Default
    /// 5 minutes.
    pub kad_refresh: Duration,
    /// Identify agent version string.
    pub agent: String,
    /// Relays, AutoNAT and hole punching.
    pub nat: super::NatConfig,
    /// Test switch (`test-utils` feature): in-memory links under this fault model (delays,
    /// losses as retransmission delays, partitions).
    #[cfg(feature = "test-utils")]
    pub faults: Option<std::sync::Arc<dyn super::LinkFaults>>,
}

impl Default for MeshConfig {
    fn default() -> Self {
        Self {
            listen: vec![
                "/ip4/127.0.0.1/tcp/0".parse().expect("valid multiaddr"),
                "/ip4/127.0.0.1/udp/0/quic-v1".parse().expect("valid multiaddr"),
            ],
            bootstrap: Vec::new(),
            target_peers: 32,
            max_connections: 512,
            idle_timeout: Duration::from_secs(60),
            request_timeout: Duration::from_secs(30),
            mesh_degree: 6,
            kad_refresh: Duration::from_secs(300),
            agent: format!("peerhost/{}", env!("CARGO_PKG_VERSION")),
            nat: super::NatConfig::default(),
            #[cfg(feature = "test-utils")]
            faults: None,
        }
    }
}

/// A [`MeshConfig`] that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MeshConfigError {
    /// Nothing to listen on.
    #[error("at least one listen address is required")]
    NoListenAddress,
    /// A bootstrap address lacks its `/p2p/<peer id>` suffix, so it cannot be authenticated.
    #[error("bootstrap address {0} must end with /p2p/<peer id>")]
    BootstrapWithoutPeerId(Multiaddr),
    /// A relay address lacks its `/p2p/<relay id>` suffix.
    #[error("relay address {0} must end with /p2p/<relay id>")]
    RelayWithoutPeerId(Multiaddr),
    /// A gossip mesh degree too small to form a mesh.
    #[error("mesh_degree must be at least 2, not {0}")]
    MeshDegree(usize),
    /// A limit is zero.
    #[error("{0} must be positive")]
    Zero(&'static str),
}

impl MeshConfig {
    /// Checks the invariants.
    ///
    /// # Errors
    ///
    /// See [`MeshConfigError`].
    pub fn validate(&self) -> Result<(), MeshConfigError> {
        if self.listen.is_empty() {
            return Err(MeshConfigError::NoListenAddress);
        }
        if let Some(addr) = self.bootstrap.iter().find(|a| super::peer_of(a).is_none()) {
            return Err(MeshConfigError::BootstrapWithoutPeerId(addr.clone()));
        }
        if let Some(addr) = self.nat.relays.iter().find(|a| super::peer_of(a).is_none()) {
            return Err(MeshConfigError::RelayWithoutPeerId(addr.clone()));
        }
        if self.nat.relay_server.as_ref().is_some_and(|limits| !limits.is_valid()) {
            return Err(MeshConfigError::Zero("every relay limit"));
        }
        if self.max_connections == 0 {
            return Err(MeshConfigError::Zero("max_connections"));
        }
        if self.mesh_degree < 2 {
            return Err(MeshConfigError::MeshDegree(self.mesh_degree));
        }
        if self.request_timeout.is_zero() {
            return Err(MeshConfigError::Zero("request_timeout"));
        }
        Ok(())
    }
}
