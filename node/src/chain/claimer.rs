//! The worker's side of settlement: hears gateways' epoch summaries, finds its own leaf,
//! checks the rebuilt root against the root anchored on-chain, and claims its reward with
//! the proof. A claim that fails for a passing reason is retried when the summary repeats.

use peerhost_protocol::{EpochSummary, Keccak, merkle::MerkleTree};
use tokio::{sync::mpsc, task::JoinHandle};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::{Chain, ChainError, anchorer::worker_leaves};

/// Summaries waiting for the claimer.
const QUEUE: usize = 256;

/// Hands epoch summaries heard on the mesh to the claimer.
#[derive(Debug, Clone)]
pub struct Claims {
    tx: mpsc::Sender<EpochSummary>,
}

impl Claims {
    /// Offers a summary; never blocks (a full queue drops it, and it will be repeated).
    pub fn offer(&self, summary: EpochSummary) {
        let _ = self.tx.try_send(summary);
    }
}

/// Starts the claimer for the worker behind `chain`.
pub fn spawn(chain: Chain, shutdown: CancellationToken) -> (Claims, JoinHandle<()>) {
    let (tx, mut rx) = mpsc::channel::<EpochSummary>(QUEUE);
    let task = tokio::spawn(async move {
        // What was claimed is read from the chain each time, not remembered: a reorg can undo
        // a claim, and the gateway then anchors and announces the epoch again.
        while let Some(summary) = super::next_or_stop(&mut rx, &shutdown).await {
            match claim(&chain, &summary).await {
                Ok(_) => {}
                Err(e) if e.is_revert("AlreadyClaimed") => {}
                Err(e) => {
                    warn!(target: "peerhost::chain", epoch = summary.epoch, error = %e, "claim failed; retrying when the summary repeats")
                }
            }
        }
    });
    (Claims { tx }, task)
}

/// Claims this worker's leaf of `summary`; `Ok(false)` when there is nothing to claim.
async fn claim(chain: &Chain, summary: &EpochSummary) -> Result<bool, ChainError> {
    if summary.chain_id != chain.chain_id()
        || summary.coordinator.0 != *chain.coordinator().address()
    {
        return Ok(false);
    }
    let me = chain.address();
    let Some(index) = summary.leaves.iter().position(|l| l.worker.0 == me) else {
        return Ok(false);
    };
    let tree = MerkleTree::new(worker_leaves(summary)).expect("validated summaries have leaves");
    let anchored = chain.coordinator().anchorOf(summary.gateway.0, summary.epoch).call().await?;
    if Keccak(anchored.root.0) != tree.root() {
        debug!(target: "peerhost::chain", epoch = summary.epoch, "summary does not match the anchored root; ignored");
        return Ok(false);
    }
    if chain.coordinator().claimed(summary.gateway.0, summary.epoch, me).call().await? {
        return Ok(false);
    }
    let leaf = &summary.leaves[index];
    let proof = tree.proof(index).expect("index is in range");
    let tx = chain
        .claim(
            summary.gateway.0,
            summary.epoch,
            me,
            leaf.requests,
            leaf.fuel,
            leaf.receipts_root,
            &proof,
        )
        .await?;
    info!(target: "peerhost::chain", epoch = summary.epoch, requests = leaf.requests, %tx, "reward claimed");
    Ok(true)
}
