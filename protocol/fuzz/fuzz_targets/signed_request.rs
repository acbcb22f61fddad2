//! Gossiped execution requests: envelope, signature, canonical payload, signer rule.
#![no_main]

use libfuzzer_sys::fuzz_target;
use peerhost_protocol::{SignedRequest, codec};

fuzz_target!(|data: &[u8]| {
    if let Ok((envelope, request)) = SignedRequest::open_request(data) {
        // Anything accepted is canonical: it re-encodes to the same bytes.
        assert_eq!(codec::encode(&envelope), data);
        let _ = request.id();
        let _ = request.inline_body_matches();
    }
});
