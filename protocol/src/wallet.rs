//! Owner wallets: secp256k1 keys whose addresses own deployments. Signatures are recoverable
//! (`r ‖ s ‖ v`, v = 27/28) so anyone, including a contract with `ecrecover`, can check them
//! without the chain or the signer's public key.

use std::fmt;

use alloy_primitives::{Address, B256};
use k256::ecdsa::SigningKey;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{bytes::fixed_bytes, hash::Keccak};

fixed_bytes!(
    /// A recoverable secp256k1 signature `r ‖ s ‖ v` with v ∈ {27, 28} and low `s`.
    EvmSignature, 65
);

/// An EVM address that owns deployments. Displays in EIP-55 checksum form.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Owner(pub Address);

impl Owner {
    /// The 20 address bytes.
    pub fn as_bytes(&self) -> &[u8; 20] {
        self.0.as_ref()
    }
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.to_checksum(None))
    }
}

impl fmt::Debug for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Owner({self})")
    }
}

/// Text that is not a `0x`-prefixed 20-byte hex address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an EVM address (expected 0x followed by 40 hex digits)")]
pub struct ParseOwnerError;

impl std::str::FromStr for Owner {
    type Err = ParseOwnerError;

    /// Parses `0x…` in any letter case; mixed case is not required to be a valid checksum
    /// because hostnames are case-insensitive.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let hex = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")).ok_or(ParseOwnerError)?;
        let mut bytes = [0u8; 20];
        hex::decode_to_slice(hex, &mut bytes).map_err(|_| ParseOwnerError)?;
        Ok(Self(Address::from(bytes)))
    }
}

impl Serialize for Owner {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        crate::bytes::serialize(self.0.as_slice(), s)
    }
}

impl<'de> Deserialize<'de> for Owner {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::bytes::deserialize::<D, 20>(d).map(|b| Self(Address::from(b)))
    }
}

/// Why a wallet signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WalletError {
    /// The bytes are not a valid secp256k1 secret key.
    #[error("not a valid secp256k1 secret key")]
    BadSecret,
    /// `v` is not 27/28, `s` is high, or `r`/`s` are out of range.
    #[error("signature is malformed or not in low-s form")]
    MalformedSignature,
    /// No public key can be recovered from the signature and digest.
    #[error("no signer can be recovered from the signature")]
    Unrecoverable,
}

/// An owner's secp256k1 signing key. Never printed.
#[derive(Clone)]
pub struct Wallet(SigningKey);

impl Wallet {
    /// Wraps 32 secret bytes.
    ///
    /// # Errors
    ///
    /// [`WalletError::BadSecret`] if the bytes are zero or not below the curve order.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, WalletError> {
        SigningKey::from_slice(bytes).map(Self).map_err(|_| WalletError::BadSecret)
    }

    /// The 32 secret bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes().into()
    }

    /// The wallet's address.
    pub fn owner(&self) -> Owner {
        Owner(Address::from_private_key(&self.0))
    }

    /// Signs the EIP-191 personal message made of the 32-byte `message` — what
    /// `personal_sign(message)` in an Ethereum wallet produces.
    pub fn sign_personal(&self, message: &Keccak) -> EvmSignature {
        let digest = alloy_primitives::eip191_hash_message(message.as_bytes());
        let (sig, recid) = self
            .0
            .sign_prehash_recoverable(digest.as_slice())
            .expect("signing a 32-byte prehash cannot fail");
        let sig = alloy_primitives::Signature::from((sig, recid)).normalized_s();
        EvmSignature(sig.as_bytes())
    }
}

impl fmt::Debug for Wallet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Wallet({})", self.owner())
    }
}

/// Recovers who signed `message` with [`Wallet::sign_personal`].
///
/// # Errors
///
/// [`WalletError::MalformedSignature`] for a malformed or high-`s` signature,
/// [`WalletError::Unrecoverable`] if no key recovers.
pub fn recover_personal(message: &Keccak, signature: &EvmSignature) -> Result<Owner, WalletError> {
    let v = signature.0[64];
    if v != 27 && v != 28 {
        return Err(WalletError::MalformedSignature);
    }
    let sig = alloy_primitives::Signature::from_raw_array(&signature.0)
        .map_err(|_| WalletError::MalformedSignature)?;
    if sig.normalize_s().is_some() {
        return Err(WalletError::MalformedSignature);
    }
    let digest: B256 = alloy_primitives::eip191_hash_message(message.as_bytes());
    sig.recover_address_from_prehash(&digest).map(Owner).map_err(|_| WalletError::Unrecoverable)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::keccak256;

    /// Anvil's first development account.
    const ANVIL_0: &str = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

    fn anvil0() -> Wallet {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(ANVIL_0, &mut bytes).unwrap();
        Wallet::from_bytes(&bytes).unwrap()
    }

    #[test]
    fn address_matches_anvil() {
        assert_eq!(anvil0().owner().to_string(), "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266");
    }

    #[test]
    fn sign_and_recover() {
        let msg = keccak256(b"deploy");
        let sig = anvil0().sign_personal(&msg);
        assert_eq!(recover_personal(&msg, &sig).unwrap(), anvil0().owner());
        let other = keccak256(b"other");
        assert_ne!(recover_personal(&other, &sig).ok(), Some(anvil0().owner()));
    }

    #[test]
    fn rejects_high_s_and_bad_v() {
        let msg = keccak256(b"deploy");
        let mut sig = anvil0().sign_personal(&msg);
        sig.0[64] = 29;
        assert_eq!(recover_personal(&msg, &sig), Err(WalletError::MalformedSignature));

        let good = anvil0().sign_personal(&msg);
        let parsed = alloy_primitives::Signature::from_raw_array(&good.0).unwrap();
        let n = alloy_primitives::U256::from_be_slice(
            &hex::decode("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141")
                .unwrap(),
        );
        let high = alloy_primitives::Signature::new(parsed.r(), n - parsed.s(), !parsed.v());
        assert_eq!(
            recover_personal(&msg, &EvmSignature(high.as_bytes())),
            Err(WalletError::MalformedSignature)
        );
    }

    #[test]
    fn owner_parses_any_case() {
        let lower: Owner = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266".parse().unwrap();
        assert_eq!(lower, anvil0().owner());
        assert!("f39fd6e51aad88f6f4ce6ab8827279cfffb92266".parse::<Owner>().is_err());
        assert!("0xf39f".parse::<Owner>().is_err());
    }
}
