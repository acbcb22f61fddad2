//! One call through the gateway: canonicalize, sign, publish, collect results through a
//! [`Race`], re-dispatch or give up.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use bytes::Bytes;
use bytes::Bytes as Frame;
use peerhost_protocol::{
    AnswerReceipt, CanonicalRequest, EvmSignature, ExecutionRequest, ExecutionResult, HttpResponse,
    MAX_INLINE_BODY, NodeKey, RawRequest, Receipt, RequestId, Tier, codec, topics,
};
use tracing::{debug, trace};

use super::{
    CallError, Gateway, pending::RaceInput, routes::Target, stragglers::Lingering, witness::Witness,
};
use crate::{
    clock,
    dispatch::{BondRole, Deployment, Race, RaceConfig, Step},
};

/// How long a call with no worker to race, or no peer to gossip its request to, waits for one
/// before it is refused.
const NO_RACER_WAIT_MS: u64 = 5_000;

/// A verified result and its opened receipt.
#[derive(Debug)]
struct Accepted {
    receipt: Receipt,
    result: ExecutionResult,
}

/// Whether `signature` is the EIP-712 signature of `receipt` under `domain` by the account
/// bonded to its worker's key in `view`'s bond book.
#[cfg(feature = "chain")]
pub(crate) fn bonded_signature(
    view: &crate::view::View,
    domain: &alloy::sol_types::Eip712Domain,
    receipt: &Receipt,
    signature: Option<EvmSignature>,
) -> bool {
    let Some(signature) = signature else { return false };
    let Some(account) = view
        .bonds
        .read()
        .expect("bonds lock")
        .stake_of(BondRole::Worker, &receipt.worker)
        .map(|s| s.account)
    else {
        return false;
    };
    crate::chain::receipt_signer(domain, receipt, &signature) == Some(account)
}

/// What a resolved call runs.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The target.
    pub target: Target,
    /// The deployment it resolved to.
    pub deployment: Arc<Deployment>,
}

/// A successful call.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Answer {
    /// The request id.
    pub request_id: RequestId,
    /// The worker whose result was accepted.
    pub worker: NodeKey,
    /// The function's response.
    pub response: HttpResponse,
    /// The worker's receipt, for the caller to check the answer with.
    pub receipt: AnswerReceipt,
}

/// The parts of the incoming HTTP request that the function sees.
#[derive(Debug, Clone)]
pub struct Incoming<'a> {
    /// Method.
    pub method: &'a str,
    /// Raw query string.
    pub query: Option<&'a str>,
    /// Headers (filtered during canonicalization).
    pub headers: Vec<(&'a str, &'a [u8])>,
    /// The tier the caller asked for (`x-peerhost-tier`); `None`: the function's default.
    pub tier: Option<Tier>,
}

impl Gateway {
    /// Resolves a target to its current deployment.
    ///
    /// # Errors
    ///
    /// [`CallError::UnknownProject`] or [`CallError::UnknownFunction`].
    pub fn resolve(&self, target: Target) -> Result<Resolved, CallError> {
        self.resolve_known(target).map_err(|e| match e {
            CallError::UnknownProject { .. } | CallError::UnknownFunction { .. }
                if self.still_learning() =>
            {
                CallError::Starting
            }
            e => e,
        })
    }

    fn resolve_known(&self, target: Target) -> Result<Resolved, CallError> {
        let deployment = self
            .view
            .registry
            .read()
            .expect("registry lock")
            .get(&target.owner, &target.project)
            .ok_or_else(|| CallError::UnknownProject {
                owner: target.owner,
                project: target.project.clone(),
            })?;
        if deployment.function(&target.function).is_none() {
            return Err(CallError::UnknownFunction {
                owner: target.owner,
                project: target.project,
                function: target.function,
            });
        }
        Ok(Resolved { target, deployment })
    }

    /// The largest body the function accepts.
    pub fn body_limit(&self, resolved: &Resolved) -> u64 {
        let spec =
            resolved.deployment.function(&resolved.target.function).expect("resolved function");
        spec.limits.max_request_bytes.min(self.config.max_body_bytes)
    }

