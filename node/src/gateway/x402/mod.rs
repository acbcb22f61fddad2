//! x402 payments at the gateway: a priced function answers 402 with its requirements (v1 JSON
//! body and v2 `PAYMENT-REQUIRED` header); a paid call is verified locally, checked against
//! the chain, journaled, settled through the coordinator, and only then run.
//!
//! One payment buys one response. Replays of a spent payment, concurrent copies of one in
//! flight and payments for another function get a 402 naming the reason; a retry of a payment
//! whose answer never went out (the gateway crashed, the client dropped the connection) gets
//! that answer — or, if the function had not answered yet, a fresh run — without settling
//! again.

mod journal;
mod payer;
mod rejection;
mod verify;
pub(crate) mod wire;

use std::{
    collections::HashMap,
    net::IpAddr,
    path::Path,
    sync::{Arc, Mutex},
};

use alloy::{
    primitives::{Address, B256},
    sol_types::Eip712Domain,
};
use peerhost_contracts::ExecutionCoordinator::Authorization as ChainAuthorization;
use tracing::{debug, info, warn};

pub use journal::JournalError;
use journal::{Entry, Journal, Key, State, key};
pub use payer::{Offer, OfferError, Payer};
pub use rejection::Rejection;
use wire::{Payment, Requirements, Terms};

use crate::{
    chain::{Chain, ChainError},
    clock,
};

/// How long a client may take between the 402 and paying.
const MAX_TIMEOUT_S: u64 = 60;

/// Free calls are counted per caller over this window.
const FREE_WINDOW_MS: u64 = 24 * 60 * 60 * 1000;

/// How long a starting gateway waits for its predecessor to release the journal.
const JOURNAL_LOCK_WAIT_MS: u64 = 30_000;

/// A call's answer as the journal keeps it.
pub(crate) type StoredAnswer = crate::gateway::Answer;

/// Why a paid call is not served.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// The payment is refused (402).
    #[error(transparent)]
    Payment(#[from] Rejection),
    /// The gateway cannot take payments right now (503): chain or journal down.
    #[error("payments are unavailable: {0}")]
    Unavailable(String),
}

impl From<JournalError> for Refusal {
    fn from(e: JournalError) -> Self {
        Self::Unavailable(e.to_string())
    }
}

impl From<ChainError> for Refusal {
    fn from(e: ChainError) -> Self {
        Self::Unavailable(e.to_string())
    }
}

/// The gateway's payment desk.
#[derive(Debug)]
pub struct Paywall {
    chain: Chain,
    terms: Terms,
    domain: Eip712Domain,
    journal: Journal,
    in_flight: Mutex<HashMap<Key, Phase>>,
    free_calls: u32,
    free_used: Mutex<HashMap<IpAddr, (u64, u32)>>,
}

/// Where a payment held in memory is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Being settled or served: a copy gets `payment_in_progress`.
    Serving,
    /// Its answer went out; the durable record of that is being written.
    Spent,
}

/// An accepted, settled payment being served. Holding it keeps copies of the same payment
/// out; dropping it lets a retry in.
#[derive(Debug)]
pub(crate) struct Ticket {
    paywall: Arc<Paywall>,
    key: Key,
    entry: Entry,
    /// The x402 version the client paid with.
    pub version: u8,
    /// The payer.
    pub payer: Address,
    /// The settlement transaction.
    pub tx: B256,
    /// The answer of an earlier attempt that never went out.
    pub stored: Option<StoredAnswer>,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.paywall.in_flight.lock().expect("in-flight lock").remove(&self.key);
    }
}

impl Ticket {
    /// Records the function's answer before it goes out (lazily: lost in a crash, the
    /// function runs again for a retry).
    pub(crate) fn answered(&mut self, answer: StoredAnswer) {
        self.entry.state = State::Answered { tx: self.tx.0, answer: Box::new(answer) };
        if let Err(e) = self.paywall.journal.put_lazily(&self.key, &self.entry) {
            warn!(target: "peerhost::gateway", error = %e, "could not journal an answer");
        }
    }

