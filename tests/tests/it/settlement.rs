//! Settlement end to end on a real anvil: requests served through the mesh → the gateway
//! anchors the epoch → each worker claims its reward → balances add up.

use std::time::Duration;

use alloy::{
    primitives::U256,
    providers::{Provider as _, ext::AnvilApi as _},
    rpc::types::anvil::ReorgOptions,
};
use peerhost_node::{devnet::DevnetChainOptions, dispatch::BondRole, worker::Byzantine};
use peerhost_tests::{TestNet, fast_chain, get, project};

/// Devnet chain settings for tests: 2-second epochs, quick ticks.
/// Each worker's token balance.
async fn balances(net: &TestNet) -> Vec<U256> {
    let mut all = Vec::new();
    for worker in &net.net.workers {
        let client = worker.chain().unwrap();
        all.push(client.token_balance(client.address()).await.unwrap());
    }
    all
}

/// Sum of what the workers earned since `before`.
async fn earned(net: &TestNet, before: &[U256]) -> U256 {
    let now = balances(net).await;
    now.iter().zip(before).map(|(now, before)| *now - *before).sum()
}

/// Waits until the workers earned exactly `paid` since `before`, never more.
async fn wait_until_paid(net: &TestNet, before: &[U256], paid: U256, what: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let now = earned(net, before).await;
        assert!(now <= paid, "{what}: paid {now}, more than served");
        if now == paid {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{what}: only {now} paid after 60 s");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// 0.001 USDC per request won (devnet parameters), in token units.
const RATE: u64 = 1_000;
/// 0.00025 USDC per assist: a losing racer's agreeing receipt (devnet parameters).
const ASSIST: u64 = 250;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn served_requests_are_anchored_and_paid_winners_and_agreeing_losers_alike() {
    // Both workers race every call: one wins it, the other's agreeing result is an assist.
    let net = TestNet::start(2, |options| {
        options.gateway.fast_racers = 2;
        options.chain = Some(fast_chain(true, 0.1));
    })
    .await;
    let chain = net.net.chain.as_ref().expect("settles on a chain");
    let project = project("paid", &[("echo", "echo")], "");
    net.net.deploy(project.path()).await.unwrap();

    let before = balances(&net).await;
    for worker in &net.net.workers {
        let client = worker.chain().unwrap();
        let stake = client.stake_in(BondRole::Worker, client.address()).await.unwrap();
        assert_eq!(stake.bonded, 50_000_000, "devnet workers are bonded");
    }
    let calls = 6;
    for i in 0..calls {
        let url = format!("{}/e?i={i}", net.net.function_url("paid", "echo"));
        assert_eq!(get(&url).await.status, 200);
    }

    // Within a few epochs: anchored, and the workers' rewards claimed — the loser of each
    // race too, at the assist rate.
    let per_call = U256::from(RATE + ASSIST);
    wait_until_paid(&net, &before, per_call * U256::from(calls), "served").await;
    assert!(net.net.gateway.anchored_epochs() >= 1);
    let now = balances(&net).await;
    for (i, (now, before)) in now.iter().zip(&before).enumerate() {
        assert!(now > before, "worker {i} raced every call and was paid nothing");
    }
    // The treasury paid exactly what was served; what it still holds back is the assist room
    // nobody used (two assists per call are funded, one was earned), until the claim window
    // ends.
    let coordinator = chain.admin.coordinator();
    let treasury = coordinator.treasury().call().await.unwrap();
    let reserved = coordinator.totalReserved().call().await.unwrap();
    assert_eq!(treasury + reserved, U256::from(1_000_000_000u64) - per_call * U256::from(calls));
    assert_eq!(reserved, U256::from(ASSIST) * U256::from(calls));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cheating_worker_is_slashed_and_only_the_cheater() {
    // Worker 0 validates; worker 2 returns wrong results; every receipt is audited.
    let net = TestNet::start(3, |options| {
        options.byzantine = vec![Byzantine::WrongResult];
        options.gateway.fast_racers = 1;
        options.chain = Some(fast_chain(true, 1.0));
    })
    .await;
    let project = project("audited", &[("echo", "echo")], "");
    net.net.deploy(project.path()).await.unwrap();

    let cheater = net.net.workers[2].peer_id().to_string();
    let honest = net.net.workers[1].peer_id().to_string();
    let (mut cheats, mut honest_wins) = (0, 0);
    for i in 0..24 {
        let reply = get(&format!("{}/e?i={i}", net.net.function_url("audited", "echo"))).await;
        assert_eq!(reply.status, 200);
        let won_by = |peer: &str| reply.headers.get("x-peerhost-worker").is_some_and(|w| w == peer);
        if won_by(&cheater) {
            cheats += 1;
        }
        if won_by(&honest) {
            honest_wins += 1;
        }
    }
    assert!(cheats > 0, "the cheater won no call; nothing to catch");

    let bond = 50_000_000u128;
    let stake = |i: usize| {
        let client = net.net.workers[i].chain().unwrap().clone();
        async move { client.stake_in(BondRole::Worker, client.address()).await.unwrap().bonded }
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while stake(2).await == bond {
        assert!(tokio::time::Instant::now() < deadline, "the cheater was not slashed within 60 s");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(stake(2).await < bond, "the cheater lost stake");
    // Once every audit of the honest worker's receipts was decided, nobody else was touched.
    // (The cheater's later receipts may go unaudited: slashed below the minimum bond, it is
    // neither raced nor paid any more.)
    let validator = &net.net.workers[0];
    let honest_account = net.net.workers[1].chain().unwrap().address();
    peerhost_tests::poll_until(
        "the validator decides every audit of the honest worker",
        Duration::from_secs(60),
        || async { (validator.audits_decided(honest_account) >= honest_wins).then_some(()) },
    )
    .await;
    assert_eq!(stake(0).await, bond, "the validator kept its bond");
    assert_eq!(stake(1).await, bond, "the honest worker kept its bond");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_that_copies_a_colluder_is_slashed_like_the_colluder() {
    // Worker 0 validates, 1 is honest, 2 returns wrong results and 3 copies them as its own;
    // all four race every call and every receipt is audited.
    let net = TestNet::start(4, |options| {
        options.byzantine = vec![Byzantine::WrongResult, Byzantine::Copy];
        options.gateway.fast_racers = 4;
        options.chain = Some(fast_chain(true, 1.0));
    })
    .await;
    let project = project("copied", &[("echo", "echo")], "");
    net.net.deploy(project.path()).await.unwrap();
    let calls: u64 = 8;
    for i in 0..calls {
        let reply = get(&format!("{}/e?i={i}", net.net.function_url("copied", "echo"))).await;
        assert_eq!(reply.status, 200);
    }

    let bond = 50_000_000u128;
    let stake = |i: usize| {
        let client = net.net.workers[i].chain().unwrap().clone();
        async move { client.stake_in(BondRole::Worker, client.address()).await.unwrap().bonded }
    };
    // The copier's receipt commits to a wrong result under its own key: whether it agreed
    // with a wrong winner (an assist, anchored and audited) or dissented from a right one (a
    // disagreement, audited), re-execution exposes it.
    for (i, who) in [(2, "the cheater"), (3, "the copier")] {
        peerhost_tests::poll_until(
            &format!("{who} is slashed"),
            Duration::from_secs(60),
            || async { (stake(i).await < bond).then_some(()) },
        )
        .await;
    }
    // Every honest receipt was audited too (as a win, an assist or a dissent); once all of
    // them are decided, nobody honest lost anything.
    let validator = &net.net.workers[0];
    let honest_account = net.net.workers[1].chain().unwrap().address();
    peerhost_tests::poll_until(
        "the validator decides every audit of the honest worker",
        Duration::from_secs(60),
        || async { (validator.audits_decided(honest_account) >= calls).then_some(()) },
    )
    .await;
    assert_eq!(stake(0).await, bond, "the validator kept its bond");
    assert_eq!(stake(1).await, bond, "the honest worker kept its bond");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reorg_that_drops_the_anchor_neither_loses_nor_double_pays() {
    let net = TestNet::start(2, |options| {
        options.gateway.fast_racers = 1;
        options.chain = Some(fast_chain(false, 0.0));
    })
    .await;
    let admin = &net.net.chain.as_ref().unwrap().admin;
    let project = project("reorged", &[("echo", "echo")], "");
    net.net.deploy(project.path()).await.unwrap();
    let before = balances(&net).await;
    let fork_point = admin.provider().get_block_number().await.unwrap();

    let calls = 4u64;
    for i in 0..calls {
        let url = format!("{}/e?i={i}", net.net.function_url("reorged", "echo"));
        assert_eq!(get(&url).await.status, 200);
    }
    let paid = U256::from(RATE) * U256::from(calls);
    wait_until_paid(&net, &before, paid, "before the reorg").await;

    // Drop every block since the requests were served: the anchor and the claims go with them.
    let depth = admin.provider().get_block_number().await.unwrap() - fork_point;
    admin.provider().anvil_reorg(ReorgOptions { depth, tx_block_pairs: vec![] }).await.unwrap();
    assert!(earned(&net, &before).await < paid, "the reorg undid the claims");

    // The gateway anchors again, the workers claim again: paid exactly once. The proof that
    // no late claim follows: one more call is anchored in a later epoch and paid, by which time
    // the re-anchored epoch's summaries stopped repeating.
    wait_until_paid(&net, &before, paid, "after the reorg").await;
    let url = format!("{}/e?i=after", net.net.function_url("reorged", "echo"));
    assert_eq!(get(&url).await.status, 200);
    let paid = paid + U256::from(RATE);
    wait_until_paid(&net, &before, paid, "nothing paid twice").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_spamming_its_free_function_gets_no_more_than_the_treasury_budget() {
    use alloy::{rpc::types::Filter, sol_types::SolEvent as _};
    use peerhost_contracts::ExecutionCoordinator::RequestsAnchored;
    use peerhost_node::chain::events::{Followed, follow};

    // The owner runs the gateway and the workers; the treasury funds 3 of its calls an epoch.
    let net = TestNet::start(2, |options| {
        options.gateway.fast_racers = 1;
        options.chain =
            Some(DevnetChainOptions { owner_budget: Some(3), ..fast_chain(false, 0.0) });
    })
    .await;
    let admin = net.net.chain.as_ref().unwrap().admin.clone();
    let project = project("spam", &[("echo", "echo")], "");
    net.net.deploy(project.path()).await.unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let stop = tokio_util::sync::CancellationToken::new();
    let filter = Filter::new()
        .address(*admin.coordinator().address())
        .event_signature(RequestsAnchored::SIGNATURE_HASH);
    let follower = tokio::spawn({
        let stop = stop.clone();
        async move {
            follow(&admin, filter, 0, stop, |followed| {
                if let Followed::Log(log) = followed {
                    let e = log.log_decode::<RequestsAnchored>().unwrap().inner.data;
                    let _ = tx.send((e.count, e.funded));
                }
            })
            .await;
        }
    });

    let before = balances(&net).await;
    let calls = 20u32;
    for i in 0..calls {
        let url = format!("{}/e?i={i}", net.net.function_url("spam", "echo"));
        assert_eq!(get(&url).await.status, 200);
    }
    let (mut anchored, mut funded) = (0, 0);
    while anchored < calls {
        let (count, paid_for) =
            tokio::time::timeout(Duration::from_secs(60), rx.recv()).await.unwrap().unwrap();
        assert!(paid_for <= 3 && paid_for <= count, "an epoch funded {paid_for} of {count}");
        anchored += count;
        funded += paid_for;
    }
    assert_eq!(anchored, calls, "every served call was anchored");
    assert!(funded < calls, "the budget bound: {funded} of {calls} funded");
    wait_until_paid(&net, &before, U256::from(RATE) * U256::from(funded), "budgeted").await;
    stop.cancel();
    follower.await.unwrap();
}
