//! A whole local network in one process: a bootstrap node, workers, a gateway, and
//! (optionally) a project deployed to it. `peerhost-node devnet`, the benchmark and the
//! end-to-end tests all start networks this way.

use std::{
    net::{IpAddr, SocketAddr},
    path::PathBuf,
    time::Duration,
};

use libp2p::Multiaddr;
use peerhost_protocol::{Owner, Wallet};

mod chain;

use chain::start_chain;
pub use chain::{DevnetChain, DevnetChainOptions, FAUCET_USDC, PAYER_USDC};

use crate::{
    Node, NodeConfig, NodeError,
    chain::{ChainConfig, ChainError},
    clock,
    deploy::{self, DeployError, Deployed, PublishOptions},
    gateway::GatewayConfig,
    mesh,
    worker::WorkerConfig,
};

/// The devnet owner: Anvil's first development account. Its key is public knowledge; never
/// use it outside local networks.
pub const DEVNET_OWNER_KEY: &str =
    "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

/// The devnet owner wallet.
pub fn devnet_wallet() -> Wallet {
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(DEVNET_OWNER_KEY, &mut bytes).expect("constant is hex");
    Wallet::from_bytes(&bytes).expect("constant is a valid key")
}

/// What to start.
#[derive(Debug, Clone)]
pub struct DevnetOptions {
    /// Every node gets a folder here (`bootstrap`, `worker-0`, …, `gateway`, `deployer`).
    pub data_dir: PathBuf,
    /// Number of workers.
    pub workers: usize,
    /// IP every node listens on.
    pub ip: IpAddr,
    /// Worker settings.
    pub worker: WorkerConfig,
    /// Gateway settings (its `listen` is the HTTP address).
    pub gateway: GatewayConfig,
    /// Project folder to deploy once the network is up.
    pub project: Option<PathBuf>,
    /// Show cargo's build output while deploying.
    pub verbose_build: bool,
    /// Heartbeat interval of workers.
    pub heartbeat: Duration,
    /// How long to wait for the network to form and the project to replicate.
    pub timeout: Duration,
    /// Settle on a local chain: start anvil, deploy the contracts, bond the workers, register
    /// the gateway. `None` runs the mesh alone.
    pub chain: Option<DevnetChainOptions>,
    /// Workers a deploy waits for (default: every worker).
    pub replicas: Option<usize>,
    /// Test switch (`test-utils` feature): the last `byzantine.len()` workers misbehave as
    /// listed, in order.
    #[cfg(feature = "test-utils")]
    pub byzantine: Vec<crate::worker::Byzantine>,
}

impl DevnetOptions {
    /// Defaults: 3 workers on loopback, gateway on `127.0.0.1:8787`, `examples/hello`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            workers: 3,
            ip: IpAddr::from([127, 0, 0, 1]),
            worker: WorkerConfig::default(),
            gateway: GatewayConfig::default(),
            project: Some(PathBuf::from("examples/hello")),
            verbose_build: false,
            heartbeat: Duration::from_secs(1),
            timeout: Duration::from_secs(120),
            chain: Some(DevnetChainOptions::default()),
            replicas: None,
            #[cfg(feature = "test-utils")]
            byzantine: Vec::new(),
        }
    }
}

