//! Outbound HTTP of effectful functions, safe for the volunteer who runs them.
//!
//! A request leaves the worker only when its host is on the function's allow-list (the
//! owner's promise) *and* every address it connects to is public (the volunteer's protection):
//! the host name is resolved here, each resolved address is checked, and the connection goes
//! to a checked address, so a name that resolves to loopback, the LAN or a cloud metadata
//! service is refused, and a second lookup cannot swap the address in between (DNS
//! rebinding). `wasi:http` never follows redirects for the guest: each hop is a new request
//! through this check. The operator may open ranges explicitly ([`OutboundPolicy::allow`]);
//! requests per call and response bytes per call are bounded.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    pin::Pin,
    sync::{
        Arc, LazyLock,
        atomic::{AtomicU32, AtomicU64, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use ipnet::IpNet;
use tokio::net::TcpStream;
use tracing::debug;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, io::TokioIo};

use super::forward::{Forward, ForwardError, Forwarded, ForwardedResponse, WireCode};

/// The worker operator's rules for outbound requests.
#[derive(Debug, Clone)]
pub struct OutboundPolicy {
    /// Ranges reachable although they are not public (e.g. an API on the LAN, or loopback in
    /// tests). Empty by default: only public addresses are reached.
    pub allow: Vec<IpNet>,
    /// Most outbound requests one call may make (redirect hops included).
    pub max_requests: u32,
    /// Most response body bytes one call may read, over all its outbound requests.
    pub max_response_bytes: u64,
    /// Longest wait for DNS, and again for the TCP and TLS connection.
    pub connect_timeout: Duration,
}

impl Default for OutboundPolicy {
    fn default() -> Self {
        Self {
            allow: Vec::new(),
            max_requests: 16,
            max_response_bytes: 16 << 20,
            connect_timeout: Duration::from_secs(10),
        }
    }
}

impl OutboundPolicy {
    /// Why `ip` may not be reached, or `None` if it may: public addresses may, and so may
    /// addresses in an explicitly allowed range.
    pub fn refuses(&self, ip: IpAddr) -> Option<&'static str> {
        let reason = non_public(ip)?;
        let ip = canonical(ip);
        (!self.allow.iter().any(|range| range.contains(&ip))).then_some(reason)
    }
}

/// An IPv4 address carried inside IPv6 (mapped `::ffff:a.b.c.d`) stands for itself.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The kind of non-public range `ip` belongs to, or `None` for a public address.
pub fn non_public(ip: IpAddr) -> Option<&'static str> {
    match canonical(ip) {
        IpAddr::V4(v4) => non_public_v4(v4),
        IpAddr::V6(v6) => non_public_v6(v6),
    }
}

fn non_public_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        _ if ip.is_unspecified() || a == 0 => "unspecified",
        _ if ip.is_loopback() => "loopback",
        _ if ip.is_private() => "private",
        // 169.254/16 holds the cloud metadata services (169.254.169.254).
        _ if ip.is_link_local() => "link-local",
        _ if ip.is_multicast() => "multicast",
        _ if ip.is_broadcast() => "broadcast",
        // Carrier-grade NAT space, also home to some metadata services (100.100.100.200).
        (100, 64..=127, _) => "shared",
        _ if ip.is_documentation() => "documentation",
        (198, 18 | 19, _) => "benchmarking",
        (192, 0, 0) => "protocol-assignment",
        _ if a >= 240 => "reserved",
        _ => return None,
    })
}

fn non_public_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let segments = ip.segments();
    // Addresses that embed an IPv4 address (NAT64, 6to4) are as reachable as that address.
    let embedded = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    Some(match segments {
        _ if ip.is_unspecified() => "unspecified",
        _ if ip.is_loopback() => "loopback",
        _ if ip.is_multicast() => "multicast",
        // fe80::/10, and the deprecated site-local fec0::/10.
        [s, ..] if s & 0xffc0 == 0xfe80 || s & 0xffc0 == 0xfec0 => "link-local",
        // fc00::/7, home of fd00:ec2::254 (a cloud metadata service).
        [s, ..] if s & 0xfe00 == 0xfc00 => "unique-local",
        [0x2001, 0x0db8, ..] => "documentation",
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] | [0x64, 0xff9b, 1, .., hi, lo] => {
            return non_public_v4(embedded(hi, lo));
        }
        [0x2002, hi, lo, ..] => return non_public_v4(embedded(hi, lo)),
        // The IPv4-compatible form ::a.b.c.d (deprecated) and other reserved low space.
        [0, 0, 0, 0, 0, 0, ..] => "reserved",
        _ => return None,
    })
}

