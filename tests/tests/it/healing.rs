//! A mesh that heals itself: a node that missed a deployment's announcement learns it by
//! anti-entropy (catalog digests compared with random peers) and then serves it.

use std::time::Duration;

use peerhost_node::clock;
use peerhost_tests::{TestNet, poll_until, project};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_missed_an_announcement_converges() {
    let net = TestNet::start(1, |_| {}).await;
    // A worker that hears no announcement at all, comparing catalogs every 250 ms.
    let deaf = net
        .net
        .start_worker_with("deaf", |config| {
            config.deaf_to_announcements = true;
            config.anti_entropy_interval = Duration::from_millis(250);
        })
        .await
        .unwrap();
    let gateway = &net.net.gateway;
    poll_until("the gateway sees the deaf worker", Duration::from_secs(20), || async {
        let directory = gateway.view().directory.read().unwrap();
        directory.get(&deaf.node_key()).is_some().then_some(())
    })
    .await;
    let dir = project("missed", &[("echo", "echo")], "");
    let deployed = net.deploy(dir.path()).await;
    let owner = net.net.owner();

    // It converges within a bounded number of rounds, without any re-announcement...
    poll_until("the deaf worker learns the deployment", Duration::from_secs(10), || async {
        let registry = deaf.view().registry.read().unwrap();
        registry.get(&owner, "missed").filter(|d| d.record.version == deployed.record.version)
    })
    .await;
    // ... and, being a worker, fetches the bundle and is ready to race for it.
    poll_until("the deaf worker holds the bundle", Duration::from_secs(20), || async {
        let directory = gateway.view().directory.read().unwrap();
        let info = directory.get(&deaf.node_key())?;
        (info.holds(&deployed.record.bundle) && info.seen_ms + 5_000 > clock::unix_ms())
            .then_some(())
    })
    .await;
    deaf.shutdown().await;
}
