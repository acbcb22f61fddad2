//! One key, three names: a node's ed25519 [`NodeKey`] is its libp2p [`PeerId`] and its iroh
//! endpoint id.

use libp2p::{PeerId, identity};
use peerhost_protocol::{NodeKey, NodeSecret};

/// The libp2p keypair of a node secret.
pub fn keypair(secret: &NodeSecret) -> identity::Keypair {
    identity::Keypair::ed25519_from_bytes(secret.to_bytes())
        .expect("any 32 bytes are an ed25519 secret key")
}

/// The peer id of a node key, or `None` if the bytes are not an ed25519 point.
pub fn peer_id(key: &NodeKey) -> Option<PeerId> {
    let public = identity::ed25519::PublicKey::try_from_bytes(key.as_bytes()).ok()?;
    Some(identity::PublicKey::from(public).to_peer_id())
}

/// The node key inside an ed25519 peer id, or `None` for other key types (or hashed ids).
pub fn node_key(peer: &PeerId) -> Option<NodeKey> {
    let multihash = peer.as_ref();
    // ed25519 peer ids inline the protobuf-encoded key with the identity multihash (0x00).
    if multihash.code() != 0 {
        return None;
    }
    let public = identity::PublicKey::try_decode_protobuf(multihash.digest()).ok()?;
    Some(NodeKey(public.try_into_ed25519().ok()?.to_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_between_node_key_and_peer_id() {
        let secret = NodeSecret::from_bytes(&[9; 32]);
        let peer = keypair(&secret).public().to_peer_id();
        assert_eq!(peer_id(&secret.public()), Some(peer));
        assert_eq!(node_key(&peer), Some(secret.public()));
    }

    #[test]
    fn foreign_peer_ids_have_no_node_key() {
        assert_eq!(node_key(&PeerId::random()), None);
    }
}
