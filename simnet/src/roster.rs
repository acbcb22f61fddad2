//! The gateway's list of workers to choose racers from, as the run changes it: a worker is
//! listed while the gateway sees it (it joined and has not yet timed out of the directory) and
//! it is bonded (not slashed); each function's bundle is held by some of them, and a worker
//! that races without it fetches it and holds it from then on.

use std::collections::HashSet;

use peerhost_core::Candidate;
use peerhost_protocol::NodeKey;
use rand::seq::index;
use rand_chacha::ChaCha8Rng;

pub(crate) struct Roster {
    keys: Vec<NodeKey>,
    /// What the gateway passes to the race: the listed workers, in no meaningful order.
    candidates: Vec<Candidate>,
    /// The worker of each candidate.
    workers: Vec<usize>,
    /// Per worker: its position in `candidates` while listed.
    at: Vec<Option<usize>>,
    seen: Vec<bool>,
    bonded: Vec<bool>,
    /// Per function: the workers that hold its bundle; `None`: every worker holds every bundle.
    holders: Option<Vec<HashSet<usize>>>,
}

impl Roster {
    /// Every worker listed; `holders` workers per function (drawn from `rng`) hold its bundle,
    /// or every worker when `holders` is 0 or not below the number of workers.
    pub(crate) fn new(
        keys: Vec<NodeKey>,
        functions: usize,
        holders: usize,
        rng: &mut ChaCha8Rng,
    ) -> Self {
        let workers = keys.len();
        let holders = (holders > 0 && holders < workers).then(|| {
            (0..functions.max(1))
                .map(|_| index::sample(rng, workers, holders).into_iter().collect())
                .collect()
        });
        let everyone = holders.is_none();
        Self {
            candidates: keys.iter().map(|k| Candidate::new(*k, everyone, true)).collect(),
            workers: (0..workers).collect(),
            at: (0..workers).map(Some).collect(),
            seen: vec![true; workers],
            bonded: vec![true; workers],
            keys,
            holders,
        }
    }

    /// Whether `worker` holds the bundle of `function`.
    pub(crate) fn holds(&self, function: usize, worker: usize) -> bool {
        self.holders.as_ref().is_none_or(|h| h[function].contains(&worker))
    }

    /// `worker` fetched the bundle of `function`: it holds it from now on.
    pub(crate) fn fetched(&mut self, function: usize, worker: usize) {
        if let Some(holders) = self.holders.as_mut() {
            holders[function].insert(worker);
        }
    }

    /// Runs `decide` over the candidates as they are for a call of `function`.
    pub(crate) fn with<R>(&mut self, function: usize, decide: impl FnOnce(&[Candidate]) -> R) -> R {
        let Some(holders) = self.holders.as_ref() else { return decide(&self.candidates) };
        let listed: Vec<usize> = holders[function].iter().filter_map(|w| self.at[*w]).collect();
        for &i in &listed {
            self.candidates[i].holds_bundle = true;
        }
        let decided = decide(&self.candidates);
        for &i in &listed {
            self.candidates[i].holds_bundle = false;
        }
        decided
    }

    /// The gateway starts or stops seeing `worker` (a heartbeat, or its directory entry timed out).
    pub(crate) fn set_seen(&mut self, worker: usize, seen: bool) {
        self.seen[worker] = seen;
        self.sync(worker);
    }

    /// `worker` is slashed (`false`) or bonds again (`true`).
    pub(crate) fn set_bonded(&mut self, worker: usize, bonded: bool) {
        self.bonded[worker] = bonded;
        self.sync(worker);
    }

    fn sync(&mut self, worker: usize) {
        let listed = self.seen[worker] && self.bonded[worker];
        match (listed, self.at[worker]) {
            (true, None) => {
                self.at[worker] = Some(self.candidates.len());
                let everyone = self.holders.is_none();
                self.candidates.push(Candidate::new(self.keys[worker], everyone, true));
                self.workers.push(worker);
            }
            (false, Some(i)) => {
                self.at[worker] = None;
                self.candidates.swap_remove(i);
                self.workers.swap_remove(i);
                if let Some(&moved) = self.workers.get(i) {
                    self.at[moved] = Some(i);
                }
            }
            _ => {}
        }
    }
}
