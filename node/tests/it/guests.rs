//! Guests for the sandbox suites: the fixture component built by `scripts/build-guests`, and
//! hostile components written here as WAT, each a valid `wasi:http/proxy` component whose
//! handler runs a hostile core-wasm body.

use std::sync::Arc;

use bytes::Bytes;
use peerhost_node::sandbox::{Compiled, Env, Invocation, Sandbox, SandboxConfig};
use peerhost_protocol::{BlobHash, Limits, RequestId};

/// The fixture component (tests/guests/fixture).
pub(crate) fn fixture() -> Bytes {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let path = root.join("target/wasm/wasm32-wasip2/release/fixture.wasm");
    Bytes::from(
        std::fs::read(&path)
            .unwrap_or_else(|_| panic!("{} missing: run scripts/build-guests", path.display())),
    )
}

/// The same component with a custom section appended: identical code, a different hash, so
/// the sandbox treats it as another owner's component.
pub(crate) fn renamed(component: &[u8], tag: &str) -> Bytes {
    let mut payload = vec![tag.len() as u8];
    payload.extend_from_slice(tag.as_bytes());
    let mut bytes = component.to_vec();
    bytes.push(0); // custom section
    bytes.push(payload.len() as u8);
    bytes.extend_from_slice(&payload);
    Bytes::from(bytes)
}

/// A `wasi:http/proxy` component whose `handle` is the core function `handle` of `core`
/// (module fields in WAT). The request and outparam arrive as two `i32` handles.
pub(crate) fn hostile(core: &str) -> Bytes {
    let text = format!(
        r#"(component
  (import "wasi:http/types@0.2.0" (instance $types
    (export "incoming-request" (type (sub resource)))
    (export "response-outparam" (type (sub resource)))))
  (alias export $types "incoming-request" (type $request))
  (alias export $types "response-outparam" (type $outparam))
  (core module $guest {core})
  (core instance $guest (instantiate $guest))
  (func $handle (param "request" (own $request)) (param "response-out" (own $outparam))
    (canon lift (core func $guest "handle")))
  (instance $handler (export "handle" (func $handle)))
  (export "wasi:http/incoming-handler@0.2.0" (instance $handler)))"#
    );
    Bytes::from(wat::parse_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}")))
}

/// A sandbox of `instances` pool slots.
pub(crate) fn sandbox(instances: u32) -> Sandbox {
    Sandbox::new(SandboxConfig { max_instances: instances, ..SandboxConfig::default() }).unwrap()
}

/// Compiles `bytes` in `sandbox`.
pub(crate) async fn prepare(sandbox: &Sandbox, bytes: &Bytes) -> Arc<Compiled> {
    sandbox.prepare(BlobHash::of(bytes), || bytes.clone()).await.unwrap()
}

/// A POST of `body` to `/p?{query}`.
pub(crate) fn call(query: &str, body: &[u8], limits: Limits) -> Invocation {
    Invocation {
        request_id: RequestId([3; 32]),
        method: "POST".into(),
        path_and_query: format!("/p?{query}"),
        headers: vec![],
        body: Bytes::copy_from_slice(body),
        received_at_ms: 1_700_000_000_000,
        limits,
        allowed_hosts: Vec::new(),
        env: Env::default(),
    }
}
