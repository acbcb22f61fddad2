//! Hostile inputs get typed errors.

use peerhost_protocol::*;

use crate::samples;

#[test]
fn truncated_messages_are_malformed() {
    let bytes = codec::encode(&samples::execution_request());
    for cut in [0, 1, bytes.len() / 2, bytes.len() - 1] {
        let err = codec::decode::<ExecutionRequest>(&bytes[..cut]).unwrap_err();
        assert!(matches!(err, DecodeError::Malformed(_)), "cut {cut}: {err}");
    }
}

#[test]
fn oversized_gossip_is_refused_before_parsing() {
    let bytes = vec![0u8; <ExecutionRequest as Wire>::MAX_BYTES + 1];
    assert!(matches!(codec::decode::<ExecutionRequest>(&bytes), Err(DecodeError::TooLarge { .. })));
}

#[test]
fn string_keyed_encoding_is_refused() {
    // serde_cbor's default (non-packed) form uses field names as keys.
    let bytes = serde_cbor::to_vec(&samples::heartbeat()).unwrap();
    assert!(codec::decode::<Heartbeat>(&bytes).is_err());
}

#[test]
fn heartbeat_mesh_addresses_are_bounded() {
    let refused = |mesh_addrs: Vec<String>| {
        let heartbeat = Heartbeat { mesh_addrs, ..samples::heartbeat() };
        matches!(
            codec::decode::<Heartbeat>(&codec::encode(&heartbeat)),
            Err(DecodeError::Invalid(_))
        )
    };
    assert!(refused(vec!["/ip4/127.0.0.1/tcp/1".into(); MAX_ADDRS + 1]));
    assert!(refused(vec![format!("/dns/{}", "a".repeat(MAX_MESH_ADDR_LEN))]));
    assert!(refused(vec!["127.0.0.1:4001".into()]), "not a multiaddr");
    assert!(!refused(vec!["/ip4/127.0.0.1/tcp/1".into(); MAX_ADDRS]));
}

#[test]
fn inline_body_must_match_its_length_and_hash() {
    let mut order = samples::execution_request();
    order.body = Some(b"something else entirely".to_vec());
    let bytes = codec::encode(&order);
    assert!(matches!(codec::decode::<ExecutionRequest>(&bytes), Err(DecodeError::Invalid(_))));

    let mut order = samples::execution_request();
    let mut body = order.body.take().unwrap();
    body[0] ^= 1; // same length, different bytes
    order.body = Some(body);
    assert!(!order.inline_body_matches());
}

#[test]
fn results_must_match_request_and_receipt() {
    let request_id = samples::execution_request().id();
    let mut result = samples::result();
    result.response.body.push(b'!');
    assert_eq!(result.verify(&request_id), Err(ResultError::HashMismatch));
    let result = samples::result();
    assert_eq!(result.verify(&RequestId([0; 32])), Err(ResultError::WrongRequest));
}

#[test]
fn delivery_needs_exactly_one_outcome() {
    let mut d = samples::decline();
    d.result = Some(samples::result());
    let bytes = codec::encode(&d);
    assert!(matches!(codec::decode::<Delivery>(&bytes), Err(DecodeError::Invalid(_))));
    let d = Delivery { request_id: RequestId([0; 32]), result: None, declined: None };
    assert!(matches!(codec::decode::<Delivery>(&codec::encode(&d)), Err(DecodeError::Invalid(_))));
}

#[test]
fn epoch_summaries_are_bounded() {
    let summary = samples::epoch_summary();
    assert_eq!(codec::decode::<EpochSummary>(&codec::encode(&summary)).unwrap(), summary);

    // An audit-only summary anchors nothing but still puts receipts up for re-execution.
    let mut audit_only = summary.clone();
    audit_only.leaves.clear();
    assert_eq!(codec::decode::<EpochSummary>(&codec::encode(&audit_only)).unwrap(), audit_only);

    let mut empty = audit_only;
    empty.audits.clear();
    let err = codec::decode::<EpochSummary>(&codec::encode(&empty)).unwrap_err();
    assert!(matches!(err, DecodeError::Invalid(_)), "{err}");

    let mut crowded = summary;
    crowded.audits = vec![crowded.audits[0].clone(); MAX_AUDITS + 1];
    let err = codec::decode::<EpochSummary>(&codec::encode(&crowded)).unwrap_err();
    assert!(matches!(err, DecodeError::Invalid(_) | DecodeError::TooLarge { .. }), "{err}");
}

#[test]
fn an_answer_receipt_fails_for_any_other_body_head_or_signer() {
    let answer = samples::answer_receipt();
    let body = samples::response().body;
    assert_eq!(answer.verify(&body).unwrap(), samples::receipt());

    let mut tampered = body.clone();
    tampered.push(b'!');
    assert_eq!(answer.verify(&tampered), Err(ResultError::HashMismatch));

    let mut status = answer.clone();
    status.status = 201;
    assert_eq!(status.verify(&body), Err(ResultError::HashMismatch));

    let mut headers = answer.clone();
    headers.headers.pop();
    assert_eq!(headers.verify(&body), Err(ResultError::HashMismatch));

    // Signed by someone else than the receipt's worker.
    let mut forged = answer.clone();
    forged.receipt = Envelope::seal(&NodeSecret::from_bytes(&[0x44; 32]), &samples::receipt());
    assert_eq!(forged.verify(&body), Err(ResultError::WrongSigner));

    // Another call's request: the receipt is not for it.
    let mut other = answer.clone();
    other.request.nonce += 1;
    assert_eq!(other.verify(&body), Err(ResultError::WrongRequest));

    let mut bad = answer;
    bad.receipt.signature.0[3] ^= 1;
    assert!(matches!(bad.verify(&body), Err(ResultError::Receipt(_))));
}
