// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Bonds} from "../src/Bonds.sol";
import {Ledger} from "../src/Ledger.sol";
import {Settlement} from "../src/Settlement.sol";
import {Authorization, Params, Role} from "../src/Types.sol";
import {MockUSDC} from "../src/MockUSDC.sol";
import {Fixture} from "./lib/Fixture.sol";

contract SettlementTest is Fixture {
    bytes32 internal constant REQUEST = keccak256("paid request");
    bytes32 internal RECEIVE;
    bytes32 internal TRANSFER;

    function setUp() public override {
        super.setUp();
        RECEIVE = usdc.RECEIVE_WITH_AUTHORIZATION_TYPEHASH();
        TRANSFER = usdc.TRANSFER_WITH_AUTHORIZATION_TYPEHASH();
    }

    function test_settle_credits_the_owner_and_the_treasury() public {
        Authorization memory auth = authorization(10_000, keccak256("nonce"));
        bytes memory sig = signAuthorization(payerKey, RECEIVE, auth);
        uint256 treasuryBefore = coordinator.treasury();
        vm.expectEmit(address(coordinator));
        emit Settlement.PaymentSettled(payer, owner, REQUEST, 10_000);
        vm.expectEmit(address(coordinator));
        emit Settlement.ProtocolFeeCollected(REQUEST, 500);
        vm.prank(gateway);
        coordinator.settle(owner, REQUEST, auth, sig);
        vm.assertEq(coordinator.credits(owner), 9_500, "owner credited net of the 5% fee");
        vm.assertEq(coordinator.treasury(), treasuryBefore + 500, "fee to the treasury");
        vm.assertEq(usdc.balanceOf(payer), 1_000 * USDC - 10_000, "payer charged");
        vm.assertTrue(coordinator.settled(payer, auth.nonce), "recorded");
        vm.assertTrue(usdc.authorizationState(payer, auth.nonce), "nonce used at the token");
        assertAccounted();

        address to = address(0x7070);
        vm.expectEmit(address(coordinator));
        emit Settlement.CreditsWithdrawn(owner, to, 9_500);
        vm.prank(owner);
        coordinator.withdrawCredits(to);
        vm.assertEq(usdc.balanceOf(to), 9_500, "withdrawn");
        vm.prank(owner);
        vm.expectRevert(Ledger.NothingToWithdraw.selector);
        coordinator.withdrawCredits(to);
    }

    function test_a_payment_settles_once() public {
        Authorization memory auth = authorization(10_000, keccak256("once"));
        bytes memory sig = signAuthorization(payerKey, RECEIVE, auth);
        vm.startPrank(gateway);
        coordinator.settle(owner, REQUEST, auth, sig);
        vm.expectRevert(abi.encodeWithSelector(Settlement.AlreadySettled.selector, payer, auth.nonce));
        coordinator.settle(owner, REQUEST, auth, sig);
        vm.expectRevert(abi.encodeWithSelector(Settlement.AlreadySettled.selector, payer, auth.nonce));
        coordinator.settleTransfer(owner, REQUEST, auth, sig);
        vm.stopPrank();
        vm.assertEq(coordinator.credits(owner), 9_500, "credited once");
    }

    function test_settle_transfer_accepts_what_x402_clients_sign() public {
        Authorization memory auth = authorization(25_000, keccak256("x402"));
        bytes memory sig = signAuthorization(payerKey, TRANSFER, auth);
        vm.prank(gateway);
        coordinator.settleTransfer(owner, REQUEST, auth, sig);
        vm.assertEq(coordinator.credits(owner), 23_750, "credited");
        assertAccounted();
    }

    function test_only_bonded_gateways_settle() public {
        Authorization memory auth = authorization(10_000, keccak256("n"));
        bytes memory sig = signAuthorization(payerKey, RECEIVE, auth);
        vm.expectRevert(abi.encodeWithSelector(Bonds.NotGateway.selector, address(this)));
        coordinator.settle(owner, REQUEST, auth, sig);
        vm.expectRevert(abi.encodeWithSelector(Bonds.NotGateway.selector, address(this)));
        coordinator.settleTransfer(owner, REQUEST, auth, sig);
        // A gateway whose bond is on its way out no longer settles.
        vm.startPrank(gateway);
        coordinator.requestUnbond(Role.Gateway, GATEWAY_BOND);
        vm.expectRevert(abi.encodeWithSelector(Bonds.NotGateway.selector, gateway));
        coordinator.settle(owner, REQUEST, auth, sig);
        vm.stopPrank();
        // Anyone who bonds does.
        address newcomer = address(0x6A80);
        fund(newcomer, GATEWAY_BOND);
        bondRole(Role.Gateway, newcomer, GATEWAY_BOND);
        vm.prank(newcomer);
        coordinator.settle(owner, REQUEST, auth, sig);
        vm.assertEq(coordinator.credits(owner), 9_500, "settled by the newcomer");
    }

    function test_bad_payments_revert_and_leave_nothing_behind() public {
        vm.startPrank(gateway);
        // Zero value.
        Authorization memory zero = authorization(0, keccak256("zero"));
        bytes memory zeroSig = signAuthorization(payerKey, RECEIVE, zero);
        vm.expectRevert(Ledger.ZeroAmount.selector);
        coordinator.settle(owner, REQUEST, zero, zeroSig);

        // Signed by someone else.
        Authorization memory auth = authorization(10_000, keccak256("forged"));
        bytes memory forged = signAuthorization(workerKey, RECEIVE, auth);
        vm.expectRevert(MockUSDC.InvalidSignature.selector);
        coordinator.settle(owner, REQUEST, auth, forged);

        // A transfer signature offered as a receive one, and the reverse.
        bytes memory transferSig = signAuthorization(payerKey, TRANSFER, auth);
        vm.expectRevert(MockUSDC.InvalidSignature.selector);
        coordinator.settle(owner, REQUEST, auth, transferSig);
        bytes memory receiveSig = signAuthorization(payerKey, RECEIVE, auth);
        vm.expectRevert(MockUSDC.InvalidSignature.selector);
        coordinator.settleTransfer(owner, REQUEST, auth, receiveSig);

        // Expired and not yet valid.
        Authorization memory late = authorization(10_000, keccak256("late"));
        late.validBefore = block.timestamp;
        bytes memory lateSig = signAuthorization(payerKey, RECEIVE, late);
        vm.expectRevert(abi.encodeWithSelector(MockUSDC.AuthorizationExpired.selector, late.validBefore));
        coordinator.settle(owner, REQUEST, late, lateSig);
        Authorization memory early = authorization(10_000, keccak256("early"));
        early.validAfter = block.timestamp + 10;
        bytes memory earlySig = signAuthorization(payerKey, RECEIVE, early);
        vm.expectRevert(abi.encodeWithSelector(MockUSDC.AuthorizationNotYetValid.selector, early.validAfter));
        coordinator.settle(owner, REQUEST, early, earlySig);

        // More than the payer has.
        Authorization memory rich = authorization(2_000 * USDC, keccak256("rich"));
        bytes memory richSig = signAuthorization(payerKey, RECEIVE, rich);
        vm.expectRevert();
        coordinator.settle(owner, REQUEST, rich, richSig);
        vm.stopPrank();

        vm.assertEq(coordinator.credits(owner), 0, "nothing credited");
        vm.assertFalse(coordinator.settled(payer, auth.nonce), "a failed settlement can be retried");
        vm.assertEq(usdc.balanceOf(payer), 1_000 * USDC, "nothing charged");
    }

    function test_a_cancelled_authorization_does_not_settle() public {
        Authorization memory auth = authorization(10_000, keccak256("cancel me"));
        bytes memory sig = signAuthorization(payerKey, RECEIVE, auth);
        bytes32 cancelDigest = keccak256(
            abi.encodePacked(
                "\x19\x01",
                usdc.DOMAIN_SEPARATOR(),
                keccak256(abi.encode(usdc.CANCEL_AUTHORIZATION_TYPEHASH(), payer, auth.nonce))
            )
        );
        usdc.cancelAuthorization(payer, auth.nonce, signDigest(payerKey, cancelDigest));
        vm.prank(gateway);
        vm.expectRevert(abi.encodeWithSelector(MockUSDC.AuthorizationAlreadyUsed.selector, payer, auth.nonce));
        coordinator.settle(owner, REQUEST, auth, sig);
    }

    function testFuzz_fee_and_credit_add_up(uint256 value, uint16 feeBps) public {
        value = bound(value, 1, 1_000 * USDC);
        Params memory p = defaultParams();
        p.protocolFeeBps = uint16(bound(feeBps, 0, 10_000));
        vm.prank(admin);
        coordinator.setParams(p);
        Authorization memory auth = authorization(value, keccak256(abi.encode(value, feeBps)));
        bytes memory sig = signAuthorization(payerKey, RECEIVE, auth);
        uint256 treasuryBefore = coordinator.treasury();
        vm.prank(gateway);
        coordinator.settle(owner, REQUEST, auth, sig);
        uint256 fee = coordinator.treasury() - treasuryBefore;
        vm.assertEq(fee + coordinator.credits(owner), value, "fee + credit = payment");
        vm.assertEq(fee, value * p.protocolFeeBps / 10_000, "fee rounds down");
        assertAccounted();
    }
}
