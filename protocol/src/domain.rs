//! Signature domains: every signature in PeerHost is over `DOMAIN ‖ canonical bytes`.
//!
//! A domain names the protocol version and what is signed, so a signature made for one
//! purpose can never be replayed as another. This module is the only place domains are
//! defined; changing one is a protocol version bump.

/// Protocol version carried in topics, protocol names and domains.
pub const PROTOCOL_VERSION: u32 = 1;

/// The sandbox engine and its configuration. Fuel accounting and code generation differ
/// between wasmtime releases and settings, so workers only race and vote with workers of the
/// same engine; a worker with another engine id is never chosen. Changing the wasmtime
/// version or the engine configuration (`node/src/sandbox/engine.rs`) changes this.
pub const ENGINE_ID: &str = "wasmtime-48.0.8/peerhost-1";

/// A worker's signature over a [`Receipt`](crate::Receipt).
pub const RECEIPT: &[u8] = b"peerhost/1/receipt\0";

/// An owner wallet's signature over a [`DeploymentRecord`](crate::DeploymentRecord). Hashed
/// with keccak256 and then signed as an EIP-191 personal message, so ordinary Ethereum wallets
/// can produce it.
pub const DEPLOYMENT: &[u8] = b"peerhost/1/deployment\0";

/// A node's signature over a gossip message it publishes
/// ([`Published`](crate::Published)): heartbeats, announcements, epoch summaries and gossiped
/// orders.
pub const GOSSIP: &[u8] = b"peerhost/1/gossip\0";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_are_distinct_and_none_is_a_prefix_of_another() {
        let all = [RECEIPT, DEPLOYMENT, GOSSIP];
        for (i, a) in all.iter().enumerate() {
            for (j, b) in all.iter().enumerate() {
                if i != j {
                    assert!(!b.starts_with(a), "{:?} prefixes {:?}", a, b);
                }
            }
        }
    }
}
