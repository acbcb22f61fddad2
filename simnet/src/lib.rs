//! # peerhost-simnet
//!
//! Runs PeerHost's dispatch protocol — the very [`peerhost_core`] state machines the
//! real gateway and workers run — for many simulated workers in one process, driven by a
//! seeded discrete-event loop. Same scenario and seed, same report.
//!
//! This version simulates the request path (racer choice, result acceptance, re-dispatch,
//! escalation) under worker crashes, declines, cheaters (colluding or not) and churn
//! ([`Churn`]: sessions, silent departures, mass outages), for calls to many functions whose
//! bundles only some workers hold, over a
//! fault-injecting network model ([`Network`]: latency distributions, loss, duplication,
//! reordering, partitions); [`sweep`] runs one scenario over a range of one parameter.
//! [`write_run`] and [`write_sweep`] leave a directory with the JSON report, the CSV trace,
//! charts as SVG and PNG, and an HTML page that shows them. With [`Economics`], epochs,
//! rewards, audits and slashing too, so a sweep shows at which audit rate cheating stops
//! paying. Gossip and more than one gateway are not modelled yet. With a [`Live`] table (the
//! `live` feature, on by default) a scenario runs instead on real nodes in this process:
//! libp2p over in-process links under the scenario's network as a fault model, stand-in
//! workers, real HTTP gateways ([`run_live`]).
//!
//! ```
//! use peerhost_simnet::{Scenario, run};
//!
//! let scenario = Scenario { workers: 20, requests: 500, crash_rate: 0.1, ..Scenario::default() };
//! let report = run(&scenario);
//! assert_eq!(report.answered + report.timed_out, 500);
//! assert_eq!(report, run(&scenario)); // deterministic
//! ```

mod charts;
mod churn;
mod economics;
mod live;
mod net;
mod output;
mod plot;
mod report;
mod roster;
mod scenario;
mod sim;
mod sweep;

pub use churn::{Churn, Outage};
pub use economics::{Economics, EpochRecord};
pub use live::{Cheat, Live, LiveStats};
#[cfg(feature = "live")]
pub use live::{LiveError, run_live};
pub use net::{Arrivals, Latency, Network, Partition};
pub use output::{OutputError, summary, write_run, write_sweep};
pub use plot::{Chart, PlotError, Series};
pub use report::{CallRecord, Report, Run};
pub use scenario::Scenario;
pub use sim::{run, simulate, simulate_with_progress};
pub use sweep::{Point, SweepError, scenario_at, sweep, write_sweep_csv};
