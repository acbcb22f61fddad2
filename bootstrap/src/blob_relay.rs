//! The iroh relay a bootstrap can run for bundle transfers between nodes that have no direct
//! path to each other (both behind NATs). Plain HTTP: iroh's own encryption (QUIC with the
//! endpoints' keys) protects what it carries; put a TLS proxy in front to hide the metadata.
//! Every client's upload rate is capped so the relay is not an open bandwidth sink.

use std::{net::SocketAddr, num::NonZeroU32, sync::Arc};

use anyhow::Context;
use iroh_relay::server::{AllowAll, ClientRateLimit, Limits, RelayConfig, Server, ServerConfig};

/// Endpoint keys the relay remembers (saves re-checking handshakes of returning clients).
const KEY_CACHE_CAPACITY: usize = 4096;

/// Starts the relay on `bind`, reading at most `bytes_per_second` from each client (bursts of
/// a second's worth). Returns the running server; its `http_url` is what nodes pass as
/// `--blob-relay`.
///
/// # Errors
///
/// If the socket cannot be bound.
pub(crate) async fn spawn(
    bind: SocketAddr,
    bytes_per_second: NonZeroU32,
) -> anyhow::Result<Server> {
    let mut rate = ClientRateLimit::new(bytes_per_second);
    rate.max_burst_bytes = Some(bytes_per_second);
    let mut limits = Limits::default();
    limits.client_rx = Some(rate);
    let mut relay = RelayConfig::new(bind);
    relay.limits = limits;
    relay.key_cache_capacity = Some(KEY_CACHE_CAPACITY);
    relay.access = Arc::new(AllowAll);
    let mut config = ServerConfig::default();
    config.relay = Some(relay);
    Server::spawn(config).await.with_context(|| format!("starting the blob relay on {bind}"))
}
