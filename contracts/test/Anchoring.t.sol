// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ExecutionCoordinator as EC} from "../src/ExecutionCoordinator.sol";
import {Fixture} from "./lib/Fixture.sol";
import {Merkle} from "./lib/Merkle.sol";

contract AnchoringTest is Fixture {
    uint256 internal constant RATE = 1e6 / 1000;

    function two(address a, address b) internal pure returns (address[] memory list) {
        list = new address[](2);
        (list[0], list[1]) = (a, b);
    }

    function counts(uint32 a, uint32 b) internal pure returns (uint32[] memory list) {
        list = new uint32[](2);
        (list[0], list[1]) = (a, b);
    }

    function claimAs(uint64 epoch, bytes32[] memory leaves, uint256 i, address who, uint32 requests)
        internal
        returns (uint256)
    {
        return coordinator.claim(
            gateway, epoch, who, requests, requests * 1000, receiptsRoot(who), Merkle.proof(leaves, i)
        );
    }

    function test_anchor_reserves_rewards_and_workers_claim_them() public {
        uint256 treasuryBefore = coordinator.treasury();
        vm.warp(block.timestamp + EPOCH);
        bytes32[] memory leaves = new bytes32[](2);
        leaves[0] = coordinator.workerLeaf(worker, 30, 30_000, receiptsRoot(worker));
        leaves[1] = coordinator.workerLeaf(otherWorker, 12, 12_000, receiptsRoot(otherWorker));
        bytes32 root = Merkle.root(leaves);

        vm.expectEmit(address(coordinator));
        emit EC.RequestsAnchored(gateway, 0, root, 42);
        vm.expectEmit(address(coordinator));
        emit EC.RewardsReserved(gateway, 0, RATE, 42 * RATE);
        vm.prank(gateway);
        coordinator.anchor(0, root, 42);
        vm.assertEq(coordinator.treasury(), treasuryBefore - 42 * RATE, "reserved from the treasury");
        vm.assertEq(coordinator.totalReserved(), 42 * RATE, "reserved");

        vm.expectEmit(address(coordinator));
        emit EC.RewardClaimed(worker, gateway, 0, 30, 30 * RATE);
        uint256 paid = claimAs(0, leaves, 0, worker, 30);
        vm.assertEq(paid, 30 * RATE, "returned");
        vm.assertEq(usdc.balanceOf(worker), 1_000 * USDC + 30 * RATE, "worker paid");
        // Anyone may submit a claim; the reward still goes to the worker.
        vm.prank(address(0xDEAD));
        claimAs(0, leaves, 1, otherWorker, 12);
        vm.assertEq(usdc.balanceOf(otherWorker), 1_000 * USDC + 12 * RATE, "other worker paid");
        vm.assertEq(coordinator.totalReserved(), 0, "all claimed");
        vm.assertEq(coordinator.anchorOf(gateway, 0).claimedRequests, 42, "counted");
        vm.assertEq(usdc.balanceOf(address(coordinator)), balanceAccounted(), "accounted");
    }

    function test_anchor_rejects_bad_input() public {
        vm.expectRevert(abi.encodeWithSelector(EC.NotGateway.selector, address(this)));
        coordinator.anchor(0, bytes32(uint256(1)), 1);

        vm.startPrank(gateway);
        vm.expectRevert(abi.encodeWithSelector(EC.EpochNotOver.selector, 0, 0));
        coordinator.anchor(0, bytes32(uint256(1)), 1);
        vm.warp(block.timestamp + EPOCH);
        vm.expectRevert(EC.EmptyAnchor.selector);
        coordinator.anchor(0, bytes32(0), 1);
        vm.expectRevert(EC.EmptyAnchor.selector);
        coordinator.anchor(0, bytes32(uint256(1)), 0);
        coordinator.anchor(0, bytes32(uint256(1)), 1);
        vm.expectRevert(abi.encodeWithSelector(EC.EpochAlreadyAnchored.selector, gateway, 0));
        coordinator.anchor(0, bytes32(uint256(2)), 1);
        vm.stopPrank();
    }

    function test_short_treasury_pays_pro_rata() public {
        // A fresh coordinator with 10 units in the treasury and 4 requests: 2 each, 2 left over.
        EC fresh = new EC(usdc, EPOCH, defaultParams(), admin);
        vm.startPrank(admin);
        fresh.setGateway(gateway, true);
        usdc.approve(address(fresh), 10);
        fresh.fundTreasury(10);
        vm.stopPrank();
        vm.warp(block.timestamp + EPOCH);
        vm.prank(gateway);
        fresh.anchor(0, bytes32(uint256(1)), 4);
        vm.assertEq(fresh.anchorOf(gateway, 0).rate, 2, "rate");
        vm.assertEq(fresh.treasury(), 2, "remainder stays");
    }

    function test_claims_reject_bad_proofs_double_claims_and_inflated_counts() public {
        bytes32[] memory leaves = anchorEpoch(0, two(worker, otherWorker), counts(3, 4));

        vm.expectRevert(abi.encodeWithSelector(EC.UnknownAnchor.selector, gateway, 1));
        coordinator.claim(gateway, 1, worker, 3, 3000, receiptsRoot(worker), Merkle.proof(leaves, 0));
        // Claiming more requests than the leaf says is a different leaf.
        vm.expectRevert(EC.InvalidProof.selector);
        claimAs(0, leaves, 0, worker, 4);
        // Another worker's proof does not fit.
        vm.expectRevert(EC.InvalidProof.selector);
        claimAs(0, leaves, 1, worker, 3);

        claimAs(0, leaves, 0, worker, 3);
        vm.expectRevert(abi.encodeWithSelector(EC.AlreadyClaimed.selector, gateway, 0, worker));
        claimAs(0, leaves, 0, worker, 3);
    }

    function test_a_lying_gateway_cannot_overdraw_its_reservation() public {
        // Leaves promise 5 + 5 requests but the anchor says 6.
        bytes32[] memory leaves = new bytes32[](2);
        leaves[0] = coordinator.workerLeaf(worker, 5, 5000, receiptsRoot(worker));
        leaves[1] = coordinator.workerLeaf(otherWorker, 5, 5000, receiptsRoot(otherWorker));
        vm.warp(block.timestamp + EPOCH);
        vm.prank(gateway);
        coordinator.anchor(0, Merkle.root(leaves), 6);
        claimAs(0, leaves, 0, worker, 5);
        vm.expectRevert(abi.encodeWithSelector(EC.ClaimExceedsAnchor.selector, 10, 6));
        claimAs(0, leaves, 1, otherWorker, 5);
    }

    function test_unclaimed_rewards_return_to_the_treasury_after_the_window() public {
        bytes32[] memory leaves = anchorEpoch(0, two(worker, otherWorker), counts(3, 4));
        uint64 closesAt = coordinator.anchorOf(gateway, 0).anchoredAt + 30 days;
        vm.expectRevert(abi.encodeWithSelector(EC.ClaimWindowOpen.selector, closesAt));
        coordinator.release(gateway, 0);
        claimAs(0, leaves, 0, worker, 3);

        vm.warp(closesAt);
        vm.expectRevert(abi.encodeWithSelector(EC.ClaimWindowClosed.selector, closesAt));
        claimAs(0, leaves, 1, otherWorker, 4);
        uint256 treasuryBefore = coordinator.treasury();
        vm.expectEmit(address(coordinator));
        emit EC.RewardsReleased(gateway, 0, 4 * RATE);
        coordinator.release(gateway, 0);
        vm.assertEq(coordinator.treasury(), treasuryBefore + 4 * RATE, "released");
        coordinator.release(gateway, 0); // idempotent: nothing left
        vm.assertEq(coordinator.treasury(), treasuryBefore + 4 * RATE, "released once");
        vm.expectRevert(abi.encodeWithSelector(EC.UnknownAnchor.selector, gateway, 9));
        coordinator.release(gateway, 9);
        vm.assertEq(usdc.balanceOf(address(coordinator)), balanceAccounted(), "accounted");
    }

    function test_gas_per_anchored_request_does_not_depend_on_the_count() public {
        vm.warp(block.timestamp + 3 * EPOCH);
        vm.startPrank(gateway);
        coordinator.anchor(0, bytes32(uint256(1)), 1); // warm the shared slots
        uint256 before = gasleft();
        coordinator.anchor(1, bytes32(uint256(1)), 10);
        uint256 ten = before - gasleft();
        before = gasleft();
        coordinator.anchor(2, bytes32(uint256(1)), 100_000);
        uint256 hundredThousand = before - gasleft();
        vm.stopPrank();
        // Equal up to calldata bytes and arithmetic on the count.
        uint256 diff = ten > hundredThousand ? ten - hundredThousand : hundredThousand - ten;
        vm.assertLe(diff, 100, "one anchor costs the same for 10 or 100 000 requests");
    }

    function testFuzz_any_worker_in_a_tree_claims_its_share(uint8 size, uint8 pick, uint32 seed) public {
        uint256 n = bound(size, 1, 40);
        uint256 i = bound(pick, 0, n - 1);
        bytes32[] memory leaves = new bytes32[](n);
        address[] memory workers = new address[](n);
        uint32 total;
        for (uint256 k; k < n; ++k) {
            workers[k] = address(uint160(0x1000 + k));
            uint32 requests = uint32(bound(uint256(keccak256(abi.encode(seed, k))), 1, 1000));
            leaves[k] = coordinator.workerLeaf(workers[k], requests, requests * 1000, receiptsRoot(workers[k]));
            total += requests;
        }
        vm.warp(block.timestamp + EPOCH);
        vm.prank(gateway);
        coordinator.anchor(0, Merkle.root(leaves), total);
        uint32 mine = uint32(bound(uint256(keccak256(abi.encode(seed, i))), 1, 1000));
        uint256 paid = claimAs(0, leaves, i, workers[i], mine);
        vm.assertEq(paid, mine * RATE, "paid its requests");
        vm.assertEq(usdc.balanceOf(workers[i]), mine * RATE, "received");
    }
}
