//! Churn: workers leave and come back over the run (sessions of exponential length) and mass
//! failures take a share of them down at once. A worker that leaves does so silently, as a
//! crashed or unplugged machine does: it drops the work it holds, and the gateway keeps
//! choosing it until its directory entry times out (`noticed_ms`, the heartbeat TTL). A worker
//! that joins is chosen once its first heartbeat reaches the gateway.

use serde::{Deserialize, Serialize};

/// Joins, departures and outages (the `[churn]` table).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Churn {
    /// Mean time a worker stays up before it leaves (exponential, ms); 0: only outages take
    /// workers down.
    pub uptime_ms: f64,
    /// Mean time a departed worker stays away before it joins again (exponential, ms); 0: it
    /// never comes back. In the long run `downtime / (uptime + downtime)` of the workers are
    /// away.
    pub downtime_ms: f64,
    /// How long the gateway keeps choosing a worker that left (its directory's TTL), ms.
    pub noticed_ms: u64,
    /// A joining worker's first heartbeat reaches the gateway after a uniform delay below
    /// this, ms.
    pub heartbeat_ms: u64,
    /// Mass failures.
    pub outages: Vec<Outage>,
}

impl Default for Churn {
    fn default() -> Self {
        Self {
            uptime_ms: 0.0,
            downtime_ms: 0.0,
            noticed_ms: 3_000,
            heartbeat_ms: 1_000,
            outages: Vec::new(),
        }
    }
}

/// At `at_ms`, `fraction` of the workers that are up leave at once; they come back
/// `back_after_ms` later (never, without it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outage {
    /// When (simulated ms).
    pub at_ms: u64,
    /// Share of the workers up at that moment that fail.
    pub fraction: f64,
    /// When they come back, after the outage (ms).
    #[serde(default)]
    pub back_after_ms: Option<u64>,
}

/// Each worker's presence.
pub(crate) struct Presence {
    /// Up now.
    pub(crate) up: Vec<bool>,
    /// Bumped at every join and departure: work and notices of an earlier session are void.
    pub(crate) session: Vec<u32>,
    /// Departures so far.
    pub(crate) departures: usize,
}

impl Presence {
    pub(crate) fn new(workers: usize) -> Self {
        Self { up: vec![true; workers], session: vec![0; workers], departures: 0 }
    }

    /// `worker` leaves; false if it was already away.
    pub(crate) fn leave(&mut self, worker: usize) -> bool {
        if !self.up[worker] {
            return false;
        }
        self.up[worker] = false;
        self.session[worker] += 1;
        self.departures += 1;
        true
    }

    /// `worker` joins; false if it was already up.
    pub(crate) fn join(&mut self, worker: usize) -> bool {
        if self.up[worker] {
            return false;
        }
        self.up[worker] = true;
        self.session[worker] += 1;
        true
    }

    /// Whether `worker` is still in session `session`.
    pub(crate) fn current(&self, worker: usize, session: u32) -> bool {
        self.session[worker] == session
    }

    /// Workers up now, by index.
    pub(crate) fn up_workers(&self) -> Vec<usize> {
        (0..self.up.len()).filter(|w| self.up[*w]).collect()
    }
}
