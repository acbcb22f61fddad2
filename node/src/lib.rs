//! # peerhost-node
//!
//! A PeerHost node: a libp2p mesh member that can be a **worker** (runs functions in a
//! wasmtime sandbox), a **gateway** (turns HTTP calls into signed execution requests and
//! returns signed results), a **deployer** (publishes bundles over iroh), or a bootstrap
//! peer — any combination, in one process.
//!
//! A call travels: HTTP → gateway canonicalizes it into an execution request → the chosen
//! racers' dispatch links (or gossip, sharded by project, for a racer without one) → the
//! workers admit it, fetch the bundle if needed (iroh, BLAKE3-verified), run it with fuel,
//! memory and time limits, sign a receipt → the result comes back to the gateway on the same
//! link → the first valid result (or the
//! first `q` agreeing ones, for `verified` functions) is the HTTP response. A free call never
//! waits for the chain: who is bonded (and so may race or dispatch) is followed from chain
//! events in the background; a priced call waits for one x402 settlement before dispatch.
//!
//! The protocol decisions (admission, racer choice, result acceptance, re-dispatch) are
//! I/O-free state machines in [`dispatch`] (the `peerhost-core` crate), so `peerhost-simnet`
//! runs the very same code.
//!
//! ## Features
//!
//! - `gateway` (default): the axum HTTP gateway.
//! - `worker` (default): the wasmtime sandbox and worker. A Rust service that only embeds
//!   the mesh client to act as a gateway can turn it off and never build wasmtime.
//! - `blobs` (implied by `worker`): the iroh bundle store, needed to deploy.
//! - `chain` (default): the settlement client (alloy) — anchoring, rewards, bonds, disputes.
//!
//! ## Embedding the mesh
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use peerhost_node::{Node, NodeConfig};
//!
//! let bootstrap = "/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN".parse()?;
//! let node = Node::start(NodeConfig::new("/tmp/peerhost-demo").bootstrap(vec![bootstrap])).await?;
//! println!("joined as {}", node.peer_id());
//! node.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! ## Tracing targets
//!
//! `peerhost::mesh`, `peerhost::node`, `peerhost::worker`, `peerhost::sandbox`,
//! `peerhost::gateway`, `peerhost::blobs`, `peerhost::deploy` (see `docs/tracing.md`).

pub mod clock;
/// The I/O-free protocol decisions (the `peerhost-core` crate), shared with `peerhost-simnet`.
pub use peerhost_core as dispatch;
pub mod keys;
pub mod mesh;
pub mod runtime;
pub mod usdc;
pub mod view;

#[cfg(any(feature = "worker", feature = "blobs"))]
mod atomic_file;
#[cfg(feature = "blobs")]
pub mod blobs;
#[cfg(feature = "chain")]
pub mod chain;
#[cfg(all(feature = "worker", feature = "gateway", feature = "chain"))]
pub mod cli;
#[cfg(feature = "blobs")]
pub mod deploy;
#[cfg(all(feature = "worker", feature = "gateway", feature = "chain"))]
pub mod devnet;
#[cfg(feature = "worker")]
pub mod executor;
#[cfg(feature = "gateway")]
pub mod gateway;
#[cfg(feature = "worker")]
pub mod sandbox;
#[cfg(feature = "worker")]
pub mod worker;

pub use runtime::{Node, NodeConfig, NodeError};
pub use view::View;
