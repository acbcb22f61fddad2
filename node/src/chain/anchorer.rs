//! The gateway's side of settlement. Accepted receipts go into a batch labelled with the
//! chain's epoch when the batch opened; once the chain's epoch moves past it, the batch is
//! anchored (one transaction, whatever its size, declaring how many requests each function
//! owner had, so the coordinator can hold each owner to the treasury's budget) and its
//! (worker, owner) leaves are gossiped on
//! [`topics::EPOCHS`] so each worker can claim, with the receipts put up for audit. Receipts
//! that are not anchored (late assists no call funds, disagreements) are audited all the same,
//! in an audit-only summary when the epoch has nothing to anchor. Nothing here is on the request path:
//! [`Anchoring::record`] never blocks, and a batch whose anchoring fails stays queued and is
//! retried on the next tick. Every receipt is journaled before its caller gets the answer
//! ([`super::receipt_journal`]), so a restarted gateway anchors what its predecessor accepted.

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    path::Path,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use alloy::primitives::{Address, B256, Bytes};
use peerhost_contracts::{ExecutionCoordinator::OwnerUsage, receipts::Receipt as ChainReceipt};
use peerhost_protocol::{
    AnswerReceipt, Audit, EpochSummary, EvmSignature, Keccak, MAX_AUDITS, MAX_EPOCH_LEAVES,
    NodeKey, Owner, Receipt, WorkerLeaf, codec, merkle::MerkleTree, topics,
};
use tokio::{sync::mpsc, task::JoinHandle};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::{
    Chain, ChainError,
    challenges::Answers,
    leaves::{chain_receipt, worker_leaf},
    proofs::{AnchoredTrees, Proofs},
    receipt_journal::{JournalError, ReceiptJournal, Recovered},
    recording::{Anchoring, Input, Queued, Served},
};
use crate::{
    dispatch::{AuditRate, BondRole},
    mesh::MeshClient,
    view::View,
};

/// Accepted receipts waiting for the anchorer (beyond this, receipts are dropped and counted:
/// the request path never waits for settlement).
const QUEUE: usize = 65_536;
/// Epochs an anchor is watched after it is mined: if a reorg drops it, it is anchored again.
const CONFIRM_EPOCHS: u64 = 8;
/// Times an epoch summary is gossiped (at anchoring and on the following ticks), so workers
/// that were briefly away still hear it.
const SUMMARY_REPEATS: u8 = 3;

/// The anchorer, started by [`spawn`], and the answer receipts it recovered from its journal
/// (to be served again at `GET /receipts/<id>`).
pub type Started = (Anchoring, Vec<AnswerReceipt>, JoinHandle<()>);

