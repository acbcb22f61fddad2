//! `peerhost-node devnet`: a whole network on this machine, ready for `curl`.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
};

use anyhow::Context;
use clap::Args;

use super::stop_signal;
use crate::{
    devnet::{Devnet, DevnetChainOptions, DevnetOptions},
    gateway::GatewayConfig,
};

#[derive(Debug, Clone, Args)]
pub(super) struct DevnetArgs {
    /// Number of workers.
    #[arg(long, default_value_t = 3)]
    workers: usize,
    /// Gateway HTTP address.
    #[arg(long, default_value = "127.0.0.1:8787")]
    http: SocketAddr,
    /// Project to deploy.
    #[arg(long, default_value = "examples/hello")]
    project: PathBuf,
    /// Start from empty node folders (new keys, no cached bundles).
    #[arg(long)]
    fresh: bool,
    /// Run the mesh alone, without a local chain (no anvil, no settlement).
    #[arg(long)]
    no_chain: bool,
    /// Seconds per settlement epoch on the local chain.
    #[arg(long, default_value_t = 10)]
    epoch_seconds: u64,
}

pub(super) async fn run(data_dir: &Path, args: DevnetArgs) -> anyhow::Result<()> {
    let dir = data_dir.join("devnet");
    if args.fresh && dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    anyhow::ensure!(
        args.project.join("functions").is_dir(),
        "{} is not a project folder (run from the repository root, or pass --project)",
        args.project.display()
    );
    let mut options = DevnetOptions::new(&dir);
    options.workers = args.workers.max(1);
    options.gateway = GatewayConfig { listen: args.http, ..GatewayConfig::default() };
    options.project = Some(args.project.clone());
    options.verbose_build = true;
    options.chain = (!args.no_chain).then(|| DevnetChainOptions {
        epoch_length_s: args.epoch_seconds.max(1),
        ..DevnetChainOptions::default()
    });
    eprintln!("starting a bootstrap node, {} workers and a gateway…", options.workers);
    let devnet = Devnet::start(options).await.context("starting the devnet")?;

    let deployed = devnet.deployed.as_ref().context("project deployed")?;
    println!("bootstrap {}", devnet.bootstrap_addr());
    println!("gateway {}", devnet.gateway_url());
    println!("owner {}", devnet.owner());
    if let Some(chain) = &devnet.chain {
        println!("rpc {}", chain.local.ws_url());
        println!("coordinator {}", chain.deployment.coordinator);
        println!("usdc {}", chain.deployment.usdc);
        println!("faucet 0x{}", hex::encode(chain.faucet));
    }
    for function in &deployed.record.manifest.functions {
        println!(
            "function {} {}",
            function.name,
            devnet.function_url(&deployed.record.project, &function.name)
        );
    }
    let functions = &deployed.record.manifest.functions;
    let example = functions
        .iter()
        .find(|f| f.name == "echo")
        .or(functions.first())
        .context("project has functions")?;
    println!(
        "curl -s '{}/greet?name=peerhost' -H 'content-type: application/json' -d '{{\"hello\":\"world\"}}'",
        devnet.function_url(&deployed.record.project, &example.name)
    );
    if let Some(chain) = &devnet.chain
        && let Some(priced) = functions.iter().find(|f| f.price > 0)
    {
        println!("paid {}", devnet.function_url(&deployed.record.project, &priced.name));
        println!("payer 0x{}", hex::encode(chain.payer));
        println!("mcp {}/mcp", devnet.gateway_url());
    }
    // On a chain, only bonded workers race: the volunteer's line bonds from the faucet.
    let settle = devnet.chain.as_ref().map_or(String::new(), |chain| {
        format!(
            " --rpc-url {} --events-url {} --coordinator {} --bond 10 --fund-from 0x{}",
            chain.local.http_url(),
            chain.local.ws_url(),
            chain.deployment.coordinator,
            hex::encode(chain.faucet)
        )
    });
    eprintln!(
        "ready: a volunteer joins with `peerhost-node --bootstrap {}{settle}` (on this machine, \
         add `--compile-cache {}` to reuse the devnet's compiled components; Ctrl-C to stop)",
        devnet.bootstrap_addr(),
        dir.join("compiled").display()
    );
    if devnet.chain.is_none() {
        eprintln!(
            "open mode: without a chain, any worker that joins may race this gateway's calls"
        );
    }
    let stop = tokio_util::sync::CancellationToken::new();
    if let Some(chain) = &devnet.chain {
        tokio::spawn(print_settlement(chain.admin.clone(), stop.clone()));
    }
    stop_signal().await;
    stop.cancel();
    eprintln!("stopping…");
    devnet.shutdown().await;
    Ok(())
}

/// Prints a line per anchored epoch and per claimed reward, as the chain reports them.
async fn print_settlement(chain: crate::chain::Chain, stop: tokio_util::sync::CancellationToken) {
    use alloy::{rpc::types::Filter, sol_types::SolEvent as _};
    use peerhost_contracts::ExecutionCoordinator::{RequestsAnchored, RewardClaimed};

    let filter = Filter::new()
        .address(*chain.coordinator().address())
        .event_signature(vec![RequestsAnchored::SIGNATURE_HASH, RewardClaimed::SIGNATURE_HASH]);
    crate::chain::events::follow(&chain, filter, 0, stop, |followed| {
        let crate::chain::events::Followed::Log(log) = followed else { return };
        if let Ok(event) = log.log_decode::<RequestsAnchored>() {
            let e = event.inner.data;
            println!("anchored epoch {} gateway {} requests {}", e.epoch, e.gateway, e.count);
        } else if let Ok(event) = log.log_decode::<RewardClaimed>() {
            let e = event.inner.data;
            println!(
                "reward epoch {} worker {} requests {} assists {} amount {}",
                e.epoch, e.worker, e.requests, e.assists, e.amount
            );
        }
    })
    .await;
}
