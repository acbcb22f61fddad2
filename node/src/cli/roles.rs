//! `peerhost-node [worker]`, `gateway` and `deploy`.

use std::{net::SocketAddr, path::Path, time::Duration};

use anyhow::Context;
use libp2p::Multiaddr;

use super::{DeployArgs, GatewayArgs, MeshArgs, WorkerArgs, stop_signal, unless_stopped};
use crate::{
    Node, NodeConfig, deploy, dispatch::BondRole, gateway::GatewayConfig, mesh,
    worker::WorkerConfig,
};

/// The mesh part of a node config from flags: listen next to the bootstrap peer unless told.
fn mesh_config(data_dir: &Path, mesh: &MeshArgs, listen: &[Multiaddr]) -> NodeConfig {
    let mut config = NodeConfig::new(data_dir).bootstrap(mesh.bootstrap.clone());
    config.mesh.listen = if listen.is_empty() {
        let ip = mesh
            .bootstrap
            .first()
            .and_then(mesh::ip_of)
            .unwrap_or(std::net::IpAddr::from([127, 0, 0, 1]));
        mesh::listen_addrs_on(ip)
    } else {
        listen.to_vec()
    };
    config.mesh.nat = mesh::NatConfig {
        relays: mesh.relay.clone(),
        autonat: true,
        auto_relay: !mesh.no_auto_relay,
        ..mesh::NatConfig::default()
    };
    config.blob_relay = mesh.blob_relay.clone();
    config
}

fn print_addrs(node: &Node) {
    println!("peer {}", node.peer_id());
    for addr in node.dial_addrs() {
        println!("listening {addr}");
    }
}

pub(super) async fn worker(data_dir: &Path, args: WorkerArgs) -> anyhow::Result<()> {
    if args.mesh.bootstrap.is_empty() {
        anyhow::bail!("a worker needs a peer to join: peerhost-node --bootstrap <multiaddr>");
    }
    let mut stop = std::pin::pin!(stop_signal());
    #[allow(unused_mut)] // only test builds set a byzantine mode
    let mut worker = WorkerConfig::default();
    #[cfg(feature = "test-utils")]
    {
        worker.byzantine = args.byzantine;
    }
    let file = super::worker_file::WorkerFile::load(data_dir, args.config.as_deref())?;
    worker.policy = file.policy()?;
    if !args.serve_owner.is_empty() {
        worker.policy.owners = args.serve_owner.clone();
    }
    if let Some(mb) = args.disk_quota_mb {
        worker.policy.disk_quota_bytes = Some(mb << 20);
    }
    if let Some(mb) = args.max_bundle_mb {
        worker.policy.max_bundle_bytes = Some(mb << 20);
    }
    if let Some(rank) = args.prefetch_rank {
        worker.policy.prefetch_rank = (rank > 0).then_some(rank);
    }
    if let Some(slots) = args.slots.or(file.sandbox.slots) {
        anyhow::ensure!(slots > 0, "--slots must be positive");
        worker.slots = slots;
    }
    worker.sandbox.cache_dir = args.compile_cache;
    let program = std::env::current_exe().context("locating the peerhost-node binary")?;
    let executors = crate::executor::ExecutorConfig::per_core(program);
    match args.executors.or(file.sandbox.executors) {
        Some(0) => {}
        Some(n) => {
            worker.executors = Some(crate::executor::ExecutorConfig { processes: n, ..executors })
        }
        None => worker.executors = Some(executors),
    }
    let mut allow = file.sandbox.allow_outbound;
    allow.extend(args.allow_outbound);
    if !allow.is_empty() {
        let policy =
            crate::sandbox::OutboundPolicy { allow, ..crate::sandbox::OutboundPolicy::default() };
        worker.sandbox.outbound = std::sync::Arc::new(policy);
    }
    let mut config = mesh_config(data_dir, &args.mesh, &args.listen).with_worker(worker);
    config.chain =
        args.chain.config().map(|c| crate::chain::ChainConfig { validate: args.validate, ..c });
    let ip = config
        .mesh
        .listen
        .first()
        .and_then(mesh::ip_of)
        .unwrap_or(std::net::IpAddr::from([127, 0, 0, 1]));
    config.blobs = Some(args.blob_addr.unwrap_or(SocketAddr::new(ip, 0)));
    let node = Node::start(config).await.context("starting the worker")?;
    print_addrs(&node);
    if let Some(pool) = node.executors() {
        let missing: Vec<&str> = pool.confinement().missing().map(|s| s.name.as_str()).collect();
        let confinement = if missing.is_empty() {
            "fully confined".to_owned()
        } else {
            format!("missing: {}", missing.join(", "))
        };
        println!("executors {} ({confinement})", pool.pids().len());
    }
    let (bond, fund_from) = (args.bond.bond.as_deref(), args.bond.fund_from.as_deref());
    let bonded = async {
        super::chain::prepare_bond(&node, BondRole::Worker, &args.chain, bond, fund_from).await?;
        if args.validate {
            super::chain::prepare_bond(&node, BondRole::Validator, &args.chain, None, None).await?;
        }
        anyhow::Ok(())
    };
    // Ctrl-C while bonding (waiting for the chain) stops the worker cleanly.
    if Box::pin(unless_stopped(bonded, stop.as_mut())).await?.is_some() {
        println!("worker ready (Ctrl-C to stop)");
        stop.await;
    }
    node.shutdown().await;
    Ok(())
}

