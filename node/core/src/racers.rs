//! Choosing who races: weighted rendezvous hashing of the request id over the candidates.
//!
//! Every worker gets the hash `h = keccak256(request_id ‖ attempt ‖ worker)`, read as a number
//! `u` in (0, 1), and the score `ln(u) / weight` (the gateway's [`super::reputation`] weight);
//! workers with free slots rank before full ones, workers that hold the bundle before those that
//! would have to fetch it, then the highest scores win. A worker's chance to rank first is its
//! share of the total weight. The choice depends only on the request, the candidates and their
//! weights, so anyone given those can check it; load spreads by weight; a re-dispatch (a new
//! attempt number) reshuffles.

use std::collections::BTreeSet;

use peerhost_protocol::{NodeKey, RequestId, keccak256_parts};

/// A worker that could race.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// The worker.
    pub key: NodeKey,
    /// Whether it already holds the bundle (no fetch, likely precompiled).
    pub holds_bundle: bool,
    /// Whether it advertises a free slot.
    pub has_capacity: bool,
    /// Its reputation weight, in (0, 1] ([`super::reputation::NEUTRAL`] when unmeasured).
    pub weight: f64,
}

impl Candidate {
    /// A worker of neutral weight.
    pub fn new(key: NodeKey, holds_bundle: bool, has_capacity: bool) -> Self {
        Self { key, holds_bundle, has_capacity, weight: super::reputation::NEUTRAL }
    }
}

/// The rendezvous hash of `worker` for one attempt of `request`.
pub fn score(request: &RequestId, attempt: u8, worker: &NodeKey) -> u64 {
    let h = keccak256_parts(&[request.as_bytes(), &[attempt], worker.as_bytes()]);
    u64::from_be_bytes(h.0[..8].try_into().expect("8 bytes"))
}

/// The weighted rendezvous score `ln(u) / weight` (higher wins), `u` the hash in (0, 1).
pub fn weighted_score(request: &RequestId, attempt: u8, worker: &NodeKey, weight: f64) -> f64 {
    let u = (score(request, attempt, worker) as f64 + 0.5) / 18_446_744_073_709_551_616.0;
    u.ln() / weight.max(f64::MIN_POSITIVE)
}

