//! Running one request: a fresh store, the request handed to `wasi:http/incoming-handler`,
//! the response body read *while* the guest runs, and the store dropped as soon as the
//! handler returns (the two ways a careless host hangs; see
//! `shared/notes/wasmtime-wasi-http.md`).

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use peerhost_protocol::{Header, HttpResponse, Limits, RequestId, Wire};
use wasmtime::{Store, Trap, WasmBacktrace};
use wasmtime_wasi_http::{
    WasiHttpView,
    p2::{
        bindings::http::types::{ErrorCode, Scheme},
        body::HyperOutgoingBody,
    },
};

use super::{
    Compiled, Sandbox, SandboxError,
    host::{Host, Limiter},
    outbound::Outbound,
};
use serde::{Deserialize, Serialize};

/// Longest backtrace kept in an error response.
const MAX_BACKTRACE: usize = 4096;

/// One call, as the sandbox needs it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Invocation {
    /// The request id (seeds the guest's randomness).
    pub request_id: RequestId,
    /// HTTP method.
    pub method: String,
    /// Path and query inside the function.
    pub path_and_query: String,
    /// Headers passed to the guest.
    pub headers: Vec<Header>,
    /// The body.
    pub body: Bytes,
    /// When the gateway received the call (the guest's clocks start here).
    pub received_at_ms: u64,
    /// The limits to enforce (already capped by policy).
    pub limits: Limits,
    /// Hosts (`host` or `host:port`) outgoing `wasi:http` requests may reach; empty for pure
    /// functions, which have no network.
    pub allowed_hosts: Vec<String>,
    /// Environment variables of the call: the function's opened secrets.
    pub env: Env,
}

/// Environment variables one call sees (opened secrets). Never printed: `Debug` shows the
/// names only.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Env(pub Vec<(String, String)>);

impl std::fmt::Debug for Env {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.iter().map(|(name, _)| name)).finish()
    }
}

/// The outcome of one call: a response or a typed error, and the fuel it consumed either way.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Execution {
    /// The response, or why there is none.
    pub result: Result<HttpResponse, SandboxError>,
    /// Fuel consumed (the billable unit).
    pub fuel_used: u64,
}

impl Execution {
    /// The response to return: the function's, or its error rendered as JSON.
    pub fn response(&self) -> HttpResponse {
        match &self.result {
            Ok(response) => response.clone(),
            Err(error) => error.to_response(),
        }
    }
}

type HostResponse = Result<hyper::Response<HyperOutgoingBody>, ErrorCode>;

impl Sandbox {
    /// Runs `invocation` against `compiled` in a fresh store; outbound requests leave from
    /// this process.
    pub async fn invoke(&self, compiled: &Compiled, invocation: Invocation) -> Execution {
        let outbound =
            Outbound::new(invocation.allowed_hosts.clone(), self.config.outbound.clone());
        self.invoke_with(compiled, invocation, outbound).await
    }

    /// Runs `invocation` with its outbound requests going through `outbound`.
    pub async fn invoke_with(
        &self,
        compiled: &Compiled,
        invocation: Invocation,
        outbound: Outbound,
    ) -> Execution {
        let limits = invocation.limits;
        let limiter = Limiter {
            memory_bytes: limits.memory_bytes as usize,
            table_elements: self.config.max_table_elements,
            instances: self.config.max_core_instances,
            tables: self.config.max_tables,
            memories: self.config.max_memories,
            hit: false,
        };
        let host = Host::new(
            &invocation.request_id,
            invocation.received_at_ms,
            limiter,
            outbound,
            &invocation.env,
        );
        let mut store = Store::new(&self.engine, host);
        store.limiter(|host| &mut host.limiter);
        if self.metered {
            if let Err(e) = store.set_fuel(limits.fuel) {
                return internal(e);
            }
            let ticks = limits.timeout_ms.div_ceil(self.config.epoch_tick_ms.max(1)) + 1;
            store.set_epoch_deadline(ticks);
            store.epoch_deadline_trap();
        }

        let request = match build_request(&invocation) {
            Ok(request) => request,
            Err(e) => return Execution { result: Err(e), fuel_used: 0 },
        };
        let (tx, rx) = tokio::sync::oneshot::channel::<HostResponse>();
        let resources = (|| {
            let mut http = store.data_mut().http();
            let req = http.new_incoming_request(Scheme::Http, request)?;
            let out = http.new_response_outparam(tx)?;
            wasmtime::Result::Ok((req, out))
        })();
        let (req, out) = match resources {
            Ok(r) => r,
            Err(e) => return internal(e),
        };

        let max_response = limits.max_response_bytes;
        let mut host_side = std::pin::pin!(read_response(rx, max_response));
        let mut host_result = None;
        // Epochs only interrupt running wasm; a guest blocked in a host call (a sleep, a
        // read) is stopped by this wall-clock bound instead, one tick after the deadline.
        let wall_clock =
            std::time::Duration::from_millis(limits.timeout_ms + self.config.epoch_tick_ms);
        let guest_result = {
            let guest = async {
                let proxy = compiled.pre.instantiate_async(&mut store).await?;
                proxy.wasi_http_incoming_handler().call_handle(&mut store, req, out).await
            };
            let mut guest = std::pin::pin!(tokio::time::timeout(wall_clock, guest));
            loop {
                tokio::select! {
                    result = &mut guest => break result.unwrap_or_else(|_| Err(Trap::Interrupt.into())),
                    result = &mut host_side, if host_result.is_none() => host_result = Some(result),
                }
            }
        };
        let fuel_used = if self.metered {
            limits.fuel.saturating_sub(store.get_fuel().unwrap_or(0))
        } else {
            0
        };
        let limit_hit = store.data().limiter.hit;
        // Dropping the store drops the outparam and body senders still in its resource table,
        // so the host side below always finishes.
        drop(store);
        let result = match (host_result, guest_result) {
            // The host had the whole response (or refused it) before the guest returned: that
            // is the outcome, whatever the guest did afterwards.
            (Some(early), _) => early,
            (None, Err(trap)) => Err(classify(&trap, limit_hit)),
            (None, Ok(())) => host_side.await,
        };
        Execution { result, fuel_used }
    }
}

