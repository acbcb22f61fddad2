//! x402 settlement on the coordinator: what a gateway reads before it accepts a payment, the
//! settlement itself, and an owner's credits.

use alloy::{
    primitives::{Address, B256, Bytes, TxHash, U256},
    providers::Provider as _,
    rpc::types::Filter,
    sol_types::{Eip712Domain, SolEvent as _},
};
use peerhost_contracts::{
    ExecutionCoordinator::{Authorization, PaymentSettled},
    payments::{payment_id, token_domain},
};

use super::{Chain, ChainError};

/// The gas limit of a settlement, so sending one needs no estimate: a settlement uses about
/// 128,000 gas, up to 162,000 when it writes a payee's first credit.
const SETTLE_GAS: u64 = 300_000;

/// What the chain says about one payment authorization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PaymentState {
    /// The payer's token balance.
    pub balance: U256,
    /// The token has consumed (or the payer cancelled) this nonce.
    pub nonce_used: bool,
    /// The coordinator has settled this payment.
    pub settled: bool,
}

impl Chain {
    /// The token's EIP-712 domain (EIP-5267 `eip712Domain()`) and its name and version.
    ///
    /// # Errors
    ///
    /// RPC failures.
    pub async fn token_domain(&self) -> Result<(Eip712Domain, String, String), ChainError> {
        let d = self.token.eip712Domain().call().await?;
        let domain = token_domain(&d.name, &d.version, self.chain_id, *self.token.address());
        Ok((domain, d.name, d.version))
    }

    /// The payer's balance and whether `nonce` is spent at the token or settled here.
    ///
    /// # Errors
    ///
    /// RPC failures.
    pub async fn payment_state(
        &self,
        from: Address,
        nonce: B256,
    ) -> Result<PaymentState, ChainError> {
        let balance = self.token.balanceOf(from);
        let used = self.token.authorizationState(from, nonce);
        let settled = self.coordinator.settled(from, nonce);
        let (balance, used, settled) =
            tokio::try_join!(balance.call(), used.call(), settled.call())?;
        Ok(PaymentState { balance, nonce_used: used, settled })
    }

    /// Settles a `TransferWithAuthorization` to the coordinator, crediting `payee`
    /// (gateways only). The payment is recorded under [`payment_id`].
    ///
    /// # Errors
    ///
    /// [`ChainError::Reverted`] with the token's or coordinator's reason.
    pub async fn settle_transfer(
        &self,
        payee: Address,
        auth: Authorization,
        signature: Bytes,
    ) -> Result<TxHash, ChainError> {
        let id = payment_id(auth.from, auth.nonce);
        let call = self.coordinator.settleTransfer(payee, id, auth, signature);
        self.confirm(call.gas(SETTLE_GAS)).await
    }

    /// Runs [`Chain::settle_transfer`] against the latest state without sending it: `Ok` if
    /// it would settle now, else the contract's reason. One execution, where sending without
    /// a gas limit would have the node search for one (anvil runs the call dozens of times).
    ///
    /// # Errors
    ///
    /// [`ChainError::Reverted`] with the token's or coordinator's reason; RPC failures.
    pub async fn simulate_settlement(
        &self,
        payee: Address,
        auth: Authorization,
        signature: Bytes,
    ) -> Result<(), ChainError> {
        let id = payment_id(auth.from, auth.nonce);
        let call = self.coordinator.settleTransfer(payee, id, auth, signature);
        call.from(self.address).gas(SETTLE_GAS).call().await?;
        Ok(())
    }

    /// The transaction that settled the payment `(from, nonce)`, if any (looked up by its
    /// `PaymentSettled` event).
    ///
    /// # Errors
    ///
    /// RPC failures.
    pub async fn settlement_tx(
        &self,
        from: Address,
        nonce: B256,
    ) -> Result<Option<TxHash>, ChainError> {
        let filter = Filter::new()
            .address(*self.coordinator.address())
            .event_signature(PaymentSettled::SIGNATURE_HASH)
            .topic1(from.into_word())
            .topic3(payment_id(from, nonce))
            .from_block(0);
        let logs = self.provider.get_logs(&filter).await.map_err(alloy::contract::Error::from)?;
        Ok(logs.first().and_then(|log| log.transaction_hash))
    }

    /// Payments credited to `owner` and not yet withdrawn.
    ///
    /// # Errors
    ///
    /// RPC failures.
    pub async fn credits(&self, owner: Address) -> Result<U256, ChainError> {
        Ok(self.coordinator.credits(owner).call().await?)
    }

    /// Withdraws this wallet's credits to `to`.
    ///
    /// # Errors
    ///
    /// [`ChainError::Reverted`] (`NothingToWithdraw`) when there are none.
    pub async fn withdraw_credits(&self, to: Address) -> Result<TxHash, ChainError> {
        self.confirm(self.coordinator.withdrawCredits(to)).await
    }
}
