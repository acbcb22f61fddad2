//! The deployment registry: the latest verified deployment of every project this node has
//! heard of, plus a short history of bundles so in-flight calls to a just-replaced version
//! still run.

use std::{
    collections::{BTreeMap, VecDeque},
    sync::Arc,
};

use peerhost_protocol::{
    BlobHash, CatalogDigest, DeploymentError, DeploymentRecord, FunctionSpec, Owner,
    SignedDeployment,
};

/// Most projects tracked. Beyond this, new projects are refused (existing ones still update).
pub const MAX_PROJECTS: usize = 100_000;
/// Previous bundles remembered per project.
const HISTORY: usize = 8;

/// A verified deployment.
#[derive(Debug)]
pub struct Deployment {
    /// The decoded record.
    pub record: DeploymentRecord,
    /// The signed form, for forwarding and catalog sync.
    pub signed: SignedDeployment,
}

impl Deployment {
    /// The function called `name`.
    pub fn function(&self, name: &str) -> Option<&FunctionSpec> {
        self.record.manifest.function(name)
    }
}

#[derive(Debug)]
struct Entry {
    /// The project's bucket in the catalog digest.
    bucket: usize,
    current: Arc<Deployment>,
    /// Bundles of earlier versions, newest first.
    previous: VecDeque<(u64, BlobHash)>,
}

/// What inserting a deployment changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inserted {
    /// The first deployment of this project here.
    New,
    /// A newer version replaced the current one.
    Upgraded {
        /// The version it replaced.
        from: u64,
    },
    /// Already known (same version).
    Known,
    /// Older than the current version; not applied.
    Stale,
    /// The registry is full.
    Full,
}

impl Inserted {
    /// Whether the registry changed.
    pub fn changed(&self) -> bool {
        matches!(self, Self::New | Self::Upgraded { .. })
    }
}

/// Verified deployments by `(owner, project)`, and the digest of their versions.
#[derive(Debug, Default)]
pub struct Registry {
    projects: BTreeMap<(Owner, String), Entry>,
    digest: CatalogDigest,
    /// The project each current bundle belongs to.
    bundles: std::collections::HashMap<BlobHash, (Owner, String)>,
}

impl Registry {
    /// Verifies the owner's signature and inserts.
    ///
    /// # Errors
    ///
    /// The record is malformed or not signed by its owner.
    pub fn insert(
        &mut self,
        signed: SignedDeployment,
    ) -> Result<(Inserted, Arc<Deployment>), DeploymentError> {
        let record = signed.verify()?;
        Ok(self.insert_verified(Deployment { record, signed }))
    }

    /// Inserts a deployment whose signature was already verified.
    pub fn insert_verified(&mut self, deployment: Deployment) -> (Inserted, Arc<Deployment>) {
        let key = (deployment.record.owner, deployment.record.project.clone());
        let len = self.projects.len();
        match self.projects.get_mut(&key) {
            None if len >= MAX_PROJECTS => (Inserted::Full, Arc::new(deployment)),
            None => {
                let bucket = CatalogDigest::bucket(&key.0, &key.1);
                self.digest.toggle(bucket, fingerprint(&deployment.record));
                let current = Arc::new(deployment);
                self.bundles.insert(current.record.bundle, key.clone());
                let entry = Entry { bucket, current: current.clone(), previous: VecDeque::new() };
                self.projects.insert(key, entry);
                (Inserted::New, current)
            }
            Some(entry) => {
                let (old, new) = (entry.current.record.version, deployment.record.version);
                if new < old {
                    (Inserted::Stale, entry.current.clone())
                } else if new == old {
                    (Inserted::Known, entry.current.clone())
                } else {
                    self.digest.toggle(entry.bucket, fingerprint(&entry.current.record));
                    self.digest.toggle(entry.bucket, fingerprint(&deployment.record));
                    entry.previous.push_front((old, entry.current.record.bundle));
                    entry.previous.truncate(HISTORY);
                    self.bundles.remove(&entry.current.record.bundle);
                    self.bundles.insert(deployment.record.bundle, key);
                    entry.current = Arc::new(deployment);
                    (Inserted::Upgraded { from: old }, entry.current.clone())
                }
            }
        }
    }

    /// The current deployment of a project.
    pub fn get(&self, owner: &Owner, project: &str) -> Option<Arc<Deployment>> {
        self.projects.get(&(*owner, project.to_owned())).map(|e| e.current.clone())
    }

    /// The current deployment whose bundle is `bundle`.
    pub fn by_bundle(&self, bundle: &BlobHash) -> Option<Arc<Deployment>> {
        let key = self.bundles.get(bundle)?;
        self.projects.get(key).map(|e| e.current.clone())
    }

    /// Whether `bundle` is the current or a recent bundle of the project.
    pub fn knows_bundle(&self, owner: &Owner, project: &str, bundle: &BlobHash) -> bool {
        self.projects.get(&(*owner, project.to_owned())).is_some_and(|e| {
            &e.current.record.bundle == bundle || e.previous.iter().any(|(_, b)| b == bundle)
        })
    }

    /// Up to `limit` signed deployments starting at `offset`, in key order, and whether more
    /// follow.
    pub fn page(&self, offset: usize, limit: usize) -> (Vec<SignedDeployment>, bool) {
        let page: Vec<_> = self
            .projects
            .values()
            .skip(offset)
            .take(limit)
            .map(|e| e.current.signed.clone())
            .collect();
        let more = offset + page.len() < self.projects.len();
        (page, more)
    }

