//! Function secrets, sealed to the workers an owner authorizes.
//!
//! A software sandbox protects the worker from the guest, not the guest from the worker: any
//! worker that runs a function can read its memory. So a secret is sealed separately to each
//! worker the owner trusts with it, with HPKE (RFC 9180, base mode: X25519-HKDF-SHA256,
//! HKDF-SHA256, ChaCha20-Poly1305), and only those workers run functions that need it. A
//! worker's X25519 key is its ed25519 node key in Montgomery form, so owners seal to the keys
//! workers already announce. The HPKE `info` binds each ciphertext to (owner, project, name):
//! it cannot be moved to another project or another secret.

use ed25519_dalek::VerifyingKey;
use hpke::{
    Deserializable, OpModeR, OpModeS, Serializable, aead::ChaCha20Poly1305, kdf::HkdfSha256,
    kem::X25519HkdfSha256,
};
use serde::{Deserialize, Serialize};

use crate::{
    codec::Invalid,
    keys::{NodeKey, NodeSecret},
    wallet::Owner,
};

/// Most secrets one project may hold.
pub const MAX_SECRETS: usize = 32;

/// Largest secret value, in bytes.
pub const MAX_SECRET_LEN: usize = 4096;

/// Most workers one secret may be sealed to.
pub const MAX_AUTHORIZED: usize = 16;

/// Longest secret name.
const MAX_SECRET_NAME_LEN: usize = 64;

/// The HPKE context string: the protocol domain, then owner, project and name.
const INFO: &[u8] = b"peerhost/1/secret\0";

/// A ChaCha20-Poly1305 tag.
const TAG_LEN: usize = 16;

/// One secret value sealed to one worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealedSecret {
    /// The worker that can open it.
    pub worker: NodeKey,
    /// The HPKE encapsulated key (an ephemeral X25519 public key).
    #[serde(with = "serde_bytes")]
    pub encapsulated: Vec<u8>,
    /// The value, encrypted and authenticated.
    #[serde(with = "serde_bytes")]
    pub ciphertext: Vec<u8>,
}

/// A named secret of a project (an environment variable of its functions), sealed to every
/// worker authorized to run them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectSecret {
    /// The name, as the function reads it from its environment.
    pub name: String,
    /// One sealed copy per authorized worker, sorted by worker key.
    pub sealed: Vec<SealedSecret>,
}

/// Sealing or opening a secret failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    /// The name is not an environment variable name.
    #[error("secret name {0:?} must be 1 to 64 of A-Z, 0-9 and _, not starting with a digit")]
    BadName(String),
    /// The value is too long.
    #[error("secret value exceeds {MAX_SECRET_LEN} bytes")]
    TooLong,
    /// No worker, or too many.
    #[error("a secret is sealed to 1 to {MAX_AUTHORIZED} workers")]
    Workers,
    /// A worker key is not a valid ed25519 key.
    #[error("worker key {0} is not a valid ed25519 key")]
    BadWorker(NodeKey),
    /// This worker is not one the secret is sealed to.
    #[error("this worker is not authorized for the secret")]
    NotAuthorized,
    /// The ciphertext does not open (tampered, or bound to another owner, project or name).
    #[error("the sealed secret does not open")]
    Corrupt,
}

/// Whether `name` is a valid secret (environment variable) name.
pub fn check_secret_name(name: &str) -> Result<(), SecretError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_SECRET_NAME_LEN
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    if ok { Ok(()) } else { Err(SecretError::BadName(name.to_owned())) }
}

fn info(owner: &Owner, project: &str, name: &str) -> Vec<u8> {
    let mut info = INFO.to_vec();
    info.extend_from_slice(owner.0.as_slice());
    for part in [project, name] {
        info.extend_from_slice(&(part.len() as u16).to_be_bytes());
        info.extend_from_slice(part.as_bytes());
    }
    info
}

impl ProjectSecret {
    /// Seals `value` as `name` of `owner`'s `project` to each of `workers`.
    ///
    /// # Errors
    ///
    /// [`SecretError`] for a bad name, an oversized value, or bad worker keys.
    pub fn seal(
        owner: &Owner,
        project: &str,
        name: &str,
        value: &[u8],
        workers: &[NodeKey],
    ) -> Result<Self, SecretError> {
        check_secret_name(name)?;
        if value.len() > MAX_SECRET_LEN {
            return Err(SecretError::TooLong);
        }
        let mut workers = workers.to_vec();
        workers.sort();
        workers.dedup();
        if workers.is_empty() || workers.len() > MAX_AUTHORIZED {
            return Err(SecretError::Workers);
        }
        let info = info(owner, project, name);
        let sealed = workers
            .into_iter()
            .map(|worker| {
                let montgomery = VerifyingKey::from_bytes(&worker.0)
                    .map_err(|_| SecretError::BadWorker(worker))?
                    .to_montgomery();
                let recipient =
                    <X25519HkdfSha256 as hpke::Kem>::PublicKey::from_bytes(montgomery.as_bytes())
                        .map_err(|_| SecretError::BadWorker(worker))?;
                let (encapsulated, ciphertext) = hpke::single_shot_seal::<
                    ChaCha20Poly1305,
                    HkdfSha256,
                    X25519HkdfSha256,
                >(
                    &OpModeS::Base, &recipient, &info, value, &[]
                )
                .map_err(|_| SecretError::BadWorker(worker))?;
                Ok(SealedSecret {
                    worker,
                    encapsulated: encapsulated.to_bytes().to_vec(),
                    ciphertext,
                })
            })
            .collect::<Result<Vec<_>, SecretError>>()?;
        Ok(Self { name: name.to_owned(), sealed })
    }

