//! [`MeshClient`]: the cloneable handle an application (worker, gateway, or any Rust service
//! embedding the mesh) uses to talk to the swarm actor.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use libp2p::{
    Multiaddr, PeerId,
    gossipsub::{MessageAcceptance, MessageId},
};
use peerhost_protocol::{
    BodyRequest, BodyResponse, CatalogRequest, CatalogResponse, Delivery, DeliveryAck, NodeKey,
    NodeSecret, OrderRequest, OrderResponse, Published, codec,
};
use tokio::sync::{mpsc, oneshot, watch};

/// Why a mesh operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MeshError {
    /// The mesh actor has stopped (node shutting down).
    #[error("mesh is shut down")]
    Closed,
    /// No connected peer is subscribed to the topic.
    #[error("no peers subscribed to {0}")]
    NoPeers(String),
    /// Gossipsub refused to publish (too large, duplicate, …).
    #[error("publish failed: {0}")]
    Publish(String),
    /// A direct request failed: dial failure, timeout, connection closed, protocol not
    /// supported, or a malformed answer.
    #[error("request to {peer} failed: {reason}")]
    Request {
        /// The remote peer.
        peer: PeerId,
        /// What happened.
        reason: String,
    },
    /// A dial could not be started.
    #[error("dial failed: {0}")]
    Dial(String),
}

/// Commands to the mesh actor. Every variant that answers carries a `oneshot` for the reply.
#[derive(Debug)]
pub(crate) enum Command {
    Publish {
        topic: String,
        data: Vec<u8>,
        reply: oneshot::Sender<Result<(), MeshError>>,
    },
    Report {
        id: MessageId,
        source: PeerId,
        acceptance: MessageAcceptance,
    },
    Learn {
        peer: PeerId,
        addrs: Vec<Multiaddr>,
    },
    Subscribe {
        topic: String,
    },
    FindPeer {
        peer: PeerId,
    },
    Deliver {
        peer: PeerId,
        addrs: Vec<Multiaddr>,
        delivery: Box<Delivery>,
        reply: oneshot::Sender<Result<DeliveryAck, MeshError>>,
    },
    FetchBody {
        peer: PeerId,
        addrs: Vec<Multiaddr>,
        request: BodyRequest,
        reply: oneshot::Sender<Result<BodyResponse, MeshError>>,
    },
    FetchCatalog {
        peer: PeerId,
        request: CatalogRequest,
        reply: oneshot::Sender<Result<CatalogResponse, MeshError>>,
    },
    FetchOrder {
        peer: PeerId,
        request: OrderRequest,
        reply: oneshot::Sender<Result<OrderResponse, MeshError>>,
    },
    Dial {
        addr: Multiaddr,
        reply: oneshot::Sender<Result<(), MeshError>>,
    },
    ConnectedPeers {
        reply: oneshot::Sender<Vec<PeerId>>,
    },
    Links {
        reply: oneshot::Sender<Vec<super::Link>>,
    },
    TopicPeers {
        topic: String,
        reply: oneshot::Sender<Vec<PeerId>>,
    },
    PeerScore {
        peer: PeerId,
        reply: oneshot::Sender<Option<f64>>,
    },
}

/// A handle to a running mesh. Cheap to clone; all methods are safe to call concurrently.
#[derive(Clone)]
pub struct MeshClient {
    pub(crate) commands: mpsc::Sender<Command>,
    pub(crate) streams: libp2p_stream::Control,
    pub(crate) peer_id: PeerId,
    pub(crate) key: NodeKey,
    pub(crate) listen: watch::Receiver<Vec<Multiaddr>>,
    pub(crate) linked: super::trim::Linked,
    /// Signs what this node publishes (see [`Published`]).
    pub(crate) publisher: Arc<Publisher>,
}

/// The node's key and sequence numbers for the gossip it publishes.
pub(crate) struct Publisher {
    secret: NodeSecret,
    next_seqno: AtomicU64,
}

impl Publisher {
    /// Sequence numbers start at the current time in microseconds, so a restarted node does
    /// not reuse the numbers of its last run.
    pub(crate) fn new(secret: NodeSecret) -> Self {
        let start = crate::clock::unix_ms().saturating_mul(1_000);
        Self { secret, next_seqno: AtomicU64::new(start) }
    }

    fn seal(&self, topic: &str, data: Vec<u8>) -> Vec<u8> {
        let seqno = self.next_seqno.fetch_add(1, Ordering::Relaxed);
        codec::encode(&Published::seal(&self.secret, topic, seqno, data))
    }
}

impl std::fmt::Debug for MeshClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MeshClient").field("peer_id", &self.peer_id).finish_non_exhaustive()
    }
}