/// The outbound side of one call: its allow-list, the worker's policy, and what it has used.
/// Requests leave from this process, or (in an executor, which has no network) are handed to
/// a [`Forward`] that sends them from the worker, which checks them again.
pub struct Outbound {
    allowed_hosts: Vec<String>,
    policy: Arc<OutboundPolicy>,
    sent: AtomicU32,
    budget: Arc<AtomicU64>,
    forward: Option<Arc<dyn Forward>>,
}

impl Outbound {
    /// Requests sent from this process.
    pub fn new(allowed_hosts: Vec<String>, policy: Arc<OutboundPolicy>) -> Self {
        let budget = Arc::new(AtomicU64::new(policy.max_response_bytes));
        Self { allowed_hosts, policy, sent: AtomicU32::new(0), budget, forward: None }
    }

    /// Requests handed to `forward` (after the allow-list and count checks here).
    pub fn forwarded(allowed_hosts: Vec<String>, forward: Arc<dyn Forward>) -> Self {
        Self { forward: Some(forward), ..Self::new(allowed_hosts, Arc::default()) }
    }

    /// Sends a request an executor forwarded, with every check of a local one, and reads its
    /// whole response (the executor sees it as one body).
    pub async fn serve(&self, request: Forwarded) -> Result<ForwardedResponse, ForwardError> {
        let request = request.into_http().ok_or(ForwardError::Code(WireCode::UriInvalid))?;
        self.check(request.uri()).map_err(|e| ForwardError::from_error(&e))?;
        let (policy, budget) = (self.policy.clone(), self.budget.clone());
        let (response, connection) =
            send(request, None, policy, budget).await.map_err(|e| ForwardError::from_error(&e))?;
        let connection = tokio::spawn(Box::into_pin(connection));
        let (parts, mut body) = response.into_parts();
        let mut bytes = Vec::new();
        let mut cut = None;
        while let Some(frame) = body.frame().await {
            match frame {
                Ok(frame) => bytes.extend_from_slice(frame.data_ref().map_or(&[][..], |d| d)),
                Err(e) => {
                    cut = Some(ForwardError::from_error(&e));
                    break;
                }
            }
        }
        connection.abort();
        Ok(ForwardedResponse::from_parts(&parts, bytes, cut))
    }

    /// The allow-list and per-call count checks.
    fn check(&self, uri: &http::Uri) -> Result<(), Error> {
        if !self.allows(uri) {
            debug!(target: "peerhost::sandbox", %uri, "outbound host not allow-listed");
            return Err(Error::HttpRequestDenied);
        }
        if self.sent.fetch_add(1, Ordering::Relaxed) >= self.policy.max_requests {
            debug!(target: "peerhost::sandbox", "outbound request limit reached");
            return Err(Error::ConnectionLimitReached);
        }
        Ok(())
    }

    /// Whether `uri` names an allow-listed `host` (any port) or `host:port`.
    fn allows(&self, uri: &http::Uri) -> bool {
        let Some(host) = uri.host() else { return false };
        let host = unbracket(host).to_ascii_lowercase();
        let port = port_of(uri);
        self.allowed_hosts.iter().any(|entry| match split_entry(entry) {
            (h, Some(p)) => h == host && p == port,
            (h, None) => h == host,
        })
    }
}

/// An IPv6 host without its URI brackets.
fn unbracket(host: &str) -> &str {
    host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host)
}

/// An allow-list entry's host and port: `host`, `host:port`, `v6`, `[v6]` or `[v6]:port`. A
/// port that does not parse matches nothing.
fn split_entry(entry: &str) -> (&str, Option<u16>) {
    if entry.parse::<Ipv6Addr>().is_ok() {
        return (entry, None);
    }
    match entry.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() => {
            (unbracket(host), Some(port.parse().unwrap_or(0)))
        }
        _ => (unbracket(entry), None),
    }
}

