//! Bundle manifests read from fetched bundles.
#![no_main]

use libfuzzer_sys::fuzz_target;
use peerhost_protocol::{BundleManifest, codec};

fuzz_target!(|data: &[u8]| {
    if let Ok(manifest) = codec::decode::<BundleManifest>(data) {
        assert_eq!(codec::encode(&manifest), data);
        let _ = manifest.bundle_hash();
    }
});
