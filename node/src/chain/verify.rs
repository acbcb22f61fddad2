//! Checking an answer as its caller: the worker's signature over the body it received, the
//! bond of the account that signed the receipt on-chain, and — once the gateway anchored the
//! receipt — its inclusion under the root the chain holds. What `peerhost-node verify` runs;
//! it trusts neither the gateway nor the worker, only the chain it is pointed at.

use alloy::primitives::{Address, B256};
use peerhost_protocol::{AnswerReceipt, Receipt, ResultError};

use super::{Chain, ChainError, ProofError, ReceiptProof, receipt_signer};
use crate::dispatch::BondRole;

/// What a checked answer proved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The receipt.
    pub receipt: Receipt,
    /// The account bonded to the worker's key that signed the receipt, and its bond.
    pub bond: Option<(Address, u128)>,
    /// The gateway and epoch that anchored the receipt, when a proof was given.
    pub anchored: Option<(Address, u64)>,
}

/// Why an answer does not check out.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The receipt's signature, or the body against it.
    #[error("receipt: {0}")]
    Receipt(#[from] ResultError),
    /// The receipt has no chain signature (the answer came from an open-mode network).
    #[error("the receipt carries no chain signature: no bond stands behind it")]
    NoChainSignature,
    /// The chain signature is not by the account bonded to the worker's key.
    #[error(
        "the receipt's chain signature is by {signer}, whose worker bond is not for this worker's key"
    )]
    KeyMismatch {
        /// Who signed.
        signer: Address,
    },
    /// The signer's worker bond is below the network's minimum.
    #[error("worker account {account} holds {bonded} token units, below the minimum of {minimum}")]
    NotBonded {
        /// The account.
        account: Address,
        /// Its bond.
        bonded: u128,
        /// The network's minimum worker bond.
        minimum: u128,
    },
    /// The proof is for another chain or coordinator than the one checked against.
    #[error("the proof is for chain {chain_id} / coordinator {coordinator}, not the one checked")]
    OtherChain {
        /// The proof's chain.
        chain_id: u64,
        /// The proof's coordinator.
        coordinator: Address,
    },
    /// The proof does not hold.
    #[error("inclusion proof: {0}")]
    Proof(#[from] ProofError),
    /// The chain holds another root (or none) for the proof's anchor.
    #[error("gateway {gateway} anchored root {on_chain} for epoch {epoch}, not the proof's root")]
    RootMismatch {
        /// The gateway.
        gateway: Address,
        /// The epoch.
        epoch: u64,
        /// What the chain holds (zero: nothing anchored).
        on_chain: B256,
    },
    /// The chain could not be read.
    #[error(transparent)]
    Chain(#[from] ChainError),
}

/// Checks `answer` against `body`; with `chain`, the signer's worker bond; with `proof` too,
/// the receipt's inclusion under the root anchored on `chain`.
///
/// # Errors
///
/// The first check that fails, as [`VerifyError`].
pub async fn verify_answer(
    answer: &AnswerReceipt,
    body: &[u8],
    chain: Option<&Chain>,
    proof: Option<&ReceiptProof>,
) -> Result<Verified, VerifyError> {
    let receipt = answer.verify(body)?;
    let mut verified = Verified { receipt, bond: None, anchored: None };
    let Some(chain) = chain else {
        if let Some(proof) = proof {
            proof.check(&verified.receipt)?;
        }
        return Ok(verified);
    };
    let signature = answer.chain_signature.ok_or(VerifyError::NoChainSignature)?;
    let signer = receipt_signer(&chain.domain(), &verified.receipt, &signature)
        .ok_or(VerifyError::NoChainSignature)?;
    let stake = chain.stake_in(BondRole::Worker, signer).await?;
    if stake.nodeKey.0 != verified.receipt.worker.0 {
        return Err(VerifyError::KeyMismatch { signer });
    }
    let minimum = chain.bond_minimums().await?[BondRole::Worker.index()];
    if stake.bonded == 0 || stake.bonded < minimum {
        return Err(VerifyError::NotBonded { account: signer, bonded: stake.bonded, minimum });
    }
    verified.bond = Some((signer, stake.bonded));
    if let Some(proof) = proof {
        if proof.chain_id != chain.chain_id() || proof.coordinator != *chain.coordinator().address()
        {
            return Err(VerifyError::OtherChain {
                chain_id: proof.chain_id,
                coordinator: proof.coordinator,
            });
        }
        if proof.leaf.worker != signer {
            return Err(VerifyError::Proof(ProofError::NotInLeaf));
        }
        proof.check(&verified.receipt)?;
        let anchor = chain
            .coordinator()
            .anchorOf(proof.gateway, proof.epoch)
            .call()
            .await
            .map_err(ChainError::from)?;
        if anchor.root != proof.root {
            return Err(VerifyError::RootMismatch {
                gateway: proof.gateway,
                epoch: proof.epoch,
                on_chain: anchor.root,
            });
        }
        verified.anchored = Some((proof.gateway, proof.epoch));
    }
    Ok(verified)
}
