//! The node's address book: libp2p addresses of peers learned from signed application
//! messages (a worker's heartbeat names where its swarm listens), offered whenever the swarm
//! dials that peer. Without it a gateway that heard a worker on gossip could reach it only
//! after a DHT lookup, and at a thousand nodes those lookups dial dozens of peers each.
//!
//! Addresses enter through [`Swarm::add_peer_address`](libp2p::Swarm::add_peer_address)
//! (`MeshClient::learn_addresses`); an address a dial failed on is forgotten.

use std::{
    convert::Infallible,
    num::NonZeroUsize,
    task::{Context, Poll},
};

use libp2p::{
    Multiaddr, PeerId,
    core::{Endpoint, transport::PortUse},
    swarm::{
        ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler, THandlerInEvent,
        THandlerOutEvent, ToSwarm, behaviour::PeerAddresses, dummy,
    },
};

/// Remembers up to a number of peers' addresses (least recently learned forgotten first).
pub(crate) struct AddressBook(PeerAddresses);

impl AddressBook {
    pub(crate) fn new(peers: NonZeroUsize) -> Self {
        Self(PeerAddresses::new(peers))
    }
}

impl NetworkBehaviour for AddressBook {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = Infallible;

    fn handle_established_inbound_connection(
        &mut self,
        _: ConnectionId,
        _: PeerId,
        _: &Multiaddr,
        _: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(dummy::ConnectionHandler)
    }

    fn handle_pending_outbound_connection(
        &mut self,
        _: ConnectionId,
        peer: Option<PeerId>,
        _: &[Multiaddr],
        _: Endpoint,
    ) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        Ok(peer.map(|peer| self.0.get(&peer).collect()).unwrap_or_default())
    }

    fn handle_established_outbound_connection(
        &mut self,
        _: ConnectionId,
        _: PeerId,
        _: &Multiaddr,
        _: Endpoint,
        _: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(dummy::ConnectionHandler)
    }

    fn on_swarm_event(&mut self, event: FromSwarm<'_>) {
        self.0.on_swarm_event(&event);
    }

    fn on_connection_handler_event(
        &mut self,
        _: PeerId,
        _: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        match event {}
    }

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ToSwarm<Infallible, THandlerInEvent<Self>>> {
        Poll::Pending
    }
}
