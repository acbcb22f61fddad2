//! x402 payments as the token checks them: the EIP-3009 `TransferWithAuthorization` a payer
//! signs under the token's EIP-712 domain, and the id the coordinator records a payment by.

use alloy::{
    primitives::{Address, B256, U256, keccak256},
    sol,
    sol_types::{Eip712Domain, SolStruct},
};

sol! {
    /// EIP-3009's transfer authorization: what x402's `exact` scheme on EVM signs.
    #[derive(Debug, PartialEq, Eq)]
    struct TransferWithAuthorization {
        address from;
        address to;
        uint256 value;
        uint256 validAfter;
        uint256 validBefore;
        bytes32 nonce;
    }
}

/// The token's EIP-712 domain (`name`, `version` as the token reports them).
pub fn token_domain(name: &str, version: &str, chain_id: u64, token: Address) -> Eip712Domain {
    Eip712Domain::new(
        Some(name.to_owned().into()),
        Some(version.to_owned().into()),
        Some(U256::from(chain_id)),
        Some(token),
        None,
    )
}

impl TransferWithAuthorization {
    /// The digest the payer signs.
    pub fn digest(&self, domain: &Eip712Domain) -> B256 {
        self.eip712_signing_hash(domain)
    }
}

/// The id a payment settles under on the coordinator (`requestId` of `PaymentSettled`):
/// `keccak256(from ‖ nonce)`, unique because the token accepts each `(from, nonce)` once.
pub fn payment_id(from: Address, nonce: B256) -> B256 {
    keccak256([from.as_slice(), nonce.as_slice()].concat())
}
