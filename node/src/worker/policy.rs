//! The operator's say over a worker: whose functions it serves, the largest bundle it takes,
//! how much disk its bundles and compiled components may use, and which announced bundles it
//! prefetches (only those it is likely to race for).

use peerhost_protocol::{BlobHash, BundleManifest, NodeKey, Owner, keccak256_parts};

/// What a worker serves and keeps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerPolicy {
    /// Serve only these owners' functions (empty: every owner).
    pub owners: Vec<Owner>,
    /// Serve only these projects (empty: every project of a served owner).
    pub projects: Vec<(Owner, String)>,
    /// Largest bundle taken (the sum of its components), in bytes.
    pub max_bundle_bytes: Option<u64>,
    /// Disk for bundles and their compiled components, in bytes; beyond it the least recently
    /// used bundles not in use are evicted.
    pub disk_quota_bytes: Option<u64>,
    /// Prefetch an announced bundle only if this worker ranks among the first `n` live workers
    /// for it (see [`prefetch_rank`]); `None`: every announcement.
    pub prefetch_rank: Option<usize>,
}

impl WorkerPolicy {
    /// Whether the operator serves `owner`'s `project`.
    pub fn serves(&self, owner: &Owner, project: &str) -> bool {
        (self.owners.is_empty() || self.owners.contains(owner))
            && (self.projects.is_empty()
                || self.projects.iter().any(|(o, p)| o == owner && p == project))
    }

    /// Whether a bundle of this manifest is small enough to take.
    pub fn takes(&self, manifest: &BundleManifest) -> bool {
        self.max_bundle_bytes.is_none_or(|max| bundle_bytes(manifest) <= max)
    }
}

/// The bytes a bundle's components take.
pub fn bundle_bytes(manifest: &BundleManifest) -> u64 {
    manifest.functions.iter().map(|f| f.component_size).sum()
}

/// Where `me` ranks (0 first) among `workers` for `bundle`: rendezvous hashing of the bundle
/// over the workers, the same order every worker computes from the same view, so the first few
/// prefetch a new deployment and the rest fetch it only if they are ever chosen (gateways rank
/// workers that hold a bundle first).
pub fn prefetch_rank(bundle: &BlobHash, me: &NodeKey, workers: &[NodeKey]) -> usize {
    let score = |w: &NodeKey| keccak256_parts(&[b"peerhost/prefetch", &bundle.0, w.as_bytes()]).0;
    let mine = score(me);
    workers.iter().filter(|w| *w != me && score(w) > mine).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(b: u8) -> Owner {
        Owner(alloy_primitives::Address::repeat_byte(b))
    }

    #[test]
    fn owners_and_projects_narrow_what_is_served() {
        let everything = WorkerPolicy::default();
        assert!(everything.serves(&owner(1), "a"));
        let one_owner = WorkerPolicy { owners: vec![owner(1)], ..Default::default() };
        assert!(one_owner.serves(&owner(1), "a") && !one_owner.serves(&owner(2), "a"));
        let one_project =
            WorkerPolicy { projects: vec![(owner(2), "b".into())], ..Default::default() };
        assert!(one_project.serves(&owner(2), "b"));
        assert!(!one_project.serves(&owner(2), "a") && !one_project.serves(&owner(1), "b"));
    }

    #[test]
    fn ranks_are_a_permutation_the_same_for_everyone() {
        let workers: Vec<NodeKey> = (1..=6u8)
            .map(|i| peerhost_protocol::NodeSecret::from_bytes(&[i; 32]).public())
            .collect();
        let bundle = BlobHash([7; 32]);
        let mut ranks: Vec<usize> =
            workers.iter().map(|w| prefetch_rank(&bundle, w, &workers)).collect();
        ranks.sort_unstable();
        assert_eq!(ranks, (0..6).collect::<Vec<_>>());
        // A worker not yet in the list ranks the same against it as it would in it.
        let me = workers[2];
        let others: Vec<NodeKey> = workers.iter().filter(|w| **w != me).copied().collect();
        assert_eq!(prefetch_rank(&bundle, &me, &others), prefetch_rank(&bundle, &me, &workers));
        // Another bundle, another order.
        let other = BlobHash([8; 32]);
        let reordered: Vec<usize> =
            workers.iter().map(|w| prefetch_rank(&other, w, &workers)).collect();
        let first: Vec<usize> =
            workers.iter().map(|w| prefetch_rank(&bundle, w, &workers)).collect();
        assert_ne!(reordered, first);
    }
}
