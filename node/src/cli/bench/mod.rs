//! `peerhost-node bench`: a load generator against a gateway (its own, and `wrk` with
//! `--wrk`), with the same component run in-process through the sandbox as the baseline of
//! the same run, and the ratio of the two on one line.

#![allow(clippy::disallowed_methods)] // measuring wall-clock time is the point here

mod paid;
mod report;
mod wrk;

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Instant,
};

use anyhow::Context;
use bytes::Bytes;
use clap::Args;
use http_body_util::{BodyExt, Full};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use peerhost_protocol::{BlobHash, Limits, RequestId, keccak256};
use report::{Report, print, ratio_line};

use crate::{
    devnet::{Devnet, DevnetOptions},
    executor::{ExecutorConfig, Runner},
    gateway::GatewayConfig,
    sandbox::{Env, Invocation, SandboxConfig},
    worker::WorkerConfig,
};

#[derive(Debug, Clone, Args)]
pub(super) struct BenchArgs {
    /// Function URL to load. Default: start an in-process devnet and load its `echo`.
    #[arg(long)]
    url: Option<String>,
    /// Requests per scenario.
    #[arg(short = 'n', long, default_value_t = 5000)]
    requests: usize,
    /// Requests in flight at once.
    #[arg(short = 'c', long, default_value_t = 16)]
    concurrency: usize,
    /// HTTP method.
    #[arg(long, default_value = "GET")]
    method: String,
    /// Request body size in bytes.
    #[arg(long, default_value_t = 0)]
    body_bytes: usize,
    /// Component run in-process as the baseline.
    #[arg(long, default_value = "target/wasm/wasm32-wasip2/release/echo.wasm")]
    baseline: PathBuf,
    /// Workers of the in-process devnet.
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// Racers per call on the in-process devnet.
    #[arg(long, default_value_t = 1)]
    racers: usize,
    /// Only the in-process sandbox scenarios (no network): several of these at once measure
    /// throughput with one executor process per core.
    #[arg(long)]
    sandbox_only: bool,
    /// Also run the in-process calls through executor processes (one per core, confined as a
    /// worker's are), in the same run: the cost of the second sandbox layer.
    #[arg(long)]
    executors: bool,
    /// Also load the same function in the verified tier (`x-peerhost-tier: verified`), in the
    /// same run (the function must offer it, as the devnet's `echo` does).
    #[arg(long)]
    verified: bool,
    /// Also call a priced function paid per call with x402, next to the same function called
    /// free and the chain's own transaction round trip, in the same run (the in-process
    /// devnet then runs on a local chain; at most 2,000 paid calls).
    #[arg(long)]
    paid: bool,
    /// Also load the gateway with `wrk` at concurrency 1 and 64, for this many seconds each.
    #[arg(long, value_name = "SECONDS", num_args = 0..=1, default_missing_value = "10")]
    wrk: Option<u64>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// Runs `total` calls of `call` with `concurrency` in flight; records each latency.
async fn drive<F, Fut>(name: &str, total: usize, concurrency: usize, call: F) -> Report
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send,
{
    let call = Arc::new(call);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(concurrency);
    for _ in 0..concurrency.max(1) {
        let (call, next) = (call.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut failures = BTreeMap::<String, usize>::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    return (latencies, failures);
                }
                let t = Instant::now();
                match call(i).await {
                    Ok(()) => latencies.push(t.elapsed()),
                    Err(kind) => *failures.entry(kind).or_default() += 1,
                }
            }
        }));
    }
    let mut latencies = Vec::with_capacity(total);
    let mut failures = BTreeMap::<String, usize>::new();
    for task in tasks {
        if let Ok((l, f)) = task.await {
            latencies.extend(l);
            for (kind, n) in f {
                *failures.entry(kind).or_default() += n;
            }
        }
    }
    Report::from_latencies(name, concurrency, latencies, started.elapsed(), failures)
}

