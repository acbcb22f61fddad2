//! Chain flags and `peerhost-node worker bond | unbond | withdraw | stake`.

use std::path::Path;

use alloy::primitives::{Address, B256, U256};
use anyhow::Context;
use clap::{Args, Subcommand};

use crate::{
    chain::{Chain, ChainConfig},
    keys,
};

/// Where to settle (optional for nodes: without it they serve but earn nothing).
#[derive(Debug, Clone, Args)]
pub(super) struct ChainArgs {
    /// Chain JSON-RPC endpoint (`ws://`, `wss://`, `http://`, `https://`).
    #[arg(long, value_name = "URL", requires = "coordinator")]
    rpc_url: Option<String>,
    /// The ExecutionCoordinator contract.
    #[arg(long, value_name = "ADDRESS", requires = "rpc_url")]
    coordinator: Option<Address>,
}

impl ChainArgs {
    /// The node's chain settings, if both flags were given.
    pub(super) fn config(&self) -> Option<ChainConfig> {
        Some(ChainConfig::new(self.rpc_url.clone()?, self.coordinator?))
    }

    async fn connect(&self, data_dir: &Path) -> anyhow::Result<Chain> {
        let config = self.config().context("this needs --rpc-url and --coordinator")?;
        let wallet = keys::wallet(data_dir)?;
        Ok(Chain::connect(&config.rpc_url, config.coordinator, &wallet).await?)
    }
}

/// A worker's bond.
#[derive(Debug, Subcommand)]
pub(super) enum BondCommand {
    /// Bond USDC (e.g. `50` or `12.5`), binding this node's key to its wallet.
    Bond {
        /// Amount in USDC.
        amount: String,
        #[command(flatten)]
        chain: ChainArgs,
    },
    /// Start unbonding USDC; it stays slashable for the unbonding delay.
    Unbond {
        /// Amount in USDC.
        amount: String,
        #[command(flatten)]
        chain: ChainArgs,
    },
    /// Withdraw what finished unbonding.
    Withdraw {
        #[command(flatten)]
        chain: ChainArgs,
    },
    /// Show this worker's stake and balance.
    Stake {
        #[command(flatten)]
        chain: ChainArgs,
    },
}

pub(super) async fn run(data_dir: &Path, command: BondCommand) -> anyhow::Result<()> {
    match command {
        BondCommand::Bond { amount, chain } => {
            let chain = chain.connect(data_dir).await?;
            let node_key = keys::node_secret(data_dir)?.public();
            let tx = chain.bond(parse_usdc(&amount)?, B256::from(node_key.0)).await?;
            println!("bonded {amount} USDC ({tx})");
        }
        BondCommand::Unbond { amount, chain } => {
            let tx = chain.connect(data_dir).await?.request_unbond(parse_usdc(&amount)?).await?;
            println!("unbonding {amount} USDC ({tx})");
        }
        BondCommand::Withdraw { chain } => {
            let tx = chain.connect(data_dir).await?.withdraw().await?;
            println!("withdrawn ({tx})");
        }
        BondCommand::Stake { chain } => {
            let chain = chain.connect(data_dir).await?;
            let stake = chain.stake(chain.address()).await?;
            println!("address {}", chain.address());
            println!("bonded {}", format_usdc(U256::from(stake.bonded)));
            println!(
                "unbonding {} (withdrawable at {})",
                format_usdc(U256::from(stake.unbonding)),
                stake.unlockAt
            );
            println!("balance {}", format_usdc(chain.token_balance(chain.address()).await?));
        }
    }
    Ok(())
}

/// `"12.5"` USDC → token units (6 decimals).
fn parse_usdc(text: &str) -> anyhow::Result<U256> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    anyhow::ensure!(
        !whole.is_empty() && whole.bytes().all(|b| b.is_ascii_digit()),
        "not a USDC amount: {text}"
    );
    anyhow::ensure!(
        fraction.len() <= 6 && fraction.bytes().all(|b| b.is_ascii_digit()),
        "USDC has 6 decimals: {text}"
    );
    let units = format!("{whole}{fraction:0<6}");
    let value: U256 = units.parse().with_context(|| format!("not a USDC amount: {text}"))?;
    anyhow::ensure!(value > U256::ZERO, "the amount must be positive");
    Ok(value)
}

/// Token units → `"12.500000"`.
fn format_usdc(units: U256) -> String {
    let one = U256::from(1_000_000u64);
    format!("{}.{:06}", units / one, (units % one).to::<u64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usdc_amounts_parse_to_six_decimals() {
        assert_eq!(parse_usdc("50").unwrap(), U256::from(50_000_000u64));
        assert_eq!(parse_usdc("12.5").unwrap(), U256::from(12_500_000u64));
        assert_eq!(parse_usdc("0.000001").unwrap(), U256::from(1u64));
        for bad in ["", "-1", "1.0000001", "abc", "0", "1e6", ".5"] {
            assert!(parse_usdc(bad).is_err(), "{bad}");
        }
        assert_eq!(format_usdc(U256::from(12_500_000u64)), "12.500000");
    }
}
