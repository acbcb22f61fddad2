//! `peerhost-simnet run <scenario.toml> [--seed N] [--out DIR]`: runs a scenario, prints its
//! report as JSON and, with `--out`, writes `report.json` and the trace of every call
//! (`calls.csv`) there. `peerhost-simnet sweep <scenario.toml> --param P --values a,b,c`
//! runs it once per value of one parameter and prints the reports as CSV.

#![allow(clippy::print_stdout)] // prints the report

use std::{
    fs,
    io::BufWriter,
    path::{Path, PathBuf},
};

use anyhow::Context;
use clap::{Parser, Subcommand};
use peerhost_simnet::{Scenario, simulate, sweep, write_sweep_csv};

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
    /// Runs one scenario once per value of one parameter; prints the reports as CSV.
    Sweep {
        /// Scenario file, as for `run`.
        scenario: Option<PathBuf>,
        /// The parameter, a dotted path into the scenario (`crash_rate`, `network.loss`).
        #[arg(long)]
        param: String,
        /// Its values, comma-separated TOML literals.
        #[arg(long, value_delimiter = ',', required = true)]
        values: Vec<String>,
        /// Also write `sweep.csv` and `sweep.json` into this directory.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

fn main() -> anyhow::Result<()> {
    match Args::parse().command {
        Command::Run { scenario, seed, out } => run(scenario.as_deref(), seed, out.as_deref()),
        Command::Sweep { scenario, param, values, out } => {
            let base = scenario.as_deref().map_or_else(|| Ok(Scenario::default()), load)?;
            let points = sweep(&base, &param, &values)?;
            let mut csv = Vec::new();
            write_sweep_csv(&param, &points, &mut csv)?;
            if let Some(dir) = out {
                fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
                fs::write(dir.join("sweep.csv"), &csv)?;
                let json =
                    serde_json::json!({ "scenario": base, "parameter": param, "points": points });
                fs::write(dir.join("sweep.json"), serde_json::to_string_pretty(&json)?)?;
            }
            print!("{}", String::from_utf8_lossy(&csv));
            Ok(())
        }
    }
}

fn run(scenario: Option<&Path>, seed: Option<u64>, out: Option<&Path>) -> anyhow::Result<()> {
    let mut scenario = scenario.map_or_else(|| Ok(Scenario::default()), load)?;
    if let Some(seed) = seed {
        scenario.seed = seed;
    }
    let run = simulate(&scenario);
    let report = serde_json::to_string_pretty(
        &serde_json::json!({ "scenario": scenario, "report": run.report }),
    )?;
    if let Some(dir) = out {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
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
