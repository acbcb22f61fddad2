// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

import {Bonds} from "../src/Bonds.sol";
import {Ledger} from "../src/Ledger.sol";
import {OwnerUsage, Params, Role, Stake} from "../src/Types.sol";
import {Fixture} from "./lib/Fixture.sol";

contract BondsTest is Fixture {
    bytes32 internal constant NODE_KEY = keccak256("node");
    address internal stranger = address(0x5757);

    function setUp() public override {
        super.setUp();
        fund(stranger, 10_000 * USDC);
    }

    function test_bond_registers_the_node_key_and_moves_funds() public {
        vm.expectEmit(address(coordinator));
        emit Bonds.Bonded(Role.Worker, worker, NODE_KEY, 150 * USDC, 150 * USDC);
        vm.prank(worker);
        coordinator.bond(Role.Worker, 150 * USDC, NODE_KEY);
        Stake memory stake = coordinator.stakeOf(Role.Worker, worker);
        vm.assertEq(stake.bonded, 150 * USDC, "bonded");
        vm.assertEq(stake.nodeKey, NODE_KEY, "node key");
        vm.assertEq(coordinator.workerOfNodeKey(NODE_KEY), worker, "reverse lookup");
        vm.assertEq(coordinator.nodeKeyHolder(Role.Worker, NODE_KEY), worker, "reverse lookup by role");
        vm.assertTrue(coordinator.isBonded(Role.Worker, worker), "eligible");
        vm.assertEq(coordinator.totalBonded(Role.Worker), 150 * USDC, "worker total");
        vm.assertEq(usdc.balanceOf(worker), 850 * USDC, "paid in");
        assertAccounted();

        // Topping up keeps (or confirms) the key.
        vm.prank(worker);
        coordinator.bond(Role.Worker, 10 * USDC, bytes32(0));
        vm.prank(worker);
        coordinator.bond(Role.Worker, 10 * USDC, NODE_KEY);
        vm.assertEq(coordinator.stakeOf(Role.Worker, worker).bonded, 170 * USDC, "topped up");
    }

    function test_bond_rejects_bad_input() public {
        vm.startPrank(worker);
        vm.expectRevert(Ledger.ZeroAmount.selector);
        coordinator.bond(Role.Worker, 0, NODE_KEY);
        vm.expectRevert(Bonds.ZeroNodeKey.selector);
        coordinator.bond(Role.Worker, 1, bytes32(0));
        vm.expectRevert(Bonds.ZeroNodeKey.selector);
        coordinator.bond(Role.Gateway, 1, bytes32(0));
        coordinator.bond(Role.Worker, 1, NODE_KEY);
        vm.expectRevert(abi.encodeWithSelector(Bonds.NodeKeyMismatch.selector, NODE_KEY, keccak256("other")));
        coordinator.bond(Role.Worker, 1, keccak256("other"));
        vm.stopPrank();

        vm.prank(otherWorker);
        vm.expectRevert(abi.encodeWithSelector(Bonds.NodeKeyTaken.selector, Role.Worker, NODE_KEY, worker));
        coordinator.bond(Role.Worker, 1, NODE_KEY);

        // There is no fourth role.
        vm.prank(worker);
        (bool ok,) = address(coordinator).call(abi.encodeWithSignature("bond(uint8,uint256,bytes32)", 3, 1, NODE_KEY));
        vm.assertFalse(ok, "unknown role");
    }

    function test_anyone_becomes_a_gateway_by_bonding_a_validator_also_needs_approval() public {
        vm.assertFalse(coordinator.isGateway(stranger), "not yet");
        vm.expectEmit(address(coordinator));
        emit Bonds.Bonded(Role.Gateway, stranger, NODE_KEY, GATEWAY_BOND, GATEWAY_BOND);
        vm.prank(stranger);
        coordinator.bond(Role.Gateway, GATEWAY_BOND, NODE_KEY);
        vm.assertTrue(coordinator.isGateway(stranger), "a gateway, no admin involved");
        vm.assertEq(coordinator.nodeKeyHolder(Role.Gateway, NODE_KEY), stranger, "gateway key");
        vm.assertEq(coordinator.workerOfNodeKey(NODE_KEY), address(0), "not a worker key");

        // It may anchor at once.
        endEpoch(0);
        OwnerUsage[] memory usage = new OwnerUsage[](1);
        usage[0] = OwnerUsage(owner, 1);
        vm.prank(stranger);
        coordinator.anchor(0, bytes32(uint256(1)), usage);

        // A validator needs no node key, but the owner's approval besides the bond.
        vm.expectEmit(address(coordinator));
        emit Bonds.Bonded(Role.Validator, stranger, bytes32(0), 50 * USDC, 50 * USDC);
        vm.prank(stranger);
        coordinator.bond(Role.Validator, 50 * USDC, bytes32(0));
        vm.assertTrue(coordinator.isBonded(Role.Validator, stranger), "bonded");
        vm.assertFalse(coordinator.isValidator(stranger), "not a validator before approval");
        vm.assertEq(coordinator.stakeOf(Role.Validator, stranger).nodeKey, bytes32(0), "no key");
        vm.expectEmit(address(coordinator));
        emit Bonds.ValidatorApproved(stranger, true);
        approveValidator(stranger, true);
        vm.assertTrue(coordinator.approvedValidator(stranger), "approved");
        vm.assertTrue(coordinator.isValidator(stranger), "a validator");
        assertAccounted();
    }

    function test_approval_alone_does_not_make_a_validator() public {
        approveValidator(stranger, true);
        vm.assertFalse(coordinator.isValidator(stranger), "no bond");
        bondRole(Role.Validator, stranger, 50 * USDC - 1);
        vm.assertFalse(coordinator.isValidator(stranger), "below the minimum");
        bondRole(Role.Validator, stranger, 1);
        vm.assertTrue(coordinator.isValidator(stranger), "approved and bonded");
        // Revoking removes it at once; the stake stays bonded.
        vm.expectEmit(address(coordinator));
        emit Bonds.ValidatorApproved(stranger, false);
        approveValidator(stranger, false);
        vm.assertFalse(coordinator.isValidator(stranger), "revoked");
        vm.assertEq(coordinator.stakeOf(Role.Validator, stranger).bonded, 50 * USDC, "stake untouched");
    }

    function test_only_the_owner_approves_validators() public {
        bondRole(Role.Validator, stranger, 50 * USDC);
        address[3] memory notOwners = [stranger, validator, gateway];
        for (uint256 i; i < notOwners.length; ++i) {
            vm.prank(notOwners[i]);
            vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, notOwners[i]));
            coordinator.approveValidator(stranger, true);
        }
        // Nor can an approved validator revoke itself or another.
        vm.prank(validator);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, validator));
        coordinator.approveValidator(validator, false);
        vm.assertFalse(coordinator.approvedValidator(stranger), "not approved");
        vm.assertFalse(coordinator.isValidator(stranger), "not a validator");
        vm.assertTrue(coordinator.isValidator(validator), "still approved");
    }

    function test_one_account_holds_stakes_in_several_roles() public {
        // A validator that is also a worker, under one node key.
        vm.startPrank(stranger);
        coordinator.bond(Role.Worker, 100 * USDC, NODE_KEY);
        coordinator.bond(Role.Validator, 60 * USDC, NODE_KEY);
        vm.stopPrank();
        approveValidator(stranger, true);
        vm.assertEq(coordinator.workerOfNodeKey(NODE_KEY), stranger, "worker key");
        vm.assertEq(coordinator.nodeKeyHolder(Role.Validator, NODE_KEY), stranger, "validator key");
        vm.assertEq(coordinator.stakeOf(Role.Worker, stranger).bonded, 100 * USDC, "worker stake");
        vm.assertEq(coordinator.stakeOf(Role.Validator, stranger).bonded, 60 * USDC, "validator stake");
        vm.assertTrue(coordinator.isBonded(Role.Worker, stranger) && coordinator.isValidator(stranger), "both");
        vm.assertFalse(coordinator.isGateway(stranger), "not a gateway");

        // Stakes are apart: unbonding one role leaves the other, and withdrawing names the role.
        vm.prank(stranger);
        coordinator.requestUnbond(Role.Validator, 60 * USDC);
        vm.assertFalse(coordinator.isValidator(stranger), "validator stake unbonding");
        vm.assertTrue(coordinator.isBonded(Role.Worker, stranger), "worker stake untouched");
        vm.warp(block.timestamp + 7 days);
        vm.prank(stranger);
        vm.expectRevert(Ledger.NothingToWithdraw.selector);
        coordinator.withdraw(Role.Worker);
        vm.prank(stranger);
        coordinator.withdraw(Role.Validator);
        vm.assertEq(coordinator.totalBonded(Role.Worker), 100 * USDC, "worker total");
        vm.assertEq(coordinator.totalUnbonding(Role.Validator), 0, "validator total");
        assertAccounted();
    }

    function test_node_keys_are_unique_per_role() public {
        vm.prank(stranger);
        coordinator.bond(Role.Worker, 1, NODE_KEY);
        vm.prank(otherWorker);
        vm.expectRevert(abi.encodeWithSelector(Bonds.NodeKeyTaken.selector, Role.Worker, NODE_KEY, stranger));
        coordinator.bond(Role.Worker, 1, NODE_KEY);
        // The Gateway namespace is another one.
        vm.prank(otherWorker);
        coordinator.bond(Role.Gateway, 1, NODE_KEY);
        vm.assertEq(coordinator.nodeKeyHolder(Role.Gateway, NODE_KEY), otherWorker, "gateway key");
    }

    function test_below_the_minimum_is_not_eligible() public {
        uint256[3] memory minimums = [uint256(100 * USDC), GATEWAY_BOND, 50 * USDC];
        for (uint8 r; r < 3; ++r) {
            Role role = Role(r);
            vm.assertFalse(coordinator.isBonded(role, stranger), "never bonded");
            bondRole(role, stranger, minimums[r] - 1);
            vm.assertFalse(coordinator.isBonded(role, stranger), "one short");
            bondRole(role, stranger, 1);
            vm.assertTrue(coordinator.isBonded(role, stranger), "at the minimum");
        }
        approveValidator(stranger, true);
        vm.assertTrue(coordinator.isGateway(stranger) && coordinator.isValidator(stranger), "views");
    }

    function test_a_zero_minimum_still_needs_a_bond() public {
        vm.startPrank(admin);
        Params memory p = defaultParams();
        p.minGatewayBond = 0;
        coordinator.setParams(p);
        vm.stopPrank();
        vm.assertFalse(coordinator.isGateway(stranger), "nothing bonded");
        bondRole(Role.Gateway, stranger, 1);
        vm.assertTrue(coordinator.isGateway(stranger), "any bond");
    }

    function test_an_unbonding_gateway_stops_counting_at_once() public {
        vm.expectEmit(address(coordinator));
        emit Bonds.Unbonding(Role.Gateway, gateway, 1, 1, uint64(block.timestamp + 7 days));
        vm.prank(gateway);
        coordinator.requestUnbond(Role.Gateway, 1);
        vm.assertFalse(coordinator.isGateway(gateway), "below the minimum at once");
        endEpoch(0);
        OwnerUsage[] memory usage = new OwnerUsage[](1);
        usage[0] = OwnerUsage(owner, 1);
        vm.prank(gateway);
        vm.expectRevert(abi.encodeWithSelector(Bonds.NotGateway.selector, gateway));
        coordinator.anchor(0, bytes32(uint256(1)), usage);
    }

    function test_unbond_waits_out_the_slashable_delay() public {
        for (uint8 r; r < 3; ++r) {
            Role role = Role(r);
            bondRole(role, stranger, 2_000 * USDC);
            uint64 unlockAt = uint64(block.timestamp) + 7 days;
            vm.expectEmit(address(coordinator));
            emit Bonds.Unbonding(role, stranger, 50 * USDC, 50 * USDC, unlockAt);
            vm.prank(stranger);
            coordinator.requestUnbond(role, 50 * USDC);
            vm.assertEq(coordinator.totalUnbonding(role), 50 * USDC, "unbonding");

            vm.warp(unlockAt - 1);
            vm.prank(stranger);
            vm.expectRevert(abi.encodeWithSelector(Bonds.StillSlashable.selector, unlockAt));
            coordinator.withdraw(role);

            vm.warp(unlockAt);
            uint256 before = usdc.balanceOf(stranger);
            vm.expectEmit(address(coordinator));
            emit Bonds.Withdrawn(role, stranger, 50 * USDC);
            vm.prank(stranger);
            coordinator.withdraw(role);
            vm.assertEq(usdc.balanceOf(stranger), before + 50 * USDC, "50 back");
            vm.assertEq(coordinator.totalUnbonding(role), 0, "nothing unbonding");
            assertAccounted();
        }
    }

    function test_a_new_unbond_request_restarts_the_delay() public {
        bondAs(worker, 200 * USDC);
        vm.prank(worker);
        coordinator.requestUnbond(Role.Worker, 50 * USDC);
        vm.warp(block.timestamp + 6 days);
        vm.prank(worker);
        coordinator.requestUnbond(Role.Worker, 50 * USDC);
        vm.warp(block.timestamp + 2 days);
        vm.prank(worker);
        vm.expectRevert(abi.encodeWithSelector(Bonds.StillSlashable.selector, uint64(block.timestamp + 5 days)));
        coordinator.withdraw(Role.Worker);
    }

    function test_unbond_and_withdraw_reject_bad_input() public {
        bondAs(worker, 200 * USDC);
        vm.startPrank(worker);
        vm.expectRevert(Ledger.ZeroAmount.selector);
        coordinator.requestUnbond(Role.Worker, 0);
        vm.expectRevert(abi.encodeWithSelector(Bonds.InsufficientBond.selector, 200 * USDC, 201 * USDC));
        coordinator.requestUnbond(Role.Worker, 201 * USDC);
        vm.expectRevert(abi.encodeWithSelector(Bonds.InsufficientBond.selector, 0, 1));
        coordinator.requestUnbond(Role.Gateway, 1);
        vm.expectRevert(Ledger.NothingToWithdraw.selector);
        coordinator.withdraw(Role.Worker);
        vm.stopPrank();
    }

    function testFuzz_bond_unbond_withdraw_round_trips(uint8 roleSeed, uint256 bondAmount, uint256 unbondAmount)
        public
    {
        Role role = Role(bound(roleSeed, 0, 2));
        bondAmount = bound(bondAmount, 1, 10_000 * USDC);
        unbondAmount = bound(unbondAmount, 1, bondAmount);
        uint256 before = usdc.balanceOf(stranger);
        uint256 totalBefore = coordinator.totalBonded(role);
        bondRole(role, stranger, bondAmount);
        vm.prank(stranger);
        coordinator.requestUnbond(role, unbondAmount);
        vm.warp(block.timestamp + 7 days);
        vm.prank(stranger);
        coordinator.withdraw(role);
        vm.assertEq(usdc.balanceOf(stranger), before - bondAmount + unbondAmount, "balance");
        vm.assertEq(coordinator.stakeOf(role, stranger).bonded, bondAmount - unbondAmount, "rest stays bonded");
        vm.assertEq(coordinator.totalBonded(role), totalBefore + bondAmount - unbondAmount, "total");
        assertAccounted();
    }
}
