// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

import {Budgets} from "./Budgets.sol";
import {Disputes} from "./Disputes.sol";
import {Ledger} from "./Ledger.sol";
import {Settlement} from "./Settlement.sol";
import {Anchor, Challenge, ChallengeState, OwnerUsage, Params, Receipt, Role, WorkerLeaf} from "./Types.sol";

/// @title ExecutionCoordinator
/// @notice PeerHost's court and bank. Free calls never touch it; a priced call waits for one
/// x402 settlement here (to the function owner) before the gateway dispatches it. Bonded
/// gateways anchor one Merkle root of accepted receipts per epoch (the winners' and, as assists,
/// the agreeing losers'), workers claim the treasury-funded part of what they served, anyone may
/// challenge an anchored receipt (the gateway must show the worker's signature or be slashed),
/// and challengers prove wrong receipts and get worker bonds slashed.
///
/// Every token the contract holds is accounted for in exactly one bucket:
/// `balance = Σ_role (totalBonded + totalUnbonding) + totalCredits + treasury + totalReserved
/// + totalDeposits`.
contract ExecutionCoordinator is Disputes, Settlement, Budgets {
    using SafeERC20 for IERC20;

    /// Start of epoch 0.
    uint64 public immutable genesis;
    /// Seconds per epoch.
    uint64 public immutable epochLength;

    mapping(address gateway => mapping(uint64 epoch => Anchor)) private _anchors;
    /// @notice Whether a (worker, owner) leaf of a gateway's epoch was claimed.
    mapping(address gateway => mapping(uint64 epoch => mapping(address worker => mapping(address owner => bool))))
        public claimed;
    mapping(bytes32 id => Challenge) private _challenges;
    /// @notice Open challenges against a gateway; it cannot withdraw Gateway stake while any are.
    mapping(address gateway => uint256) public openChallengesOf;

    /// Rewards reserved for anchored epochs, not yet claimed or released.
    uint256 public totalReserved;
    /// Deposits of open challenges.
    uint256 public totalDeposits;

    event RequestsAnchored(address indexed gateway, uint64 indexed epoch, bytes32 root, uint32 count, uint32 funded);
    event RewardsReserved(
        address indexed gateway, uint64 indexed epoch, uint256 rate, uint256 assistRate, uint256 total
    );
    event RewardClaimed(
        address indexed worker,
        address indexed gateway,
        uint64 indexed epoch,
        address owner,
        uint32 requests,
        uint32 rewarded,
        uint32 assists,
        uint32 assistsRewarded,
        uint256 amount
    );
    event RewardsReleased(address indexed gateway, uint64 indexed epoch, uint256 amount);
    event ReceiptChallenged(
        bytes32 indexed id,
        address indexed gateway,
        uint64 indexed epoch,
        address worker,
        bytes32 receiptLeaf,
        address challenger,
        uint64 answerBy
    );
    event ChallengeAnswered(bytes32 indexed id, address indexed gateway, uint256 deposit);
    event GatewaySlashed(
        address indexed gateway,
        uint64 indexed epoch,
        bytes32 indexed challengeId,
        uint256 amount,
        address challenger,
        uint256 challengerReward
    );
    event ChallengeRefunded(bytes32 indexed id, address indexed challenger, uint256 deposit);

    error EpochNotOver(uint64 epoch, uint64 current);
    error AnchorWindowClosed(uint64 epoch, uint64 closedAt);
    error EpochAlreadyAnchored(address gateway, uint64 epoch);
    error EmptyAnchor();
    error UnknownAnchor(address gateway, uint64 epoch);
    error AnchorFraudulent(address gateway, uint64 epoch);
    error AnchorChallenged(address gateway, uint64 epoch);
    error AlreadyClaimed(address gateway, uint64 epoch, address worker, address owner);
    error InvalidProof();
    error ClaimWindowClosed(uint64 closedAt);
    error ClaimWindowOpen(uint64 closesAt);
    error ChallengeWindowClosed(uint64 closedAt);
    error AlreadyChallenged(bytes32 id);
    error ChallengeNotOpen(bytes32 id);
    error AnswerWindowClosed(uint64 answerBy);
    error AnswerWindowOpen(uint64 answerBy);
    error AnswerMismatch();
    error NotSignedByWorker(address worker, address signer);
    error UnderChallenge(address gateway, uint256 open);

    constructor(IERC20 token_, uint64 epochLength_, Params memory params_, address admin)
        Ledger(token_, params_)
        Ownable(admin)
    {
        if (epochLength_ == 0) revert InvalidParams();
        epochLength = epochLength_;
        genesis = uint64(block.timestamp);
    }

    // ---- epochs ----

    /// @notice The epoch `timestamp` falls in.
    function epochAt(uint256 timestamp) public view returns (uint64) {
        if (timestamp < genesis) return 0;
        return uint64((timestamp - genesis) / epochLength);
    }

    /// @notice The current epoch.
    function currentEpoch() public view returns (uint64) {
        return epochAt(block.timestamp);
    }

    // ---- anchoring and rewards ----

    /// @notice An anchored epoch of a gateway.
    function anchorOf(address gateway, uint64 epoch) external view returns (Anchor memory) {
        return _anchors[gateway][epoch];
    }

    /// @notice Rewards of an anchored epoch still reserved (not claimed, not released).
    function reservedOf(address gateway, uint64 epoch) external view returns (uint256) {
        return _reserved(_anchors[gateway][epoch]);
    }

    /// @notice Anchors the Merkle root of the receipts the calling bonded gateway accepted in an
    /// `epoch` that ended less than `anchorWindow` ago — one transaction per gateway per epoch —
    /// with its requests per function owner (`usage`: owners strictly ascending, none empty;
    /// calls, not assists). Funds what the budgets allow (see `Budgets`) and reserves that from
    /// the treasury: `rewardPerRequest` per funded request and `assistReward` per assist those
    /// fund (`assistsPerRequest` each). If the treasury runs short, requests come first (pro
    /// rata) and assists get what is left (pro rata); the rest is anchored but not rewarded.
    /// @dev Leaves are per (worker, owner) pair, see `workerLeaf`.
    function anchor(uint64 epoch, bytes32 root, OwnerUsage[] calldata usage) external onlyGateway {
        uint64 current = currentEpoch();
        if (epoch >= current) revert EpochNotOver(epoch, current);
        uint64 closesAt = genesis + (epoch + 1) * epochLength + _params.anchorWindow;
        if (block.timestamp >= closesAt) revert AnchorWindowClosed(epoch, closesAt);
        if (root == bytes32(0) || usage.length == 0) revert EmptyAnchor();
        if (_anchors[msg.sender][epoch].root != bytes32(0)) revert EpochAlreadyAnchored(msg.sender, epoch);
        (uint32 count, uint32 funded) = _fund(msg.sender, epoch, usage);

        uint8 perRequest = _params.assistsPerRequest;
        (uint256 rate, uint256 assistRate) = _rates(funded, uint256(funded) * perRequest);
        uint256 total = rate * funded + assistRate * funded * perRequest;
        treasury -= total;
        totalReserved += total;

        // Field by field: the anchor is fresh (all zero), and a struct literal would take
        // hundreds of bytes more code.
        Anchor storage a = _anchors[msg.sender][epoch];
        a.root = root;
        a.count = count;
        a.funded = funded;
        a.anchoredAt = uint64(block.timestamp);
        // At most `rewardPerRequest`, a uint64.
        // forge-lint: disable-next-line(unsafe-typecast)
        a.rate = uint64(rate);
        // At most `assistReward`, a uint64.
        // forge-lint: disable-next-line(unsafe-typecast)
        a.assistRate = uint64(assistRate);
        a.assistsPerRequest = perRequest;
        emit RequestsAnchored(msg.sender, epoch, root, count, funded);
        emit RewardsReserved(msg.sender, epoch, rate, assistRate, total);
    }

    /// @notice Pays `leaf.worker` for what it served `leaf.owner` in `gateway`'s anchored
    /// `epoch`: up to `leaf.requests` of that owner's funded requests not yet paid at the
    /// anchor's `rate`, and up to `leaf.assists` of the assists they fund not yet paid
    /// (`funded × assistsPerRequest` per owner in the anchor) at its `assistRate`; first come,
    /// first served. Anyone may submit the claim; the reward always goes to the worker.
    function claim(address gateway, uint64 epoch, WorkerLeaf calldata leaf, bytes32[] calldata proof)
        external
        nonReentrant
        returns (uint256 amount)
    {
        Anchor storage a = _anchors[gateway][epoch];
        _checkOpen(a, gateway, epoch);
        if (a.openChallenges > 0) revert AnchorChallenged(gateway, epoch);
        uint64 closesAt = a.anchoredAt + _params.claimWindow;
        if (block.timestamp >= closesAt) revert ClaimWindowClosed(closesAt);
        mapping(address owner => bool) storage done = claimed[gateway][epoch][leaf.worker];
        if (done[leaf.owner]) revert AlreadyClaimed(gateway, epoch, leaf.worker, leaf.owner);
        if (!MerkleProof.verifyCalldata(proof, a.root, _leafOf(leaf))) revert InvalidProof();

        done[leaf.owner] = true;
        amount = _pay(a, gateway, epoch, leaf);
    }

    /// @notice Returns an epoch's unclaimed rewards to the treasury after its claim window.
    function release(address gateway, uint64 epoch) external {
        Anchor storage a = _anchors[gateway][epoch];
        if (a.root == bytes32(0)) revert UnknownAnchor(gateway, epoch);
        uint64 closesAt = a.anchoredAt + _params.claimWindow;
        if (block.timestamp < closesAt) revert ClaimWindowOpen(closesAt);
        _release(a, gateway, epoch);
    }

    // ---- gateway fraud proofs ----

    /// @notice A challenge by its id.
    function challengeOf(bytes32 id) external view returns (Challenge memory) {
        return _challenges[id];
    }

    /// @notice The id of the challenge of receipt leaf `leaf` under `worker` in `gateway`'s
    /// `epoch` (one challenge per receipt leaf, worker and anchor).
    function challengeId(address gateway, uint64 epoch, address worker, bytes32 leaf) public pure returns (bytes32) {
        return keccak256(abi.encode(gateway, epoch, worker, leaf));
    }

    /// @notice Challenges `gateway` to show that `leaf.worker` signed a receipt it anchored in
    /// `epoch`, within `challengeWindow` of the anchor. Proves `leaf` in the anchored root and the
    /// receipt leaf `keccak256(bytes.concat(hashOfReceipt))` in `leaf.receiptsRoot`, and takes
    /// `challengeDeposit` from the caller; claims on the anchor wait until it is resolved.
    /// `hashOfReceipt` is the leaf's inner hash (`receiptHash(worker, r)`), not the leaf: the
    /// contract hashes it once more itself, so an inner node of the receipts tree — which no
    /// receipt hashes to — cannot be passed off as a receipt the gateway would have to show.
    function challengeReceipt(
        address gateway,
        uint64 epoch,
        WorkerLeaf calldata leaf,
        bytes32[] calldata workerProof,
        bytes32 hashOfReceipt,
        bytes32[] calldata receiptProof
    ) external nonReentrant returns (bytes32 id) {
        Anchor storage a = _anchors[gateway][epoch];
        _checkOpen(a, gateway, epoch);
        uint64 closesAt = a.anchoredAt + _params.challengeWindow;
        if (block.timestamp >= closesAt) revert ChallengeWindowClosed(closesAt);
        if (!MerkleProof.verifyCalldata(workerProof, a.root, _leafOf(leaf))) revert InvalidProof();
        bytes32 leafHash = keccak256(bytes.concat(hashOfReceipt));
        if (!MerkleProof.verifyCalldata(receiptProof, leaf.receiptsRoot, leafHash)) revert InvalidProof();
        id = _openChallengeOf(a, gateway, epoch, leaf.worker, leafHash);
    }

    /// @notice Answers an open challenge before its `answerBy` with the receipt and the worker's
    /// EIP-712 signature of it: succeeds iff `receiptLeaf(worker, r)` is the challenged leaf and
    /// the signature recovers to the worker. The deposit goes to the gateway. Anyone may answer.
    function answerChallenge(bytes32 id, Receipt calldata r, bytes calldata workerSig) external nonReentrant {
        Challenge storage c = _openChallenge(id);
        if (block.timestamp >= c.answerBy) revert AnswerWindowClosed(c.answerBy);
        address worker = c.worker;
        if (receiptLeaf(worker, r) != c.receiptLeaf) revert AnswerMismatch();
        address signer = _recover(receiptDigest(r), workerSig);
        if (signer != worker) revert NotSignedByWorker(worker, signer);

        c.state = ChallengeState.Answered;
        _close(c);
        token.safeTransfer(c.gateway, c.deposit);
        emit ChallengeAnswered(id, c.gateway, c.deposit);
    }

    /// @notice Upholds a challenge left unanswered past its `answerBy`: slashes `slashBps` of the
    /// gateway's Gateway stake, pays the challenger its deposit plus `challengerBps` of the slash
    /// (the rest to the treasury), marks the anchor fraudulent and returns its unclaimed
    /// reservation to the treasury. One slash per anchor: a further upheld challenge of an anchor
    /// already proven fraudulent only refunds its deposit. Anyone may call it.
    function slashGateway(bytes32 id) external nonReentrant {
        Challenge storage c = _openChallenge(id);
        if (block.timestamp < c.answerBy) revert AnswerWindowOpen(c.answerBy);
        c.state = ChallengeState.Upheld;
        Anchor storage a = _close(c);
        (address gateway, uint64 epoch, address challenger, uint256 deposit) =
            (c.gateway, c.epoch, c.challenger, c.deposit);
        if (a.fraudulent) {
            token.safeTransfer(challenger, deposit);
            emit ChallengeRefunded(id, challenger, deposit);
            return;
        }
        a.fraudulent = true;
        _release(a, gateway, epoch);

        uint256 amount = _takeStake(Role.Gateway, gateway);
        uint256 reward = amount * _params.challengerBps / BPS;
        treasury += amount - reward;
        token.safeTransfer(challenger, deposit + reward);
        emit GatewaySlashed(gateway, epoch, id, amount, challenger, reward);
    }

    // ---- internals ----

    function _leafOf(WorkerLeaf calldata l) private pure returns (bytes32) {
        return workerLeaf(l.worker, l.owner, l.requests, l.assists, l.fuel, l.receiptsRoot);
    }

    /// @dev The reward per funded request and per funded assist an anchor reserves:
    /// `rewardPerRequest` and `assistReward`, lowered so the reservation fits the treasury —
    /// requests first (`treasury / funded`), then assists from what is left. The reservation
    /// `rate × funded + assistRate × assists` never exceeds the treasury.
    function _rates(uint256 funded, uint256 assists) private view returns (uint256 rate, uint256 assistRate) {
        if (funded == 0) return (0, 0);
        uint256 free = treasury;
        rate = _params.rewardPerRequest;
        uint256 affordable = free / funded;
        if (affordable < rate) rate = affordable;
        if (assists == 0) return (rate, 0);
        assistRate = _params.assistReward;
        affordable = (free - rate * funded) / assists;
        if (affordable < assistRate) assistRate = affordable;
    }

    /// @dev Pays a proven, not yet claimed leaf what is left of its owner's funded requests and
    /// of the assists they fund, at the anchor's rates.
    function _pay(Anchor storage a, address gateway, uint64 epoch, WorkerLeaf calldata leaf)
        private
        returns (uint256 amount)
    {
        (address worker, address owner) = (leaf.worker, leaf.owner);
        (uint32 rewarded, uint32 assistsRewarded) =
            _takeFunded(gateway, epoch, owner, leaf.requests, leaf.assists, a.assistsPerRequest);
        a.claimedRequests += rewarded;
        a.claimedAssists += assistsRewarded;
        amount = uint256(a.rate) * rewarded + uint256(a.assistRate) * assistsRewarded;
        totalReserved -= amount;
        if (amount > 0) token.safeTransfer(worker, amount);
        emit RewardClaimed(
            worker, gateway, epoch, owner, leaf.requests, rewarded, leaf.assists, assistsRewarded, amount
        );
    }

    function _checkOpen(Anchor storage a, address gateway, uint64 epoch) private view {
        if (a.root == bytes32(0)) revert UnknownAnchor(gateway, epoch);
        if (a.fraudulent) revert AnchorFraudulent(gateway, epoch);
    }

    function _reserved(Anchor storage a) private view returns (uint256) {
        if (a.released) return 0;
        uint256 assistsLeft = uint256(a.funded) * a.assistsPerRequest - a.claimedAssists;
        return uint256(a.rate) * (a.funded - a.claimedRequests) + uint256(a.assistRate) * assistsLeft;
    }

    /// @dev Moves what an anchor still reserves back to the treasury (once; later calls move 0).
    function _release(Anchor storage a, address gateway, uint64 epoch) private {
        uint256 amount = _reserved(a);
        a.released = true;
        totalReserved -= amount;
        treasury += amount;
        emit RewardsReleased(gateway, epoch, amount);
    }

    /// @dev Records a new challenge of a proven receipt leaf and takes its deposit.
    function _openChallengeOf(Anchor storage a, address gateway, uint64 epoch, address worker, bytes32 leafHash)
        private
        returns (bytes32 id)
    {
        id = challengeId(gateway, epoch, worker, leafHash);
        if (_challenges[id].state != ChallengeState.None) revert AlreadyChallenged(id);
        uint96 deposit = _params.challengeDeposit;
        token.safeTransferFrom(msg.sender, address(this), deposit);
        totalDeposits += deposit;
        uint64 answerBy = uint64(block.timestamp) + _params.answerWindow;
        // Field by field (the challenge is fresh): less code than a struct literal.
        Challenge storage c = _challenges[id];
        c.gateway = gateway;
        c.epoch = epoch;
        c.state = ChallengeState.Open;
        c.worker = worker;
        c.answerBy = answerBy;
        c.challenger = msg.sender;
        c.deposit = deposit;
        c.receiptLeaf = leafHash;
        a.openChallenges += 1;
        openChallengesOf[gateway] += 1;
        emit ReceiptChallenged(id, gateway, epoch, worker, leafHash, msg.sender, answerBy);
    }

    function _openChallenge(bytes32 id) private view returns (Challenge storage c) {
        c = _challenges[id];
        if (c.state != ChallengeState.Open) revert ChallengeNotOpen(id);
    }

    /// @dev Takes a resolved challenge off its anchor's and gateway's open counts and its
    /// deposit out of `totalDeposits` (the caller pays it out).
    function _close(Challenge storage c) private returns (Anchor storage a) {
        a = _anchors[c.gateway][c.epoch];
        a.openChallenges -= 1;
        openChallengesOf[c.gateway] -= 1;
        totalDeposits -= c.deposit;
    }

    /// @dev A gateway cannot withdraw while a challenge against it is open: it stays slashable.
    function _checkWithdrawal(Role role, address account) internal view override {
        if (role != Role.Gateway) return;
        uint256 open = openChallengesOf[account];
        if (open > 0) revert UnderChallenge(account, open);
    }
}
