//! Answer receipts as callers and `peerhost-node verify` decode them from a gateway's header.
#![no_main]

use libfuzzer_sys::fuzz_target;
use peerhost_protocol::{AnswerReceipt, codec};

fuzz_target!(|data: &[u8]| {
    if let Ok(answer) = codec::decode::<AnswerReceipt>(data) {
        assert_eq!(codec::encode(&answer), data);
        let _ = answer.verify(b"body");
    }
});
