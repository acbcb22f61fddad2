//! The sandbox's costs, in process (no HTTP server, no mesh):
//! - `request/*`: one full `wasi:http` request — instantiate from the pre-linked component,
//!   handle, read the body, drop the store — with the worker's pinned engine (fuel and epochs
//!   on), for the Rust fixture (most of WASI imported, for its hostile modes), the `minimal`
//!   test guest (no std: a handful of `wasi:http` imports), the Rust `echo` example and the
//!   JavaScript `greet` example;
//! - `unmetered/*`: the same without fuel and epochs, the baseline for their overhead;
//! - `compile/*`: Cranelift compilation of the Rust components (the JavaScript one, 13 MB,
//!   is timed once and printed: a criterion sample of it would take minutes).
//!
//! Needs the guests (`scripts/build-guests`) and, for JavaScript, the toolchain
//! (`scripts/setup`). `cargo bench -p peerhost-node --bench sandbox`.

#![allow(missing_docs, clippy::unwrap_used, clippy::print_stderr, clippy::disallowed_methods)]

use std::time::Instant;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use peerhost_node::{
    deploy,
    sandbox::{Env, Invocation, Sandbox, SandboxConfig, engine_config},
};
use peerhost_protocol::{BlobHash, Limits, RequestId};

fn root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned()
}

/// The components to measure: (name, bytes, query).
fn guests(runtime: &tokio::runtime::Runtime) -> Vec<(&'static str, Bytes, &'static str)> {
    let mut guests = Vec::new();
    for (name, query) in [
        ("fixture", "/bench?mode=status&code=200"),
        ("minimal", "/bench"),
        ("echo", "/bench?name=peerhost"),
    ] {
        let path = root().join("target/wasm/wasm32-wasip2/release").join(format!("{name}.wasm"));
        match std::fs::read(&path) {
            Ok(bytes) => guests.push((name, Bytes::from(bytes), query)),
            Err(_) => {
                eprintln!("skipping {name}: {} missing (run scripts/build-guests)", path.display())
            }
        }
    }
    let js = runtime.block_on(async {
        let project = deploy::load(&root().join("examples/greet")).ok()?;
        let bundle = deploy::build(&project, true).await.ok()?;
        bundle.function("hello").map(|(_, bytes)| bytes.clone())
    });
    match js {
        Some(bytes) => guests.push(("greet-js", bytes, "/bench?name=peerhost")),
        None => eprintln!("skipping the JavaScript example: its build failed (run scripts/setup)"),
    }
    guests
}

fn invocation(query: &str) -> Invocation {
    Invocation {
        request_id: RequestId([9; 32]),
        method: "GET".into(),
        path_and_query: query.into(),
        headers: vec![],
        body: Bytes::new(),
        received_at_ms: 1_700_000_000_000,
        limits: Limits { memory_bytes: 128 << 20, fuel: 5_000_000_000, ..Limits::default() },
        allowed_hosts: Vec::new(),
        env: Env::default(),
    }
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let guests = guests(&runtime);
    let metered = Sandbox::new(SandboxConfig::default()).unwrap();
    let unmetered = Sandbox::unmetered(SandboxConfig::default()).unwrap();
    for (group, sandbox) in [("request", &metered), ("unmetered", &unmetered)] {
        for (name, bytes, query) in &guests {
            let started = Instant::now();
            let compiled =
                runtime.block_on(sandbox.prepare(BlobHash::of(bytes), || bytes.clone())).unwrap();
            if group == "request" {
                let took = started.elapsed();
                let mb = bytes.len() as f64 / 1e6;
                eprintln!(
                    "compile {name} ({mb:.2} MB, fuel and epochs on): {took:.2?}, {:.2} s per MB",
                    took.as_secs_f64() / mb
                );
            }
            let call = invocation(query);
            let first = runtime.block_on(sandbox.invoke(&compiled, call.clone()));
            assert_eq!(first.result.unwrap().status, 200, "{name} answers");
            c.bench_function(&format!("{group}/{name}"), |b| {
                b.iter(|| {
                    let execution = runtime.block_on(sandbox.invoke(&compiled, call.clone()));
                    assert_eq!(execution.result.unwrap().status, 200);
                })
            });
        }
    }

    let engine = wasmtime::Engine::new(&engine_config(&SandboxConfig::default())).unwrap();
    let mut compile = c.benchmark_group("compile");
    compile.sample_size(10);
    for (name, bytes, _) in guests.iter().filter(|(_, bytes, _)| bytes.len() < 4 << 20) {
        compile.bench_function(*name, |b| {
            b.iter(|| wasmtime::component::Component::new(&engine, bytes).unwrap())
        });
    }
    compile.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