/// Why a devnet did not come up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DevnetError {
    /// A node failed to start.
    #[error("starting {role}: {source}")]
    Node {
        /// Which node.
        role: String,
        /// Why.
        source: NodeError,
    },
    /// The gateway did not see every worker in time.
    #[error("only {seen} of {wanted} workers joined within the timeout")]
    Workers {
        /// Workers expected.
        wanted: usize,
        /// Workers the gateway saw.
        seen: usize,
    },
    /// Deploying the project failed.
    #[error(transparent)]
    Deploy(#[from] DeployError),
    /// The local chain or a chain step failed.
    #[error("local chain: {0}")]
    Chain(#[from] ChainError),
}

/// A running devnet.
#[derive(Debug)]
pub struct Devnet {
    /// The bootstrap node.
    pub bootstrap: Node,
    /// The workers.
    pub workers: Vec<Node>,
    /// The gateway.
    pub gateway: Node,
    /// The deployed project, if any.
    pub deployed: Option<Deployed>,
    /// The local chain, if the devnet settles on one.
    pub chain: Option<DevnetChain>,
    options: DevnetOptions,
    /// How the gateway was started, to start it again.
    gateway_config: NodeConfig,
    /// How an honest worker that does not validate is started (data dir to be replaced).
    worker_config: NodeConfig,
}

impl Devnet {
    /// Starts the nodes, waits for the gateway to see every worker, deploys the project.
    ///
    /// # Errors
    ///
    /// See [`DevnetError`].
    pub async fn start(options: DevnetOptions) -> Result<Self, DevnetError> {
        // Boxed: the whole start-up (chain, nodes, deploy) is a large future.
        Box::pin(Self::start_boxed(options)).await
    }

    async fn start_boxed(options: DevnetOptions) -> Result<Self, DevnetError> {
        let node = |role: &str, config: NodeConfig| {
            let role = role.to_owned();
            async move {
                Box::pin(Node::start(config))
                    .await
                    .map_err(|source| DevnetError::Node { role, source })
            }
        };
        let dir = |name: &str| options.data_dir.join(name);
        let listen = mesh::listen_addrs_on(options.ip);
        let chain = match &options.chain {
            Some(chain_options) => Some(start_chain(chain_options).await?),
            None => None,
        };
        let settle = chain.as_ref().zip(options.chain.as_ref()).map(|(chain, o)| ChainConfig {
            tick: o.tick,
            audit_fraction: o.audit_fraction,
            // Requests over HTTP, subscriptions over the WebSocket (`Chain::with_events_url`).
            events_url: Some(chain.local.ws_url()),
            ..ChainConfig::new(chain.local.http_url(), chain.deployment.coordinator)
        });
        let validator = options.chain.as_ref().is_some_and(|o| o.validator);
        let blobs = SocketAddr::new(options.ip, 0);

        let mut config = NodeConfig::new(dir("bootstrap"));
        config.mesh.listen = listen.clone();
        let bootstrap = node("bootstrap", config).await?;
        let entry = bootstrap_addr(&bootstrap);

        #[allow(unused_mut)] // only test builds clear a byzantine mode
        let mut worker = options.worker.clone();
        #[cfg(feature = "test-utils")]
        {
            worker.byzantine = None;
        }
        // One machine, one compile of each component: the workers share a cache.
        worker.sandbox.cache_dir.get_or_insert_with(|| dir("compiled"));
        let mut worker_config =
            NodeConfig::new(dir("worker")).bootstrap(vec![entry.clone()]).with_worker(worker);
        worker_config.mesh.listen = listen.clone();
        worker_config.blobs = Some(blobs);
        worker_config.heartbeat_interval = options.heartbeat;
        worker_config.chain = settle.clone();
        let mut workers = Vec::with_capacity(options.workers);
        for i in 0..options.workers {
            let mut config = worker_config.clone();
            config.data_dir = dir(&format!("worker-{i}"));
            #[cfg(feature = "test-utils")]
            if let Some(worker) = config.worker.as_mut() {
                let honest = options.workers.saturating_sub(options.byzantine.len());
                worker.byzantine =
                    i.checked_sub(honest).and_then(|b| options.byzantine.get(b).copied());
            }
            if let Some(chain) = config.chain.as_mut() {
                chain.validate = validator && i == 0;
            }
            workers.push(node(&format!("worker {i}"), config).await?);
        }

        let mut config = NodeConfig::new(dir("gateway"))
            .bootstrap(vec![entry.clone()])
            .with_gateway(options.gateway.clone());
        config.mesh.listen = listen;
        config.chain = settle;
        let gateway_config = config.clone();
        let gateway = node("gateway", config).await?;

        let mut devnet = Self {
            bootstrap,
            workers,
            gateway,
            deployed: None,
            chain,
            options,
            gateway_config,
            worker_config,
        };
        match devnet.prepare().await {
            Ok(()) => Ok(devnet),
            Err(e) => {
                devnet.shutdown().await;
                Err(e)
            }
        }
    }

    async fn prepare(&mut self) -> Result<(), DevnetError> {
        self.enrol().await?;
        self.wait_for_workers().await?;
        self.wait_for_bonds().await?;
        if let Some(project) = self.options.project.clone() {
            self.deployed = Some(self.deploy(&project).await?);
        }
        Ok(())
    }

    async fn wait_for_workers(&self) -> Result<(), DevnetError> {
        let wanted = self.workers.len();
        let deadline = tokio::time::Instant::now() + self.options.timeout;
        loop {
            let seen = self.live_workers();
            if seen >= wanted {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(DevnetError::Workers { wanted, seen });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Starts one more honest worker like the others, in `<data dir>/<name>`, joined to the
    /// mesh and the chain but not bonded (see [`DevnetChain::enrol`]) and not in
    /// [`Devnet::workers`].
    ///
    /// # Errors
    ///
    /// The node does not start.
    pub async fn start_worker(&self, name: &str) -> Result<Node, DevnetError> {
        self.start_worker_with(name, |_| {}).await
    }

    /// Starts another worker like [`Devnet::start_worker`], its node settings adjusted by
    /// `tweak` first.
    ///
    /// # Errors
    ///
    /// [`DevnetError::Node`] if it does not start.
    pub async fn start_worker_with(
        &self,
        name: &str,
        tweak: impl FnOnce(&mut NodeConfig),
    ) -> Result<Node, DevnetError> {
        let mut config = self.worker_config.clone();
        tweak(&mut config);
        self.start_extra(name, config).await
    }

    /// Starts a node of `config` in `<data dir>/<name>`.
    async fn start_extra(&self, name: &str, mut config: NodeConfig) -> Result<Node, DevnetError> {
        config.data_dir = self.options.data_dir.join(name);
        Box::pin(Node::start(config))
            .await
            .map_err(|source| DevnetError::Node { role: name.to_owned(), source })
    }

    /// Starts one more gateway like the devnet's, in `<data dir>/<name>` on an ephemeral HTTP
    /// port, joined to the mesh and the chain but not bonded and not [`Devnet::gateway`].
    ///
    /// # Errors
    ///
    /// The node does not start.
    pub async fn start_gateway(&self, name: &str) -> Result<Node, DevnetError> {
        self.start_gateway_with(name, |_| {}).await
    }

    /// Starts another gateway like [`Devnet::start_gateway`], its settings adjusted by
    /// `tweak` first.
    ///
    /// # Errors
    ///
    /// [`DevnetError::Node`] if it does not start.
    pub async fn start_gateway_with(
        &self,
        name: &str,
        tweak: impl FnOnce(&mut GatewayConfig),
    ) -> Result<Node, DevnetError> {
        let mut config = self.gateway_config.clone();
        if let Some(http) = config.gateway.as_mut() {
            http.listen = SocketAddr::new(self.options.ip, 0);
            tweak(http);
        }
        self.start_extra(name, config).await
    }

    /// Workers the gateway currently considers live.
    pub fn live_workers(&self) -> usize {
        let now = clock::unix_ms();
        self.gateway.view().directory.read().expect("directory lock").live(now).count()
    }

    /// Deploys a project folder as the devnet owner and waits until every worker holds it
    /// and the gateway knows it.
    ///
    /// # Errors
    ///
    /// See [`DeployError`].
    pub async fn deploy(&self, project: &std::path::Path) -> Result<Deployed, DeployError> {
        self.deploy_with_secrets(project, Vec::new()).await
    }

    /// Deploys `project` with sealed `secrets` (see [`peerhost_protocol::ProjectSecret`]).
    ///
    /// # Errors
    ///
    /// As [`Devnet::deploy`].
    pub async fn deploy_with_secrets(
        &self,
        project: &std::path::Path,
        secrets: Vec<peerhost_protocol::ProjectSecret>,
    ) -> Result<Deployed, DeployError> {
        let options = PublishOptions {
            replicas: self.options.replicas.unwrap_or(self.workers.len()),
            timeout: self.options.timeout,
            payout: None,
            secrets,
            blob_relay: None,
        };
        let deployed = deploy::deploy_project(
            project,
            vec![self.bootstrap_addr()],
            &devnet_wallet(),
            &self.options.data_dir.join("deployer"),
            &options,
            !self.options.verbose_build,
        )
        .await?;
        self.wait_for_gateway(&deployed).await?;
        Ok(deployed)
    }

    /// Waits until the gateway knows `deployed` (gossip or catalog sync).
    async fn wait_for_gateway(&self, deployed: &Deployed) -> Result<(), DeployError> {
        let deadline = tokio::time::Instant::now() + self.options.timeout;
        while tokio::time::Instant::now() < deadline {
            let known = self
                .gateway
                .view()
                .registry
                .read()
                .expect("registry lock")
                .get(&deployed.record.owner, &deployed.record.project)
                .is_some_and(|d| d.record.version >= deployed.record.version);
            if known {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Err(DeployError::NoPeers)
    }

    /// The bootstrap node's first TCP address (`…/p2p/<peer id>`).
    pub fn bootstrap_addr(&self) -> Multiaddr {
        bootstrap_addr(&self.bootstrap)
    }

    /// The gateway's base URL (`http://ip:port`).
    pub fn gateway_url(&self) -> String {
        format!("http://{}", self.gateway.http_addr().expect("devnet gateway serves HTTP"))
    }

    /// The devnet owner.
    pub fn owner(&self) -> Owner {
        devnet_wallet().owner()
    }

    /// The URL of a function of the deployed project.
    pub fn function_url(&self, project: &str, function: &str) -> String {
        format!("{}/{}/{project}/{function}", self.gateway_url(), self.owner())
    }

    /// Stops the gateway abruptly (in-flight calls are cut off) and starts it again on the same
    /// HTTP address, keys, data folder (payment journal) and chain, as after a crash. Returns
    /// once it sees every worker, their bonds and every project it knew before.
    ///
    /// # Errors
    ///
    /// The new gateway does not start or does not catch up within the timeout.
    pub async fn restart_gateway(self) -> Result<Self, DevnetError> {
        let mut devnet = self;
        let gateway = devnet.gateway;
        let known: Vec<(Owner, String, u64)> = {
            let registry = gateway.view().registry.read().expect("registry lock");
            registry
                .iter()
                .map(|d| (d.record.owner, d.record.project.clone(), d.record.version))
                .collect()
        };
        if let (Some(addr), Some(http)) =
            (gateway.http_addr(), devnet.gateway_config.gateway.as_mut())
        {
            http.listen = addr;
        }
        let addr = gateway.http_addr();
        gateway.kill();
        // Killing aborts the HTTP task; its listener closes as the abort completes.
        let deadline = tokio::time::Instant::now() + devnet.options.timeout;
        while let Some(addr) = addr
            && std::net::TcpListener::bind(addr).is_err()
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        devnet.gateway = Box::pin(Node::start(devnet.gateway_config.clone()))
            .await
            .map_err(|source| DevnetError::Node { role: "gateway".into(), source })?;
        devnet.wait_for_workers().await?;
        devnet.wait_for_bonds().await?;
        let deadline = tokio::time::Instant::now() + devnet.options.timeout;
        loop {
            let caught_up = {
                let registry = devnet.gateway.view().registry.read().expect("registry lock");
                known.iter().all(|(owner, project, version)| {
                    registry.get(owner, project).is_some_and(|d| d.record.version >= *version)
                })
            };
            if caught_up {
                return Ok(devnet);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(DevnetError::Deploy(DeployError::NoPeers));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops every node, then the chain.
    pub async fn shutdown(self) {
        self.gateway.shutdown().await;
        for worker in self.workers {
            worker.shutdown().await;
        }
        self.bootstrap.shutdown().await;
        drop(self.chain);
    }
}

fn bootstrap_addr(node: &Node) -> Multiaddr {
    let addrs = node.dial_addrs();
    addrs
        .iter()
        .find(|a| a.iter().any(|p| matches!(p, libp2p::multiaddr::Protocol::Tcp(_))))
        .or(addrs.first())
        .cloned()
        .expect("a started node listens")
}
