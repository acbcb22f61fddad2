//! Gossiped announcements: deployments, worker heartbeats and anchored epochs. Each travels as
//! the data of a [`Published`](crate::Published) message, whose signature names its sender, so
//! these carry no signature of their own.

use serde::{Deserialize, Serialize};

use crate::{
    codec::{Invalid, Wire},
    deployment::SignedDeployment,
    execution::Receipt,
    hash::{BlobHash, Keccak},
    wallet::{EvmSignature, Owner},
};

/// Most addresses in an announcement or heartbeat.
pub const MAX_ADDRS: usize = 8;
/// Most bundle hashes a heartbeat lists.
pub const MAX_HELD_BUNDLES: usize = 64;

fn check_addrs(addrs: &[String]) -> Result<(), Invalid> {
    if addrs.len() > MAX_ADDRS || addrs.iter().any(|a| a.is_empty() || a.len() > 64) {
        return Err(Invalid::new("blob_addrs", format!("at most {MAX_ADDRS} socket addresses")));
    }
    Ok(())
}

/// "This deployment is live, and I serve its bundle at these addresses."
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Announcement {
    /// The owner-signed deployment.
    pub deployment: SignedDeployment,
    /// Socket addresses of the sender's iroh endpoint serving the bundle.
    pub blob_addrs: Vec<String>,
}

impl Wire for Announcement {
    const MAX_BYTES: usize = SignedDeployment::MAX_BYTES + 1024;

    fn validate(&self) -> Result<(), Invalid> {
        check_addrs(&self.blob_addrs)
    }
}

/// A worker's periodic "I am alive, this much is free, these bundles I hold".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Heartbeat {
    /// Increases with every heartbeat of this worker; older ones are ignored.
    pub seq: u64,
    /// Free execution slots.
    pub free_slots: u32,
    /// Total execution slots.
    pub max_slots: u32,
    /// Sandbox engine fingerprint; workers with different engines never vote together.
    pub engine: String,
    /// Socket addresses of the worker's iroh endpoint.
    pub blob_addrs: Vec<String>,
    /// Bundles held locally, most recently used first.
    pub bundles: Vec<BlobHash>,
    /// libp2p multiaddrs the worker's swarm listens on (relayed ones included), so that a
    /// gateway dials it without a DHT lookup. Vouched for by the heartbeat's gossip signature.
    pub mesh_addrs: Vec<String>,
}

/// Longest multiaddr in a heartbeat's `mesh_addrs` (a relayed address names the relay's
/// peer id as well).
pub const MAX_MESH_ADDR_LEN: usize = 200;

impl Wire for Heartbeat {
    const MAX_BYTES: usize = 4096;

    fn validate(&self) -> Result<(), Invalid> {
        check_addrs(&self.blob_addrs)?;
        if self.mesh_addrs.len() > MAX_ADDRS
            || self.mesh_addrs.iter().any(|a| !a.starts_with('/') || a.len() > MAX_MESH_ADDR_LEN)
        {
            return Err(Invalid::new(
                "mesh_addrs",
                format!("at most {MAX_ADDRS} multiaddrs of at most {MAX_MESH_ADDR_LEN} bytes"),
            ));
        }
        if self.engine.len() > 64 {
            return Err(Invalid::new("engine", "longer than 64 bytes"));
        }
        if self.bundles.len() > MAX_HELD_BUNDLES {
            return Err(Invalid::new("bundles", format!("more than {MAX_HELD_BUNDLES}")));
        }
        if self.free_slots > self.max_slots {
            return Err(Invalid::new("free_slots", "exceeds max_slots"));
        }
        Ok(())
    }
}

/// Most (worker, owner) leaves in one [`EpochSummary`] (it must fit one gossip message).
pub const MAX_EPOCH_LEAVES: usize = 768;

/// What one worker served for one function owner in a gateway's anchored epoch (the
/// coordinator's `WorkerLeaf`). The owner is there so the treasury's per-owner budget can be
/// enforced on-chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerLeaf {
    /// The worker's chain address.
    pub worker: Owner,
    /// The owner of the functions it served.
    pub owner: Owner,
    /// Calls it won (its result was the one the gateway accepted).
    pub requests: u32,
    /// Calls it raced and lost with the accepted result, delivered before the deadline:
    /// credited a smaller reward, so racing honestly is never unpaid work.
    pub assists: u32,
    /// Fuel of all those receipts, won and assisted.
    pub fuel: u64,
    /// Root of the tree over the worker's receipt leaves for this owner.
    pub receipts_root: Keccak,
}

/// "I anchored this epoch; here are its leaves." Published by a gateway after its anchor
/// transaction is mined, so each worker can rebuild the tree, check the root against the
/// chain and claim with its own proof. Nothing in it needs trust: a wrong summary produces a
/// root the chain does not hold.
///
/// A summary without leaves anchors nothing: the gateway had nothing to anchor that epoch
/// (every receipt was an unfunded assist, or its racers disagreed) and publishes it only for
/// its audits, so late and disputed results are checked even when the calls stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EpochSummary {
    /// The chain the coordinator lives on.
    pub chain_id: u64,
    /// The coordinator contract.
    pub coordinator: Owner,
    /// The gateway's chain address (the anchor's key).
    pub gateway: Owner,
    /// The anchored epoch.
    pub epoch: u64,
    /// Leaves in tree order (none in an audit-only summary).
    pub leaves: Vec<WorkerLeaf>,
    /// Receipts put up for re-execution: sampled by the anchored root (or, with nothing
    /// anchored, the root of the receipts themselves), which nobody knew while the requests
    /// ran, so a worker cannot tell which of its results will be checked.
    pub audits: Vec<Audit>,
}

impl Wire for EpochSummary {
    const MAX_BYTES: usize = 128 + MAX_EPOCH_LEAVES * 128 + MAX_AUDITS * 320;

    fn validate(&self) -> Result<(), Invalid> {
        if self.leaves.len() > MAX_EPOCH_LEAVES {
            return Err(Invalid::new("leaves", format!("at most {MAX_EPOCH_LEAVES}")));
        }
        if self.leaves.is_empty() && self.audits.is_empty() {
            return Err(Invalid::new("leaves", "a summary anchors leaves or carries audits"));
        }
        if self.audits.len() > MAX_AUDITS {
            return Err(Invalid::new("audits", format!("at most {MAX_AUDITS}")));
        }
        Ok(())
    }
}

/// Most audited receipts in one [`EpochSummary`].
pub const MAX_AUDITS: usize = 256;

/// An accepted receipt a gateway puts up for re-execution, with the worker's chain signature
/// so a validator that gets another result can prove it on-chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Audit {
    /// The receipt as the worker signed it on the mesh.
    pub receipt: Receipt,
    /// The worker's chain address.
    pub worker: Owner,
    /// The worker's EIP-712 signature of the receipt (the coordinator's domain).
    pub chain_signature: EvmSignature,
}
