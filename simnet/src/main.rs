//! `peerhost-simnet run <scenario.toml> [--seed N] [--out DIR]`: runs a scenario, prints its
//! report as JSON and, with `--out`, writes `report.json` and the trace of every call
//! (`calls.csv`) there.

#![allow(clippy::print_stdout)] // prints the report

use std::{
    fs,
    io::BufWriter,
    path::{Path, PathBuf},
};

use anyhow::Context;
use clap::{Parser, Subcommand};
use peerhost_simnet::{Scenario, simulate};

/// Simulates PeerHost's dispatch protocol for many workers.
#[derive(Debug, Parser)]
#[command(name = "peerhost-simnet", version)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs one scenario and prints its report (JSON).
    Run {
        /// Scenario file: TOML (or JSON if it ends in `.json`), the fields of `Scenario`, all
        /// optional; without one, the defaults.
        scenario: Option<PathBuf>,
        /// Override the scenario's seed.
        #[arg(long)]
        seed: Option<u64>,
        /// Also write `report.json` and `calls.csv` (one line per call) into this directory.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

fn main() -> anyhow::Result<()> {
    let Command::Run { scenario, seed, out } = Args::parse().command;
    let mut scenario = match &scenario {
        Some(path) => load(path)?,
        None => Scenario::default(),
    };
    if let Some(seed) = seed {
        scenario.seed = seed;
    }
    let run = simulate(&scenario);
    let report = serde_json::to_string_pretty(
        &serde_json::json!({ "scenario": scenario, "report": run.report }),
    )?;
    if let Some(dir) = out {
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        fs::write(dir.join("report.json"), format!("{report}\n"))?;
        let mut calls = BufWriter::new(fs::File::create(dir.join("calls.csv"))?);
        run.write_calls_csv(&mut calls)?;
    }
    println!("{report}");
    Ok(())
}

fn load(path: &Path) -> anyhow::Result<Scenario> {
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let parsed = if path.extension().is_some_and(|e| e == "json") {
        serde_json::from_str(&text).map_err(anyhow::Error::from)
    } else {
        toml::from_str(&text).map_err(anyhow::Error::from)
    };
    parsed.with_context(|| format!("parsing {}", path.display()))
}
