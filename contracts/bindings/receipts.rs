//! What workers, validators and gateways sign or anchor for the coordinator, computed the way
//! the contract computes it: EIP-712 receipts and attestations under the coordinator's domain,
//! result commitments bound to a worker, and the double-hashed Merkle leaves.

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

    /// This receipt's leaf in its worker's receipts tree (`ExecutionCoordinator.receiptLeaf`).
    pub fn leaf(&self, worker: Address) -> Keccak {
        let commitment = result_commitment(self.resultHash, worker);
        double_hash(&(self.requestId, commitment, self.fuelUsed, self.bundle).abi_encode())
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

/// A worker's leaf in a gateway's epoch tree (`ExecutionCoordinator.workerLeaf`).
pub fn worker_leaf(worker: Address, requests: u32, fuel: u64, receipts_root: B256) -> Keccak {
    double_hash(&(worker, requests, fuel, receipts_root).abi_encode())
}

/// `keccak256(keccak256(bytes))`: leaves are hashed twice so no leaf can pass for an inner node.
fn double_hash(bytes: &[u8]) -> Keccak {
    Keccak(keccak256(keccak256(bytes)).0)
}

#[cfg(test)]
mod tests {
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
        let root = B256::repeat_byte(2);
        let base = worker_leaf(worker, 3, 4, root);
        assert_ne!(base, worker_leaf(Address::repeat_byte(9), 3, 4, root));
        assert_ne!(base, worker_leaf(worker, 4, 4, root));
        assert_ne!(base, worker_leaf(worker, 3, 5, root));
        assert_ne!(base, worker_leaf(worker, 3, 4, B256::ZERO));
        let receipt = Receipt {
            requestId: B256::repeat_byte(5),
            resultHash: B256::repeat_byte(6),
            fuelUsed: 7,
            bundle: B256::repeat_byte(8),
        };
        assert_ne!(
            receipt.leaf(worker),
            receipt.leaf(Address::repeat_byte(9)),
            "bound to the worker"
        );
    }
}
