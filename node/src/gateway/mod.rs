//! The HTTP gateway: turns HTTP calls into execution requests sent to the chosen racers (on
//! their dispatch links, else signed on gossip) and returns the first acceptable signed
//! result.
//!
//! `http://<listen>/<owner>/<project>/<function>[/path]` and, with `Host: <owner>.<domain>`,
//! `/<project>/<function>[/path]`. Every method, query and body (up to the function's limit,
//! else 413) passes through. Responses carry `x-peerhost-request-id`, `x-peerhost-worker` and
//! the worker's signed receipt (`x-peerhost-receipt`), which `GET /receipts/<request id>`
//! serves again with its inclusion proof once anchored.
//! Unknown functions get a 404 JSON body naming what is missing; no result by the deadline
//! means one re-dispatch, then a 504 JSON body.

mod call;
mod error;
mod http;
mod limits;
mod links;
#[cfg(feature = "chain")]
mod mcp;
#[cfg(feature = "chain")]
mod orders;
#[cfg(feature = "chain")]
mod paid;
mod pending;
mod receipts;
mod routes;
mod stragglers;
mod witness;
#[cfg(feature = "chain")]
pub mod x402;

use std::{
    net::SocketAddr,
    sync::{Arc, atomic::AtomicU64},
};

use peerhost_protocol::NodeSecret;

pub use call::{Answer, Incoming, Resolved};
pub use error::CallError;
pub(crate) use http::serve;
pub(crate) use pending::Pending;
pub use routes::{RouteError, Target, resolve};

/// How long after starting a gateway that has pulled no peer's catalog yet answers a call of
/// a function it does not know `503 starting` rather than `404` (a restarted gateway relearns
/// the deployments from its peers within a moment; a caller retrying a payment must not be
/// told its function does not exist).
pub const CATALOG_GRACE_MS: u64 = 10_000;

use crate::{mesh::MeshClient, view::View};

/// Gateway settings.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// HTTP listen address.
    pub listen: SocketAddr,
    /// Domain for the `<owner>.<domain>` host form.
    pub domain: String,
    /// Largest request body accepted for any function.
    pub max_body_bytes: u64,
    /// Racers per attempt for `fast` functions.
    pub fast_racers: usize,
    /// Racers per attempt for `verified` functions.
    pub verified_racers: usize,
    /// Matching results needed for `verified` functions.
    pub verified_quorum: usize,
    /// Dispatch attempts before answering 504 (the first counts).
    pub max_attempts: u8,
    /// Times a `verified` call whose racers disagree brings in fresh racers before it ends
    /// with `502 no_agreement`.
    pub max_escalations: u8,
    /// Added to a function's timeout to make one attempt's deadline (network, fetch, compile).
    pub slack_ms: u64,
    /// Free calls of priced functions per caller (IP address) per day; 0 = none.
    pub free_calls: u32,
    /// Unpriced (treasury-funded) calls per caller (IP address) per minute, a sixth of them
    /// at once; 0 = no limit. Over it, callers get `429` with `Retry-After`.
    pub free_rate_per_minute: u32,
    /// Test switch (`test-utils` feature): dispatch even without a gateway bond, as a rogue
    /// gateway would, so the tests see workers refuse it.
    #[cfg(feature = "test-utils")]
    pub ignore_own_bond: bool,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8787)),
            domain: "localhost".into(),
            max_body_bytes: 32 << 20,
            fast_racers: 2,
            verified_racers: 3,
            verified_quorum: 2,
            max_attempts: 2,
            max_escalations: 2,
            slack_ms: 3_000,
            free_calls: 0,
            free_rate_per_minute: 0,
            #[cfg(feature = "test-utils")]
            ignore_own_bond: false,
        }
    }
}

/// The gateway core, shared by all HTTP handlers.
pub struct Gateway {
    secret: NodeSecret,
    mesh: MeshClient,
    view: Arc<View>,
    pub(crate) pending: Arc<Pending>,
    /// Dispatch links to workers.
    pub(crate) links: Arc<links::Links>,
    /// Orders dispatched, for validators auditing them (chain-connected gateways only).
    #[cfg(feature = "chain")]
    orders: orders::Orders,
    nonce: AtomicU64,
    /// Attempts dispatched after the first (a racer was lost, declined or too slow).
    pub(crate) redispatched: AtomicU64,
    /// Orders sent to a racer on its dispatch link, and orders gossiped.
    pub(crate) sent: [AtomicU64; 2],
    /// When it started, and whether it has since pulled a peer's catalog of deployments:
    /// until then (or [`CATALOG_GRACE_MS`]) a function it does not know may well exist.
    started_ms: u64,
    pub(crate) catalog_pulled: std::sync::atomic::AtomicBool,
    config: GatewayConfig,
    /// Rate limit of unpriced calls per caller.
    free_rate: Option<limits::FreeRate>,
    /// What this gateway measured of each worker; weights its racer choice.
    reputation: std::sync::Mutex<crate::dispatch::Reputation>,
    /// Receipts of recent answers, for `GET /receipts/<id>`.
    receipts: receipts::Receipts,
    /// Answered calls still listening for their other racers (bounded: past it, late results
    /// are not waited for).
    pub(crate) lingering: Arc<tokio::sync::Semaphore>,
    /// Where accepted receipts go to be anchored, once the node is connected to a chain.
    #[cfg(feature = "chain")]
    pub(crate) anchoring: std::sync::OnceLock<crate::chain::Anchoring>,
    /// The coordinator's EIP-712 domain, once the node is connected to a chain: results
    /// count only with a receipt signature by the worker's bonded account.
    #[cfg(feature = "chain")]
    pub(crate) receipt_domain: std::sync::OnceLock<alloy::sol_types::Eip712Domain>,
    /// Takes x402 payments for priced functions, once the node is connected to a chain.
    #[cfg(feature = "chain")]
    pub(crate) paywall: std::sync::OnceLock<Arc<x402::Paywall>>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway").field("config", &self.config).finish_non_exhaustive()
    }
}

