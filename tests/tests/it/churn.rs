//! Churn without loss, with real worker processes on a real chain: under a steady load, half
//! the worker processes are killed with SIGKILL and fresh ones join. Every call gets its
//! answer or a typed error within its deadline, no request id is answered twice, the calls
//! the dead workers held are re-dispatched and answered by the living, and the joiners take
//! their share. `PEERHOST_SLOW=1` runs more rounds of churn under more callers.

use std::{collections::HashSet, time::Duration};

use peerhost_tests::{
    TestNet, fast_chain, get,
    load::{Call, Load, Outcome, Request},
    poll_until, project,
};

use super::processes::{Volunteer, bonded_workers, volunteer};

/// Worker processes at the start; half of them are killed in each round.
const WORKERS: usize = 6;
/// How long the function runs per call.
const WORK_MS: u64 = 300;
/// Each call's deadline: above the gateway's own (two attempts of the function's 2 s timeout
/// plus the 1.5 s slack), so every call must end with an answer or the gateway's typed error.
const DEADLINE: Duration = Duration::from_secs(12);
/// How long a gateway may keep racing a dead worker it never had a connection to (the
/// node's worker TTL: it is raced until its heartbeats expire).
const WORKER_TTL: Duration = Duration::from_secs(10);

fn slow() -> bool {
    std::env::var_os("PEERHOST_SLOW").is_some()
}

/// The gateway's count of re-dispatched attempts.
async fn redispatched(net: &TestNet) -> u64 {
    let health = get(&format!("{}/healthz", net.net.gateway_url())).await.json();
    health["redispatched"].as_u64().expect("healthz counts re-dispatches")
}

/// Answers that ended after `from` (load time) by any of `workers`.
fn answered_by(calls: &[Call], workers: &HashSet<String>, from: Duration) -> usize {
    calls
        .iter()
        .filter(|c| c.ended > from)
        .filter(
            |c| matches!(&c.outcome, Outcome::Answered { worker, .. } if workers.contains(worker)),
        )
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_workers_lose_no_call_and_joining_workers_take_over() {
    let (rounds, callers) = if slow() { (3, 10) } else { (1, 6) };
    // One racer per call, so a call whose racer dies can only be answered by a re-dispatch.
    let net = TestNet::start(1, |options| {
        options.gateway.fast_racers = 1;
        options.chain = Some(fast_chain(false, 0.0));
    })
    .await;
    let settings = "[functions.work]\ntimeout_ms = 2000\n";
    let project = project("churn", &[("work", "fixture")], settings);
    net.deploy(project.path()).await;
    let mut workers: Vec<Volunteer> = (0..WORKERS).map(|_| volunteer(&net, None, true)).collect();
    bonded_workers(&net, 1 + WORKERS as u64).await;

    let url = net.url("churn", "work");
    let load = Load::start(callers, DEADLINE, move |caller, n| {
        Request::get(format!("{url}/c{caller}/n{n}?mode=sleep&ms={WORK_MS}"))
    });
    let mut killed = HashSet::new();
    let mut kills = Vec::new();
    for round in 0..rounds {
        let warm = load.calls().len() + 2 * callers;
        poll_until("the load is under way", Duration::from_secs(60), || async {
            (load.calls().len() >= warm).then_some(())
        })
        .await;
        let before = redispatched(&net).await;
        let kill_at = load.elapsed();
        for victim in workers.drain(..WORKERS / 2) {
            killed.insert(victim.peer.clone());
            victim.kill();
        }
        kills.push(kill_at);
        let joiners: Vec<Volunteer> =
            (0..WORKERS / 2).map(|_| volunteer(&net, None, true)).collect();
        let fresh: HashSet<String> = joiners.iter().map(|j| j.peer.clone()).collect();
        workers.extend(joiners);

        // The calls the dead held went to other workers; every later call to the living.
        poll_until(&format!("round {round}: a call is re-dispatched"), DEADLINE, || async {
            (redispatched(&net).await > before).then_some(())
        })
        .await;
        poll_until(&format!("round {round}: the joiners answer"), Duration::from_secs(90), || {
            let calls = load.calls();
            let joined = answered_by(&calls, &fresh, kill_at);
            let after = calls.iter().filter(|c| c.sent > kill_at).count();
            async move { (joined >= 2 && after >= 4 * callers).then_some(()) }
        })
        .await;
    }
    let calls = load.stop().await;

    let mut ids = HashSet::new();
    let (mut answered, mut refused) = (0, Vec::new());
    for call in &calls {
        let took = call.ended - call.sent;
        assert!(took <= DEADLINE, "call {}/{} took {took:?}", call.caller, call.seq);
        match &call.outcome {
            Outcome::Answered { status, request_id, worker, .. } => {
                assert_eq!(*status, 200);
                assert!(ids.insert(request_id.clone()), "request {request_id} answered twice");
                // A killed worker cannot answer a call sent after it died.
                let after_a_kill = kills.iter().any(|&at| call.sent > at);
                if after_a_kill {
                    assert!(!killed.contains(worker), "a dead worker answered {request_id}");
                }
                answered += 1;
            }
            Outcome::Refused { status, code } => {
                // Only a kill explains a failed call: both its racers died, or it raced a dead
                // worker the gateway had not yet forgotten.
                let near_a_kill =
                    kills.iter().any(|&at| call.ended > at && call.sent < at + WORKER_TTL);
                assert!(near_a_kill, "a call failed away from any kill: {call:?}");
                refused.push((*status, code.clone()));
            }
            other => panic!(
                "call {}/{}: neither answer nor typed error: {other:?}",
                call.caller, call.seq
            ),
        }
    }
    // Calls in flight when their workers died were answered all the same.
    for &at in &kills {
        let spanning = calls.iter().filter(|c| c.sent < at && c.ended > at);
        assert!(spanning.clone().count() > 0, "no call was in flight at a kill");
        for call in spanning {
            assert!(
                matches!(call.outcome, Outcome::Answered { .. } | Outcome::Refused { .. }),
                "{call:?}"
            );
        }
    }
    eprintln!("churn: {} calls, {answered} answered, refused {refused:?}", calls.len());
    assert!(refused.len() <= rounds * callers, "more calls failed than were at risk: {refused:?}");
}
