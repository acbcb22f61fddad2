//! Byzantine workers as real processes: `peerhost-node` binaries, each with its own data dir,
//! keys and wallet, join an in-process network on a real anvil with the real contracts the way
//! a volunteer does (`--bootstrap … --bond 10 --fund-from <faucet>`), told to cheat with the
//! test-only `--byzantine`. In the fast tier an audit catches and slashes a cheating process
//! while honest workers keep their bonds, and an unbonded process never races; in the verified
//! tier two colluding processes never get their answer to a caller, and their dissent is
//! disputed until they are slashed.

use std::time::Duration;

use alloy::primitives::Address;
use bytes::Bytes;
use peerhost_node::{dispatch::BondRole, mesh};
use peerhost_tests::{
    TestNet, fast_chain, get, poll_until,
    process::{Process, identity},
    project, send,
};

/// A worker process joining `net`; `bond`: bond 10 USDC from the devnet faucet first.
pub(crate) struct Volunteer {
    _process: Process,
    pub(crate) peer: String,
    account: Address,
    _dir: tempfile::TempDir,
}

impl Volunteer {
    /// Kills the process with SIGKILL, as a crash would.
    pub(crate) fn kill(self) {
        self._process.kill();
    }
}

pub(crate) fn volunteer(net: &TestNet, byzantine: Option<&str>, bond: bool) -> Volunteer {
    let chain = net.net.chain.as_ref().expect("a chain");
    let dir = tempfile::tempdir().unwrap();
    let (peer, account) = identity(dir.path());
    let bootstrap = net.net.bootstrap_addr().to_string();
    let rpc = chain.local.ws_url();
    let coordinator = chain.deployment.coordinator.to_string();
    let faucet = format!("0x{}", hex::encode(chain.faucet));
    let cache = net.compile_cache();
    let mut args = vec!["worker", "--bootstrap", &bootstrap, "--rpc-url", &rpc];
    args.extend(["--coordinator", &coordinator, "--compile-cache", cache.to_str().unwrap()]);
    // Like the network's in-process workers, hold every bundle (not only the likely ones).
    args.extend(["--prefetch-rank", "0"]);
    if bond {
        args.extend(["--bond", "10", "--fund-from", &faucet]);
    }
    if let Some(mode) = byzantine {
        args.extend(["--byzantine", mode]);
    }
    let process = Process::spawn(&args, dir.path());
    if !bond {
        // The volunteer is told plainly why it will not be raced, and how to bond.
        let said = process.wait_for("NOT BONDED", Duration::from_secs(60));
        assert!(said.contains("will not be raced until it bonds"), "{said}");
    }
    Volunteer { _process: process, peer, account: account.parse().unwrap(), _dir: dir }
}

/// Waits until the gateway counts `n` bonded workers.
pub(crate) async fn bonded_workers(net: &TestNet, n: u64) {
    let url = format!("{}/healthz", net.net.gateway_url());
    poll_until(&format!("{n} bonded workers"), Duration::from_secs(120), || async {
        let health = get(&url).await.json();
        (health["trust"]["bonded_workers"].as_u64() >= Some(n)).then_some(())
    })
    .await;
}

/// `account`'s worker bond.
async fn bond_of(net: &TestNet, account: Address) -> u128 {
    let admin = &net.net.chain.as_ref().unwrap().admin;
    admin.stake_in(BondRole::Worker, account).await.unwrap().bonded
}

