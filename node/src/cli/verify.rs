//! `peerhost-node verify <receipt> --body <file>`: checks an answer as its caller got it —
//! the worker's signature over the body, the signer's bond on the chain, and the receipt's
//! inclusion under the gateway's anchored root.

use std::{io::Read as _, path::PathBuf};

use anyhow::{Context, bail};
use bytes::Bytes;
use clap::Args;
use data_encoding::BASE64;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use peerhost_protocol::{AnswerReceipt, codec};

use super::chain::ChainArgs;
use crate::chain::{Chain, ReceiptProof, verify_answer};

#[derive(Debug, Args)]
pub(super) struct VerifyArgs {
    /// The answer's `x-peerhost-receipt` header (base64), a file holding it, or `-` for stdin.
    receipt: String,
    /// The response body as received (a file, or `-` for stdin).
    #[arg(long, value_name = "FILE")]
    body: PathBuf,
    /// The gateway that answered, e.g. `http://127.0.0.1:8787`: its `/receipts/<id>` holds
    /// the inclusion proof once the receipt's epoch is anchored (needs the chain flags).
    #[arg(long, value_name = "URL", requires = "rpc_url")]
    gateway: Option<String>,
    /// The chain to check the worker's bond (and the anchor) on.
    #[command(flatten)]
    chain: ChainArgs,
}

pub(super) async fn run(args: VerifyArgs) -> anyhow::Result<()> {
    let text = if args.receipt == "-" {
        read_stdin()?
    } else if std::path::Path::new(&args.receipt).is_file() {
        String::from_utf8(std::fs::read(&args.receipt)?).context("the receipt file is not text")?
    } else {
        args.receipt.clone()
    };
    let bytes = BASE64.decode(text.trim().as_bytes()).context("the receipt is not base64")?;
    let answer: AnswerReceipt = codec::decode(&bytes).context("the receipt does not decode")?;
    let body = if args.body.as_os_str() == "-" {
        let mut body = Vec::new();
        std::io::stdin().read_to_end(&mut body)?;
        body
    } else {
        std::fs::read(&args.body).with_context(|| format!("reading {}", args.body.display()))?
    };
    let chain = match args.chain.config() {
        // Reading only: a throwaway key signs nothing.
        Some(config) => Some(
            Chain::connect(&config.rpc_url, config.coordinator, &crate::keys::throwaway_wallet())
                .await
                .context("connecting to the chain")?,
        ),
        None => None,
    };
    let id = answer.receipt.open().map(|r| r.request_id).ok();
    let proof = match (&args.gateway, id) {
        (Some(gateway), Some(id)) => fetch_proof(gateway, &id.to_hex()).await?,
        _ => None,
    };
    let verified = verify_answer(&answer, &body, chain.as_ref(), proof.as_ref()).await?;
    let worker = crate::mesh::peer_id(&verified.receipt.worker)
        .map_or_else(|| verified.receipt.worker.short(), |p| p.to_string());
    let request = &answer.request;
    let query = if request.query.is_empty() {
        String::new()
    } else {
        format!("?{}", request.query.join("&"))
    };
    println!(
        "ok  request {}: {} {}{query} to {}/{} of {} (body keccak256 0x{}, {} bytes)",
        verified.receipt.request_id.to_hex(),
        request.method,
        request.path,
        request.project,
        request.function,
        request.owner,
        request.body_hash.to_hex(),
        request.body_len,
    );
    println!("ok  signed by worker {worker}; the body, status and headers match its result hash");
    match verified.bond {
        Some((account, bonded)) => println!(
            "ok  signed on-chain by {account}, bonded as a worker with {} USDC",
            crate::usdc::format(bonded)
        ),
        None => println!("--  bond not checked (give --rpc-url and --coordinator)"),
    }
    match (verified.anchored, &args.gateway) {
        (Some((gateway, epoch)), _) => {
            println!(
                "ok  anchored by gateway {gateway} in epoch {epoch}: the root on chain matches"
            )
        }
        (None, Some(_)) => {
            println!("--  not anchored yet: the gateway anchors when the epoch ends")
        }
        (None, None) => println!("--  anchor not checked (give --gateway)"),
    }
    Ok(())
}

fn read_stdin() -> anyhow::Result<String> {
    let mut text = String::new();
    std::io::stdin().read_to_string(&mut text)?;
    Ok(text)
}

/// The gateway's proof of the receipt, `None` while it is not anchored.
async fn fetch_proof(gateway: &str, id: &str) -> anyhow::Result<Option<ReceiptProof>> {
    // The gateway is not trusted: its answer is bounded in time and size.
    const LIMIT: usize = 1 << 20;
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let uri: hyper::Uri = format!("{}/receipts/{id}", gateway.trim_end_matches('/'))
        .parse()
        .context("bad --gateway")?;
    let within = std::time::Duration::from_secs(30);
    let response = tokio::time::timeout(within, client.get(uri))
        .await
        .context("the gateway did not answer within 30 s")?
        .context("asking the gateway for the proof")?;
    let status = response.status();
    let body = tokio::time::timeout(within, Limited::new(response.into_body(), LIMIT).collect())
        .await
        .context("the gateway's answer did not arrive within 30 s")?
        .map_err(|e| anyhow::anyhow!("the gateway's answer: {e}"))?
        .to_bytes();
    if !status.is_success() {
        bail!("the gateway answered {status}: {}", String::from_utf8_lossy(&body));
    }
    let json: serde_json::Value = serde_json::from_slice(&body).context("the gateway's answer")?;
    match json.get("anchor") {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(anchor) => {
            Ok(Some(serde_json::from_value(anchor.clone()).context("the gateway's proof")?))
        }
    }
}
