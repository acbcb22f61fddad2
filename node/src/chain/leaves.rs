//! Settlement values in the coordinator's forms: a mesh receipt as the chain hashes it, and
//! an epoch summary's (worker, owner) leaves as the coordinator hashes and takes them.

use alloy::primitives::B256;
use peerhost_contracts::{
    ExecutionCoordinator::WorkerLeaf as ChainLeaf,
    receipts::{self, Receipt as ChainReceipt},
};
use peerhost_protocol::{EpochSummary, Keccak, Receipt, WorkerLeaf};

/// The chain's form of a mesh receipt.
pub fn chain_receipt(receipt: &Receipt) -> ChainReceipt {
    ChainReceipt {
        requestId: B256::from(receipt.request_id.0),
        resultHash: B256::from(receipt.result_hash.0),
        fuelUsed: receipt.fuel_used,
        bundle: B256::from(receipt.bundle.0),
    }
}

/// One leaf of the epoch tree as the coordinator hashes it.
pub(crate) fn worker_leaf(l: &WorkerLeaf) -> Keccak {
    let root = B256::from(l.receipts_root.0);
    receipts::worker_leaf(l.worker.0, l.owner.0, l.requests, l.assists, l.fuel, root)
}

/// The epoch tree's leaves as the coordinator hashes them.
pub(crate) fn worker_leaves(summary: &EpochSummary) -> Vec<Keccak> {
    summary.leaves.iter().map(worker_leaf).collect()
}

/// A summary leaf in the coordinator's ABI form (for claims).
pub(crate) fn chain_leaf(l: &WorkerLeaf) -> ChainLeaf {
    ChainLeaf {
        worker: l.worker.0,
        owner: l.owner.0,
        requests: l.requests,
        assists: l.assists,
        fuel: l.fuel,
        receiptsRoot: B256::from(l.receipts_root.0),
    }
}
