//! Deployment catalog sync between two nodes (direct streams, never gossiped): a joining node
//! pulls what its first peers know, and every node periodically compares a [`CatalogDigest`]
//! with a random peer and pulls only the buckets that differ (anti-entropy), so a node that
//! missed an announcement converges without anyone re-announcing.

use serde::{Deserialize, Serialize};

use crate::{
    codec::{Invalid, Wire},
    deployment::SignedDeployment,
    hash::keccak256_parts,
    wallet::Owner,
};

/// Buckets of a catalog digest. A difference costs the records of one bucket (a 256th of the
/// catalog); the digest costs 2 KiB per round.
pub const DIGEST_BUCKETS: usize = 256;

/// A summary of a catalog: for each bucket of projects, the XOR of the fingerprints of the
/// versions held. Two nodes holding the same versions have equal digests; XOR lets a node
/// keep its digest current in constant time per change.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CatalogDigest(#[serde(with = "serde_bytes")] Vec<u8>);

impl std::fmt::Debug for CatalogDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let filled = (0..self.buckets()).filter(|b| self.get(*b) != 0).count();
        write!(f, "CatalogDigest({filled} of {} buckets filled)", self.buckets())
    }
}

impl Default for CatalogDigest {
    fn default() -> Self {
        Self(vec![0; DIGEST_BUCKETS * 8])
    }
}

impl CatalogDigest {
    /// The bucket of a project (independent of its version).
    pub fn bucket(owner: &Owner, project: &str) -> usize {
        let hash =
            keccak256_parts(&[b"peerhost/catalog/bucket", owner.as_bytes(), project.as_bytes()]);
        usize::from(hash.0[0]) % DIGEST_BUCKETS
    }

    /// The fingerprint of one version of a project.
    pub fn fingerprint(owner: &Owner, project: &str, version: u64) -> u64 {
        let hash = keccak256_parts(&[
            b"peerhost/catalog/version",
            owner.as_bytes(),
            &(project.len() as u64).to_be_bytes(),
            project.as_bytes(),
            &version.to_be_bytes(),
        ]);
        u64::from_be_bytes(hash.0[..8].try_into().expect("8 bytes"))
    }

    /// Adds a fingerprint to its bucket, or removes it if present (XOR).
    pub fn toggle(&mut self, bucket: usize, fingerprint: u64) {
        let value = self.get(bucket) ^ fingerprint;
        self.0[bucket * 8..bucket * 8 + 8].copy_from_slice(&value.to_be_bytes());
    }

    /// The combined fingerprint of a bucket.
    pub fn get(&self, bucket: usize) -> u64 {
        self.0
            .get(bucket * 8..bucket * 8 + 8)
            .map_or(0, |b| u64::from_be_bytes(b.try_into().expect("8 bytes")))
    }

    /// Number of buckets.
    pub fn buckets(&self) -> usize {
        self.0.len() / 8
    }

    /// Whether `bucket` holds different versions here and in `other`.
    pub fn differs(&self, other: &Self, bucket: usize) -> bool {
        self.get(bucket) != other.get(bucket)
    }
}

/// Any node → any node: send me the deployments you know (those in buckets where your digest
/// differs from mine, if I send one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogRequest {
    /// Skip this many records (for paging through a large catalog).
    pub offset: u32,
    /// The asker's digest: only records of buckets that differ are sent. `None`: all.
    #[serde(default)]
    pub digest: Option<CatalogDigest>,
}

impl Wire for CatalogRequest {
    const MAX_BYTES: usize = DIGEST_BUCKETS * 8 + 32;

    fn validate(&self) -> Result<(), Invalid> {
        match &self.digest {
            Some(d) if d.0.len() != DIGEST_BUCKETS * 8 => Err(Invalid::new(
                "digest",
                format!("{} bytes, not {}", d.0.len(), DIGEST_BUCKETS * 8),
            )),
            _ => Ok(()),
        }
    }
}

/// Most deployment records in one catalog page.
pub const CATALOG_PAGE: usize = 128;

/// A page of the responder's deployment catalog (latest version of each project).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogResponse {
    /// Signed records; each is verified by the receiver.
    pub deployments: Vec<SignedDeployment>,
    /// Whether more pages follow.
    pub more: bool,
}

impl Wire for CatalogResponse {
    const MAX_BYTES: usize = CATALOG_PAGE * SignedDeployment::MAX_BYTES + 64;

    fn validate(&self) -> Result<(), Invalid> {
        if self.deployments.len() > CATALOG_PAGE {
            return Err(Invalid::new("deployments", format!("more than {CATALOG_PAGE} in a page")));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec;

    #[test]
    fn toggling_twice_restores_and_order_does_not_matter() {
        let owner = Owner(alloy_primitives::Address::repeat_byte(7));
        let (a, b) = (
            CatalogDigest::fingerprint(&owner, "a", 1),
            CatalogDigest::fingerprint(&owner, "b", 1),
        );
        let (mut x, mut y) = (CatalogDigest::default(), CatalogDigest::default());
        x.toggle(3, a);
        x.toggle(3, b);
        y.toggle(3, b);
        y.toggle(3, a);
        assert_eq!(x, y);
        assert!(x.differs(&CatalogDigest::default(), 3));
        assert!(!x.differs(&CatalogDigest::default(), 4));
        x.toggle(3, a);
        x.toggle(3, b);
        assert_eq!(x, CatalogDigest::default());
        assert_ne!(a, CatalogDigest::fingerprint(&owner, "a", 2), "versions differ");
    }

    #[test]
    fn a_digest_of_the_wrong_size_is_refused() {
        let request = CatalogRequest { offset: 0, digest: Some(CatalogDigest(vec![0; 8])) };
        assert!(codec::decode::<CatalogRequest>(&codec::encode(&request)).is_err());
        let request = CatalogRequest { offset: 9, digest: Some(CatalogDigest::default()) };
        assert_eq!(codec::decode::<CatalogRequest>(&codec::encode(&request)).unwrap(), request);
        let plain = CatalogRequest { offset: 1, digest: None };
        assert_eq!(codec::decode::<CatalogRequest>(&codec::encode(&plain)).unwrap(), plain);
    }
}
