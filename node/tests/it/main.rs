//! Integration tests of the `peerhost-node` binary as a user runs it: real processes.

// Tests read the clock to bound how long they wait, and unwrap freely.
#![allow(clippy::disallowed_methods, clippy::unwrap_used, clippy::print_stderr)]

mod cli;
mod determinism;
mod engine;
mod guests;
mod hostile;
mod isolation;
mod javascript;
mod outbound;
mod sandbox;
