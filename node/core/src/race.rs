//! The gateway's side of one call: dispatch to racers, collect results, decide.
//!
//! A [`Race`] is a pure state machine. The gateway feeds it verified results, declines, lost
//! peers and timer wake-ups with the current time and the current candidate workers, and it
//! answers with a [`Step`]: dispatch an attempt, keep waiting until a time, accept a winner,
//! or give up. The same code runs under the simulator.
//!
//! Rules:
//! - `fast` (quorum 1): the first valid result from a racer of any attempt wins.
//! - `verified` (quorum q): the first result hash that q distinct racers agree on wins.
//!   When the racers disagree so that the attempt can no longer reach a quorum, the race
//!   escalates at once: fresh racers re-execute (up to `max_escalations` times). A race whose
//!   racers never agree ends in [`Step::NoAgreement`] with the conflicting votes, never in a
//!   silent pick.
//! - An attempt fails early when every one of its racers declined or disconnected; otherwise
//!   it times out. A failed attempt is followed by the next (fresh racers, never ones already
//!   tried while others remain) until `max_attempts`, then the race is exhausted.

use std::collections::{BTreeMap, BTreeSet};

use peerhost_protocol::{Keccak, NodeKey, RequestId};

use super::racers::{self, Candidate};

/// Parameters of a race.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RaceConfig {
    /// Racers per attempt (`k`).
    pub racers: usize,
    /// Matching results needed (`q`); 1 for `fast`.
    pub quorum: usize,
    /// Attempts before giving up (the first dispatch counts).
    pub max_attempts: u8,
    /// How long one attempt may take before the next starts.
    pub attempt_timeout_ms: u64,
    /// With no candidate at all, let any worker answer (open mode: no chain, no bonds).
    /// Otherwise a race with nobody to ask ends, and results only count from named racers.
    pub open_when_empty: bool,
    /// Times a disagreement may bring in fresh racers before the race ends without agreement.
    pub max_escalations: u8,
}

/// What the gateway should do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Publish attempt `attempt` naming `racers` (empty: open race), then wait until
    /// `wake_at_ms`.
    Dispatch {
        /// Attempt number.
        attempt: u8,
        /// Chosen racers, sorted.
        racers: Vec<NodeKey>,
        /// When to call [`Race::on_timer`].
        wake_at_ms: u64,
    },
    /// Nothing to do until `wake_at_ms` or the next input.
    Wait {
        /// When to call [`Race::on_timer`].
        wake_at_ms: u64,
    },
    /// Done: answer with a result whose hash is `result_hash` (from any of `workers`).
    Accept {
        /// The winning result hash.
        result_hash: Keccak,
        /// Workers that returned it.
        workers: Vec<NodeKey>,
    },
    /// Done: no acceptable result within the attempts.
    Exhausted,
    /// Done: racers returned different results and no hash reached the quorum, even after
    /// escalating. The votes are the evidence (result hash → workers), for a dispute.
    NoAgreement {
        /// Every result hash returned, with the workers that returned it.
        votes: Vec<(Keccak, Vec<NodeKey>)>,
    },
}

/// Why a result was not counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ignored {
    /// The sender was never asked to race.
    NotARacer,
    /// The sender already returned a result: a worker votes once.
    AlreadyVoted,
    /// The race is over.
    Finished,
}

/// State of one call at the gateway.
#[derive(Debug, Clone)]
pub struct Race {
    config: RaceConfig,
    request_id: RequestId,
    attempt: u8,
    open: bool,
    current: BTreeSet<NodeKey>,
    /// Racers of all attempts (results from earlier attempts still count).
    tried: BTreeSet<NodeKey>,
    /// Racers of the current attempt that declined or disconnected.
    failed: BTreeSet<NodeKey>,
    /// Racers that disconnected (never chosen again while others remain).
    lost: BTreeSet<NodeKey>,
    votes: BTreeMap<Keccak, BTreeSet<NodeKey>>,
    attempt_deadline_ms: u64,
    escalations: u8,
    finished: bool,
}

