//! The chain, as far as money goes: epochs, rewards, audits and slashing, modelled after the
//! coordinator. Each epoch's accepted receipts are anchored when it ends; the winner of every
//! call is paid `reward`; receipts are put up for audit by the real [`AuditRate`] draw keyed by
//! the epoch's root, and every dissenter's receipt is audited (as the gateway files them); a
//! validator that re-executes an audited wrong result has its worker slashed `audit_delay_ms`
//! later: the whole bond is lost and the worker races no more. Honest workers pay `exec_cost`
//! per execution; cheaters compute nothing and may take `cheat_gain` per wrong answer accepted
//! (a bribe, or what a wrong answer is worth to them). With `rebond_ms`, a slashed cheater
//! comes back under a new bond, as a rational one would while cheating pays.

use peerhost_core::AuditRate;
use peerhost_protocol::{RequestId, keccak256};
use serde::{Deserialize, Serialize};

use crate::Run;

/// Money and audits (the `[economics]` table; without it nothing is paid or slashed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Economics {
    /// Epoch length (simulated ms).
    pub epoch_ms: u64,
    /// Share of anchored receipts put up for audit.
    pub audit_rate: f64,
    /// A worker's bond, lost whole when it is slashed.
    pub bond: f64,
    /// Paid to the winner of each call.
    pub reward: f64,
    /// What an honest worker spends per execution (a cheater spends nothing).
    pub exec_cost: f64,
    /// What a cheater gains per wrong answer the gateway accepts.
    pub cheat_gain: f64,
    /// From an epoch's end to the slash of a wrong result audited in it.
    pub audit_delay_ms: u64,
    /// A slashed cheater bonds again (a new identity, a new bond) this long after its slash;
    /// `None`: it leaves for good.
    pub rebond_ms: Option<u64>,
}

impl Default for Economics {
    fn default() -> Self {
        Self {
            epoch_ms: 1_000,
            audit_rate: 0.05,
            bond: 50.0,
            reward: 0.01,
            exec_cost: 0.002,
            cheat_gain: 0.0,
            audit_delay_ms: 500,
            rebond_ms: None,
        }
    }
}

/// A receipt the gateway accepted or filed as a dissent, waiting for its epoch to end.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Receipt {
    pub(crate) request: RequestId,
    pub(crate) worker: usize,
    /// The call's winner (paid), or a racer that agreed with it.
    pub(crate) won: bool,
    /// The result differed from the accepted one: always audited.
    pub(crate) dissent: bool,
    /// The result was wrong (a cheater's): an audit finds it.
    pub(crate) wrong: bool,
}

/// The money of one epoch's end, for the earnings chart.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct EpochRecord {
    /// When the epoch ended (simulated ms).
    pub end_ms: u64,
    /// Mean profit so far of an honest worker.
    pub honest_profit: f64,
    /// Mean profit so far of a cheater.
    pub cheater_profit: f64,
    /// Slashes so far (a cheater that bonds again can be slashed again).
    pub slashed: usize,
}

/// Everyone's money and the receipts of the open epoch.
pub(crate) struct Ledger {
    pub(crate) economics: Economics,
    rate: AuditRate,
    seed: u64,
    /// Per worker: rewards and gains minus costs and lost bonds.
    pub(crate) profit: Vec<f64>,
    /// Per worker: slashed and not bonded again.
    pub(crate) slashed: Vec<bool>,
    /// Per worker: times slashed.
    slashes: Vec<usize>,
    /// Workers whose slash is on its way (found by an audit, not yet on-chain).
    pending: Vec<bool>,
    open: Vec<Receipt>,
    pub(crate) epochs: Vec<EpochRecord>,
    pub(crate) audited: usize,
}

impl Ledger {
    pub(crate) fn new(economics: Economics, workers: usize, seed: u64) -> Self {
        Self {
            rate: AuditRate::new(economics.audit_rate),
            economics,
            seed,
            profit: vec![0.0; workers],
            slashed: vec![false; workers],
            slashes: vec![0; workers],
            pending: vec![false; workers],
            open: Vec::new(),
            epochs: Vec::new(),
            audited: 0,
        }
    }

    /// An execution: honest workers pay for it.
    pub(crate) fn executed(&mut self, worker: usize, cheater: bool) {
        if !cheater {
            self.profit[worker] -= self.economics.exec_cost;
        }
    }

    pub(crate) fn receipt(&mut self, receipt: Receipt) {
        if receipt.won && receipt.wrong {
            self.profit[receipt.worker] += self.economics.cheat_gain;
        }
        self.open.push(receipt);
    }

    /// Ends epoch `epoch`: pays its winners that are still bonded and returns the workers its
    /// audits caught (each once), to be slashed after the audit delay.
    pub(crate) fn end_epoch(&mut self, epoch: u64, cheaters: &[bool]) -> Vec<usize> {
        let root = keccak256(&[self.seed.to_be_bytes(), epoch.to_be_bytes()].concat());
        let mut caught = Vec::new();
        for r in std::mem::take(&mut self.open) {
            if r.won && !self.slashed[r.worker] {
                self.profit[r.worker] += self.economics.reward;
            }
            let audited = r.dissent || self.rate.audits(&root, &r.request);
            self.audited += usize::from(audited);
            if audited && r.wrong && !self.slashed[r.worker] && !self.pending[r.worker] {
                self.pending[r.worker] = true;
                caught.push(r.worker);
            }
        }
        let end_ms = (epoch + 1) * self.economics.epoch_ms;
        let record = EpochRecord {
            end_ms,
            honest_profit: mean_profit(&self.profit, cheaters, false),
            cheater_profit: mean_profit(&self.profit, cheaters, true),
            slashed: self.slashes.iter().sum(),
        };
        self.epochs.push(record);
        caught
    }

    /// Takes `worker`'s bond.
    pub(crate) fn slash(&mut self, worker: usize) {
        if !self.slashed[worker] {
            self.slashed[worker] = true;
            self.slashes[worker] += 1;
            self.profit[worker] -= self.economics.bond;
        }
    }

    /// `worker` bonds again (the bond it lost is gone; the new one is at stake).
    pub(crate) fn rebond(&mut self, worker: usize) {
        self.slashed[worker] = false;
        self.pending[worker] = false;
    }

    /// Writes the money into `run`'s report and epochs.
    pub(crate) fn settle(self, run: &mut Run) {
        let slashed = |cheater: bool| -> usize {
            self.slashes
                .iter()
                .zip(&run.cheaters)
                .filter(|(_, c)| **c == cheater)
                .map(|(s, _)| s)
                .sum()
        };
        let report = &mut run.report;
        report.audited = self.audited;
        report.slashed = slashed(true);
        report.honest_slashed = slashed(false);
        report.honest_profit = mean_profit(&self.profit, &run.cheaters, false);
        report.cheater_profit = mean_profit(&self.profit, &run.cheaters, true);
        run.epochs = self.epochs;
    }
}

/// The mean profit of the honest workers (`cheater = false`) or of the cheaters; 0 if none.
fn mean_profit(profit: &[f64], cheaters: &[bool], cheater: bool) -> f64 {
    let (sum, n) = profit
        .iter()
        .zip(cheaters)
        .filter(|(_, c)| **c == cheater)
        .fold((0.0, 0usize), |(s, n), (p, _)| (s + p, n + 1));
    if n == 0 { 0.0 } else { sum / n as f64 }
}
