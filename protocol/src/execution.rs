//! Execution requests (gateway → workers, on a dispatch link or gossiped) and results with
//! receipts (worker → gateway, direct).

use serde::{Deserialize, Serialize};

use crate::{
    codec::{Invalid, Wire},
    domain,
    envelope::{Envelope, Signable},
    hash::{BlobHash, Keccak, RequestId, keccak256},
    keys::NodeKey,
    request::{CanonicalRequest, Header, HttpResponse, check_headers},
    wallet::EvmSignature,
};

/// Bodies up to this size ride inside the request; larger ones are fetched from the
/// gateway over a direct stream by the workers that race.
pub const MAX_INLINE_BODY: usize = 32 * 1024;
/// Most racers a request may name.
pub const MAX_RACERS: usize = 16;
/// Most gateway addresses a request may carry.
pub const MAX_REPLY_ADDRS: usize = 8;

/// A gateway's order to run one call.
///
/// It travels without a signature of its own: on a dispatch link the connection's Noise
/// handshake authenticates the gateway, and on gossip the message's gossipsub signature (strict
/// validation) authenticates its publisher. Either way the receiver checks that the
/// authenticated sender is [`request.gateway`](CanonicalRequest::gateway). Nothing signed by
/// a gateway is needed later: disputes rest on the worker's receipt and the anchored roots.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecutionRequest {
    /// The call. Its [`id`](CanonicalRequest::id) is the request id.
    pub request: CanonicalRequest,
    /// The bundle holding the function, as the gateway resolved the deployment.
    pub bundle: BlobHash,
    /// The deployment version the gateway resolved.
    pub version: u64,
    /// After this instant (Unix milliseconds) a result is useless to the gateway.
    pub deadline_ms: u64,
    /// 0 for the first dispatch, 1 for the re-dispatch, …
    pub attempt: u8,
    /// Node keys of the workers chosen to race, sorted. Empty: any worker with capacity may.
    pub racers: Vec<NodeKey>,
    /// Multiaddrs where the gateway accepts direct result delivery.
    pub reply_to: Vec<String>,
    /// The body, when it is at most [`MAX_INLINE_BODY`] bytes.
    #[serde(with = "serde_bytes")]
    pub body: Option<Vec<u8>>,
}

impl ExecutionRequest {
    /// The request id.
    pub fn id(&self) -> RequestId {
        self.request.id()
    }

    /// Whether `worker` may race: named among the racers, or the race is open.
    pub fn may_race(&self, worker: &NodeKey) -> bool {
        self.racers.is_empty() || self.racers.binary_search(worker).is_ok()
    }

    /// Checks that an inline body is the one the request commits to.
    pub fn inline_body_matches(&self) -> bool {
        match &self.body {
            Some(body) => keccak256(body) == self.request.body_hash,
            None => true,
        }
    }
}

impl Wire for ExecutionRequest {
    const MAX_BYTES: usize = CanonicalRequest::MAX_BYTES + MAX_INLINE_BODY + 8 * 1024;

    fn validate(&self) -> Result<(), Invalid> {
        self.request.validate()?;
        if self.racers.len() > MAX_RACERS || !self.racers.windows(2).all(|w| w[0] < w[1]) {
            return Err(Invalid::new(
                "racers",
                format!("must be at most {MAX_RACERS}, sorted, unique"),
            ));
        }
        if self.reply_to.len() > MAX_REPLY_ADDRS || self.reply_to.iter().any(|a| a.len() > 256) {
            return Err(Invalid::new("reply_to", "too many or too long addresses"));
        }
        match &self.body {
            Some(body) if body.len() > MAX_INLINE_BODY => Err(Invalid::new(
                "body",
                format!("inline bodies are at most {MAX_INLINE_BODY} bytes"),
            )),
            Some(body) if body.len() as u64 != self.request.body_len => {
                Err(Invalid::new("body", "length differs from body_len"))
            }
            None if self.request.body_len as usize <= MAX_INLINE_BODY
                && self.request.body_len > 0 =>
            {
                Err(Invalid::new("body", "a small body must be inline"))
            }
            _ => Ok(()),
        }
    }
}

/// A worker's signed statement of what it returned for a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    /// The request.
    pub request_id: RequestId,
    /// keccak256 of the canonical [`HttpResponse`].
    pub result_hash: Keccak,
    /// The worker (also the envelope signer).
    pub worker: NodeKey,
    /// Fuel the call consumed: the billable unit.
    pub fuel_used: u64,
    /// The bundle that ran.
    pub bundle: BlobHash,
}

impl Wire for Receipt {
    const MAX_BYTES: usize = 256;
}

impl Signable for Receipt {
    const DOMAIN: &'static [u8] = domain::RECEIPT;
}

