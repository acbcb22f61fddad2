//! The worker's one wasmtime [`Engine`], its configuration (part of the protocol version), the
//! epoch ticker, and the cache of compiled, pre-linked components.

use std::{
    collections::{HashMap, VecDeque},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use peerhost_protocol::BlobHash;
use tokio::sync::{OnceCell, Semaphore};
use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, OptLevel, PoolingAllocationConfig,
    component::{Component, Linker},
};
use wasmtime_wasi_http::p2::bindings::ProxyPre;

use super::{
    SandboxConfig, SandboxError,
    host::Host,
    precompiled::{Lookup, Precompiled},
};

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

/// How a sandbox obtained its components: compiled them itself, or loaded them precompiled
/// from the disk cache (written by itself earlier or by another worker sharing the directory).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompileStats {
    /// Components compiled by this sandbox.
    pub compiled: u64,
    /// Components loaded precompiled.
    pub loaded: u64,
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
    /// Precompiled components on disk, shared with other workers on this machine.
    precompiled: Precompiled,
    /// Components compiled here, and loaded precompiled from disk.
    compiled: AtomicU64,
    loaded: AtomicU64,
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
        let precompiled = Precompiled::open(config.cache_dir.clone())?;
        let ticker =
            EpochTicker::start(engine.clone(), Duration::from_millis(config.epoch_tick_ms));
        Ok(Self {
            engine,
            linker,
            config,
            cache: Mutex::default(),
            precompiled,
            compiled: AtomicU64::new(0),
            loaded: AtomicU64::new(0),
            compiles: Arc::new(Semaphore::new(1)),
            metered,
            _ticker: ticker,
        })
    }

    /// The policy this sandbox enforces.
    pub fn config(&self) -> &SandboxConfig {
        &self.config
    }

    /// How this sandbox obtained its components so far.
    pub fn compile_stats(&self) -> CompileStats {
        CompileStats {
            compiled: self.compiled.load(Ordering::Relaxed),
            loaded: self.loaded.load(Ordering::Relaxed),
        }
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

    async fn load(&self, hash: BlobHash, bytes: Bytes) -> Result<Arc<Compiled>, SandboxError> {
        let (engine, disk) = (self.engine.clone(), self.precompiled.clone());
        let cached = tokio::task::spawn_blocking(move || disk.load(&engine, &hash));
        let component = match cached.await.map_err(joined)? {
            Some(component) => {
                self.loaded.fetch_add(1, Ordering::Relaxed);
                component
            }
            None => self.compile(hash, bytes).await?,
        };
        let bad = |e: wasmtime::Error| SandboxError::BadComponent(format!("{e:#}"));
        let pre = self.linker.instantiate_pre(&component).map_err(bad)?;
        let pre = ProxyPre::new(pre).map_err(bad)?;
        Ok(Arc::new(Compiled { pre, hash }))
    }

    /// Compiles under the deadline, holding this sandbox's compile permit and then the
    /// machine's compile slot (always in that order). The deadline starts once both are held:
    /// waiting for another worker's compile is not this component's fault.
    async fn compile(&self, hash: BlobHash, bytes: Bytes) -> Result<Component, SandboxError> {
        let permit = self
            .compiles
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| SandboxError::Internal(e.to_string()))?;
        let (engine, disk) = (self.engine.clone(), self.precompiled.clone());
        let slot = tokio::task::spawn_blocking(move || disk.lookup_or_lock(&engine, &hash));
        let slot = match slot.await.map_err(joined)?? {
            Lookup::Ready(component) => {
                self.loaded.fetch_add(1, Ordering::Relaxed);
                return Ok(component);
            }
            Lookup::Compile(slot) => slot,
        };
        let (engine, disk) = (self.engine.clone(), self.precompiled.clone());
        let max = self.config.max_component_bytes;
        // The permit and the slot move into the compiler thread: a compile past its deadline
        // is refused here but keeps the compile slot until it really ends.
        let compile = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            disk.compile(&engine, &hash, &bytes, max, slot)
        });
        let limit_ms = self.config.max_compile_ms;
        let component = tokio::time::timeout(Duration::from_millis(limit_ms), compile)
            .await
            .map_err(|_| SandboxError::CompileTimeout { limit_ms })?
            .map_err(joined)??;
        self.compiled.fetch_add(1, Ordering::Relaxed);
        Ok(component)
    }
}

/// A blocking compile or load task that panicked or was cancelled.
fn joined(e: tokio::task::JoinError) -> SandboxError {
    SandboxError::Internal(e.to_string())
}
