//! `peerhost-simnet run <scenario.toml> [--seed N] [--out DIR]`: runs a scenario with a
//! progress bar, prints a one-screen summary (stderr) and the report as JSON (stdout) and, with
//! `--out`, writes `report.json`, the trace of every call (`calls.csv`), the charts (SVG and
//! PNG) and `index.html` there. `peerhost-simnet sweep <scenario.toml> --param P --values
//! a,b,c` runs it once per value of one parameter and prints the reports as CSV (with `--out`:
//! the CSV, JSON, charts against the parameter and a page); a `[live]` scenario's points each
//! run on a fresh live network.

#![allow(clippy::print_stdout)] // prints the report

use std::{
    fs,
    path::{Path, PathBuf},
};

use anyhow::Context;
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use peerhost_simnet::{
    Point, Scenario, scenario_at, simulate_with_progress, summary, sweep, write_run, write_sweep,
    write_sweep_csv,
};

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
        /// Also write `report.json`, `calls.csv` (one line per call), the charts (SVG and PNG)
        /// and `index.html` into this directory.
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
        /// Also write `sweep.csv`, `sweep.json`, the charts and `index.html` into this
        /// directory.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    logs();
    match args.command {
        Command::Run { scenario, seed, out } => run(scenario.as_deref(), seed, out.as_deref()),
        Command::Sweep { scenario, param, values, out } => {
            sweep_command(scenario.as_deref(), &param, &values, out.as_deref())
        }
    }
}

fn run(scenario: Option<&Path>, seed: Option<u64>, out: Option<&Path>) -> anyhow::Result<()> {
    let (name, mut scenario) = scenario_of(scenario)?;
    if let Some(seed) = seed {
        scenario.seed = seed;
    }
    let bar = progress(scenario.requests as u64, "calls");
    #[allow(clippy::disallowed_methods)] // wall time of the run, for the summary only
    let started = std::time::Instant::now();
    let run = if scenario.live.is_some() {
        live(&scenario, &bar)?
    } else {
        simulate_with_progress(&scenario, |ended| bar.set_position(ended as u64))
    };
    bar.finish_and_clear();
    let wall_s = started.elapsed().as_secs_f64();
    let report = serde_json::to_string_pretty(
        &serde_json::json!({ "scenario": scenario, "report": run.report }),
    )?;
    let mut screen = summary(&name, &scenario, &run, wall_s);
    if let Some(dir) = out {
        let index = write_run(dir, &name, &scenario, &run, &report)?;
        screen.push_str(&format!("  {:<12} {}\n", "wrote", index.display()));
    }
    eprint!("{screen}");
    println!("{report}");
    Ok(())
}

/// The live nodes' logs on stderr, as `RUST_LOG` selects (`RUST_LOG=peerhost::gateway=trace`);
/// none without it.
#[cfg(feature = "live")]
fn logs() {
    use std::io::IsTerminal as _;
    let Ok(filter) = tracing_subscriber::EnvFilter::try_from_default_env() else { return };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

#[cfg(not(feature = "live"))]
fn logs() {}

/// Runs a `[live]` scenario on real nodes, the bar showing the phase and then the calls (on a
/// stderr that is no terminal, each phase is a line with the seconds since the start).
#[cfg(feature = "live")]
fn live(scenario: &Scenario, bar: &ProgressBar) -> anyhow::Result<peerhost_simnet::Run> {
    use std::io::IsTerminal as _;
    let calls = bar.clone();
    let terminal = std::io::stderr().is_terminal();
    #[allow(clippy::disallowed_methods, reason = "wall-clock progress lines for a person")]
    let started = std::time::Instant::now();
    let run = peerhost_simnet::run_live(
        scenario,
        move |ended| calls.set_position(ended as u64),
        |phase| {
            if terminal {
                bar.set_message(phase.to_owned());
            } else {
                eprintln!("[{:7.1} s] {phase}", started.elapsed().as_secs_f64());
            }
        },
    )?;
    Ok(run)
}

#[cfg(not(feature = "live"))]
fn live(_: &Scenario, _: &ProgressBar) -> anyhow::Result<peerhost_simnet::Run> {
    anyhow::bail!("this peerhost-simnet was built without the `live` feature: [live] needs it")
}

fn sweep_command(
    scenario: Option<&Path>,
    param: &str,
    values: &[String],
    out: Option<&Path>,
) -> anyhow::Result<()> {
    let (name, base) = scenario_of(scenario)?;
    let bar = progress(values.len() as u64, "runs");
    let mut points = Vec::with_capacity(values.len());
    for value in values {
        bar.set_message(format!("{param} = {value}"));
        if base.live.is_some() {
            // Each point on a fresh live network, one after the other.
            let scenario = scenario_at(&base, param, value)?;
            let run = live(&scenario, &ProgressBar::hidden())?;
            points.push(Point { value: value.clone(), report: run.report });
        } else {
            points.extend(sweep(&base, param, std::slice::from_ref(value))?);
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    let mut csv = Vec::new();
    write_sweep_csv(param, &points, &mut csv)?;
    if let Some(dir) = out {
        let json = serde_json::json!({ "scenario": base, "parameter": param, "points": points });
        let index =
            write_sweep(dir, &name, &base, param, &points, &serde_json::to_string_pretty(&json)?)?;
        eprintln!("wrote {}", index.display());
    }
    print!("{}", String::from_utf8_lossy(&csv));
    Ok(())
}

/// A progress bar on stderr (drawn only when stderr is a terminal).
fn progress(total: u64, unit: &str) -> ProgressBar {
    let bar = ProgressBar::new(total);
    let template = format!("{{bar:40}} {{pos}}/{{len}} {unit} {{msg}} ({{eta}} left)");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style);
    }
    bar
}

/// The scenario's name (its file stem, or `default`) and the scenario.
fn scenario_of(path: Option<&Path>) -> anyhow::Result<(String, Scenario)> {
    let Some(path) = path else { return Ok(("default".into(), Scenario::default())) };
    let name =
        path.file_stem().map_or_else(|| "scenario".into(), |s| s.to_string_lossy().into_owned());
    Ok((name, load(path)?))
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
