//! Gossipsub peer scoring against real nodes, from raw gossipsub peers built here: a peer that
//! publishes junk, oversized messages or messages with forged publisher signatures is
//! graylisted by the node it floods, while an honest peer whose messages are 5 % lost (gaps
//! the node never sees) never scores below zero.

use std::time::Duration;

use futures::StreamExt;
use libp2p::{Multiaddr, PeerId, SwarmBuilder, gossipsub, multiaddr::Protocol, noise, tcp, yamux};
use peerhost_node::Node;
use peerhost_protocol::{Heartbeat, NodeSecret, Published, codec, gossip_message_id, topics};
use peerhost_tests::{TestNet, poll_until};
use tokio::sync::mpsc;

/// Score below which a node ignores a peer (`node/src/mesh/scoring.rs`).
const GRAYLIST: f64 = -1000.0;

/// A bare gossipsub peer connected to one node: publishes what it is told on one topic, as
/// PeerHost nodes do (anonymous gossipsub, content-hash message ids).
struct GossipPeer {
    id: PeerId,
    secret: NodeSecret,
    topic: &'static str,
    publish: mpsc::UnboundedSender<Vec<u8>>,
}

impl GossipPeer {
    async fn join(target: &Node, topic: &'static str) -> Self {
        let secret = NodeSecret::from_bytes(&rand::random());
        let key = peerhost_node::mesh::keypair(&secret);
        let id = key.public().to_peer_id();
        let config = gossipsub::ConfigBuilder::default()
            .max_transmit_size(1 << 20)
            .heartbeat_interval(Duration::from_millis(200))
            .validation_mode(gossipsub::ValidationMode::Anonymous)
            .message_id_fn(|m| gossipsub::MessageId::new(&gossip_message_id(&m.data)))
            .build()
            .unwrap();
        let mut swarm = SwarmBuilder::with_existing_identity(key)
            .with_tokio()
            .with_tcp(tcp::Config::default(), noise::Config::new, yamux::Config::default)
            .unwrap()
            .with_behaviour(|_| {
                let anonymous = gossipsub::MessageAuthenticity::Anonymous;
                gossipsub::Behaviour::<gossipsub::IdentityTransform>::new(anonymous, config)
                    .unwrap()
            })
            .unwrap()
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
            .build();
        let ident = gossipsub::IdentTopic::new(topic);
        swarm.behaviour_mut().subscribe(&ident).unwrap();
        let addr = target
            .dial_addrs()
            .into_iter()
            .find(|a: &Multiaddr| a.iter().any(|p| matches!(p, Protocol::Tcp(_))))
            .unwrap();
        swarm.dial(addr).unwrap();
        let (publish, mut outbox) = mpsc::unbounded_channel::<Vec<u8>>();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    event = swarm.next() => if event.is_none() { break },
                    data = outbox.recv() => match data {
                        Some(data) => { let _ = swarm.behaviour_mut().publish(ident.clone(), data); }
                        None => break,
                    },
                }
            }
        });
        let peer = Self { id, secret, topic, publish };
        // Wait until the node knows this peer is on the topic (it then takes its messages).
        poll_until("the node sees the raw peer on the topic", Duration::from_secs(20), || async {
            let peers = target.mesh().topic_peers(topic).await.unwrap();
            peers.contains(&peer.id).then_some(())
        })
        .await;
        peer
    }

    /// Publishes `data` as this peer's signed gossip message number `seqno`.
    fn send(&self, seqno: u64, data: Vec<u8>) {
        self.send_raw(codec::encode(&Published::seal(&self.secret, self.topic, seqno, data)));
    }

    /// Publishes exactly these bytes.
    fn send_raw(&self, bytes: Vec<u8>) {
        self.publish.send(bytes).unwrap();
    }
}

fn heartbeat(seq: u64) -> Vec<u8> {
    codec::encode(&Heartbeat {
        seq,
        free_slots: 1,
        max_slots: 1,
        engine: peerhost_protocol::ENGINE_ID.to_owned(),
        blob_addrs: vec![],
        bundles: vec![],
        mesh_addrs: vec![],
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junk_and_oversized_messages_get_a_peer_graylisted() {
    let net = TestNet::start(0, |_| {}).await;
    let gateway = &net.net.gateway;
    let spammer = GossipPeer::join(gateway, topics::WORKERS).await;
    // Junk that is no signed gossip message, signed heartbeats far past a heartbeat's size
    // limit (yet within the transport's), and heartbeats whose signature is another key's:
    // each one the node rejects costs the sender.
    let forger = NodeSecret::from_bytes(&[0x42; 32]);
    for i in 0..21u64 {
        match i % 3 {
            0 => spammer.send_raw([vec![0xff; 8], i.to_be_bytes().to_vec()].concat()),
            1 => spammer.send(i, [heartbeat(i), vec![0; 64 * 1024]].concat()),
            _ => {
                let mut forged = Published::seal(&forger, topics::WORKERS, i, heartbeat(i));
                forged.publisher = spammer.secret.public();
                spammer.send_raw(codec::encode(&forged));
            }
        }
    }
    poll_until("the spammer is graylisted", Duration::from_secs(30), || async {
        let score = gateway.mesh().peer_score(spammer.id).await.unwrap()?;
        (score < GRAYLIST).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_honest_peer_losing_five_percent_of_its_messages_never_scores_below_zero() {
    let net = TestNet::start(0, |_| {}).await;
    let gateway = &net.net.gateway;
    let honest = GossipPeer::join(gateway, topics::WORKERS).await;
    let key = peerhost_node::mesh::node_key(&honest.id).unwrap();
    let mut lowest = f64::MAX;
    for seq in 1..=400u64 {
        // Every 20th heartbeat is lost on the way: the node never sees it.
        if seq % 20 != 0 {
            honest.send(seq, heartbeat(seq));
        }
        if seq % 10 == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            if let Some(score) = gateway.mesh().peer_score(honest.id).await.unwrap() {
                lowest = lowest.min(score);
            }
        }
    }
    // The node took the heartbeats (the peer is a live worker to it) and never scored it down.
    poll_until("the last heartbeat arrives", Duration::from_secs(20), || async {
        let directory = gateway.view().directory.read().unwrap();
        (directory.get(&key)?.heartbeat.seq == 399).then_some(())
    })
    .await;
    let score = gateway.mesh().peer_score(honest.id).await.unwrap().unwrap();
    assert!(lowest < f64::MAX, "the score was sampled while publishing");
    assert!(lowest >= 0.0 && score >= 0.0, "lowest {lowest}, now {score}");
}