    /// Like [`Registry::page`], over the projects of the buckets where `theirs` differs from
    /// this registry's digest: what the asker lacks (or holds in another version).
    pub fn page_differing(
        &self,
        theirs: &CatalogDigest,
        offset: usize,
        limit: usize,
    ) -> (Vec<SignedDeployment>, bool) {
        let mut differing =
            self.projects.values().filter(|e| self.digest.differs(theirs, e.bucket)).skip(offset);
        let page: Vec<_> =
            differing.by_ref().take(limit).map(|e| e.current.signed.clone()).collect();
        (page, differing.next().is_some())
    }

    /// The digest of the versions held, to compare with a peer's.
    pub fn digest(&self) -> &CatalogDigest {
        &self.digest
    }

    /// Number of projects.
    pub fn len(&self) -> usize {
        self.projects.len()
    }

    /// Whether no project is known.
    pub fn is_empty(&self) -> bool {
        self.projects.is_empty()
    }

    /// All current deployments.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Deployment>> {
        self.projects.values().map(|e| &e.current)
    }
}

fn fingerprint(record: &DeploymentRecord) -> u64 {
    CatalogDigest::fingerprint(&record.owner, &record.project, record.version)
}

#[cfg(test)]
mod tests {
    use super::*;
    use peerhost_protocol::{BundleManifest, FunctionSpec, Wallet};

    fn signed(wallet: &Wallet, version: u64, component: &[u8]) -> SignedDeployment {
        let manifest = BundleManifest {
            project: "p".into(),
            functions: vec![FunctionSpec::new("f", component)],
        };
        let record = DeploymentRecord {
            owner: wallet.owner(),
            project: "p".into(),
            version,
            bundle: manifest.bundle_hash(),
            manifest,
            created_at_ms: version,
            payout: None,
            secrets: Vec::new(),
        };
        SignedDeployment::sign(wallet, &record)
    }

    #[test]
    fn newest_version_wins_and_history_is_kept() {
        let wallet = Wallet::from_bytes(&[5; 32]).unwrap();
        let mut registry = Registry::default();
        let v1 = signed(&wallet, 1, b"one");
        let v2 = signed(&wallet, 2, b"two");
        assert_eq!(registry.insert(v1.clone()).unwrap().0, Inserted::New);
        assert_eq!(registry.insert(v2).unwrap().0, Inserted::Upgraded { from: 1 });
        assert_eq!(registry.insert(v1).unwrap().0, Inserted::Stale);
        let current = registry.get(&wallet.owner(), "p").unwrap();
        assert_eq!(current.record.version, 2);
        assert_eq!(registry.by_bundle(&current.record.bundle).unwrap().record.version, 2);
        let old_bundle = signed(&wallet, 1, b"one").verify().unwrap().bundle;
        assert!(registry.knows_bundle(&wallet.owner(), "p", &old_bundle));
        assert!(registry.by_bundle(&old_bundle).is_none(), "only current bundles are indexed");
        assert!(!registry.knows_bundle(&wallet.owner(), "p", &BlobHash::of(b"?")));
    }

    #[test]
    fn forged_records_are_refused() {
        let owner = Wallet::from_bytes(&[5; 32]).unwrap();
        let mut forged = signed(&owner, 1, b"one");
        forged.signature.0[10] ^= 1;
        assert!(Registry::default().insert(forged).is_err());
    }

    #[test]
    fn pages_cover_everything_once() {
        let mut registry = Registry::default();
        for i in 1..=5u8 {
            let wallet = Wallet::from_bytes(&[i; 32]).unwrap();
            registry.insert(signed(&wallet, 1, b"x")).unwrap();
        }
        let (first, more) = registry.page(0, 3);
        assert_eq!((first.len(), more), (3, true));
        let (rest, more) = registry.page(3, 3);
        assert_eq!((rest.len(), more), (2, false));
    }

    #[test]
    fn equal_registries_have_equal_digests_and_differences_are_paged() {
        let (mut full, mut partial) = (Registry::default(), Registry::default());
        let wallets: Vec<_> = (1..=40u8).map(|i| Wallet::from_bytes(&[i; 32]).unwrap()).collect();
        for (i, wallet) in wallets.iter().enumerate() {
            full.insert(signed(wallet, 1, b"x")).unwrap();
            if i != 7 {
                partial.insert(signed(wallet, 1, b"x")).unwrap();
            }
        }
        assert_ne!(full.digest(), partial.digest());
        // Only the differing bucket travels, and the missing record is in it.
        let (page, more) = full.page_differing(partial.digest(), 0, 100);
        assert!(!more && !page.is_empty() && page.len() < 40, "{}", page.len());
        let missing = wallets[7].owner();
        assert!(page.iter().any(|d| d.verify().unwrap().owner == missing));
        for deployment in page {
            partial.insert(deployment).unwrap();
        }
        assert_eq!(full.digest(), partial.digest());
        assert!(full.page_differing(partial.digest(), 0, 100).0.is_empty());

        // An upgrade changes the digest; the same upgrade on the other side restores equality.
        full.insert(signed(&wallets[3], 2, b"y")).unwrap();
        assert_ne!(full.digest(), partial.digest());
        let (page, _) = full.page_differing(partial.digest(), 0, 1);
        assert_eq!(page.len(), 1);
        partial.insert(signed(&wallets[3], 2, b"y")).unwrap();
        assert_eq!(full.digest(), partial.digest());
    }
}
