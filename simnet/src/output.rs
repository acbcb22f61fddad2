//! What a run or a sweep leaves behind: its output directory (JSON report, CSV trace, charts as
//! SVG and PNG, and one HTML page that shows them) and the one-screen summary printed when it
//! ends.

use std::{
    fmt::Write as _,
    fs,
    io::{self, BufWriter},
    path::{Path, PathBuf},
};

use crate::{
    Point, Run, Scenario, charts,
    plot::{Chart, PlotError},
    write_sweep_csv,
};

/// Why an output directory could not be written.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// A file could not be created or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// A chart could not be drawn.
    #[error(transparent)]
    Plot(#[from] PlotError),
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> OutputError + '_ {
    move |source| OutputError::Io { path: path.to_owned(), source }
}

fn write(path: &Path, bytes: impl AsRef<[u8]>) -> Result<(), OutputError> {
    fs::write(path, bytes).map_err(io_at(path))
}

/// Writes a run into `dir`: `report.json` (`report_json`), `calls.csv`, the charts of
/// [`charts::of_run`] and `index.html`. Returns the page's path.
///
/// # Errors
///
/// [`OutputError`] when a file cannot be written.
pub fn write_run(
    dir: &Path,
    name: &str,
    scenario: &Scenario,
    run: &Run,
    report_json: &str,
) -> Result<PathBuf, OutputError> {
    fs::create_dir_all(dir).map_err(io_at(dir))?;
    write(&dir.join("report.json"), format!("{report_json}\n"))?;
    let path = dir.join("calls.csv");
    let mut calls = BufWriter::new(fs::File::create(&path).map_err(io_at(&path))?);
    run.write_calls_csv(&mut calls)
        .and_then(|()| io::Write::flush(&mut calls))
        .map_err(io_at(&path))?;
    let page = Page {
        title: format!("{name} (seed {})", scenario.seed),
        rows: summary_rows(scenario, run),
        scenario,
        charts: charts::of_run(run),
        files: &["report.json", "calls.csv"],
    };
    page.write(dir)
}

/// Writes a sweep into `dir`: `sweep.csv`, `sweep.json` (`sweep_json`), the charts of
/// [`charts::of_sweep`] and `index.html`. Returns the page's path.
///
/// # Errors
///
/// [`OutputError`] when a file cannot be written.
pub fn write_sweep(
    dir: &Path,
    name: &str,
    base: &Scenario,
    parameter: &str,
    points: &[Point],
    sweep_json: &str,
) -> Result<PathBuf, OutputError> {
    fs::create_dir_all(dir).map_err(io_at(dir))?;
    let mut csv = Vec::new();
    write_sweep_csv(parameter, points, &mut csv).map_err(io_at(dir))?;
    write(&dir.join("sweep.csv"), csv)?;
    write(&dir.join("sweep.json"), format!("{sweep_json}\n"))?;
    let rows = points
        .iter()
        .map(|p| {
            let r = &p.report;
            let ended = (r.answered + r.timed_out + r.no_agreement).max(1);
            let answered = 100.0 * r.answered as f64 / ended as f64;
            let line = format!(
                "{answered:.2} % answered, {} wrong, p50 {:.1} ms, p99 {:.1} ms",
                r.wrong_accepted, r.p50_ms, r.p99_ms
            );
            (format!("{parameter} = {}", p.value), line)
        })
        .collect::<Vec<_>>();
    let page = Page {
        title: format!("{name}: sweep of {parameter}"),
        rows,
        scenario: base,
        charts: charts::of_sweep(parameter, points),
        files: &["sweep.csv", "sweep.json"],
    };
    page.write(dir)
}

/// The one-screen summary of a run, for a terminal.
pub fn summary(name: &str, scenario: &Scenario, run: &Run, wall_s: f64) -> String {
    let mut text = format!(
        "{name} (seed {}): {} calls to {} workers, {:.1} s simulated in {wall_s:.2} s\n",
        scenario.seed,
        scenario.requests,
        scenario.workers,
        run.calls.iter().map(|c| c.ended_us).max().unwrap_or(0) as f64 / 1e6,
    );
    for (label, value) in summary_rows(scenario, run) {
        let _ = writeln!(text, "  {label:<12} {value}");
    }
    text
}