impl MeshClient {
    /// This node's peer id.
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// This node's key (the same key as the peer id).
    pub fn node_key(&self) -> NodeKey {
        self.key
    }

    /// The addresses the swarm currently listens on (without `/p2p/`).
    pub fn listen_addrs(&self) -> Vec<Multiaddr> {
        self.listen.borrow().clone()
    }

    /// Where peers can dial this node, as its heartbeats name it: the dialable listen
    /// addresses (relayed ones included), at most [`MAX_ADDRS`](peerhost_protocol::MAX_ADDRS).
    pub fn advertised_addrs(&self) -> Vec<String> {
        self.listen
            .borrow()
            .iter()
            .filter(|a| super::actor::is_dialable(a))
            .map(ToString::to_string)
            .filter(|a| a.len() <= peerhost_protocol::MAX_MESH_ADDR_LEN)
            .take(peerhost_protocol::MAX_ADDRS)
            .collect()
    }

    /// Waits until the swarm listens on at least `n` addresses and returns them.
    ///
    /// # Errors
    ///
    /// [`MeshError::Closed`] if the mesh stops first.
    pub async fn wait_listening(&self, n: usize) -> Result<Vec<Multiaddr>, MeshError> {
        let mut rx = self.listen.clone();
        let addrs = rx.wait_for(|a| a.len() >= n).await.map_err(|_| MeshError::Closed)?;
        Ok(addrs.clone())
    }

    async fn call<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, MeshError> {
        let (tx, rx) = oneshot::channel();
        self.commands.send(make(tx)).await.map_err(|_| MeshError::Closed)?;
        rx.await.map_err(|_| MeshError::Closed)
    }

    /// Publishes `data` on `topic`, signed by this node as a [`Published`] message.
    ///
    /// # Errors
    ///
    /// [`MeshError::NoPeers`] when nobody listens on the topic yet, [`MeshError::Publish`]
    /// for other gossipsub refusals, [`MeshError::Closed`] after shutdown.
    ///
    /// # Cancel safety
    ///
    /// Cancelling may or may not leave the message published.
    pub async fn publish(&self, topic: impl Into<String>, data: Vec<u8>) -> Result<(), MeshError> {
        let topic = topic.into();
        let data = self.publisher.seal(&topic, data);
        self.call(|reply| Command::Publish { topic, data, reply }).await?
    }

    /// Reports the application's verdict on a gossip message: `Accept` forwards it, `Ignore`
    /// drops it, `Reject` drops it and penalizes the peer that sent it. Never blocks; if the
    /// actor is saturated the verdict is lost and gossipsub treats the message as ignored.
    pub fn report(&self, id: MessageId, source: PeerId, acceptance: MessageAcceptance) {
        if self.commands.try_send(Command::Report { id, source, acceptance }).is_err() {
            tracing::warn!(target: "peerhost::mesh", "mesh is not keeping up; a gossip verdict was dropped");
        }
    }

    /// Subscribes to `topic` (idempotent).
    ///
    /// # Errors
    ///
    /// [`MeshError::Closed`] after shutdown.
    pub async fn subscribe(&self, topic: impl Into<String>) -> Result<(), MeshError> {
        let topic = topic.into();
        self.commands.send(Command::Subscribe { topic }).await.map_err(|_| MeshError::Closed)
    }

    /// Remembers where `peer` listens (addresses it signed, e.g. in a heartbeat), so that
    /// dialing it needs no DHT lookup. Fire and forget; dropped if the actor is busy.
    pub fn learn_addresses(&self, peer: PeerId, addrs: Vec<Multiaddr>) {
        if !addrs.is_empty() {
            let _ = self.commands.try_send(Command::Learn { peer, addrs });
        }
    }

    /// Looks `peer` up in the DHT and dials it where it is found (a peer heard on gossip whose
    /// address this node does not know yet). Fire and forget: the connection, once up, is what
    /// the caller waits for.
    ///
    /// # Errors
    ///
    /// [`MeshError::Closed`] after shutdown.
    pub async fn find_peer(&self, peer: PeerId) -> Result<(), MeshError> {
        self.commands.send(Command::FindPeer { peer }).await.map_err(|_| MeshError::Closed)
    }

    /// Sends a result (or decline) to a gateway over a direct stream, dialing `addrs` if not
    /// connected.
    ///
    /// # Errors
    ///
    /// [`MeshError::Request`] if the gateway cannot be reached or does not answer in time.
    pub async fn deliver(
        &self,
        peer: PeerId,
        addrs: Vec<Multiaddr>,
        delivery: Delivery,
    ) -> Result<DeliveryAck, MeshError> {
        let delivery = Box::new(delivery);
        self.call(|reply| Command::Deliver { peer, addrs, delivery, reply }).await?
    }

