//! Settlement end to end on a real anvil: requests served through the mesh → the gateway
//! anchors the epoch → each worker claims its reward → balances add up.

use std::time::Duration;

use alloy::primitives::U256;
use peerhost_node::devnet::DevnetChainOptions;
use peerhost_tests::{TestNet, get, project};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn served_requests_are_anchored_and_paid() {
    let net = TestNet::start(2, |options| {
        options.chain = Some(DevnetChainOptions {
            epoch_length_s: 2,
            tick: Duration::from_millis(250),
            ..DevnetChainOptions::default()
        });
    })
    .await;
    let chain = net.net.chain.as_ref().expect("settles on a chain");
    let project = project("paid", &[("echo", "echo")], "");
    net.net.deploy(project.path()).await.unwrap();

    let mut balances = Vec::new();
    for worker in &net.net.workers {
        let client = worker.chain().unwrap();
        balances.push(client.token_balance(client.address()).await.unwrap());
        let stake = client.stake(client.address()).await.unwrap();
        assert_eq!(stake.bonded, 50_000_000, "devnet workers are bonded");
    }
    let calls = 6;
    for i in 0..calls {
        let url = format!("{}/e?i={i}", net.net.function_url("paid", "echo"));
        assert_eq!(get(&url).await.status, 200);
    }

    // Within a few epochs: anchored, and the workers' rewards claimed.
    let rate = U256::from(1_000u64); // 0.001 USDC per request (devnet parameters)
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let mut earned = U256::ZERO;
        for (worker, before) in net.net.workers.iter().zip(&balances) {
            let client = worker.chain().unwrap();
            earned += client.token_balance(client.address()).await.unwrap() - *before;
        }
        if earned == rate * U256::from(calls) {
            break;
        }
        assert!(earned < rate * U256::from(calls), "paid more than served: {earned}");
        assert!(tokio::time::Instant::now() < deadline, "only {earned} paid after 60 s");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(net.net.gateway.anchored_epochs() >= 1);
    // Every reserved reward was claimed; the treasury paid exactly the requests served.
    let treasury = chain.admin.coordinator().treasury().call().await.unwrap();
    assert_eq!(treasury, U256::from(1_000_000_000u64) - rate * U256::from(calls));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cheating_worker_is_slashed_and_only_the_cheater() {
    // Worker 0 validates; worker 2 returns wrong results; every receipt is audited.
    let net = TestNet::start(3, |options| {
        options.cheaters = 1;
        options.gateway.fast_racers = 1;
        options.chain = Some(DevnetChainOptions {
            epoch_length_s: 2,
            tick: Duration::from_millis(250),
            audit_fraction: 1.0,
            validator: true,
            ..DevnetChainOptions::default()
        });
    })
    .await;
    let project = project("audited", &[("echo", "echo")], "");
    net.net.deploy(project.path()).await.unwrap();

    let cheater = net.net.workers[2].peer_id().to_string();
    let mut cheats = 0;
    for i in 0..24 {
        let reply = get(&format!("{}/e?i={i}", net.net.function_url("audited", "echo"))).await;
        assert_eq!(reply.status, 200);
        if reply.headers.get("x-peerhost-worker").is_some_and(|w| w == cheater.as_str()) {
            cheats += 1;
        }
    }
    assert!(cheats > 0, "the cheater won no call; nothing to catch");

    let bond = 50_000_000u128;
    let stake = |i: usize| {
        let client = net.net.workers[i].chain().unwrap().clone();
        async move { client.stake(client.address()).await.unwrap().bonded }
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while stake(2).await == bond {
        assert!(tokio::time::Instant::now() < deadline, "the cheater was not slashed within 60 s");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(stake(2).await < bond, "the cheater lost stake");
    // Let the rest of the audits run, then check nobody else was touched.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(stake(0).await, bond, "the validator kept its bond");
    assert_eq!(stake(1).await, bond, "the honest worker kept its bond");
}
