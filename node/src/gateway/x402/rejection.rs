//! Why a payment was refused: each reason a stable x402-style code and a sentence.

use alloy::primitives::{Address, U256};

/// A refused payment. Every variant answers 402 with its [`code`](Rejection::code) and message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Rejection {
    /// No payment was sent.
    #[error(
        "this function costs {amount} token units per call; pay with X-PAYMENT or PAYMENT-SIGNATURE"
    )]
    Required {
        /// The price.
        amount: u64,
    },
    /// The payment could not be read.
    #[error("malformed payment: {0}")]
    Malformed(String),
    /// An x402 version other than 1 and 2.
    #[error("x402 version {0} is not supported (1 and 2 are)")]
    Version(u64),
    /// A scheme other than `exact`.
    #[error("scheme {0:?} is not supported (only \"exact\")")]
    Scheme(String),
    /// Another network.
    #[error("network {got:?} is not this gateway's ({want})")]
    Network {
        /// What the payment names.
        got: String,
        /// Ours.
        want: String,
    },
    /// Another token.
    #[error("asset {0} is unknown here; pay in the asset the requirements name")]
    Asset(String),
    /// Paid to someone other than the coordinator.
    #[error("payment goes to {got}, not to the payee {want}")]
    Payee {
        /// The payment's recipient.
        got: String,
        /// The coordinator.
        want: Address,
    },
    /// Not exactly the price.
    #[error("payment of {got} token units, but the price is exactly {want}")]
    Amount {
        /// Paid.
        got: U256,
        /// Price.
        want: u64,
    },
    /// `validAfter` is in the future.
    #[error("the authorization is not valid before {valid_after} (now {now})")]
    NotYetValid {
        /// Its start.
        valid_after: U256,
        /// The gateway's clock.
        now: u64,
    },
    /// `validBefore` has passed or is too close.
    #[error(
        "the authorization expires at {valid_before}; it must stay valid until at least {needed}"
    )]
    Expired {
        /// Its end.
        valid_before: U256,
        /// Now plus the settlement margin.
        needed: u64,
    },
    /// The signature does not recover to `from`.
    #[error("the signature is not {0}'s signature of this authorization")]
    Signature(Address),
    /// The payer cannot cover it.
    #[error("payer {payer} holds {balance} token units, less than {want}")]
    Funds {
        /// Payer.
        payer: Address,
        /// Balance.
        balance: U256,
        /// Price.
        want: u64,
    },
    /// The nonce is spent (a replay, a cancellation, or someone submitted it elsewhere).
    #[error("this authorization's nonce is already used")]
    NonceUsed,
    /// The payment already bought a response.
    #[error("this payment was already used for a response; sign a new one")]
    Used,
    /// Another request with the same payment is being served right now.
    #[error("this payment is being settled by another request")]
    InFlight,
    /// The payment was made for another function.
    #[error("this payment was accepted for {0}, not for this function")]
    OtherResource(String),
    /// The settlement transaction failed.
    #[error("settlement failed: {0}")]
    Settlement(String),
}

impl Rejection {
    /// A stable machine-readable reason (x402's names where it has one).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Required { .. } => "payment_required",
            Self::Malformed(_) => "invalid_payload",
            Self::Version(_) => "invalid_x402_version",
            Self::Scheme(_) => "unsupported_scheme",
            Self::Network { .. } => "invalid_network",
            Self::Asset(_) => "invalid_exact_evm_payload_asset",
            Self::Payee { .. } => "invalid_exact_evm_payload_recipient_mismatch",
            Self::Amount { .. } => "invalid_exact_evm_payload_authorization_value",
            Self::NotYetValid { .. } => "invalid_exact_evm_payload_authorization_valid_after",
            Self::Expired { .. } => "invalid_exact_evm_payload_authorization_valid_before",
            Self::Signature(_) => "invalid_exact_evm_payload_signature",
            Self::Funds { .. } => "insufficient_funds",
            Self::NonceUsed => "invalid_exact_evm_payload_authorization_nonce_used",
            Self::Used => "payment_already_used",
            Self::InFlight => "payment_in_progress",
            Self::OtherResource(_) => "payment_for_other_resource",
            Self::Settlement(_) => "settlement_failed",
        }
    }
}
