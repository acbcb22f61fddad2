//! Trust on an open network, end to end on a real anvil with the real coordinator: only
//! bonded workers race, a function's `min_bond` is honoured, a volunteer races once it bonds,
//! and a gateway without a bond gets no work done.

use std::time::Duration;

use alloy::primitives::U256;
use peerhost_node::{
    chain::deploy::USDC,
    devnet::DevnetChainOptions,
    dispatch::{BondRole, Trust},
    mesh,
};
use peerhost_tests::{TestNet, get, poll_until, project};

/// Two-second epochs, quick ticks, no validator.
fn fast_chain() -> DevnetChainOptions {
    DevnetChainOptions {
        epoch_length_s: 2,
        tick: Duration::from_millis(250),
        validator: false,
        audit_fraction: 0.0,
        ..DevnetChainOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_bonded_workers_race_and_a_volunteer_races_once_bonded() {
    let net = TestNet::start(2, |options| options.chain = Some(fast_chain())).await;
    let chain = net.net.chain.as_ref().expect("settles on a chain");
    let project = project(
        "trusted",
        &[("echo", "echo"), ("big", "echo")],
        "[functions.big]\nmin_bond = \"1000\"\n",
    );
    net.deploy(project.path()).await;
    let health_url = format!("{}/healthz", net.net.gateway_url());
    let trust = poll_until("the gateway reads the bonded set", Duration::from_secs(30), || async {
        let health = get(&health_url).await.json();
        (health["trust"]["synced"] == true).then(|| health["trust"].clone())
    })
    .await;
    assert_eq!(trust["mode"], "bonded");
    assert_eq!(trust["gateway_bonded"], true);
    assert_eq!(trust["bonded_workers"], 2);

    // A volunteer joins with no bond and holds the bundle, so only the bond keeps it out.
    let stranger = net.net.start_worker("stranger").await.unwrap();
    let key = stranger.node_key();
    let peer = mesh::peer_id(&key).unwrap().to_string();
    let bundle =
        net.net.gateway.view().registry.read().unwrap().iter().next().unwrap().record.bundle;
    poll_until(
        "the gateway hears the stranger holds the bundle",
        Duration::from_secs(60),
        || async {
            let now = peerhost_node::clock::unix_ms();
            let directory = net.net.gateway.view().directory.read().unwrap();
            directory.live(now).any(|w| w.key == key && w.holds(&bundle)).then_some(())
        },
    )
    .await;
    for i in 0..20 {
        let reply = get(&format!("{}/x?i={i}", net.url("trusted", "echo"))).await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        assert_ne!(reply.header("x-peerhost-worker"), Some(peer.as_str()), "unbonded worker won");
    }
    assert_eq!(stranger.raced_requests(), 0, "an unbonded worker was asked to race");

    // A function that asks for more bond than anyone holds says so, instead of hanging.
    let reply = get(&net.url("trusted", "big")).await;
    assert_eq!(reply.status, 503);
    let body = reply.json();
    assert_eq!(body["error"], "no_bonded_workers");
    assert_eq!(body["min_bond"], "1000.000000");

    // The volunteer bonds: the gateway learns it from the chain and races it.
    chain.enrol(&stranger, BondRole::Worker, U256::from(50 * USDC)).await.unwrap();
    poll_until("the gateway learns the new bond", Duration::from_secs(30), || async {
        net.net.gateway.view().bonds.read().unwrap().admits(BondRole::Worker, &key, 0).then_some(())
    })
    .await;
    let mut i = 0;
    poll_until("the bonded volunteer races", Duration::from_secs(30), || {
        i += 1;
        let url = format!("{}/y?i={i}", net.url("trusted", "echo"));
        let stranger = &stranger;
        async move {
            assert_eq!(get(&url).await.status, 200);
            (stranger.raced_requests() > 0).then_some(())
        }
    })
    .await;
    stranger.shutdown().await;

    // A second gateway without a gateway bond: told plainly, and no worker runs its requests.
    let rogue = net.net.start_gateway("rogue-gateway").await.unwrap();
    let rogue_url = format!("http://{}", rogue.http_addr().unwrap());
    let owner = net.net.owner();
    let reply =
        poll_until("the unbonded gateway knows the deployment", Duration::from_secs(30), || {
            let url = format!("{rogue_url}/{owner}/trusted/echo");
            async move {
                let reply = get(&url).await;
                (reply.status != 404 && reply.json()["error"] != "starting").then_some(reply)
            }
        })
        .await;
    assert_eq!(reply.status, 503);
    assert_eq!(reply.json()["error"], "gateway_not_bonded");
    rogue.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_chain_the_gateway_says_it_is_open() {
    let net = TestNet::start(1, |_| {}).await;
    assert_eq!(net.net.gateway.view().bonds.read().unwrap().trust(), Trust::Open);
    let health = get(&format!("{}/healthz", net.net.gateway_url())).await.json();
    assert_eq!(health["trust"]["mode"], "open");
}
