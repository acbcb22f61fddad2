//! The operator's say over a worker: only the workers likely to race for a bundle prefetch
//! it, a disk quota evicts the least recently used bundle (never one in use, never a component
//! another bundle shares), a worker serves only the owners and bundle sizes its operator
//! allows, and `peerhost-node status` reports it all.

use std::{process::Command, time::Duration};

use bytes::Bytes;
use peerhost_node::{
    sandbox::{Sandbox, SandboxConfig},
    worker::{WorkerPolicy, prefetch_rank},
};
use peerhost_protocol::{BlobHash, NodeKey, Owner};
use peerhost_tests::{TestNet, get, guest, poll_until, process::peerhost_bin, project};

/// The disk one bundle of the `echo` guest takes at a worker: the component and its
/// compiled artifact (compiled here with the same engine).
async fn echo_bundle_bytes() -> u64 {
    let dir = tempfile::tempdir().unwrap();
    let sandbox = Sandbox::new(SandboxConfig {
        max_instances: 1,
        cache_dir: Some(dir.path().to_owned()),
        ..SandboxConfig::default()
    })
    .unwrap();
    let bytes = Bytes::from(std::fs::read(guest("echo")).unwrap());
    sandbox.prepare(BlobHash::of(&bytes), || bytes.clone()).await.unwrap();
    let compiled: u64 = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".cwasm"))
        .map(|e| e.metadata().unwrap().len())
        .sum();
    bytes.len() as u64 + compiled
}

/// The bundles a node's latest heartbeat lists, as the gateway heard it.
fn held(net: &TestNet, key: &NodeKey) -> Vec<BlobHash> {
    let directory = net.net.gateway.view().directory.read().unwrap();
    directory.get(key).map(|w| w.heartbeat.bundles.clone()).unwrap_or_default()
}

/// Waits for a heartbeat of `key` newer than the one the gateway has now.
async fn next_heartbeat(net: &TestNet, key: &NodeKey) {
    let seq = |net: &TestNet| {
        let directory = net.net.gateway.view().directory.read().unwrap();
        directory.get(key).map_or(0, |w| w.heartbeat.seq)
    };
    let before = seq(net);
    poll_until("a fresh heartbeat", Duration::from_secs(10), || async {
        (seq(net) > before).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_likely_racers_prefetch_a_bundle() {
    let net = TestNet::start(4, |options| {
        options.worker.policy.prefetch_rank = Some(2);
        options.replicas = Some(2);
    })
    .await;
    let dir = project("ranked", &[("echo", "echo")], "");
    let deployed = net.deploy(dir.path()).await;
    let keys: Vec<NodeKey> = net.net.workers.iter().map(|w| w.node_key()).collect();
    for key in &keys {
        next_heartbeat(&net, key).await;
    }
    let bundle = deployed.record.bundle;
    let holders: Vec<&NodeKey> = keys.iter().filter(|k| held(&net, k).contains(&bundle)).collect();
    let expected: Vec<&NodeKey> =
        keys.iter().filter(|k| prefetch_rank(&bundle, k, &keys) < 2).collect();
    assert_eq!(holders, expected, "exactly the first two by rank hold it");
    // The others fetch it when they are asked: every call is answered.
    for i in 0..8 {
        assert_eq!(get(&format!("{}?i={i}", net.url("ranked", "echo"))).await.status, 200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disk_quota_evicts_the_least_recently_used_bundle() {
    let one = echo_bundle_bytes().await;
    let net = TestNet::start(1, |options| {
        options.worker.policy.disk_quota_bytes = Some(one * 5 / 2);
    })
    .await;
    let projects: Vec<_> =
        ["first", "second", "third"].iter().map(|p| project(p, &[("echo", "echo")], "")).collect();
    let first = net.deploy(projects[0].path()).await.record.bundle;
    let second = net.deploy(projects[1].path()).await.record.bundle;
    // Use the first again: the second is now the least recently used.
    assert_eq!(get(&net.url("first", "echo")).await.status, 200);
    let third = net.deploy(projects[2].path()).await.record.bundle;
    let worker = &net.net.workers[0];
    let status = worker.worker_status().await.unwrap();
    let bundles: Vec<String> = status.bundles.iter().map(|b| b.bundle.clone()).collect();
    assert_eq!(bundles, [third.to_string(), first.to_string()], "the second was evicted");
    assert!(status.disk_bytes <= one * 5 / 2, "{} > quota", status.disk_bytes);
    // The three share one component: its compiled artifact stays for the two still held.
    let cache = net.compile_cache();
    let artifacts = std::fs::read_dir(&cache).unwrap().filter_map(Result::ok);
    assert!(artifacts.into_iter().any(|e| e.file_name().to_string_lossy().ends_with(".cwasm")));
    // An evicted bundle is fetched again when it is called.
    assert_eq!(get(&net.url("second", "echo")).await.status, 200);
    assert!(
        worker
            .worker_status()
            .await
            .unwrap()
            .bundles
            .iter()
            .any(|b| b.bundle == second.to_string())
    );

    // `peerhost-node status` reads what the worker reported.
    next_heartbeat(&net, &worker.node_key()).await;
    let out = Command::new(peerhost_bin())
        .args(["status", "--data-dir"])
        .arg(net.data_dir("worker-0"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains(&format!("worker {} (running", worker.peer_id())), "{text}");
    assert!(text.lines().any(|l| l.starts_with("bundles 2 (")), "{text}");
    assert!(text.contains("bonded no chain"), "{text}");
    assert!(text.lines().any(|l| l.starts_with("calls raced ")), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_serves_only_what_its_operator_allows() {
    let net = TestNet::start(1, |options| options.gateway.fast_racers = 3).await;
    let someone_else: Owner = format!("0x{}", "42".repeat(20)).parse().unwrap();
    let others = net
        .net
        .start_worker_with("other-owners", |config| {
            if let Some(worker) = config.worker.as_mut() {
                worker.policy = WorkerPolicy { owners: vec![someone_else], ..Default::default() };
            }
        })
        .await
        .unwrap();
    let small = net
        .net
        .start_worker_with("small-bundles", |config| {
            if let Some(worker) = config.worker.as_mut() {
                worker.policy = WorkerPolicy { max_bundle_bytes: Some(1024), ..Default::default() };
            }
        })
        .await
        .unwrap();
    let gateway = &net.net.gateway;
    poll_until("the gateway sees all three workers", Duration::from_secs(20), || async {
        (net.net.live_workers() == 3).then_some(())
    })
    .await;
    let dir = project("picky", &[("echo", "echo")], "");
    let deployed = net.deploy(dir.path()).await;
    let serving = net.net.workers[0].peer_id().to_string();
    for i in 0..10 {
        let reply = get(&format!("{}?i={i}", net.url("picky", "echo"))).await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.header("x-peerhost-worker"), Some(serving.as_str()));
    }
    for node in [&others, &small] {
        next_heartbeat(&net, &node.node_key()).await;
        assert!(!held(&net, &node.node_key()).contains(&deployed.record.bundle));
        let status = node.worker_status().await.unwrap();
        assert_eq!((status.calls_served, status.bundles.len()), (0, 0));
        assert!(status.calls_raced > 0, "it was asked, and declined");
    }
    let _ = gateway;
}
