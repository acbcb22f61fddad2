//! Byzantine workers for tests (the `test-utils` feature; never in a release build): ways a
//! dishonest or broken worker behaves, so the end-to-end tests can show the network survives
//! them — audits slash wrong answers, reputation routes around slow and silent workers,
//! verified calls escalate past colluders.

use std::time::Duration;

use peerhost_protocol::HttpResponse;

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
}

/// How long a [`Byzantine::Slow`] worker sits on a result.
pub const SLOW: Duration = Duration::from_millis(400);

impl Byzantine {
    /// What the worker sends instead of `response`, after how long; `None`: nothing.
    pub(crate) fn deliver(self, mut response: HttpResponse) -> Option<(HttpResponse, Duration)> {
        match self {
            Self::WrongResult => {
                response.body.extend_from_slice(b" (tampered)");
                Some((response, Duration::ZERO))
            }
            Self::Withhold => None,
            Self::Slow => Some((response, SLOW)),
        }
    }
}
