//! Epochs, anchoring and reward claims.

use alloy::primitives::{Address, B256, TxHash, U256};
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

    /// Anchors the root of this gateway's receipts for a finished `epoch`.
    ///
    /// # Errors
    ///
    /// [`ChainError::Reverted`], e.g. `EpochAlreadyAnchored`, `EpochNotOver`, `NotGateway`.
    pub async fn anchor(&self, epoch: u64, root: Keccak, count: u32) -> Result<TxHash, ChainError> {
        self.confirm(self.coordinator.anchor(epoch, B256::from(root.0), count)).await
    }

    /// Claims `worker`'s reward for `requests` served in `gateway`'s `epoch`.
    ///
    /// # Errors
    ///
    /// [`ChainError::Reverted`], e.g. `AlreadyClaimed`, `InvalidProof`, `ClaimWindowClosed`.
    #[allow(clippy::too_many_arguments)]
    pub async fn claim(
        &self,
        gateway: Address,
        epoch: u64,
        worker: Address,
        requests: u32,
        fuel: u64,
        receipts_root: Keccak,
        proof: &[Keccak],
    ) -> Result<TxHash, ChainError> {
        let proof = proof.iter().map(|node| B256::from(node.0)).collect();
        let call = self.coordinator.claim(
            gateway,
            epoch,
            worker,
            requests,
            fuel,
            B256::from(receipts_root.0),
            proof,
        );
        self.confirm(call).await
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
