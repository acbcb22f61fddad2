//! Receipts signed with the node's EVM key, validators' attestations, and the fraud proofs
//! that slash a worker.

use alloy::{
    primitives::{Address, B256, Bytes, Signature, TxHash},
    signers::SignerSync as _,
    sol_types::Eip712Domain,
};
use peerhost_contracts::receipts::{Attestation, Receipt};
use peerhost_protocol::EvmSignature;

use super::{Chain, ChainError, chain_receipt};

/// The account whose EIP-712 signature under `domain` `signature` is for the mesh `receipt`,
/// if it is a valid signature at all.
pub fn receipt_signer(
    domain: &Eip712Domain,
    receipt: &peerhost_protocol::Receipt,
    signature: &EvmSignature,
) -> Option<Address> {
    let digest = chain_receipt(receipt).digest(domain);
    let signature = Signature::try_from(signature.0.as_slice()).ok()?;
    signature.recover_address_from_prehash(&digest).ok()
}

impl Chain {
    /// Signs `receipt` (EIP-712, the coordinator's domain) with this node's key.
    pub fn sign_receipt(&self, receipt: &Receipt) -> Bytes {
        self.sign_digest(receipt.digest(&self.domain()))
    }

    /// Signs that re-executing `request_id` gave `result_hash`.
    pub fn attest(&self, request_id: B256, result_hash: B256) -> Bytes {
        let attestation = Attestation { requestId: request_id, resultHash: result_hash };
        self.sign_digest(attestation.digest(&self.domain()))
    }

    fn sign_digest(&self, digest: B256) -> Bytes {
        let signature = self.signer.sign_hash_sync(&digest).expect("local signing cannot fail");
        Bytes::from(signature.as_bytes().to_vec())
    }

    /// Proves a worker signed two different receipts for one request.
    ///
    /// # Errors
    ///
    /// [`ChainError::Reverted`], e.g. `NotConflicting`, `AlreadySlashed`, `NotBonded`.
    pub async fn slash_equivocation(
        &self,
        a: (&Receipt, &Bytes),
        b: (&Receipt, &Bytes),
    ) -> Result<TxHash, ChainError> {
        let call =
            self.coordinator.slashEquivocation(a.0.clone(), a.1.clone(), b.0.clone(), b.1.clone());
        self.confirm(call).await
    }

    /// Proves a worker's receipt wrong with validators' attestations of `correct` (sorted by
    /// validator address).
    ///
    /// # Errors
    ///
    /// [`ChainError::Reverted`], e.g. `QuorumNotReached`, `NotConflicting`.
    pub async fn slash_wrong_result(
        &self,
        receipt: (&Receipt, &Bytes),
        correct: B256,
        attestations: Vec<Bytes>,
    ) -> Result<TxHash, ChainError> {
        let call = self.coordinator.slashWrongResult(
            receipt.0.clone(),
            receipt.1.clone(),
            correct,
            attestations,
        );
        self.confirm(call).await
    }
}
