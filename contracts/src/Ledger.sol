// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";

import {Params} from "./Types.sol";

/// @title Ledger
/// @notice What every part of the coordinator shares: the token, the admin's parameters and
/// the treasury, which pays worker rewards and receives slashes and protocol fees.
abstract contract Ledger is Ownable2Step, ReentrancyGuard {
    using SafeERC20 for IERC20;

    uint16 internal constant BPS = 10_000;
    /// Longest delay or window the parameters accept.
    uint64 public constant MAX_DELAY = 365 days;

    /// The payment and bond token (USDC).
    IERC20 public immutable token;

    Params internal _params;

    /// Tokens that fund rewards; anyone may add to it.
    uint256 public treasury;

    event ParamsUpdated(Params params);
    event TreasuryFunded(address indexed from, uint256 amount);

    error InvalidParams();
    error ZeroAmount();
    error NothingToWithdraw();

    constructor(IERC20 token_, Params memory params_) {
        token = token_;
        _setParams(params_);
    }

    /// @notice Current parameters.
    function params() external view returns (Params memory) {
        return _params;
    }

    /// @notice Replaces the parameters (applies to later actions only).
    function setParams(Params memory params_) external onlyOwner {
        _setParams(params_);
    }

    /// @notice Adds `amount` to the treasury, which pays worker rewards. Anyone may fund it.
    function fundTreasury(uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        token.safeTransferFrom(msg.sender, address(this), amount);
        treasury += amount;
        emit TreasuryFunded(msg.sender, amount);
    }

    /// @dev Bounds every share and window. A challenge must be possible before the stake it
    /// targets can leave (`challengeWindow <= unbondDelay`), claims must outlast a challenge and
    /// its answer, a challenge must cost something (it pauses the anchor's claims), and an
    /// assist (a lost race) never pays more than a win.
    function _setParams(Params memory p) private {
        if (
            p.protocolFeeBps > BPS || p.slashBps > BPS || p.challengerBps > BPS || p.validatorQuorum == 0
                || p.claimWindow == 0 || p.claimWindow > MAX_DELAY || p.unbondDelay > MAX_DELAY
                || p.challengeWindow == 0 || p.challengeWindow > p.unbondDelay || p.answerWindow == 0
                || p.answerWindow > MAX_DELAY || uint256(p.challengeWindow) + p.answerWindow >= p.claimWindow
                || p.challengeDeposit == 0 || p.anchorWindow == 0 || p.anchorWindow > MAX_DELAY
                || p.assistReward > p.rewardPerRequest
        ) revert InvalidParams();
        _params = p;
        emit ParamsUpdated(p);
    }
}
