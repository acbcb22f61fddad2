//! A fault-injecting layer for in-memory links (`test-utils` feature: simulation harnesses and
//! tests, never a release build). It sits above authentication, so it knows both ends of a
//! connection, and asks a [`LinkFaults`] model what happens to each chunk of bytes a node
//! reads: delivered after a delay (latency, or a retransmission after a loss — on a reliable
//! stream a lost segment shows up as lateness, never as a gap), or the link is cut (a
//! partition: the connection fails and new ones are refused until the model heals it).
//!
//! Delays apply where bytes are read, on both ends, so each direction gets its own; bytes of
//! one stream never overtake each other.

use std::{
    collections::VecDeque,
    fmt, io,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
    time::Duration,
};

use futures::{AsyncRead, AsyncWrite};
use libp2p::{
    PeerId,
    core::muxing::{StreamMuxer, StreamMuxerEvent},
};
use tokio::time::{Instant, Sleep};

/// The network model a harness plugs in.
pub trait LinkFaults: fmt::Debug + Send + Sync + 'static {
    /// Whether the link between `a` and `b` is cut now (a partition).
    fn is_cut(&self, a: &PeerId, b: &PeerId) -> bool;

    /// How long `len` bytes `from` sent `to` take to arrive (asked once per chunk read, on
    /// a link that is not cut).
    fn delay(&self, from: &PeerId, to: &PeerId, len: usize) -> Duration;
}

/// Most bytes a reader pulls ahead of what it has delivered (beyond that, back-pressure).
const READ_AHEAD: usize = 256 * 1024;

/// Both ends of a connection and the model.
#[derive(Debug, Clone)]
struct Link {
    local: PeerId,
    remote: PeerId,
    faults: Arc<dyn LinkFaults>,
}

impl Link {
    fn is_cut(&self) -> bool {
        self.faults.is_cut(&self.local, &self.remote)
    }

    fn cut_error(&self) -> io::Error {
        io::Error::new(io::ErrorKind::ConnectionReset, "link cut by the fault model")
    }
}

/// Wraps an authenticated connection to `remote`, or refuses it if the model cuts the link.
///
/// # Errors
///
/// The link is cut.
pub(crate) fn wrap<M>(
    muxer: M,
    local: PeerId,
    remote: PeerId,
    faults: Arc<dyn LinkFaults>,
) -> io::Result<Faulty<M>> {
    let link = Link { local, remote, faults };
    if link.is_cut() {
        return Err(link.cut_error());
    }
    Ok(Faulty { inner: muxer, link })
}

/// A connection's muxer under the fault model.
#[derive(Debug)]
pub(crate) struct Faulty<M> {
    inner: M,
    link: Link,
}

impl<M> StreamMuxer for Faulty<M>
where
    M: StreamMuxer + Unpin,
    M::Substream: Unpin,
    M::Error: std::error::Error + Send + Sync + 'static,
{
    type Substream = Delayed<M::Substream>;
    type Error = io::Error;

    fn poll_inbound(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Self::Substream, Self::Error>> {
        let link = self.link.clone();
        let stream =
            ready!(Pin::new(&mut self.inner).poll_inbound(cx)).map_err(io::Error::other)?;
        Poll::Ready(Ok(Delayed::new(stream, link)))
    }

    fn poll_outbound(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Self::Substream, Self::Error>> {
        let link = self.link.clone();
        let stream =
            ready!(Pin::new(&mut self.inner).poll_outbound(cx)).map_err(io::Error::other)?;
        Poll::Ready(Ok(Delayed::new(stream, link)))
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.inner).poll_close(cx).map_err(io::Error::other)
    }

    fn poll(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<StreamMuxerEvent, Self::Error>> {
        if self.link.is_cut() {
            return Poll::Ready(Err(self.link.cut_error()));
        }
        Pin::new(&mut self.inner).poll(cx).map_err(io::Error::other)
    }
}

/// A substream whose reads are held back as the model says.
pub(crate) struct Delayed<S> {
    inner: S,
    link: Link,
    /// Bytes read from the inner stream, each with when it may be delivered.
    queue: VecDeque<(Instant, Vec<u8>)>,
    queued: usize,
    /// The latest delivery time handed out (bytes never overtake each other).
    last_due: Instant,
    /// The inner stream ended (or failed) after the queued bytes.
    ended: Option<io::Result<()>>,
    timer: Option<Pin<Box<Sleep>>>,
}

impl<S> fmt::Debug for Delayed<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delayed").field("queued", &self.queued).finish_non_exhaustive()
    }
}

impl<S> Delayed<S> {
    fn new(inner: S, link: Link) -> Self {
        Self {
            inner,
            link,
            queue: VecDeque::new(),
            queued: 0,
            last_due: Instant::now(),
            ended: None,
            timer: None,
        }
    }
}

