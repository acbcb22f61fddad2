//! Hashes and the ids built from them.
//!
//! keccak256 (the `sha3` crate) for everything the chain may see: request ids, body and result
//! hashes, signing digests. BLAKE3 for content-addressed blobs, because iroh-blobs verifies
//! transfers against BLAKE3 trees.

use sha3::{Digest, Keccak256};

use crate::bytes::fixed_bytes;

fixed_bytes!(
    /// A keccak256 digest.
    Keccak, 32
);

fixed_bytes!(
    /// Identifies one call of one function: keccak256 of the canonical
    /// [`CanonicalRequest`](crate::CanonicalRequest) encoding. Unique per call because the
    /// request carries its gateway, a gateway nonce and the receive time.
    RequestId, 32
);

fixed_bytes!(
    /// The BLAKE3 hash of a blob: a component, a bundle manifest, or a bundle's hash sequence.
    BlobHash, 32
);

/// keccak256 of `bytes`.
pub fn keccak256(bytes: &[u8]) -> Keccak {
    Keccak(Keccak256::digest(bytes).into())
}

/// keccak256 of the concatenation of `parts`, without concatenating them in memory.
pub fn keccak256_parts(parts: &[&[u8]]) -> Keccak {
    let mut hasher = Keccak256::new();
    for part in parts {
        hasher.update(part);
    }
    Keccak(hasher.finalize().into())
}

impl BlobHash {
    /// The BLAKE3 hash of `bytes`, as iroh-blobs computes it.
    pub fn of(bytes: &[u8]) -> Self {
        Self(*blake3::hash(bytes).as_bytes())
    }

    /// The hash of a hash sequence (iroh-blobs `HashSeq`): BLAKE3 over the concatenated
    /// 32-byte hashes of its members, in order.
    pub fn of_sequence(members: &[BlobHash]) -> Self {
        let mut hasher = blake3::Hasher::new();
        for member in members {
            hasher.update(&member.0);
        }
        Self(*hasher.finalize().as_bytes())
    }

    /// The hash as an IPFS CIDv1 (codec `raw`, multihash `blake3`, multibase base32 lower):
    /// `bafkr4i…`.
    pub fn to_cid(&self) -> String {
        const CID_V1: u8 = 0x01;
        const RAW_CODEC: u8 = 0x55;
        const BLAKE3_MULTIHASH: u8 = 0x1e;
        let mut cid = Vec::with_capacity(4 + 32);
        cid.extend_from_slice(&[CID_V1, RAW_CODEC, BLAKE3_MULTIHASH, 32]);
        cid.extend_from_slice(&self.0);
        let mut out = String::from("b");
        out.push_str(&data_encoding::BASE32_NOPAD.encode(&cid).to_ascii_lowercase());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keccak_matches_known_vector() {
        assert_eq!(
            keccak256(b"").to_hex(),
            "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
        );
        assert_eq!(keccak256_parts(&[b"ab", b"c"]), keccak256(b"abc"));
    }

    #[test]
    fn blake3_matches_known_vector() {
        assert_eq!(
            BlobHash::of(b"").to_hex(),
            "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
        );
    }

    #[test]
    fn cid_has_the_blake3_raw_prefix() {
        let cid = BlobHash::of(b"hello").to_cid();
        assert!(cid.starts_with("bafkr4i"), "{cid}");
        assert_eq!(cid.len(), 1 + 58);
    }

    #[test]
    fn hex_round_trips_with_and_without_prefix() {
        let h = keccak256(b"x");
        assert_eq!(h.to_hex().parse::<Keccak>().unwrap(), h);
        assert_eq!(format!("0x{h}").parse::<Keccak>().unwrap(), h);
        assert!("0x1234".parse::<Keccak>().is_err());
    }
}