pub(super) async fn gateway(data_dir: &Path, args: GatewayArgs) -> anyhow::Result<()> {
    let gateway = GatewayConfig {
        listen: args.listen,
        domain: args.domain,
        fast_racers: args.racers.max(1),
        free_calls: args.free_calls,
        free_rate_per_minute: args.free_rate,
        ..GatewayConfig::default()
    };
    let mut config = mesh_config(data_dir, &args.mesh, &args.p2p_listen).with_gateway(gateway);
    config.chain = args.chain.config();
    let mut stop = std::pin::pin!(stop_signal());
    let node = Node::start(config).await.context("starting the gateway")?;
    print_addrs(&node);
    let (bond, fund_from) = (args.bond.bond.as_deref(), args.bond.fund_from.as_deref());
    let bonded = super::chain::prepare_bond(&node, BondRole::Gateway, &args.chain, bond, fund_from);
    if Box::pin(unless_stopped(bonded, stop.as_mut())).await?.is_some() {
        let http = node.http_addr().context("gateway has no HTTP address")?;
        println!("gateway http://{http}");
        stop.await;
    }
    node.shutdown().await;
    Ok(())
}

pub(super) async fn deploy(data_dir: &Path, args: DeployArgs) -> anyhow::Result<()> {
    if args.mesh.bootstrap.is_empty() {
        anyhow::bail!("deploy needs a peer to join: --bootstrap <multiaddr>");
    }
    let wallet = args.wallet.wallet(data_dir)?;
    let project = deploy::load(&args.project)?;
    let options = deploy::PublishOptions {
        replicas: args.replicas,
        timeout: Duration::from_secs(args.timeout),
        payout: None,
        secrets: deploy::secrets::load(data_dir, &project.name)?,
        blob_relay: args.mesh.blob_relay.clone(),
    };
    let deployed = deploy::deploy_project(
        &args.project,
        args.mesh.bootstrap.clone(),
        &wallet,
        &data_dir.join("deployer"),
        &options,
        false,
    )
    .await?;
    let record = &deployed.record;
    println!(
        "deployed {} version {} bundle {} on {} worker(s)",
        record.project,
        record.version,
        record.bundle.to_cid(),
        deployed.replicas.len()
    );
    let base = args.gateway_url.trim_end_matches('/');
    for function in &record.manifest.functions {
        println!("{}\t{base}/{}/{}/{}", function.name, record.owner, record.project, function.name);
    }
    Ok(())
}