impl Race {
    /// A race that has not dispatched yet; call [`start`](Self::start).
    pub fn new(request_id: RequestId, config: RaceConfig) -> Self {
        Self {
            config,
            request_id,
            attempt: 0,
            open: false,
            current: BTreeSet::new(),
            tried: BTreeSet::new(),
            failed: BTreeSet::new(),
            lost: BTreeSet::new(),
            votes: BTreeMap::new(),
            attempt_deadline_ms: 0,
            escalations: 0,
            finished: false,
        }
    }

    /// The request this race is for.
    pub fn request_id(&self) -> &RequestId {
        &self.request_id
    }

    /// The current attempt number.
    pub fn attempt(&self) -> u8 {
        self.attempt
    }

    /// Dispatches the first attempt.
    pub fn start(&mut self, now_ms: u64, candidates: &[Candidate]) -> Step {
        self.dispatch(0, now_ms, candidates)
    }

    fn dispatch(&mut self, attempt: u8, now_ms: u64, candidates: &[Candidate]) -> Step {
        self.attempt = attempt;
        self.failed.clear();
        let k = self.config.racers.max(self.config.quorum);
        // Prefer workers not tried yet; then anyone still connected; then an open race.
        let mut chosen = racers::select(&self.request_id, attempt, candidates, &self.tried, k);
        if chosen.len() < self.config.quorum {
            chosen = racers::select(&self.request_id, attempt, candidates, &self.lost, k);
        }
        if chosen.is_empty() && !self.config.open_when_empty {
            self.current.clear();
            self.attempt_deadline_ms = now_ms + self.config.attempt_timeout_ms;
            if attempt == 0 {
                self.finished = true;
                return Step::Exhausted;
            }
            // Nobody new to ask: earlier racers may still answer until this deadline.
            return Step::Wait { wake_at_ms: self.attempt_deadline_ms };
        }
        self.open = chosen.is_empty();
        self.name(attempt, chosen, now_ms)
    }

    /// Makes `racers` the current attempt `attempt`, starting its deadline now.
    fn name(&mut self, attempt: u8, racers: Vec<NodeKey>, now_ms: u64) -> Step {
        self.attempt = attempt;
        self.failed.clear();
        self.current = racers.iter().copied().collect();
        self.tried.extend(racers.iter().copied());
        self.attempt_deadline_ms = now_ms + self.config.attempt_timeout_ms;
        Step::Dispatch { attempt, racers, wake_at_ms: self.attempt_deadline_ms }
    }

    fn next(&mut self, now_ms: u64, candidates: &[Candidate]) -> Step {
        if self.finished {
            return Step::Exhausted;
        }
        let attempt_failed = now_ms >= self.attempt_deadline_ms
            || (!self.open && !self.current.is_empty() && self.failed.len() == self.current.len());
        if !attempt_failed {
            return Step::Wait { wake_at_ms: self.attempt_deadline_ms };
        }
        if self.attempt + 1 >= self.config.max_attempts {
            // Out of attempts. Earlier racers that are still working may yet answer before
            // the final deadline; only a timeout ends the race.
            if now_ms >= self.attempt_deadline_ms {
                return self.end_unagreed();
            }
            return Step::Wait { wake_at_ms: self.attempt_deadline_ms };
        }
        self.dispatch(self.attempt + 1, now_ms, candidates)
    }

