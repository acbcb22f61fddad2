//! Gossiped deployment announcements, including owner signature recovery.
#![no_main]

use libfuzzer_sys::fuzz_target;
use peerhost_protocol::{Announcement, codec};

fuzz_target!(|data: &[u8]| {
    if let Ok(announcement) = codec::decode::<Announcement>(data) {
        assert_eq!(codec::encode(&announcement), data);
        let _ = announcement.deployment.verify();
    }
});
