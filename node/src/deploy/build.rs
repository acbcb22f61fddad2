//! Turning a [`Project`] into a [`Bundle`]: build Rust crates with cargo for
//! `wasm32-wasip2` and JavaScript modules with componentize-js, read prebuilt components,
//! check each is a component.

use std::{path::Path, process::Stdio};

use bytes::Bytes;
use peerhost_protocol::{BlobHash, BundleManifest, FunctionSpec};

use super::{DeployError, Project, Source};
use crate::blobs::Bundle;

/// The target Rust functions are built for.
pub const RUST_TARGET: &str = "wasm32-wasip2";

/// A component's preamble: `\0asm`, then the component-model version and layer.
const COMPONENT_PREAMBLE: [u8; 8] = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];

/// Builds every function and assembles the bundle.
///
/// # Errors
///
/// [`DeployError::Build`] with cargo's or componentize-js's message, [`DeployError::NotAComponent`] for core
/// modules or other files, [`DeployError::Io`] for unreadable files.
pub async fn build(project: &Project, quiet: bool) -> Result<Bundle, DeployError> {
    let mut functions = Vec::with_capacity(project.functions.len());
    let mut components = Vec::with_capacity(project.functions.len());
    for function in &project.functions {
        let path = match &function.source {
            Source::Wasm(path) => path.clone(),
            Source::Crate(dir) => cargo_build(&function.name, dir, quiet).await?,
            Source::JavaScript(file) => {
                super::javascript::build(&function.name, file, &project.dir, quiet).await?
            }
        };
        let bytes = std::fs::read(&path)
            .map_err(|source| DeployError::Io { path: path.clone(), source })?;
        if !bytes.starts_with(&COMPONENT_PREAMBLE) {
            return Err(DeployError::NotAComponent { function: function.name.clone(), path });
        }
        functions.push(FunctionSpec {
            name: function.name.clone(),
            component: BlobHash::of(&bytes),
            component_size: bytes.len() as u64,
            limits: function.limits,
            tier: function.tier,
            price: function.price,
            description: function.description.clone(),
            input_schema: function.input_schema.clone(),
            effectful: function.effectful,
            allowed_hosts: function.allowed_hosts.clone(),
            secrets: function.secrets.clone(),
            min_bond: function.min_bond,
            tiers: function.tiers.clone(),
        });
        components.push(Bytes::from(bytes));
    }
    let manifest = BundleManifest { project: project.name.clone(), functions };
    peerhost_protocol::Wire::validate(&manifest)
        .map_err(|e| DeployError::Settings { reason: e.to_string() })?;
    Bundle::new(manifest, components).map_err(|e| DeployError::Settings { reason: e.to_string() })
}

/// Runs `cargo build --release --target wasm32-wasip2` in `dir` and returns the component.
async fn cargo_build(
    function: &str,
    dir: &Path,
    quiet: bool,
) -> Result<std::path::PathBuf, DeployError> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest = dir.join("Cargo.toml");
    let output = tokio::process::Command::new(cargo)
        .current_dir(dir)
        .args([
            "build",
            "--release",
            "--target",
            RUST_TARGET,
            "--message-format=json-render-diagnostics",
        ])
        .arg("--manifest-path")
        .arg(&manifest)
        .stdout(Stdio::piped())
        .stderr(if quiet { Stdio::piped() } else { Stdio::inherit() })
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| DeployError::Build {
            function: function.into(),
            message: format!("cannot run cargo: {e}"),
        })?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        let mut message = String::from_utf8_lossy(&output.stderr).into_owned();
        if message.contains(RUST_TARGET) && message.contains("target may not be installed") {
            message.push_str(&format!("\nhint: rustup target add {RUST_TARGET}"));
        }
        return Err(DeployError::Build { function: function.into(), message });
    }
    let wanted = manifest.canonicalize().unwrap_or(manifest);
    stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact")
        .filter(|m| m["manifest_path"].as_str().is_some_and(|p| Path::new(p) == wanted))
        .flat_map(|m| m["filenames"].as_array().cloned().unwrap_or_default())
        .filter_map(|f| f.as_str().map(std::path::PathBuf::from))
        .find(|f| f.extension().is_some_and(|e| e == "wasm"))
        .ok_or_else(|| DeployError::Build {
            function: function.into(),
            message: "cargo produced no .wasm (is the crate a cdylib?)".into(),
        })
}
