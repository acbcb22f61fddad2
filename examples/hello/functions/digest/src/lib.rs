//! `digest`: real work on the request body. Returns its SHA-256, its size and, for JSON
//! bodies, a summary of the document (top-level keys, depth, number of values).
//!
//! `?rounds=N` (1 ≤ N ≤ 1,000,000) re-hashes the digest N times — a CPU-bound knob for load
//! tests.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use wstd::http::{Body, Error, Request, Response, StatusCode};

const MAX_ROUNDS: u64 = 1_000_000;

#[wstd::http_server]
async fn main(request: Request<Body>) -> Result<Response<Body>, Error> {
    let rounds = request
        .uri()
        .query()
        .unwrap_or("")
        .split('&')
        .find_map(|pair| pair.strip_prefix("rounds="))
        .map(str::parse::<u64>);
    let rounds = match rounds {
        None => 1,
        Some(Ok(n)) if (1..=MAX_ROUNDS).contains(&n) => n,
        Some(_) => {
            return reply(StatusCode::BAD_REQUEST, json!({"error": "rounds must be 1 to 1000000"}));
        }
    };

    let bytes = request.into_body().contents().await?.to_vec();
    let mut digest: [u8; 32] = Sha256::digest(&bytes).into();
    for _ in 1..rounds {
        digest = Sha256::digest(digest).into();
    }

    let json = serde_json::from_slice::<Value>(&bytes).ok().map(|doc| {
        let keys: Vec<&str> =
            doc.as_object().map(|o| o.keys().map(String::as_str).collect()).unwrap_or_default();
        json!({ "top_level_keys": keys, "depth": depth(&doc), "values": count(&doc) })
    });
    reply(
        StatusCode::OK,
        json!({ "bytes": bytes.len(), "sha256": hex(&digest), "rounds": rounds, "json": json }),
    )
}

fn reply(status: StatusCode, body: Value) -> Result<Response<Body>, Error> {
    Ok(Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from_json(&body)?)?)
}

fn depth(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        Value::Object(o) => 1 + o.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

fn count(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(count).sum::<usize>(),
        Value::Object(o) => 1 + o.values().map(count).sum::<usize>(),
        _ => 1,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
