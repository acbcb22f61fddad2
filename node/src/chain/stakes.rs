//! Follows the coordinator's bond events into the node's [`BondBook`]: back-filled from the
//! first block, then live, so every node knows who is bonded before any request arrives and
//! never asks the chain on the request path. Each event only says which stake changed: one
//! applier reads that stake as it stood in the event's block and applies it, in chain order
//! (a log a reorg removed makes it read the latest), so no change is applied twice.

use std::sync::Arc;

use alloy::{
    eips::BlockId,
    primitives::{Address, B256},
    rpc::types::{Filter, Log},
    sol_types::SolEvent as _,
};
use peerhost_contracts::ExecutionCoordinator::{
    Bonded, GatewaySlashed, ParamsUpdated, Slashed, Unbonding, Withdrawn,
};
use peerhost_protocol::NodeKey;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::{
    Chain, ChainError,
    events::{Followed, follow},
};
use crate::{
    dispatch::{BondBook, BondEvent, BondRole, Trust},
    view::View,
};

fn node_key(key: B256) -> Option<NodeKey> {
    (key != B256::ZERO).then_some(NodeKey(key.0))
}

/// Switches `view` to bonded trust with the chain's current minimums, then follows the bond
/// events until `shutdown`.
///
/// # Errors
///
/// The minimums cannot be read (the node then refuses to start rather than run open).
pub(crate) async fn spawn(
    chain: Chain,
    view: Arc<View>,
    shutdown: CancellationToken,
) -> Result<JoinHandle<()>, ChainError> {
    let minimums = chain.bond_minimums().await?;
    view.bonds.write().expect("bonds lock").set_trust(Trust::Bonded { minimums });
    Ok(tokio::spawn(run(chain, view, shutdown)))
}

/// What the follower hands the applier, in chain order.
#[derive(Debug)]
enum Update {
    /// A stake changed in the block (`None`: a reorg removed the change; read the latest).
    Stake { role: BondRole, account: Address, block: Option<u64>, slashed: bool },
    /// The parameters (and so the minimums) changed.
    Params,
    /// Everything up to the head was handed over.
    CaughtUp,
}

/// Updates waiting for the applier (bond events are rare: a full queue means a node far
/// behind, and is logged).
const UPDATES: usize = 65_536;

async fn run(chain: Chain, view: Arc<View>, shutdown: CancellationToken) {
    let filter = Filter::new().address(*chain.coordinator().address()).event_signature(vec![
        Bonded::SIGNATURE_HASH,
        Unbonding::SIGNATURE_HASH,
        Withdrawn::SIGNATURE_HASH,
        Slashed::SIGNATURE_HASH,
        GatewaySlashed::SIGNATURE_HASH,
        ParamsUpdated::SIGNATURE_HASH,
    ]);
    let (tx, rx) = tokio::sync::mpsc::channel(UPDATES);
    let follower = follow(&chain, filter, 0, shutdown.clone(), move |followed| {
        let update = match followed {
            Followed::CaughtUp => Update::CaughtUp,
            Followed::Log(log) if log.log_decode::<ParamsUpdated>().is_ok() => Update::Params,
            Followed::Log(log) => {
                let Some((role, account)) = subject(&log) else { return };
                let slashed = !log.removed
                    && (log.log_decode::<Slashed>().is_ok()
                        || log.log_decode::<GatewaySlashed>().is_ok());
                let block = (!log.removed).then_some(log.block_number).flatten();
                Update::Stake { role, account, block, slashed }
            }
        };
        if tx.try_send(update).is_err() {
            warn!(target: "peerhost::chain", "bond updates are not applied fast enough; one was dropped");
        }
    });
    tokio::join!(follower, apply(chain.clone(), view, rx, shutdown));
}

