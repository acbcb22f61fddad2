// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

import {Disputes} from "../src/Disputes.sol";
import {Offence, Params, Receipt, Role, Stake} from "../src/Types.sol";
import {Fixture} from "./lib/Fixture.sol";

contract DisputesTest is Fixture {
    bytes32 internal constant REQUEST = keccak256("request");
    bytes32 internal constant RIGHT = keccak256("right result");
    bytes32 internal constant WRONG = keccak256("wrong result");

    function setUp() public override {
        super.setUp();
        bondAs(worker, 200 * USDC);
        bondAs(otherWorker, 200 * USDC);
    }

    function test_equivocation_is_slashed_and_the_challenger_rewarded() public {
        Receipt memory a = receipt(REQUEST, RIGHT);
        Receipt memory b = receipt(REQUEST, WRONG);
        (bytes memory sigA, bytes memory sigB) = (signReceipt(workerKey, a), signReceipt(workerKey, b));
        uint256 treasuryBefore = coordinator.treasury();
        vm.expectEmit(address(coordinator));
        emit Disputes.Slashed(worker, REQUEST, Offence.Equivocation, 100 * USDC, challenger, 20 * USDC);
        vm.prank(challenger);
        coordinator.slashEquivocation(a, sigA, b, sigB);
        vm.assertEq(coordinator.stakeOf(Role.Worker, worker).bonded, 100 * USDC, "half the stake gone");
        vm.assertEq(usdc.balanceOf(challenger), 1_020 * USDC, "challenger reward");
        vm.assertEq(coordinator.treasury(), treasuryBefore + 80 * USDC, "rest to the treasury");
        vm.assertEq(coordinator.stakeOf(Role.Worker, otherWorker).bonded, 200 * USDC, "the honest worker untouched");
        assertAccounted();

        vm.expectRevert(abi.encodeWithSelector(Disputes.AlreadySlashed.selector, worker, REQUEST));
        coordinator.slashEquivocation(a, sigA, b, sigB);
    }

    function test_consistent_or_foreign_receipts_are_no_proof() public {
        Receipt memory a = receipt(REQUEST, RIGHT);
        // The same receipt twice.
        bytes memory sig = signReceipt(workerKey, a);
        vm.expectRevert(Disputes.NotConflicting.selector);
        coordinator.slashEquivocation(a, sig, a, sig);
        // Two honest workers that disagree did not equivocate: different signers.
        Receipt memory b = receipt(REQUEST, WRONG);
        bytes memory otherSig = signReceipt(otherWorkerKey, b);
        vm.expectRevert(Disputes.NotConflicting.selector);
        coordinator.slashEquivocation(a, sig, b, otherSig);
        // Different requests.
        Receipt memory c = receipt(keccak256("another request"), WRONG);
        bytes memory sigC = signReceipt(workerKey, c);
        vm.expectRevert(Disputes.RequestMismatch.selector);
        coordinator.slashEquivocation(a, sig, c, sigC);
        // A forged (garbage) signature.
        vm.expectRevert(abi.encodeWithSelector(ECDSA.ECDSAInvalidSignatureLength.selector, 3));
        coordinator.slashEquivocation(a, sig, b, hex"010203");
        vm.assertEq(coordinator.stakeOf(Role.Worker, worker).bonded, 200 * USDC, "nobody slashed");
    }

    function test_an_unbonded_signer_cannot_be_slashed() public {
        uint256 strangerKey = 0x5757;
        Receipt memory a = receipt(REQUEST, RIGHT);
        Receipt memory b = receipt(REQUEST, WRONG);
        (bytes memory sigA, bytes memory sigB) = (signReceipt(strangerKey, a), signReceipt(strangerKey, b));
        vm.expectRevert(abi.encodeWithSelector(Disputes.NotBonded.selector, vm.addr(strangerKey)));
        coordinator.slashEquivocation(a, sigA, b, sigB);
    }

    function test_validator_quorum_slashes_a_wrong_result() public {
        Receipt memory r = receipt(REQUEST, WRONG);
        bytes[] memory attestations = new bytes[](1);
        attestations[0] = attest(validatorKey, REQUEST, RIGHT);
        bytes memory sig = signReceipt(workerKey, r);
        vm.prank(challenger);
        coordinator.slashWrongResult(r, sig, RIGHT, attestations);
        vm.assertEq(usdc.balanceOf(challenger), 1_020 * USDC, "challenger reward");
        vm.assertEq(coordinator.stakeOf(Role.Worker, worker).bonded, 100 * USDC, "slashed");
        vm.assertTrue(coordinator.slashedFor(worker, REQUEST), "recorded");
    }

    function test_honest_results_are_never_slashed_by_validators() public {
        Receipt memory r = receipt(REQUEST, RIGHT);
        bytes memory sig = signReceipt(workerKey, r);
        bytes[] memory attestations = new bytes[](1);
        // Validators agreeing with the worker prove nothing.
        attestations[0] = attest(validatorKey, REQUEST, RIGHT);
        vm.expectRevert(Disputes.NotConflicting.selector);
        coordinator.slashWrongResult(r, sig, RIGHT, attestations);
        // An unbonded "validator" does not count.
        attestations[0] = attest(0xBAD, REQUEST, WRONG);
        vm.expectRevert(abi.encodeWithSelector(Disputes.QuorumNotReached.selector, 0, 1));
        coordinator.slashWrongResult(r, sig, WRONG, attestations);
        // An attestation for another result does not count.
        attestations[0] = attest(validatorKey, REQUEST, keccak256("third"));
        vm.expectRevert(abi.encodeWithSelector(Disputes.QuorumNotReached.selector, 0, 1));
        coordinator.slashWrongResult(r, sig, WRONG, attestations);
        // No attestations at all.
        vm.expectRevert(abi.encodeWithSelector(Disputes.QuorumNotReached.selector, 0, 1));
        coordinator.slashWrongResult(r, sig, WRONG, new bytes[](0));
        vm.assertEq(coordinator.stakeOf(Role.Worker, worker).bonded, 200 * USDC, "untouched");
    }

    function test_one_validator_cannot_count_twice() public {
        vm.prank(admin);
        coordinator.setParams(_quorum(2));
        fund(secondValidator, 50 * USDC);
        bondRole(Role.Validator, secondValidator, 50 * USDC);
        approveValidator(secondValidator, true);
        Receipt memory r = receipt(REQUEST, WRONG);
        bytes memory sig = signReceipt(workerKey, r);
        bytes[] memory attestations = new bytes[](2);
        attestations[0] = attest(validatorKey, REQUEST, RIGHT);
        attestations[1] = attest(validatorKey, REQUEST, RIGHT);
        vm.expectRevert(abi.encodeWithSelector(Disputes.QuorumNotReached.selector, 1, 2));
        coordinator.slashWrongResult(r, sig, RIGHT, attestations);

        // Two distinct validators, in ascending address order, reach the quorum.
        (uint256 lo, uint256 hi) =
            validator < secondValidator ? (validatorKey, secondValidatorKey) : (secondValidatorKey, validatorKey);
        attestations[0] = attest(lo, REQUEST, RIGHT);
        attestations[1] = attest(hi, REQUEST, RIGHT);
        coordinator.slashWrongResult(r, sig, RIGHT, attestations);
        vm.assertEq(coordinator.stakeOf(Role.Worker, worker).bonded, 100 * USDC, "slashed");
    }

    function test_a_worker_cannot_attest_against_itself() public {
        bondRole(Role.Validator, worker, 50 * USDC);
        approveValidator(worker, true);
        Receipt memory r = receipt(REQUEST, WRONG);
        bytes[] memory attestations = new bytes[](1);
        attestations[0] = attest(workerKey, REQUEST, RIGHT);
        bytes memory sig = signReceipt(workerKey, r);
        vm.expectRevert(abi.encodeWithSelector(Disputes.QuorumNotReached.selector, 0, 1));
        coordinator.slashWrongResult(r, sig, RIGHT, attestations);
    }

    function test_an_unapproved_bonded_validator_does_not_count() public {
        // Anyone can bond as a validator; without the owner's approval its attestation is no vote.
        fund(secondValidator, 50 * USDC);
        bondRole(Role.Validator, secondValidator, 50 * USDC);
        vm.assertTrue(coordinator.isBonded(Role.Validator, secondValidator), "bonded");
        vm.assertFalse(coordinator.isValidator(secondValidator), "not approved");
        // An honest receipt, contradicted by the unapproved validator.
        Receipt memory r = receipt(REQUEST, RIGHT);
        bytes memory sig = signReceipt(workerKey, r);
        bytes[] memory attestations = new bytes[](1);
        attestations[0] = attest(secondValidatorKey, REQUEST, WRONG);
        vm.expectRevert(abi.encodeWithSelector(Disputes.QuorumNotReached.selector, 0, 1));
        coordinator.slashWrongResult(r, sig, WRONG, attestations);

        // With a quorum of two, the approved validator and an unapproved one are only one vote.
        vm.prank(admin);
        coordinator.setParams(_quorum(2));
        Receipt memory wrong = receipt(REQUEST, WRONG);
        bytes memory wrongSig = signReceipt(workerKey, wrong);
        attestations = _ascending(validatorKey, secondValidatorKey, RIGHT);
        vm.expectRevert(abi.encodeWithSelector(Disputes.QuorumNotReached.selector, 1, 2));
        coordinator.slashWrongResult(wrong, wrongSig, RIGHT, attestations);
        vm.assertEq(coordinator.stakeOf(Role.Worker, worker).bonded, 200 * USDC, "untouched");

        // Once approved it counts.
        approveValidator(secondValidator, true);
        coordinator.slashWrongResult(wrong, wrongSig, RIGHT, attestations);
        vm.assertEq(coordinator.stakeOf(Role.Worker, worker).bonded, 100 * USDC, "slashed");
    }

    function test_revoking_approval_removes_the_vote() public {
        Receipt memory r = receipt(REQUEST, WRONG);
        bytes memory sig = signReceipt(workerKey, r);
        bytes[] memory attestations = new bytes[](1);
        attestations[0] = attest(validatorKey, REQUEST, RIGHT);
        approveValidator(validator, false);
        vm.assertFalse(coordinator.isValidator(validator), "revoked");
        vm.assertEq(coordinator.stakeOf(Role.Validator, validator).bonded, 100 * USDC, "still bonded");
        vm.expectRevert(abi.encodeWithSelector(Disputes.QuorumNotReached.selector, 0, 1));
        coordinator.slashWrongResult(r, sig, RIGHT, attestations);
        vm.assertEq(coordinator.stakeOf(Role.Worker, worker).bonded, 200 * USDC, "untouched");
        // Approved again, the same attestation counts.
        approveValidator(validator, true);
        coordinator.slashWrongResult(r, sig, RIGHT, attestations);
        vm.assertEq(coordinator.stakeOf(Role.Worker, worker).bonded, 100 * USDC, "slashed");
    }

    function test_unbonding_stake_stays_slashable() public {
        vm.prank(worker);
        coordinator.requestUnbond(Role.Worker, 150 * USDC);
        Receipt memory a = receipt(REQUEST, RIGHT);
        Receipt memory b = receipt(REQUEST, WRONG);
        coordinator.slashEquivocation(a, signReceipt(workerKey, a), b, signReceipt(workerKey, b));
        Stake memory stake = coordinator.stakeOf(Role.Worker, worker);
        vm.assertEq(stake.bonded, 0, "bond taken first");
        vm.assertEq(stake.unbonding, 100 * USDC, "then the unbonding part (50 of 150)");
        assertAccounted();
    }

    function testFuzz_slash_never_takes_more_than_the_stake(uint256 bonded, uint256 unbonding, uint16 slashBps) public {
        bonded = bound(bonded, 1, 500 * USDC);
        unbonding = bound(unbonding, 0, bonded);
        Params memory p = defaultParams();
        p.slashBps = uint16(bound(slashBps, 0, 10_000));
        vm.prank(admin);
        coordinator.setParams(p);
        uint256 key = 0x7777;
        address w = vm.addr(key);
        fund(w, bonded);
        bondAs(w, bonded);
        if (unbonding > 0) {
            vm.prank(w);
            coordinator.requestUnbond(Role.Worker, unbonding);
        }
        Receipt memory a = receipt(REQUEST, RIGHT);
        Receipt memory b = receipt(REQUEST, WRONG);
        coordinator.slashEquivocation(a, signReceipt(key, a), b, signReceipt(key, b));
        Stake memory stake = coordinator.stakeOf(Role.Worker, w);
        uint256 left = uint256(stake.bonded) + stake.unbonding;
        vm.assertEq(left, bonded - bonded * p.slashBps / 10_000, "exactly slashBps of the stake");
        assertAccounted();
    }

    function test_an_unbonding_validator_stops_counting_at_once() public {
        Receipt memory r = receipt(REQUEST, WRONG);
        bytes memory sig = signReceipt(workerKey, r);
        bytes[] memory attestations = new bytes[](1);
        attestations[0] = attest(validatorKey, REQUEST, RIGHT);
        vm.prank(validator);
        coordinator.requestUnbond(Role.Validator, 60 * USDC);
        vm.expectRevert(abi.encodeWithSelector(Disputes.QuorumNotReached.selector, 0, 1));
        coordinator.slashWrongResult(r, sig, RIGHT, attestations);
        // Bonding back above the minimum counts again.
        fund(validator, 10 * USDC);
        bondRole(Role.Validator, validator, 10 * USDC);
        coordinator.slashWrongResult(r, sig, RIGHT, attestations);
    }

    function test_a_slash_takes_only_the_worker_stake() public {
        // The worker is also a validator and a gateway; only its Worker stake answers for receipts.
        bondRole(Role.Validator, worker, 50 * USDC);
        fund(worker, GATEWAY_BOND);
        bondRole(Role.Gateway, worker, GATEWAY_BOND);
        Receipt memory a = receipt(REQUEST, RIGHT);
        Receipt memory b = receipt(REQUEST, WRONG);
        coordinator.slashEquivocation(a, signReceipt(workerKey, a), b, signReceipt(workerKey, b));
        vm.assertEq(coordinator.stakeOf(Role.Worker, worker).bonded, 100 * USDC, "worker stake halved");
        vm.assertEq(coordinator.stakeOf(Role.Validator, worker).bonded, 50 * USDC, "validator stake untouched");
        vm.assertEq(coordinator.stakeOf(Role.Gateway, worker).bonded, GATEWAY_BOND, "gateway stake untouched");
        assertAccounted();
    }

    function test_a_worker_with_only_other_stakes_cannot_be_slashed() public {
        uint256 key = 0x7778;
        address w = vm.addr(key);
        fund(w, 50 * USDC);
        bondRole(Role.Validator, w, 50 * USDC);
        Receipt memory a = receipt(REQUEST, RIGHT);
        Receipt memory b = receipt(REQUEST, WRONG);
        (bytes memory sigA, bytes memory sigB) = (signReceipt(key, a), signReceipt(key, b));
        vm.expectRevert(abi.encodeWithSelector(Disputes.NotBonded.selector, w));
        coordinator.slashEquivocation(a, sigA, b, sigB);
    }

    /// Attestations of `result` for REQUEST by two keys, sorted by signer address.
    function _ascending(uint256 a, uint256 b, bytes32 result) internal view returns (bytes[] memory sigs) {
        (uint256 lo, uint256 hi) = vm.addr(a) < vm.addr(b) ? (a, b) : (b, a);
        sigs = new bytes[](2);
        sigs[0] = attest(lo, REQUEST, result);
        sigs[1] = attest(hi, REQUEST, result);
    }

    function _quorum(uint8 q) internal pure returns (Params memory p) {
        p = defaultParams();
        p.validatorQuorum = q;
    }
}
