//! The simulated network between nodes: per-message latency drawn from a distribution, loss,
//! duplication, reordering, and partitions that split the nodes into groups and heal at a set
//! time. Every draw comes from the caller's seeded generator, so a scenario and seed decide
//! every delivery.

use rand::{Rng, RngExt};
use serde::{Deserialize, Serialize};

/// How long one message takes, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Latency {
    /// Always `ms`.
    Fixed {
        /// The latency.
        ms: f64,
    },
    /// Uniform between `min_ms` and `max_ms`.
    Uniform {
        /// Shortest.
        min_ms: f64,
        /// Longest.
        max_ms: f64,
    },
    /// `base_ms` plus an exponential tail of mean `jitter_ms` (queueing on a path).
    Exponential {
        /// The path's floor.
        base_ms: f64,
        /// Mean of the tail.
        jitter_ms: f64,
    },
    /// Log-normal with median `median_ms` and shape `sigma` (wide-area links: most messages
    /// near the median, a heavy tail).
    LogNormal {
        /// The median.
        median_ms: f64,
        /// Spread of the logarithm.
        sigma: f64,
    },
}

impl Latency {
    /// One draw, in microseconds.
    pub fn sample_us(&self, rng: &mut impl Rng) -> u64 {
        let ms = match *self {
            Self::Fixed { ms } => ms,
            Self::Uniform { min_ms, max_ms } => min_ms + (max_ms - min_ms) * rng.random::<f64>(),
            Self::Exponential { base_ms, jitter_ms } => base_ms + exponential(rng, jitter_ms),
            Self::LogNormal { median_ms, sigma } => median_ms * (sigma * normal(rng)).exp(),
        };
        (ms.max(0.0) * 1e3) as u64
    }
}

/// A draw of mean `mean` from the exponential distribution.
pub(crate) fn exponential(rng: &mut impl Rng, mean: f64) -> f64 {
    -mean * (1.0 - rng.random::<f64>()).ln()
}

/// A standard normal draw (Box–Muller).
fn normal(rng: &mut impl Rng) -> f64 {
    let u = 1.0 - rng.random::<f64>();
    let v = rng.random::<f64>();
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

/// The nodes split into groups from `at_ms` until `heal_ms`: a message between two groups is
/// lost. Nodes not listed form one more group together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Partition {
    /// When the split starts (simulated ms).
    pub at_ms: u64,
    /// When it heals.
    pub heal_ms: u64,
    /// The groups, as node index ranges `[first, last)`.
    pub groups: Vec<(usize, usize)>,
}

impl Partition {
    fn group_of(&self, node: usize) -> Option<usize> {
        self.groups.iter().position(|&(first, last)| (first..last).contains(&node))
    }

    /// Whether the partition separates `a` from `b` at `now_ms`.
    pub fn separates(&self, a: usize, b: usize, now_ms: u64) -> bool {
        (self.at_ms..self.heal_ms).contains(&now_ms) && self.group_of(a) != self.group_of(b)
    }
}

/// The whole network's behaviour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Network {
    /// One-way latency of a message.
    pub latency: Latency,
    /// Probability that a message is lost.
    pub loss: f64,
    /// Probability that a message arrives twice (the copy after its own latency draw).
    pub duplicate: f64,
    /// Probability that a message is held back by `reorder_delay_ms` more, so later messages
    /// overtake it.
    pub reorder: f64,
    /// How long a reordered message is held back.
    pub reorder_delay_ms: f64,
    /// Partitions, in any order; they may overlap.
    pub partitions: Vec<Partition>,
}

impl Default for Network {
    fn default() -> Self {
        Self {
            latency: Latency::Exponential { base_ms: 0.0, jitter_ms: 5.0 },
            loss: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            reorder_delay_ms: 10.0,
            partitions: Vec::new(),
        }
    }
}

/// When copies of one message arrive: none (lost), one, or two (duplicated).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Arrivals {
    times: [Option<u64>; 2],
}

impl Arrivals {
    /// Arrival times in microseconds, earliest first.
    pub fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        let mut times = self.times;
        times.sort_unstable_by_key(|t| t.unwrap_or(u64::MAX));
        times.into_iter().flatten()
    }

    /// Whether no copy arrives.
    pub fn is_lost(&self) -> bool {
        self.times == [None, None]
    }
}

