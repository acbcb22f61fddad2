//! One race: from an admitted request to a delivered result (or decline), sent back on the
//! gateway's dispatch link when the request came on one, else on a request-response stream.

use std::sync::{Arc, atomic::Ordering};

use bytes::Bytes;
use libp2p::{Multiaddr, PeerId};
use peerhost_protocol::{
    BodyRequest, DeclineReason, Delivery, Envelope, EvmSignature, ExecutionRequest,
    ExecutionResult, HttpResponse, Receipt, codec, keccak256,
};
use tokio::sync::OwnedSemaphorePermit;
use tracing::{Instrument, debug, info_span, trace, warn};

use super::Worker;
use crate::{
    clock,
    mesh::{LinkSender, MeshClient},
    sandbox::{Env, Execution, Invocation, SandboxError},
};

/// Where a request's delivery goes: the gateway that sent it, on the link it came on if any.
#[derive(Debug, Clone)]
pub(crate) struct ReplyTo {
    /// The gateway.
    pub(crate) gateway: PeerId,
    /// Its dispatch link, when the request arrived on one.
    pub(crate) link: Option<LinkSender>,
}

impl ReplyTo {
    /// Sends `delivery` on the link, or (no link, or it closed) on a request-response stream
    /// to the addresses the request gave. Whether it left this node.
    async fn send(
        &self,
        mesh: &MeshClient,
        request: &ExecutionRequest,
        delivery: Delivery,
    ) -> bool {
        if let Some(link) = &self.link
            && link.send(Bytes::from(codec::encode(&delivery))).await.is_ok()
        {
            return true;
        }
        match mesh.deliver(self.gateway, reply_addrs(request), delivery).await {
            Ok(_) => true,
            Err(e) => {
                debug!(target: "peerhost::worker", error = %e, "delivery failed");
                false
            }
        }
    }
}

impl Worker {
    pub(crate) async fn run(
        self: Arc<Self>,
        request: ExecutionRequest,
        to: ReplyTo,
        permit: OwnedSemaphorePermit,
    ) {
        let span = info_span!(target: "peerhost::worker", "job", request_id = %request.id(), attempt = request.attempt);
        async move {
            self.active.fetch_add(1, Ordering::Relaxed);
            trace!(target: "peerhost::worker", "started");
            let outcome = self.execute(&request, to.gateway).await;
            trace!(target: "peerhost::worker", ok = outcome.is_ok(), "executed");
            self.active.fetch_sub(1, Ordering::Relaxed);
            drop(permit);
            match outcome {
                Ok(execution) => self.deliver_result(&request, &to, execution).await,
                Err(reason) => self.decline(request, to, reason),
            }
        }
        .instrument(span)
        .await;
    }

    async fn execute(
        &self,
        request: &ExecutionRequest,
        gateway: PeerId,
    ) -> Result<Execution, DeclineReason> {
        let body = match &request.body {
            Some(body) => Bytes::from(body.clone()),
            None if request.request.body_len == 0 => Bytes::new(),
            None => self.fetch_body(request, gateway).await?,
        };
        let loaded = self.bundle(request.bundle).await?;
        let Some((spec, compiled)) = loaded.function(&request.request.function) else {
            // The gateway resolved a function this bundle lacks: nothing to run.
            return Err(DeclineReason::BadComponent);
        };
        let compiled = match compiled {
            Ok(compiled) => compiled.clone(),
            Err(error) => return Ok(Execution { result: Err(error.clone()), fuel_used: 0 }),
        };
        let env = self.open_secrets(request, spec)?;
        if clock::unix_ms() >= request.deadline_ms {
            return Err(DeclineReason::Expired);
        }
        let invocation = Invocation {
            request_id: request.id(),
            method: request.request.method.clone(),
            path_and_query: request.request.path_and_query(),
            headers: request.request.headers.clone(),
            body,
            received_at_ms: request.request.received_at_ms,
            limits: self.sandbox.config().effective(&spec.limits),
            allowed_hosts: if spec.effectful { spec.allowed_hosts.clone() } else { Vec::new() },
            env,
        };
        let execution = self.sandbox.invoke(&compiled, invocation).await;
        match &execution.result {
            Err(SandboxError::ExecutorLost) => return Err(DeclineReason::ExecutorLost),
            Err(e @ SandboxError::Internal(_)) => {
                warn!(target: "peerhost::worker", error = %e, "execution failed inside the worker");
            }
            _ => {}
        }
        Ok(execution)
    }

    /// The secrets `spec` needs, opened with this worker's key, as environment variables.
    /// A worker the owner did not seal every one of them to declines.
    fn open_secrets(
        &self,
        request: &ExecutionRequest,
        spec: &peerhost_protocol::FunctionSpec,
    ) -> Result<Env, DeclineReason> {
        if spec.secrets.is_empty() {
            return Ok(Env::default());
        }
        let target = &request.request;
        let deployment =
            self.view.registry.read().expect("registry lock").get(&target.owner, &target.project);
        let record = &deployment.ok_or(DeclineReason::NotAuthorized)?.record;
        let key = (record.owner, record.project.clone(), record.version, spec.name.clone());
        if let Some(env) = self.opened.lock().expect("opened lock").get(&key) {
            return Ok(env.clone());
        }
        let mut env = Vec::with_capacity(spec.secrets.len());
        for name in &spec.secrets {
            let opened = record
                .secret(name)
                .ok_or(peerhost_protocol::SecretError::NotAuthorized)
                .and_then(|secret| secret.open(&record.owner, &record.project, &self.secret));
            let value = match opened.map(String::from_utf8) {
                Ok(Ok(value)) => value,
                Ok(Err(_)) | Err(_) => {
                    debug!(target: "peerhost::worker", secret = %name, "secret unavailable to this worker");
                    return Err(DeclineReason::NotAuthorized);
                }
            };
            env.push((name.clone(), value));
        }
        let env = Env(env);
        let mut opened = self.opened.lock().expect("opened lock");
        if opened.len() >= super::OPENED_SECRETS {
            opened.clear();
        }
        opened.insert(key, env.clone());
        Ok(env)
    }

