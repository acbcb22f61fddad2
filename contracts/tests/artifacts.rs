//! The committed artifacts the bindings compile from are exactly what the sources build to
//! (`scripts/setup` runs `forge build`; after changing a contract run
//! `contracts/tools/export-artifacts`).

#![allow(clippy::unwrap_used)]

use std::path::Path;

use peerhost_contracts::CONTRACTS;

#[test]
fn committed_artifacts_match_a_fresh_build() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for name in CONTRACTS {
        let built = root.join("out").join(format!("{name}.sol")).join(format!("{name}.json"));
        let built: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(&built)
                .unwrap_or_else(|_| panic!("{} missing: run scripts/setup", built.display())),
        )
        .unwrap();
        let committed = root.join("artifacts").join(format!("{name}.json"));
        let committed: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&committed).unwrap()).unwrap();
        assert_eq!(
            committed["abi"], built["abi"],
            "{name}: ABI is stale; run contracts/tools/export-artifacts"
        );
        assert_eq!(
            committed["bytecode"]["object"], built["bytecode"]["object"],
            "{name}: bytecode is stale; run contracts/tools/export-artifacts"
        );
    }
}
