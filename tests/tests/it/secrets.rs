//! Secrets: a canary secret sealed to one of three workers reaches the function only on that
//! worker, only in the sandbox environment of the function that declares it, and appears in no
//! log line and no gossiped deployment.

use std::{
    io::Write,
    sync::{Arc, Mutex},
};

use peerhost_node::devnet::devnet_wallet;
use peerhost_protocol::{ProjectSecret, codec};
use peerhost_tests::{TestNet, get, project};

/// Every log line of this test process.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_reaches_only_the_workers_it_is_sealed_to() {
    let logs = Logs::default();
    let writer = logs.clone();
    // Everything PeerHost logs, at every level; other crates' debug lines (their trace level
    // slows the whole network down too much to test anything).
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("debug,peerhost=trace"))
        .with_writer(move || writer.clone())
        .init();
    let canary = format!("sk-canary-{:032x}", rand::random::<u128>());

    let net = TestNet::start(3, |_| {}).await;
    let authorized = &net.net.workers[0];
    let owner = devnet_wallet().owner();
    let sealed =
        ProjectSecret::seal(&owner, "vault", "CANARY", canary.as_bytes(), &[authorized.node_key()])
            .unwrap();
    let settings = "[functions.read]\nsecrets = [\"CANARY\"]\n";
    let dir = project("vault", &[("read", "fixture"), ("plain", "fixture")], settings);
    let deployed = net.net.deploy_with_secrets(dir.path(), vec![sealed]).await.unwrap();

    let expected = format!("len={} fnv={:016x}", canary.len(), fnv1a(canary.as_bytes()));
    let authorized_peer = authorized.peer_id().to_string().to_lowercase();
    for _ in 0..12 {
        let reply = get(&format!("{}?mode=env&name=CANARY", net.url("vault", "read"))).await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        assert_eq!(reply.body, expected.as_bytes(), "the function reads the secret");
        assert_eq!(
            reply.header("x-peerhost-worker").map(str::to_lowercase).as_deref(),
            Some(authorized_peer.as_str()),
            "only the authorized worker runs it"
        );
    }
    // A function of the same project that does not declare the secret does not see it.
    let reply = get(&format!("{}?mode=env&name=CANARY", net.url("vault", "plain"))).await;
    assert_eq!(reply.body, &b"unset"[..]);

    // The gossiped deployment holds only ciphertext, and nothing was logged in clear.
    assert!(!contains(&codec::encode(&deployed.signed), canary.as_bytes()));
    let logged = logs.0.lock().unwrap().clone();
    assert!(logged.len() > 10_000, "the capture saw the network's logs");
    assert!(!contains(&logged, canary.as_bytes()), "the canary appears in a log line");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_that_needs_an_unset_secret_is_refused() {
    let net = TestNet::start(1, |_| {}).await;
    let dir =
        project("vault", &[("read", "fixture")], "[functions.read]\nsecrets = [\"API_KEY\"]\n");
    let error = net.net.deploy(dir.path()).await.unwrap_err().to_string();
    assert!(error.contains("'read' needs the secret API_KEY"), "{error}");
    assert!(error.contains("peerhost-node secrets set vault API_KEY"), "{error}");
}
