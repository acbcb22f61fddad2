//! The worker's disk: what its held bundles and their compiled components take, and
//! least-recently-used eviction once the operator's quota is passed. A bundle in use (a call
//! holds it) or being loaded is never evicted; an evicted one is fetched again if it is ever
//! needed.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use peerhost_protocol::BlobHash;
use tracing::{info, warn};

use super::{Worker, bundles::Loaded, policy::bundle_bytes};

impl Worker {
    /// Records the disk a freshly loaded bundle takes: its components and their artifacts.
    pub(super) fn account(&self, hash: BlobHash, loaded: &Loaded) {
        let manifest = &loaded.bundle.manifest;
        let compiled: u64 = manifest
            .functions
            .iter()
            .flat_map(|f| artifacts(self.sandbox.config().cache_dir.as_deref(), &f.component))
            .map(|(_, bytes)| bytes)
            .sum();
        let bytes = bundle_bytes(manifest) + compiled;
        self.bundles.sizes.lock().expect("sizes lock").insert(hash, bytes);
    }

    /// Bytes the held bundles take.
    pub(crate) fn disk_use(&self) -> u64 {
        self.bundles.sizes.lock().expect("sizes lock").values().sum()
    }

    /// Evicts least recently used bundles (never `keep`, nor one in use) until the held ones
    /// fit the quota.
    pub(super) async fn enforce_quota(&self, keep: BlobHash) {
        let Some(quota) = self.config.policy.disk_quota_bytes else { return };
        while self.disk_use() > quota {
            let Some(victim) = self.idle_bundle(keep) else {
                warn!(target: "peerhost::worker", used = self.disk_use(), quota, "over the disk quota, and every bundle is in use");
                return;
            };
            self.evict(victim).await;
        }
    }

    /// The least recently used bundle that no call holds and no load is filling.
    fn idle_bundle(&self, keep: BlobHash) -> Option<(BlobHash, Arc<Loaded>)> {
        let recent: Vec<BlobHash> =
            self.bundles.recent.lock().expect("recent lock").iter().rev().copied().collect();
        let slots = self.bundles.slots.lock().expect("slots lock");
        recent.into_iter().filter(|h| *h != keep).find_map(|hash| {
            let guard = slots.get(&hash)?.try_lock().ok()?;
            let loaded = guard.as_ref()?.clone();
            // Two owners: the slot, and the clone just taken. More means a call holds it.
            (Arc::strong_count(&loaded) == 2).then_some((hash, loaded))
        })
    }

    async fn evict(&self, (hash, loaded): (BlobHash, Arc<Loaded>)) {
        self.bundles.slots.lock().expect("slots lock").remove(&hash);
        self.bundles.recent.lock().expect("recent lock").retain(|h| *h != hash);
        let freed = self.bundles.sizes.lock().expect("sizes lock").remove(&hash).unwrap_or(0);
        // Components another held bundle shares stay.
        let shared: Vec<BlobHash> = {
            let slots = self.bundles.slots.lock().expect("slots lock");
            slots
                .values()
                .filter_map(|slot| slot.try_lock().ok()?.as_ref().cloned())
                .flat_map(|l| {
                    l.bundle.manifest.functions.iter().map(|f| f.component).collect::<Vec<_>>()
                })
                .collect()
        };
        for function in &loaded.bundle.manifest.functions {
            if shared.contains(&function.component) {
                continue;
            }
            for (path, _) in
                artifacts(self.sandbox.config().cache_dir.as_deref(), &function.component)
            {
                let _ = std::fs::remove_file(path);
            }
            if let Some(pool) = self.sandbox.pool() {
                pool.unload(&function.component);
            }
        }
        if let Some(blobs) = &self.blobs
            && let Err(e) = blobs.forget(&hash).await
        {
            warn!(target: "peerhost::worker", bundle = %hash, error = %e, "evicted bundle not released");
        }
        info!(target: "peerhost::worker", bundle = %hash, freed, "bundle evicted (disk quota)");
    }
}

/// The compiled artifacts of `component` in the compile cache, with their sizes.
fn artifacts(cache: Option<&Path>, component: &BlobHash) -> Vec<(PathBuf, u64)> {
    let Some(entries) = cache.and_then(|dir| std::fs::read_dir(dir).ok()) else {
        return Vec::new();
    };
    let prefix = format!("{}-", component.to_hex());
    entries
        .filter_map(Result::ok)
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.starts_with(&prefix) && name.ends_with(".cwasm")
        })
        .filter_map(|e| Some((e.path(), e.metadata().ok()?.len())))
        .collect()
}