impl<S: AsyncRead + Unpin> Delayed<S> {
    /// Pulls what the inner stream has now into the queue, stamping each chunk. `scratch` is
    /// the reader's own buffer (no buffer of our own per substream, none zeroed per poll);
    /// what is read into it is copied into the queue before it is handed out.
    fn pull(&mut self, cx: &mut Context<'_>, scratch: &mut [u8]) -> io::Result<()> {
        if scratch.is_empty() {
            return Ok(());
        }
        while self.ended.is_none() && self.queued < READ_AHEAD {
            let chunk = &mut *scratch;
            match Pin::new(&mut self.inner).poll_read(cx, chunk) {
                Poll::Pending => break,
                Poll::Ready(Ok(0)) => self.ended = Some(Ok(())),
                Poll::Ready(Ok(n)) => {
                    if self.link.is_cut() {
                        return Err(self.link.cut_error());
                    }
                    let delay = self.link.faults.delay(&self.link.remote, &self.link.local, n);
                    let due = (Instant::now() + delay).max(self.last_due);
                    self.last_due = due;
                    self.queue.push_back((due, chunk[..n].to_vec()));
                    self.queued += n;
                }
                Poll::Ready(Err(e)) => self.ended = Some(Err(e)),
            }
        }
        Ok(())
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Delayed<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        this.pull(cx, buf)?;
        let Some((due, _)) = this.queue.front() else {
            return match this.ended.take() {
                Some(Ok(())) => Poll::Ready(Ok(0)),
                Some(Err(e)) => Poll::Ready(Err(e)),
                None => Poll::Pending, // the inner stream registered the waker
            };
        };
        let due = *due;
        if due > Instant::now() {
            let timer = this.timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(due)));
            timer.as_mut().reset(due);
            ready!(timer.as_mut().poll(cx));
        }
        let (_, bytes) = this.queue.front_mut().expect("a queued chunk");
        let n = buf.len().min(bytes.len());
        buf[..n].copy_from_slice(&bytes[..n]);
        bytes.drain(..n);
        if bytes.is_empty() {
            this.queue.pop_front();
        }
        this.queued -= n;
        Poll::Ready(Ok(n))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Delayed<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.link.is_cut() {
            return Poll::Ready(Err(self.link.cut_error()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}

#[cfg(test)]
mod tests {
    use futures::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// Every link cut, or every link delayed by the same time.
    #[derive(Debug)]
    enum Fixed {
        Delay(Duration),
        Cut,
    }

    impl LinkFaults for Fixed {
        fn is_cut(&self, _: &PeerId, _: &PeerId) -> bool {
            matches!(self, Self::Cut)
        }

        fn delay(&self, _: &PeerId, _: &PeerId, _: usize) -> Duration {
            match self {
                Self::Delay(delay) => *delay,
                Self::Cut => Duration::ZERO,
            }
        }
    }

    fn link(fault: Fixed) -> Link {
        Link { local: PeerId::random(), remote: PeerId::random(), faults: Arc::new(fault) }
    }

    #[tokio::test(start_paused = true)]
    async fn reads_arrive_after_the_delay_in_order() {
        let (mut writer, reader) = tokio::io::duplex(1024);
        let reader = tokio_util::compat::TokioAsyncReadCompatExt::compat(reader);
        let mut delayed = Delayed::new(reader, link(Fixed::Delay(Duration::from_millis(40))));
        let sent = Instant::now();
        tokio::io::AsyncWriteExt::write_all(&mut writer, b"hello").await.unwrap();
        drop(writer);
        let mut got = Vec::new();
        delayed.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"hello");
        assert!(
            sent.elapsed() >= Duration::from_millis(40),
            "delivered early: {:?}",
            sent.elapsed()
        );
    }

    #[tokio::test]
    async fn a_cut_link_fails_reads_and_writes() {
        let (a, mut b) = tokio::io::duplex(1024);
        let a = tokio_util::compat::TokioAsyncReadCompatExt::compat(a);
        let mut delayed = Delayed::new(a, link(Fixed::Cut));
        tokio::io::AsyncWriteExt::write_all(&mut b, b"x").await.unwrap();
        let mut buf = [0u8; 4];
        let read = delayed.read(&mut buf).await.unwrap_err();
        assert_eq!(read.kind(), io::ErrorKind::ConnectionReset);
        let write = delayed.write(b"y").await.unwrap_err();
        assert_eq!(write.kind(), io::ErrorKind::ConnectionReset);
    }

    #[test]
    fn a_connection_across_a_cut_is_refused() {
        let l = link(Fixed::Cut);
        assert!(wrap((), l.local, l.remote, l.faults).is_err());
    }
}
