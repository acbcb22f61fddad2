//! Guests in confined executor processes: what native code inside the confinement can do (as
//! if a guest had escaped wasmtime), calls through a pool of real `peerhost-node executor`
//! processes (effectful ones forwarded through the worker's outbound checks), a SIGKILLed
//! executor replaced with its call ending in a typed error, and a call whose executor is
//! killed mid-run answered anyway by the network.

use std::{
    collections::BTreeMap,
    io::{Read, Write},
    process::Command,
    sync::Arc,
    time::Duration,
};

use bytes::Bytes;
use peerhost_node::{
    executor::{ExecutorConfig, Runner},
    sandbox::{Env, Invocation, OutboundPolicy, SandboxConfig, SandboxError},
};
use peerhost_protocol::{BlobHash, Limits, RequestId};
use peerhost_tests::{TestNet, get, guest, poll_until, process::peerhost_bin, project};

fn executors(processes: usize) -> ExecutorConfig {
    ExecutorConfig { processes, program: peerhost_bin(), args: vec!["executor".into()] }
}

fn call(query: &str, allowed_hosts: &[&str]) -> Invocation {
    Invocation {
        request_id: RequestId([9; 32]),
        method: "GET".into(),
        path_and_query: format!("/p?{query}"),
        headers: vec![],
        body: Bytes::from_static(b"hello"),
        received_at_ms: 1_700_000_000_000,
        limits: Limits { timeout_ms: 20_000, ..Limits::default() },
        allowed_hosts: allowed_hosts.iter().map(|h| (*h).to_owned()).collect(),
        env: Env::default(),
    }
}

fn kill(pid: u32) {
    let status = Command::new("kill").args(["-9", &pid.to_string()]).status().unwrap();
    assert!(status.success());
}

#[test]
fn an_escaped_guest_can_open_no_socket_and_write_only_to_the_compile_cache() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("compiled");
    let out =
        Command::new(peerhost_bin()).args(["executor", "--probe"]).arg(&cache).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let report: BTreeMap<&str, &str> = text.lines().filter_map(|l| l.split_once(": ")).collect();
    for step in [
        "network namespace",
        "syscalls (seccomp)",
        "filesystem (landlock)",
        "open files",
        "address space",
    ] {
        assert_eq!(report.get(format!("step {step}").as_str()), Some(&"in force"), "{text}");
    }
    for attempt in ["tcp connect", "tcp listen", "udp bind", "unix socket", "spawn"] {
        assert_eq!(report.get(attempt), Some(&"EPERM"), "{attempt}: {text}");
    }
    assert_eq!(report.get("write /tmp"), Some(&"EACCES"), "{text}");
    assert_eq!(report.get("write cache"), Some(&"ok"), "{text}");
    assert!(cache.join("probe").is_file());
}

/// A one-response HTTP server on loopback.
fn pong_server() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().map_while(Result::ok) {
            let _ = stream.read(&mut [0u8; 4096]);
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\nconnection: close\r\n\r\npong",
            );
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_run_in_executors_and_a_killed_executor_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let policy =
        OutboundPolicy { allow: vec!["127.0.0.1/32".parse().unwrap()], ..Default::default() };
    let config = SandboxConfig {
        max_instances: 4,
        cache_dir: Some(dir.path().join("compiled")),
        outbound: Arc::new(policy),
        ..SandboxConfig::default()
    };
    let runner = Runner::start(config, Some(executors(2))).await.unwrap();
    let pool = runner.pool().unwrap().clone();
    assert!(pool.confinement().missing().next().is_none(), "{:?}", pool.confinement());
    assert_eq!(pool.pids().len(), 2);
    let bytes = Bytes::from(std::fs::read(guest("fixture")).unwrap());
    let prepared = runner.prepare(BlobHash::of(&bytes), || bytes.clone()).await.unwrap();

    let echo = runner.invoke(&prepared, call("mode=echo", &[])).await;
    assert_eq!(echo.result.unwrap().body, b"hello");
    assert!(echo.fuel_used > 0);

    // Effectful: the executor has no network; the worker sends the request after its own
    // checks, which still refuse what the operator did not open.
    let server = pong_server();
    let fetched =
        runner.invoke(&prepared, call(&format!("mode=fetch&to={server}"), &[&server])).await;
    assert_eq!(fetched.result.unwrap().body, b"status=200 body=pong");
    let port = server.rsplit_once(':').unwrap().1;
    let other = format!("127.0.0.2:{port}");
    let refused =
        runner.invoke(&prepared, call(&format!("mode=fetch&to={other}"), &[&other])).await;
    assert_eq!(refused.result.unwrap().body, b"error=ErrorCode::DestinationIpProhibited");

    // SIGKILL every executor while a call sleeps in one: the call ends at once, typed.
    let sleeping = tokio::spawn({
        let runner = Arc::new(runner);
        let (r, p) = (runner.clone(), prepared.clone());
        async move { (r.invoke(&p, call("mode=sleep&ms=15000", &[])).await, runner) }
    });
    poll_until("the call runs in an executor", Duration::from_secs(10), || async {
        (pool.in_flight() > 0).then_some(())
    })
    .await;
    for pid in pool.pids() {
        kill(pid);
    }
    let (killed, runner) =
        tokio::time::timeout(Duration::from_secs(10), sleeping).await.unwrap().unwrap();
    assert_eq!(killed.result.unwrap_err(), SandboxError::ExecutorLost);
    poll_until("both executors are replaced", Duration::from_secs(30), || async {
        (pool.replaced() >= 2 && pool.pids().len() == 2).then_some(())
    })
    .await;
    // The replacements load the component again (from the compile cache) and serve.
    let echo = runner.invoke(&prepared, call("mode=echo", &[])).await;
    assert_eq!(echo.result.unwrap().body, b"hello");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_whose_executor_is_killed_is_answered_by_the_network() {
    let net = TestNet::start(2, |options| {
        options.worker.executors = Some(executors(1));
        options.gateway.fast_racers = 1;
    })
    .await;
    let dir = project("sturdy", &[("raw", "fixture")], "");
    net.deploy(dir.path()).await;
    let url = net.url("sturdy", "raw");
    assert_eq!(get(&format!("{url}?mode=echo")).await.status, 200);

    let call = tokio::spawn(async move { get(&format!("{url}?mode=sleep&ms=3000")).await });
    let workers = &net.net.workers;
    let busy = poll_until("a worker's executor runs the call", Duration::from_secs(20), || async {
        workers.iter().find(|w| w.executors().unwrap().in_flight() > 0)
    })
    .await;
    for pid in busy.executors().unwrap().pids() {
        kill(pid);
    }
    // The worker declines at once, the gateway re-dispatches, and the caller gets the answer.
    let reply = tokio::time::timeout(Duration::from_secs(30), call).await.unwrap().unwrap();
    assert_eq!(reply.status, 200, "{}", String::from_utf8_lossy(&reply.body));
    assert_eq!(busy.executors().unwrap().replaced(), 1);
}
