//! What workers, validators and gateways sign or anchor for the coordinator, computed the way
//! the contract computes it: EIP-712 receipts and attestations under the coordinator's domain,
//! result commitments bound to a worker, the double-hashed Merkle leaves (one per worker and
//! function owner in a gateway's epoch tree, one per receipt in a worker's receipts tree), and
//! the ids of challenges against anchored receipts.

use alloy::{
    primitives::{Address, B256, keccak256},
    sol,
    sol_types::{Eip712Domain, SolStruct, SolValue, eip712_domain},
};
use peerhost_protocol::Keccak;

/// A worker's claim that `requestId` produced `resultHash`, signed with its EVM key: the
/// coordinator's own `Receipt` struct, so the digest and the call argument are one type.
pub use crate::ExecutionCoordinator::Receipt;

sol! {
    /// A validator's re-execution result for a request (only a type hash in the contract).
    #[derive(Debug, PartialEq, Eq)]
    struct Attestation {
        bytes32 requestId;
        bytes32 resultHash;
    }
}

/// The EIP-712 domain of the coordinator deployed at `coordinator` on `chain_id`.
pub fn domain(chain_id: u64, coordinator: Address) -> Eip712Domain {
    eip712_domain! {
        name: "PeerHost ExecutionCoordinator",
        version: "1",
        chain_id: chain_id,
        verifying_contract: coordinator,
    }
}

impl Receipt {
    /// The digest the worker signs (`ExecutionCoordinator.receiptDigest`).
    pub fn digest(&self, domain: &Eip712Domain) -> B256 {
        self.eip712_signing_hash(domain)
    }

    /// This receipt's leaf in its worker's receipts tree (`ExecutionCoordinator.receiptLeaf`):
    /// `keccak256(receipt_hash)`.
    pub fn leaf(&self, worker: Address) -> Keccak {
        Keccak(keccak256(self.receipt_hash(worker)).0)
    }

    /// The inner hash of this receipt's leaf (`ExecutionCoordinator.receiptHash`): what
    /// `challengeReceipt` takes to name an anchored receipt, so that an inner node of the
    /// receipts tree cannot pass for one.
    pub fn receipt_hash(&self, worker: Address) -> B256 {
        let commitment = result_commitment(self.resultHash, worker);
        keccak256((self.requestId, commitment, self.fuelUsed, self.bundle).abi_encode())
    }
}

impl Attestation {
    /// The digest the validator signs (`ExecutionCoordinator.attestationDigest`).
    pub fn digest(&self, domain: &Eip712Domain) -> B256 {
        self.eip712_signing_hash(domain)
    }
}

/// The commitment to `result_hash` that only `worker` can claim.
pub fn result_commitment(result_hash: B256, worker: Address) -> B256 {
    keccak256((result_hash, worker).abi_encode())
}

/// The leaf of what `worker` served `owner` in a gateway's epoch tree
/// (`ExecutionCoordinator.workerLeaf`): one leaf per (worker, owner) pair. `requests` are the
/// calls the worker won, `assists` its receipts of calls it lost whose result matches the
/// accepted one (delivered before the race's deadline); `receipts_root` commits to all of those
/// receipts, won and assisted, and `fuel` is theirs.
pub fn worker_leaf(
    worker: Address,
    owner: Address,
    requests: u32,
    assists: u32,
    fuel: u64,
    receipts_root: B256,
) -> Keccak {
    double_hash(&(worker, owner, requests, assists, fuel, receipts_root).abi_encode())
}

/// The id of the challenge of `receipt_leaf` under `worker` in `gateway`'s anchored `epoch`
/// (`ExecutionCoordinator.challengeId`; also returned by `challengeReceipt` and indexed in
/// `ReceiptChallenged`).
pub fn challenge_id(gateway: Address, epoch: u64, worker: Address, receipt_leaf: B256) -> B256 {
    keccak256((gateway, epoch, worker, receipt_leaf).abi_encode())
}

/// `keccak256(keccak256(bytes))`: leaves are hashed twice so no leaf can pass for an inner node.
fn double_hash(bytes: &[u8]) -> Keccak {
    Keccak(keccak256(keccak256(bytes)).0)
}

#[cfg(test)]
mod tests {
    use alloy::primitives::b256;

    use super::*;

    #[test]
    fn type_strings_match_the_contract() {
        assert_eq!(
            Receipt::eip712_encode_type(),
            "Receipt(bytes32 requestId,bytes32 resultHash,uint64 fuelUsed,bytes32 bundle)"
        );
        assert_eq!(
            Attestation::eip712_encode_type(),
            "Attestation(bytes32 requestId,bytes32 resultHash)"
        );
    }

    #[test]
    fn leaves_depend_on_every_field() {
        let worker = Address::repeat_byte(1);
        let owner = Address::repeat_byte(2);
        let root = B256::repeat_byte(5);
        let base = worker_leaf(worker, owner, 3, 2, 4, root);
        assert_ne!(base, worker_leaf(Address::repeat_byte(9), owner, 3, 2, 4, root));
        assert_ne!(base, worker_leaf(worker, Address::repeat_byte(9), 3, 2, 4, root));
        assert_ne!(base, worker_leaf(worker, owner, 4, 2, 4, root));
        assert_ne!(base, worker_leaf(worker, owner, 3, 3, 4, root));
        assert_ne!(
            base,
            worker_leaf(worker, owner, 2, 3, 4, root),
            "requests and assists kept apart"
        );
        assert_ne!(base, worker_leaf(worker, owner, 3, 2, 5, root));
        assert_ne!(base, worker_leaf(worker, owner, 3, 2, 4, B256::ZERO));
        let receipt = golden_receipt();
        assert_ne!(
            receipt.leaf(worker),
            receipt.leaf(Address::repeat_byte(9)),
            "bound to the worker"
        );
        assert_eq!(
            receipt.leaf(worker).0,
            keccak256(receipt.receipt_hash(worker)).0,
            "the leaf is the hash of the inner hash"
        );
    }

    fn golden_receipt() -> Receipt {
        Receipt {
            requestId: B256::repeat_byte(5),
            resultHash: B256::repeat_byte(6),
            fuelUsed: 7,
            bundle: B256::repeat_byte(8),
        }
    }

    /// The same vectors as the contract's `test/Receipts.t.sol`, so both sides agree byte for byte.
    #[test]
    fn golden_vectors_match_the_contract() {
        let worker = Address::repeat_byte(1);
        let owner = Address::repeat_byte(2);
        assert_eq!(
            B256::from(worker_leaf(worker, owner, 3, 2, 4, B256::repeat_byte(5)).0),
            b256!("30cc8f0ec63ace88f0903429cab3be769f0c9a3b307a7a662b4ffb62182c752d")
        );
        let receipt = golden_receipt();
        assert_eq!(
            result_commitment(receipt.resultHash, worker),
            b256!("fd43343e5abfb6a1ec48fa798343f67c4e507552145b743432239d1d0faa7dd8")
        );
        assert_eq!(
            receipt.receipt_hash(worker),
            b256!("a0019ff1d621afa3b47c7cd412eb160747683015111cdb259144a1bb06d60a30")
        );
        let leaf = B256::from(receipt.leaf(worker).0);
        assert_eq!(leaf, b256!("debb8c6c225332994bfb25e8a7f14ba6db3452232ef66000bf1b808a82b19304"));
        assert_eq!(
            challenge_id(Address::repeat_byte(9), 10, worker, leaf),
            b256!("470ef0c4e7d4fc54bdcde41f7d56b0e017350c49ece08332b1d64bdabe69bcd3")
        );
    }
}