impl Network {
    /// Sends a message from node `from` to node `to` at `now_us`.
    pub fn send(&self, from: usize, to: usize, now_us: u64, rng: &mut impl Rng) -> Arrivals {
        // Every message makes the same draws, lost or not, so changing one probability does
        // not shift the random stream of everything after it.
        let lost = rng.random::<f64>() < self.loss;
        let duplicated = rng.random::<f64>() < self.duplicate;
        let held = rng.random::<f64>() < self.reorder;
        let first = self.latency.sample_us(rng);
        let second = self.latency.sample_us(rng);
        let now_ms = now_us / 1_000;
        if lost || self.partitions.iter().any(|p| p.separates(from, to, now_ms)) {
            return Arrivals::default();
        }
        let hold = if held { (self.reorder_delay_ms * 1e3) as u64 } else { 0 };
        Arrivals { times: [Some(now_us + first + hold), duplicated.then(|| now_us + second)] }
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    fn sends(network: &Network, n: usize, now_us: u64) -> Vec<Arrivals> {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        (0..n).map(|i| network.send(i % 10, (i + 1) % 10, now_us, &mut rng)).collect()
    }

    #[test]
    fn loss_and_duplication_happen_at_their_rates() {
        let network = Network { loss: 0.1, duplicate: 0.2, ..Network::default() };
        let arrivals = sends(&network, 20_000, 0);
        let lost = arrivals.iter().filter(|a| a.is_lost()).count();
        let twice = arrivals.iter().filter(|a| a.iter().count() == 2).count();
        assert!((1_700..2_300).contains(&lost), "{lost} lost");
        // Duplicated and not lost: 0.2 × 0.9.
        assert!((3_200..4_000).contains(&twice), "{twice} twice");
    }

    #[test]
    fn a_partition_drops_only_messages_across_it_and_only_until_it_heals() {
        let split = Partition { at_ms: 100, heal_ms: 200, groups: vec![(0, 5)] };
        let network = Network { partitions: vec![split], ..Network::default() };
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        assert!(network.send(1, 7, 150_000, &mut rng).is_lost(), "across, during");
        assert!(!network.send(1, 3, 150_000, &mut rng).is_lost(), "inside a group");
        assert!(!network.send(6, 8, 150_000, &mut rng).is_lost(), "inside the rest");
        assert!(!network.send(1, 7, 99_000, &mut rng).is_lost(), "before");
        assert!(!network.send(1, 7, 200_000, &mut rng).is_lost(), "healed");
    }

    #[test]
    fn held_messages_are_overtaken() {
        let network = Network {
            latency: Latency::Fixed { ms: 1.0 },
            reorder: 1.0,
            reorder_delay_ms: 10.0,
            ..Network::default()
        };
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let held = network.send(0, 1, 0, &mut rng).iter().next();
        let plain = Network { reorder: 0.0, ..network.clone() }.send(0, 1, 1_000, &mut rng);
        assert_eq!(held, Some(11_000));
        assert_eq!(plain.iter().next(), Some(2_000), "sent later, arrives first");
    }

    #[test]
    fn latency_distributions_have_their_medians() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let median = |latency: Latency, rng: &mut ChaCha8Rng| {
            let mut draws: Vec<u64> = (0..10_001).map(|_| latency.sample_us(rng)).collect();
            draws.sort_unstable();
            draws[5_000] as f64 / 1e3
        };
        let lognormal = median(Latency::LogNormal { median_ms: 40.0, sigma: 0.5 }, &mut rng);
        assert!((37.0..43.0).contains(&lognormal), "{lognormal}");
        let uniform = median(Latency::Uniform { min_ms: 10.0, max_ms: 20.0 }, &mut rng);
        assert!((14.5..15.5).contains(&uniform), "{uniform}");
        // Exponential: base + mean × ln 2.
        let exp = median(Latency::Exponential { base_ms: 2.0, jitter_ms: 10.0 }, &mut rng);
        assert!((8.6..9.3).contains(&exp), "{exp}");
    }
}
