//! `peerhost-node secrets set|list|remove`: an owner's function secrets, sealed on this
//! machine to the workers allowed to run the project's functions, attached at the next deploy.

use std::{io::Read as _, path::Path};

use anyhow::Context as _;
use clap::Subcommand;
use libp2p::PeerId;
use peerhost_protocol::NodeKey;

use super::WalletArgs;
use crate::deploy::secrets;

#[derive(Debug, Subcommand)]
pub(super) enum SecretsCommand {
    /// Seal a secret to workers; the value is read from stdin (never from the command line).
    Set {
        /// The project name.
        project: String,
        /// The secret's name, as functions read it from their environment (e.g. `API_KEY`).
        name: String,
        /// A worker allowed to run the functions that need it: its peer id (repeatable).
        #[arg(long = "worker", required = true, value_name = "PEER_ID")]
        workers: Vec<String>,
        #[command(flatten)]
        wallet: WalletArgs,
    },
    /// List a project's secrets and the workers each is sealed to (never the values).
    List {
        /// The project name.
        project: String,
    },
    /// Remove a secret (takes effect with the next deploy).
    Remove {
        /// The project name.
        project: String,
        /// The secret's name.
        name: String,
    },
}

fn worker_key(text: &str) -> anyhow::Result<NodeKey> {
    if let Ok(peer) = text.parse::<PeerId>() {
        return crate::mesh::node_key(&peer)
            .with_context(|| format!("{peer} is not an ed25519 peer id"));
    }
    text.parse::<NodeKey>()
        .map_err(|_| anyhow::anyhow!("{text:?} is neither a peer id nor a hex node key"))
}

pub(super) fn run(data_dir: &Path, command: SecretsCommand) -> anyhow::Result<()> {
    match command {
        SecretsCommand::Set { project, name, workers, wallet } => {
            let wallet = wallet.wallet(data_dir)?;
            let workers =
                workers.iter().map(|w| worker_key(w)).collect::<anyhow::Result<Vec<_>>>()?;
            let mut value = String::new();
            std::io::stdin().read_to_string(&mut value).context("reading the value from stdin")?;
            let value = value.strip_suffix('\n').unwrap_or(&value);
            let value = value.strip_suffix('\r').unwrap_or(value);
            anyhow::ensure!(!value.is_empty(), "the value on stdin is empty");
            secrets::set(data_dir, &wallet.owner(), &project, &name, value, &workers)?;
            println!(
                "{name} sealed to {} worker(s); deploy {project} again to use it",
                workers.len()
            );
        }
        SecretsCommand::List { project } => {
            for secret in secrets::load(data_dir, &project)? {
                let workers: Vec<String> = secret
                    .workers()
                    .map(|k| {
                        crate::mesh::peer_id(k).map_or_else(|| k.to_string(), |p| p.to_string())
                    })
                    .collect();
                println!("{}\t{}", secret.name, workers.join(","));
            }
        }
        SecretsCommand::Remove { project, name } => {
            anyhow::ensure!(
                secrets::remove(data_dir, &project, &name)?,
                "{project} has no secret {name}"
            );
            println!("{name} removed; deploy {project} again to drop it");
        }
    }
    Ok(())
}