    /// Runs a call to completion.
    ///
    /// # Errors
    ///
    /// See [`CallError`].
    pub async fn call(
        &self,
        resolved: &Resolved,
        incoming: Incoming<'_>,
        body: Bytes,
    ) -> Result<Answer, CallError> {
        let limit = self.body_limit(resolved);
        if body.len() as u64 > limit {
            return Err(CallError::TooLarge { limit });
        }
        let record = &resolved.deployment.record;
        let spec =
            resolved.deployment.function(&resolved.target.function).expect("resolved function");
        let raw = RawRequest {
            owner: resolved.target.owner,
            project: &resolved.target.project,
            function: &resolved.target.function,
            method: incoming.method,
            path: &resolved.target.path,
            query: incoming.query,
            headers: incoming.headers,
            body: &body,
        };
        let nonce = self.nonce.fetch_add(1, Ordering::Relaxed);
        let started = clock::unix_ms();
        let canonical = CanonicalRequest::build(&raw, self.secret.public(), nonce, started)
            .map_err(|e| CallError::BadRequest(e.to_string()))?;
        let id = canonical.id();
        let inline = body.len() <= MAX_INLINE_BODY;
        let (guard, mut inputs) = self.pending.register(id, (!inline).then(|| body.clone()));

        let tier = spec.tier_for(incoming.tier).map_err(CallError::TierNotOffered)?;
        let required_bond = self.check_trust(spec)?;
        let config = self.race_config(spec, tier);
        // Only workers the owner sealed the function's secrets to may race it; weighted by
        // what this gateway measured of them.
        let candidates = |now: u64| {
            let mut all = self.view.candidates(&record.bundle, spec.min_bond, now);
            all.retain(|c| record.authorizes(spec, &c.key));
            let reputation = self.reputation.lock().expect("reputation lock");
            for candidate in &mut all {
                candidate.weight *= reputation.weight(&candidate.key, now);
            }
            all
        };
        let mut witness = Witness::default();
        let mut race = Race::new(id, config);
        let topic = topics::exec_topic(topics::exec_shard(&record.owner, &record.project));
        let mut results: HashMap<NodeKey, Accepted> = HashMap::new();
        let mut published = false;
        // Every racer named and the latest deadline given: racers that deliver after the
        // answer, before it, are still credited (see `stragglers`).
        let mut named = HashSet::new();
        let mut deadline_ms = 0;
        // No worker to race yet (a gateway that just restarted, workers rejoining after a
        // crash): wait a moment for one before giving up.
        let mut first = candidates(started);
        let wait_until = started + NO_RACER_WAIT_MS;
        while first.is_empty() && clock::unix_ms() < wait_until {
            tokio::time::sleep(Duration::from_millis(50)).await;
            first = candidates(clock::unix_ms());
        }
        let mut step = race.start(clock::unix_ms(), &first);
        loop {
            let wake_at = match step {
                Step::Dispatch { attempt, racers, wake_at_ms } => {
                    if attempt > 0 {
                        self.redispatched.fetch_add(1, Ordering::Relaxed);
                    }
                    self.pending.add_racers(&id, &racers);
                    witness.named(&racers, clock::unix_ms(), wake_at_ms);
                    named.extend(racers.iter().copied());
                    deadline_ms = deadline_ms.max(wake_at_ms);
                    let order = ExecutionRequest {
                        request: canonical.clone(),
                        bundle: record.bundle,
                        version: record.version,
                        deadline_ms: wake_at_ms,
                        attempt,
                        racers,
                        reply_to: self.reply_to(),
                        body: inline.then(|| body.to_vec()),
                    };
                    let sent = self.send_order(&topic, &order, started + NO_RACER_WAIT_MS).await;
                    let now = clock::unix_ms();
                    match sent {
                        Ok(()) => {
                            published = true;
                            trace!(target: "peerhost::gateway", request_id = %id, attempt, "dispatched");
                            step = Step::Wait { wake_at_ms };
                        }
                        Err(e) => {
                            debug!(target: "peerhost::gateway", request_id = %id, error = %e, "dispatch failed");
                            step = race.on_dispatch_failed(now, &candidates(now));
                        }
                    }
                    continue;
                }
                Step::Wait { wake_at_ms } => wake_at_ms,
                Step::Accept { workers, result_hash } => {
                    self.witnessed(&witness, Some(result_hash));
                    let voted = results.keys().copied().collect();
                    // Racers that disagreed with the accepted result go to audit.
                    let (agreed, dissenting): (HashMap<_, _>, HashMap<_, _>) =
                        results.drain().partition(|(_, a)| a.receipt.result_hash == result_hash);
                    results = agreed;
                    self.file_disagreement(&dissenting);
                    let worker = workers[0];
                    let winner = results.get(&worker).expect("accepted results are stored");
                    let receipt = AnswerReceipt::of(&canonical, &winner.result);
                    // Journaled before the caller sees the answer: a crash loses no receipt.
                    self.settle_accepted(record.owner, worker, &receipt, &results);
                    let accepted = results.remove(&worker).expect("accepted results are stored");
                    self.receipts.keep(id, receipt.clone());
                    let lingering = Lingering {
                        id,
                        owner: record.owner,
                        accepted: result_hash,
                        deadline_ms,
                        named,
                        voted,
                    };
                    self.linger(lingering, guard, inputs);
                    return Ok(Answer {
                        request_id: id,
                        worker,
                        response: accepted.result.response,
                        receipt,
                    });
                }
                Step::NoAgreement { votes } => {
                    self.witnessed(&witness, None);
                    self.file_disagreement(&results);
                    return Err(CallError::NoAgreement { request_id: id, results: votes.len() });
                }
                Step::Exhausted if !published => {
                    self.witnessed(&witness, None);
                    return Err(match required_bond {
                        Some(min_bond) => CallError::NoBondedWorkers { min_bond },
                        None => CallError::NoWorkers,
                    });
                }
                Step::Exhausted => {
                    self.witnessed(&witness, None);
                    return Err(CallError::Timeout {
                        request_id: id,
                        waited_ms: clock::unix_ms().saturating_sub(started),
                        attempts: race.attempt() + 1,
                    });
                }
            };
            let sleep = Duration::from_millis(wake_at.saturating_sub(clock::unix_ms()));
            let input = tokio::select! {
                input = inputs.recv() => input,
                () = tokio::time::sleep(sleep) => None,
            };
            let now = clock::unix_ms();
            let candidates = candidates(now);
            step = match input {
                None => race.on_timer(now, &candidates),
                Some(RaceInput::Result { from, result }) => {
                    trace!(target: "peerhost::gateway", request_id = %id, "result received");
                    // One result per worker: a second one is never counted, so the answer
                    // returned is the one whose hash the quorum agreed on.
                    let verified =
                        if results.contains_key(&from) { None } else { Some(result.verify(&id)) };
                    match verified {
                        None => Step::Wait { wake_at_ms: wake_at },
                        Some(Ok(receipt))
                            if receipt.worker == from
                                && self.signed_by_bonded(&receipt, result.chain_signature) =>
                        {
                            let result_hash = receipt.result_hash;
                            witness.result(from, result_hash, now);
                            results.insert(from, Accepted { receipt, result: *result });
                            race.on_result(from, result_hash, now, &candidates)
                                .unwrap_or(Step::Wait { wake_at_ms: wake_at })
                        }
                        // A forged or broken result (another worker's receipt, a response its
                        // receipt does not commit to, another request's) counts as nothing but
                        // a failed racer: the call moves on to another one at once.
                        Some(Ok(_) | Err(_)) => {
                            debug!(target: "peerhost::gateway", request_id = %id, worker = %from.short(), "invalid result refused");
                            witness.invalid(from);
                            race.on_decline(from, now, &candidates)
                        }
                    }
                }
                Some(RaceInput::Declined { from }) => {
                    witness.declined(from);
                    race.on_decline(from, now, &candidates)
                }
                Some(RaceInput::PeerLost { peer }) => race.on_peer_lost(peer, now, &candidates),
            };
        }
    }

