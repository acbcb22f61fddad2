//! Outbound requests of a guest that runs where there is no network (an executor process):
//! the request, read whole, is handed to a [`Forward`] — the channel to the worker, which
//! checks and sends it as if the guest ran there — and the answer comes back as one body.
//! The types here are what crosses that channel.

use std::{pin::Pin, sync::Arc};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde::{Deserialize, Serialize};
use wasmtime_wasi_http::{Error, WasiBody};

use super::outbound::Sent;

/// Largest outbound request body a guest may forward.
pub const MAX_FORWARDED_BODY: usize = 16 << 20;

/// Sends a forwarded request from somewhere with a network.
pub trait Forward: Send + Sync {
    /// The response to `request`, or why there is none.
    fn forward(
        &self,
        request: Forwarded,
    ) -> Pin<Box<dyn Future<Output = Result<ForwardedResponse, ForwardError>> + Send>>;
}

/// An outbound request, whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Forwarded {
    /// Method.
    pub method: String,
    /// Absolute URI.
    pub uri: String,
    /// Headers.
    pub headers: Vec<(String, Vec<u8>)>,
    /// Body.
    pub body: Bytes,
}

impl Forwarded {
    /// The request as the outbound client takes it, or `None` if it is malformed.
    pub(crate) fn into_http(self) -> Option<http::Request<WasiBody>> {
        let mut builder = http::Request::builder().method(self.method.as_str()).uri(self.uri);
        for (name, value) in &self.headers {
            builder = builder.header(name.as_str(), value.as_slice());
        }
        let body = Full::new(self.body).map_err(|never| match never {}).boxed_unsync();
        builder.body(body).ok()
    }
}

/// A response to a forwarded request, whole; `cut` says why the body ends early, if it does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForwardedResponse {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: Vec<(String, Vec<u8>)>,
    /// Body (up to the call's budget).
    pub body: Bytes,
    /// The error that ended the body, if one did.
    pub cut: Option<ForwardError>,
}

impl ForwardedResponse {
    pub(crate) fn from_parts(
        parts: &http::response::Parts,
        body: Vec<u8>,
        cut: Option<ForwardError>,
    ) -> Self {
        let headers = parts
            .headers
            .iter()
            .map(|(name, value)| (name.as_str().to_owned(), value.as_bytes().to_vec()))
            .collect();
        Self { status: parts.status.as_u16(), headers, body: Bytes::from(body), cut }
    }
}

/// The `wasi:http` error codes a forwarded request can end with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum WireCode {
    /// `HttpRequestDenied`.
    Denied,
    /// `DestinationIpProhibited`.
    IpProhibited,
    /// `DestinationNotFound`.
    NotFound,
    /// `ConnectionLimitReached`.
    LimitReached,
    /// `ConnectionRefused`.
    Refused,
    /// `ConnectionTimeout`.
    Timeout,
    /// `ConnectionReadTimeout`.
    ReadTimeout,
    /// `DnsTimeout`.
    DnsTimeout,
    /// `HttpRequestUriInvalid`.
    UriInvalid,
    /// `HttpRequestBodySize`.
    RequestBodySize,
    /// `HttpProtocolError`.
    Protocol,
    /// `TlsProtocolError`.
    Tls,
    /// `ConnectionTerminated`.
    Terminated,
}

/// Why a forwarded request failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ForwardError {
    /// A plain error code.
    Code(WireCode),
    /// `HttpResponseBodySize`, with the bytes that were left.
    ResponseBodySize(Option<u64>),
    /// `DnsError`.
    Dns(String),
    /// Anything else (`InternalError`).
    Other(String),
}

impl ForwardError {
    /// The wire form of a client error.
    pub(crate) fn from_error(error: &Error) -> Self {
        use WireCode as C;
        Self::Code(match error {
            Error::HttpRequestDenied => C::Denied,
            Error::DestinationIpProhibited => C::IpProhibited,
            Error::DestinationNotFound => C::NotFound,
            Error::ConnectionLimitReached => C::LimitReached,
            Error::ConnectionRefused => C::Refused,
            Error::ConnectionTimeout => C::Timeout,
            Error::ConnectionReadTimeout => C::ReadTimeout,
            Error::DnsTimeout => C::DnsTimeout,
            Error::HttpRequestUriInvalid => C::UriInvalid,
            Error::HttpRequestBodySize(_) => C::RequestBodySize,
            Error::Hyper(_) | Error::HttpProtocolError => C::Protocol,
            Error::Tls(_) | Error::TlsProtocolError => C::Tls,
            Error::ConnectionTerminated => C::Terminated,
            Error::HttpResponseBodySize(left) => return Self::ResponseBodySize(*left),
            Error::DnsError { rcode, .. } => return Self::Dns(rcode.clone().unwrap_or_default()),
            other => return Self::Other(other.to_string()),
        })
    }

    /// The client error the guest sees.
    pub(crate) fn into_error(self) -> Error {
        use WireCode as C;
        match self {
            Self::Code(code) => match code {
                C::Denied => Error::HttpRequestDenied,
                C::IpProhibited => Error::DestinationIpProhibited,
                C::NotFound => Error::DestinationNotFound,
                C::LimitReached => Error::ConnectionLimitReached,
                C::Refused => Error::ConnectionRefused,
                C::Timeout => Error::ConnectionTimeout,
                C::ReadTimeout => Error::ConnectionReadTimeout,
                C::DnsTimeout => Error::DnsTimeout,
                C::UriInvalid => Error::HttpRequestUriInvalid,
                C::RequestBodySize => Error::HttpRequestBodySize(None),
                C::Protocol => Error::HttpProtocolError,
                C::Tls => Error::TlsProtocolError,
                C::Terminated => Error::ConnectionTerminated,
            },
            Self::ResponseBodySize(left) => Error::HttpResponseBodySize(left),
            Self::Dns(rcode) => Error::DnsError { rcode: Some(rcode), info_code: None },
            Self::Other(message) => Error::InternalError(Some(message)),
        }
    }
}

/// Reads the guest's request whole, forwards it, and turns the answer back into a response
/// whose body fails with the forwarded error where the original was cut.
pub(super) async fn send(forward: Arc<dyn Forward>, request: http::Request<WasiBody>) -> Sent {
    let (parts, body) = request.into_parts();
    let body = http_body_util::Limited::new(body, MAX_FORWARDED_BODY)
        .collect()
        .await
        .map_err(|_| Error::HttpRequestBodySize(None))?
        .to_bytes();
    let forwarded = Forwarded {
        method: parts.method.to_string(),
        uri: parts.uri.to_string(),
        headers: parts
            .headers
            .iter()
            .map(|(name, value)| (name.as_str().to_owned(), value.as_bytes().to_vec()))
            .collect(),
        body,
    };
    let answer = forward.forward(forwarded).await.map_err(ForwardError::into_error)?;
    let mut response = http::Response::builder().status(answer.status);
    for (name, value) in &answer.headers {
        response = response.header(name.as_str(), value.as_slice());
    }
    let data = futures::stream::iter(
        std::iter::once(Ok(http_body::Frame::data(answer.body)))
            .chain(answer.cut.map(|cut| Err(cut.into_error()))),
    );
    let body = http_body_util::StreamBody::new(data).boxed_unsync();
    let response = response.body(body).map_err(|_| Error::HttpProtocolError)?;
    let done: Box<dyn Future<Output = Result<(), Error>> + Send> = Box::new(async { Ok(()) });
    Ok((response, done))
}
