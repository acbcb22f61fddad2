//! The worker directory: who is alive, how much capacity they advertise, which bundles they
//! hold — learned from heartbeats, forgotten after a TTL.

use std::collections::HashMap;

use peerhost_protocol::{BlobHash, Heartbeat, NodeKey};

/// Most workers tracked; heartbeats from further workers are ignored.
pub const MAX_WORKERS: usize = 10_000;

/// What a worker last told us.
#[derive(Debug, Clone)]
pub struct WorkerInfo {
    /// The worker.
    pub key: NodeKey,
    /// Its latest heartbeat.
    pub heartbeat: Heartbeat,
    /// When we received it (Unix ms).
    pub seen_ms: u64,
}

impl WorkerInfo {
    /// Whether the worker holds `bundle`.
    pub fn holds(&self, bundle: &BlobHash) -> bool {
        self.heartbeat.bundles.contains(bundle)
    }
}

/// What [`Directory::observe`] did with a heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observed {
    /// New or newer information.
    Updated,
    /// Not newer than what we have (replay or reordering).
    Stale,
    /// The directory is full.
    Full,
}

/// Live workers.
#[derive(Debug)]
pub struct Directory {
    workers: HashMap<NodeKey, WorkerInfo>,
    ttl_ms: u64,
}

impl Directory {
    /// A directory that forgets workers silent for `ttl_ms`.
    pub fn new(ttl_ms: u64) -> Self {
        Self { workers: HashMap::new(), ttl_ms }
    }

    /// Records a heartbeat from `key` received at `now_ms`.
    pub fn observe(&mut self, key: NodeKey, heartbeat: Heartbeat, now_ms: u64) -> Observed {
        let len = self.workers.len();
        match self.workers.get_mut(&key) {
            Some(info) if heartbeat.seq <= info.heartbeat.seq => Observed::Stale,
            Some(info) => {
                info.heartbeat = heartbeat;
                info.seen_ms = now_ms;
                Observed::Updated
            }
            None if len >= MAX_WORKERS => Observed::Full,
            None => {
                self.workers.insert(key, WorkerInfo { key, heartbeat, seen_ms: now_ms });
                Observed::Updated
            }
        }
    }

    /// Forgets workers not heard from within the TTL.
    pub fn expire(&mut self, now_ms: u64) {
        let ttl = self.ttl_ms;
        self.workers.retain(|_, w| now_ms.saturating_sub(w.seen_ms) <= ttl);
    }

    /// Forgets a worker at once (e.g. it disconnected).
    pub fn remove(&mut self, key: &NodeKey) {
        self.workers.remove(key);
    }

    /// Workers heard from within the TTL.
    pub fn live(&self, now_ms: u64) -> impl Iterator<Item = &WorkerInfo> {
        let ttl = self.ttl_ms;
        self.workers.values().filter(move |w| now_ms.saturating_sub(w.seen_ms) <= ttl)
    }

    /// A worker's info.
    pub fn get(&self, key: &NodeKey) -> Option<&WorkerInfo> {
        self.workers.get(key)
    }

    /// Number of workers tracked (live or not yet expired).
    pub fn len(&self) -> usize {
        self.workers.len()
    }

    /// Whether no worker is tracked.
    pub fn is_empty(&self) -> bool {
        self.workers.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hb(seq: u64) -> Heartbeat {
        Heartbeat {
            seq,
            free_slots: 1,
            max_slots: 1,
            engine: "e".into(),
            blob_addrs: vec![],
            bundles: vec![BlobHash::of(b"b")],
            mesh_addrs: vec![],
        }
    }

    #[test]
    fn newer_heartbeats_win_and_silence_expires() {
        let mut d = Directory::new(1_000);
        let k = NodeKey([1; 32]);
        assert_eq!(d.observe(k, hb(2), 0), Observed::Updated);
        assert_eq!(d.observe(k, hb(1), 10), Observed::Stale);
        assert_eq!(d.observe(k, hb(3), 500), Observed::Updated);
        assert!(d.get(&k).unwrap().holds(&BlobHash::of(b"b")));
        assert_eq!(d.live(1_500).count(), 1);
        assert_eq!(d.live(1_501).count(), 0);
        d.expire(1_501);
        assert!(d.is_empty());
    }
}
