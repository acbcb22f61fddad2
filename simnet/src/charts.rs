//! Which charts a run and a sweep produce, computed from their traces (pure data; see
//! [`crate::plot`] for drawing them).

use crate::{
    Point, Report, Run,
    plot::{Chart, Series},
};

/// Time windows a run's charts are cut into (fewer when there are few calls).
const WINDOWS: usize = 60;
/// Calls a window holds at least, so a percentile of it means something.
const MIN_PER_WINDOW: usize = 20;
/// Points of a CDF curve at most.
const CDF_POINTS: usize = 400;

/// The charts of one run: latency percentiles over time, the latency CDF, delivery over time,
/// the racers' load and, with `[economics]`, the earnings of honest workers and cheaters.
pub(crate) fn of_run(run: &Run) -> Vec<Chart> {
    let mut charts =
        vec![latency_over_time(run), latency_cdf(run), delivery_over_time(run), load(run)];
    if !run.epochs.is_empty() {
        charts.push(earnings(run));
        charts.push(slashes(run));
    }
    charts
}

/// The charts of a sweep: delivery and wrong answers, and latency, against the parameter
/// (its values as numbers when they all are, else their positions).
pub(crate) fn of_sweep(parameter: &str, points: &[Point]) -> Vec<Chart> {
    let numeric: Option<Vec<f64>> = points.iter().map(|p| p.value.parse().ok()).collect();
    let xs = numeric.unwrap_or_else(|| (0..points.len()).map(|i| i as f64).collect());
    let line = |label: &str, y: &dyn Fn(&Report) -> f64| Series {
        label: label.into(),
        points: xs.iter().zip(points).map(|(x, p)| (*x, y(&p.report))).collect(),
    };
    let ended = |r: &Report| (r.answered + r.timed_out + r.no_agreement).max(1) as f64;
    let mut charts = vec![
        Chart {
            name: "sweep-delivery",
            title: format!("Calls answered, and answered wrong, against {parameter}"),
            x_label: parameter.into(),
            y_label: "share of calls".into(),
            series: vec![
                line("answered", &|r| r.answered as f64 / ended(r)),
                line("wrong answers", &|r| r.wrong_accepted as f64 / ended(r)),
            ],
        },
        Chart {
            name: "sweep-latency",
            title: format!("Latency of answered calls against {parameter}"),
            x_label: parameter.into(),
            y_label: "latency (ms)".into(),
            series: vec![line("p50", &|r| r.p50_ms), line("p99", &|r| r.p99_ms)],
        },
    ];
    // A live sweep (over `workers`, say) shows whether a node's traffic stays flat as the
    // network grows.
    if points.iter().all(|p| p.report.live.is_some()) && !points.is_empty() {
        let kb = |r: &Report, of: fn(&crate::LiveStats) -> f64| r.live.as_ref().map_or(0.0, of);
        charts.push(Chart {
            name: "sweep-traffic",
            title: format!("Bytes each node received per second against {parameter}"),
            x_label: parameter.into(),
            y_label: "KB/s".into(),
            series: vec![
                line("mean worker", &|r| kb(r, |l| l.worker_kb_per_s)),
                line("busiest worker", &|r| kb(r, |l| l.worker_kb_per_s_max)),
                line("gateway", &|r| kb(r, |l| l.gateway_kb_per_s)),
            ],
        });
    }
    charts
}

/// Calls by the window of simulated time they arrived in, with each window's midpoint (s).
fn windows(run: &Run) -> Vec<(f64, Vec<&crate::CallRecord>)> {
    let Some(last) = run.calls.iter().map(|c| c.arrived_us).max() else { return Vec::new() };
    let count = WINDOWS.min(run.calls.len() / MIN_PER_WINDOW).max(1);
    let width = (last / count as u64).max(1) + 1;
    let mut windows: Vec<Vec<&crate::CallRecord>> = vec![Vec::new(); count];
    for call in &run.calls {
        let i = ((call.arrived_us / width) as usize).min(count - 1);
        windows[i].push(call);
    }
    windows
        .into_iter()
        .enumerate()
        .filter(|(_, calls)| !calls.is_empty())
        .map(|(i, calls)| (((i as f64) + 0.5) * width as f64 / 1e6, calls))
        .collect()
}

/// The `p` quantile of sorted values (nearest rank below).
fn quantile(sorted: &[f64], p: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    sorted.get((last as f64 * p) as usize).copied()
}

fn latencies_ms<'a>(calls: impl IntoIterator<Item = &'a crate::CallRecord>) -> Vec<f64> {
    let mut ms: Vec<f64> = calls
        .into_iter()
        .filter(|c| c.answered)
        .map(|c| (c.ended_us - c.arrived_us) as f64 / 1e3)
        .collect();
    ms.sort_by(f64::total_cmp);
    ms
}

fn latency_over_time(run: &Run) -> Chart {
    let (mut p50, mut p99) = (Vec::new(), Vec::new());
    for (at, calls) in windows(run) {
        let ms = latencies_ms(calls);
        if let (Some(a), Some(b)) = (quantile(&ms, 0.50), quantile(&ms, 0.99)) {
            p50.push((at, a));
            p99.push((at, b));
        }
    }
    Chart {
        name: "latency",
        title: "Latency of answered calls over time".into(),
        x_label: "simulated time (s)".into(),
        y_label: "latency (ms)".into(),
        series: vec![
            Series { label: "p50".into(), points: p50 },
            Series { label: "p99".into(), points: p99 },
        ],
    }
}

