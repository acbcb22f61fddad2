//! Bundles as stored and transferred: `[manifest, component₀, component₁, …]`, one component
//! per function in manifest order. Reading a bundle re-verifies every member against the hashes
//! it is known by, so bytes altered at rest are refused just like bytes altered in transit.

use bytes::Bytes;
use peerhost_protocol::{BlobHash, BundleManifest, DecodeError, FunctionSpec, codec};

/// Why stored or fetched bytes are not the bundle they claim to be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    /// The manifest blob does not decode.
    #[error("bundle manifest: {0}")]
    Manifest(#[from] DecodeError),
    /// The number of members differs from the manifest's function count plus one.
    #[error("bundle has {found} members, manifest lists {expected}")]
    MemberCount {
        /// Members the manifest implies.
        expected: usize,
        /// Members present.
        found: usize,
    },
    /// A member's bytes do not hash to what the bundle says.
    #[error("bundle member {index} does not match its hash")]
    HashMismatch {
        /// Position in the bundle (0 = manifest).
        index: usize,
    },
    /// The manifest describes a different bundle than the one asked for.
    #[error("bundle hash is {actual}, expected {expected}")]
    WrongBundle {
        /// The hash asked for.
        expected: BlobHash,
        /// The hash the manifest implies.
        actual: BlobHash,
    },
}

/// A verified bundle.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// The manifest.
    pub manifest: BundleManifest,
    /// Component bytes, one per function in manifest order.
    pub components: Vec<Bytes>,
}

impl Bundle {
    /// Builds a bundle from a manifest and the components it lists.
    ///
    /// # Errors
    ///
    /// [`BundleError`] if the components do not match the manifest.
    pub fn new(manifest: BundleManifest, components: Vec<Bytes>) -> Result<Self, BundleError> {
        let bundle = Self { manifest, components };
        bundle.check_components()?;
        Ok(bundle)
    }

    /// The bundle hash.
    pub fn hash(&self) -> BlobHash {
        self.manifest.bundle_hash()
    }

    /// Members in storage order: manifest, then components.
    pub fn members(&self) -> Vec<Bytes> {
        std::iter::once(Bytes::from(codec::encode(&self.manifest)))
            .chain(self.components.iter().cloned())
            .collect()
    }

    /// Parses and verifies stored members against the bundle hash `expected`.
    ///
    /// # Errors
    ///
    /// [`BundleError`] naming the first member that does not verify.
    pub fn from_members(expected: &BlobHash, members: Vec<Bytes>) -> Result<Self, BundleError> {
        let mut members = members.into_iter();
        let manifest_bytes =
            members.next().ok_or(BundleError::MemberCount { expected: 1, found: 0 })?;
        let manifest: BundleManifest = codec::decode(&manifest_bytes)?;
        let actual = manifest.bundle_hash();
        if &actual != expected {
            return Err(BundleError::WrongBundle { expected: *expected, actual });
        }
        Self::new(manifest, members.collect())
    }

    fn check_components(&self) -> Result<(), BundleError> {
        let expected = self.manifest.functions.len();
        if self.components.len() != expected {
            return Err(BundleError::MemberCount {
                expected: expected + 1,
                found: self.components.len() + 1,
            });
        }
        for (i, (spec, bytes)) in self.manifest.functions.iter().zip(&self.components).enumerate() {
            if BlobHash::of(bytes) != spec.component || bytes.len() as u64 != spec.component_size {
                return Err(BundleError::HashMismatch { index: i + 1 });
            }
        }
        Ok(())
    }

    /// The function called `name` and its component bytes.
    pub fn function(&self, name: &str) -> Option<(&FunctionSpec, &Bytes)> {
        let index = self.manifest.functions.iter().position(|f| f.name == name)?;
        Some((&self.manifest.functions[index], &self.components[index]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle() -> Bundle {
        let component = Bytes::from_static(b"\0asm component bytes");
        let manifest = BundleManifest {
            project: "p".into(),
            functions: vec![FunctionSpec::new("f", &component)],
        };
        Bundle::new(manifest, vec![component]).unwrap()
    }

    #[test]
    fn members_round_trip() {
        let b = bundle();
        let back = Bundle::from_members(&b.hash(), b.members()).unwrap();
        assert_eq!(back.manifest, b.manifest);
        assert_eq!(
            back.hash(),
            BlobHash::of_sequence(&b.members().iter().map(|m| BlobHash::of(m)).collect::<Vec<_>>())
        );
    }

    #[test]
    fn tampered_component_is_refused() {
        let b = bundle();
        let mut members = b.members();
        let mut bytes = members[1].to_vec();
        bytes[3] ^= 0xff;
        members[1] = Bytes::from(bytes);
        assert_eq!(
            Bundle::from_members(&b.hash(), members).unwrap_err(),
            BundleError::HashMismatch { index: 1 }
        );
    }

    #[test]
    fn wrong_bundle_and_missing_members_are_refused() {
        let b = bundle();
        assert!(matches!(
            Bundle::from_members(&BlobHash::of(b"x"), b.members()),
            Err(BundleError::WrongBundle { .. })
        ));
        let mut members = b.members();
        members.pop();
        assert!(matches!(
            Bundle::from_members(&b.hash(), members),
            Err(BundleError::MemberCount { .. })
        ));
    }
}
