//! Catalog sync requests and responses (every record verified as a receiver would).
#![no_main]

use libfuzzer_sys::fuzz_target;
use peerhost_protocol::{CatalogRequest, CatalogResponse, codec};

fuzz_target!(|data: &[u8]| {
    let _ = codec::decode::<CatalogRequest>(data);
    if let Ok(page) = codec::decode::<CatalogResponse>(data) {
        assert_eq!(codec::encode(&page), data);
        for deployment in &page.deployments {
            let _ = deployment.verify();
        }
    }
});
