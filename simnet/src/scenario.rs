//! Scenario parameters (a TOML file; every field optional).

use serde::{Deserialize, Serialize};

use crate::{Churn, Economics, Live, Network};

/// What to simulate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Scenario {
    /// RNG seed.
    pub seed: u64,
    /// Number of workers.
    pub workers: usize,
    /// Number of calls.
    pub requests: usize,
    /// New calls per simulated second.
    pub rate_per_s: f64,
    /// Racers per attempt (`k`).
    pub racers: usize,
    /// Matching results needed (`q`; 1 = fast tier).
    pub quorum: usize,
    /// Attempts before giving up.
    pub max_attempts: u8,
    /// Attempt timeout in ms.
    pub attempt_timeout_ms: u64,
    /// The network between the gateway and the workers (node indices: the workers
    /// `0..workers`, then the gateway).
    pub network: Network,
    /// Execution time in ms (mean; exponential).
    pub exec_ms: f64,
    /// Probability that a chosen worker silently never answers (crashed mid-run).
    pub crash_rate: f64,
    /// Probability that a chosen worker declines (overloaded).
    pub decline_rate: f64,
    /// Probability that a crashed worker's disconnect is noticed (speeds up re-dispatch).
    pub disconnect_noticed: f64,
    /// Fraction of workers that return wrong results (exactly that many, rounded, chosen by
    /// the seed).
    pub byzantine: f64,
    /// Whether the cheaters all return the same wrong result (they collude) or each its own.
    pub colluding: bool,
    /// Times a verified call whose racers disagree may bring in more racers.
    pub max_escalations: u8,
    /// Epochs, rewards, audits and slashing (`[economics]`); without it nothing is paid and
    /// no cheater is ever caught.
    pub economics: Option<Economics>,
    /// Workers leaving and joining over the run, and mass failures (`[churn]`); without it
    /// every worker stays up (crashes aside).
    pub churn: Option<Churn>,
    /// Functions called (each call picks one).
    pub functions: usize,
    /// Workers holding each function's bundle at the start (drawn by the seed); 0: every
    /// worker holds every bundle.
    pub holders: usize,
    /// Share of calls that go to function 0 (a hot function); the rest spread evenly over all
    /// functions.
    pub hot_share: f64,
    /// What a racer without the bundle spends fetching it before it executes (ms); it holds
    /// the bundle from then on.
    pub fetch_ms: f64,
    /// Run on real nodes in this process instead of the simulator (`[live]`; the `live`
    /// feature): see [`Live`] for what it builds and which fields it honours.
    pub live: Option<Live>,
}

impl Default for Scenario {
    fn default() -> Self {
        Self {
            seed: 1,
            workers: 50,
            requests: 10_000,
            rate_per_s: 1_000.0,
            racers: 2,
            quorum: 1,
            max_attempts: 2,
            attempt_timeout_ms: 2_000,
            network: Network::default(),
            exec_ms: 2.0,
            crash_rate: 0.0,
            decline_rate: 0.0,
            disconnect_noticed: 0.5,
            byzantine: 0.0,
            colluding: false,
            max_escalations: 0,
            economics: None,
            churn: None,
            functions: 1,
            holders: 0,
            hot_share: 0.0,
            fetch_ms: 20.0,
            live: None,
        }
    }
}
