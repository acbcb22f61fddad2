//! What a node knows about the network: deployments, live workers, who serves which bundle,
//! and who is bonded. Shared (behind short-held locks) by the event loop, the chain follower,
//! the worker and the gateway.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Mutex, RwLock},
};

use peerhost_protocol::{BlobHash, ENGINE_ID, NodeKey};

use crate::dispatch::{BondBook, BondRole, Candidate, Directory, Registry, Trust};

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
    /// Bonded nodes per role (open until the node connects to a chain).
    pub bonds: RwLock<BondBook>,
    announcers: Mutex<HashMap<BlobHash, VecDeque<NodeKey>>>,
}

impl View {
    /// An empty view forgetting silent workers after `worker_ttl_ms`.
    pub fn new(worker_ttl_ms: u64) -> Self {
        Self {
            registry: RwLock::default(),
            directory: RwLock::new(Directory::new(worker_ttl_ms)),
            bonds: RwLock::new(BondBook::new(Trust::Open)),
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

    /// Workers that could race a request for `bundle`: live, same engine, and (on a
    /// chain-connected network) bonded with at least `min_bond`. Heartbeats only order them;
    /// each slash seen on the chain halves a worker's weight.
    pub fn candidates(&self, bundle: &BlobHash, min_bond: u64, now_ms: u64) -> Vec<Candidate> {
        let bonds = self.bonds.read().expect("bonds lock");
        self.directory
            .read()
            .expect("directory lock")
            .live(now_ms)
            .filter(|w| w.heartbeat.engine == ENGINE_ID)
            .filter(|w| bonds.admits(BondRole::Worker, &w.key, u128::from(min_bond)))
            .map(|w| {
                let mut candidate =
                    Candidate::new(w.key, w.holds(bundle), w.heartbeat.free_slots > 0);
                let slashes = bonds.stake_of(BondRole::Worker, &w.key).map_or(0, |s| s.slashes);
                candidate.weight *= 0.5f64.powi(slashes.min(30) as i32);
                candidate
            })
            .collect()
    }

    /// Whether unbonded nodes may race and dispatch (no chain).
    pub fn is_open(&self) -> bool {
        self.bonds.read().expect("bonds lock").trust() == Trust::Open
    }
}
