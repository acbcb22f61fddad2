//! Links: long-lived direct streams between two peers. Each carries length-prefixed frames
//! both ways, many in flight at once, written in batches and bounded at both ends. A gateway
//! opens one link per worker it dispatches to: execution requests go out on it and deliveries
//! come back on it, with no stream set-up, no swarm event loop and no gossip hop per call.
//!
//! The link's peer is the one the transport (Noise) authenticated when the connection was
//! made; nothing on a link needs a second signature to say who sent it.

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use bytes::Bytes;
use futures::{AsyncReadExt as _, SinkExt, StreamExt as _};
use libp2p::{PeerId, Stream};
use tokio::sync::mpsc;
use tokio_util::{
    codec::{FramedRead, FramedWrite, LengthDelimitedCodec},
    compat::{FuturesAsyncReadCompatExt as _, FuturesAsyncWriteCompatExt as _},
    sync::CancellationToken,
};
use tracing::debug;

/// Frames queued for writing on one link; beyond them a sender is refused
/// ([`LinkSendError::Full`]), which bounds what one link holds in flight.
pub const LINK_QUEUE: usize = 1024;

/// Why a frame was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LinkSendError {
    /// The link's queue is full.
    #[error("link queue full")]
    Full,
    /// The link has closed.
    #[error("link closed")]
    Closed,
}

/// The sending side of a link. Cheap to clone; frames from all clones go out in order of
/// queueing.
#[derive(Debug, Clone)]
pub struct LinkSender {
    peer: PeerId,
    frames: mpsc::Sender<Bytes>,
    closed: Arc<AtomicBool>,
}

impl LinkSender {
    /// The authenticated peer at the other end.
    pub fn peer(&self) -> PeerId {
        self.peer
    }

    /// Whether the link has ended (nothing queued now is sent).
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed) || self.frames.is_closed()
    }

    /// Whether two senders are the same link.
    pub fn same_link(&self, other: &Self) -> bool {
        self.frames.same_channel(&other.frames)
    }

    /// Queues a frame without waiting.
    ///
    /// # Errors
    ///
    /// [`LinkSendError::Full`] when the queue is full, [`LinkSendError::Closed`] when the link
    /// ended.
    pub fn try_send(&self, frame: Bytes) -> Result<(), LinkSendError> {
        if self.closed.load(Ordering::Relaxed) {
            return Err(LinkSendError::Closed);
        }
        self.frames.try_send(frame).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => LinkSendError::Full,
            mpsc::error::TrySendError::Closed(_) => LinkSendError::Closed,
        })
    }

    /// Queues a frame, waiting for room.
    ///
    /// # Errors
    ///
    /// [`LinkSendError::Closed`] when the link ended.
    pub async fn send(&self, frame: Bytes) -> Result<(), LinkSendError> {
        if self.closed.load(Ordering::Relaxed) {
            return Err(LinkSendError::Closed);
        }
        self.frames.send(frame).await.map_err(|_| LinkSendError::Closed)
    }
}

/// What the owner of a link does with what arrives on it. Called on the link's reader task:
/// keep it short (hand work off; never block).
pub trait LinkHandler: Send + 'static {
    /// One inbound frame. `Err` closes the link: its peer sent something no honest peer sends.
    ///
    /// # Errors
    ///
    /// Why the frame is refused (logged).
    fn frame(&mut self, link: &LinkSender, frame: Bytes) -> Result<(), String>;

    /// The link ended (either side closed it, the connection dropped, or a frame was refused).
    fn closed(&mut self, link: &LinkSender);
}

/// Frame sizes a link accepts.
#[derive(Debug, Clone, Copy)]
pub struct FrameLimits {
    /// Largest frame read.
    pub inbound: usize,
    /// Largest frame written.
    pub outbound: usize,
}

/// Runs a link over `stream` on the current runtime until either side closes it or `shutdown`
/// is cancelled. Returns its sender; inbound frames go to `handler`. `guard` keeps the peer's
/// connection from being trimmed while the link lasts.
pub(crate) fn spawn_link(
    peer: PeerId,
    stream: Stream,
    limits: FrameLimits,
    mut handler: impl LinkHandler,
    shutdown: &CancellationToken,
    guard: super::trim::LinkGuard,
) -> LinkSender {
    let (tx, mut rx) = mpsc::channel::<Bytes>(LINK_QUEUE);
    let closed = Arc::new(AtomicBool::new(false));
    let sender = LinkSender { peer, frames: tx, closed: closed.clone() };
    let (read, write) = stream.split();
    let codec = |max: usize| LengthDelimitedCodec::builder().max_frame_length(max).new_codec();
    let mut reader = FramedRead::new(read.compat(), codec(limits.inbound));
    let mut writer = FramedWrite::new(write.compat_write(), codec(limits.outbound));
    let stop = shutdown.child_token();

    let writer_stop = stop.clone();
    tokio::spawn(async move {
        loop {
            let first = tokio::select! {
                () = writer_stop.cancelled() => break,
                frame = rx.recv() => match frame {
                    Some(frame) => frame,
                    None => break,
                },
            };
            // Everything queued meanwhile goes out with one flush.
            let mut batch = writer.feed(first).await;
            while batch.is_ok() {
                match rx.try_recv() {
                    Ok(frame) => batch = writer.feed(frame).await,
                    Err(_) => break,
                }
            }
            if let Err(e) = batch.and(SinkExt::<Bytes>::flush(&mut writer).await) {
                debug!(target: "peerhost::mesh", %peer, error = %e, "link write failed");
                break;
            }
        }
        rx.close();
        let _ = SinkExt::<Bytes>::close(&mut writer).await;
        writer_stop.cancel();
    });

    let link = sender.clone();
    tokio::spawn(async move {
        loop {
            let frame = tokio::select! {
                () = stop.cancelled() => break,
                frame = reader.next() => frame,
            };
            match frame {
                Some(Ok(frame)) => {
                    if let Err(reason) = handler.frame(&link, frame.freeze()) {
                        debug!(target: "peerhost::mesh", %peer, %reason, "link frame refused; closing");
                        break;
                    }
                }
                Some(Err(e)) => {
                    debug!(target: "peerhost::mesh", %peer, error = %e, "link read failed");
                    break;
                }
                None => break,
            }
        }
        closed.store(true, Ordering::Relaxed);
        stop.cancel();
        drop(guard);
        handler.closed(&link);
    });
    sender
}