    /// Runs `request` again as a validator: the response an honest worker returns.
    #[cfg_attr(not(feature = "chain"), allow(dead_code))] // validators audit on a chain
    pub(crate) async fn reexecute(&self, request: &ExecutionRequest) -> Option<HttpResponse> {
        if request.body.is_none() && request.request.body_len > 0 {
            return None; // the body stayed at the gateway and is gone by now
        }
        let bundle = Box::pin(self.bundle(request.bundle)).await.ok()?;
        let (spec, compiled) = bundle.function(&request.request.function)?;
        if spec.effectful || !spec.secrets.is_empty() {
            // Effectful results depend on the outside and are never compared; secret-bearing
            // functions run only on the workers their owner authorized.
            return None;
        }
        let compiled = compiled.as_ref().ok()?.clone();
        let invocation = Invocation {
            request_id: request.id(),
            method: request.request.method.clone(),
            path_and_query: request.request.path_and_query(),
            headers: request.request.headers.clone(),
            body: request.body.clone().map(Bytes::from).unwrap_or_default(),
            received_at_ms: request.request.received_at_ms,
            limits: self.sandbox.config().effective(&spec.limits),
            allowed_hosts: Vec::new(),
            env: Env::default(),
        };
        Some(self.sandbox.invoke(&compiled, invocation).await.response())
    }

    /// The receipt signed for the chain, when this worker settles on one.
    fn chain_signature(&self, receipt: &Receipt) -> Option<EvmSignature> {
        #[cfg(feature = "chain")]
        if let Some(chain) = self.chain.get() {
            let signature = chain.sign_receipt(&crate::chain::chain_receipt(receipt));
            return <[u8; 65]>::try_from(signature.as_ref()).ok().map(EvmSignature);
        }
        let _ = receipt;
        None
    }

    async fn fetch_body(
        &self,
        request: &ExecutionRequest,
        gateway: PeerId,
    ) -> Result<Bytes, DeclineReason> {
        let ask = BodyRequest { request_id: request.id() };
        let response =
            self.mesh.fetch_body(gateway, reply_addrs(request), ask).await.map_err(|e| {
                debug!(target: "peerhost::worker", error = %e, "body fetch failed");
                DeclineReason::BodyUnavailable
            })?;
        let body = response.body.ok_or(DeclineReason::BodyUnavailable)?;
        if body.len() as u64 != request.request.body_len
            || keccak256(&body) != request.request.body_hash
        {
            warn!(target: "peerhost::worker", "gateway sent a body that does not match the signed request");
            return Err(DeclineReason::BodyUnavailable);
        }
        Ok(Bytes::from(body))
    }

    async fn deliver_result(&self, request: &ExecutionRequest, to: &ReplyTo, execution: Execution) {
        #[allow(unused_mut)] // only a byzantine test worker changes it
        let mut response = execution.response();
        #[cfg(feature = "test-utils")]
        if let Some(byzantine) = self.config.byzantine {
            let Some(changed) = byzantine.deliver(request.id(), response).await else { return };
            response = changed;
        }
        let receipt = Receipt {
            request_id: request.id(),
            result_hash: response.hash(),
            worker: self.secret.public(),
            fuel_used: execution.fuel_used,
            bundle: request.bundle,
        };
        let result = ExecutionResult {
            receipt: Envelope::seal(&self.secret, &receipt),
            response,
            chain_signature: self.chain_signature(&receipt),
        };
        let delivery = Delivery { request_id: request.id(), result: Some(result), declined: None };
        if to.send(&self.mesh, request, delivery).await {
            self.delivered.fetch_add(1, Ordering::Relaxed);
            trace!(target: "peerhost::worker", "delivered");
        }
    }

    /// Tells the gateway this worker will not deliver (in the background).
    pub(crate) fn decline(&self, request: ExecutionRequest, to: ReplyTo, reason: DeclineReason) {
        debug!(target: "peerhost::worker", request_id = %request.id(), %reason, "declining");
        self.forget(&request.id());
        let delivery = Delivery { request_id: request.id(), result: None, declined: Some(reason) };
        // Most declines fit the link's queue at once; only a full or closed link waits.
        if let Some(link) = &to.link
            && link.try_send(Bytes::from(codec::encode(&delivery))).is_ok()
        {
            return;
        }
        let mesh = self.mesh.clone();
        tokio::spawn(async move {
            let to = ReplyTo { link: None, ..to };
            to.send(&mesh, &request, delivery).await;
        });
    }
}

/// The gateway's advertised addresses, parsed (unparseable ones skipped).
fn reply_addrs(request: &ExecutionRequest) -> Vec<Multiaddr> {
    request.reply_to.iter().filter_map(|a| a.parse().ok()).collect()
}
