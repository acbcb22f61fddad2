//! `peerhost-node bench`: a load generator against a gateway (its own, and `wrk` with
//! `--wrk`), with the same component run in-process through the sandbox as the baseline of
//! the same run, and the ratio of the two on one line.

#![allow(clippy::disallowed_methods)] // measuring wall-clock time is the point here

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

async fn over_http(
    url: &str,
    method: &str,
    tier: &str,
    body: Bytes,
    total: usize,
    concurrency: usize,
) -> anyhow::Result<Report> {
    let client: Client<_, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).pool_max_idle_per_host(concurrency).build_http();
    let client = Arc::new(client);
    let uri: hyper::Uri = format!("{url}/bench?name=peerhost").parse().context("bad --url")?;
    let method: hyper::Method = method.parse().context("bad --method")?;
    let send = {
        let (client, uri, method, body) =
            (client.clone(), uri.clone(), method.clone(), body.clone());
        let tier = tier.to_owned();
        move |_: usize| {
            let request = hyper::Request::builder()
                .method(method.clone())
                .uri(uri.clone())
                .header("x-peerhost-tier", tier.as_str())
                .body(Full::new(body.clone()))
                .expect("valid request");
            let client = client.clone();
            async move {
                let response = client.request(request).await.map_err(|_| "connect".to_owned())?;
                let status = response.status();
                let body = response.into_body().collect().await.map_err(|_| "body".to_owned())?;
                if status.is_success() {
                    return Ok(());
                }
                // Gateway errors are JSON with an `error` kind; name the failure by both.
                let kind = serde_json::from_slice::<serde_json::Value>(&body.to_bytes())
                    .ok()
                    .and_then(|v| v["error"].as_str().map(str::to_owned));
                Err(match kind {
                    Some(kind) => format!("{} {kind}", status.as_u16()),
                    None => status.as_u16().to_string(),
                })
            }
        }
    };
    let warmup = drive("warm-up", total.min(500), concurrency, send.clone()).await;
    anyhow::ensure!(warmup.requests > 0, "no successful request to {url}");
    let name = format!("gateway → mesh → worker ({tier})");
    Ok(drive(&name, total, concurrency, send).await)
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
        return print(&reports, None, args.json);
    }
    let baseline = reports.clone();

    let mut devnet = None;
    let url = match &args.url {
        Some(url) => url.clone(),
        None => {
            let dir = data_dir.join("bench");
            let _ = std::fs::remove_dir_all(&dir);
            let mut options = DevnetOptions::new(&dir);
            options.workers = args.workers.max(1);
            // The chain is never on the request path; leaving it out keeps runs comparable.
            options.chain = None;
            options.gateway = GatewayConfig {
                listen: "127.0.0.1:0".parse().expect("socket address"),
                fast_racers: args.racers.max(1),
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
    let mut end_to_end = vec![over_http(&url, &args.method, "fast", body.clone(), n, c).await?];
    if args.verified {
        end_to_end.push(over_http(&url, &args.method, "verified", body, n, c).await?);
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
    let ratio = ratio_line(&baseline, &fast);
    reports.extend(end_to_end);
    print(&reports, ratio, args.json)
}