    /// Whether `worker` is one the secret is sealed to.
    pub fn authorizes(&self, worker: &NodeKey) -> bool {
        self.sealed.binary_search_by(|s| s.worker.cmp(worker)).is_ok()
    }

    /// The workers the secret is sealed to.
    pub fn workers(&self) -> impl Iterator<Item = &NodeKey> {
        self.sealed.iter().map(|s| &s.worker)
    }

    /// Opens this worker's copy of the secret.
    ///
    /// # Errors
    ///
    /// [`SecretError::NotAuthorized`] if it was not sealed to `secret`'s key,
    /// [`SecretError::Corrupt`] if it does not open.
    pub fn open(
        &self,
        owner: &Owner,
        project: &str,
        secret: &NodeSecret,
    ) -> Result<Vec<u8>, SecretError> {
        let index = self
            .sealed
            .binary_search_by(|s| s.worker.cmp(&secret.public()))
            .map_err(|_| SecretError::NotAuthorized)?;
        let sealed = &self.sealed[index];
        let private =
            <X25519HkdfSha256 as hpke::Kem>::PrivateKey::from_bytes(&secret.x25519_scalar_bytes())
                .map_err(|_| SecretError::Corrupt)?;
        let encapsulated =
            <X25519HkdfSha256 as hpke::Kem>::EncappedKey::from_bytes(&sealed.encapsulated)
                .map_err(|_| SecretError::Corrupt)?;
        hpke::single_shot_open::<ChaCha20Poly1305, HkdfSha256, X25519HkdfSha256>(
            &OpModeR::Base,
            &private,
            &encapsulated,
            &info(owner, project, &self.name),
            &sealed.ciphertext,
            &[],
        )
        .map_err(|_| SecretError::Corrupt)
    }

    pub(crate) fn validate(&self) -> Result<(), Invalid> {
        check_secret_name(&self.name).map_err(|e| Invalid::new("secrets.name", e.to_string()))?;
        if self.sealed.is_empty() || self.sealed.len() > MAX_AUTHORIZED {
            return Err(Invalid::new("secrets.sealed", SecretError::Workers.to_string()));
        }
        if !self.sealed.windows(2).all(|w| w[0].worker < w[1].worker) {
            return Err(Invalid::new("secrets.sealed", "workers must be unique and sorted"));
        }
        for sealed in &self.sealed {
            if sealed.encapsulated.len() != 32 || sealed.ciphertext.len() > MAX_SECRET_LEN + TAG_LEN
            {
                return Err(Invalid::new("secrets.sealed", "malformed sealed value"));
            }
        }
        Ok(())
    }
}

/// Checks a project's secrets: valid, at most [`MAX_SECRETS`], sorted by unique name.
pub(crate) fn validate_secrets(secrets: &[ProjectSecret]) -> Result<(), Invalid> {
    if secrets.len() > MAX_SECRETS {
        return Err(Invalid::new("secrets", format!("at most {MAX_SECRETS} secrets")));
    }
    if !secrets.windows(2).all(|w| w[0].name < w[1].name) {
        return Err(Invalid::new("secrets", "names must be unique and sorted"));
    }
    secrets.iter().try_for_each(ProjectSecret::validate)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn worker(n: u8) -> NodeSecret {
        NodeSecret::from_bytes(&[n; 32])
    }

    #[test]
    fn only_the_authorized_workers_open_a_secret_and_only_in_its_place() {
        let owner = crate::Wallet::from_bytes(&[1; 32]).unwrap().owner();
        let (a, b, c) = (worker(1), worker(2), worker(3));
        let value = b"sk-live-canary-0123456789";
        let secret =
            ProjectSecret::seal(&owner, "shop", "API_KEY", value, &[b.public(), a.public()])
                .unwrap();
        secret.validate().unwrap();
        assert_eq!(secret.open(&owner, "shop", &a).unwrap(), value);
        assert_eq!(secret.open(&owner, "shop", &b).unwrap(), value);
        assert!(secret.authorizes(&a.public()) && !secret.authorizes(&c.public()));
        assert_eq!(secret.open(&owner, "shop", &c), Err(SecretError::NotAuthorized));
        // Bound to owner, project and name.
        assert_eq!(
            secret.open(&crate::Wallet::from_bytes(&[2; 32]).unwrap().owner(), "shop", &a),
            Err(SecretError::Corrupt)
        );
        assert_eq!(secret.open(&owner, "blog", &a), Err(SecretError::Corrupt));
        let mut renamed = secret.clone();
        renamed.name = "OTHER".into();
        assert_eq!(renamed.open(&owner, "shop", &a), Err(SecretError::Corrupt));
        // Tampering is detected, and the value never appears in the sealed form.
        let mut tampered = secret.clone();
        tampered.sealed[0].ciphertext[0] ^= 1;
        assert!(
            tampered.open(&owner, "shop", &a).is_err()
                || tampered.open(&owner, "shop", &b).is_err()
        );
        let encoded = serde_cbor::to_vec(&secret).unwrap();
        assert!(!encoded.windows(value.len()).any(|w| w == value));
    }

    #[test]
    fn bad_names_values_and_worker_lists_are_refused() {
        let owner = crate::Wallet::from_bytes(&[1; 32]).unwrap().owner();
        let w = [worker(1).public()];
        for name in ["", "lower", "1ST", "A-B", &"A".repeat(65)] {
            assert!(ProjectSecret::seal(&owner, "p", name, b"v", &w).is_err(), "{name:?}");
        }
        let long = vec![0; MAX_SECRET_LEN + 1];
        assert_eq!(ProjectSecret::seal(&owner, "p", "K", &long, &w), Err(SecretError::TooLong));
        assert_eq!(ProjectSecret::seal(&owner, "p", "K", b"v", &[]), Err(SecretError::Workers));
    }
}
