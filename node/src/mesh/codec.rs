//! Request-response codec for direct streams: one canonical CBOR message per stream direction,
//! read up to the message type's size limit and decoded strictly.

use std::{io, marker::PhantomData};

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;
use peerhost_protocol::{Wire, codec};

/// Codec for a request type `Req` answered by `Resp`.
pub(crate) struct WireCodec<Req, Resp>(PhantomData<fn() -> (Req, Resp)>);

impl<Req, Resp> Default for WireCodec<Req, Resp> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

impl<Req, Resp> Clone for WireCodec<Req, Resp> {
    fn clone(&self) -> Self {
        Self::default()
    }
}

/// Reads one message of at most `T::MAX_BYTES` until the writer closes its side.
async fn read_message<T: Wire, R: AsyncRead + Unpin + Send>(io: &mut R) -> io::Result<T> {
    let mut bytes = Vec::new();
    // One byte over the limit tells "too large" apart from "exactly at the limit".
    io.take(T::MAX_BYTES as u64 + 1).read_to_end(&mut bytes).await?;
    codec::decode(&bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

async fn write_message<T: Wire + Sync, W: AsyncWrite + Unpin + Send>(
    io: &mut W,
    value: &T,
) -> io::Result<()> {
    io.write_all(&codec::encode(value)).await?;
    io.close().await
}

impl<Req, Resp> libp2p::request_response::Codec for WireCodec<Req, Resp>
where
    Req: Wire + Send + Sync + 'static,
    Resp: Wire + Send + Sync + 'static,
{
    type Protocol = StreamProtocol;
    type Request = Req;
    type Response = Resp;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Req>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_message(io).await
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Resp>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_message(io).await
    }

    async fn write_request<T>(&mut self, _: &StreamProtocol, io: &mut T, req: Req) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_message(io, &req).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        resp: Resp,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_message(io, &resp).await
    }
}
