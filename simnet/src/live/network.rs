//! Starting a live network: keys from the seed, a bootstrap, the gateways, the workers in
//! batches, and one owner's deployment announced until every gateway knows it and sees every
//! worker.

use std::{path::Path, sync::Arc, time::Duration};

use libp2p::{Multiaddr, PeerId};
use peerhost_node::{
    Node, NodeConfig,
    gateway::GatewayConfig,
    mesh::{self, MeshConfig},
    worker::{Byzantine, StandIn, WorkerConfig},
};
use peerhost_protocol::{
    Announcement, BundleManifest, DeploymentRecord, FunctionSpec, NodeSecret, Owner,
    SignedDeployment, Tier, Wallet, codec, topics,
};
use rand::{RngExt, SeedableRng, seq::SliceRandom};
use rand_chacha::ChaCha8Rng;

use super::{Cheat, Live, LiveError, model::Model};
use crate::Scenario;

/// The running nodes.
pub(super) struct LiveNet {
    pub(super) bootstrap: Node,
    pub(super) workers: Vec<Node>,
    pub(super) gateways: Vec<Node>,
    pub(super) model: Arc<Model>,
    /// Which workers misbehave, by worker index.
    pub(super) cheaters: Vec<bool>,
    /// The deployment's owner and project, and its functions' names.
    pub(super) owner: Owner,
    pub(super) project: String,
    pub(super) functions: Vec<String>,
    announcement: Vec<u8>,
}

const PROJECT: &str = "live";

fn memory() -> Multiaddr {
    "/memory/0".parse().expect("a memory multiaddr")
}

