//! The node's event loop: validates every gossip message (the verdict decides whether
//! gossipsub forwards it), keeps the view current, and hands work to the roles.

use std::{sync::Arc, time::Duration};

use peerhost_protocol::{
    Announcement, DeliveryAck, EpochSummary, ExecutionRequest, Heartbeat, SignedDeployment, codec,
    topics,
};
use tokio::sync::mpsc;
use tracing::{debug, info, trace};

use super::Shared;
use crate::{
    clock,
    dispatch::{self, BondRole, Inserted, Observed},
    mesh::{self, GossipMessage, MeshEvent, MessageAcceptance, Publication},
};

/// How often the loop's periodic duties run.
pub(super) struct Intervals {
    /// A worker's heartbeat.
    pub(super) heartbeat: Duration,
    /// A catalog comparison with a random peer.
    pub(super) anti_entropy: Duration,
}

pub(super) async fn run(
    shared: Arc<Shared>,
    mut events: mpsc::Receiver<MeshEvent>,
    intervals: Intervals,
) {
    let mut heartbeat = tokio::time::interval(intervals.heartbeat);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut expire = tokio::time::interval(Duration::from_secs(1));
    let start = tokio::time::Instant::now() + intervals.anti_entropy;
    let mut anti_entropy = tokio::time::interval_at(start, intervals.anti_entropy);
    anti_entropy.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            () = shared.shutdown.cancelled() => break,
            event = events.recv() => match event {
                Some(event) => shared.on_event(event),
                None => break,
            },
            _ = heartbeat.tick() => shared.heartbeat(intervals.heartbeat),
            _ = anti_entropy.tick() => shared.anti_entropy_round(),
            _ = expire.tick() => {
                shared.view.directory.write().expect("directory lock").expire(clock::unix_ms());
                shared.reconnect_workers();
            }
        }
    }
}

impl Shared {
    fn heartbeat(self: &Arc<Self>, interval: Duration) {
        #[cfg(feature = "worker")]
        if let Some(worker) = &self.worker {
            let (worker, shared) = (worker.clone(), self.clone());
            tokio::spawn(async move {
                // Retried until the next beat at most, so beats never pile up.
                worker.publish_heartbeat(interval).await;
                shared.write_status(&worker, interval).await;
            });
        }
        let _ = interval;
    }

    /// A gateway reopens the links of workers whose connection closed while their directory
    /// entry lives (each failed attempt waits before the next, see `gateway/links.rs`): a
    /// connection dropped under load costs a worker seconds of invisibility, not a heartbeat
    /// interval.
    fn reconnect_workers(&self) {
        #[cfg(feature = "gateway")]
        if let Some(gateway) = &self.gateway {
            let unreachable: Vec<_> = {
                let directory = self.view.directory.read().expect("directory lock");
                directory.unreachable(clock::unix_ms()).copied().collect()
            };
            for worker in &unreachable {
                gateway.links.connect(worker);
            }
        }
    }

    /// Writes the worker's status file (best effort: a full disk must not stop the worker).
    #[cfg(feature = "worker")]
    async fn write_status(&self, worker: &crate::worker::Worker, interval: Duration) {
        let status = self.worker_status(worker, interval).await;
        let bytes = serde_json::to_vec_pretty(&status).expect("status serializes");
        if let Err(e) = crate::atomic_file::write(&worker.status_file, &bytes) {
            debug!(target: "peerhost::worker", error = %e, "status not written");
        }
    }

    /// The worker's status now.
    #[cfg(feature = "worker")]
    pub(super) async fn worker_status(
        &self,
        worker: &crate::worker::Worker,
        interval: Duration,
    ) -> crate::worker::WorkerStatus {
        let peers = self.mesh.connected_peers().await.map_or(0, |p| p.len());
        let bonded = (!self.view.is_open()).then(|| {
            let bonds = self.view.bonds.read().expect("bonds lock");
            bonds.admits(BondRole::Worker, &self.secret.public(), 0)
        });
        #[cfg(feature = "chain")]
        let claimed = self.claims.as_ref().map(crate::chain::Claims::claimed);
        #[cfg(not(feature = "chain"))]
        let claimed = None;
        worker.status(peers, bonded, claimed, interval.as_millis() as u64)
    }

