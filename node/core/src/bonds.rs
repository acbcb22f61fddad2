//! The bonded set: which mesh keys hold a stake on the coordinator, in which role, and how
//! much. Built from chain events applied in chain order (never read on the request path), so
//! that racer choice and request admission are map look-ups.
//!
//! A [`BondBook`] is in one of two modes. [`Trust::Open`] (no chain: the `--no-chain` devnet)
//! admits every node; [`Trust::Bonded`] admits a node in a role only while its bond in that
//! role is at least the network's minimum (and a function's own `min_bond`, for workers).

use std::collections::HashMap;

use alloy_primitives::Address;
use peerhost_protocol::NodeKey;

/// Most stakes tracked per role; further bonds are ignored (and counted) until some leave.
pub const MAX_STAKES: usize = 100_000;

/// A role a stake is bonded for (the coordinator's `Role`, in its order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BondRole {
    /// Executes requests and is paid for them.
    Worker,
    /// Dispatches requests, anchors receipts and settles payments.
    Gateway,
    /// Re-executes audited requests and attests to their results.
    Validator,
}

impl BondRole {
    /// Every role, in the coordinator's order.
    pub const ALL: [BondRole; 3] = [BondRole::Worker, BondRole::Gateway, BondRole::Validator];

    /// The coordinator's number for the role.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The role with the coordinator's number `n`.
    pub fn from_index(n: u8) -> Option<Self> {
        Self::ALL.get(usize::from(n)).copied()
    }

    /// Lower-case name, as the CLI and `/healthz` spell it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Worker => "worker",
            Self::Gateway => "gateway",
            Self::Validator => "validator",
        }
    }
}

/// Whom a node trusts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    /// No chain: every node may race and dispatch. Only for local, single-owner networks.
    Open,
    /// Chain-connected: only bonded nodes, with at least these bonds (token units) per role,
    /// indexed by [`BondRole::index`].
    Bonded {
        /// The coordinator's minimum bond per role.
        minimums: [u128; 3],
    },
}

/// One account's stake in one role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stake {
    /// The account's chain address.
    pub account: Address,
    /// The mesh key it bound (absent for validators that bound none).
    pub node_key: Option<NodeKey>,
    /// Counted bond (token units).
    pub bonded: u128,
    /// On its way out: no longer counts, still slashable.
    pub unbonding: u128,
    /// Times it was slashed, as seen on the chain.
    pub slashes: u32,
}

/// A change to a stake, decoded from one coordinator event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BondEvent {
    /// `Bonded`: the account's bond in `role` is now `bonded`, bound to `node_key`.
    Bonded {
        /// Role.
        role: BondRole,
        /// Account.
        account: Address,
        /// The bound mesh key (`None`: zero key).
        node_key: Option<NodeKey>,
        /// The new bond.
        bonded: u128,
    },
    /// `Unbonding`: `amount` left the bond; `unbonding` is the new unbonding total.
    Unbonding {
        /// Role.
        role: BondRole,
        /// Account.
        account: Address,
        /// Amount moved out of the bond.
        amount: u128,
        /// The new unbonding total.
        unbonding: u128,
    },
    /// `Withdrawn`: the unbonded amount was paid out.
    Withdrawn {
        /// Role.
        role: BondRole,
        /// Account.
        account: Address,
    },
    /// A slash took `amount`, from the bond first, then from what is unbonding.
    Slashed {
        /// Role.
        role: BondRole,
        /// Account.
        account: Address,
        /// Amount taken.
        amount: u128,
    },
    /// The stake as read from the chain just now (after a reorg removed an event).
    Refreshed {
        /// Role.
        role: BondRole,
        /// Account.
        account: Address,
        /// The bound mesh key.
        node_key: Option<NodeKey>,
        /// Bond.
        bonded: u128,
        /// Unbonding.
        unbonding: u128,
    },
}

/// Stakes per role, by account and by mesh key.
#[derive(Debug)]
pub struct BondBook {
    trust: Trust,
    stakes: HashMap<(BondRole, Address), Stake>,
    by_key: HashMap<(BondRole, NodeKey), Address>,
    /// Stakes tracked per role.
    counts: [usize; 3],
    synced: bool,
    ignored: u64,
}

impl BondBook {
    /// An empty book with the given trust.
    pub fn new(trust: Trust) -> Self {
        Self {
            trust,
            stakes: HashMap::new(),
            by_key: HashMap::new(),
            counts: [0; 3],
            synced: false,
            ignored: 0,
        }
    }

    /// The trust mode.
    pub fn trust(&self) -> Trust {
        self.trust
    }