fn port_of(uri: &http::Uri) -> u16 {
    let https = uri.scheme() == Some(&http::uri::Scheme::HTTPS);
    uri.port_u16().unwrap_or(if https { 443 } else { 80 })
}

pub(crate) type Sent =
    Result<(http::Response<WasiBody>, Box<dyn Future<Output = Result<(), Error>> + Send>), Error>;

impl wasmtime_wasi_http::WasiHttpHooks for Outbound {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> Box<dyn Future<Output = Sent> + Send> {
        if let Err(e) = self.check(request.uri()) {
            return Box::new(async { Err(e) });
        }
        if let Some(forward) = self.forward.clone() {
            return Box::new(super::forward::send(forward, request));
        }
        let (policy, budget) = (self.policy.clone(), self.budget.clone());
        Box::new(send(request, options, policy, budget))
    }
}

/// Resolves, checks, connects and sends one request; the response body draws on `budget`.
async fn send(
    mut request: http::Request<WasiBody>,
    options: Option<RequestOptions>,
    policy: Arc<OutboundPolicy>,
    budget: Arc<AtomicU64>,
) -> Sent {
    let uri = request.uri().clone();
    let host = uri.host().ok_or(Error::HttpRequestUriInvalid)?;
    let host = unbracket(host).to_owned();
    let port = port_of(&uri);
    let connect_timeout = options
        .and_then(|o| o.connect_timeout)
        .map_or(policy.connect_timeout, |t| t.min(policy.connect_timeout));

    let addr = resolve(&host, port, &policy, connect_timeout).await?;
    let tcp = tokio::time::timeout(connect_timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| Error::ConnectionTimeout)?
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::ConnectionRefused => Error::ConnectionRefused,
            _ => Error::Connect(e),
        })?;
    *request.uri_mut() = http::Uri::builder()
        .path_and_query(uri.path_and_query().map_or("/", |p| p.as_str()))
        .build()
        .map_err(|_| Error::HttpRequestUriInvalid)?;

    let (response, connection) = if uri.scheme() == Some(&http::uri::Scheme::HTTPS) {
        let name = rustls::pki_types::ServerName::try_from(host)
            .map_err(|_| Error::HttpRequestUriInvalid)?;
        let tls = tokio::time::timeout(connect_timeout, TLS.connect(name, tcp))
            .await
            .map_err(|_| Error::ConnectionTimeout)?
            .map_err(Error::Tls)?;
        exchange(tls, request, connect_timeout).await?
    } else {
        exchange(tcp, request, connect_timeout).await?
    };

    let remaining = budget.load(Ordering::Relaxed);
    if http_body::Body::size_hint(response.body()).lower() > remaining {
        return Err(Error::HttpResponseBodySize(Some(remaining)));
    }
    let response =
        response.map(|incoming| Budgeted { incoming, budget, exceeded: false }.boxed_unsync());
    Ok((response, connection))
}

/// The first resolved address of `host` that the policy lets us reach.
async fn resolve(
    host: &str,
    port: u16,
    policy: &OutboundPolicy,
    timeout: Duration,
) -> Result<SocketAddr, Error> {
    let candidates: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::time::timeout(timeout, tokio::net::lookup_host((host, port)))
            .await
            .map_err(|_| Error::DnsTimeout)?
            .map_err(|e| Error::DnsError { rcode: Some(e.to_string()), info_code: None })?
            .collect(),
    };
    if candidates.is_empty() {
        return Err(Error::DestinationNotFound);
    }
    for addr in &candidates {
        match policy.refuses(addr.ip()) {
            None => return Ok(*addr),
            Some(range) => {
                debug!(target: "peerhost::sandbox", %host, ip = %addr.ip(), range, "outbound address refused");
            }
        }
    }
    Err(Error::DestinationIpProhibited)
}

type Connection = Box<dyn Future<Output = Result<(), Error>> + Send>;

