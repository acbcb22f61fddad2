//! The hostile suite: components written to hurt the worker — endless loops (fuel and the
//! epoch must stop them), memory and table bombs, unbounded recursion, maximal bulk-memory
//! operations, an endless start function, reaches for the filesystem and the network, an
//! oversized response, a component that compiles too slowly. Each must end in its typed error
//! within its deadline plus a margin, and the worker must keep serving; a long mixed run must
//! leave no crash and no memory growth.

use std::time::{Duration, Instant};

use bytes::Bytes;
use peerhost_node::sandbox::{Sandbox, SandboxConfig, SandboxError};
use peerhost_protocol::{BlobHash, Limits};

use crate::guests::{call, fixture, hostile, prepare, sandbox};

/// Slack on top of a deadline: one epoch tick, one uninterruptible bulk-memory instruction, a
/// busy CI machine.
const MARGIN: Duration = Duration::from_millis(750);

const LOOP: &str = r#"(func (export "handle") (param i32 i32) (loop $l (br $l)))"#;
const MEMORY_BOMB: &str = r#"(memory 1)
  (func (export "handle") (param i32 i32)
    (loop $l (br_if $l (i32.ne (memory.grow (i32.const 16)) (i32.const -1))))
    unreachable)"#;
const TABLE_BOMB: &str = r#"(table $t 1 funcref)
  (func (export "handle") (param i32 i32)
    (loop $l (br_if $l (i32.ne (table.grow $t (ref.null func) (i32.const 1000)) (i32.const -1))))
    unreachable)"#;
const RECURSION: &str =
    r#"(func $r (export "handle") (param i32 i32) (call $r (local.get 0) (local.get 1)))"#;
/// Grows memory to 256 MiB, then fills all of it, forever: each instruction is one unit of
/// fuel but ~tens of milliseconds of work.
const FILL: &str = r#"(memory 1)
  (func (export "handle") (param i32 i32)
    (drop (memory.grow (i32.const 4095)))
    (loop $l
      (memory.fill (i32.const 0) (i32.const 7) (i32.mul (memory.size) (i32.const 65536)))
      (br $l)))"#;
const COPY: &str = r#"(memory 1)
  (func (export "handle") (param i32 i32)
    (drop (memory.grow (i32.const 4095)))
    (loop $l
      (memory.copy (i32.const 0) (i32.const 1)
        (i32.sub (i32.mul (memory.size) (i32.const 65536)) (i32.const 1)))
      (br $l)))"#;
const ENDLESS_START: &str = r#"(func $forever (loop $l (br $l)))
  (start $forever)
  (func (export "handle") (param i32 i32))"#;

fn limits(fuel: u64, timeout_ms: u64) -> Limits {
    Limits { fuel, memory_bytes: 32 << 20, timeout_ms, ..Limits::default() }
}

/// How a case must end.
#[derive(Debug, Clone, Copy)]
enum Verdict {
    Fuel,
    Deadline,
    Memory,
    StackOverflow,
    TooLarge,
}

impl Verdict {
    fn holds(self, error: &SandboxError) -> bool {
        match self {
            Self::Fuel => matches!(error, SandboxError::FuelExhausted),
            Self::Deadline => matches!(error, SandboxError::DeadlineExceeded),
            Self::Memory => matches!(error, SandboxError::MemoryLimit),
            Self::StackOverflow => {
                matches!(error, SandboxError::Trap { message, .. } if message.contains("stack"))
            }
            Self::TooLarge => matches!(error, SandboxError::ResponseTooLarge { .. }),
        }
    }
}

async fn run_case(
    sandbox: &Sandbox,
    name: &str,
    component: &Bytes,
    query: &str,
    limits: Limits,
    verdict: Verdict,
) {
    let compiled = prepare(sandbox, component).await;
    let started = Instant::now();
    let execution = sandbox.invoke(&compiled, call(query, b"", limits)).await;
    let took = started.elapsed();
    let error = execution.result.expect_err(name);
    assert!(verdict.holds(&error), "{name}: expected {verdict:?}, got {error:?}");
    assert!(
        took < Duration::from_millis(limits.timeout_ms) + MARGIN,
        "{name}: took {took:?}, deadline {} ms",
        limits.timeout_ms
    );
    if let Verdict::Deadline = verdict {
        assert!(took >= Duration::from_millis(limits.timeout_ms), "{name}: ended early ({took:?})");
    }
    let response = error.to_response();
    let body: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(body["error"], error.kind(), "{name}: JSON body names the error");
}

