//! `echo`: answers with what it received — method, path, query, headers and body — as JSON.
//!
//! A plain `wasi:http/proxy` component: it runs unchanged on `wasmtime serve`, Spin and
//! PeerHost.

use serde_json::{Map, Value, json};
use wstd::http::{Body, Error, Request, Response, StatusCode};

#[wstd::http_server]
async fn main(request: Request<Body>) -> Result<Response<Body>, Error> {
    let (parts, mut body) = request.into_parts();
    let bytes = body.contents().await?.to_vec();

    let query: Map<String, Value> = parts
        .uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) => (k.to_owned(), Value::from(v)),
            None => (pair.to_owned(), Value::from("")),
        })
        .collect();
    let headers: Map<String, Value> = parts
        .headers
        .iter()
        .map(|(name, value)| {
            (name.to_string(), Value::from(String::from_utf8_lossy(value.as_bytes())))
        })
        .collect();
    // A JSON body is echoed as JSON, anything else as text.
    let echoed = serde_json::from_slice::<Value>(&bytes)
        .unwrap_or_else(|_| Value::from(String::from_utf8_lossy(&bytes)));

    let reply = json!({
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "query": query,
        "headers": headers,
        "body": echoed,
        "body_bytes": bytes.len(),
    });
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .body(Body::from_json(&reply)?)?)
}