/// Applies updates one at a time, in order: each changed stake is read as it stood in the
/// block of its event (so the book never applies one change twice or out of order).
async fn apply(
    chain: Chain,
    view: Arc<View>,
    mut rx: tokio::sync::mpsc::Receiver<Update>,
    shutdown: CancellationToken,
) {
    let me = chain.address();
    while let Some(update) = super::next_or_stop(&mut rx, &shutdown).await {
        match update {
            Update::CaughtUp => {
                let mut bonds = view.bonds.write().expect("bonds lock");
                if !bonds.synced() {
                    info!(
                        target: "peerhost::chain",
                        workers = bonds.bonded_count(BondRole::Worker),
                        gateways = bonds.bonded_count(BondRole::Gateway),
                        validators = bonds.bonded_count(BondRole::Validator),
                        "bonded set read from the chain"
                    );
                }
                bonds.mark_synced();
            }
            Update::Params => match chain.bond_minimums().await {
                Ok(minimums) => {
                    view.bonds.write().expect("bonds lock").set_trust(Trust::Bonded { minimums });
                }
                Err(e) => {
                    debug!(target: "peerhost::chain", error = %e, "reading the minimums failed")
                }
            },
            Update::Stake { role, account, block, slashed } => {
                let Some(stake) = read_stake(&chain, role, account, block).await else { continue };
                let mut bonds = view.bonds.write().expect("bonds lock");
                let counted = |bonds: &BondBook| {
                    let needed = bonds.required(role, 0).unwrap_or(0);
                    bonds.stake_of_account(role, &account).is_some_and(|s| s.bonded >= needed)
                };
                let was = counted(&bonds);
                bonds.apply(stake);
                if slashed {
                    // The stake read above already lost the slash; this only counts it.
                    bonds.apply(BondEvent::Slashed { role, account, amount: 0 });
                }
                if account == me && !was && counted(&bonds) {
                    info!(target: "peerhost::chain", role = role.name(), "this node is bonded");
                }
            }
        }
    }
}
/// The role and account a bond event is about.
fn subject(log: &Log) -> Option<(BondRole, Address)> {
    match decode(log)? {
        BondEvent::Bonded { role, account, .. }
        | BondEvent::Unbonding { role, account, .. }
        | BondEvent::Withdrawn { role, account }
        | BondEvent::Slashed { role, account, .. }
        | BondEvent::Refreshed { role, account, .. } => Some((role, account)),
    }
}

/// The bond event in `log`, if it is one.
fn decode(log: &Log) -> Option<BondEvent> {
    let role = |n: u8| BondRole::from_index(n);
    if let Ok(e) = log.log_decode::<Bonded>() {
        let e = e.inner.data;
        return Some(BondEvent::Bonded {
            role: role(e.role)?,
            account: e.account,
            node_key: node_key(e.nodeKey),
            bonded: e.bonded.saturating_to(),
        });
    }
    if let Ok(e) = log.log_decode::<Unbonding>() {
        let e = e.inner.data;
        return Some(BondEvent::Unbonding {
            role: role(e.role)?,
            account: e.account,
            amount: e.amount.saturating_to(),
            unbonding: e.unbonding.saturating_to(),
        });
    }
    if let Ok(e) = log.log_decode::<Withdrawn>() {
        let e = e.inner.data;
        return Some(BondEvent::Withdrawn { role: role(e.role)?, account: e.account });
    }
    if let Ok(e) = log.log_decode::<Slashed>() {
        let e = e.inner.data;
        return Some(BondEvent::Slashed {
            role: BondRole::Worker,
            account: e.worker,
            amount: e.amount.saturating_to(),
        });
    }
    if let Ok(e) = log.log_decode::<GatewaySlashed>() {
        let e = e.inner.data;
        return Some(BondEvent::Slashed {
            role: BondRole::Gateway,
            account: e.gateway,
            amount: e.amount.saturating_to(),
        });
    }
    None
}

/// `account`'s stake in `role` as of `block` (the latest when `None`), retried a few times.
async fn read_stake(
    chain: &Chain,
    role: BondRole,
    account: Address,
    block: Option<u64>,
) -> Option<BondEvent> {
    for _ in 0..3 {
        let call = chain.coordinator().stakeOf(role.index() as u8, account);
        let call = match block {
            Some(number) => call.block(BlockId::number(number)),
            None => call,
        };
        match call.call().await {
            Ok(stake) => {
                return Some(BondEvent::Refreshed {
                    role,
                    account,
                    node_key: node_key(stake.nodeKey),
                    bonded: stake.bonded,
                    unbonding: stake.unbonding,
                });
            }
            Err(e) => {
                debug!(target: "peerhost::chain", error = %e, %account, "reading a stake failed");
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        }
    }
    warn!(target: "peerhost::chain", %account, "a stake could not be read; the bond book may lag");
    None
}
