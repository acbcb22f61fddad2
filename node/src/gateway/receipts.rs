//! Receipts callers can check: every answer carries the winning worker's signed receipt
//! (`x-peerhost-receipt`), and `GET /receipts/<request id>` serves it again with, once its
//! epoch is anchored, the Merkle proof that puts it under the root on the chain.

use std::{
    collections::{HashMap, VecDeque},
    sync::Mutex,
};

use axum::{
    Json,
    http::{HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use data_encoding::BASE64;
use peerhost_protocol::{AnswerReceipt, RequestId, codec};
use serde_json::json;

/// The response header that carries the receipt: base64 of its canonical CBOR.
pub(crate) const RECEIPT_HEADER: &str = "x-peerhost-receipt";
/// The response header naming where the receipt is when it is too large for a header.
pub(crate) const RECEIPT_URL_HEADER: &str = "x-peerhost-receipt-url";
/// Bytes of receipts kept for `GET /receipts/<id>` (the oldest go first).
const KEPT_BYTES: usize = 64 << 20;
/// Largest receipt sent as a header; a larger one (a function that returns many headers)
/// is only served at `/receipts/<id>`, which `x-peerhost-receipt-url` names instead.
const MAX_HEADER_BYTES: usize = 8 * 1024;

/// The receipts of recent answers, by request id.
#[derive(Debug, Default)]
pub(crate) struct Receipts {
    kept: Mutex<Kept>,
}

#[derive(Debug, Default)]
struct Kept {
    by_id: HashMap<RequestId, AnswerReceipt>,
    order: VecDeque<(RequestId, usize)>,
    bytes: usize,
}

impl Receipts {
    /// Keeps the receipt of an answer to `id`, within a byte budget (a function that returns
    /// large headers makes its receipts large: they age out sooner, never without bound).
    pub(crate) fn keep(&self, id: RequestId, receipt: AnswerReceipt) {
        let size = size_of(&receipt);
        let mut kept = self.kept.lock().expect("receipts lock");
        if kept.by_id.insert(id, receipt).is_none() {
            kept.order.push_back((id, size));
            kept.bytes += size;
        }
        while kept.bytes > KEPT_BYTES {
            let Some((old, size)) = kept.order.pop_front() else { break };
            kept.by_id.remove(&old);
            kept.bytes -= size;
        }
    }

    /// The receipt of the answer to `id`, if still kept.
    pub(crate) fn get(&self, id: &RequestId) -> Option<AnswerReceipt> {
        self.kept.lock().expect("receipts lock").by_id.get(id).cloned()
    }
}

/// About how much memory a kept receipt takes.
fn size_of(receipt: &AnswerReceipt) -> usize {
    let headers: usize = receipt.headers.iter().map(|h| h.name.len() + h.value.len() + 48).sum();
    let request: usize =
        receipt.request.headers.iter().map(|h| h.name.len() + h.value.len() + 48).sum();
    512 + headers + request + receipt.request.path.len() + receipt.request.query.len() * 32
}

/// The receipt as a header value, or `None` when it is too large to be one.
pub(crate) fn header_value(receipt: &AnswerReceipt) -> Option<HeaderValue> {
    let encoded = BASE64.encode(&codec::encode(receipt));
    (encoded.len() <= MAX_HEADER_BYTES).then(|| HeaderValue::from_str(&encoded).ok()).flatten()
}

/// `GET /receipts/<id>`: the receipt, and its inclusion proof once anchored (`anchor`, `null`
/// before). 404 `unknown_receipt` for receipts this gateway does not hold.
pub(crate) fn serve(
    id: RequestId,
    receipt: Option<AnswerReceipt>,
    anchor: serde_json::Value,
) -> Response {
    let Some(receipt) = receipt else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({
                "error": "unknown_receipt",
                "message": format!("this gateway holds no receipt of request {}", id.to_hex()),
            })),
        )
            .into_response();
    };
    let opened = receipt.receipt.open().ok();
    Json(json!({
        "request_id": id.to_hex(),
        "receipt": BASE64.encode(&codec::encode(&receipt)),
        "worker": crate::mesh::peer_id(&receipt.receipt.signer).map(|p| p.to_string()),
        "result_hash": opened.as_ref().map(|r| format!("0x{}", r.result_hash.to_hex())),
        "fuel_used": opened.as_ref().map(|r| r.fuel_used),
        "anchor": anchor,
    }))
    .into_response()
}
