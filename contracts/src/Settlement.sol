// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

import {Bonds} from "./Bonds.sol";
import {IERC3009} from "./interfaces/IERC3009.sol";
import {Authorization} from "./Types.sol";

/// @title Settlement
/// @notice x402 payments: a bonded gateway settles an EIP-3009 authorization to this contract
/// before it dispatches the work; the function owner is credited (pull payment) minus the
/// protocol fee, which goes to the treasury. A `(payer, nonce)` settles once.
abstract contract Settlement is Bonds {
    using SafeERC20 for IERC20;

    /// @notice Whether a payer's authorization nonce has settled here.
    mapping(address payer => mapping(bytes32 nonce => bool)) public settled;
    /// @notice What a function owner can withdraw.
    mapping(address owner => uint256) public credits;
    uint256 public totalCredits;

    event PaymentSettled(address indexed payer, address indexed owner, bytes32 indexed requestId, uint256 amount);
    event ProtocolFeeCollected(bytes32 indexed requestId, uint256 fee);
    event CreditsWithdrawn(address indexed owner, address indexed to, uint256 amount);

    error AlreadySettled(address payer, bytes32 nonce);
    error PaymentMismatch(uint256 expected, uint256 received);

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
