//! JavaScript functions: a module that handles `fetch` events (or exports a `wasi:http`
//! `incomingHandler`) becomes a `wasi:http/proxy` component through componentize-js
//! (StarlingMonkey), installed by `scripts/setup` into `node/js`.
//!
//! Builds are cached under `<project>/target/peerhost-js/`, keyed by every JavaScript and JSON
//! file of the project (relative imports included) and the toolchain's lock file, because one
//! build takes seconds.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
};

use super::DeployError;

/// Where the toolchain lives unless `PEERHOST_JS_TOOLCHAIN` says otherwise.
const DEFAULT_TOOLCHAIN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/js");

/// The componentize-js command line inside the toolchain.
const CLI: &str = "node_modules/@bytecodealliance/componentize-js/src/cli.js";

fn toolchain() -> PathBuf {
    std::env::var_os("PEERHOST_JS_TOOLCHAIN").map_or_else(|| DEFAULT_TOOLCHAIN.into(), Into::into)
}

/// Builds `source` (the function `function` of the project in `project_dir`) and returns the
/// component's path.
///
/// # Errors
///
/// [`DeployError::Build`] when the toolchain is missing or componentize-js rejects the module
/// (its message included).
pub(super) async fn build(
    function: &str,
    source: &Path,
    project_dir: &Path,
    quiet: bool,
) -> Result<PathBuf, DeployError> {
    let failed = |message: String| DeployError::Build { function: function.into(), message };
    let toolchain = toolchain();
    let cli = toolchain.join(CLI);
    if !cli.is_file() {
        return Err(failed(format!(
            "the JavaScript toolchain is not installed at {} (run scripts/setup, or point \
             PEERHOST_JS_TOOLCHAIN at a folder with componentize-js installed)",
            toolchain.display()
        )));
    }
    let key = cache_key(project_dir, &toolchain);
    let out_dir = project_dir.join("target/peerhost-js");
    let out = out_dir.join(format!("{function}-{}.wasm", &key[..16]));
    if out.is_file() {
        return Ok(out);
    }
    std::fs::create_dir_all(&out_dir)
        .map_err(|source| DeployError::Io { path: out_dir.clone(), source })?;
    let partial = out.with_extension(format!("partial{}", std::process::id()));
    let output = tokio::process::Command::new("node")
        .arg(&cli)
        .arg(source)
        .arg("--wit")
        .arg(toolchain.join("wit"))
        .args(["--world-name", "proxy", "--out"])
        .arg(&partial)
        .stdout(Stdio::piped())
        .stderr(if quiet { Stdio::piped() } else { Stdio::inherit() })
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| failed(format!("cannot run node (is Node.js installed?): {e}")))?;
    if !output.status.success() {
        let _ = std::fs::remove_file(&partial);
        let stderr = String::from_utf8_lossy(&output.stderr);
        // Node prints where componentize-js threw and a stack; the message is enough.
        let noise = |l: &str| {
            let t = l.trim();
            t.starts_with("at ")
                || t.starts_with("file://")
                || t.starts_with("Node.js v")
                || t.starts_with("throw ")
                || t.chars().all(|c| c == '^')
        };
        let message: Vec<&str> = stderr.lines().filter(|l| !noise(l)).collect();
        return Err(failed(message.join("\n").trim().to_owned()));
    }
    std::fs::rename(&partial, &out)
        .map_err(|source| DeployError::Io { path: out.clone(), source })?;
    Ok(out)
}

/// keccak256 (hex) over the toolchain's lock file and every `.js`, `.mjs` and `.json` file
/// of the project outside `target/` and `node_modules/`, in path order.
fn cache_key(project_dir: &Path, toolchain: &Path) -> String {
    let mut files = Vec::new();
    let mut stack = vec![project_dir.to_owned()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for path in entries.flatten().map(|e| e.path()) {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if path.is_dir() {
                if !matches!(name, "target" | "node_modules") && !name.starts_with('.') {
                    stack.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "js" || e == "mjs" || e == "json") {
                files.push(path);
            }
        }
    }
    files.sort();
    files.push(toolchain.join("package-lock.json"));
    let mut parts: Vec<Vec<u8>> = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(project_dir).unwrap_or(file);
        parts.push(relative.to_string_lossy().into_owned().into_bytes());
        parts.push(std::fs::read(file).unwrap_or_default());
    }
    let parts: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    peerhost_protocol::keccak256_parts(&parts).to_hex()
}
