//! x402's JSON: payment requirements (v1 body, v2 `PAYMENT-REQUIRED` header), payment
//! payloads (`X-PAYMENT`, `PAYMENT-SIGNATURE`, MCP `_meta["x402/payment"]`) and settlement
//! responses, for the `exact` scheme on EVM.

use alloy::primitives::{Address, B256, Bytes, U256};
use data_encoding::{BASE64, BASE64_NOPAD};
use peerhost_contracts::payments::TransferWithAuthorization;
use serde::Deserialize;
use serde_json::{Value, json};

use super::Rejection;

/// Largest payment header accepted, in bytes.
pub(crate) const MAX_HEADER_LEN: usize = 16 * 1024;

/// The only scheme PeerHost takes.
pub(crate) const SCHEME: &str = "exact";

/// What one priced call asks for.
#[derive(Debug, Clone)]
pub(crate) struct Requirements {
    /// Price in token units.
    pub amount: u64,
    /// The function URL.
    pub resource: String,
    /// The function's description.
    pub description: String,
}

/// The payment terms every requirement shares: where, which token, to whom.
#[derive(Debug, Clone)]
pub(crate) struct Terms {
    /// Chain id.
    pub chain_id: u64,
    /// The token (USDC).
    pub asset: Address,
    /// The payee every payment is made to: the coordinator.
    pub pay_to: Address,
    /// The token's EIP-712 name.
    pub name: String,
    /// The token's EIP-712 version.
    pub version: String,
    /// How long a client may take to pay.
    pub max_timeout_s: u64,
}

impl Terms {
    /// The v2 network id (CAIP-2).
    pub(crate) fn network_v2(&self) -> String {
        format!("eip155:{}", self.chain_id)
    }

    /// The v1 network name (x402's names for the chains it knows; CAIP-2 otherwise).
    pub(crate) fn network_v1(&self) -> String {
        let name = match self.chain_id {
            1 => "ethereum",
            137 => "polygon",
            80002 => "polygon-amoy",
            8453 => "base",
            84532 => "base-sepolia",
            43114 => "avalanche",
            43113 => "avalanche-fuji",
            _ => return self.network_v2(),
        };
        name.to_owned()
    }

    fn extra(&self) -> Value {
        json!({ "name": self.name, "version": self.version })
    }

    /// The v1 402 body.
    pub(crate) fn body_v1(&self, req: &Requirements, error: &str, message: &str) -> Value {
        json!({
            "x402Version": 1,
            "error": error,
            "message": message,
            "accepts": [{
                "scheme": SCHEME,
                "network": self.network_v1(),
                "maxAmountRequired": req.amount.to_string(),
                "resource": req.resource,
                "description": req.description,
                "mimeType": "",
                "payTo": self.pay_to.to_checksum(None),
                "maxTimeoutSeconds": self.max_timeout_s,
                "asset": self.asset.to_checksum(None),
                "extra": self.extra(),
            }],
        })
    }

    /// The v2 `PaymentRequired` object (base64 of it is the `PAYMENT-REQUIRED` header; MCP
    /// sends it as structured content).
    pub(crate) fn required_v2(&self, req: &Requirements, error: &str) -> Value {
        json!({
            "x402Version": 2,
            "error": error,
            "resource": { "url": req.resource, "description": req.description, "mimeType": "" },
            "accepts": [self.accepts_v2(req)],
        })
    }

    fn accepts_v2(&self, req: &Requirements) -> Value {
        json!({
            "scheme": SCHEME,
            "network": self.network_v2(),
            "amount": req.amount.to_string(),
            "asset": self.asset.to_checksum(None),
            "payTo": self.pay_to.to_checksum(None),
            "maxTimeoutSeconds": self.max_timeout_s,
            "extra": self.extra(),
        })
    }

    /// The settlement response (`X-PAYMENT-RESPONSE` / `PAYMENT-RESPONSE`).
    pub(crate) fn settle_response(&self, version: u8, tx: B256, payer: Address) -> Value {
        let network = if version == 1 { self.network_v1() } else { self.network_v2() };
        json!({
            "success": true,
            "transaction": tx.to_string(),
            "network": network,
            "payer": payer.to_checksum(None),
        })
    }
}

/// Standard base64 of compact JSON.
pub(crate) fn encode_header(value: &Value) -> String {
    BASE64.encode(value.to_string().as_bytes())
}