fn summary_rows(scenario: &Scenario, run: &Run) -> Vec<(String, String)> {
    let r = &run.report;
    let share = |n: usize| 100.0 * n as f64 / scenario.requests.max(1) as f64;
    let mut rows = vec![
        (
            "answered".into(),
            format!(
                "{} ({:.2} %); timed out {}, no agreement {}, wrong answers {}",
                r.answered,
                share(r.answered),
                r.timed_out,
                r.no_agreement,
                r.wrong_accepted
            ),
        ),
        ("latency".into(), format!("p50 {:.2} ms, p99 {:.2} ms", r.p50_ms, r.p99_ms)),
        (
            "work".into(),
            format!(
                "{:.2} executions per call, {} re-dispatched, {}–{} executions per worker",
                r.executions_per_call, r.redispatched, r.min_worker_load, r.max_worker_load
            ),
        ),
        ("network".into(), format!("{} messages lost", r.lost_messages)),
    ];
    if scenario.churn.is_some() || r.fetches > 0 {
        rows.push((
            "churn".into(),
            format!(
                "{} departures, {} orders to departed workers, {} bundle fetches",
                r.departures, r.orders_to_departed, r.fetches
            ),
        ));
    }
    if scenario.economics.is_some() {
        rows.push((
            "money".into(),
            format!(
                "{} audited, {} cheaters slashed ({} honest); mean profit honest {:.3}, cheater {:.3}",
                r.audited, r.slashed, r.honest_slashed, r.honest_profit, r.cheater_profit
            ),
        ));
    }
    rows
}

/// One self-contained HTML page: the summary, the charts (SVG, each linking its PNG), the
/// scenario and links to the data files.
struct Page<'a> {
    title: String,
    rows: Vec<(String, String)>,
    scenario: &'a Scenario,
    charts: Vec<Chart>,
    files: &'a [&'a str],
}

impl Page<'_> {
    /// Draws the charts into `dir` and writes `index.html` there; returns its path.
    fn write(&self, dir: &Path) -> Result<PathBuf, OutputError> {
        for chart in &self.charts {
            chart.write(dir)?;
        }
        let index = dir.join("index.html");
        write(&index, self.html())?;
        Ok(index)
    }

    fn html(&self) -> String {
        let mut html = String::new();
        let _ = write!(
            html,
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <title>{t}</title><style>\
             body{{font-family:system-ui,sans-serif;max-width:960px;margin:2em auto;padding:0 1em;color:#222}}\
             table{{border-collapse:collapse}}td{{padding:.2em 1em .2em 0;vertical-align:top}}\
             img{{max-width:100%;border:1px solid #ddd;margin:.5em 0}}\
             pre{{background:#f5f5f5;padding:1em;overflow:auto}}</style></head><body>\n\
             <h1>{t}</h1>\n<table>\n",
            t = escape(&self.title)
        );
        for (label, value) in &self.rows {
            let _ = writeln!(html, "<tr><td>{}</td><td>{}</td></tr>", escape(label), escape(value));
        }
        html.push_str("</table>\n");
        for chart in &self.charts {
            let _ = writeln!(
                html,
                "<h2>{t}</h2>\n<a href=\"{n}.png\"><img src=\"{n}.svg\" alt=\"{t}\"></a>",
                t = escape(&chart.title),
                n = chart.name
            );
        }
        let scenario =
            toml::to_string(self.scenario).unwrap_or_else(|e| format!("(not printable: {e})"));
        let _ = write!(html, "<h2>Scenario</h2>\n<pre>{}</pre>\n<p>Data:", escape(&scenario));
        for file in self.files {
            let _ = write!(html, " <a href=\"{f}\">{f}</a>", f = escape(file));
        }
        html.push_str("</p>\n</body></html>\n");
        html
    }
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulate;

    #[test]
    fn a_run_directory_holds_the_report_the_trace_the_charts_and_the_page() {
        let dir = tempfile::tempdir().unwrap();
        let scenario = Scenario { requests: 1_000, ..Scenario::default() };
        let run = simulate(&scenario);
        let index = write_run(dir.path(), "small <test>", &scenario, &run, "{}").unwrap();
        let html = fs::read_to_string(index).unwrap();
        assert!(html.contains("small &lt;test&gt; (seed 1)"), "titles are escaped");
        for chart in charts::of_run(&run) {
            for ext in ["svg", "png"] {
                let file = dir.path().join(format!("{}.{ext}", chart.name));
                assert!(fs::metadata(&file).unwrap().len() > 1_000, "{}", file.display());
            }
            assert!(html.contains(&format!("src=\"{}.svg\"", chart.name)));
        }
        assert_eq!(
            fs::read_to_string(dir.path().join("calls.csv")).unwrap().lines().count(),
            1_001
        );
    }

    #[test]
    fn the_summary_fits_a_screen() {
        let scenario = Scenario { requests: 500, ..Scenario::default() };
        let text = summary("default", &scenario, &simulate(&scenario), 0.1);
        assert!(text.lines().count() <= 10 && text.lines().all(|l| l.chars().count() <= 100));
        assert!(text.contains("500 (100.00 %)"), "{text}");
    }
}
