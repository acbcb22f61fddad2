//! The wasmtime sandbox: runs `wasi:http/proxy` components with fuel, memory, table and
//! wall-clock limits, deterministic clocks and randomness, no filesystem and no network (outbound HTTP only for
//! effectful functions, to allow-listed hosts at public addresses).
//!
//! One [`Sandbox`] per worker holds the engine (pooling allocator, epoch ticker) and a cache
//! of compiled, pre-linked components keyed by component hash (in memory and, optionally, as
//! precompiled artifacts on disk, shared by the workers of one machine). Each call gets a fresh store; nothing survives a call.
//! Every failure is a typed [`SandboxError`] that renders as an HTTP response.

mod config;
mod engine;
mod error;
mod forward;
mod host;
mod invoke;
mod outbound;
mod precompiled;
mod random;

pub use config::SandboxConfig;
pub use engine::{CompileStats, Compiled, ENGINE_ID, Sandbox, engine_config};
pub use error::SandboxError;
pub use forward::{
    Forward, ForwardError, Forwarded, ForwardedResponse, MAX_FORWARDED_BODY, WireCode,
};
pub use invoke::{Env, Execution, Invocation};
pub use outbound::{Outbound, OutboundPolicy, non_public};