/// Up to `k` racers for an attempt, excluding `exclude`, sorted by key (the wire order).
///
/// Only the candidates that can rank among the first `k` are hashed: ranking goes by free
/// slot, then bundle, then score, so when the workers with a free slot that hold the bundle
/// are `k` or more, nobody else can win and only they are scored. The gateway's work per call
/// then follows the bundle's holders, not the size of the network; the choice is the same as
/// scoring everyone.
pub fn select(
    request: &RequestId,
    attempt: u8,
    candidates: &[Candidate],
    exclude: &BTreeSet<NodeKey>,
    k: usize,
) -> Vec<NodeKey> {
    if k == 0 {
        return Vec::new();
    }
    let tier = |c: &Candidate| usize::from(c.has_capacity) * 2 + usize::from(c.holds_bundle);
    let mut per_tier = [0usize; 4];
    for c in candidates.iter().filter(|c| !exclude.contains(&c.key)) {
        per_tier[tier(c)] += 1;
    }
    // The lowest tier that can still place a racer.
    let mut lowest = 3;
    let mut above = per_tier[3];
    while above < k && lowest > 0 {
        lowest -= 1;
        above += per_tier[lowest];
    }
    let mut ranked: Vec<(usize, f64, NodeKey)> = candidates
        .iter()
        .filter(|c| tier(c) >= lowest && !exclude.contains(&c.key))
        .map(|c| (tier(c), weighted_score(request, attempt, &c.key, c.weight), c.key))
        .collect();
    // The order is total (keys break ties), so the first `k` after a partial selection are
    // the same set a full sort would give, in O(n) rather than O(n log n).
    let order = |a: &(usize, f64, NodeKey), b: &(usize, f64, NodeKey)| {
        b.0.cmp(&a.0).then(b.1.total_cmp(&a.1)).then(b.2.cmp(&a.2))
    };
    if ranked.len() > k {
        ranked.select_nth_unstable_by(k - 1, order);
        ranked.truncate(k);
    }
    let mut chosen: Vec<NodeKey> = ranked.into_iter().map(|(.., key)| key).collect();
    chosen.sort_unstable();
    chosen.dedup();
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidates(n: u8) -> Vec<Candidate> {
        (0..n).map(|i| Candidate::new(NodeKey([i; 32]), false, true)).collect()
    }

    fn id(i: u32) -> RequestId {
        let mut id = [0u8; 32];
        id[..4].copy_from_slice(&i.to_be_bytes());
        RequestId(id)
    }

    #[test]
    fn shares_follow_weights() {
        let mut c = candidates(3);
        c[0].weight = 0.1; // slow or wrong: measured down
        let mut counts = [0u32; 3];
        for i in 0..6000u32 {
            for key in select(&id(i), 0, &c, &BTreeSet::new(), 1) {
                counts[key.0[0] as usize] += 1;
            }
        }
        // Expected shares 0.1 / 2.1 ≈ 4.8 % and 1 / 2.1 ≈ 47.6 % each; allow wide slack.
        assert!((150..450).contains(&counts[0]), "{counts:?}");
        assert!(counts[1..].iter().all(|&n| (2_600..3_100).contains(&n)), "{counts:?}");
    }

    #[test]
    fn deterministic_sorted_and_bounded() {
        let id = RequestId([7; 32]);
        let a = select(&id, 0, &candidates(10), &BTreeSet::new(), 3);
        let b = select(&id, 0, &candidates(10), &BTreeSet::new(), 3);
        assert_eq!(a, b);
        assert_eq!(a.len(), 3);
        assert!(a.is_sorted());
    }

    #[test]
    fn prefers_capacity_then_bundle_holders() {
        let id = RequestId([7; 32]);
        let mut c = candidates(10);
        for x in c.iter_mut() {
            x.has_capacity = x.key.0[0] != 3;
        }
        c[5].holds_bundle = true;
        c[3].holds_bundle = true; // holds it, but is full
        let chosen = select(&id, 0, &c, &BTreeSet::new(), 1);
        assert_eq!(chosen, vec![NodeKey([5; 32])]);
    }

    proptest::proptest! {
        /// Scoring only the tiers that can win picks exactly what scoring everyone picks.
        #[test]
        fn same_choice_as_scoring_everyone(
            flags in proptest::collection::vec((0u8..4, 1u32..100), 0..40),
            excluded in proptest::collection::btree_set(0u8..40, 0..10),
            k in 0usize..6,
            seed: u32,
        ) {
            let c: Vec<Candidate> = flags
                .iter()
                .enumerate()
                .map(|(i, (f, w))| Candidate {
                    key: NodeKey([i as u8; 32]),
                    has_capacity: f & 2 != 0,
                    holds_bundle: f & 1 != 0,
                    weight: f64::from(*w) / 100.0,
                })
                .collect();
            let exclude: BTreeSet<NodeKey> = excluded.iter().map(|i| NodeKey([*i; 32])).collect();
            let mut everyone: Vec<(bool, bool, f64, NodeKey)> = c
                .iter()
                .filter(|c| !exclude.contains(&c.key))
                .map(|c| {
                    let score = weighted_score(&id(seed), 1, &c.key, c.weight);
                    (c.has_capacity, c.holds_bundle, score, c.key)
                })
                .collect();
            everyone.sort_by(|a, b| {
                (b.0, b.1).cmp(&(a.0, a.1)).then(b.2.total_cmp(&a.2)).then(b.3.cmp(&a.3))
            });
            let mut expected: Vec<NodeKey> = everyone.iter().take(k).map(|e| e.3).collect();
            expected.sort_unstable();
            proptest::prop_assert_eq!(select(&id(seed), 1, &c, &exclude, k), expected);
        }
    }

    #[test]
    fn excludes_and_spreads_load() {
        let c = candidates(8);
        let exclude: BTreeSet<_> = [NodeKey([0; 32])].into();
        let mut counts = [0u32; 8];
        for i in 0..4000u32 {
            for key in select(&id(i), 0, &c, &exclude, 1) {
                counts[key.0[0] as usize] += 1;
            }
        }
        assert_eq!(counts[0], 0);
        // 4000 picks over 7 workers: each near 571; allow wide slack.
        assert!(counts[1..].iter().all(|&n| (400..750).contains(&n)), "{counts:?}");
    }
}
