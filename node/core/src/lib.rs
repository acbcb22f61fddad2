//! # peerhost-core
//!
//! I/O-free protocol decisions, shared by the real node and the simulator (STYLE §2). It
//! builds without libp2p, tokio, wasmtime or alloy's providers, so `peerhost-simnet` depends on
//! it alone; `peerhost-node` re-exports it as `peerhost_node::dispatch`.
//!
//! Nothing here reads a clock, draws randomness or touches the network: callers pass `now`
//! (Unix milliseconds) and facts, and get decisions back.
//!
//! - [`audits`]: which anchored receipts are re-executed;
//! - [`admission`]: which gossiped requests a worker forwards and races;
//! - [`racers`]: which workers race a request (rendezvous hashing);
//! - [`race`]: which result a gateway accepts, and when it re-dispatches or gives up;
//! - [`bonds`]: which nodes are bonded, in which role, for how much;
//! - [`registry`]: which deployments are current;
//! - [`reputation`]: how much a gateway trusts each worker, from what it measured;
//! - [`directory`]: which workers are alive and what they hold.

pub mod admission;
pub mod audits;
pub mod bonds;
pub mod directory;
pub mod race;
pub mod racers;
pub mod registry;
pub mod reputation;

pub use admission::{Admission, Forward, Role, Skip, admit};
pub use audits::AuditRate;
pub use bonds::{BondBook, BondEvent, BondRole, Trust};
pub use directory::{Directory, Observed, WorkerInfo};
pub use race::{Ignored, Race, RaceConfig, Step};
pub use racers::Candidate;
pub use registry::{Deployment, Inserted, Registry};
pub use reputation::{Outcome, Reputation, ReputationConfig};
