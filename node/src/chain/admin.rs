//! What the coordinator's admin and funders do: approve validators, fund the treasury — and,
//! on local chains, mint test USDC and hand out gas money. (Workers and gateways register
//! themselves by bonding: see `bonds.rs`; validators bond and need the admin's approval.)

use alloy::{
    network::TransactionBuilder as _,
    primitives::{Address, TxHash, U256},
    providers::Provider as _,
    rpc::types::TransactionRequest,
};

use super::{Chain, ChainError, check};

impl Chain {
    /// Approves (or stops approving) `validator`: a validator's attestations count in
    /// disputes only with this and a validator bond (admin only). False attestations are not
    /// punishable yet, so bonds alone would let anyone buy a quorum.
    ///
    /// # Errors
    ///
    /// [`ChainError::Reverted`] (`OwnableUnauthorizedAccount`) unless this is the admin.
    pub async fn approve_validator(
        &self,
        validator: Address,
        approved: bool,
    ) -> Result<TxHash, ChainError> {
        self.confirm(self.coordinator.approveValidator(validator, approved)).await
    }

    /// Adds `amount` to the treasury.
    ///
    /// # Errors
    ///
    /// [`ChainError::Reverted`].
    pub async fn fund_treasury(&self, amount: U256) -> Result<TxHash, ChainError> {
        self.approve(amount).await?;
        self.confirm(self.coordinator.fundTreasury(amount)).await
    }

    /// Mints test tokens to `to` (local chains: this must be `MockUSDC`'s owner).
    ///
    /// # Errors
    ///
    /// [`ChainError::Reverted`] unless this is the token's owner.
    pub async fn mint(&self, to: Address, amount: U256) -> Result<TxHash, ChainError> {
        self.confirm(self.token.mint(to, amount)).await
    }

    /// Sends `wei` of the chain's native coin to `to` (gas money on local chains).
    ///
    /// # Errors
    ///
    /// RPC failures.
    pub async fn send_native(&self, to: Address, wei: U256) -> Result<TxHash, ChainError> {
        let tx = TransactionRequest::default().with_to(to).with_value(wei);
        let pending = {
            let _sending = self.send_lock.lock().await;
            self.provider.send_transaction(tx).await.map_err(alloy::contract::Error::from)?
        };
        check(pending.with_timeout(Some(super::RECEIPT_TIMEOUT)).get_receipt().await?)
    }
}
