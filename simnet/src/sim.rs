//! The discrete-event loop: calls arrive, the gateway's [`Race`] decides, orders and answers
//! cross the simulated [`Network`](crate::Network) (latency, loss, duplication, reordering,
//! partitions), and simulated workers answer after seeded delays (or crash, or decline).

use std::{cmp::Reverse, collections::BinaryHeap};

use peerhost_core::{Candidate, Race, RaceConfig, Step};
use peerhost_protocol::{Keccak, NodeKey, RequestId, keccak256};
use rand::{RngExt, SeedableRng, seq::SliceRandom};
use rand_chacha::ChaCha8Rng;

use crate::{
    Report, Scenario,
    economics::{Ledger, Receipt},
    net::exponential,
    report::{CallRecord, Run},
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    Arrive { call: usize },
    Result { call: usize, worker: usize },
    Decline { call: usize, worker: usize },
    Lost { call: usize, worker: usize },
    Timer { call: usize },
    EpochEnd { epoch: u64 },
    Slash { worker: usize },
    Rebond { worker: usize },
}

struct Call {
    race: Race,
    started_us: u64,
    done: bool,
    attempts: u8,
    /// Results the race counted, by worker (for receipts).
    results: Vec<(usize, Keccak)>,
}

fn key(worker: usize) -> NodeKey {
    NodeKey(keccak256(&worker.to_le_bytes()).0)
}

/// Runs `scenario` to completion: its report.
pub fn run(scenario: &Scenario) -> Report {
    simulate(scenario).report
}

/// Runs `scenario` to completion: its report and the trace of every call, in the order the
/// calls ended.
pub fn simulate(scenario: &Scenario) -> Run {
    simulate_with_progress(scenario, |_| {})
}