impl LiveNet {
    /// Starts every node of `scenario` under `dir` (keys and status files).
    pub(super) async fn start(
        scenario: &Scenario,
        live: &Live,
        dir: &Path,
        on_phase: &dyn Fn(&str),
    ) -> Result<Self, LiveError> {
        let nodes = scenario.workers + live.gateways + 1;
        let mut rng = ChaCha8Rng::seed_from_u64(scenario.seed ^ 0x11fe);
        let secrets: Vec<[u8; 32]> = (0..nodes).map(|_| rng.random()).collect();
        let peers: Vec<PeerId> = secrets
            .iter()
            .map(|s| mesh::peer_id(&NodeSecret::from_bytes(s).public()).expect("ed25519 key"))
            .collect();
        let model = Arc::new(Model::new(scenario.seed, scenario.network.clone(), &peers));
        let mesh_config = |bootstrap: Vec<Multiaddr>| MeshConfig {
            listen: vec![memory()],
            bootstrap,
            target_peers: live.peers,
            mesh_degree: live.mesh_degree,
            max_connections: u32::try_from(nodes + 64).unwrap_or(u32::MAX),
            kad_refresh: Duration::from_secs(live.kad_refresh_s.max(1)),
            faults: Some(model.clone()),
            ..MeshConfig::default()
        };
        let node_config =
            |index: usize, bootstrap: Vec<Multiaddr>| -> Result<NodeConfig, LiveError> {
                let data = dir.join(format!("node-{index}"));
                std::fs::create_dir_all(&data).map_err(LiveError::Io)?;
                std::fs::write(data.join("node.key"), hex::encode(secrets[index]))
                    .map_err(LiveError::Io)?;
                let mut config = NodeConfig::new(data);
                config.mesh = mesh_config(bootstrap);
                config.heartbeat_interval = Duration::from_millis(live.heartbeat_ms);
                config.worker_ttl = Duration::from_millis(live.worker_ttl_ms);
                Ok(config)
            };

        let bootstrap = Node::start(node_config(nodes - 1, Vec::new())?).await?;
        let join = bootstrap.dial_addrs();

        // Gateways before workers, so that every worker's first heartbeat reaches them.
        let mut gateways = Vec::with_capacity(live.gateways);
        for g in 0..live.gateways {
            let mut config = node_config(scenario.workers + g, join.clone())?;
            config.gateway = Some(GatewayConfig {
                listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
                fast_racers: scenario.racers,
                verified_racers: scenario.racers,
                verified_quorum: scenario.quorum,
                max_attempts: scenario.max_attempts,
                max_escalations: scenario.max_escalations,
                slack_ms: scenario.attempt_timeout_ms,
                free_rate_per_minute: 0,
                ..GatewayConfig::default()
            });
            gateways.push(Node::start(config).await?);
        }

        let mut cheaters = vec![false; scenario.workers];
        let count = (scenario.byzantine * scenario.workers as f64).round() as usize;
        let mut order: Vec<usize> = (0..scenario.workers).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(scenario.seed ^ 0xc4ea_7e25));
        for &w in order.iter().take(count) {
            cheaters[w] = true;
        }
        let stand_in = StandIn {
            exec: Duration::from_secs_f64(scenario.exec_ms / 1e3),
            fetch: Duration::from_secs_f64(scenario.fetch_ms / 1e3),
        };
        let mut workers = Vec::with_capacity(scenario.workers);
        for batch in (0..scenario.workers).collect::<Vec<_>>().chunks(live.start_batch.max(1)) {
            let mut starting = Vec::with_capacity(batch.len());
            for &w in batch {
                let mut config = node_config(w, join.clone())?;
                let mut worker =
                    WorkerConfig { stand_in: Some(stand_in), ..WorkerConfig::default() };
                worker.byzantine = cheaters[w].then(|| byzantine(live.cheat));
                if scenario.holders > 0 {
                    worker.policy.prefetch_rank = Some(scenario.holders);
                }
                config.worker = Some(worker);
                starting.push(Node::start(config));
            }
            for node in futures::future::join_all(starting).await {
                workers.push(node?);
            }
            on_phase(&format!("starting: {} of {} workers up", workers.len(), scenario.workers));
            // The next batch waits until every worker of this one has a peer. (Not until the
            // bootstrap holds them all: a connection no gossip mesh uses closes when idle, so
            // at a thousand nodes the first batches' links to it are gone by the last.)
            // A worker counts as joined once it was seen with a peer: under load a joining
            // node's first connections may be trimmed (the bootstrap keeps few) before its own
            // lookups connect it elsewhere, and it heals by dialing again.
            let batch_nodes = &workers[workers.len() - batch.len()..];
            let seen = std::sync::Mutex::new(vec![false; batch_nodes.len()]);
            let joined = poll_until(Duration::from_secs(120), || async {
                for (i, node) in batch_nodes.iter().enumerate() {
                    if seen.lock().expect("seen lock")[i] {
                        continue;
                    }
                    if node.mesh().connected_peers().await.is_ok_and(|p| !p.is_empty()) {
                        seen.lock().expect("seen lock")[i] = true;
                    }
                }
                seen.lock().expect("seen lock").iter().all(|&s| s)
            });
            if !joined.await {
                let held = bootstrap.mesh().connected_peers().await.map_or(0, |p| p.len());
                return Err(LiveError::Formation(format!(
                    "workers {}..{} found no peer within two minutes (the bootstrap is connected to {held})",
                    workers.len() - batch.len(),
                    workers.len()
                )));
            }
        }

