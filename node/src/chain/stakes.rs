//! Follows the coordinator's bond events into the node's [`BondBook`]: back-filled from the
//! first block, then live, so every node knows who is bonded before any request arrives and
//! never asks the chain on the request path. A log a reorg removed makes the follower read
//! that stake afresh.

use std::sync::Arc;

use alloy::{
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
use tracing::{debug, info};

use super::{
    Chain, ChainError,
    bonds::minimums,
    events::{Followed, follow},
};
use crate::{
    dispatch::{BondEvent, BondRole, Trust},
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

async fn run(chain: Chain, view: Arc<View>, shutdown: CancellationToken) {
    let filter = Filter::new().address(*chain.coordinator().address()).event_signature(vec![
        Bonded::SIGNATURE_HASH,
        Unbonding::SIGNATURE_HASH,
        Withdrawn::SIGNATURE_HASH,
        Slashed::SIGNATURE_HASH,
        GatewaySlashed::SIGNATURE_HASH,
        ParamsUpdated::SIGNATURE_HASH,
    ]);
    let me = chain.address();
    follow(&chain, filter, 0, shutdown.clone(), |followed| match followed {
        Followed::CaughtUp => {
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
        Followed::Log(log) if log.removed => {
            if let Some((role, account)) = subject(&log) {
                tokio::spawn(refresh(chain.clone(), view.clone(), role, account));
            }
        }
        Followed::Log(log) => {
            if let Ok(event) = log.log_decode::<ParamsUpdated>() {
                let minimums = minimums(&event.inner.data.params);
                view.bonds.write().expect("bonds lock").set_trust(Trust::Bonded { minimums });
                return;
            }
            let Some(event) = decode(&log) else { return };
            let mut bonds = view.bonds.write().expect("bonds lock");
            bonds.apply(event);
            if let BondEvent::Bonded { role, account, .. } = event
                && account == me
            {
                info!(target: "peerhost::chain", role = role.name(), "this node is bonded");
            }
        }
    })
    .await;
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

/// Reads one stake afresh (after a reorg removed one of its events) and applies it.
async fn refresh(chain: Chain, view: Arc<View>, role: BondRole, account: Address) {
    match chain.stake_in(role, account).await {
        Ok(stake) => view.bonds.write().expect("bonds lock").apply(BondEvent::Refreshed {
            role,
            account,
            node_key: node_key(stake.nodeKey),
            bonded: stake.bonded,
            unbonding: stake.unbonding,
        }),
        Err(e) => {
            debug!(target: "peerhost::chain", error = %e, %account, "stake refresh failed")
        }
    }
}
