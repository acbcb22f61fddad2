//! The mesh actor: owns the swarm, executes [`Command`]s, turns swarm events into
//! [`MeshEvent`]s. Nothing here blocks on the application: events are offered with
//! `try_send`, so a slow application sheds gossip instead of stalling the network.

use std::{
    collections::{HashMap, HashSet},
    time::Duration,
};

use futures::{FutureExt, StreamExt, future::BoxFuture, stream::FuturesUnordered};
use libp2p::{
    Multiaddr, PeerId, Swarm, autonat, dcutr,
    gossipsub::{self, IdentTopic},
    identify, kad,
    multiaddr::Protocol,
    request_response::{self, OutboundRequestId, ResponseChannel},
    swarm::SwarmEvent,
};
use peerhost_protocol::{BodyResponse, CatalogResponse, DeliveryAck, OrderResponse};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, trace, warn};

use super::{
    MeshConfig, MeshError, MeshEvent,
    behaviour::{Behaviour, BehaviourEvent, KAD_PROTOCOL},
    client::Command,
    event::GossipMessage,
    nat::{self, NatState},
    peer_of,
};

type Pending<T> = HashMap<OutboundRequestId, oneshot::Sender<Result<T, MeshError>>>;

/// An inbound request whose answer the application has not given yet.
pub(crate) enum Reply {
    Deliver(ResponseChannel<DeliveryAck>, Option<DeliveryAck>),
    Body(ResponseChannel<BodyResponse>, Option<BodyResponse>),
    Catalog(ResponseChannel<CatalogResponse>, Option<CatalogResponse>),
    Order(ResponseChannel<OrderResponse>, Option<Box<OrderResponse>>),
}

pub(crate) struct MeshActor {
    pub(crate) swarm: Swarm<Behaviour>,
    pub(crate) config: MeshConfig,
    pub(crate) commands: mpsc::Receiver<Command>,
    pub(crate) events: mpsc::Sender<MeshEvent>,
    pub(crate) listen: watch::Sender<Vec<Multiaddr>>,
    pub(crate) shutdown: CancellationToken,
    pub(crate) deliveries: Pending<DeliveryAck>,
    pub(crate) bodies: Pending<BodyResponse>,
    pub(crate) catalogs: Pending<CatalogResponse>,
    pub(crate) orders: Pending<OrderResponse>,
    pub(crate) replies: FuturesUnordered<BoxFuture<'static, Reply>>,
    pub(crate) nat: NatState,
    /// Peers with an open link (never trimmed).
    pub(crate) linked: super::trim::Linked,
    /// When each peer was last used (what trimming goes by).
    pub(crate) usage: super::trim::Usage,
}

impl MeshActor {
    pub(crate) async fn run(mut self) {
        self.dial_bootstrap();
        self.listen_through_relays();
        // Kademlia refreshes quickly while this node is short of peers (peers that join just
        // after us are found within seconds), then every `kad_refresh`: each refresh is a
        // handful of lookups that dial peers we are not connected to, so at a thousand nodes
        // quick refreshes everywhere are a storm of handshakes.
        let mut refresh_every = Duration::from_secs(1);
        let refresh = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(refresh);
        // Check for isolation (and re-dial bootstrap peers) more often than the full refresh.
        let mut heal = tokio::time::interval(Duration::from_secs(5));
        loop {
            tokio::select! {
                biased;
                () = self.shutdown.cancelled() => break,
                command = self.commands.recv() => match command {
                    Some(command) => self.on_command(command),
                    None => break,
                },
                Some(reply) = self.replies.next() => self.send_reply(reply),
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                _ = heal.tick() => self.heal(),
                () = &mut refresh => {
                    refresh_every = self.refresh_routing(refresh_every);
                    refresh.as_mut().reset(tokio::time::Instant::now() + refresh_every);
                }
            }
        }
        debug!(target: "peerhost::mesh", "mesh actor stopped");
    }

