//! End-to-end tests: real nodes on loopback, real gossipsub, real iroh, real wasmtime.

// Tests read the clock only to assert that calls end promptly (never hang), not to time code.
#![allow(clippy::disallowed_methods, clippy::unwrap_used)]

mod chain;
mod churn;
mod direct;
mod executors;
mod faults;
mod gossip_scores;
mod healing;
mod hostile_peer;
mod integrity;
mod nat;
mod payments;
mod policy;
mod processes;
mod receipts;
mod secrets;
mod serving;
mod settlement;
mod silent;
mod trimming;
mod trust;
mod warm;
