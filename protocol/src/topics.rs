//! Gossipsub topics and direct stream protocol names, all versioned.
//!
//! Execution requests are sharded: a project's requests go to one of [`EXEC_SHARDS`] topics,
//! so a worker hears only the shards of the projects it serves instead of every request in
//! the network.
//!
//! Every gossip topic carries [`Published`](crate::Published) messages (version 2 of the
//! deployment, worker and epoch topics, 3 of the execution shards; earlier versions relied on
//! gossipsub's own signatures and do not interoperate).

use crate::{hash::keccak256_parts, wallet::Owner};

/// Deployment announcements.
pub const DEPLOYMENTS: &str = "/peerhost/2/deployments";
/// Worker heartbeats.
pub const WORKERS: &str = "/peerhost/2/workers";
/// Anchored epochs' summaries (gateways → workers).
pub const EPOCHS: &str = "/peerhost/2/epochs";
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

/// What every execution shard's topic starts with. Requests on it are
/// [`ExecutionRequest`](crate::ExecutionRequest)s published by their gateway, authenticated by
/// the [`Published`](crate::Published) signature alone.
pub const EXEC_PREFIX: &str = "/peerhost/3/exec/";

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
        assert_eq!(exec_topic(10), "/peerhost/3/exec/0a");
    }
}