    fn on_event(self: &Arc<Self>, event: MeshEvent) {
        match event {
            MeshEvent::Gossip(message) => {
                let verdict = self.on_gossip(&message);
                self.mesh.report(message.id, message.propagation_source, verdict);
            }
            MeshEvent::Delivery { peer, delivery, reply } => {
                #[cfg(feature = "gateway")]
                if let (Some(gateway), Some(from)) = (&self.gateway, mesh::node_key(&peer)) {
                    let pending = gateway.pending.delivered(from, *delivery);
                    let _ = reply.send(DeliveryAck { pending });
                    return;
                }
                let _ = (peer, delivery);
                let _ = reply.send(DeliveryAck { pending: false });
            }
            MeshEvent::BodyRequest { request, reply, .. } => {
                #[cfg(feature = "gateway")]
                let body = self.gateway.as_ref().and_then(|g| g.pending.body(&request.request_id));
                #[cfg(not(feature = "gateway"))]
                let body: Option<bytes::Bytes> = {
                    let _ = request;
                    None
                };
                let _ =
                    reply.send(peerhost_protocol::BodyResponse { body: body.map(|b| b.to_vec()) });
            }
            MeshEvent::CatalogRequest { request, reply, .. } => {
                let _ = reply.send(self.catalog_page(&request));
            }
            MeshEvent::OrderRequest { request, reply, .. } => {
                #[cfg(feature = "gateway")]
                let order = self.gateway.as_ref().and_then(|g| g.order(&request.request_id));
                #[cfg(not(feature = "gateway"))]
                let order = {
                    let _ = request;
                    None
                };
                let _ = reply.send(peerhost_protocol::OrderResponse { order });
            }
            MeshEvent::PeerConnected { peer } => {
                if let Some(key) = mesh::node_key(&peer) {
                    self.view.directory.write().expect("directory lock").connected(&key);
                }
                self.sync_catalog(peer);
            }
            MeshEvent::PeerDisconnected { peer } => {
                let Some(key) = mesh::node_key(&peer) else { return };
                // A worker that went away (killed, crashed, unplugged) is not raced again
                // until it is heard from or connected again, rather than until its heartbeats
                // expire; a gateway tries to reconnect meanwhile (`reconnect_workers`).
                self.view.directory.write().expect("directory lock").disconnected(&key);
                #[cfg(feature = "gateway")]
                if let Some(gateway) = &self.gateway {
                    gateway.pending.peer_lost(&key);
                }
            }
        }
    }

    fn on_gossip(self: &Arc<Self>, message: &GossipMessage) -> MessageAcceptance {
        let topic = message.topic.as_str();
        let publication = match message.open() {
            Ok(publication) => publication,
            Err(e) => {
                debug!(target: "peerhost::node", from = %message.propagation_source, topic, error = %e, "gossip refused");
                return MessageAcceptance::Reject;
            }
        };
        let message = &publication;
        if topic == topics::DEPLOYMENTS {
            #[cfg(feature = "test-utils")]
            if self.deaf_to_announcements {
                return MessageAcceptance::Ignore;
            }
            self.on_announcement(message)
        } else if topic == topics::WORKERS {
            self.on_heartbeat(message)
        } else if topic == topics::EPOCHS {
            self.on_epoch_summary(message)
        } else if topic.starts_with(topics::EXEC_PREFIX) {
            self.on_execution_request(message)
        } else {
            MessageAcceptance::Ignore
        }
    }

    /// A gateway anchored an epoch: forward it, and let our worker claim its part.
    fn on_epoch_summary(&self, message: &Publication) -> MessageAcceptance {
        let Ok(summary) = codec::decode::<EpochSummary>(&message.data) else {
            return MessageAcceptance::Reject;
        };
        #[cfg(all(feature = "chain", feature = "worker"))]
        if let Some(validation) = &self.validation {
            validation.offer(summary.clone(), message.source);
        }
        #[cfg(feature = "chain")]
        if let Some(claims) = &self.claims {
            claims.offer(summary);
            return MessageAcceptance::Accept;
        }
        let _ = summary;
        MessageAcceptance::Accept
    }

    fn on_announcement(self: &Arc<Self>, message: &Publication) -> MessageAcceptance {
        let Ok(announcement) = codec::decode::<Announcement>(&message.data) else {
            return MessageAcceptance::Reject;
        };
        let provider = message.publisher;
        // An announcement without addresses is forwarded by a node that pulled the record
        // (see `catalog.rs`): it vouches for nothing but the owner's signature.
        let provider = (!announcement.blob_addrs.is_empty())
            .then_some((provider, &announcement.blob_addrs[..]));
        match self.on_deployment(announcement.deployment, provider) {
            Ok(Inserted::New | Inserted::Upgraded { .. } | Inserted::Known) => {
                MessageAcceptance::Accept
            }
            Ok(Inserted::Stale | Inserted::Full) => MessageAcceptance::Ignore,
            Err(()) => MessageAcceptance::Reject,
        }
    }

    /// Verifies and records a deployment (from gossip or catalog sync); a worker subscribes to
    /// its shard and starts fetching its bundle.
    pub(super) fn on_deployment(
        self: &Arc<Self>,
        signed: SignedDeployment,
        provider: Option<(peerhost_protocol::NodeKey, &[String])>,
    ) -> Result<Inserted, ()> {
        let (inserted, deployment) =
            match self.view.registry.write().expect("registry lock").insert(signed) {
                Ok(result) => result,
                Err(e) => {
                    debug!(target: "peerhost::node", error = %e, "deployment refused");
                    return Err(());
                }
            };
        let record = &deployment.record;
        if inserted.changed() {
            info!(
                target: "peerhost::node",
                owner = %record.owner, project = %record.project, version = record.version,
                bundle = %record.bundle, "deployment"
            );
        }
        if let Some((node, addrs)) = provider {
            self.view.add_announcer(record.bundle, node);
            #[cfg(feature = "blobs")]
            if let Some(blobs) = &self.blobs {
                blobs.learn(&node, addrs);
            }
            let _ = addrs;
        }
        #[cfg(feature = "worker")]
        if let Some(worker) = &self.worker {
            if inserted.changed() {
                self.subscribe_shard(topics::exec_shard(&record.owner, &record.project));
                worker.prefetch(record.bundle);
            } else if provider.is_some() {
                worker.provider_appeared(&record.bundle);
            }
        }
        Ok(inserted)
    }

