//! `peerhost-simnet`: run a scenario, print a JSON report.

#![allow(clippy::print_stdout)] // prints the report

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use peerhost_simnet::{Scenario, run};

/// Simulates PeerHost's dispatch protocol for many workers and prints a JSON report.
#[derive(Debug, Parser)]
#[command(name = "peerhost-simnet", version)]
struct Args {
    /// Scenario file: TOML (or JSON if it ends in `.json`), the fields of `Scenario`, all
    /// optional.
    scenario: Option<PathBuf>,
    /// Override the seed.
    #[arg(long)]
    seed: Option<u64>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut scenario = match &args.scenario {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let parsed = if path.extension().is_some_and(|e| e == "json") {
                serde_json::from_str(&text).map_err(anyhow::Error::from)
            } else {
                toml::from_str(&text).map_err(anyhow::Error::from)
            };
            parsed.with_context(|| format!("parsing {}", path.display()))?
        }
        None => Scenario::default(),
    };
    if let Some(seed) = args.seed {
        scenario.seed = seed;
    }
    let report = run(&scenario);
    println!(
        "{}",
        serde_json::to_string_pretty(
            &serde_json::json!({ "scenario": scenario, "report": report })
        )?
    );
    Ok(())
}