async fn still_serving(sandbox: &Sandbox, fixture: &Bytes) {
    let compiled = prepare(sandbox, fixture).await;
    let execution =
        sandbox.invoke(&compiled, call("mode=echo", b"alive", limits(1 << 30, 5_000))).await;
    let response = execution.result.expect("the worker keeps serving");
    assert_eq!((response.status, response.body.as_slice()), (200, &b"alive"[..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_hostile_component_ends_in_its_error_within_its_deadline() {
    let sandbox = sandbox(4);
    let fixture = fixture();
    let huge_fuel = SandboxConfig::default().caps.fuel;
    let bulk = Limits { memory_bytes: 256 << 20, ..limits(huge_fuel, 300) };
    let cases: Vec<(&str, Bytes, &str, Limits, Verdict)> = vec![
        ("endless loop, small fuel", hostile(LOOP), "", limits(100_000_000, 10_000), Verdict::Fuel),
        (
            "endless loop, fuel to spare",
            hostile(LOOP),
            "",
            limits(huge_fuel, 200),
            Verdict::Deadline,
        ),
        ("memory.grow bomb", hostile(MEMORY_BOMB), "", limits(1 << 30, 10_000), Verdict::Memory),
        ("table.grow bomb", hostile(TABLE_BOMB), "", limits(1 << 30, 10_000), Verdict::Memory),
        (
            "unbounded recursion",
            hostile(RECURSION),
            "",
            limits(1 << 30, 10_000),
            Verdict::StackOverflow,
        ),
        ("memory.fill of all memory, forever", hostile(FILL), "", bulk, Verdict::Deadline),
        ("memory.copy of all memory, forever", hostile(COPY), "", bulk, Verdict::Deadline),
        (
            "endless start function, small fuel",
            hostile(ENDLESS_START),
            "",
            limits(100_000_000, 10_000),
            Verdict::Fuel,
        ),
        (
            "endless start function, fuel to spare",
            hostile(ENDLESS_START),
            "",
            limits(huge_fuel, 200),
            Verdict::Deadline,
        ),
        (
            "Rust guest: endless loop",
            fixture.clone(),
            "mode=loop",
            limits(huge_fuel, 200),
            Verdict::Deadline,
        ),
        (
            "Rust guest: allocation bomb",
            fixture.clone(),
            "mode=alloc&mb=64",
            limits(1 << 30, 10_000),
            Verdict::Memory,
        ),
        (
            "Rust guest: oversized response",
            fixture.clone(),
            "mode=big&bytes=9000000",
            limits(1 << 30, 10_000),
            Verdict::TooLarge,
        ),
    ];
    for (name, component, query, limits, verdict) in cases {
        run_case(&sandbox, name, &component, query, limits, verdict).await;
        still_serving(&sandbox, &fixture).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_filesystem_and_sockets_are_out_of_reach() {
    let sandbox = sandbox(2);
    let compiled = prepare(&sandbox, &fixture()).await;
    let fs = sandbox.invoke(&compiled, call("mode=fs", b"", limits(1 << 30, 5_000))).await;
    let text = String::from_utf8(fs.result.unwrap().body).unwrap();
    assert!(!text.contains("Ok("), "no directory and no file is readable: {text}");

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let query = format!("mode=socket&addr={}", listener.local_addr().unwrap());
    let socket = sandbox.invoke(&compiled, call(&query, b"", limits(1 << 30, 5_000))).await;
    let text = String::from_utf8(socket.result.unwrap().body).unwrap();
    assert!(text.starts_with("Err("), "the connection is refused inside the guest: {text}");
    assert_eq!(
        listener.accept().map(|_| ()).unwrap_err().kind(),
        std::io::ErrorKind::WouldBlock,
        "nothing reached the listener"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_that_compiles_too_slowly_is_refused() {
    // The fixture is precompiled to disk first, so the strict sandbox loads it in well under
    // its compile limit.
    let dir = tempfile::tempdir().unwrap();
    let config = |max_compile_ms| SandboxConfig {
        max_instances: 2,
        max_compile_ms,
        cache_dir: Some(dir.path().to_owned()),
        ..SandboxConfig::default()
    };
    let fixture = fixture();
    prepare(&Sandbox::new(config(60_000)).unwrap(), &fixture).await;
    let strict = Sandbox::new(config(100)).unwrap();
    let serving = prepare(&strict, &fixture).await;

    // A function of 1,000,000 instructions: 3 MB on the wire, seconds to compile.
    let body = "(drop (i32.const 1))".repeat(1_000_000);
    let slow = hostile(&format!(r#"(func (export "handle") (param i32 i32) {body})"#));
    let started = Instant::now();
    let error = strict.prepare(BlobHash::of(&slow), || slow.clone()).await.unwrap_err();
    assert_eq!(error, SandboxError::CompileTimeout { limit_ms: 100 });
    assert!(started.elapsed() < Duration::from_millis(100) + MARGIN, "refused at the limit");
    assert_eq!(error.to_response().status, 502);
    // Asking again gets the same verdict at once, without a second compilation.
    let again = strict.prepare(BlobHash::of(&slow), || slow.clone()).await.unwrap_err();
    assert_eq!(again, error);

    // Requests to compiled components are served meanwhile.
    let execution =
        strict.invoke(&serving, call("mode=echo", b"alive", limits(1 << 30, 5_000))).await;
    assert_eq!(execution.result.unwrap().body, b"alive");
}

/// Resident memory of this process, in bytes.
fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_mixed_hostile_runs_leave_the_worker_whole() {
    let runs = 10_000;
    let sandbox = sandbox(4);
    let fixture = fixture();
    let small = limits(1_000_000, 10_000);
    let mix: Vec<(Bytes, &str, Limits, Verdict)> = vec![
        (hostile(LOOP), "", small, Verdict::Fuel),
        (hostile(MEMORY_BOMB), "", Limits { memory_bytes: 4 << 20, ..small }, Verdict::Memory),
        (hostile(TABLE_BOMB), "", small, Verdict::Memory),
        (hostile(RECURSION), "", small, Verdict::StackOverflow),
        (hostile(ENDLESS_START), "", small, Verdict::Fuel),
        (
            fixture.clone(),
            "mode=alloc&mb=8",
            Limits { memory_bytes: 4 << 20, ..limits(1 << 30, 10_000) },
            Verdict::Memory,
        ),
        (
            fixture.clone(),
            "mode=big&bytes=100000",
            Limits { max_response_bytes: 65_536, ..limits(1 << 30, 10_000) },
            Verdict::TooLarge,
        ),
    ];
    let mut compiled = Vec::new();
    for (component, ..) in &mix {
        compiled.push(prepare(&sandbox, component).await);
    }
    let epoch = prepare(&sandbox, &hostile(LOOP)).await;
    let started = Instant::now();
    let mut baseline = 0;
    for i in 0..runs {
        let (invocation, verdict, compiled) = if i % 500 == 499 {
            (call("", b"", limits(u64::MAX >> 8, 5)), Verdict::Deadline, &epoch)
        } else {
            let k = i % mix.len();
            let (_, query, limits, verdict) = &mix[k];
            (call(query, b"", *limits), *verdict, &compiled[k])
        };
        let error = sandbox.invoke(compiled, invocation).await.result.unwrap_err();
        assert!(verdict.holds(&error), "run {i}: expected {verdict:?}, got {error:?}");
        if i == runs / 5 {
            baseline = resident_bytes();
        }
    }
    still_serving(&sandbox, &fixture).await;
    let end = resident_bytes();
    eprintln!(
        "{runs} hostile runs in {:?}; resident {} MiB after {} runs, {} MiB at the end",
        started.elapsed(),
        baseline >> 20,
        runs / 5,
        end >> 20
    );
    assert!(end <= baseline + baseline / 20, "resident memory grew from {baseline} to {end} bytes");
}
