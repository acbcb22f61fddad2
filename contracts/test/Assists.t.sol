// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ExecutionCoordinator as EC} from "../src/ExecutionCoordinator.sol";
import {Anchor, Params, Role, WorkerLeaf} from "../src/Types.sol";
import {Fixture} from "./lib/Fixture.sol";
import {Merkle} from "./lib/Merkle.sol";

/// Assists: a racer that lost a call but delivered the accepted result in time is anchored with
/// it and paid `assistReward` per assist, at most `assistsPerRequest` assists per funded call of
/// the owner in that anchor.
contract AssistsTest is Fixture {
    /// A racer that only assisted (it won nothing for `owner`).
    address internal helper = address(0xA551);

    function setUp() public override {
        super.setUp();
        fund(otherGateway, GATEWAY_BOND);
        bondRole(Role.Gateway, otherGateway, GATEWAY_BOND);
    }

    function setParams(uint32 ownerBudget, uint256 assistReward, uint256 perRequest) internal {
        Params memory p = defaultParams();
        p.ownerBudgetPerEpoch = ownerBudget;
        // The tests pass small values.
        // forge-lint: disable-next-line(unsafe-typecast)
        p.assistReward = uint64(assistReward);
        // forge-lint: disable-next-line(unsafe-typecast)
        p.assistsPerRequest = uint8(perRequest);
        vm.prank(admin);
        coordinator.setParams(p);
    }

    function three(WorkerLeaf memory a, WorkerLeaf memory b, WorkerLeaf memory c)
        internal
        pure
        returns (WorkerLeaf[] memory list)
    {
        list = new WorkerLeaf[](3);
        (list[0], list[1], list[2]) = (a, b, c);
    }

    function test_assists_are_paid_at_the_assist_rate() public {
        WorkerLeaf[] memory leaves = three(
            assistLeafOf(worker, owner, 3, 2), assistLeafOf(otherWorker, owner, 2, 1), assistLeafOf(helper, owner, 0, 4)
        );
        bytes32 root = Merkle.root(hashLeaves(leaves));
        endEpoch(0);
        // The usage counts calls only: 5, each funding up to 2 assists.
        vm.expectEmit(address(coordinator));
        emit EC.RewardsReserved(gateway, 0, RATE, ASSIST_RATE, 5 * RESERVE);
        vm.prank(gateway);
        coordinator.anchor(0, root, usageFor(leaves));
        Anchor memory a = coordinator.anchorOf(gateway, 0);
        vm.assertEq(a.count, 5, "calls, not assists");
        vm.assertEq(a.assistRate, ASSIST_RATE, "assist rate");
        vm.assertEq(a.assistsPerRequest, ASSISTS, "assist cap");

        vm.expectEmit(address(coordinator));
        emit EC.RewardClaimed(worker, gateway, 0, owner, 3, 3, 2, 2, 3 * RATE + 2 * ASSIST_RATE);
        vm.assertEq(claimLeaf(gateway, 0, leaves, 0), 3 * RATE + 2 * ASSIST_RATE, "wins and assists");
        vm.assertEq(usdc.balanceOf(worker), 1_000 * USDC + 3 * RATE + 2 * ASSIST_RATE, "worker paid");
        // A racer that lost every call it ran still gets its assists.
        vm.assertEq(claimLeaf(gateway, 0, leaves, 2), 4 * ASSIST_RATE, "assists only");
        vm.assertEq(usdc.balanceOf(helper), 4 * ASSIST_RATE, "helper paid");
        vm.assertEq(claimLeaf(gateway, 0, leaves, 1), 2 * RATE + ASSIST_RATE, "the other worker");
        vm.assertEq(coordinator.usageOf(gateway, 0, owner).assistsClaimed, 7, "per owner");
        vm.assertEq(coordinator.anchorOf(gateway, 0).claimedAssists, 7, "per anchor");
        vm.assertEq(coordinator.reservedOf(gateway, 0), 3 * ASSIST_RATE, "10 assists funded, 7 paid");
        assertAccounted();
    }

    function test_assists_are_capped_per_owner_and_anchor() public {
        // `owner`: 2 funded calls fund 4 assists; the leaves claim 3 + 3. `otherOwner`: 1 call,
        // 2 assists, its own room.
        WorkerLeaf[] memory leaves = three(
            assistLeafOf(worker, owner, 1, 3),
            assistLeafOf(otherWorker, owner, 1, 3),
            assistLeafOf(worker, otherOwner, 1, 2)
        );
        anchorLeaves(gateway, 0, leaves);
        vm.assertEq(claimLeaf(gateway, 0, leaves, 0), RATE + 3 * ASSIST_RATE, "first come, first served");
        vm.expectEmit(address(coordinator));
        emit EC.RewardClaimed(otherWorker, gateway, 0, owner, 1, 1, 3, 1, RATE + ASSIST_RATE);
        vm.assertEq(claimLeaf(gateway, 0, leaves, 1), RATE + ASSIST_RATE, "what is left of the owner's room");
        vm.assertEq(coordinator.usageOf(gateway, 0, owner).assistsClaimed, 4, "funded x assistsPerRequest");
        vm.assertEq(claimLeaf(gateway, 0, leaves, 2), RATE + 2 * ASSIST_RATE, "another owner, another room");
        vm.assertEq(coordinator.reservedOf(gateway, 0), 0, "every funded assist paid, no more");

        // The same owner in another gateway's anchor of the same epoch has that anchor's room.
        WorkerLeaf[] memory other = one(assistLeafOf(otherWorker, owner, 1, 5));
        anchorLeaves(otherGateway, 0, other);
        vm.assertEq(claimLeaf(otherGateway, 0, other, 0), RATE + 2 * ASSIST_RATE, "capped in that anchor");
        assertAccounted();
    }

    function test_assists_are_not_paid_when_the_owner_is_over_budget() public {
        setParams(3, ASSIST_RATE, ASSISTS);
        anchorLeaves(gateway, 0, one(leafOf(worker, owner, 2)));
        // One call of the owner's budget is left: it funds 1 of the 3 calls and 2 of the 6 assists.
        WorkerLeaf[] memory partly = one(assistLeafOf(otherWorker, owner, 3, 6));
        anchorLeaves(otherGateway, 0, partly);
        vm.assertEq(coordinator.reservedOf(otherGateway, 0), RESERVE, "one funded call and its assists");
        vm.expectEmit(address(coordinator));
        emit EC.RewardClaimed(otherWorker, otherGateway, 0, owner, 3, 1, 6, 2, RATE + 2 * ASSIST_RATE);
        claimLeaf(otherGateway, 0, partly, 0);

        // Nothing of the owner funded: assists earn nothing either.
        setParams(0, ASSIST_RATE, ASSISTS);
        WorkerLeaf[] memory none = one(assistLeafOf(worker, owner, 2, 4));
        uint256 treasuryBefore = coordinator.treasury();
        anchorLeaves(gateway, 1, none);
        vm.assertEq(coordinator.treasury(), treasuryBefore, "nothing reserved");
        vm.expectEmit(address(coordinator));
        emit EC.RewardClaimed(worker, gateway, 1, owner, 2, 0, 4, 0, 0);
        vm.assertEq(claimLeaf(gateway, 1, none, 0), 0, "nothing paid");
        assertAccounted();
    }

    function test_release_returns_the_unclaimed_assist_reserve() public {
        WorkerLeaf[] memory leaves = two(assistLeafOf(worker, owner, 4, 3), assistLeafOf(helper, owner, 0, 2));
        anchorLeaves(gateway, 0, leaves);
        uint256 treasuryAfterAnchor = coordinator.treasury();
        vm.assertEq(claimLeaf(gateway, 0, leaves, 0), 4 * RATE + 3 * ASSIST_RATE, "claimed");
        // 8 assists funded, 3 paid; the helper never claims its 2.
        uint256 unclaimed = 5 * ASSIST_RATE;
        vm.assertEq(coordinator.reservedOf(gateway, 0), unclaimed, "the assists' rest");

        vm.warp(coordinator.anchorOf(gateway, 0).anchoredAt + 30 days);
        vm.expectEmit(address(coordinator));
        emit EC.RewardsReleased(gateway, 0, unclaimed);
        coordinator.release(gateway, 0);
        vm.assertEq(coordinator.treasury(), treasuryAfterAnchor + unclaimed, "back to the treasury");
        vm.assertEq(coordinator.totalReserved(), 0, "nothing reserved");
        assertAccounted();
    }

    function test_an_anchor_keeps_the_assist_terms_it_was_anchored_with() public {
        WorkerLeaf[] memory leaves = one(assistLeafOf(worker, owner, 2, 4));
        anchorLeaves(gateway, 0, leaves);
        setParams(1_000_000, 0, 0);
        vm.assertEq(claimLeaf(gateway, 0, leaves, 0), 2 * RESERVE, "paid at the anchored rate and cap");

        // Later anchors take the new terms: no assists funded, none reserved.
        uint256 treasuryBefore = coordinator.treasury();
        anchorLeaves(gateway, 1, leaves);
        vm.assertEq(coordinator.treasury(), treasuryBefore - 2 * RATE, "wins only");
        vm.assertEq(claimLeaf(gateway, 1, leaves, 0), 2 * RATE, "no assists paid");
        assertAccounted();
    }

    function test_a_short_treasury_funds_wins_first_then_assists() public {
        // 4 calls fund 4 wins (4 000) and 8 assists; 805 is left for them: 100 each, 5 stay.
        EC fresh = new EC(usdc, EPOCH, defaultParams(), admin);
        vm.startPrank(admin);
        usdc.approve(address(fresh), 4_805);
        fresh.fundTreasury(4_805);
        vm.stopPrank();
        fund(otherGateway, GATEWAY_BOND);
        vm.startPrank(otherGateway);
        usdc.approve(address(fresh), GATEWAY_BOND);
        fresh.bond(Role.Gateway, GATEWAY_BOND, nodeKeyOf(otherGateway));
        vm.warp(block.timestamp + EPOCH);
        WorkerLeaf[] memory leaves = one(assistLeafOf(worker, owner, 4, 8));
        vm.expectEmit(address(fresh));
        emit EC.RewardsReserved(otherGateway, 0, RATE, 100, 4_800);
        fresh.anchor(0, Merkle.root(hashLeaves(leaves)), usageFor(leaves));
        vm.stopPrank();
        vm.assertEq(fresh.treasury(), 5, "the remainder stays");
        uint256 paid = fresh.claim(otherGateway, 0, leaves[0], Merkle.proof(hashLeaves(leaves), 0));
        vm.assertEq(paid, 4_800, "the whole reservation");
        vm.assertEq(fresh.totalReserved(), 0, "nothing overdrawn");
    }

    /// Whatever the leaves, the budget and the cap: per owner, wins paid are min(claimed, funded)
    /// and assists paid min(claimed, funded x cap), and the anchor never pays out more than it
    /// reserved.
    function testFuzz_assists_stay_within_their_reservation(uint256 seed, uint32 ownerBudget, uint8 perRequest) public {
        ownerBudget = uint32(bound(ownerBudget, 0, 40));
        perRequest = uint8(bound(perRequest, 0, 4));
        setParams(ownerBudget, ASSIST_RATE, perRequest);
        (WorkerLeaf[] memory leaves, uint256[3] memory requests, uint256[3] memory assists) = randomLeaves(seed);
        anchorLeaves(gateway, 0, leaves);
        uint256 reserved = coordinator.reservedOf(gateway, 0);
        uint256 paid;
        for (uint256 k; k < leaves.length; ++k) {
            paid += claimLeaf(gateway, 0, leaves, k);
        }
        vm.assertLe(paid, reserved, "never more than reserved");
        uint256 expected;
        for (uint256 o; o < 3; ++o) {
            expected += fundedShare(owners()[o], requests[o], assists[o], perRequest);
        }
        vm.assertEq(paid, expected, "paid exactly the funded share");
        vm.warp(block.timestamp + 30 days);
        coordinator.release(gateway, 0);
        vm.assertEq(coordinator.totalReserved(), 0, "the rest released");
        assertAccounted();
    }

    function owners() internal view returns (address[3] memory) {
        return [owner, otherOwner, address(0x0E3)];
    }

    /// 3 to 12 leaves over three owners (each wins at least one call), with their sums per owner.
    function randomLeaves(uint256 seed)
        internal
        view
        returns (WorkerLeaf[] memory leaves, uint256[3] memory requests, uint256[3] memory assists)
    {
        leaves = new WorkerLeaf[](bound(seed, 3, 12));
        for (uint256 k; k < leaves.length; ++k) {
            uint256 draw = uint256(keccak256(abi.encode(seed, k)));
            uint256 o = k % 3;
            uint32 won = uint32(k < 3 ? 1 + draw % 8 : draw % 8);
            uint32 assisted = uint32((draw >> 8) % 12);
            // forge-lint: disable-next-line(unsafe-typecast)
            leaves[k] = assistLeafOf(address(uint160(0x1000 + k)), owners()[o], won, assisted);
            requests[o] += won;
            assists[o] += assisted;
        }
    }

    /// What all of `who`'s leaves together are paid: their wins up to its funded calls, their
    /// assists up to `funded × perRequest`; checks the assists recorded.
    function fundedShare(address who, uint256 requests, uint256 assists, uint256 perRequest)
        internal
        view
        returns (uint256)
    {
        uint256 funded = coordinator.usageOf(gateway, 0, who).funded;
        uint256 wins = requests < funded ? requests : funded;
        uint256 room = funded * perRequest;
        uint256 helped = assists < room ? assists : room;
        vm.assertEq(coordinator.usageOf(gateway, 0, who).assistsClaimed, helped, "assists paid");
        return wins * RATE + helped * ASSIST_RATE;
    }
}
