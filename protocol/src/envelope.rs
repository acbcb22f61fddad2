//! Node-signed envelopes: `payload` bytes, the signer's key, and an ed25519 signature over
//! `T::DOMAIN ‖ payload`.
//!
//! The payload stays as the exact bytes that were signed, so verifying never depends on
//! re-encoding, and the envelope can be forwarded or hashed unchanged.

use std::marker::PhantomData;

use serde::{Deserialize, Serialize};

use crate::{
    codec::{self, DecodeError, Wire},
    keys::{NodeKey, NodeSecret, Signature, SignatureError},
};

/// A wire type that nodes sign, with its signature domain.
pub trait Signable: Wire {
    /// The domain from [`crate::domain`].
    const DOMAIN: &'static [u8];
}

/// A signed `T`, as it travels.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, bound = "")]
pub struct Envelope<T> {
    /// Canonical encoding of the `T`.
    #[serde(with = "serde_bytes")]
    pub payload: Vec<u8>,
    /// Who signed.
    pub signer: NodeKey,
    /// ed25519 over `T::DOMAIN ‖ payload`.
    pub signature: Signature,
    #[serde(skip)]
    _payload: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for Envelope<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Envelope")
            .field("signer", &self.signer)
            .field("payload_len", &self.payload.len())
            .finish_non_exhaustive()
    }
}

impl<T: Signable> Wire for Envelope<T> {
    /// The payload's limit plus room for the key, signature and framing.
    const MAX_BYTES: usize = T::MAX_BYTES + 128;
}

/// Why a signed message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The envelope or its payload failed to decode.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The signature is not the signer's.
    #[error(transparent)]
    Signature(#[from] SignatureError),
}

impl<T: Signable> Envelope<T> {
    /// Encodes and signs `value`.
    pub fn seal(secret: &NodeSecret, value: &T) -> Self {
        let payload = codec::encode(value);
        let signature = secret.sign(T::DOMAIN, &payload);
        Self { payload, signer: secret.public(), signature, _payload: PhantomData }
    }

    /// Verifies the signature, then decodes the payload.
    ///
    /// # Errors
    ///
    /// [`OpenError::Signature`] if the signature is wrong (checked first, so a forged message
    /// costs one verification and no parsing), [`OpenError::Decode`] if the payload is not a
    /// canonical, valid `T`.
    pub fn open(&self) -> Result<T, OpenError> {
        self.signer.verify(T::DOMAIN, &self.payload, &self.signature)?;
        Ok(codec::decode(&self.payload)?)
    }

    /// Decodes the envelope from untrusted bytes and [`open`](Self::open)s it.
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open), plus decoding errors of the envelope itself.
    pub fn open_bytes(bytes: &[u8]) -> Result<(Self, T), OpenError> {
        let envelope: Self = codec::decode(bytes)?;
        let value = envelope.open()?;
        Ok((envelope, value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Note {
        text: String,
    }

    impl Wire for Note {
        const MAX_BYTES: usize = 256;
    }

    impl Signable for Note {
        const DOMAIN: &'static [u8] = b"test/note\0";
    }

    #[test]
    fn seal_open_round_trip() {
        let secret = NodeSecret::from_bytes(&[1; 32]);
        let env = Envelope::seal(&secret, &Note { text: "hi".into() });
        let bytes = codec::encode(&env);
        let (back, note) = Envelope::<Note>::open_bytes(&bytes).unwrap();
        assert_eq!(note.text, "hi");
        assert_eq!(back.signer, secret.public());
    }

    #[test]
    fn tampered_payload_or_signer_is_refused() {
        let secret = NodeSecret::from_bytes(&[1; 32]);
        let mut env = Envelope::seal(&secret, &Note { text: "hi".into() });
        env.payload[3] ^= 1;
        assert!(matches!(env.open(), Err(OpenError::Signature(SignatureError::Mismatch))));

        let mut env = Envelope::seal(&secret, &Note { text: "hi".into() });
        env.signer = NodeSecret::from_bytes(&[2; 32]).public();
        assert!(matches!(env.open(), Err(OpenError::Signature(_))));
    }
}
