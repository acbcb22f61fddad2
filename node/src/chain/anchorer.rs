//! The gateway's side of settlement. Accepted receipts go into a batch labelled with the
//! chain's epoch when the batch opened; once the chain's epoch moves past it, the batch is
//! anchored (one transaction, whatever its size) and its worker leaves are gossiped on
//! [`topics::EPOCHS`] so each worker can claim. Nothing here is on the request path:
//! [`Anchoring::record`] never blocks, and a batch whose anchoring fails stays queued and is
//! retried on the next tick.

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use alloy::primitives::{Address, B256};
use peerhost_contracts::receipts::{self, Receipt as ChainReceipt};
use peerhost_protocol::{
    Audit, EpochSummary, EvmSignature, Keccak, MAX_AUDITS, NodeKey, Owner, Receipt, WorkerLeaf,
    codec, keccak256_parts, merkle::MerkleTree, topics,
};
use tokio::{sync::mpsc, task::JoinHandle};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::{Chain, ChainError};
use crate::mesh::MeshClient;

/// Accepted receipts waiting for the anchorer (beyond this, receipts are dropped and counted:
/// the request path never waits for settlement).
const QUEUE: usize = 65_536;
/// Epochs an anchor is watched after it is mined: if a reorg drops it, it is anchored again.
const CONFIRM_EPOCHS: u64 = 8;
/// Times an epoch summary is gossiped (at anchoring and on the following ticks), so workers
/// that were briefly away still hear it.
const SUMMARY_REPEATS: u8 = 3;

/// Hands accepted receipts to the anchorer.
#[derive(Debug, Clone)]
pub struct Anchoring {
    tx: mpsc::Sender<(Receipt, Option<EvmSignature>)>,
    dropped: Arc<AtomicU64>,
    anchored: Arc<AtomicU64>,
}

