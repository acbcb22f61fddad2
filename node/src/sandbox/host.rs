//! Per-request host state: the WASI and wasi:http contexts a guest sees, with deterministic
//! clocks and randomness, no filesystem, no sockets, and outbound HTTP only to the hosts an
//! effectful function allow-lists (checked again by [`super::outbound`]).

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use peerhost_protocol::RequestId;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{
    HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView,
};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::{
    outbound::Outbound,
    random::{RequestRng, seed},
};

/// How far each clock read advances the guest's clocks. Clocks derived from the request
/// (not the worker's clock) keep results identical across workers, and advancing on every
/// read keeps "wait until N ms passed" loops finite (fuel still bounds them).
const TICK_PER_READ: Duration = Duration::from_micros(1);

/// A clock that starts at a fixed instant and advances by [`TICK_PER_READ`] per read.
#[derive(Debug)]
struct StepClock {
    start: Duration,
    reads: AtomicU64,
}

impl StepClock {
    fn new(start: Duration) -> Self {
        Self { start, reads: AtomicU64::new(0) }
    }

    fn read(&self) -> Duration {
        let n = self.reads.fetch_add(1, Ordering::Relaxed);
        self.start + TICK_PER_READ * u32::try_from(n).unwrap_or(u32::MAX)
    }
}

impl HostWallClock for StepClock {
    fn resolution(&self) -> Duration {
        TICK_PER_READ
    }
    fn now(&self) -> Duration {
        self.read()
    }
}

impl HostMonotonicClock for StepClock {
    fn resolution(&self) -> u64 {
        TICK_PER_READ.as_nanos() as u64
    }
    fn now(&self) -> u64 {
        self.read().as_nanos() as u64
    }
}

/// Memory and table limits of one store; remembers whether the guest hit one, so the trap
/// that usually follows a failed allocation is reported as a memory limit.
pub(crate) struct Limiter {
    pub(crate) memory_bytes: usize,
    pub(crate) table_elements: usize,
    pub(crate) instances: usize,
    pub(crate) tables: usize,
    pub(crate) memories: usize,
    pub(crate) hit: bool,
}

impl wasmtime::ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let ok = desired <= self.memory_bytes && maximum.is_none_or(|m| desired <= m);
        self.hit |= !ok;
        Ok(ok)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let ok = desired <= self.table_elements && maximum.is_none_or(|m| desired <= m);
        self.hit |= !ok;
        Ok(ok)
    }

    fn instances(&self) -> usize {
        self.instances
    }

    fn tables(&self) -> usize {
        self.tables
    }

    fn memories(&self) -> usize {
        self.memories
    }
}

/// Everything a store holds for one request.
pub(crate) struct Host {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    hooks: Outbound,
    pub(crate) limiter: Limiter,
}

impl Host {
    /// Host state for one call: clocks start at `received_at_ms`, randomness is seeded from
    /// the request id (the generators on first use; the insecure seed is a value, so here),
    /// outbound HTTP goes through `outbound`.
    pub(crate) fn new(
        request_id: &RequestId,
        received_at_ms: u64,
        limiter: Limiter,
        outbound: Outbound,
        env: &super::invoke::Env,
    ) -> Self {
        let start = Duration::from_millis(received_at_ms);
        let insecure_seed = u128::from_be_bytes(
            seed(b"insecure-seed", request_id)[..16].try_into().expect("16 bytes"),
        );
        let wasi = WasiCtxBuilder::new()
            .wall_clock(StepClock::new(start))
            .monotonic_clock(StepClock::new(Duration::ZERO))
            .secure_random(RequestRng::new(b"secure", request_id))
            .insecure_random(RequestRng::new(b"insecure", request_id))
            .insecure_random_seed(insecure_seed)
            .envs(&env.0)
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        Self {
            wasi,
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            hooks: outbound,
            limiter,
        }
    }
}

impl WasiView for Host {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHttpView for Host {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.hooks }
    }
}
