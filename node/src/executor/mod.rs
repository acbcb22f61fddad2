//! Where a worker's guests run: in the worker's own process (embedded uses, tests), or in a
//! pool of executor processes (one per core by default), each confined beyond wasmtime — no
//! network, a syscall allow-list, no writable filesystem but its compile cache, resource
//! limits — so a guest that escaped wasmtime would still hold almost nothing. The worker
//! talks to its executors over pipes; one that dies is replaced, and its calls end in
//! [`SandboxError::ExecutorLost`], which the worker turns into a decline the gateway
//! re-dispatches.
//!
//! [`Runner`] is what the worker uses either way: prepare a component, invoke it.

mod child;
mod confine;
mod pool;
mod wire;

use std::{path::PathBuf, sync::Arc};

use bytes::Bytes;
use peerhost_protocol::BlobHash;

pub use child::run;
#[cfg(feature = "test-utils")]
pub use confine::probe;
pub use confine::{Confinement, Step};
pub use pool::Pool;

use crate::sandbox::{
    Compiled, Execution, Invocation, Outbound, Sandbox, SandboxConfig, SandboxError,
};

/// How to start executor processes.
#[derive(Debug, Clone)]
pub struct ExecutorConfig {
    /// How many (each gets an equal share of the sandbox's pool slots).
    pub processes: usize,
    /// The program: a `peerhost-node` binary.
    pub program: PathBuf,
    /// Its arguments (`executor`).
    pub args: Vec<String>,
}

impl ExecutorConfig {
    /// One executor per core, running `program executor`.
    pub fn per_core(program: PathBuf) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self { processes: cores, program, args: vec!["executor".into()] }
    }
}

/// A component ready to invoke.
#[derive(Debug, Clone)]
pub enum Prepared {
    /// Compiled in this process.
    Local(Arc<Compiled>),
    /// Loaded in the executors, by hash.
    Remote(BlobHash),
    /// Nothing to load: a [`Runner::StandIn`] answers without running anything.
    #[cfg(feature = "test-utils")]
    StandIn,
}

/// Runs guests in-process or in executor processes.
pub enum Runner {
    /// In the worker's process.
    InProcess(Box<Sandbox>),
    /// In executor processes.
    Pool {
        /// The executors.
        pool: Arc<Pool>,
        /// The sandbox policy (the executors get its slots; outbound checks stay here).
        config: SandboxConfig,
    },
    /// No sandbox at all (`test-utils` feature: simulation harnesses running many workers in
    /// one process): every call answers after `exec` with a response that depends only on the
    /// request, so honest stand-ins agree like honest workers do.
    #[cfg(feature = "test-utils")]
    StandIn {
        /// The sandbox policy (limits reported to the worker; nothing enforces them).
        config: SandboxConfig,
        /// How long a call takes.
        exec: std::time::Duration,
    },
}

impl Runner {
    /// In-process with `config`, or in executors started per `executors`.
    ///
    /// # Errors
    ///
    /// The sandbox or the executors cannot start.
    pub async fn start(
        config: SandboxConfig,
        executors: Option<ExecutorConfig>,
    ) -> Result<Self, SandboxError> {
        Ok(match executors {
            None => Self::InProcess(Box::new(Sandbox::new(config)?)),
            Some(spec) => Self::Pool { pool: Pool::start(&config, spec).await?, config },
        })
    }

    /// The sandbox policy.
    pub fn config(&self) -> &SandboxConfig {
        match self {
            Self::InProcess(sandbox) => sandbox.config(),
            Self::Pool { config, .. } => config,
            #[cfg(feature = "test-utils")]
            Self::StandIn { config, .. } => config,
        }
    }

    /// The executor pool, if guests run in executors.
    pub fn pool(&self) -> Option<&Arc<Pool>> {
        match self {
            Self::Pool { pool, .. } => Some(pool),
            _ => None,
        }
    }

    /// Compiles (or loads from the compile cache) the component `hash`.
    ///
    /// # Errors
    ///
    /// Why the component cannot run.
    pub async fn prepare(
        &self,
        hash: BlobHash,
        bytes: impl FnOnce() -> Bytes,
    ) -> Result<Prepared, SandboxError> {
        match self {
            Self::InProcess(sandbox) => sandbox.prepare(hash, bytes).await.map(Prepared::Local),
            Self::Pool { pool, config } => {
                let bytes = bytes();
                if bytes.len() as u64 > config.max_component_bytes {
                    return Err(SandboxError::BadComponent(format!(
                        "{} bytes, more than the {} this worker accepts",
                        bytes.len(),
                        config.max_component_bytes
                    )));
                }
                pool.prepare(hash, bytes).await.map(|()| Prepared::Remote(hash))
            }
            #[cfg(feature = "test-utils")]
            Self::StandIn { .. } => Ok(Prepared::StandIn),
        }
    }

    /// Runs one call.
    pub async fn invoke(&self, prepared: &Prepared, invocation: Invocation) -> Execution {
        match (self, prepared) {
            (Self::InProcess(sandbox), Prepared::Local(compiled)) => {
                sandbox.invoke(compiled, invocation).await
            }
            (Self::Pool { pool, config }, Prepared::Remote(hash)) => {
                let outbound =
                    Outbound::new(invocation.allowed_hosts.clone(), config.outbound.clone());
                pool.invoke(*hash, invocation, outbound).await
            }
            #[cfg(feature = "test-utils")]
            (Self::StandIn { exec, .. }, Prepared::StandIn) => {
                tokio::time::sleep(*exec).await;
                Execution { result: Ok(stand_in_response(&invocation)), fuel_used: 1 }
            }
            _ => Execution {
                result: Err(SandboxError::Internal("component prepared by another runner".into())),
                fuel_used: 0,
            },
        }
    }
}

/// What a [`Runner::StandIn`] answers: `200`, the hex keccak of the method, path and body.
#[cfg(feature = "test-utils")]
fn stand_in_response(invocation: &Invocation) -> peerhost_protocol::HttpResponse {
    let mut input = Vec::new();
    for part in [invocation.method.as_bytes(), invocation.path_and_query.as_bytes()] {
        input.extend_from_slice(&(part.len() as u64).to_le_bytes());
        input.extend_from_slice(part);
    }
    input.extend_from_slice(&invocation.body);
    let digest = peerhost_protocol::keccak256(&input);
    peerhost_protocol::HttpResponse {
        status: 200,
        headers: vec![peerhost_protocol::Header {
            name: "content-type".into(),
            value: b"text/plain".to_vec(),
        }],
        body: hex::encode(digest.0).into_bytes(),
    }
}
