//! Gossip messages as they travel: each payload signed once by its publisher and checked once
//! by each node that receives it.
//!
//! Gossipsub runs anonymous (no libp2p message signature). With libp2p's own signatures a
//! node checks every copy its mesh peers forward, before gossipsub notices the duplicate; at
//! mesh degree `D` that is up to `D` checks per message per node. A [`Published`] message
//! carries the publisher's signature instead, and a node checks it on the first copy only,
//! before it lets gossipsub forward the message; later copies are dropped as duplicates by the
//! message id, a hash of the whole encoding (signature included), so a forged copy cannot take
//! the id of a real one.
//!
//! The signature covers the topic and a per-publisher sequence number, so a message cannot be
//! moved to another topic, and a publisher that sends the same payload twice (a republished
//! announcement) makes two messages, not one that gossip drops as seen.

use serde::{Deserialize, Serialize};

use crate::{
    codec::{self, Wire},
    domain,
    envelope::OpenError,
    execution::ExecutionRequest,
    gossip::{Announcement, EpochSummary, Heartbeat},
    hash::keccak256,
    keys::{NodeKey, NodeSecret, Signature},
};

/// The largest payload any gossip topic carries.
pub const MAX_PUBLISHED_DATA: usize = {
    let mut max = Announcement::MAX_BYTES;
    let others = [EpochSummary::MAX_BYTES, ExecutionRequest::MAX_BYTES, Heartbeat::MAX_BYTES];
    let mut i = 0;
    while i < others.len() {
        if others[i] > max {
            max = others[i];
        }
        i += 1;
    }
    max
};

/// A gossip message: the payload and who published it, signed.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Published {
    /// The payload, the encoding of the topic's wire type (not decoded here).
    #[serde(with = "serde_bytes")]
    pub data: Vec<u8>,
    /// Who published it; for a heartbeat the worker, for an order its gateway.
    pub publisher: NodeKey,
    /// Distinct for each message of this publisher.
    pub seqno: u64,
    /// ed25519 over [`domain::GOSSIP`] ‖ topic length (u16, big-endian) ‖ topic ‖ seqno
    /// (u64, big-endian) ‖ data.
    pub signature: Signature,
}

impl std::fmt::Debug for Published {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Published")
            .field("publisher", &self.publisher)
            .field("seqno", &self.seqno)
            .field("data_len", &self.data.len())
            .finish_non_exhaustive()
    }
}

impl Wire for Published {
    /// The largest payload plus room for the key, sequence number, signature and framing.
    const MAX_BYTES: usize = MAX_PUBLISHED_DATA + 128;
}

/// What the signature covers before the data: the domain, the topic and the sequence number.
/// Passed to the key as the signature's domain, so the data is copied once (the key joins the
/// two), not twice.
fn signed_prefix(topic: &str, seqno: u64) -> Vec<u8> {
    let topic_len = u16::try_from(topic.len()).expect("topics are short");
    let mut prefix = Vec::with_capacity(domain::GOSSIP.len() + 2 + topic.len() + 8);
    prefix.extend_from_slice(domain::GOSSIP);
    prefix.extend_from_slice(&topic_len.to_be_bytes());
    prefix.extend_from_slice(topic.as_bytes());
    prefix.extend_from_slice(&seqno.to_be_bytes());
    prefix
}

/// The gossipsub message id of a received message's bytes: a hash of all of them, signature
/// included, so a forged copy never shares a real message's id. Every node (and every raw
/// peer that speaks PeerHost gossip) must compute ids this way.
pub fn gossip_message_id(bytes: &[u8]) -> [u8; 20] {
    let hash = keccak256(bytes).0;
    let mut id = [0; 20];
    id.copy_from_slice(&hash[..20]);
    id
}

impl Published {
    /// Signs `data` for publishing on `topic`.
    pub fn seal(secret: &NodeSecret, topic: &str, seqno: u64, data: Vec<u8>) -> Self {
        let signature = secret.sign(&signed_prefix(topic, seqno), &data);
        Self { data, publisher: secret.public(), seqno, signature }
    }

    /// Decodes a message received on `topic` and checks its signature.
    ///
    /// # Errors
    ///
    /// [`OpenError::Decode`] if the bytes are not a canonical [`Published`],
    /// [`OpenError::Signature`] if the signature is not the publisher's for this topic.
    pub fn open(bytes: &[u8], topic: &str) -> Result<Self, OpenError> {
        let published: Self = codec::decode(bytes)?;
        published.publisher.verify(
            &signed_prefix(topic, published.seqno),
            &published.data,
            &published.signature,
        )?;
        Ok(published)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::SignatureError;

    const TOPIC: &str = "/peerhost/2/workers";

    #[test]
    fn seal_open_round_trip() {
        let secret = NodeSecret::from_bytes(&[3; 32]);
        let sent = codec::encode(&Published::seal(&secret, TOPIC, 7, b"beat".to_vec()));
        let opened = Published::open(&sent, TOPIC).unwrap();
        assert_eq!(opened.data, b"beat");
        assert_eq!(opened.publisher, secret.public());
        assert_eq!(opened.seqno, 7);
    }

    #[test]
    fn another_topic_seqno_payload_or_publisher_is_refused() {
        let secret = NodeSecret::from_bytes(&[3; 32]);
        let sealed = Published::seal(&secret, TOPIC, 7, b"beat".to_vec());
        let mismatch = Err(OpenError::Signature(SignatureError::Mismatch));

        assert_eq!(Published::open(&codec::encode(&sealed), "/peerhost/2/epochs"), mismatch);
        let mut changed = sealed.clone();
        changed.seqno = 8;
        assert_eq!(Published::open(&codec::encode(&changed), TOPIC), mismatch);
        let mut changed = sealed.clone();
        changed.data[0] ^= 1;
        assert_eq!(Published::open(&codec::encode(&changed), TOPIC), mismatch);
        let mut changed = sealed;
        changed.publisher = NodeSecret::from_bytes(&[4; 32]).public();
        assert_eq!(Published::open(&codec::encode(&changed), TOPIC), mismatch);
    }

    #[test]
    fn garbage_and_oversized_input_is_a_decode_error() {
        assert!(matches!(Published::open(b"\xff\x00", TOPIC), Err(OpenError::Decode(_))));
        let huge = vec![0; Published::MAX_BYTES + 1];
        assert!(matches!(Published::open(&huge, TOPIC), Err(OpenError::Decode(_))));
    }
}
