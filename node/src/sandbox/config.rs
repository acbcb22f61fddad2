//! The worker's sandbox policy: hard caps applied on top of what each function asks for.

use std::{path::PathBuf, sync::Arc};

use peerhost_protocol::Limits;

use super::OutboundPolicy;

/// Sandbox configuration of one worker (an executor receives it whole, but for the outbound
/// policy, which stays with the worker that sends the requests).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SandboxConfig {
    /// Instances that may run at once (pooling allocator slots).
    pub max_instances: u32,
    /// Caps on every function's limits.
    pub caps: Limits,
    /// Largest table a guest may grow to, in elements.
    pub max_table_elements: usize,
    /// Most core instances one call may create (a component instantiates several).
    pub max_core_instances: usize,
    /// Most tables one call may create.
    pub max_tables: usize,
    /// Most linear memories one call may create.
    pub max_memories: usize,
    /// Largest component accepted for compilation, in bytes.
    pub max_component_bytes: u64,
    /// Longest a component may take to compile, in milliseconds. A compile past it is
    /// refused (the compiler thread finishes in the background, still holding the one compile
    /// slot, so hostile components cannot pile up compilations).
    pub max_compile_ms: u64,
    /// Memory kept mapped per pool slot between requests (resets by `pagemap_scan` instead of
    /// `madvise`; see `shared/notes/wasmtime-wasi-http.md`).
    pub keep_resident_bytes: usize,
    /// Epoch tick: the granularity of wall-clock deadlines.
    pub epoch_tick_ms: u64,
    /// Directory for precompiled components (`None`: memory only). Workers that share one
    /// compile each component once, and one compile at a time among them.
    pub cache_dir: Option<PathBuf>,
    /// What effectful functions' outbound requests may reach, and how much they may read.
    #[serde(skip)]
    pub outbound: Arc<OutboundPolicy>,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            max_instances: 64,
            caps: Limits {
                fuel: 100_000_000_000,
                memory_bytes: 512 << 20,
                timeout_ms: 60_000,
                max_request_bytes: 32 << 20,
                max_response_bytes: 32 << 20,
            },
            max_table_elements: 100_000,
            max_core_instances: 64,
            max_tables: 64,
            max_memories: 8,
            max_component_bytes: 64 << 20,
            max_compile_ms: 120_000,
            keep_resident_bytes: 16 << 20,
            epoch_tick_ms: 1,
            cache_dir: None,
            outbound: Arc::default(),
        }
    }
}

impl SandboxConfig {
    /// The function's limits, each capped by this policy.
    pub fn effective(&self, asked: &Limits) -> Limits {
        Limits {
            fuel: asked.fuel.min(self.caps.fuel),
            memory_bytes: asked.memory_bytes.min(self.caps.memory_bytes),
            timeout_ms: asked.timeout_ms.min(self.caps.timeout_ms),
            max_request_bytes: asked.max_request_bytes.min(self.caps.max_request_bytes),
            max_response_bytes: asked.max_response_bytes.min(self.caps.max_response_bytes),
        }
    }
}
