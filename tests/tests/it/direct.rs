//! Direct dispatch: a gateway sends its orders to the racers on long-lived dispatch links (no
//! gossip once the links are open), and what comes back on a link counts only if it verifies:
//! a forging peer that poses as a worker is refused and the caller still gets the real answer.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use peerhost_node::mesh::{self, FrameLimits, LinkHandler, LinkSender, MeshConfig};
use peerhost_protocol::{
    BlobHash, Delivery, Envelope, ExecutionRequest, ExecutionResult, HttpResponse, NodeKey,
    NodeSecret, Receipt, RequestId, Wire, codec, topics,
};
use peerhost_tests::{TestNet, get, poll_until, project};
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_travel_on_dispatch_links_once_open() {
    let net = TestNet::start(2, |_| {}).await;
    let dir = project("direct", &[("echo", "fixture")], "");
    net.deploy(dir.path()).await;
    let gateway = &net.net.gateway;
    poll_until("the gateway has a link to each worker", Duration::from_secs(20), || async {
        (gateway.dispatch_stats().0 == 2).then_some(())
    })
    .await;
    let (_, _, gossiped_before) = gateway.dispatch_stats();
    let url = net.url("direct", "echo");
    for i in 0..20 {
        let reply = get(&format!("{url}?mode=status&code=200&n={i}")).await;
        assert_eq!(reply.status, 200, "{}", String::from_utf8_lossy(&reply.body));
    }
    let (links, direct, gossiped) = gateway.dispatch_stats();
    assert_eq!(links, 2);
    assert!(direct >= 20, "only {direct} orders went on links");
    assert_eq!(gossiped, gossiped_before, "an order was gossiped although every racer had a link");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_result_on_a_dispatch_link_is_refused() {
    // One racer per call, so a call the forger is named for can only end well if its forgery
    // is refused and the call moves on to the honest worker.
    let net = TestNet::start(1, |options| {
        options.gateway.fast_racers = 1;
        options.gateway.max_attempts = 3;
    })
    .await;
    let dir = project("forged", &[("echo", "fixture")], "");
    let deployed = net.deploy(dir.path()).await;
    let honest = net.net.workers[0].node_key();
    let honest_peer = net.net.workers[0].peer_id().to_string();
    let forger = Forger::join(&net, deployed.record.bundle, honest).await;
    let gateway = &net.net.gateway;
    poll_until("the gateway links to both workers", Duration::from_secs(20), || async {
        (gateway.dispatch_stats().0 == 2 && forger.links.load(Ordering::Relaxed) > 0).then_some(())
    })
    .await;

    let url = net.url("forged", "echo");
    let mut i = 0;
    // Until the forger has been asked for (and answered with) every kind of forgery.
    // A refused forgery drops the forger to the lowest weight, so it is named rarely after.
    while forger.forged.load(Ordering::Relaxed) < FORGERIES {
        i += 1;
        assert!(i < 2_000, "the forger was hardly ever named ({i} calls)");
        let reply = get(&format!("{url}?mode=status&code=200&n={i}")).await;
        assert_eq!(reply.status, 200, "{}", String::from_utf8_lossy(&reply.body));
        assert_ne!(&reply.body[..], FORGED_BODY, "a forged body reached the caller");
        assert_eq!(reply.header("x-peerhost-worker"), Some(honest_peer.as_str()));
    }
    assert_eq!(gateway.dispatch_stats().2, 0, "the forger was reached by gossip, not its link");
    assert!(gateway.worker_weight(&forger.key) < 0.1, "the forger kept its reputation");
}

const FORGED_BODY: &[u8] = b"forged";
/// Kinds of forgery the forger rotates through.
const FORGERIES: usize = 4;

/// A peer that joins as a worker holding the bundle, accepts the gateway's dispatch link, and
/// answers every order with a forged result.
struct Forger {
    key: NodeKey,
    links: Arc<AtomicUsize>,
    forged: Arc<AtomicUsize>,
    _stop: tokio_util::sync::DropGuard,
}

impl Forger {
    async fn join(net: &TestNet, bundle: BlobHash, honest: NodeKey) -> Self {
        let secret = NodeSecret::from_bytes(&[0x6b; 32]);
        let config =
            MeshConfig { bootstrap: vec![net.net.bootstrap_addr()], ..MeshConfig::default() };
        let stop = CancellationToken::new();
        let (mesh, _events) = mesh::spawn(&secret, config, stop.clone()).expect("mesh starts");
        let mut incoming = mesh.accept_streams(topics::DISPATCH_PROTOCOL).expect("accept links");
        let (links, forged) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));

        let (opened, count, token) = (links.clone(), forged.clone(), stop.clone());
        let (me, linker) = (secret.clone(), mesh.clone());
        tokio::spawn(async move {
            while let Some((peer, stream)) = futures::StreamExt::next(&mut incoming).await {
                opened.fetch_add(1, Ordering::Relaxed);
                let limits = FrameLimits {
                    inbound: ExecutionRequest::MAX_BYTES,
                    outbound: Delivery::MAX_BYTES,
                };
                let handler = Forgeries { me: me.clone(), honest, forged: count.clone() };
                linker.spawn_link(peer, stream, limits, handler, &token);
            }
        });
        peerhost_tests::posing::heartbeats(mesh.clone(), vec![bundle], stop.clone());
        for addr in net.net.gateway.dial_addrs() {
            let _ = mesh.dial(addr).await;
        }
        Self { key: secret.public(), links, forged, _stop: stop.drop_guard() }
    }
}

struct Forgeries {
    me: NodeSecret,
    honest: NodeKey,
    forged: Arc<AtomicUsize>,
}

impl LinkHandler for Forgeries {
    fn frame(&mut self, link: &LinkSender, frame: Bytes) -> Result<(), String> {
        let order = codec::decode::<ExecutionRequest>(&frame).map_err(|e| e.to_string())?;
        let id = order.id();
        let forged = HttpResponse { status: 200, headers: vec![], body: FORGED_BODY.to_vec() };
        let receipt = |request_id: RequestId, result_hash, worker| Receipt {
            request_id,
            result_hash,
            worker,
            fuel_used: 1,
            bundle: order.bundle,
        };
        let me = self.me.public();
        let n = self.forged.fetch_add(1, Ordering::Relaxed);
        let (signer, receipt) = match n % FORGERIES {
            // The honest worker's name on a receipt someone else signed.
            0 => (self.me.clone(), receipt(id, forged.hash(), self.honest)),
            // Its own receipt, for a response other than the one it sends.
            1 => {
                let other = HttpResponse { body: b"other".to_vec(), ..forged.clone() };
                (self.me.clone(), receipt(id, other.hash(), me))
            }
            // Its own receipt, for another request.
            2 => (self.me.clone(), receipt(RequestId([7; 32]), forged.hash(), me)),
            // A receipt signed by a third key in its own name.
            _ => (NodeSecret::from_bytes(&[0x33; 32]), receipt(id, forged.hash(), me)),
        };
        let result = ExecutionResult {
            receipt: Envelope::seal(&signer, &receipt),
            response: forged,
            chain_signature: None,
        };
        let delivery = Delivery { request_id: id, result: Some(result), declined: None };
        link.try_send(Bytes::from(codec::encode(&delivery))).map_err(|e| e.to_string())
    }

    fn closed(&mut self, _link: &LinkSender) {}
}
