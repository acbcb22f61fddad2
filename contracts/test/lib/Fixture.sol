// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

import {ExecutionCoordinator} from "../../src/ExecutionCoordinator.sol";
import {MockUSDC} from "../../src/MockUSDC.sol";
import {Authorization, OwnerUsage, Params, Receipt, Role, WorkerLeaf} from "../../src/Types.sol";
import {Merkle} from "./Merkle.sol";
import {TestBase} from "./TestBase.sol";

/// @notice A deployed token and coordinator with a bonded gateway and a bonded, approved
/// validator, known keys, and the signing and anchoring helpers every coordinator test needs.
abstract contract Fixture is TestBase {
    uint256 internal constant USDC = 1e6;
    uint64 internal constant EPOCH = 60;
    /// `defaultParams().rewardPerRequest`.
    uint256 internal constant RATE = 1e3;
    /// `defaultParams().assistReward`: a quarter of a win.
    uint256 internal constant ASSIST_RATE = RATE / 4;
    /// `defaultParams().assistsPerRequest`.
    uint256 internal constant ASSISTS = 2;
    /// What an anchor reserves per funded request: the win and the assists it funds.
    uint256 internal constant RESERVE = RATE + ASSISTS * ASSIST_RATE;
    uint256 internal constant GATEWAY_BOND = 1_000 * USDC;
    uint256 internal constant DEPOSIT = 10 * USDC;

    MockUSDC internal usdc;
    ExecutionCoordinator internal coordinator;

    address internal admin = address(0xAD);
    address internal gateway = address(0x6A7E);
    address internal otherGateway = address(0x6A7F);
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
    address internal otherOwner = address(0x0E2);
    address internal challenger = address(0xC4A1);

    function defaultParams() internal pure returns (Params memory) {
        return Params({
            unbondDelay: 7 days,
            claimWindow: 30 days,
            challengeWindow: 1 days,
            answerWindow: 1 days,
            minWorkerBond: 100e6,
            minGatewayBond: 1_000e6,
            minValidatorBond: 50e6,
            rewardPerRequest: 1e3,
            assistReward: 250,
            assistsPerRequest: 2,
            ownerBudgetPerEpoch: 1_000_000,
            gatewayBudgetPerEpoch: 10_000_000,
            challengeDeposit: 10e6,
            anchorWindow: 1 days,
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
        usdc.mint(admin, 1_000_000 * USDC);
        usdc.approve(address(coordinator), type(uint256).max);
        coordinator.fundTreasury(10_000 * USDC);
        vm.stopPrank();
        fund(worker, 1_000 * USDC);
        fund(otherWorker, 1_000 * USDC);
        fund(payer, 1_000 * USDC);
        fund(challenger, 1_000 * USDC);
        // A gateway only bonds; a validator also needs the owner's approval.
        fund(gateway, GATEWAY_BOND);
        bondRole(Role.Gateway, gateway, GATEWAY_BOND);
        fund(validator, 100 * USDC);
        bondRole(Role.Validator, validator, 100 * USDC);
        approveValidator(validator, true);
    }

    function approveValidator(address who, bool approved) internal {
        vm.prank(admin);
        coordinator.approveValidator(who, approved);
    }

    function fund(address who, uint256 amount) internal {
        vm.prank(admin);
        usdc.mint(who, amount);
        vm.prank(who);
        usdc.approve(address(coordinator), type(uint256).max);
    }

    function nodeKeyOf(address who) internal pure returns (bytes32) {
        return keccak256(abi.encode("node key", who));
    }

    /// Bonds `amount` for `role` with `who`'s node key (none for a validator).
    function bondRole(Role role, address who, uint256 amount) internal {
        vm.prank(who);
        coordinator.bond(role, amount, role == Role.Validator ? bytes32(0) : nodeKeyOf(who));
    }

    function bondAs(address who, uint256 amount) internal {
        bondRole(Role.Worker, who, amount);
    }

    function signDigest(uint256 key, bytes32 digest) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        return abi.encodePacked(r, s, v);
    }

    function receipt(bytes32 requestId, bytes32 resultHash) internal pure returns (Receipt memory) {
        return Receipt({requestId: requestId, resultHash: resultHash, fuelUsed: 12_345, bundle: keccak256("bundle")});
    }

    function signReceipt(uint256 key, Receipt memory r) internal view returns (bytes memory) {
        return signDigest(key, coordinator.receiptDigest(r));
    }

    function attest(uint256 key, bytes32 requestId, bytes32 resultHash) internal view returns (bytes memory) {
        return signDigest(key, coordinator.attestationDigest(requestId, resultHash));
    }

    /// An authorization for `value` to the coordinator, valid for an hour.
    function authorization(uint256 value, bytes32 nonce) internal view returns (Authorization memory) {
        return Authorization({
            from: payer,
            value: value,
            validAfter: block.timestamp - 1,
            validBefore: block.timestamp + 1 hours,
            nonce: nonce
        });
    }

    function signAuthorization(uint256 key, bytes32 typehash, Authorization memory a)
        internal
        view
        returns (bytes memory)
    {
        bytes32 structHash = keccak256(
            abi.encode(typehash, a.from, address(coordinator), a.value, a.validAfter, a.validBefore, a.nonce)
        );
        return signDigest(key, keccak256(abi.encodePacked("\x19\x01", usdc.DOMAIN_SEPARATOR(), structHash)));
    }

    // ---- epoch trees ----

    /// A leaf of `requests` requests `who` served for `forOwner`, no assists (fuel and receipts
    /// root made up).
    function leafOf(address who, address forOwner, uint32 requests) internal pure returns (WorkerLeaf memory) {
        return assistLeafOf(who, forOwner, requests, 0);
    }

    /// A leaf of `requests` won calls and `assists` agreeing receipts of lost ones.
    function assistLeafOf(address who, address forOwner, uint32 requests, uint32 assists)
        internal
        pure
        returns (WorkerLeaf memory)
    {
        return WorkerLeaf({
            worker: who,
            owner: forOwner,
            requests: requests,
            assists: assists,
            fuel: (uint64(requests) + assists) * 1000,
            receiptsRoot: keccak256(abi.encode("receipts of", who, forOwner))
        });
    }

    function one(WorkerLeaf memory a) internal pure returns (WorkerLeaf[] memory list) {
        list = new WorkerLeaf[](1);
        list[0] = a;
    }

    function two(WorkerLeaf memory a, WorkerLeaf memory b) internal pure returns (WorkerLeaf[] memory list) {
        list = new WorkerLeaf[](2);
        (list[0], list[1]) = (a, b);
    }

    /// The leaf as the coordinator hashes it, computed here (no call, so it can sit between an
    /// `expectRevert` and the call it means).
    function hashLeaf(WorkerLeaf memory l) internal pure returns (bytes32) {
        return keccak256(
            bytes.concat(keccak256(abi.encode(l.worker, l.owner, l.requests, l.assists, l.fuel, l.receiptsRoot)))
        );
    }

    function hashLeaves(WorkerLeaf[] memory leaves) internal pure returns (bytes32[] memory hashes) {
        hashes = new bytes32[](leaves.length);
        for (uint256 i; i < leaves.length; ++i) {
            hashes[i] = hashLeaf(leaves[i]);
        }
    }

    /// The usage a gateway declares for `leaves`: requests (calls, not assists) summed per
    /// owner, owners ascending.
    function usageFor(WorkerLeaf[] memory leaves) internal pure returns (OwnerUsage[] memory usage) {
        OwnerUsage[] memory scratch = new OwnerUsage[](leaves.length);
        uint256 n;
        for (uint256 i; i < leaves.length; ++i) {
            // A leaf of assists only names no call of its own.
            if (leaves[i].requests == 0) continue;
            uint256 at;
            while (at < n && scratch[at].owner < leaves[i].owner) ++at;
            if (at < n && scratch[at].owner == leaves[i].owner) {
                scratch[at].requests += leaves[i].requests;
                continue;
            }
            for (uint256 k = n; k > at; --k) {
                scratch[k] = scratch[k - 1];
            }
            scratch[at] = OwnerUsage({owner: leaves[i].owner, requests: leaves[i].requests});
            ++n;
        }
        usage = new OwnerUsage[](n);
        for (uint256 i; i < n; ++i) {
            usage[i] = scratch[i];
        }
    }

    /// Warps until `epoch` is over.
    function endEpoch(uint64 epoch) internal {
        uint64 current = coordinator.currentEpoch();
        if (current <= epoch) vm.warp(block.timestamp + EPOCH * (epoch + 1 - current));
    }

    /// Anchors `leaves` as `gw`'s `epoch` (warping until it is over); returns the leaf hashes
    /// in tree order, for proofs.
    function anchorLeaves(address gw, uint64 epoch, WorkerLeaf[] memory leaves) internal returns (bytes32[] memory) {
        bytes32[] memory hashes = hashLeaves(leaves);
        endEpoch(epoch);
        vm.prank(gw);
        coordinator.anchor(epoch, Merkle.root(hashes), usageFor(leaves));
        return hashes;
    }

    /// Claims leaf `i` of `gw`'s `epoch`.
    function claimLeaf(address gw, uint64 epoch, WorkerLeaf[] memory leaves, uint256 i) internal returns (uint256) {
        return coordinator.claim(gw, epoch, leaves[i], Merkle.proof(hashLeaves(leaves), i));
    }

    function balanceAccounted() internal view returns (uint256 sum) {
        for (uint8 r; r < 3; ++r) {
            sum += coordinator.totalBonded(Role(r)) + coordinator.totalUnbonding(Role(r));
        }
        sum += coordinator.totalCredits() + coordinator.treasury() + coordinator.totalReserved()
        + coordinator.totalDeposits();
    }

    function assertAccounted() internal view {
        vm.assertEq(usdc.balanceOf(address(coordinator)), balanceAccounted(), "balance == buckets");
    }
}
