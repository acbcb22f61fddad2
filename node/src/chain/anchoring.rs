//! Epochs, anchoring and reward claims.

use alloy::primitives::{Address, B256, TxHash, U256};
use peerhost_contracts::ExecutionCoordinator::{OwnerUsage, WorkerLeaf};
use peerhost_protocol::Keccak;

use super::{Chain, ChainError};

impl Chain {
    /// The coordinator's current epoch (by the latest block's time).
    ///
    /// # Errors
    ///
    /// RPC failures.
    pub async fn current_epoch(&self) -> Result<u64, ChainError> {
        Ok(self.coordinator.currentEpoch().call().await?)
    }

    /// Seconds per epoch.
    ///
    /// # Errors
    ///
    /// RPC failures.
    pub async fn epoch_length(&self) -> Result<u64, ChainError> {
        Ok(self.coordinator.epochLength().call().await?)
    }

    /// Anchors the root of this gateway's receipts for a finished `epoch`, declaring each
    /// function owner's requests (`usage`, sorted by owner, no duplicates).
    ///
    /// # Errors
    ///
    /// [`ChainError::Reverted`], e.g. `EpochAlreadyAnchored`, `EpochNotOver`, `NotGateway`.
    pub async fn anchor(
        &self,
        epoch: u64,
        root: Keccak,
        usage: Vec<OwnerUsage>,
    ) -> Result<TxHash, ChainError> {
        self.confirm(self.coordinator.anchor(epoch, B256::from(root.0), usage)).await
    }

    /// Claims the reward of `leaf` (what its worker served its owner) in `gateway`'s `epoch`.
    ///
    /// # Errors
    ///
    /// [`ChainError::Reverted`], e.g. `AlreadyClaimed`, `InvalidProof`, `ClaimWindowClosed`,
    /// `AnchorChallenged`.
    pub async fn claim(
        &self,
        gateway: Address,
        epoch: u64,
        leaf: WorkerLeaf,
        proof: &[Keccak],
    ) -> Result<TxHash, ChainError> {
        let proof = proof.iter().map(|node| B256::from(node.0)).collect();
        self.confirm(self.coordinator.claim(gateway, epoch, leaf, proof)).await
    }

    /// Answers challenge `id` with the worker's signed receipt.
    ///
    /// # Errors
    ///
    /// [`ChainError::Reverted`], e.g. `AnswerMismatch`, `ChallengeNotOpen`.
    pub async fn answer_challenge(
        &self,
        id: B256,
        receipt: peerhost_contracts::receipts::Receipt,
        worker_signature: alloy::primitives::Bytes,
    ) -> Result<TxHash, ChainError> {
        self.confirm(self.coordinator.answerChallenge(id, receipt, worker_signature)).await
    }

    /// Rewards of `gateway`'s `epoch` still reserved.
    ///
    /// # Errors
    ///
    /// RPC failures.
    pub async fn reserved(&self, gateway: Address, epoch: u64) -> Result<U256, ChainError> {
        Ok(self.coordinator.reservedOf(gateway, epoch).call().await?)
    }
}
