//! For tests whose peer poses as a worker on the real mesh (silent, forging, …): the
//! heartbeats that put it in gateways' directories.

use std::time::Duration;

use peerhost_node::mesh::MeshClient;
use peerhost_protocol::{BlobHash, ENGINE_ID, Heartbeat, codec, topics};
use tokio_util::sync::CancellationToken;

/// Publishes a heartbeat every 200 ms (4 free slots, holding `bundles`) until `stop`.
pub fn heartbeats(mesh: MeshClient, bundles: Vec<BlobHash>, stop: CancellationToken) {
    tokio::spawn(async move {
        let mut seq = 1;
        while !stop.is_cancelled() {
            let heartbeat = Heartbeat {
                seq,
                free_slots: 4,
                max_slots: 4,
                engine: ENGINE_ID.into(),
                blob_addrs: vec![],
                bundles: bundles.clone(),
                mesh_addrs: vec![],
            };
            let _ = mesh.publish(topics::WORKERS, codec::encode(&heartbeat)).await;
            seq += 1;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
}
