// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

import {Ledger} from "./Ledger.sol";
import {OwnerUsage, Usage} from "./Types.sol";

/// @title Budgets
/// @notice Bounds treasury-funded (free) execution. Per epoch, the treasury funds at most
/// `ownerBudgetPerEpoch` requests of one function owner, whichever gateways anchor them (first
/// anchored, first funded), and at most `gatewayBudgetPerEpoch` requests of one gateway's anchor
/// (owners in the anchor's address order). What is over budget is anchored but not rewarded;
/// claims are capped by the owner's funded count in that anchor. Assists (agreeing receipts of
/// racers that lost) are not calls and do not count against the budgets; each funded call of an
/// owner funds up to the anchor's `assistsPerRequest` of that owner's assists.
abstract contract Budgets is Ledger {
    using SafeCast for uint256;

    /// @notice Requests of `owner` the treasury funds in `epoch`, summed over gateways.
    mapping(address owner => mapping(uint64 epoch => uint32)) public fundedOf;
    mapping(address gateway => mapping(uint64 epoch => mapping(address owner => Usage))) private _usage;

    /// Some of `owner`'s anchored requests are over budget: only `funded` of `requests` are paid.
    event OverBudget(
        address indexed gateway, uint64 indexed epoch, address indexed owner, uint32 requests, uint32 funded
    );

    /// `usage[index]` is out of order (owners must be strictly ascending, none zero) or empty.
    error InvalidUsage(uint256 index);

    /// @notice How many of `owner`'s requests in `gateway`'s `epoch` the treasury funds, how
    /// many of those were claimed, and how many of the assists they fund were claimed.
    function usageOf(address gateway, uint64 epoch, address owner) external view returns (Usage memory) {
        return _usage[gateway][epoch][owner];
    }

    /// @dev Records what the budgets fund of a gateway's declared usage (once per gateway and
    /// epoch) and returns the anchored and the funded request counts.
    function _fund(address gateway, uint64 epoch, OwnerUsage[] calldata usage)
        internal
        returns (uint32 count, uint32 funded)
    {
        uint256 gatewayBudget = _params.gatewayBudgetPerEpoch;
        uint256 gatewayLeft = gatewayBudget;
        uint256 total;
        address previous;
        for (uint256 i; i < usage.length; ++i) {
            OwnerUsage calldata u = usage[i];
            if (u.owner <= previous || u.requests == 0) revert InvalidUsage(i);
            previous = u.owner;
            total += u.requests;
            gatewayLeft -= _grant(gateway, epoch, u, gatewayLeft);
        }
        count = total.toUint32();
        // At most the gateway budget, a uint32.
        // forge-lint: disable-next-line(unsafe-typecast)
        funded = uint32(gatewayBudget - gatewayLeft);
    }

    /// @dev Funds what is left of `u.owner`'s budget in `epoch`, at most `gatewayLeft`, and
    /// returns it.
    function _grant(address gateway, uint64 epoch, OwnerUsage calldata u, uint256 gatewayLeft)
        private
        returns (uint32 granted)
    {
        uint32 ownerBudget = _params.ownerBudgetPerEpoch;
        uint32 already = fundedOf[u.owner][epoch];
        // A lowered budget can leave an owner above it: nothing more then.
        uint256 room = ownerBudget > already ? ownerBudget - already : 0;
        if (room > gatewayLeft) room = gatewayLeft;
        // `room < requests`, a uint32.
        // forge-lint: disable-next-line(unsafe-typecast)
        granted = room < u.requests ? uint32(room) : u.requests;
        if (granted > 0) {
            // At most the owner budget.
            fundedOf[u.owner][epoch] = already + granted;
            _usage[gateway][epoch][u.owner].funded = granted;
        }
        if (granted < u.requests) emit OverBudget(gateway, epoch, u.owner, u.requests, granted);
    }

    /// @dev Takes up to `requests` of `owner`'s unpaid funded requests in an anchor, first come
    /// first served, and up to `assists` of the unpaid assists they fund (`perRequest` each,
    /// the anchor's snapshot of `assistsPerRequest`); returns how many of each it took.
    function _takeFunded(
        address gateway,
        uint64 epoch,
        address owner,
        uint32 requests,
        uint32 assists,
        uint8 perRequest
    ) internal returns (uint32 rewarded, uint32 assistsRewarded) {
        Usage storage u = _usage[gateway][epoch][owner];
        uint32 funded = u.funded;
        uint32 left = funded - u.claimed;
        rewarded = requests < left ? requests : left;
        uint256 assistsLeft = uint256(funded) * perRequest - u.assistsClaimed;
        // `assistsLeft <= assists`, a uint32.
        // forge-lint: disable-next-line(unsafe-typecast)
        assistsRewarded = assists < assistsLeft ? assists : uint32(assistsLeft);
        if (rewarded > 0) u.claimed += rewarded;
        if (assistsRewarded > 0) u.assistsClaimed += assistsRewarded;
    }
}
