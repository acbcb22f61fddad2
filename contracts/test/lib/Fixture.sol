// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

import {ExecutionCoordinator} from "../../src/ExecutionCoordinator.sol";
import {MockUSDC} from "../../src/MockUSDC.sol";
import {Merkle} from "./Merkle.sol";
import {TestBase} from "./TestBase.sol";

/// @notice A deployed token and coordinator with known keys, and the signing helpers every
/// coordinator test needs.
abstract contract Fixture is TestBase {
    uint256 internal constant USDC = 1e6;
    uint64 internal constant EPOCH = 60;

    MockUSDC internal usdc;
    ExecutionCoordinator internal coordinator;

    address internal admin = address(0xAD);
    address internal gateway = address(0x6A7E);
    uint256 internal workerKey = 0xA11CE;
    uint256 internal otherWorkerKey = 0xB0B;
    uint256 internal validatorKey = 0xC0FFEE;
    uint256 internal secondValidatorKey = 0xD00D;
    uint256 internal payerKey = 0xFEED;
    address internal worker;
    address internal otherWorker;
    address internal validator;
    address internal secondValidator;
    address internal payer;
    address internal owner = address(0x0E1);
    address internal challenger = address(0xC4A1);

    function defaultParams() internal pure returns (ExecutionCoordinator.Params memory) {
        return ExecutionCoordinator.Params({
            unbondDelay: 7 days,
            claimWindow: 30 days,
            minBond: uint128(100 * USDC),
            rewardPerRequest: uint128(USDC / 1000),
            protocolFeeBps: 500,
            slashBps: 5000,
            challengerBps: 2000,
            validatorQuorum: 1
        });
    }

    function setUp() public virtual {
        vm.warp(1_700_000_000);
        worker = vm.addr(workerKey);
        otherWorker = vm.addr(otherWorkerKey);
        validator = vm.addr(validatorKey);
        secondValidator = vm.addr(secondValidatorKey);
        payer = vm.addr(payerKey);
        usdc = new MockUSDC(admin);
        coordinator = new ExecutionCoordinator(IERC20(address(usdc)), EPOCH, defaultParams(), admin);
        vm.startPrank(admin);
        coordinator.setGateway(gateway, true);
        coordinator.setValidator(validator, true);
        usdc.mint(admin, 1_000_000 * USDC);
        usdc.approve(address(coordinator), type(uint256).max);
        coordinator.fundTreasury(10_000 * USDC);
        vm.stopPrank();
        fund(worker, 1_000 * USDC);
        fund(otherWorker, 1_000 * USDC);
        fund(payer, 1_000 * USDC);
    }

    function fund(address who, uint256 amount) internal {
        vm.prank(admin);
        usdc.mint(who, amount);
        vm.prank(who);
        usdc.approve(address(coordinator), type(uint256).max);
    }

    function bondAs(address who, uint256 amount) internal {
        vm.prank(who);
        coordinator.bond(amount, keccak256(abi.encode("node key", who)));
    }

    function signDigest(uint256 key, bytes32 digest) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        return abi.encodePacked(r, s, v);
    }

    function receipt(bytes32 requestId, bytes32 resultHash)
        internal
        pure
        returns (ExecutionCoordinator.Receipt memory)
    {
        return ExecutionCoordinator.Receipt({
            requestId: requestId, resultHash: resultHash, fuelUsed: 12_345, bundle: keccak256("bundle")
        });
    }

    function signReceipt(uint256 key, ExecutionCoordinator.Receipt memory r) internal view returns (bytes memory) {
        return signDigest(key, coordinator.receiptDigest(r));
    }

    function attest(uint256 key, bytes32 requestId, bytes32 resultHash) internal view returns (bytes memory) {
        return signDigest(key, coordinator.attestationDigest(requestId, resultHash));
    }

    /// An authorization for `value` to the coordinator, valid for an hour.
    function authorization(uint256 value, bytes32 nonce)
        internal
        view
        returns (ExecutionCoordinator.Authorization memory)
    {
        return ExecutionCoordinator.Authorization({
            from: payer,
            value: value,
            validAfter: block.timestamp - 1,
            validBefore: block.timestamp + 1 hours,
            nonce: nonce
        });
    }

    function signAuthorization(uint256 key, bytes32 typehash, ExecutionCoordinator.Authorization memory a)
        internal
        view
        returns (bytes memory)
    {
        bytes32 structHash = keccak256(
            abi.encode(typehash, a.from, address(coordinator), a.value, a.validAfter, a.validBefore, a.nonce)
        );
        return signDigest(key, keccak256(abi.encodePacked("\x19\x01", usdc.DOMAIN_SEPARATOR(), structHash)));
    }

    /// Anchors one epoch for `gateway` in which each worker in `workers` served `requests[i]`;
    /// returns the worker leaves (in order) for proofs.
    function anchorEpoch(uint64 epoch, address[] memory workers, uint32[] memory requests)
        internal
        returns (bytes32[] memory leaves)
    {
        leaves = new bytes32[](workers.length);
        uint32 count;
        for (uint256 i; i < workers.length; ++i) {
            leaves[i] = coordinator.workerLeaf(workers[i], requests[i], requests[i] * 1000, receiptsRoot(workers[i]));
            count += requests[i];
        }
        if (coordinator.currentEpoch() <= epoch) {
            vm.warp(block.timestamp + EPOCH * (epoch + 1 - coordinator.currentEpoch()));
        }
        vm.prank(gateway);
        coordinator.anchor(epoch, Merkle.root(leaves), count);
    }

    function receiptsRoot(address who) internal pure returns (bytes32) {
        return keccak256(abi.encode("receipts of", who));
    }

    function balanceAccounted() internal view returns (uint256) {
        return coordinator.totalBonded() + coordinator.totalUnbonding() + coordinator.totalCredits()
            + coordinator.treasury() + coordinator.totalReserved();
    }
}