/// Starts the anchorer on the receipt journal at `journal` (taking over the receipts a
/// previous run left unanchored); it checks the chain's epoch every `tick` and puts about
/// `audit_fraction` of each epoch's receipts up for re-execution.
///
/// # Errors
///
/// The journal cannot be read or written.
pub fn spawn(
    chain: Chain,
    mesh: MeshClient,
    view: Arc<View>,
    journal: &Path,
    tick: Duration,
    audit_fraction: f64,
    shutdown: CancellationToken,
) -> Result<Started, JournalError> {
    let (journal, recovered) = ReceiptJournal::open(journal)?;
    let answers_kept = recovered.answers().cloned().collect();
    let (tx, rx) = mpsc::channel(QUEUE);
    let handle = Anchoring {
        tx,
        journal: Arc::new(Mutex::new(journal)),
        dropped: Arc::default(),
        unjournaled: Arc::default(),
        anchored: Arc::default(),
        proofs: Arc::default(),
    };
    let answers = Arc::new(Answers::default());
    let answering = super::challenges::spawn(chain.clone(), answers.clone(), shutdown.clone());
    let Recovered { next_epoch, closed, open } = recovered;
    if !(closed.is_empty() && open.is_empty()) {
        let receipts = open.len() + closed.iter().map(|b| b.inputs.len()).sum::<usize>();
        info!(target: "peerhost::chain", receipts, batches = closed.len(), "unanchored receipts recovered from the journal");
    }
    let closed = closed
        .into_iter()
        .map(|batch| {
            let mut recovered = Batch::new(batch.epoch);
            for (seq, stored) in batch.inputs {
                if let Some(input) = Input::of(stored) {
                    recovered.take(Some(seq), input);
                }
            }
            recovered.last_seq = Some(batch.last);
            recovered
        })
        .collect();
    let reopened = open
        .into_iter()
        .filter_map(|(seq, stored)| Some((Some(seq), Input::of(stored)?)))
        .collect();
    let anchorer = Anchorer {
        answers,
        proofs: handle.proofs.clone(),
        keep_epochs: CONFIRM_EPOCHS,
        chain,
        mesh,
        open: None,
        reopened,
        next_epoch,
        closed,
        journal: handle.journal.clone(),
        view,
        summaries: Vec::new(),
        recent: VecDeque::new(),
        anchored: handle.anchored.clone(),
        audit_rate: AuditRate::new(audit_fraction),
    };
    let task = tokio::spawn(async move {
        anchorer.run(rx, tick, shutdown).await;
        let _ = answering.await;
    });
    Ok((handle, answers_kept, task))
}

/// An anchor this gateway made, and the summary that announced it.
struct Anchored {
    epoch: u64,
    root: Keccak,
    usage: Vec<OwnerUsage>,
    summary: Vec<u8>,
}

/// Receipts of one epoch, with their owners and the workers' chain signatures.
struct Batch {
    epoch: u64,
    receipts: Vec<Served>,
    /// Receipts of calls whose racers disagreed: audited, not anchored.
    disputed: Vec<(Receipt, EvmSignature)>,
    /// The journal sequence number of its last journaled receipt.
    last_seq: Option<u64>,
}

impl Batch {
    fn new(epoch: u64) -> Self {
        Self { epoch, receipts: Vec::new(), disputed: Vec::new(), last_seq: None }
    }

    fn take(&mut self, seq: Option<u64>, input: Input) {
        self.last_seq = seq.or(self.last_seq);
        match input {
            Input::Accepted(accepted) => self.receipts.push(accepted),
            Input::Disputed(receipt, signature) => self.disputed.push((receipt, signature)),
        }
    }
}

/// An epoch's receipts by (worker address, owner address), in leaf order.
type Grouped<'a> = BTreeMap<(Address, Address), Vec<&'a Served>>;

struct Anchorer {
    /// Signed receipts of anchored epochs, for answering challenges.
    answers: Arc<Answers>,
    /// Trees of anchored epochs, for callers' inclusion proofs.
    proofs: Arc<Proofs>,
    /// Epochs an anchored epoch's receipts are kept (its challenge and answer windows).
    keep_epochs: u64,
    chain: Chain,
    mesh: MeshClient,
    open: Option<Batch>,
    /// Receipts of the batch a previous run left open, to join the first open batch.
    reopened: Vec<Queued>,
    /// The lowest epoch a new batch may be labelled with: one past every batch closed so far,
    /// so receipts never join an epoch this gateway already anchored (a reorg can move the
    /// chain's clock back).
    next_epoch: u64,
    closed: VecDeque<Batch>,
    /// Where every queued receipt was journaled; the anchorer marks batches closed and done.
    journal: Arc<Mutex<ReceiptJournal>>,
    /// The node's view: the bond book names each worker's chain account.
    view: Arc<View>,
    /// Summaries still to be repeated, with repeats left.
    summaries: Vec<(Vec<u8>, u8)>,
    /// Recent anchors, watched until they are deep enough that no reorg undoes them.
    recent: VecDeque<Anchored>,
    anchored: Arc<AtomicU64>,
    /// Which receipts are put up for re-execution (a draw keyed by the epoch's root).
    audit_rate: AuditRate,
}

