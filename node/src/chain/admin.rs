//! What the coordinator's admin and funders do: approve validators, fund the treasury — and,
//! on local chains, mint test USDC and hand out gas money. (Workers and gateways register
//! themselves by bonding: see `bonds.rs`; validators bond and need the admin's approval.)

use alloy::{
    network::TransactionBuilder as _,
    primitives::{Address, TxHash, U256},
    providers::Provider as _,
    rpc::types::TransactionRequest,
};

use std::time::Duration;

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
        self.send_native_within(to, wei, super::RECEIPT_TIMEOUT).await
    }

    async fn send_native_within(
        &self,
        to: Address,
        wei: U256,
        wait: Duration,
    ) -> Result<TxHash, ChainError> {
        let tx = TransactionRequest::default().with_to(to).with_value(wei);
        let pending = {
            let _sending = self.send_lock.lock().await;
            self.provider.send_transaction(tx).await.map_err(alloy::contract::Error::from)?
        };
        check(pending.with_timeout(Some(wait)).get_receipt().await?)
    }

    /// Funds `to` from this account (a local chain's faucet) until it holds at least `wei` of
    /// gas money and `tokens` test USDC.
    ///
    /// Several processes may fund from one faucet at once (a devnet's volunteers): they read
    /// the same pending nonce, so a transfer can be refused (`nonce too low`, `replacement
    /// underpriced`) or, worse, replaced by another sender's and never mined. So the recipient's
    /// balances decide what is still owed, and a refused or unconfirmed transfer is sent again.
    ///
    /// # Errors
    ///
    /// RPC failures, a reverted transfer, or [`ChainError::Pending`] when `to` is still short
    /// after eight transfers.
    pub async fn fund(&self, to: Address, wei: U256, tokens: U256) -> Result<(), ChainError> {
        let mut failures = 0u64;
        loop {
            let sent = if self.provider.get_balance(to).await.map_err(contract_error)? < wei {
                self.send_native_within(to, wei, FUNDING_WAIT).await
            } else if self.token_balance(to).await? < tokens {
                self.confirm_within(self.token.transfer(to, tokens), FUNDING_WAIT).await
            } else {
                return Ok(());
            };
            match sent {
                Ok(_) => {}
                Err(e) if retriable(&e) && failures + 1 < FUNDING_ATTEMPTS => {
                    failures += 1;
                    tokio::time::sleep(Duration::from_millis(100 * failures)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// How many refused or unconfirmed transfers [`Chain::fund`] sends before giving up.
const FUNDING_ATTEMPTS: u64 = 8;

/// How long [`Chain::fund`] waits for one transfer: local chains mine every second, so a
/// transfer still pending after this was replaced by another sender's.
const FUNDING_WAIT: Duration = Duration::from_secs(15);

/// Whether sending a transfer again can help: another sender took its nonce, or it was never
/// confirmed (replaced in the pool by another sender's transaction with the same nonce).
fn retriable(error: &ChainError) -> bool {
    error.is_nonce_race() || matches!(error, ChainError::Pending(_))
}

fn contract_error(error: alloy::transports::TransportError) -> ChainError {
    ChainError::Contract(alloy::contract::Error::from(error))
}
