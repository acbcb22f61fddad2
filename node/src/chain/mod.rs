//! The settlement client: everything a node does on the chain. Nodes bond in their roles and
//! follow the bonded set from events (`stakes.rs`); gateways anchor their epoch's receipts and
//! settle x402 payments (the one chain step a priced call waits for); workers claim rewards
//! and unbond; validators file disputes. Free calls never wait for the chain. [`LocalChain`] runs anvil for devnets and tests and
//! [`deploy`](deploy::deploy) puts the contracts on it.

pub mod anvil;
pub mod deploy;
pub mod events;

mod admin;
mod anchorer;
mod anchoring;
mod bonds;
mod challenges;
mod claimer;
mod disputes;
mod error;
mod leaves;
mod payments;
mod proofs;
mod receipt_journal;
mod recording;
mod stakes;
mod verify;

use std::{sync::Arc, time::Duration};

use alloy::{
    network::EthereumWallet,
    primitives::{Address, B256, TxHash},
    providers::{DynProvider, Provider, ProviderBuilder},
    rpc::types::TransactionReceipt,
    signers::local::PrivateKeySigner,
    sol_types::Eip712Domain,
};
use peerhost_contracts::{
    ExecutionCoordinator::{self, ExecutionCoordinatorInstance},
    MockUSDC::{self, MockUSDCInstance},
    receipts,
};
use peerhost_protocol::Wallet;

pub use anchorer::{Started as AnchorerStarted, spawn as spawn_anchorer};
pub use anvil::{LOCAL_CHAIN_ID, LocalChain};
pub use claimer::{Claims, spawn as spawn_claimer};
pub use disputes::receipt_signer;
pub(crate) use disputes::sign as sign_prehash;
pub use leaves::chain_receipt;
pub use payments::PaymentState;
pub use proofs::{LeafJson, ProofError, ReceiptProof};
pub use receipt_journal::JournalError;
pub use recording::Anchoring;
pub(crate) use stakes::spawn as spawn_stakes;
pub use verify::{Verified, VerifyError, verify_answer};

/// Where a node's chain is.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainConfig {
    /// JSON-RPC endpoint (`http(s)://` or `ws(s)://`).
    pub rpc_url: String,
    /// A WebSocket endpoint of the same chain for event subscriptions, when `rpc_url` is
    /// HTTP (see [`Chain::with_events_url`]); `None` subscribes over `rpc_url`.
    pub events_url: Option<String>,
    /// The coordinator contract.
    pub coordinator: Address,
    /// How often gateways look for finished epochs.
    pub tick: Duration,
    /// Share of each anchored epoch's receipts a gateway puts up for re-execution.
    pub audit_fraction: f64,
    /// Re-execute audited receipts and file disputes (a worker registered as validator).
    pub validate: bool,
}

impl ChainConfig {
    /// `rpc_url` and `coordinator`: finished epochs checked every second, 5 % of receipts
    /// audited, no validation.
    pub fn new(rpc_url: impl Into<String>, coordinator: Address) -> Self {
        Self {
            rpc_url: rpc_url.into(),
            events_url: None,
            coordinator,
            tick: Duration::from_secs(1),
            audit_fraction: 0.05,
            validate: false,
        }
    }
}
pub use error::ChainError;

/// A node's stake in one role, as the coordinator holds it.
pub type Stake = ExecutionCoordinator::Stake;

/// One node's connection to the chain, signing with the node's EVM wallet.
#[derive(Debug, Clone)]
pub struct Chain {
    signer: PrivateKeySigner,
    provider: DynProvider,
    /// Where event subscriptions go: `provider`, unless [`Chain::with_events_url`] split them.
    events: DynProvider,
    coordinator: ExecutionCoordinatorInstance<DynProvider>,
    token: MockUSDCInstance<DynProvider>,
    address: Address,
    chain_id: u64,
    /// Held from filling a transaction's nonce until it is sent, so concurrent sends of one
    /// node never share a nonce.
    send_lock: Arc<tokio::sync::Mutex<()>>,
}

impl Chain {
    /// Connects to `rpc_url` (`http(s)://` or `ws(s)://`) and the coordinator at
    /// `coordinator`, signing with `wallet`.
    ///
    /// # Errors
    ///
    /// [`ChainError::Connect`] if the endpoint does not answer; [`ChainError::Contract`] if
    /// there is no coordinator at that address.
    pub async fn connect(
        rpc_url: &str,
        coordinator: Address,
        wallet: &Wallet,
    ) -> Result<Self, ChainError> {
        let signer = PrivateKeySigner::from_bytes(&B256::from(wallet.to_bytes()))
            .expect("a wallet key is a valid secp256k1 scalar");
        let address = signer.address();
        let provider = signing_provider(rpc_url, signer.clone()).await?;
        let chain_id = provider
            .get_chain_id()
            .await
            .map_err(|source| ChainError::Connect { url: rpc_url.to_owned(), source })?;
        let coordinator = ExecutionCoordinator::new(coordinator, provider.clone());
        let token = coordinator.token().call().await?;
        let token = MockUSDC::new(token, provider.clone());
        Ok(Self {
            signer,
            events: provider.clone(),
            provider,
            coordinator,
            token,
            address,
            chain_id,
            send_lock: Arc::default(),
        })
    }

    /// Connects as [`Chain::connect`] does to `config`'s endpoint and coordinator, with event
    /// subscriptions on `config.events_url` where it is set ([`Chain::with_events_url`]).
    ///
    /// # Errors
    ///
    /// As [`Chain::connect`].
    pub async fn connect_to(config: &ChainConfig, wallet: &Wallet) -> Result<Self, ChainError> {
        let chain = Self::connect(&config.rpc_url, config.coordinator, wallet).await?;
        match &config.events_url {
            Some(url) => chain.with_events_url(url).await,
            None => Ok(chain),
        }
    }

