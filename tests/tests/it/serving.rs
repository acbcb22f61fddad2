//! Deploy then call: methods, queries, bodies small and large, routing errors.

use peerhost_tests::{TestNet, get, project, send};

const SETTINGS: &str = "[functions.small]\nmax_request_kb = 4\n";

async fn network() -> (TestNet, tempfile::TempDir) {
    let net = TestNet::start(2, |_| {}).await;
    let dir =
        project("demo", &[("echo", "echo"), ("raw", "fixture"), ("small", "fixture")], SETTINGS);
    net.deploy(dir.path()).await;
    (net, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_then_call() {
    let (net, _dir) = network().await;

    // GET with a query: the function sees path and query.
    let reply = get(&format!("{}/greet/en?name=peerhost&lang=en", net.url("demo", "echo"))).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let echo = reply.json();
    assert_eq!(echo["method"], "GET");
    assert_eq!(echo["path"], "/greet/en");
    assert_eq!(echo["query"]["name"], "peerhost");
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let request_id = reply.header("x-peerhost-request-id").expect("request id header");
    assert_eq!(request_id.len(), 64);
    let worker = reply.header("x-peerhost-worker").expect("worker header");
    let workers: Vec<String> = net.net.workers.iter().map(|w| w.peer_id().to_string()).collect();
    assert!(workers.iter().any(|w| w == worker), "{worker} is not one of {workers:?}");

    // POST with a JSON body and a custom header.
    let reply = send(
        "POST",
        &net.url("demo", "echo"),
        &[
            ("content-type", "application/json"),
            ("x-trace", "t-1"),
            ("x-forwarded-for", "10.0.0.1"),
        ],
        r#"{"hello":"world","n":[1,2,3]}"#,
    )
    .await;
    assert_eq!(reply.status, 200);
    let echo = reply.json();
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["body"]["hello"], "world");
    assert_eq!(echo["body"]["n"][2], 3);
    assert_eq!(echo["headers"]["x-trace"], "t-1");
    assert!(echo["headers"].get("x-forwarded-for").is_none(), "proxy headers are not forwarded");

    // Other methods pass through.
    for method in ["PUT", "DELETE", "PATCH"] {
        let reply = send(method, &net.url("demo", "echo"), &[], "x").await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.json()["method"], method);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_mebibyte_body_round_trips() {
    let (net, _dir) = network().await;
    // Not inlined in gossip: the racing worker fetches it from the gateway.
    let body: Vec<u8> =
        (0..(1u32 << 20)).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    let reply = send("POST", &net.url("demo", "raw"), &[], body.clone()).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body.len(), body.len());
    assert!(reply.body == body, "body changed in transit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routing_errors_are_json() {
    let (net, _dir) = network().await;
    let owner = net.net.owner().to_string();

    let reply = get(&net.url("demo", "nope")).await;
    assert_eq!(reply.status, 404);
    let error = reply.json();
    assert_eq!(error["error"], "not_found");
    assert_eq!(error["function"], "nope");
    assert_eq!(error["project"], "demo");

    let reply = get(&net.url("other", "echo")).await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.json()["project"], "other");

    let reply = get(&format!("{}/0x1234/demo/echo", net.net.gateway_url())).await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["error"], "bad_request");

    let reply = get(&format!("{}/{owner}/demo", net.net.gateway_url())).await;
    assert_eq!(reply.status, 400);

    // The function allows 4 KiB; the gateway refuses more without involving a worker.
    let reply = send("POST", &net.url("demo", "small"), &[], vec![0u8; 5 * 1024]).await;
    assert_eq!(reply.status, 413);
    assert_eq!(reply.json()["error"], "payload_too_large");
    let reply = send("POST", &net.url("demo", "small"), &[], vec![0u8; 4 * 1024]).await;
    assert_eq!(reply.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_form_addresses_the_owner() {
    let (net, _dir) = network().await;
    let owner = net.net.owner().to_string().to_lowercase();
    let url = format!("{}/demo/echo/x?y=1", net.net.gateway_url());
    let host = format!("{owner}.localhost");
    let reply = send("GET", &url, &[("host", &host)], "").await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.json()["path"], "/x");
}
