//! Live mode end to end: a small scenario on real nodes in this process (memory links under
//! the scenario's latency, gossip, dispatch links, stand-in workers, an HTTP gateway).

use peerhost_simnet::{Latency, Live, Network, Scenario, run_live};

#[test]
fn a_small_live_network_answers_every_call() {
    let scenario = Scenario {
        workers: 12,
        requests: 40,
        rate_per_s: 20.0,
        holders: 4,
        network: Network { latency: Latency::Fixed { ms: 1.0 }, ..Network::default() },
        // Four workers prefetch the bundle (and beat again once they hold it); the others'
        // beats are a minute apart: the network forms within the timeout only because a
        // worker whose first beat found nobody listening tries again once it has peers.
        live: Some(Live {
            heartbeat_ms: 60_000,
            worker_ttl_ms: 120_000,
            form_timeout_s: 40,
            mesh_degree: 4,
            ..Live::default()
        }),
        ..Scenario::default()
    };
    let run = run_live(&scenario, |_| {}, |_| {}).expect("the live run completes");
    let live = run.report.live.as_ref().expect("live stats");
    assert_eq!(live.nodes, 14);
    assert_eq!(live.seen_workers, 12);
    assert_eq!(run.report.answered, 40, "{:?}", run.report);
    assert_eq!(run.calls.len(), 40);
    assert_eq!(run.loads.len(), 12);
    assert!(run.loads.iter().sum::<usize>() >= 40, "every call raced somewhere");
    assert!(live.worker_kb_per_s > 0.0, "the fault model counted the traffic");
}

#[test]
fn live_mode_refuses_what_it_does_not_model() {
    let scenario = Scenario {
        churn: Some(peerhost_simnet::Churn::default()),
        live: Some(Live::default()),
        ..Scenario::default()
    };
    let error = run_live(&scenario, |_| {}, |_| {}).unwrap_err();
    assert!(error.to_string().contains("[churn]"), "{error}");
}
