//! One benchmark scenario's result (latency percentiles, throughput, failures by kind), and
//! how the results of a run are printed.

use std::{collections::BTreeMap, time::Duration};

use serde_json::json;

/// Latency percentiles and throughput of one scenario.
#[derive(Debug, Clone)]
pub(super) struct Report {
    pub(super) name: String,
    pub(super) concurrency: usize,
    /// Successful requests.
    pub(super) requests: usize,
    pub(super) p50: Duration,
    pub(super) p90: Duration,
    pub(super) p99: Duration,
    /// Successful requests per second.
    pub(super) rate: f64,
    /// Failed calls by what went wrong (an HTTP status or an error kind).
    pub(super) failures: BTreeMap<String, usize>,
}

impl Report {
    /// From every successful call's latency (sorted here) over `elapsed`.
    pub(super) fn from_latencies(
        name: &str,
        concurrency: usize,
        mut latencies: Vec<Duration>,
        elapsed: Duration,
        failures: BTreeMap<String, usize>,
    ) -> Self {
        latencies.sort_unstable();
        let percentile = |p: f64| {
            if latencies.is_empty() {
                return Duration::ZERO;
            }
            latencies[((latencies.len() as f64 - 1.0) * p).round() as usize]
        };
        Self {
            name: name.to_owned(),
            concurrency,
            requests: latencies.len(),
            p50: percentile(0.50),
            p90: percentile(0.90),
            p99: percentile(0.99),
            rate: latencies.len() as f64 / elapsed.as_secs_f64().max(1e-9),
            failures,
        }
    }

    pub(super) fn failed(&self) -> usize {
        self.failures.values().sum()
    }

    fn json(&self) -> serde_json::Value {
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        json!({
            "scenario": self.name,
            "requests": self.requests,
            "concurrency": self.concurrency,
            "p50_us": us(self.p50),
            "p90_us": us(self.p90),
            "p99_us": us(self.p99),
            "requests_per_s": self.rate,
            "failures": self.failed(),
            "failure_kinds": self.failures,
        })
    }
}

/// End to end against the sandbox alone, in one line: how many times slower a call is at
/// concurrency 1 (p50), and what share of the sandbox's throughput the network keeps.
pub(super) fn ratio_line(baseline: &[Report], end_to_end: &[Report]) -> Option<String> {
    let at = |reports: &[Report], c: usize| reports.iter().find(|r| r.concurrency == c).cloned();
    let (base1, e2e1) = (at(baseline, 1)?, at(end_to_end, 1)?);
    let fastest =
        |reports: &[Report]| reports.iter().max_by(|a, b| a.rate.total_cmp(&b.rate)).cloned();
    let (base_top, e2e_top) = (fastest(baseline)?, fastest(end_to_end)?);
    Some(format!(
        "end to end / sandbox: p50 at c=1 {:.1} × ({:.0} µs vs {:.0} µs); best throughput {:.2} × ({:.0} req/s at c={} vs {:.0} req/s at c={})",
        e2e1.p50.as_secs_f64() / base1.p50.as_secs_f64().max(1e-9),
        e2e1.p50.as_secs_f64() * 1e6,
        base1.p50.as_secs_f64() * 1e6,
        e2e_top.rate / base_top.rate.max(1e-9),
        e2e_top.rate,
        e2e_top.concurrency,
        base_top.rate,
        base_top.concurrency,
    ))
}

/// Prints the reports as a table followed by the `summary` lines, or as JSON (each summary
/// line under its key).
pub(super) fn print(
    reports: &[Report],
    summary: &[(&str, String)],
    json: bool,
) -> anyhow::Result<()> {
    if json {
        let mut out = json!({ "scenarios": reports.iter().map(Report::json).collect::<Vec<_>>() });
        for (key, line) in summary {
            out[*key] = json!(line);
        }
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!(
        "{:<46} {:>5} {:>10} {:>10} {:>10} {:>10} {:>6}",
        "scenario", "conc", "p50 µs", "p90 µs", "p99 µs", "req/s", "fail"
    );
    for r in reports {
        let us = |d: Duration| format!("{:.1}", d.as_secs_f64() * 1e6);
        println!(
            "{:<46} {:>5} {:>10} {:>10} {:>10} {:>10.0} {:>6}",
            r.name,
            r.concurrency,
            us(r.p50),
            us(r.p90),
            us(r.p99),
            r.rate,
            r.failed()
        );
        for (kind, n) in &r.failures {
            println!("{:<46} {n} × {kind}", "  failed:");
        }
    }
    for (_, line) in summary {
        println!("{line}");
    }
    Ok(())
}
