//! The devnet's local chain: anvil with the real contracts, the admin, the payer and faucet
//! test accounts, and enrolling the devnet's nodes (gas, test USDC, bonds) on it.

use std::{path::PathBuf, time::Duration};

use alloy::primitives::{B256, U256};
use peerhost_protocol::Wallet;

use super::{Devnet, DevnetError};
use crate::{
    Node,
    chain::{
        Chain, ChainError, LocalChain,
        deploy::{DeployOptions, Deployment, USDC, deploy},
    },
    dispatch::BondRole,
};

/// The devnet's local chain.
#[derive(Debug, Clone)]
pub struct DevnetChainOptions {
    /// The `anvil` binary (default: see [`crate::chain::anvil::find_anvil`]).
    pub anvil: Option<PathBuf>,
    /// Seconds per epoch.
    pub epoch_length_s: u64,
    /// USDC (token units) each worker bonds (and the gateway, and the validator).
    pub bond: u64,
    /// How often gateways look for finished epochs.
    pub tick: Duration,
    /// Share of each epoch's receipts the gateway puts up for re-execution.
    pub audit_fraction: f64,
    /// Worker 0 also validates (registered as validator, re-executes audited receipts).
    pub validator: bool,
    /// Requests of one function owner the treasury pays for per epoch (`None`: the devnet
    /// default of [`DeployOptions::devnet`]).
    pub owner_budget: Option<u32>,
}

impl Default for DevnetChainOptions {
    fn default() -> Self {
        Self {
            anvil: None,
            epoch_length_s: 10,
            bond: 50 * USDC,
            tick: Duration::from_secs(1),
            audit_fraction: 0.1,
            validator: true,
            owner_budget: None,
        }
    }
}

/// The devnet's chain: anvil, the deployed contracts, and the admin's client.
#[derive(Debug)]
pub struct DevnetChain {
    /// The running anvil (stopped with the devnet).
    pub local: LocalChain,
    /// Contract addresses.
    pub deployment: Deployment,
    /// The admin (anvil's first account, also the devnet owner).
    pub admin: Chain,
    /// A test account holding test USDC and no other role: the devnet's x402 payer.
    pub payer: [u8; 32],
    /// A test account holding test USDC and gas that volunteers bond from (`--fund-from`).
    pub faucet: [u8; 32],
}

/// Test USDC the devnet's payer account starts with.
pub const PAYER_USDC: u64 = 100 * USDC;
/// Test USDC the devnet's faucet account starts with.
pub const FAUCET_USDC: u64 = 10_000 * USDC;

impl DevnetChain {
    /// Gives `node` gas money and `bond` test USDC, then bonds it in `role` with its mesh key.
    ///
    /// # Errors
    ///
    /// A chain step failed.
    pub async fn enrol(&self, node: &Node, role: BondRole, bond: U256) -> Result<(), ChainError> {
        let client = node.chain().ok_or_else(|| ChainError::Deploy("node has no chain".into()))?;
        let gas = U256::from(10u64) * U256::from(10u64).pow(U256::from(18u64));
        self.admin.send_native(client.address(), gas).await?;
        self.admin.mint(client.address(), bond).await?;
        client.bond(role, bond, B256::from(node.node_key().0)).await?;
        Ok(())
    }
}

/// Starts anvil and deploys the contracts with anvil's first account as admin.
pub(super) async fn start_chain(options: &DevnetChainOptions) -> Result<DevnetChain, DevnetError> {
    let local = LocalChain::start(options.anvil.as_deref())?;
    let admin_key = local.keys()[0];
    let mut deploy_options = DeployOptions::devnet(options.epoch_length_s);
    if let Some(budget) = options.owner_budget {
        deploy_options.params.ownerBudgetPerEpoch = budget;
    }
    let deployment = deploy(&local.http_url(), &admin_key, &deploy_options).await?;
    let admin = Chain::connect(
        &local.http_url(),
        deployment.coordinator,
        &Wallet::from_bytes(&admin_key).map_err(|e| ChainError::Deploy(e.to_string()))?,
    )
    .await?
    .with_events_url(&local.ws_url())
    .await?;
    // Anvil's last two development accounts: no node uses them.
    let keys = local.keys();
    let payer = keys[keys.len() - 1];
    let faucet = keys[keys.len() - 2];
    Ok(DevnetChain { local, deployment, admin, payer, faucet })
}

impl Devnet {
    /// On the chain: gas money and test USDC for every node; a worker bond for every worker,
    /// a validator bond and the admin's approval for worker 0, a gateway bond for the gateway;
    /// test USDC for the payer and the faucet.
    pub(super) async fn enrol(&self) -> Result<(), DevnetError> {
        let (Some(chain), Some(options)) = (&self.chain, &self.options.chain) else {
            return Ok(());
        };
        let bond = U256::from(options.bond);
        for (i, worker) in self.workers.iter().enumerate() {
            let validates = options.validator && i == 0;
            chain.enrol(worker, BondRole::Worker, bond).await?;
            if validates {
                chain.enrol(worker, BondRole::Validator, bond).await?;
                let account = worker.chain().map(Chain::address).unwrap_or_default();
                chain.admin.approve_validator(account, true).await?;
            }
        }
        chain.enrol(&self.gateway, BondRole::Gateway, bond).await?;
        let account = |key: &[u8; 32]| {
            Wallet::from_bytes(key)
                .map(|w| w.owner().0)
                .map_err(|e| ChainError::Deploy(e.to_string()))
        };
        chain.admin.mint(account(&chain.payer)?, U256::from(PAYER_USDC)).await?;
        chain.admin.mint(account(&chain.faucet)?, U256::from(FAUCET_USDC)).await?;
        Ok(())
    }

    /// On a chain: waits until the gateway's bond book (followed from chain events) admits
    /// the gateway itself and every worker, so the first call finds them bonded.
    pub(super) async fn wait_for_bonds(&self) -> Result<(), DevnetError> {
        if self.chain.is_none() {
            return Ok(());
        }
        let deadline = tokio::time::Instant::now() + self.options.timeout;
        loop {
            let admitted = {
                let bonds = self.gateway.view().bonds.read().expect("bonds lock");
                bonds.synced()
                    && bonds.admits(BondRole::Gateway, &self.gateway.node_key(), 0)
                    && self.workers.iter().all(|w| bonds.admits(BondRole::Worker, &w.node_key(), 0))
            };
            if admitted {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(DevnetError::Chain(ChainError::Deploy(
                    "the gateway did not see the devnet's bonds in time".into(),
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
