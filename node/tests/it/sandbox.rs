//! The sandbox against the fixture guest: every failure is typed, the worker survives hostile
//! calls, and the same request gives byte-identical results.

use std::time::{Duration, Instant};

use bytes::Bytes;
use peerhost_node::sandbox::{
    CompileStats, Compiled, Invocation, Sandbox, SandboxConfig, SandboxError,
};
use peerhost_protocol::{BlobHash, Limits, RequestId};

use crate::guests::{self, fixture, prepare};

async fn sandbox() -> (Sandbox, std::sync::Arc<Compiled>) {
    let sandbox = guests::sandbox(4);
    let compiled = prepare(&sandbox, &fixture()).await;
    (sandbox, compiled)
}

fn call(query: &str, limits: Limits) -> Invocation {
    guests::call(query, b"body", limits)
}

/// Whether an error is the one a case expects.
type Expect = fn(&SandboxError) -> bool;

fn limits() -> Limits {
    Limits { fuel: 100_000_000, memory_bytes: 32 << 20, timeout_ms: 500, ..Limits::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_then_every_hostile_mode_then_echo_again() {
    let (sandbox, compiled) = sandbox().await;
    let ok = sandbox.invoke(&compiled, call("mode=echo", limits())).await;
    let response = ok.result.unwrap();
    assert_eq!((response.status, response.body.as_slice()), (200, &b"body"[..]));
    assert!(ok.fuel_used > 0);

    let cases: [(&str, Expect); 7] = [
        ("mode=trap", |e| matches!(e, SandboxError::Trap { .. })),
        ("mode=loop", |e| matches!(e, SandboxError::FuelExhausted)),
        ("mode=alloc&mb=64", |e| matches!(e, SandboxError::MemoryLimit)),
        ("mode=sleep&ms=5000", |e| matches!(e, SandboxError::DeadlineExceeded)),
        ("mode=big&bytes=9000000", |e| matches!(e, SandboxError::ResponseTooLarge { .. })),
        ("mode=noreply", |e| matches!(e, SandboxError::NoResponse)),
        ("mode=status&code=700", |e| matches!(e, SandboxError::InvalidResponse(_))),
    ];
    for (query, expected) in cases {
        // Only the sleeping guest meets the wall-clock deadline; every other case gets a long
        // one, so a busy machine cannot turn a fuel or memory verdict into a timeout.
        let limits = match query {
            "mode=sleep&ms=5000" => limits(),
            _ => Limits { timeout_ms: 20_000, ..limits() },
        };
        let started = Instant::now();
        let execution = sandbox.invoke(&compiled, call(query, limits)).await;
        let error = execution.result.expect_err(query);
        assert!(expected(&error), "{query}: got {error:?}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{query} took {:?}",
            started.elapsed()
        );
        // Every error renders as a JSON response with a status and a kind.
        let rendered = error.to_response();
        assert!(rendered.status >= 500);
        let body: serde_json::Value = serde_json::from_slice(&rendered.body).unwrap();
        assert_eq!(body["error"], error.kind());
    }

    let again = sandbox.invoke(&compiled, call("mode=echo", limits())).await;
    assert_eq!(again.result.unwrap().status, 200);
    assert_eq!(again.fuel_used, ok.fuel_used, "fuel is deterministic");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traps_carry_a_backtrace() {
    let (sandbox, compiled) = sandbox().await;
    let execution = sandbox.invoke(&compiled, call("mode=trap", limits())).await;
    let SandboxError::Trap { message, backtrace } = execution.result.unwrap_err() else {
        panic!("expected a trap");
    };
    assert!(message.contains("unreachable"), "{message}");
    assert!(backtrace.is_some_and(|b| b.contains("fixture")), "backtrace names the guest");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn randomness_and_clocks_come_from_the_request() {
    let (sandbox, compiled) = sandbox().await;
    let run = |id: u8| {
        let mut invocation = call("mode=entropy", limits());
        invocation.request_id = RequestId([id; 32]);
        let sandbox = &sandbox;
        let compiled = &compiled;
        async move { sandbox.invoke(compiled, invocation).await.result.unwrap().body }
    };
    let (a, b, c) = (run(1).await, run(1).await, run(2).await);
    assert_eq!(a, b, "same request, same bytes");
    assert_ne!(a, c, "different request, different randomness");
    let text = String::from_utf8(a.to_vec()).unwrap();
    let millis: u64 = text.split(' ').nth(1).unwrap().parse().unwrap();
    assert_eq!(millis, 1_700_000_000_000, "wall clock starts at the gateway's receive time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_components_are_refused() {
    let sandbox =
        Sandbox::new(SandboxConfig { max_instances: 1, ..SandboxConfig::default() }).unwrap();
    let junk = Bytes::from_static(b"\0asm\x0d\0\x01\0 definitely not a component");
    let error = sandbox.prepare(BlobHash::of(&junk), || junk.clone()).await.unwrap_err();
    assert!(matches!(error, SandboxError::BadComponent(_)), "{error:?}");
    let mut config = SandboxConfig { max_instances: 1, ..SandboxConfig::default() };
    config.max_component_bytes = 1024;
    let small = Sandbox::new(config).unwrap();
    let bytes = fixture();
    let error = small.prepare(BlobHash::of(&bytes), || bytes.clone()).await.unwrap_err();
    assert!(matches!(error, SandboxError::BadComponent(ref m) if m.contains("limit")), "{error:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compiled_components_are_cached_on_disk_and_shared() {
    let dir = tempfile::tempdir().unwrap();
    let config = || SandboxConfig {
        max_instances: 1,
        cache_dir: Some(dir.path().to_owned()),
        ..SandboxConfig::default()
    };
    let bytes = fixture();
    let hash = BlobHash::of(&bytes);
    // Two workers sharing the directory ask at once: one compiles, the other waits for it and
    // loads its artifact.
    let (a, b) = (Sandbox::new(config()).unwrap(), Sandbox::new(config()).unwrap());
    let (ra, rb) =
        tokio::join!(a.prepare(hash, || bytes.clone()), b.prepare(hash, || bytes.clone()));
    ra.unwrap();
    rb.unwrap();
    let (sa, sb) = (a.compile_stats(), b.compile_stats());
    assert_eq!(sa.compiled + sb.compiled, 1, "{sa:?} {sb:?}");
    assert_eq!(sa.loaded + sb.loaded, 1, "{sa:?} {sb:?}");
    let artifacts = || {
        std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "cwasm"))
            .collect::<Vec<_>>()
    };
    assert_eq!(artifacts().len(), 1, "one precompiled artifact");

    // A fresh sandbox loads it without the component bytes.
    let fresh = Sandbox::new(config()).unwrap();
    let compiled = fresh.prepare(hash, Bytes::new).await.unwrap();
    let execution = fresh.invoke(&compiled, call("mode=echo", limits())).await;
    assert_eq!(execution.result.unwrap().status, 200);
    assert_eq!(fresh.compile_stats().loaded, 1);

    // A damaged artifact is not trusted: the next worker compiles again and replaces it.
    // (Replaced by a rename, as the cache itself writes: the fresh sandbox above still maps
    // the old file, and truncating a mapped file in place would pull pages from under it.)
    let damaged = dir.path().join("damaged");
    std::fs::write(&damaged, b"not a precompiled component").unwrap();
    std::fs::rename(&damaged, &artifacts()[0]).unwrap();
    let repaired = Sandbox::new(config()).unwrap();
    let compiled = repaired.prepare(hash, || bytes.clone()).await.unwrap();
    let execution = repaired.invoke(&compiled, call("mode=echo", limits())).await;
    assert_eq!(execution.result.unwrap().status, 200);
    assert_eq!(repaired.compile_stats(), CompileStats { compiled: 1, loaded: 0 });
    assert!(std::fs::metadata(&artifacts()[0]).unwrap().len() > 1024, "artifact rewritten");
}
