//! The worker directory: who is alive, how much capacity they advertise, which bundles they
//! hold — learned from heartbeats, forgotten after a TTL. A worker whose connection to us
//! closed is set aside (not live) rather than forgotten, until it is heard from or connected
//! again or its TTL runs out: a dropped connection under load must not cost a worker a whole
//! heartbeat interval of invisibility, and a gateway knows whom to reconnect.

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
    /// Our last connection to it closed and nothing has been heard from it since.
    pub unreachable: bool,
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
                info.unreachable = false;
                Observed::Updated
            }
            None if len >= MAX_WORKERS => Observed::Full,
            None => {
                self.workers.insert(
                    key,
                    WorkerInfo { key, heartbeat, seen_ms: now_ms, unreachable: false },
                );
                Observed::Updated
            }
        }
    }

    /// Forgets workers not heard from within the TTL.
    pub fn expire(&mut self, now_ms: u64) {
        let ttl = self.ttl_ms;
        self.workers.retain(|_, w| now_ms.saturating_sub(w.seen_ms) <= ttl);
    }

    /// Our last connection to `key` closed: it is not live until it is heard from or
    /// connected again.
    pub fn disconnected(&mut self, key: &NodeKey) {
        if let Some(info) = self.workers.get_mut(key) {
            info.unreachable = true;
        }
    }

    /// A connection to `key` is up: it is live again (within its TTL).
    pub fn connected(&mut self, key: &NodeKey) {
        if let Some(info) = self.workers.get_mut(key) {
            info.unreachable = false;
        }
    }

    /// Workers heard from within the TTL and not set aside by a closed connection.
    pub fn live(&self, now_ms: u64) -> impl Iterator<Item = &WorkerInfo> {
        self.within_ttl(now_ms).filter(|w| !w.unreachable)
    }

    /// Workers within their TTL whose connection closed: whom a gateway tries to reach again.
    pub fn unreachable(&self, now_ms: u64) -> impl Iterator<Item = &NodeKey> {
        self.within_ttl(now_ms).filter(|w| w.unreachable).map(|w| &w.key)
    }

    fn within_ttl(&self, now_ms: u64) -> impl Iterator<Item = &WorkerInfo> {
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

    #[test]
    fn a_closed_connection_sets_a_worker_aside_until_it_is_back() {
        let mut d = Directory::new(1_000);
        let (k, other) = (NodeKey([1; 32]), NodeKey([2; 32]));
        d.observe(k, hb(1), 0);
        d.disconnected(&k);
        d.disconnected(&other); // unknown: nothing to set aside
        assert_eq!(d.live(10).count(), 0);
        assert_eq!(d.unreachable(10).collect::<Vec<_>>(), [&k]);
        d.connected(&k);
        assert_eq!(d.live(10).count(), 1);
        d.disconnected(&k);
        // Heard from again (a heartbeat relayed by others): live again.
        assert_eq!(d.observe(k, hb(2), 20), Observed::Updated);
        assert_eq!(d.live(30).count(), 1);
        d.disconnected(&k);
        // Still set aside once its TTL ran out: nobody to reconnect, then forgotten.
        assert_eq!(d.unreachable(1_021).count(), 0);
        d.expire(1_021);
        assert!(d.is_empty());
    }
}