/// A response and the receipt that commits to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecutionResult {
    /// The worker's signed receipt.
    pub receipt: Envelope<Receipt>,
    /// The function's response (or the sandbox's typed error rendered as a response).
    pub response: HttpResponse,
    /// The same receipt signed with the worker's chain wallet (EIP-712, the coordinator's
    /// domain), when the worker settles on a chain: the evidence a dispute needs on-chain.
    pub chain_signature: Option<EvmSignature>,
}

impl Wire for ExecutionResult {
    const MAX_BYTES: usize = HttpResponse::MAX_BYTES + 1024;

    fn validate(&self) -> Result<(), Invalid> {
        self.response.validate()
    }
}

/// Why a result was refused by the gateway.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResultError {
    /// The receipt does not open (bad signature or encoding).
    #[error("receipt: {0}")]
    Receipt(#[from] crate::OpenError),
    /// The receipt's worker is not its signer.
    #[error("receipt worker is not the signer")]
    WrongSigner,
    /// The receipt is for another request.
    #[error("receipt is for another request")]
    WrongRequest,
    /// The response does not hash to the receipt's `result_hash`.
    #[error("response does not match the receipt")]
    HashMismatch,
}

impl ExecutionResult {
    /// Verifies the receipt and its binding to `request_id` and to the response.
    ///
    /// # Errors
    ///
    /// See [`ResultError`].
    pub fn verify(&self, request_id: &RequestId) -> Result<Receipt, ResultError> {
        let receipt = open_receipt(&self.receipt)?;
        if &receipt.request_id != request_id {
            return Err(ResultError::WrongRequest);
        }
        if receipt.result_hash != self.response.hash() {
            return Err(ResultError::HashMismatch);
        }
        Ok(receipt)
    }
}

/// Opens a receipt envelope whose signer must be the receipt's worker.
fn open_receipt(envelope: &Envelope<Receipt>) -> Result<Receipt, ResultError> {
    let receipt = envelope.open()?;
    if receipt.worker != envelope.signer {
        return Err(ResultError::WrongSigner);
    }
    Ok(receipt)
}

/// What a caller gets with its answer to check it (the gateway's `x-peerhost-receipt` header,
/// base64 of the canonical CBOR, and `GET /receipts/<request id>`): the winning worker's signed
/// receipt, the canonical request it answers (so the caller sees it is the call it made, and a
/// validator can re-execute it) and the response head its result hash covers besides the body.
/// With the body the caller received, it proves which bonded worker stands behind the answer
/// to which request; nothing in it needs the gateway's word.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnswerReceipt {
    /// The worker's signed receipt.
    pub receipt: Envelope<Receipt>,
    /// The call as the gateway canonicalized it: its id is the receipt's request id.
    pub request: CanonicalRequest,
    /// The status the function returned.
    pub status: u16,
    /// The headers the function returned, in its order (the gateway drops hop-by-hop ones
    /// from the HTTP response, so they are repeated here).
    pub headers: Vec<Header>,
    /// The worker's EIP-712 signature of the receipt with its bonded chain account, on a
    /// chain-connected network: it names the account whose bond answers for the result.
    pub chain_signature: Option<EvmSignature>,
}

impl Wire for AnswerReceipt {
    const MAX_BYTES: usize = 1024 + 2 * 64 * 1024;

    fn validate(&self) -> Result<(), Invalid> {
        if !(100..=599).contains(&self.status) {
            return Err(Invalid::new("status", "must be 100 to 599"));
        }
        self.request.validate()?;
        check_headers(&self.headers, false)
    }
}

impl AnswerReceipt {
    /// The receipt of an accepted result of `request`.
    pub fn of(request: &CanonicalRequest, result: &ExecutionResult) -> Self {
        Self {
            receipt: result.receipt.clone(),
            request: request.clone(),
            status: result.response.status,
            headers: result.response.headers.clone(),
            chain_signature: result.chain_signature,
        }
    }

    /// Verifies the worker's signature, that the receipt is for this request, and that
    /// `body`, with this status and these headers, is the response the receipt commits to.
    ///
    /// # Errors
    ///
    /// [`ResultError`].
    pub fn verify(&self, body: &[u8]) -> Result<Receipt, ResultError> {
        let receipt = open_receipt(&self.receipt)?;
        if receipt.request_id != self.request.id() {
            return Err(ResultError::WrongRequest);
        }
        let response = HttpResponse {
            status: self.status,
            headers: self.headers.clone(),
            body: body.to_vec(),
        };
        if receipt.result_hash != response.hash() {
            return Err(ResultError::HashMismatch);
        }
        Ok(receipt)
    }
}