    /// Marks the payment spent: its answer went out. The payment counts as used at once; the
    /// durable write runs on the blocking pool, off the response's path, and the ticket it
    /// holds keeps copies of the payment out until it lands.
    pub(crate) fn delivered(mut self) {
        self.entry.state = State::Delivered { tx: self.tx.0 };
        self.paywall.in_flight.lock().expect("in-flight lock").insert(self.key, Phase::Spent);
        let write = move || {
            if let Err(e) = self.paywall.journal.put(&self.key, &self.entry) {
                warn!(target: "peerhost::gateway", error = %e, "could not journal a delivery");
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn_blocking(write)),
            Err(_) => write(),
        }
    }

    /// The settlement response (`X-PAYMENT-RESPONSE` for v1, `PAYMENT-RESPONSE` for v2) as
    /// JSON.
    pub(crate) fn receipt(&self) -> serde_json::Value {
        self.paywall.terms.settle_response(self.version, self.tx, self.payer)
    }
}

impl Paywall {
    /// Reads the token's EIP-712 domain and opens the journal at `journal`.
    ///
    /// # Errors
    ///
    /// The chain cannot be read or the journal cannot be opened.
    pub async fn open(chain: Chain, journal: &Path, free_calls: u32) -> Result<Self, Refusal> {
        let (domain, name, version) = chain.token_domain().await?;
        let terms = Terms {
            chain_id: chain.chain_id(),
            asset: *chain.token().address(),
            pay_to: *chain.coordinator().address(),
            name,
            version,
            max_timeout_s: MAX_TIMEOUT_S,
        };
        // A gateway that just died may still hold the journal for a moment (its last calls
        // unwinding); wait for it rather than fail the restart.
        let mut waited = 0;
        let journal = loop {
            match Journal::open(journal) {
                Ok(journal) => break journal,
                Err(e) if e.is_locked() && waited < JOURNAL_LOCK_WAIT_MS => {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    waited += 100;
                }
                Err(e) => return Err(e.into()),
            }
        };
        Ok(Self {
            chain,
            terms,
            domain,
            journal,
            in_flight: Mutex::default(),
            free_calls,
            free_used: Mutex::default(),
        })
    }

    /// The terms every requirement of this gateway shares.
    pub(crate) fn terms(&self) -> &Terms {
        &self.terms
    }

    /// The requirements of one call.
    pub(crate) fn requirements(
        &self,
        amount: u64,
        resource: String,
        description: &str,
    ) -> Requirements {
        Requirements { amount, resource, description: description.to_owned() }
    }

    /// Takes one of `caller`'s free calls, if any are left in the current window.
    pub(crate) fn free_call(&self, caller: IpAddr) -> bool {
        if self.free_calls == 0 {
            return false;
        }
        let now = clock::unix_ms();
        let mut used = self.free_used.lock().expect("free-tier lock");
        if used.len() > 100_000 {
            used.retain(|_, (start, _)| now.saturating_sub(*start) < FREE_WINDOW_MS);
        }
        let (start, count) = used.entry(caller).or_insert((now, 0));
        if now.saturating_sub(*start) >= FREE_WINDOW_MS {
            (*start, *count) = (now, 0);
        }
        if *count >= self.free_calls {
            return false;
        }
        *count += 1;
        true
    }

