//! The local checks of a payment: everything that needs no chain (scheme, network, asset,
//! payee, exact amount, validity window, EIP-712 signature).

use alloy::{
    primitives::{Address, B256, Signature, U256},
    sol_types::Eip712Domain,
};

use super::{
    Rejection,
    wire::{Payment, SCHEME, Terms},
};

/// An authorization must stay valid at least this long after it arrives, so settlement can
/// land before it expires.
pub(crate) const MIN_VALIDITY_S: u64 = 6;

/// The signer of `payment`'s authorization under the token's `domain`, if the signature is
/// well-formed. Returns the digest too (the journal keys retries on it).
pub(crate) fn signer(payment: &Payment, domain: &Eip712Domain) -> (B256, Option<Address>) {
    let digest = payment.authorization.digest(domain);
    let recovered = Signature::try_from(payment.signature.as_ref())
        .ok()
        .and_then(|s| s.recover_address_from_prehash(&digest).ok());
    (digest, recovered)
}

/// Checks `payment` against the terms and the price at `now` (Unix seconds); `signer` is
/// what [`signer`] recovered from it.
pub(crate) fn check(
    payment: &Payment,
    terms: &Terms,
    signer: Option<Address>,
    price: u64,
    now: u64,
) -> Result<(), Rejection> {
    if payment.scheme != SCHEME {
        return Err(Rejection::Scheme(payment.scheme.clone()));
    }
    let want = if payment.version == 1 { terms.network_v1() } else { terms.network_v2() };
    if payment.network != want && payment.network != terms.network_v2() {
        return Err(Rejection::Network { got: payment.network.clone(), want });
    }
    if let Some(asset) = &payment.asset
        && asset.parse::<Address>().ok() != Some(terms.asset)
    {
        return Err(Rejection::Asset(asset.clone()));
    }
    let a = &payment.authorization;
    if let Some(pay_to) = &payment.pay_to
        && pay_to.parse::<Address>().ok() != Some(terms.pay_to)
    {
        return Err(Rejection::Payee { got: pay_to.clone(), want: terms.pay_to });
    }
    if a.to != terms.pay_to {
        return Err(Rejection::Payee { got: a.to.to_string(), want: terms.pay_to });
    }
    if a.value != U256::from(price) {
        return Err(Rejection::Amount { got: a.value, want: price });
    }
    if a.validAfter > U256::from(now) {
        return Err(Rejection::NotYetValid { valid_after: a.validAfter, now });
    }
    let needed = now + MIN_VALIDITY_S;
    if a.validBefore < U256::from(needed) {
        return Err(Rejection::Expired { valid_before: a.validBefore, needed });
    }
    if signer != Some(a.from) {
        return Err(Rejection::Signature(a.from));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use alloy::{
        primitives::{Bytes, address},
        signers::{SignerSync as _, local::PrivateKeySigner},
    };
    use peerhost_contracts::payments::token_domain;

    use super::*;
    use peerhost_contracts::payments::TransferWithAuthorization;

    const NOW: u64 = 1_800_000_000;

    fn terms() -> Terms {
        Terms {
            chain_id: 80002,
            asset: address!("5FbDB2315678afecb367f032d93F642f64180aa3"),
            pay_to: address!("e7f1725E7734CE288F8367e1Bb143E90bb3F0512"),
            name: "USD Coin".into(),
            version: "2".into(),
            max_timeout_s: 60,
        }
    }

    fn domain() -> Eip712Domain {
        let t = terms();
        token_domain(&t.name, &t.version, t.chain_id, t.asset)
    }

    fn signed(edit: impl FnOnce(&mut Payment)) -> Payment {
        let key = PrivateKeySigner::random();
        let mut p = Payment {
            version: 2,
            scheme: "exact".into(),
            network: "eip155:80002".into(),
            asset: Some(terms().asset.to_string()),
            pay_to: Some(terms().pay_to.to_string()),
            authorization: TransferWithAuthorization {
                from: key.address(),
                to: terms().pay_to,
                value: U256::from(10_000),
                validAfter: U256::ZERO,
                validBefore: U256::from(NOW + 60),
                nonce: B256::repeat_byte(7),
            },
            signature: Bytes::new(),
        };
        edit(&mut p);
        let (digest, _) = signer(&p, &domain());
        p.signature = key.sign_hash_sync(&digest).unwrap().as_bytes().to_vec().into();
        p
    }

    fn verdict(p: &Payment) -> Result<(), Rejection> {
        check(p, &terms(), signer(p, &domain()).1, 10_000, NOW)
    }

    #[test]
    fn a_correct_payment_passes_in_both_versions() {
        assert!(verdict(&signed(|_| {})).is_ok());
        let v1 = signed(|p| {
            p.version = 1;
            p.network = "polygon-amoy".into();
            p.asset = None;
            p.pay_to = None;
        });
        assert!(verdict(&v1).is_ok());
    }

    #[test]
    fn each_wrong_field_has_its_reason() {
        let cases: Vec<(Payment, &str)> = vec![
            (signed(|p| p.authorization.value = U256::from(9_999)), "authorization_value"),
            (signed(|p| p.authorization.to = Address::repeat_byte(1)), "recipient_mismatch"),
            (
                signed(|p| p.pay_to = Some(Address::repeat_byte(1).to_string())),
                "recipient_mismatch",
            ),
            (signed(|p| p.asset = Some(Address::repeat_byte(2).to_string())), "payload_asset"),
            (signed(|p| p.network = "eip155:1".into()), "invalid_network"),
            (signed(|p| p.scheme = "upto".into()), "unsupported_scheme"),
            (signed(|p| p.authorization.validAfter = U256::from(NOW + 10)), "valid_after"),
            (signed(|p| p.authorization.validBefore = U256::from(NOW + 2)), "valid_before"),
        ];
        for (payment, code) in cases {
            let err = verdict(&payment).unwrap_err();
            assert!(err.code().ends_with(code), "{code}: got {err:?}");
        }
        let mut forged = signed(|_| {});
        forged.authorization.nonce = B256::repeat_byte(8);
        assert!(matches!(verdict(&forged), Err(Rejection::Signature(_))));
        forged.signature = Bytes::from_static(&[1, 2, 3]);
        assert!(matches!(verdict(&forged), Err(Rejection::Signature(_))));
    }
}
