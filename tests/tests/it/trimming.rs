//! Connections nothing uses are closed: a hub that every newcomer dials keeps `target_peers`
//! plus its gossip mesh and its links, instead of every connection forever (gossipsub's
//! streams alone would keep them all open).

use std::time::Duration;

use bytes::Bytes;
use libp2p::{Multiaddr, multiaddr::Protocol};
use peerhost_node::mesh::{self, FrameLimits, LinkHandler, LinkSender, MeshClient, MeshConfig};
use peerhost_protocol::NodeSecret;
use peerhost_tests::poll_until;
use tokio_util::sync::CancellationToken;

const LEAVES: usize = 16;
const PROTOCOL: &str = "/peerhost-test/trim/1";

/// A link handler that ignores what arrives.
struct Quiet;

impl LinkHandler for Quiet {
    fn frame(&mut self, _link: &LinkSender, _frame: Bytes) -> Result<(), String> {
        Ok(())
    }

    fn closed(&mut self, _link: &LinkSender) {}
}

fn start(seed: u8, config: MeshConfig, stop: &CancellationToken) -> MeshClient {
    let secret = NodeSecret::from_bytes(&[seed; 32]);
    let (mesh, mut events) = mesh::spawn(&secret, config, stop.child_token()).expect("mesh starts");
    // Nobody reads this node's events in this test: drain them.
    tokio::spawn(async move { while events.recv().await.is_some() {} });
    mesh
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_hangs_up_on_connections_nothing_uses_but_keeps_its_links() {
    let stop = CancellationToken::new();
    let _stop = stop.clone().drop_guard();
    let target = 2;
    let hub = start(
        0x70,
        MeshConfig { target_peers: target, mesh_degree: 2, ..MeshConfig::default() },
        &stop,
    );
    let mut accepted = hub.accept_streams(PROTOCOL).expect("accept links");
    let (hub_mesh, link_stop) = (hub.clone(), stop.clone());
    tokio::spawn(async move {
        while let Some((peer, stream)) = futures::StreamExt::next(&mut accepted).await {
            let limits = FrameLimits { inbound: 1024, outbound: 1024 };
            let _ = hub_mesh.spawn_link(peer, stream, limits, Quiet, &link_stop);
        }
    });
    let addr: Multiaddr = hub.wait_listening(1).await.expect("hub listens")[0]
        .clone()
        .with(Protocol::P2p(hub.peer_id()));

    let leaves: Vec<MeshClient> = (0..LEAVES)
        .map(|i| {
            let config = MeshConfig { bootstrap: vec![addr.clone()], ..MeshConfig::default() };
            start(0x80 + i as u8, config, &stop)
        })
        .collect();
    poll_until("every leaf connects to the hub", Duration::from_secs(20), || async {
        let connected = hub.connected_peers().await.ok()?;
        (connected.len() >= LEAVES).then_some(())
    })
    .await;

    // One leaf holds a link to the hub.
    let linked = &leaves[0];
    let stream = linked.open_stream(hub.peer_id(), PROTOCOL).await.expect("link opens");
    let limits = FrameLimits { inbound: 1024, outbound: 1024 };
    let link = linked.spawn_link(hub.peer_id(), stream, limits, Quiet, &stop);

    // The hub's gossip meshes hold at most 2D = 4 peers per topic on three topics: with
    // sixteen leaves connected, only trimming gets it down to this.
    let most = target + 3 * 4;
    let kept = poll_until("the hub trims what nothing uses", Duration::from_secs(30), || async {
        let connected = hub.connected_peers().await.ok()?;
        (connected.len() <= most).then_some(connected)
    })
    .await;
    assert!(kept.contains(&linked.peer_id()), "the linked leaf was trimmed");
    assert!(!link.is_closed(), "the link closed");
    // The leaves that were hung up on still have peers (each other, and the hub's mesh).
    poll_until("every leaf has a peer", Duration::from_secs(10), || async {
        for leaf in &leaves {
            if leaf.connected_peers().await.ok()?.is_empty() {
                return None;
            }
        }
        Some(())
    })
    .await;
}
