//! Property tests: everything that encodes decodes to itself, and no input makes a decoder
//! panic.

use peerhost_protocol::*;
use proptest::prelude::*;

use crate::samples;

fn segment() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9=%._~-]{1,12}"
}

fn header() -> impl Strategy<Value = (String, Vec<u8>)> {
    (
        prop_oneof![
            Just("accept".to_owned()),
            Just("content-type".to_owned()),
            Just("Authorization".to_owned()),
            "x-[a-z]{1,8}",
            Just("connection".to_owned()),
        ],
        proptest::collection::vec(0x20u8..0x7f, 0..24),
    )
}

prop_compose! {
    fn canonical()(
        path in "(/[a-z0-9._~-]{0,8}){1,4}",
        query in proptest::collection::vec(segment(), 0..6),
        headers in proptest::collection::vec(header(), 0..6),
        body in proptest::collection::vec(any::<u8>(), 0..256),
        nonce in any::<u64>(),
        at in any::<u64>(),
        method in prop_oneof![Just("GET"), Just("POST"), Just("PUT"), Just("DELETE")],
    ) -> (CanonicalRequest, Vec<u8>) {
        let query = query.join("&");
        let headers: Vec<(&str, &[u8])> =
            headers.iter().map(|(n, v)| (n.as_str(), v.as_slice())).collect();
        let raw = RawRequest {
            owner: samples::wallet().owner(),
            project: "p",
            function: "f",
            method,
            path: &path,
            query: Some(&query),
            headers,
            body: &body,
        };
        (CanonicalRequest::build(&raw, samples::gateway().public(), nonce, at).unwrap(), body)
    }
}

proptest! {
    #[test]
    fn canonical_requests_round_trip((request, _) in canonical()) {
        let bytes = codec::encode(&request);
        prop_assert_eq!(codec::decode::<CanonicalRequest>(&bytes).unwrap(), request);
    }

    #[test]
    fn execution_requests_round_trip((request, body) in canonical(), attempt in 0u8..3) {
        let order = ExecutionRequest {
            request,
            bundle: BlobHash::of(b"b"),
            version: 1,
            deadline_ms: 10,
            attempt,
            racers: vec![],
            reply_to: vec![],
            body: Some(body),
        };
        let bytes = codec::encode(&order);
        let back: ExecutionRequest = codec::decode(&bytes).unwrap();
        prop_assert_eq!(back, order);
    }

    #[test]
    fn responses_round_trip(
        status in 100u16..600,
        body in proptest::collection::vec(any::<u8>(), 0..512),
        names in proptest::collection::vec("[a-z][a-z0-9-]{0,10}", 0..5),
    ) {
        let headers = names.into_iter().map(|name| Header { name, value: b"v".to_vec() }).collect();
        let response = HttpResponse { status, headers, body };
        let bytes = codec::encode(&response);
        prop_assert_eq!(codec::decode::<HttpResponse>(&bytes).unwrap(), response);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = codec::decode::<Delivery>(&bytes);
        let _ = codec::decode::<ExecutionRequest>(&bytes);
        let _ = codec::decode::<Heartbeat>(&bytes);
        let _ = codec::decode::<Announcement>(&bytes);
        let _ = codec::decode::<CatalogResponse>(&bytes);
        let _ = Published::open(&bytes, topics::WORKERS);
    }

    #[test]
    fn mutated_messages_fail_cleanly_or_stay_canonical(
        index in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let mut bytes = codec::encode(&samples::delivery());
        let i = index.index(bytes.len());
        bytes[i] = byte;
        if let Ok(delivery) = codec::decode::<Delivery>(&bytes) {
            prop_assert_eq!(codec::encode(&delivery), bytes);
        }
    }
}
