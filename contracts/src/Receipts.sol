// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC5267} from "@openzeppelin/contracts/interfaces/IERC5267.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

import {Receipt} from "./Types.sol";

/// @title Receipts
/// @notice What workers and validators sign and what gateways anchor, as the coordinator
/// recomputes it (the Rust side: `peerhost_contracts::receipts`). Leaves are hashed twice, so
/// no leaf can pass for an inner node; pairs hash sorted (OpenZeppelin `MerkleProof`).
/// @dev The EIP-712 domain is OpenZeppelin's `EIP712("PeerHost ExecutionCoordinator", "1")`
/// written out with constant strings: the same separator and ERC-5267 answer in fewer bytes
/// (the coordinator is close to EIP-170's size limit).
abstract contract Receipts is IERC5267 {
    bytes32 public constant RECEIPT_TYPEHASH =
        keccak256("Receipt(bytes32 requestId,bytes32 resultHash,uint64 fuelUsed,bytes32 bundle)");
    bytes32 public constant ATTESTATION_TYPEHASH = keccak256("Attestation(bytes32 requestId,bytes32 resultHash)");
    string private constant NAME = "PeerHost ExecutionCoordinator";
    string private constant VERSION = "1";
    bytes32 private constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");

    bytes32 private immutable _cachedDomainSeparator;
    uint256 private immutable _cachedChainId;

    constructor() {
        _cachedChainId = block.chainid;
        _cachedDomainSeparator = _buildDomainSeparator();
    }

    /// @notice ERC-5267: name, version, chain id and verifying contract (fields `0x0f`).
    function eip712Domain()
        external
        view
        returns (
            bytes1 fields,
            string memory name,
            string memory version,
            uint256 chainId,
            address verifyingContract,
            bytes32 salt,
            uint256[] memory extensions
        )
    {
        return (hex"0f", NAME, VERSION, block.chainid, address(this), bytes32(0), new uint256[](0));
    }

    /// @notice The leaf of what `worker` served for `owner` in one gateway's epoch: one leaf per
    /// (worker, owner) pair, with the calls it won (`requests`) and its agreeing receipts of
    /// calls it lost (`assists`); `receiptsRoot` commits to all those receipts and `fuel` is
    /// theirs (see `receiptLeaf`).
    function workerLeaf(
        address worker,
        address owner,
        uint32 requests,
        uint32 assists,
        uint64 fuel,
        bytes32 receiptsRoot
    ) public pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(worker, owner, requests, assists, fuel, receiptsRoot))));
    }

    /// @notice A leaf of a worker's receipts tree: `keccak256(bytes.concat(receiptHash(worker, r)))`.
    /// It holds the result only as a commitment bound to the worker's address, so seeing another
    /// worker's leaves reveals nothing to copy.
    function receiptLeaf(address worker, Receipt calldata r) public pure returns (bytes32) {
        return keccak256(bytes.concat(receiptHash(worker, r)));
    }

    /// @notice The inner hash of a receipt leaf (what a challenger names a receipt by):
    /// `keccak256(abi.encode(requestId, resultCommitment(resultHash, worker), fuelUsed, bundle))`.
    function receiptHash(address worker, Receipt calldata r) public pure returns (bytes32) {
        return keccak256(abi.encode(r.requestId, resultCommitment(r.resultHash, worker), r.fuelUsed, r.bundle));
    }

    /// @notice The commitment to a result hash that only `worker` can claim.
    function resultCommitment(bytes32 resultHash, address worker) public pure returns (bytes32) {
        return keccak256(abi.encode(resultHash, worker));
    }

    /// @notice EIP-712 digest a worker signs for a receipt.
    function receiptDigest(Receipt calldata r) public view returns (bytes32) {
        return
            _hashTypedDataV4(keccak256(abi.encode(RECEIPT_TYPEHASH, r.requestId, r.resultHash, r.fuelUsed, r.bundle)));
    }

    /// @notice EIP-712 digest a validator signs for the result it got re-executing a request.
    function attestationDigest(bytes32 requestId, bytes32 resultHash) public view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(ATTESTATION_TYPEHASH, requestId, resultHash)));
    }

    /// @dev The signer of `digest` (OpenZeppelin's `ECDSA.recover`: malleable signatures
    /// rejected). Called from one place, so the copy of the signature to memory is not repeated
    /// at every call site.
    function _recover(bytes32 digest, bytes calldata signature) internal pure returns (address) {
        return ECDSA.recover(digest, signature);
    }

    /// @dev `keccak256("\x19\x01" ‖ domainSeparator ‖ structHash)`; the separator is recomputed
    /// after a chain fork.
    function _hashTypedDataV4(bytes32 structHash) internal view returns (bytes32) {
        bytes32 separator = block.chainid == _cachedChainId ? _cachedDomainSeparator : _buildDomainSeparator();
        return keccak256(abi.encodePacked("\x19\x01", separator, structHash));
    }

    function _buildDomainSeparator() private view returns (bytes32) {
        return keccak256(
            abi.encode(DOMAIN_TYPEHASH, keccak256(bytes(NAME)), keccak256(bytes(VERSION)), block.chainid, address(this))
        );
    }
}
