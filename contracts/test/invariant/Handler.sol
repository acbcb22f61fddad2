// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ExecutionCoordinator as EC} from "../../src/ExecutionCoordinator.sol";
import {MockUSDC} from "../../src/MockUSDC.sol";
import {Merkle} from "../lib/Merkle.sol";
import {Vm} from "../lib/Vm.sol";

/// @notice Drives the coordinator through random sequences of everything its users do — bond,
/// unbond, withdraw, anchor, claim, release, settle (also replays), slash (also with bad
/// proofs), withdraw credits — and keeps ghost records the invariants check.
contract Handler {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));
    uint256 internal constant WORKERS = 3;

    MockUSDC public immutable usdc;
    EC public immutable coordinator;
    address public immutable gateway;
    uint256 internal immutable validatorKey;
    uint256 internal immutable payerKey;
    address internal immutable owner;
    uint256[WORKERS] internal workerKeys;

    // ---- ghosts ----
    /// Successful settlements per payment nonce (must stay ≤ 1).
    mapping(bytes32 nonce => uint256) public settlements;
    uint256 public maxSettlements;
    /// A withdrawal went through before its unbonding delay.
    bool public earlyWithdrawal;
    /// A slash went through without the worker having signed a wrong or conflicting receipt.
    bool public unjustSlash;
    /// Receipts a worker signed that disagree with the truth.
    mapping(address worker => mapping(bytes32 requestId => bool)) public cheated;
    /// Epochs anchored, for the reservation check.
    uint64[] public anchoredEpochs;
    bytes32[] internal usedNonces;
    uint256 public calls;
    /// Successful slashes, settlements and claims (to show the campaign reaches them).
    uint256 public slashes;
    uint256 public claims;

    constructor(MockUSDC usdc_, EC coordinator_, address gateway_, uint256 validatorKey_, uint256 payerKey_) {
        usdc = usdc_;
        coordinator = coordinator_;
        gateway = gateway_;
        validatorKey = validatorKey_;
        payerKey = payerKey_;
        owner = address(0x0E1);
        workerKeys = [uint256(0xA11CE), 0xB0B, 0xCAFE];
        for (uint256 i; i < WORKERS; ++i) {
            address w = vm.addr(workerKeys[i]);
            vm.prank(w);
            usdc.approve(address(coordinator), type(uint256).max);
        }
    }

    function workerAt(uint256 seed) public view returns (address w, uint256 key) {
        key = workerKeys[seed % WORKERS];
        w = vm.addr(key);
    }

    function anchoredCount() external view returns (uint256) {
        return anchoredEpochs.length;
    }

    function truth(bytes32 requestId) public pure returns (bytes32) {
        return keccak256(abi.encode(requestId, "truth"));
    }

    // ---- bonds ----

    function bond(uint256 seed, uint256 amount) external {
        ++calls;
        (address w,) = workerAt(seed);
        amount = _bound(amount, 1, usdc.balanceOf(w));
        if (amount == 0) return;
        vm.prank(w);
        coordinator.bond(amount, keccak256(abi.encode("node", w)));
    }

    function requestUnbond(uint256 seed, uint256 amount) external {
        ++calls;
        (address w,) = workerAt(seed);
        uint256 bonded = coordinator.stakeOf(w).bonded;
        if (bonded == 0) return;
        vm.prank(w);
        coordinator.requestUnbond(_bound(amount, 1, bonded));
    }

    function withdraw(uint256 seed) external {
        ++calls;
        (address w,) = workerAt(seed);
        EC.Stake memory stake = coordinator.stakeOf(w);
        vm.prank(w);
        try coordinator.withdraw() {
            if (block.timestamp < stake.unlockAt) earlyWithdrawal = true;
        } catch {}
    }

    function wait(uint256 seconds_) external {
        ++calls;
        vm.warp(block.timestamp + _bound(seconds_, 1, 10 days));
    }

    // ---- treasury, anchoring, rewards ----

    function fundTreasury(uint256 amount) external {
        ++calls;
        amount = _bound(amount, 1, 1_000e6);
        vm.startPrank(gateway);
        usdc.approve(address(coordinator), amount);
        coordinator.fundTreasury(amount);
        vm.stopPrank();
    }

    function anchorAndClaim(uint256 seed) external {
        ++calls;
        uint64 current = coordinator.currentEpoch();
        if (current == 0 || coordinator.anchorOf(gateway, current - 1).root != bytes32(0)) {
            vm.warp(block.timestamp + coordinator.epochLength());
            current = coordinator.currentEpoch();
        }
        uint64 epoch = current - 1;
        bytes32[] memory leaves = new bytes32[](WORKERS);
        uint32[WORKERS] memory served;
        uint32 total;
        for (uint256 i; i < WORKERS; ++i) {
            (address w,) = workerAt(i);
            served[i] = uint32(_bound(uint256(keccak256(abi.encode(seed, i))), 1, 500));
            total += served[i];
            leaves[i] = coordinator.workerLeaf(w, served[i], 0, bytes32(0));
        }
        vm.prank(gateway);
        coordinator.anchor(epoch, Merkle.root(leaves), total);
        anchoredEpochs.push(epoch);
        // Some workers claim now, some later (or never).
        for (uint256 i; i < WORKERS; ++i) {
            if (uint256(keccak256(abi.encode(seed, "claim", i))) % 2 == 0) continue;
            (address w,) = workerAt(i);
            coordinator.claim(gateway, epoch, w, served[i], 0, bytes32(0), Merkle.proof(leaves, i));
            ++claims;
        }
    }

    function release(uint256 index) external {
        ++calls;
        if (anchoredEpochs.length == 0) return;
        uint64 epoch = anchoredEpochs[index % anchoredEpochs.length];
        try coordinator.release(gateway, epoch) {} catch {}
    }

    // ---- payments ----

    function settle(uint256 value, uint256 nonceSeed, bool asTransfer, bool replay) external {
        ++calls;
        address payer = vm.addr(payerKey);
        bytes32 nonce = replay && usedNonces.length > 0
            ? usedNonces[nonceSeed % usedNonces.length]
            : keccak256(abi.encode("nonce", nonceSeed, calls));
        value = _bound(value, 1, usdc.balanceOf(payer));
        if (value == 0) return;
        EC.Authorization memory auth = EC.Authorization({
            from: payer,
            value: value,
            validAfter: block.timestamp - 1,
            validBefore: block.timestamp + 1 hours,
            nonce: nonce
        });
        bytes32 typehash =
            asTransfer ? usdc.TRANSFER_WITH_AUTHORIZATION_TYPEHASH() : usdc.RECEIVE_WITH_AUTHORIZATION_TYPEHASH();
        bytes32 structHash = keccak256(
            abi.encode(typehash, payer, address(coordinator), value, auth.validAfter, auth.validBefore, nonce)
        );
        (uint8 v, bytes32 r, bytes32 s) =
            vm.sign(payerKey, keccak256(abi.encodePacked("\x19\x01", usdc.DOMAIN_SEPARATOR(), structHash)));
        bytes memory sig = abi.encodePacked(r, s, v);
        vm.prank(gateway);
        if (asTransfer) {
            try coordinator.settleTransfer(owner, nonce, auth, sig) {
                _settled(nonce);
            } catch {}
        } else {
            try coordinator.settle(owner, nonce, auth, sig) {
                _settled(nonce);
            } catch {}
        }
    }

    function withdrawCredits() external {
        ++calls;
        vm.prank(owner);
        try coordinator.withdrawCredits(owner) {} catch {}
    }

    // ---- disputes ----

    /// A worker signs a receipt for `requestId`; when `cheat` it signs a wrong result. A
    /// challenger then tries every proof it has: equivocation (against a truthful receipt the
    /// worker may or may not have signed) and a validator's re-execution.
    function dispute(uint256 seed, uint256 request, bool cheat, bool equivocate) external {
        ++calls;
        (address w, uint256 key) = workerAt(seed);
        bytes32 requestId = keccak256(abi.encode("request", request % 64));
        bytes32 right = truth(requestId);
        EC.Receipt memory honest = EC.Receipt(requestId, right, 1_000, bytes32(0));
        EC.Receipt memory signed =
            cheat ? EC.Receipt(requestId, keccak256(abi.encode(right, seed)), 1_000, bytes32(0)) : honest;
        if (cheat) cheated[w][requestId] = true;
        bytes memory sig = _sign(key, coordinator.receiptDigest(signed));

        if (equivocate) {
            // The other receipt: the honest one, signed by the worker only when it cheated.
            bytes memory other = _sign(cheat ? key : 0xBAD, coordinator.receiptDigest(honest));
            try coordinator.slashEquivocation(signed, sig, honest, other) {
                ++slashes;
                if (!cheated[w][requestId]) unjustSlash = true;
            } catch {}
        } else {
            bytes[] memory attestations = new bytes[](1);
            attestations[0] = _sign(validatorKey, coordinator.attestationDigest(requestId, right));
            try coordinator.slashWrongResult(signed, sig, right, attestations) {
                ++slashes;
                if (!cheated[w][requestId]) unjustSlash = true;
            } catch {}
        }
    }

    // ---- helpers ----

    function _settled(bytes32 nonce) private {
        uint256 n = ++settlements[nonce];
        if (n > maxSettlements) maxSettlements = n;
        usedNonces.push(nonce);
    }

    function _sign(uint256 key, bytes32 digest) private pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        return abi.encodePacked(r, s, v);
    }

    function _bound(uint256 x, uint256 min, uint256 max) private pure returns (uint256) {
        if (max < min) return 0;
        return min + (x % (max - min + 1));
    }
}
