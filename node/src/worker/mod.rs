//! The worker: races the requests it is chosen for. Pipeline per request: admit (see
//! [`crate::dispatch::admission`]) → fetch body if not inline → load bundle (fetch, verify,
//! compile; usually already done on announcement) → execute in the sandbox → sign a receipt
//! → deliver straight to the gateway.
//!
//! Concurrency is bounded by execution slots. A request that finds every slot busy waits in a
//! short FIFO backlog (executions take milliseconds, so a brief wait beats a re-dispatch); one
//! that finds the backlog full too is declined so the gateway re-dispatches at once.

mod bundles;
#[cfg(feature = "test-utils")]
mod byzantine;
mod disk;
mod job;
mod policy;
mod seen;
#[cfg(feature = "test-utils")]
mod stand_in;
mod status;
#[cfg(feature = "chain")]
mod validator;

use std::{
    collections::HashSet,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::Duration,
};

use peerhost_protocol::{BlobHash, ENGINE_ID, ExecutionRequest, Heartbeat, NodeSecret, RequestId};
use tokio::sync::Semaphore;
use tracing::debug;

use crate::{
    blobs::BlobStore,
    clock,
    executor::{ExecutorConfig, Runner},
    mesh::MeshClient,
    sandbox::SandboxConfig,
    view::View,
};

pub(crate) use bundles::Bundles;
#[cfg(feature = "test-utils")]
pub use byzantine::{Byzantine, SLOW};
pub(crate) use job::ReplyTo;
pub use policy::{WorkerPolicy, bundle_bytes, prefetch_rank};
use seen::Seen;
#[cfg(feature = "test-utils")]
pub use stand_in::StandIn;
pub use status::{ExecutorsStatus, HeldBundle, WorkerStatus, read_status, status_path};
#[cfg(feature = "chain")]
pub use validator::Validation;
#[cfg(feature = "chain")]
pub(crate) use validator::spawn as spawn_validator;

/// Which deployment's secrets an opened [`crate::sandbox::Env`] holds.
pub(crate) type OpenedKey = (peerhost_protocol::Owner, String, u64, String);

/// Most opened-secret sets kept; the cache is cleared when it would grow past this.
const OPENED_SECRETS: usize = 1024;

/// Request ids remembered to avoid running a request twice (e.g. named in two attempts).
const SEEN_REQUESTS: usize = 16_384;
/// How soon a heartbeat nobody could hear yet is tried again.
const HEARTBEAT_RETRY: Duration = Duration::from_millis(250);

/// Worker settings.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Requests executed at once.
    pub slots: usize,
    /// Requests that may wait for a slot; beyond them, requests are declined as overloaded.
    pub backlog: usize,
    /// Sandbox policy.
    pub sandbox: SandboxConfig,
    /// Run guests in confined executor processes (`None`: in this process).
    pub executors: Option<ExecutorConfig>,
    /// Longest time to fetch a bundle.
    pub fetch_timeout: Duration,
    /// Fetch and compile bundles as soon as they are announced (so first callers are warm);
    /// [`WorkerPolicy::prefetch_rank`] narrows which.
    pub prefetch: bool,
    /// What the operator serves and keeps.
    pub policy: WorkerPolicy,
    /// Test switch (`test-utils` feature only): misbehave, so the tests can show what the
    /// network does about it.
    #[cfg(feature = "test-utils")]
    pub byzantine: Option<Byzantine>,
    /// Test switch (`test-utils` feature only): no sandbox and no blob store — calls answer
    /// after a set time, bundles "arrive" after a set time — so one process can run a
    /// thousand workers (simnet's live mode).
    #[cfg(feature = "test-utils")]
    pub stand_in: Option<StandIn>,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self {
            slots: (2 * cores).max(2),
            backlog: (16 * cores).max(16),
            sandbox: SandboxConfig::default(),
            executors: None,
            fetch_timeout: Duration::from_secs(30),
            prefetch: true,
            policy: WorkerPolicy::default(),
            #[cfg(feature = "test-utils")]
            byzantine: None,
            #[cfg(feature = "test-utils")]
            stand_in: None,
        }
    }
}

/// A running worker.
pub(crate) struct Worker {
    pub(crate) secret: NodeSecret,
    pub(crate) config: WorkerConfig,
    pub(crate) sandbox: Runner,
    /// Where bundles come from (none only for a [`StandIn`] worker).
    pub(crate) blobs: Option<BlobStore>,
    pub(crate) mesh: MeshClient,
    pub(crate) view: Arc<View>,
    pub(crate) slots: Arc<Semaphore>,
    pub(crate) bundles: Bundles,
    seen: Mutex<Seen<RequestId>>,
    wanted: Mutex<HashSet<BlobHash>>,
    /// Secrets already opened, per (owner, project, record version, function): HPKE opening
    /// is done once per deployment, not on every call.
    pub(crate) opened: Mutex<std::collections::HashMap<OpenedKey, crate::sandbox::Env>>,
    pub(crate) active: AtomicUsize,
    /// Requests this worker started racing (admitted and not seen before).
    pub(crate) raced: AtomicU64,
    /// Results it delivered.
    pub(crate) delivered: AtomicU64,
    /// Where it reports its status (`<data dir>/status.json`).
    pub(crate) status_file: std::path::PathBuf,
    /// The chain client, once the node is connected (signs receipts for disputes).
    #[cfg(feature = "chain")]
    pub(crate) chain: std::sync::OnceLock<crate::chain::Chain>,
    /// Admitted requests waiting for a slot.
    waiting: AtomicUsize,
    heartbeat_seq: AtomicU64,
}

