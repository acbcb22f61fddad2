// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ExecutionCoordinator as EC} from "../src/ExecutionCoordinator.sol";
import {Fixture} from "./lib/Fixture.sol";

contract BondsTest is Fixture {
    bytes32 internal constant NODE_KEY = keccak256("node");

    function test_bond_registers_the_node_key_and_moves_funds() public {
        vm.expectEmit(address(coordinator));
        emit EC.WorkerBonded(worker, NODE_KEY, 150 * USDC, 150 * USDC);
        vm.prank(worker);
        coordinator.bond(150 * USDC, NODE_KEY);
        EC.Stake memory stake = coordinator.stakeOf(worker);
        vm.assertEq(stake.bonded, 150 * USDC, "bonded");
        vm.assertEq(stake.nodeKey, NODE_KEY, "node key");
        vm.assertEq(coordinator.workerOfNodeKey(NODE_KEY), worker, "reverse lookup");
        vm.assertTrue(coordinator.isBonded(worker), "eligible");
        vm.assertEq(usdc.balanceOf(worker), 850 * USDC, "paid in");
        vm.assertEq(usdc.balanceOf(address(coordinator)), balanceAccounted(), "accounted");

        // Topping up keeps (or confirms) the key.
        vm.prank(worker);
        coordinator.bond(10 * USDC, bytes32(0));
        vm.prank(worker);
        coordinator.bond(10 * USDC, NODE_KEY);
        vm.assertEq(coordinator.stakeOf(worker).bonded, 170 * USDC, "topped up");
    }

    function test_bond_rejects_bad_input() public {
        vm.startPrank(worker);
        vm.expectRevert(EC.ZeroAmount.selector);
        coordinator.bond(0, NODE_KEY);
        vm.expectRevert(EC.ZeroNodeKey.selector);
        coordinator.bond(1, bytes32(0));
        coordinator.bond(1, NODE_KEY);
        vm.expectRevert(abi.encodeWithSelector(EC.NodeKeyMismatch.selector, NODE_KEY, keccak256("other")));
        coordinator.bond(1, keccak256("other"));
        vm.stopPrank();

        vm.prank(otherWorker);
        vm.expectRevert(abi.encodeWithSelector(EC.NodeKeyTaken.selector, NODE_KEY, worker));
        coordinator.bond(1, NODE_KEY);
    }

    function test_below_the_minimum_is_not_eligible() public {
        bondAs(worker, 99 * USDC);
        vm.assertFalse(coordinator.isBonded(worker), "below minBond");
        vm.assertFalse(coordinator.isBonded(otherWorker), "never bonded");
    }

    function test_unbond_waits_out_the_slashable_delay() public {
        bondAs(worker, 200 * USDC);
        uint64 unlockAt = uint64(block.timestamp) + 7 days;
        vm.expectEmit(address(coordinator));
        emit EC.WorkerUnbonding(worker, 50 * USDC, 50 * USDC, unlockAt);
        vm.prank(worker);
        coordinator.requestUnbond(50 * USDC);
        vm.assertEq(coordinator.totalBonded(), 150 * USDC, "no longer bonded");
        vm.assertEq(coordinator.totalUnbonding(), 50 * USDC, "unbonding");

        vm.warp(unlockAt - 1);
        vm.prank(worker);
        vm.expectRevert(abi.encodeWithSelector(EC.StillSlashable.selector, unlockAt));
        coordinator.withdraw();

        vm.warp(unlockAt);
        vm.prank(worker);
        coordinator.withdraw();
        vm.assertEq(usdc.balanceOf(worker), 850 * USDC, "50 back");
        vm.assertEq(coordinator.totalUnbonding(), 0, "nothing unbonding");
        vm.assertEq(usdc.balanceOf(address(coordinator)), balanceAccounted(), "accounted");
    }

    function test_a_new_unbond_request_restarts_the_delay() public {
        bondAs(worker, 200 * USDC);
        vm.prank(worker);
        coordinator.requestUnbond(50 * USDC);
        vm.warp(block.timestamp + 6 days);
        vm.prank(worker);
        coordinator.requestUnbond(50 * USDC);
        vm.warp(block.timestamp + 2 days);
        vm.prank(worker);
        vm.expectRevert(abi.encodeWithSelector(EC.StillSlashable.selector, uint64(block.timestamp + 5 days)));
        coordinator.withdraw();
    }

    function test_unbond_and_withdraw_reject_bad_input() public {
        bondAs(worker, 200 * USDC);
        vm.startPrank(worker);
        vm.expectRevert(EC.ZeroAmount.selector);
        coordinator.requestUnbond(0);
        vm.expectRevert(abi.encodeWithSelector(EC.InsufficientBond.selector, 200 * USDC, 201 * USDC));
        coordinator.requestUnbond(201 * USDC);
        vm.expectRevert(EC.NothingToWithdraw.selector);
        coordinator.withdraw();
        vm.stopPrank();
    }

    function testFuzz_bond_unbond_withdraw_round_trips(uint256 bondAmount, uint256 unbondAmount) public {
        bondAmount = bound(bondAmount, 1, 1_000 * USDC);
        unbondAmount = bound(unbondAmount, 1, bondAmount);
        bondAs(worker, bondAmount);
        vm.prank(worker);
        coordinator.requestUnbond(unbondAmount);
        vm.warp(block.timestamp + 7 days);
        vm.prank(worker);
        coordinator.withdraw();
        vm.assertEq(usdc.balanceOf(worker), 1_000 * USDC - bondAmount + unbondAmount, "balance");
        vm.assertEq(coordinator.stakeOf(worker).bonded, bondAmount - unbondAmount, "rest stays bonded");
        vm.assertEq(usdc.balanceOf(address(coordinator)), balanceAccounted(), "accounted");
    }
}
