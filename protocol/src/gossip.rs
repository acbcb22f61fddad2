//! Gossiped announcements: deployments and worker heartbeats. Their sender is the gossipsub
//! message source, whose signature libp2p checks (strict validation), so these carry no
//! signature of their own.

use serde::{Deserialize, Serialize};

use crate::{
    codec::{Invalid, Wire},
    deployment::SignedDeployment,
    hash::BlobHash,
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
}

impl Wire for Heartbeat {
    const MAX_BYTES: usize = 4096;

    fn validate(&self) -> Result<(), Invalid> {
        check_addrs(&self.blob_addrs)?;
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
