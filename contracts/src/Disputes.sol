// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

import {Bonds} from "./Bonds.sol";
import {Receipts} from "./Receipts.sol";
import {Offence, Receipt, Role} from "./Types.sol";

/// @title Disputes
/// @notice Fraud proofs against workers: two conflicting signed receipts, or a signed receipt
/// a quorum of validators (owner-approved and bonded, see `isValidator`) contradicts. Either
/// takes `slashBps` of the worker's Worker stake, pays the challenger `challengerBps` of it and
/// the rest to the treasury.
abstract contract Disputes is Bonds, Receipts {
    using SafeERC20 for IERC20;

    /// @notice Whether a worker was already slashed for a request (once per worker and request).
    mapping(address worker => mapping(bytes32 requestId => bool)) public slashedFor;

    event Slashed(
        address indexed worker,
        bytes32 indexed requestId,
        Offence offence,
        uint256 amount,
        address indexed challenger,
        uint256 challengerReward
    );

    error NotBonded(address worker);
    error NotConflicting();
    error AlreadySlashed(address worker, bytes32 requestId);
    error RequestMismatch();
    error QuorumNotReached(uint256 valid, uint256 needed);

    /// @notice Slashes a worker that signed two different results for one request.
    function slashEquivocation(Receipt calldata a, bytes calldata sigA, Receipt calldata b, bytes calldata sigB)
        external
        nonReentrant
    {
        if (a.requestId != b.requestId) revert RequestMismatch();
        if (a.resultHash == b.resultHash && a.fuelUsed == b.fuelUsed && a.bundle == b.bundle) {
            revert NotConflicting();
        }
        address worker = _recover(receiptDigest(a), sigA);
        if (_recover(receiptDigest(b), sigB) != worker) revert NotConflicting();
        _slash(worker, a.requestId, Offence.Equivocation);
    }

    /// @notice Slashes a worker whose signed receipt disagrees with the result a quorum of
    /// distinct validators attest to (each approved by the owner and bonded: `isValidator`).
    /// `validatorSigs` must be sorted by signer address (strictly ascending, which also rules
    /// out counting one validator twice).
    function slashWrongResult(
        Receipt calldata r,
        bytes calldata workerSig,
        bytes32 correctResultHash,
        bytes[] calldata validatorSigs
    ) external nonReentrant {
        if (correctResultHash == r.resultHash) revert NotConflicting();
        address worker = _recover(receiptDigest(r), workerSig);
        bytes32 digest = attestationDigest(r.requestId, correctResultHash);
        uint256 quorum = _params.validatorQuorum;
        uint256 valid;
        address previous;
        for (uint256 i; i < validatorSigs.length; ++i) {
            address validator = _recover(digest, validatorSigs[i]);
            if (validator <= previous) revert QuorumNotReached(valid, quorum);
            previous = validator;
            if (validator != worker && isValidator(validator)) ++valid;
        }
        if (valid < quorum) revert QuorumNotReached(valid, quorum);
        _slash(worker, r.requestId, Offence.WrongResult);
    }

    function _slash(address worker, bytes32 requestId, Offence offence) private {
        if (_staked(Role.Worker, worker) == 0) revert NotBonded(worker);
        if (slashedFor[worker][requestId]) revert AlreadySlashed(worker, requestId);
        slashedFor[worker][requestId] = true;

        uint256 amount = _takeStake(Role.Worker, worker);
        uint256 reward = amount * _params.challengerBps / BPS;
        treasury += amount - reward;
        if (reward > 0) token.safeTransfer(msg.sender, reward);
        emit Slashed(worker, requestId, offence, amount, msg.sender, reward);
    }
}
