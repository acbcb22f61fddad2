//! The load: calls arrive at the scenario's rate (one every `1 / rate_per_s`), each an HTTP
//! `GET` to a gateway (in turn) for a function drawn like protocol mode draws it, at most
//! `max_in_flight` at once.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::{sync::Semaphore, time::Instant};

use super::{Live, network::LiveNet};
use crate::{CallRecord, Scenario};

/// What the load measured.
pub(super) struct Outcome {
    pub(super) calls: Vec<CallRecord>,
    pub(super) held_back: usize,
}

/// The wrong-result cheaters' mark on a response body (the node's byzantine switch).
const TAMPERED: &[u8] = b" (tampered)";

/// Runs the calls; `on_end` hears how many have ended.
pub(super) async fn drive(
    net: &LiveNet,
    scenario: &Scenario,
    live: &Live,
    on_end: Arc<dyn Fn(usize) + Send + Sync>,
) -> Outcome {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let bases: Vec<String> = net
        .gateways
        .iter()
        .map(|g| {
            let addr = g.http_addr().expect("a gateway listens for HTTP");
            format!("http://{addr}/{}/{}", net.owner, net.project)
        })
        .collect();
    let slots = Arc::new(Semaphore::new(live.max_in_flight.max(1)));
    let records = Arc::new(Mutex::new(Vec::with_capacity(scenario.requests)));
    let ended = Arc::new(AtomicUsize::new(0));
    let mut rng = ChaCha8Rng::seed_from_u64(scenario.seed ^ 0xb0b_d1e5);
    let gap = Duration::from_secs_f64(1.0 / scenario.rate_per_s.max(1e-3));
    let timeout = Duration::from_millis(
        scenario.attempt_timeout_ms.saturating_mul(u64::from(scenario.max_attempts) + 2) + 30_000,
    );
    let start = Instant::now();
    let mut held_back = 0;
    let mut tasks = Vec::with_capacity(scenario.requests);
    for call in 0..scenario.requests {
        tokio::time::sleep_until(start + gap * call as u32).await;
        let function = if rng.random::<f64>() < scenario.hot_share {
            0
        } else {
            rng.random_range(0..net.functions.len())
        };
        let permit = match slots.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                held_back += 1;
                slots.clone().acquire_owned().await.expect("the semaphore stays open")
            }
        };
        let uri = format!("{}/{}/{call}", bases[call % bases.len()], net.functions[function]);
        let (client, records, ended, on_end) =
            (client.clone(), records.clone(), ended.clone(), on_end.clone());
        tasks.push(tokio::spawn(async move {
            let arrived = start.elapsed();
            let answer = tokio::time::timeout(timeout, get(&client, &uri)).await;
            let (answered, wrong) = match answer {
                Ok(Some((200, body))) => (true, body.ends_with(TAMPERED)),
                _ => (false, false),
            };
            let record = CallRecord {
                call,
                arrived_us: arrived.as_micros() as u64,
                ended_us: start.elapsed().as_micros() as u64,
                attempts: 1,
                answered,
                wrong,
            };
            drop(permit);
            records.lock().expect("records lock").push(record);
            on_end(ended.fetch_add(1, Ordering::Relaxed) + 1);
        }));
    }
    futures::future::join_all(tasks).await;
    let mut calls = std::mem::take(&mut *records.lock().expect("records lock"));
    calls.sort_by_key(|c| (c.ended_us, c.call));
    Outcome { calls, held_back }
}

/// One call: its status and body, or `None` if it failed below HTTP.
async fn get(
    client: &Client<hyper_util::client::legacy::connect::HttpConnector, Empty<Bytes>>,
    uri: &str,
) -> Option<(u16, Bytes)> {
    let response = client.get(uri.parse().ok()?).await.ok()?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.ok()?.to_bytes();
    Some((status, body))
}
