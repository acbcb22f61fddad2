//! The validator role. A validator is a worker that keeps the execution requests it hears
//! (on its shards' gossip, or raced itself); when a gateway's epoch summary puts receipts up
//! for audit (a sample chosen by the anchored root, unknowable while the requests ran), it
//! fetches each audited request it did not hear from that gateway (requests mostly travel on
//! dispatch links now, which only the racers see), checks that it hashes to the audited id,
//! and runs it again in its own sandbox. A receipt whose result differs is disputed on-chain with this
//! validator's attestation: the worker is slashed and the validator paid the challenger's
//! share. Honest workers are never disputed, because an honest result is reproduced byte for
//! byte.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
};

use alloy::primitives::{Address, B256, Bytes};
use libp2p::PeerId;
use peerhost_protocol::{Audit, EpochSummary, ExecutionRequest, OrderRequest, RequestId};
use tokio::{sync::mpsc, task::JoinHandle};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::Worker;
use crate::chain::{Chain, chain_receipt, next_or_stop, receipt_signer};

/// Requests remembered for audits.
const REMEMBERED: usize = 16_384;
/// Summaries waiting for the validator.
const QUEUE: usize = 64;

/// Feeds the validator what the node hears.
#[derive(Clone)]
pub struct Validation {
    requests: Arc<Mutex<Remembered>>,
    summaries: mpsc::Sender<(EpochSummary, PeerId)>,
    decided: Arc<Mutex<HashMap<Address, u64>>>,
}

impl std::fmt::Debug for Validation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Validation").finish_non_exhaustive()
    }
}

impl Validation {
    /// Remembers a request heard on the mesh (the oldest are forgotten first).
    pub fn observe(&self, request: &ExecutionRequest) {
        self.requests.lock().expect("requests lock").insert(request.clone());
    }

    /// Audits of `worker`'s receipts decided so far (re-executed and found right or disputed,
    /// or skipped because the request was never heard or cannot run here); each audited
    /// request counts once.
    pub fn decided(&self, worker: Address) -> u64 {
        self.decided.lock().expect("decided lock").get(&worker).copied().unwrap_or(0)
    }

    /// Offers an epoch summary published by `gateway`; never blocks.
    pub fn offer(&self, summary: EpochSummary, gateway: PeerId) {
        if !summary.audits.is_empty() {
            let _ = self.summaries.try_send((summary, gateway));
        }
    }
}

#[derive(Default)]
struct Remembered {
    by_id: HashMap<RequestId, ExecutionRequest>,
    order: VecDeque<RequestId>,
}

impl Remembered {
    fn insert(&mut self, request: ExecutionRequest) {
        let id = request.id();
        if self.by_id.insert(id, request).is_none() {
            self.order.push_back(id);
        }
        while self.order.len() > REMEMBERED {
            if let Some(old) = self.order.pop_front() {
                self.by_id.remove(&old);
            }
        }
    }
}

/// Starts the validator for `worker`, disputing through `chain`.
pub(crate) fn spawn(
    chain: Chain,
    worker: Arc<Worker>,
    shutdown: CancellationToken,
) -> (Validation, JoinHandle<()>) {
    let (tx, mut rx) = mpsc::channel::<(EpochSummary, PeerId)>(QUEUE);
    let requests = Arc::new(Mutex::new(Remembered::default()));
    let decided = Arc::new(Mutex::new(HashMap::new()));
    let validation =
        Validation { requests: requests.clone(), summaries: tx, decided: decided.clone() };
    let task = tokio::spawn(async move {
        let mut audited = std::collections::HashSet::new();
        let domain = chain.domain();
        while let Some((summary, gateway)) = next_or_stop(&mut rx, &shutdown).await {
            for audit in &summary.audits {
                // Summaries are gossip: an audit counts only with the worker's own signature,
                // and once per (request, worker), so a forged audit cannot mask a real one.
                let signed = receipt_signer(&domain, &audit.receipt, &audit.chain_signature)
                    == Some(audit.worker.0);
                if audit.worker.0 == chain.address()
                    || !signed
                    || !audited.insert((audit.receipt.request_id, audit.worker))
                {
                    continue;
                }
                let id = audit.receipt.request_id;
                let heard = requests.lock().expect("requests lock").by_id.get(&id).cloned();
                let request = match heard {
                    Some(request) => Some(request),
                    None => fetch_order(&worker, gateway, id).await,
                };
                match request {
                    Some(request) => audit_one(&chain, &worker, audit, &request).await,
                    None => {
                        debug!(target: "peerhost::chain", request_id = %id, "audited request unavailable; skipped");
                    }
                }
                *decided.lock().expect("decided lock").entry(audit.worker.0).or_default() += 1;
            }
        }
    });
    (validation, task)
}

/// The order `gateway` dispatched for `id`, if it still has it and it is that request.
async fn fetch_order(worker: &Worker, gateway: PeerId, id: RequestId) -> Option<ExecutionRequest> {
    let fetched = worker.mesh.fetch_order(gateway, OrderRequest { request_id: id }).await;
    let order = match fetched {
        Ok(response) => response.order?,
        Err(e) => {
            debug!(target: "peerhost::chain", request_id = %id, error = %e, "order fetch failed");
            return None;
        }
    };
    if order.id() != id || !order.inline_body_matches() {
        warn!(target: "peerhost::chain", request_id = %id, "gateway answered an audit with another order");
        return None;
    }
    Some(order)
}

async fn audit_one(chain: &Chain, worker: &Worker, audit: &Audit, request: &ExecutionRequest) {
    let Some(response) = worker.reexecute(request).await else {
        debug!(target: "peerhost::chain", request_id = %audit.receipt.request_id, "cannot re-execute; skipped");
        return;
    };
    let correct = response.hash();
    if correct == audit.receipt.result_hash {
        return;
    }
    let receipt = chain_receipt(&audit.receipt);
    let signature = Bytes::from(audit.chain_signature.0.to_vec());
    let attestation = chain.attest(receipt.requestId, B256::from(correct.0));
    match chain
        .slash_wrong_result((&receipt, &signature), B256::from(correct.0), vec![attestation])
        .await
    {
        Ok(tx) => {
            info!(target: "peerhost::chain", worker = %audit.worker, request_id = %audit.receipt.request_id, %tx, "wrong result disputed: worker slashed")
        }
        Err(e) if e.is_revert("AlreadySlashed") => {}
        Err(e) => {
            warn!(target: "peerhost::chain", worker = %audit.worker, error = %e, "dispute failed")
        }
    }
}
