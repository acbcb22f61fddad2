//! Integrity: tampered bundle bytes are refused by hash, a request gossiped in another
//! gateway's name is dropped, a worker flooding gossip with junk is scored down while calls
//! keep working.

use std::time::Duration;

use bytes::Bytes;
use peerhost_node::{
    blobs::{BlobError, BlobStore, Bundle},
    mesh::{self, MeshConfig, MeshEvent},
    worker::Byzantine,
};
use peerhost_protocol::{
    BundleManifest, CanonicalRequest, ExecutionRequest, FunctionSpec, NodeSecret, RawRequest,
    codec, topics,
};
use peerhost_tests::{TestNet, get, guest, poll_until, project};
use tokio_util::sync::CancellationToken;

fn bundle_of(component: Bytes) -> Bundle {
    let manifest =
        BundleManifest { project: "t".into(), functions: vec![FunctionSpec::new("f", &component)] };
    Bundle::new(manifest, vec![component]).expect("consistent bundle")
}

/// Flips one byte in the middle of every stored file that holds `needle`.
fn tamper_files_containing(dir: &std::path::Path, needle: &[u8]) -> usize {
    let mut tampered = 0;
    for entry in walk(dir) {
        let Ok(mut bytes) = std::fs::read(&entry) else { continue };
        if let Some(at) = bytes.windows(needle.len()).position(|w| w == needle) {
            bytes[at + needle.len() / 2] ^= 0xff;
            std::fs::write(&entry, bytes).expect("rewrite blob file");
            tampered += 1;
        }
    }
    tampered
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() { files.extend(walk(&path)) } else { files.push(path) }
    }
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_blob_is_refused_in_transit_and_at_rest() {
    let secret_a = NodeSecret::from_bytes(&[1; 32]);
    let secret_b = NodeSecret::from_bytes(&[2; 32]);
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let loopback = "127.0.0.1:0".parse().unwrap();
    let a = BlobStore::open(dir_a.path(), &secret_a, loopback).await.unwrap();
    let b = BlobStore::open(dir_b.path(), &secret_b, loopback).await.unwrap();
    b.learn(&secret_a.public(), &a.addr_strings());

    // A real component, large enough to be stored as its own file (not inlined in the db).
    let component = Bytes::from(std::fs::read(guest("fixture")).unwrap());
    let bundle = bundle_of(component.clone());
    let hash = a.add_bundle(bundle.members()).await.unwrap();
    a.shutdown().await;
    let probe = &component[component.len() / 2..component.len() / 2 + 64];
    assert!(tamper_files_containing(dir_a.path(), probe) > 0, "component stored on disk");
    let a = BlobStore::open(dir_a.path(), &secret_a, loopback).await.unwrap();
    b.learn(&secret_a.public(), &a.addr_strings());

    // In transit: the verified stream refuses the altered chunk.
    let fetched = b.fetch_bundle(&hash, &[secret_a.public()], Duration::from_secs(20)).await;
    assert!(
        matches!(fetched, Err(BlobError::Fetch { .. })),
        "tampered data must not verify: {fetched:?}"
    );
    assert!(!b.has(&hash).await);

    // At rest: the provider's own copy no longer reads as the bundle (the store verifies
    // on read, and loading re-verifies every member against the manifest).
    match a.read_bundle(&hash).await {
        Err(BlobError::Unreadable { .. }) => {}
        Ok(members) => assert!(matches!(
            Bundle::from_members(&hash, members),
            Err(peerhost_node::blobs::BundleError::HashMismatch { index: 1 })
        )),
        Err(other) => panic!("unexpected error {other}"),
    }
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_gossiped_in_another_gateways_name_is_dropped() {
    let net = TestNet::start(1, |_| {}).await;
    let dir = project("sig", &[("echo", "echo")], "");
    let deployed = net.deploy(dir.path()).await;
    assert_eq!(get(&net.url("sig", "echo")).await.status, 200);

    // A rogue "gateway" on the real mesh, with its own key.
    let secret = NodeSecret::from_bytes(&[0x77; 32]);
    let stop = CancellationToken::new();
    let _guard = stop.clone().drop_guard();
    let config = MeshConfig { bootstrap: vec![net.net.bootstrap_addr()], ..MeshConfig::default() };
    let (mesh, mut events) = mesh::spawn(&secret, config, stop).unwrap();
    let record = &deployed.record;
    let topic = topics::exec_topic(topics::exec_shard(&record.owner, &record.project));
    let worker = net.net.workers[0].peer_id();
    poll_until("the worker is on our topic", Duration::from_secs(20), || async {
        mesh.topic_peers(topic.clone()).await.unwrap().contains(&worker).then_some(())
    })
    .await;
    let reply_to: Vec<String> = mesh.listen_addrs().iter().map(ToString::to_string).collect();
    let order = |gateway: peerhost_protocol::NodeKey, nonce: u64| {
        let raw = RawRequest {
            owner: record.owner,
            project: "sig",
            function: "echo",
            method: "GET",
            path: "/",
            query: None,
            headers: vec![],
            body: b"",
        };
        let now = peerhost_node::clock::unix_ms();
        ExecutionRequest {
            request: CanonicalRequest::build(&raw, gateway, nonce, now).unwrap(),
            bundle: record.bundle,
            version: record.version,
            deadline_ms: now + 5_000,
            attempt: 0,
            racers: vec![],
            reply_to: reply_to.clone(),
            body: None,
        }
    };

    // Forged: a request in the real gateway's name. Gossipsub's signature proves who
    // published it, and that is not the gateway the request names, so the worker rejects it,
    // which costs the publisher gossip score at that worker (the event that proves the verdict).
    let forged = order(net.net.gateway.node_key(), 1);
    mesh.publish(topic.clone(), codec::encode(&forged)).await.unwrap();
    let rogue = mesh.peer_id();
    poll_until("the worker scores the forger down", Duration::from_secs(20), || async {
        let score = net.net.workers[0].mesh().peer_score(rogue).await.unwrap();
        score.is_some_and(|s| s < 0.0).then_some(())
    })
    .await;
    assert_eq!(net.net.workers[0].active_jobs(), 0, "a worker ran a forged request");

    // Control: a request in the publisher's own name is executed and delivered to it.
    let genuine_order = order(secret.public(), 2);
    mesh.publish(topic, codec::encode(&genuine_order)).await.unwrap();
    let delivery = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            if let Some(MeshEvent::Delivery { delivery, reply, .. }) = events.recv().await {
                let _ = reply.send(peerhost_protocol::DeliveryAck { pending: true });
                return delivery;
            }
        }
    })
    .await
    .expect("a request from its own gateway is answered");
    let result = delivery.result.expect("a result, not a decline");
    result.verify(&genuine_order.id()).expect("valid receipt");
    assert_eq!(result.response.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_flooding_gossip_with_junk_is_scored_down_and_calls_keep_working() {
    // Worker 2 serves honestly and floods every topic with junk on each heartbeat. The deploy
    // waits for the two quiet workers only: whether the flooder's heartbeat saying it holds
    // the bundle gets through before its neighbours graylist it is a race.
    let net = TestNet::start(3, |options| {
        options.byzantine = vec![Byzantine::Flood];
        options.replicas = Some(2);
    })
    .await;
    let dir = project("flooded", &[("echo", "echo")], "");
    net.deploy(dir.path()).await;
    let flooder = net.net.workers[2].peer_id();
    for i in 0..30 {
        let reply = get(&format!("{}/f?i={i}", net.url("flooded", "echo"))).await;
        assert_eq!(reply.status, 200, "{:?}", String::from_utf8_lossy(&reply.body));
    }
    // Every junk message is rejected, and each one costs the sender gossip score (an honest
    // peer scores exactly 0 here: no positive weights): its neighbours score it below zero,
    // and past -1000 graylist it (its gossip is then ignored).
    let neighbours =
        [&net.net.gateway, &net.net.bootstrap, &net.net.workers[0], &net.net.workers[1]];
    poll_until("the flooder is scored down", Duration::from_secs(90), || async {
        for node in neighbours {
            if node.mesh().peer_score(flooder).await.unwrap().is_some_and(|s| s < 0.0) {
                return Some(());
            }
        }
        None
    })
    .await;
    for i in 30..40 {
        let reply = get(&format!("{}/f?i={i}", net.url("flooded", "echo"))).await;
        assert_eq!(reply.status, 200, "calls still work while the flood goes on");
    }
}
