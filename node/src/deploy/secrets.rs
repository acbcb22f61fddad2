//! The owner's secrets store: `<data dir>/secrets/<project>.cbor`, the project's secrets
//! already sealed to their authorized workers (plaintext never touches the disk). `deploy`
//! attaches them to the deployment record and refuses a project whose functions need a secret
//! that is not set.

use std::path::{Path, PathBuf};

use peerhost_protocol::{BundleManifest, NodeKey, Owner, ProjectSecret};

use super::DeployError;

fn path(data_dir: &Path, project: &str) -> PathBuf {
    data_dir.join("secrets").join(format!("{project}.cbor"))
}

/// The sealed secrets of `project` (none if the store has no file for it).
///
/// # Errors
///
/// [`DeployError::Io`] if the file exists but cannot be read, [`DeployError::Settings`] if it
/// does not decode.
pub fn load(data_dir: &Path, project: &str) -> Result<Vec<ProjectSecret>, DeployError> {
    let path = path(data_dir, project);
    match std::fs::read(&path) {
        Ok(bytes) => serde_cbor::from_slice(&bytes).map_err(|e| DeployError::Settings {
            reason: format!("{} is not a secrets file: {e}", path.display()),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(source) => Err(DeployError::Io { path, source }),
    }
}

fn save(data_dir: &Path, project: &str, secrets: &[ProjectSecret]) -> Result<(), DeployError> {
    let path = path(data_dir, project);
    let io = |source| DeployError::Io { path: path.clone(), source };
    std::fs::create_dir_all(path.parent().expect("secrets dir")).map_err(io)?;
    let bytes = serde_cbor::to_vec(&secrets).expect("secrets serialize");
    crate::atomic_file::write(&path, &bytes).map_err(io)
}

/// Seals `value` as `name` to `workers` and stores it for `owner`'s `project`, replacing a
/// previous value of that name. Takes effect with the next deploy.
///
/// # Errors
///
/// [`DeployError::Settings`] for a bad name, value or worker list; I/O errors of the store.
pub fn set(
    data_dir: &Path,
    owner: &Owner,
    project: &str,
    name: &str,
    value: &str,
    workers: &[NodeKey],
) -> Result<(), DeployError> {
    let sealed = ProjectSecret::seal(owner, project, name, value.as_bytes(), workers)
        .map_err(|e| DeployError::Settings { reason: e.to_string() })?;
    let mut secrets = load(data_dir, project)?;
    secrets.retain(|s| s.name != name);
    secrets.push(sealed);
    secrets.sort_by(|a, b| a.name.cmp(&b.name));
    if secrets.len() > peerhost_protocol::MAX_SECRETS {
        return Err(DeployError::Settings {
            reason: format!("a project holds at most {} secrets", peerhost_protocol::MAX_SECRETS),
        });
    }
    save(data_dir, project, &secrets)
}

/// Removes the secret `name` of `project`. Returns whether it was set.
///
/// # Errors
///
/// I/O errors of the store.
pub fn remove(data_dir: &Path, project: &str, name: &str) -> Result<bool, DeployError> {
    let mut secrets = load(data_dir, project)?;
    let before = secrets.len();
    secrets.retain(|s| s.name != name);
    save(data_dir, project, &secrets)?;
    Ok(secrets.len() < before)
}

/// Every `(function, secret)` the manifest needs that `secrets` does not hold.
pub fn missing(manifest: &BundleManifest, secrets: &[ProjectSecret]) -> Vec<(String, String)> {
    manifest
        .functions
        .iter()
        .flat_map(|f| f.secrets.iter().map(move |name| (f.name.clone(), name.clone())))
        .filter(|(_, name)| !secrets.iter().any(|s| s.name == *name))
        .collect()
}
