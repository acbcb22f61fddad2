//! What the mesh tells the application.

use libp2p::{
    PeerId,
    gossipsub::{MessageId, TopicHash},
};
use peerhost_protocol::{
    BodyRequest, BodyResponse, CatalogRequest, CatalogResponse, Delivery, DeliveryAck,
    OrderRequest, OrderResponse,
};
use tokio::sync::oneshot;

/// A gossip message awaiting the application's verdict. Until the application calls
/// [`MeshClient::report`](super::MeshClient::report), it is not forwarded.
#[derive(Debug)]
pub struct GossipMessage {
    /// Gossipsub message id, to report the verdict under.
    pub id: MessageId,
    /// The peer that forwarded it to us.
    pub propagation_source: PeerId,
    /// The peer that published it (signature checked by gossipsub).
    pub source: PeerId,
    /// Its topic.
    pub topic: TopicHash,
    /// The payload (undecoded).
    pub data: Vec<u8>,
}

/// An event from the mesh.
#[derive(Debug)]
#[non_exhaustive]
pub enum MeshEvent {
    /// A gossip message to validate and handle.
    Gossip(GossipMessage),
    /// A worker delivered a result or a decline. Answer on `reply` (dropping it closes the
    /// stream without an answer).
    Delivery {
        /// The worker.
        peer: PeerId,
        /// What it delivered (decoded, not yet verified).
        delivery: Box<Delivery>,
        /// Where to send the acknowledgement.
        reply: oneshot::Sender<DeliveryAck>,
    },
    /// A worker asks for a request body.
    BodyRequest {
        /// The worker.
        peer: PeerId,
        /// Which body.
        request: BodyRequest,
        /// Where to send it.
        reply: oneshot::Sender<BodyResponse>,
    },
    /// A peer asks for our deployment catalog.
    CatalogRequest {
        /// The peer.
        peer: PeerId,
        /// Which page.
        request: CatalogRequest,
        /// Where to send it.
        reply: oneshot::Sender<CatalogResponse>,
    },
    /// A validator asks for the order of an audited request.
    OrderRequest {
        /// The validator.
        peer: PeerId,
        /// Which order.
        request: OrderRequest,
        /// Where to send it.
        reply: oneshot::Sender<OrderResponse>,
    },
    /// The first connection to a peer was established.
    PeerConnected {
        /// The peer.
        peer: PeerId,
    },
    /// The last connection to a peer closed.
    PeerDisconnected {
        /// The peer.
        peer: PeerId,
    },
}