fn latency_cdf(run: &Run) -> Chart {
    let ms = latencies_ms(&run.calls);
    let step = ms.len().div_ceil(CDF_POINTS).max(1);
    let total = run.calls.len().max(1) as f64;
    let mut points: Vec<(f64, f64)> =
        ms.iter().enumerate().step_by(step).map(|(i, v)| (*v, (i + 1) as f64 / total)).collect();
    if let Some(last) = ms.last() {
        points.push((*last, ms.len() as f64 / total));
    }
    Chart {
        name: "latency-cdf",
        title: "Latency CDF (of all calls: the curve ends at the share answered)".into(),
        x_label: "latency (ms)".into(),
        y_label: "share of calls answered within".into(),
        series: vec![Series { label: String::new(), points }],
    }
}

fn delivery_over_time(run: &Run) -> Chart {
    let (mut answered, mut wrong) = (Vec::new(), Vec::new());
    for (at, calls) in windows(run) {
        let n = calls.len() as f64;
        answered.push((at, calls.iter().filter(|c| c.answered).count() as f64 / n));
        wrong.push((at, calls.iter().filter(|c| c.wrong).count() as f64 / n));
    }
    Chart {
        name: "delivery",
        title: "Calls answered, and answered wrong, by arrival time".into(),
        x_label: "simulated time (s)".into(),
        y_label: "share of calls".into(),
        series: vec![
            Series { label: "answered".into(), points: answered },
            Series { label: "wrong answers".into(), points: wrong },
        ],
    }
}

fn load(run: &Run) -> Chart {
    let ranked = |cheaters: bool| {
        let mut loads: Vec<usize> = run
            .loads
            .iter()
            .zip(&run.cheaters)
            .filter(|(_, c)| **c == cheaters)
            .map(|(l, _)| *l)
            .collect();
        loads.sort_unstable_by(|a, b| b.cmp(a));
        loads.iter().enumerate().map(|(i, l)| ((i + 1) as f64, *l as f64)).collect::<Vec<_>>()
    };
    let mut series = vec![Series { label: "honest workers".into(), points: ranked(false) }];
    if run.cheaters.iter().any(|c| *c) {
        series.push(Series { label: "cheaters".into(), points: ranked(true) });
    }
    Chart {
        name: "load",
        title: "Executions per worker, busiest first".into(),
        x_label: "worker rank".into(),
        y_label: "executions".into(),
        series,
    }
}

fn earnings(run: &Run) -> Chart {
    let at = |e: &crate::EpochRecord| e.end_ms as f64 / 1e3;
    let line = |label: &str, y: fn(&crate::EpochRecord) -> f64| Series {
        label: label.into(),
        points: run.epochs.iter().map(|e| (at(e), y(e))).collect(),
    };
    let mut series = vec![line("honest worker (mean)", |e| e.honest_profit)];
    if run.cheaters.iter().any(|c| *c) {
        series.push(line("cheater (mean)", |e| e.cheater_profit));
    }
    Chart {
        name: "earnings",
        title: "Profit so far: rewards and gains minus costs and slashed bonds".into(),
        x_label: "simulated time (s)".into(),
        y_label: "profit (USDC)".into(),
        series,
    }
}

fn slashes(run: &Run) -> Chart {
    let cheaters = run.cheaters.iter().filter(|c| **c).count();
    let points = run.epochs.iter().map(|e| (e.end_ms as f64 / 1e3, e.slashed as f64)).collect();
    Chart {
        name: "slashes",
        title: format!("Cheaters slashed so far (of {cheaters})"),
        x_label: "simulated time (s)".into(),
        y_label: "workers slashed".into(),
        series: vec![Series { label: String::new(), points }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Scenario, simulate};

    #[test]
    fn a_run_gives_four_charts_with_points() {
        let run = simulate(&Scenario { requests: 2_000, byzantine: 0.2, ..Scenario::default() });
        let charts = of_run(&run);
        assert_eq!(charts.len(), 4);
        for chart in &charts {
            assert!(!chart.is_empty(), "{} has no points", chart.name);
        }
        let cdf = &charts[1].series[0].points;
        assert!(cdf.windows(2).all(|w| w[0].0 <= w[1].0 && w[0].1 <= w[1].1), "monotone");
        let answered = run.report.answered as f64 / 2_000.0;
        assert!((cdf.last().unwrap().1 - answered).abs() < 1e-9, "ends at the share answered");
        assert_eq!(charts[3].series.len(), 2, "honest workers and cheaters");
        let workers: usize = charts[3].series.iter().map(|s| s.points.len()).sum();
        assert_eq!(workers, 50);
    }

    #[test]
    fn windows_hold_every_call_once() {
        let run = simulate(&Scenario { requests: 999, ..Scenario::default() });
        let held: usize = windows(&run).iter().map(|(_, calls)| calls.len()).sum();
        assert_eq!(held, 999);
        assert!(windows(&Run { calls: vec![], ..run }).is_empty());
    }
}
