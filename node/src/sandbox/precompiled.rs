//! The on-disk cache of precompiled components. Every worker pointed at the same directory —
//! the workers of one devnet, or several `peerhost-node` processes of one user — shares it:
//! a component compiles once per machine, and compiles run one at a time across all of them
//! (an advisory lock on `compile.lock` in the directory, released by the kernel if its holder
//! dies).

use std::{fs::File, path::PathBuf};

use peerhost_protocol::BlobHash;
use tracing::{debug, info};
use wasmtime::{Engine, component::Component};

use super::{ENGINE_ID, SandboxError};

/// A cache directory, or none (memory only).
#[derive(Debug, Clone)]
pub(crate) struct Precompiled {
    dir: Option<PathBuf>,
}

/// What the cache holds for a component.
pub(crate) enum Lookup {
    /// Precompiled, loaded.
    Ready(Component),
    /// Not there: compile it while holding this (the machine's one compile slot, when there
    /// is a cache directory).
    Compile(CompileSlot),
}

/// The machine-wide compile slot; dropping it lets the next compile start.
pub(crate) struct CompileSlot {
    _lock: Option<File>,
}

impl Precompiled {
    /// Creates the directory if needed.
    pub(crate) fn open(dir: Option<PathBuf>) -> Result<Self, SandboxError> {
        if let Some(dir) = &dir {
            std::fs::create_dir_all(dir)
                .map_err(|e| SandboxError::Internal(format!("cache dir {}: {e}", dir.display())))?;
        }
        Ok(Self { dir })
    }

    fn path(&self, hash: &BlobHash) -> Option<PathBuf> {
        let dir = self.dir.as_ref()?;
        let engine = peerhost_protocol::keccak256(ENGINE_ID.as_bytes());
        Some(dir.join(format!("{}-{}.cwasm", hash.to_hex(), &engine.to_hex()[..16])))
    }

    /// The component if it is precompiled on disk. Blocks on file I/O only.
    pub(crate) fn load(&self, engine: &Engine, hash: &BlobHash) -> Option<Component> {
        let path = self.path(hash)?;
        if !path.exists() {
            return None;
        }
        // SAFETY: files in the cache directory are written only by `compile` below, for an
        // engine with the same ENGINE_ID (part of the file name), via an atomic rename;
        // wasmtime additionally checks engine compatibility in the header.
        #[allow(unsafe_code)]
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(component) => {
                debug!(target: "peerhost::sandbox", path = %path.display(), "loaded precompiled component");
                Some(component)
            }
            Err(e) => {
                debug!(target: "peerhost::sandbox", error = %e, "stale precompiled component; recompiling");
                None
            }
        }
    }

    /// Takes the machine's compile slot (blocking until whoever holds it is done), then looks
    /// again: the holder may just have compiled this very component.
    pub(crate) fn lookup_or_lock(
        &self,
        engine: &Engine,
        hash: &BlobHash,
    ) -> Result<Lookup, SandboxError> {
        let Some(dir) = &self.dir else {
            return Ok(Lookup::Compile(CompileSlot { _lock: None }));
        };
        let lock_path = dir.join("compile.lock");
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .and_then(|file| file.lock().map(|()| file))
            .map_err(|e| SandboxError::Internal(format!("{}: {e}", lock_path.display())))?;
        Ok(match self.load(engine, hash) {
            Some(component) => Lookup::Ready(component),
            None => Lookup::Compile(CompileSlot { _lock: Some(lock) }),
        })
    }

    /// Compiles `bytes` (refusing more than `max_bytes`) and stores the result. Runs on a
    /// blocking thread that holds `slot` until the compile ends, even past its deadline.
    pub(crate) fn compile(
        &self,
        engine: &Engine,
        hash: &BlobHash,
        bytes: &[u8],
        max_bytes: u64,
        slot: CompileSlot,
    ) -> Result<Component, SandboxError> {
        if bytes.len() as u64 > max_bytes {
            return Err(SandboxError::BadComponent(format!(
                "component is {} bytes, more than the {max_bytes}-byte limit",
                bytes.len()
            )));
        }
        #[allow(clippy::disallowed_methods)] // compile time is reported, not used for decisions
        let started = std::time::Instant::now();
        let component = Component::new(engine, bytes)
            .map_err(|e| SandboxError::BadComponent(format!("{e:#}")))?;
        info!(
            target: "peerhost::sandbox",
            bytes = bytes.len(),
            ms = started.elapsed().as_millis() as u64,
            "compiled component"
        );
        if let Some(path) = self.path(hash)
            && let Ok(serialized) = component.serialize()
        {
            // A failed write only costs a later recompile.
            let _ = crate::atomic_file::write(&path, &serialized);
        }
        drop(slot);
        Ok(component)
    }
}
