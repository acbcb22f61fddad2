// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Receipt, WorkerLeaf} from "../src/Types.sol";
import {Fixture} from "./lib/Fixture.sol";

/// What the coordinator hashes, pinned: the same golden vectors are in the Rust bindings'
/// tests (`bindings/receipts.rs`), so both sides compute the same leaves and ids.
contract ReceiptsTest is Fixture {
    address internal constant W = 0x0101010101010101010101010101010101010101;
    address internal constant O = 0x0202020202020202020202020202020202020202;
    address internal constant G = 0x0909090909090909090909090909090909090909;

    function golden() internal pure returns (Receipt memory) {
        return Receipt({
            requestId: bytes32(uint256(0x0505050505050505050505050505050505050505050505050505050505050505)),
            resultHash: bytes32(uint256(0x0606060606060606060606060606060606060606060606060606060606060606)),
            fuelUsed: 7,
            bundle: bytes32(uint256(0x0808080808080808080808080808080808080808080808080808080808080808))
        });
    }

    function test_the_domain_is_published() public view {
        (
            bytes1 fields,
            string memory name,
            string memory version,
            uint256 chainId,
            address verifyingContract,
            bytes32 salt,
            uint256[] memory extensions
        ) = coordinator.eip712Domain();
        vm.assertEq(uint256(uint8(fields)), 0x0f, "fields");
        vm.assertEq(keccak256(bytes(name)), keccak256("PeerHost ExecutionCoordinator"), "name");
        vm.assertEq(keccak256(bytes(version)), keccak256("1"), "version");
        vm.assertEq(chainId, block.chainid, "chain id");
        vm.assertEq(verifyingContract, address(coordinator), "contract");
        vm.assertEq(salt, bytes32(0), "no salt");
        vm.assertEq(extensions.length, 0, "no extensions");
    }

    function test_golden_vectors() public view {
        bytes32 root = bytes32(uint256(0x0505050505050505050505050505050505050505050505050505050505050505));
        vm.assertEq(
            coordinator.workerLeaf(W, O, 3, 2, 4, root),
            0x30cc8f0ec63ace88f0903429cab3be769f0c9a3b307a7a662b4ffb62182c752d,
            "workerLeaf"
        );
        Receipt memory r = golden();
        vm.assertEq(
            coordinator.resultCommitment(r.resultHash, W),
            0xfd43343e5abfb6a1ec48fa798343f67c4e507552145b743432239d1d0faa7dd8,
            "resultCommitment"
        );
        vm.assertEq(
            coordinator.receiptHash(W, r),
            0xa0019ff1d621afa3b47c7cd412eb160747683015111cdb259144a1bb06d60a30,
            "receiptHash"
        );
        bytes32 leaf = coordinator.receiptLeaf(W, r);
        vm.assertEq(leaf, 0xdebb8c6c225332994bfb25e8a7f14ba6db3452232ef66000bf1b808a82b19304, "receiptLeaf");
        vm.assertEq(
            coordinator.challengeId(G, 10, W, leaf),
            0x470ef0c4e7d4fc54bdcde41f7d56b0e017350c49ece08332b1d64bdabe69bcd3,
            "challengeId"
        );
    }

    function testFuzz_leaves_follow_their_definition(WorkerLeaf memory l, Receipt memory r) public view {
        vm.assertEq(
            coordinator.workerLeaf(l.worker, l.owner, l.requests, l.assists, l.fuel, l.receiptsRoot),
            hashLeaf(l),
            "worker leaf"
        );
        vm.assertEq(
            coordinator.receiptLeaf(l.worker, r),
            keccak256(bytes.concat(coordinator.receiptHash(l.worker, r))),
            "receipt leaf = hash of its inner hash"
        );
    }

    /// The digests are EIP-712 under ("PeerHost ExecutionCoordinator", "1", chain id, address),
    /// the domain `peerhost_contracts::receipts::domain` builds.
    function test_digests_follow_eip712() public view {
        bytes32 domain = keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("PeerHost ExecutionCoordinator"),
                keccak256("1"),
                block.chainid,
                address(coordinator)
            )
        );
        Receipt memory r = golden();
        bytes32 structHash = keccak256(
            abi.encode(
                keccak256("Receipt(bytes32 requestId,bytes32 resultHash,uint64 fuelUsed,bytes32 bundle)"),
                r.requestId,
                r.resultHash,
                r.fuelUsed,
                r.bundle
            )
        );
        vm.assertEq(
            coordinator.receiptDigest(r), keccak256(abi.encodePacked("\x19\x01", domain, structHash)), "receipt"
        );
        bytes32 attestation = keccak256(
            abi.encode(keccak256("Attestation(bytes32 requestId,bytes32 resultHash)"), r.requestId, r.resultHash)
        );
        vm.assertEq(
            coordinator.attestationDigest(r.requestId, r.resultHash),
            keccak256(abi.encodePacked("\x19\x01", domain, attestation)),
            "attestation"
        );
    }
}
