//! Effectful functions: outgoing `wasi:http` requests reach only the allow-listed hosts (a
//! local HTTP server on loopback stands in for an API); any other host is refused inside the
//! guest with `ErrorCode::HttpRequestDenied`, and pure functions (empty allow-list) reach nothing.

use std::{
    io::{Read, Write},
    net::TcpListener,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

use peerhost_protocol::Limits;

use crate::guests::{call, fixture, prepare, sandbox};

/// A one-route HTTP server on loopback answering `pong`; counts the connections it accepts.
fn server() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().map_while(Result::ok) {
            counter.fetch_add(1, Ordering::SeqCst);
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\nconnection: close\r\n\r\npong",
            );
        }
    });
    (addr, hits)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_allow_listed_hosts_are_reachable() {
    let sandbox = sandbox(2);
    let compiled = prepare(&sandbox, &fixture()).await;
    let (allowed, allowed_hits) = server();
    let (other, other_hits) = server();
    let limits = Limits { timeout_ms: 10_000, ..Limits::default() };
    let fetch = |to: &str, hosts: &[&str]| {
        let mut invocation = call(&format!("mode=fetch&to={to}"), b"", limits);
        invocation.allowed_hosts = hosts.iter().map(|h| (*h).to_owned()).collect();
        let (sandbox, compiled) = (&sandbox, &compiled);
        async move {
            let response = sandbox.invoke(compiled, invocation).await.result.unwrap();
            String::from_utf8(response.body).unwrap()
        }
    };

    assert_eq!(fetch(&allowed, &[&allowed]).await, "status=200 body=pong");
    assert_eq!(allowed_hits.load(Ordering::SeqCst), 1);
    // A host entry without a port allows any port of that host.
    assert_eq!(fetch(&allowed, &["127.0.0.1"]).await, "status=200 body=pong");

    // Another port of the same host, and a pure function: refused before any connection.
    assert_eq!(fetch(&other, &[&allowed]).await, "error=ErrorCode::HttpRequestDenied");
    assert_eq!(fetch(&allowed, &[]).await, "error=ErrorCode::HttpRequestDenied");
    assert_eq!(fetch(&other, &["localhost"]).await, "error=ErrorCode::HttpRequestDenied");
    assert_eq!(other_hits.load(Ordering::SeqCst), 0, "the other server was never reached");
    assert_eq!(allowed_hits.load(Ordering::SeqCst), 2);
}
