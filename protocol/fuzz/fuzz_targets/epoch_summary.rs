//! Gossiped epoch summaries (anchored leaves and audited receipts).
#![no_main]

use libfuzzer_sys::fuzz_target;
use peerhost_protocol::{EpochSummary, codec};

fuzz_target!(|data: &[u8]| {
    if let Ok(summary) = codec::decode::<EpochSummary>(data) {
        assert_eq!(codec::encode(&summary), data);
    }
});