    /// Fetches a request body from the gateway that holds it.
    ///
    /// # Errors
    ///
    /// As [`deliver`](Self::deliver).
    pub async fn fetch_body(
        &self,
        peer: PeerId,
        addrs: Vec<Multiaddr>,
        request: BodyRequest,
    ) -> Result<BodyResponse, MeshError> {
        self.call(|reply| Command::FetchBody { peer, addrs, request, reply }).await?
    }

    /// Fetches a page of a peer's deployment catalog.
    ///
    /// # Errors
    ///
    /// As [`deliver`](Self::deliver).
    pub async fn fetch_catalog(
        &self,
        peer: PeerId,
        request: CatalogRequest,
    ) -> Result<CatalogResponse, MeshError> {
        self.call(|reply| Command::FetchCatalog { peer, request, reply }).await?
    }

    /// Fetches the order a gateway dispatched for an audited request.
    ///
    /// # Errors
    ///
    /// As [`deliver`](Self::deliver).
    pub async fn fetch_order(
        &self,
        peer: PeerId,
        request: OrderRequest,
    ) -> Result<OrderResponse, MeshError> {
        self.call(|reply| Command::FetchOrder { peer, request, reply }).await?
    }

    /// Opens a raw stream of `protocol` to `peer` (dialing it if not connected), for a
    /// [`link`](super::spawn_link).
    ///
    /// # Errors
    ///
    /// [`MeshError::Request`] if the peer cannot be reached or does not speak `protocol`.
    pub async fn open_stream(
        &self,
        peer: PeerId,
        protocol: &'static str,
    ) -> Result<libp2p::Stream, MeshError> {
        self.streams
            .clone()
            .open_stream(peer, libp2p::StreamProtocol::new(protocol))
            .await
            .map_err(|e| MeshError::Request { peer, reason: e.to_string() })
    }

    /// Runs a link over `stream` until either side closes it or `shutdown` is
    /// cancelled; inbound frames go to `handler`. While it lasts, the connection to `peer` is
    /// never trimmed.
    pub fn spawn_link(
        &self,
        peer: PeerId,
        stream: libp2p::Stream,
        limits: super::FrameLimits,
        handler: impl super::LinkHandler,
        shutdown: &tokio_util::sync::CancellationToken,
    ) -> super::LinkSender {
        super::link::spawn_link(peer, stream, limits, handler, shutdown, self.linked.hold(peer))
    }

    /// Accepts the raw streams of `protocol` that peers open to this node (once per protocol).
    ///
    /// # Errors
    ///
    /// [`MeshError::Publish`]-like refusal if the protocol is already accepted elsewhere.
    pub fn accept_streams(
        &self,
        protocol: &'static str,
    ) -> Result<libp2p_stream::IncomingStreams, MeshError> {
        self.streams
            .clone()
            .accept(libp2p::StreamProtocol::new(protocol))
            .map_err(|e| MeshError::Dial(e.to_string()))
    }

    /// Dials an address.
    ///
    /// # Errors
    ///
    /// [`MeshError::Dial`] if the dial cannot start (the connection itself completes later).
    pub async fn dial(&self, addr: Multiaddr) -> Result<(), MeshError> {
        self.call(|reply| Command::Dial { addr, reply }).await?
    }

    /// Peers with an established connection.
    ///
    /// # Errors
    ///
    /// [`MeshError::Closed`] after shutdown.
    pub async fn connected_peers(&self) -> Result<Vec<PeerId>, MeshError> {
        self.call(|reply| Command::ConnectedPeers { reply }).await
    }

    /// Every established connection: to whom, and whether it runs through a relay.
    ///
    /// # Errors
    ///
    /// [`MeshError::Closed`] after shutdown.
    pub async fn links(&self) -> Result<Vec<super::Link>, MeshError> {
        self.call(|reply| Command::Links { reply }).await
    }

    /// Connected peers known to be subscribed to `topic`.
    ///
    /// # Errors
    ///
    /// [`MeshError::Closed`] after shutdown.
    pub async fn topic_peers(&self, topic: impl Into<String>) -> Result<Vec<PeerId>, MeshError> {
        let topic = topic.into();
        self.call(|reply| Command::TopicPeers { topic, reply }).await
    }

    /// This node's gossipsub score of `peer` (`None`: not a gossip peer). Peers that send
    /// messages the application rejects go negative, then are ignored past the graylist
    /// threshold.
    ///
    /// # Errors
    ///
    /// [`MeshError::Closed`] after shutdown.
    pub async fn peer_score(&self, peer: PeerId) -> Result<Option<f64>, MeshError> {
        self.call(|reply| Command::PeerScore { peer, reply }).await
    }
}
