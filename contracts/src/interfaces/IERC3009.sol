// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title EIP-3009: transfers authorized by an off-chain signature with a random nonce.
/// @notice The subset PeerHost's coordinator and x402 payments use, with signatures as bytes
/// (65-byte ECDSA or an ERC-1271 contract signature), as USDC v2.2 accepts them.
interface IERC3009 {
    /// An authorization was used.
    event AuthorizationUsed(address indexed authorizer, bytes32 indexed nonce);
    /// An authorization was cancelled before use.
    event AuthorizationCanceled(address indexed authorizer, bytes32 indexed nonce);

    /// @notice Whether `nonce` of `authorizer` was used or cancelled.
    function authorizationState(address authorizer, bytes32 nonce) external view returns (bool);

    /// @notice Moves `value` from `from` to `to` with `from`'s signed authorization.
    function transferWithAuthorization(
        address from,
        address to,
        uint256 value,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce,
        bytes memory signature
    ) external;

    /// @notice Like `transferWithAuthorization`, but only the payee `to` may submit it, so the
    /// authorization cannot be front-run.
    function receiveWithAuthorization(
        address from,
        address to,
        uint256 value,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce,
        bytes memory signature
    ) external;

    /// @notice Cancels an unused authorization.
    function cancelAuthorization(address authorizer, bytes32 nonce, bytes memory signature) external;
}
