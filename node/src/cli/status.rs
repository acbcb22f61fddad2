//! `peerhost-node status`: what the worker using this data dir reported last.

use std::path::Path;

use anyhow::Context;

use crate::worker::{WorkerStatus, read_status};

/// A status older than this many report intervals means the worker is not running.
const STALE_INTERVALS: u64 = 5;

pub(super) fn print(data_dir: &Path, json: bool) -> anyhow::Result<()> {
    let status = read_status(data_dir).with_context(|| {
        format!(
            "no worker status in {} (has a worker run with this --data-dir?)",
            data_dir.display()
        )
    })?;
    if json {
        println!("{}", serde_json::to_string_pretty(&status)?);
        return Ok(());
    }
    print!("{}", render(&status, crate::clock::unix_ms()));
    Ok(())
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20))
}

/// The human form of a status, as of `now_ms`.
fn render(status: &WorkerStatus, now_ms: u64) -> String {
    let age = now_ms.saturating_sub(status.updated_ms);
    let running = age <= status.interval_ms.max(1000) * STALE_INTERVALS;
    let mut out = format!(
        "worker {} ({}, updated {} s ago)\n",
        status.peer_id,
        if running { "running" } else { "not running" },
        age / 1000
    );
    out += &format!("peers {}\n", status.peers);
    out += &format!(
        "bonded {}\n",
        match status.bonded {
            Some(true) => "yes",
            Some(false) => "no (it is not raced until its bond meets the minimum)",
            None => "no chain (open network)",
        }
    );
    if let Some(executors) = &status.executors {
        let confinement = if executors.missing.is_empty() {
            "fully confined".to_owned()
        } else {
            format!("missing: {}", executors.missing.join(", "))
        };
        out += &format!(
            "executors {} ({confinement}), {} replaced\n",
            executors.processes, executors.replaced
        );
    }
    let quota = status
        .disk_quota_bytes
        .map_or_else(|| "no quota".to_owned(), |q| format!("quota {}", mib(q)));
    out += &format!("bundles {} ({}, {quota})\n", status.bundles.len(), mib(status.disk_bytes));
    for bundle in &status.bundles {
        let project = bundle.project.as_deref().unwrap_or("(older version)");
        out += &format!("  {} {project} {}\n", bundle.bundle, mib(bundle.bytes));
    }
    out += &format!("calls raced {}, served {}\n", status.calls_raced, status.calls_served);
    if let Some(claimed) = status.rewards_claimed {
        out += &format!("rewards claimed {claimed}\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::worker::{ExecutorsStatus, HeldBundle};

    #[test]
    fn a_status_reads_like_a_report_and_ages() {
        let status = WorkerStatus {
            peer_id: "12D3KooWtest".into(),
            updated_ms: 10_000,
            interval_ms: 2_000,
            peers: 3,
            bonded: Some(true),
            bundles: vec![HeldBundle {
                bundle: "ab".into(),
                project: Some("0xA/shop".into()),
                bytes: 3 << 20,
            }],
            disk_bytes: 3 << 20,
            disk_quota_bytes: Some(1 << 30),
            calls_raced: 9,
            calls_served: 8,
            executors: Some(ExecutorsStatus { processes: 2, replaced: 1, missing: vec![] }),
            rewards_claimed: Some(4),
        };
        let text = render(&status, 12_000);
        for line in [
            "worker 12D3KooWtest (running, updated 2 s ago)",
            "peers 3",
            "bonded yes",
            "executors 2 (fully confined), 1 replaced",
            "bundles 1 (3.0 MiB, quota 1024.0 MiB)",
            "  ab 0xA/shop 3.0 MiB",
            "calls raced 9, served 8",
            "rewards claimed 4",
        ] {
            assert!(text.lines().any(|l| l == line), "{line:?} not in\n{text}");
        }
        assert!(render(&status, 60_000).starts_with("worker 12D3KooWtest (not running"));
    }
}
