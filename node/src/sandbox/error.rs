//! Typed sandbox failures and how each one looks to an HTTP client.

use peerhost_protocol::{Header, HttpResponse};

/// Why a function call did not produce a response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum SandboxError {
    /// The call used up its fuel (CPU budget).
    #[error("function exceeded its CPU budget (fuel)")]
    FuelExhausted,
    /// The call ran past its wall-clock deadline.
    #[error("function exceeded its time limit")]
    DeadlineExceeded,
    /// The guest tried to grow memory or a table past its limit (or create more instances,
    /// memories or tables than allowed).
    #[error("function exceeded its memory or table limit")]
    MemoryLimit,
    /// The guest trapped.
    #[error("function trapped: {message}")]
    Trap {
        /// The trap, as wasmtime describes it.
        message: String,
        /// The guest backtrace (function names where the component has them).
        backtrace: Option<String>,
    },
    /// The guest returned without producing a response.
    #[error("function returned without a response")]
    NoResponse,
    /// The guest answered the outparam with an error.
    #[error("function reported an error: {0}")]
    GuestError(String),
    /// The response is larger than the function's limit.
    #[error("response exceeds {limit} bytes")]
    ResponseTooLarge {
        /// The limit.
        limit: u64,
    },
    /// The response is not valid HTTP (status out of range, bad header).
    #[error("function returned an invalid response: {0}")]
    InvalidResponse(String),
    /// The component cannot run here: not a `wasi:http/proxy` component, too large, or it
    /// failed to compile or link.
    #[error("component cannot run: {0}")]
    BadComponent(String),
    /// Compiling the component took longer than the worker allows.
    #[error("component took longer than {limit_ms} ms to compile")]
    CompileTimeout {
        /// The limit.
        limit_ms: u64,
    },
    /// A failure of the worker itself (not the guest's fault).
    #[error("worker error: {0}")]
    Internal(String),
    /// The executor process running the call died (killed, crashed, out of memory). The
    /// worker declines the call so the gateway runs it elsewhere.
    #[error("the executor process running the call died")]
    ExecutorLost,
}

impl SandboxError {
    /// A stable machine-readable name.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::FuelExhausted => "fuel_exhausted",
            Self::DeadlineExceeded => "deadline_exceeded",
            Self::MemoryLimit => "memory_limit",
            Self::Trap { .. } => "trap",
            Self::NoResponse => "no_response",
            Self::GuestError(_) => "guest_error",
            Self::ResponseTooLarge { .. } => "response_too_large",
            Self::InvalidResponse(_) => "invalid_response",
            Self::BadComponent(_) => "bad_component",
            Self::CompileTimeout { .. } => "compile_timeout",
            Self::Internal(_) => "internal",
            Self::ExecutorLost => "executor_lost",
        }
    }

    /// The HTTP status the caller sees.
    pub fn status(&self) -> u16 {
        match self {
            Self::DeadlineExceeded => 504,
            Self::ResponseTooLarge { .. }
            | Self::InvalidResponse(_)
            | Self::BadComponent(_)
            | Self::CompileTimeout { .. } => 502,
            _ => 500,
        }
    }

    /// The error as a JSON response (`{"error", "message", "backtrace"?}`) with an
    /// `x-peerhost-error` header. Deterministic, so honest workers produce identical error
    /// responses and receipts.
    pub fn to_response(&self) -> HttpResponse {
        let mut body = serde_json::json!({ "error": self.kind(), "message": self.to_string() });
        if let Self::Trap { backtrace: Some(trace), .. } = self {
            body["backtrace"] = serde_json::Value::from(trace.as_str());
        }
        HttpResponse {
            status: self.status(),
            headers: vec![
                Header { name: "content-type".into(), value: b"application/json".to_vec() },
                Header { name: "x-peerhost-error".into(), value: self.kind().as_bytes().to_vec() },
            ],
            body: serde_json::to_vec(&body).expect("JSON values serialize"),
        }
    }
}
