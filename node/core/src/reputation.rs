//! A gateway's own measure of each worker, from what it saw itself: fast correct answers raise
//! a worker's weight, slow ones less; declines after advertising capacity, silence past the
//! deadline and results that disagree with the accepted one lower it (slashes seen on the
//! chain halve it on top, from the bond book). Weights drift back toward neutral as time passes, so a worker can recover and an old
//! measurement does not rule forever. Racer choice ([`super::racers`]) is rendezvous hashing
//! weighted by these numbers: the same inputs give the same choice.

use std::collections::HashMap;

use peerhost_protocol::NodeKey;

/// Most workers scored; beyond it, the longest-unchanged entry is forgotten.
pub const MAX_SCORED: usize = 10_000;
/// The weight of a worker never measured.
pub const NEUTRAL: f64 = 1.0;
/// The lowest weight: a bad worker is chosen rarely, never never (it must be able to recover).
pub const FLOOR: f64 = 0.02;

/// What a gateway saw a worker do in one call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Outcome {
    /// Returned the accepted result, `latency_ms` after the attempt was dispatched.
    Correct {
        /// Dispatch to result.
        latency_ms: u64,
    },
    /// Declined a request it was named for (after advertising a free slot or the bundle).
    Declined,
    /// Named, and neither answered nor declined before the attempt's deadline.
    Silent,
    /// Returned a result other than the one accepted. (Slashes seen on the chain lower a
    /// worker's weight through the bond book: see `View::candidates`.)
    Disagreed,
    /// Returned a result that does not verify: a receipt it did not sign, or one that does not
    /// commit to the response or the request it came with.
    Invalid,
}

/// Tuning.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReputationConfig {
    /// How fast a weight forgets: after this long, half the distance to neutral is gone.
    pub half_life_ms: u64,
    /// How much one outcome moves a weight toward its target (0..1).
    pub step: f64,
    /// A correct answer this fast is worth half of an instant one.
    pub latency_scale_ms: f64,
}

impl Default for ReputationConfig {
    fn default() -> Self {
        Self { half_life_ms: 10 * 60 * 1000, step: 0.3, latency_scale_ms: 100.0 }
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    weight: f64,
    updated_ms: u64,
}

/// Weights per worker.
#[derive(Debug, Default)]
pub struct Reputation {
    config: ReputationConfig,
    entries: HashMap<NodeKey, Entry>,
}

impl Reputation {
    /// Empty, with `config`.
    pub fn new(config: ReputationConfig) -> Self {
        Self { config, entries: HashMap::new() }
    }

    /// Records what `worker` did at `now_ms`.
    pub fn record(&mut self, worker: NodeKey, outcome: Outcome, now_ms: u64) {
        let current = self.weight(&worker, now_ms);
        let target = match outcome {
            Outcome::Correct { latency_ms } => {
                let scale = self.config.latency_scale_ms.max(1.0);
                NEUTRAL * scale / (scale + latency_ms as f64)
            }
            Outcome::Declined => 0.3,
            Outcome::Silent => 0.05,
            Outcome::Disagreed | Outcome::Invalid => 0.0,
        };
        let step = match outcome {
            // One proven wrong answer outweighs many good ones; a forgery, all of them.
            Outcome::Disagreed => 0.8,
            Outcome::Invalid => 1.0,
            // Silence cost the caller a whole attempt's deadline.
            Outcome::Silent => 0.5,
            _ => self.config.step,
        };
        let weight = (current + (target - current) * step).clamp(FLOOR, NEUTRAL);
        if self.entries.len() >= MAX_SCORED && !self.entries.contains_key(&worker) {
            self.forget_stalest();
        }
        self.entries.insert(worker, Entry { weight, updated_ms: now_ms });
    }

    /// `worker`'s weight at `now_ms`, in `[FLOOR, NEUTRAL]`.
    pub fn weight(&self, worker: &NodeKey, now_ms: u64) -> f64 {
        let Some(entry) = self.entries.get(worker) else { return NEUTRAL };
        let elapsed = now_ms.saturating_sub(entry.updated_ms) as f64;
        let keep = 0.5f64.powf(elapsed / self.config.half_life_ms.max(1) as f64);
        NEUTRAL + (entry.weight - NEUTRAL) * keep
    }

    fn forget_stalest(&mut self) {
        if let Some(key) = self.entries.iter().min_by_key(|(_, e)| e.updated_ms).map(|(k, _)| *k) {
            self.entries.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> NodeKey {
        NodeKey([n; 32])
    }

    #[test]
    fn fast_beats_slow_and_wrong_falls_to_the_floor() {
        let mut r = Reputation::default();
        for t in 0..20 {
            r.record(key(1), Outcome::Correct { latency_ms: 2 }, t);
            r.record(key(2), Outcome::Correct { latency_ms: 900 }, t);
            r.record(key(3), Outcome::Disagreed, t);
        }
        let (fast, slow, wrong) =
            (r.weight(&key(1), 19), r.weight(&key(2), 19), r.weight(&key(3), 19));
        assert!(fast > 0.9, "{fast}");
        assert!(slow < 0.2, "{slow}");
        assert!((wrong - FLOOR).abs() < 1e-9, "{wrong}");
        assert_eq!(r.weight(&key(9), 20), NEUTRAL, "unknown workers are neutral");
    }

    #[test]
    fn weights_drift_back_to_neutral() {
        let mut r = Reputation::new(ReputationConfig { half_life_ms: 1_000, ..Default::default() });
        r.record(key(1), Outcome::Silent, 0);
        let low = r.weight(&key(1), 0);
        let later = r.weight(&key(1), 1_000);
        assert!((later - (NEUTRAL + (low - NEUTRAL) / 2.0)).abs() < 1e-9);
        assert!(r.weight(&key(1), 60_000) > 0.999);
    }

    #[test]
    fn the_table_is_bounded() {
        let mut r = Reputation::default();
        for i in 0..(MAX_SCORED as u32 + 10) {
            let mut k = [0u8; 32];
            k[..4].copy_from_slice(&i.to_be_bytes());
            r.record(NodeKey(k), Outcome::Declined, u64::from(i));
        }
        assert_eq!(r.entries.len(), MAX_SCORED);
    }
}
