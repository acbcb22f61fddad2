//! The discrete-event loop: calls arrive, the gateway's [`Race`] decides, orders and answers
//! cross the simulated [`Network`](crate::Network) (latency, loss, duplication, reordering,
//! partitions), and simulated workers answer after seeded delays (or crash, or decline, or
//! leave with the churn).

use std::{cmp::Reverse, collections::BinaryHeap};

use peerhost_core::{Race, RaceConfig, Step};
use peerhost_protocol::{Keccak, NodeKey, RequestId, keccak256};
use rand::{RngExt, SeedableRng, seq::SliceRandom};
use rand_chacha::ChaCha8Rng;

use crate::{
    Report, Scenario,
    churn::Presence,
    economics::{Ledger, Receipt},
    net::exponential,
    report::{CallRecord, Run},
    roster::Roster,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    Arrive { call: usize },
    Result { call: usize, worker: usize, session: u32 },
    Decline { call: usize, worker: usize, session: u32 },
    Lost { call: usize, worker: usize },
    Timer { call: usize },
    EpochEnd { epoch: u64 },
    Slash { worker: usize },
    Rebond { worker: usize },
    Leave { worker: usize },
    Join { worker: usize },
    Seen { worker: usize, session: u32 },
    Forget { worker: usize, session: u32 },
    Outage { index: usize },
}

struct Call {
    race: Race,
    function: usize,
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
    // Bundle holders and each call's function come from a stream of their own, as do the
    // churn's draws: adding either to a scenario leaves every other draw of the run as it was.
    let mut place_rng = ChaCha8Rng::seed_from_u64(scenario.seed ^ 0xb0b_d1e5);
    let functions = scenario.functions.max(1);
    let mut roster = Roster::new(keys.clone(), functions, scenario.holders, &mut place_rng);
    let function_of: Vec<usize> = (0..scenario.requests)
        .map(|_| {
            if place_rng.random::<f64>() < scenario.hot_share {
                0
            } else {
                place_rng.random_range(0..functions)
            }
        })
        .collect();
    let mut presence = Presence::new(scenario.workers);
    let mut churn_rng = ChaCha8Rng::seed_from_u64(scenario.seed ^ 0xc0_ffee);
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
    let (mut orders_to_departed, mut fetches) = (0, 0);
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
    if let Some(churn) = &scenario.churn {
        if churn.uptime_ms > 0.0 {
            for worker in 0..scenario.workers {
                let at = (exponential(&mut churn_rng, churn.uptime_ms) * 1e3) as u64;
                queue.push(Reverse((at, Event::Leave { worker })));
            }
        }
        for (index, outage) in churn.outages.iter().enumerate() {
            queue.push(Reverse((outage.at_ms * 1_000, Event::Outage { index })));
        }
    }

