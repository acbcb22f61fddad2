// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Budgets} from "../src/Budgets.sol";
import {ExecutionCoordinator as EC} from "../src/ExecutionCoordinator.sol";
import {OwnerUsage, Params, Role, WorkerLeaf} from "../src/Types.sol";
import {Fixture} from "./lib/Fixture.sol";
import {Merkle} from "./lib/Merkle.sol";

contract BudgetsTest is Fixture {
    function setUp() public override {
        super.setUp();
        fund(otherGateway, GATEWAY_BOND);
        bondRole(Role.Gateway, otherGateway, GATEWAY_BOND);
    }

    function setBudgets(uint32 perOwner, uint32 perGateway) internal {
        Params memory p = defaultParams();
        p.ownerBudgetPerEpoch = perOwner;
        p.gatewayBudgetPerEpoch = perGateway;
        vm.prank(admin);
        coordinator.setParams(p);
    }

    function test_an_owner_over_budget_across_two_gateways() public {
        setBudgets(10, 1_000);
        WorkerLeaf[] memory first = one(leafOf(worker, owner, 6));
        anchorLeaves(gateway, 0, first);
        vm.assertEq(coordinator.fundedOf(owner, 0), 6, "fully funded");

        // The second gateway's 7 requests of the same owner in the same epoch: 4 left.
        WorkerLeaf[] memory second = one(leafOf(otherWorker, owner, 7));
        bytes32 root = Merkle.root(hashLeaves(second));
        vm.expectEmit(address(coordinator));
        emit Budgets.OverBudget(otherGateway, 0, owner, 7, 4);
        vm.expectEmit(address(coordinator));
        emit EC.RequestsAnchored(otherGateway, 0, root, 7, 4);
        vm.prank(otherGateway);
        coordinator.anchor(0, root, usageFor(second));
        vm.assertEq(coordinator.fundedOf(owner, 0), 10, "the owner's budget, no more");
        vm.assertEq(coordinator.usageOf(otherGateway, 0, owner).funded, 4, "recorded per gateway");
        vm.assertEq(coordinator.totalReserved(), 10 * RESERVE, "only funded requests reserved");

        vm.assertEq(claimLeaf(otherGateway, 0, second, 0), 4 * RATE, "claim capped by the funded count");
        vm.assertEq(claimLeaf(gateway, 0, first, 0), 6 * RATE, "the first gateway's leaf in full");

        // A new epoch is a new budget.
        anchorLeaves(otherGateway, 1, second);
        vm.assertEq(coordinator.fundedOf(owner, 1), 7, "fresh budget");
        assertAccounted();
    }

    function test_the_gateway_cap_binds_across_owners() public {
        setBudgets(1_000, 10);
        WorkerLeaf[] memory leaves = two(leafOf(worker, owner, 6), leafOf(otherWorker, otherOwner, 7));
        bytes32 root = Merkle.root(hashLeaves(leaves));
        endEpoch(0);
        // Owners are funded in the usage's (address) order: `owner` first.
        vm.expectEmit(address(coordinator));
        emit Budgets.OverBudget(gateway, 0, otherOwner, 7, 4);
        vm.expectEmit(address(coordinator));
        emit EC.RequestsAnchored(gateway, 0, root, 13, 10);
        vm.prank(gateway);
        coordinator.anchor(0, root, usageFor(leaves));
        vm.assertEq(coordinator.anchorOf(gateway, 0).funded, 10, "the gateway's cap");
        vm.assertEq(coordinator.anchorOf(gateway, 0).count, 13, "all anchored");
        vm.assertEq(coordinator.fundedOf(otherOwner, 0), 4, "what the cap left");

        // The cap is per gateway: another gateway funds its own 10 in the same epoch.
        anchorLeaves(otherGateway, 0, leaves);
        vm.assertEq(coordinator.anchorOf(otherGateway, 0).funded, 10, "another gateway, another cap");
        vm.assertEq(coordinator.fundedOf(owner, 0), 12, "owner funded by both");
        assertAccounted();
    }

    function test_claims_are_capped_by_the_funded_count() public {
        setBudgets(5, 1_000);
        WorkerLeaf[] memory leaves = two(leafOf(worker, owner, 3), leafOf(otherWorker, owner, 4));
        anchorLeaves(gateway, 0, leaves);
        // First come, first served: the second claim gets what is left.
        vm.assertEq(claimLeaf(gateway, 0, leaves, 1), 4 * RATE, "first claim");
        vm.expectEmit(address(coordinator));
        emit EC.RewardClaimed(worker, gateway, 0, owner, 3, 1, 0, 0, RATE);
        vm.assertEq(claimLeaf(gateway, 0, leaves, 0), RATE, "what is left");
        vm.assertEq(coordinator.usageOf(gateway, 0, owner).claimed, 5, "never more than funded");
        vm.assertEq(coordinator.reservedOf(gateway, 0), 5 * ASSISTS * ASSIST_RATE, "wins used up");
        assertAccounted();
    }

    function test_a_zero_budget_funds_nothing() public {
        setBudgets(0, 1_000);
        WorkerLeaf[] memory leaves = one(leafOf(worker, owner, 3));
        uint256 treasuryBefore = coordinator.treasury();
        anchorLeaves(gateway, 0, leaves);
        vm.assertEq(coordinator.anchorOf(gateway, 0).funded, 0, "nothing funded");
        vm.assertEq(coordinator.anchorOf(gateway, 0).count, 3, "still anchored");
        vm.assertEq(coordinator.treasury(), treasuryBefore, "nothing reserved");
        vm.assertEq(claimLeaf(gateway, 0, leaves, 0), 0, "nothing paid");
    }

    function test_a_lowered_budget_funds_nothing_more() public {
        setBudgets(10, 1_000);
        anchorLeaves(gateway, 0, one(leafOf(worker, owner, 8)));
        setBudgets(5, 1_000);
        anchorLeaves(otherGateway, 0, one(leafOf(otherWorker, owner, 8)));
        vm.assertEq(coordinator.usageOf(otherGateway, 0, owner).funded, 0, "already above the new budget");
        vm.assertEq(coordinator.fundedOf(owner, 0), 8, "unchanged");
    }

    function testFuzz_budgets_are_never_exceeded(uint32 perOwner, uint32 perGateway, uint256 seed) public {
        perOwner = uint32(bound(perOwner, 0, 200));
        perGateway = uint32(bound(perGateway, 0, 300));
        setBudgets(perOwner, perGateway);
        address[3] memory owners = [owner, otherOwner, address(0x0E3)];
        address[2] memory gateways = [gateway, otherGateway];
        for (uint256 g; g < 2; ++g) {
            OwnerUsage[] memory usage = new OwnerUsage[](3);
            for (uint256 o; o < 3; ++o) {
                usage[o] = OwnerUsage(owners[o], uint32(bound(uint256(keccak256(abi.encode(seed, g, o))), 1, 150)));
            }
            endEpoch(0);
            vm.prank(gateways[g]);
            coordinator.anchor(0, bytes32(uint256(1)), usage);
            uint256 fundedHere;
            for (uint256 o; o < 3; ++o) {
                uint256 f = coordinator.usageOf(gateways[g], 0, owners[o]).funded;
                vm.assertLe(f, usage[o].requests, "funded <= anchored");
                fundedHere += f;
            }
            vm.assertEq(fundedHere, coordinator.anchorOf(gateways[g], 0).funded, "anchor total");
            vm.assertLe(fundedHere, perGateway, "gateway budget");
        }
        for (uint256 o; o < 3; ++o) {
            uint256 sum = coordinator.usageOf(gateway, 0, owners[o]).funded
                + coordinator.usageOf(otherGateway, 0, owners[o]).funded;
            vm.assertEq(sum, coordinator.fundedOf(owners[o], 0), "owner total");
            vm.assertLe(sum, perOwner, "owner budget");
        }
        assertAccounted();
    }
}
