//! Racers that deliver after the answer went out. Racing is real work: a racer whose result
//! arrives after the winner's but before the attempt's deadline, and agrees with the accepted
//! result, is credited an assist (anchored and paid a smaller reward); one that disagrees goes
//! to audit like any dissenter. The caller never waits for this: the call's pending entry
//! lingers in a background task until the deadline or until every named racer answered, at
//! most [`MAX_LINGERING`] calls at once (a body held for racers to fetch stays held while its
//! call lingers, so the number is bounded, not the traffic).

use std::collections::HashSet;

use peerhost_protocol::{Keccak, NodeKey, Owner, RequestId};
use tokio::sync::mpsc;

use super::{
    Gateway,
    pending::{PendingGuard, RaceInput},
};

/// Answered calls that may wait for late racers at once; beyond it their assists are not
/// collected.
pub(crate) const MAX_LINGERING: usize = 4096;

/// What an answered call still waits for.
#[cfg_attr(not(feature = "chain"), allow(dead_code))] // read when settling on a chain
pub(crate) struct Lingering {
    pub(crate) id: RequestId,
    /// The owner of the function (whose budget funds the assists).
    pub(crate) owner: Owner,
    /// The result hash the gateway accepted.
    pub(crate) accepted: Keccak,
    /// The last attempt's deadline: results after it are not credited.
    pub(crate) deadline_ms: u64,
    /// Every racer the call named.
    pub(crate) named: HashSet<NodeKey>,
    /// Racers whose result was already counted (one vote each).
    pub(crate) voted: HashSet<NodeKey>,
}

impl Gateway {
    /// Keeps listening for the call's other racers until its deadline, on a chain-connected
    /// gateway (credit is settled on-chain); never blocks the caller.
    pub(crate) fn linger(
        &self,
        lingering: Lingering,
        guard: PendingGuard,
        inputs: mpsc::Receiver<RaceInput>,
    ) {
        #[cfg(feature = "chain")]
        {
            let (Some(anchoring), Some(domain)) =
                (self.anchoring.get().cloned(), self.receipt_domain.get().cloned())
            else {
                return;
            };
            let now = crate::clock::unix_ms();
            if lingering.named.is_subset(&lingering.voted) || lingering.deadline_ms <= now {
                return;
            }
            let Ok(permit) = self.lingering.clone().try_acquire_owned() else { return };
            self.pending.answered(&lingering.id);
            let view = self.view.clone();
            let id = lingering.id;
            tokio::spawn(async move {
                let (_guard, _permit) = (guard, permit);
                collect(lingering, inputs, |from, result| {
                    let receipt = result.verify(&id).ok()?;
                    let signature = result.chain_signature?;
                    let bonded =
                        super::call::bonded_signature(&view, &domain, &receipt, Some(signature));
                    (receipt.worker == from && bonded).then_some((receipt, signature))
                })
                .await
                .into_iter()
                .for_each(|(owner, agreed, receipt, signature)| {
                    if agreed {
                        anchoring.assist(owner, receipt, signature);
                    } else {
                        anchoring.dispute(receipt, signature);
                    }
                });
            });
        }
        #[cfg(not(feature = "chain"))]
        let _ = (lingering, guard, inputs);
    }
}

/// A late result the gateway verified: the owner, whether it agrees, the receipt and the
/// worker's chain signature.
#[cfg(feature = "chain")]
type Late = (Owner, bool, peerhost_protocol::Receipt, peerhost_protocol::EvmSignature);

/// Collects the results of racers that had not voted, until the deadline or until every
/// named racer voted. `check` verifies one (receipt, bonded signature).
#[cfg(feature = "chain")]
async fn collect(
    mut lingering: Lingering,
    mut inputs: mpsc::Receiver<RaceInput>,
    check: impl Fn(
        NodeKey,
        &peerhost_protocol::ExecutionResult,
    ) -> Option<(peerhost_protocol::Receipt, peerhost_protocol::EvmSignature)>,
) -> Vec<Late> {
    let mut late = Vec::new();
    let left = lingering.deadline_ms.saturating_sub(crate::clock::unix_ms());
    let deadline = tokio::time::sleep(std::time::Duration::from_millis(left));
    tokio::pin!(deadline);
    while !lingering.named.is_subset(&lingering.voted) {
        let input = tokio::select! {
            () = &mut deadline => break,
            input = inputs.recv() => input,
        };
        match input {
            None => break,
            Some(RaceInput::Result { from, result }) => {
                if !lingering.named.contains(&from) || lingering.voted.contains(&from) {
                    continue;
                }
                let Some((receipt, signature)) = check(from, &result) else { continue };
                lingering.voted.insert(from);
                let agreed = receipt.result_hash == lingering.accepted;
                late.push((lingering.owner, agreed, receipt, signature));
            }
            Some(RaceInput::Declined { from } | RaceInput::PeerLost { peer: from }) => {
                lingering.voted.insert(from);
            }
        }
    }
    late
}
