//! Messages on direct streams between two nodes (never gossiped): deliveries, bodies, and the
//! orders validators fetch for audits. A dispatch stream (see [`crate::topics::DISPATCH_PROTOCOL`])
//! carries [`ExecutionRequest`]s one way and [`Delivery`]s the other, each a length-prefixed
//! canonical CBOR frame; its peer is authenticated by the transport, so a request on it is not
//! signed again.

use serde::{Deserialize, Serialize};

use crate::{
    codec::{Invalid, Wire},
    execution::{ExecutionRequest, ExecutionResult},
    hash::RequestId,
    request::MAX_BODY_LEN,
};

/// Why a worker that was asked to race will not deliver a result. Lets the gateway
/// re-dispatch at once instead of waiting for its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "u8", try_from = "u8")]
#[non_exhaustive]
pub enum DeclineReason {
    /// No free execution slot.
    Overloaded,
    /// The bundle could not be fetched or verified.
    BundleUnavailable,
    /// The request body could not be fetched or did not match its hash.
    BodyUnavailable,
    /// The component is invalid or could not be compiled.
    BadComponent,
    /// The deadline passed before the worker could start.
    Expired,
    /// The function needs secrets this worker was not given.
    NotAuthorized,
    /// The requesting gateway holds no gateway bond on the chain this worker settles on.
    UnregisteredGateway,
    /// The executor process running the call died (it is replaced; another worker should run
    /// the call).
    ExecutorLost,
    /// The worker's operator does not serve this function (its owner or project, or a bundle
    /// that large).
    NotServed,
}

impl From<DeclineReason> for u8 {
    fn from(r: DeclineReason) -> u8 {
        match r {
            DeclineReason::Overloaded => 0,
            DeclineReason::BundleUnavailable => 1,
            DeclineReason::BodyUnavailable => 2,
            DeclineReason::BadComponent => 3,
            DeclineReason::Expired => 4,
            DeclineReason::NotAuthorized => 5,
            DeclineReason::UnregisteredGateway => 6,
            DeclineReason::ExecutorLost => 7,
            DeclineReason::NotServed => 8,
        }
    }
}

impl TryFrom<u8> for DeclineReason {
    type Error = String;

    fn try_from(v: u8) -> Result<Self, String> {
        Ok(match v {
            0 => Self::Overloaded,
            1 => Self::BundleUnavailable,
            2 => Self::BodyUnavailable,
            3 => Self::BadComponent,
            4 => Self::Expired,
            5 => Self::NotAuthorized,
            6 => Self::UnregisteredGateway,
            7 => Self::ExecutorLost,
            8 => Self::NotServed,
            other => return Err(format!("unknown decline reason {other}")),
        })
    }
}

impl std::fmt::Display for DeclineReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Overloaded => "overloaded",
            Self::BundleUnavailable => "bundle unavailable",
            Self::BodyUnavailable => "request body unavailable",
            Self::BadComponent => "component cannot run",
            Self::Expired => "deadline passed",
            Self::NotAuthorized => "not authorized for the function's secrets",
            Self::UnregisteredGateway => "the gateway is not bonded",
            Self::ExecutorLost => "the executor running the call died",
            Self::NotServed => "not served by this worker's operator",
        })
    }
}

/// Worker → gateway: the outcome of one race.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Delivery {
    /// The request.
    pub request_id: RequestId,
    /// The result, or `None` when the worker declined.
    pub result: Option<ExecutionResult>,
    /// Set when `result` is `None`.
    pub declined: Option<DeclineReason>,
}

impl Wire for Delivery {
    const MAX_BYTES: usize = ExecutionResult::MAX_BYTES + 128;

    fn validate(&self) -> Result<(), Invalid> {
        match (&self.result, &self.declined) {
            (Some(result), None) => result.validate(),
            (None, Some(_)) => Ok(()),
            _ => Err(Invalid::new("delivery", "exactly one of result and declined must be set")),
        }
    }
}

/// Gateway → worker: delivery received (whether or not it won).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryAck {
    /// `true` if the gateway was still waiting for this request.
    pub pending: bool,
}

impl Wire for DeliveryAck {
    const MAX_BYTES: usize = 16;
}

/// Worker → gateway: send me the body of a request whose body was not inline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BodyRequest {
    /// The request.
    pub request_id: RequestId,
}

impl Wire for BodyRequest {
    const MAX_BYTES: usize = 64;
}

/// Gateway → worker: the body, or `None` if the request is no longer pending.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BodyResponse {
    /// The body bytes.
    #[serde(with = "serde_bytes")]
    pub body: Option<Vec<u8>>,
}

impl Wire for BodyResponse {
    const MAX_BYTES: usize = MAX_BODY_LEN as usize + 64;
}

/// Validator → gateway: send me the order you dispatched for an audited request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderRequest {
    /// The audited request.
    pub request_id: RequestId,
}

impl Wire for OrderRequest {
    const MAX_BYTES: usize = 64;
}

/// Gateway → validator: the order it dispatched, or `None` if it no longer keeps it. The
/// validator checks that the order's id is the audited one: the gateway cannot substitute a
/// different call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderResponse {
    /// The order.
    pub order: Option<ExecutionRequest>,
}

impl Wire for OrderResponse {
    const MAX_BYTES: usize = ExecutionRequest::MAX_BYTES + 16;

    fn validate(&self) -> Result<(), Invalid> {
        self.order.as_ref().map_or(Ok(()), Wire::validate)
    }
}
