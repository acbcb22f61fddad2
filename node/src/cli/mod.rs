//! The `peerhost-node` command line. clap lives only here; every command converts its flags
//! into the library's config types and runs them.

#![allow(clippy::print_stdout, clippy::print_stderr)] // a CLI prints

mod bench;
mod chain;
mod devnet;
mod roles;
mod secrets;
mod status;
mod verify;
mod worker_file;

use std::{net::SocketAddr, path::PathBuf};

use clap::{Args, Parser, Subcommand};
use libp2p::Multiaddr;

use crate::{dispatch::BondRole, keys};

/// PeerHost node: serve functions as a worker, run a gateway, deploy projects, or run a whole
/// local network.
#[derive(Debug, Parser)]
#[command(name = "peerhost-node", version, args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// Where keys, bundles and compiled components are kept.
    #[arg(long, global = true, env = "PEERHOST_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Log filter (tracing `EnvFilter` syntax), e.g. `peerhost=debug`.
    #[arg(long, global = true, env = "PEERHOST_LOG", default_value = "warn,peerhost=info")]
    log: String,
    /// Without a command: join as a worker.
    #[command(flatten)]
    worker: WorkerArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Join the mesh as a worker (the default command), or manage the worker's bond.
    Worker(WorkerCommand),
    /// Run an HTTP gateway, or manage the gateway's bond.
    Gateway(GatewayCommand),
    /// Build a project folder and publish it.
    Deploy(DeployArgs),
    /// An owner's function secrets, sealed to the workers allowed to run them.
    #[command(subcommand)]
    Secrets(secrets::SecretsCommand),
    /// An owner's x402 earnings: credited balance, withdrawal.
    #[command(subcommand)]
    Owner(chain::OwnerCommand),
    /// Run a whole local network (bootstrap, workers, gateway) and deploy a project to it.
    Devnet(devnet::DevnetArgs),
    /// Load-test a gateway, with in-process execution of the same function as the baseline.
    Bench(bench::BenchArgs),
    /// Check an answer: the worker's signed receipt against the body, the worker's bond, and
    /// (with `--gateway`) the receipt's inclusion under the gateway's anchored root.
    Verify(verify::VerifyArgs),
    /// A worker's state, from its data dir: peers, bond, bundles and disk, calls, rewards.
    Status {
        /// Print the status as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print this node's peer id and owner wallet address.
    Id,
}

/// Flags shared by every node that joins a mesh.
#[derive(Debug, Clone, Args)]
struct MeshArgs {
    /// A peer to join through, e.g. `/ip4/127.0.0.1/tcp/4001/p2p/12D3Koo…` (repeatable).
    #[arg(long = "bootstrap", value_name = "MULTIADDR")]
    bootstrap: Vec<Multiaddr>,
    /// Listen through this relay (`…/p2p/<relay id>`, repeatable), e.g. a bootstrap node, so
    /// that peers reach this node behind a NAT. Without it, the bootstrap peers serve as
    /// relays once AutoNAT finds this node unreachable.
    #[arg(long = "relay", value_name = "MULTIADDR")]
    relay: Vec<Multiaddr>,
    /// Never listen through the bootstrap peers on AutoNAT's word.
    #[arg(long)]
    no_auto_relay: bool,
    /// An iroh relay for bundle transfers when no direct path exists (behind NATs), such as
    /// the one `peerhost-bootstrap --blob-relay` runs, e.g. `http://203.0.113.7:3340`.
    #[arg(long, value_name = "URL")]
    blob_relay: Option<crate::blobs::RelayUrl>,
}

/// Which owner wallet signs.
#[derive(Debug, Clone, Args)]
struct WalletArgs {
    /// Owner (or payout) wallet key (hex). Default: `wallet.key` in the data dir, created on
    /// first use.
    #[arg(long, env = "PEERHOST_WALLET_KEY", hide_env_values = true)]
    wallet_key: Option<String>,
}