fn tampered(body: &[u8]) -> bool {
    body.windows(10).any(|w| w == b"(tampered)")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cheating_worker_process_is_slashed_and_an_unbonded_one_never_races() {
    // Worker 0 validates and every receipt is audited; one racer per call.
    let net = TestNet::start(2, |options| {
        options.gateway.fast_racers = 1;
        options.chain = Some(fast_chain(true, 1.0));
    })
    .await;
    let project = project("volunteers", &[("echo", "echo")], "");
    net.deploy(project.path()).await;
    let cheater = volunteer(&net, Some("wrong-result"), true);
    let unbonded = volunteer(&net, None, false);
    bonded_workers(&net, 3).await;
    // The unbonded process is on the mesh and advertises capacity: only its bond keeps it out.
    let unbonded_key = mesh::node_key(&unbonded.peer.parse().unwrap()).unwrap();
    poll_until("the gateway hears the unbonded process", Duration::from_secs(60), || async {
        let now = peerhost_node::clock::unix_ms();
        let directory = net.net.gateway.view().directory.read().unwrap();
        directory.live(now).any(|w| w.key == unbonded_key).then_some(())
    })
    .await;

    let url = net.url("volunteers", "echo");
    let honest = net.net.workers[1].peer_id().to_string();
    let (mut cheats, mut honest_wins) = (0, 0u64);
    // Rendezvous choice spreads calls over the three bonded workers: the cheater soon wins one.
    for i in 0..60 {
        let reply = get(&format!("{url}/c?i={i}")).await;
        assert_eq!(reply.status, 200);
        let winner = reply.header("x-peerhost-worker").unwrap_or_default();
        assert_ne!(winner, unbonded.peer, "an unbonded worker process won a call");
        if winner == cheater.peer {
            assert!(tampered(&reply.body), "the cheater is told to tamper");
            cheats += 1;
            break;
        }
        if winner == honest {
            honest_wins += 1;
        }
    }
    assert!(cheats > 0, "the cheating process won none of 60 calls");

    let minimum = 10_000_000;
    poll_until("the cheating process is slashed", Duration::from_secs(60), || async {
        (bond_of(&net, cheater.account).await < minimum).then_some(())
    })
    .await;
    // Slashed below the minimum, it is out of the bonded set: its share of calls drops to none.
    poll_until("the gateway drops the slashed cheater", Duration::from_secs(30), || async {
        let health = get(&format!("{}/healthz", net.net.gateway_url())).await.json();
        (health["trust"]["bonded_workers"] == 2).then_some(())
    })
    .await;
    for i in 0..12 {
        let reply = get(&format!("{url}/after?i={i}")).await;
        assert_eq!(reply.status, 200);
        assert!(!tampered(&reply.body), "the slashed cheater still won a call");
        assert_ne!(reply.header("x-peerhost-worker"), Some(cheater.peer.as_str()));
    }
    let validator = &net.net.workers[0];
    let honest_account = net.net.workers[1].chain().unwrap().address();
    poll_until("every audit of the honest worker is decided", Duration::from_secs(60), || async {
        (validator.audits_decided(honest_account) >= honest_wins).then_some(())
    })
    .await;
    for (i, worker) in net.net.workers.iter().enumerate() {
        let account = worker.chain().unwrap().address();
        assert_eq!(bond_of(&net, account).await, 50_000_000, "honest worker {i} kept its bond");
    }
    assert_eq!(bond_of(&net, unbonded.account).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_colluding_worker_processes_never_answer_a_verified_caller_and_are_slashed() {
    // Three honest workers (worker 0 validates) and two colluding processes; a verified call
    // needs three matching results of three racers, escalating on disagreement.
    let net = TestNet::start(3, |options| {
        options.gateway.verified_racers = 3;
        options.gateway.verified_quorum = 3;
        options.chain = Some(fast_chain(true, 0.0));
    })
    .await;
    let settings = "[functions.echo]\ntier = \"verified\"\n";
    let project = project("colluded", &[("echo", "echo")], settings);
    net.deploy(project.path()).await;
    let colluders =
        [volunteer(&net, Some("wrong-result"), true), volunteer(&net, Some("wrong-result"), true)];
    bonded_workers(&net, 5).await;

    let mut answered = 0;
    for i in 0..12 {
        let url = format!("{}/v?i={i}", net.url("colluded", "echo"));
        let reply = send("GET", &url, &[], Bytes::new()).await;
        // Never a colluder's answer: a quorum of right ones, or a 502 no_agreement.
        if reply.status == 200 {
            answered += 1;
        } else {
            assert_eq!(reply.status, 502, "{:?}", String::from_utf8_lossy(&reply.body));
            assert_eq!(reply.json()["error"], "no_agreement");
        }
        assert!(!tampered(&reply.body), "a verified call returned the colluders' answer");
    }
    assert!(answered > 0, "escalation reached the three honest workers in no call");
    // Their dissenting receipts went to the validator, which disputes them on-chain.
    let minimum = 10_000_000;
    for (n, colluder) in colluders.iter().enumerate() {
        poll_until(&format!("colluder {n} is slashed"), Duration::from_secs(90), || async {
            (bond_of(&net, colluder.account).await < minimum).then_some(())
        })
        .await;
    }
    for (i, worker) in net.net.workers.iter().enumerate() {
        let account = worker.chain().unwrap().address();
        assert_eq!(bond_of(&net, account).await, 50_000_000, "honest worker {i} kept its bond");
    }
}
