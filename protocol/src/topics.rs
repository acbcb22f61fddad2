//! Gossipsub topics and direct stream protocol names, all versioned.
//!
//! Execution requests are sharded: a project's requests go to one of [`EXEC_SHARDS`] topics,
//! so a worker hears only the shards of the projects it serves instead of every request in
//! the network.

use crate::{hash::keccak256_parts, wallet::Owner};

/// Deployment announcements.
pub const DEPLOYMENTS: &str = "/peerhost/1/deployments";
/// Worker heartbeats.
pub const WORKERS: &str = "/peerhost/1/workers";
/// Anchored epochs' summaries (gateways → workers).
pub const EPOCHS: &str = "/peerhost/1/epochs";
/// Number of execution-request shards.
pub const EXEC_SHARDS: u8 = 16;

/// Direct result delivery (worker → gateway).
pub const DELIVER_PROTOCOL: &str = "/peerhost/1/deliver";
/// Request body fetch (worker → gateway).
pub const BODY_PROTOCOL: &str = "/peerhost/1/body";
/// Deployment catalog sync (any → any).
pub const CATALOG_PROTOCOL: &str = "/peerhost/1/catalog";
/// The long-lived dispatch stream of a gateway–worker pair: execution requests one way,
/// deliveries the other, many in flight (opened by the gateway).
pub const DISPATCH_PROTOCOL: &str = "/peerhost/1/dispatch";
/// An audited request's order, fetched by a validator from the gateway that dispatched it.
pub const ORDER_PROTOCOL: &str = "/peerhost/1/order";

/// The shard of a project's execution requests.
pub fn exec_shard(owner: &Owner, project: &str) -> u8 {
    keccak256_parts(&[owner.as_bytes(), project.as_bytes()]).0[0] % EXEC_SHARDS
}

/// What every execution shard's topic starts with. Version 2: requests on it are bare
/// [`ExecutionRequest`](crate::ExecutionRequest)s, authenticated by gossipsub's signature
/// alone (version 1 carried a second, envelope signature).
pub const EXEC_PREFIX: &str = "/peerhost/2/exec/";

/// The topic of an execution shard.
pub fn exec_topic(shard: u8) -> String {
    format!("{EXEC_PREFIX}{shard:02x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_in_range_and_spread() {
        let owner: Owner = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266".parse().unwrap();
        let mut seen = std::collections::BTreeSet::new();
        for i in 0..200 {
            let s = exec_shard(&owner, &format!("p{i}"));
            assert!(s < EXEC_SHARDS);
            seen.insert(s);
        }
        assert_eq!(seen.len(), EXEC_SHARDS as usize);
        assert_eq!(exec_topic(10), "/peerhost/2/exec/0a");
    }
}
