//! The handle the gateway records accepted receipts through ([`Anchoring`]): each one is
//! journaled, then queued for the anchorer (`anchorer.rs`), without waiting for either.

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicU64, Ordering},
};

use peerhost_protocol::{AnswerReceipt, EvmSignature, NodeKey, Owner, Receipt, RequestId};
use tokio::sync::mpsc;

use super::{
    proofs::{Proofs, ReceiptProof},
    receipt_journal::{ReceiptJournal, Stored},
};

/// A receipt the gateway credits: the owner of the function it ran, the worker's chain
/// signature, and whether it won the call or assisted (agreed without winning).
#[derive(Debug)]
pub(super) struct Served {
    pub(super) owner: Owner,
    pub(super) receipt: Receipt,
    pub(super) signature: Option<EvmSignature>,
    pub(super) won: bool,
}

/// What the gateway hands the anchorer.
#[derive(Debug)]
pub(super) enum Input {
    /// A receipt whose result the gateway accepted: anchored and rewarded.
    Accepted(Served),
    /// A receipt of a call whose racers disagreed: not anchored, put up for audit.
    Disputed(Receipt, EvmSignature),
}

impl Input {
    /// A journaled receipt as the anchorer takes it (`None`: an answer receipt whose
    /// signature no longer opens, which the journal never holds unless corrupted).
    pub(super) fn of(stored: Stored) -> Option<Self> {
        Some(match stored {
            Stored::Won { owner, answer } => Self::Accepted(Served {
                owner,
                receipt: answer.receipt.open().ok()?,
                signature: answer.chain_signature,
                won: true,
            }),
            Stored::Assisted { owner, receipt, signature } => {
                Self::Accepted(Served { owner, receipt, signature: Some(signature), won: false })
            }
            Stored::Disputed { receipt, signature } => Self::Disputed(receipt, signature),
        })
    }
}

/// A queued receipt: its journal sequence number (`None` if it could not be journaled) and
/// what it is.
pub(super) type Queued = (Option<u64>, Input);

/// Hands accepted receipts to the anchorer.
#[derive(Debug, Clone)]
pub struct Anchoring {
    pub(super) tx: mpsc::Sender<Queued>,
    pub(super) journal: Arc<Mutex<ReceiptJournal>>,
    pub(super) dropped: Arc<AtomicU64>,
    pub(super) unjournaled: Arc<AtomicU64>,
    pub(super) anchored: Arc<AtomicU64>,
    pub(super) proofs: Arc<Proofs>,
}

impl Anchoring {
    /// Journals and queues the receipt of an answer to a call of a function of `owner` (the
    /// opened `receipt` of `answer`); never waits for the anchorer (one file write).
    pub fn record(&self, owner: Owner, receipt: Receipt, answer: &AnswerReceipt) {
        let signature = answer.chain_signature;
        let input = Input::Accepted(Served { owner, receipt, signature, won: true });
        self.queue(input, || Stored::Won { owner, answer: Box::new(answer.clone()) });
    }

    /// Queues the receipt of a racer that agreed with the accepted result of a call it did not
    /// win, delivered before the deadline: anchored as an assist (a smaller reward); never
    /// waits.
    pub fn assist(&self, owner: Owner, receipt: Receipt, chain_signature: EvmSignature) {
        let stored =
            || Stored::Assisted { owner, receipt: receipt.clone(), signature: chain_signature };
        let input = Input::Accepted(Served {
            owner,
            receipt: receipt.clone(),
            signature: Some(chain_signature),
            won: false,
        });
        self.queue(input, stored);
    }

    /// Puts a receipt of a call whose racers disagreed up for audit in the next anchored
    /// epoch's summary (validators re-execute it and dispute it if wrong); never waits.
    pub fn dispute(&self, receipt: Receipt, chain_signature: EvmSignature) {
        let stored = || Stored::Disputed { receipt: receipt.clone(), signature: chain_signature };
        self.queue(Input::Disputed(receipt.clone(), chain_signature), stored);
    }

    /// Journals `input` and queues it, under the journal's lock so the queue's order is the
    /// journal's; a full queue drops it (counted).
    fn queue(&self, input: Input, stored: impl FnOnce() -> Stored) {
        let mut journal = self.journal.lock().expect("journal lock");
        let Ok(permit) = self.tx.try_reserve() else {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let seq = journal.append(stored());
        if seq.is_none() {
            self.unjournaled.fetch_add(1, Ordering::Relaxed);
        }
        permit.send((seq, input));
    }

    /// Receipts dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Receipts queued but not journaled (the journal was full or the disk failed): a restart
    /// before their epoch is anchored loses them.
    pub fn unjournaled(&self) -> u64 {
        self.unjournaled.load(Ordering::Relaxed)
    }

    /// Epochs anchored so far.
    pub fn anchored(&self) -> u64 {
        self.anchored.load(Ordering::Relaxed)
    }

    /// The inclusion proof of `worker`'s receipt for request `id`, once this gateway anchored
    /// it (kept while its epoch can be challenged).
    pub fn proof(&self, id: &RequestId, worker: &NodeKey) -> Option<ReceiptProof> {
        self.proofs.find(id, worker)
    }
}
