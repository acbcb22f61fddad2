//! What the mesh tells the application.

use libp2p::{
    PeerId,
    gossipsub::{MessageId, TopicHash},
};
use peerhost_protocol::{
    BodyRequest, BodyResponse, CatalogRequest, CatalogResponse, Delivery, DeliveryAck, NodeKey,
    OpenError, OrderRequest, OrderResponse, Published, SignatureError,
};
use tokio::sync::oneshot;

/// A gossip message awaiting the application's verdict. Until the application calls
/// [`MeshClient::report`](super::MeshClient::report), it is not forwarded. Gossipsub has
/// dropped duplicates, not checked who published it: [`open`](Self::open) does.
#[derive(Debug)]
pub struct GossipMessage {
    /// Gossipsub message id, to report the verdict under.
    pub id: MessageId,
    /// The peer that forwarded it to us.
    pub propagation_source: PeerId,
    /// Its topic.
    pub topic: TopicHash,
    /// The [`Published`] message as received (undecoded, unverified).
    pub data: Vec<u8>,
}

/// A gossip message whose publisher signature checked out.
#[derive(Debug)]
pub struct Publication {
    /// The publisher's key.
    pub publisher: NodeKey,
    /// The publisher's peer id (the same key).
    pub source: PeerId,
    /// The payload (undecoded).
    pub data: Vec<u8>,
}

impl GossipMessage {
    /// Decodes the message and checks its publisher's signature for its topic: the one
    /// signature check a node makes per gossip message (see [`Published`]).
    ///
    /// # Errors
    ///
    /// [`OpenError`] if it is not a canonical [`Published`] message signed for this topic by
    /// a usable ed25519 key.
    pub fn open(&self) -> Result<Publication, OpenError> {
        let published = Published::open(&self.data, self.topic.as_str())?;
        let source = super::peer_id(&published.publisher)
            .ok_or(OpenError::Signature(SignatureError::BadKey))?;
        Ok(Publication { publisher: published.publisher, source, data: published.data })
    }
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
