// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Bonds} from "../src/Bonds.sol";
import {Budgets} from "../src/Budgets.sol";
import {ExecutionCoordinator as EC} from "../src/ExecutionCoordinator.sol";
import {OwnerUsage, Role, WorkerLeaf} from "../src/Types.sol";
import {Fixture} from "./lib/Fixture.sol";
import {Merkle} from "./lib/Merkle.sol";

contract AnchoringTest is Fixture {
    function usageOne(address who, uint32 requests) internal pure returns (OwnerUsage[] memory usage) {
        usage = new OwnerUsage[](1);
        usage[0] = OwnerUsage(who, requests);
    }

    function test_anchor_reserves_rewards_and_workers_claim_them() public {
        uint256 treasuryBefore = coordinator.treasury();
        WorkerLeaf[] memory leaves = two(leafOf(worker, owner, 30), leafOf(otherWorker, owner, 12));
        bytes32 root = Merkle.root(hashLeaves(leaves));
        endEpoch(0);

        vm.expectEmit(address(coordinator));
        emit EC.RequestsAnchored(gateway, 0, root, 42, 42);
        vm.expectEmit(address(coordinator));
        emit EC.RewardsReserved(gateway, 0, RATE, ASSIST_RATE, 42 * RESERVE);
        vm.prank(gateway);
        coordinator.anchor(0, root, usageOne(owner, 42));
        // Each funded request reserves its win and the assists it funds.
        vm.assertEq(coordinator.treasury(), treasuryBefore - 42 * RESERVE, "reserved from the treasury");
        vm.assertEq(coordinator.totalReserved(), 42 * RESERVE, "reserved");
        vm.assertEq(coordinator.fundedOf(owner, 0), 42, "owner's funded requests");
        vm.assertEq(coordinator.usageOf(gateway, 0, owner).funded, 42, "in this anchor");

        vm.expectEmit(address(coordinator));
        emit EC.RewardClaimed(worker, gateway, 0, owner, 30, 30, 0, 0, 30 * RATE);
        uint256 paid = claimLeaf(gateway, 0, leaves, 0);
        vm.assertEq(paid, 30 * RATE, "returned");
        vm.assertEq(usdc.balanceOf(worker), 1_000 * USDC + 30 * RATE, "worker paid");
        // Anyone may submit a claim; the reward still goes to the worker.
        vm.prank(address(0xDEAD));
        claimLeaf(gateway, 0, leaves, 1);
        vm.assertEq(usdc.balanceOf(otherWorker), 1_000 * USDC + 12 * RATE, "other worker paid");
        vm.assertEq(coordinator.totalReserved(), 42 * ASSISTS * ASSIST_RATE, "all wins claimed, no assists");
        vm.assertEq(coordinator.anchorOf(gateway, 0).claimedRequests, 42, "counted");
        vm.assertEq(coordinator.usageOf(gateway, 0, owner).claimed, 42, "counted per owner");
        assertAccounted();
    }

    function test_a_worker_has_one_leaf_per_owner() public {
        WorkerLeaf[] memory leaves = new WorkerLeaf[](3);
        leaves[0] = leafOf(worker, owner, 5);
        leaves[1] = leafOf(worker, otherOwner, 7);
        leaves[2] = leafOf(otherWorker, otherOwner, 1);
        anchorLeaves(gateway, 0, leaves);
        vm.assertEq(coordinator.anchorOf(gateway, 0).count, 13, "count = sum of usage");
        vm.assertEq(coordinator.fundedOf(otherOwner, 0), 8, "per owner");

        claimLeaf(gateway, 0, leaves, 0);
        vm.assertTrue(coordinator.claimed(gateway, 0, worker, owner), "one leaf claimed");
        vm.assertFalse(coordinator.claimed(gateway, 0, worker, otherOwner), "the other not yet");
        claimLeaf(gateway, 0, leaves, 1);
        vm.assertEq(usdc.balanceOf(worker), 1_000 * USDC + 12 * RATE, "both paid");
        vm.expectRevert(abi.encodeWithSelector(EC.AlreadyClaimed.selector, gateway, 0, worker, otherOwner));
        claimLeaf(gateway, 0, leaves, 1);
    }

    function test_anchor_rejects_bad_input() public {
        OwnerUsage[] memory usage = usageOne(owner, 1);
        vm.expectRevert(abi.encodeWithSelector(Bonds.NotGateway.selector, address(this)));
        coordinator.anchor(0, bytes32(uint256(1)), usage);

        vm.startPrank(gateway);
        vm.expectRevert(abi.encodeWithSelector(EC.EpochNotOver.selector, 0, 0));
        coordinator.anchor(0, bytes32(uint256(1)), usage);
        vm.warp(block.timestamp + EPOCH);
        vm.expectRevert(EC.EmptyAnchor.selector);
        coordinator.anchor(0, bytes32(0), usage);
        vm.expectRevert(EC.EmptyAnchor.selector);
        coordinator.anchor(0, bytes32(uint256(1)), new OwnerUsage[](0));

        OwnerUsage[] memory bad = new OwnerUsage[](2);
        (bad[0], bad[1]) = (OwnerUsage(otherOwner, 1), OwnerUsage(owner, 1));
        vm.expectRevert(abi.encodeWithSelector(Budgets.InvalidUsage.selector, 1));
        coordinator.anchor(0, bytes32(uint256(1)), bad); // not ascending
        (bad[0], bad[1]) = (OwnerUsage(owner, 1), OwnerUsage(owner, 1));
        vm.expectRevert(abi.encodeWithSelector(Budgets.InvalidUsage.selector, 1));
        coordinator.anchor(0, bytes32(uint256(1)), bad); // an owner twice
        (bad[0], bad[1]) = (OwnerUsage(owner, 1), OwnerUsage(otherOwner, 0));
        vm.expectRevert(abi.encodeWithSelector(Budgets.InvalidUsage.selector, 1));
        coordinator.anchor(0, bytes32(uint256(1)), bad); // nothing served
        vm.expectRevert(abi.encodeWithSelector(Budgets.InvalidUsage.selector, 0));
        coordinator.anchor(0, bytes32(uint256(1)), usageOne(address(0), 1)); // no owner

        coordinator.anchor(0, bytes32(uint256(1)), usage);
        vm.expectRevert(abi.encodeWithSelector(EC.EpochAlreadyAnchored.selector, gateway, 0));
        coordinator.anchor(0, bytes32(uint256(2)), usage);
        vm.stopPrank();
        vm.assertEq(coordinator.fundedOf(owner, 0), 1, "the failed anchors funded nothing");
    }

    function test_old_epochs_cannot_be_anchored() public {
        // Epoch 0 ends at genesis + EPOCH; it can be anchored for a day after that.
        uint64 closesAt = coordinator.genesis() + EPOCH + 1 days;
        vm.warp(closesAt - 1);
        vm.prank(gateway);
        coordinator.anchor(0, bytes32(uint256(1)), usageOne(owner, 1));
        vm.warp(closesAt);
        // Bonded or not, too late: nobody draws the budgets of epochs long past.
        fund(otherGateway, GATEWAY_BOND);
        bondRole(Role.Gateway, otherGateway, GATEWAY_BOND);
        vm.prank(otherGateway);
        vm.expectRevert(abi.encodeWithSelector(EC.AnchorWindowClosed.selector, 0, closesAt));
        coordinator.anchor(0, bytes32(uint256(1)), usageOne(owner, 1));
        // The epoch just over is fine.
        uint64 last = coordinator.currentEpoch() - 1;
        vm.prank(otherGateway);
        coordinator.anchor(last, bytes32(uint256(1)), usageOne(owner, 1));
    }

    function test_short_treasury_pays_pro_rata() public {
        // A fresh coordinator with 10 units in the treasury and 4 requests: 2 each, 2 left over.
        EC fresh = new EC(usdc, EPOCH, defaultParams(), admin);
        vm.startPrank(admin);
        usdc.approve(address(fresh), 10);
        fresh.fundTreasury(10);
        vm.stopPrank();
        fund(otherGateway, GATEWAY_BOND);
        vm.startPrank(otherGateway);
        usdc.approve(address(fresh), GATEWAY_BOND);
        fresh.bond(Role.Gateway, GATEWAY_BOND, nodeKeyOf(otherGateway));
        vm.warp(block.timestamp + EPOCH);
        fresh.anchor(0, bytes32(uint256(1)), usageOne(owner, 4));
        vm.stopPrank();
        vm.assertEq(fresh.anchorOf(otherGateway, 0).rate, 2, "rate");
        vm.assertEq(fresh.anchorOf(otherGateway, 0).assistRate, 0, "requests first: nothing left for assists");
        vm.assertEq(fresh.treasury(), 2, "remainder stays");
    }

    function test_claims_reject_bad_proofs_and_double_claims() public {
        WorkerLeaf[] memory leaves = two(leafOf(worker, owner, 3), leafOf(otherWorker, owner, 4));
        bytes32[] memory hashes = anchorLeaves(gateway, 0, leaves);

        vm.expectRevert(abi.encodeWithSelector(EC.UnknownAnchor.selector, gateway, 1));
        coordinator.claim(gateway, 1, leaves[0], Merkle.proof(hashes, 0));
        // Claiming more requests than the leaf says is a different leaf.
        WorkerLeaf memory inflated = leafOf(worker, owner, 3);
        inflated.requests = 4;
        vm.expectRevert(EC.InvalidProof.selector);
        coordinator.claim(gateway, 0, inflated, Merkle.proof(hashes, 0));
        // So is naming another owner.
        WorkerLeaf memory moved = leafOf(worker, owner, 3);
        moved.owner = otherOwner;
        vm.expectRevert(EC.InvalidProof.selector);
        coordinator.claim(gateway, 0, moved, Merkle.proof(hashes, 0));
        // Another worker's proof does not fit.
        vm.expectRevert(EC.InvalidProof.selector);
        coordinator.claim(gateway, 0, leaves[0], Merkle.proof(hashes, 1));

        claimLeaf(gateway, 0, leaves, 0);
        vm.expectRevert(abi.encodeWithSelector(EC.AlreadyClaimed.selector, gateway, 0, worker, owner));
        claimLeaf(gateway, 0, leaves, 0);
    }

    function test_a_lying_gateway_cannot_overdraw_its_reservation() public {
        // Leaves promise 5 + 5 requests of `owner` but the anchor declares 6.
        WorkerLeaf[] memory leaves = two(leafOf(worker, owner, 5), leafOf(otherWorker, owner, 5));
        bytes32[] memory hashes = hashLeaves(leaves);
        endEpoch(0);
        vm.prank(gateway);
        coordinator.anchor(0, Merkle.root(hashes), usageOne(owner, 6));
        vm.assertEq(claimLeaf(gateway, 0, leaves, 0), 5 * RATE, "first claim paid in full");
        // The second gets what is left of the owner's funded requests, no more.
        vm.expectEmit(address(coordinator));
        emit EC.RewardClaimed(otherWorker, gateway, 0, owner, 5, 1, 0, 0, RATE);
        vm.assertEq(claimLeaf(gateway, 0, leaves, 1), RATE, "capped");
        vm.assertEq(coordinator.anchorOf(gateway, 0).claimedRequests, 6, "wins used up, not overdrawn");
        vm.assertEq(coordinator.totalReserved(), 6 * ASSISTS * ASSIST_RATE, "only the assists' share left");
        assertAccounted();
    }

    function test_leaves_of_undeclared_owners_earn_nothing() public {
        // A leaf for `otherOwner`, whom the usage does not name.
        WorkerLeaf[] memory leaves = two(leafOf(worker, owner, 2), leafOf(otherWorker, otherOwner, 9));
        bytes32[] memory hashes = hashLeaves(leaves);
        endEpoch(0);
        vm.prank(gateway);
        coordinator.anchor(0, Merkle.root(hashes), usageOne(owner, 11));
        vm.assertEq(claimLeaf(gateway, 0, leaves, 1), 0, "nothing funded for that owner");
        vm.assertEq(claimLeaf(gateway, 0, leaves, 0), 2 * RATE, "the declared owner's leaf is paid");
        vm.assertEq(coordinator.reservedOf(gateway, 0), 11 * RESERVE - 2 * RATE, "the rest waits for release");
    }

    function test_unclaimed_rewards_return_to_the_treasury_after_the_window() public {
        WorkerLeaf[] memory leaves = two(leafOf(worker, owner, 3), leafOf(otherWorker, otherOwner, 4));
        anchorLeaves(gateway, 0, leaves);
        uint64 closesAt = coordinator.anchorOf(gateway, 0).anchoredAt + 30 days;
        vm.expectRevert(abi.encodeWithSelector(EC.ClaimWindowOpen.selector, closesAt));
        coordinator.release(gateway, 0);
        claimLeaf(gateway, 0, leaves, 0);

        vm.warp(closesAt);
        vm.expectRevert(abi.encodeWithSelector(EC.ClaimWindowClosed.selector, closesAt));
        claimLeaf(gateway, 0, leaves, 1);
        uint256 treasuryBefore = coordinator.treasury();
        uint256 unclaimed = 7 * RESERVE - 3 * RATE; // the unclaimed leaf, and the assists of both
        vm.expectEmit(address(coordinator));
        emit EC.RewardsReleased(gateway, 0, unclaimed);
        coordinator.release(gateway, 0);
        vm.assertEq(coordinator.treasury(), treasuryBefore + unclaimed, "released");
        coordinator.release(gateway, 0); // idempotent: nothing left
        vm.assertEq(coordinator.treasury(), treasuryBefore + unclaimed, "released once");
        vm.assertEq(coordinator.totalReserved(), 0, "nothing reserved any more");
        vm.expectRevert(abi.encodeWithSelector(EC.UnknownAnchor.selector, gateway, 9));
        coordinator.release(gateway, 9);
        assertAccounted();
    }

    function test_gas_per_anchored_request_does_not_depend_on_the_count() public {
        vm.warp(block.timestamp + 3 * EPOCH);
        vm.startPrank(gateway);
        coordinator.anchor(0, bytes32(uint256(1)), usageOne(owner, 1)); // warm the shared slots
        uint256 before = gasleft();
        coordinator.anchor(1, bytes32(uint256(1)), usageOne(owner, 10));
        uint256 ten = before - gasleft();
        before = gasleft();
        coordinator.anchor(2, bytes32(uint256(1)), usageOne(owner, 100_000));
        uint256 hundredThousand = before - gasleft();
        vm.stopPrank();
        // Equal up to calldata bytes and arithmetic on the count.
        uint256 diff = ten > hundredThousand ? ten - hundredThousand : hundredThousand - ten;
        vm.assertLe(diff, 100, "one anchor costs the same for 10 or 100 000 requests");
    }

    /// Anchors with 1, 3 and 10 owners; each further owner costs two fresh storage slots.
    function test_gas_grows_per_owner_not_per_request() public {
        vm.warp(block.timestamp + 4 * EPOCH);
        vm.startPrank(gateway);
        coordinator.anchor(0, bytes32(uint256(1)), owners(1, 0)); // warm the shared slots
        uint256[3] memory sizes = [uint256(1), 3, 10];
        uint256[3] memory used;
        for (uint64 i; i < 3; ++i) {
            OwnerUsage[] memory usage = owners(sizes[i], i + 1);
            uint256 before = gasleft();
            coordinator.anchor(i + 1, bytes32(uint256(1)), usage);
            used[i] = before - gasleft();
        }
        vm.stopPrank();
        uint256 perOwner = (used[2] - used[0]) / 9;
        vm.assertLe(perOwner, 50_000, "about two fresh slots per owner");
        vm.assertLe(used[0], 160_000, "one owner");
    }

    function owners(uint256 n, uint256 salt) internal pure returns (OwnerUsage[] memory usage) {
        usage = new OwnerUsage[](n);
        for (uint256 i; i < n; ++i) {
            // forge-lint: disable-next-line(unsafe-typecast)
            usage[i] = OwnerUsage(address(uint160(0x1000 + i)), uint32(10 + salt));
        }
    }

    function testFuzz_any_worker_in_a_tree_claims_its_share(uint8 size, uint8 pick, uint32 seed) public {
        uint256 n = bound(size, 1, 40);
        uint256 i = bound(pick, 0, n - 1);
        address[3] memory owners_ = [owner, otherOwner, address(0x0E3)];
        WorkerLeaf[] memory leaves = new WorkerLeaf[](n);
        for (uint256 k; k < n; ++k) {
            uint32 requests = uint32(bound(uint256(keccak256(abi.encode(seed, k))), 1, 1000));
            // forge-lint: disable-next-line(unsafe-typecast)
            leaves[k] = leafOf(address(uint160(0x1000 + k)), owners_[k % 3], requests);
        }
        anchorLeaves(gateway, 0, leaves);
        uint256 paid = claimLeaf(gateway, 0, leaves, i);
        vm.assertEq(paid, leaves[i].requests * RATE, "paid its requests");
        vm.assertEq(usdc.balanceOf(leaves[i].worker), leaves[i].requests * RATE, "received");
    }
}
