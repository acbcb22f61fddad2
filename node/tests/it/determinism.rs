//! The determinism contract: generated programs (wasm-smith) run in two differently configured
//! sandboxes — pooling allocator with optimized code vs on-demand allocation with unoptimized
//! code, everything else as the worker's pinned engine configuration — give identical results:
//! the same values (NaN bits included), the same trap kinds, the same fuel after every call,
//! and the same final memory and globals.

use arbitrary::Unstructured;
use peerhost_node::sandbox::{SandboxConfig, engine_config};
use rand::{RngExt as _, SeedableRng as _};
use wasmtime::{
    Engine, Extern, InstanceAllocationStrategy, Linker, Module, OptLevel, Store, StoreLimits,
    StoreLimitsBuilder, Trap, Val,
};

const FUEL: u64 = 2_000_000;

fn engines() -> [Engine; 2] {
    let config = SandboxConfig { max_instances: 4, ..SandboxConfig::default() };
    let pooled = engine_config(&config);
    let mut plain = engine_config(&config);
    plain
        .allocation_strategy(InstanceAllocationStrategy::OnDemand)
        .cranelift_opt_level(OptLevel::None);
    [Engine::new(&pooled).unwrap(), Engine::new(&plain).unwrap()]
}

/// Half the programs may trap anywhere; the other half are generated trap-free (so they run
/// further and return values).
fn smith_config(traps: bool) -> wasm_smith::Config {
    wasm_smith::Config {
        disallow_traps: !traps,
        max_imports: 0,
        export_everything: true,
        max_funcs: 12,
        max_instructions: 200,
        max_memory32_bytes: 4 << 20,
        max_table_elements: 1_000,
        memory64_enabled: false,
        threads_enabled: false,
        gc_enabled: false,
        exceptions_enabled: false,
        reference_types_enabled: false,
        min_funcs: 2,
        ..wasm_smith::Config::default()
    }
}

fn value(v: &Val) -> String {
    match v {
        Val::I32(x) => format!("i32:{x}"),
        Val::I64(x) => format!("i64:{x}"),
        Val::F32(bits) => format!("f32:{bits:#x}"),
        Val::F64(bits) => format!("f64:{bits:#x}"),
        Val::V128(x) => format!("v128:{:#x}", x.as_u128()),
        Val::FuncRef(f) => format!("funcref:{}", f.is_some()),
        Val::ExternRef(r) => format!("externref:{}", r.is_some()),
        other => format!("ref:{}", matches!(other, Val::AnyRef(Some(_)))),
    }
}

fn failure(e: &wasmtime::Error) -> String {
    match e.downcast_ref::<Trap>() {
        Some(trap) => format!("trap:{trap:?}"),
        None => format!("error:{}", format!("{e:#}").lines().next().unwrap_or_default()),
    }
}

/// Everything observable about running `wasm`: one line per step. Stops after a stack
/// overflow, whose depth (and so fuel and side effects) depends on frame sizes, which differ
/// between optimization levels; honest workers share one pinned level.
fn observe(engine: &Engine, wasm: &[u8]) -> Vec<String> {
    let module = match Module::new(engine, wasm) {
        Ok(module) => module,
        Err(e) => return vec![format!("compile:{}", failure(&e))],
    };
    let limits = StoreLimitsBuilder::new().memory_size(4 << 20).table_elements(10_000).build();
    let mut store: Store<StoreLimits> = Store::new(engine, limits);
    store.limiter(|l| l);
    store.set_fuel(FUEL).unwrap();
    store.set_epoch_deadline(u64::MAX / 2);
    let mut log = Vec::new();
    let fuel = |store: &Store<StoreLimits>| FUEL - store.get_fuel().unwrap();
    let instance = match Linker::new(engine).instantiate(&mut store, &module) {
        Ok(instance) => instance,
        Err(e) if matches!(e.downcast_ref::<Trap>(), Some(Trap::StackOverflow)) => {
            return vec![format!("instantiate:{} (stack-dependent)", failure(&e))];
        }
        Err(e) => {
            log.push(format!("instantiate:{} fuel:{}", failure(&e), fuel(&store)));
            return log;
        }
    };
    let exports: Vec<(String, Extern)> =
        instance.exports(&mut store).map(|e| (e.name().to_owned(), e.into_extern())).collect();
    for (name, export) in &exports {
        let Extern::Func(func) = export else { continue };
        let ty = func.ty(&store);
        let params: Option<Vec<Val>> = ty.params().map(|t| Val::default_for_ty(&t)).collect();
        let Some(params) = params else {
            log.push(format!("{name}: skipped (non-defaultable parameter)"));
            continue;
        };
        let mut results: Vec<Val> = ty.results().map(|_| Val::I32(0)).collect();
        let outcome = func.call(&mut store, &params, &mut results);
        let overflow = matches!(
            outcome.as_ref().err().and_then(|e| e.downcast_ref::<Trap>()),
            Some(Trap::StackOverflow)
        );
        match outcome {
            Ok(()) => {
                let values: Vec<String> = results.iter().map(value).collect();
                log.push(format!("{name}: {} fuel:{}", values.join(","), fuel(&store)));
            }
            Err(e) if overflow => {
                log.push(format!("{name}: {} (stack-dependent from here)", failure(&e)));
                return log;
            }
            Err(e) => log.push(format!("{name}: {} fuel:{}", failure(&e), fuel(&store))),
        }
    }
    for (name, export) in &exports {
        match export {
            Extern::Memory(memory) => {
                // std's SipHash: optimized even in test builds, and fixed within one process.
                let mut hasher = std::hash::DefaultHasher::new();
                std::hash::Hasher::write(&mut hasher, memory.data(&store));
                let hash = std::hash::Hasher::finish(&hasher);
                log.push(format!("memory {name}: {} bytes {hash}", memory.data_size(&store)));
            }
            Extern::Global(global) => {
                let v = global.get(&mut store);
                log.push(format!("global {name}: {}", value(&v)));
            }
            _ => {}
        }
    }
    log
}

#[test]
fn generated_programs_agree_across_allocators_and_optimization_levels() {
    let programs = if std::env::var_os("PEERHOST_SLOW").is_some() { 5_000 } else { 1_000 };
    let [pooled, plain] = engines();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0x5eed);
    let (mut ran, mut calls, mut traps, mut stack) = (0, 0, 0, 0);
    for n in 0..programs {
        let mut entropy = vec![0u8; 4096];
        rng.fill(&mut entropy[..]);
        let Ok(module) =
            wasm_smith::Module::new(smith_config(n % 2 == 0), &mut Unstructured::new(&entropy))
        else {
            continue;
        };
        let wasm = module.to_bytes();
        let (a, b) = (observe(&pooled, &wasm), observe(&plain, &wasm));
        assert_eq!(a, b, "program {n} differs between the two sandboxes");
        ran += 1;
        calls += a.iter().filter(|l| l.contains("fuel:")).count();
        traps += a.iter().filter(|l| l.contains("trap:")).count();
        stack += usize::from(a.iter().any(|l| l.contains("stack-dependent")));
    }
    eprintln!(
        "{ran} programs, {calls} calls, {traps} traps ({stack} stack overflows): identical in \
         both sandboxes"
    );
    assert!(ran >= programs * 9 / 10, "most generated programs ran ({ran} of {programs})");
    assert!(calls > ran / 2, "the programs export functions that were called");
}
