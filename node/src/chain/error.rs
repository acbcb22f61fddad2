//! What can go wrong talking to the chain, with contract reverts decoded to their names.

use alloy::{
    contract,
    primitives::TxHash,
    providers::PendingTransactionError,
    sol_types::SolInterface,
    transports::{RpcError, TransportErrorKind},
};
use peerhost_contracts::{
    ExecutionCoordinator::ExecutionCoordinatorErrors, MockUSDC::MockUSDCErrors,
};

/// A chain operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The local chain could not be started.
    #[error("local chain: {0}")]
    Anvil(String),
    /// The RPC endpoint is unreachable or misbehaved.
    #[error("chain RPC {url}: {source}")]
    Connect {
        /// The endpoint.
        url: String,
        /// Why.
        #[source]
        source: RpcError<TransportErrorKind>,
    },
    /// A contract refused the call; `reason` names the contract's custom error.
    #[error("the contract refused: {reason}")]
    Reverted {
        /// The decoded error, e.g. `EpochAlreadyAnchored(..)`.
        reason: String,
    },
    /// A mined transaction failed.
    #[error("transaction {0} failed on-chain")]
    Failed(TxHash),
    /// Another RPC or contract error.
    #[error(transparent)]
    Contract(contract::Error),
    /// A sent transaction was not confirmed.
    #[error(transparent)]
    Pending(#[from] PendingTransactionError),
    /// A deployment step failed.
    #[error("deploying contracts: {0}")]
    Deploy(String),
}

impl ChainError {
    /// Whether this is the contract's custom error `name` (e.g. `"AlreadyClaimed"`).
    pub fn is_revert(&self, name: &str) -> bool {
        matches!(self, Self::Reverted { reason } if reason.starts_with(name))
    }

    /// Whether another sender from the same account took the nonce first (two processes
    /// sharing a key, e.g. volunteers funded from one devnet faucet): sending again helps.
    pub fn is_nonce_race(&self) -> bool {
        let text = self.to_string().to_ascii_lowercase();
        !matches!(self, Self::Reverted { .. })
            && (text.contains("nonce") || text.contains("replacement transaction underpriced"))
    }
}

impl From<contract::Error> for ChainError {
    fn from(error: contract::Error) -> Self {
        if let Some(decoded) = error.as_decoded_interface_error::<ExecutionCoordinatorErrors>() {
            return Self::Reverted { reason: revert_reason(&decoded) };
        }
        if let Some(decoded) = error.as_decoded_interface_error::<MockUSDCErrors>() {
            return Self::Reverted { reason: revert_reason(&decoded) };
        }
        Self::Contract(error)
    }
}

/// `Name(args…)` of a decoded custom error.
fn revert_reason<E: SolInterface + std::fmt::Debug>(error: &E) -> String {
    // Generated enums print as `Variant(VariantStruct { .. })`: keep the inner struct.
    let debug = format!("{error:?}");
    debug.split_once('(').map_or(debug.clone(), |(_, inner)| inner.trim_end_matches(')').to_owned())
}
