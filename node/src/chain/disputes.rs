//! Receipts signed with the node's EVM key, validators' attestations, and the fraud proofs
//! that slash a worker.

use alloy::{
    primitives::{Address, B256, Bytes, TxHash},
    sol_types::Eip712Domain,
};
use peerhost_contracts::receipts::{Attestation, Receipt};
use peerhost_protocol::EvmSignature;

use super::{Chain, ChainError, chain_receipt};

/// The account whose EIP-712 signature under `domain` `signature` is for the mesh `receipt`,
/// if it is a valid signature at all.
pub fn receipt_signer(
    domain: &Eip712Domain,
    receipt: &peerhost_protocol::Receipt,
    signature: &EvmSignature,
) -> Option<Address> {
    recover(chain_receipt(receipt).digest(domain), signature)
}

/// The 65-byte `r ‖ s ‖ v` signature (`v` 27 or 28, low `s`, RFC 6979 nonce: the bytes any
/// standard Ethereum signer makes) of `digest` by the secp256k1 key `secret`, made by
/// libsecp256k1.
pub(crate) fn sign(secret: &B256, digest: B256) -> [u8; 65] {
    static SIGNER: std::sync::OnceLock<secp256k1::Secp256k1<secp256k1::SignOnly>> =
        std::sync::OnceLock::new();
    let key =
        secp256k1::SecretKey::from_byte_array(secret.0).expect("a wallet key is a valid scalar");
    let signer = SIGNER.get_or_init(secp256k1::Secp256k1::signing_only);
    let signature = signer.sign_ecdsa_recoverable(secp256k1::Message::from_digest(digest.0), &key);
    let (id, rs) = signature.serialize_compact();
    let mut bytes = [0u8; 65];
    bytes[..64].copy_from_slice(&rs);
    bytes[64] = 27 + i32::from(id) as u8;
    bytes
}

/// The address whose key made the 65-byte `r ‖ s ‖ v` signature of `digest`, as the
/// coordinator's `ECDSA.recover` sees it: `v` is 27 or 28 (0 or 1 accepted too), and a high
/// `s` (the malleable twin of a valid signature) is refused. libsecp256k1 does the recovery.
pub(crate) fn recover(digest: B256, signature: &EvmSignature) -> Option<Address> {
    use secp256k1::ecdsa::{RecoverableSignature, RecoveryId};
    static VERIFIER: std::sync::OnceLock<secp256k1::Secp256k1<secp256k1::VerifyOnly>> =
        std::sync::OnceLock::new();

    let (rs, v) = signature.0.split_at(64);
    let id = match v[0] {
        v @ (27 | 28) => v - 27,
        v @ (0 | 1) => v,
        _ => return None,
    };
    let mut low = secp256k1::ecdsa::Signature::from_compact(rs).ok()?;
    low.normalize_s();
    if low.serialize_compact() != rs {
        return None;
    }
    let recoverable =
        RecoverableSignature::from_compact(rs, RecoveryId::try_from(i32::from(id)).ok()?).ok()?;
    let verifier = VERIFIER.get_or_init(secp256k1::Secp256k1::verification_only);
    let key =
        verifier.recover_ecdsa(secp256k1::Message::from_digest(digest.0), &recoverable).ok()?;
    let uncompressed = key.serialize_uncompressed();
    Some(Address::from_slice(&alloy::primitives::keccak256(&uncompressed[1..])[12..]))
}

impl Chain {
    /// Signs `receipt` (EIP-712, the coordinator's domain) with this node's key.
    pub fn sign_receipt(&self, receipt: &Receipt) -> Bytes {
        self.sign_digest(receipt.digest(&self.domain()))
    }

    /// Signs that re-executing `request_id` gave `result_hash`.
    pub fn attest(&self, request_id: B256, result_hash: B256) -> Bytes {
        let attestation = Attestation { requestId: request_id, resultHash: result_hash };
        self.sign_digest(attestation.digest(&self.domain()))
    }

    fn sign_digest(&self, digest: B256) -> Bytes {
        Bytes::from(sign(&self.signer.to_bytes(), digest).to_vec())
    }

    /// Proves a worker signed two different receipts for one request.
    ///
    /// # Errors
    ///
    /// [`ChainError::Reverted`], e.g. `NotConflicting`, `AlreadySlashed`, `NotBonded`.
    pub async fn slash_equivocation(
        &self,
        a: (&Receipt, &Bytes),
        b: (&Receipt, &Bytes),
    ) -> Result<TxHash, ChainError> {
        let call =
            self.coordinator.slashEquivocation(a.0.clone(), a.1.clone(), b.0.clone(), b.1.clone());
        self.confirm(call).await
    }

    /// Proves a worker's receipt wrong with validators' attestations of `correct` (sorted by
    /// validator address).
    ///
    /// # Errors
    ///
    /// [`ChainError::Reverted`], e.g. `QuorumNotReached`, `NotConflicting`.
    pub async fn slash_wrong_result(
        &self,
        receipt: (&Receipt, &Bytes),
        correct: B256,
        attestations: Vec<Bytes>,
    ) -> Result<TxHash, ChainError> {
        let call = self.coordinator.slashWrongResult(
            receipt.0.clone(),
            receipt.1.clone(),
            correct,
            attestations,
        );
        self.confirm(call).await
    }
}

#[cfg(test)]
mod tests {
    use alloy::signers::{SignerSync as _, local::PrivateKeySigner};

    use super::*;

    #[test]
    fn signing_and_recovery_agree_with_alloy_and_refuse_malleable_twins() {
        let signer = PrivateKeySigner::from_bytes(&B256::repeat_byte(0x42)).unwrap();
        for i in 0u8..16 {
            let digest = alloy::primitives::keccak256([i]);
            let signature = signer.sign_hash_sync(&digest).unwrap();
            let bytes = EvmSignature(signature.as_bytes());
            assert_eq!(sign(&signer.to_bytes(), digest), bytes.0, "not the standard signature");
            assert_eq!(recover(digest, &bytes), Some(signer.address()));
            assert_eq!(
                signature.recover_address_from_prehash(&digest).ok(),
                Some(signer.address())
            );
            // v as 0/1, the other recovery id, a high s, a wrong digest.
            let mut raw = bytes.0;
            raw[64] -= 27;
            assert_eq!(recover(digest, &EvmSignature(raw)), Some(signer.address()));
            raw[64] ^= 1;
            assert_ne!(recover(digest, &EvmSignature(raw)), Some(signer.address()));
            let mut twin = bytes.0;
            let n = alloy::primitives::U256::from_be_slice(&hex_n());
            let s = alloy::primitives::U256::from_be_slice(&twin[32..64]);
            twin[32..64].copy_from_slice(&(n - s).to_be_bytes::<32>());
            twin[64] = 27 + (1 - (twin[64] - 27));
            assert_eq!(recover(digest, &EvmSignature(twin)), None, "high s accepted");
            assert_ne!(
                recover(alloy::primitives::keccak256([i, 1]), &bytes),
                Some(signer.address())
            );
        }
        assert_eq!(recover(B256::ZERO, &EvmSignature([0; 65])), None);
    }

    /// The order of secp256k1.
    fn hex_n() -> [u8; 32] {
        let mut n = [0u8; 32];
        n.copy_from_slice(
            &hex::decode("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141")
                .unwrap(),
        );
        n
    }
}
