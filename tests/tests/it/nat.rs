//! Behind NATs: a worker on one private LAN serves a gateway on another, each LAN behind its own
//! masquerading router, with only the bootstrap on the public side (see
//! `peerhost_tests::netns`). Real processes in real network namespaces: the worker learns from
//! AutoNAT that it is unreachable and listens through the bootstrap's circuit relay; it fetches
//! the bundle from the deployer (also behind NAT) through the bootstrap's iroh relay while
//! every direct path between the LANs is cut; calls succeed over the relayed connection; once
//! direct paths are allowed, hole punching (DCUtR) replaces the circuit with a direct
//! connection and calls keep succeeding over it.
//!
//! Needs root and `nft` (scripts/setup installs it); `PEERHOST_SKIP_NETNS=1` skips it where
//! namespaces cannot be made.

use std::time::Duration;

use peerhost_tests::{
    get,
    netns::{self, NatLab},
    poll_until,
    process::{Process, workspace_bin},
    project,
};

/// What the processes log to the test's stderr (shown when it fails): NAT events included.
const LOG: &str = "warn,peerhost::mesh=debug,libp2p_dcutr=debug";

fn lab() -> Option<NatLab> {
    match NatLab::build() {
        Ok(lab) => Some(lab),
        Err(e) if std::env::var("PEERHOST_SKIP_NETNS").as_deref() == Ok("1") => {
            eprintln!("SKIPPED: cannot build network namespaces ({e}); PEERHOST_SKIP_NETNS=1");
            None
        }
        Err(e) => panic!(
            "cannot build the NAT test's network namespaces: {e}\n(run as root with nft \
             installed by scripts/setup, or set PEERHOST_SKIP_NETNS=1 to skip this test)"
        ),
    }
}

/// The gateway's view of its connections to `peer`: (relayed ones, direct ones).
async fn links_to(gateway: &str, peer: &str) -> (usize, usize) {
    let health = get(&format!("{gateway}/healthz")).await.json();
    let links = health["links"].as_array().cloned().unwrap_or_default();
    let to_peer = links.iter().filter(|l| l["peer"] == peer);
    to_peer.fold((0, 0), |(relayed, direct), l| {
        if l["relayed"] == true { (relayed + 1, direct) } else { (relayed, direct + 1) }
    })
}

/// Calls `url` until it answers 200 (the first calls may race a mesh still forming) and
/// returns the worker that answered.
async fn call(url: &str, what: &str) -> String {
    poll_until(what, Duration::from_secs(60), || async {
        let reply = get(&format!("{url}/nat?via=relay")).await;
        (reply.status == 200).then(|| reply.header("x-peerhost-worker").unwrap_or("").to_owned())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_behind_a_nat_serves_a_gateway_behind_another_first_relayed_then_direct() {
    let Some(lab) = lab() else { return };
    lab.block_direct();
    let node = workspace_bin("peerhost-node");
    let dir = tempfile::tempdir().unwrap();
    let data = |name: &str| dir.path().join(name);

    // The bootstrap on the public segment: circuit relay (default) and an iroh relay.
    let public = netns::PUBLIC;
    let bootstrap = Process::spawn_in(
        &lab.ns("public"),
        &workspace_bin("peerhost-bootstrap"),
        &[
            "--listen",
            &format!("/ip4/{public}/tcp/4001"),
            "--listen",
            &format!("/ip4/{public}/udp/4001/quic-v1"),
            "--blob-relay",
            &format!("{public}:3340"),
        ],
        &data("bootstrap"),
        LOG,
    );
    let boot_peer =
        bootstrap.wait_for("peer ", Duration::from_secs(30))["peer ".len()..].to_owned();
    let boot = format!("/ip4/{public}/tcp/4001/p2p/{boot_peer}");
    let blob_relay = bootstrap.wait_for("blob relay ", Duration::from_secs(10))
        ["blob relay ".len()..]
        .to_owned();

    // The worker behind NAT A: no --relay; AutoNAT finds it private and it listens through
    // its bootstrap peer.
    let cache = data("compiled");
    let join = ["--bootstrap", boot.as_str(), "--blob-relay", blob_relay.as_str()];
    let mut args = vec!["worker", "--compile-cache", cache.to_str().unwrap()];
    args.extend(join);
    let worker = Process::spawn_in(&lab.ns("host_a"), &node, &args, &data("worker"), LOG);
    let worker_peer = worker.wait_for("peer ", Duration::from_secs(30))["peer ".len()..].to_owned();
    worker.wait_for("worker ready", Duration::from_secs(60));

    // The gateway behind NAT B, serving HTTP to the test on its LAN.
    let http = format!("{}:0", lab.host_b_link);
    let mut args = vec!["gateway", "--listen", http.as_str()];
    args.extend(join);
    let gateway = Process::spawn_in(&lab.ns("host_b"), &node, &args, &data("gateway"), LOG);
    let gateway_url =
        gateway.wait_for("gateway http://", Duration::from_secs(30))["gateway ".len()..].to_owned();

    // Deployed from LAN B while no direct path exists: the worker can only fetch the bundle
    // through the iroh relay, and the deploy finishes only once the worker holds it.
    let project = project("nat", &[("echo", "echo")], "");
    let mut args = vec!["deploy", project.path().to_str().unwrap(), "--gateway-url", &gateway_url];
    args.extend(["--replicas", "1", "--timeout", "150"]);
    args.extend(join);
    let deployer = Process::spawn_in(&lab.ns("host_b"), &node, &args, &data("deployer"), LOG);
    let line = deployer.wait_for("echo\t", Duration::from_secs(180));
    let url = line.split('\t').nth(1).expect("a function URL").to_owned();
    drop(deployer);

    // First relayed: the gateway reaches the worker only through the bootstrap's circuit.
    poll_until(
        "a relayed link from the gateway to the worker",
        Duration::from_secs(90),
        || async {
            let (relayed, _) = links_to(&gateway_url, &worker_peer).await;
            (relayed > 0).then_some(())
        },
    )
    .await;
    let answered_by = call(&url, "a call over the relayed connection").await;
    assert_eq!(answered_by, worker_peer);
    let (relayed, direct) = links_to(&gateway_url, &worker_peer).await;
    assert!(relayed > 0 && direct == 0, "relayed {relayed}, direct {direct}");

    // Then direct: once the routers pass direct traffic, hole punching is retried and a direct
    // connection replaces the circuit.
    lab.unblock_direct();
    poll_until("a direct link replacing the relayed one", Duration::from_secs(120), || async {
        let (relayed, direct) = links_to(&gateway_url, &worker_peer).await;
        (direct > 0 && relayed == 0).then_some(())
    })
    .await;
    for _ in 0..3 {
        let answered_by = call(&url, "a call over the direct connection").await;
        assert_eq!(answered_by, worker_peer);
    }
    let (relayed, direct) = links_to(&gateway_url, &worker_peer).await;
    assert!(relayed == 0 && direct > 0, "relayed {relayed}, direct {direct}");
    drop((gateway, worker, bootstrap));
}
