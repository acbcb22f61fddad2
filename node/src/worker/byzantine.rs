//! Byzantine workers for tests (the `test-utils` feature; never in a release build): ways a
//! dishonest or broken worker behaves, so the end-to-end tests can show the network survives
//! them — audits slash wrong answers, reputation routes around slow and silent workers,
//! verified calls escalate past colluders, copied results are exposed like computed ones.

use std::{
    collections::HashMap,
    sync::{
        LazyLock, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use peerhost_protocol::{HttpResponse, RequestId};

/// What [`Byzantine::WrongResult`] workers of this process returned, for copiers to take.
static COLLUDED: LazyLock<Mutex<HashMap<RequestId, HttpResponse>>> = LazyLock::new(Mutex::default);
/// How long a copier waits for its colluder's result.
const COPY_WAIT: Duration = Duration::from_secs(2);

/// How a worker misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
#[non_exhaustive]
pub enum Byzantine {
    /// Returns (and signs) a wrong result: the same wrong result as every other worker that
    /// does this, so several of them collude.
    WrongResult,
    /// Accepts the requests it is named for, runs them, and never delivers.
    Withhold,
    /// Delivers correct results, but only after [`SLOW`].
    Slow,
    /// Computes nothing of its own: delivers, signed as its own, the result a
    /// [`Byzantine::WrongResult`] colluder in the same process returned (nothing if none did
    /// within two seconds).
    Copy,
    /// Claims in its heartbeats to hold every bundle the network announced, fetches none, and
    /// declines every request it is named for.
    ClaimBundles,
    /// Serves honestly, and with every heartbeat floods the workers' and every execution topic
    /// with [`FLOOD_BURST`] messages that decode as nothing.
    Flood,
}

/// Junk messages a [`Byzantine::Flood`] worker sends per topic with each heartbeat.
pub(crate) const FLOOD_BURST: usize = 8;

/// A junk message: distinct bytes each time (so gossip does not drop it as a duplicate) that
/// are no valid CBOR message of any topic.
pub(crate) fn junk() -> Vec<u8> {
    static SENT: AtomicU64 = AtomicU64::new(0);
    let mut bytes = vec![0xff; 8];
    bytes.extend_from_slice(&SENT.fetch_add(1, Ordering::Relaxed).to_be_bytes());
    bytes
}

/// How long a [`Byzantine::Slow`] worker sits on a result.
pub const SLOW: Duration = Duration::from_millis(400);

impl Byzantine {
    /// What the worker sends for request `id` instead of `response`, when it gets to it;
    /// `None`: nothing.
    pub(crate) async fn deliver(
        self,
        id: RequestId,
        mut response: HttpResponse,
    ) -> Option<HttpResponse> {
        match self {
            Self::WrongResult => {
                response.body.extend_from_slice(b" (tampered)");
                let mut colluded = COLLUDED.lock().expect("colluded lock");
                if colluded.len() > 4096 {
                    colluded.clear();
                }
                colluded.insert(id, response.clone());
                Some(response)
            }
            Self::Withhold => None,
            Self::Slow => {
                tokio::time::sleep(SLOW).await;
                Some(response)
            }
            Self::ClaimBundles => None,
            Self::Flood => Some(response),
            Self::Copy => {
                let waited = tokio::time::Instant::now();
                loop {
                    if let Some(copied) = COLLUDED.lock().expect("colluded lock").get(&id) {
                        return Some(copied.clone());
                    }
                    if waited.elapsed() > COPY_WAIT {
                        return None;
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        }
    }
}
