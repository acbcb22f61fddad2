//! What crosses the pipes between a worker and its executor processes: length-prefixed CBOR
//! frames (stdin carries [`ToExecutor`], stdout [`FromExecutor`]).

use bytes::Bytes;
use peerhost_protocol::BlobHash;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use tokio_util::codec::LengthDelimitedCodec;

use super::Confinement;
use crate::sandbox::{
    Execution, ForwardError, Forwarded, ForwardedResponse, Invocation, SandboxConfig, SandboxError,
};

/// Largest frame: a component of the largest accepted size, plus framing.
pub(crate) const MAX_FRAME: usize = (64 << 20) + (1 << 20);

/// Worker → executor.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum ToExecutor {
    /// The first frame: how to build the sandbox, and where its compile cache is.
    Init {
        /// Sandbox settings (the outbound policy stays with the worker).
        sandbox: SandboxConfig,
    },
    /// Compile (or load from the cache) a component and keep it.
    Load {
        /// Component hash.
        hash: BlobHash,
        /// Component bytes.
        component: Bytes,
    },
    /// Run one call against a loaded component.
    Invoke {
        /// The worker's id of this call.
        call: u64,
        /// The component.
        hash: BlobHash,
        /// The call.
        invocation: Box<Invocation>,
    },
    /// The answer to an outbound request the call forwarded.
    Forwarded {
        /// The call.
        call: u64,
        /// Which of the call's forwarded requests.
        seq: u32,
        /// The response, or why there is none.
        result: Result<ForwardedResponse, ForwardError>,
    },
    /// Forget a component.
    Unload {
        /// Component hash.
        hash: BlobHash,
    },
}

/// Executor → worker.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum FromExecutor {
    /// Confined and ready; which confinement steps hold.
    Ready {
        /// The steps.
        confinement: Confinement,
    },
    /// A [`ToExecutor::Load`] finished.
    Loaded {
        /// Component hash.
        hash: BlobHash,
        /// Whether the component can run.
        result: Result<(), SandboxError>,
    },
    /// A call finished.
    Done {
        /// The call.
        call: u64,
        /// Its outcome.
        execution: Execution,
    },
    /// A call wants an outbound request sent.
    Outbound {
        /// The call.
        call: u64,
        /// The request's number within the call.
        seq: u32,
        /// The request.
        request: Forwarded,
    },
}

/// The frame codec of both directions.
pub(crate) fn codec() -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder().max_frame_length(MAX_FRAME).new_codec()
}

/// Encodes one message.
pub(crate) fn encode<T: Serialize>(message: &T) -> Bytes {
    Bytes::from(serde_cbor::to_vec(message).expect("executor messages serialize"))
}

/// Decodes one message.
pub(crate) fn decode<T: DeserializeOwned>(frame: &[u8]) -> Result<T, serde_cbor::Error> {
    serde_cbor::from_slice(frame)
}

/// Reads one frame synchronously (the executor's first, before any runtime exists).
pub(crate) fn read_frame_blocking(input: &mut impl std::io::Read) -> std::io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    input.read_exact(&mut len)?;
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "frame too large"));
    }
    let mut frame = vec![0; len];
    input.read_exact(&mut frame)?;
    Ok(frame)
}
