//! JavaScript functions: `examples/greet` (a fetch-event handler) builds with componentize-js
//! into a `wasi:http` component that the sandbox runs deterministically, and a module that is
//! not JavaScript fails the build with componentize-js's message.

use std::time::Instant;

use peerhost_node::deploy::{self, DeployError};
use peerhost_protocol::{Limits, RequestId};

use crate::guests::{call, prepare, sandbox};

fn repo() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_javascript_example_builds_and_answers_deterministically() {
    let project = deploy::load(&repo().join("examples/greet")).unwrap();
    let bundle = deploy::build(&project, true).await.unwrap();
    let (spec, bytes) = bundle.function("hello").unwrap();
    assert!(spec.component_size > 1 << 20, "the component embeds the JavaScript engine");

    let sandbox = sandbox(4);
    let started = Instant::now();
    let compiled = prepare(&sandbox, bytes).await;
    eprintln!(
        "compiled {} MB of JavaScript component in {:?}",
        bytes.len() >> 20,
        started.elapsed()
    );
    let limits = Limits { memory_bytes: 128 << 20, fuel: 5_000_000_000, ..Limits::default() };

    let get = sandbox.invoke(&compiled, call("name=Ada", b"", limits)).await;
    let mut invocation = call("", br#"{"name":"Grace"}"#, limits);
    invocation.request_id = RequestId([7; 32]);
    let post = sandbox.invoke(&compiled, invocation.clone()).await;
    let again = sandbox.invoke(&compiled, invocation).await;

    let response = post.result.unwrap();
    assert_eq!(response.status, 200);
    let json: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(json["greeting"], "Hello, Grace!");
    assert_eq!(json["at"], "2023-11-14T22:13:20.000Z", "the clock is the request's receive time");
    let repeated = again.result.unwrap();
    assert_eq!(response.body, repeated.body, "same request, same bytes (random included)");
    assert_eq!(post.fuel_used, again.fuel_used, "same request, same fuel");
    // A GET is answered from the query string (`call` sends a POST with an empty body, which
    // is not JSON, so the function says so).
    let get = get.result.unwrap();
    assert_eq!(get.status, 400, "{}", String::from_utf8_lossy(&get.body));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_module_that_is_not_javascript_fails_the_build_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("functions")).unwrap();
    std::fs::write(dir.path().join("functions/broken.js"), "addEventListener('fetch', (e) => {")
        .unwrap();
    std::fs::write(dir.path().join("peerhost.toml"), "[project]\nname = \"broken\"\n").unwrap();
    let project = deploy::load(dir.path()).unwrap();
    let error = deploy::build(&project, true).await.unwrap_err();
    let DeployError::Build { function, message } = &error else { panic!("{error:?}") };
    assert_eq!(function, "broken");
    assert!(!message.is_empty(), "the build says why");
    eprintln!("{message}");
}
