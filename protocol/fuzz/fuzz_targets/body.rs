//! Request-body fetches and delivery acknowledgements.
#![no_main]

use libfuzzer_sys::fuzz_target;
use peerhost_protocol::{BodyRequest, BodyResponse, DeliveryAck, codec};

fuzz_target!(|data: &[u8]| {
    let _ = codec::decode::<BodyRequest>(data);
    let _ = codec::decode::<BodyResponse>(data);
    let _ = codec::decode::<DeliveryAck>(data);
});
