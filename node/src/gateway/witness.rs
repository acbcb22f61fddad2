//! What the gateway saw each racer do during one call, turned into reputation outcomes when
//! the call ends: who answered correctly and how fast, who disagreed, who declined, and who
//! stayed silent past its attempt's deadline.

use std::collections::{HashMap, HashSet};

use peerhost_protocol::{Keccak, NodeKey};

use crate::dispatch::{Outcome, Reputation};

/// One call's observations.
#[derive(Debug, Default)]
pub(crate) struct Witness {
    /// First time each racer was named, and that attempt's deadline.
    named: HashMap<NodeKey, (u64, u64)>,
    /// Results by racer: hash and arrival time.
    results: HashMap<NodeKey, (Keccak, u64)>,
    declined: HashSet<NodeKey>,
    invalid: HashSet<NodeKey>,
}

impl Witness {
    /// `racers` were named at `now_ms` in an attempt ending at `deadline_ms`.
    pub(crate) fn named(&mut self, racers: &[NodeKey], now_ms: u64, deadline_ms: u64) {
        for racer in racers {
            self.named.entry(*racer).or_insert((now_ms, deadline_ms));
        }
    }

    /// `from` returned a verified result.
    pub(crate) fn result(&mut self, from: NodeKey, hash: Keccak, now_ms: u64) {
        self.results.entry(from).or_insert((hash, now_ms));
    }

    /// `from` declined.
    pub(crate) fn declined(&mut self, from: NodeKey) {
        self.declined.insert(from);
    }

    /// `from` sent a result that does not verify (forged or broken).
    pub(crate) fn invalid(&mut self, from: NodeKey) {
        self.invalid.insert(from);
    }

    /// Records the outcomes in `reputation` once the call ended at `now_ms`, accepting
    /// `accepted` (or nothing).
    pub(crate) fn finish(
        &self,
        reputation: &mut Reputation,
        accepted: Option<Keccak>,
        now_ms: u64,
    ) {
        for (racer, (named_at, deadline)) in &self.named {
            let outcome = match self.results.get(racer) {
                Some((hash, at)) if Some(*hash) == accepted => {
                    Outcome::Correct { latency_ms: at.saturating_sub(*named_at) }
                }
                // Only a result that lost against an accepted one is known to be wrong.
                Some(_) if accepted.is_some() => Outcome::Disagreed,
                Some(_) => continue,
                None if self.invalid.contains(racer) => Outcome::Invalid,
                None if self.declined.contains(racer) => Outcome::Declined,
                None if *deadline <= now_ms => Outcome::Silent,
                // Still within its deadline when the call ended: no verdict.
                None => continue,
            };
            reputation.record(*racer, outcome, now_ms);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dispatch::reputation::NEUTRAL;

    #[test]
    fn each_racer_gets_the_outcome_it_earned() {
        let k = |n: u8| NodeKey([n; 32]);
        let mut w = Witness::default();
        w.named(&[k(1), k(2), k(3), k(4)], 0, 1_000);
        w.named(&[k(5)], 1_000, 2_000);
        w.result(k(1), Keccak([1; 32]), 10);
        w.result(k(2), Keccak([2; 32]), 20);
        w.declined(k(3));
        w.result(k(5), Keccak([1; 32]), 1_010);
        let mut r = Reputation::default();
        w.finish(&mut r, Some(Keccak([1; 32])), 1_500);
        assert!(r.weight(&k(1), 1_500) > 0.9 * NEUTRAL, "fast and right");
        assert!(r.weight(&k(2), 1_500) < 0.3, "wrong");
        assert!(r.weight(&k(3), 1_500) < NEUTRAL, "declined");
        assert!(r.weight(&k(4), 1_500) < r.weight(&k(3), 1_500), "silent past its deadline");
        assert!(r.weight(&k(5), 1_500) > 0.9 * NEUTRAL, "re-dispatched and right");
    }
}
