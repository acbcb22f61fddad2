//! Gossip messages as received: decoding and the publisher-signature check.
#![no_main]

use libfuzzer_sys::fuzz_target;
use peerhost_protocol::{Published, codec, topics};

fuzz_target!(|data: &[u8]| {
    if let Ok(published) = codec::decode::<Published>(data) {
        assert_eq!(codec::encode(&published), data);
        // A decodable message either verifies for the topic or is refused; never a panic.
        let _ = Published::open(data, topics::WORKERS);
    }
});
