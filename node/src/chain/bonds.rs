//! A node's bonds, one per role: bond (binding its mesh key), unbond, withdraw, and reads.

use alloy::primitives::{Address, B256, TxHash, U256};

use super::{Chain, ChainError, Stake};
use crate::dispatch::BondRole;

impl Chain {
    /// The coordinator's minimum bond per role, indexed by [`BondRole::index`].
    ///
    /// # Errors
    ///
    /// RPC failures.
    pub async fn bond_minimums(&self) -> Result<[u128; 3], ChainError> {
        Ok(minimums(&self.coordinator.params().call().await?))
    }

    /// `who`'s stake in `role`.
    ///
    /// # Errors
    ///
    /// RPC failures.
    pub async fn stake_in(&self, role: BondRole, who: Address) -> Result<Stake, ChainError> {
        Ok(self.coordinator.stakeOf(role.index() as u8, who).call().await?)
    }

    /// `who`'s token balance.
    ///
    /// # Errors
    ///
    /// RPC failures.
    pub async fn token_balance(&self, who: Address) -> Result<U256, ChainError> {
        Ok(self.token.balanceOf(who).call().await?)
    }

    /// Bonds `amount` in `role` (approving the coordinator first if needed), binding this
    /// address to the mesh key `node_key` in that role.
    ///
    /// # Errors
    ///
    /// [`ChainError::Reverted`] with the coordinator's reason, e.g. `NodeKeyTaken`.
    pub async fn bond(
        &self,
        role: BondRole,
        amount: U256,
        node_key: B256,
    ) -> Result<TxHash, ChainError> {
        self.approve(amount).await?;
        self.confirm(self.coordinator.bond(role.index() as u8, amount, node_key)).await
    }

    /// Starts unbonding `amount` of the `role` bond: it stops counting at once and stays
    /// slashable for the unbonding delay.
    ///
    /// # Errors
    ///
    /// [`ChainError::Reverted`], e.g. `InsufficientBond`.
    pub async fn request_unbond(&self, role: BondRole, amount: U256) -> Result<TxHash, ChainError> {
        self.confirm(self.coordinator.requestUnbond(role.index() as u8, amount)).await
    }

    /// Withdraws what finished unbonding in `role`.
    ///
    /// # Errors
    ///
    /// [`ChainError::Reverted`], e.g. `StillSlashable` or `NothingToWithdraw`.
    pub async fn withdraw(&self, role: BondRole) -> Result<TxHash, ChainError> {
        self.confirm(self.coordinator.withdraw(role.index() as u8)).await
    }

    /// Sends `amount` of the token to `to`.
    ///
    /// # Errors
    ///
    /// [`ChainError::Reverted`], e.g. an insufficient balance.
    pub async fn transfer_token(&self, to: Address, amount: U256) -> Result<TxHash, ChainError> {
        // A token transfer uses at most about 52,000 gas: no estimate needed.
        self.confirm(self.token.transfer(to, amount).gas(100_000)).await
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

/// The minimum bond per role in the coordinator's parameters, indexed by [`BondRole::index`].
pub(super) fn minimums(p: &peerhost_contracts::ExecutionCoordinator::Params) -> [u128; 3] {
    [p.minWorkerBond, p.minGatewayBond, p.minValidatorBond]
}
