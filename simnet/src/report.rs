//! What a run measured: the summary and the trace of every call.

use std::io::{self, Write};

use serde::{Deserialize, Serialize};

/// One call's fate, a line of the trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallRecord {
    /// The call's index (in order of arrival).
    pub call: usize,
    /// When it arrived (simulated µs).
    pub arrived_us: u64,
    /// When it was answered or given up.
    pub ended_us: u64,
    /// Attempts made.
    pub attempts: u8,
    /// Whether it was answered.
    pub answered: bool,
    /// Whether the answer was a cheater's (wrong).
    pub wrong: bool,
}

/// A finished run.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    /// The summary.
    pub report: Report,
    /// Every call, in the order they ended.
    pub calls: Vec<CallRecord>,
    /// Executions each worker did, by worker index.
    pub loads: Vec<usize>,
    /// Which workers cheated, by worker index.
    pub cheaters: Vec<bool>,
    /// The money at each epoch's end (empty without `[economics]`).
    pub epochs: Vec<crate::EpochRecord>,
}

impl Run {
    /// Writes the trace as CSV (`call,arrived_us,ended_us,attempts,answered,wrong`).
    ///
    /// # Errors
    ///
    /// Writing failed.
    pub fn write_calls_csv(&self, out: &mut impl Write) -> io::Result<()> {
        writeln!(out, "call,arrived_us,ended_us,attempts,answered,wrong")?;
        for c in &self.calls {
            writeln!(
                out,
                "{},{},{},{},{},{}",
                c.call, c.arrived_us, c.ended_us, c.attempts, c.answered, c.wrong
            )?;
        }
        Ok(())
    }
}

/// Outcome of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Calls answered with a result.
    pub answered: usize,
    /// Calls that exhausted their attempts without a result.
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
    /// Answered calls whose accepted result was a cheater's.
    pub wrong_accepted: usize,
    /// Calls given up because their racers never agreed (verified tier).
    pub no_agreement: usize,
    /// Workers that left during the run (with `[churn]`; one that comes back may leave again).
    pub departures: usize,
    /// Orders sent to workers that had left but were still in the gateway's directory.
    pub orders_to_departed: usize,
    /// Executions by a racer that first had to fetch the bundle.
    pub fetches: usize,
    /// Receipts audited (with `[economics]`; else 0, as are the fields below).
    pub audited: usize,
    /// Slashes of cheaters (one that bonds again can be slashed again).
    pub slashed: usize,
    /// Slashes of honest workers (an audit of an honest result: must stay 0).
    pub honest_slashed: usize,
    /// Mean profit of an honest worker at the end: rewards minus execution costs.
    pub honest_profit: f64,
    /// Mean profit of a cheater at the end: rewards and gains minus lost bonds.
    pub cheater_profit: f64,
    /// What live mode measured of its real nodes (absent in protocol mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live: Option<crate::LiveStats>,
}

/// The `p` quantile (nearest rank below) of sorted latencies in µs, in ms; 0 when empty.
pub(crate) fn percentile_ms(sorted_us: &[u64], p: f64) -> f64 {
    sorted_us
        .get(((sorted_us.len().max(1) - 1) as f64 * p) as usize)
        .map_or(0.0, |us| *us as f64 / 1e3)
}