impl WalletArgs {
    fn wallet(&self, data_dir: &std::path::Path) -> anyhow::Result<peerhost_protocol::Wallet> {
        Ok(match &self.wallet_key {
            Some(hex) => keys::wallet_from_hex(hex)?,
            None => keys::wallet(data_dir)?,
        })
    }
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
struct WorkerCommand {
    #[command(subcommand)]
    bond: Option<chain::BondCommand>,
    #[command(flatten)]
    join: WorkerArgs,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
struct GatewayCommand {
    #[command(subcommand)]
    bond: Option<chain::BondCommand>,
    #[command(flatten)]
    serve: GatewayArgs,
}

/// Bond before serving (a chain-connected network only uses bonded nodes).
#[derive(Debug, Clone, Args)]
struct BondArgs {
    /// Bond this much USDC (e.g. `10`) from this node's wallet before serving.
    #[arg(long, value_name = "USDC", requires = "rpc_url")]
    bond: Option<String>,
    /// Local test chains only: a funded account's key (hex) that first sends this node's
    /// wallet gas money and the `--bond` amount. The devnet prints one.
    #[arg(long, value_name = "KEY", requires = "bond", hide_env_values = true)]
    fund_from: Option<String>,
}

#[derive(Debug, Clone, Args)]
struct WorkerArgs {
    #[command(flatten)]
    mesh: MeshArgs,
    #[command(flatten)]
    chain: chain::ChainArgs,
    #[command(flatten)]
    bond: BondArgs,
    /// libp2p listen address (repeatable). Default: TCP and QUIC, ephemeral ports, on loopback
    /// when the bootstrap peer is on loopback, else on all interfaces.
    #[arg(long = "listen", value_name = "MULTIADDR")]
    listen: Vec<Multiaddr>,
    /// Requests executed at once (default: twice the CPU count).
    #[arg(long)]
    slots: Option<usize>,
    /// Address the bundle store listens on (iroh, UDP).
    #[arg(long, value_name = "SOCKET")]
    blob_addr: Option<SocketAddr>,
    /// Where compiled components are kept (default: `<data-dir>/compiled`). Workers on one
    /// machine that share a directory compile each component once, one compile at a time.
    #[arg(long, value_name = "DIR", env = "PEERHOST_COMPILE_CACHE")]
    compile_cache: Option<PathBuf>,
    /// Address range effectful functions may reach although it is not public, e.g.
    /// `192.168.1.0/24` for an API on your LAN (repeatable). By default outbound requests reach
    /// public addresses only: never loopback, private, link-local or cloud metadata addresses.
    #[arg(long = "allow-outbound", value_name = "CIDR")]
    allow_outbound: Vec<ipnet::IpNet>,
    /// Executor processes guests run in, each confined (no network, syscall allow-list, no
    /// writes outside the compile cache, resource limits). Default: one per core. 0 runs
    /// guests inside the worker process, behind wasmtime alone.
    #[arg(long, value_name = "N")]
    executors: Option<usize>,
    /// Worker config file (default: `<data-dir>/worker.toml` if it exists): whose functions
    /// to serve, disk quota, largest bundle, prefetching, sandbox. Flags win over it.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Serve only this owner's functions (repeatable; default: every owner's).
    #[arg(long = "serve-owner", value_name = "ADDRESS")]
    serve_owner: Vec<peerhost_protocol::Owner>,
    /// Disk for bundles and compiled components, in MiB; least recently used bundles are
    /// evicted beyond it (default: no limit).
    #[arg(long, value_name = "MIB")]
    disk_quota_mb: Option<u64>,
    /// Refuse bundles larger than this, in MiB.
    #[arg(long, value_name = "MIB")]
    max_bundle_mb: Option<u64>,
    /// Prefetch an announced bundle only if this worker ranks among the first N live workers
    /// for it (default 3; 0: prefetch every announcement).
    #[arg(long, value_name = "N")]
    prefetch_rank: Option<usize>,
    /// Also validate: re-execute receipts gateways put up for audit and dispute wrong ones
    /// (the wallet needs a validator bond and the coordinator owner's approval).
    #[arg(long, requires = "rpc_url")]
    validate: bool,
    /// Test builds only: misbehave as told, to see what the network does about it.
    #[cfg(feature = "test-utils")]
    #[arg(long, hide = true, value_enum)]
    byzantine: Option<crate::worker::Byzantine>,
}

#[derive(Debug, Clone, Args)]
struct GatewayArgs {
    #[command(flatten)]
    mesh: MeshArgs,
    #[command(flatten)]
    chain: chain::ChainArgs,
    #[command(flatten)]
    bond: BondArgs,
    /// HTTP listen address.
    #[arg(long, default_value = "127.0.0.1:8787")]
    listen: SocketAddr,
    /// libp2p listen address (repeatable).
    #[arg(long = "p2p-listen", value_name = "MULTIADDR")]
    p2p_listen: Vec<Multiaddr>,
    /// Domain of the `<owner>.<domain>` host form.
    #[arg(long, default_value = "localhost")]
    domain: String,
    /// Racers per call of `fast` functions.
    #[arg(long, default_value_t = 2)]
    racers: usize,
    /// Free calls of priced functions per caller (IP address) per day.
    #[arg(long, default_value_t = 0)]
    free_calls: u32,
    /// Unpriced (treasury-funded) calls per caller (IP address) per minute, a sixth of them at
    /// once; 0 = no limit.
    #[arg(long, default_value_t = 600)]
    free_rate: u32,
}

#[derive(Debug, Clone, Args)]
struct DeployArgs {
    /// The project folder (with `functions/` and optionally `peerhost.toml`).
    project: PathBuf,
    #[command(flatten)]
    mesh: MeshArgs,
    #[command(flatten)]
    wallet: WalletArgs,
    /// Gateway base URL to print function URLs with.
    #[arg(long, default_value = "http://127.0.0.1:8787")]
    gateway_url: String,
    /// Wait until this many workers hold the bundle.
    #[arg(long, default_value_t = 1)]
    replicas: usize,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 120)]
    timeout: u64,
}