/// [`simulate`], calling `progress` with the number of calls ended so far, about a hundred
/// times over the run (for a progress bar).
pub fn simulate_with_progress(scenario: &Scenario, mut progress: impl FnMut(usize)) -> Run {
    let report_every = (scenario.requests / 100).max(1);
    let mut rng = ChaCha8Rng::seed_from_u64(scenario.seed);
    let keys: Vec<NodeKey> = (0..scenario.workers).map(key).collect();
    let indices: std::collections::HashMap<NodeKey, usize> =
        keys.iter().enumerate().map(|(i, k)| (*k, i)).collect();
    let index_of = |k: &NodeKey| indices[k];
    let mut candidates: Vec<Candidate> =
        keys.iter().map(|k| Candidate::new(*k, true, true)).collect();
    let config = RaceConfig {
        racers: scenario.racers,
        quorum: scenario.quorum,
        max_attempts: scenario.max_attempts,
        attempt_timeout_ms: scenario.attempt_timeout_ms,
        open_when_empty: false,
        max_escalations: scenario.max_escalations,
    };

    let mut queue: BinaryHeap<Reverse<(u64, Event)>> = BinaryHeap::new();
    let gap_us = 1e6 / scenario.rate_per_s.max(1e-3);
    for call in 0..scenario.requests {
        queue.push(Reverse(((call as f64 * gap_us) as u64, Event::Arrive { call })));
    }
    let mut calls: Vec<Option<Call>> = (0..scenario.requests).map(|_| None).collect();
    let mut load = vec![0usize; scenario.workers];
    let mut latencies_us = Vec::new();
    let mut trace = Vec::with_capacity(scenario.requests);
    let (mut timed_out, mut redispatched, mut executions, mut lost) = (0, 0, 0, 0);
    let (mut wrong_accepted, mut no_agreement) = (0, 0);
    // Which workers cheat (exactly the scenario's fraction of them): drawn from their own
    // stream, so adding cheaters to a scenario does not change any other draw of the run.
    let mut cheat_rng = ChaCha8Rng::seed_from_u64(scenario.seed ^ 0xc4ea_7e25);
    let mut order: Vec<usize> = (0..scenario.workers).collect();
    order.shuffle(&mut cheat_rng);
    let cheaters = (scenario.byzantine.clamp(0.0, 1.0) * scenario.workers as f64).round() as usize;
    let mut cheats = vec![false; scenario.workers];
    for &worker in &order[..cheaters] {
        cheats[worker] = true;
    }
    let honest = Keccak([7; 32]);
    let result_of = |worker: usize| match (cheats[worker], scenario.colluding) {
        (false, _) => honest,
        (true, true) => Keccak([9; 32]),
        (true, false) => keccak256(&(worker as u64).to_be_bytes()),
    };
    // Node indices: the workers first, then the one gateway.
    let gateway = scenario.workers;
    let mut ledger =
        scenario.economics.clone().map(|e| Ledger::new(e, scenario.workers, scenario.seed));
    if let Some(ledger) = &ledger {
        let end = ledger.economics.epoch_ms.max(1) * 1_000;
        queue.push(Reverse((end, Event::EpochEnd { epoch: 0 })));
    }

    while let Some(Reverse((now_us, event))) = queue.pop() {
        let now_ms = now_us / 1_000;
        let (call_index, step) = match event {
            Event::Arrive { call } => {
                let id = RequestId(keccak256(&(call as u64).to_le_bytes()).0);
                let mut race = Race::new(id, config);
                let step = race.start(now_ms, &candidates);
                calls[call] = Some(Call {
                    race,
                    started_us: now_us,
                    done: false,
                    attempts: 0,
                    results: Vec::new(),
                });
                (call, step)
            }
            Event::Result { call, worker }
            | Event::Decline { call, worker }
            | Event::Lost { call, worker } => {
                let Some(state) = calls[call].as_mut().filter(|c| !c.done) else { continue };
                let step = match event {
                    // Honest workers agree on the result of a pure function; cheaters return
                    // another (the same one when they collude).
                    Event::Result { .. } => {
                        let result = result_of(worker);
                        match state.race.on_result(keys[worker], result, now_ms, &candidates) {
                            Ok(step) => {
                                state.results.push((worker, result));
                                step
                            }
                            Err(_) => Step::Wait { wake_at_ms: now_ms },
                        }
                    }
                    Event::Decline { .. } => {
                        state.race.on_decline(keys[worker], now_ms, &candidates)
                    }
                    _ => state.race.on_peer_lost(keys[worker], now_ms, &candidates),
                };
                (call, step)
            }
            Event::Timer { call } => {
                let Some(state) = calls[call].as_mut().filter(|c| !c.done) else { continue };
                (call, state.race.on_timer(now_ms, &candidates))
            }
            Event::EpochEnd { epoch } => {
                let Some(ledger) = ledger.as_mut() else { continue };
                let delay_us = ledger.economics.audit_delay_ms * 1_000;
                for worker in ledger.end_epoch(epoch, &cheats) {
                    queue.push(Reverse((now_us + delay_us, Event::Slash { worker })));
                }
                if trace.len() < scenario.requests {
                    let next = now_us + ledger.economics.epoch_ms.max(1) * 1_000;
                    queue.push(Reverse((next, Event::EpochEnd { epoch: epoch + 1 })));
                }
                continue;
            }
            Event::Slash { worker } => {
                let Some(ledger) = ledger.as_mut() else { continue };
                ledger.slash(worker);
                // Below the minimum bond: not chosen again, unless it bonds again.
                candidates.retain(|c| c.key != keys[worker]);
                if let Some(after_ms) = ledger.economics.rebond_ms {
                    queue.push(Reverse((now_us + after_ms * 1_000, Event::Rebond { worker })));
                }
                continue;
            }
            Event::Rebond { worker } => {
                let Some(ledger) = ledger.as_mut() else { continue };
                ledger.rebond(worker);
                if trace.len() < scenario.requests {
                    candidates.push(Candidate::new(keys[worker], true, true));
                }
                continue;
            }
        };
        let state = calls[call_index].as_mut().expect("call exists");
        let accepted = matches!(step, Step::Accept { .. });
        let wrong_now = matches!(step, Step::Accept { result_hash, .. } if result_hash != honest);
        match step {
            Step::Dispatch { attempt, racers, wake_at_ms } => {
                state.attempts = attempt + 1;
                if attempt > 0 {
                    redispatched += 1;
                }
                queue.push(Reverse((wake_at_ms * 1_000, Event::Timer { call: call_index })));
                for racer in racers {
                    let worker = index_of(&racer);
                    // The worker acts on the first copy of the order that reaches it (it
                    // drops repeats by request id); a lost order is a racer that never answers.
                    let order = scenario.network.send(gateway, worker, now_us, &mut rng);
                    let roll: f64 = rng.random();
                    let noticed = rng.random::<f64>() < scenario.disconnect_noticed;
                    let exec_us = (exponential(&mut rng, scenario.exec_ms) * 1e3) as u64;
                    let Some(there) = order.iter().next() else {
                        lost += 1;
                        continue;
                    };
                    let answer = if roll < scenario.crash_rate {
                        if noticed {
                            // The gateway's own transport notices the connection drop.
                            queue.push(Reverse((
                                there + (there - now_us),
                                Event::Lost { call: call_index, worker },
                            )));
                        }
                        continue;
                    } else if roll < scenario.crash_rate + scenario.decline_rate {
                        (there, Event::Decline { call: call_index, worker })
                    } else {
                        executions += 1;
                        load[worker] += 1;
                        if let Some(ledger) = ledger.as_mut() {
                            ledger.executed(worker, cheats[worker]);
                        }
                        (there + exec_us, Event::Result { call: call_index, worker })
                    };
                    let back = scenario.network.send(worker, gateway, answer.0, &mut rng);
                    if back.is_lost() {
                        lost += 1;
                    }
                    for at in back.iter() {
                        queue.push(Reverse((at, answer.1)));
                    }
                }
            }
            Step::Wait { wake_at_ms } => {
                queue.push(Reverse((wake_at_ms * 1_000, Event::Timer { call: call_index })));
            }
            Step::Accept { result_hash, workers } => {
                state.done = true;
                latencies_us.push(now_us - state.started_us);
                if result_hash != honest {
                    wrong_accepted += 1;
                }
                if let Some(ledger) = ledger.as_mut() {
                    let request = *state.race.request_id();
                    let winner = workers.first().map(&index_of);
                    for &(worker, result) in &state.results {
                        ledger.receipt(Receipt {
                            request,
                            worker,
                            won: Some(worker) == winner,
                            dissent: result != result_hash,
                            wrong: result != honest,
                        });
                    }
                }
            }
            Step::Exhausted => {
                state.done = true;
                timed_out += 1;
            }
            Step::NoAgreement { .. } => {
                state.done = true;
                no_agreement += 1;
                // Racers that never agreed: every receipt goes to audit.
                if let Some(ledger) = ledger.as_mut() {
                    let request = *state.race.request_id();
                    for &(worker, result) in &state.results {
                        let wrong = result != honest;
                        ledger.receipt(Receipt {
                            request,
                            worker,
                            won: false,
                            dissent: true,
                            wrong,
                        });
                    }
                }
            }
        }
        if state.done {
            trace.push(CallRecord {
                call: call_index,
                arrived_us: state.started_us,
                ended_us: now_us,
                attempts: state.attempts,
                answered: accepted,
                wrong: wrong_now,
            });
            if trace.len() % report_every == 0 {
                progress(trace.len());
            }
        }
    }

    latencies_us.sort_unstable();
    let pct = |p: f64| {
        latencies_us
            .get(((latencies_us.len().max(1) - 1) as f64 * p) as usize)
            .map_or(0.0, |us| *us as f64 / 1e3)
    };
    let report = Report {
        answered: latencies_us.len(),
        timed_out,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        executions_per_call: executions as f64 / scenario.requests.max(1) as f64,
        redispatched,
        max_worker_load: load.iter().copied().max().unwrap_or(0),
        min_worker_load: load.iter().copied().min().unwrap_or(0),
        lost_messages: lost,
        wrong_accepted,
        no_agreement,
        audited: 0,
        slashed: 0,
        honest_slashed: 0,
        honest_profit: 0.0,
        cheater_profit: 0.0,
    };
    let mut run = Run { report, calls: trace, loads: load, cheaters: cheats, epochs: Vec::new() };
    if let Some(ledger) = ledger {
        ledger.settle(&mut run);
    }
    run
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn healthy_network_answers_everything_once_per_racer() {
        let report = run(&Scenario { requests: 2_000, ..Scenario::default() });
        assert_eq!(report.answered, 2_000);
        assert_eq!(report.timed_out, 0);
        assert_eq!(report.redispatched, 0);
        assert!((report.executions_per_call - 2.0).abs() < 1e-9);
    }

    #[test]
    fn crashes_are_healed_by_redispatch() {
        let scenario =
            Scenario { requests: 2_000, racers: 1, crash_rate: 0.2, ..Scenario::default() };
        let report = run(&scenario);
        assert!(report.redispatched > 0);
        // With one racer and two attempts, a call fails only if both racers crash: ~4 %.
        assert!(report.timed_out < 2_000 / 10, "{report:?}");
        assert_eq!(report.answered + report.timed_out, 2_000);
    }

    #[test]
    fn same_seed_byte_identical_trace() {
        let network = crate::Network { loss: 0.05, duplicate: 0.05, ..crate::Network::default() };
        let a = Scenario { requests: 1_000, crash_rate: 0.1, network, ..Scenario::default() };
        let csv = |run: Run| {
            let mut bytes = Vec::new();
            run.write_calls_csv(&mut bytes).unwrap();
            bytes
        };
        let first = csv(simulate(&a));
        assert_eq!(first.iter().filter(|b| **b == b'\n').count(), 1_001, "a header and every call");
        assert_eq!(first, csv(simulate(&a)));
        assert_ne!(first, csv(simulate(&Scenario { seed: 2, ..a })));
    }

    #[test]
    fn same_seed_same_report_different_seed_different_report() {
        let a = Scenario { requests: 1_000, crash_rate: 0.1, ..Scenario::default() };
        assert_eq!(run(&a), run(&a));
        assert_ne!(run(&a), run(&Scenario { seed: 2, ..a.clone() }));
    }

    #[test]
    fn lost_messages_and_a_partition_are_healed_by_redispatch() {
        use crate::{Network, Partition};
        let split = Partition { at_ms: 1_000, heal_ms: 2_000, groups: vec![(0, 25)] };
        let network = Network { loss: 0.05, partitions: vec![split], ..Network::default() };
        let scenario = Scenario {
            workers: 50,
            requests: 3_000,
            racers: 1,
            max_attempts: 4,
            attempt_timeout_ms: 200,
            network,
            ..Scenario::default()
        };
        let report = run(&scenario);
        assert!(report.lost_messages > 0 && report.redispatched > 0, "{report:?}");
        // A call fails only if all four of its attempts are lost or cut off: mostly calls that
        // start during the split (a third of them) and draw four racers from the cut-off half
        // (1 in 16), about 60 of the 3,000.
        assert!(report.timed_out < 90, "{report:?}");
        assert_eq!(report.answered + report.timed_out, 3_000);
        let healthy = run(&Scenario { network: Network::default(), ..scenario });
        assert_eq!(healthy.lost_messages, 0);
        assert!(healthy.p99_ms < report.p99_ms, "losses cost timeouts: {healthy:?} {report:?}");
    }

    #[test]
    fn the_ready_scenarios_parse() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            let scenario: Result<Scenario, _> = toml::from_str(&text);
            assert!(scenario.is_ok(), "{}: {scenario:?}", path.display());
        }
    }

    #[test]
    fn a_quorum_keeps_non_colluding_cheaters_out_and_colluders_sometimes_win() {
        let fast = Scenario { requests: 2_000, racers: 1, byzantine: 0.3, ..Scenario::default() };
        let report = run(&fast);
        // The fast tier takes the first result: about 30 % of answers are wrong.
        assert!((450..750).contains(&report.wrong_accepted), "{report:?}");
        let verified =
            Scenario { racers: 3, quorum: 2, max_escalations: 2, max_attempts: 4, ..fast.clone() };
        let report = run(&verified);
        assert_eq!(report.wrong_accepted, 0, "{report:?}");
        assert!(report.answered > 1_900, "{report:?}");
        let colluding = run(&Scenario { colluding: true, ..verified });
        // Two colluders among three racers agree first: about 3 × 0.3² × 0.7 + 0.3³ ≈ 22 %
        // of calls, less when the honest pair answers first.
        assert!(colluding.wrong_accepted > 100, "{colluding:?}");
        assert_eq!(report.answered + report.timed_out + report.no_agreement, 2_000);
    }

    #[test]
    fn load_spreads_over_workers() {
        let report =
            run(&Scenario { requests: 5_000, workers: 10, racers: 1, ..Scenario::default() });
        assert!(report.min_worker_load > 300, "{report:?}");
        assert!(report.max_worker_load < 700, "{report:?}");
    }

    #[test]
    fn audits_catch_every_cheater_and_never_an_honest_worker() {
        let economics = crate::Economics { audit_rate: 0.1, ..crate::Economics::default() };
        let base = Scenario {
            requests: 10_000,
            racers: 1,
            byzantine: 0.2,
            colluding: true,
            ..Scenario::default()
        };
        let unaudited = run(&base);
        let audited = run(&Scenario { economics: Some(economics), ..base });
        assert_eq!(audited.slashed, 10, "{audited:?}");
        assert_eq!(audited.honest_slashed, 0, "{audited:?}");
        // Each cheater wins ~20 calls a second (1 s epochs), so the first epoch's audits
        // almost surely catch it: it cheats for 1.5-2.5 s of the 10.
        assert!(audited.wrong_accepted * 4 < unaudited.wrong_accepted, "{audited:?}");
        assert!(audited.cheater_profit < -40.0, "the bond is lost: {audited:?}");
        assert!(audited.honest_profit > 0.0, "{audited:?}");
    }

    #[test]
    fn without_audits_cheating_pays_and_dissent_is_still_caught() {
        let economics =
            crate::Economics { audit_rate: 0.0, cheat_gain: 0.01, ..crate::Economics::default() };
        let fast = Scenario {
            requests: 5_000,
            racers: 1,
            byzantine: 0.2,
            economics: Some(economics),
            ..Scenario::default()
        };
        let report = run(&fast);
        assert_eq!(report.slashed, 0, "nothing is audited: {report:?}");
        assert!(report.cheater_profit > report.honest_profit, "{report:?}");
        // The verified tier files every dissent for audit: a cheater that disagrees is caught
        // even at audit rate zero.
        let verified =
            Scenario { racers: 3, quorum: 2, max_escalations: 2, max_attempts: 4, ..fast };
        let report = run(&verified);
        assert_eq!(report.slashed, 10, "{report:?}");
        assert_eq!(report.honest_slashed, 0, "{report:?}");
    }
}
