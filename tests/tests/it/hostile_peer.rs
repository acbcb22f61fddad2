//! A raw libp2p peer (noise and yamux done right, everything above wrong) sends garbage on
//! every protocol a node speaks — gossipsub, Kademlia, identify, ping and the request-response
//! streams — as random bytes, absurd length prefixes, plausible frames of nonsense and
//! half-sent frames held open, on many streams at once, and raw bytes to the TCP port before
//! any handshake. The gateway and the worker it attacks keep serving calls throughout.

use std::time::Duration;

use futures::{AsyncWriteExt, StreamExt};
use libp2p::{
    Multiaddr, PeerId, StreamProtocol, SwarmBuilder, multiaddr::Protocol, noise, tcp, yamux,
};
use peerhost_protocol::topics;
use peerhost_tests::{TestNet, get, poll_until, project};
use tokio::io::AsyncWriteExt as _;

/// Every protocol a PeerHost node accepts streams for.
const PROTOCOLS: &[&str] = &[
    "/meshsub/1.0.0",
    "/meshsub/1.1.0",
    "/meshsub/1.2.0",
    "/peerhost/kad/1.0.0",
    "/ipfs/id/1.0.0",
    "/ipfs/id/push/1.0.0",
    "/ipfs/ping/1.0.0",
    topics::DELIVER_PROTOCOL,
    topics::BODY_PROTOCOL,
    topics::CATALOG_PROTOCOL,
];

/// Deterministic garbage (splitmix64).
fn garbage(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed;
    (0..len.div_ceil(8))
        .flat_map(|_| {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            (z ^ (z >> 31)).to_le_bytes()
        })
        .take(len)
        .collect()
}

/// The ways a stream is abused.
fn payloads(seed: u64) -> Vec<Vec<u8>> {
    let mut plausible = Vec::new();
    for i in 0..50 {
        plausible.push(100); // a varint length prefix of 100 bytes...
        plausible.extend(garbage(seed + i, 100)); // ... of nonsense
    }
    vec![
        garbage(seed, 64 * 1024),
        [vec![0xff; 9], garbage(seed + 1, 1024)].concat(), // a length of about 2^63
        [vec![0x80, 0x80, 0x40], garbage(seed + 2, 10)].concat(), // 1 MiB announced, 10 sent
        plausible,
    ]
}

/// The TCP address among a node's dial addresses, and its peer id.
fn tcp_addr(addrs: &[Multiaddr]) -> (Multiaddr, PeerId) {
    let addr = addrs
        .iter()
        .find(|a| a.iter().any(|p| matches!(p, Protocol::Tcp(_))))
        .expect("a TCP address")
        .clone();
    let peer = addr
        .iter()
        .find_map(|p| match p {
            Protocol::P2p(peer) => Some(peer),
            _ => None,
        })
        .expect("a peer id");
    (addr, peer)
}

/// What an attack did: streams whose garbage the node took in full, per protocol, and the
/// half-sent streams still held open.
struct Attack {
    accepted: Vec<usize>,
    held: Vec<libp2p::Stream>,
}

/// Attacks `targets` from one raw peer: every protocol, every payload, `rounds` times.
async fn attack(targets: &[(Multiaddr, PeerId)], rounds: u64) -> Attack {
    let mut swarm = SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(tcp::Config::default(), noise::Config::new, yamux::Config::default)
        .unwrap()
        .with_behaviour(|_| libp2p_stream::Behaviour::new())
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build();
    let mut control = swarm.behaviour().new_control();
    for (addr, _) in targets {
        swarm.dial(addr.clone()).unwrap();
    }
    tokio::spawn(async move { while swarm.next().await.is_some() {} });

    let mut held = Vec::new();
    let mut accepted = vec![0; PROTOCOLS.len()];
    for round in 0..rounds {
        for (_, peer) in targets {
            for (p, protocol) in PROTOCOLS.iter().enumerate() {
                for (k, payload) in payloads(round * 1000 + p as u64).into_iter().enumerate() {
                    let protocol = StreamProtocol::new(protocol);
                    // The node may refuse or reset a stream: that is a fine answer.
                    let Ok(mut stream) = control.open_stream(*peer, protocol).await else {
                        continue;
                    };
                    let written = stream.write_all(&payload).await;
                    accepted[p] += usize::from(written.is_ok());
                    if k == 2 && written.is_ok() {
                        held.push(stream);
                    } else {
                        let _ = stream.close().await;
                    }
                }
            }
        }
    }
    Attack { accepted, held }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_on_every_protocol_neither_crashes_nor_stalls_a_node() {
    let net = TestNet::start(1, |_| {}).await;
    let dir = project("sturdy", &[("echo", "echo")], "");
    net.deploy(dir.path()).await;
    let url = net.url("sturdy", "echo");
    assert_eq!(get(&url).await.status, 200);

    let targets =
        [tcp_addr(&net.net.gateway.dial_addrs()), tcp_addr(&net.net.workers[0].dial_addrs())];
    // Bytes before any handshake, on the raw TCP port.
    for (addr, _) in &targets {
        let port = addr.iter().find_map(|p| match p {
            Protocol::Tcp(port) => Some(port),
            _ => None,
        });
        let mut socket =
            tokio::net::TcpStream::connect(("127.0.0.1", port.unwrap())).await.unwrap();
        let _ = socket.write_all(&garbage(42, 256 * 1024)).await;
    }
    let Attack { accepted, held } = attack(&targets, 3).await;
    // Every protocol was really attacked: the nodes took garbage on each (and then reset).
    // Gossipsub takes the first streams, then refuses the connection any more of them.
    let gossip: usize = accepted[..3].iter().sum();
    assert!(gossip > 0, "no gossipsub stream was accepted");
    for (protocol, n) in PROTOCOLS.iter().zip(&accepted).skip(3) {
        assert!(*n > 0, "no stream of {protocol} was accepted");
    }
    assert!(!held.is_empty(), "half-sent streams are held open");

    // Both nodes still serve: calls go through while half-sent streams are held open, and
    // the worker still heartbeats to the gateway.
    for _ in 0..5 {
        assert_eq!(get(&url).await.status, 200);
    }
    let worker = net.net.workers[0].node_key();
    let gateway = &net.net.gateway;
    let before = gateway.view().directory.read().unwrap().get(&worker).unwrap().heartbeat.seq;
    poll_until("a fresh heartbeat from the attacked worker", Duration::from_secs(10), || async {
        let directory = gateway.view().directory.read().unwrap();
        (directory.get(&worker)?.heartbeat.seq > before).then_some(())
    })
    .await;
    drop(held);
    assert_eq!(get(&url).await.status, 200);
}
