//! Chain flags, `peerhost-node worker bond | unbond | withdraw | stake`, and
//! `peerhost-node owner balance | withdraw`.

use std::path::Path;

use alloy::primitives::{Address, B256, U256};
use anyhow::Context;
use clap::{Args, Subcommand};

use super::WalletArgs;
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
        self.connect_as(&keys::wallet(data_dir)?).await
    }

    async fn connect_as(&self, wallet: &peerhost_protocol::Wallet) -> anyhow::Result<Chain> {
        let config = self.config().context("this needs --rpc-url and --coordinator")?;
        Ok(Chain::connect(&config.rpc_url, config.coordinator, wallet).await?)
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

/// An owner's x402 earnings.
#[derive(Debug, Subcommand)]
pub(super) enum OwnerCommand {
    /// Show the payments credited to an owner (or payout address) and not yet withdrawn.
    Balance {
        /// Whose credits (default: this wallet).
        #[arg(long)]
        address: Option<Address>,
        #[command(flatten)]
        chain: ChainArgs,
        #[command(flatten)]
        wallet: WalletArgs,
    },
    /// Withdraw this wallet's credits.
    Withdraw {
        /// Where to send them (default: this wallet).
        #[arg(long)]
        to: Option<Address>,
        #[command(flatten)]
        chain: ChainArgs,
        #[command(flatten)]
        wallet: WalletArgs,
    },
}

pub(super) async fn run_owner(data_dir: &Path, command: OwnerCommand) -> anyhow::Result<()> {
    match command {
        OwnerCommand::Balance { address, chain, wallet } => {
            let chain = chain.connect_as(&wallet.wallet(data_dir)?).await?;
            let owner = address.unwrap_or(chain.address());
            println!("address {owner}");
            println!("credits {}", format_usdc(chain.credits(owner).await?));
        }
        OwnerCommand::Withdraw { to, chain, wallet } => {
            let chain = chain.connect_as(&wallet.wallet(data_dir)?).await?;
            let credits = chain.credits(chain.address()).await?;
            anyhow::ensure!(credits > U256::ZERO, "{} has no credits to withdraw", chain.address());
            let to = to.unwrap_or(chain.address());
            let tx = chain.withdraw_credits(to).await?;
            println!("withdrawn {} USDC to {to} ({tx})", format_usdc(credits));
        }
    }
    Ok(())
}

/// A positive USDC amount → token units.
fn parse_usdc(text: &str) -> anyhow::Result<U256> {
    let units = crate::usdc::parse(text)?;
    anyhow::ensure!(units > 0, "the amount must be positive");
    Ok(U256::from(units))
}

/// Token units → `"12.500000"`.
pub(super) fn format_usdc(units: U256) -> String {
    crate::usdc::format(units.to::<u128>())
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
