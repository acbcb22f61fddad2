// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Ownable, Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

import {IERC3009} from "./interfaces/IERC3009.sol";

/// @title ExecutionCoordinator
/// @notice PeerHost's court and bank. Never on the request path: gateways anchor one Merkle root
/// of accepted receipts per epoch, workers claim rewards for what they served, challengers prove
/// wrong receipts and get bonds slashed, and x402 payments settle here to function owners.
///
/// Every token the contract holds is accounted for in exactly one bucket:
/// `balance = totalBonded + totalUnbonding + totalCredits + treasury + totalReserved`.
contract ExecutionCoordinator is Ownable2Step, EIP712, ReentrancyGuard {
    using SafeERC20 for IERC20;
    using SafeCast for uint256;

    // ---- types ----

    /// Tunable parameters. Basis points are out of 10 000.
    struct Params {
        /// Seconds a requested unbonding stays slashable before it can be withdrawn.
        uint64 unbondDelay;
        /// Seconds after anchoring during which an epoch's rewards can be claimed.
        uint64 claimWindow;
        /// Smallest bond that makes a worker eligible.
        uint128 minBond;
        /// Treasury subsidy per anchored request (the free tier's price), in token units.
        uint128 rewardPerRequest;
        /// Share of each x402 payment kept by the treasury.
        uint16 protocolFeeBps;
        /// Share of a worker's stake (bond + unbonding) taken by one slash.
        uint16 slashBps;
        /// Share of a slash paid to the challenger; the rest goes to the treasury.
        uint16 challengerBps;
        /// Distinct validators whose attestations prove a receipt wrong.
        uint8 validatorQuorum;
    }

    /// A worker's stake.
    struct Stake {
        uint128 bonded;
        uint128 unbonding;
        /// When `unbonding` can be withdrawn.
        uint64 unlockAt;
        /// The worker's libp2p/iroh ed25519 public key.
        bytes32 nodeKey;
    }

    /// One gateway's anchored epoch: two storage slots, whatever the number of requests.
    struct Anchor {
        bytes32 root;
        uint32 count;
        uint32 claimedRequests;
        uint64 anchoredAt;
        /// Reward per request reserved from the treasury when anchored.
        uint96 rate;
        /// The unclaimed rest went back to the treasury.
        bool released;
    }

    /// A receipt as the worker's EVM key signs it (EIP-712, this contract's domain).
    struct Receipt {
        bytes32 requestId;
        /// keccak256 of the canonical response.
        bytes32 resultHash;
        uint64 fuelUsed;
        /// BLAKE3 hash of the bundle that ran.
        bytes32 bundle;
    }

    /// An EIP-3009 authorization whose payee is this contract.
    struct Authorization {
        address from;
        uint256 value;
        uint256 validAfter;
        uint256 validBefore;
        bytes32 nonce;
    }

    /// Why a worker was slashed.
    enum Offence {
        /// Two signed receipts for one request with different results.
        Equivocation,
        /// A quorum of validators re-executed the request and got another result.
        WrongResult
    }

    // ---- constants ----

    bytes32 public constant RECEIPT_TYPEHASH =
        keccak256("Receipt(bytes32 requestId,bytes32 resultHash,uint64 fuelUsed,bytes32 bundle)");
    bytes32 public constant ATTESTATION_TYPEHASH = keccak256("Attestation(bytes32 requestId,bytes32 resultHash)");
    uint16 private constant BPS = 10_000;
    /// Longest unbonding delay or claim window the parameters accept.
    uint64 public constant MAX_DELAY = 365 days;

    // ---- state ----

    /// The payment and bond token (USDC).
    IERC20 public immutable token;
    /// Start of epoch 0.
    uint64 public immutable genesis;
    /// Seconds per epoch.
    uint64 public immutable epochLength;

    Params private _params;

    mapping(address worker => Stake) private _stakes;
    mapping(bytes32 nodeKey => address worker) public workerOfNodeKey;
    mapping(address gateway => bool) public isGateway;
    mapping(address validator => bool) public isValidator;
    mapping(address gateway => mapping(uint64 epoch => Anchor)) private _anchors;
    mapping(address gateway => mapping(uint64 epoch => mapping(address worker => bool))) public claimed;
    mapping(address worker => mapping(bytes32 requestId => bool)) public slashedFor;
    mapping(address payer => mapping(bytes32 nonce => bool)) public settled;
    mapping(address owner => uint256) public credits;

    uint256 public treasury;
    uint256 public totalBonded;
    uint256 public totalUnbonding;
    uint256 public totalCredits;
    uint256 public totalReserved;

    // ---- events ----

    event ParamsUpdated(Params params);
    event GatewaySet(address indexed gateway, bool allowed);
    event ValidatorSet(address indexed validator, bool allowed);
    event TreasuryFunded(address indexed from, uint256 amount);
    event WorkerBonded(address indexed worker, bytes32 indexed nodeKey, uint256 amount, uint256 bonded);
    event WorkerUnbonding(address indexed worker, uint256 amount, uint256 unbonding, uint64 unlockAt);
    event WorkerWithdrawn(address indexed worker, uint256 amount);
    event RequestsAnchored(address indexed gateway, uint64 indexed epoch, bytes32 root, uint32 count);
    event RewardsReserved(address indexed gateway, uint64 indexed epoch, uint256 rate, uint256 total);
    event RewardClaimed(
        address indexed worker, address indexed gateway, uint64 indexed epoch, uint32 requests, uint256 amount
    );
    event RewardsReleased(address indexed gateway, uint64 indexed epoch, uint256 amount);
    event Slashed(
        address indexed worker,
        bytes32 indexed requestId,
        Offence offence,
        uint256 amount,
        address indexed challenger,
        uint256 challengerReward
    );
    event PaymentSettled(address indexed payer, address indexed owner, bytes32 indexed requestId, uint256 amount);
    event ProtocolFeeCollected(bytes32 indexed requestId, uint256 fee);
    event CreditsWithdrawn(address indexed owner, address indexed to, uint256 amount);

    // ---- errors ----

    error InvalidParams();
    error ZeroAmount();
    error ZeroNodeKey();
    error NodeKeyTaken(bytes32 nodeKey, address worker);
    error NodeKeyMismatch(bytes32 registered, bytes32 given);
    error InsufficientBond(uint256 bonded, uint256 requested);
    error NothingToWithdraw();
    error StillSlashable(uint64 unlockAt);
    error NotGateway(address caller);
    error EpochNotOver(uint64 epoch, uint64 current);
    error EpochAlreadyAnchored(address gateway, uint64 epoch);
    error EmptyAnchor();
    error UnknownAnchor(address gateway, uint64 epoch);
    error AlreadyClaimed(address gateway, uint64 epoch, address worker);
    error InvalidProof();
    error ClaimExceedsAnchor(uint256 claimed, uint32 count);
    error ClaimWindowClosed(uint64 closedAt);
    error ClaimWindowOpen(uint64 closesAt);
    error NotBonded(address worker);
    error NotConflicting();
    error AlreadySlashed(address worker, bytes32 requestId);
    error RequestMismatch();
    error QuorumNotReached(uint256 valid, uint256 needed);
    error AlreadySettled(address payer, bytes32 nonce);
    error PaymentMismatch(uint256 expected, uint256 received);

    // ---- modifiers ----

    modifier onlyGateway() {
        if (!isGateway[msg.sender]) revert NotGateway(msg.sender);
        _;
    }

    constructor(IERC20 token_, uint64 epochLength_, Params memory params_, address admin)
        Ownable(admin)
        EIP712("PeerHost ExecutionCoordinator", "1")
    {
        if (epochLength_ == 0) revert InvalidParams();
        token = token_;
        epochLength = epochLength_;
        genesis = uint64(block.timestamp);
        _setParams(params_);
    }

    // ---- administration ----

    /// @notice Current parameters.
    function params() external view returns (Params memory) {
        return _params;
    }

    /// @notice Replaces the parameters (applies to later actions only).
    function setParams(Params calldata params_) external onlyOwner {
        _setParams(params_);
    }

    /// @notice Allows or disallows a gateway to anchor receipts and settle payments.
    function setGateway(address gateway, bool allowed) external onlyOwner {
        isGateway[gateway] = allowed;
        emit GatewaySet(gateway, allowed);
    }

    /// @notice Allows or disallows a validator's attestations in disputes.
    function setValidator(address validator, bool allowed) external onlyOwner {
        isValidator[validator] = allowed;
        emit ValidatorSet(validator, allowed);
    }

    function _setParams(Params memory p) private {
        if (
            p.protocolFeeBps > BPS || p.slashBps > BPS || p.challengerBps > BPS || p.validatorQuorum == 0
                || p.claimWindow == 0 || p.claimWindow > MAX_DELAY || p.unbondDelay > MAX_DELAY
        ) revert InvalidParams();
        _params = p;
        emit ParamsUpdated(p);
    }

    // ---- treasury ----

    /// @notice Adds `amount` to the treasury, which pays worker rewards. Anyone may fund it.
    function fundTreasury(uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        token.safeTransferFrom(msg.sender, address(this), amount);
        treasury += amount;
        emit TreasuryFunded(msg.sender, amount);
    }

    // ---- worker bonds ----

    /// @notice A worker's stake.
    function stakeOf(address worker) external view returns (Stake memory) {
        return _stakes[worker];
    }

    /// @notice Whether `worker` has at least the minimum bond.
    function isBonded(address worker) public view returns (bool) {
        uint256 bonded = _stakes[worker].bonded;
        return bonded > 0 && bonded >= _params.minBond;
    }

    /// @notice Bonds `amount` and binds the caller to its mesh `nodeKey` (first bond) or
    /// confirms the binding (later bonds; zero keeps it).
    function bond(uint256 amount, bytes32 nodeKey) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        Stake storage stake = _stakes[msg.sender];
        if (stake.nodeKey == bytes32(0)) {
            if (nodeKey == bytes32(0)) revert ZeroNodeKey();
            address holder = workerOfNodeKey[nodeKey];
            if (holder != address(0)) revert NodeKeyTaken(nodeKey, holder);
            stake.nodeKey = nodeKey;
            workerOfNodeKey[nodeKey] = msg.sender;
        } else if (nodeKey != bytes32(0) && nodeKey != stake.nodeKey) {
            revert NodeKeyMismatch(stake.nodeKey, nodeKey);
        }
        token.safeTransferFrom(msg.sender, address(this), amount);
        stake.bonded += amount.toUint128();
        totalBonded += amount;
        emit WorkerBonded(msg.sender, stake.nodeKey, amount, stake.bonded);
    }

    /// @notice Starts unbonding `amount`: it stops counting as bond at once and stays slashable
    /// for `unbondDelay` seconds (a new request restarts the delay for the whole unbonding sum).
    function requestUnbond(uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        Stake storage stake = _stakes[msg.sender];
        if (amount > stake.bonded) revert InsufficientBond(stake.bonded, amount);
        stake.bonded -= amount.toUint128();
        stake.unbonding += amount.toUint128();
        stake.unlockAt = uint64(block.timestamp) + _params.unbondDelay;
        totalBonded -= amount;
        totalUnbonding += amount;
        emit WorkerUnbonding(msg.sender, amount, stake.unbonding, stake.unlockAt);
    }

    /// @notice Withdraws the whole unbonded amount once its delay passed.
    function withdraw() external nonReentrant {
        Stake storage stake = _stakes[msg.sender];
        uint256 amount = stake.unbonding;
        if (amount == 0) revert NothingToWithdraw();
        if (block.timestamp < stake.unlockAt) revert StillSlashable(stake.unlockAt);
        stake.unbonding = 0;
        totalUnbonding -= amount;
        token.safeTransfer(msg.sender, amount);
        emit WorkerWithdrawn(msg.sender, amount);
    }

    // ---- anchoring and rewards ----

    /// @notice The epoch `timestamp` falls in.
    function epochAt(uint256 timestamp) public view returns (uint64) {
        if (timestamp < genesis) return 0;
        return uint64((timestamp - genesis) / epochLength);
    }

    /// @notice The current epoch.
    function currentEpoch() public view returns (uint64) {
        return epochAt(block.timestamp);
    }

    /// @notice An anchored epoch of a gateway.
    function anchorOf(address gateway, uint64 epoch) external view returns (Anchor memory) {
        return _anchors[gateway][epoch];
    }

    /// @notice Rewards of an anchored epoch still reserved (not claimed, not released).
    function reservedOf(address gateway, uint64 epoch) public view returns (uint256) {
        Anchor storage a = _anchors[gateway][epoch];
        if (a.released) return 0;
        return uint256(a.rate) * (a.count - a.claimedRequests);
    }

    /// @notice Anchors the Merkle root of the receipts the calling gateway accepted in a past
    /// `epoch` — one transaction per gateway per epoch, whatever the number of requests — and
    /// reserves their rewards from the treasury (pro rata if it runs short).
    /// @dev Leaves are per worker: `keccak256(bytes.concat(keccak256(abi.encode(worker,
    /// requests, fuel, receiptsRoot))))`, where `receiptsRoot` commits to that worker's receipts
    /// (see `receiptLeaf`); pairs hash sorted (OpenZeppelin `MerkleProof`).
    function anchor(uint64 epoch, bytes32 root, uint32 count) external onlyGateway {
        uint64 current = currentEpoch();
        if (epoch >= current) revert EpochNotOver(epoch, current);
        if (root == bytes32(0) || count == 0) revert EmptyAnchor();
        Anchor storage a = _anchors[msg.sender][epoch];
        if (a.root != bytes32(0)) revert EpochAlreadyAnchored(msg.sender, epoch);

        uint256 rate = _params.rewardPerRequest;
        uint256 affordable = treasury / count;
        if (affordable < rate) rate = affordable;
        uint256 total = rate * count;
        treasury -= total;
        totalReserved += total;

        a.root = root;
        a.count = count;
        a.anchoredAt = uint64(block.timestamp);
        a.rate = rate.toUint96();
        emit RequestsAnchored(msg.sender, epoch, root, count);
        emit RewardsReserved(msg.sender, epoch, rate, total);
    }

    /// @notice Pays `worker` for the `requests` it served in `gateway`'s anchored `epoch`.
    /// Anyone may submit the claim; the reward always goes to the worker.
    function claim(
        address gateway,
        uint64 epoch,
        address worker,
        uint32 requests,
        uint64 fuel,
        bytes32 receiptsRoot,
        bytes32[] calldata proof
    ) external nonReentrant returns (uint256 amount) {
        Anchor storage a = _anchors[gateway][epoch];
        if (a.root == bytes32(0)) revert UnknownAnchor(gateway, epoch);
        uint64 closesAt = a.anchoredAt + _params.claimWindow;
        if (block.timestamp >= closesAt) revert ClaimWindowClosed(closesAt);
        if (claimed[gateway][epoch][worker]) revert AlreadyClaimed(gateway, epoch, worker);
        bytes32 leaf = workerLeaf(worker, requests, fuel, receiptsRoot);
        if (!MerkleProof.verifyCalldata(proof, a.root, leaf)) revert InvalidProof();
        uint256 claimedRequests = uint256(a.claimedRequests) + requests;
        if (claimedRequests > a.count) revert ClaimExceedsAnchor(claimedRequests, a.count);

        claimed[gateway][epoch][worker] = true;
        a.claimedRequests = claimedRequests.toUint32();
        amount = uint256(a.rate) * requests;
        totalReserved -= amount;
        if (amount > 0) token.safeTransfer(worker, amount);
        emit RewardClaimed(worker, gateway, epoch, requests, amount);
    }

    /// @notice Returns an epoch's unclaimed rewards to the treasury after its claim window.
    function release(address gateway, uint64 epoch) external {
        Anchor storage a = _anchors[gateway][epoch];
        if (a.root == bytes32(0)) revert UnknownAnchor(gateway, epoch);
        uint64 closesAt = a.anchoredAt + _params.claimWindow;
        if (block.timestamp < closesAt) revert ClaimWindowOpen(closesAt);
        uint256 amount = reservedOf(gateway, epoch);
        a.released = true;
        totalReserved -= amount;
        treasury += amount;
        emit RewardsReleased(gateway, epoch, amount);
    }

    /// @notice The anchored leaf of one worker in one epoch.
    function workerLeaf(address worker, uint32 requests, uint64 fuel, bytes32 receiptsRoot)
        public
        pure
        returns (bytes32)
    {
        return keccak256(bytes.concat(keccak256(abi.encode(worker, requests, fuel, receiptsRoot))));
    }

    /// @notice A leaf of a worker's receipts tree. It holds the result only as a commitment
    /// bound to the worker's address, so seeing another worker's leaves reveals nothing to copy.
    function receiptLeaf(address worker, Receipt calldata r) public pure returns (bytes32) {
        bytes32 commitment = resultCommitment(r.resultHash, worker);
        return keccak256(bytes.concat(keccak256(abi.encode(r.requestId, commitment, r.fuelUsed, r.bundle))));
    }

    /// @notice The commitment to a result hash that only `worker` can claim.
    function resultCommitment(bytes32 resultHash, address worker) public pure returns (bytes32) {
        return keccak256(abi.encode(resultHash, worker));
    }

    // ---- disputes ----

    /// @notice EIP-712 digest a worker signs for a receipt.
    function receiptDigest(Receipt calldata r) public view returns (bytes32) {
        return
            _hashTypedDataV4(keccak256(abi.encode(RECEIPT_TYPEHASH, r.requestId, r.resultHash, r.fuelUsed, r.bundle)));
    }

    /// @notice EIP-712 digest a validator signs for the result it got re-executing a request.
    function attestationDigest(bytes32 requestId, bytes32 resultHash) public view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(ATTESTATION_TYPEHASH, requestId, resultHash)));
    }

    /// @notice Slashes a worker that signed two different results for one request.
    function slashEquivocation(Receipt calldata a, bytes calldata sigA, Receipt calldata b, bytes calldata sigB)
        external
        nonReentrant
    {
        if (a.requestId != b.requestId) revert RequestMismatch();
        if (a.resultHash == b.resultHash && a.fuelUsed == b.fuelUsed && a.bundle == b.bundle) {
            revert NotConflicting();
        }
        address worker = ECDSA.recover(receiptDigest(a), sigA);
        if (ECDSA.recover(receiptDigest(b), sigB) != worker) revert NotConflicting();
        _slash(worker, a.requestId, Offence.Equivocation);
    }

    /// @notice Slashes a worker whose signed receipt disagrees with the result a quorum of
    /// distinct validators attest to. `validatorSigs` must be sorted by signer address
    /// (strictly ascending, which also rules out counting one validator twice).
    function slashWrongResult(
        Receipt calldata r,
        bytes calldata workerSig,
        bytes32 correctResultHash,
        bytes[] calldata validatorSigs
    ) external nonReentrant {
        if (correctResultHash == r.resultHash) revert NotConflicting();
        address worker = ECDSA.recover(receiptDigest(r), workerSig);
        bytes32 digest = attestationDigest(r.requestId, correctResultHash);
        uint256 valid;
        address previous;
        for (uint256 i; i < validatorSigs.length; ++i) {
            address validator = ECDSA.recover(digest, validatorSigs[i]);
            if (validator <= previous) revert QuorumNotReached(valid, _params.validatorQuorum);
            previous = validator;
            if (isValidator[validator] && validator != worker) ++valid;
        }
        if (valid < _params.validatorQuorum) revert QuorumNotReached(valid, _params.validatorQuorum);
        _slash(worker, r.requestId, Offence.WrongResult);
    }

    function _slash(address worker, bytes32 requestId, Offence offence) private {
        Stake storage stake = _stakes[worker];
        uint256 staked = uint256(stake.bonded) + stake.unbonding;
        if (staked == 0) revert NotBonded(worker);
        if (slashedFor[worker][requestId]) revert AlreadySlashed(worker, requestId);
        slashedFor[worker][requestId] = true;

        uint256 amount = staked * _params.slashBps / BPS;
        // Bond first, then what is on its way out.
        uint256 fromBond = amount < stake.bonded ? amount : stake.bonded;
        uint256 fromUnbonding = amount - fromBond;
        stake.bonded -= fromBond.toUint128();
        stake.unbonding -= fromUnbonding.toUint128();
        totalBonded -= fromBond;
        totalUnbonding -= fromUnbonding;

        uint256 reward = amount * _params.challengerBps / BPS;
        treasury += amount - reward;
        if (reward > 0) token.safeTransfer(msg.sender, reward);
        emit Slashed(worker, requestId, offence, amount, msg.sender, reward);
    }

    // ---- x402 settlement ----

    /// @notice Settles an x402 payment signed as an EIP-3009 `ReceiveWithAuthorization` to this
    /// contract: pulls it (only this contract can submit it, so it cannot be front-run), credits
    /// `owner` and keeps the protocol fee. A payment settles once.
    function settle(address owner, bytes32 requestId, Authorization calldata auth, bytes calldata signature)
        external
        onlyGateway
        nonReentrant
    {
        _markSettled(auth);
        IERC3009(address(token))
            .receiveWithAuthorization(
                auth.from, address(this), auth.value, auth.validAfter, auth.validBefore, auth.nonce, signature
            );
        _credit(owner, requestId, auth);
    }

    /// @notice Settles an x402 payment signed as an EIP-3009 `TransferWithAuthorization` to this
    /// contract (what x402 clients of the `exact` scheme sign). The balance change is checked,
    /// so only funds that arrived are credited.
    function settleTransfer(address owner, bytes32 requestId, Authorization calldata auth, bytes calldata signature)
        external
        onlyGateway
        nonReentrant
    {
        _markSettled(auth);
        uint256 before = token.balanceOf(address(this));
        IERC3009(address(token))
            .transferWithAuthorization(
                auth.from, address(this), auth.value, auth.validAfter, auth.validBefore, auth.nonce, signature
            );
        uint256 received = token.balanceOf(address(this)) - before;
        if (received != auth.value) revert PaymentMismatch(auth.value, received);
        _credit(owner, requestId, auth);
    }

    /// @notice Withdraws the caller's credited payments to `to`.
    function withdrawCredits(address to) external nonReentrant returns (uint256 amount) {
        amount = credits[msg.sender];
        if (amount == 0) revert NothingToWithdraw();
        credits[msg.sender] = 0;
        totalCredits -= amount;
        token.safeTransfer(to, amount);
        emit CreditsWithdrawn(msg.sender, to, amount);
    }

    function _markSettled(Authorization calldata auth) private {
        if (auth.value == 0) revert ZeroAmount();
        if (settled[auth.from][auth.nonce]) revert AlreadySettled(auth.from, auth.nonce);
        settled[auth.from][auth.nonce] = true;
    }

    function _credit(address owner, bytes32 requestId, Authorization calldata auth) private {
        uint256 fee = auth.value * _params.protocolFeeBps / BPS;
        uint256 net = auth.value - fee;
        credits[owner] += net;
        totalCredits += net;
        treasury += fee;
        emit PaymentSettled(auth.from, owner, requestId, auth.value);
        emit ProtocolFeeCollected(requestId, fee);
    }
}
