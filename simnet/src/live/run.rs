//! One live run: check the scenario asks only for what live mode models, start the nodes,
//! wait for the network to form, drive the calls, and turn what happened into a [`Run`].

use std::{sync::Arc, time::Duration};

use tokio::time::Instant;

use super::{Live, LiveStats, calls, network::LiveNet};
use crate::{Report, Run, Scenario, report::percentile_ms};

/// Why a live run could not be done.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LiveError {
    /// The scenario asks for something live mode does not model.
    #[error("live mode does not model {0} (protocol mode does: drop [live])")]
    Unsupported(&'static str),
    /// A node could not start.
    #[error(transparent)]
    Node(#[from] peerhost_node::NodeError),
    /// The network did not come together in time.
    #[error("the live network did not form: {0}")]
    Formation(String),
    /// The nodes' data directories could not be made.
    #[error("data directory: {0}")]
    Io(#[source] std::io::Error),
}

fn check(scenario: &Scenario) -> Result<&Live, LiveError> {
    let live = scenario.live.as_ref().ok_or(LiveError::Unsupported("a scenario without [live]"))?;
    if scenario.economics.is_some() {
        return Err(LiveError::Unsupported("[economics] (no chain runs in live mode)"));
    }
    if scenario.churn.is_some() {
        return Err(LiveError::Unsupported("[churn]"));
    }
    if scenario.crash_rate > 0.0 || scenario.decline_rate > 0.0 {
        return Err(LiveError::Unsupported("crash_rate or decline_rate (use a cheat kind)"));
    }
    if live.gateways == 0 {
        return Err(LiveError::Unsupported("a network without gateways"));
    }
    Ok(live)
}

/// Runs `scenario` on real nodes; `on_end` hears how many calls have ended, `on_phase` what
/// the run is doing.
///
/// # Errors
///
/// See [`LiveError`].
pub fn run_live(
    scenario: &Scenario,
    on_end: impl Fn(usize) + Send + Sync + 'static,
    on_phase: impl Fn(&str),
) -> Result<Run, LiveError> {
    let live = check(scenario)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(LiveError::Io)?;
    let dir = tempfile::tempdir().map_err(LiveError::Io)?;
    runtime.block_on(async {
        let started = Instant::now();
        on_phase(&format!("starting {} nodes", scenario.workers + live.gateways + 1));
        let net = Box::pin(LiveNet::start(scenario, live, dir.path(), &on_phase)).await?;
        let seen = net.form(Duration::from_secs(live.form_timeout_s), &on_phase).await;
        let seen = match seen {
            Ok(seen) => seen,
            Err(e) => {
                net.shutdown().await;
                return Err(e);
            }
        };
        let form_s = started.elapsed().as_secs_f64();
        on_phase("calling");
        let calls_started = Instant::now();
        net.model.start_clock(calls_started.into_std());
        let before = net.model.received();
        let outcome = calls::drive(&net, scenario, live, Arc::new(on_end)).await;
        let secs = calls_started.elapsed().as_secs_f64().max(1e-3);
        let after = net.model.received();
        let rate = |i: usize| (after[i] - before[i]) as f64 / 1e3 / secs;
        let worker_rates: Vec<f64> = (0..scenario.workers).map(rate).collect();
        let loads: Vec<usize> = net.workers.iter().map(|w| w.raced_requests() as usize).collect();
        let redispatched: u64 = net.gateways.iter().map(peerhost_node::Node::redispatches).sum();
        let stats = LiveStats {
            nodes: scenario.workers + live.gateways + 1,
            form_s,
            seen_workers: seen,
            rss_mb: resident_mb(),
            worker_kb_per_s: worker_rates.iter().sum::<f64>() / worker_rates.len().max(1) as f64,
            worker_kb_per_s_max: worker_rates.iter().copied().fold(0.0, f64::max),
            gateway_kb_per_s: rate(scenario.workers),
            held_back: outcome.held_back,
        };
        let cheaters = net.cheaters.clone();
        on_phase("stopping");
        net.shutdown().await;
        Ok(run_of(scenario, outcome.calls, loads, cheaters, redispatched, stats))
    })
}

fn run_of(
    scenario: &Scenario,
    calls: Vec<crate::CallRecord>,
    loads: Vec<usize>,
    cheaters: Vec<bool>,
    redispatched: u64,
    stats: LiveStats,
) -> Run {
    let mut latencies_us: Vec<u64> =
        calls.iter().filter(|c| c.answered).map(|c| c.ended_us - c.arrived_us).collect();
    latencies_us.sort_unstable();
    let report = Report {
        answered: latencies_us.len(),
        timed_out: calls.len() - latencies_us.len(),
        p50_ms: percentile_ms(&latencies_us, 0.50),
        p99_ms: percentile_ms(&latencies_us, 0.99),
        executions_per_call: loads.iter().sum::<usize>() as f64 / scenario.requests.max(1) as f64,
        redispatched: redispatched as usize,
        max_worker_load: loads.iter().copied().max().unwrap_or(0),
        min_worker_load: loads.iter().copied().min().unwrap_or(0),
        lost_messages: 0,
        wrong_accepted: calls.iter().filter(|c| c.wrong).count(),
        no_agreement: 0,
        departures: 0,
        orders_to_departed: 0,
        fetches: 0,
        audited: 0,
        slashed: 0,
        honest_slashed: 0,
        honest_profit: 0.0,
        cheater_profit: 0.0,
        live: Some(stats),
    };
    Run { report, calls, loads, cheaters, epochs: Vec::new() }
}

/// This process's resident memory (MB), from `/proc/self/status`; 0 where there is none.
fn resident_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1e3)
}
