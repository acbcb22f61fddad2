//! Rust bindings of PeerHost's contracts and the off-chain halves of what they verify.
//!
//! The contract types come from alloy's `sol!` over the committed artifacts in
//! `contracts/artifacts/` (ABI and creation bytecode, exported from forge's build by
//! `contracts/tools/export-artifacts`; a test keeps them equal to a fresh build of the
//! sources). [`receipts`] holds the EIP-712 receipts and attestations workers and validators
//! sign with their EVM keys, and the leaves gateways anchor — byte for byte what the
//! coordinator recomputes on-chain.

pub mod payments;
pub mod receipts;

alloy::sol!(
    #[allow(missing_docs, clippy::too_many_arguments)]
    #[sol(rpc)]
    #[derive(Debug, PartialEq, Eq)]
    ExecutionCoordinator,
    "artifacts/ExecutionCoordinator.json"
);

alloy::sol!(
    #[allow(missing_docs, clippy::too_many_arguments)]
    #[sol(rpc)]
    #[derive(Debug, PartialEq, Eq)]
    MockUSDC,
    "artifacts/MockUSDC.json"
);

/// The contracts whose artifacts are committed, by name.
pub const CONTRACTS: [&str; 2] = ["ExecutionCoordinator", "MockUSDC"];