impl Gateway {
    pub(crate) fn new(
        secret: NodeSecret,
        mesh: MeshClient,
        view: Arc<View>,
        config: GatewayConfig,
        shutdown: tokio_util::sync::CancellationToken,
    ) -> Self {
        // Nonces start from the clock so they never repeat across restarts of this key.
        let nonce = AtomicU64::new(crate::clock::unix_ms() << 20);
        let free_rate = limits::FreeRate::new(config.free_rate_per_minute);
        let pending = Arc::<Pending>::default();
        let links = Arc::new(links::Links::new(mesh.clone(), pending.clone(), shutdown));
        Self {
            secret,
            mesh,
            view,
            pending,
            links,
            #[cfg(feature = "chain")]
            orders: orders::Orders::default(),
            nonce,
            redispatched: AtomicU64::new(0),
            sent: Default::default(),
            started_ms: crate::clock::unix_ms(),
            catalog_pulled: std::sync::atomic::AtomicBool::new(false),
            config,
            reputation: std::sync::Mutex::default(),
            receipts: receipts::Receipts::default(),
            lingering: Arc::new(tokio::sync::Semaphore::new(stragglers::MAX_LINGERING)),
            free_rate,
            #[cfg(feature = "chain")]
            anchoring: std::sync::OnceLock::new(),
            #[cfg(feature = "chain")]
            receipt_domain: std::sync::OnceLock::new(),
            #[cfg(feature = "chain")]
            paywall: std::sync::OnceLock::new(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &GatewayConfig {
        &self.config
    }

    /// Dispatch links to workers open now.
    pub fn dispatch_links(&self) -> usize {
        self.links.open_count()
    }

    /// Orders sent so far: (to a racer on its link, gossiped).
    pub fn orders_sent(&self) -> (u64, u64) {
        let [direct, gossip] = &self.sent;
        (
            direct.load(std::sync::atomic::Ordering::Relaxed),
            gossip.load(std::sync::atomic::Ordering::Relaxed),
        )
    }

    /// The order dispatched for `id`, if kept (for a validator auditing it).
    pub(crate) fn order(
        &self,
        id: &peerhost_protocol::RequestId,
    ) -> Option<peerhost_protocol::ExecutionRequest> {
        #[cfg(feature = "chain")]
        return self.orders.get(id);
        #[cfg(not(feature = "chain"))]
        {
            let _ = id;
            None
        }
    }

    /// Keeps an answer's receipt for `GET /receipts/<id>`.
    #[cfg_attr(not(feature = "chain"), allow(dead_code))] // the chain's anchorer calls it
    pub(crate) fn keep_receipt(&self, answer: &Answer) {
        self.receipts.keep(answer.request_id, answer.receipt.clone());
    }

    /// Whether an unknown function may only be one this gateway has not learned yet.
    pub(crate) fn still_learning(&self) -> bool {
        !self.catalog_pulled.load(std::sync::atomic::Ordering::Relaxed)
            && crate::clock::unix_ms().saturating_sub(self.started_ms) < CATALOG_GRACE_MS
    }

    /// Keeps a receipt recovered from the anchorer's journal after a restart.
    #[cfg(feature = "chain")]
    pub(crate) fn restore_receipt(&self, receipt: peerhost_protocol::AnswerReceipt) {
        if let Ok(opened) = receipt.receipt.open() {
            self.receipts.keep(opened.request_id, receipt);
        }
    }

    /// Whether `caller` may make another unpriced (treasury-funded) call now.
    ///
    /// # Errors
    ///
    /// [`CallError::RateLimited`] with the wait.
    pub fn check_free_rate(&self, caller: Option<std::net::IpAddr>) -> Result<(), CallError> {
        if let (Some(rate), Some(caller)) = (&self.free_rate, caller) {
            rate.check(caller).map_err(|wait| CallError::RateLimited {
                retry_after_s: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
            })?;
        }
        Ok(())
    }

    /// The reputation weight this gateway gives `worker` now.
    pub fn worker_weight(&self, worker: &peerhost_protocol::NodeKey) -> f64 {
        self.reputation.lock().expect("reputation lock").weight(worker, crate::clock::unix_ms())
    }
}
