//! A local EVM chain for devnets and tests: the pinned `anvil` from `contracts/node_modules`
//! on an ephemeral loopback port, chain id 80002 (so x402 names it `polygon-amoy` /
//! `eip155:80002`), mining each transaction at once and an empty block every second, stopped
//! when dropped.

use std::{
    io::{BufRead as _, BufReader},
    path::{Path, PathBuf},
};

use alloy::node_bindings::{Anvil, AnvilInstance};
use tracing::trace;

use super::ChainError;

/// The chain id local chains run with (Polygon Amoy's).
pub const LOCAL_CHAIN_ID: u64 = 80_002;

/// A running anvil.
pub struct LocalChain {
    instance: AnvilInstance,
}

impl std::fmt::Debug for LocalChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalChain").field("endpoint", &self.instance.endpoint()).finish()
    }
}

impl LocalChain {
    /// Starts `anvil` (see [`find_anvil`]) on 127.0.0.1 with an ephemeral port.
    ///
    /// # Errors
    ///
    /// [`ChainError::Anvil`] if it cannot be found or does not start.
    pub fn start(anvil: Option<&Path>) -> Result<Self, ChainError> {
        let path = match anvil {
            Some(path) => path.to_path_buf(),
            None => find_anvil().ok_or_else(|| {
                ChainError::Anvil("anvil not found: run scripts/setup (or pass --anvil)".into())
            })?,
        };
        let mut instance = Anvil::at(&path)
            .host("127.0.0.1")
            .port(0_u16)
            .chain_id(LOCAL_CHAIN_ID)
            // Transactions mine at once, and a block every second keeps the chain's clock (and
            // with it the coordinator's epoch) moving when nobody transacts.
            .block_time(1)
            .arg("--mixed-mining")
            .keep_stdout()
            .try_spawn()
            .map_err(|e| ChainError::Anvil(format!("{}: {e}", path.display())))?;
        // anvil logs every call on stdout; drain it so it never blocks on a full pipe.
        if let Some(stdout) = instance.child_mut().stdout.take() {
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    trace!(target: "peerhost::chain", "anvil: {line}");
                }
            });
        }
        Ok(Self { instance })
    }

    /// The HTTP JSON-RPC endpoint.
    pub fn http_url(&self) -> String {
        self.instance.endpoint().replace("localhost", "127.0.0.1")
    }

    /// The WebSocket endpoint.
    pub fn ws_url(&self) -> String {
        self.instance.ws_endpoint().replace("localhost", "127.0.0.1")
    }

    /// The funded development keys anvil generated (secp256k1 secret scalars).
    pub fn keys(&self) -> Vec<[u8; 32]> {
        self.instance.keys().iter().map(|key| key.to_bytes().into()).collect()
    }
}

/// Where `anvil` is: `$PEERHOST_ANVIL`, else `contracts/node_modules/.bin/anvil` in the
/// checkout that holds the current directory or this executable, else `anvil` on `PATH`.
pub fn find_anvil() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("PEERHOST_ANVIL") {
        return Some(PathBuf::from(path));
    }
    let starts = [std::env::current_dir().ok(), std::env::current_exe().ok()];
    for start in starts.into_iter().flatten() {
        for dir in start.ancestors() {
            let candidate = dir.join("contracts/node_modules/.bin/anvil");
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths).map(|dir| dir.join("anvil")).find(|path| path.is_file())
    })
}
