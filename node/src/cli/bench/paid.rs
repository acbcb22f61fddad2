//! `bench --paid`: a priced function called free, then the same function paid per call with
//! x402 (a fresh EIP-3009 authorization signed for each call, settled by the gateway before the
//! function runs), and the chain's own round trip for one transaction, all in one run on the
//! in-process devnet's chain. The difference between the first two is what payment costs; the
//! third is the floor it cannot go below.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use alloy::primitives::{Address, U256, keccak256};
use anyhow::Context;
use bytes::Bytes;
use http_body_util::BodyExt;
use peerhost_protocol::Wallet;

use super::{Load, Report, drive, http_client, over_http, tier, warm_ups};
use crate::{
    chain::Chain,
    clock,
    devnet::{Devnet, DevnetChainOptions},
    gateway::x402::{Offer, Payer},
};

/// The priced function of `examples/hello` the scenarios call.
const FUNCTION: &str = "digest";

/// At most this many paid calls (and as many warm-up payments): the devnet's payer holds
/// 100 USDC and `digest` costs 0.01.
const MAX_PAID: usize = 2_000;

/// At most this many transactions timed for the chain's round trip.
const MAX_ROUND_TRIPS: usize = 300;

/// The bench devnet's chain: no validator and no audits, so nothing but the calls runs on it.
pub(super) fn chain() -> DevnetChainOptions {
    DevnetChainOptions { validator: false, audit_fraction: 0.0, ..DevnetChainOptions::default() }
}

/// The free calls the gateway grants each caller: exactly the free scenario's (its warm-up
/// and its calls), so the unpaid call after it gets the 402 whose offer the paid one pays.
pub(super) fn free_calls(requests: usize) -> u32 {
    u32::try_from(warm_ups(requests) + requests).unwrap_or(u32::MAX)
}

/// Runs the three scenarios; returns their reports and the line comparing them.
pub(super) async fn run(
    net: &Devnet,
    method: &str,
    body: Bytes,
    requests: usize,
    concurrency: usize,
) -> anyhow::Result<(Vec<Report>, String)> {
    let chain = net.chain.as_ref().context("the bench devnet runs on a chain with --paid")?;
    let url = net.function_url("hello", FUNCTION);
    let load = |name, headers| Load { name, url: &url, method, body: body.clone(), headers };
    let free_name = format!("gateway → mesh → worker ({FUNCTION}, free)");
    let free = over_http(load(&free_name, tier("fast")), requests, concurrency).await?;

    let offer = offer(&url).await?;
    let payer = Arc::new(Payer::new(&Wallet::from_bytes(&chain.payer)?));
    // Each payment needs a nonce of its own, across warm-up and runs of the bench.
    let (salt, count) = (clock::unix_ms(), Arc::new(AtomicU64::new(0)));
    let headers: super::Headers = Arc::new(move || {
        let n = count.fetch_add(1, Ordering::Relaxed);
        let nonce = keccak256([salt.to_le_bytes(), n.to_le_bytes()].concat());
        let header = payer.pay(&offer, nonce, clock::unix_ms() / 1000);
        vec![("x-peerhost-tier", "fast".to_owned()), ("payment-signature", header)]
    });
    let paid_name = format!("gateway → mesh → worker ({FUNCTION}, paid x402)");
    let paid = over_http(load(&paid_name, headers), requests.min(MAX_PAID), concurrency).await?;

    let total = requests.min(MAX_ROUND_TRIPS);
    let round_trip = round_trip(net, &chain.payer, total, concurrency).await?;
    let us = |d: std::time::Duration| d.as_secs_f64() * 1e6;
    let line = format!(
        "paid − free at p50: {:.0} µs at c={concurrency}; chain transactions alone, same \
         concurrency: {:.0} µs p50, {:.0} tx/s (paid calls: {:.0}/s)",
        us(paid.p50.saturating_sub(free.p50)),
        us(round_trip.p50),
        round_trip.rate,
        paid.rate,
    );
    Ok((vec![free, paid, round_trip], line))
}

/// The offer of the 402 an unpaid call gets once its free calls are used up.
async fn offer(url: &str) -> anyhow::Result<Offer> {
    let client = http_client(1);
    let uri: hyper::Uri = format!("{url}/bench?name=peerhost").parse()?;
    // A free call the free scenario did not take (a failed connection) may still be left.
    for _ in 0..10 {
        let response = client.get(uri.clone()).await.context("asking for the 402")?;
        let required = response.headers().get("payment-required").cloned();
        let _ = response.into_body().collect().await;
        if let Some(required) = required {
            return Ok(Offer::from_required_header(required.as_bytes())?);
        }
    }
    anyhow::bail!("{url} never answered 402 Payment Required")
}

/// `total` token transfers from `payer`, `concurrency` at a time from that one account (as a
/// gateway settles), each sent and waited for: what settlements cost on this chain without the
/// rest of the call, in latency and in throughput.
async fn round_trip(
    net: &Devnet,
    payer: &[u8; 32],
    total: usize,
    concurrency: usize,
) -> anyhow::Result<Report> {
    let chain = net.chain.as_ref().context("a chain")?;
    let client = Arc::new(
        Chain::connect(
            &chain.local.http_url(),
            chain.deployment.coordinator,
            &Wallet::from_bytes(payer)?,
        )
        .await?,
    );
    let to = Address::repeat_byte(0x0b);
    let name = "chain: token transfers from one account, sent and confirmed";
    Ok(drive(name, total, concurrency, move |_| {
        let client = client.clone();
        async move {
            client.transfer_token(to, U256::from(1u64)).await.map(|_| ()).map_err(|e| e.to_string())
        }
    })
    .await)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_free_calls_are_the_free_scenarios() {
        assert_eq!(super::free_calls(5_000), 5_500);
        assert_eq!(super::free_calls(100), 200);
    }
}