    while let Some(Reverse((now_us, event))) = queue.pop() {
        let now_ms = now_us / 1_000;
        let (call_index, step) = match event {
            Event::Arrive { call } => {
                let id = RequestId(keccak256(&(call as u64).to_le_bytes()).0);
                let mut race = Race::new(id, config);
                let function = function_of[call];
                let step = roster.with(function, |candidates| race.start(now_ms, candidates));
                calls[call] = Some(Call {
                    race,
                    function,
                    started_us: now_us,
                    done: false,
                    attempts: 0,
                    results: Vec::new(),
                });
                (call, step)
            }
            Event::Result { call, worker, .. }
            | Event::Decline { call, worker, .. }
            | Event::Lost { call, worker } => {
                let Some(state) = calls[call].as_mut().filter(|c| !c.done) else { continue };
                // A worker that left since the order reached it sends nothing.
                if let Event::Result { session, .. } | Event::Decline { session, .. } = event
                    && !presence.current(worker, session)
                {
                    continue;
                }
                let function = state.function;
                let step = roster.with(function, |candidates| match event {
                    // Honest workers agree on the result of a pure function; cheaters return
                    // another (the same one when they collude).
                    Event::Result { .. } => {
                        let result = result_of(worker);
                        match state.race.on_result(keys[worker], result, now_ms, candidates) {
                            Ok(step) => {
                                state.results.push((worker, result));
                                step
                            }
                            Err(_) => Step::Wait { wake_at_ms: now_ms },
                        }
                    }
                    Event::Decline { .. } => {
                        state.race.on_decline(keys[worker], now_ms, candidates)
                    }
                    _ => state.race.on_peer_lost(keys[worker], now_ms, candidates),
                });
                (call, step)
            }
            Event::Timer { call } => {
                let Some(state) = calls[call].as_mut().filter(|c| !c.done) else { continue };
                let function = state.function;
                (call, roster.with(function, |candidates| state.race.on_timer(now_ms, candidates)))
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
                roster.set_bonded(worker, false);
                if let Some(after_ms) = ledger.economics.rebond_ms {
                    queue.push(Reverse((now_us + after_ms * 1_000, Event::Rebond { worker })));
                }
                continue;
            }
            Event::Rebond { worker } => {
                let Some(ledger) = ledger.as_mut() else { continue };
                ledger.rebond(worker);
                roster.set_bonded(worker, true);
                continue;
            }
            Event::Leave { worker } => {
                let churn = scenario.churn.as_ref().expect("churn scheduled the departure");
                if trace.len() < scenario.requests
                    && depart(&mut presence, &mut queue, worker, now_us, churn.noticed_ms)
                    && churn.downtime_ms > 0.0
                {
                    let back = (exponential(&mut churn_rng, churn.downtime_ms) * 1e3) as u64;
                    queue.push(Reverse((now_us + back, Event::Join { worker })));
                }
                continue;
            }
            Event::Outage { index } => {
                let churn = scenario.churn.as_ref().expect("churn scheduled the outage");
                let outage = &churn.outages[index];
                let mut up = presence.up_workers();
                up.shuffle(&mut churn_rng);
                let failing = (outage.fraction.clamp(0.0, 1.0) * up.len() as f64).round() as usize;
                for &worker in &up[..failing] {
                    depart(&mut presence, &mut queue, worker, now_us, churn.noticed_ms);
                    if let Some(after_ms) = outage.back_after_ms {
                        queue.push(Reverse((now_us + after_ms * 1_000, Event::Join { worker })));
                    }
                }
                continue;
            }
            Event::Join { worker } => {
                let churn = scenario.churn.as_ref().expect("churn scheduled the join");
                if trace.len() < scenario.requests && presence.join(worker) {
                    let session = presence.session[worker];
                    let seen = churn_rng.random_range(0..churn.heartbeat_ms.max(1) * 1_000);
                    queue.push(Reverse((now_us + seen, Event::Seen { worker, session })));
                    if churn.uptime_ms > 0.0 {
                        let stay = (exponential(&mut churn_rng, churn.uptime_ms) * 1e3) as u64;
                        queue.push(Reverse((now_us + stay, Event::Leave { worker })));
                    }
                }
                continue;
            }
            Event::Seen { worker, session } | Event::Forget { worker, session } => {
                if presence.current(worker, session) {
                    roster.set_seen(worker, matches!(event, Event::Seen { .. }));
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
                let function = state.function;
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
                    // Gone, but still in the directory: the order reaches nobody. (Whether the
                    // order arrives before a departure scheduled in between is not modelled.)
                    if !presence.up[worker] {
                        orders_to_departed += 1;
                        continue;
                    }
                    let session = presence.session[worker];
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
                        (there, Event::Decline { call: call_index, worker, session })
                    } else {
                        executions += 1;
                        load[worker] += 1;
                        if let Some(ledger) = ledger.as_mut() {
                            ledger.executed(worker, cheats[worker]);
                        }
                        let mut at = there + exec_us;
                        if !roster.holds(function, worker) {
                            fetches += 1;
                            at += (scenario.fetch_ms.max(0.0) * 1e3) as u64;
                            roster.fetched(function, worker);
                        }
                        (at, Event::Result { call: call_index, worker, session })
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
    let pct = |p: f64| crate::report::percentile_ms(&latencies_us, p);
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
        departures: presence.departures,
        orders_to_departed,
        fetches,
        audited: 0,
        slashed: 0,
        honest_slashed: 0,
        honest_profit: 0.0,
        cheater_profit: 0.0,
        live: None,
    };
    let mut run = Run { report, calls: trace, loads: load, cheaters: cheats, epochs: Vec::new() };
    if let Some(ledger) = ledger {
        ledger.settle(&mut run);
    }
    run
}

/// `worker` leaves silently at `now_us`; the gateway's directory forgets it `noticed_ms`
/// later unless it is back by then. False if it was already away.
fn depart(
    presence: &mut Presence,
    queue: &mut BinaryHeap<Reverse<(u64, Event)>>,
    worker: usize,
    now_us: u64,
    noticed_ms: u64,
) -> bool {
    if !presence.leave(worker) {
        return false;
    }
    let session = presence.session[worker];
    queue.push(Reverse((now_us + noticed_ms * 1_000, Event::Forget { worker, session })));
    true
}

#[cfg(test)]
mod tests;
