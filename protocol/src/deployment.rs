//! Deployment records: an owner's signed statement "project P is now bundle B, version V".
//!
//! Records are gossiped and synced between nodes; any node verifies one offline by recovering
//! the owner's address from its EIP-191 signature. For each `(owner, project)` the highest
//! version wins, so a replayed older record never rolls a project back.

use serde::{Deserialize, Serialize};

use crate::{
    codec::{self, DecodeError, Invalid, Wire},
    domain,
    hash::{BlobHash, Keccak, keccak256_parts},
    manifest::BundleManifest,
    secrets::{ProjectSecret, validate_secrets},
    wallet::{EvmSignature, Owner, Wallet, WalletError, recover_personal},
};

/// What an owner signs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploymentRecord {
    /// The owner's wallet address.
    pub owner: Owner,
    /// Project name; equals `manifest.project`.
    pub project: String,
    /// Strictly increasing per `(owner, project)`.
    pub version: u64,
    /// Bundle hash; equals `manifest.bundle_hash()`.
    pub bundle: BlobHash,
    /// The bundle's manifest, so routers know functions, limits and prices without fetching.
    pub manifest: BundleManifest,
    /// When the owner signed (Unix milliseconds). Informational.
    pub created_at_ms: u64,
    /// Where payments for priced functions are credited; `None` means the owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payout: Option<Owner>,
    /// The project's secrets, each sealed to the workers authorized to run the functions that
    /// need it. Sorted by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<ProjectSecret>,
}

/// Room for sealed secrets in a deployment record.
pub const MAX_SEALED_SECRETS_BYTES: usize = 64 * 1024;

impl Wire for DeploymentRecord {
    const MAX_BYTES: usize = BundleManifest::MAX_BYTES + 256 + MAX_SEALED_SECRETS_BYTES;

    fn validate(&self) -> Result<(), Invalid> {
        self.manifest.validate()?;
        validate_secrets(&self.secrets)?;
        if self.project != self.manifest.project {
            return Err(Invalid::new("project", "differs from the manifest's project"));
        }
        if self.bundle != self.manifest.bundle_hash() {
            return Err(Invalid::new("bundle", "is not the hash of the manifest's bundle"));
        }
        Ok(())
    }
}

impl DeploymentRecord {
    /// The secret `name`, if set.
    pub fn secret(&self, name: &str) -> Option<&ProjectSecret> {
        self.secrets.binary_search_by(|s| s.name.as_str().cmp(name)).ok().map(|i| &self.secrets[i])
    }

    /// Whether `worker` may run `function`: it holds every secret the function needs (any
    /// worker may run a function without secrets). A secret that is not set authorizes nobody.
    pub fn authorizes(&self, function: &crate::FunctionSpec, worker: &crate::NodeKey) -> bool {
        function.secrets.iter().all(|name| self.secret(name).is_some_and(|s| s.authorizes(worker)))
    }

    /// The address credited with payments for this project's functions.
    pub fn payee(&self) -> Owner {
        self.payout.unwrap_or(self.owner)
    }

    /// The 32-byte message the owner signs: `keccak256(DEPLOYMENT ‖ canonical record)`.
    pub fn signing_message(record_bytes: &[u8]) -> Keccak {
        keccak256_parts(&[domain::DEPLOYMENT, record_bytes])
    }
}

/// A deployment record with its owner's signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedDeployment {
    /// Canonical encoding of the [`DeploymentRecord`].
    #[serde(with = "serde_bytes")]
    pub record: Vec<u8>,
    /// The owner's EIP-191 signature over [`DeploymentRecord::signing_message`].
    pub signature: EvmSignature,
}

impl Wire for SignedDeployment {
    const MAX_BYTES: usize = DeploymentRecord::MAX_BYTES + 96;
}

/// Why a signed deployment was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DeploymentError {
    /// The record bytes are not a valid record.
    #[error("deployment record: {0}")]
    Decode(#[from] DecodeError),
    /// The signature is malformed.
    #[error("deployment signature: {0}")]
    Signature(#[from] WalletError),
    /// The signature is valid but by someone other than the record's owner.
    #[error("deployment is signed by {signer}, not by its owner {owner}")]
    NotOwner {
        /// The record's owner.
        owner: Owner,
        /// Who actually signed.
        signer: Owner,
    },
}

impl SignedDeployment {
    /// Encodes and signs `record` with the owner's wallet.
    pub fn sign(wallet: &Wallet, record: &DeploymentRecord) -> Self {
        let bytes = codec::encode(record);
        let signature = wallet.sign_personal(&DeploymentRecord::signing_message(&bytes));
        Self { record: bytes, signature }
    }

    /// Decodes the record and checks that its owner signed it.
    ///
    /// # Errors
    ///
    /// See [`DeploymentError`].
    pub fn verify(&self) -> Result<DeploymentRecord, DeploymentError> {
        let record: DeploymentRecord = codec::decode(&self.record)?;
        let signer =
            recover_personal(&DeploymentRecord::signing_message(&self.record), &self.signature)?;
        if signer != record.owner {
            return Err(DeploymentError::NotOwner { owner: record.owner, signer });
        }
        Ok(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::FunctionSpec;

    pub(crate) fn record(owner: Owner) -> DeploymentRecord {
        let manifest = BundleManifest {
            project: "hello".into(),
            functions: vec![FunctionSpec::new("echo", b"component")],
        };
        DeploymentRecord {
            owner,
            project: "hello".into(),
            version: 1,
            bundle: manifest.bundle_hash(),
            manifest,
            created_at_ms: 1,
            payout: None,
            secrets: Vec::new(),
        }
    }

    #[test]
    fn sign_verify() {
        let wallet = Wallet::from_bytes(&[3; 32]).unwrap();
        let signed = SignedDeployment::sign(&wallet, &record(wallet.owner()));
        assert_eq!(signed.verify().unwrap().owner, wallet.owner());
    }

    #[test]
    fn someone_else_cannot_deploy_for_an_owner() {
        let owner = Wallet::from_bytes(&[3; 32]).unwrap();
        let mallory = Wallet::from_bytes(&[4; 32]).unwrap();
        let signed = SignedDeployment::sign(&mallory, &record(owner.owner()));
        assert!(matches!(signed.verify(), Err(DeploymentError::NotOwner { .. })));
    }

    #[test]
    fn bundle_must_match_manifest() {
        let wallet = Wallet::from_bytes(&[3; 32]).unwrap();
        let mut r = record(wallet.owner());
        r.bundle = BlobHash::of(b"something else");
        let signed = SignedDeployment::sign(&wallet, &r);
        assert!(matches!(signed.verify(), Err(DeploymentError::Decode(DecodeError::Invalid(_)))));
    }
}
