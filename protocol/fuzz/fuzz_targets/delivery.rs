//! Direct result deliveries from workers, including receipt verification.
#![no_main]

use libfuzzer_sys::fuzz_target;
use peerhost_protocol::{Delivery, codec};

fuzz_target!(|data: &[u8]| {
    if let Ok(delivery) = codec::decode::<Delivery>(data) {
        assert_eq!(codec::encode(&delivery), data);
        if let Some(result) = &delivery.result {
            let _ = result.verify(&delivery.request_id);
        }
    }
});
