//! Effectful functions: outgoing `wasi:http` requests reach only the allow-listed hosts (local
//! HTTP servers on loopback stand in for APIs), and only at addresses the worker's policy lets
//! through: loopback is refused after name resolution and on every redirect hop unless the
//! operator opens its range; requests and response bytes per call are bounded. Refusals reach
//! the guest as typed `wasi:http` error codes, before any connection.

use std::{
    io::{Read, Write},
    net::TcpListener,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

use peerhost_node::sandbox::{OutboundPolicy, Sandbox, SandboxConfig};
use peerhost_protocol::Limits;

use crate::guests::{call, fixture, prepare};

/// An HTTP server on `ip` (port chosen by the system) answering every request with
/// `response`; returns `ip:port` and a count of the connections it accepted.
fn serve(ip: &str, response: Vec<u8>) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind((ip, 0)).unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().map_while(Result::ok) {
            counter.fetch_add(1, Ordering::SeqCst);
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let _ = stream.write_all(&response);
        }
    });
    (addr, hits)
}

fn pong() -> Vec<u8> {
    b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\nconnection: close\r\n\r\npong".to_vec()
}

fn redirect(to: &str) -> Vec<u8> {
    format!("HTTP/1.1 302 Found\r\nlocation: http://{to}/ping\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
        .into_bytes()
}

/// A sandbox whose outbound policy is `policy`.
fn sandbox(policy: OutboundPolicy) -> Sandbox {
    Sandbox::new(SandboxConfig {
        max_instances: 2,
        outbound: Arc::new(policy),
        ..SandboxConfig::default()
    })
    .unwrap()
}

/// Loopback's first address opened, as a test operator would.
fn loopback_allowed() -> OutboundPolicy {
    OutboundPolicy { allow: vec!["127.0.0.1/32".parse().unwrap()], ..OutboundPolicy::default() }
}

/// What the fixture reports for `mode=fetch&{query}` with `hosts` allow-listed.
async fn fetch(sandbox: &Sandbox, query: &str, hosts: &[&str]) -> String {
    let compiled = prepare(sandbox, &fixture()).await;
    let limits = Limits { timeout_ms: 10_000, ..Limits::default() };
    let mut invocation = call(&format!("mode=fetch&{query}"), b"", limits);
    invocation.allowed_hosts = hosts.iter().map(|h| (*h).to_owned()).collect();
    let response = sandbox.invoke(&compiled, invocation).await.result.unwrap();
    String::from_utf8(response.body).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_allow_listed_hosts_are_reachable() {
    let sandbox = sandbox(loopback_allowed());
    let (allowed, allowed_hits) = serve("127.0.0.1", pong());
    let (other, other_hits) = serve("127.0.0.1", pong());
    let to = |addr: &str| format!("to={addr}");

    assert_eq!(fetch(&sandbox, &to(&allowed), &[&allowed]).await, "status=200 body=pong");
    assert_eq!(allowed_hits.load(Ordering::SeqCst), 1);
    // A host entry without a port allows any port of that host.
    assert_eq!(fetch(&sandbox, &to(&allowed), &["127.0.0.1"]).await, "status=200 body=pong");

    // Another port of the same host, and a pure function: refused before any connection.
    let denied = "error=ErrorCode::HttpRequestDenied";
    assert_eq!(fetch(&sandbox, &to(&other), &[&allowed]).await, denied);
    assert_eq!(fetch(&sandbox, &to(&allowed), &[]).await, denied);
    assert_eq!(fetch(&sandbox, &to(&other), &["localhost"]).await, denied);
    assert_eq!(other_hits.load(Ordering::SeqCst), 0, "the other server was never reached");
    assert_eq!(allowed_hits.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_addresses_are_refused_after_resolution() {
    let sandbox = sandbox(OutboundPolicy::default());
    let (server, hits) = serve("127.0.0.1", pong());
    let port = server.rsplit_once(':').unwrap().1;
    let prohibited = "error=ErrorCode::DestinationIpProhibited";

    // The owner allow-lists loopback by address, or by a name resolving to it, or names the
    // cloud metadata service: the volunteer's policy refuses all three.
    assert_eq!(fetch(&sandbox, &format!("to={server}"), &[&server]).await, prohibited);
    let by_name = format!("localhost:{port}");
    assert_eq!(fetch(&sandbox, &format!("to={by_name}"), &[&by_name]).await, prohibited);
    assert_eq!(fetch(&sandbox, "to=169.254.169.254", &["169.254.169.254"]).await, prohibited);
    assert_eq!(fetch(&sandbox, "to=[fd00:ec2::254]", &["fd00:ec2::254"]).await, prohibited);
    assert_eq!(hits.load(Ordering::SeqCst), 0, "no connection was made");

    // The operator's switch opens exactly the range it names.
    let sandbox = self::sandbox(loopback_allowed());
    assert_eq!(
        fetch(&sandbox, &format!("to={by_name}"), &[&by_name]).await,
        "status=200 body=pong"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_redirect_hop_is_checked() {
    let sandbox = sandbox(loopback_allowed());
    let (inside, inside_hits) = serve("127.0.0.2", pong());
    let (fine, fine_hits) = serve("127.0.0.1", pong());
    let (to_inside, _) = serve("127.0.0.1", redirect(&inside));
    let (to_fine, _) = serve("127.0.0.1", redirect(&fine));
    let hosts = ["127.0.0.1", "127.0.0.2"];

    // The second hop is allow-listed by the owner but outside the operator's range.
    let query = format!("to={to_inside}&follow=3");
    assert_eq!(fetch(&sandbox, &query, &hosts).await, "error=ErrorCode::DestinationIpProhibited");
    assert_eq!(inside_hits.load(Ordering::SeqCst), 0);
    // The control: a redirect within the allowed range is followed.
    let query = format!("to={to_fine}&follow=3");
    assert_eq!(fetch(&sandbox, &query, &hosts).await, "status=200 body=pong");
    assert_eq!(fine_hits.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_and_response_bytes_are_bounded_per_call() {
    let policy = OutboundPolicy { max_requests: 3, max_response_bytes: 1000, ..loopback_allowed() };
    let sandbox = sandbox(policy);
    let (server, hits) = serve("127.0.0.1", pong());
    let outcomes = fetch(&sandbox, &format!("to={server}&times=4"), &["127.0.0.1"]).await;
    let ok = "status=200 body=pong";
    assert_eq!(outcomes, [ok, ok, ok, "error=ErrorCode::ConnectionLimitReached"].join(";"));
    assert_eq!(hits.load(Ordering::SeqCst), 3);

    // 600 bytes announced by content-length: the first fits, the second exceeds what is left.
    let sized = [
        b"HTTP/1.1 200 OK\r\ncontent-length: 600\r\nconnection: close\r\n\r\n".as_slice(),
        &[b'x'; 600],
    ]
    .concat();
    let (sized, _) = serve("127.0.0.1", sized);
    let outcomes = fetch(&sandbox, &format!("to={sized}&times=2"), &["127.0.0.1"]).await;
    assert_eq!(
        outcomes,
        "status=200 body=600 bytes;error=ErrorCode::HttpResponseBodySize(Some(400))"
    );

    // 2000 bytes without a length: the body is cut where the budget ends.
    let streamed =
        [b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n".as_slice(), &[b'y'; 2000]].concat();
    let (streamed, _) = serve("127.0.0.1", streamed);
    let outcome = fetch(&sandbox, &format!("to={streamed}"), &["127.0.0.1"]).await;
    assert!(outcome.starts_with("status=200 body=1000 bytes cut="), "{outcome}");
}
