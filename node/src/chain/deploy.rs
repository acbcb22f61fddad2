//! Puts PeerHost's contracts on a chain: the token (`MockUSDC`, for local chains) and the
//! coordinator, with the treasury funded. Devnets and tests use it; a real network deploys
//! the coordinator against real USDC the same way.

use alloy::{
    primitives::{Address, B256, U256, aliases::U96},
    signers::local::PrivateKeySigner,
};
use peerhost_contracts::{ExecutionCoordinator, MockUSDC};

use super::ChainError;

/// One USDC in token units (6 decimals).
pub const USDC: u64 = 1_000_000;

/// What to deploy.
#[derive(Debug, Clone)]
pub struct DeployOptions {
    /// Seconds per epoch.
    pub epoch_length_s: u64,
    /// Coordinator parameters.
    pub params: ExecutionCoordinator::Params,
    /// Token units minted to the admin and put in the treasury.
    pub treasury: U256,
}

impl DeployOptions {
    /// Settings for a local network: short epochs so anchoring is seen within seconds, a
    /// 1 000 USDC treasury paying 0.001 USDC per request won and 0.00025 USDC per assist (up
    /// to two losing racers per call that agreed; at most 10 000 requests per owner and 20 000
    /// per gateway in an epoch, so one gateway draws at most 30 USDC an epoch), 10 USDC minimum
    /// bonds in every role, 5 % protocol fee, half the stake slashed per offence (a fifth of it to the challenger),
    /// one validator's word enough, anchored receipts challengeable for a minute (1 USDC
    /// deposit, 30 s to answer), epochs anchorable for an hour after they end.
    pub fn devnet(epoch_length_s: u64) -> Self {
        Self {
            epoch_length_s,
            params: ExecutionCoordinator::Params {
                unbondDelay: 60,
                claimWindow: 7 * 24 * 3600,
                challengeWindow: 60,
                answerWindow: 30,
                minWorkerBond: 10 * u128::from(USDC),
                minGatewayBond: 10 * u128::from(USDC),
                minValidatorBond: 10 * u128::from(USDC),
                rewardPerRequest: USDC / 1000,
                assistReward: USDC / 4000,
                assistsPerRequest: 2,
                ownerBudgetPerEpoch: 10_000,
                gatewayBudgetPerEpoch: 20_000,
                challengeDeposit: U96::from(USDC),
                anchorWindow: 3600,
                protocolFeeBps: 500,
                slashBps: 5000,
                challengerBps: 2000,
                validatorQuorum: 1,
            },
            treasury: U256::from(1_000 * USDC),
        }
    }
}

/// Addresses of a deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deployment {
    /// The token.
    pub usdc: Address,
    /// The coordinator.
    pub coordinator: Address,
}

/// Deploys `MockUSDC` and the coordinator from `admin_key` (which becomes the admin of both),
/// then mints and funds the treasury.
///
/// # Errors
///
/// [`ChainError`] from the RPC or a reverted step.
pub async fn deploy(
    rpc_url: &str,
    admin_key: &[u8; 32],
    options: &DeployOptions,
) -> Result<Deployment, ChainError> {
    let signer = PrivateKeySigner::from_bytes(&B256::from(*admin_key))
        .map_err(|e| ChainError::Deploy(format!("admin key: {e}")))?;
    let admin = signer.address();
    let provider = super::signing_provider(rpc_url, signer).await?;
    let usdc = MockUSDC::deploy(provider.clone(), admin).await?;
    let coordinator = ExecutionCoordinator::deploy(
        provider.clone(),
        *usdc.address(),
        options.epoch_length_s,
        options.params.clone(),
        admin,
    )
    .await?;
    usdc.mint(admin, options.treasury).send().await?.get_receipt().await?;
    usdc.approve(*coordinator.address(), options.treasury).send().await?.get_receipt().await?;
    coordinator.fundTreasury(options.treasury).send().await?.get_receipt().await?;
    Ok(Deployment { usdc: *usdc.address(), coordinator: *coordinator.address() })
}
