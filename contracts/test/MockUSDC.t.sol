// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

import {MockUSDC} from "../src/MockUSDC.sol";
import {TestBase} from "./lib/TestBase.sol";

contract MockUSDCTest is TestBase {
    MockUSDC internal usdc;
    address internal admin = address(0xAD);
    uint256 internal aliceKey = 0xA11CE;
    address internal alice;
    address internal bob = address(0xB0B);

    function setUp() public {
        vm.warp(1_700_000_000);
        alice = vm.addr(aliceKey);
        usdc = new MockUSDC(admin);
        vm.prank(admin);
        usdc.mint(alice, 1_000e6);
    }

    function sign(uint256 key, bytes32 structHash) internal view returns (bytes memory) {
        bytes32 digest = keccak256(abi.encodePacked("\x19\x01", usdc.DOMAIN_SEPARATOR(), structHash));
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        return abi.encodePacked(r, s, v);
    }

    function authorization(bytes32 typehash, address to, uint256 value, uint256 after_, uint256 before, bytes32 nonce)
        internal
        view
        returns (bytes memory)
    {
        return sign(aliceKey, keccak256(abi.encode(typehash, alice, to, value, after_, before, nonce)));
    }

    function transferAuth(address to, uint256 value, bytes32 nonce) internal view returns (bytes memory) {
        return authorization(
            usdc.TRANSFER_WITH_AUTHORIZATION_TYPEHASH(), to, value, block.timestamp - 1, block.timestamp + 60, nonce
        );
    }

    // ---- metadata ----

    function test_metadata_matches_usdc() public view {
        vm.assertEq(usdc.decimals(), 6, "decimals");
        vm.assertEq(keccak256(bytes(usdc.name())), keccak256("USD Coin"), "name");
        vm.assertEq(keccak256(bytes(usdc.symbol())), keccak256("USDC"), "symbol");
        bytes32 expected = keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("USD Coin"),
                keccak256("2"),
                block.chainid,
                address(usdc)
            )
        );
        vm.assertEq(usdc.DOMAIN_SEPARATOR(), expected, "EIP-712 domain is USDC's");
    }

    function test_only_the_owner_mints() public {
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, bob));
        vm.prank(bob);
        usdc.mint(bob, 1);
    }

    // ---- EIP-2612 ----

    function permitSig(address spender, uint256 value, uint256 nonce, uint256 deadline)
        internal
        view
        returns (uint8 v, bytes32 r, bytes32 s)
    {
        bytes32 structHash = keccak256(abi.encode(usdc.PERMIT_TYPEHASH(), alice, spender, value, nonce, deadline));
        bytes32 digest = keccak256(abi.encodePacked("\x19\x01", usdc.DOMAIN_SEPARATOR(), structHash));
        return vm.sign(aliceKey, digest);
    }

    function test_permit_sets_allowance_once() public {
        uint256 deadline = block.timestamp + 60;
        (uint8 v, bytes32 r, bytes32 s) = permitSig(bob, 5e6, 0, deadline);
        usdc.permit(alice, bob, 5e6, deadline, v, r, s);
        vm.assertEq(usdc.allowance(alice, bob), 5e6, "allowance");
        vm.assertEq(usdc.nonces(alice), 1, "nonce used");
        vm.expectRevert(MockUSDC.InvalidSignature.selector);
        usdc.permit(alice, bob, 5e6, deadline, v, r, s);
    }

    function test_permit_rejects_expired_and_forged() public {
        uint256 deadline = block.timestamp - 1;
        (uint8 v, bytes32 r, bytes32 s) = permitSig(bob, 5e6, 0, deadline);
        vm.expectRevert(abi.encodeWithSelector(MockUSDC.PermitExpired.selector, deadline));
        usdc.permit(alice, bob, 5e6, deadline, v, r, s);

        (v, r, s) = permitSig(bob, 5e6, 0, block.timestamp + 60);
        vm.expectRevert(MockUSDC.InvalidSignature.selector);
        usdc.permit(alice, bob, 6e6, block.timestamp + 60, v, r, s);
    }

    // ---- EIP-3009 ----

    function test_transfer_with_authorization_moves_funds_once() public {
        bytes32 nonce = keccak256("n1");
        bytes memory sig = transferAuth(bob, 7e6, nonce);
        vm.assertFalse(usdc.authorizationState(alice, nonce), "fresh nonce");
        vm.prank(address(0xDEAD)); // anyone may submit it
        usdc.transferWithAuthorization(alice, bob, 7e6, block.timestamp - 1, block.timestamp + 60, nonce, sig);
        vm.assertEq(usdc.balanceOf(bob), 7e6, "payee credited");
        vm.assertTrue(usdc.authorizationState(alice, nonce), "nonce used");

        vm.expectRevert(abi.encodeWithSelector(MockUSDC.AuthorizationAlreadyUsed.selector, alice, nonce));
        usdc.transferWithAuthorization(alice, bob, 7e6, block.timestamp - 1, block.timestamp + 60, nonce, sig);
    }

    function test_authorization_window_is_enforced() public {
        bytes32 nonce = keccak256("n2");
        uint256 after_ = block.timestamp + 10;
        uint256 before = block.timestamp + 20;
        bytes memory sig = authorization(usdc.TRANSFER_WITH_AUTHORIZATION_TYPEHASH(), bob, 1e6, after_, before, nonce);
        vm.expectRevert(abi.encodeWithSelector(MockUSDC.AuthorizationNotYetValid.selector, after_));
        usdc.transferWithAuthorization(alice, bob, 1e6, after_, before, nonce, sig);

        vm.warp(before);
        vm.expectRevert(abi.encodeWithSelector(MockUSDC.AuthorizationExpired.selector, before));
        usdc.transferWithAuthorization(alice, bob, 1e6, after_, before, nonce, sig);

        vm.warp(after_ + 1);
        usdc.transferWithAuthorization(alice, bob, 1e6, after_, before, nonce, sig);
        vm.assertEq(usdc.balanceOf(bob), 1e6, "valid inside the window");
    }

    function test_authorization_binds_every_field() public {
        bytes32 nonce = keccak256("n3");
        bytes memory sig = transferAuth(bob, 1e6, nonce);
        uint256 a = block.timestamp - 1;
        uint256 b = block.timestamp + 60;
        vm.expectRevert(MockUSDC.InvalidSignature.selector);
        usdc.transferWithAuthorization(alice, bob, 2e6, a, b, nonce, sig);
        vm.expectRevert(MockUSDC.InvalidSignature.selector);
        usdc.transferWithAuthorization(alice, address(0xE5E), 1e6, a, b, nonce, sig);
        vm.expectRevert(MockUSDC.InvalidSignature.selector);
        usdc.transferWithAuthorization(alice, bob, 1e6, a, b, keccak256("other"), sig);
        vm.expectRevert(MockUSDC.InvalidSignature.selector);
        usdc.transferWithAuthorization(alice, bob, 1e6, a, b + 1, nonce, sig);
        // A transfer signature is not a receive signature.
        vm.prank(bob);
        vm.expectRevert(MockUSDC.InvalidSignature.selector);
        usdc.receiveWithAuthorization(alice, bob, 1e6, a, b, nonce, sig);
    }

    function test_receive_with_authorization_only_by_the_payee() public {
        bytes32 nonce = keccak256("n4");
        uint256 a = block.timestamp - 1;
        uint256 b = block.timestamp + 60;
        bytes memory sig = authorization(usdc.RECEIVE_WITH_AUTHORIZATION_TYPEHASH(), bob, 3e6, a, b, nonce);
        vm.expectRevert(abi.encodeWithSelector(MockUSDC.CallerNotPayee.selector, address(this), bob));
        usdc.receiveWithAuthorization(alice, bob, 3e6, a, b, nonce, sig);
        vm.prank(bob);
        usdc.receiveWithAuthorization(alice, bob, 3e6, a, b, nonce, sig);
        vm.assertEq(usdc.balanceOf(bob), 3e6, "payee received");
    }

    function test_cancelled_authorization_cannot_be_used() public {
        bytes32 nonce = keccak256("n5");
        bytes memory transfer = transferAuth(bob, 1e6, nonce);
        bytes memory cancel = sign(aliceKey, keccak256(abi.encode(usdc.CANCEL_AUTHORIZATION_TYPEHASH(), alice, nonce)));

        vm.expectRevert(MockUSDC.InvalidSignature.selector);
        usdc.cancelAuthorization(alice, keccak256("other"), cancel);

        usdc.cancelAuthorization(alice, nonce, cancel);
        vm.assertTrue(usdc.authorizationState(alice, nonce), "cancelled counts as used");
        vm.expectRevert(abi.encodeWithSelector(MockUSDC.AuthorizationAlreadyUsed.selector, alice, nonce));
        usdc.cancelAuthorization(alice, nonce, cancel);
        vm.expectRevert(abi.encodeWithSelector(MockUSDC.AuthorizationAlreadyUsed.selector, alice, nonce));
        usdc.transferWithAuthorization(alice, bob, 1e6, block.timestamp - 1, block.timestamp + 60, nonce, transfer);
    }

    function testFuzz_any_affordable_authorization_settles_exactly_once(uint256 value, bytes32 nonce) public {
        value = bound(value, 1, usdc.balanceOf(alice));
        bytes memory sig = transferAuth(bob, value, nonce);
        usdc.transferWithAuthorization(alice, bob, value, block.timestamp - 1, block.timestamp + 60, nonce, sig);
        vm.assertEq(usdc.balanceOf(bob), value, "moved");
        vm.expectRevert(abi.encodeWithSelector(MockUSDC.AuthorizationAlreadyUsed.selector, alice, nonce));
        usdc.transferWithAuthorization(alice, bob, value, block.timestamp - 1, block.timestamp + 60, nonce, sig);
    }

    function testFuzz_authorizations_beyond_the_balance_fail(uint256 value) public {
        value = bound(value, usdc.balanceOf(alice) + 1, type(uint128).max);
        bytes32 nonce = keccak256("rich");
        bytes memory sig = transferAuth(bob, value, nonce);
        vm.expectRevert();
        usdc.transferWithAuthorization(alice, bob, value, block.timestamp - 1, block.timestamp + 60, nonce, sig);
        vm.assertFalse(usdc.authorizationState(alice, nonce), "a failed transfer leaves the nonce unused");
    }
}
