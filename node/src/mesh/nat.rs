//! NAT traversal for the mesh: the circuit relay (v2) a public node serves and its limits, the
//! relays a node behind a NAT listens through (given, or its bootstrap peers once AutoNAT says
//! it is private), and the bookkeeping that moves traffic onto a direct connection once DCUtR
//! hole punching finds one — retrying while a peer is reachable only through a relay.
//!
//! Everything here is I/O-free: the actor feeds connection events in and asks what to dial or
//! close, passing `now`.

use std::{collections::HashMap, num::NonZeroU32, time::Duration};

use libp2p::{
    Multiaddr, PeerId, core::ConnectedPoint, core::transport::ListenerId, multiaddr::Protocol,
    relay, swarm::ConnectionId,
};
use tokio::time::Instant;

/// What a relay serves, so that a public node is not an open bandwidth sink. A circuit only
/// has to carry a connection until hole punching replaces it, or the little traffic of a
/// worker whose NAT cannot be punched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayLimits {
    /// Most reservations (peers listening through this relay) at once.
    pub max_reservations: usize,
    /// Most circuits (relayed connections) at once.
    pub max_circuits: usize,
    /// Most circuits one peer may open or receive at once.
    pub max_circuits_per_peer: usize,
    /// A circuit closes after this long; the peers dial through the relay again if they must.
    pub max_circuit_duration: Duration,
    /// A circuit closes after relaying this many bytes.
    pub max_circuit_bytes: u64,
    /// New circuits one source peer may open per minute.
    pub circuits_per_minute: u32,
}

impl Default for RelayLimits {
    fn default() -> Self {
        Self {
            max_reservations: 256,
            max_circuits: 64,
            max_circuits_per_peer: 4,
            max_circuit_duration: Duration::from_secs(5 * 60),
            max_circuit_bytes: 4 << 20,
            circuits_per_minute: 30,
        }
    }
}

impl RelayLimits {
    /// The libp2p relay configuration enforcing these limits (each peer may hold a couple of
    /// reservations, renewed hourly; rates per peer and per IP address).
    pub(crate) fn relay_config(&self) -> relay::Config {
        let per_minute = NonZeroU32::new(self.circuits_per_minute.max(1)).expect("at least 1");
        let minute = Duration::from_secs(60);
        relay::Config {
            max_reservations: self.max_reservations,
            max_reservations_per_peer: 2,
            max_circuits: self.max_circuits,
            max_circuits_per_peer: self.max_circuits_per_peer,
            max_circuit_duration: self.max_circuit_duration,
            max_circuit_bytes: self.max_circuit_bytes,
            reservation_rate_limiters: Vec::new(),
            circuit_src_rate_limiters: Vec::new(),
            ..relay::Config::default()
        }
        .reservation_rate_per_peer(NonZeroU32::new(10).expect("10 > 0"), minute)
        .reservation_rate_per_ip(NonZeroU32::new(60).expect("60 > 0"), minute)
        .circuit_src_per_peer(per_minute, minute)
        .circuit_src_per_ip(per_minute.saturating_mul(NonZeroU32::new(4).expect("4 > 0")), minute)
    }

    pub(crate) fn is_valid(&self) -> bool {
        self.max_reservations > 0
            && self.max_circuits > 0
            && self.max_circuits_per_peer > 0
            && !self.max_circuit_duration.is_zero()
            && self.max_circuit_bytes > 0
    }
}

/// How a node deals with NATs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatConfig {
    /// Serve as a relay for peers behind NATs within these limits (`None`: relay nothing).
    /// A relay needs a confirmed external address: see `external`.
    pub relay_server: Option<RelayLimits>,
    /// Listen through these relays (`…/p2p/<relay id>`) whatever AutoNAT says.
    pub relays: Vec<Multiaddr>,
    /// Run AutoNAT: learn whether this node is reachable, and answer other peers' probes.
    pub autonat: bool,
    /// Once AutoNAT says this node is private, listen through its bootstrap peers as relays.
    pub auto_relay: bool,
    /// Addresses this node is known to be reachable at (a relay advertises these).
    pub external: Vec<Multiaddr>,
    /// While a peer we dialed is reachable only through a relay, try hole punching again this
    /// often (a NAT mapping or firewall may have changed).
    pub hole_punch_retry: Duration,
}