    /// Accepts `payment` for `resource` (`owner/project/function`) at `price`, crediting
    /// `payee`: verifies it, journals it and settles it — or finds the earlier attempt of the
    /// same payment and resumes it.
    ///
    /// # Errors
    ///
    /// [`Refusal::Payment`] with the reason, or [`Refusal::Unavailable`].
    pub(crate) async fn accept(
        self: &Arc<Self>,
        payment: Payment,
        price: u64,
        resource: &str,
        payee: Address,
    ) -> Result<Ticket, Refusal> {
        let from = payment.authorization.from;
        let nonce = payment.authorization.nonce;
        let k = key(from, nonce);
        match self.in_flight.lock().expect("in-flight lock").entry(k) {
            std::collections::hash_map::Entry::Occupied(held) => {
                return Err(match held.get() {
                    Phase::Serving => Rejection::InFlight,
                    Phase::Spent => Rejection::Used,
                }
                .into());
            }
            std::collections::hash_map::Entry::Vacant(free) => {
                free.insert(Phase::Serving);
            }
        }
        let mut ticket = Ticket {
            paywall: self.clone(),
            key: k,
            entry: Entry { resource: resource.to_owned(), digest: [0; 32], state: State::Accepted },
            version: payment.version,
            payer: from,
            tx: B256::ZERO,
            stored: None,
        };
        let (digest, signer) = verify::signer(&payment, &self.domain);
        ticket.entry.digest = digest.0;
        match self.journal.get(&k)? {
            Some(entry) => {
                if signer != Some(from) {
                    return Err(Rejection::Signature(from).into());
                }
                if entry.digest != digest.0 {
                    return Err(Rejection::NonceUsed.into());
                }
                if entry.resource != resource {
                    return Err(Rejection::OtherResource(entry.resource).into());
                }
                match entry.state {
                    State::Delivered { .. } => return Err(Rejection::Used.into()),
                    State::Settled { tx } => ticket.tx = B256::from(tx),
                    State::Answered { tx, answer } => {
                        ticket.tx = B256::from(tx);
                        ticket.stored = Some(*answer);
                    }
                    State::Accepted => {
                        debug!(target: "peerhost::gateway", payer = %from, "resuming an unsettled payment");
                        // Settled before the crash (its `Settled` step is not kept durably)?
                        match self.chain.settlement_tx(from, nonce).await? {
                            Some(tx) => ticket.tx = tx,
                            None => self.settle(&mut ticket, &payment, payee).await?,
                        }
                    }
                }
                ticket.entry.state = State::Settled { tx: ticket.tx.0 };
                Ok(ticket)
            }
            None => {
                verify::check(&payment, &self.terms, signer, price, clock::unix_ms() / 1000)?;
                // One eth_call on the way to a settlement; only a refused one asks why, so
                // the payer gets a typed reason (spent nonce, funds) rather than a revert string.
                let simulated = self
                    .chain
                    .simulate_settlement(
                        payee,
                        chain_authorization(&payment),
                        payment.signature.clone(),
                    )
                    .await;
                if let Err(ChainError::Reverted { reason }) = simulated {
                    let state = self.chain.payment_state(from, nonce).await?;
                    if state.settled || state.nonce_used {
                        return Err(Rejection::NonceUsed.into());
                    }
                    if state.balance < alloy::primitives::U256::from(price) {
                        return Err(Rejection::Funds {
                            payer: from,
                            balance: state.balance,
                            want: price,
                        }
                        .into());
                    }
                    return Err(Rejection::Settlement(reason).into());
                }
                simulated?;
                self.journal.put(&k, &ticket.entry)?;
                self.settle(&mut ticket, &payment, payee).await?;
                Ok(ticket)
            }
        }
    }

    /// Settles the ticket's payment (or finds that it already settled) and journals it.
    async fn settle(
        &self,
        ticket: &mut Ticket,
        payment: &Payment,
        payee: Address,
    ) -> Result<(), Refusal> {
        let a = &payment.authorization;
        let auth = chain_authorization(payment);
        let tx = match self.chain.settle_transfer(payee, auth, payment.signature.clone()).await {
            Ok(tx) => tx,
            Err(error) => {
                // A settlement that was mined but not confirmed to us (timeout, restart) counts.
                match self.chain.settlement_tx(a.from, a.nonce).await? {
                    Some(tx) => tx,
                    None => {
                        self.journal.remove(&ticket.key)?;
                        return Err(Rejection::Settlement(error.to_string()).into());
                    }
                }
            }
        };
        ticket.tx = tx;
        ticket.entry.state = State::Settled { tx: tx.0 };
        self.journal.put_lazily(&ticket.key, &ticket.entry)?;
        info!(target: "peerhost::gateway", payer = %a.from, amount = %a.value, %tx, "payment settled");
        Ok(())
    }
}

/// The coordinator's view of a payment's authorization.
fn chain_authorization(payment: &Payment) -> ChainAuthorization {
    let a = &payment.authorization;
    ChainAuthorization {
        from: a.from,
        value: a.value,
        validAfter: a.validAfter,
        validBefore: a.validBefore,
        nonce: a.nonce,
    }
}
