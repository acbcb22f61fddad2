// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

import {Ledger} from "./Ledger.sol";
import {Role, Stake} from "./Types.sol";

/// @title Bonds
/// @notice Role bonds: anyone becomes a worker or gateway by bonding at least that role's
/// minimum. A validator needs that bond and the owner's approval (`approveValidator`): false
/// attestations cannot be punished yet, so bonds alone would let anyone buy a quorum and slash
/// honest workers. Stakes are kept per role and account. An unbonding amount stops counting at
/// once and stays slashable for `unbondDelay`.
abstract contract Bonds is Ledger {
    using SafeERC20 for IERC20;
    using SafeCast for uint256;

    mapping(Role role => mapping(address account => Stake)) private _stakes;
    /// @notice The account a node key is bound to in a role (one key, one account per role).
    mapping(Role role => mapping(bytes32 nodeKey => address account)) public nodeKeyHolder;
    /// @notice Bonded stake of a role, summed over its accounts.
    mapping(Role role => uint256) public totalBonded;
    /// @notice Unbonding stake of a role, summed over its accounts.
    mapping(Role role => uint256) public totalUnbonding;
    /// @notice Whether the owner admits `validator` (it also needs a Validator bond to count).
    mapping(address validator => bool) public approvedValidator;

    event Bonded(Role indexed role, address indexed account, bytes32 indexed nodeKey, uint256 amount, uint256 bonded);
    event Unbonding(Role indexed role, address indexed account, uint256 amount, uint256 unbonding, uint64 unlockAt);
    event Withdrawn(Role indexed role, address indexed account, uint256 amount);
    event ValidatorApproved(address indexed validator, bool approved);

    error ZeroNodeKey();
    error NodeKeyTaken(Role role, bytes32 nodeKey, address holder);
    error NodeKeyMismatch(bytes32 registered, bytes32 given);
    error InsufficientBond(uint256 bonded, uint256 requested);
    error StillSlashable(uint64 unlockAt);
    error NotGateway(address caller);

    modifier onlyGateway() {
        if (!isGateway(msg.sender)) revert NotGateway(msg.sender);
        _;
    }

    /// @notice An account's stake in a role.
    function stakeOf(Role role, address account) external view returns (Stake memory) {
        return _stake(role, account);
    }

    /// @notice Whether `account` has a non-zero bond of at least the role's minimum.
    function isBonded(Role role, address account) public view returns (bool) {
        uint256 bonded = _stake(role, account).bonded;
        return bonded > 0 && bonded >= _minBond(role);
    }

    /// @notice Whether `account` may anchor epochs and settle payments.
    function isGateway(address account) public view returns (bool) {
        return isBonded(Role.Gateway, account);
    }

    /// @notice Whether `account`'s attestations count in disputes: approved by the owner and
    /// bonded as a validator.
    function isValidator(address account) public view returns (bool) {
        return approvedValidator[account] && isBonded(Role.Validator, account);
    }

    /// @notice Admits (or, with `approved` false, removes) a validator; its attestations count
    /// only while it is also bonded, and are checked when a dispute is submitted.
    function approveValidator(address validator, bool approved) external onlyOwner {
        approvedValidator[validator] = approved;
        emit ValidatorApproved(validator, approved);
    }

    /// @notice The worker bound to a mesh node key (zero if none).
    function workerOfNodeKey(bytes32 nodeKey) external view returns (address) {
        return nodeKeyHolder[Role.Worker][nodeKey];
    }

    /// @notice Bonds `amount` for `role` and binds the caller to its mesh `nodeKey` in that role
    /// (first key given) or confirms the binding (later bonds; zero keeps it). Only a validator
    /// may bond without a key.
    function bond(Role role, uint256 amount, bytes32 nodeKey) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        Stake storage stake = _stake(role, msg.sender);
        if (stake.nodeKey == bytes32(0)) {
            if (nodeKey != bytes32(0)) {
                address holder = nodeKeyHolder[role][nodeKey];
                if (holder != address(0)) revert NodeKeyTaken(role, nodeKey, holder);
                stake.nodeKey = nodeKey;
                nodeKeyHolder[role][nodeKey] = msg.sender;
            } else if (role != Role.Validator) {
                revert ZeroNodeKey();
            }
        } else if (nodeKey != bytes32(0) && nodeKey != stake.nodeKey) {
            revert NodeKeyMismatch(stake.nodeKey, nodeKey);
        }
        token.safeTransferFrom(msg.sender, address(this), amount);
        stake.bonded += amount.toUint128();
        totalBonded[role] += amount;
        emit Bonded(role, msg.sender, stake.nodeKey, amount, stake.bonded);
    }

    /// @notice Starts unbonding `amount` of the caller's `role` bond: it stops counting at once
    /// and stays slashable for `unbondDelay` seconds (a new request restarts the delay for the
    /// whole unbonding sum).
    function requestUnbond(Role role, uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        Stake storage stake = _stake(role, msg.sender);
        if (amount > stake.bonded) revert InsufficientBond(stake.bonded, amount);
        // `amount <= bonded`, a uint128.
        // forge-lint: disable-next-line(unsafe-typecast)
        uint128 moved = uint128(amount);
        stake.bonded -= moved;
        stake.unbonding += moved;
        stake.unlockAt = uint64(block.timestamp) + _params.unbondDelay;
        totalBonded[role] -= amount;
        totalUnbonding[role] += amount;
        emit Unbonding(role, msg.sender, amount, stake.unbonding, stake.unlockAt);
    }

    /// @notice Withdraws the caller's whole unbonded `role` amount once its delay passed.
    function withdraw(Role role) external nonReentrant {
        Stake storage stake = _stake(role, msg.sender);
        uint256 amount = stake.unbonding;
        if (amount == 0) revert NothingToWithdraw();
        if (block.timestamp < stake.unlockAt) revert StillSlashable(stake.unlockAt);
        _checkWithdrawal(role, msg.sender);
        stake.unbonding = 0;
        totalUnbonding[role] -= amount;
        token.safeTransfer(msg.sender, amount);
        emit Withdrawn(role, msg.sender, amount);
    }

    /// @dev Reverts if `account` may not withdraw its `role` stake yet for reasons beyond the delay.
    function _checkWithdrawal(Role role, address account) internal view virtual;

    /// @dev Takes `slashBps` of `account`'s `role` stake, bond first, then what is on its way
    /// out, and returns the amount taken (still held by this contract, in no bucket yet).
    function _takeStake(Role role, address account) internal returns (uint256 amount) {
        Stake storage stake = _stake(role, account);
        amount = (uint256(stake.bonded) + stake.unbonding) * _params.slashBps / BPS;
        uint256 fromBond = amount < stake.bonded ? amount : stake.bonded;
        uint256 fromUnbonding = amount - fromBond;
        // Each part is at most what it is taken from, a uint128.
        // forge-lint: disable-next-line(unsafe-typecast)
        stake.bonded -= uint128(fromBond);
        // forge-lint: disable-next-line(unsafe-typecast)
        stake.unbonding -= uint128(fromUnbonding);
        totalBonded[role] -= fromBond;
        totalUnbonding[role] -= fromUnbonding;
    }

    /// @dev Bonded plus unbonding stake of `account` in `role`.
    function _staked(Role role, address account) internal view returns (uint256) {
        Stake storage stake = _stake(role, account);
        return uint256(stake.bonded) + stake.unbonding;
    }

    /// @dev One place computes a stake's slot (each inlined mapping access by an enum key costs
    /// bytecode, and the coordinator is close to EIP-170's limit).
    function _stake(Role role, address account) private view returns (Stake storage) {
        return _stakes[role][account];
    }

    function _minBond(Role role) private view returns (uint256) {
        if (role == Role.Worker) return _params.minWorkerBond;
        if (role == Role.Gateway) return _params.minGatewayBond;
        return _params.minValidatorBond;
    }
}