    #[cfg(feature = "worker")]
    fn subscribe_shard(&self, shard: u8) {
        if self.shards.lock().expect("shards lock").insert(shard) {
            let mesh = self.mesh.clone();
            tokio::spawn(async move { mesh.subscribe(topics::exec_topic(shard)).await });
        }
    }

    fn on_heartbeat(self: &Arc<Self>, message: &Publication) -> MessageAcceptance {
        let Ok(heartbeat) = codec::decode::<Heartbeat>(&message.data) else {
            return MessageAcceptance::Reject;
        };
        let worker_key = message.publisher;
        let bundles = heartbeat.bundles.clone();
        let addrs = heartbeat.blob_addrs.clone();
        let mesh_addrs = heartbeat.mesh_addrs.clone();
        let observed = self.view.directory.write().expect("directory lock").observe(
            worker_key,
            heartbeat,
            clock::unix_ms(),
        );
        if observed != Observed::Updated {
            return MessageAcceptance::Ignore;
        }
        #[cfg(feature = "blobs")]
        if let Some(blobs) = &self.blobs {
            blobs.learn(&worker_key, &addrs);
        }
        // A gateway keeps a dispatch link open to every worker it may race.
        #[cfg(feature = "gateway")]
        if let Some(gateway) = &self.gateway {
            // Where the worker listens, so the link's dial needs no DHT lookup.
            let addrs = mesh_addrs.iter().filter_map(|a| a.parse().ok()).collect();
            self.mesh.learn_addresses(message.source, addrs);
            gateway.links.connect(&worker_key);
        }
        #[cfg(feature = "worker")]
        if let Some(worker) = &self.worker {
            for bundle in &bundles {
                worker.provider_appeared(bundle);
            }
        }
        let _ = (bundles, addrs, mesh_addrs);
        MessageAcceptance::Accept
    }

    fn on_execution_request(self: &Arc<Self>, message: &Publication) -> MessageAcceptance {
        // No envelope of its own: the gossip signature names the publisher, and admission
        // checks that the publisher is the request's gateway.
        let request = match codec::decode::<ExecutionRequest>(&message.data) {
            Ok(request) => request,
            Err(e) => {
                debug!(target: "peerhost::node", source = %message.source, error = %e, "execution request refused");
                return MessageAcceptance::Reject;
            }
        };
        match self.admit_request(request, message.source, None) {
            dispatch::Forward::Accept => MessageAcceptance::Accept,
            dispatch::Forward::Ignore => MessageAcceptance::Ignore,
            dispatch::Forward::Reject => MessageAcceptance::Reject,
        }
    }

    /// Admits an execution request sent by `from`, authenticated by the gossip message's
    /// publisher signature or by the transport of the dispatch `link` it came on, and races or
    /// declines it. A sender that is not the request's gateway is rejected. Returns whether
    /// gossip should forward it.
    pub(super) fn admit_request(
        self: &Arc<Self>,
        request: ExecutionRequest,
        from: libp2p::PeerId,
        link: Option<mesh::LinkSender>,
    ) -> dispatch::Forward {
        if mesh::peer_id(&request.request.gateway) != Some(from) {
            return dispatch::Forward::Reject;
        }
        let known = self.view.registry.read().expect("registry lock").knows_bundle(
            &request.request.owner,
            &request.request.project,
            &request.bundle,
        );
        #[cfg(feature = "worker")]
        let capacity = self.worker.as_ref().map_or(0, |w| w.capacity());
        #[cfg(not(feature = "worker"))]
        let capacity = 0;
        let context = dispatch::admission::Context {
            me: self.secret.public(),
            now_ms: clock::unix_ms(),
            deployment_known: known,
            capacity,
            gateway_admitted: self.view.bonds.read().expect("bonds lock").admits(
                BondRole::Gateway,
                &request.request.gateway,
                0,
            ),
        };
        let admission = dispatch::admit(&request, &context);
        trace!(target: "peerhost::node", request_id = %request.id(), ?admission, direct = link.is_some(), "admission");
        #[cfg(all(feature = "chain", feature = "worker"))]
        if let (Some(validation), dispatch::Forward::Accept) = (&self.validation, admission.forward)
        {
            validation.observe(&request);
        }
        #[cfg(feature = "worker")]
        if let Some(worker) = &self.worker {
            let to = crate::worker::ReplyTo { gateway: from, link };
            match admission.role {
                dispatch::Role::Race => worker.race(request, to),
                dispatch::Role::Decline(reason) => worker.decline(request, to, reason),
                dispatch::Role::Skip(_) => {}
            }
        }
        #[cfg(not(feature = "worker"))]
        let _ = (request, from, link);
        admission.forward
    }
}
