//! The simulator's behaviour: healing, determinism, cheaters, money, churn and bundles.

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
    let scenario = Scenario { requests: 2_000, racers: 1, crash_rate: 0.2, ..Scenario::default() };
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
    let report = run(&Scenario { requests: 5_000, workers: 10, racers: 1, ..Scenario::default() });
    assert!(report.min_worker_load > 300, "{report:?}");
    assert!(report.max_worker_load < 700, "{report:?}");
}

#[test]
fn holders_race_first_and_a_racer_without_the_bundle_fetches_it_once() {
    let base = Scenario { workers: 200, requests: 2_000, functions: 10, ..Scenario::default() };
    let report = run(&Scenario { holders: 5, ..base.clone() });
    assert_eq!(report.fetches, 0, "five holders, two racers: {report:?}");
    let run = simulate(&Scenario { holders: 5, ..base.clone() });
    assert!(run.loads.iter().filter(|l| **l > 0).count() <= 50, "only holders race");
    // One holder and two racers: each function's first call brings in one more worker,
    // which fetches the bundle and holds it from then on.
    let report = self::run(&Scenario { holders: 1, ..base });
    assert_eq!(report.fetches, 10, "{report:?}");
    assert_eq!(report.answered, 2_000);
}

#[test]
fn churn_costs_orders_to_departed_workers_until_the_directory_forgets_them() {
    let churn = crate::Churn {
        uptime_ms: 2_000.0,
        downtime_ms: 2_000.0,
        noticed_ms: 1_000,
        ..crate::Churn::default()
    };
    let base = Scenario {
        workers: 100,
        requests: 5_000,
        rate_per_s: 500.0,
        racers: 2,
        max_attempts: 4,
        attempt_timeout_ms: 300,
        churn: Some(churn.clone()),
        ..Scenario::default()
    };
    let report = run(&base);
    // Half the workers away at any time, each session 2 s: about 250 departures in 10 s.
    assert!((150..400).contains(&report.departures), "{report:?}");
    assert!(report.orders_to_departed > 0 && report.redispatched > 0, "{report:?}");
    assert!(report.answered >= 4_950, "re-dispatch heals most: {report:?}");
    // A directory that forgets sooner sends fewer orders into the void.
    let sooner =
        Scenario { churn: Some(crate::Churn { noticed_ms: 100, ..churn }), ..base.clone() };
    assert!(run(&sooner).orders_to_departed * 2 < report.orders_to_departed);
    assert_eq!(run(&base), report, "deterministic");
}

#[test]
fn an_outage_of_half_the_workers_is_ridden_out() {
    let outage = crate::Outage { at_ms: 2_000, fraction: 0.5, back_after_ms: Some(2_000) };
    let churn = crate::Churn { outages: vec![outage], ..crate::Churn::default() };
    let scenario = Scenario {
        workers: 100,
        requests: 5_000,
        racers: 1,
        max_attempts: 3,
        attempt_timeout_ms: 500,
        churn: Some(churn),
        ..Scenario::default()
    };
    let report = run(&scenario);
    assert_eq!(report.departures, 50, "{report:?}");
    assert!(report.orders_to_departed > 0, "{report:?}");
    // A call fails only if its three racers in a row were among the fallen before the
    // directory forgot them (3 s): at most an eighth of the 3,000 calls of that window.
    assert!(report.timed_out < 375, "{report:?}");
    assert_eq!(report.answered + report.timed_out, 5_000);
    let mut sooner = scenario.clone();
    sooner.churn.as_mut().unwrap().noticed_ms = 300;
    let sooner = run(&sooner);
    assert!(sooner.timed_out * 4 < report.timed_out, "{sooner:?} {report:?}");
}

#[test]
fn a_thousand_workers_with_churn_and_bundles_held_by_a_few() {
    let churn =
        crate::Churn { uptime_ms: 5_000.0, downtime_ms: 5_000.0, ..crate::Churn::default() };
    let scenario = Scenario {
        workers: 1_000,
        requests: 10_000,
        functions: 50,
        holders: 20,
        hot_share: 0.3,
        max_attempts: 4,
        attempt_timeout_ms: 500,
        churn: Some(churn),
        ..Scenario::default()
    };
    let report = run(&scenario);
    assert!(report.departures > 500, "{report:?}");
    assert!(report.answered >= 9_900, "{report:?}");
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
    let verified = Scenario { racers: 3, quorum: 2, max_escalations: 2, max_attempts: 4, ..fast };
    let report = run(&verified);
    assert_eq!(report.slashed, 10, "{report:?}");
    assert_eq!(report.honest_slashed, 0, "{report:?}");
}
