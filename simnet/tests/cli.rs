//! `peerhost-simnet` as a researcher calls it: a ready scenario written to a directory (report,
//! trace, charts, page), a sweep (and a live one), and a scenario with a mistake refused with the
//! mistake named.

#![allow(missing_docs, clippy::unwrap_used)]

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_peerhost-simnet");

#[test]
fn run_writes_the_report_the_trace_the_charts_and_the_page() {
    let out = tempfile::tempdir().unwrap();
    let scenario = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/lossy-partitioned.toml");
    let status = Command::new(BIN)
        .args(["run", scenario, "--seed", "3", "--out"])
        .arg(out.path())
        .output()
        .unwrap();
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.path().join("report.json")).unwrap()).unwrap();
    assert_eq!(report["scenario"]["seed"], 3);
    let answered = report["report"]["answered"].as_u64().unwrap();
    let timed_out = report["report"]["timed_out"].as_u64().unwrap();
    assert_eq!(answered + timed_out, 10_000);
    let calls = std::fs::read_to_string(out.path().join("calls.csv")).unwrap();
    assert_eq!(calls.lines().count(), 10_001, "a header and every call");
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&status.stdout).unwrap(), report);
    let html = std::fs::read_to_string(out.path().join("index.html")).unwrap();
    for chart in ["latency", "latency-cdf", "delivery", "load"] {
        assert!(html.contains(&format!("{chart}.svg")), "{html}");
        for ext in ["svg", "png"] {
            let size = std::fs::metadata(out.path().join(format!("{chart}.{ext}"))).unwrap().len();
            assert!(size > 1_000, "{chart}.{ext} is {size} bytes");
        }
    }
    let summary = String::from_utf8_lossy(&status.stderr);
    assert!(summary.contains("answered") && summary.contains("index.html"), "{summary}");
}

#[test]
fn a_misspelt_field_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("typo.toml");
    std::fs::write(&path, "workers = 10\nracer = 2\n").unwrap();
    let output =
        Command::new(BIN).arg("run").arg(&path).env("RUST_BACKTRACE", "0").output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("typo.toml") && stderr.contains("racer"), "{stderr}");
}

#[test]
fn sweep_prints_one_row_per_value() {
    let output = Command::new(BIN)
        .args(["sweep", "--param", "network.loss", "--values", "0,0.1,0.3"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let csv = String::from_utf8(output.stdout).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows.len(), 4, "{csv}");
    assert!(rows[0].starts_with("network.loss,answered,"), "{csv}");
    let column = rows[0].split(',').position(|name| name == "lost_messages").unwrap();
    let lost = |row: &str| -> u64 { row.split(',').nth(column).unwrap().parse().unwrap() };
    assert!(lost(rows[1]) == 0 && lost(rows[1]) < lost(rows[2]) && lost(rows[2]) < lost(rows[3]));
}

#[test]
fn a_live_sweep_over_the_network_size_charts_each_nodes_traffic() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("grow.toml");
    let text = "workers = 4\nrequests = 10\nrate_per_s = 20\n[network]\n\
                latency = { kind = \"fixed\", ms = 1 }\n[live]\nheartbeat_ms = 1000\n";
    std::fs::write(&scenario, text).unwrap();
    let out = dir.path().join("out");
    let output = Command::new(BIN)
        .arg("sweep")
        .arg(&scenario)
        .args(["--param", "workers", "--values", "4,8", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let csv = String::from_utf8(output.stdout).unwrap();
    let rows: Vec<Vec<&str>> = csv.lines().map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 3, "{csv}");
    let column = |name: &str| rows[0].iter().position(|n| *n == name).expect(name);
    let (nodes, answered) = (column("live.nodes"), column("answered"));
    assert_eq!([rows[1][nodes], rows[2][nodes]], ["6", "10"], "{csv}");
    assert_eq!([rows[1][answered], rows[2][answered]], ["10", "10"], "{csv}");
    let traffic = column("live.worker_kb_per_s");
    assert!(rows[1][traffic].parse::<f64>().unwrap() > 0.0, "{csv}");
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(html.contains("sweep-traffic.svg"), "{html}");
}
