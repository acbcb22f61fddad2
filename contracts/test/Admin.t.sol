// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

import {ExecutionCoordinator as EC} from "../src/ExecutionCoordinator.sol";
import {Ledger} from "../src/Ledger.sol";
import {Params} from "../src/Types.sol";
import {Fixture} from "./lib/Fixture.sol";

contract AdminTest is Fixture {
    function test_only_the_admin_configures() public {
        address stranger = address(0x5757);
        Params memory p = defaultParams();
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, stranger));
        coordinator.setParams(p);
    }

    function test_params_are_bounded() public {
        Params[] memory bad = new Params[](17);
        for (uint256 i; i < bad.length; ++i) {
            bad[i] = defaultParams();
        }
        bad[0].protocolFeeBps = 10_001;
        bad[1].slashBps = 10_001;
        bad[2].challengerBps = 10_001;
        bad[3].validatorQuorum = 0;
        bad[4].claimWindow = 0;
        bad[5].claimWindow = 366 days;
        bad[6].unbondDelay = 366 days;
        bad[7].challengeWindow = 0;
        // A challenge must be possible while the stake it targets is still slashable.
        bad[8].challengeWindow = 7 days + 1;
        bad[9].answerWindow = 0;
        bad[10].answerWindow = 366 days;
        // Claims must outlast a challenge and its answer.
        bad[11].answerWindow = 29 days;
        bad[12].challengeDeposit = 0;
        bad[13].unbondDelay = 0;
        bad[14].anchorWindow = 0;
        bad[15].anchorWindow = 366 days;
        // An assist (a lost race) never pays more than a win.
        bad[16].assistReward = bad[16].rewardPerRequest + 1;
        vm.startPrank(admin);
        for (uint256 i; i < bad.length; ++i) {
            vm.expectRevert(Ledger.InvalidParams.selector);
            coordinator.setParams(bad[i]);
        }
        Params memory good = defaultParams();
        good.rewardPerRequest = 7;
        good.assistReward = 7; // as much as a win is allowed
        good.assistsPerRequest = 0;
        good.challengeWindow = 7 days;
        vm.expectEmit(address(coordinator));
        emit Ledger.ParamsUpdated(good);
        coordinator.setParams(good);
        vm.stopPrank();
        vm.assertEq(coordinator.params().rewardPerRequest, 7, "applied");
        vm.assertEq(coordinator.params().challengeWindow, 7 days, "applied");
        vm.assertEq(coordinator.params().assistReward, 7, "applied");
        vm.assertEq(coordinator.params().assistsPerRequest, 0, "applied");
    }

    function test_constructor_rejects_bad_params() public {
        Params memory p = defaultParams();
        p.challengeDeposit = 0;
        vm.expectRevert(Ledger.InvalidParams.selector);
        new EC(IERC20(address(usdc)), EPOCH, p, admin);
    }

    function test_constructor_rejects_a_zero_epoch() public {
        vm.expectRevert(Ledger.InvalidParams.selector);
        new EC(IERC20(address(usdc)), 0, defaultParams(), admin);
    }

    function test_admin_hands_over_in_two_steps() public {
        address next = address(0x1E7);
        vm.prank(admin);
        coordinator.transferOwnership(next);
        vm.assertEq(coordinator.owner(), admin, "not yet");
        vm.prank(next);
        coordinator.acceptOwnership();
        vm.assertEq(coordinator.owner(), next, "handed over");
    }

    function test_treasury_funding() public {
        vm.expectRevert(Ledger.ZeroAmount.selector);
        coordinator.fundTreasury(0);
        uint256 before = coordinator.treasury();
        vm.expectEmit(address(coordinator));
        emit Ledger.TreasuryFunded(payer, 5 * USDC);
        vm.prank(payer);
        coordinator.fundTreasury(5 * USDC);
        vm.assertEq(coordinator.treasury(), before + 5 * USDC, "funded");
    }

    function test_epochs_follow_block_time() public {
        uint64 genesis = coordinator.genesis();
        vm.assertEq(coordinator.epochAt(genesis), 0, "genesis");
        vm.assertEq(coordinator.epochAt(genesis - 1), 0, "before genesis");
        vm.assertEq(coordinator.epochAt(genesis + EPOCH - 1), 0, "end of 0");
        vm.assertEq(coordinator.epochAt(genesis + EPOCH), 1, "start of 1");
        vm.warp(genesis + 5 * EPOCH + 3);
        vm.assertEq(coordinator.currentEpoch(), 5, "current");
    }
}
