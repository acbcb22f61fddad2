//! Failures: a worker killed mid-run, no worker answering, functions that trap or spin.

use std::time::Duration;

use peerhost_tests::{TestNet, get, project};

const SETTINGS: &str = "[defaults]\ntimeout_ms = 4000\n[functions.spin]\nfuel = 50000000\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_killed_mid_run_is_replaced() {
    // One racer per attempt, so only a re-dispatch can save the call.
    let mut net = TestNet::start(3, |o| o.gateway.fast_racers = 1).await;
    let dir = project("slow", &[("sleep", "fixture")], "[defaults]\ntimeout_ms = 4000\n");
    net.deploy(dir.path()).await;

    let url = format!("{}?mode=sleep&ms=1500", net.url("slow", "sleep"));
    let call = tokio::spawn(async move { get(&url).await });

    // Wait until some worker is running it, then kill that worker.
    let victim = loop {
        if let Some(i) = net.net.workers.iter().position(|w| w.active_jobs() > 0) {
            break i;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let killed = net.net.workers.remove(victim);
    let killed_id = killed.peer_id().to_string();
    killed.kill();

    let reply = call.await.expect("call task");
    assert_eq!(reply.status, 200, "{}", String::from_utf8_lossy(&reply.body));
    assert_eq!(&reply.body[..], b"slept");
    let answered_by = reply.header("x-peerhost-worker").expect("worker header");
    assert_ne!(answered_by, killed_id, "the killed worker cannot have answered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn function_deadline_is_a_typed_504() {
    let net = TestNet::start(1, |_| {}).await;
    let dir = project("late", &[("sleep", "fixture")], "[defaults]\ntimeout_ms = 200\n");
    net.deploy(dir.path()).await;
    let started = std::time::Instant::now();
    let reply = get(&format!("{}?mode=sleep&ms=10000", net.url("late", "sleep"))).await;
    // The sandbox's epoch deadline stops the guest: a typed error, not a hang.
    assert_eq!(reply.status, 504, "{}", String::from_utf8_lossy(&reply.body));
    assert_eq!(reply.json()["error"], "deadline_exceeded");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_worker_means_redispatch_then_504() {
    let net = TestNet::start(0, |o| o.gateway.slack_ms = 300).await;
    let dir = project("mute", &[("echo", "echo")], "[defaults]\ntimeout_ms = 300\n");
    let deployed = net.deploy(dir.path()).await;
    // A node that claims to be a worker and hears requests but never answers.
    let silent = crate::silent::SilentWorker::join(&net, &deployed.record).await;

    let started = std::time::Instant::now();
    let reply = get(&net.url("mute", "echo")).await;
    assert_eq!(reply.status, 504, "{}", String::from_utf8_lossy(&reply.body));
    let error = reply.json();
    assert_eq!(error["error"], "timeout");
    assert_eq!(error["request_id"].as_str().map(str::len), Some(64));
    // Two attempts of 600 ms each.
    assert!(started.elapsed() >= Duration::from_millis(1_100), "{:?}", started.elapsed());
    assert_eq!(silent.attempts_seen().await, vec![0, 1], "dispatched, then re-dispatched once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_workers_gone_means_504_json() {
    let mut net = TestNet::start(1, |o| o.gateway.slack_ms = 200).await;
    let dir = project("gone", &[("echo", "echo")], "[defaults]\ntimeout_ms = 300\n");
    net.deploy(dir.path()).await;
    assert_eq!(get(&net.url("gone", "echo")).await.status, 200);
    for worker in net.net.workers.drain(..) {
        worker.kill();
    }
    let started = std::time::Instant::now();
    let reply = get(&net.url("gone", "echo")).await;
    assert!(matches!(reply.status, 503 | 504), "{} {:?}", reply.status, reply.body);
    let error = reply.json();
    assert!(error["error"] == "timeout" || error["error"] == "unavailable", "{error}");
    assert!(started.elapsed() < Duration::from_secs(10), "answered promptly, never hung");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_functions_get_typed_errors_and_workers_survive() {
    let net = TestNet::start(1, |_| {}).await;
    let dir = project("hostile", &[("spin", "fixture"), ("echo", "echo")], SETTINGS);
    net.deploy(dir.path()).await;

    let reply = get(&format!("{}?mode=trap", net.url("hostile", "spin"))).await;
    assert_eq!(reply.status, 500);
    assert_eq!(reply.json()["error"], "trap");
    assert_eq!(reply.header("x-peerhost-error"), Some("trap"));

    let reply = get(&format!("{}?mode=loop", net.url("hostile", "spin"))).await;
    assert_eq!(reply.status, 500);
    assert_eq!(reply.json()["error"], "fuel_exhausted");

    let reply = get(&format!("{}?mode=alloc&mb=512", net.url("hostile", "spin"))).await;
    assert_eq!(reply.status, 500);
    assert_eq!(reply.json()["error"], "memory_limit");

    // The worker is unharmed.
    assert_eq!(get(&net.url("hostile", "echo")).await.status, 200);
}
