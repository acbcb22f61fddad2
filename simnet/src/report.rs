//! What a run measured.

use serde::{Deserialize, Serialize};

/// Outcome of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Calls answered with a result.
    pub answered: usize,
    /// Calls that exhausted their attempts.
    pub timed_out: usize,
    /// Median latency of answered calls (ms).
    pub p50_ms: f64,
    /// 99th percentile latency of answered calls (ms).
    pub p99_ms: f64,
    /// Executions per call (work amplification of racing).
    pub executions_per_call: f64,
    /// Calls that needed a re-dispatch.
    pub redispatched: usize,
    /// Most executions any single worker did.
    pub max_worker_load: usize,
    /// Fewest executions any single worker did.
    pub min_worker_load: usize,
    /// Orders and answers the network lost (loss or a partition).
    pub lost_messages: usize,
}
