//! The engine configuration is part of the protocol: fuel accounting, NaN handling and code
//! generation decide result bytes and fuel, so workers on different configurations must never
//! vote on the same request. This test pins the whole configuration (every Cranelift flag,
//! every wasm feature, fuel, epochs, the allocator) against `engine-config.txt`, and the
//! wasmtime version against `ENGINE_ID`. A change fails here until it is reviewed and the pin
//! re-blessed (`PEERHOST_BLESS=1`) together with a new `ENGINE_ID`.

use peerhost_node::sandbox::{ENGINE_ID, SandboxConfig, engine_config};

#[test]
fn the_engine_configuration_is_pinned() {
    let pinned =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/engine-config.txt");
    let config = format!("{:#?}", engine_config(&SandboxConfig::default()));
    let actual = format!("{ENGINE_ID}\n{}\n", sorted_maps(&config));
    if std::env::var_os("PEERHOST_BLESS").is_some() {
        std::fs::write(&pinned, &actual).unwrap();
    }
    let expected = std::fs::read_to_string(&pinned).unwrap_or_default();
    assert!(
        actual == expected,
        "the engine configuration drifted from {}: review the change, bump ENGINE_ID, and \
         re-bless with PEERHOST_BLESS=1\n--- pinned\n{expected}\n--- actual\n{actual}",
        pinned.display()
    );
}

#[test]
fn the_engine_id_names_the_wasmtime_in_use() {
    let lock = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.lock");
    let lock = std::fs::read_to_string(lock).unwrap();
    let version = lock
        .split("[[package]]")
        .find(|p| p.contains("\nname = \"wasmtime\"\n"))
        .and_then(|p| p.lines().find_map(|l| l.strip_prefix("version = \"")))
        .map(|v| v.trim_end_matches('"'))
        .unwrap();
    assert!(
        ENGINE_ID.starts_with(&format!("wasmtime-{version}/")),
        "ENGINE_ID {ENGINE_ID} does not name wasmtime {version}"
    );
}

/// `Config`'s Debug prints Cranelift settings and flags from hash maps: sort each map's
/// entries so the text is stable.
fn sorted_maps(debug: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut map: Option<(usize, Vec<Vec<String>>)> = None;
    for line in debug.lines() {
        let indent = line.len() - line.trim_start().len();
        match &mut map {
            Some((base, entries)) if indent > *base => {
                if indent == *base + 4 && line.trim_start().starts_with('"') {
                    entries.push(Vec::new());
                }
                entries.last_mut().unwrap().push(line.to_owned());
            }
            Some(_) => {
                let (_, mut entries) = map.take().unwrap();
                entries.sort();
                out.extend(entries.into_iter().flatten());
                out.push(line.to_owned());
            }
            None => {
                out.push(line.to_owned());
                if line.ends_with(": {") {
                    map = Some((indent, Vec::new()));
                }
            }
        }
    }
    out.join("\n")
}
