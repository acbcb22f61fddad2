// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ExecutionCoordinator as EC} from "../../src/ExecutionCoordinator.sol";
import {Fixture} from "../lib/Fixture.sol";
import {Handler} from "./Handler.sol";

/// @notice Properties that hold after any sequence of calls by any of the coordinator's users.
contract CoordinatorInvariants is Fixture {
    Handler internal handler;

    function setUp() public override {
        super.setUp();
        handler = new Handler(usdc, coordinator, gateway, validatorKey, payerKey);
        vm.startPrank(admin);
        for (uint256 i; i < 3; ++i) {
            (address w,) = handler.workerAt(i);
            usdc.mint(w, 1_000 * USDC);
        }
        usdc.mint(gateway, 1_000_000 * USDC);
        usdc.mint(payer, 1_000_000 * USDC);
        vm.stopPrank();
        targetContract(address(handler));
    }

    /// The handler's actions do reach slashes, settlements, replays and claims.
    function test_handler_reaches_every_outcome() public {
        handler.bond(0, 500 * USDC);
        handler.bond(1, 500 * USDC);
        handler.dispute(0, 1, true, true); // a cheater equivocates: slashed
        handler.dispute(1, 2, false, true); // an honest worker: not slashed
        handler.dispute(0, 3, true, false); // a cheater caught by a validator: slashed
        handler.dispute(1, 4, false, false); // an honest worker: not slashed
        vm.assertEq(handler.slashes(), 2, "both cheats slashed, nobody else");
        handler.settle(1_000, 7, false, false);
        handler.settle(1_000, 7, true, true); // a replay of the same nonce
        vm.assertEq(handler.maxSettlements(), 1, "settled once");
        vm.assertGt(coordinator.credits(address(0x0E1)), 0, "owner credited");
        handler.anchorAndClaim(1);
        vm.assertGt(handler.claims(), 0, "claims paid");
        invariant_token_is_conserved();
    }

    /// Every token the coordinator holds is in exactly one bucket.
    function invariant_token_is_conserved() public view {
        vm.assertEq(usdc.balanceOf(address(coordinator)), balanceAccounted(), "balance == buckets");
    }

    function invariant_each_payment_settles_at_most_once() public view {
        vm.assertLe(handler.maxSettlements(), 1, "a nonce settled twice");
    }

    function invariant_no_slash_without_a_valid_proof() public view {
        vm.assertFalse(handler.unjustSlash(), "an honest worker was slashed");
    }

    function invariant_bonds_cannot_leave_while_slashable() public view {
        vm.assertFalse(handler.earlyWithdrawal(), "a withdrawal beat its unbonding delay");
    }

    /// The reserved total is exactly what the anchored epochs still hold.
    function invariant_reservations_add_up() public view {
        uint256 sum;
        uint256 n = handler.anchoredCount();
        for (uint256 i; i < n; ++i) {
            sum += coordinator.reservedOf(gateway, handler.anchoredEpochs(i));
        }
        vm.assertEq(sum, coordinator.totalReserved(), "reserved == sum of anchors");
    }

    /// Stakes add up to the totals.
    function invariant_stakes_add_up() public view {
        uint256 bonded;
        uint256 unbonding;
        for (uint256 i; i < 3; ++i) {
            (address w,) = handler.workerAt(i);
            EC.Stake memory stake = coordinator.stakeOf(w);
            bonded += stake.bonded;
            unbonding += stake.unbonding;
        }
        vm.assertEq(bonded, coordinator.totalBonded(), "bonded");
        vm.assertEq(unbonding, coordinator.totalUnbonding(), "unbonding");
    }
}