impl Worker {
    pub(crate) async fn new(
        status_file: std::path::PathBuf,
        secret: NodeSecret,
        config: WorkerConfig,
        blobs: Option<BlobStore>,
        mesh: MeshClient,
        view: Arc<View>,
    ) -> Result<Self, crate::sandbox::SandboxError> {
        #[cfg(feature = "test-utils")]
        let sandbox = match &config.stand_in {
            Some(stand_in) => stand_in.runner(&config.sandbox),
            None => Runner::start(config.sandbox.clone(), config.executors.clone()).await?,
        };
        #[cfg(not(feature = "test-utils"))]
        let sandbox = Runner::start(config.sandbox.clone(), config.executors.clone()).await?;
        Ok(Self {
            secret,
            slots: Arc::new(Semaphore::new(config.slots)),
            config,
            sandbox,
            blobs,
            mesh,
            view,
            bundles: Bundles::default(),
            seen: Mutex::new(Seen::new(SEEN_REQUESTS)),
            wanted: Mutex::default(),
            opened: Mutex::default(),
            active: AtomicUsize::new(0),
            waiting: AtomicUsize::new(0),
            raced: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            status_file,
            #[cfg(feature = "chain")]
            chain: std::sync::OnceLock::new(),
            heartbeat_seq: AtomicU64::new(0),
        })
    }

    /// Free execution slots.
    pub(crate) fn free_slots(&self) -> usize {
        self.slots.available_permits()
    }

    /// Requests this worker can still take: free slots plus free backlog places.
    pub(crate) fn capacity(&self) -> usize {
        let waiting = self.waiting.load(Ordering::Relaxed);
        self.free_slots() + self.config.backlog.saturating_sub(waiting)
    }

    /// Starts racing an admitted request from a gateway (answering to `to`). A request runs at most once however
    /// often it is named; one that was declined may be tried again on a later attempt.
    pub(crate) fn race(self: &Arc<Self>, request: ExecutionRequest, to: ReplyTo) {
        if !self.seen.lock().expect("seen lock").insert(request.id()) {
            debug!(target: "peerhost::worker", request_id = %request.id(), "already raced");
            return;
        }
        self.raced.fetch_add(1, Ordering::Relaxed);
        if !self.config.policy.serves(&request.request.owner, &request.request.project) {
            return self.decline(request, to, peerhost_protocol::DeclineReason::NotServed);
        }
        #[cfg(feature = "test-utils")]
        if self.config.byzantine == Some(Byzantine::ClaimBundles) {
            self.decline(request, to, peerhost_protocol::DeclineReason::BundleUnavailable);
            return;
        }
        if let Ok(permit) = self.slots.clone().try_acquire_owned() {
            let worker = self.clone();
            tokio::spawn(async move { worker.run(request, to, permit).await });
            return;
        }
        if self.waiting.fetch_add(1, Ordering::Relaxed) >= self.config.backlog {
            self.waiting.fetch_sub(1, Ordering::Relaxed);
            return self.decline(request, to, peerhost_protocol::DeclineReason::Overloaded);
        }
        let worker = self.clone();
        tokio::spawn(async move {
            // Wait for a slot no longer than the request lives.
            let left = Duration::from_millis(request.deadline_ms.saturating_sub(clock::unix_ms()));
            let permit = tokio::time::timeout(left, worker.slots.clone().acquire_owned()).await;
            worker.waiting.fetch_sub(1, Ordering::Relaxed);
            match permit {
                Ok(Ok(permit)) => worker.run(request, to, permit).await,
                _ => worker.decline(request, to, peerhost_protocol::DeclineReason::Overloaded),
            }
        });
    }

    /// Forgets that a request was raced (it was declined, so a later attempt may run it).
    pub(crate) fn forget(&self, request: &RequestId) {
        self.seen.lock().expect("seen lock").remove(request);
    }

    /// Fetches and compiles a newly announced bundle in the background.
    pub(crate) fn prefetch(self: &Arc<Self>, bundle: BlobHash) {
        if !self.config.prefetch || self.bundles.is_loaded(&bundle) {
            return;
        }
        #[cfg(feature = "test-utils")]
        if self.config.byzantine == Some(Byzantine::ClaimBundles) {
            return;
        }
        if !self.wants_prefetch(&bundle) {
            return;
        }
        let worker = self.clone();
        tokio::spawn(async move {
            if worker.bundle(bundle).await.is_ok() {
                worker.wanted.lock().expect("wanted lock").remove(&bundle);
                // Tell the network at once that we hold it (deployers wait for this).
                worker.publish_heartbeat(Duration::ZERO).await;
            } else {
                worker.wanted.lock().expect("wanted lock").insert(bundle);
            }
        });
    }

