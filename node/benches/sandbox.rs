//! The cost of one `wasi:http` request through the sandbox, in process: instantiate from the
//! pre-linked component, handle, read the body, drop the store — with fuel and epochs on.
//! Needs the guests (`scripts/build-guests`). `cargo bench -p peerhost-node --bench sandbox`.

#![allow(missing_docs, clippy::unwrap_used)]

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use peerhost_node::sandbox::{Invocation, Sandbox, SandboxConfig};
use peerhost_protocol::{BlobHash, Limits, RequestId};

fn bench(c: &mut Criterion) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let sandbox = Sandbox::new(SandboxConfig::default()).unwrap();
    for guest in ["fixture", "echo"] {
        let path = root.join("target/wasm/wasm32-wasip2/release").join(format!("{guest}.wasm"));
        let Ok(bytes) = std::fs::read(&path) else {
            eprintln!("skipping {guest}: {} missing (run scripts/build-guests)", path.display());
            continue;
        };
        let bytes = Bytes::from(bytes);
        let compiled =
            runtime.block_on(sandbox.prepare(BlobHash::of(&bytes), || bytes.clone())).unwrap();
        let invocation = Invocation {
            request_id: RequestId([9; 32]),
            method: "GET".into(),
            path_and_query: "/bench?name=peerhost".into(),
            headers: vec![],
            body: Bytes::new(),
            received_at_ms: 1_700_000_000_000,
            limits: Limits::default(),
        };
        c.bench_function(&format!("sandbox hello request ({guest})"), |b| {
            b.iter(|| {
                let execution = runtime.block_on(sandbox.invoke(&compiled, invocation.clone()));
                assert_eq!(execution.result.unwrap().status, 200);
            })
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
