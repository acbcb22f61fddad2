//! A running node: the mesh, plus whichever roles are configured — blob store (deployers
//! and workers), worker, gateway — wired to one event loop.
//!
//! ```text
//!             gossip / direct streams
//!  mesh actor ───────────────────────▶ event loop ──▶ registry, directory (View)
//!      ▲                                   │  ├──────▶ worker   (race, prefetch)
//!      └──────── MeshClient ◀──────────────┘  └──────▶ gateway  (deliveries, bodies)
//! ```

mod catalog;
mod events;
#[cfg(feature = "worker")]
mod links;

use std::{
    net::SocketAddr,
    path::PathBuf,
    sync::{Arc, atomic::AtomicUsize},
    time::Duration,
};

use libp2p::{Multiaddr, PeerId, multiaddr::Protocol};
use peerhost_protocol::{NodeKey, NodeSecret};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

#[cfg(feature = "blobs")]
use crate::blobs::BlobStore;
#[cfg(feature = "gateway")]
use crate::gateway::{Gateway, GatewayConfig};
#[cfg(feature = "worker")]
use crate::worker::{Worker, WorkerConfig};
use crate::{
    keys::{self, KeyError},
    mesh::{self, MeshClient, MeshConfig, MeshStartError},
    view::View,
};

/// How long [`Node::shutdown`] waits for tasks before aborting them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// What to run.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Keys, blobs and compiled components live here.
    pub data_dir: PathBuf,
    /// Mesh settings (listen and bootstrap addresses, limits).
    pub mesh: MeshConfig,
    /// Serve and fetch bundles on this socket address (required by workers and deployers).
    #[cfg(feature = "blobs")]
    pub blobs: Option<SocketAddr>,
    /// Home the blob store on this iroh relay, for peers with no direct path to it (behind
    /// NATs). `None`: direct paths only.
    #[cfg(feature = "blobs")]
    pub blob_relay: Option<crate::blobs::RelayUrl>,
    /// Run a worker.
    #[cfg(feature = "worker")]
    pub worker: Option<WorkerConfig>,
    /// Run an HTTP gateway.
    #[cfg(feature = "gateway")]
    pub gateway: Option<GatewayConfig>,
    /// Settle on this chain: gateways anchor their epochs, workers claim their rewards.
    #[cfg(feature = "chain")]
    pub chain: Option<crate::chain::ChainConfig>,
    /// How often a worker announces itself.
    pub heartbeat_interval: Duration,
    /// Workers not heard from for this long are not chosen.
    pub worker_ttl: Duration,
    /// How often the node compares its deployment catalog with a random peer and pulls what
    /// it lacks (anti-entropy).
    pub anti_entropy_interval: Duration,
    /// Test switch (`test-utils` feature): ignore deployment announcements from gossip, as a
    /// node that missed them would (the catalog sync must make up for it).
    #[cfg(feature = "test-utils")]
    pub deaf_to_announcements: bool,
}

