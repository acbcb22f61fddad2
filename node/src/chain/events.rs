//! Following contract events: a live subscription (WebSocket endpoints) opened first, then a
//! back-fill by block number with `eth_getLogs`, then the subscription; when it drops,
//! reconnect with backoff and back-fill from the last block seen, so no event is missed and
//! none is delivered twice.
//! Logs a reorg removes arrive again with `removed: true`.

use std::time::Duration;

use alloy::{
    providers::Provider as _,
    rpc::types::{Filter, Log},
};
use futures::StreamExt as _;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use super::Chain;

/// Longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Where delivery stands: the last log delivered, as (block, index in block).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
struct Position(u64, u64);

impl Position {
    fn of(log: &Log) -> Self {
        Self(log.block_number.unwrap_or_default(), log.log_index.unwrap_or_default())
    }
}

/// What [`follow`] delivers.
#[derive(Debug, Clone)]
pub enum Followed {
    /// A matching log, in chain order (or a removed one, after a reorg).
    Log(Box<Log>),
    /// Every matching log up to the chain's head at the time was delivered (after the first
    /// back-fill, and again after each reconnection's).
    CaughtUp,
}

/// Calls `on_event` for every log matching `filter` from block `from` on, in chain order,
/// until `shutdown`, and with [`Followed::CaughtUp`] whenever a back-fill reached the head.
/// Removed (reorged) logs are delivered too, marked `removed`.
pub async fn follow(
    chain: &Chain,
    filter: Filter,
    from: u64,
    shutdown: CancellationToken,
    mut on_event: impl FnMut(Followed),
) {
    let provider = chain.events_provider();
    let mut last: Option<Position> = None;
    let mut next_block = from;
    let mut backoff = Duration::from_millis(250);
    let mut deliver = |followed: Followed, last: &mut Option<Position>| match followed {
        Followed::Log(log) => {
            let at = Position::of(&log);
            if log.removed || last.is_none_or(|l| at > l) {
                if !log.removed {
                    *last = Some(at);
                }
                on_event(Followed::Log(log));
            }
        }
        Followed::CaughtUp => on_event(Followed::CaughtUp),
    };
    while !shutdown.is_cancelled() {
        let result: Result<(), String> = async {
            // Subscribe first, then back-fill to the head: a log mined in between arrives on
            // both, and its position drops the second copy; none falls in a gap.
            let subscription = provider.subscribe_logs(&filter).await.map_err(|e| e.to_string())?;
            let mut stream = subscription.into_stream();
            let head = provider.get_block_number().await.map_err(|e| e.to_string())?;
            if next_block <= head {
                let range = filter.clone().from_block(next_block).to_block(head);
                for log in provider.get_logs(&range).await.map_err(|e| e.to_string())? {
                    deliver(Followed::Log(Box::new(log)), &mut last);
                }
                next_block = head + 1;
            }
            deliver(Followed::CaughtUp, &mut last);
            // Then live, for as long as the subscription lasts.
            backoff = Duration::from_millis(250);
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => return Ok(()),
                    log = stream.next() => match log {
                        Some(log) => {
                            next_block = next_block.max(log.block_number.unwrap_or_default());
                            deliver(Followed::Log(Box::new(log)), &mut last);
                        }
                        None => return Err("subscription ended".into()),
                    },
                }
            }
        }
        .await;
        if let Err(e) = result {
            debug!(target: "peerhost::chain", error = %e, ?backoff, "event stream interrupted; reconnecting");
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
}