async fn in_process(
    component: &Path,
    method: String,
    body: Bytes,
    total: usize,
    concurrency: usize,
    executors: Option<ExecutorConfig>,
) -> anyhow::Result<Vec<Report>> {
    let bytes = Bytes::from(std::fs::read(component).with_context(|| {
        format!("reading {} (run scripts/build-guests first)", component.display())
    })?);
    let label = match &executors {
        None => "in-process sandbox".to_owned(),
        Some(e) => format!("{} executor processes", e.processes),
    };
    let cache = tempfile::tempdir()?;
    let config =
        SandboxConfig { cache_dir: Some(cache.path().to_owned()), ..SandboxConfig::default() };
    let sandbox = Arc::new(Runner::start(config, executors).await?);
    let compiled = sandbox.prepare(BlobHash::of(&bytes), || bytes.clone()).await?;
    let invocation = move |i: usize| Invocation {
        request_id: RequestId(keccak256(&i.to_le_bytes()).0),
        method: method.clone(),
        path_and_query: "/bench?name=peerhost".into(),
        headers: Vec::new(),
        body: body.clone(),
        received_at_ms: 1_700_000_000_000,
        limits: Limits::default(),
        allowed_hosts: Vec::new(),
        env: Env::default(),
    };
    let invocation = Arc::new(invocation);
    let mut reports = Vec::new();
    for c in [1, concurrency] {
        let (sandbox, compiled, invocation) =
            (sandbox.clone(), compiled.clone(), invocation.clone());
        // Warm up the pool slots and code pages.
        for i in 0..total.min(200) {
            let _ = sandbox.invoke(&compiled, invocation(i)).await;
        }
        let name =
            format!("{label} ({})", component.file_stem().unwrap_or_default().to_string_lossy());
        reports.push(
            drive(&name, total, c, move |i| {
                let (sandbox, compiled, invocation) =
                    (sandbox.clone(), compiled.clone(), invocation.clone());
                async move {
                    match sandbox.invoke(&compiled, invocation(i)).await.result {
                        Ok(r) if r.status == 200 => Ok(()),
                        Ok(r) => Err(r.status.to_string()),
                        Err(e) => Err(e.kind().to_owned()),
                    }
                }
            })
            .await,
        );
    }
    Ok(reports)
}

/// Headers one call carries (a tier, a payment), made afresh for each call.
type Headers = Arc<dyn Fn() -> Vec<(&'static str, String)> + Send + Sync>;

/// The load generators' HTTP client, keeping up to `idle` connections per host open.
type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

fn http_client(idle: usize) -> HttpClient {
    Client::builder(TokioExecutor::new()).pool_max_idle_per_host(idle).build_http()
}

/// One HTTP call to `uri`: `Ok` on a 2xx, else the failure named by status and the gateway's
/// JSON `error` kind.
async fn send_http(
    client: &HttpClient,
    request: hyper::Request<Full<Bytes>>,
) -> Result<(), String> {
    let response = client.request(request).await.map_err(|_| "connect".to_owned())?;
    let status = response.status();
    let body = response.into_body().collect().await.map_err(|_| "body".to_owned())?;
    if status.is_success() {
        return Ok(());
    }
    let kind = serde_json::from_slice::<serde_json::Value>(&body.to_bytes())
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_owned));
    Err(match kind {
        Some(kind) => format!("{} {kind}", status.as_u16()),
        None => status.as_u16().to_string(),
    })
}

/// The calls one scenario sends.
struct Load<'a> {
    name: &'a str,
    url: &'a str,
    method: &'a str,
    body: Bytes,
    headers: Headers,
}

/// Warm-up calls before a scenario's measured ones.
fn warm_ups(total: usize) -> usize {
    total.min(500)
}

/// Loads `load.url` with `total` calls, `concurrency` at a time, after a warm-up.
async fn over_http(load: Load<'_>, total: usize, concurrency: usize) -> anyhow::Result<Report> {
    let client = Arc::new(http_client(concurrency));
    let uri: hyper::Uri =
        format!("{}/bench?name=peerhost", load.url).parse().context("bad --url")?;
    let method: hyper::Method = load.method.parse().context("bad --method")?;
    let Load { name, url, body, headers, .. } = load;
    let send = move |_: usize| {
        let mut request = hyper::Request::builder().method(method.clone()).uri(uri.clone());
        for (name, value) in headers() {
            request = request.header(name, value);
        }
        let request = request.body(Full::new(body.clone())).expect("valid request");
        let client = client.clone();
        async move { send_http(&client, request).await }
    };
    let warmup = drive("warm-up", warm_ups(total), concurrency, send.clone()).await;
    anyhow::ensure!(warmup.requests > 0, "no successful request to {url}: {:?}", warmup.failures);
    Ok(drive(name, total, concurrency, send).await)
}

