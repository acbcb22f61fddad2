//! The paying side of x402's `exact` scheme on EVM: read the offer of a 402's v2
//! `PAYMENT-REQUIRED` header once, then sign a fresh `PAYMENT-SIGNATURE` for each call (an
//! EIP-3009 `TransferWithAuthorization` under the token's EIP-712 domain). `peerhost-node bench
//! --paid` pays with it; any x402 client that signs the same struct interoperates.

use alloy::{
    primitives::{Address, B256, U256},
    sol_types::Eip712Domain,
};
use data_encoding::{BASE64, BASE64_NOPAD};
use peerhost_contracts::payments::{TransferWithAuthorization, token_domain};
use peerhost_protocol::Wallet;
use serde_json::{Value, json};

use super::wire::{SCHEME, encode_header};
use crate::chain::sign_prehash;

/// What a 402 offered that a payer cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OfferError {
    /// The header is not base64 of a JSON object.
    #[error("PAYMENT-REQUIRED is not base64 of JSON: {0}")]
    Encoding(String),
    /// No `accepts` entry is the `exact` scheme on an `eip155:` network.
    #[error("the 402 offers no `exact` payment on an EVM chain")]
    NoExactOffer,
    /// The `exact` offer lacks a field or has one that does not parse.
    #[error("the 402's `exact` offer has no valid `{0}`")]
    Field(&'static str),
}

/// One way to pay that a 402 offered, as the payer signs it.
#[derive(Debug, Clone)]
pub struct Offer {
    /// The `accepts` entry as the gateway sent it (a v2 payment repeats it).
    accepted: Value,
    /// Price in token units.
    pub amount: U256,
    /// The payee every authorization is made out to (the coordinator).
    pub pay_to: Address,
    /// How long an authorization stays valid.
    pub max_timeout_s: u64,
    domain: Eip712Domain,
}

impl Offer {
    /// The first `exact` EVM offer of a v2 `PAYMENT-REQUIRED` header.
    ///
    /// # Errors
    ///
    /// [`OfferError`] naming what is missing or malformed.
    pub fn from_required_header(header: &[u8]) -> Result<Self, OfferError> {
        let text = header.trim_ascii();
        let json = BASE64
            .decode(text)
            .or_else(|_| BASE64_NOPAD.decode(text))
            .map_err(|e| OfferError::Encoding(e.to_string()))?;
        let required: Value =
            serde_json::from_slice(&json).map_err(|e| OfferError::Encoding(e.to_string()))?;
        let accepted = required["accepts"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|a| {
                a["scheme"] == SCHEME
                    && a["network"].as_str().is_some_and(|n| n.starts_with("eip155:"))
            })
            .ok_or(OfferError::NoExactOffer)?
            .clone();
        let text = |field: &'static str| accepted[field].as_str().ok_or(OfferError::Field(field));
        let address = |field| text(field)?.parse::<Address>().map_err(|_| OfferError::Field(field));
        let chain_id = text("network")?["eip155:".len()..]
            .parse::<u64>()
            .map_err(|_| OfferError::Field("network"))?;
        let amount =
            U256::from_str_radix(text("amount")?, 10).map_err(|_| OfferError::Field("amount"))?;
        let (asset, pay_to) = (address("asset")?, address("payTo")?);
        let extra = |field: &'static str| {
            accepted["extra"][field].as_str().ok_or(OfferError::Field("extra")).map(str::to_owned)
        };
        let domain = token_domain(&extra("name")?, &extra("version")?, chain_id, asset);
        let max_timeout_s =
            accepted["maxTimeoutSeconds"].as_u64().ok_or(OfferError::Field("maxTimeoutSeconds"))?;
        Ok(Self { accepted, amount, pay_to, max_timeout_s, domain })
    }
}

/// A wallet paying x402 offers.
pub struct Payer {
    key: B256,
    address: Address,
}

impl std::fmt::Debug for Payer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Payer").field("address", &self.address).finish_non_exhaustive()
    }
}

impl Payer {
    /// Pays from `wallet`.
    pub fn new(wallet: &Wallet) -> Self {
        Self { key: B256::from(wallet.to_bytes()), address: wallet.owner().0 }
    }

    /// The paying address.
    pub fn address(&self) -> Address {
        self.address
    }

    /// A `PAYMENT-SIGNATURE` header paying `offer` once: authorization `nonce` (each payment
    /// needs its own), valid from now until `now_s` plus the offer's timeout.
    pub fn pay(&self, offer: &Offer, nonce: B256, now_s: u64) -> String {
        let authorization = TransferWithAuthorization {
            from: self.address,
            to: offer.pay_to,
            value: offer.amount,
            validAfter: U256::ZERO,
            validBefore: U256::from(now_s + offer.max_timeout_s),
            nonce,
        };
        let signature = sign_prehash(&self.key, authorization.digest(&offer.domain));
        encode_header(&json!({
            "x402Version": 2,
            "accepted": offer.accepted,
            "payload": {
                "signature": format!("0x{}", hex::encode(signature)),
                "authorization": {
                    "from": authorization.from.to_checksum(None),
                    "to": authorization.to.to_checksum(None),
                    "value": authorization.value.to_string(),
                    "validAfter": authorization.validAfter.to_string(),
                    "validBefore": authorization.validBefore.to_string(),
                    "nonce": authorization.nonce.to_string(),
                },
            },
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::x402::{
        verify,
        wire::{Requirements, Terms, decode_header},
    };

    fn terms() -> Terms {
        Terms {
            chain_id: 31_337,
            asset: Address::repeat_byte(0xa5),
            pay_to: Address::repeat_byte(0xc0),
            name: "USD Coin".into(),
            version: "2".into(),
            max_timeout_s: 60,
        }
    }

    fn required(terms: &Terms) -> String {
        let req = Requirements {
            amount: 10_000,
            resource: "http://gw/0xowner/shop/paid".into(),
            description: "for a price".into(),
        };
        encode_header(&terms.required_v2(&req, "payment_required"))
    }

    #[test]
    fn a_payment_for_the_offer_passes_the_gateways_checks() {
        let terms = terms();
        let offer = Offer::from_required_header(required(&terms).as_bytes()).unwrap();
        assert_eq!((offer.amount, offer.pay_to), (U256::from(10_000), terms.pay_to));
        let wallet = Wallet::from_bytes(&[7; 32]).unwrap();
        let payer = Payer::new(&wallet);
        let now = 1_700_000_000;
        let payment = decode_header(payer.pay(&offer, B256::repeat_byte(1), now).as_bytes());
        let payment = payment.unwrap();
        let domain = token_domain(&terms.name, &terms.version, terms.chain_id, terms.asset);
        let (_, signer) = verify::signer(&payment, &domain);
        assert_eq!(signer, Some(payer.address()));
        verify::check(&payment, &terms, signer, 10_000, now).unwrap();
    }

    #[test]
    fn offers_a_payer_cannot_use_are_named() {
        assert!(matches!(Offer::from_required_header(b"%%"), Err(OfferError::Encoding(_))));
        let none = encode_header(&json!({ "x402Version": 2, "accepts": [] }));
        assert_eq!(
            Offer::from_required_header(none.as_bytes()).err(),
            Some(OfferError::NoExactOffer)
        );
        let mut v = terms().required_v2(
            &Requirements { amount: 1, resource: String::new(), description: String::new() },
            "",
        );
        v["accepts"][0]["payTo"] = json!("not an address");
        let bad = encode_header(&v);
        let refused = Offer::from_required_header(bad.as_bytes()).err();
        assert_eq!(refused, Some(OfferError::Field("payTo")));
    }
}
