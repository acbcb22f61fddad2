//! Test harness for PeerHost's end-to-end tests: real nodes (libp2p swarms, iroh endpoints,
//! wasmtime sandboxes) started in-process on loopback with temporary data directories, plus
//! a small HTTP client and helpers for guest fixtures.
//!
//! Guest components are built by `scripts/build-guests` into
//! `target/wasm/wasm32-wasip2/release/`.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
pub use peerhost_node::devnet::{Devnet, DevnetOptions};

pub mod load;
pub mod posing;
// Waiting for a child process's output needs the real clock.
pub mod netns;
#[allow(clippy::disallowed_methods)]
pub mod process;
use peerhost_node::{gateway::GatewayConfig, worker::WorkerConfig};

/// A chain for settlement tests: two-second epochs, quick ticks, the first worker validating
/// when `validator`, about `audit_fraction` of receipts audited.
pub fn fast_chain(
    validator: bool,
    audit_fraction: f64,
) -> peerhost_node::devnet::DevnetChainOptions {
    peerhost_node::devnet::DevnetChainOptions {
        epoch_length_s: 2,
        tick: Duration::from_millis(250),
        validator,
        audit_fraction,
        ..Default::default()
    }
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_owned()
}

/// A built guest component (`echo`, `digest`, `fixture`).
///
/// # Panics
///
/// If the guests were not built.
pub fn guest(name: &str) -> PathBuf {
    let path = repo_root().join("target/wasm/wasm32-wasip2/release").join(format!("{name}.wasm"));
    assert!(path.is_file(), "{} is missing: run scripts/build-guests", path.display());
    path
}

/// A project folder in a temp dir: `functions/<name>.wasm` copied from built guests, and
/// `peerhost.toml` with `settings`.
pub fn project(name: &str, functions: &[(&str, &str)], settings: &str) -> tempfile::TempDir {
    let dir = tempfile::Builder::new().prefix("project").tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("functions")).expect("functions dir");
    for (function, guest_name) in functions {
        std::fs::copy(
            guest(guest_name),
            dir.path().join("functions").join(format!("{function}.wasm")),
        )
        .expect("copy guest");
    }
    let toml = format!("[project]\nname = \"{name}\"\n{settings}");
    std::fs::write(dir.path().join("peerhost.toml"), toml).expect("write peerhost.toml");
    dir
}

/// Options for a fast test network: `workers` workers, short heartbeats, ephemeral ports.
pub fn options(dir: &Path, workers: usize) -> DevnetOptions {
    let mut options = DevnetOptions::new(dir);
    options.workers = workers;
    options.project = None;
    options.chain = None;
    options.heartbeat = Duration::from_millis(200);
    options.timeout = Duration::from_secs(60);
    options.worker = WorkerConfig { slots: 4, ..WorkerConfig::default() };
    options.worker.sandbox.max_instances = 8;
    options.gateway = GatewayConfig {
        listen: "127.0.0.1:0".parse().expect("socket address"),
        slack_ms: 1_500,
        ..GatewayConfig::default()
    };
    options
}

/// A running test network and the temp dir it lives in.
pub struct TestNet {
    /// The network.
    pub net: Devnet,
    _dir: tempfile::TempDir,
}

impl TestNet {
    /// Starts a network with `workers` workers, adjusted by `tweak`.
    pub async fn start(workers: usize, tweak: impl FnOnce(&mut DevnetOptions)) -> Self {
        init_tracing();
        let dir = tempfile::Builder::new().prefix("peerhost-net").tempdir().expect("temp dir");
        let mut options = options(dir.path(), workers);
        tweak(&mut options);
        let net = Devnet::start(options).await.expect("test network starts");
        Self { net, _dir: dir }
    }

    /// Where the network's workers keep compiled components (volunteer processes on this
    /// machine share it, as `--compile-cache`).
    pub fn compile_cache(&self) -> PathBuf {
        self._dir.path().join("compiled")
    }

    /// The data dir of the node called `name` (`worker-0`, `gateway`, or an extra node's).
    pub fn data_dir(&self, name: &str) -> PathBuf {
        self._dir.path().join(name)
    }

    /// Deploys `project` and returns the URL of `function`.
    pub async fn deploy(&self, project: &Path) -> peerhost_node::deploy::Deployed {
        self.net.deploy(project).await.expect("deploy succeeds")
    }

    /// The URL of a function.
    pub fn url(&self, project: &str, function: &str) -> String {
        self.net.function_url(project, function)
    }
}

/// Polls `check` every 50 ms until it returns `Some`, and returns that.
///
/// # Panics
///
/// If `within` passes first, naming `what`.
pub async fn poll_until<T, F, Fut>(what: &str, within: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(tokio::time::Instant::now() < deadline, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Logs to the test output when `RUST_LOG` is set.
pub fn init_tracing() {
    if let Ok(filter) = std::env::var("RUST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_test_writer()
            .try_init();
    }
}

/// A received HTTP response.
#[derive(Debug, Clone)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: http::HeaderMap,
    /// Body.
    pub body: Bytes,
}

impl Reply {
    /// The body as JSON.
    ///
    /// # Panics
    ///
    /// If the body is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Sends one HTTP request.
///
/// # Panics
///
/// On connection errors (every test expects the gateway to answer).
pub async fn send(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Reply {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let mut request = hyper::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request.body(Full::new(body.into())).expect("valid request");
    let response = tokio::time::timeout(Duration::from_secs(60), client.request(request))
        .await
        .expect("gateway answers within a minute")
        .expect("HTTP request succeeds");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.expect("body").to_bytes();
    Reply { status, headers, body }
}

/// `GET url`.
pub async fn get(url: &str) -> Reply {
    send("GET", url, &[], Bytes::new()).await
}