    fn dial_bootstrap(&mut self) {
        for addr in self.config.bootstrap.clone() {
            if let Some(peer) = peer_of(&addr) {
                if peer == *self.swarm.local_peer_id() {
                    continue;
                }
                self.swarm.behaviour_mut().kad.add_address(&peer, addr.clone());
            }
            if let Err(e) = self.swarm.dial(addr.clone()) {
                warn!(target: "peerhost::mesh", %addr, error = %e, "bootstrap dial failed");
            }
        }
    }

    /// Auto-healing: an isolated node re-dials its bootstrap peers; a node behind a NAT
    /// listens through its relays again when a reservation lapsed; traffic moves off relays
    /// that hole punching made redundant, and relayed-only peers are punched again.
    fn heal(&mut self) {
        if self.swarm.connected_peers().next().is_none() && !self.config.bootstrap.is_empty() {
            debug!(target: "peerhost::mesh", "no peers; re-dialing bootstrap");
            self.dial_bootstrap();
        }
        self.listen_through_relays();
        self.trim();
        for id in self.nat.redundant_relayed() {
            self.swarm.close_connection(id);
        }
        let now = tokio::time::Instant::now();
        for (peer, circuit) in self.nat.punch_again(now, self.config.nat.hole_punch_retry) {
            debug!(target: "peerhost::mesh", %peer, "relayed only; dialing the circuit again to retry hole punching");
            let opts = libp2p::swarm::dial_opts::DialOpts::peer_id(peer)
                .condition(libp2p::swarm::dial_opts::PeerCondition::Always)
                .addresses(vec![circuit])
                .build();
            let _ = self.swarm.dial(opts);
        }
    }

    /// Closes connections nothing uses while more than `target_peers` are open (see `trim.rs`).
    /// Kept: gossip mesh members, peers with a link or a relayed connection, the relays this
    /// node listens through, and whatever was used within [`super::trim::UNUSED_FOR`].
    fn trim(&mut self) {
        let connected: Vec<PeerId> = self.swarm.connected_peers().copied().collect();
        if connected.len() <= self.config.target_peers {
            return;
        }
        let meshed: HashSet<PeerId> =
            self.swarm.behaviour().gossipsub.all_mesh_peers().copied().collect();
        let relayed: HashSet<PeerId> =
            self.nat.links().into_iter().filter(|l| l.relayed).map(|l| l.peer).collect();
        let relays: HashSet<PeerId> = self.relays().filter_map(peer_of).collect();
        let linked = &self.linked;
        let keep = |peer: &PeerId| {
            meshed.contains(peer)
                || relayed.contains(peer)
                || relays.contains(peer)
                || linked.contains(peer)
        };
        let now = tokio::time::Instant::now();
        let idle = super::trim::UNUSED_FOR;
        for peer in self.usage.choose_to_trim(&connected, self.config.target_peers, idle, now, keep)
        {
            trace!(target: "peerhost::mesh", %peer, "trimming an unused connection");
            let _ = self.swarm.disconnect_peer_id(peer);
        }
    }

    /// The relays this node should listen through: the configured ones, and its bootstrap
    /// peers once AutoNAT found it private.
    fn relays(&self) -> impl Iterator<Item = &Multiaddr> {
        let nat = &self.config.nat;
        let auto = nat.auto_relay && self.nat.private;
        nat.relays.iter().chain(self.config.bootstrap.iter().filter(move |_| auto))
    }

    /// Listens through every relay this node should use and does not use yet (one address
    /// per relay).
    fn listen_through_relays(&mut self) {
        let relays: Vec<Multiaddr> = self.relays().cloned().collect();
        let me = *self.swarm.local_peer_id();
        let mut seen = HashSet::new();
        for relay in relays {
            let Some(peer) = peer_of(&relay) else { continue };
            if peer == me || !seen.insert(peer) || self.nat.listening_through(&relay) {
                continue;
            }
            match self.swarm.listen_on(nat::circuit_listen_addr(&relay)) {
                Ok(id) => self.nat.listener_opened(id, relay),
                Err(e) => {
                    warn!(target: "peerhost::mesh", %relay, error = %e, "cannot listen through relay")
                }
            }
        }
    }

