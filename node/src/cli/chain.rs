//! Chain flags, `peerhost-node worker|gateway bond | unbond | withdraw | stake`, the
//! volunteer's bond check at start, and `peerhost-node owner balance | withdraw`.

use std::path::Path;

use alloy::primitives::{Address, B256, U256};
use anyhow::Context;
use clap::{Args, Subcommand};

use super::WalletArgs;
use crate::{
    chain::{Chain, ChainConfig},
    dispatch::BondRole,
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
    /// A WebSocket endpoint of the same chain for event subscriptions, when `--rpc-url` is
    /// HTTP (requests then take one HTTP exchange each).
    #[arg(long, value_name = "URL", requires = "rpc_url")]
    events_url: Option<String>,
}

impl ChainArgs {
    /// The node's chain settings, if both flags were given.
    pub(super) fn config(&self) -> Option<ChainConfig> {
        let config = ChainConfig::new(self.rpc_url.clone()?, self.coordinator?);
        Some(ChainConfig { events_url: self.events_url.clone(), ..config })
    }

    async fn connect(&self, data_dir: &Path) -> anyhow::Result<Chain> {
        self.connect_as(&keys::wallet(data_dir)?).await
    }

    /// The flags as a volunteer would type them.
    fn flags(&self) -> String {
        match (&self.rpc_url, &self.coordinator) {
            (Some(url), Some(coordinator)) => {
                let events = self.events_url.as_ref().map(|u| format!(" --events-url {u}"));
                format!("--rpc-url {url} --coordinator {coordinator}{}", events.unwrap_or_default())
            }
            _ => String::new(),
        }
    }

    pub(super) async fn connect_as(
        &self,
        wallet: &peerhost_protocol::Wallet,
    ) -> anyhow::Result<Chain> {
        let config = self.config().context("this needs --rpc-url and --coordinator")?;
        Ok(Chain::connect_to(&config, wallet).await?)
    }
}

/// A node's bond in one role (a worker's, or with `--validator` its validator bond; a
/// gateway's under `peerhost-node gateway`).
#[derive(Debug, Subcommand)]
pub(super) enum BondCommand {
    /// Bond USDC (e.g. `50` or `12.5`), binding this node's key to its wallet.
    Bond {
        /// Amount in USDC.
        amount: String,
        #[command(flatten)]
        chain: ChainArgs,
        #[command(flatten)]
        role: RoleArgs,
    },
    /// Start unbonding USDC; it stops counting at once and stays slashable for the delay.
    Unbond {
        /// Amount in USDC.
        amount: String,
        #[command(flatten)]
        chain: ChainArgs,
        #[command(flatten)]
        role: RoleArgs,
    },
    /// Withdraw what finished unbonding.
    Withdraw {
        #[command(flatten)]
        chain: ChainArgs,
        #[command(flatten)]
        role: RoleArgs,
    },
    /// Show this node's stake and balance.
    Stake {
        #[command(flatten)]
        chain: ChainArgs,
        #[command(flatten)]
        role: RoleArgs,
    },
}

/// Which of a worker's stakes a bond command is about.
#[derive(Debug, Clone, Args)]
pub(super) struct RoleArgs {
    /// The validator bond instead of the worker bond (validators re-execute audited requests).
    #[arg(long)]
    validator: bool,
}

impl RoleArgs {
    fn role(&self, default: BondRole) -> anyhow::Result<BondRole> {
        match (self.validator, default) {
            (false, role) => Ok(role),
            (true, BondRole::Worker) => Ok(BondRole::Validator),
            (true, _) => anyhow::bail!("--validator applies to `peerhost-node worker` bonds"),
        }
    }
}

/// Runs a bond command for a node whose role is `default` (worker or gateway).
pub(super) async fn run(
    data_dir: &Path,
    default: BondRole,
    command: BondCommand,
) -> anyhow::Result<()> {
    match command {
        BondCommand::Bond { amount, chain, role } => {
            let role = role.role(default)?;
            let chain = chain.connect(data_dir).await?;
            let node_key = keys::node_secret(data_dir)?.public();
            let tx = chain.bond(role, parse_usdc(&amount)?, B256::from(node_key.0)).await?;
            println!("bonded {amount} USDC as {} ({tx})", role.name());
        }
        BondCommand::Unbond { amount, chain, role } => {
            let role = role.role(default)?;
            let chain = chain.connect(data_dir).await?;
            let tx = chain.request_unbond(role, parse_usdc(&amount)?).await?;
            println!("unbonding {amount} USDC as {} ({tx})", role.name());
        }
        BondCommand::Withdraw { chain, role } => {
            let role = role.role(default)?;
            let tx = chain.connect(data_dir).await?.withdraw(role).await?;
            println!("withdrawn ({tx})");
        }
        BondCommand::Stake { chain, role } => {
            let role = role.role(default)?;
            let chain = chain.connect(data_dir).await?;
            let stake = chain.stake_in(role, chain.address()).await?;
            println!("address {}", chain.address());
            println!("role {}", role.name());
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

/// Before a volunteer's node serves: bond `bond` USDC in `role` if asked (paid, with gas
/// money, by the `fund_from` test account on local chains), then say plainly whether the
/// network will use this node and, if not, how to bond.
pub(super) async fn prepare_bond(
    node: &crate::Node,
    role: BondRole,
    args: &ChainArgs,
    bond: Option<&str>,
    fund_from: Option<&str>,
) -> anyhow::Result<()> {
    let Some(chain) = node.chain() else { return Ok(()) };
    if let Some(amount) = bond {
        // `--bond` is the bond wanted, not an amount to add on every start: top up only.
        let have = U256::from(chain.stake_in(role, chain.address()).await?.bonded);
        let units = parse_usdc(amount)?.saturating_sub(have);
        if let Some(key) = fund_from.filter(|_| units > U256::ZERO) {
            let funder = args.connect_as(&keys::wallet_from_hex(key)?).await?;
            let gas = U256::from(10u64).pow(U256::from(18u64));
            let to = chain.address();
            funder.fund(to, gas, units).await.context("funding the bond and gas money")?;
        }
        if units > U256::ZERO {
            let key = B256::from(node.node_key().0);
            let tx = chain.bond(role, units, key).await.with_context(|| {
                format!("bonding {amount} USDC from {} (it needs USDC and gas)", chain.address())
            })?;
            println!("bonded {amount} USDC as {} ({tx})", role.name());
        }
    }
    let needed = chain.bond_minimums().await?[role.index()];
    let bonded = chain.stake_in(role, chain.address()).await?.bonded;
    if bonded >= needed.max(1) {
        println!("bonded {} USDC as {}", format_usdc(U256::from(bonded)), role.name());
        if role == BondRole::Validator
            && !chain.coordinator().approvedValidator(chain.address()).call().await?
        {
            println!(
                "NOT APPROVED: a validator's attestations count only once the coordinator's \
                 owner approves {} (false attestations cannot be punished yet)",
                chain.address()
            );
        }
        return Ok(());
    }
    let command = if role == BondRole::Gateway { "gateway" } else { "worker" };
    println!(
        "NOT BONDED: this network only uses a {role} with at least {need} USDC bonded (this one          has {have}), so it will not be {used} until it bonds. Bond from wallet {address} (it          needs USDC and gas): peerhost-node {command} bond {need} {flags} — or start it with \
         --bond {need}",
        role = role.name(),
        need = crate::usdc::format(needed),
        have = crate::usdc::format(bonded),
        used = if role == BondRole::Gateway { "given work" } else { "raced" },
        address = chain.address(),
        flags = args.flags(),
    );
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
