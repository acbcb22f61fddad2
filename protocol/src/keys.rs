//! Node identity: one ed25519 key per node. Its public half is the node's libp2p `PeerId` and
//! its iroh `EndpointId`; it signs execution requests (gateways) and receipts (workers).

use std::fmt;

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};

use crate::bytes::fixed_bytes;

fixed_bytes!(
    /// An ed25519 public key identifying a node (gateway, worker, bootstrap).
    NodeKey, 32
);

fixed_bytes!(
    /// An ed25519 signature.
    Signature, 64
);

/// A signature did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// The bytes are not a valid ed25519 public key (not on the curve, or weak).
    #[error("signer key is not a valid ed25519 public key")]
    BadKey,
    /// The signature does not match the key and message.
    #[error("signature does not verify")]
    Mismatch,
}

/// The secret half of a node key. Never printed.
#[derive(Clone)]
pub struct NodeSecret(SigningKey);

impl NodeSecret {
    /// Wraps 32 secret bytes (as stored in a node's data dir).
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        Self(SigningKey::from_bytes(bytes))
    }

    /// The 32 secret bytes, for persisting or for deriving the libp2p and iroh keypairs.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The public key.
    pub fn public(&self) -> NodeKey {
        NodeKey(self.0.verifying_key().to_bytes())
    }

    /// The X25519 secret scalar of this key (its ed25519 key in Montgomery form), which opens
    /// secrets sealed to [`NodeKey`] (see [`crate::ProjectSecret`]).
    pub(crate) fn x25519_scalar_bytes(&self) -> [u8; 32] {
        self.0.to_scalar_bytes()
    }

    /// Signs `domain ‖ message`.
    pub fn sign(&self, domain: &[u8], message: &[u8]) -> Signature {
        let mut signed = Vec::with_capacity(domain.len() + message.len());
        signed.extend_from_slice(domain);
        signed.extend_from_slice(message);
        Signature(self.0.sign(&signed).to_bytes())
    }
}

impl fmt::Debug for NodeSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeSecret(public={})", self.public())
    }
}

impl NodeKey {
    /// Verifies `signature` over `domain ‖ message` (strict: rejects weak keys and
    /// non-canonical signatures, so a signature is not malleable).
    ///
    /// # Errors
    ///
    /// [`SignatureError::BadKey`] if `self` is not a usable key, otherwise
    /// [`SignatureError::Mismatch`] if the signature is wrong.
    pub fn verify(
        &self,
        domain: &[u8],
        message: &[u8],
        signature: &Signature,
    ) -> Result<(), SignatureError> {
        let key = VerifyingKey::from_bytes(&self.0).map_err(|_| SignatureError::BadKey)?;
        if key.is_weak() {
            return Err(SignatureError::BadKey);
        }
        let mut signed = Vec::with_capacity(domain.len() + message.len());
        signed.extend_from_slice(domain);
        signed.extend_from_slice(message);
        let sig = ed25519_dalek::Signature::from_bytes(&signature.0);
        key.verify_strict(&signed, &sig).map_err(|_| SignatureError::Mismatch)
    }

    /// A short form for logs: the first 8 hex digits.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..4])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_and_domain_separation() {
        let secret = NodeSecret::from_bytes(&[7; 32]);
        let sig = secret.sign(b"a\0", b"message");
        secret.public().verify(b"a\0", b"message", &sig).unwrap();
        assert_eq!(secret.public().verify(b"b\0", b"message", &sig), Err(SignatureError::Mismatch));
        assert_eq!(secret.public().verify(b"a\0", b"messagf", &sig), Err(SignatureError::Mismatch));
    }

    #[test]
    fn debug_never_prints_the_secret() {
        let secret = NodeSecret::from_bytes(&[0xab; 32]);
        assert!(!format!("{secret:?}").contains("abababab"));
    }

    #[test]
    fn rejects_weak_keys() {
        let identity = NodeKey([0; 32]);
        let mut bytes = [0u8; 32];
        bytes[0] = 1; // the identity point
        let weak = NodeKey(bytes);
        let sig = Signature([0; 64]);
        assert!(identity.verify(b"", b"", &sig).is_err());
        assert_eq!(weak.verify(b"", b"", &sig), Err(SignatureError::BadKey));
    }
}