impl NodeConfig {
    /// A node with no roles (a bootstrap or relay), storing its keys in `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            mesh: MeshConfig::default(),
            #[cfg(feature = "blobs")]
            blobs: None,
            #[cfg(feature = "blobs")]
            blob_relay: None,
            #[cfg(feature = "worker")]
            worker: None,
            #[cfg(feature = "gateway")]
            gateway: None,
            #[cfg(feature = "chain")]
            chain: None,
            heartbeat_interval: Duration::from_secs(2),
            worker_ttl: Duration::from_secs(10),
            anti_entropy_interval: Duration::from_secs(30),
            #[cfg(feature = "test-utils")]
            deaf_to_announcements: false,
        }
    }

    /// Joins through `bootstrap`.
    pub fn bootstrap(mut self, bootstrap: Vec<Multiaddr>) -> Self {
        self.mesh.bootstrap = bootstrap;
        self
    }

    /// Serves bundles on a loopback port (for deployers).
    #[cfg(feature = "blobs")]
    pub fn with_blobs(mut self) -> Self {
        self.blobs.get_or_insert(SocketAddr::from(([127, 0, 0, 1], 0)));
        self
    }

    /// Runs a worker (and the blob store it needs).
    #[cfg(feature = "worker")]
    pub fn with_worker(mut self, worker: WorkerConfig) -> Self {
        self.worker = Some(worker);
        self.with_blobs()
    }

    /// Runs an HTTP gateway.
    #[cfg(feature = "gateway")]
    pub fn with_gateway(mut self, gateway: GatewayConfig) -> Self {
        self.gateway = Some(gateway);
        self
    }
}

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    /// The data directory or its keys are unusable.
    #[error(transparent)]
    Keys(#[from] KeyError),
    /// The mesh could not start.
    #[error(transparent)]
    Mesh(#[from] MeshStartError),
    /// The blob store could not start.
    #[cfg(feature = "blobs")]
    #[error(transparent)]
    Blobs(#[from] crate::blobs::BlobError),
    /// The sandbox could not start.
    #[cfg(feature = "worker")]
    #[error(transparent)]
    Sandbox(#[from] crate::sandbox::SandboxError),
    /// The HTTP listener could not bind.
    #[error("cannot listen for HTTP on {addr}: {source}")]
    Http {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// A role is configured without something it needs.
    #[error("{0}")]
    Config(&'static str),
    /// The gateway's payment desk could not start (token unreadable, journal unopenable).
    #[cfg(all(feature = "chain", feature = "gateway"))]
    #[error("payments: {0}")]
    Payments(String),
    /// The gateway's receipt journal cannot be read or written.
    #[cfg(all(feature = "chain", feature = "gateway"))]
    #[error(transparent)]
    ReceiptJournal(#[from] crate::chain::JournalError),
    /// The chain could not be reached.
    #[cfg(feature = "chain")]
    #[error(transparent)]
    Chain(#[from] crate::chain::ChainError),
}

/// Everything the event loop and the roles share.
pub(crate) struct Shared {
    pub(crate) secret: NodeSecret,
    pub(crate) mesh: MeshClient,
    pub(crate) view: Arc<View>,
    #[cfg(feature = "blobs")]
    pub(crate) blobs: Option<BlobStore>,
    #[cfg(feature = "worker")]
    pub(crate) worker: Option<Arc<Worker>>,
    #[cfg(feature = "gateway")]
    pub(crate) gateway: Option<Arc<Gateway>>,
    /// The chain client, when the node settles on a chain.
    #[cfg(feature = "chain")]
    pub(crate) chain: Option<crate::chain::Chain>,
    /// The worker's reward claimer.
    #[cfg(feature = "chain")]
    pub(crate) claims: Option<crate::chain::Claims>,
    /// The validator role, when this worker validates.
    #[cfg(all(feature = "chain", feature = "worker"))]
    pub(crate) validation: Option<crate::worker::Validation>,
    /// Execution shards a worker subscribed to.
    #[cfg(feature = "worker")]
    pub(crate) shards: std::sync::Mutex<std::collections::HashSet<u8>>,
    pub(crate) catalog_syncs: AtomicUsize,
    #[cfg(feature = "test-utils")]
    pub(crate) deaf_to_announcements: bool,
    pub(crate) shutdown: CancellationToken,
}

/// A running node. Dropping it stops it abruptly; prefer [`Node::shutdown`].
pub struct Node {
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
    http_addr: Option<SocketAddr>,
    heartbeat_interval: Duration,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node").field("peer_id", &self.peer_id()).finish_non_exhaustive()
    }
}

impl Node {
    /// Starts a node on the current tokio runtime.
    ///
    /// # Errors
    ///
    /// See [`NodeError`].
    pub async fn start(config: NodeConfig) -> Result<Self, NodeError> {
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|source| KeyError::Io { path: config.data_dir.clone(), source })?;
        let secret = keys::node_secret(&config.data_dir)?;
        let shutdown = CancellationToken::new();
        let (mesh, events) = mesh::spawn(&secret, config.mesh.clone(), shutdown.child_token())?;
        let view = Arc::new(View::new(config.worker_ttl.as_millis() as u64));
        let mut tasks = Vec::new();

        #[cfg(feature = "blobs")]
        let blobs = match config.blobs {
            Some(bind) => {
                let relay = config.blob_relay.clone();
                let dir = config.data_dir.join("blobs");
                Some(BlobStore::open_with_relay(&dir, &secret, bind, relay).await?)
            }
            None => None,
        };

        #[cfg(feature = "worker")]
        let worker = match config.worker.clone() {
            Some(mut worker_config) => {
                #[cfg(feature = "test-utils")]
                let stand_in = worker_config.stand_in.is_some();
                #[cfg(not(feature = "test-utils"))]
                let stand_in = false;
                if blobs.is_none() && !stand_in {
                    return Err(NodeError::Config("a worker needs a blob store"));
                }
                worker_config
                    .sandbox
                    .cache_dir
                    .get_or_insert_with(|| config.data_dir.join("compiled"));
                let status = crate::worker::status_path(&config.data_dir);
                let worker = Worker::new(
                    status,
                    secret.clone(),
                    worker_config,
                    blobs.clone(),
                    mesh.clone(),
                    view.clone(),
                )
                .await?;
                Some(Arc::new(worker))
            }
            None => None,
        };

        #[cfg(feature = "gateway")]
        let (gateway, http_addr) = match config.gateway.clone() {
            Some(gateway_config) => {
                let listener = tokio::net::TcpListener::bind(gateway_config.listen)
                    .await
                    .map_err(|source| NodeError::Http { addr: gateway_config.listen, source })?;
                let addr = listener
                    .local_addr()
                    .map_err(|source| NodeError::Http { addr: gateway_config.listen, source })?;
                let gateway = Arc::new(Gateway::new(
                    secret.clone(),
                    mesh.clone(),
                    view.clone(),
                    gateway_config,
                    shutdown.child_token(),
                ));
                tasks.push(tokio::spawn(crate::gateway::serve(
                    gateway.clone(),
                    listener,
                    shutdown.child_token(),
                )));
                (Some(gateway), Some(addr))
            }
            None => (None, None),
        };
        #[cfg(not(feature = "gateway"))]
        let http_addr = None;

        #[cfg(all(feature = "chain", feature = "worker"))]
        let mut validation = None;
        #[cfg(feature = "chain")]
        let (chain, claims) = match &config.chain {
            Some(settings) => {
                let wallet = keys::wallet(&config.data_dir)?;
                let chain = crate::chain::Chain::connect_to(settings, &wallet).await?;
                // Bonded trust from here on: only bonded workers race, only bonded gateways
                // get work done.
                tasks.push(
                    crate::chain::spawn_stakes(chain.clone(), view.clone(), shutdown.child_token())
                        .await?,
                );
                #[cfg(feature = "gateway")]
                if let Some(gateway) = &gateway {
                    let (anchoring, recovered, task) = crate::chain::spawn_anchorer(
                        chain.clone(),
                        mesh.clone(),
                        view.clone(),
                        &config.data_dir.join("receipts.journal"),
                        settings.tick,
                        settings.audit_fraction,
                        shutdown.child_token(),
                    )?;
                    for answer in recovered {
                        gateway.restore_receipt(answer);
                    }
                    let _ = gateway.anchoring.set(anchoring);
                    let _ = gateway.receipt_domain.set(chain.domain());
                    tasks.push(task);
                    let paywall = crate::gateway::x402::Paywall::open(
                        chain.clone(),
                        &config.data_dir.join("payments.redb"),
                        gateway.config().free_calls,
                    )
                    .await
                    .map_err(|e| NodeError::Payments(e.to_string()))?;
                    let _ = gateway.paywall.set(Arc::new(paywall));
                }
                #[cfg(feature = "worker")]
                let claims = worker.as_ref().map(|worker| {
                    let _ = worker.chain.set(chain.clone());
                    if settings.validate {
                        let (validator, task) = crate::worker::spawn_validator(
                            chain.clone(),
                            worker.clone(),
                            shutdown.child_token(),
                        );
                        validation = Some(validator);
                        tasks.push(task);
                    }
                    let (claims, task) =
                        crate::chain::spawn_claimer(chain.clone(), shutdown.child_token());
                    tasks.push(task);
                    claims
                });
                #[cfg(not(feature = "worker"))]
                let claims = None;
                (Some(chain), claims)
            }
            None => (None, None),
        };

        #[cfg(feature = "gateway")]
        if gateway.is_some() && view.is_open() {
            tracing::warn!(
                target: "peerhost::gateway",
                "open mode (no chain): any worker that joins may race this gateway's calls"
            );
        }

        let shared = Arc::new(Shared {
            secret,
            mesh,
            view,
            #[cfg(feature = "blobs")]
            blobs,
            #[cfg(feature = "worker")]
            worker,
            #[cfg(feature = "gateway")]
            gateway,
            #[cfg(feature = "chain")]
            chain,
            #[cfg(feature = "chain")]
            claims,
            #[cfg(all(feature = "chain", feature = "worker"))]
            validation,
            #[cfg(feature = "worker")]
            shards: Default::default(),
            catalog_syncs: AtomicUsize::new(0),
            #[cfg(feature = "test-utils")]
            deaf_to_announcements: config.deaf_to_announcements,
            shutdown: shutdown.clone(),
        });
        let intervals = events::Intervals {
            heartbeat: config.heartbeat_interval,
            anti_entropy: config.anti_entropy_interval,
        };
        #[cfg(feature = "worker")]
        if shared.worker.is_some() {
            links::accept(&shared);
        }
        tasks.push(tokio::spawn(events::run(shared.clone(), events, intervals)));
        shared
            .mesh
            .wait_listening(1)
            .await
            .map_err(|_| NodeError::Config("the mesh stopped before it listened"))?;
        Ok(Self { shared, tasks, http_addr, heartbeat_interval: config.heartbeat_interval })
    }

    /// This node's peer id.
    pub fn peer_id(&self) -> PeerId {
        self.shared.mesh.peer_id()
    }

    /// This node's key.
    pub fn node_key(&self) -> NodeKey {
        self.shared.secret.public()
    }

    /// The mesh handle.
    pub fn mesh(&self) -> &MeshClient {
        &self.shared.mesh
    }

    /// The worker's status (what `peerhost-node status` shows), if this node is a worker.
    #[cfg(feature = "worker")]
    pub async fn worker_status(&self) -> Option<crate::worker::WorkerStatus> {
        let worker = self.shared.worker.as_ref()?;
        Some(self.shared.worker_status(worker, self.heartbeat_interval).await)
    }

    /// The worker's executor processes, if its guests run in executors.
    #[cfg(feature = "worker")]
    pub fn executors(&self) -> Option<&Arc<crate::executor::Pool>> {
        self.shared.worker.as_ref()?.sandbox.pool()
    }

    /// What this node knows about the network.
    pub fn view(&self) -> &Arc<View> {
        &self.shared.view
    }

    /// Addresses other nodes can bootstrap from (`…/p2p/<peer id>`).
    pub fn dial_addrs(&self) -> Vec<Multiaddr> {
        let peer = self.peer_id();
        self.shared.mesh.listen_addrs().into_iter().map(|a| a.with(Protocol::P2p(peer))).collect()
    }

    /// The chain client, if this node settles on a chain.
    #[cfg(feature = "chain")]
    pub fn chain(&self) -> Option<&crate::chain::Chain> {
        self.shared.chain.as_ref()
    }

    /// Epochs this node's gateway anchored so far.
    #[cfg(all(feature = "chain", feature = "gateway"))]
    pub fn anchored_epochs(&self) -> u64 {
        self.shared.gateway.as_ref().and_then(|g| g.anchoring.get()).map_or(0, |a| a.anchored())
    }

    /// The gateway's bound HTTP address, if this node runs one.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_addr
    }

    /// The blob store, if this node runs one.
    #[cfg(feature = "blobs")]
    pub fn blobs(&self) -> Option<&BlobStore> {
        self.shared.blobs.as_ref()
    }

    /// Requests this node's worker is executing right now.
    pub fn active_jobs(&self) -> usize {
        #[cfg(feature = "worker")]
        if let Some(worker) = &self.shared.worker {
            return worker.active.load(std::sync::atomic::Ordering::Relaxed);
        }
        0
    }

    /// Audits of `worker`'s receipts this node's validator decided so far (0 if it does not
    /// validate).
    #[cfg(feature = "chain")]
    pub fn audits_decided(&self, worker: alloy::primitives::Address) -> u64 {
        #[cfg(feature = "worker")]
        if let Some(validation) = &self.shared.validation {
            return validation.decided(worker);
        }
        let _ = worker;
        0
    }

    /// Attempts this node's gateway dispatched after a call's first (0 when it runs none).
    pub fn redispatches(&self) -> u64 {
        #[cfg(feature = "gateway")]
        if let Some(gateway) = &self.shared.gateway {
            return gateway.redispatched.load(std::sync::atomic::Ordering::Relaxed);
        }
        0
    }

    /// This node's gateway's dispatch links open now, and orders it sent so far: (open links,
    /// orders sent on links, orders gossiped). Zeros when it runs no gateway.
    pub fn dispatch_stats(&self) -> (usize, u64, u64) {
        #[cfg(feature = "gateway")]
        if let Some(gateway) = &self.shared.gateway {
            let (direct, gossip) = gateway.orders_sent();
            return (gateway.dispatch_links(), direct, gossip);
        }
        (0, 0, 0)
    }

    /// This node's gateway's reputation weight of `worker` now (1 when it runs no gateway).
    pub fn worker_weight(&self, worker: &NodeKey) -> f64 {
        #[cfg(feature = "gateway")]
        if let Some(gateway) = &self.shared.gateway {
            return gateway.worker_weight(worker);
        }
        let _ = worker;
        crate::dispatch::reputation::NEUTRAL
    }

    /// Requests this node's worker started racing since it started.
    pub fn raced_requests(&self) -> u64 {
        #[cfg(feature = "worker")]
        if let Some(worker) = &self.shared.worker {
            return worker.raced.load(std::sync::atomic::Ordering::Relaxed);
        }
        0
    }

    /// Stops the node: closes the HTTP listener (in-flight calls finish), the mesh and the
    /// blob store.
    pub async fn shutdown(mut self) {
        self.shared.shutdown.cancel();
        for task in self.tasks.drain(..) {
            if tokio::time::timeout(SHUTDOWN_GRACE, task).await.is_err() {
                tracing::warn!(target: "peerhost::node", "task did not stop in time");
            }
        }
        #[cfg(feature = "blobs")]
        if let Some(blobs) = &self.shared.blobs {
            blobs.shutdown().await;
        }
    }

    /// Stops the node at once, like a crash: nothing is flushed or closed gracefully.
    pub fn kill(mut self) {
        self.shared.shutdown.cancel();
        for task in self.tasks.drain(..) {
            task.abort();
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.shared.shutdown.cancel();
        for task in &self.tasks {
            task.abort();
        }
    }
}
