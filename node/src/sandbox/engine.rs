//! The worker's one wasmtime [`Engine`], its configuration (part of the protocol version), the
//! epoch ticker, and the cache of compiled, pre-linked components.

use std::{
    collections::{HashMap, VecDeque},
    path::PathBuf,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use peerhost_protocol::BlobHash;
use tokio::sync::{OnceCell, Semaphore};
use tracing::{debug, info};
use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, OptLevel, PoolingAllocationConfig,
    component::{Component, Linker},
};
use wasmtime_wasi_http::p2::bindings::ProxyPre;

use super::{SandboxConfig, SandboxError, host::Host};

pub use peerhost_protocol::ENGINE_ID;

/// Compiled components kept in memory.
const MEMORY_CACHE: usize = 256;

/// The engine configuration: Cranelift, fuel, epochs, NaN canonicalization, deterministic
/// relaxed SIMD, no async component model (threads are not even compiled in: the `threads`
/// feature of wasmtime is off); the pooling allocator with
/// keep-resident memory reset by `pagemap_scan` (the fastest measured configuration).
pub fn engine_config(config: &SandboxConfig) -> Config {
    let n = config.max_instances;
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(n)
        .total_core_instances(n * 4)
        .total_memories(n)
        .total_tables(n * 4)
        .total_stacks(n)
        .max_memory_size(config.caps.memory_bytes as usize)
        .table_elements(config.max_table_elements)
        .linear_memory_keep_resident(config.keep_resident_bytes)
        .table_keep_resident(64 << 10)
        .pagemap_scan(Enabled::Auto);

    let mut c = Config::new();
    c.allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
        .cranelift_opt_level(OptLevel::Speed)
        .cranelift_nan_canonicalization(true)
        .relaxed_simd_deterministic(true)
        .consume_fuel(true)
        .epoch_interruption(true)
        .concurrency_support(false)
        .wasm_backtrace_max_frames(std::num::NonZeroUsize::new(64))
        .parallel_compilation(true);
    c
}

/// Increments the engine epoch every tick until dropped.
struct EpochTicker {
    stop: Arc<AtomicBool>,
}

impl EpochTicker {
    fn start(engine: Engine, tick: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::Builder::new()
            .name("peerhost-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(tick);
                    engine.increment_epoch();
                }
            })
            .expect("spawning the epoch thread");
        Self { stop }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// A compiled component, linked and ready to instantiate.
pub struct Compiled {
    pub(crate) pre: ProxyPre<Host>,
    /// The component's hash.
    pub hash: BlobHash,
}

impl std::fmt::Debug for Compiled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compiled").field("hash", &self.hash).finish_non_exhaustive()
    }
}

type Slot = Arc<OnceCell<Result<Arc<Compiled>, SandboxError>>>;

#[derive(Default)]
struct MemoryCache {
    slots: HashMap<BlobHash, Slot>,
    order: VecDeque<BlobHash>,
}

/// The sandbox: engine, linker, compile cache. One per worker; shared by all its jobs.
pub struct Sandbox {
    pub(crate) engine: Engine,
    linker: Linker<Host>,
    pub(crate) config: SandboxConfig,
    cache: Mutex<MemoryCache>,
    /// Compiles run one at a time so they never starve request execution.
    compiles: Arc<Semaphore>,
    /// Fuel and epochs are on (always, except for the benchmark baseline).
    pub(crate) metered: bool,
    _ticker: EpochTicker,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox").field("config", &self.config).finish_non_exhaustive()
    }
}

impl Sandbox {
    /// Builds the engine and linker and starts the epoch ticker.
    ///
    /// # Errors
    ///
    /// [`SandboxError::Internal`] if wasmtime rejects the configuration (e.g. the pool cannot
    /// reserve its address space).
    pub fn new(config: SandboxConfig) -> Result<Self, SandboxError> {
        let engine_config = engine_config(&config);
        Self::with_engine(config, &engine_config, true)
    }

    /// A sandbox without fuel and without epoch interruption: the baseline that benchmarks
    /// measure the cost of metering against. Nothing bounds a guest's CPU here; never serve
    /// with it.
    ///
    /// # Errors
    ///
    /// As [`Sandbox::new`].
    #[doc(hidden)]
    pub fn unmetered(config: SandboxConfig) -> Result<Self, SandboxError> {
        let mut engine_config = engine_config(&config);
        engine_config.consume_fuel(false).epoch_interruption(false);
        Self::with_engine(config, &engine_config, false)
    }