        let wallet =
            Wallet::from_bytes(&rng.random()).map_err(|e| LiveError::Formation(e.to_string()))?;
        let functions: Vec<String> =
            (0..scenario.functions.max(1)).map(|i| format!("f{i:04}")).collect();
        let manifest = BundleManifest {
            project: PROJECT.into(),
            functions: functions
                .iter()
                .map(|name| {
                    let mut spec =
                        FunctionSpec::new(name, format!("{}-{name}", scenario.seed).as_bytes());
                    if scenario.quorum > 1 {
                        spec.tier = Tier::Verified;
                    }
                    spec
                })
                .collect(),
        };
        let record = DeploymentRecord {
            owner: wallet.owner(),
            project: PROJECT.into(),
            version: 1,
            bundle: manifest.bundle_hash(),
            manifest,
            created_at_ms: 0,
            payout: None,
            secrets: Vec::new(),
        };
        let announcement = codec::encode(&Announcement {
            deployment: SignedDeployment::sign(&wallet, &record),
            blob_addrs: Vec::new(),
        });
        Ok(Self {
            bootstrap,
            workers,
            gateways,
            model,
            cheaters,
            owner: wallet.owner(),
            project: PROJECT.into(),
            functions,
            announcement,
        })
    }

    /// Announces the deployment until every gateway knows it and sees every worker (or the
    /// timeout). Returns the workers the first gateway sees.
    pub(super) async fn form(
        &self,
        timeout: Duration,
        on_phase: &dyn Fn(&str),
    ) -> Result<usize, LiveError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut next_announce = tokio::time::Instant::now();
        let mut next_phase = tokio::time::Instant::now();
        loop {
            let now = tokio::time::Instant::now();
            if now >= next_phase {
                let (live, set_aside) = self.directory_counts(0);
                on_phase(&format!(
                    "forming: the first gateway sees {live} of {} workers ({set_aside} more set \
                     aside, their connection closed)",
                    self.workers.len(),
                ));
                next_phase = now + Duration::from_secs(5);
            }
            // Every copy of an announcement reaches every node: it is sent again only while
            // a gateway still lacks it.
            if now >= next_announce && !self.every_gateway_knows_the_deployment() {
                let _ = self
                    .bootstrap
                    .mesh()
                    .publish(topics::DEPLOYMENTS, self.announcement.clone())
                    .await;
                next_announce = now + Duration::from_secs(2);
            }
            let (seen, set_aside) = self.directory_counts(0);
            let formed = self.every_gateway_knows_the_deployment()
                && (0..self.gateways.len()).all(|g| self.seen_workers(g) >= self.workers.len());
            if formed {
                return Ok(seen);
            }
            if now >= deadline {
                return Err(LiveError::Formation(format!(
                    "after {timeout:?} the first gateway sees {seen} of {} workers ({set_aside} \
                     more set aside, their connection closed)",
                    self.workers.len()
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn every_gateway_knows_the_deployment(&self) -> bool {
        self.gateways.iter().all(|gateway| {
            let registry = gateway.view().registry.read().expect("registry lock");
            registry.get(&self.owner, &self.project).is_some()
        })
    }

    /// Live workers in gateway `g`'s directory.
    pub(super) fn seen_workers(&self, g: usize) -> usize {
        self.directory_counts(g).0
    }

    /// Gateway `g`'s directory now: live workers, and workers it heard from whose connection
    /// closed (set aside while it reconnects).
    fn directory_counts(&self, g: usize) -> (usize, usize) {
        let now = peerhost_node::clock::unix_ms();
        let directory = self.gateways[g].view().directory.read().expect("directory lock");
        (directory.live(now).count(), directory.unreachable(now).count())
    }

    /// Stops every node.
    pub(super) async fn shutdown(self) {
        let all = self.gateways.into_iter().chain(self.workers).chain([self.bootstrap]);
        futures::future::join_all(all.map(Node::shutdown)).await;
    }
}

fn byzantine(cheat: Cheat) -> Byzantine {
    match cheat {
        Cheat::WrongResult => Byzantine::WrongResult,
        Cheat::Withhold => Byzantine::Withhold,
        Cheat::Slow => Byzantine::Slow,
        Cheat::Copy => Byzantine::Copy,
        Cheat::ClaimBundles => Byzantine::ClaimBundles,
        Cheat::Flood => Byzantine::Flood,
    }
}

/// Polls `condition` until it holds or `limit` passes; whether it held.
async fn poll_until<F, Fut>(limit: Duration, mut condition: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if condition().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
