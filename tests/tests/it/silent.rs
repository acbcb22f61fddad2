//! A mesh peer that behaves like a worker on the wire — heartbeats, subscriptions — but never
//! delivers a result. Built from the real mesh (`peerhost_node::mesh`), not a mock.

use std::{sync::Arc, time::Duration};

use peerhost_node::mesh::{self, MeshClient, MeshConfig, MeshEvent, MessageAcceptance};
use peerhost_protocol::{DeploymentRecord, ExecutionRequest, NodeSecret, codec, topics};
use peerhost_tests::TestNet;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

pub(crate) struct SilentWorker {
    attempts: Arc<Mutex<Vec<u8>>>,
    _stop: tokio_util::sync::DropGuard,
    _mesh: MeshClient,
}

impl SilentWorker {
    pub(crate) async fn join(net: &TestNet, record: &DeploymentRecord) -> Self {
        let secret = NodeSecret::from_bytes(&[0x5a; 32]);
        let config =
            MeshConfig { bootstrap: vec![net.net.bootstrap_addr()], ..MeshConfig::default() };
        let stop = CancellationToken::new();
        let (mesh, mut events) = mesh::spawn(&secret, config, stop.clone()).expect("mesh starts");
        let topic = topics::exec_topic(topics::exec_shard(&record.owner, &record.project));
        mesh.subscribe(topic.clone()).await.expect("subscribe");
        let attempts = Arc::new(Mutex::new(Vec::new()));

        let seen = attempts.clone();
        let reporter = mesh.clone();
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                if let MeshEvent::Gossip(message) = event {
                    let order = message.open().ok().map(|p| p.data);
                    if let Some(Ok(request)) =
                        order.map(|data| codec::decode::<ExecutionRequest>(&data))
                    {
                        seen.lock().await.push(request.attempt);
                    }
                    reporter.report(
                        message.id,
                        message.propagation_source,
                        MessageAcceptance::Accept,
                    );
                }
            }
        });
        peerhost_tests::posing::heartbeats(mesh.clone(), vec![], stop.clone());

        // Connect to the gateway directly (not only through discovery), then wait until it
        // lists us and hears our subscription.
        for addr in net.net.gateway.dial_addrs() {
            let _ = mesh.dial(addr).await;
        }
        let key = secret.public();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let listed = net.net.gateway.view().directory.read().unwrap().get(&key).is_some();
            let subscribed =
                net.net.gateway.mesh().topic_peers(topic.clone()).await.unwrap_or_default();
            if listed && subscribed.contains(&mesh.peer_id()) {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the gateway never saw the silent worker (listed: {listed}, topic peers: {subscribed:?})"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self { attempts, _stop: stop.drop_guard(), _mesh: mesh }
    }

    pub(crate) async fn attempts_seen(&self) -> Vec<u8> {
        let mut seen = self.attempts.lock().await.clone();
        seen.sort_unstable();
        seen.dedup();
        seen
    }
}