    fn on_command(&mut self, command: Command) {
        let behaviour = self.swarm.behaviour_mut();
        match command {
            Command::Publish { topic, data, reply } => {
                let result = behaviour
                    .gossipsub
                    .publish(IdentTopic::new(topic.clone()), data)
                    .map(|_| ())
                    .map_err(|e| match e {
                        gossipsub::PublishError::NoPeersSubscribedToTopic => {
                            MeshError::NoPeers(topic)
                        }
                        other => MeshError::Publish(other.to_string()),
                    });
                let _ = reply.send(result);
            }
            Command::Report { id, source, acceptance } => {
                behaviour.gossipsub.report_message_validation_result(&id, &source, acceptance);
            }
            Command::Learn { peer, addrs } => {
                for addr in addrs.into_iter().filter(is_dialable) {
                    self.swarm.add_peer_address(peer, addr);
                }
            }
            Command::Subscribe { topic } => {
                if let Err(e) = behaviour.gossipsub.subscribe(&IdentTopic::new(topic)) {
                    warn!(target: "peerhost::mesh", error = %e, "subscribe failed");
                }
            }
            Command::Deliver { peer, addrs, delivery, reply } => {
                self.usage.touch(peer, tokio::time::Instant::now());
                let id = behaviour.deliver.send_request_with_addresses(&peer, *delivery, addrs);
                self.deliveries.insert(id, reply);
            }
            Command::FetchBody { peer, addrs, request, reply } => {
                self.usage.touch(peer, tokio::time::Instant::now());
                let id = behaviour.body.send_request_with_addresses(&peer, request, addrs);
                self.bodies.insert(id, reply);
            }
            Command::FetchCatalog { peer, request, reply } => {
                self.usage.touch(peer, tokio::time::Instant::now());
                let id = behaviour.catalog.send_request(&peer, request);
                self.catalogs.insert(id, reply);
            }
            Command::FetchOrder { peer, request, reply } => {
                self.usage.touch(peer, tokio::time::Instant::now());
                let id = behaviour.order.send_request(&peer, request);
                self.orders.insert(id, reply);
            }
            Command::FindPeer { peer } => {
                // A few DHT requests; a gateway asks at most once per worker per link retry.
                let _ = behaviour.kad.get_closest_peers(peer);
            }
            Command::Dial { addr, reply } => {
                let result = self.swarm.dial(addr).map_err(|e| MeshError::Dial(e.to_string()));
                let _ = reply.send(result);
            }
            Command::Links { reply } => {
                let _ = reply.send(self.nat.links());
            }
            Command::ConnectedPeers { reply } => {
                let _ = reply.send(self.swarm.connected_peers().copied().collect());
            }
            Command::PeerScore { peer, reply } => {
                let _ = reply.send(behaviour.gossipsub.peer_score(&peer));
            }
            Command::TopicPeers { topic, reply } => {
                let hash = IdentTopic::new(topic).hash();
                let peers = behaviour
                    .gossipsub
                    .all_peers()
                    .filter(|(_, topics)| topics.contains(&&hash))
                    .map(|(peer, _)| *peer)
                    .collect();
                let _ = reply.send(peers);
            }
        }
    }