    /// This node's chain address.
    pub fn address(&self) -> Address {
        self.address
    }

    /// The chain id.
    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// The coordinator contract.
    pub fn coordinator(&self) -> &ExecutionCoordinatorInstance<DynProvider> {
        &self.coordinator
    }

    /// The payment and bond token (USDC; `MockUSDC` on local chains — its ERC-20 and
    /// EIP-3009 functions are USDC's).
    pub fn token(&self) -> &MockUSDCInstance<DynProvider> {
        &self.token
    }

    /// The provider, for reads and transactions.
    pub fn provider(&self) -> &DynProvider {
        &self.provider
    }

    /// The provider event subscriptions go to (see [`Chain::with_events_url`]).
    pub fn events_provider(&self) -> &DynProvider {
        &self.events
    }

    /// Follows events over `url` (a `ws://` or `wss://` endpoint of the same chain) and keeps
    /// reads and transactions on the endpoint this client connected to. Over HTTP each request
    /// is one exchange; on a WebSocket shared with subscriptions, a server that leaves Nagle's
    /// algorithm on (anvil does) holds back a response written right behind a notification
    /// until our delayed ACK, 40 ms later.
    ///
    /// # Errors
    ///
    /// [`ChainError::Connect`] if the endpoint does not answer.
    pub async fn with_events_url(mut self, url: &str) -> Result<Self, ChainError> {
        self.events = signing_provider(url, self.signer.clone()).await?;
        Ok(self)
    }

    /// The coordinator's EIP-712 domain (receipts, attestations).
    pub fn domain(&self) -> Eip712Domain {
        receipts::domain(self.chain_id, *self.coordinator.address())
    }
}

/// A provider that signs with `signer`. Nonces are read from the chain for every transaction
/// (a call that fails estimation must not leave a gap, as a cached nonce would), and a
/// receipt not seen within a minute is an error rather than a hang.
pub(crate) async fn signing_provider(
    rpc_url: &str,
    signer: PrivateKeySigner,
) -> Result<DynProvider, ChainError> {
    install_tls_provider();
    let connect_error = |source| ChainError::Connect { url: rpc_url.to_owned(), source };
    let builder = ProviderBuilder::default()
        .with_gas_estimation()
        .with_simple_nonce_management()
        .fetch_chain_id()
        .wallet(EthereumWallet::from(signer));
    let provider = if rpc_url.starts_with("http://") || rpc_url.starts_with("https://") {
        let url = rpc_url
            .parse::<alloy::transports::http::reqwest::Url>()
            .map_err(|e| connect_error(alloy::transports::TransportErrorKind::custom(e)))?;
        let client = alloy::rpc::client::RpcClient::new_http(url);
        // Receipts are polled for over HTTP: a local chain mines at once, a real one a block
        // in a second or two; alloy's defaults (250 ms locally, 7 s otherwise) add that much.
        let poll = if client.is_local() { HTTP_POLL_LOCAL } else { HTTP_POLL };
        builder.connect_client(client.with_poll_interval(poll)).erased()
    } else {
        builder.connect(rpc_url).await.map_err(connect_error)?.erased()
    };
    Ok(provider)
}

/// The next item of a role's queue, or `None` once the node stops or the queue closes.
pub(crate) async fn next_or_stop<T>(
    rx: &mut tokio::sync::mpsc::Receiver<T>,
    shutdown: &tokio_util::sync::CancellationToken,
) -> Option<T> {
    tokio::select! {
        () = shutdown.cancelled() => None,
        item = rx.recv() => item,
    }
}

/// How often an HTTP client on a local chain polls for a receipt.
const HTTP_POLL_LOCAL: Duration = Duration::from_millis(5);
/// How often an HTTP client polls for a receipt otherwise.
const HTTP_POLL: Duration = Duration::from_millis(500);

/// How long a sent transaction may take to be mined.
const RECEIPT_TIMEOUT: Duration = Duration::from_secs(60);

/// Makes ring the process's TLS provider (once) before any RPC client is built: several
/// crates in the build enable rustls without choosing a provider, and HTTPS/WSS RPC needs one.
pub(crate) fn install_tls_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Another provider installed first by the embedding program is fine too.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

impl Chain {
    /// Sends a contract call and waits for it to be mined successfully.
    pub(crate) async fn confirm<D: alloy::contract::CallDecoder>(
        &self,
        call: alloy::contract::CallBuilder<&DynProvider, D>,
    ) -> Result<TxHash, ChainError> {
        self.confirm_within(call, RECEIPT_TIMEOUT).await
    }

    /// [`Chain::confirm`], giving up on the receipt after `wait`.
    pub(crate) async fn confirm_within<D: alloy::contract::CallDecoder>(
        &self,
        call: alloy::contract::CallBuilder<&DynProvider, D>,
        wait: Duration,
    ) -> Result<TxHash, ChainError> {
        let pending = {
            let _sending = self.send_lock.lock().await;
            call.send().await?
        };
        check(pending.with_timeout(Some(wait)).get_receipt().await?)
    }
}

pub(crate) fn check(receipt: TransactionReceipt) -> Result<TxHash, ChainError> {
    if receipt.status() {
        Ok(receipt.transaction_hash)
    } else {
        Err(ChainError::Failed(receipt.transaction_hash))
    }
}
