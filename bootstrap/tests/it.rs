//! `peerhost-bootstrap` prints where to join, and peers that only know it find each other.

#![allow(clippy::unwrap_used, clippy::disallowed_methods)]

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use libp2p::Multiaddr;
use peerhost_node::mesh::{self, MeshConfig};
use peerhost_protocol::NodeSecret;
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_meet_through_the_bootstrap_node() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_peerhost-bootstrap"))
        .args(["--listen", "/ip4/127.0.0.1/tcp/0", "--data-dir"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let peer_line = lines.next().unwrap().unwrap();
    assert!(peer_line.starts_with("peer 12D3Koo"), "{peer_line}");
    let listening = lines.next().unwrap().unwrap();
    let addr: Multiaddr = listening.strip_prefix("listening ").unwrap().parse().unwrap();
    assert_eq!(mesh::peer_of(&addr).unwrap().to_string(), peer_line["peer ".len()..]);

    let stop = CancellationToken::new();
    let _guard = stop.clone().drop_guard();
    let join = |seed: u8| {
        let config = MeshConfig { bootstrap: vec![addr.clone()], ..MeshConfig::default() };
        mesh::spawn(&NodeSecret::from_bytes(&[seed; 32]), config, stop.child_token()).unwrap().0
    };
    let (a, b) = (join(1), join(2));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let peers = a.connected_peers().await.unwrap();
        if peers.contains(&b.peer_id()) {
            break;
        }
        assert!(Instant::now() < deadline, "a never found b through the bootstrap node: {peers:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
}
