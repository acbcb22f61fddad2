//! Golden vectors: the exact bytes and hashes of fixed sample messages.
//!
//! `tests/vectors/golden.json` pins the encoding. If this test fails, the wire format changed:
//! that is a protocol version bump. Regenerate deliberately with
//! `PEERHOST_BLESS=1 cargo test -p peerhost-protocol --test it vectors`.

use std::{collections::BTreeMap, path::PathBuf};

use peerhost_protocol::{codec, keccak256};
use serde_json::{Value, json};

use crate::samples;

fn current() -> BTreeMap<&'static str, Value> {
    let mut v = BTreeMap::new();
    let mut add = |name: &'static str, bytes: Vec<u8>| {
        v.insert(
            name,
            json!({ "cbor": hex::encode(&bytes), "keccak256": keccak256(&bytes).to_hex() }),
        );
    };
    add("canonical_request", codec::encode(&samples::canonical_request(br#"{"hello":"world"}"#)));
    add("execution_request", codec::encode(&samples::execution_request()));
    add("receipt", codec::encode(&samples::receipt()));
    add("delivery_result", codec::encode(&samples::delivery()));
    add("answer_receipt", codec::encode(&samples::answer_receipt()));
    add("delivery_declined", codec::encode(&samples::decline()));
    add("manifest", codec::encode(&samples::manifest()));
    add("signed_deployment", codec::encode(&samples::deployment()));
    add("announcement", codec::encode(&samples::announcement()));
    add("heartbeat", codec::encode(&samples::heartbeat()));
    add("published_heartbeat", codec::encode(&samples::published_heartbeat()));
    add("catalog_response", codec::encode(&samples::catalog()));
    add("epoch_summary", codec::encode(&samples::epoch_summary()));
    v.insert("request_id", json!(samples::execution_request().id().to_hex()));
    v.insert("bundle_hash", json!(samples::record().bundle.to_hex()));
    v.insert("bundle_cid", json!(samples::record().bundle.to_cid()));
    v
}

fn path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/golden.json")
}

#[test]
fn encodings_match_golden_vectors() {
    let now = serde_json::to_string_pretty(&current()).unwrap() + "\n";
    if std::env::var_os("PEERHOST_BLESS").is_some() {
        std::fs::write(path(), &now).unwrap();
        return;
    }
    let pinned = std::fs::read_to_string(path()).expect("golden vectors exist");
    let pinned: BTreeMap<String, Value> = serde_json::from_str(&pinned).unwrap();
    let now: BTreeMap<String, Value> = serde_json::from_str(&now).unwrap();
    for (name, value) in &pinned {
        assert_eq!(now.get(name), Some(value), "vector {name} changed: protocol version bump?");
    }
    assert_eq!(pinned.len(), now.len(), "vector set changed");
}

#[test]
fn golden_bytes_decode_to_the_samples() {
    let pinned = std::fs::read_to_string(path()).expect("golden vectors exist");
    let pinned: BTreeMap<String, Value> = serde_json::from_str(&pinned).unwrap();
    let bytes = |name: &str| hex::decode(pinned[name]["cbor"].as_str().unwrap()).unwrap();

    let request: peerhost_protocol::ExecutionRequest =
        codec::decode(&bytes("execution_request")).unwrap();
    assert_eq!(request, samples::execution_request());
    assert_eq!(request.id().to_hex(), pinned["request_id"].as_str().unwrap());

    let delivery: peerhost_protocol::Delivery = codec::decode(&bytes("delivery_result")).unwrap();
    let receipt = delivery.result.unwrap().verify(&request.id()).unwrap();
    assert_eq!(receipt, samples::receipt());

    let answer: peerhost_protocol::AnswerReceipt = codec::decode(&bytes("answer_receipt")).unwrap();
    assert_eq!(answer.verify(&samples::response().body).unwrap(), samples::receipt());

    let deployment: peerhost_protocol::SignedDeployment =
        codec::decode(&bytes("signed_deployment")).unwrap();
    assert_eq!(deployment.verify().unwrap(), samples::record());

    let published = peerhost_protocol::Published::open(
        &bytes("published_heartbeat"),
        peerhost_protocol::topics::WORKERS,
    )
    .unwrap();
    assert_eq!(published.publisher, samples::worker().public());
    let heartbeat: peerhost_protocol::Heartbeat = codec::decode(&published.data).unwrap();
    assert_eq!(heartbeat, samples::heartbeat());
}
