//! Catalog sync: how a node learns deployments it did not hear announced. A joining node
//! pulls the catalogs of its first peers; every node, every `anti_entropy_interval`, sends its
//! [`CatalogDigest`] to one random peer and pulls the records of the buckets that differ.
//! Pulled records are verified like gossiped ones (owner signature, newest version wins), and
//! those a periodic round finds new are forwarded on gossip (without bundle addresses: the
//! forwarder vouches for nothing but the signature), so the neighbours that missed the same
//! announcement converge at once.

use std::sync::{Arc, atomic::Ordering};

use libp2p::PeerId;
use peerhost_protocol::{
    Announcement, CATALOG_PAGE, CatalogRequest, CatalogResponse, SignedDeployment, codec, topics,
};
use rand::seq::IndexedRandom;
use tracing::{debug, info};

use super::Shared;
use crate::dispatch::Inserted;

/// Peers asked for their whole catalog when they connect (enough to converge, few enough not
/// to multiply traffic).
const JOIN_SYNC_PEERS: usize = 3;
/// Most catalog pages fetched from one peer in one sync.
const MAX_PAGES: u32 = 1024;
/// Most pulled records one periodic round forwards on gossip.
const MAX_FORWARDS: usize = 16;

/// Why a sync runs: decides whether what it finds is forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sync {
    /// A new connection: the node may know nothing yet; forwarding would flood.
    Join,
    /// A periodic round: anything found was missed, likely by neighbours too.
    Round,
}

impl Shared {
    /// The page a peer asked for: everything, or the buckets where its digest differs.
    pub(super) fn catalog_page(&self, request: &CatalogRequest) -> CatalogResponse {
        let registry = self.view.registry.read().expect("registry lock");
        let offset = request.offset as usize;
        let (deployments, more) = match &request.digest {
            Some(theirs) => registry.page_differing(theirs, offset, CATALOG_PAGE),
            None => registry.page(offset, CATALOG_PAGE),
        };
        CatalogResponse { deployments, more }
    }

    /// Pulls a newly connected peer's catalog (the first few peers only).
    pub(super) fn sync_catalog(self: &Arc<Self>, peer: PeerId) {
        if self.catalog_syncs.fetch_add(1, Ordering::Relaxed) >= JOIN_SYNC_PEERS {
            return;
        }
        let shared = self.clone();
        tokio::spawn(async move {
            if shared.pull(peer, Sync::Join).await.is_err() {
                // Peers without a catalog (or gone): let another peer count instead.
                shared.catalog_syncs.fetch_sub(1, Ordering::Relaxed);
                return;
            }
            #[cfg(feature = "gateway")]
            if let Some(gateway) = &shared.gateway {
                gateway.catalog_pulled.store(true, Ordering::Relaxed);
            }
        });
    }

    /// Compares catalogs with one random connected peer.
    pub(super) fn anti_entropy_round(self: &Arc<Self>) {
        let shared = self.clone();
        tokio::spawn(async move {
            let Ok(peers) = shared.mesh.connected_peers().await else { return };
            #[allow(clippy::disallowed_methods)] // which peer is asked needs no reproducibility
            let Some(peer) = peers.choose(&mut rand::rng()).copied() else { return };
            let _ = shared.pull(peer, Sync::Round).await;
        });
    }

    /// Pulls what `peer` holds and this node lacks; returns how many records changed here.
    async fn pull(self: &Arc<Self>, peer: PeerId, why: Sync) -> Result<usize, ()> {
        let digest = self.view.registry.read().expect("registry lock").digest().clone();
        let (mut changed, mut forwarded) = (0, 0);
        for page in 0..MAX_PAGES {
            let request =
                CatalogRequest { offset: page * CATALOG_PAGE as u32, digest: Some(digest.clone()) };
            let response = self.mesh.fetch_catalog(peer, request).await.map_err(|e| {
                debug!(target: "peerhost::node", %peer, error = %e, "catalog sync failed");
            })?;
            for deployment in response.deployments {
                let forward = why == Sync::Round && forwarded < MAX_FORWARDS;
                let copy = forward.then(|| deployment.clone());
                if let Ok(Inserted::New | Inserted::Upgraded { .. }) =
                    self.on_deployment(deployment, None)
                {
                    changed += 1;
                    if let Some(deployment) = copy {
                        forwarded += 1;
                        self.forward(deployment);
                    }
                }
            }
            if !response.more {
                break;
            }
        }
        if why == Sync::Round && changed > 0 {
            info!(target: "peerhost::node", %peer, changed, "catalog repaired from a peer");
        }
        Ok(changed)
    }

    /// Gossips a pulled record, without addresses (this node does not vouch for its bundle).
    fn forward(&self, deployment: SignedDeployment) {
        let data = codec::encode(&Announcement { deployment, blob_addrs: Vec::new() });
        let mesh = self.mesh.clone();
        tokio::spawn(async move { mesh.publish(topics::DEPLOYMENTS, data).await });
    }
}
