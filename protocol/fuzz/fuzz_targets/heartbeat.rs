//! Gossiped worker heartbeats.
#![no_main]

use libfuzzer_sys::fuzz_target;
use peerhost_protocol::{Heartbeat, codec};

fuzz_target!(|data: &[u8]| {
    if let Ok(heartbeat) = codec::decode::<Heartbeat>(data) {
        assert_eq!(codec::encode(&heartbeat), data);
    }
});
