//! Integration tests of the wire format: golden vectors, round trips, hostile bytes.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod hostile;
mod roundtrip;
mod samples;
mod vectors;
