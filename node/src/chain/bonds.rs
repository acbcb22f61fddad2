//! A worker's bond: bond (binding its mesh key), unbond, withdraw, and reads.

use alloy::primitives::{Address, B256, TxHash, U256};

use super::{Chain, ChainError, Stake};

impl Chain {
    /// `who`'s token balance.
    ///
    /// # Errors
    ///
    /// RPC failures.
    pub async fn token_balance(&self, who: Address) -> Result<U256, ChainError> {
        Ok(self.token.balanceOf(who).call().await?)
    }

    /// `who`'s stake.
    ///
    /// # Errors
    ///
    /// RPC failures.
    pub async fn stake(&self, who: Address) -> Result<Stake, ChainError> {
        Ok(self.coordinator.stakeOf(who).call().await?)
    }

    /// Bonds `amount` (approving the coordinator first if needed), binding this address to
    /// the mesh key `node_key`.
    ///
    /// # Errors
    ///
    /// [`ChainError::Reverted`] with the coordinator's reason, e.g. `NodeKeyTaken`.
    pub async fn bond(&self, amount: U256, node_key: B256) -> Result<TxHash, ChainError> {
        self.approve(amount).await?;
        self.confirm(self.coordinator.bond(amount, node_key)).await
    }

    /// Starts unbonding `amount`; it stays slashable for the unbonding delay.
    ///
    /// # Errors
    ///
    /// [`ChainError::Reverted`], e.g. `InsufficientBond`.
    pub async fn request_unbond(&self, amount: U256) -> Result<TxHash, ChainError> {
        self.confirm(self.coordinator.requestUnbond(amount)).await
    }

    /// Withdraws what finished unbonding.
    ///
    /// # Errors
    ///
    /// [`ChainError::Reverted`], e.g. `StillSlashable` or `NothingToWithdraw`.
    pub async fn withdraw(&self) -> Result<TxHash, ChainError> {
        self.confirm(self.coordinator.withdraw()).await
    }

    /// Lets the coordinator pull up to `amount` of this address's tokens.
    pub(super) async fn approve(&self, amount: U256) -> Result<(), ChainError> {
        let spender = *self.coordinator.address();
        if self.token.allowance(self.address, spender).call().await? < amount {
            self.confirm(self.token.approve(spender, U256::MAX)).await?;
        }
        Ok(())
    }
}
