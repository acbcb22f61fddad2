// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ExecutionCoordinator as EC} from "../../src/ExecutionCoordinator.sol";
import {MockUSDC} from "../../src/MockUSDC.sol";
import {
    Anchor,
    Authorization,
    ChallengeState,
    OwnerUsage,
    Params,
    Receipt,
    Role,
    Stake,
    Usage,
    WorkerLeaf
} from "../../src/Types.sol";
import {Merkle} from "../lib/Merkle.sol";
import {Vm} from "../lib/Vm.sol";

/// @notice Drives the coordinator through random sequences of everything its users do — bond,
/// unbond and withdraw in every role, anchor leaves of won calls and assists (sometimes with
/// receipts no worker signed), claim, release, change the rewards (so the treasury may run
/// short), challenge anchored receipts (won or assisted; the gateway answers whenever the worker
/// really signed), uphold unanswered challenges, settle (also replays), slash workers (also with bad proofs, and
/// with false attestations by a Sybil: bonded as a validator, never approved by the owner),
/// withdraw credits — and keeps ghost records the invariants check.
contract Handler {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));
    uint256 internal constant WORKERS = 3;
    uint256 internal constant OWNERS = 3;
    uint256 internal constant GATEWAYS = 2;
    /// A bonded validator the owner never approves; it attests to false results.
    uint256 internal constant SYBIL_KEY = 0x5B11;

    MockUSDC public immutable usdc;
    EC public immutable coordinator;
    address internal immutable admin;
    uint256 internal immutable validatorKey;
    uint256 internal immutable payerKey;
    address internal immutable owner;
    address public immutable challenger;
    uint256[WORKERS] internal workerKeys;
    address[GATEWAYS] internal gateways;
    address[OWNERS] internal owners;

    // ---- ghosts ----
    /// Successful settlements per payment nonce (must stay ≤ 1).
    mapping(bytes32 nonce => uint256) public settlements;
    uint256 public maxSettlements;
    /// A withdrawal went through before its unbonding delay, or while its gateway was challenged.
    bool public earlyWithdrawal;
    /// A worker slash went through without the worker having signed a wrong or conflicting receipt.
    bool public unjustSlash;
    /// A slash went through on the Sybil's attestation alone.
    bool public sybilCounted;
    /// Receipts a worker signed that disagree with the truth.
    mapping(address worker => mapping(bytes32 requestId => bool)) public cheated;
    /// A challenge of a receipt the worker really signed was upheld.
    bool public unjustGatewaySlash;
    /// The gateway's answer with the worker's real signature failed.
    bool public honestAnswerFailed;
    /// An answer without the worker's signature succeeded.
    bool public forgedAnswerAccepted;
    /// What the contract funded differs from the budget rules replayed here.
    bool public budgetMismatch;
    /// An anchor's rates differ from the reservation rule replayed here (requests first, then
    /// assists, never more than the treasury holds).
    bool public rateMismatch;
    /// A claim paid other than the anchor's rates times what was left of the owner's funded
    /// requests and assists.
    bool public claimMismatch;

    /// Anchored epochs with the leaves and receipts behind them.
    struct Anchored {
        address gateway;
        uint64 epoch;
        bool fabricated;
    }

    Anchored[] public anchors;
    mapping(uint256 anchor => WorkerLeaf[]) internal _leaves;
    mapping(uint256 anchor => mapping(uint256 leaf => Receipt[])) internal _receipts;
    /// Receipts in the tree that the worker never signed.
    mapping(uint256 anchor => mapping(uint256 leaf => mapping(uint256 receipt => bool))) internal _fabricated;
    /// Requests of an owner the treasury should fund in an epoch, by the budget rules.
    mapping(address owner => mapping(uint64 epoch => uint256)) public modelFunded;
    uint64[] public anchoredEpochs;

    struct Challenged {
        bytes32 id;
        bool fabricated;
    }

    Challenged[] public challenges;

    bytes32[] internal usedNonces;
    uint256 public calls;
    /// Successful outcomes, to show the campaign reaches them.
    uint256 public slashes;
    uint256 public claims;
    uint256 public gatewaySlashes;
    uint256 public answers;
    uint256 public overBudget;
    /// Assists paid, and claims whose assists hit the owner's assist cap.
    uint256 public assistsPaid;
    uint256 public assistsCapped;
    /// Anchors whose assists the treasury could not fund in full.
    uint256 public shortAssists;
    /// False attestations the Sybil submitted while bonded at or above the minimum.
    uint256 public sybilAttempts;

    constructor(
        MockUSDC usdc_,
        EC coordinator_,
        address admin_,
        address[GATEWAYS] memory gateways_,
        uint256 validatorKey_,
        uint256 payerKey_
    ) {
        usdc = usdc_;
        coordinator = coordinator_;
        admin = admin_;
        gateways = gateways_;
        validatorKey = validatorKey_;
        payerKey = payerKey_;
        owner = address(0x0E1);
        challenger = address(0xC4A1);
        owners = [address(0x0E1), address(0x0E2), address(0x0E3)];
        workerKeys = [uint256(0xA11CE), 0xB0B, 0xCAFE];
        for (uint256 i; i < WORKERS; ++i) {
            _approve(vm.addr(workerKeys[i]));
        }
        for (uint256 i; i < GATEWAYS; ++i) {
            _approve(gateways[i]);
        }
        _approve(vm.addr(validatorKey));
        _approve(sybil());
        _approve(challenger);
    }

    function sybil() public pure returns (address) {
        return vm.addr(SYBIL_KEY);
    }

    function workerAt(uint256 seed) public view returns (address w, uint256 key) {
        key = workerKeys[seed % WORKERS];
        w = vm.addr(key);
    }

    function gatewayAt(uint256 seed) public view returns (address) {
        return gateways[seed % GATEWAYS];
    }

    function ownerAt(uint256 i) public view returns (address) {
        return owners[i];
    }

    /// The accounts that may hold a stake in `role`: workers, gateways, and as validators the
    /// validator, the first worker (a validator that is also a worker, under one node key) and
    /// the Sybil (bonded, never approved).
    function accountAt(Role role, uint256 seed) public view returns (address) {
        if (role == Role.Gateway) return gatewayAt(seed);
        if (role == Role.Validator) {
            uint256 v = seed % 3;
            return v == 0 ? vm.addr(validatorKey) : (v == 1 ? vm.addr(workerKeys[0]) : sybil());
        }
        (address w,) = workerAt(seed);
        return w;
    }

    function anchorCount() external view returns (uint256) {
        return anchors.length;
    }

    function challengeCount() external view returns (uint256) {
        return challenges.length;
    }

    function anchoredEpochCount() external view returns (uint256) {
        return anchoredEpochs.length;
    }

    function truth(bytes32 requestId) public pure returns (bytes32) {
        return keccak256(abi.encode(requestId, "truth"));
    }

    // ---- bonds ----

    function bond(uint8 roleSeed, uint256 seed, uint256 amount) external {
        ++calls;
        Role role = Role(roleSeed % 3);
        address who = accountAt(role, seed);
        amount = _bound(amount, 1, usdc.balanceOf(who));
        if (amount == 0) return;
        vm.prank(who);
        coordinator.bond(role, amount, _nodeKey(role, who));
    }

    function requestUnbond(uint8 roleSeed, uint256 seed, uint256 amount) external {
        ++calls;
        Role role = Role(roleSeed % 3);
        address who = accountAt(role, seed);
        uint256 bonded = coordinator.stakeOf(role, who).bonded;
        if (bonded == 0) return;
        vm.prank(who);
        coordinator.requestUnbond(role, _bound(amount, 1, bonded));
    }

    function withdraw(uint8 roleSeed, uint256 seed) external {
        ++calls;
        Role role = Role(roleSeed % 3);
        address who = accountAt(role, seed);
        Stake memory stake = coordinator.stakeOf(role, who);
        bool challenged = role == Role.Gateway && coordinator.openChallengesOf(who) > 0;
        vm.prank(who);
        try coordinator.withdraw(role) {
            if (block.timestamp < stake.unlockAt || challenged) earlyWithdrawal = true;
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
        vm.prank(gateways[0]);
        coordinator.fundTreasury(amount);
    }

    /// The admin changes the rewards: the win reward (up to 2 000 USDC, so the treasury can run
    /// short), the assist reward (at most the win's) and the assists funded per request.
    function setRewards(uint64 reward, uint64 assistReward, uint8 perRequest) external {
        ++calls;
        Params memory p = coordinator.params();
        p.rewardPerRequest = uint64(_bound(reward, 0, 2_000e6));
        p.assistReward = uint64(_bound(assistReward, 0, p.rewardPerRequest));
        p.assistsPerRequest = uint8(_bound(perRequest, 0, 3));
        vm.prank(admin);
        coordinator.setParams(p);
    }

    /// A gateway anchors the last epoch: every (worker, owner) pair the seed picks won one to
    /// three calls and assisted in zero to three more (lost with the accepted result), all
    /// receipts signed by the worker — except one the gateway made up when `fabricate`.
    function anchor(uint256 seed, uint256 gatewaySeed, bool fabricate) external {
        ++calls;
        address g = gatewayAt(gatewaySeed);
        uint64 epoch = _pastEpochFor(g);
        uint256 index = anchors.length;
        uint32[OWNERS] memory served;
        WorkerLeaf[] storage leaves = _leaves[index];
        for (uint256 i; i < WORKERS; ++i) {
            for (uint256 o; o < OWNERS; ++o) {
                uint256 draw = uint256(keccak256(abi.encode(seed, i, o)));
                if (draw % 2 == 0 && !(i == 0 && o == 0)) continue;
                uint32 n = (draw >> 8) % 3 == 0 ? 1 : ((draw >> 8) % 3 == 1 ? 2 : 3);
                _serve(index, leaves.length, i, o, n, uint32((draw >> 16) % 4));
                served[o] += n;
            }
        }
        bool fabricated;
        if (fabricate) {
            uint256 at = seed % leaves.length;
            uint256 k = (seed >> 16) % _receipts[index][at].length;
            _fabricated[index][at][k] = true;
            fabricated = true;
        }

        OwnerUsage[] memory usage = _usage(served);
        uint256 treasury = coordinator.treasury();
        vm.prank(g);
        try coordinator.anchor(epoch, Merkle.root(_leafHashes(index)), usage) {
            anchors.push(Anchored({gateway: g, epoch: epoch, fabricated: fabricated}));
            anchoredEpochs.push(epoch);
            _checkBudgets(g, epoch, usage);
            _checkRates(g, epoch, treasury);
        } catch {
            _forget(index);
        }
    }

    function claim(uint256 anchorSeed, uint256 leafSeed) external {
        ++calls;
        if (anchors.length == 0) return;
        uint256 index = anchorSeed % anchors.length;
        Anchored memory a = anchors[index];
        uint256 i = leafSeed % _leaves[index].length;
        WorkerLeaf memory leaf = _leaves[index][i];
        (uint256 expected, uint256 assisted) = _expectedClaim(a, leaf);
        uint256 before = usdc.balanceOf(leaf.worker);
        try coordinator.claim(a.gateway, a.epoch, leaf, Merkle.proof(_leafHashes(index), i)) returns (uint256 paid) {
            ++claims;
            assistsPaid += assisted;
            if (assisted < leaf.assists) ++assistsCapped;
            if (paid != expected || usdc.balanceOf(leaf.worker) != before + paid) claimMismatch = true;
        } catch {}
    }

    function release(uint256 index) external {
        ++calls;
        if (anchors.length == 0) return;
        Anchored memory a = anchors[index % anchors.length];
        try coordinator.release(a.gateway, a.epoch) {} catch {}
    }

    // ---- gateway fraud proofs ----

    /// The challenger challenges a receipt of an anchor — one the worker signed or, with
    /// `fabricatedOne`, one it did not (if there is one). The gateway answers at once whenever
    /// it has the worker's signature; for a made-up receipt it tries a forged answer.
    function challenge(uint256 anchorSeed, uint256 seed, bool fabricatedOne) external {
        ++calls;
        if (anchors.length == 0) return;
        uint256 index = anchorSeed % anchors.length;
        (bool found, uint256 i, uint256 k) = _pick(index, seed, fabricatedOne);
        if (!found) return;
        Anchored memory a = anchors[index];
        WorkerLeaf memory leaf = _leaves[index][i];
        Receipt memory r = _receipts[index][i][k];
        vm.prank(challenger);
        try coordinator.challengeReceipt(
            a.gateway,
            a.epoch,
            leaf,
            Merkle.proof(_leafHashes(index), i),
            _receiptHash(leaf.worker, r),
            Merkle.proof(_receiptLeaves(index, i, leaf.worker), k)
        ) returns (
            bytes32 id
        ) {
            challenges.push(Challenged({id: id, fabricated: fabricatedOne}));
            if (fabricatedOne) {
                // Signed by another worker: no answer.
                (, uint256 own) = _keyOf(leaf.worker);
                uint256 otherKey = own == workerKeys[0] ? workerKeys[1] : workerKeys[0];
                vm.prank(a.gateway);
                try coordinator.answerChallenge(id, r, _sign(otherKey, coordinator.receiptDigest(r))) {
                    forgedAnswerAccepted = true;
                } catch {}
            } else {
                (, uint256 key) = _keyOf(leaf.worker);
                vm.prank(a.gateway);
                try coordinator.answerChallenge(id, r, _sign(key, coordinator.receiptDigest(r))) {
                    ++answers;
                } catch {
                    honestAnswerFailed = true;
                }
            }
        } catch {}
    }

    /// Anyone upholds a challenge (it only succeeds once the answer window passed unanswered).
    function slashGateway(uint256 seed) external {
        ++calls;
        if (challenges.length == 0) return;
        Challenged memory c = challenges[seed % challenges.length];
        try coordinator.slashGateway(c.id) {
            ++gatewaySlashes;
            if (!c.fabricated) unjustGatewaySlash = true;
        } catch {}
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
        Authorization memory auth = Authorization({
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
        bytes memory sig = _sign(payerKey, keccak256(abi.encodePacked("\x19\x01", usdc.DOMAIN_SEPARATOR(), structHash)));
        vm.prank(gateways[0]);
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

    // ---- worker disputes ----

    /// A worker signs a receipt for `requestId`; when `cheat` it signs a wrong result. A
    /// challenger then tries every proof it has: equivocation (against a truthful receipt the
    /// worker may or may not have signed), or the Sybil's false attestation and then the
    /// approved validator's re-execution.
    function dispute(uint256 seed, uint256 request, bool cheat, bool equivocate) external {
        ++calls;
        (address w, uint256 key) = workerAt(seed);
        bytes32 requestId = keccak256(abi.encode("request", request % 64));
        bytes32 right = truth(requestId);
        Receipt memory honest = Receipt(requestId, right, 1_000, bytes32(0));
        Receipt memory signed =
            cheat ? Receipt(requestId, keccak256(abi.encode(right, seed)), 1_000, bytes32(0)) : honest;
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
            // The Sybil contradicts the receipt with a made-up result: never a vote.
            bytes32 fake = keccak256(abi.encode(right, "sybil"));
            bytes[] memory attestations = new bytes[](1);
            attestations[0] = _sign(SYBIL_KEY, coordinator.attestationDigest(requestId, fake));
            if (coordinator.isBonded(Role.Validator, sybil())) ++sybilAttempts;
            try coordinator.slashWrongResult(signed, sig, fake, attestations) {
                ++slashes;
                sybilCounted = true;
                if (!cheated[w][requestId]) unjustSlash = true;
            } catch {}
            attestations[0] = _sign(validatorKey, coordinator.attestationDigest(requestId, right));
            try coordinator.slashWrongResult(signed, sig, right, attestations) {
                ++slashes;
                if (!cheated[w][requestId]) unjustSlash = true;
            } catch {}
        }
    }

    // ---- views for the invariants ----

    function leafCount(uint256 index) external view returns (uint256) {
        return _leaves[index].length;
    }

    // ---- helpers ----

    /// Adds a leaf of worker `i` for owner `o`: `n` receipts of calls it won and `m` of calls it
    /// lost with the accepted result (signable by the worker's key), all in its receipts tree.
    function _serve(uint256 index, uint256 at, uint256 i, uint256 o, uint32 n, uint32 m) private {
        (address w,) = workerAt(i);
        uint64 fuel;
        for (uint64 k; k < n + m; ++k) {
            bytes32 requestId = keccak256(abi.encode(k < n ? "won" : "assisted", index, at, k));
            _receipts[index][at].push(Receipt(requestId, truth(requestId), 100 + k, bytes32(0)));
            fuel += 100 + k;
        }
        bytes32 root = Merkle.root(_receiptLeaves(index, at, w));
        _leaves[index].push(
            WorkerLeaf({worker: w, owner: owners[o], requests: n, assists: m, fuel: fuel, receiptsRoot: root})
        );
    }

    /// Replays the reservation rule for an anchor that went through: `rewardPerRequest` per
    /// funded request and `assistReward` per funded assist, requests first when the treasury
    /// (`treasury` before the anchor) runs short, assists from what is left.
    function _checkRates(address g, uint64 epoch, uint256 treasury) private {
        Params memory p = coordinator.params();
        Anchor memory a = coordinator.anchorOf(g, epoch);
        uint256 funded = a.funded;
        uint256 assists = funded * p.assistsPerRequest;
        uint256 rate = funded == 0 ? 0 : _min(p.rewardPerRequest, treasury / funded);
        uint256 assistRate = assists == 0 ? 0 : _min(p.assistReward, (treasury - rate * funded) / assists);
        if (assistRate < p.assistReward && assists > 0) ++shortAssists;
        uint256 total = rate * funded + assistRate * assists;
        if (
            a.rate != rate || a.assistRate != assistRate || a.assistsPerRequest != p.assistsPerRequest
                || coordinator.treasury() != treasury - total || total > treasury
        ) rateMismatch = true;
    }

    /// What a claim of `leaf` should pay now, and for how many assists: the anchor's rates times
    /// what is left of the owner's funded requests and of the assists they fund, up to the
    /// leaf's counts.
    function _expectedClaim(Anchored memory at, WorkerLeaf memory leaf)
        private
        view
        returns (uint256 amount, uint256 assisted)
    {
        Anchor memory a = coordinator.anchorOf(at.gateway, at.epoch);
        Usage memory u = coordinator.usageOf(at.gateway, at.epoch, leaf.owner);
        uint256 rewarded = _min(leaf.requests, u.funded - u.claimed);
        assisted = _min(leaf.assists, uint256(u.funded) * a.assistsPerRequest - u.assistsClaimed);
        amount = a.rate * rewarded + a.assistRate * assisted;
    }

    function _min(uint256 x, uint256 y) private pure returns (uint256) {
        return x < y ? x : y;
    }

    function _usage(uint32[OWNERS] memory served) private view returns (OwnerUsage[] memory usage) {
        uint256 n;
        for (uint256 o; o < OWNERS; ++o) {
            if (served[o] > 0) ++n;
        }
        usage = new OwnerUsage[](n);
        n = 0;
        for (uint256 o; o < OWNERS; ++o) {
            if (served[o] > 0) usage[n++] = OwnerUsage(owners[o], served[o]);
        }
    }

    /// Replays the budget rules for an anchor that went through and compares with the contract.
    function _checkBudgets(address g, uint64 epoch, OwnerUsage[] memory usage) private {
        Params memory p = coordinator.params();
        uint256 gatewayLeft = p.gatewayBudgetPerEpoch;
        for (uint256 i; i < usage.length; ++i) {
            uint256 already = modelFunded[usage[i].owner][epoch];
            uint256 room = p.ownerBudgetPerEpoch > already ? p.ownerBudgetPerEpoch - already : 0;
            if (room > gatewayLeft) room = gatewayLeft;
            uint256 granted = usage[i].requests < room ? usage[i].requests : room;
            if (granted < usage[i].requests) ++overBudget;
            modelFunded[usage[i].owner][epoch] = already + granted;
            gatewayLeft -= granted;
            Usage memory u = coordinator.usageOf(g, epoch, usage[i].owner);
            if (u.funded != granted) budgetMismatch = true;
        }
    }

    function _pastEpochFor(address g) private returns (uint64) {
        uint64 current = coordinator.currentEpoch();
        if (current == 0 || coordinator.anchorOf(g, current - 1).root != bytes32(0)) {
            vm.warp(block.timestamp + coordinator.epochLength());
            current = coordinator.currentEpoch();
        }
        return current - 1;
    }

    function _pick(uint256 index, uint256 seed, bool fabricatedOne)
        private
        view
        returns (bool found, uint256 i, uint256 k)
    {
        uint256 n = _leaves[index].length;
        for (uint256 step; step < n; ++step) {
            i = (seed + step) % n;
            uint256 m = _receipts[index][i].length;
            for (uint256 s; s < m; ++s) {
                k = (seed + s) % m;
                if (_fabricated[index][i][k] == fabricatedOne) return (true, i, k);
            }
        }
    }

    function _forget(uint256 index) private {
        uint256 n = _leaves[index].length;
        for (uint256 i; i < n; ++i) {
            uint256 m = _receipts[index][i].length;
            for (uint256 k; k < m; ++k) {
                delete _fabricated[index][i][k];
            }
            delete _receipts[index][i];
        }
        delete _leaves[index];
    }

    function _leafHashes(uint256 index) private view returns (bytes32[] memory hashes) {
        WorkerLeaf[] storage leaves = _leaves[index];
        hashes = new bytes32[](leaves.length);
        for (uint256 i; i < leaves.length; ++i) {
            WorkerLeaf memory l = leaves[i];
            hashes[i] = keccak256(
                bytes.concat(keccak256(abi.encode(l.worker, l.owner, l.requests, l.assists, l.fuel, l.receiptsRoot)))
            );
        }
    }

    function _receiptLeaves(uint256 index, uint256 at, address w) private view returns (bytes32[] memory hashes) {
        Receipt[] storage rs = _receipts[index][at];
        hashes = new bytes32[](rs.length);
        for (uint256 k; k < rs.length; ++k) {
            hashes[k] = keccak256(bytes.concat(_receiptHash(w, rs[k])));
        }
    }

    function _keyOf(address w) private view returns (address, uint256) {
        for (uint256 i; i < WORKERS; ++i) {
            if (vm.addr(workerKeys[i]) == w) return (w, workerKeys[i]);
        }
        return (w, 0);
    }

    function _receiptHash(address w, Receipt memory r) private pure returns (bytes32) {
        return keccak256(abi.encode(r.requestId, keccak256(abi.encode(r.resultHash, w)), r.fuelUsed, r.bundle));
    }

    function _nodeKey(Role role, address who) private pure returns (bytes32) {
        if (role == Role.Gateway) return keccak256(abi.encode("gateway", who));
        // A validator that is also a worker uses its worker key; the validator proper none.
        return keccak256(abi.encode("node", who));
    }

    function _approve(address who) private {
        vm.prank(who);
        usdc.approve(address(coordinator), type(uint256).max);
    }

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
