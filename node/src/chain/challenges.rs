//! A gateway's answers to challenges. Anyone may challenge a receipt leaf of an anchored epoch
//! (`challengeReceipt`); a gateway that cannot show the worker's signed receipt within the
//! answer window is slashed. An honest gateway anchors only receipts it holds the worker's
//! chain signature for, keeps them while their epoch can be challenged, follows
//! `ReceiptChallenged` events about itself and answers each one.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
};

use alloy::{
    primitives::{Address, B256, Bytes},
    rpc::types::Filter,
    sol_types::SolEvent as _,
};
use peerhost_contracts::{ExecutionCoordinator::ReceiptChallenged, receipts::Receipt};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::{
    Chain,
    events::{Followed, follow},
};

/// Most epochs whose receipts are kept for answers.
const MAX_EPOCHS: usize = 1024;
/// Tries to answer one challenge (the answer window is many times longer than all of them).
const ANSWER_ATTEMPTS: u32 = 5;
/// Wait between tries.
const ANSWER_RETRY: std::time::Duration = std::time::Duration::from_secs(2);

/// A receipt as anchored and its worker's EIP-712 signature, by (worker, receipt leaf).
type Signed = HashMap<(Address, B256), (Receipt, Bytes)>;

/// The signed receipts of recently anchored epochs.
#[derive(Debug, Default)]
pub(crate) struct Answers {
    epochs: Mutex<VecDeque<(u64, Signed)>>,
}

impl Answers {
    /// Keeps the signed receipts anchored for `epoch`, forgetting epochs more than
    /// `keep_epochs` older (they can no longer be challenged).
    pub(crate) fn keep(&self, epoch: u64, receipts: Signed, keep_epochs: u64) {
        let mut epochs = self.epochs.lock().expect("answers lock");
        epochs.retain(|(e, _)| *e != epoch && e + keep_epochs >= epoch);
        epochs.push_back((epoch, receipts));
        while epochs.len() > MAX_EPOCHS {
            epochs.pop_front();
        }
    }

    fn find(&self, epoch: u64, worker: Address, leaf: B256) -> Option<(Receipt, Bytes)> {
        let epochs = self.epochs.lock().expect("answers lock");
        epochs.iter().find(|(e, _)| *e == epoch)?.1.get(&(worker, leaf)).cloned()
    }
}

/// Follows challenges of `chain`'s gateway and answers them from `answers` until `shutdown`.
pub(crate) fn spawn(
    chain: Chain,
    answers: Arc<Answers>,
    shutdown: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let filter = Filter::new()
            .address(*chain.coordinator().address())
            .event_signature(ReceiptChallenged::SIGNATURE_HASH);
        let me = chain.address();
        let answerer = chain.clone();
        follow(&chain, filter, 0, shutdown, move |followed| {
            let Followed::Log(log) = followed else { return };
            if log.removed {
                return;
            }
            let Ok(event) = log.log_decode::<ReceiptChallenged>() else { return };
            let e = event.inner.data;
            if e.gateway != me {
                return;
            }
            let Some((receipt, signature)) = answers.find(e.epoch, e.worker, e.receiptLeaf) else {
                warn!(target: "peerhost::chain", epoch = e.epoch, worker = %e.worker, "challenged receipt is not one this gateway kept; cannot answer");
                return;
            };
            let chain = answerer.clone();
            tokio::spawn(async move {
                // An unanswered challenge slashes the gateway: retry passing failures.
                for attempt in 1..=ANSWER_ATTEMPTS {
                    match chain.answer_challenge(e.id, receipt.clone(), signature.clone()).await {
                        Ok(tx) => {
                            info!(target: "peerhost::chain", epoch = e.epoch, worker = %e.worker, %tx, "challenge answered with the worker's signed receipt");
                            return;
                        }
                        Err(err) if err.is_revert("ChallengeNotOpen") => return,
                        Err(err) => {
                            warn!(target: "peerhost::chain", epoch = e.epoch, attempt, error = %err, "answering a challenge failed");
                            tokio::time::sleep(ANSWER_RETRY).await;
                        }
                    }
                }
            });
        })
        .await;
    })
}
