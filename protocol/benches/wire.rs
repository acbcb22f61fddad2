//! Micro-benchmarks of the wire format: what every gossiped request and every result costs
//! before any networking. `cargo bench -p peerhost-protocol`.

#![allow(missing_docs, clippy::unwrap_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use peerhost_protocol::*;
use std::hint::black_box;

fn order(body: &[u8]) -> ExecutionRequest {
    let gateway = NodeSecret::from_bytes(&[1; 32]);
    let raw = RawRequest {
        owner: "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266".parse().unwrap(),
        project: "hello",
        function: "echo",
        method: "POST",
        path: "/greet",
        query: Some("name=peerhost&lang=en"),
        headers: vec![("content-type", b"application/json"), ("user-agent", b"bench")],
        body,
    };
    let request = CanonicalRequest::build(&raw, gateway.public(), 7, 1_700_000_000_000).unwrap();
    ExecutionRequest {
        request,
        bundle: BlobHash::of(b"bundle"),
        version: 1,
        deadline_ms: 1_700_000_010_000,
        attempt: 0,
        racers: vec![NodeKey([2; 32]), NodeKey([3; 32])],
        reply_to: vec!["/ip4/127.0.0.1/tcp/4001".into()],
        body: Some(body.to_vec()),
    }
}

fn bench(c: &mut Criterion) {
    let body = br#"{"hello":"world"}"#;
    let order = order(body);
    let encoded = codec::encode(&order);

    c.bench_function("keccak256 64 B", |b| b.iter(|| keccak256(black_box(&[7u8; 64]))));
    c.bench_function("canonical request id", |b| b.iter(|| black_box(&order.request).id()));
    c.bench_function("encode execution request", |b| b.iter(|| codec::encode(black_box(&order))));
    c.bench_function("decode execution request (canonical check + validation)", |b| {
        b.iter(|| codec::decode::<ExecutionRequest>(black_box(&encoded)).unwrap())
    });

    let worker = NodeSecret::from_bytes(&[2; 32]);
    let response = HttpResponse { status: 200, headers: vec![], body: vec![b'x'; 256] };
    let receipt = Receipt {
        request_id: order.id(),
        result_hash: response.hash(),
        worker: worker.public(),
        fuel_used: 3_261,
        bundle: order.bundle,
    };
    let result = ExecutionResult {
        receipt: Envelope::seal(&worker, &receipt),
        response,
        chain_signature: None,
    };
    c.bench_function("verify result (receipt signature + response hash)", |b| {
        b.iter(|| black_box(&result).verify(&order.id()).unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