    /// Sends an order to its racers: on each racer's dispatch link where one is open, and on
    /// gossip for the others (or for an open race). Gossip with no peer on the topic
    /// yet is tried again until `give_up_at_ms`, unless a link took the order.
    async fn send_order(
        &self,
        topic: &str,
        order: &ExecutionRequest,
        give_up_at_ms: u64,
    ) -> Result<(), crate::mesh::MeshError> {
        let frame = Frame::from(codec::encode(order));
        #[cfg(feature = "chain")]
        if self.anchoring.get().is_some() {
            self.orders.keep(order.id(), frame.clone());
        }
        let mut direct = 0;
        let mut gossip = order.racers.is_empty();
        for racer in &order.racers {
            match self.links.get(racer) {
                Some(link) if link.try_send(frame.clone()).is_ok() => direct += 1,
                _ => gossip = true,
            }
        }
        trace!(target: "peerhost::gateway", request_id = %order.id(), direct, gossip, "order sent");
        self.sent[0].fetch_add(direct, Ordering::Relaxed);
        if !gossip {
            return Ok(());
        }
        self.sent[1].fetch_add(1, Ordering::Relaxed);
        // The same bytes as on a link: the gossip publisher signature authenticates the gateway.
        let bytes = frame.to_vec();
        let mut sent = self.mesh.publish(topic.to_owned(), bytes.clone()).await;
        // No peer on the topic's gossip mesh yet (a gateway that just started or reconnected):
        // publish again shortly rather than spend the attempt.
        while direct == 0
            && matches!(sent, Err(crate::mesh::MeshError::NoPeers(_)))
            && clock::unix_ms() < give_up_at_ms
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
            sent = self.mesh.publish(topic.to_owned(), bytes.clone()).await;
        }
        if direct > 0 { Ok(()) } else { sent }
    }

    /// Turns what this call saw into reputation.
    fn witnessed(&self, witness: &Witness, accepted: Option<peerhost_protocol::Keccak>) {
        let mut reputation = self.reputation.lock().expect("reputation lock");
        witness.finish(&mut reputation, accepted, clock::unix_ms());
    }

    /// On a chain-connected network, whether `receipt` carries a chain signature by the
    /// account bonded to its worker's key: without it a wrong result could not be disputed
    /// and a challenge of its anchor could not be answered. Always true in open mode.
    fn signed_by_bonded(&self, receipt: &Receipt, signature: Option<EvmSignature>) -> bool {
        #[cfg(feature = "chain")]
        if let Some(domain) = self.receipt_domain.get() {
            return bonded_signature(&self.view, domain, receipt, signature);
        }
        let _ = (receipt, signature);
        true
    }

    /// Puts every receipt of a call whose racers disagreed up for audit, so validators
    /// re-execute it and dispute the wrong ones on-chain (never blocks).
    fn file_disagreement(&self, results: &HashMap<NodeKey, Accepted>) {
        #[cfg(feature = "chain")]
        if let Some(anchoring) = self.anchoring.get() {
            for accepted in results.values() {
                if let Some(signature) = accepted.result.chain_signature {
                    anchoring.dispute(accepted.receipt.clone(), signature);
                }
            }
        }
        let _ = results;
    }

    /// Hands the winner's receipt to settlement, and those of the racers that agreed with it
    /// as assists (never blocks; without a chain, nothing to do).
    fn settle_accepted(
        &self,
        owner: peerhost_protocol::Owner,
        winner: NodeKey,
        answer: &AnswerReceipt,
        agreed: &HashMap<NodeKey, Accepted>,
    ) {
        #[cfg(feature = "chain")]
        if let Some(anchoring) = self.anchoring.get() {
            for (worker, accepted) in agreed {
                if *worker == winner {
                    anchoring.record(owner, accepted.receipt.clone(), answer);
                } else if let Some(signature) = accepted.result.chain_signature {
                    anchoring.assist(owner, accepted.receipt.clone(), signature);
                }
            }
        }
        let _ = (owner, winner, answer, agreed);
    }

    /// On a chain-connected network: the bond a racer of `spec` needs, once this gateway has
    /// read the bonded set and holds a gateway bond itself. `None` in open mode.
    fn check_trust(
        &self,
        spec: &peerhost_protocol::FunctionSpec,
    ) -> Result<Option<u128>, CallError> {
        let bonds = self.view.bonds.read().expect("bonds lock");
        let Some(required) = bonds.required(BondRole::Worker, u128::from(spec.min_bond)) else {
            return Ok(None);
        };
        if !bonds.synced() {
            return Err(CallError::Starting);
        }
        #[cfg(feature = "test-utils")]
        let rogue = self.config.ignore_own_bond;
        #[cfg(not(feature = "test-utils"))]
        let rogue = false;
        if !bonds.admits(BondRole::Gateway, &self.secret.public(), 0) && !rogue {
            return Err(CallError::GatewayNotBonded);
        }
        Ok(Some(required))
    }

    /// An effectful function runs on exactly one worker (racing it would repeat its outbound
    /// effects); manifest validation already keeps it off the verified tier.
    fn race_config(&self, spec: &peerhost_protocol::FunctionSpec, tier: Tier) -> RaceConfig {
        let (racers, quorum) = match tier {
            Tier::Fast if spec.effectful => (1, 1),
            Tier::Fast => (self.config.fast_racers, 1),
            Tier::Verified => (self.config.verified_racers, self.config.verified_quorum),
        };
        RaceConfig {
            racers,
            quorum,
            max_attempts: self.config.max_attempts,
            attempt_timeout_ms: spec.limits.timeout_ms + self.config.slack_ms,
            open_when_empty: self.view.is_open(),
            max_escalations: self.config.max_escalations,
        }
    }

    /// Where workers deliver results: our listen addresses (unspecified ones dropped).
    fn reply_to(&self) -> Vec<String> {
        self.mesh
            .listen_addrs()
            .iter()
            .map(ToString::to_string)
            .filter(|a| !a.contains("/0.0.0.0/") && !a.contains("/::/"))
            .take(peerhost_protocol::MAX_REPLY_ADDRS)
            .collect()
    }
}
