//! The worker's side of settlement: hears gateways' epoch summaries, finds its own leaf,
//! checks the rebuilt root against the root anchored on-chain, and claims its reward with
//! the proof. A claim that fails for a passing reason is retried when the summary repeats.

use peerhost_protocol::{EpochSummary, Keccak, merkle::MerkleTree};
use tokio::{sync::mpsc, task::JoinHandle};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::{
    Chain, ChainError,
    leaves::{chain_leaf, worker_leaves},
};

/// Summaries waiting for the claimer.
const QUEUE: usize = 256;
/// How long a claim on an epoch under challenge waits before it is tried again.
const CHALLENGED_RETRY: std::time::Duration = std::time::Duration::from_secs(5);

/// Hands epoch summaries heard on the mesh to the claimer.
#[derive(Debug, Clone)]
pub struct Claims {
    tx: mpsc::Sender<EpochSummary>,
    claimed: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Claims {
    /// Rewards claimed since the worker started (one per epoch and function owner).
    pub fn claimed(&self) -> u64 {
        self.claimed.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Offers a summary; never blocks (a full queue drops it, and it will be repeated).
    pub fn offer(&self, summary: EpochSummary) {
        let _ = self.tx.try_send(summary);
    }
}

/// Starts the claimer for the worker behind `chain`.
pub fn spawn(chain: Chain, shutdown: CancellationToken) -> (Claims, JoinHandle<()>) {
    let (tx, mut rx) = mpsc::channel::<EpochSummary>(QUEUE);
    let retry = tx.clone();
    let claimed = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = claimed.clone();
    let task = tokio::spawn(async move {
        // What was claimed is read from the chain each time, not remembered: a reorg can undo
        // a claim, and the gateway then anchors and announces the epoch again.
        while let Some(summary) = super::next_or_stop(&mut rx, &shutdown).await {
            match claim(&chain, &summary).await {
                Ok(n) => {
                    counter.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
                }
                Err(e) if e.is_revert("AlreadyClaimed") || e.is_revert("AnchorFraudulent") => {}
                // Claims wait while a receipt of the epoch is challenged: try again later.
                Err(e) if e.is_revert("AnchorChallenged") => {
                    let retry = retry.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(CHALLENGED_RETRY).await;
                        let _ = retry.try_send(summary);
                    });
                }
                Err(e) => {
                    warn!(target: "peerhost::chain", epoch = summary.epoch, error = %e, "claim failed; retrying when the summary repeats")
                }
            }
        }
    });
    (Claims { tx, claimed }, task)
}

/// Claims this worker's leaves of `summary` (one per function owner it served); returns how
/// many it claimed.
async fn claim(chain: &Chain, summary: &EpochSummary) -> Result<u64, ChainError> {
    if summary.chain_id != chain.chain_id()
        || summary.coordinator.0 != *chain.coordinator().address()
    {
        return Ok(0);
    }
    let me = chain.address();
    let mine: Vec<usize> =
        (0..summary.leaves.len()).filter(|&i| summary.leaves[i].worker.0 == me).collect();
    if mine.is_empty() {
        return Ok(0);
    }
    let tree = MerkleTree::new(worker_leaves(summary)).expect("validated summaries have leaves");
    let anchored = chain.coordinator().anchorOf(summary.gateway.0, summary.epoch).call().await?;
    if Keccak(anchored.root.0) != tree.root() {
        debug!(target: "peerhost::chain", epoch = summary.epoch, "summary does not match the anchored root; ignored");
        return Ok(0);
    }
    let mut claimed = 0;
    for index in mine {
        let leaf = &summary.leaves[index];
        let coordinator = chain.coordinator();
        if coordinator.claimed(summary.gateway.0, summary.epoch, me, leaf.owner.0).call().await? {
            continue;
        }
        let proof = tree.proof(index).expect("index is in range");
        let tx = chain.claim(summary.gateway.0, summary.epoch, chain_leaf(leaf), &proof).await?;
        info!(target: "peerhost::chain", epoch = summary.epoch, owner = %leaf.owner, requests = leaf.requests, assists = leaf.assists, %tx, "reward claimed");
        claimed += 1;
    }
    Ok(claimed)
}
