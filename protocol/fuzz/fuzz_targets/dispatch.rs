//! Execution requests as they arrive on a dispatch stream or on gossip (no envelope: the
//! transport or gossipsub authenticates the gateway), and audit orders for validators.
#![no_main]

use libfuzzer_sys::fuzz_target;
use peerhost_protocol::{ExecutionRequest, OrderResponse, codec};

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = codec::decode::<ExecutionRequest>(data) {
        assert_eq!(codec::encode(&request), data);
        let _ = request.inline_body_matches();
        let _ = request.id();
    }
    if let Ok(response) = codec::decode::<OrderResponse>(data) {
        assert_eq!(codec::encode(&response), data);
    }
});