    fn with_engine(
        config: SandboxConfig,
        engine_config: &Config,
        metered: bool,
    ) -> Result<Self, SandboxError> {
        let internal = |e: wasmtime::Error| SandboxError::Internal(format!("{e:#}"));
        let engine = Engine::new(engine_config).map_err(internal)?;
        let mut linker = Linker::<Host>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(internal)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).map_err(internal)?;
        if let Some(dir) = &config.cache_dir {
            std::fs::create_dir_all(dir)
                .map_err(|e| SandboxError::Internal(format!("cache dir {}: {e}", dir.display())))?;
        }
        let ticker =
            EpochTicker::start(engine.clone(), Duration::from_millis(config.epoch_tick_ms));
        Ok(Self {
            engine,
            linker,
            config,
            cache: Mutex::default(),
            compiles: Arc::new(Semaphore::new(1)),
            metered,
            _ticker: ticker,
        })
    }

    /// The policy this sandbox enforces.
    pub fn config(&self) -> &SandboxConfig {
        &self.config
    }

    /// The compiled component for `hash` if it is ready in memory.
    pub fn cached(&self, hash: &BlobHash) -> Option<Arc<Compiled>> {
        let cache = self.cache.lock().expect("cache lock");
        cache.slots.get(hash).and_then(|slot| slot.get()).and_then(|r| r.as_ref().ok()).cloned()
    }

    /// Returns the compiled component for `hash`, loading it from the disk cache or compiling
    /// `bytes` (which must hash to `hash`) on first use. Concurrent callers for the same hash
    /// share one compilation. Compilation runs on a blocking thread, one at a time.
    ///
    /// # Errors
    ///
    /// [`SandboxError::BadComponent`] if the bytes are too large, not a component, or do not
    /// link as `wasi:http/proxy`.
    ///
    /// # Cancel safety
    ///
    /// Cancelling a caller does not cancel a compilation another caller waits for.
    pub async fn prepare(
        &self,
        hash: BlobHash,
        bytes: impl FnOnce() -> Bytes,
    ) -> Result<Arc<Compiled>, SandboxError> {
        let slot = {
            let mut cache = self.cache.lock().expect("cache lock");
            if let Some(slot) = cache.slots.get(&hash) {
                slot.clone()
            } else {
                if cache.order.len() >= MEMORY_CACHE
                    && let Some(old) = cache.order.pop_front()
                {
                    cache.slots.remove(&old);
                }
                let slot = Slot::default();
                cache.slots.insert(hash, slot.clone());
                cache.order.push_back(hash);
                slot
            }
        };
        let bytes = bytes();
        slot.get_or_init(|| self.load(hash, bytes)).await.clone()
    }

    fn cache_path(&self, hash: &BlobHash) -> Option<PathBuf> {
        let dir = self.config.cache_dir.as_ref()?;
        let engine = peerhost_protocol::keccak256(ENGINE_ID.as_bytes());
        Some(dir.join(format!("{}-{}.cwasm", hash.to_hex(), &engine.to_hex()[..16])))
    }

    async fn load(&self, hash: BlobHash, bytes: Bytes) -> Result<Arc<Compiled>, SandboxError> {
        let permit = self
            .compiles
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| SandboxError::Internal(e.to_string()))?;
        let engine = self.engine.clone();
        let path = self.cache_path(&hash);
        let max = self.config.max_component_bytes;
        // The permit moves into the compiler thread: a compile past its deadline is refused
        // here but keeps the one compile slot until it really ends.
        let compile = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            load_component(&engine, path, &bytes, max)
        });
        let limit_ms = self.config.max_compile_ms;
        let component = tokio::time::timeout(Duration::from_millis(limit_ms), compile)
            .await
            .map_err(|_| SandboxError::CompileTimeout { limit_ms })?
            .map_err(|e| SandboxError::Internal(e.to_string()))??;
        let bad = |e: wasmtime::Error| SandboxError::BadComponent(format!("{e:#}"));
        let pre = self.linker.instantiate_pre(&component).map_err(bad)?;
        let pre = ProxyPre::new(pre).map_err(bad)?;
        Ok(Arc::new(Compiled { pre, hash }))
    }
}

/// Loads a precompiled component from `path` if valid, else compiles `bytes` and writes
/// `path`. Runs on a blocking thread.
fn load_component(
    engine: &Engine,
    path: Option<PathBuf>,
    bytes: &[u8],
    max_bytes: u64,
) -> Result<Component, SandboxError> {
    if let Some(path) = &path
        && path.exists()
    {
        // SAFETY: files in the cache directory are written only by `serialize` below,
        // for an engine with the same ENGINE_ID (part of the file name), via an atomic
        // rename; wasmtime additionally checks engine compatibility in the header.
        #[allow(unsafe_code)]
        match unsafe { Component::deserialize_file(engine, path) } {
            Ok(component) => {
                debug!(target: "peerhost::sandbox", path = %path.display(), "loaded precompiled component");
                return Ok(component);
            }
            Err(e) => {
                debug!(target: "peerhost::sandbox", error = %e, "stale precompiled component; recompiling")
            }
        }
    }
    if bytes.len() as u64 > max_bytes {
        return Err(SandboxError::BadComponent(format!(
            "component is {} bytes, more than the {max_bytes}-byte limit",
            bytes.len()
        )));
    }
    #[allow(clippy::disallowed_methods)] // compile time is reported, not used for decisions
    let started = std::time::Instant::now();
    let component =
        Component::new(engine, bytes).map_err(|e| SandboxError::BadComponent(format!("{e:#}")))?;
    info!(
        target: "peerhost::sandbox",
        bytes = bytes.len(),
        ms = started.elapsed().as_millis() as u64,
        "compiled component"
    );
    if let Some(path) = path
        && let Ok(serialized) = component.serialize()
    {
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        if std::fs::write(&tmp, serialized).and_then(|()| std::fs::rename(&tmp, &path)).is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
    }
    Ok(component)
}