    fn send_reply(&mut self, reply: Reply) {
        let behaviour = self.swarm.behaviour_mut();
        // A failed send means the requester went away; nothing to do.
        let _ = match reply {
            Reply::Deliver(channel, Some(ack)) => {
                behaviour.deliver.send_response(channel, ack).is_ok()
            }
            Reply::Body(channel, Some(body)) => behaviour.body.send_response(channel, body).is_ok(),
            Reply::Catalog(channel, Some(page)) => {
                behaviour.catalog.send_response(channel, page).is_ok()
            }
            Reply::Order(channel, Some(order)) => {
                behaviour.order.send_response(channel, *order).is_ok()
            }
            // The application dropped the request: the stream closes unanswered.
            Reply::Deliver(_, None)
            | Reply::Body(_, None)
            | Reply::Catalog(_, None)
            | Reply::Order(_, None) => false,
        };
    }

    fn offer(&self, event: MeshEvent) {
        if let Err(e) = self.events.try_send(event) {
            // Dropped events are requests/gossip the application will never see; gossipsub
            // treats unvalidated messages as ignored and requesters time out.
            warn!(target: "peerhost::mesh", error = %e, "application is not keeping up; event dropped");
        }
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::Behaviour(event) => self.on_behaviour_event(event),
            SwarmEvent::NewListenAddr { address, .. } => {
                debug!(target: "peerhost::mesh", %address, "listening");
                self.listen.send_modify(|addrs| addrs.push(address));
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => {
                self.listen.send_modify(|addrs| addrs.retain(|a| a != &address));
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                num_established,
                endpoint,
                ..
            } => {
                let relayed = endpoint.is_relayed();
                let dialer = endpoint.is_dialer();
                debug!(target: "peerhost::mesh", peer = %peer_id, addr = %endpoint.get_remote_address(), relayed, dialer, "connected");
                self.nat.established(
                    peer_id,
                    connection_id,
                    &endpoint,
                    tokio::time::Instant::now(),
                );
                self.usage.touch(peer_id, tokio::time::Instant::now());
                if num_established.get() == 1 {
                    self.offer(MeshEvent::PeerConnected { peer: peer_id });
                }
            }
            SwarmEvent::ConnectionClosed { peer_id, connection_id, num_established, .. } => {
                self.nat.closed(peer_id, connection_id);
                // A peer this node trimmed did not go away: nobody needs to hear of it.
                if num_established == 0 && !self.usage.disconnected(&peer_id) {
                    trace!(target: "peerhost::mesh", peer = %peer_id, "disconnected");
                    self.offer(MeshEvent::PeerDisconnected { peer: peer_id });
                }
            }
            // A relay listener is opened again on the next heal tick.
            SwarmEvent::ListenerClosed { listener_id, reason, .. }
                if self.nat.listener_closed(listener_id) =>
            {
                info!(target: "peerhost::mesh", reason = ?reason.err(), "relay reservation closed");
            }
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                debug!(target: "peerhost::mesh", peer = ?peer_id, %error, "dial failed");
            }
            SwarmEvent::IncomingConnectionError { send_back_addr, error, .. } => {
                debug!(target: "peerhost::mesh", from = %send_back_addr, %error, "incoming connection failed");
            }
            _ => {}
        }
    }

    /// What an event says about a peer's use: a direct request from it, or a reservation
    /// on this relay (its connection is what the reservation lives on).
    fn note_use(&mut self, event: &BehaviourEvent) {
        use libp2p::relay::Event as Relay;
        use request_response::Event::Message;
        match event {
            BehaviourEvent::Deliver(Message { peer, .. })
            | BehaviourEvent::Body(Message { peer, .. })
            | BehaviourEvent::Catalog(Message { peer, .. })
            | BehaviourEvent::Order(Message { peer, .. }) => {
                self.usage.touch(*peer, tokio::time::Instant::now());
            }
            BehaviourEvent::Relay(Relay::ReservationReqAccepted { src_peer_id, .. }) => {
                self.usage.pin(*src_peer_id);
            }
            BehaviourEvent::Relay(
                Relay::ReservationClosed { src_peer_id }
                | Relay::ReservationTimedOut { src_peer_id },
            ) => self.usage.unpin(src_peer_id),
            _ => {}
        }
    }

    fn on_behaviour_event(&mut self, event: BehaviourEvent) {
        self.note_use(&event);
        match event {
            BehaviourEvent::Gossipsub(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            }) => {
                // Anonymous gossip: the application checks the publisher's signature inside
                // (`GossipMessage::open`), once, on this first copy.
                self.offer(MeshEvent::Gossip(GossipMessage {
                    id: message_id,
                    propagation_source,
                    topic: message.topic,
                    data: message.data,
                }));
            }
            BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. })
                if info.protocols.contains(&KAD_PROTOCOL) =>
            {
                for addr in info.listen_addrs.into_iter().filter(is_dialable) {
                    self.route(peer_id, addr);
                }
            }
            // A lookup of `find_peer`: dial the peer where the DHT says it listens.
            BehaviourEvent::Kad(kad::Event::OutboundQueryProgressed {
                result: kad::QueryResult::GetClosestPeers(Ok(found)),
                ..
            }) => {
                let Ok(target) = PeerId::from_bytes(&found.key) else { return };
                let Some(info) = found.peers.into_iter().find(|p| p.peer_id == target) else {
                    return;
                };
                if !info.addrs.is_empty() && !self.swarm.is_connected(&target) {
                    trace!(target: "peerhost::mesh", peer = %target, "dialing a peer looked up");
                    let opts = libp2p::swarm::dial_opts::DialOpts::peer_id(target)
                        .addresses(info.addrs)
                        .build();
                    let _ = self.swarm.dial(opts);
                }
            }
            BehaviourEvent::Kad(kad::Event::OutboundQueryProgressed {
                result,
                stats,
                step,
                ..
            }) => {
                let kind = match result {
                    kad::QueryResult::Bootstrap(_) => "bootstrap",
                    kad::QueryResult::GetClosestPeers(_) => "closest",
                    _ => "other",
                };
                trace!(target: "peerhost::mesh", kind, step = step.count.get(), last = step.last, requests = stats.num_requests(), "kad query progressed");
            }
            BehaviourEvent::Kad(kad::Event::RoutingUpdated {
                peer,
                addresses,
                is_new_peer,
                ..
            }) => {
                let connected = self.swarm.connected_peers().count();
                // A peer behind a NAT becomes reachable when it learns a relayed address.
                let reachable_anew = is_new_peer || addresses.iter().any(nat::is_relayed);
                if reachable_anew
                    && connected < self.config.target_peers
                    && !self.swarm.is_connected(&peer)
                {
                    trace!(target: "peerhost::mesh", %peer, connected, "dialing a peer new to the routing table");
                    let opts = libp2p::swarm::dial_opts::DialOpts::peer_id(peer)
                        .addresses(addresses.into_vec())
                        .build();
                    let _ = self.swarm.dial(opts);
                }
            }
            BehaviourEvent::Deliver(event) => {
                let (deliveries, events) = (&mut self.deliveries, &self.events);
                if let Some(reply) =
                    on_request_response(event, deliveries, |peer, request, channel| {
                        let (tx, rx) = oneshot::channel();
                        let event =
                            MeshEvent::Delivery { peer, delivery: Box::new(request), reply: tx };
                        offer_to(events, event);
                        async move { Reply::Deliver(channel, rx.await.ok()) }.boxed()
                    })
                {
                    self.replies.push(reply);
                }
            }
            BehaviourEvent::Body(event) => {
                let (bodies, events) = (&mut self.bodies, &self.events);
                if let Some(reply) = on_request_response(event, bodies, |peer, request, channel| {
                    let (tx, rx) = oneshot::channel();
                    offer_to(events, MeshEvent::BodyRequest { peer, request, reply: tx });
                    async move { Reply::Body(channel, rx.await.ok()) }.boxed()
                }) {
                    self.replies.push(reply);
                }
            }
            BehaviourEvent::Catalog(event) => {
                let (catalogs, events) = (&mut self.catalogs, &self.events);
                if let Some(reply) =
                    on_request_response(event, catalogs, |peer, request, channel| {
                        let (tx, rx) = oneshot::channel();
                        offer_to(events, MeshEvent::CatalogRequest { peer, request, reply: tx });
                        async move { Reply::Catalog(channel, rx.await.ok()) }.boxed()
                    })
                {
                    self.replies.push(reply);
                }
            }
            BehaviourEvent::Order(event) => {
                let (orders, events) = (&mut self.orders, &self.events);
                if let Some(reply) = on_request_response(event, orders, |peer, request, channel| {
                    let (tx, rx) = oneshot::channel();
                    offer_to(events, MeshEvent::OrderRequest { peer, request, reply: tx });
                    async move { Reply::Order(channel, rx.await.ok().map(Box::new)) }.boxed()
                }) {
                    self.replies.push(reply);
                }
            }
            BehaviourEvent::Dcutr(dcutr::Event { remote_peer_id, result }) => match result {
                Ok(_) => {
                    info!(target: "peerhost::mesh", peer = %remote_peer_id, "hole punched: direct connection")
                }
                Err(e) => {
                    debug!(target: "peerhost::mesh", peer = %remote_peer_id, error = %e, "hole punching failed")
                }
            },
            BehaviourEvent::Autonat(autonat::Event::StatusChanged { new, .. }) => {
                info!(target: "peerhost::mesh", status = ?new, "reachability");
                self.nat.private = matches!(new, autonat::NatStatus::Private);
                self.listen_through_relays();
            }
            BehaviourEvent::RelayClient(libp2p::relay::client::Event::ReservationReqAccepted {
                relay_peer_id,
                renewal: false,
                ..
            }) => {
                info!(target: "peerhost::mesh", relay = %relay_peer_id, "reachable through relay");
            }
            _ => {}
        }
    }
}