/// HTTP/1.1 over an established stream: the response head, and the connection's own task
/// (which the guest's body reads drive to completion).
async fn exchange<S>(
    stream: S,
    request: http::Request<WasiBody>,
    timeout: Duration,
) -> Result<(http::Response<hyper::body::Incoming>, Connection), Error>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let (mut sender, connection) = tokio::time::timeout(
        timeout,
        hyper::client::conn::http1::Builder::new().handshake(TokioIo::new(stream)),
    )
    .await
    .map_err(|_| Error::ConnectionTimeout)??;
    let mut connection = Box::pin(connection);
    // Drive the connection while waiting for the head; keep driving it afterwards.
    let mut response = std::pin::pin!(sender.send_request(request));
    let mut done = false;
    let head = std::future::poll_fn(|cx| {
        if let Poll::Ready(r) = response.as_mut().poll(cx) {
            return Poll::Ready(r.map_err(Error::from));
        }
        if !done && let Poll::Ready(r) = connection.as_mut().poll(cx) {
            done = true;
            if let Err(e) = r {
                return Poll::Ready(Err(Error::from(e)));
            }
            return response.as_mut().poll(cx).map_err(Error::from);
        }
        Poll::Pending
    })
    .await?;
    let rest: Connection = Box::new(async move {
        if !done {
            connection.await?;
        }
        Ok(())
    });
    Ok((head, rest))
}

/// A response body that delivers bytes while the call's budget lasts, then fails with
/// `HttpResponseBodySize`.
struct Budgeted {
    incoming: hyper::body::Incoming,
    budget: Arc<AtomicU64>,
    exceeded: bool,
}

impl Body for Budgeted {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        if self.exceeded {
            return Poll::Ready(Some(Err(Error::HttpResponseBodySize(None))));
        }
        let frame = match Pin::new(&mut self.incoming).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => frame,
            Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(Error::from(e)))),
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => return Poll::Pending,
        };
        let mut data = match frame.into_data() {
            Ok(data) => data,
            Err(trailers) => return Poll::Ready(Some(Ok(trailers))),
        };
        let left = self.budget.load(Ordering::Relaxed);
        let len = data.len() as u64;
        if len > left {
            // What still fits goes to the guest; the next read fails.
            data.truncate(left as usize);
            self.exceeded = true;
        }
        self.budget.fetch_sub(len.min(left), Ordering::Relaxed);
        Poll::Ready(Some(Ok(Frame::data(data))))
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.incoming.size_hint()
    }
}

/// TLS client settings: the web's roots (Mozilla's, compiled in), ring.
static TLS: LazyLock<tokio_rustls::TlsConnector> = LazyLock::new(|| {
    let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("ring supports the default TLS versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
});

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(ip: &str) -> Option<&'static str> {
        OutboundPolicy::default().refuses(ip.parse().unwrap())
    }

    #[test]
    fn non_public_addresses_are_refused() {
        for (ip, range) in [
            ("127.0.0.1", "loopback"),
            ("127.9.9.9", "loopback"),
            ("0.0.0.0", "unspecified"),
            ("10.1.2.3", "private"),
            ("172.16.0.1", "private"),
            ("192.168.1.1", "private"),
            ("169.254.169.254", "link-local"),
            ("100.100.100.200", "shared"),
            ("224.0.0.1", "multicast"),
            ("255.255.255.255", "broadcast"),
            ("240.0.0.1", "reserved"),
            ("198.18.0.1", "benchmarking"),
            ("::1", "loopback"),
            ("::", "unspecified"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:10.0.0.1", "private"),
            ("fe80::1", "link-local"),
            ("fd00:ec2::254", "unique-local"),
            ("fc00::1", "unique-local"),
            ("ff02::1", "multicast"),
            ("64:ff9b::a9fe:a9fe", "link-local"),
            ("2002:c0a8:0101::1", "private"),
            ("::127.0.0.1", "reserved"),
        ] {
            assert_eq!(refused(ip), Some(range), "{ip}");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for ip in ["1.1.1.1", "8.8.8.8", "100.128.0.1", "2606:4700::1111", "64:ff9b::808:808"] {
            assert_eq!(refused(ip), None, "{ip}");
        }
    }

    #[test]
    fn an_allowed_range_opens_only_itself() {
        let policy =
            OutboundPolicy { allow: vec!["127.0.0.1/32".parse().unwrap()], ..Default::default() };
        assert_eq!(policy.refuses("127.0.0.1".parse().unwrap()), None);
        assert_eq!(policy.refuses("::ffff:127.0.0.1".parse().unwrap()), None);
        assert_eq!(policy.refuses("127.0.0.2".parse().unwrap()), Some("loopback"));
        assert_eq!(policy.refuses("10.0.0.1".parse().unwrap()), Some("private"));
    }
}
