// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

// The coordinator's ABI types. They are declared at file level, not inside one of the abstract
// parts of the coordinator, so the ABI names them without a contract prefix and the Rust
// bindings find all of them under `ExecutionCoordinator::`.

/// Tunable parameters, set by the admin. Basis points are out of 10 000; durations in seconds.
/// The order packs them into five storage slots (the anchor reads the rewards and budgets, two).
struct Params {
    /// How long a requested unbonding stays slashable before it can be withdrawn.
    uint64 unbondDelay;
    /// How long after anchoring an epoch's rewards can be claimed.
    uint64 claimWindow;
    /// How long after anchoring a receipt in it can be challenged (at most `unbondDelay`).
    uint64 challengeWindow;
    /// How long a challenged gateway has to produce the worker's signed receipt.
    uint64 answerWindow;
    /// Smallest bond that makes a worker eligible.
    uint128 minWorkerBond;
    /// Smallest bond that lets a gateway anchor and settle.
    uint128 minGatewayBond;
    /// Smallest bond that makes an approved validator's attestations count.
    uint128 minValidatorBond;
    /// Treasury subsidy per funded request (the free tier's price), in token units.
    uint64 rewardPerRequest;
    /// Treasury subsidy per funded assist (a losing racer's receipt that agrees with the accepted
    /// result, delivered before the race's deadline), in token units. At most `rewardPerRequest`.
    uint64 assistReward;
    /// Assists the treasury funds per funded request of an owner in one anchor (0 funds none).
    uint8 assistsPerRequest;
    /// Requests of one function owner the treasury funds per epoch, across all gateways.
    /// No sentinel: 0 funds nothing, `type(uint32).max` is practically unlimited.
    uint32 ownerBudgetPerEpoch;
    /// Requests the treasury funds per gateway per epoch (the cap on one anchor). No sentinel.
    uint32 gatewayBudgetPerEpoch;
    /// What a challenger posts to challenge an anchored receipt; lost to the gateway if it
    /// answers. Must be non-zero, or challenges would pause claims for free.
    uint96 challengeDeposit;
    /// How long after an epoch ends a gateway may anchor it: long enough to ride out downtime
    /// and reorgs, short enough that nobody anchors (and draws the budgets of) old epochs.
    uint64 anchorWindow;
    /// Share of each x402 payment kept by the treasury.
    uint16 protocolFeeBps;
    /// Share of a stake (bond + unbonding) taken by one slash, worker or gateway.
    uint16 slashBps;
    /// Share of a slash paid to the challenger; the rest goes to the treasury.
    uint16 challengerBps;
    /// Distinct approved, bonded validators whose attestations prove a receipt wrong.
    uint8 validatorQuorum;
}

/// What an account bonds for. One address may bond for several roles; each has its own stake.
enum Role {
    /// Executes requests and signs receipts; slashed for wrong or conflicting results.
    Worker,
    /// Anchors epochs and settles payments; slashed for anchoring receipts nobody signed.
    Gateway,
    /// Re-executes audited requests; its attestations count in disputes once the owner approves it.
    Validator
}

/// An account's stake in one role.
struct Stake {
    uint128 bonded;
    uint128 unbonding;
    /// When `unbonding` can be withdrawn.
    uint64 unlockAt;
    /// The account's libp2p/iroh ed25519 public key (unique per role; zero only for a
    /// validator that gave none).
    bytes32 nodeKey;
}

/// One function owner's requests in an anchored epoch, as the gateway declares them.
struct OwnerUsage {
    address owner;
    uint32 requests;
}

/// One leaf of a gateway's epoch tree: what `worker` served for `owner`'s functions.
struct WorkerLeaf {
    address worker;
    address owner;
    /// Calls the worker won (its result was the accepted one).
    uint32 requests;
    /// Assists: the worker's receipts for calls it lost whose result matches the accepted one,
    /// delivered before the race's deadline.
    uint32 assists;
    /// Fuel of all those receipts, won and assisted.
    uint64 fuel;
    /// Root of the tree over the worker's receipt leaves for this owner, won and assisted alike
    /// (so a challenge can name any of them).
    bytes32 receiptsRoot;
}

/// A gateway's funded requests of one owner in one epoch, and how many of them, and of the
/// assists they fund, were paid.
struct Usage {
    uint32 funded;
    uint32 claimed;
    /// Assists paid, at most `funded × assistsPerRequest` of the anchor.
    uint64 assistsClaimed;
}

/// One gateway's anchored epoch: three storage slots, whatever the number of requests.
struct Anchor {
    bytes32 root;
    /// Requests anchored (the sum of the usage).
    uint32 count;
    /// Of those, the requests the treasury funds (within the budgets).
    uint32 funded;
    /// Funded requests paid out.
    uint32 claimedRequests;
    uint64 anchoredAt;
    /// Reward per funded request reserved from the treasury when anchored.
    uint64 rate;
    /// Challenges neither answered nor upheld; claims wait while there are any.
    uint16 openChallenges;
    /// The unclaimed rest went back to the treasury.
    bool released;
    /// A challenge went unanswered: the gateway was slashed and nothing more is paid.
    bool fraudulent;
    /// Reward per funded assist reserved from the treasury when anchored (at most `rate`).
    uint64 assistRate;
    /// `assistsPerRequest` when anchored: each funded request of an owner funds this many of
    /// that owner's assists.
    uint8 assistsPerRequest;
    /// Funded assists paid out.
    uint64 claimedAssists;
}

/// A receipt as the worker's EVM key signs it (EIP-712, the coordinator's domain).
struct Receipt {
    bytes32 requestId;
    /// keccak256 of the canonical response.
    bytes32 resultHash;
    uint64 fuelUsed;
    /// BLAKE3 hash of the bundle that ran.
    bytes32 bundle;
}

/// Where a challenge of an anchored receipt stands.
enum ChallengeState {
    None,
    /// Waiting for the gateway's answer until `answerBy`.
    Open,
    /// The gateway showed the worker's signed receipt; the deposit went to the gateway.
    Answered,
    /// Unanswered: the gateway was slashed (or already had been for this anchor) and the
    /// challenger got its deposit back.
    Upheld
}

/// A challenge of one receipt leaf in a gateway's anchored epoch.
struct Challenge {
    address gateway;
    uint64 epoch;
    ChallengeState state;
    address worker;
    /// The gateway must answer before this time.
    uint64 answerBy;
    address challenger;
    uint96 deposit;
    bytes32 receiptLeaf;
}

/// An EIP-3009 authorization whose payee is the coordinator.
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
