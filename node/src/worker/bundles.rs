//! Bundles a worker can run: fetched from providers, verified, every function compiled and
//! pre-linked. Loads are de-duplicated per bundle; failures are not cached, so a later
//! request retries.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
};

use peerhost_protocol::{BlobHash, DeclineReason, FunctionSpec, MAX_HELD_BUNDLES};
use tracing::{debug, info, warn};

use super::Worker;
use crate::{blobs::Bundle, clock, executor::Prepared, sandbox::SandboxError};

/// A bundle ready to serve.
#[derive(Debug)]
pub(crate) struct Loaded {
    pub(crate) bundle: Bundle,
    /// Per function: the compiled component, or why it cannot run.
    pub(crate) compiled: HashMap<String, Result<Prepared, SandboxError>>,
}

impl Loaded {
    pub(crate) fn function(
        &self,
        name: &str,
    ) -> Option<(&FunctionSpec, &Result<Prepared, SandboxError>)> {
        let (spec, _) = self.bundle.function(name)?;
        Some((spec, self.compiled.get(name)?))
    }
}

type Slot = Arc<tokio::sync::Mutex<Option<Arc<Loaded>>>>;

/// Loaded bundles, the order they were last used in, and the disk each takes.
#[derive(Default)]
pub(crate) struct Bundles {
    pub(super) slots: Mutex<HashMap<BlobHash, Slot>>,
    pub(super) recent: Mutex<VecDeque<BlobHash>>,
    pub(super) sizes: Mutex<HashMap<BlobHash, u64>>,
}

impl Bundles {
    /// Bundles held, most recently used first (for heartbeats).
    pub(crate) fn held(&self) -> Vec<BlobHash> {
        self.recent.lock().expect("recent lock").iter().copied().collect()
    }

    pub(crate) fn is_loaded(&self, hash: &BlobHash) -> bool {
        self.slots
            .lock()
            .expect("slots lock")
            .get(hash)
            .is_some_and(|slot| slot.try_lock().is_ok_and(|g| g.is_some()))
    }

    fn touch(&self, hash: BlobHash) {
        let mut recent = self.recent.lock().expect("recent lock");
        recent.retain(|h| *h != hash);
        recent.push_front(hash);
        recent.truncate(MAX_HELD_BUNDLES);
    }
}

impl Worker {
    /// The loaded bundle `hash`, fetching and compiling it first if needed.
    pub(crate) async fn bundle(&self, hash: BlobHash) -> Result<Arc<Loaded>, DeclineReason> {
        let slot = self.bundles.slots.lock().expect("slots lock").entry(hash).or_default().clone();
        let mut guard = slot.lock().await;
        if let Some(loaded) = guard.as_ref() {
            let loaded = loaded.clone();
            drop(guard);
            self.bundles.touch(hash);
            return Ok(loaded);
        }
        let loaded = Arc::new(self.load(hash).await?);
        *guard = Some(loaded.clone());
        drop(guard);
        self.bundles.touch(hash);
        self.account(hash, &loaded);
        self.enforce_quota(hash).await;
        Ok(loaded)
    }

    async fn load(&self, hash: BlobHash) -> Result<Loaded, DeclineReason> {
        if let Some(deployment) = self.deployment_of(&hash)
            && !self.config.policy.takes(&deployment.record.manifest)
        {
            debug!(target: "peerhost::worker", bundle = %hash, "bundle larger than this worker takes");
            return Err(DeclineReason::NotServed);
        }
        #[cfg(feature = "test-utils")]
        if let Some(stand_in) = &self.config.stand_in {
            return stand_in.load(self.deployment_of(&hash)).await;
        }
        let Some(blobs) = &self.blobs else { return Err(DeclineReason::BundleUnavailable) };
        if !blobs.has(&hash).await {
            let providers = self.view.providers(&hash, clock::unix_ms());
            if let Err(e) = blobs.fetch_bundle(&hash, &providers, self.config.fetch_timeout).await {
                warn!(target: "peerhost::worker", bundle = %hash, error = %e, "bundle fetch failed");
                return Err(DeclineReason::BundleUnavailable);
            }
        }
        let members = blobs.read_bundle(&hash).await.map_err(|e| {
            warn!(target: "peerhost::worker", bundle = %hash, error = %e, "bundle unreadable");
            DeclineReason::BundleUnavailable
        })?;
        let bundle = Bundle::from_members(&hash, members).map_err(|e| {
            warn!(target: "peerhost::worker", bundle = %hash, error = %e, "stored bundle failed verification");
            DeclineReason::BundleUnavailable
        })?;
        let mut compiled = HashMap::new();
        for (spec, bytes) in bundle.manifest.functions.iter().zip(&bundle.components) {
            let result = self.sandbox.prepare(spec.component, || bytes.clone()).await;
            if let Err(e) = &result {
                warn!(target: "peerhost::worker", function = %spec.name, error = %e, "function cannot run");
            }
            compiled.insert(spec.name.clone(), result);
        }
        info!(target: "peerhost::worker", bundle = %hash, functions = compiled.len(), "bundle ready");
        Ok(Loaded { bundle, compiled })
    }
}
