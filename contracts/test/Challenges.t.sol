// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

import {ExecutionCoordinator as EC} from "../src/ExecutionCoordinator.sol";
import {Challenge, ChallengeState, Receipt, Role, Stake, WorkerLeaf} from "../src/Types.sol";
import {Fixture} from "./lib/Fixture.sol";
import {Merkle} from "./lib/Merkle.sol";

/// Gateway fraud proofs: a challenger proves a receipt leaf in an anchored epoch; the gateway
/// shows the worker's signature of it or is slashed.
contract ChallengesTest is Fixture {
    /// `worker` served `owner` four receipts: it won the first two calls and lost the other two
    /// with the accepted result (assists). It signed three; the gateway made up the fourth (an
    /// assist).
    Receipt[] internal receipts;
    bytes[] internal sigs;
    bytes32[] internal receiptLeaves;
    WorkerLeaf[] internal leaves;
    bytes32[] internal leafHashes;
    uint256 internal constant FABRICATED = 3;
    /// Receipts from here on are assists.
    uint256 internal constant FIRST_ASSIST = 2;

    function setUp() public override {
        super.setUp();
        for (uint256 i; i < 4; ++i) {
            Receipt memory r = receipt(keccak256(abi.encode("request", i)), keccak256(abi.encode("result", i)));
            receipts.push(r);
            sigs.push(i == FABRICATED ? bytes("") : signReceipt(workerKey, r));
            receiptLeaves.push(keccak256(bytes.concat(receiptHashOf(worker, r))));
        }
        leaves.push(
            WorkerLeaf({
                worker: worker,
                owner: owner,
                requests: 2,
                assists: 2,
                fuel: 4 * 12_345,
                receiptsRoot: Merkle.root(receiptLeaves)
            })
        );
        leaves.push(leafOf(otherWorker, owner, 2));
        leaves.push(leafOf(otherWorker, otherOwner, 5));
        anchorLeaves(gateway, 0, leaves);
        leafHashes = hashLeaves(leaves);
    }

    /// `receiptHash(worker, r)`, computed here.
    function receiptHashOf(address who, Receipt memory r) internal pure returns (bytes32) {
        return keccak256(abi.encode(r.requestId, keccak256(abi.encode(r.resultHash, who)), r.fuelUsed, r.bundle));
    }

    function challengeReceiptAt(uint256 i) internal returns (bytes32 id) {
        vm.prank(challenger);
        id = coordinator.challengeReceipt(
            gateway,
            0,
            leaves[0],
            Merkle.proof(leafHashes, 0),
            receiptHashOf(worker, receipts[i]),
            Merkle.proof(receiptLeaves, i)
        );
    }

    function answer(bytes32 id, uint256 i) internal {
        vm.prank(gateway);
        coordinator.answerChallenge(id, receipts[i], sigs[i]);
    }

    function test_an_answered_challenge_pays_the_deposit_to_the_gateway() public {
        bytes32 expected = coordinator.challengeId(gateway, 0, worker, receiptLeaves[1]);
        vm.assertEq(expected, keccak256(abi.encode(gateway, uint64(0), worker, receiptLeaves[1])), "id");
        uint64 answerBy = uint64(block.timestamp) + 1 days;
        vm.expectEmit(address(coordinator));
        emit EC.ReceiptChallenged(expected, gateway, 0, worker, receiptLeaves[1], challenger, answerBy);
        bytes32 id = challengeReceiptAt(1);
        vm.assertEq(id, expected, "returned id");
        vm.assertEq(usdc.balanceOf(challenger), 1_000 * USDC - DEPOSIT, "deposit taken");
        vm.assertEq(coordinator.totalDeposits(), DEPOSIT, "held");
        vm.assertEq(coordinator.openChallengesOf(gateway), 1, "open against the gateway");
        vm.assertEq(coordinator.anchorOf(gateway, 0).openChallenges, 1, "open on the anchor");
        Challenge memory c = coordinator.challengeOf(id);
        vm.assertTrue(c.state == ChallengeState.Open, "open");
        vm.assertEq(c.answerBy, answerBy, "answer by");
        assertAccounted();

        // Claims on the anchor wait for the answer.
        vm.expectRevert(abi.encodeWithSelector(EC.AnchorChallenged.selector, gateway, 0));
        coordinator.claim(gateway, 0, leaves[1], Merkle.proof(leafHashes, 1));

        vm.expectEmit(address(coordinator));
        emit EC.ChallengeAnswered(id, gateway, DEPOSIT);
        answer(id, 1);
        vm.assertEq(usdc.balanceOf(gateway), DEPOSIT, "griefing costs the challenger");
        vm.assertTrue(coordinator.challengeOf(id).state == ChallengeState.Answered, "answered");
        vm.assertEq(coordinator.openChallengesOf(gateway), 0, "closed");
        vm.assertEq(coordinator.totalDeposits(), 0, "paid out");
        vm.assertEq(coordinator.stakeOf(Role.Gateway, gateway).bonded, GATEWAY_BOND, "not slashed");
        claimLeaf(gateway, 0, leaves, 1);
        assertAccounted();

        // The same receipt cannot be challenged again, nor the answered challenge upheld.
        vm.prank(challenger);
        vm.expectRevert(abi.encodeWithSelector(EC.AlreadyChallenged.selector, id));
        coordinator.challengeReceipt(
            gateway, 0, leaves[0], Merkle.proof(leafHashes, 0), receiptHashOf(worker, receipts[1]), receiptProof(1)
        );
        vm.warp(answerBy);
        vm.expectRevert(abi.encodeWithSelector(EC.ChallengeNotOpen.selector, id));
        coordinator.slashGateway(id);
    }

    function receiptProof(uint256 i) internal view returns (bytes32[] memory) {
        return Merkle.proof(receiptLeaves, i);
    }

    /// An assist's receipt is in the leaf's receipts tree like a won one, so a challenge can name
    /// it and the gateway answers it the same way.
    function test_an_assisted_receipt_is_challenged_like_a_won_one() public {
        bytes32 id = challengeReceiptAt(FIRST_ASSIST);
        vm.assertEq(coordinator.challengeOf(id).receiptLeaf, receiptLeaves[FIRST_ASSIST], "the assist named");
        answer(id, FIRST_ASSIST);
        vm.assertTrue(coordinator.challengeOf(id).state == ChallengeState.Answered, "answered");
        vm.assertEq(claimLeaf(gateway, 0, leaves, 0), 2 * RATE + 2 * ASSIST_RATE, "wins and assists paid");
        assertAccounted();
    }

    function test_anyone_may_answer_for_the_gateway() public {
        bytes32 id = challengeReceiptAt(0);
        vm.prank(worker);
        coordinator.answerChallenge(id, receipts[0], sigs[0]);
        vm.assertEq(usdc.balanceOf(gateway), DEPOSIT, "still the gateway's deposit");
    }

    function test_an_unanswered_challenge_slashes_the_gateway() public {
        // A claim before the challenge stays paid.
        claimLeaf(gateway, 0, leaves, 2);
        bytes32 id = challengeReceiptAt(FABRICATED);
        uint64 answerBy = coordinator.challengeOf(id).answerBy;
        vm.warp(answerBy - 1);
        vm.expectRevert(abi.encodeWithSelector(EC.AnswerWindowOpen.selector, answerBy));
        coordinator.slashGateway(id);
        vm.warp(answerBy);

        uint256 treasuryBefore = coordinator.treasury();
        // 2 + 2 requests of `owner` and their assists, the assists of `otherOwner`'s claimed 5.
        uint256 unclaimed = 4 * RESERVE + 5 * ASSISTS * ASSIST_RATE;
        vm.assertEq(coordinator.reservedOf(gateway, 0), unclaimed, "reserved before");
        uint256 slash = GATEWAY_BOND / 2;
        uint256 reward = slash / 5;
        vm.expectEmit(address(coordinator));
        emit EC.RewardsReleased(gateway, 0, unclaimed);
        vm.expectEmit(address(coordinator));
        emit EC.GatewaySlashed(gateway, 0, id, slash, challenger, reward);
        vm.prank(address(0xDEAD)); // anyone may uphold it
        coordinator.slashGateway(id);

        vm.assertEq(coordinator.stakeOf(Role.Gateway, gateway).bonded, GATEWAY_BOND - slash, "slashBps of the stake");
        vm.assertFalse(coordinator.isGateway(gateway), "below the minimum now");
        vm.assertEq(usdc.balanceOf(challenger), 1_000 * USDC + reward, "deposit back plus challengerBps");
        vm.assertEq(coordinator.treasury(), treasuryBefore + slash - reward + unclaimed, "rest to the treasury");
        vm.assertEq(coordinator.reservedOf(gateway, 0), 0, "reservation returned");
        vm.assertTrue(coordinator.anchorOf(gateway, 0).fraudulent, "marked");
        vm.assertTrue(coordinator.challengeOf(id).state == ChallengeState.Upheld, "upheld");
        vm.assertEq(coordinator.openChallengesOf(gateway), 0, "closed");
        assertAccounted();

        // Nothing more is paid for the anchor.
        vm.expectRevert(abi.encodeWithSelector(EC.AnchorFraudulent.selector, gateway, 0));
        claimLeaf(gateway, 0, leaves, 1);
        vm.warp(block.timestamp + 30 days);
        coordinator.release(gateway, 0);
        vm.assertEq(coordinator.treasury(), treasuryBefore + slash - reward + unclaimed, "released once");
    }

    function test_a_wrong_answer_reverts() public {
        bytes32 id = challengeReceiptAt(FABRICATED);
        // The right receipt, signed by someone else.
        bytes memory foreign = signReceipt(otherWorkerKey, receipts[FABRICATED]);
        vm.expectRevert(abi.encodeWithSelector(EC.NotSignedByWorker.selector, worker, otherWorker));
        coordinator.answerChallenge(id, receipts[FABRICATED], foreign);
        // A garbage signature.
        vm.expectRevert(abi.encodeWithSelector(ECDSA.ECDSAInvalidSignatureLength.selector, 0));
        coordinator.answerChallenge(id, receipts[FABRICATED], sigs[FABRICATED]);
        // Another receipt the worker did sign is not the challenged one.
        vm.expectRevert(EC.AnswerMismatch.selector);
        coordinator.answerChallenge(id, receipts[0], sigs[0]);
        // The challenged receipt with another result (signed) is another leaf.
        Receipt memory altered = receipts[FABRICATED];
        altered.resultHash = keccak256("other");
        bytes memory alteredSig = signReceipt(workerKey, altered);
        vm.expectRevert(EC.AnswerMismatch.selector);
        coordinator.answerChallenge(id, altered, alteredSig);
        vm.assertTrue(coordinator.challengeOf(id).state == ChallengeState.Open, "still open");

        // Too late, even with a real signature.
        Receipt memory signedLate = receipts[0];
        bytes32 lateId = challengeReceiptAt(0);
        vm.warp(coordinator.challengeOf(lateId).answerBy);
        vm.expectRevert(abi.encodeWithSelector(EC.AnswerWindowClosed.selector, uint64(block.timestamp)));
        coordinator.answerChallenge(lateId, signedLate, sigs[0]);
    }

    function test_one_slash_per_anchor() public {
        // Two challenges of one anchor, both left unanswered.
        bytes32 first = challengeReceiptAt(FABRICATED);
        bytes32 second = challengeReceiptAt(2);
        vm.warp(coordinator.challengeOf(first).answerBy);
        coordinator.slashGateway(first);
        uint256 left = coordinator.stakeOf(Role.Gateway, gateway).bonded;

        vm.expectRevert(abi.encodeWithSelector(EC.ChallengeNotOpen.selector, first));
        coordinator.slashGateway(first);
        // Another unanswered challenge of the same (fraudulent) anchor only gets its deposit back.
        uint256 before = usdc.balanceOf(challenger);
        vm.expectEmit(address(coordinator));
        emit EC.ChallengeRefunded(second, challenger, DEPOSIT);
        coordinator.slashGateway(second);
        vm.assertEq(usdc.balanceOf(challenger), before + DEPOSIT, "refunded");
        vm.assertEq(coordinator.stakeOf(Role.Gateway, gateway).bonded, left, "slashed once");
        // And nobody challenges the anchor any more.
        vm.prank(challenger);
        vm.expectRevert(abi.encodeWithSelector(EC.AnchorFraudulent.selector, gateway, 0));
        coordinator.challengeReceipt(
            gateway, 0, leaves[0], Merkle.proof(leafHashes, 0), receiptHashOf(worker, receipts[0]), receiptProof(0)
        );
        assertAccounted();
    }

    function test_challenges_after_the_window_are_refused() public {
        uint64 closesAt = coordinator.anchorOf(gateway, 0).anchoredAt + 1 days;
        vm.warp(closesAt);
        vm.prank(challenger);
        vm.expectRevert(abi.encodeWithSelector(EC.ChallengeWindowClosed.selector, closesAt));
        coordinator.challengeReceipt(
            gateway,
            0,
            leaves[0],
            Merkle.proof(leafHashes, 0),
            receiptHashOf(worker, receipts[FABRICATED]),
            receiptProof(FABRICATED)
        );
    }

    function test_a_challenge_needs_both_proofs() public {
        bytes32 fabricated = receiptHashOf(worker, receipts[FABRICATED]);
        bytes32[] memory workerProof = Merkle.proof(leafHashes, 0);
        bytes32[] memory proof = receiptProof(FABRICATED);
        vm.startPrank(challenger);
        vm.expectRevert(abi.encodeWithSelector(EC.UnknownAnchor.selector, gateway, 1));
        coordinator.challengeReceipt(gateway, 1, leaves[0], workerProof, fabricated, proof);
        // A worker leaf that is not in the anchored root.
        vm.expectRevert(EC.InvalidProof.selector);
        coordinator.challengeReceipt(gateway, 0, leaves[1], workerProof, fabricated, proof);
        // A receipt that is not in the worker's receipts tree.
        vm.expectRevert(EC.InvalidProof.selector);
        coordinator.challengeReceipt(gateway, 0, leaves[0], workerProof, keccak256("not there"), proof);
        // The leaf itself instead of its inner hash.
        vm.expectRevert(EC.InvalidProof.selector);
        coordinator.challengeReceipt(gateway, 0, leaves[0], workerProof, receiptLeaves[FABRICATED], proof);
        // An inner node of the receipts tree cannot pass for a receipt, so an honest gateway is
        // never asked for a signature that cannot exist.
        bytes32 inner = Merkle.hashPair(receiptLeaves[0], receiptLeaves[1]);
        bytes32[] memory shortProof = new bytes32[](1);
        shortProof[0] = Merkle.hashPair(receiptLeaves[2], receiptLeaves[3]);
        vm.assertEq(Merkle.hashPair(inner, shortProof[0]), leaves[0].receiptsRoot, "inner node under the root");
        vm.expectRevert(EC.InvalidProof.selector);
        coordinator.challengeReceipt(gateway, 0, leaves[0], workerProof, inner, shortProof);
        vm.stopPrank();
        vm.assertEq(coordinator.totalDeposits(), 0, "no challenge opened");
    }

    function test_a_challenged_gateway_cannot_leave_and_stays_slashable() public {
        // The gateway tries to run: it unbonds everything right after anchoring.
        vm.prank(gateway);
        coordinator.requestUnbond(Role.Gateway, GATEWAY_BOND);
        bytes32 id = challengeReceiptAt(FABRICATED);
        vm.warp(block.timestamp + 7 days);
        vm.prank(gateway);
        vm.expectRevert(abi.encodeWithSelector(EC.UnderChallenge.selector, gateway, 1));
        coordinator.withdraw(Role.Gateway);

        coordinator.slashGateway(id);
        Stake memory stake = coordinator.stakeOf(Role.Gateway, gateway);
        vm.assertEq(stake.unbonding, GATEWAY_BOND / 2, "slashed from the unbonding stake");
        vm.prank(gateway);
        coordinator.withdraw(Role.Gateway);
        vm.assertEq(usdc.balanceOf(gateway), GATEWAY_BOND / 2, "the rest leaves");
        assertAccounted();
    }

    function test_a_challenge_cannot_reach_stake_that_already_left() public {
        // Anchor with the bond, unbond, wait out the delay: by then the challenge window (at most
        // the delay) is over, so a challenge that could still be opened would find the stake.
        vm.prank(gateway);
        coordinator.requestUnbond(Role.Gateway, GATEWAY_BOND);
        vm.warp(block.timestamp + 7 days);
        vm.prank(gateway);
        coordinator.withdraw(Role.Gateway);
        uint64 closedAt = coordinator.anchorOf(gateway, 0).anchoredAt + 1 days;
        vm.prank(challenger);
        vm.expectRevert(abi.encodeWithSelector(EC.ChallengeWindowClosed.selector, closedAt));
        coordinator.challengeReceipt(
            gateway,
            0,
            leaves[0],
            Merkle.proof(leafHashes, 0),
            receiptHashOf(worker, receipts[FABRICATED]),
            receiptProof(FABRICATED)
        );
    }

    function test_slashing_needs_an_open_challenge() public {
        vm.expectRevert(abi.encodeWithSelector(EC.ChallengeNotOpen.selector, bytes32(uint256(7))));
        coordinator.slashGateway(bytes32(uint256(7)));
        vm.expectRevert(abi.encodeWithSelector(EC.ChallengeNotOpen.selector, bytes32(uint256(7))));
        coordinator.answerChallenge(bytes32(uint256(7)), receipts[0], sigs[0]);
    }

    function test_a_gateway_slashed_for_one_anchor_keeps_its_others() public {
        // A second, honest epoch.
        WorkerLeaf[] memory next = one(leafOf(otherWorker, owner, 2));
        anchorLeaves(gateway, 1, next);
        bytes32 id = challengeReceiptAt(FABRICATED);
        vm.warp(coordinator.challengeOf(id).answerBy);
        coordinator.slashGateway(id);
        vm.assertFalse(coordinator.anchorOf(gateway, 1).fraudulent, "the other anchor stands");
        vm.assertEq(claimLeaf(gateway, 1, next, 0), 2 * RATE, "and pays");
    }

    function testFuzz_a_gateway_that_answers_is_never_slashed(uint8 pick, uint32 delay) public {
        uint256 i = bound(pick, 0, FABRICATED - 1);
        vm.warp(block.timestamp + bound(delay, 0, 1 days - 1));
        bytes32 id = challengeReceiptAt(i);
        vm.warp(block.timestamp + bound(delay, 0, 1 days - 1));
        answer(id, i);
        vm.warp(block.timestamp + 2 days);
        vm.expectRevert(abi.encodeWithSelector(EC.ChallengeNotOpen.selector, id));
        coordinator.slashGateway(id);
        vm.assertEq(coordinator.stakeOf(Role.Gateway, gateway).bonded, GATEWAY_BOND, "untouched");
        vm.assertTrue(coordinator.isGateway(gateway), "still a gateway");
        assertAccounted();
    }
}