    /// A verified result (receipt signature and hash checked by the caller) from `from`.
    ///
    /// # Errors
    ///
    /// [`Ignored`] if the result cannot count.
    pub fn on_result(
        &mut self,
        from: NodeKey,
        result_hash: Keccak,
        now_ms: u64,
        candidates: &[Candidate],
    ) -> Result<Step, Ignored> {
        if self.finished {
            return Err(Ignored::Finished);
        }
        if !self.open && !self.tried.contains(&from) {
            return Err(Ignored::NotARacer);
        }
        if self.votes.values().any(|voters| voters.contains(&from)) {
            return Err(Ignored::AlreadyVoted);
        }
        let voters = self.votes.entry(result_hash).or_default();
        voters.insert(from);
        if voters.len() >= self.config.quorum {
            self.finished = true;
            return Ok(Step::Accept { result_hash, workers: voters.iter().copied().collect() });
        }
        if self.votes.len() > 1 && !self.quorum_reachable() {
            return Ok(self.escalate(now_ms, candidates));
        }
        Ok(self.next(now_ms, candidates))
    }

    /// Whether the current attempt's racers that have not answered could still make a
    /// quorum for the leading result.
    fn quorum_reachable(&self) -> bool {
        let voted = |k: &NodeKey| self.votes.values().any(|v| v.contains(k));
        let outstanding =
            self.current.iter().filter(|k| !voted(k) && !self.failed.contains(*k)).count();
        let best = self.votes.values().map(BTreeSet::len).max().unwrap_or(0);
        best + outstanding >= self.config.quorum
    }

    /// Brings in fresh racers after a disagreement: enough that the leading result could
    /// reach the quorum. Without escalations or fresh workers left, the race ends unagreed.
    fn escalate(&mut self, now_ms: u64, candidates: &[Candidate]) -> Step {
        let best = self.votes.values().map(BTreeSet::len).max().unwrap_or(0);
        let needed = self.config.quorum.saturating_sub(best).max(1);
        let attempt = self.attempt.saturating_add(1);
        let fresh = racers::select(&self.request_id, attempt, candidates, &self.tried, needed);
        if self.escalations >= self.config.max_escalations || fresh.is_empty() {
            return self.end_unagreed();
        }
        self.escalations += 1;
        self.name(attempt, fresh, now_ms)
    }

    /// The race is over without an accepted result.
    fn end_unagreed(&mut self) -> Step {
        self.finished = true;
        if self.votes.len() > 1 {
            let votes = self.votes.iter().map(|(h, w)| (*h, w.iter().copied().collect())).collect();
            return Step::NoAgreement { votes };
        }
        Step::Exhausted
    }

    /// A racer declined.
    pub fn on_decline(&mut self, from: NodeKey, now_ms: u64, candidates: &[Candidate]) -> Step {
        if self.current.contains(&from) {
            self.failed.insert(from);
        }
        self.next(now_ms, candidates)
    }

    /// A racer's connection dropped.
    pub fn on_peer_lost(&mut self, peer: NodeKey, now_ms: u64, candidates: &[Candidate]) -> Step {
        if self.tried.contains(&peer) {
            self.lost.insert(peer);
        }
        if self.current.contains(&peer) {
            self.failed.insert(peer);
        }
        self.next(now_ms, candidates)
    }

    /// Publishing the current attempt failed (e.g. nobody listens on the topic yet): the
    /// attempt counts as failed now.
    pub fn on_dispatch_failed(&mut self, now_ms: u64, candidates: &[Candidate]) -> Step {
        self.attempt_deadline_ms = now_ms;
        self.next(now_ms, candidates)
    }

