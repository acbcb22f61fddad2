//! Load from `wrk` (a load generator nobody here wrote; `scripts/setup` installs it): runs it
//! against a URL and reads its latency distribution and throughput into a [`Report`].

use std::{collections::BTreeMap, time::Duration};

use anyhow::Context;

use super::report::Report;

/// Runs `wrk` for `seconds` with `connections` open (on at most two threads) against `url`,
/// sending `headers`.
pub(super) async fn run(
    name: &str,
    url: &str,
    connections: usize,
    seconds: u64,
    headers: &[(&str, &str)],
) -> anyhow::Result<Report> {
    let threads = connections.clamp(1, 2);
    let mut command = tokio::process::Command::new("wrk");
    command
        .arg(format!("-t{threads}"))
        .arg(format!("-c{connections}"))
        .arg(format!("-d{seconds}s"))
        .arg("--latency")
        .arg("--timeout")
        .arg("10s");
    for (name, value) in headers {
        command.arg("-H").arg(format!("{name}: {value}"));
    }
    let output = command
        .arg(url)
        .output()
        .await
        .context("running wrk (install it with scripts/setup, or apt-get install wrk)")?;
    let text = String::from_utf8_lossy(&output.stdout);
    anyhow::ensure!(
        output.status.success(),
        "wrk failed: {}{}",
        text,
        String::from_utf8_lossy(&output.stderr)
    );
    parse(name, connections, &text).with_context(|| format!("reading wrk's output:\n{text}"))
}

/// Reads wrk's `--latency` report.
fn parse(name: &str, connections: usize, text: &str) -> anyhow::Result<Report> {
    let mut percentiles = BTreeMap::new();
    let (mut requests, mut rate) = (None, None);
    let mut failures = BTreeMap::new();
    for line in text.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [p, value] if p.ends_with('%') => {
                percentiles.insert((*p).to_owned(), duration(value)?);
            }
            ["Requests/sec:", value] => rate = Some(value.parse::<f64>()?),
            [n, "requests", "in", ..] => requests = Some(n.parse::<usize>()?),
            ["Non-2xx", "or", "3xx", "responses:", n] => {
                failures.insert("non-2xx".to_owned(), n.parse()?);
            }
            ["Socket", "errors:", rest @ ..] => {
                let errors: usize =
                    rest.iter().filter_map(|w| w.trim_end_matches(',').parse::<usize>().ok()).sum();
                failures.insert("socket".to_owned(), errors);
            }
            _ => {}
        }
    }
    let p = |key: &str| percentiles.get(key).copied().with_context(|| format!("no {key} line"));
    let failed: usize = failures.values().sum();
    Ok(Report {
        name: name.to_owned(),
        concurrency: connections,
        requests: requests.context("no request count")?.saturating_sub(failed),
        p50: p("50%")?,
        p90: p("90%")?,
        p99: p("99%")?,
        rate: rate.context("no Requests/sec line")?,
        failures,
    })
}

/// `812.00us`, `1.25ms`, `2.00s`.
fn duration(text: &str) -> anyhow::Result<Duration> {
    let split = text.find(|c: char| c.is_ascii_alphabetic()).context("no unit")?;
    let (value, unit) = text.split_at(split);
    let value: f64 = value.parse()?;
    let seconds = match unit {
        "us" => value / 1e6,
        "ms" => value / 1e3,
        "s" => value,
        "m" => value * 60.0,
        other => anyhow::bail!("unknown unit {other}"),
    };
    Ok(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_latency_report() {
        let text = "Running 5s test @ http://127.0.0.1:8787/x\n  1 threads and 1 connections\n  Latency Distribution\n     50%  412.00us\n     75%  500.00us\n     90%    1.25ms\n     99%    2.00s\n  12000 requests in 5.00s, 1.20MB read\n  Socket errors: connect 0, read 2, write 0, timeout 1\n  Non-2xx or 3xx responses: 4\nRequests/sec:   2400.50\nTransfer/sec:    245.00KB\n";
        let report = parse("wrk", 1, text).unwrap();
        assert_eq!(report.p50, Duration::from_micros(412));
        assert_eq!(report.p90, Duration::from_micros(1250));
        assert_eq!(report.p99, Duration::from_secs(2));
        assert_eq!(report.requests, 12000 - 7);
        assert_eq!(report.failed(), 7);
        assert!((report.rate - 2400.5).abs() < 1e-9);
        assert!(parse("wrk", 1, "garbage").is_err());
    }
}
