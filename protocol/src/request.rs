//! The canonical HTTP request and response.
//!
//! A gateway turns an incoming HTTP request into a [`CanonicalRequest`]: method, path inside
//! the function, query segments sorted, allow-listed headers lower-cased and sorted, and the
//! body's keccak256 hash. Its canonical CBOR hashes to the [`RequestId`]. Because the gateway
//! key, a gateway nonce and the receive time are part of it, two calls never share an id,
//! while two honest workers given the same request see byte-identical input.

use serde::{Deserialize, Serialize};

use crate::{
    codec::{self, Invalid, Wire},
    hash::{Keccak, RequestId, keccak256},
    keys::NodeKey,
    names::check_name,
    wallet::Owner,
};

/// Longest path (inside the function) accepted.
pub const MAX_PATH_LEN: usize = 2048;
/// Longest query string accepted (all segments and separators).
pub const MAX_QUERY_LEN: usize = 4096;
/// Most headers forwarded to a function or returned from one.
pub const MAX_HEADERS: usize = 64;
/// Most bytes of header names and values together.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// Hard ceiling on any request or response body in the protocol; functions set lower limits.
pub const MAX_BODY_LEN: u64 = 64 * 1024 * 1024;

/// Request headers forwarded to functions (besides `x-*` custom headers). Everything else —
/// hop-by-hop headers, proxy headers, payment headers — stays at the gateway.
pub const FORWARDED_HEADERS: &[&str] = &[
    "accept",
    "accept-language",
    "authorization",
    "cache-control",
    "content-type",
    "cookie",
    "if-match",
    "if-modified-since",
    "if-none-match",
    "origin",
    "range",
    "referer",
    "user-agent",
];

/// `x-*` headers that are never forwarded: they describe the client's network or carry
/// payments, which a function must not see or forge.
const WITHHELD_X_PREFIXES: &[&str] = &["x-forwarded-", "x-real-ip", "x-payment", "x-peerhost-"];

/// Whether the lower-case header `name` is forwarded to functions.
pub fn is_forwarded_header(name: &str) -> bool {
    if FORWARDED_HEADERS.binary_search(&name).is_ok() {
        return true;
    }
    name.starts_with("x-") && !WITHHELD_X_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// One header: lower-case name, raw value bytes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    /// Lower-case header name.
    pub name: String,
    /// Value bytes as received (HTTP allows non-UTF-8 values).
    #[serde(with = "serde_bytes")]
    pub value: Vec<u8>,
}

/// One call of one function, as every worker sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CanonicalRequest {
    /// The function owner's wallet.
    pub owner: Owner,
    /// Project name.
    pub project: String,
    /// Function name.
    pub function: String,
    /// HTTP method as sent (`GET`, `POST`, …).
    pub method: String,
    /// Path inside the function, starting with `/`.
    pub path: String,
    /// Query segments (`k=v`, undecoded), sorted bytewise.
    pub query: Vec<String>,
    /// Forwarded headers ([`is_forwarded_header`]), sorted by name then value.
    pub headers: Vec<Header>,
    /// keccak256 of the body.
    pub body_hash: Keccak,
    /// Body length in bytes.
    pub body_len: u64,
    /// The gateway that accepted the call.
    pub gateway: NodeKey,
    /// A number the gateway never reuses.
    pub nonce: u64,
    /// When the gateway received the call (Unix milliseconds). Deterministic functions read
    /// their clocks from this.
    pub received_at_ms: u64,
}

/// The raw parts of an incoming call, before canonicalization.
#[derive(Debug, Clone)]
pub struct RawRequest<'a> {
    /// Function owner.
    pub owner: Owner,
    /// Project name.
    pub project: &'a str,
    /// Function name.
    pub function: &'a str,
    /// HTTP method.
    pub method: &'a str,
    /// Path inside the function (`""` is taken as `/`).
    pub path: &'a str,
    /// Raw query string without `?`, if any.
    pub query: Option<&'a str>,
    /// Headers as received (any case, any order); non-forwarded ones are dropped.
    pub headers: Vec<(&'a str, &'a [u8])>,
    /// The body.
    pub body: &'a [u8],
}