/// Runs the command line. Returns the process exit code.
pub fn main() -> std::process::ExitCode {
    // An executor process started by a worker: no flags, no logging set-up, and no runtime
    // before it has confined itself (see `executor`).
    let mut args = std::env::args_os().skip(1);
    if args.next().is_some_and(|a| a == "executor") {
        #[cfg(feature = "test-utils")]
        if args.next().is_some_and(|a| a == "--probe") {
            return crate::executor::probe(args.next().map(PathBuf::from));
        }
        return crate::executor::run();
    }
    let cli = Cli::parse();
    init_tracing(&cli.log);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn init_tracing(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,peerhost=info"));
    let _ =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let data_dir = cli.data_dir.unwrap_or_else(keys::default_data_dir);
    match cli.command {
        None => Box::pin(roles::worker(&data_dir, cli.worker)).await,
        Some(Command::Worker(WorkerCommand { bond: Some(command), .. })) => {
            chain::run(&data_dir, BondRole::Worker, command).await
        }
        Some(Command::Worker(WorkerCommand { bond: None, join })) => {
            Box::pin(roles::worker(&data_dir, join)).await
        }
        Some(Command::Gateway(GatewayCommand { bond: Some(command), .. })) => {
            chain::run(&data_dir, BondRole::Gateway, command).await
        }
        Some(Command::Gateway(GatewayCommand { bond: None, serve })) => {
            Box::pin(roles::gateway(&data_dir, serve)).await
        }
        Some(Command::Deploy(args)) => roles::deploy(&data_dir, args).await,
        Some(Command::Secrets(command)) => secrets::run(&data_dir, command),
        Some(Command::Owner(command)) => chain::run_owner(&data_dir, command).await,
        Some(Command::Devnet(args)) => devnet::run(&data_dir, args).await,
        Some(Command::Bench(args)) => Box::pin(bench::run(&data_dir, args)).await,
        Some(Command::Verify(args)) => verify::run(args).await,
        Some(Command::Status { json }) => status::print(&data_dir, json),
        Some(Command::Id) => {
            let node = keys::node_secret(&data_dir)?;
            let peer = crate::mesh::keypair(&node).public().to_peer_id();
            println!("peer {peer}");
            println!("owner {}", keys::wallet(&data_dir)?.owner());
            Ok(())
        }
    }
}

/// Runs `work` unless `stop` resolves first: `Ok(None)` then (the caller shuts down cleanly).
async fn unless_stopped<T>(
    work: impl Future<Output = anyhow::Result<T>>,
    stop: std::pin::Pin<&mut impl Future<Output = ()>>,
) -> anyhow::Result<Option<T>> {
    tokio::select! {
        done = work => done.map(Some),
        () = stop => Ok(None),
    }
}

/// Resolves when the process is asked to stop (Ctrl-C or SIGTERM). The handlers are installed
/// when this is called, not when it is first awaited: a signal that arrives while the node is
/// still starting is kept, instead of killing the process on the spot.
fn stop_signal() -> impl Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
        let mut interrupt = signal(SignalKind::interrupt()).expect("SIGINT handler");
        async move {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = term.recv() => {}
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}
