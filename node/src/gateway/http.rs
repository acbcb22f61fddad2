//! The axum front: reads the HTTP request (bounded), runs the call, writes the response.

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
};

use axum::{
    Json, Router,
    body::Body,
    extract::{ConnectInfo, Path, Request, State},
    http::{HeaderName, HeaderValue, Method, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{any, get},
};
use peerhost_protocol::RequestId;
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::{Answer, CallError, Gateway, Incoming, routes};
use crate::{
    clock,
    dispatch::{BondRole, Trust},
    mesh,
};

/// Response headers never passed through from functions (hop-by-hop, or set by the server).
const DROPPED_RESPONSE_HEADERS: &[&str] = &[
    "connection",
    "content-length",
    "keep-alive",
    "proxy-authenticate",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Serves the gateway on `listener` until `shutdown`.
pub(crate) async fn serve(
    gateway: Arc<Gateway>,
    listener: TcpListener,
    shutdown: CancellationToken,
) {
    let app =
        Router::new().route("/healthz", get(health)).route("/receipts/{id}", any(receipt_or_call));
    #[cfg(feature = "chain")]
    let app = app.nest_service("/mcp", super::mcp::service(gateway.clone(), shutdown.clone()));
    let app = app.fallback(handle).with_state(gateway);
    let app = app.into_make_service_with_connect_info::<SocketAddr>();
    if let Err(e) =
        axum::serve(listener, app).with_graceful_shutdown(shutdown.cancelled_owned()).await
    {
        warn!(target: "peerhost::gateway", error = %e, "HTTP server stopped");
    }
}

async fn health(State(gateway): State<Arc<Gateway>>) -> Json<serde_json::Value> {
    // Each connection's kind: behind NATs a peer is first reached through a relay, then
    // directly once hole punching succeeds.
    let links: Vec<_> = gateway
        .mesh
        .links()
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|link| json!({ "peer": link.peer.to_string(), "relayed": link.relayed }))
        .collect();
    let now = clock::unix_ms();
    let workers = gateway.view.directory.read().expect("directory lock").live(now).count();
    let deployments = gateway.view.registry.read().expect("registry lock").len();
    let bonds = gateway.view.bonds.read().expect("bonds lock");
    let trust = match bonds.trust() {
        // Said plainly: anyone who runs a worker can answer this gateway's calls.
        Trust::Open => json!({ "mode": "open" }),
        Trust::Bonded { .. } => json!({
            "mode": "bonded",
            "synced": bonds.synced(),
            "bonded_workers": bonds.bonded_count(BondRole::Worker),
            "gateway_bonded": bonds.admits(BondRole::Gateway, &gateway.secret.public(), 0),
        }),
    };
    Json(json!({
        "status": "ok",
        "peer_id": gateway.mesh.peer_id().to_string(),
        "links": links,
        "workers": workers,
        "deployments": deployments,
        "in_flight": gateway.pending.len(),
        "redispatched": gateway.redispatched.load(std::sync::atomic::Ordering::Relaxed),
        "lingering": super::stragglers::MAX_LINGERING - gateway.lingering.available_permits(),
        "trust": trust,
    }))
}

/// `GET /receipts/<request id>`; any other request under `/receipts/` (a project named
/// `receipts` on an owner's host) is a call.
async fn receipt_or_call(
    State(gateway): State<Arc<Gateway>>,
    Path(id): Path<String>,
    request: Request,
) -> Response {
    match id.parse::<RequestId>() {
        Ok(id) if request.method() == Method::GET => {
            let receipt = gateway.receipts.get(&id);
            #[cfg(feature = "chain")]
            let anchor = receipt
                .as_ref()
                .and_then(|r| gateway.anchoring.get()?.proof(&id, &r.receipt.signer))
                .and_then(|proof| serde_json::to_value(proof).ok())
                .unwrap_or(serde_json::Value::Null);
            #[cfg(not(feature = "chain"))]
            let anchor = serde_json::Value::Null;
            super::receipts::serve(id, receipt, anchor)
        }
        _ => handle(State(gateway), request).await,
    }
}

async fn handle(State(gateway): State<Arc<Gateway>>, request: Request) -> Response {
    let caller = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    match call(&gateway, request, caller).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn call(
    gateway: &Gateway,
    request: Request,
    caller: Option<IpAddr>,
) -> Result<Response, CallError> {
    let (parts, body) = request.into_parts();
    let host = parts.headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let target = routes::resolve(host, &gateway.config.domain, parts.uri.path())?;
    let resolved = gateway.resolve(target)?;
    let limit = gateway.body_limit(&resolved);
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(CallError::TooLarge { limit });
    }
    let bytes = axum::body::to_bytes(body, usize::try_from(limit).unwrap_or(usize::MAX))
        .await
        .map_err(|e| {
            let too_large = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            if too_large {
                CallError::TooLarge { limit }
            } else {
                CallError::BadRequest(e.to_string())
            }
        })?;
    let headers = parts
        .headers
        .iter()
        .filter(|(n, _)| !PAYMENT_HEADERS.contains(&n.as_str()))
        .map(|(n, v)| (n.as_str(), v.as_bytes()))
        .collect();
    let tier =
        match parts.headers.get(TIER_HEADER) {
            None => None,
            Some(value) => {
                Some(value.to_str().ok().and_then(|v| v.trim().parse().ok()).ok_or(
                    CallError::BadRequest(format!("{TIER_HEADER} must be fast or verified")),
                )?)
            }
        };
    let incoming =
        Incoming { method: parts.method.as_str(), query: parts.uri.query(), headers, tier };
    let price = resolved.deployment.function(&resolved.target.function).map_or(0, |f| f.price);
    if price > 0 {
        #[cfg(feature = "chain")]
        {
            let resource = resource_url(host, &gateway.config.listen, &parts);
            return Ok(super::paid::serve(
                gateway,
                &resolved,
                incoming,
                bytes,
                &parts.headers,
                caller,
                resource,
            )
            .await);
        }
        #[cfg(not(feature = "chain"))]
        {
            let _ = caller;
            return Err(CallError::PaymentsUnavailable);
        }
    }
    gateway.check_free_rate(caller)?;
    gateway.call(&resolved, incoming, bytes).await.map(respond)
}

/// The request header a caller asks for a tier with (`fast` or `verified`).
pub(crate) const TIER_HEADER: &str = "x-peerhost-tier";

/// Headers that carry x402 payments (the newer first): kept at the gateway, never sent to
/// workers.
pub(crate) const PAYMENT_HEADERS: [&str; 2] = ["payment-signature", "x-payment"];

/// The absolute URL of the called resource, as the client addressed it.
#[cfg(feature = "chain")]
fn resource_url(
    host: Option<&str>,
    listen: &SocketAddr,
    parts: &axum::http::request::Parts,
) -> String {
    let scheme = parts
        .headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .filter(|p| *p == "https")
        .unwrap_or("http");
    let authority = host.map_or_else(|| listen.to_string(), str::to_owned);
    format!("{scheme}://{authority}{}", parts.uri.path())
}

/// The HTTP response of an answer.
pub(crate) fn respond(answer: Answer) -> Response {
    let status = StatusCode::from_u16(answer.response.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut response = Response::new(Body::from(answer.response.body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    for h in &answer.response.headers {
        if DROPPED_RESPONSE_HEADERS.contains(&h.name.as_str())
            // The gateway's own headers: a function cannot pass off its own receipt. (The
            // sandbox's typed error, `x-peerhost-error`, is part of the signed response.)
            || (h.name.starts_with("x-peerhost-") && h.name != "x-peerhost-error")
        {
            continue;
        }
        if let (Ok(name), Ok(value)) =
            (HeaderName::from_bytes(h.name.as_bytes()), HeaderValue::from_bytes(&h.value))
        {
            headers.append(name, value);
        }
    }
    if let Ok(v) = HeaderValue::from_str(&answer.request_id.to_hex()) {
        headers.insert("x-peerhost-request-id", v);
    }
    if let Some(peer) = mesh::peer_id(&answer.worker)
        && let Ok(v) = HeaderValue::from_str(&peer.to_string())
    {
        headers.insert("x-peerhost-worker", v);
    }
    match super::receipts::header_value(&answer.receipt) {
        Some(v) => {
            headers.insert(super::receipts::RECEIPT_HEADER, v);
        }
        None => {
            let url = format!("/receipts/{}", answer.request_id.to_hex());
            if let Ok(v) = HeaderValue::from_str(&url) {
                headers.insert(super::receipts::RECEIPT_URL_HEADER, v);
            }
        }
    }
    response
}