impl CanonicalRequest {
    /// Canonicalizes `raw` for `gateway`.
    ///
    /// # Errors
    ///
    /// [`Invalid`] if a part exceeds its limit or is malformed.
    pub fn build(
        raw: &RawRequest<'_>,
        gateway: NodeKey,
        nonce: u64,
        received_at_ms: u64,
    ) -> Result<Self, Invalid> {
        let path = if raw.path.is_empty() { "/".to_owned() } else { raw.path.to_owned() };
        let mut query: Vec<String> = raw
            .query
            .unwrap_or("")
            .split('&')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        query.sort_unstable();
        let mut headers: Vec<Header> = raw
            .headers
            .iter()
            .map(|(n, v)| (n.to_ascii_lowercase(), v))
            .filter(|(n, _)| is_forwarded_header(n))
            .map(|(name, v)| Header { name, value: v.to_vec() })
            .collect();
        headers.sort_unstable();
        let request = Self {
            owner: raw.owner,
            project: raw.project.to_owned(),
            function: raw.function.to_owned(),
            method: raw.method.to_owned(),
            path,
            query,
            headers,
            body_hash: keccak256(raw.body),
            body_len: raw.body.len() as u64,
            gateway,
            nonce,
            received_at_ms,
        };
        request.validate()?;
        Ok(request)
    }

    /// The request id: keccak256 of the canonical encoding.
    pub fn id(&self) -> RequestId {
        RequestId(keccak256(&codec::encode(self)).0)
    }

    /// The query segments joined with `&` (empty if none).
    pub fn query_string(&self) -> String {
        self.query.join("&")
    }

    /// Path and query as they appear in a request line.
    pub fn path_and_query(&self) -> String {
        if self.query.is_empty() {
            self.path.clone()
        } else {
            format!("{}?{}", self.path, self.query_string())
        }
    }
}

impl Wire for CanonicalRequest {
    const MAX_BYTES: usize = 32 * 1024;

    fn validate(&self) -> Result<(), Invalid> {
        check_name("project", &self.project)?;
        check_name("function", &self.function)?;
        if self.method.is_empty()
            || self.method.len() > 16
            || !self.method.bytes().all(|b| b.is_ascii_alphabetic())
        {
            return Err(Invalid::new("method", "must be 1 to 16 ASCII letters"));
        }
        if !self.path.starts_with('/') || self.path.len() > MAX_PATH_LEN {
            return Err(Invalid::new(
                "path",
                format!("must start with '/' and be at most {MAX_PATH_LEN} bytes"),
            ));
        }
        if self.path.bytes().any(|b| b == b'?' || b == b'#' || b.is_ascii_control() || b == b' ') {
            return Err(Invalid::new("path", "contains '?', '#', a space or a control character"));
        }
        let query_len: usize = self.query.iter().map(|s| s.len() + 1).sum();
        if query_len > MAX_QUERY_LEN {
            return Err(Invalid::new("query", format!("longer than {MAX_QUERY_LEN} bytes")));
        }
        if self.query.iter().any(|s| {
            s.is_empty()
                || s.bytes().any(|b| b == b'&' || b == b'#' || b.is_ascii_control() || b == b' ')
        }) {
            return Err(Invalid::new("query", "has an empty segment or a forbidden character"));
        }
        if !self.query.is_sorted() {
            return Err(Invalid::new("query", "segments are not sorted"));
        }
        check_headers(&self.headers, true)?;
        if self.headers.iter().any(|h| !is_forwarded_header(&h.name)) {
            return Err(Invalid::new("headers", "contains a header that is not forwarded"));
        }
        if self.body_len > MAX_BODY_LEN {
            return Err(Invalid::new("body_len", format!("exceeds {MAX_BODY_LEN} bytes")));
        }
        Ok(())
    }
}

/// Checks header count, size, name syntax and (for requests) order.
pub(crate) fn check_headers(headers: &[Header], sorted: bool) -> Result<(), Invalid> {
    if headers.len() > MAX_HEADERS {
        return Err(Invalid::new("headers", format!("more than {MAX_HEADERS}")));
    }
    let bytes: usize = headers.iter().map(|h| h.name.len() + h.value.len()).sum();
    if bytes > MAX_HEADER_BYTES {
        return Err(Invalid::new("headers", format!("more than {MAX_HEADER_BYTES} bytes")));
    }
    for h in headers {
        if !is_header_name(&h.name) {
            return Err(Invalid::new("headers", "a name is not a lower-case HTTP token"));
        }
        if h.value.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
            return Err(Invalid::new("headers", "a value contains a control character"));
        }
    }
    if sorted && !headers.is_sorted() {
        return Err(Invalid::new("headers", "are not sorted"));
    }
    Ok(())
}

fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 256
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b"!#$%&'*+-.^_`|~".contains(&b)
        })
}

/// A function's response, as the worker produced it and the gateway returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpResponse {
    /// HTTP status (100–599).
    pub status: u16,
    /// Response headers in the order the function set them; names lower-case.
    pub headers: Vec<Header>,
    /// Response body.
    #[serde(with = "serde_bytes")]
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// keccak256 of the canonical encoding: what a receipt commits to.
    pub fn hash(&self) -> Keccak {
        keccak256(&codec::encode(self))
    }
}

impl Wire for HttpResponse {
    const MAX_BYTES: usize = MAX_BODY_LEN as usize + 64 * 1024;

    fn validate(&self) -> Result<(), Invalid> {
        if !(100..=599).contains(&self.status) {
            return Err(Invalid::new("status", "must be 100 to 599"));
        }
        check_headers(&self.headers, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw<'a>(query: Option<&'a str>, headers: Vec<(&'a str, &'a [u8])>) -> RawRequest<'a> {
        RawRequest {
            owner: "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266".parse().unwrap(),
            project: "hello",
            function: "echo",
            method: "GET",
            path: "/a/b",
            query,
            headers,
            body: b"",
        }
    }

    #[test]
    fn forwarded_header_list_is_sorted() {
        assert!(FORWARDED_HEADERS.is_sorted());
        assert!(is_forwarded_header("x-api-key"));
        assert!(!is_forwarded_header("x-forwarded-for"));
        assert!(!is_forwarded_header("x-payment"));
        assert!(!is_forwarded_header("connection"));
        assert!(!is_forwarded_header("host"));
    }

    #[test]
    fn canonicalization_sorts_and_filters() {
        let r = CanonicalRequest::build(
            &raw(
                Some("b=2&a=1&&c"),
                vec![
                    ("User-Agent", b"t"),
                    ("X-Trace", b"1"),
                    ("Connection", b"close"),
                    ("accept", b"*/*"),
                ],
            ),
            NodeKey([1; 32]),
            9,
            1_700_000_000_000,
        )
        .unwrap();
        assert_eq!(r.query, ["a=1", "b=2", "c"]);
        let names: Vec<_> = r.headers.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, ["accept", "user-agent", "x-trace"]);
        assert_eq!(r.path_and_query(), "/a/b?a=1&b=2&c");
    }

    #[test]
    fn id_changes_with_nonce_and_is_stable_otherwise() {
        let a = CanonicalRequest::build(&raw(None, vec![]), NodeKey([1; 32]), 1, 5).unwrap();
        let b = CanonicalRequest::build(&raw(None, vec![]), NodeKey([1; 32]), 1, 5).unwrap();
        let c = CanonicalRequest::build(&raw(None, vec![]), NodeKey([1; 32]), 2, 5).unwrap();
        assert_eq!(a.id(), b.id());
        assert_ne!(a.id(), c.id());
    }

    #[test]
    fn refuses_bad_parts() {
        let mut r = raw(None, vec![]);
        r.method = "GE T";
        assert!(CanonicalRequest::build(&r, NodeKey([1; 32]), 1, 1).is_err());
        let mut r = raw(None, vec![]);
        r.path = "/a b";
        assert!(CanonicalRequest::build(&r, NodeKey([1; 32]), 1, 1).is_err());
        let long = "x".repeat(MAX_QUERY_LEN + 1);
        let r = raw(Some(&long), vec![]);
        assert!(CanonicalRequest::build(&r, NodeKey([1; 32]), 1, 1).is_err());
        let r = raw(None, vec![("x-a", b"line\nbreak")]);
        assert!(CanonicalRequest::build(&r, NodeKey([1; 32]), 1, 1).is_err());
    }

    #[test]
    fn decode_refuses_unsorted_query() {
        let mut r =
            CanonicalRequest::build(&raw(Some("a=1&b=2"), vec![]), NodeKey([1; 32]), 1, 1).unwrap();
        r.query.reverse();
        let bytes = codec::encode(&r);
        assert!(matches!(
            codec::decode::<CanonicalRequest>(&bytes),
            Err(codec::DecodeError::Invalid(_))
        ));
    }
}
