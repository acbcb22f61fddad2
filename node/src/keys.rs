//! Keys kept in a node's data directory: `node.key` (ed25519, the node identity) and
//! `wallet.key` (secp256k1, the owner wallet used by `deploy`). Hex files, created on first
//! use with mode 0600.

use std::{
    io::Write,
    path::{Path, PathBuf},
};

use peerhost_protocol::{NodeSecret, Wallet};

/// Why a key could not be loaded or created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// Reading or writing the file failed.
    #[error("key file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file does not hold 32 bytes of hex.
    #[error("key file {0} is not 64 hex digits")]
    Malformed(PathBuf),
    /// The bytes are not a usable key of that kind.
    #[error("key file {0} does not hold a valid key")]
    Invalid(PathBuf),
}

/// The default data directory: `$HOME/.peerhost`.
pub fn default_data_dir() -> PathBuf {
    dirs::home_dir().unwrap_or_else(|| PathBuf::from(".")).join(".peerhost")
}

fn load_or_create(path: &Path, generate: impl FnOnce() -> [u8; 32]) -> Result<[u8; 32], KeyError> {
    let io = |source| KeyError::Io { path: path.to_owned(), source };
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let mut bytes = [0u8; 32];
            hex::decode_to_slice(text.trim().trim_start_matches("0x"), &mut bytes)
                .map_err(|_| KeyError::Malformed(path.to_owned()))?;
            Ok(bytes)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(io)?;
            }
            let bytes = generate();
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(path).map_err(io)?;
            file.write_all(hex::encode(bytes).as_bytes()).map_err(io)?;
            Ok(bytes)
        }
        Err(e) => Err(io(e)),
    }
}

fn random_secret() -> [u8; 32] {
    #[allow(clippy::disallowed_methods)] // key generation wants OS randomness
    rand::random()
}

/// Loads `<dir>/node.key`, creating a fresh key if absent.
///
/// # Errors
///
/// See [`KeyError`].
pub fn node_secret(dir: &Path) -> Result<NodeSecret, KeyError> {
    load_or_create(&dir.join("node.key"), random_secret).map(|b| NodeSecret::from_bytes(&b))
}

/// Loads `<dir>/wallet.key`, creating a fresh wallet if absent.
///
/// # Errors
///
/// See [`KeyError`].
pub fn wallet(dir: &Path) -> Result<Wallet, KeyError> {
    let path = dir.join("wallet.key");
    let bytes = load_or_create(&path, random_secret)?;
    Wallet::from_bytes(&bytes).map_err(|_| KeyError::Invalid(path))
}

/// A fresh wallet kept nowhere: for reading a chain, where nothing is signed.
pub fn throwaway_wallet() -> Wallet {
    loop {
        if let Ok(wallet) = Wallet::from_bytes(&random_secret()) {
            return wallet;
        }
    }
}

/// Parses a wallet from hex (e.g. a `--wallet-key` flag).
///
/// # Errors
///
/// [`KeyError::Malformed`] or [`KeyError::Invalid`] (naming `"<argument>"`).
pub fn wallet_from_hex(text: &str) -> Result<Wallet, KeyError> {
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(text.trim().trim_start_matches("0x"), &mut bytes)
        .map_err(|_| KeyError::Malformed("<argument>".into()))?;
    Wallet::from_bytes(&bytes).map_err(|_| KeyError::Invalid("<argument>".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_persist_across_loads() {
        let dir = tempfile::tempdir().unwrap();
        let a = node_secret(dir.path()).unwrap();
        let b = node_secret(dir.path()).unwrap();
        assert_eq!(a.public(), b.public());
        let w1 = wallet(dir.path()).unwrap();
        let w2 = wallet(dir.path()).unwrap();
        assert_eq!(w1.owner(), w2.owner());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("node.key")).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn corrupt_key_files_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("node.key"), "not hex").unwrap();
        assert!(matches!(node_secret(dir.path()), Err(KeyError::Malformed(_))));
    }
}