fn internal(e: wasmtime::Error) -> Execution {
    Execution { result: Err(SandboxError::Internal(format!("{e:#}"))), fuel_used: 0 }
}

fn build_request(
    invocation: &Invocation,
) -> Result<
    hyper::Request<impl http_body::Body<Data = Bytes, Error = ErrorCode> + Send + 'static>,
    SandboxError,
> {
    let mut builder = hyper::Request::builder()
        .method(invocation.method.as_str())
        .uri(format!("http://localhost{}", invocation.path_and_query));
    for header in &invocation.headers {
        builder = builder.header(header.name.as_str(), header.value.as_slice());
    }
    let body = Full::new(invocation.body.clone())
        .map_err(|never: Infallible| -> ErrorCode { match never {} });
    builder.body(body).map_err(|e| SandboxError::Internal(format!("request: {e}")))
}

/// Waits for the guest's response and reads its body, up to `limit` bytes.
async fn read_response(
    rx: tokio::sync::oneshot::Receiver<HostResponse>,
    limit: u64,
) -> Result<HttpResponse, SandboxError> {
    let response = rx
        .await
        .map_err(|_| SandboxError::NoResponse)?
        .map_err(|code| SandboxError::GuestError(format!("{code:?}")))?;
    let (parts, mut body) = response.into_parts();
    let mut bytes = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|code| SandboxError::GuestError(format!("{code:?}")))?;
        if let Ok(data) = frame.into_data() {
            if (bytes.len() + data.len()) as u64 > limit {
                return Err(SandboxError::ResponseTooLarge { limit });
            }
            bytes.extend_from_slice(&data);
        }
    }
    let headers = parts
        .headers
        .iter()
        .map(|(name, value)| Header {
            name: name.as_str().to_owned(),
            value: value.as_bytes().to_vec(),
        })
        .collect();
    let response = HttpResponse { status: parts.status.as_u16(), headers, body: bytes };
    response.validate().map_err(|e| SandboxError::InvalidResponse(e.to_string()))?;
    Ok(response)
}

/// Maps a wasmtime error to what the owner and caller should hear.
fn classify(error: &wasmtime::Error, limit_hit: bool) -> SandboxError {
    match error.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => return SandboxError::FuelExhausted,
        Some(Trap::Interrupt) => return SandboxError::DeadlineExceeded,
        _ if limit_hit => return SandboxError::MemoryLimit,
        _ => {}
    }
    let mut backtrace = error.downcast_ref::<WasmBacktrace>().map(|bt| bt.to_string());
    if let Some(trace) = &mut backtrace
        && trace.len() > MAX_BACKTRACE
    {
        let cut = (0..=MAX_BACKTRACE).rev().find(|i| trace.is_char_boundary(*i)).unwrap_or(0);
        trace.truncate(cut);
    }
    let message = match error.downcast_ref::<Trap>() {
        Some(trap) => trap.to_string(),
        None => format!("{:#}", error).lines().next().unwrap_or_default().to_owned(),
    };
    SandboxError::Trap { message, backtrace }
}