impl Anchoring {
    /// Queues an accepted receipt (with the worker's chain signature, if it sent one);
    /// never blocks.
    pub fn record(&self, receipt: Receipt, chain_signature: Option<EvmSignature>) {
        if self.tx.try_send((receipt, chain_signature)).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Receipts dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Epochs anchored so far.
    pub fn anchored(&self) -> u64 {
        self.anchored.load(Ordering::Relaxed)
    }
}

/// Starts the anchorer; it checks the chain's epoch every `tick` and puts about
/// `audit_fraction` of each epoch's receipts up for re-execution.
pub fn spawn(
    chain: Chain,
    mesh: MeshClient,
    tick: Duration,
    audit_fraction: f64,
    shutdown: CancellationToken,
) -> (Anchoring, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(QUEUE);
    let handle = Anchoring { tx, dropped: Arc::default(), anchored: Arc::default() };
    let anchorer = Anchorer {
        chain,
        mesh,
        open: None,
        closed: VecDeque::new(),
        addresses: HashMap::new(),
        summaries: Vec::new(),
        recent: VecDeque::new(),
        anchored: handle.anchored.clone(),
        audit_threshold: (audit_fraction.clamp(0.0, 1.0) * u64::MAX as f64) as u64,
    };
    let task = tokio::spawn(anchorer.run(rx, tick, shutdown));
    (handle, task)
}

/// An anchor this gateway made, and the summary that announced it.
struct Anchored {
    epoch: u64,
    root: Keccak,
    count: u32,
    summary: Vec<u8>,
}

/// Receipts of one epoch, with the workers' chain signatures.
struct Batch {
    epoch: u64,
    receipts: Vec<(Receipt, Option<EvmSignature>)>,
}

struct Anchorer {
    chain: Chain,
    mesh: MeshClient,
    open: Option<Batch>,
    closed: VecDeque<Batch>,
    /// Chain addresses of workers by mesh key (`None`: not bonded, not rewarded).
    addresses: HashMap<NodeKey, Option<Address>>,
    /// Summaries still to be repeated, with repeats left.
    summaries: Vec<(Vec<u8>, u8)>,
    /// Recent anchors, watched until they are deep enough that no reorg undoes them.
    recent: VecDeque<Anchored>,
    anchored: Arc<AtomicU64>,
    /// A receipt is audited when `keccak256(root ‖ request_id)` read as a number is below this.
    audit_threshold: u64,
}

impl Anchorer {
    async fn run(
        mut self,
        mut rx: mpsc::Receiver<(Receipt, Option<EvmSignature>)>,
        tick: Duration,
        shutdown: CancellationToken,
    ) {
        let mut epoch = match self.chain.current_epoch().await {
            Ok(epoch) => epoch,
            Err(e) => {
                warn!(target: "peerhost::chain", error = %e, "cannot read the epoch; anchoring starts when the chain answers");
                0
            }
        };
        let mut ticks = tokio::time::interval(tick);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                receipt = rx.recv() => match receipt {
                    Some(receipt) => self
                        .open
                        .get_or_insert_with(|| Batch { epoch, receipts: Vec::new() })
                        .receipts
                        .push(receipt),
                    None => break,
                },
                _ = ticks.tick() => {
                    if let Ok(current) = self.chain.current_epoch().await {
                        epoch = current;
                    }
                    if self.open.as_ref().is_some_and(|batch| batch.epoch < epoch) {
                        self.closed.extend(self.open.take());
                    }
                    self.anchor_closed().await;
                    self.confirm_recent(epoch).await;
                    self.repeat_summaries().await;
                }
            }
        }
    }

    /// Anchors finished batches in order; stops at the first failure (retried next tick).
    async fn anchor_closed(&mut self) {
        while let Some(batch) = self.closed.pop_front() {
            match self.anchor(&batch).await {
                Ok(()) => {}
                Err(e) if e.is_revert("EpochAlreadyAnchored") => {
                    warn!(target: "peerhost::chain", epoch = batch.epoch, "epoch was already anchored; its receipts are not paid twice");
                }
                Err(e) => {
                    warn!(target: "peerhost::chain", epoch = batch.epoch, error = %e, "anchoring failed; retrying");
                    self.closed.push_front(batch);
                    return;
                }
            }
        }
    }

    async fn anchor(&mut self, batch: &Batch) -> Result<(), ChainError> {
        // Receipts by the worker's chain address; unbonded workers are not rewarded.
        let mut by_worker: BTreeMap<Address, Vec<&(Receipt, Option<EvmSignature>)>> =
            BTreeMap::new();
        for entry in &batch.receipts {
            if let Some(address) = self.address_of(&entry.0.worker).await? {
                by_worker.entry(address).or_default().push(entry);
            }
        }
        if by_worker.is_empty() {
            debug!(target: "peerhost::chain", epoch = batch.epoch, "nothing to anchor: no bonded worker served");
            return Ok(());
        }
        let mut leaves = Vec::with_capacity(by_worker.len());
        let mut summary_leaves = Vec::with_capacity(by_worker.len());
        let mut count = 0u32;
        for (worker, receipts) in &by_worker {
            let receipt_leaves =
                receipts.iter().map(|(r, _)| chain_receipt(r).leaf(*worker)).collect();
            let receipts_root =
                MerkleTree::new(receipt_leaves).expect("a worker here served").root();
            let requests = u32::try_from(receipts.len()).unwrap_or(u32::MAX);
            let fuel = receipts.iter().map(|(r, _)| r.fuel_used).fold(0u64, u64::saturating_add);
            leaves.push(receipts::worker_leaf(
                *worker,
                requests,
                fuel,
                B256::from(receipts_root.0),
            ));
            summary_leaves.push(WorkerLeaf {
                worker: Owner(*worker),
                requests,
                fuel,
                receipts_root,
            });
            count = count.saturating_add(requests);
        }
        let root = MerkleTree::new(leaves).expect("at least one worker").root();
        let tx = self.chain.anchor(batch.epoch, root, count).await?;
        self.anchored.fetch_add(1, Ordering::Relaxed);
        info!(target: "peerhost::chain", epoch = batch.epoch, requests = count, workers = summary_leaves.len(), %tx, "epoch anchored");
        let summary = EpochSummary {
            chain_id: self.chain.chain_id(),
            coordinator: Owner(*self.chain.coordinator().address()),
            gateway: Owner(self.chain.address()),
            epoch: batch.epoch,
            leaves: summary_leaves,
            audits: self.audits(&root, &by_worker),
        };
        let bytes = codec::encode(&summary);
        let _ = self.mesh.publish(topics::EPOCHS, bytes.clone()).await;
        self.summaries.push((bytes.clone(), SUMMARY_REPEATS - 1));
        self.recent.push_back(Anchored { epoch: batch.epoch, root, count, summary: bytes });
        Ok(())
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
            match self.chain.anchor(anchored.epoch, anchored.root, anchored.count).await {
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
        by_worker: &BTreeMap<Address, Vec<&(Receipt, Option<EvmSignature>)>>,
    ) -> Vec<Audit> {
        let mut audits = Vec::new();
        for (worker, receipts) in by_worker {
            for (receipt, signature) in receipts {
                let draw = keccak256_parts(&[&root.0, &receipt.request_id.0]);
                let draw = u64::from_be_bytes(draw.0[..8].try_into().expect("8 bytes"));
                if let (true, Some(signature)) = (draw < self.audit_threshold, signature) {
                    audits.push(Audit {
                        receipt: receipt.clone(),
                        worker: Owner(*worker),
                        chain_signature: *signature,
                    });
                }
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

    async fn address_of(&mut self, key: &NodeKey) -> Result<Option<Address>, ChainError> {
        if let Some(Some(address)) = self.addresses.get(key) {
            return Ok(Some(*address));
        }
        // Unknown or not yet bonded: ask again (a worker may have bonded since).
        let address = self.chain.coordinator().workerOfNodeKey(B256::from(key.0)).call().await?;
        let address = (address != Address::ZERO).then_some(address);
        self.addresses.insert(*key, address);
        Ok(address)
    }
}

/// The chain's form of a mesh receipt.
pub fn chain_receipt(receipt: &Receipt) -> ChainReceipt {
    ChainReceipt {
        requestId: B256::from(receipt.request_id.0),
        resultHash: B256::from(receipt.result_hash.0),
        fuelUsed: receipt.fuel_used,
        bundle: B256::from(receipt.bundle.0),
    }
}

/// The epoch tree's leaves as the coordinator hashes them.
pub(crate) fn worker_leaves(summary: &EpochSummary) -> Vec<Keccak> {
    summary
        .leaves
        .iter()
        .map(|l| {
            receipts::worker_leaf(l.worker.0, l.requests, l.fuel, B256::from(l.receipts_root.0))
        })
        .collect()
}