    /// Switches to `trust` (a node learns the chain's minimums once connected).
    pub fn set_trust(&mut self, trust: Trust) {
        self.trust = trust;
    }

    /// Whether the book has caught up with the chain's head once (always true when open).
    pub fn synced(&self) -> bool {
        self.synced || self.trust == Trust::Open
    }

    /// Marks the book caught up with the chain's head.
    pub fn mark_synced(&mut self) {
        self.synced = true;
    }

    /// Events ignored because the book was full.
    pub fn ignored(&self) -> u64 {
        self.ignored
    }

    /// Applies one event (in chain order).
    pub fn apply(&mut self, event: BondEvent) {
        match event {
            BondEvent::Bonded { role, account, node_key, bonded } => {
                if let Some(stake) = self.entry(role, account, bonded) {
                    stake.bonded = bonded;
                    let old = std::mem::replace(&mut stake.node_key, node_key);
                    self.rebind(role, account, old, node_key);
                }
            }
            BondEvent::Unbonding { role, account, amount, unbonding } => {
                if let Some(stake) = self.stakes.get_mut(&(role, account)) {
                    stake.bonded = stake.bonded.saturating_sub(amount);
                    stake.unbonding = unbonding;
                }
            }
            BondEvent::Withdrawn { role, account } => {
                if let Some(stake) = self.stakes.get_mut(&(role, account)) {
                    stake.unbonding = 0;
                }
            }
            BondEvent::Slashed { role, account, amount } => {
                if let Some(stake) = self.stakes.get_mut(&(role, account)) {
                    let from_bond = amount.min(stake.bonded);
                    stake.bonded -= from_bond;
                    stake.unbonding = stake.unbonding.saturating_sub(amount - from_bond);
                    stake.slashes = stake.slashes.saturating_add(1);
                }
            }
            BondEvent::Refreshed { role, account, node_key, bonded, unbonding } => {
                if let Some(stake) = self.entry(role, account, bonded) {
                    stake.bonded = bonded;
                    stake.unbonding = unbonding;
                    let old = std::mem::replace(&mut stake.node_key, node_key);
                    self.rebind(role, account, old, node_key);
                }
            }
        }
    }

    /// The stake of `account` in `role`, created if `bonded` meets the role's minimum: dust
    /// bonds are never tracked, so they cannot fill the book.
    fn entry(&mut self, role: BondRole, account: Address, bonded: u128) -> Option<&mut Stake> {
        if !self.stakes.contains_key(&(role, account)) {
            if bonded < self.required(role, 0).unwrap_or(0) {
                return None;
            }
            if self.counts[role.index()] >= MAX_STAKES {
                self.ignored += 1;
                return None;
            }
            self.counts[role.index()] += 1;
        }
        Some(self.stakes.entry((role, account)).or_insert(Stake {
            account,
            node_key: None,
            bonded: 0,
            unbonding: 0,
            slashes: 0,
        }))
    }

    fn rebind(
        &mut self,
        role: BondRole,
        account: Address,
        old: Option<NodeKey>,
        new: Option<NodeKey>,
    ) {
        if old == new {
            return;
        }
        if let Some(old) = old
            && self.by_key.get(&(role, old)) == Some(&account)
        {
            self.by_key.remove(&(role, old));
        }
        if let Some(new) = new {
            self.by_key.insert((role, new), account);
        }
    }

    /// The stake bound to `key` in `role`.
    pub fn stake_of(&self, role: BondRole, key: &NodeKey) -> Option<&Stake> {
        let account = self.by_key.get(&(role, *key))?;
        self.stakes.get(&(role, *account))
    }

    /// The stake of `account` in `role`.
    pub fn stake_of_account(&self, role: BondRole, account: &Address) -> Option<&Stake> {
        self.stakes.get(&(role, *account))
    }

    /// The counted bond of `key` in `role` (0 if none).
    pub fn bond_of(&self, role: BondRole, key: &NodeKey) -> u128 {
        self.stake_of(role, key).map_or(0, |s| s.bonded)
    }

    /// The smallest bond that admits a node in `role` when a function asks for at least
    /// `at_least` (`None` in open mode: no bond needed).
    pub fn required(&self, role: BondRole, at_least: u128) -> Option<u128> {
        match self.trust {
            Trust::Open => None,
            Trust::Bonded { minimums } => Some(minimums[role.index()].max(at_least).max(1)),
        }
    }

