//! Churn without loss, with real worker processes on a real chain: under a steady load, half
//! the worker processes are killed with SIGKILL and fresh ones join. Every call gets its
//! answer or a typed error within its deadline, no request id is answered twice, the calls
//! the dead workers held are re-dispatched and answered by the living, and the joiners take
//! their share. `PEERHOST_SLOW=1` runs more rounds of churn under more callers.
//!
//! A gateway process killed with SIGKILL under a load of free and paid calls and started again
//! on its data dir serves every payment it had accepted once (the callers retry with the same
//! payment, as x402 clients do) and settles each once, and anchors the receipts of the epoch
//! it had open: they come back from its receipt journal, and `GET /receipts/<id>` of an answer
//! from before the crash proves it under a root on the chain.

use std::{
    collections::{HashMap, HashSet},
    path::Path,
    time::Duration,
};

use alloy::{
    primitives::{Address, U256},
    providers::Provider as _,
    rpc::types::Filter,
    sol_types::SolEvent as _,
};
use data_encoding::BASE64;
use peerhost_contracts::ExecutionCoordinator::PaymentSettled;
use peerhost_node::{
    chain::{ReceiptProof, verify_answer},
    devnet::DevnetChainOptions,
};
use peerhost_protocol::{AnswerReceipt, codec};
use peerhost_tests::{
    TestNet, fast_chain, get,
    load::{self, Call, Load, Outcome, Request},
    poll_until,
    process::{Process, identity},
    project,
};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{
    payments::{NET, Payer, credits},
    processes::{Volunteer, bonded_workers, volunteer},
};

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

