//! Live mode (`[live]` in a scenario): the scenario runs on real PeerHost nodes — real libp2p
//! swarms over in-process memory links under a fault model, real gossipsub, dispatch links,
//! admission, racing and signed receipts, a real HTTP gateway — in this process, with
//! stand-in workers whose calls take `exec_ms` instead of running a sandbox (see
//! `peerhost_node::worker::StandIn`). It needs the `live` feature (on by default); without it
//! protocol mode builds free of libp2p, tokio and wasmtime.

#[cfg(feature = "live")]
mod calls;
#[cfg(feature = "live")]
mod model;
#[cfg(feature = "live")]
mod network;
#[cfg(feature = "live")]
mod run;

use serde::{Deserialize, Serialize};

#[cfg(feature = "live")]
pub use run::{LiveError, run_live};

/// How live mode builds its network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Live {
    /// Gateways; calls go to them in turn.
    pub gateways: usize,
    /// Peers each node keeps connected (it dials peers Kademlia finds until it has them).
    pub peers: usize,
    /// Gossipsub's mesh degree D (the node's `MeshConfig::mesh_degree`): fewer copies of every
    /// gossiped message at lower degrees.
    pub mesh_degree: usize,
    /// How often each worker announces itself on the workers' topic (ms).
    pub heartbeat_ms: u64,
    /// How long a gateway's directory keeps a worker it stopped hearing from (ms).
    pub worker_ttl_ms: u64,
    /// How often a node that has its `peers` refreshes its Kademlia routing table (s; the
    /// node's `MeshConfig::kad_refresh`). Each refresh is a few lookups that dial peers.
    pub kad_refresh_s: u64,
    /// How the `byzantine` share of workers misbehaves (wrong-result cheaters all return the
    /// same wrong result: they collude).
    pub cheat: Cheat,
    /// Nodes started at once; the next batch starts when these have joined (a thousand noise
    /// handshakes at once would stall the process).
    pub start_batch: usize,
    /// Longest wait for every gateway to see every worker and the deployment (s).
    pub form_timeout_s: u64,
    /// Calls in flight at most: arrivals beyond it wait (the harness, not the network, would
    /// then be the limit, and the summary says so).
    pub max_in_flight: usize,
}

impl Default for Live {
    fn default() -> Self {
        Self {
            gateways: 1,
            peers: 8,
            mesh_degree: 6,
            heartbeat_ms: 10_000,
            worker_ttl_ms: 30_000,
            kad_refresh_s: 300,
            cheat: Cheat::WrongResult,
            start_batch: 50,
            form_timeout_s: 300,
            max_in_flight: 256,
        }
    }
}

/// A byzantine worker's behaviour (the node's `test-utils` switches).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cheat {
    /// Signs a wrong result.
    WrongResult,
    /// Accepts, runs and never delivers.
    Withhold,
    /// Delivers correct results late.
    Slow,
    /// Delivers a colluder's wrong result as its own.
    Copy,
    /// Claims to hold every bundle and declines every call.
    ClaimBundles,
    /// Serves honestly and floods the gossip topics with junk.
    Flood,
}

/// What live mode measured beyond the report every run has.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveStats {
    /// Real nodes in the process: workers, gateways and the bootstrap.
    pub nodes: usize,
    /// From the first node's start until every gateway saw every worker and the deployment (s).
    pub form_s: f64,
    /// Workers in the first gateway's directory when the calls began.
    pub seen_workers: usize,
    /// Resident memory of the process after the calls (MB).
    pub rss_mb: f64,
    /// Mean bytes a worker received per second while the calls ran (KB/s).
    pub worker_kb_per_s: f64,
    /// Most bytes any worker received per second then (KB/s).
    pub worker_kb_per_s_max: f64,
    /// Bytes the first gateway received per second then (KB/s).
    pub gateway_kb_per_s: f64,
    /// Calls that waited for a free place in flight ([`Live::max_in_flight`]).
    pub held_back: usize,
}
