//! Deploying a project: read the folder, build its functions into a bundle, publish.

mod build;
mod javascript;
mod project;
mod publish;
pub mod secrets;

use std::path::PathBuf;

pub use build::{RUST_TARGET, build};
pub use project::{FunctionSource, Project, Source, load};
pub use publish::{Deployed, PublishOptions};

/// Why a deploy failed. Every variant names the file, function or setting at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeployError {
    /// The folder has no `functions/` or it is empty.
    #[error("{} has no functions: put <name>.wasm files or Rust crates in its functions/ folder", .0.display())]
    NoFunctions(PathBuf),
    /// A file or folder name is not a valid function (or project) name.
    #[error("{}: {reason}", path.display())]
    InvalidName {
        /// The offending path.
        path: PathBuf,
        /// The rule it breaks.
        reason: String,
    },
    /// Two entries map to the same function name.
    #[error("function '{name}' is defined twice: {} and {}", first.display(), second.display())]
    Collision {
        /// The function name.
        name: String,
        /// One source.
        first: PathBuf,
        /// The other.
        second: PathBuf,
    },
    /// An entry of a kind that cannot be deployed.
    #[error("{}: {reason}", path.display())]
    Unsupported {
        /// The entry.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// `peerhost.toml` is malformed or inconsistent.
    #[error("settings: {reason}")]
    Settings {
        /// What is wrong.
        reason: String,
    },
    /// Building a function failed.
    #[error("building function '{function}' failed:\n{message}")]
    Build {
        /// The function.
        function: String,
        /// Compiler output.
        message: String,
    },
    /// A function's file is not a WebAssembly component.
    #[error("function '{function}' ({}) is not a WebAssembly component (wasi:http/proxy)", path.display())]
    NotAComponent {
        /// The function.
        function: String,
        /// Its file.
        path: PathBuf,
    },
    /// Reading a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// This node has no blob store to publish from.
    #[error("this node does not serve blobs; start it with a blob store")]
    NoBlobStore,
    /// Storing the bundle failed.
    #[error("storing the bundle: {0}")]
    Blobs(String),
    /// Publishing failed.
    #[error("mesh: {0}")]
    Mesh(String),
    /// Nobody heard the announcement.
    #[error("no peers received the deployment announcement (is the bootstrap address right?)")]
    NoPeers,
    /// Functions need secrets that are not set.
    #[error("{}", missing_secrets_message(project, missing))]
    MissingSecrets {
        /// The project.
        project: String,
        /// `(function, secret)` pairs.
        missing: Vec<(String, String)>,
    },
    /// Too few workers fetched the bundle in time.
    #[error("only {got} of {wanted} workers fetched the bundle in time")]
    NotReplicated {
        /// Replicas asked for.
        wanted: usize,
        /// Replicas seen.
        got: usize,
    },
}

fn missing_secrets_message(project: &str, missing: &[(String, String)]) -> String {
    let lines: Vec<String> = missing
        .iter()
        .map(|(function, name)| {
            format!(
                "function '{function}' needs the secret {name}, which is not set: \
                 peerhost-node secrets set {project} {name} --worker <peer id> (value on stdin)"
            )
        })
        .collect();
    lines.join("\n")
}

/// Builds the project in `dir` and publishes it from a short-lived deployer node that joins
/// through `bootstrap` and keeps serving the bundle until `options.replicas` workers hold it.
///
/// # Errors
///
/// See [`DeployError`]; a deployer node that cannot start is reported as
/// [`DeployError::Mesh`].
pub async fn deploy_project(
    dir: &std::path::Path,
    bootstrap: Vec<libp2p::Multiaddr>,
    wallet: &peerhost_protocol::Wallet,
    data_dir: &std::path::Path,
    options: &PublishOptions,
    quiet: bool,
) -> Result<Deployed, DeployError> {
    let project = load(dir)?;
    let bundle = build(&project, quiet).await?;
    let missing = secrets::missing(&bundle.manifest, &options.secrets);
    if !missing.is_empty() {
        return Err(DeployError::MissingSecrets { project: project.name, missing });
    }
    let mut config = crate::NodeConfig::new(data_dir).bootstrap(bootstrap.clone()).with_blobs();
    config.blob_relay = options.blob_relay.clone();
    if let Some(ip) = bootstrap.first().and_then(crate::mesh::ip_of) {
        config.mesh.listen = crate::mesh::listen_addrs_on(ip);
        config.blobs = Some(std::net::SocketAddr::new(crate::mesh::listen_ip(ip), 0));
    }
    let node =
        Box::pin(crate::Node::start(config)).await.map_err(|e| DeployError::Mesh(e.to_string()))?;
    let options = PublishOptions { payout: project.payout.or(options.payout), ..options.clone() };
    let result = node.publish(wallet, &bundle, &options).await;
    node.shutdown().await;
    result
}
