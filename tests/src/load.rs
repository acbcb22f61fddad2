//! A steady load for fault tests: a few callers, each making one call after another, every
//! call with its own deadline, and a record of what each call got and when — an answer (with
//! its request id, worker and receipt), a typed error (a JSON body with an `error` code), a
//! connection that failed, or nothing in time.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use tokio::{task::JoinHandle, time::Instant};
use tokio_util::sync::CancellationToken;

/// An HTTP client for the load.
pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// A new client (its own connection pool).
pub fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// What one call got.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// A 2xx answer.
    Answered {
        /// Its status.
        status: u16,
        /// `x-peerhost-request-id`.
        request_id: String,
        /// `x-peerhost-worker`.
        worker: String,
        /// `x-peerhost-receipt`.
        receipt: Option<String>,
        /// `payment-response`, for paid calls.
        payment: Option<String>,
        /// The body.
        body: Bytes,
    },
    /// A refusal or failure the gateway explained: a JSON body with an `error` code.
    Refused {
        /// Its status.
        status: u16,
        /// The `error` code.
        code: String,
    },
    /// A response that is neither an answer nor a typed error.
    Untyped {
        /// Its status.
        status: u16,
        /// The body.
        body: Bytes,
    },
    /// The connection failed or was cut (the gateway is down).
    Unreachable(String),
    /// No response within the deadline.
    Late,
}

impl Outcome {
    /// The request id of an answer.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Self::Answered { request_id, .. } => Some(request_id),
            _ => None,
        }
    }
}

/// One call of the load.
#[derive(Debug, Clone)]
pub struct Call {
    /// Which caller made it.
    pub caller: usize,
    /// Its number among that caller's calls.
    pub seq: u64,
    /// When it was sent, from the start of the load.
    pub sent: Duration,
    /// When it ended, from the start of the load.
    pub ended: Duration,
    /// What it got.
    pub outcome: Outcome,
}

/// A request to send: method, URL, headers, body.
#[derive(Debug, Clone)]
pub struct Request {
    /// The method.
    pub method: &'static str,
    /// The URL.
    pub url: String,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Bytes,
}

impl Request {
    /// `GET url`.
    pub fn get(url: String) -> Self {
        Self { method: "GET", url, headers: Vec::new(), body: Bytes::new() }
    }
}

/// Sends `request` and waits at most `deadline` for the whole response.
pub async fn call(client: &HttpClient, request: &Request, deadline: Duration) -> Outcome {
    let mut builder = hyper::Request::builder().method(request.method).uri(&request.url);
    for (name, value) in &request.headers {
        builder = builder.header(name, value);
    }
    let Ok(http) = builder.body(Full::new(request.body.clone())) else {
        return Outcome::Unreachable("invalid request".into());
    };
    let exchange = async {
        let response = client.request(http).await.map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
        Ok::<_, String>((status, headers, body))
    };
    let (status, headers, body) = match tokio::time::timeout(deadline, exchange).await {
        Err(_) => return Outcome::Late,
        Ok(Err(e)) => return Outcome::Unreachable(e),
        Ok(Ok(response)) => response,
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    if (200..300).contains(&status) {
        return Outcome::Answered {
            status,
            request_id: header("x-peerhost-request-id").unwrap_or_default(),
            worker: header("x-peerhost-worker").unwrap_or_default(),
            receipt: header("x-peerhost-receipt"),
            payment: header("payment-response"),
            body,
        };
    }
    let code = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|json| json["error"].as_str().map(str::to_owned));
    match code {
        Some(code) => Outcome::Refused { status, code },
        None => Outcome::Untyped { status, body },
    }
}

/// After a failed connection a caller waits this long before its next call, so that a
/// gateway that is down is not called in a busy loop.
const UNREACHABLE_PAUSE: Duration = Duration::from_millis(50);

/// Callers calling until stopped.
pub struct Load {
    stop: CancellationToken,
    started: Instant,
    calls: Arc<Mutex<Vec<Call>>>,
    callers: Vec<JoinHandle<()>>,
}

impl Load {
    /// Starts `callers` callers; caller `c`'s call number `n` sends `request(c, n)` and waits
    /// at most `deadline` for the answer.
    pub fn start(
        callers: usize,
        deadline: Duration,
        request: impl Fn(usize, u64) -> Request + Send + Sync + 'static,
    ) -> Self {
        let stop = CancellationToken::new();
        let started = Instant::now();
        let request = Arc::new(request);
        let calls = Arc::new(Mutex::new(Vec::new()));
        let callers = (0..callers)
            .map(|caller| {
                let (stop, request, calls) = (stop.clone(), request.clone(), calls.clone());
                tokio::spawn(async move {
                    let client = client();
                    for seq in 0.. {
                        if stop.is_cancelled() {
                            break;
                        }
                        let sent = started.elapsed();
                        let outcome = call(&client, &request(caller, seq), deadline).await;
                        let ended = started.elapsed();
                        let unreachable = matches!(outcome, Outcome::Unreachable(_));
                        let done = Call { caller, seq, sent, ended, outcome };
                        calls.lock().expect("calls lock").push(done);
                        if unreachable {
                            tokio::time::sleep(UNREACHABLE_PAUSE).await;
                        }
                    }
                })
            })
            .collect();
        Self { stop, started, calls, callers }
    }

    /// The calls that ended so far.
    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().expect("calls lock").clone()
    }

    /// Time since the load started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Stops the callers once their current calls end, and returns every call.
    ///
    /// # Panics
    ///
    /// If a caller panicked.
    pub async fn stop(mut self) -> Vec<Call> {
        self.stop.cancel();
        for caller in std::mem::take(&mut self.callers) {
            caller.await.expect("a caller finishes");
        }
        self.calls()
    }
}
