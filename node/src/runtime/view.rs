//! What a node knows about the network: deployments, live workers, and who serves which
//! bundle. Shared (behind short-held locks) by the event loop, the worker and the gateway.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Mutex, RwLock},
};

use peerhost_protocol::{BlobHash, ENGINE_ID, NodeKey};

use crate::dispatch::{Candidate, Directory, Registry};

/// Announcers remembered per bundle.
const ANNOUNCERS_PER_BUNDLE: usize = 8;
/// Bundles whose announcers are remembered.
const MAX_ANNOUNCED_BUNDLES: usize = 10_000;

/// The node's view of the network.
#[derive(Debug)]
pub struct View {
    /// Verified deployments.
    pub registry: RwLock<Registry>,
    /// Live workers.
    pub directory: RwLock<Directory>,
    announcers: Mutex<HashMap<BlobHash, VecDeque<NodeKey>>>,
}

impl View {
    /// An empty view forgetting silent workers after `worker_ttl_ms`.
    pub fn new(worker_ttl_ms: u64) -> Self {
        Self {
            registry: RwLock::default(),
            directory: RwLock::new(Directory::new(worker_ttl_ms)),
            announcers: Mutex::default(),
        }
    }

    /// Records that `node` announced it serves `bundle`.
    pub fn add_announcer(&self, bundle: BlobHash, node: NodeKey) {
        let mut announcers = self.announcers.lock().expect("announcers lock");
        if announcers.len() >= MAX_ANNOUNCED_BUNDLES && !announcers.contains_key(&bundle) {
            return;
        }
        let list = announcers.entry(bundle).or_default();
        list.retain(|k| *k != node);
        list.push_front(node);
        list.truncate(ANNOUNCERS_PER_BUNDLE);
    }

    /// Nodes that can serve `bundle`: live workers holding it, then announcers.
    pub fn providers(&self, bundle: &BlobHash, now_ms: u64) -> Vec<NodeKey> {
        let mut providers: Vec<NodeKey> = self
            .directory
            .read()
            .expect("directory lock")
            .live(now_ms)
            .filter(|w| w.holds(bundle))
            .map(|w| w.key)
            .collect();
        if let Some(list) = self.announcers.lock().expect("announcers lock").get(bundle) {
            for key in list {
                if !providers.contains(key) {
                    providers.push(*key);
                }
            }
        }
        providers
    }

    /// Workers that could race a request for `bundle`: live, same engine.
    pub fn candidates(&self, bundle: &BlobHash, now_ms: u64) -> Vec<Candidate> {
        self.directory
            .read()
            .expect("directory lock")
            .live(now_ms)
            .filter(|w| w.heartbeat.engine == ENGINE_ID)
            .map(|w| Candidate {
                key: w.key,
                holds_bundle: w.holds(bundle),
                has_capacity: w.heartbeat.free_slots > 0,
            })
            .collect()
    }
}
