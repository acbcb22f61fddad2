//! The gateway's dispatch links: one long-lived stream per worker it races, opened as soon as
//! the worker's heartbeat is heard. Orders go out on a worker's link when it is open; a call
//! whose racer has none (not opened yet, or the worker does not speak the protocol) falls
//! back to gossip. Deliveries that come back on a link go straight to their call.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use bytes::Bytes;
use peerhost_protocol::{Delivery, ExecutionRequest, NodeKey, Wire, codec, topics};
use tokio_util::sync::CancellationToken;
use tracing::debug;

use super::Pending;
use crate::{
    clock,
    mesh::{self, FrameLimits, LinkHandler, LinkSender, MeshClient},
};

/// Most links a gateway keeps open (beyond them, workers are reached by gossip).
const MAX_LINKS: usize = 1024;
/// How long after a failed opening a worker is reached by gossip before trying again (time
/// for the DHT lookup a failure starts to connect us); doubled after each further failure in
/// a row, up to `RETRY_MS << MAX_BACKOFF_SHIFT`, so a worker that is gone costs a lookup a
/// minute, not one every two seconds, for as long as its directory entry lives.
const RETRY_MS: u64 = 2_000;
const MAX_BACKOFF_SHIFT: u32 = 5;

enum State {
    Open(LinkSender),
    /// `failures`: openings that failed in a row before this one.
    Opening {
        failures: u32,
    },
    Failed {
        until_ms: u64,
        failures: u32,
    },
}

/// All of a gateway's links.
pub(crate) struct Links {
    mesh: MeshClient,
    pending: Arc<Pending>,
    shutdown: CancellationToken,
    state: Mutex<HashMap<NodeKey, State>>,
}

impl Links {
    pub(crate) fn new(
        mesh: MeshClient,
        pending: Arc<Pending>,
        shutdown: CancellationToken,
    ) -> Self {
        Self { mesh, pending, shutdown, state: Mutex::default() }
    }

    /// The open link to `worker`, if there is one; otherwise starts opening it (callers use
    /// gossip meanwhile).
    pub(crate) fn get(self: &Arc<Self>, worker: &NodeKey) -> Option<LinkSender> {
        let mut state = self.state.lock().expect("links lock");
        match state.get(worker) {
            Some(State::Open(link)) if !link.is_closed() => return Some(link.clone()),
            Some(State::Opening { .. }) => return None,
            Some(State::Failed { until_ms, .. }) if clock::unix_ms() < *until_ms => return None,
            _ => {}
        }
        let failures = match state.get(worker) {
            Some(State::Failed { failures, .. }) => *failures,
            _ => 0,
        };
        if state.len() >= MAX_LINKS && !state.contains_key(worker) {
            // Workers whose opening failed long ago make room first.
            let now = clock::unix_ms();
            state.retain(|_, s| !matches!(s, State::Failed { until_ms, .. } if *until_ms <= now));
            if state.len() >= MAX_LINKS {
                return None;
            }
        }
        state.insert(*worker, State::Opening { failures });
        drop(state);
        self.open(*worker);
        None
    }

    /// Makes sure a link to `worker` is open or opening.
    pub(crate) fn connect(self: &Arc<Self>, worker: &NodeKey) {
        let _ = self.get(worker);
    }

    /// Links open now.
    pub(crate) fn open_count(&self) -> usize {
        let state = self.state.lock().expect("links lock");
        state.values().filter(|s| matches!(s, State::Open(l) if !l.is_closed())).count()
    }

    fn open(self: &Arc<Self>, worker: NodeKey) {
        let links = self.clone();
        tokio::spawn(async move {
            let Some(peer) = mesh::peer_id(&worker) else { return };
            let opened = links.mesh.open_stream(peer, topics::DISPATCH_PROTOCOL).await;
            let mut state = links.state.lock().expect("links lock");
            match opened {
                Ok(stream) => {
                    let limits = FrameLimits {
                        inbound: Delivery::MAX_BYTES,
                        outbound: ExecutionRequest::MAX_BYTES,
                    };
                    let handler = Deliveries { links: links.clone(), worker };
                    let link =
                        links.mesh.spawn_link(peer, stream, limits, handler, &links.shutdown);
                    debug!(target: "peerhost::gateway", worker = %worker.short(), "dispatch link open");
                    state.insert(worker, State::Open(link));
                }
                Err(e) => {
                    debug!(target: "peerhost::gateway", worker = %worker.short(), error = %e, "no dispatch link; using gossip");
                    // The worker's heartbeat named no address we could dial (or none that
                    // worked): look it up in the DHT, which dials it, and try again once that
                    // had time to connect us.
                    let mesh = links.mesh.clone();
                    tokio::spawn(async move { mesh.find_peer(peer).await });
                    let failures = match state.get(&worker) {
                        Some(State::Opening { failures }) => *failures,
                        _ => 0,
                    };
                    let wait = RETRY_MS << failures.min(MAX_BACKOFF_SHIFT);
                    let until_ms = clock::unix_ms() + wait;
                    state.insert(worker, State::Failed { until_ms, failures: failures + 1 });
                }
            }
        });
    }
}

/// What a gateway does with frames on a link: deliveries from the worker at its other end.
struct Deliveries {
    links: Arc<Links>,
    worker: NodeKey,
}

impl LinkHandler for Deliveries {
    fn frame(&mut self, _link: &LinkSender, frame: Bytes) -> Result<(), String> {
        let delivery = codec::decode::<Delivery>(&frame).map_err(|e| e.to_string())?;
        // The sender is the link's authenticated peer: a result is counted as this worker's
        // only if its receipt says so and verifies (see `call.rs`).
        self.links.pending.delivered(self.worker, delivery);
        Ok(())
    }

    fn closed(&mut self, link: &LinkSender) {
        let mut state = self.links.state.lock().expect("links lock");
        if matches!(state.get(&self.worker), Some(State::Open(open)) if open.same_link(link)) {
            state.remove(&self.worker);
        }
        drop(state);
        // Orders still queued on it, or unread at the worker, are lost: the calls that named
        // this worker move on at once (a result it still delivers another way counts).
        self.links.pending.peer_lost(&self.worker);
    }
}