/// The name of the fast-tier scenario (the one the ratio line compares).
const FAST: &str = "gateway → mesh → worker (fast)";

/// Headers asking for `tier`.
fn tier(tier: &'static str) -> Headers {
    Arc::new(move || vec![("x-peerhost-tier", tier.to_owned())])
}

pub(super) async fn run(data_dir: &Path, args: BenchArgs) -> anyhow::Result<()> {
    let body = Bytes::from(vec![b'x'; args.body_bytes]);
    let mut reports = in_process(
        &args.baseline,
        args.method.clone(),
        body.clone(),
        args.requests,
        args.concurrency,
        None,
    )
    .await?;
    if args.executors {
        let program = std::env::current_exe().context("locating the peerhost-node binary")?;
        let executors = Some(ExecutorConfig::per_core(program));
        let (method, body) = (args.method.clone(), body.clone());
        let (total, concurrency) = (args.requests, args.concurrency);
        reports
            .extend(in_process(&args.baseline, method, body, total, concurrency, executors).await?);
    }
    if args.sandbox_only {
        return print(&reports, &[], args.json);
    }
    let baseline = reports.clone();

    anyhow::ensure!(
        !(args.paid && args.url.is_some()),
        "--paid pays on the in-process devnet's chain: leave out --url"
    );
    let mut devnet = None;
    let url = match &args.url {
        Some(url) => url.clone(),
        None => {
            let dir = data_dir.join("bench");
            let _ = std::fs::remove_dir_all(&dir);
            let mut options = DevnetOptions::new(&dir);
            options.workers = args.workers.max(1);
            // The chain is never on an unpaid call's path; leaving it out keeps runs
            // comparable. Paid calls settle on it.
            options.chain = args.paid.then(paid::chain);
            options.gateway = GatewayConfig {
                listen: "127.0.0.1:0".parse().expect("socket address"),
                fast_racers: args.racers.max(1),
                free_calls: if args.paid { paid::free_calls(args.requests) } else { 0 },
                ..GatewayConfig::default()
            };
            options.worker =
                WorkerConfig { slots: args.concurrency.max(2), ..WorkerConfig::default() };
            let net = Devnet::start(options).await.context("starting the bench devnet")?;
            let url = net.function_url("hello", "echo");
            devnet = Some(net);
            url
        }
    };
    let (n, c) = (args.requests, args.concurrency);
    let load = |name, tier_name| Load {
        name,
        url: &url,
        method: &args.method,
        body: body.clone(),
        headers: tier(tier_name),
    };
    let mut end_to_end = vec![over_http(load(FAST, "fast"), n, c).await?];
    if args.verified {
        let name = "gateway → mesh → worker (verified)";
        end_to_end.push(over_http(load(name, "verified"), n, c).await?);
    }
    let mut summary = Vec::new();
    if let Some(net) = devnet.as_ref().filter(|_| args.paid) {
        let (reports, line) = paid::run(net, &args.method, body.clone(), n, c).await?;
        end_to_end.extend(reports);
        summary.push(("paid", line));
    }
    if let Some(seconds) = args.wrk {
        let target = format!("{url}/bench?name=peerhost");
        for connections in [1, 64] {
            let name = "wrk → gateway → worker (fast)";
            let headers = [("x-peerhost-tier", "fast")];
            end_to_end.push(wrk::run(name, &target, connections, seconds, &headers).await?);
        }
    }
    if let Some(net) = devnet {
        net.shutdown().await;
    }

    if !args.json {
        let (n, method, bytes) = (args.requests, &args.method, args.body_bytes);
        println!("{n} requests per scenario, {method} {bytes}-byte body");
    }
    let fast: Vec<Report> =
        end_to_end.iter().filter(|r| r.name.contains("(fast)")).cloned().collect();
    if let Some(ratio) = ratio_line(&baseline, &fast) {
        summary.insert(0, ("ratio", ratio));
    }
    reports.extend(end_to_end);
    print(&reports, &summary, args.json)
}
