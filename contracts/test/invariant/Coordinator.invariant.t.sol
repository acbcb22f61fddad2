// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Anchor, Challenge, ChallengeState, Params, Role, Stake, Usage} from "../../src/Types.sol";
import {Fixture} from "../lib/Fixture.sol";
import {Handler} from "./Handler.sol";

/// @notice Properties that hold after any sequence of calls by any of the coordinator's users.
contract CoordinatorInvariants is Fixture {
    Handler internal handler;
    /// Small budgets, so they bind in most campaigns.
    uint32 internal constant OWNER_BUDGET = 8;
    uint32 internal constant GATEWAY_BUDGET = 12;

    function setUp() public override {
        super.setUp();
        Params memory p = defaultParams();
        p.ownerBudgetPerEpoch = OWNER_BUDGET;
        p.gatewayBudgetPerEpoch = GATEWAY_BUDGET;
        vm.prank(admin);
        coordinator.setParams(p);
        handler = new Handler(usdc, coordinator, admin, [gateway, otherGateway], validatorKey, payerKey);
        vm.startPrank(admin);
        for (uint256 i; i < 3; ++i) {
            (address w,) = handler.workerAt(i);
            usdc.mint(w, 1_000 * USDC);
        }
        usdc.mint(gateway, 1_000_000 * USDC);
        usdc.mint(otherGateway, 10_000 * USDC);
        usdc.mint(validator, 1_000 * USDC);
        usdc.mint(handler.sybil(), 1_000 * USDC);
        usdc.mint(payer, 1_000_000 * USDC);
        usdc.mint(handler.challenger(), 1_000_000 * USDC);
        vm.stopPrank();
        vm.prank(otherGateway);
        usdc.approve(address(coordinator), type(uint256).max);
        bondRole(Role.Gateway, otherGateway, GATEWAY_BOND);
        // The fixture's validator is approved; so is the worker that also validates. The Sybil
        // bonds like any validator but is never approved.
        approveValidator(handler.accountAt(Role.Validator, 1), true);
        bondRole(Role.Validator, handler.sybil(), 100 * USDC);
        targetContract(address(handler));
    }

    /// The handler's actions do reach slashes, settlements, replays, claims, answered and
    /// upheld challenges and binding budgets.
    function test_handler_reaches_every_outcome() public {
        handler.bond(0, 0, 500 * USDC);
        handler.bond(0, 1, 500 * USDC);
        handler.dispute(0, 1, true, true); // a cheater equivocates: slashed
        handler.dispute(1, 2, false, true); // an honest worker: not slashed
        handler.dispute(0, 3, true, false); // a cheater caught by a validator: slashed
        handler.dispute(1, 4, false, false); // an honest worker, the Sybil against it: not slashed
        vm.assertEq(handler.slashes(), 2, "both cheats slashed, nobody else");
        vm.assertEq(handler.sybilAttempts(), 2, "the bonded Sybil attested falsely twice");
        vm.assertFalse(handler.sybilCounted(), "and never counted");
        handler.settle(1_000, 7, false, false);
        handler.settle(1_000, 7, true, true); // a replay of the same nonce
        vm.assertEq(handler.maxSettlements(), 1, "settled once");
        vm.assertGt(coordinator.credits(address(0x0E1)), 0, "owner credited");

        handler.anchor(1, 0, false); // honest
        handler.anchor(2, 1, true); // with a made-up receipt
        vm.assertEq(handler.anchorCount(), 2, "both anchored");
        handler.challenge(0, 5, false); // answered at once
        vm.assertEq(handler.answers(), 1, "answered");
        handler.challenge(1, 5, true); // cannot be answered
        handler.slashGateway(1); // too early
        vm.assertEq(handler.gatewaySlashes(), 0, "waits for the answer window");
        handler.wait(2 days);
        handler.slashGateway(0); // the answered one: refused
        handler.slashGateway(1);
        vm.assertEq(handler.gatewaySlashes(), 1, "the fabricating gateway slashed, once");
        for (uint256 i; i < 9; ++i) {
            handler.claim(0, i);
        }
        vm.assertGt(handler.claims(), 0, "claims paid");
        handler.anchor(3, 0, false);
        handler.anchor(4, 1, false);
        handler.anchor(5, 0, false);
        vm.assertGt(handler.overBudget(), 0, "a budget bound");
        for (uint256 a = 2; a < 5; ++a) {
            for (uint256 i; i < 9; ++i) {
                handler.claim(a, i);
            }
        }
        vm.assertGt(handler.assistsPaid(), 0, "assists paid");
        vm.assertGt(handler.assistsCapped(), 0, "the assist cap bound");
        // Win rewards so high the treasury runs short: requests first, assists get the rest.
        handler.setRewards(2_000e6, 2_000e6, 3);
        handler.anchor(6, 0, false);
        vm.assertGt(handler.shortAssists(), 0, "the treasury could not fund every assist");
        invariant_token_is_conserved();
        invariant_budgets_are_never_exceeded();
        invariant_nobody_is_slashed_without_proof();
        invariant_deposits_add_up();
    }

    /// Every token the coordinator holds is in exactly one bucket.
    function invariant_token_is_conserved() public view {
        assertAccounted();
    }

    function invariant_each_payment_settles_at_most_once() public view {
        vm.assertLe(handler.maxSettlements(), 1, "a nonce settled twice");
    }

    /// Workers are slashed only for receipts they signed wrong or twice; gateways only for
    /// receipts no worker signed; real signatures always answer, forged ones never do.
    function invariant_nobody_is_slashed_without_proof() public view {
        vm.assertFalse(handler.unjustSlash(), "an honest worker was slashed");
        vm.assertFalse(handler.sybilCounted(), "an unapproved validator's attestation counted");
        vm.assertFalse(handler.unjustGatewaySlash(), "a gateway that answered was slashed");
        vm.assertFalse(handler.honestAnswerFailed(), "a real signature did not answer");
        vm.assertFalse(handler.forgedAnswerAccepted(), "a forged signature answered");
        uint256 n = handler.anchorCount();
        for (uint256 i; i < n; ++i) {
            (address g, uint64 epoch, bool fabricated) = handler.anchors(i);
            if (!fabricated) vm.assertFalse(coordinator.anchorOf(g, epoch).fraudulent, "honest anchor marked");
        }
    }

    function invariant_bonds_cannot_leave_while_slashable() public view {
        vm.assertFalse(handler.earlyWithdrawal(), "a withdrawal beat its delay or an open challenge");
    }

    /// Funded requests stay within the owner's and the gateway's budgets, claims within what
    /// was funded, paid assists within `funded × assistsPerRequest` per owner and anchor, and
    /// the contract funds, reserves and pays exactly what the rules replayed by the handler say.
    function invariant_budgets_are_never_exceeded() public view {
        vm.assertFalse(handler.budgetMismatch(), "funded differs from the budget rules");
        vm.assertFalse(handler.rateMismatch(), "reserved differs from the reservation rule");
        vm.assertFalse(handler.claimMismatch(), "a claim paid other than its share");
        uint256 n = handler.anchorCount();
        for (uint256 i; i < n; ++i) {
            (address g, uint64 epoch,) = handler.anchors(i);
            Anchor memory a = coordinator.anchorOf(g, epoch);
            vm.assertLe(a.funded, GATEWAY_BUDGET, "gateway budget");
            vm.assertLe(a.funded, a.count, "funded <= anchored");
            vm.assertLe(a.claimedRequests, a.funded, "claimed <= funded");
            vm.assertLe(a.claimedAssists, uint256(a.funded) * a.assistsPerRequest, "assists <= cap");
            vm.assertLe(a.assistRate, a.rate, "an assist never pays more than a win");
            uint256 sum;
            uint256 assists;
            for (uint256 o; o < 3; ++o) {
                address owner_ = handler.ownerAt(o);
                Usage memory u = coordinator.usageOf(g, epoch, owner_);
                uint256 funded = u.funded;
                vm.assertLe(u.claimed, funded, "owner claims <= funded");
                vm.assertLe(u.assistsClaimed, funded * a.assistsPerRequest, "owner assists <= its cap");
                assists += u.assistsClaimed;
                sum += funded;
                vm.assertLe(coordinator.fundedOf(owner_, epoch), OWNER_BUDGET, "owner budget");
                vm.assertEq(coordinator.fundedOf(owner_, epoch), handler.modelFunded(owner_, epoch), "owner total");
            }
            vm.assertEq(sum, a.funded, "anchor funded == sum over owners");
            vm.assertEq(assists, a.claimedAssists, "anchor assists == sum over owners");
        }
    }

    /// The reserved total is exactly what the anchored epochs still hold.
    function invariant_reservations_add_up() public view {
        uint256 sum;
        uint256 n = handler.anchorCount();
        for (uint256 i; i < n; ++i) {
            (address g, uint64 epoch,) = handler.anchors(i);
            sum += coordinator.reservedOf(g, epoch);
        }
        vm.assertEq(sum, coordinator.totalReserved(), "reserved == sum of anchors");
    }

    /// Deposits held are exactly those of open challenges, counted per gateway.
    function invariant_deposits_add_up() public view {
        uint256 held;
        uint256[2] memory open;
        uint256 n = handler.challengeCount();
        for (uint256 i; i < n; ++i) {
            (bytes32 id,) = handler.challenges(i);
            Challenge memory c = coordinator.challengeOf(id);
            if (c.state != ChallengeState.Open) continue;
            held += c.deposit;
            open[c.gateway == gateway ? 0 : 1] += 1;
        }
        vm.assertEq(held, coordinator.totalDeposits(), "deposits == open challenges");
        vm.assertEq(open[0], coordinator.openChallengesOf(gateway), "open against the gateway");
        vm.assertEq(open[1], coordinator.openChallengesOf(otherGateway), "open against the other");
    }

    /// Stakes add up to the totals, role by role.
    function invariant_stakes_add_up() public view {
        for (uint8 r; r < 3; ++r) {
            Role role = Role(r);
            uint256 bonded;
            uint256 unbonding;
            uint256 accounts = role == Role.Gateway ? 2 : 3;
            for (uint256 i; i < accounts; ++i) {
                Stake memory stake = coordinator.stakeOf(role, handler.accountAt(role, i));
                bonded += stake.bonded;
                unbonding += stake.unbonding;
            }
            vm.assertEq(bonded, coordinator.totalBonded(role), "bonded");
            vm.assertEq(unbonding, coordinator.totalUnbonding(role), "unbonding");
        }
    }
}
