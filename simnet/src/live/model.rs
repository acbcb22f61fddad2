//! The scenario's [`Network`] as a fault model for the nodes' in-memory links: each link gets
//! a latency drawn once from the scenario's distribution (seeded by the pair, so the same pair
//! always gets the same path), a lost segment costs a retransmission (200 ms plus two path
//! latencies — on a reliable stream loss is lateness, not a gap; duplication and reordering
//! do not exist there), and partitions cut links between groups from `at_ms` to `heal_ms`
//! after the calls begin. It also counts the bytes each node receives.

use std::{
    collections::HashMap,
    sync::{
        OnceLock,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use libp2p::PeerId;
use peerhost_node::mesh::LinkFaults;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::Network;

/// The fault model shared by every node of a live run.
#[derive(Debug)]
pub(super) struct Model {
    seed: u64,
    network: Network,
    /// Node index of every peer (workers, then gateways, then the bootstrap).
    index: HashMap<PeerId, usize>,
    /// When the calls began: partitions count from here.
    epoch: OnceLock<Instant>,
    received: Vec<AtomicU64>,
    draws: AtomicU64,
}

impl Model {
    pub(super) fn new(seed: u64, network: Network, peers: &[PeerId]) -> Self {
        Self {
            seed,
            network,
            index: peers.iter().enumerate().map(|(i, p)| (*p, i)).collect(),
            epoch: OnceLock::new(),
            received: peers.iter().map(|_| AtomicU64::new(0)).collect(),
            draws: AtomicU64::new(0),
        }
    }

    /// Marks the start of the calls (partitions count from now).
    pub(super) fn start_clock(&self, now: Instant) {
        let _ = self.epoch.set(now);
    }

    /// Bytes each node received so far, by node index.
    pub(super) fn received(&self) -> Vec<u64> {
        self.received.iter().map(|r| r.load(Ordering::Relaxed)).collect()
    }

    /// The one-way latency of the link between nodes `a` and `b` (µs).
    fn path_us(&self, a: usize, b: usize) -> u64 {
        let (low, high) = (a.min(b) as u64, a.max(b) as u64);
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed ^ (low << 32 | high).rotate_left(17));
        self.network.latency.sample_us(&mut rng)
    }

    /// A uniform draw in [0, 1) (a counter through a seeded mix: cheap and lock-free).
    fn uniform(&self) -> f64 {
        let n = self.draws.fetch_add(1, Ordering::Relaxed);
        let mut x = n ^ self.seed.rotate_left(29) ^ 0x9e37_79b9_7f4a_7c15;
        x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        x ^= x >> 31;
        (x >> 11) as f64 / (1u64 << 53) as f64
    }

    fn cut(&self, a: usize, b: usize) -> bool {
        let Some(epoch) = self.epoch.get() else { return false };
        let now_ms = epoch.elapsed().as_millis() as u64;
        self.network.partitions.iter().any(|p| p.separates(a, b, now_ms))
    }
}

impl LinkFaults for Model {
    fn is_cut(&self, a: &PeerId, b: &PeerId) -> bool {
        match (self.index.get(a), self.index.get(b)) {
            (Some(&a), Some(&b)) => self.cut(a, b),
            _ => false,
        }
    }

    fn delay(&self, from: &PeerId, to: &PeerId, len: usize) -> Duration {
        let (Some(&a), Some(&b)) = (self.index.get(from), self.index.get(to)) else {
            return Duration::ZERO;
        };
        self.received[b].fetch_add(len as u64, Ordering::Relaxed);
        let path = self.path_us(a, b);
        let lost = self.network.loss > 0.0 && self.uniform() < self.network.loss;
        let us = if lost { path + 200_000 + 2 * path } else { path };
        Duration::from_micros(us)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Latency, Partition};

    fn model(network: Network) -> (Model, Vec<PeerId>) {
        let peers: Vec<PeerId> = (0..4).map(|_| PeerId::random()).collect();
        (Model::new(7, network, &peers), peers)
    }

    #[test]
    fn a_link_keeps_its_latency_both_ways_and_counts_bytes() {
        let network = Network {
            latency: Latency::Uniform { min_ms: 5.0, max_ms: 50.0 },
            ..Network::default()
        };
        let (model, p) = model(network);
        let there = model.delay(&p[0], &p[1], 10);
        assert_eq!(there, model.delay(&p[1], &p[0], 5));
        assert!((5..=50).contains(&there.as_millis()), "{there:?}");
        assert_eq!(model.received(), vec![5, 10, 0, 0]);
    }

    #[test]
    fn a_partition_cuts_across_groups_only_once_the_calls_begin() {
        let network = Network {
            latency: Latency::Fixed { ms: 1.0 },
            partitions: vec![Partition { at_ms: 0, heal_ms: 60_000, groups: vec![(0, 2)] }],
            ..Network::default()
        };
        let (model, p) = model(network);
        assert!(!model.is_cut(&p[0], &p[2]), "before the calls");
        #[allow(clippy::disallowed_methods)] // the model's clock is the wall clock
        model.start_clock(Instant::now());
        assert!(model.is_cut(&p[0], &p[2]) && model.is_cut(&p[2], &p[0]));
        assert!(!model.is_cut(&p[0], &p[1]), "same group");
        assert!(!model.is_cut(&p[2], &p[3]), "the rest form one group");
    }

    #[test]
    fn loss_costs_a_retransmission() {
        let network =
            Network { latency: Latency::Fixed { ms: 1.0 }, loss: 1.0, ..Network::default() };
        let (model, p) = model(network);
        assert_eq!(model.delay(&p[0], &p[1], 1), Duration::from_millis(203));
    }
}
