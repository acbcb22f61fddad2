//! What a running worker reports about itself for `peerhost-node status`: written to
//! `<data dir>/status.json` with every heartbeat (atomically, so a reader never sees half a
//! file), read back by the command from the same data dir.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Worker, policy::bundle_bytes};

/// The status file in a data dir.
pub fn status_path(data_dir: &Path) -> PathBuf {
    data_dir.join("status.json")
}

/// A worker's state at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerStatus {
    /// Its peer id.
    pub peer_id: String,
    /// When this was written (unix ms).
    pub updated_ms: u64,
    /// How often it is rewritten (ms): older than a few of these means the worker stopped.
    pub interval_ms: u64,
    /// Connected peers.
    pub peers: usize,
    /// Whether its worker bond meets the network minimum (`None`: no chain, open network).
    pub bonded: Option<bool>,
    /// Bundles held, most recently used first.
    pub bundles: Vec<HeldBundle>,
    /// Disk the held bundles and their compiled components take.
    pub disk_bytes: u64,
    /// The operator's quota for them.
    pub disk_quota_bytes: Option<u64>,
    /// Calls it raced (was chosen for and started).
    pub calls_raced: u64,
    /// Results it delivered.
    pub calls_served: u64,
    /// Its executor processes, if guests run in executors.
    pub executors: Option<ExecutorsStatus>,
    /// Rewards claimed since it started (one per epoch and function owner; `None`: no chain).
    pub rewards_claimed: Option<u64>,
}

/// One held bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldBundle {
    /// Its hash.
    pub bundle: String,
    /// `owner/project`, if the deployment is current.
    pub project: Option<String>,
    /// Bytes it takes (components and compiled artifacts).
    pub bytes: u64,
}

/// The executor pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecutorsStatus {
    /// Live executor processes.
    pub processes: usize,
    /// Executors that died and were replaced.
    pub replaced: u64,
    /// Confinement steps this machine refused.
    pub missing: Vec<String>,
}

/// Reads the status a worker left in `data_dir`.
///
/// # Errors
///
/// The file is missing or unreadable.
pub fn read_status(data_dir: &Path) -> std::io::Result<WorkerStatus> {
    let bytes = std::fs::read(status_path(data_dir))?;
    serde_json::from_slice(&bytes).map_err(std::io::Error::other)
}

impl Worker {
    /// This worker's status, given what the node around it knows.
    pub(crate) fn status(
        &self,
        peers: usize,
        bonded: Option<bool>,
        rewards_claimed: Option<u64>,
        interval_ms: u64,
    ) -> WorkerStatus {
        let sizes = self.bundles.sizes.lock().expect("sizes lock").clone();
        let bundles = self
            .bundles
            .held()
            .into_iter()
            .map(|hash| {
                let deployment = self.deployment_of(&hash);
                let project =
                    deployment.as_ref().map(|d| format!("{}/{}", d.record.owner, d.record.project));
                let fallback = deployment.map_or(0, |d| bundle_bytes(&d.record.manifest));
                HeldBundle {
                    bundle: hash.to_string(),
                    project,
                    bytes: sizes.get(&hash).copied().unwrap_or(fallback),
                }
            })
            .collect();
        let executors = self.sandbox.pool().map(|pool| ExecutorsStatus {
            processes: pool.pids().len(),
            replaced: pool.replaced(),
            missing: pool.confinement().missing().map(|s| s.name.clone()).collect(),
        });
        WorkerStatus {
            peer_id: crate::mesh::peer_id(&self.secret.public())
                .map_or_else(String::new, |p| p.to_string()),
            updated_ms: crate::clock::unix_ms(),
            interval_ms,
            peers,
            bonded,
            bundles,
            disk_bytes: self.disk_use(),
            disk_quota_bytes: self.config.policy.disk_quota_bytes,
            calls_raced: self.raced.load(std::sync::atomic::Ordering::Relaxed),
            calls_served: self.delivered.load(std::sync::atomic::Ordering::Relaxed),
            executors,
            rewards_claimed,
        }
    }
}
