//! Inclusion proofs of anchored receipts, for callers: the gateway keeps the trees of the
//! epochs it anchored while they can be challenged, and proves a receipt's leaf in its
//! worker's receipts tree and that worker's leaf under the anchored root. Checking a proof
//! needs only the receipt, the proof and the root the chain holds.

use std::{
    collections::{HashMap, VecDeque},
    sync::Mutex,
};

use alloy::primitives::{Address, B256};
use peerhost_protocol::{
    Keccak, NodeKey, Owner, Receipt, RequestId, WorkerLeaf,
    merkle::{self, MerkleTree},
};
use serde::{Deserialize, Serialize};

use super::leaves::{chain_receipt, worker_leaf};

/// Most anchored epochs kept.
const MAX_EPOCHS: usize = 1024;

/// Where an anchored receipt sits: everything `ExecutionCoordinator.challengeReceipt` takes,
/// and what a caller checks against `anchorOf(gateway, epoch).root`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptProof {
    /// The chain the coordinator lives on.
    pub chain_id: u64,
    /// The coordinator contract.
    pub coordinator: Address,
    /// The gateway's chain account (the anchor's key).
    pub gateway: Address,
    /// The anchored epoch.
    pub epoch: u64,
    /// The anchored root.
    pub root: B256,
    /// The worker's leaf in the epoch tree.
    pub leaf: LeafJson,
    /// The leaf's path to the root.
    pub leaf_proof: Vec<B256>,
    /// The receipt leaf's path to the leaf's receipts root.
    pub receipt_proof: Vec<B256>,
}

/// A [`WorkerLeaf`] as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeafJson {
    /// The worker's chain account.
    pub worker: Address,
    /// The function owner.
    pub owner: Address,
    /// Calls it won.
    pub requests: u32,
    /// Calls it assisted (raced, lost, agreed).
    pub assists: u32,
    /// Fuel of its receipts.
    pub fuel: u64,
    /// Root of its receipts tree.
    pub receipts_root: B256,
}

impl From<&WorkerLeaf> for LeafJson {
    fn from(l: &WorkerLeaf) -> Self {
        Self {
            worker: l.worker.0,
            owner: l.owner.0,
            requests: l.requests,
            assists: l.assists,
            fuel: l.fuel,
            receipts_root: B256::from(l.receipts_root.0),
        }
    }
}

impl From<&LeafJson> for WorkerLeaf {
    fn from(l: &LeafJson) -> Self {
        Self {
            worker: Owner(l.worker),
            owner: Owner(l.owner),
            requests: l.requests,
            assists: l.assists,
            fuel: l.fuel,
            receipts_root: Keccak(l.receipts_root.0),
        }
    }
}

/// Why a proof does not hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError {
    /// The receipt is not in the worker's receipts tree.
    #[error("the receipt is not in the worker's receipts tree")]
    NotInLeaf,
    /// The worker's leaf is not under the root.
    #[error("the worker's leaf is not under the anchored root")]
    NotUnderRoot,
}

impl ReceiptProof {
    /// Checks that `receipt` is anchored under [`Self::root`].
    ///
    /// # Errors
    ///
    /// [`ProofError`].
    pub fn check(&self, receipt: &Receipt) -> Result<(), ProofError> {
        let receipt_leaf = chain_receipt(receipt).leaf(self.leaf.worker);
        let path = |p: &[B256]| p.iter().map(|n| Keccak(n.0)).collect::<Vec<_>>();
        let receipts_root = Keccak(self.leaf.receipts_root.0);
        if !merkle::verify(&receipts_root, &receipt_leaf, &path(&self.receipt_proof)) {
            return Err(ProofError::NotInLeaf);
        }
        let leaf = worker_leaf(&WorkerLeaf::from(&self.leaf));
        if !merkle::verify(&Keccak(self.root.0), &leaf, &path(&self.leaf_proof)) {
            return Err(ProofError::NotUnderRoot);
        }
        Ok(())
    }
}

/// One anchored epoch's trees.
pub(crate) struct AnchoredTrees {
    pub(crate) epoch: u64,
    pub(crate) leaves: Vec<WorkerLeaf>,
    pub(crate) tree: MerkleTree,
    /// Each leaf's receipts tree, in leaf order.
    pub(crate) receipts: Vec<MerkleTree>,
    /// Where each (request, worker) receipt is: (leaf index, receipt index).
    pub(crate) index: HashMap<(RequestId, NodeKey), (u32, u32)>,
}

/// The trees of recently anchored epochs.
#[derive(Default)]
pub(crate) struct Proofs {
    epochs: Mutex<VecDeque<AnchoredTrees>>,
    /// Where the chain is and which gateway anchored: the same for every proof.
    origin: Mutex<Option<(u64, Address, Address)>>,
}

impl std::fmt::Debug for Proofs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proofs").finish_non_exhaustive()
    }
}

impl Proofs {
    /// Keeps an anchored epoch's trees, forgetting epochs more than `keep_epochs` older.
    pub(crate) fn keep(
        &self,
        origin: (u64, Address, Address),
        trees: AnchoredTrees,
        keep_epochs: u64,
    ) {
        *self.origin.lock().expect("proofs lock") = Some(origin);
        let mut epochs = self.epochs.lock().expect("proofs lock");
        let epoch = trees.epoch;
        epochs.retain(|t| t.epoch != epoch && t.epoch + keep_epochs >= epoch);
        epochs.push_back(trees);
        while epochs.len() > MAX_EPOCHS {
            epochs.pop_front();
        }
    }

    /// The proof of `worker`'s receipt for `id`, if it was anchored by this gateway in a
    /// kept epoch.
    pub(crate) fn find(&self, id: &RequestId, worker: &NodeKey) -> Option<ReceiptProof> {
        let (chain_id, coordinator, gateway) = (*self.origin.lock().expect("proofs lock"))?;
        let epochs = self.epochs.lock().expect("proofs lock");
        epochs.iter().rev().find_map(|trees| {
            let &(leaf_index, receipt_index) = trees.index.get(&(*id, *worker))?;
            let (leaf_index, receipt_index) = (leaf_index as usize, receipt_index as usize);
            let leaf = trees.leaves.get(leaf_index)?;
            let b256 = |p: Vec<Keccak>| p.into_iter().map(|n| B256::from(n.0)).collect();
            Some(ReceiptProof {
                chain_id,
                coordinator,
                gateway,
                epoch: trees.epoch,
                root: B256::from(trees.tree.root().0),
                leaf: LeafJson::from(leaf),
                leaf_proof: b256(trees.tree.proof(leaf_index)?),
                receipt_proof: b256(trees.receipts.get(leaf_index)?.proof(receipt_index)?),
            })
        })
    }
}