    /// Time passed.
    pub fn on_timer(&mut self, now_ms: u64, candidates: &[Candidate]) -> Step {
        self.next(now_ms, candidates)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAST: RaceConfig = RaceConfig {
        racers: 1,
        quorum: 1,
        max_attempts: 2,
        attempt_timeout_ms: 1_000,
        open_when_empty: true,
        max_escalations: 2,
    };
    const BONDED: RaceConfig = RaceConfig { open_when_empty: false, ..FAST };

    fn workers(n: u8) -> Vec<Candidate> {
        (1..=n).map(|i| Candidate::new(NodeKey([i; 32]), true, true)).collect()
    }

    fn dispatched(step: &Step) -> Vec<NodeKey> {
        match step {
            Step::Dispatch { racers, .. } => racers.clone(),
            other => panic!("expected dispatch, got {other:?}"),
        }
    }

    #[test]
    fn fast_accepts_first_result_of_a_racer() {
        let mut race = Race::new(RequestId([1; 32]), FAST);
        let w = workers(3);
        let racer = dispatched(&race.start(0, &w))[0];
        let outsider = w.iter().map(|c| c.key).find(|k| *k != racer).unwrap();
        assert_eq!(race.on_result(outsider, Keccak([1; 32]), 10, &w), Err(Ignored::NotARacer));
        let step = race.on_result(racer, Keccak([1; 32]), 20, &w).unwrap();
        assert_eq!(step, Step::Accept { result_hash: Keccak([1; 32]), workers: vec![racer] });
        assert_eq!(race.on_result(racer, Keccak([1; 32]), 30, &w), Err(Ignored::Finished));
    }

    #[test]
    fn timeout_redispatches_to_someone_else_then_exhausts() {
        let mut race = Race::new(RequestId([2; 32]), FAST);
        let w = workers(3);
        let first = dispatched(&race.start(0, &w));
        assert_eq!(race.on_timer(999, &w), Step::Wait { wake_at_ms: 1_000 });
        let second = dispatched(&race.on_timer(1_000, &w));
        assert_ne!(first, second);
        assert_eq!(race.attempt(), 1);
        assert_eq!(race.on_timer(2_000, &w), Step::Exhausted);
    }

    #[test]
    fn late_result_from_first_attempt_still_wins() {
        let mut race = Race::new(RequestId([3; 32]), FAST);
        let w = workers(3);
        let first = dispatched(&race.start(0, &w))[0];
        dispatched(&race.on_timer(1_000, &w));
        assert!(matches!(
            race.on_result(first, Keccak([3; 32]), 1_500, &w),
            Ok(Step::Accept { .. })
        ));
    }

    #[test]
    fn decline_or_disconnect_redispatches_at_once() {
        let mut race = Race::new(RequestId([4; 32]), FAST);
        let w = workers(3);
        let first = dispatched(&race.start(0, &w))[0];
        let second = dispatched(&race.on_peer_lost(first, 5, &w))[0];
        assert_ne!(first, second);
        // The last attempt's racer declines: wait for stragglers until the deadline.
        assert_eq!(race.on_decline(second, 10, &w), Step::Wait { wake_at_ms: 1_005 });
        assert_eq!(race.on_timer(1_005, &w), Step::Exhausted);
    }

    #[test]
    fn verified_needs_quorum_of_matching_hashes() {
        let config = RaceConfig { racers: 3, quorum: 2, ..FAST };
        let mut race = Race::new(RequestId([5; 32]), config);
        let w = workers(4);
        let racers = dispatched(&race.start(0, &w));
        assert_eq!(racers.len(), 3);
        assert!(matches!(race.on_result(racers[0], Keccak([1; 32]), 1, &w), Ok(Step::Wait { .. })));
        assert!(matches!(race.on_result(racers[1], Keccak([2; 32]), 2, &w), Ok(Step::Wait { .. })));
        // The same worker voting twice, for any result, does not count.
        assert_eq!(race.on_result(racers[0], Keccak([1; 32]), 3, &w), Err(Ignored::AlreadyVoted));
        assert_eq!(race.on_result(racers[1], Keccak([1; 32]), 3, &w), Err(Ignored::AlreadyVoted));
        let step = race.on_result(racers[2], Keccak([1; 32]), 4, &w).unwrap();
        assert!(
            matches!(step, Step::Accept { result_hash, workers } if result_hash == Keccak([1; 32]) && workers.len() == 2)
        );
    }

    #[test]
    fn disagreement_escalates_to_fresh_racers_then_a_quorum_wins() {
        let config = RaceConfig { racers: 3, quorum: 3, ..FAST };
        let mut race = Race::new(RequestId([10; 32]), config);
        let w = workers(5);
        let first = dispatched(&race.start(0, &w));
        let (good, bad) = (Keccak([1; 32]), Keccak([2; 32]));
        assert!(matches!(race.on_result(first[0], good, 1, &w), Ok(Step::Wait { .. })));
        // One wrong answer: 3 agreeing results are no longer possible among these three.
        let more = dispatched(&race.on_result(first[1], bad, 2, &w).unwrap());
        assert_eq!(more.len(), 2, "two fresh racers can still make three");
        assert!(more.iter().all(|k| !first.contains(k)));
        assert!(matches!(race.on_result(first[2], good, 3, &w), Ok(Step::Wait { .. })));
        let step = race.on_result(more[0], good, 4, &w).unwrap();
        assert!(matches!(step, Step::Accept { result_hash, .. } if result_hash == good));
    }

    #[test]
    fn colluders_that_outvote_nobody_end_in_no_agreement() {
        let config = RaceConfig { racers: 3, quorum: 3, ..FAST };
        let mut race = Race::new(RequestId([11; 32]), config);
        let w = workers(3); // nobody fresh to escalate to
        let racers = dispatched(&race.start(0, &w));
        let (good, bad) = (Keccak([1; 32]), Keccak([2; 32]));
        race.on_result(racers[0], bad, 1, &w).unwrap();
        match race.on_result(racers[1], good, 2, &w).unwrap() {
            Step::NoAgreement { votes } => {
                assert_eq!(votes.len(), 2);
                assert!(votes.iter().all(|(_, workers)| workers.len() == 1));
            }
            other => panic!("expected no agreement, got {other:?}"),
        }
        assert_eq!(race.on_result(racers[2], good, 3, &w), Err(Ignored::Finished));
    }

    #[test]
    fn failed_publishes_use_up_attempts() {
        let mut race = Race::new(RequestId([8; 32]), FAST);
        dispatched(&race.start(0, &[]));
        dispatched(&race.on_dispatch_failed(1, &[]));
        assert_eq!(race.on_dispatch_failed(2, &[]), Step::Exhausted);
    }

    #[test]
    fn no_known_workers_means_an_open_race() {
        let mut race = Race::new(RequestId([6; 32]), FAST);
        assert!(dispatched(&race.start(0, &[])).is_empty());
        let anyone = NodeKey([42; 32]);
        assert!(matches!(race.on_result(anyone, Keccak([0; 32]), 1, &[]), Ok(Step::Accept { .. })));
    }

    #[test]
    fn bonded_races_never_open() {
        let mut race = Race::new(RequestId([6; 32]), BONDED);
        assert_eq!(race.start(0, &[]), Step::Exhausted, "nobody bonded to ask");

        let mut race = Race::new(RequestId([9; 32]), BONDED);
        let w = workers(1);
        let first = dispatched(&race.start(0, &w))[0];
        // The only bonded worker vanishes: no open re-dispatch, only a wait for it.
        assert_eq!(race.on_peer_lost(first, 5, &[]), Step::Wait { wake_at_ms: 1_005 });
        let stranger = NodeKey([42; 32]);
        assert_eq!(race.on_result(stranger, Keccak([0; 32]), 6, &[]), Err(Ignored::NotARacer));
        assert!(matches!(race.on_result(first, Keccak([0; 32]), 7, &[]), Ok(Step::Accept { .. })));
    }

    #[test]
    fn single_worker_is_retried_when_nobody_else_exists() {
        let mut race = Race::new(RequestId([7; 32]), FAST);
        let w = workers(1);
        let first = dispatched(&race.start(0, &w));
        let again = dispatched(&race.on_decline(first[0], 1, &w));
        assert_eq!(first, again);
    }
}