    /// Whether `key` may act in `role` for a function asking for a bond of at least
    /// `at_least` (always, in open mode).
    pub fn admits(&self, role: BondRole, key: &NodeKey, at_least: u128) -> bool {
        self.required(role, at_least).is_none_or(|needed| self.bond_of(role, key) >= needed)
    }

    /// Accounts in `role` whose bond meets the network minimum.
    pub fn bonded_count(&self, role: BondRole) -> usize {
        let needed = self.required(role, 0).unwrap_or(1);
        self.stakes.iter().filter(|((r, _), s)| *r == role && s.bonded >= needed).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: [u128; 3] = [10, 20, 30];

    fn addr(n: u8) -> Address {
        Address::repeat_byte(n)
    }

    fn key(n: u8) -> NodeKey {
        NodeKey([n; 32])
    }

    fn bonded(book: &mut BondBook, n: u8, amount: u128) {
        book.apply(BondEvent::Bonded {
            role: BondRole::Worker,
            account: addr(n),
            node_key: Some(key(n)),
            bonded: amount,
        });
    }

    #[test]
    fn open_mode_admits_everyone() {
        let book = BondBook::new(Trust::Open);
        assert!(book.synced());
        assert!(book.admits(BondRole::Worker, &key(1), 1_000));
        assert!(book.admits(BondRole::Gateway, &key(1), 0));
    }

    #[test]
    fn bonded_mode_needs_the_larger_of_network_and_function_minimum() {
        let mut book = BondBook::new(Trust::Bonded { minimums: MIN });
        assert!(!book.synced());
        assert!(!book.admits(BondRole::Worker, &key(1), 0), "unknown key");
        bonded(&mut book, 1, 9);
        assert!(!book.admits(BondRole::Worker, &key(1), 0), "below the network minimum");
        bonded(&mut book, 1, 15);
        assert!(book.admits(BondRole::Worker, &key(1), 0));
        assert!(!book.admits(BondRole::Worker, &key(1), 16), "below the function's min_bond");
        assert!(!book.admits(BondRole::Gateway, &key(1), 0), "roles are separate");
        assert_eq!(book.bonded_count(BondRole::Worker), 1);
    }

    #[test]
    fn dust_bonds_are_not_tracked() {
        let mut book = BondBook::new(Trust::Bonded { minimums: MIN });
        bonded(&mut book, 1, 1);
        assert!(book.stake_of(BondRole::Worker, &key(1)).is_none());
        bonded(&mut book, 1, 10);
        assert!(book.admits(BondRole::Worker, &key(1), 0), "tracked once it meets the minimum");
    }

    #[test]
    fn unbonding_and_slashes_take_effect_at_once() {
        let mut book = BondBook::new(Trust::Bonded { minimums: MIN });
        bonded(&mut book, 1, 50);
        let unbond = |amount, unbonding| BondEvent::Unbonding {
            role: BondRole::Worker,
            account: addr(1),
            amount,
            unbonding,
        };
        book.apply(unbond(45, 45));
        assert_eq!(book.bond_of(BondRole::Worker, &key(1)), 5);
        assert!(!book.admits(BondRole::Worker, &key(1), 0));
        bonded(&mut book, 1, 30);
        book.apply(BondEvent::Slashed { role: BondRole::Worker, account: addr(1), amount: 40 });
        let stake = book.stake_of(BondRole::Worker, &key(1)).unwrap();
        assert_eq!((stake.bonded, stake.unbonding, stake.slashes), (0, 35, 1));
        book.apply(BondEvent::Withdrawn { role: BondRole::Worker, account: addr(1) });
        assert_eq!(book.stake_of(BondRole::Worker, &key(1)).unwrap().unbonding, 0);
    }

    #[test]
    fn a_refresh_replaces_what_a_reorg_undid_and_rebinds_keys() {
        let mut book = BondBook::new(Trust::Bonded { minimums: MIN });
        bonded(&mut book, 1, 50);
        book.apply(BondEvent::Refreshed {
            role: BondRole::Worker,
            account: addr(1),
            node_key: Some(key(9)),
            bonded: 12,
            unbonding: 0,
        });
        assert_eq!(book.bond_of(BondRole::Worker, &key(1)), 0, "old key unbound");
        assert_eq!(book.bond_of(BondRole::Worker, &key(9)), 12);
        assert_eq!(book.stake_of_account(BondRole::Worker, &addr(1)).unwrap().bonded, 12);
    }

    #[test]
    fn roles_round_trip_through_the_coordinators_numbers() {
        for role in BondRole::ALL {
            assert_eq!(BondRole::from_index(role.index() as u8), Some(role));
        }
        assert_eq!(BondRole::from_index(3), None);
    }
}