/// A payment as the client sent it.
#[derive(Debug, Clone)]
pub(crate) struct Payment {
    /// Protocol version (1 or 2).
    pub version: u8,
    /// Scheme.
    pub scheme: String,
    /// Network as named by the client.
    pub network: String,
    /// v2: the asset the client says it pays in.
    pub asset: Option<String>,
    /// v2: the payee the client accepted.
    pub pay_to: Option<String>,
    /// The authorization: the token's own EIP-712 struct, so its digest is what the payer
    /// signed.
    pub authorization: TransferWithAuthorization,
    /// The payer's signature.
    pub signature: Bytes,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuthorizationJson {
    from: String,
    to: String,
    value: String,
    valid_after: String,
    valid_before: String,
    nonce: String,
}

#[derive(Deserialize)]
struct ExactPayload {
    signature: String,
    authorization: AuthorizationJson,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AcceptedJson {
    scheme: String,
    network: String,
    asset: String,
    pay_to: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PaymentJson {
    x402_version: u64,
    scheme: Option<String>,
    network: Option<String>,
    accepted: Option<AcceptedJson>,
    payload: ExactPayload,
}

/// Decodes a payment header (standard base64 of JSON, padding optional).
pub(crate) fn decode_header(header: &[u8]) -> Result<Payment, Rejection> {
    if header.len() > MAX_HEADER_LEN {
        return Err(Rejection::Malformed(format!("payment header exceeds {MAX_HEADER_LEN} bytes")));
    }
    let text = header.trim_ascii();
    let json = BASE64
        .decode(text)
        .or_else(|_| BASE64_NOPAD.decode(text))
        .map_err(|e| Rejection::Malformed(format!("payment header is not base64: {e}")))?;
    let value: Value = serde_json::from_slice(&json)
        .map_err(|e| Rejection::Malformed(format!("payment header is not JSON: {e}")))?;
    parse_payment(value)
}

/// Parses a payment payload object (v1 or v2).
pub(crate) fn parse_payment(value: Value) -> Result<Payment, Rejection> {
    let p: PaymentJson = serde_json::from_value(value)
        .map_err(|e| Rejection::Malformed(format!("payment payload: {e}")))?;
    let (version, scheme, network, asset, pay_to) = match (p.x402_version, p.accepted) {
        (2, Some(a)) => (2, a.scheme, a.network, Some(a.asset), Some(a.pay_to)),
        (2, None) => {
            return Err(Rejection::Malformed("x402 v2 payment without `accepted`".into()));
        }
        (1, _) => {
            let missing =
                || Rejection::Malformed("x402 v1 payment without scheme or network".into());
            (1, p.scheme.ok_or_else(missing)?, p.network.ok_or_else(missing)?, None, None)
        }
        (other, _) => return Err(Rejection::Version(other)),
    };
    let a = p.payload.authorization;
    let address = |field: &str, text: &str| {
        text.parse::<Address>()
            .map_err(|_| Rejection::Malformed(format!("authorization.{field} is not an address")))
    };
    let number = |field: &str, text: &str| {
        U256::from_str_radix(text, 10)
            .map_err(|_| Rejection::Malformed(format!("authorization.{field} is not a number")))
    };
    let authorization = TransferWithAuthorization {
        from: address("from", &a.from)?,
        to: address("to", &a.to)?,
        value: number("value", &a.value)?,
        validAfter: number("validAfter", &a.valid_after)?,
        validBefore: number("validBefore", &a.valid_before)?,
        nonce: a.nonce.parse().map_err(|_| {
            Rejection::Malformed("authorization.nonce is not 32 bytes of hex".into())
        })?,
    };
    let signature: Bytes = p
        .payload
        .signature
        .parse()
        .map_err(|_| Rejection::Malformed("signature is not hex".into()))?;
    Ok(Payment { version, scheme, network, asset, pay_to, authorization, signature })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v1() -> Value {
        json!({
            "x402Version": 1, "scheme": "exact", "network": "polygon-amoy",
            "payload": {
                "signature": "0x1234",
                "authorization": {
                    "from": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
                    "to": "0x5FbDB2315678afecb367f032d93F642f64180aa3",
                    "value": "10000", "validAfter": "0", "validBefore": "99999999999",
                    "nonce": format!("0x{}", "ab".repeat(32)),
                },
            },
        })
    }

    #[test]
    fn parses_both_versions_from_headers() {
        let p = decode_header(encode_header(&v1()).as_bytes()).unwrap();
        assert_eq!((p.version, p.network.as_str()), (1, "polygon-amoy"));
        assert_eq!(p.authorization.value, U256::from(10_000));
        let mut v2 = v1();
        v2["x402Version"] = json!(2);
        v2["accepted"] = json!({
            "scheme": "exact", "network": "eip155:80002", "amount": "10000",
            "asset": "0x5FbDB2315678afecb367f032d93F642f64180aa3",
            "payTo": "0x5FbDB2315678afecb367f032d93F642f64180aa3", "maxTimeoutSeconds": 60,
            "extra": {},
        });
        let p = decode_header(encode_header(&v2).as_bytes()).unwrap();
        assert_eq!((p.version, p.network.as_str()), (2, "eip155:80002"));
    }

    #[test]
    fn malformed_payments_name_the_field() {
        assert!(matches!(decode_header(b"%%%"), Err(Rejection::Malformed(_))));
        assert!(matches!(
            decode_header(&vec![b'A'; MAX_HEADER_LEN + 1]),
            Err(Rejection::Malformed(_))
        ));
        let mut bad = v1();
        bad["payload"]["authorization"]["value"] = json!("-1");
        let Err(Rejection::Malformed(m)) = parse_payment(bad) else { panic!() };
        assert!(m.contains("value"), "{m}");
        let mut v3 = v1();
        v3["x402Version"] = json!(3);
        assert!(matches!(parse_payment(v3), Err(Rejection::Version(3))));
        let mut v2 = v1();
        v2["x402Version"] = json!(2);
        assert!(matches!(parse_payment(v2), Err(Rejection::Malformed(_))));
    }
}
