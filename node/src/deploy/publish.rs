//! Publishing a bundle: store it, sign the deployment record with the owner's wallet,
//! announce it, and wait until enough workers hold it that the deployer can go offline.

use std::time::Duration;

use peerhost_protocol::{
    Announcement, DeploymentRecord, NodeKey, SignedDeployment, Wallet, codec, topics,
};
use tracing::debug;

use super::DeployError;
use crate::{blobs::Bundle, clock, dispatch::Deployment, mesh::MeshError, runtime::Node};

/// How a deployment is published.
#[derive(Debug, Clone)]
pub struct PublishOptions {
    /// Return once this many workers hold the bundle (0: return shortly after announcing).
    pub replicas: usize,
    /// Give up after this long.
    pub timeout: Duration,
    /// Where payments for priced functions are credited (`None`: the owner).
    pub payout: Option<peerhost_protocol::Owner>,
    /// The project's sealed secrets.
    pub secrets: Vec<peerhost_protocol::ProjectSecret>,
    /// The iroh relay the deployer's blob store is homed on, so that workers with no direct
    /// path to it (behind NATs) fetch the bundle through the relay.
    pub blob_relay: Option<crate::blobs::RelayUrl>,
}

impl Default for PublishOptions {
    fn default() -> Self {
        Self {
            replicas: 1,
            timeout: Duration::from_secs(60),
            payout: None,
            secrets: Vec::new(),
            blob_relay: None,
        }
    }
}

/// A published deployment.
#[derive(Debug, Clone)]
pub struct Deployed {
    /// The signed record.
    pub signed: SignedDeployment,
    /// The record.
    pub record: DeploymentRecord,
    /// Workers that held the bundle when publishing returned.
    pub replicas: Vec<NodeKey>,
}

/// How often the announcement is repeated while waiting for replicas (reaches workers that
/// joined in the meantime).
const REANNOUNCE: Duration = Duration::from_secs(3);

/// How long a deployer that waits for no replicas stays connected after announcing. Nobody
/// confirms receipt then, and a node that shuts down at once can drop the announcement from
/// its connections' send queues before it is written (seen on a loaded 2-core machine).
const LINGER: Duration = Duration::from_secs(1);

impl Node {
    /// Publishes `bundle` as the next version of its project, owned by `wallet`.
    ///
    /// # Errors
    ///
    /// [`DeployError::NoBlobStore`] if this node serves no blobs, [`DeployError::NoPeers`] if
    /// nobody hears the announcement, [`DeployError::NotReplicated`] if too few workers fetch
    /// the bundle in time.
    pub async fn publish(
        &self,
        wallet: &Wallet,
        bundle: &Bundle,
        options: &PublishOptions,
    ) -> Result<Deployed, DeployError> {
        let blobs = self.blobs().ok_or(DeployError::NoBlobStore)?;
        let hash = blobs
            .add_bundle(bundle.members())
            .await
            .map_err(|e| DeployError::Blobs(e.to_string()))?;
        debug_assert_eq!(hash, bundle.hash());
        let owner = wallet.owner();
        let project = bundle.manifest.project.clone();
        let now = clock::unix_ms();
        let previous = self.view().registry.read().expect("registry lock").get(&owner, &project);
        let version = previous.map_or(now, |d| now.max(d.record.version + 1));
        let record = DeploymentRecord {
            owner,
            project,
            version,
            bundle: hash,
            manifest: bundle.manifest.clone(),
            created_at_ms: now,
            payout: options.payout,
            secrets: options.secrets.clone(),
        };
        let signed = SignedDeployment::sign(wallet, &record);
        self.view()
            .registry
            .write()
            .expect("registry lock")
            .insert_verified(Deployment { record: record.clone(), signed: signed.clone() });
        self.view().add_announcer(hash, self.node_key());

        let announcement = codec::encode(&Announcement {
            deployment: signed.clone(),
            blob_addrs: blobs.addr_strings(),
        });
        let deadline = tokio::time::Instant::now() + options.timeout;
        let mut announced = false;
        let mut next_announce = tokio::time::Instant::now();
        loop {
            let now = tokio::time::Instant::now();
            if now >= next_announce {
                match self.mesh().publish(topics::DEPLOYMENTS, announcement.clone()).await {
                    Ok(()) => announced = true,
                    Err(MeshError::NoPeers(_)) => {
                        debug!(target: "peerhost::deploy", "no peers yet")
                    }
                    Err(e) => return Err(DeployError::Mesh(e.to_string())),
                }
                next_announce =
                    now + if announced { REANNOUNCE } else { Duration::from_millis(250) };
            }
            let replicas = self.replicas(&hash);
            if announced && replicas.len() >= options.replicas {
                if options.replicas == 0 {
                    tokio::time::sleep(LINGER).await;
                }
                return Ok(Deployed { signed, record, replicas });
            }
            if now >= deadline {
                return Err(if announced {
                    DeployError::NotReplicated { wanted: options.replicas, got: replicas.len() }
                } else {
                    DeployError::NoPeers
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Live workers whose heartbeats list `bundle`.
    fn replicas(&self, bundle: &peerhost_protocol::BlobHash) -> Vec<NodeKey> {
        let now = clock::unix_ms();
        let directory = self.view().directory.read().expect("directory lock");
        directory.live(now).filter(|w| w.holds(bundle)).map(|w| w.key).collect()
    }
}