fn offer_to(events: &mpsc::Sender<MeshEvent>, event: MeshEvent) {
    if let Err(e) = events.try_send(event) {
        warn!(target: "peerhost::mesh", error = %e, "application is not keeping up; request dropped");
    }
}

/// Shared handling of the three request-response protocols: answers go to the waiting
/// `oneshot`, failures become [`MeshError::Request`], inbound requests go through `inbound`,
/// which returns the future that yields the application's answer.
fn on_request_response<Req, Resp>(
    event: request_response::Event<Req, Resp>,
    pending: &mut Pending<Resp>,
    inbound: impl FnOnce(PeerId, Req, ResponseChannel<Resp>) -> BoxFuture<'static, Reply>,
) -> Option<BoxFuture<'static, Reply>> {
    match event {
        request_response::Event::Message { peer, message, .. } => match message {
            request_response::Message::Request { request, channel, .. } => {
                Some(inbound(peer, request, channel))
            }
            request_response::Message::Response { request_id, response } => {
                if let Some(tx) = pending.remove(&request_id) {
                    let _ = tx.send(Ok(response));
                }
                None
            }
        },
        request_response::Event::OutboundFailure { peer, request_id, error, .. } => {
            if let Some(tx) = pending.remove(&request_id) {
                let _ = tx.send(Err(MeshError::Request { peer, reason: error.to_string() }));
            }
            None
        }
        request_response::Event::InboundFailure { peer, error, .. } => {
            debug!(target: "peerhost::mesh", %peer, %error, "inbound request failed");
            None
        }
        request_response::Event::ResponseSent { .. } => None,
    }
}

/// Addresses worth putting in the routing table: not unspecified, and carrying a transport.
pub(crate) fn is_dialable(addr: &Multiaddr) -> bool {
    !addr.iter().any(|p| match p {
        Protocol::Ip4(ip) => ip.is_unspecified(),
        Protocol::Ip6(ip) => ip.is_unspecified(),
        _ => false,
    })
}