impl Default for NatConfig {
    fn default() -> Self {
        Self {
            relay_server: None,
            relays: Vec::new(),
            autonat: false,
            auto_relay: false,
            external: Vec::new(),
            hole_punch_retry: Duration::from_secs(30),
        }
    }
}

/// One established connection, as [`MeshClient::links`](super::MeshClient::links) reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The remote peer.
    pub peer: PeerId,
    /// Its address on this connection.
    pub remote: Multiaddr,
    /// Whether the connection runs through a relay circuit.
    pub relayed: bool,
}

/// The `/p2p-circuit` address to listen on through `relay`.
pub(crate) fn circuit_listen_addr(relay: &Multiaddr) -> Multiaddr {
    relay.clone().with(Protocol::P2pCircuit)
}

/// Whether `addr` goes through a relay.
pub(crate) fn is_relayed(addr: &Multiaddr) -> bool {
    addr.iter().any(|p| matches!(p, Protocol::P2pCircuit))
}

struct Connection {
    id: ConnectionId,
    remote: Multiaddr,
    relayed: bool,
    /// The relayed address we dialed, if we dialed it (we re-dial it to retry hole punching).
    dialed_circuit: Option<Multiaddr>,
}

/// The connections of every peer, the relays listened through, and when hole punching was
/// last attempted per relayed-only peer.
#[derive(Default)]
pub(crate) struct NatState {
    connections: HashMap<PeerId, Vec<Connection>>,
    attempted: HashMap<PeerId, Instant>,
    /// Relay listeners: listener id → the relay address.
    listeners: HashMap<ListenerId, Multiaddr>,
    /// AutoNAT found this node private.
    pub(crate) private: bool,
}

impl NatState {
    pub(crate) fn established(
        &mut self,
        peer: PeerId,
        id: ConnectionId,
        endpoint: &ConnectedPoint,
        now: Instant,
    ) {
        let relayed = endpoint.is_relayed();
        let dialed_circuit = match endpoint {
            ConnectedPoint::Dialer { address, .. } if relayed => Some(address.clone()),
            _ => None,
        };
        if relayed {
            // A fresh relayed connection starts a hole punch (DCUtR runs on every one).
            self.attempted.insert(peer, now);
        }
        let remote = endpoint.get_remote_address().clone();
        self.connections.entry(peer).or_default().push(Connection {
            id,
            remote,
            relayed,
            dialed_circuit,
        });
    }

    pub(crate) fn closed(&mut self, peer: PeerId, id: ConnectionId) {
        if let Some(connections) = self.connections.get_mut(&peer) {
            connections.retain(|c| c.id != id);
            if connections.is_empty() {
                self.connections.remove(&peer);
                self.attempted.remove(&peer);
            }
        }
    }

    pub(crate) fn links(&self) -> Vec<Link> {
        self.connections
            .iter()
            .flat_map(|(peer, connections)| {
                connections.iter().map(|c| Link {
                    peer: *peer,
                    remote: c.remote.clone(),
                    relayed: c.relayed,
                })
            })
            .collect()
    }

    /// Relayed connections made redundant by a direct connection to the same peer: closing
    /// them moves every protocol onto the direct one.
    pub(crate) fn redundant_relayed(&self) -> Vec<ConnectionId> {
        self.connections
            .values()
            .filter(|connections| connections.iter().any(|c| !c.relayed))
            .flat_map(|connections| connections.iter().filter(|c| c.relayed).map(|c| c.id))
            .collect()
    }

