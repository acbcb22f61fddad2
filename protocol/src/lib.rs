//! PeerHost's wire protocol: the types nodes exchange, how they are encoded, hashed and signed.
//!
//! This crate does no I/O and owns no runtime; the node, the simulator and the fuzzers all
//! share it.
//!
//! # Encoding
//!
//! Every type that travels, is hashed or is signed implements [`Wire`] and is encoded by
//! [`codec`] as canonical CBOR (packed serde structs: integer-keyed maps in field order,
//! definite lengths, shortest integers). Decoding untrusted bytes checks the size limit of the
//! type first, rejects trailing bytes and any non-canonical form, and then validates the
//! type's own invariants. Golden vectors in `tests/vectors/` pin the format.
//!
//! # Identity and signatures
//!
//! A node has one ed25519 key ([`NodeSecret`] / [`NodeKey`]): its libp2p peer id and iroh
//! endpoint id. Workers sign [`Receipt`]s as [`Envelope`]s over `domain ‖ payload`, with
//! domains from [`domain`]; a gateway's [`ExecutionRequest`] is authenticated once, by the
//! transport it travels on (a Noise-authenticated dispatch link), or on gossip by the
//! [`Published`] signature every gossip message carries. Function owners sign
//! [`DeploymentRecord`]s with an EVM [`Wallet`] (recoverable secp256k1, EIP-191), so
//! ownership is checked offline and, later, on-chain.
//!
//! # A request's life in types
//!
//! ```
//! use peerhost_protocol::*;
//!
//! let gateway = NodeSecret::from_bytes(&[1; 32]);
//! let worker = NodeSecret::from_bytes(&[2; 32]);
//! let owner: Owner = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266".parse().unwrap();
//!
//! // The gateway canonicalizes the HTTP call into an execution request (sent on a dispatch
//! // link or gossiped; the link's transport or the gossip signature authenticates the gateway).
//! let raw = RawRequest {
//!     owner, project: "hello", function: "echo", method: "GET", path: "/",
//!     query: Some("name=world"), headers: vec![], body: b"",
//! };
//! let request = CanonicalRequest::build(&raw, gateway.public(), 1, 1_700_000_000_000).unwrap();
//! let order = ExecutionRequest {
//!     request, bundle: BlobHash::of(b"bundle"), version: 1, deadline_ms: 1_700_000_010_000,
//!     attempt: 0, racers: vec![], reply_to: vec![], body: None,
//! };
//! let sent = codec::encode(&order);
//!
//! // A worker decodes it, runs the function, and signs a receipt for its response.
//! let received: ExecutionRequest = codec::decode(&sent).unwrap();
//! let response = HttpResponse { status: 200, headers: vec![], body: b"hi".to_vec() };
//! let receipt = Receipt {
//!     request_id: received.id(), result_hash: response.hash(), worker: worker.public(),
//!     fuel_used: 42, bundle: received.bundle,
//! };
//! let result = ExecutionResult { receipt: Envelope::seal(&worker, &receipt), response, chain_signature: None };
//!
//! // The gateway checks the receipt binds this response to its request.
//! assert_eq!(result.verify(&order.id()).unwrap().worker, worker.public());
//! ```

pub mod codec;
pub mod domain;
pub mod merkle;
pub mod topics;

mod bytes;
mod catalog;
mod deployment;
mod direct;
mod envelope;
mod execution;
mod gossip;
mod hash;
mod keys;
mod manifest;
mod names;
mod published;
mod request;
mod secrets;
mod wallet;

pub use bytes::ParseHexError;
pub use catalog::{CATALOG_PAGE, CatalogDigest, CatalogRequest, CatalogResponse, DIGEST_BUCKETS};
pub use codec::{DecodeError, Invalid, Wire};
pub use deployment::{
    DeploymentError, DeploymentRecord, MAX_SEALED_SECRETS_BYTES, SignedDeployment,
};
pub use direct::{
    BodyRequest, BodyResponse, DeclineReason, Delivery, DeliveryAck, OrderRequest, OrderResponse,
};
pub use domain::{ENGINE_ID, PROTOCOL_VERSION};
pub use envelope::{Envelope, OpenError, Signable};
pub use execution::{
    AnswerReceipt, ExecutionRequest, ExecutionResult, MAX_INLINE_BODY, MAX_RACERS, MAX_REPLY_ADDRS,
    Receipt, ResultError,
};
pub use gossip::{
    Announcement, Audit, EpochSummary, Heartbeat, MAX_ADDRS, MAX_AUDITS, MAX_EPOCH_LEAVES,
    MAX_HELD_BUNDLES, MAX_MESH_ADDR_LEN, WorkerLeaf,
};
pub use hash::{BlobHash, Keccak, RequestId, keccak256, keccak256_parts};
pub use keys::{NodeKey, NodeSecret, Signature, SignatureError};
pub use manifest::{
    BundleManifest, FunctionSpec, Limits, MAX_ALLOWED_HOSTS, MAX_DESCRIPTION_LEN, MAX_FUNCTIONS,
    MAX_INPUT_SCHEMA_LEN, Tier,
};
pub use names::{MAX_NAME_LEN, check_name};
pub use published::{MAX_PUBLISHED_DATA, Published, gossip_message_id};
pub use request::{
    CanonicalRequest, FORWARDED_HEADERS, Header, HttpResponse, MAX_BODY_LEN, MAX_HEADER_BYTES,
    MAX_HEADERS, MAX_PATH_LEN, MAX_QUERY_LEN, RawRequest, is_forwarded_header,
};
pub use secrets::{
    MAX_AUTHORIZED, MAX_SECRET_LEN, MAX_SECRETS, ProjectSecret, SealedSecret, SecretError,
    check_secret_name,
};
pub use wallet::{EvmSignature, Owner, ParseOwnerError, Wallet, WalletError, recover_personal};