    /// Whether the policy wants `bundle` fetched before anyone asks: a deployment this
    /// operator serves, small enough, and (with a prefetch rank) one this worker is among the
    /// first live workers for.
    fn wants_prefetch(&self, bundle: &BlobHash) -> bool {
        let policy = &self.config.policy;
        let Some(deployment) = self.deployment_of(bundle) else { return false };
        let record = &deployment.record;
        if !policy.serves(&record.owner, &record.project) || !policy.takes(&record.manifest) {
            return false;
        }
        let Some(rank) = policy.prefetch_rank else { return true };
        let me = self.secret.public();
        let workers: Vec<_> = {
            let directory = self.view.directory.read().expect("directory lock");
            directory.live(clock::unix_ms()).map(|w| w.key).collect()
        };
        let mine = prefetch_rank(bundle, &me, &workers);
        debug!(target: "peerhost::worker", %bundle, rank = mine, of = workers.len(), "prefetch rank");
        mine < rank
    }

    /// The current deployment whose bundle is `bundle`.
    pub(crate) fn deployment_of(
        &self,
        bundle: &BlobHash,
    ) -> Option<Arc<crate::dispatch::registry::Deployment>> {
        self.view.registry.read().expect("registry lock").by_bundle(bundle)
    }

    /// A provider for `bundle` appeared; retry a prefetch that found none before.
    pub(crate) fn provider_appeared(self: &Arc<Self>, bundle: &BlobHash) {
        let retry = self.wanted.lock().expect("wanted lock").remove(bundle);
        if retry {
            self.prefetch(*bundle);
        }
    }

    /// This worker's heartbeat now.
    pub(crate) fn heartbeat(&self) -> Heartbeat {
        // Sequence numbers start from the clock so they keep increasing across restarts.
        let seq =
            self.heartbeat_seq.fetch_max(clock::unix_ms(), Ordering::Relaxed).max(clock::unix_ms())
                + 1;
        self.heartbeat_seq.store(seq, Ordering::Relaxed);
        Heartbeat {
            seq,
            free_slots: u32::try_from(self.free_slots()).unwrap_or(u32::MAX),
            max_slots: u32::try_from(self.config.slots).unwrap_or(u32::MAX),
            engine: ENGINE_ID.to_owned(),
            blob_addrs: self.blobs.as_ref().map(BlobStore::addr_strings).unwrap_or_default(),
            bundles: self.held_bundles(),
            mesh_addrs: self.mesh.advertised_addrs(),
        }
    }

    /// The bundles this worker holds (a [`Byzantine::ClaimBundles`] test worker: every bundle
    /// it heard of).
    fn held_bundles(&self) -> Vec<BlobHash> {
        #[cfg(feature = "test-utils")]
        if self.config.byzantine == Some(Byzantine::ClaimBundles) {
            let registry = self.view.registry.read().expect("registry lock");
            let mut all: Vec<BlobHash> = registry.iter().map(|d| d.record.bundle).collect();
            all.truncate(peerhost_protocol::MAX_HELD_BUNDLES);
            return all;
        }
        self.bundles.held()
    }

    /// Publishes a heartbeat on the workers topic. While no peer listens on it yet (a worker
    /// that just started, or lost its peers) it tries again every [`HEARTBEAT_RETRY`] for up to
    /// `patience`, so a joining worker is seen once its first connection is up rather than a
    /// whole heartbeat interval later.
    pub(crate) async fn publish_heartbeat(&self, patience: Duration) {
        use crate::mesh::MeshError;
        let give_up = tokio::time::Instant::now() + patience;
        loop {
            let bytes = peerhost_protocol::codec::encode(&self.heartbeat());
            match self.mesh.publish(peerhost_protocol::topics::WORKERS, bytes).await {
                Err(MeshError::NoPeers(_))
                    if tokio::time::Instant::now() + HEARTBEAT_RETRY < give_up =>
                {
                    tokio::time::sleep(HEARTBEAT_RETRY).await;
                }
                Err(e) => {
                    debug!(target: "peerhost::worker", error = %e, "heartbeat not published");
                    break;
                }
                Ok(()) => break,
            }
        }
        #[cfg(feature = "test-utils")]
        if self.config.byzantine == Some(Byzantine::Flood) {
            use peerhost_protocol::topics;
            let mut names = vec![topics::WORKERS.to_owned()];
            names.extend((0..topics::EXEC_SHARDS).map(topics::exec_topic));
            for topic in names {
                for _ in 0..byzantine::FLOOD_BURST {
                    let _ = self.mesh.publish(topic.clone(), byzantine::junk()).await;
                }
            }
        }
    }
}