    /// Relayed-only peers we dialed whose last hole punch is `every` old: the circuit to dial
    /// again (a new relayed connection makes the remote start DCUtR again). Marks them tried.
    pub(crate) fn punch_again(
        &mut self,
        now: Instant,
        every: Duration,
    ) -> Vec<(PeerId, Multiaddr)> {
        let mut due = Vec::new();
        for (peer, connections) in &self.connections {
            if connections.iter().any(|c| !c.relayed) {
                continue;
            }
            let Some(circuit) = connections.iter().find_map(|c| c.dialed_circuit.clone()) else {
                continue;
            };
            let last = self.attempted.get(peer).copied().unwrap_or(now);
            if now.duration_since(last) >= every {
                due.push((*peer, circuit));
            }
        }
        for (peer, _) in &due {
            self.attempted.insert(*peer, now);
        }
        due
    }

    /// Whether `relay` has a live listener.
    pub(crate) fn listening_through(&self, relay: &Multiaddr) -> bool {
        self.listeners.values().any(|r| r == relay)
    }

    pub(crate) fn listener_opened(&mut self, id: ListenerId, relay: Multiaddr) {
        self.listeners.insert(id, relay);
    }

    /// Forgets a closed listener; true if it was a relay listener.
    pub(crate) fn listener_closed(&mut self, id: ListenerId) -> bool {
        self.listeners.remove(&id).is_some()
    }
}

#[cfg(test)]
mod tests {
    use libp2p::core::{Endpoint, transport::PortUse};

    use super::*;

    fn dialer(address: &str) -> ConnectedPoint {
        ConnectedPoint::Dialer {
            address: address.parse().unwrap(),
            role_override: Endpoint::Dialer,
            port_use: PortUse::Reuse,
        }
    }

    const RELAY: &str = "/ip4/198.18.0.1/tcp/4001/p2p/12D3KooWLvHM3vCtTznHdKnYtSmwPXSJSjFzuRzLkCRgWBy1HEB3/p2p-circuit";

    #[test]
    fn a_relayed_peer_is_punched_again_until_a_direct_connection_replaces_the_circuit() {
        let mut nat = NatState::default();
        let peer = PeerId::random();
        let start = Instant::now();
        let every = Duration::from_secs(30);
        let relayed = ConnectionId::new_unchecked(1);
        nat.established(peer, relayed, &dialer(RELAY), start);
        assert!(nat.links()[0].relayed);
        assert!(nat.punch_again(start + Duration::from_secs(29), every).is_empty());
        let due = nat.punch_again(start + every, every);
        assert_eq!(due, vec![(peer, RELAY.parse().unwrap())]);
        assert!(nat.punch_again(start + every, every).is_empty(), "marked as tried");
        assert!(nat.redundant_relayed().is_empty());

        nat.established(
            peer,
            ConnectionId::new_unchecked(2),
            &dialer("/ip4/198.18.0.3/udp/5/quic-v1"),
            start,
        );
        assert_eq!(nat.redundant_relayed(), vec![relayed]);
        assert!(nat.punch_again(start + 10 * every, every).is_empty(), "direct now");
        nat.closed(peer, relayed);
        assert_eq!(nat.links().len(), 1);
        assert!(!nat.links()[0].relayed);
    }

    #[test]
    fn peers_that_dialed_us_through_a_relay_are_not_redialed() {
        let mut nat = NatState::default();
        let listener = ConnectedPoint::Listener {
            local_addr: RELAY.parse().unwrap(),
            send_back_addr: "/p2p/12D3KooWLvHM3vCtTznHdKnYtSmwPXSJSjFzuRzLkCRgWBy1HEB3"
                .parse()
                .unwrap(),
        };
        let start = Instant::now();
        nat.established(PeerId::random(), ConnectionId::new_unchecked(1), &listener, start);
        assert!(nat.links()[0].relayed);
        assert!(
            nat.punch_again(start + Duration::from_secs(600), Duration::from_secs(1)).is_empty()
        );
    }

    #[test]
    fn default_relay_limits_are_valid() {
        assert!(RelayLimits::default().is_valid());
        assert!(!RelayLimits { max_circuit_bytes: 0, ..RelayLimits::default() }.is_valid());
        let _ = RelayLimits::default().relay_config();
    }
}