/// The volunteers that answered calls ending after `from` (load time), the busiest first.
fn serving_since(calls: &[Call], workers: &[Volunteer], from: Duration) -> Vec<String> {
    let mut counts: Vec<(usize, String)> = workers
        .iter()
        .map(|w| (answered_by(calls, &HashSet::from([w.peer.clone()]), from), w.peer.clone()))
        .filter(|(n, _)| *n > 0)
        .collect();
    counts.sort_unstable_by_key(|(n, _)| std::cmp::Reverse(*n));
    counts.into_iter().map(|(_, peer)| peer).collect()
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
    // Each killed worker and when it died (load time).
    let mut killed = HashMap::new();
    let mut kills = Vec::new();
    for round in 0..rounds {
        // The victims are volunteers that serve: a worker the racer choice never picks (it
        // does not hold the bundle yet) holds no call whose loss a re-dispatch would show.
        let since = load.elapsed();
        let serving = poll_until("volunteers serve the load", Duration::from_secs(60), || {
            let calls = load.calls();
            let serving = serving_since(&calls, &workers, since);
            async move { (serving.len() >= WORKERS / 2).then_some(serving) }
        })
        .await;
        let before = redispatched(&net).await;
        let kill_at = load.elapsed();
        for victim in &serving[..WORKERS / 2] {
            let at = workers.iter().position(|w| &w.peer == victim).expect("a volunteer");
            let victim = workers.remove(at);
            killed.insert(victim.peer.clone(), kill_at);
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
                if let Some(&died) = killed.get(worker) {
                    assert!(call.sent <= died, "a dead worker answered {request_id}");
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

/// A `peerhost-node gateway` process joined to `net` and bonded from its faucet, its data in
/// `dir`, serving HTTP on `listen`.
struct GatewayProcess {
    process: Process,
    url: String,
}

impl GatewayProcess {
    async fn start(net: &TestNet, dir: &Path, listen: &str) -> Self {
        let chain = net.net.chain.as_ref().expect("a chain");
        let bootstrap = net.net.bootstrap_addr().to_string();
        let rpc = chain.local.ws_url();
        let coordinator = chain.deployment.coordinator.to_string();
        let faucet = format!("0x{}", hex::encode(chain.faucet));
        let mut args = vec!["gateway", "--bootstrap", &bootstrap, "--rpc-url", &rpc];
        args.extend(["--coordinator", &coordinator, "--bond", "10", "--fund-from", &faucet]);
        args.extend(["--listen", listen, "--free-rate", "0"]);
        let process = Process::spawn(&args, dir);
        let line = process.wait_for("gateway http://", Duration::from_secs(60));
        let url = line.trim_start_matches("gateway ").to_owned();
        let health = format!("{url}/healthz");
        poll_until("the gateway process is bonded and knows the workers", DEADLINE, || async {
            let health = get(&health).await.json();
            let trust = &health["trust"];
            let ready = trust["gateway_bonded"] == true
                && trust["bonded_workers"].as_u64() >= Some(2)
                && health["deployments"].as_u64() >= Some(1);
            ready.then_some(())
        })
        .await;
        Self { process, url }
    }

    /// `host:port` of its HTTP listener.
    fn listen(&self) -> &str {
        self.url.trim_start_matches("http://")
    }
}

/// A paid call: every attempt with one payment, retried while the gateway is down or busy
/// with it, until it is answered or refused.
#[derive(Debug)]
struct Payment {
    outcomes: Vec<Call>,
}

/// Pays for call after call of `url` with fresh payments until `stop`; each payment is
/// retried (the same header, as an x402 client retries) until it gets an answer.
async fn pay_until(
    url: String,
    payer: Payer,
    stop: CancellationToken,
    since: Instant,
) -> Vec<Payment> {
    let client = load::client();
    let mut payments = Vec::new();
    while !stop.is_cancelled() {
        let header = payer.header(|_, _| {}, false);
        let request = Request {
            method: "POST",
            url: url.clone(),
            headers: vec![
                ("payment-signature".into(), header),
                ("content-type".into(), "application/json".into()),
            ],
            body: "{}".into(),
        };
        let mut payment = Payment { outcomes: Vec::new() };
        for seq in 0.. {
            let sent = since.elapsed();
            let outcome = load::call(&client, &request, DEADLINE).await;
            let retry = match &outcome {
                Outcome::Unreachable(_) | Outcome::Late => true,
                // Busy with this payment, or just restarted: both say to retry.
                Outcome::Refused { code, .. } => {
                    code == "payment_in_progress" || code == "starting"
                }
                Outcome::Answered { .. } | Outcome::Untyped { .. } => false,
            };
            payment.outcomes.push(Call { caller: 0, seq, sent, ended: since.elapsed(), outcome });
            if !retry || seq > 200 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        payments.push(payment);
    }
    payments
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_killed_under_load_settles_every_accepted_payment_and_anchors_its_open_epoch() {
    // Long epochs, so the load before the kill falls in one epoch the dying gateway never
    // gets to anchor: its receipts survive only in the journal.
    let net = TestNet::start(2, |options| {
        options.chain = Some(DevnetChainOptions {
            epoch_length_s: 12,
            tick: Duration::from_millis(250),
            validator: false,
            audit_fraction: 0.0,
            ..Default::default()
        });
    })
    .await;
    let chain = net.net.chain.as_ref().unwrap();
    let settings = "[functions.paid]\nprice = \"0.01\"\ntimeout_ms = 2000\n\
                    [functions.free]\ntimeout_ms = 2000\n";
    let project = project("till", &[("free", "fixture"), ("paid", "fixture")], settings);
    net.deploy(project.path()).await;
    let dir = tempfile::tempdir().unwrap();
    let (_, account) = identity(dir.path());
    let account: Address = account.parse().unwrap();
    let gateway = GatewayProcess::start(&net, dir.path(), "127.0.0.1:0").await;
    let base = format!("{}/{}/till", gateway.url, net.net.owner());

    // A first answer, anchored: from here on the gateway labels receipts with a later epoch.
    let warm = poll_until("the workers serve the gateway process", DEADLINE, || async {
        let reply = get(&format!("{base}/free?mode=echo")).await;
        (reply.status == 200).then_some(reply)
    })
    .await;
    let warm_id = warm.header("x-peerhost-request-id").unwrap().to_owned();
    let gateway_url = gateway.url.clone();
    let anchored = |id: String| {
        let url = format!("{gateway_url}/receipts/{id}");
        async move {
            let served = get(&url).await;
            (served.status == 200)
                .then(|| serde_json::from_value::<ReceiptProof>(served.json()["anchor"].clone()))
                .and_then(Result::ok)
        }
    };
    poll_until("the first answer is anchored", Duration::from_secs(60), || {
        anchored(warm_id.clone())
    })
    .await;

    let free = format!("{base}/free");
    let load = Load::start(4, DEADLINE, move |caller, n| {
        Request::get(format!("{free}/c{caller}/n{n}?mode=sleep&ms=200"))
    });
    let stop = CancellationToken::new();
    let started = Instant::now();
    let payers: Vec<_> = (0..2)
        .map(|_| {
            let url = format!("{base}/paid?mode=sleep&ms=300");
            tokio::spawn(pay_until(url, Payer::of(&net), stop.clone(), started))
        })
        .collect();
    poll_until("the load is under way", DEADLINE, || async {
        (load.calls().len() >= 12).then_some(())
    })
    .await;
    let kill_at = load.elapsed();
    let listen = gateway.listen().to_owned();
    gateway.process.kill();
    let _gateway = GatewayProcess::start(&net, dir.path(), &listen).await;
    let back_at = load.elapsed();
    poll_until("the restarted gateway answers the load", DEADLINE, || async {
        let after = load.calls().iter().filter(|c| c.sent > back_at).count();
        (after >= 12).then_some(())
    })
    .await;
    stop.cancel();
    let calls = load.stop().await;
    let mut payments = Vec::new();
    for payer in payers {
        payments.extend(payer.await.unwrap());
    }

    // Free calls: answered, refused with a reason, or cut off while the gateway was down.
    let mut answers = Vec::new();
    for call in &calls {
        match &call.outcome {
            Outcome::Answered { .. } => answers.push(call.clone()),
            Outcome::Refused { .. } => {}
            Outcome::Unreachable(_) => {
                assert!(call.ended >= kill_at && call.sent <= back_at, "{call:?}")
            }
            other => panic!("neither answer, typed error nor the crash: {other:?}"),
        }
    }
    // Every payment was served exactly once, its retries after the crash included.
    let mut cut = 0;
    for payment in &payments {
        let (last, earlier) = payment.outcomes.split_last().unwrap();
        assert!(
            matches!(last.outcome, Outcome::Answered { .. }),
            "payment not served: {payment:?}"
        );
        cut += usize::from(!earlier.is_empty());
        answers.push(last.clone());
    }
    assert!(cut > 0, "no payment was in flight at the crash");
    let ids: HashSet<&str> = answers.iter().filter_map(|c| c.outcome.request_id()).collect();
    assert_eq!(ids.len(), answers.len(), "a request id was answered twice");
    let filter = Filter::new()
        .address(chain.deployment.coordinator)
        .event_signature(PaymentSettled::SIGNATURE_HASH)
        .topic1(Payer::of(&net).signer.address().into_word())
        .from_block(0);
    let settled = chain.admin.provider().get_logs(&filter).await.unwrap();
    assert_eq!(settled.len(), payments.len(), "one settlement per payment");
    assert_eq!(credits(&net).await, U256::from(NET * payments.len() as u64));

    // Every answer's receipt, those of the epoch the dead gateway had open included, is
    // served by its successor and anchored under a root on the chain.
    let before_the_crash = answers.iter().filter(|c| c.ended < kill_at).count();
    assert!(before_the_crash > 0);
    for call in &answers {
        let Outcome::Answered { request_id, receipt, body, .. } = &call.outcome else {
            unreachable!()
        };
        let header = receipt.as_deref().expect("an answer carries its receipt");
        let proof = poll_until(
            &format!("the receipt of {request_id} is anchored"),
            Duration::from_secs(60),
            || anchored(request_id.clone()),
        )
        .await;
        let answer: AnswerReceipt =
            codec::decode(&BASE64.decode(header.as_bytes()).unwrap()).unwrap();
        let verified =
            verify_answer(&answer, body, Some(&chain.admin), Some(&proof)).await.unwrap();
        assert_eq!(verified.anchored, Some((account, proof.epoch)));
    }
    eprintln!(
        "gateway restart: {} free calls, {} payments ({cut} cut by the crash), {} receipts anchored ({before_the_crash} from before it)",
        calls.len(),
        payments.len(),
        answers.len()
    );
}
