//! Choosing who races: rendezvous hashing of the request id over the live workers.
//!
//! Every worker gets the score `keccak256(request_id ‖ attempt ‖ worker)`; workers that hold
//! the bundle rank before those that would have to fetch it, workers with free slots before
//! full ones, then the highest scores win. The choice depends only on the request and the
//! candidate set, so anyone can check it, load spreads evenly, and a re-dispatch (a new
//! attempt number) reshuffles.

use std::collections::BTreeSet;

use peerhost_protocol::{NodeKey, RequestId, keccak256_parts};

/// A worker that could race.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The worker.
    pub key: NodeKey,
    /// Whether it already holds the bundle (no fetch, likely precompiled).
    pub holds_bundle: bool,
    /// Whether it advertises a free slot.
    pub has_capacity: bool,
}

/// The rendezvous score of `worker` for one attempt of `request`.
pub fn score(request: &RequestId, attempt: u8, worker: &NodeKey) -> u64 {
    let h = keccak256_parts(&[request.as_bytes(), &[attempt], worker.as_bytes()]);
    u64::from_be_bytes(h.0[..8].try_into().expect("8 bytes"))
}

/// Up to `k` racers for an attempt, excluding `exclude`, sorted by key (the wire order).
pub fn select(
    request: &RequestId,
    attempt: u8,
    candidates: &[Candidate],
    exclude: &BTreeSet<NodeKey>,
    k: usize,
) -> Vec<NodeKey> {
    let mut ranked: Vec<(bool, bool, u64, NodeKey)> = candidates
        .iter()
        .filter(|c| !exclude.contains(&c.key))
        .map(|c| (c.has_capacity, c.holds_bundle, score(request, attempt, &c.key), c.key))
        .collect();
    ranked.sort_unstable_by(|a, b| b.cmp(a));
    let mut chosen: Vec<NodeKey> = ranked.into_iter().take(k).map(|(.., key)| key).collect();
    chosen.sort_unstable();
    chosen.dedup();
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidates(n: u8) -> Vec<Candidate> {
        (0..n)
            .map(|i| Candidate { key: NodeKey([i; 32]), holds_bundle: false, has_capacity: true })
            .collect()
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

    #[test]
    fn excludes_and_spreads_load() {
        let c = candidates(8);
        let exclude: BTreeSet<_> = [NodeKey([0; 32])].into();
        let mut counts = [0u32; 8];
        for i in 0..4000u32 {
            let mut id = [0u8; 32];
            id[..4].copy_from_slice(&i.to_be_bytes());
            for key in select(&RequestId(id), 0, &c, &exclude, 1) {
                counts[key.0[0] as usize] += 1;
            }
        }
        assert_eq!(counts[0], 0);
        // 4000 picks over 7 workers: each near 571; allow wide slack.
        assert!(counts[1..].iter().all(|&n| (400..750).contains(&n)), "{counts:?}");
    }
}
