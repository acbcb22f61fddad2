//! Errors the gateway answers with: a status and a small JSON body that says what was
//! missing or wrong, never internal details.

use axum::{
    Json,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use peerhost_protocol::{Owner, RequestId};
use serde_json::json;

use super::routes::RouteError;

/// A call the gateway could not serve.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// The URL does not address a function.
    #[error(transparent)]
    Route(#[from] RouteError),
    /// No deployment of the project by that owner is known.
    #[error("owner {owner} has no project '{project}'")]
    UnknownProject {
        /// Owner.
        owner: Owner,
        /// Project.
        project: String,
    },
    /// The project has no such function.
    #[error("project '{project}' of {owner} has no function '{function}'")]
    UnknownFunction {
        /// Owner.
        owner: Owner,
        /// Project.
        project: String,
        /// Function.
        function: String,
    },
    /// The request cannot be canonicalized (bad method, path, header, …).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The body exceeds the limit.
    #[error("request body exceeds {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// No worker could be asked.
    #[error("no worker is serving this function right now")]
    NoWorkers,
    /// No worker with a large enough bond could be asked (chain-connected networks race only
    /// bonded workers).
    #[error("no worker bonded with at least {} USDC is serving this function right now", crate::usdc::format(*min_bond))]
    NoBondedWorkers {
        /// The bond the function needs, in token units.
        min_bond: u128,
    },
    /// This gateway holds no gateway bond, so workers refuse its requests.
    #[error("this gateway is not bonded on its chain, so no worker runs its requests")]
    GatewayNotBonded,
    /// The caller asked for a tier the function does not offer.
    #[error("tier not offered: {0}")]
    TierNotOffered(&'static str),
    /// The racers of a `verified` call returned different results and no result reached the
    /// quorum, even with more racers. Their receipts go to validators for a dispute.
    #[error("the workers returned {results} different results and none reached the quorum")]
    NoAgreement {
        /// The request.
        request_id: RequestId,
        /// Distinct results returned.
        results: usize,
    },
    /// The caller used up its allowance of unpriced calls for now.
    #[error("too many free calls from this caller; retry in {retry_after_s} s")]
    RateLimited {
        /// Seconds until the next call is allowed.
        retry_after_s: u64,
    },
    /// The gateway has not read the bonded set from the chain, or the network's deployments
    /// from a peer, yet.
    #[error(
        "the gateway is still starting (reading the bonded set and the deployments); retry shortly"
    )]
    Starting,
    /// No worker answered in time.
    #[error("no worker answered within {waited_ms} ms ({attempts} attempts)")]
    Timeout {
        /// The request.
        request_id: RequestId,
        /// Time spent.
        waited_ms: u64,
        /// Attempts made.
        attempts: u8,
    },
    /// The gateway is shutting down.
    #[error("gateway is shutting down")]
    Unavailable,
    /// The function is priced, but this gateway is not connected to a chain to take payments.
    #[error("this function is priced, and this gateway takes no payments (it has no chain)")]
    PaymentsUnavailable,
}

impl CallError {
    /// A stable machine-readable name.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Route(_) | Self::BadRequest(_) => "bad_request",
            Self::TierNotOffered(_) => "tier_not_offered",
            Self::NoAgreement { .. } => "no_agreement",
            Self::UnknownProject { .. } | Self::UnknownFunction { .. } => "not_found",
            Self::TooLarge { .. } => "payload_too_large",
            Self::NoWorkers | Self::Unavailable => "unavailable",
            Self::NoBondedWorkers { .. } => "no_bonded_workers",
            Self::GatewayNotBonded => "gateway_not_bonded",
            Self::Starting => "starting",
            Self::RateLimited { .. } => "rate_limited",
            Self::PaymentsUnavailable => "payments_unavailable",
            Self::Timeout { .. } => "timeout",
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Route(_) | Self::BadRequest(_) | Self::TierNotOffered(_) => {
                StatusCode::BAD_REQUEST
            }
            Self::NoAgreement { .. } => StatusCode::BAD_GATEWAY,
            Self::UnknownProject { .. } | Self::UnknownFunction { .. } => StatusCode::NOT_FOUND,
            Self::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::NoWorkers
            | Self::NoBondedWorkers { .. }
            | Self::GatewayNotBonded
            | Self::Starting
            | Self::Unavailable
            | Self::PaymentsUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        }
    }
}

impl CallError {
    /// The JSON body that describes the error (HTTP responses; MCP structured content).
    pub fn body(&self) -> serde_json::Value {
        let mut body = json!({ "error": self.kind(), "message": self.to_string() });
        match &self {
            Self::UnknownProject { owner, project } => {
                body["owner"] = json!(owner.to_string());
                body["project"] = json!(project);
            }
            Self::UnknownFunction { owner, project, function } => {
                body["owner"] = json!(owner.to_string());
                body["project"] = json!(project);
                body["function"] = json!(function);
            }
            Self::Timeout { request_id, .. } | Self::NoAgreement { request_id, .. } => {
                body["request_id"] = json!(request_id.to_hex());
            }
            Self::RateLimited { retry_after_s } => body["retry_after"] = json!(retry_after_s),
            Self::NoBondedWorkers { min_bond } => {
                body["min_bond"] = json!(crate::usdc::format(*min_bond));
            }
            _ => {}
        }
        body
    }
}

impl IntoResponse for CallError {
    fn into_response(self) -> Response {
        let mut response = (self.status(), Json(self.body())).into_response();
        if let Self::RateLimited { retry_after_s } = &self {
            response.headers_mut().insert(header::RETRY_AFTER, (*retry_after_s).into());
        }
        if let Self::Timeout { request_id, .. } | Self::NoAgreement { request_id, .. } = &self
            && let Ok(v) = request_id.to_hex().parse()
        {
            response.headers_mut().insert("x-peerhost-request-id", v);
        }
        response
    }
}
