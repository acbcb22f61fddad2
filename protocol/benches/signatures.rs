//! Is batch verification cheaper for the receipts a gateway checks? Receipts are verified
//! with `verify_strict`, the check every caller and dispute makes; ed25519-dalek's batch
//! equation is cofactorless with coefficients derived from the inputs alone, so a worker could
//! grind a receipt whose nonce point carries a torsion component that passes the batch and
//! fails `verify_strict` everywhere else. Keeping the batch as strict as one verification
//! needs each nonce point checked torsion-free. This measures the three side by side, per
//! signature. `cargo bench -p peerhost-protocol --bench signatures`.

#![allow(missing_docs, clippy::unwrap_used)]

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use curve25519_dalek::edwards::CompressedEdwardsY;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey, verify_batch};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    // A receipt's signed bytes are about this long (domain and canonical CBOR).
    let message = [7u8; 180];
    let keys: Vec<SigningKey> = (1..=16u8).map(|i| SigningKey::from_bytes(&[i; 32])).collect();
    let signatures: Vec<Signature> = keys.iter().map(|k| k.sign(&message)).collect();
    let verifying: Vec<VerifyingKey> = keys.iter().map(SigningKey::verifying_key).collect();

    let mut group = c.benchmark_group("ed25519 receipts");
    group.throughput(Throughput::Elements(1));
    group.bench_function("verify_strict, one", |b| {
        b.iter(|| verifying[0].verify_strict(black_box(&message), &signatures[0]).unwrap())
    });
    for n in [2usize, 4, 8, 16] {
        let messages: Vec<&[u8]> = vec![&message[..]; n];
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("verify_batch", n), &n, |b, &n| {
            b.iter(|| {
                verify_batch(black_box(&messages), &signatures[..n], &verifying[..n]).unwrap()
            })
        });
        group.bench_with_input(
            BenchmarkId::new("verify_batch + torsion-free nonce points", n),
            &n,
            |b, &n| {
                b.iter(|| {
                    verify_batch(black_box(&messages), &signatures[..n], &verifying[..n]).unwrap();
                    for signature in &signatures[..n] {
                        let r = CompressedEdwardsY(*signature.r_bytes()).decompress().unwrap();
                        assert!(r.is_torsion_free());
                    }
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