impl Anchorer {
    async fn run(
        mut self,
        mut rx: mpsc::Receiver<Queued>,
        tick: Duration,
        shutdown: CancellationToken,
    ) {
        if let (Ok(params), Ok(length)) =
            (self.chain.coordinator().params().call().await, self.chain.epoch_length().await)
        {
            // An epoch may be anchored up to `anchorWindow` after it ends, then challenged and
            // answered within the two windows after that.
            let windows = params
                .anchorWindow
                .saturating_add(params.challengeWindow)
                .saturating_add(params.answerWindow);
            self.keep_epochs = windows.div_ceil(length.max(1)).saturating_add(2);
        }
        let mut epoch = match self.chain.current_epoch().await {
            Ok(epoch) => epoch,
            Err(e) => {
                warn!(target: "peerhost::chain", error = %e, "cannot read the epoch; anchoring starts when the chain answers");
                0
            }
        };
        for (seq, input) in std::mem::take(&mut self.reopened) {
            self.open_batch(epoch).take(seq, input);
        }
        let mut ticks = tokio::time::interval(tick);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                queued = rx.recv() => {
                    let Some((seq, input)) = queued else { break };
                    self.open_batch(epoch).take(seq, input);
                }
                _ = ticks.tick() => {
                    // A batch closes one tick after the chain's epoch moved past it, so the
                    // assists of its last calls (racers that deliver just after the answer)
                    // still join it.
                    let previous = epoch;
                    if let Ok(current) = self.chain.current_epoch().await {
                        epoch = current;
                    }
                    if let Some(batch) = self.open.take_if(|batch| batch.epoch < previous) {
                        self.next_epoch = batch.epoch + 1;
                        // The label is on disk before the anchor can be mined.
                        if let Some(last) = batch.last_seq
                            && let Err(e) = self.journal().close(batch.epoch, last)
                        {
                            warn!(target: "peerhost::chain", epoch = batch.epoch, error = %e, "cannot journal a closed batch");
                        }
                        self.closed.push_back(batch);
                    }
                    self.anchor_closed().await;
                    if let Err(e) = self.journal().sync() {
                        warn!(target: "peerhost::chain", error = %e, "cannot sync the receipt journal");
                    }
                    self.confirm_recent(epoch).await;
                    self.repeat_summaries().await;
                }
            }
        }
    }

    /// The open batch, opened now with the current label if there is none.
    fn open_batch(&mut self, epoch: u64) -> &mut Batch {
        let label = epoch.max(self.next_epoch);
        self.open.get_or_insert_with(|| Batch::new(label))
    }

    fn journal(&self) -> std::sync::MutexGuard<'_, ReceiptJournal> {
        self.journal.lock().expect("journal lock")
    }

    /// Anchors finished batches in order; stops at the first failure (retried next tick).
    /// Batches done with leave the journal.
    async fn anchor_closed(&mut self) {
        let mut finished = false;
        while let Some(batch) = self.closed.pop_front() {
            match self.anchor(&batch).await {
                Ok(()) => {}
                Err(e) if e.is_revert("EpochAlreadyAnchored") => {
                    warn!(target: "peerhost::chain", epoch = batch.epoch, "epoch was already anchored; its receipts are not paid twice");
                }
                // Retrying cannot help: the epoch is too old, or this gateway is not bonded.
                Err(e) if e.is_revert("AnchorWindowClosed") || e.is_revert("NotGateway") => {
                    warn!(target: "peerhost::chain", epoch = batch.epoch, error = %e, "epoch cannot be anchored; its receipts are dropped");
                }
                Err(e) => {
                    warn!(target: "peerhost::chain", epoch = batch.epoch, error = %e, "anchoring failed; retrying");
                    self.closed.push_front(batch);
                    break;
                }
            }
            finished |= batch.last_seq.is_some();
            if batch.last_seq.is_some()
                && let Err(e) = self.journal().done(batch.epoch)
            {
                warn!(target: "peerhost::chain", epoch = batch.epoch, error = %e, "cannot journal an anchored batch");
            }
        }
        if finished && let Err(e) = self.journal().compact(self.next_epoch) {
            warn!(target: "peerhost::chain", error = %e, "cannot compact the receipt journal");
        }
    }

    async fn anchor(&mut self, batch: &Batch) -> Result<(), ChainError> {
        // Receipts of workers bonded now, with their chain accounts. Without the worker's chain
        // signature a challenge of the receipt could not be answered, so it is neither
        // anchored nor audited (workers on a chain always sign); unbonded workers are not
        // rewarded.
        let signed: Vec<(Address, &Served)> = batch
            .receipts
            .iter()
            .filter(|entry| entry.signature.is_some())
            .filter_map(|entry| Some((self.address_of(&entry.receipt.worker)?, entry)))
            .collect();
        // Receipts by (worker, owner).
        let mut grouped: Grouped<'_> = BTreeMap::new();
        for (address, entry) in &signed {
            grouped.entry((*address, entry.owner.0)).or_default().push(entry);
        }
        keep_owners_with_calls(&mut grouped);
        if grouped.len() > MAX_EPOCH_LEAVES {
            warn!(target: "peerhost::chain", epoch = batch.epoch, leaves = grouped.len(), "more (worker, owner) pairs than a summary holds; the rest are not anchored");
            // Leaves of assists alone go first, then the last leaves in key order.
            let assists_only: Vec<(Address, Address)> = grouped
                .iter()
                .filter(|(_, served)| !served.iter().any(|s| s.won))
                .map(|(key, _)| *key)
                .collect();
            for key in assists_only.iter().rev() {
                if grouped.len() <= MAX_EPOCH_LEAVES {
                    break;
                }
                grouped.remove(key);
            }
            while grouped.len() > MAX_EPOCH_LEAVES {
                grouped.pop_last();
            }
            keep_owners_with_calls(&mut grouped);
        }
        // What is not anchored (assists no call of their owner funds here, leaves beyond what
        // a summary holds) is still audited: a signed wrong result is slashable, paid or not.
        let unanchored: Vec<(Address, &Served)> = signed
            .iter()
            .filter(|(address, entry)| !grouped.contains_key(&(*address, entry.owner.0)))
            .copied()
            .collect();
        if grouped.is_empty() {
            // Nothing to anchor, but the epoch's late and disputed results are still checked
            // (the calls may have stopped: no later epoch would carry them): an audit-only
            // summary, sampled by the root of the receipts it holds.
            let leaves =
                unanchored.iter().map(|(worker, s)| chain_receipt(&s.receipt).leaf(*worker));
            let root = MerkleTree::new(leaves.collect()).map_or(Keccak([0; 32]), |t| t.root());
            let audits = self.audits(&root, &unanchored, &batch.disputed);
            debug!(target: "peerhost::chain", epoch = batch.epoch, audits = audits.len(), "nothing to anchor: no call won by a bonded worker");
            if !audits.is_empty() {
                self.publish(EpochSummary {
                    chain_id: self.chain.chain_id(),
                    coordinator: Owner(*self.chain.coordinator().address()),
                    gateway: Owner(self.chain.address()),
                    epoch: batch.epoch,
                    leaves: Vec::new(),
                    audits,
                })
                .await;
            }
            return Ok(());
        }
        let mut leaves = Vec::with_capacity(grouped.len());
        let mut summary_leaves = Vec::with_capacity(grouped.len());
        let mut receipt_trees = Vec::with_capacity(grouped.len());
        let mut index = HashMap::new();
        let mut per_owner: BTreeMap<Address, u32> = BTreeMap::new();
        for ((worker, owner), receipts) in &grouped {
            let leaf_index = u32::try_from(receipt_trees.len()).unwrap_or(u32::MAX);
            for (i, served) in receipts.iter().enumerate() {
                let r = &served.receipt;
                let at = (leaf_index, u32::try_from(i).unwrap_or(u32::MAX));
                index.insert((r.request_id, r.worker), at);
            }
            let receipt_leaves =
                receipts.iter().map(|s| chain_receipt(&s.receipt).leaf(*worker)).collect();
            let receipts_tree = MerkleTree::new(receipt_leaves).expect("a worker here served");
            let receipts_root = receipts_tree.root();
            receipt_trees.push(receipts_tree);
            let won = receipts.iter().filter(|s| s.won).count();
            let requests = u32::try_from(won).unwrap_or(u32::MAX);
            let assists = u32::try_from(receipts.len() - won).unwrap_or(u32::MAX);
            let fuel = receipts.iter().map(|s| s.receipt.fuel_used).fold(0u64, u64::saturating_add);
            let leaf = WorkerLeaf {
                worker: Owner(*worker),
                owner: Owner(*owner),
                requests,
                assists,
                fuel,
                receipts_root,
            };
            leaves.push(worker_leaf(&leaf));
            summary_leaves.push(leaf);
            let total = per_owner.entry(*owner).or_default();
            *total = total.saturating_add(requests);
        }
        let usage: Vec<OwnerUsage> =
            per_owner.into_iter().map(|(owner, requests)| OwnerUsage { owner, requests }).collect();
        let count = usage.iter().fold(0u32, |sum, u| sum.saturating_add(u.requests));
        let tree = MerkleTree::new(leaves).expect("at least one worker");
        let root = tree.root();
        let tx = self.chain.anchor(batch.epoch, root, usage.clone()).await?;
        self.answers.keep(batch.epoch, signed_receipts(&grouped), self.keep_epochs);
        let origin =
            (self.chain.chain_id(), *self.chain.coordinator().address(), self.chain.address());
        let trees = AnchoredTrees {
            epoch: batch.epoch,
            leaves: summary_leaves.clone(),
            tree,
            receipts: receipt_trees,
            index,
        };
        self.proofs.keep(origin, trees, self.keep_epochs);
        self.anchored.fetch_add(1, Ordering::Relaxed);
        info!(target: "peerhost::chain", epoch = batch.epoch, requests = count, workers = summary_leaves.len(), %tx, "epoch anchored");
        let mut sampled: Vec<(Address, &Served)> = grouped
            .iter()
            .flat_map(|((worker, _), served)| served.iter().map(|s| (*worker, *s)))
            .collect();
        sampled.extend(unanchored);
        let summary = EpochSummary {
            chain_id: self.chain.chain_id(),
            coordinator: Owner(*self.chain.coordinator().address()),
            gateway: Owner(self.chain.address()),
            epoch: batch.epoch,
            leaves: summary_leaves,
            audits: self.audits(&root, &sampled, &batch.disputed),
        };
        let bytes = self.publish(summary).await;
        self.recent.push_back(Anchored { epoch: batch.epoch, root, usage, summary: bytes });
        Ok(())
    }

    /// Gossips `summary` now and on the next ticks; returns its bytes.
    async fn publish(&mut self, summary: EpochSummary) -> Vec<u8> {
        let bytes = codec::encode(&summary);
        let _ = self.mesh.publish(topics::EPOCHS, bytes.clone()).await;
        self.summaries.push((bytes.clone(), SUMMARY_REPEATS - 1));
        bytes
    }

    /// Checks that recent anchors are still on the chain; one a reorg dropped is anchored
    /// again and announced again, so its workers can claim (once: their claims went with it).
    async fn confirm_recent(&mut self, current: u64) {
        self.recent.retain(|a| a.epoch + CONFIRM_EPOCHS >= current);
        let gateway = self.chain.address();
        for anchored in &self.recent {
            let Ok(on_chain) =
                self.chain.coordinator().anchorOf(gateway, anchored.epoch).call().await
            else {
                continue;
            };
            if on_chain.root == B256::from(anchored.root.0) {
                continue;
            }
            warn!(target: "peerhost::chain", epoch = anchored.epoch, "anchor no longer on the chain (reorg); anchoring it again");
            match self.chain.anchor(anchored.epoch, anchored.root, anchored.usage.clone()).await {
                Ok(_) => {
                    let _ = self.mesh.publish(topics::EPOCHS, anchored.summary.clone()).await;
                    self.summaries.push((anchored.summary.clone(), SUMMARY_REPEATS - 1));
                }
                Err(e) => {
                    warn!(target: "peerhost::chain", epoch = anchored.epoch, error = %e, "re-anchoring failed; retrying")
                }
            }
        }
    }

    /// The receipts put up for re-execution: a sample chosen by the root, which did not exist
    /// while the requests ran.
    fn audits(
        &self,
        root: &Keccak,
        sampled: &[(Address, &Served)],
        disputed: &[(Receipt, EvmSignature)],
    ) -> Vec<Audit> {
        // Disagreements first: each one is known to hold a wrong result.
        let mut audits = Vec::new();
        for (receipt, signature) in disputed {
            if let Some(worker) = self.address_of(&receipt.worker) {
                let chain_signature = *signature;
                audits.push(Audit {
                    receipt: receipt.clone(),
                    worker: Owner(worker),
                    chain_signature,
                });
            }
        }
        for (worker, Served { receipt, signature, .. }) in sampled {
            if let (true, Some(signature)) =
                (self.audit_rate.audits(root, &receipt.request_id), signature)
            {
                audits.push(Audit {
                    receipt: receipt.clone(),
                    worker: Owner(*worker),
                    chain_signature: *signature,
                });
            }
        }
        audits.truncate(MAX_AUDITS);
        audits
    }

    async fn repeat_summaries(&mut self) {
        for (bytes, left) in &mut self.summaries {
            if *left > 0 {
                *left -= 1;
                let _ = self.mesh.publish(topics::EPOCHS, bytes.clone()).await;
            }
        }
        self.summaries.retain(|(_, left)| *left > 0);
    }

    /// The chain account of a worker bonded now, from the node's bond book (no RPC); `None`
    /// for workers that are not (or no longer) bonded: they are not rewarded.
    fn address_of(&self, key: &NodeKey) -> Option<Address> {
        let bonds = self.view.bonds.read().expect("bonds lock");
        if !bonds.admits(BondRole::Worker, key, 0) {
            return None;
        }
        bonds.stake_of(BondRole::Worker, key).map(|stake| stake.account)
    }
}

/// Drops the leaves of owners none of whose calls here was won by a bonded worker: assists
/// are funded next to their owner's funded calls, and such an owner has no calls to declare.
fn keep_owners_with_calls(grouped: &mut Grouped<'_>) {
    let owners: std::collections::BTreeSet<Address> = grouped
        .iter()
        .filter(|(_, served)| served.iter().any(|s| s.won))
        .map(|((_, owner), _)| *owner)
        .collect();
    grouped.retain(|(_, owner), _| owners.contains(owner));
}

/// The anchored receipts with their workers' signatures, by (worker, receipt leaf).
fn signed_receipts(grouped: &Grouped<'_>) -> HashMap<(Address, B256), (ChainReceipt, Bytes)> {
    let mut signed = HashMap::new();
    for ((worker, _), receipts) in grouped {
        for Served { receipt, signature, .. } in receipts {
            if let Some(signature) = signature {
                let chain = chain_receipt(receipt);
                let leaf = B256::from(chain.leaf(*worker).0);
                signed.insert((*worker, leaf), (chain, Bytes::from(signature.0.to_vec())));
            }
        }
    }
    signed
}
