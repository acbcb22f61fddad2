//! x402 end to end on a real anvil: reference clients nobody here wrote (`@x402/fetch` v2,
//! `x402-fetch` v1, the MCP TypeScript SDK) pay priced functions through the devnet gateway;
//! replayed, raced, malformed and crash-interrupted payments never settle twice.

use std::{
    process::Command,
    sync::atomic::{AtomicU64, Ordering},
};

use alloy::{
    primitives::{Address, B256, U256},
    providers::Provider as _,
    rpc::types::Filter,
    signers::{SignerSync as _, local::PrivateKeySigner},
    sol_types::SolEvent as _,
};
use peerhost_contracts::{
    ExecutionCoordinator::PaymentSettled,
    MockUSDC,
    payments::{TransferWithAuthorization, token_domain},
};
use peerhost_node::devnet::{DevnetChainOptions, PAYER_USDC};
use peerhost_tests::{Reply, TestNet, project, repo_root, send};
use serde_json::{Value, json};

/// The price of the test function: 0.01 USDC.
pub(crate) const PRICE: u64 = 10_000;
/// What the owner keeps of it (the devnet's protocol fee is 5 %).
pub(crate) const NET: u64 = 9_500;

async fn shop() -> (TestNet, tempfile::TempDir) {
    let net = TestNet::start(1, |options| {
        options.chain = Some(DevnetChainOptions { validator: false, ..Default::default() });
    })
    .await;
    let settings = "[functions.paid]\nprice = \"0.01\"\ndescription = \"Echoes, for a price.\"\n\
                    [functions.paid.input_schema]\ntype = \"object\"\n";
    let dir = project("shop", &[("free", "echo"), ("paid", "echo")], settings);
    net.deploy(dir.path()).await;
    (net, dir)
}

/// Runs a script of `tests/clients` with node and parses the JSON it prints.
fn node(script: &str, args: &[&str]) -> Value {
    let dir = repo_root().join("tests/clients");
    assert!(
        dir.join("node_modules/@x402/fetch").is_dir(),
        "tests/clients/node_modules is missing: run scripts/setup"
    );
    let out = Command::new("node").arg(script).args(args).current_dir(&dir).output().unwrap();
    assert!(out.status.success(), "{script}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{script} printed no JSON ({e}): {}", String::from_utf8_lossy(&out.stdout))
    })
}

fn decode(header: &str) -> Value {
    use data_encoding::BASE64;
    serde_json::from_slice(&BASE64.decode(header.as_bytes()).unwrap()).unwrap()
}

/// The payer's signer and the chain facts a payment needs.
#[derive(Clone)]
pub(crate) struct Payer {
    pub(crate) signer: PrivateKeySigner,
    usdc: Address,
    coordinator: Address,
}

impl Payer {
    pub(crate) fn of(net: &TestNet) -> Self {
        let chain = net.net.chain.as_ref().unwrap();
        Self {
            signer: PrivateKeySigner::from_bytes(&B256::from(chain.payer)).unwrap(),
            usdc: chain.deployment.usdc,
            coordinator: chain.deployment.coordinator,
        }
    }

    /// A v2 `PAYMENT-SIGNATURE` for `PRICE`, after `edit` changed the authorization (the
    /// signature is made after the edit unless `forge` is set).
    pub(crate) fn header(
        &self,
        edit: impl FnOnce(&mut TransferWithAuthorization, &mut Value),
        forge: bool,
    ) -> String {
        let now =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        let mut auth = TransferWithAuthorization {
            from: self.signer.address(),
            to: self.coordinator,
            value: U256::from(PRICE),
            validAfter: U256::ZERO,
            validBefore: U256::from(now + 60),
            nonce: fresh_nonce(),
        };
        let mut accepted = json!({
            "scheme": "exact", "network": "eip155:80002", "amount": PRICE.to_string(),
            "asset": self.usdc.to_string(), "payTo": self.coordinator.to_string(),
            "maxTimeoutSeconds": 60, "extra": { "name": "USD Coin", "version": "2" },
        });
        let domain = token_domain("USD Coin", "2", 80002, self.usdc);
        let signed = auth.clone();
        edit(&mut auth, &mut accepted);
        let digest = if forge { signed.digest(&domain) } else { auth.digest(&domain) };
        let signature = self.signer.sign_hash_sync(&digest).unwrap();
        let payload = json!({
            "x402Version": 2,
            "accepted": accepted,
            "payload": {
                "signature": format!("0x{}", hex_encode(&signature.as_bytes())),
                "authorization": {
                    "from": auth.from.to_string(), "to": auth.to.to_string(),
                    "value": auth.value.to_string(), "validAfter": auth.validAfter.to_string(),
                    "validBefore": auth.validBefore.to_string(), "nonce": auth.nonce.to_string(),
                },
            },
        });
        data_encoding::BASE64.encode(payload.to_string().as_bytes())
    }
}

/// A nonce never used before (x402 nonces are random; unique is what matters here).
fn fresh_nonce() -> B256 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    alloy::primitives::keccak256([t.to_be_bytes().as_slice(), &n.to_be_bytes()].concat())
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn pay(url: &str, header: &str) -> Reply {
    send("POST", url, &[("payment-signature", header), ("content-type", "application/json")], "{}")
        .await
}

pub(crate) async fn credits(net: &TestNet) -> U256 {
    let chain = net.net.chain.as_ref().unwrap();
    chain.admin.credits(net.net.owner().0).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reference_clients_pay_and_the_owner_withdraws() {
    let (net, _dir) = shop().await;
    let chain = net.net.chain.as_ref().unwrap();
    let url = net.url("shop", "paid");
    let key = format!("0x{}", hex_encode(&chain.payer));
    let usdc = chain.deployment.usdc.to_string();
    let rpc = chain.local.http_url();

    // Unpaid: a 402 with both versions' requirements.
    let unpaid = send("GET", &url, &[], "").await;
    assert_eq!(unpaid.status, 402);
    let v1 = unpaid.json();
    assert_eq!(v1["x402Version"], 1);
    let accepts = &v1["accepts"][0];
    assert_eq!(accepts["network"], "polygon-amoy");
    assert_eq!(accepts["maxAmountRequired"], "10000");
    assert_eq!(accepts["resource"], url);
    assert_eq!(accepts["extra"], json!({ "name": "USD Coin", "version": "2" }));
    assert_eq!(
        accepts["payTo"].as_str().unwrap().parse::<Address>().unwrap(),
        chain.deployment.coordinator
    );
    let v2 = decode(unpaid.header("payment-required").unwrap());
    assert_eq!(v2["accepts"][0]["network"], "eip155:80002");
    assert_eq!(v2["accepts"][0]["amount"], "10000");
    assert_eq!(v2["resource"]["url"], url);

    // The v2 reference client pays.
    let paid = node("pay.mjs", &["v2", &url, &key, &usdc, &rpc]);
    assert_eq!(paid["status"], 200, "{paid}");
    assert_eq!(paid["receipt"]["success"], true);
    assert_eq!(paid["receipt"]["network"], "eip155:80002");
    let tx: B256 = paid["receipt"]["transaction"].as_str().unwrap().parse().unwrap();
    assert_ne!(tx, B256::ZERO);
    let body: Value = serde_json::from_str(paid["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["method"], "POST", "the function ran: {body}");
    assert_eq!(credits(&net).await, U256::from(NET));
    // The token agrees the authorization is spent.
    let payer = Payer::of(&net).signer.address();
    let receipt = chain.admin.provider().get_transaction_receipt(tx).await.unwrap().unwrap();
    let used = receipt
        .inner
        .logs()
        .iter()
        .find_map(|log| log.log_decode::<MockUSDC::AuthorizationUsed>().ok())
        .expect("the settlement used an authorization");
    assert_eq!(used.inner.data.authorizer, payer);
    let state = chain.admin.token().authorizationState(payer, used.inner.data.nonce);
    assert!(state.call().await.unwrap());

    // The legacy v1 client pays the same function.
    let paid = node("pay.mjs", &["v1", &url, &key, &usdc, &rpc]);
    assert_eq!(paid["status"], 200, "{paid}");
    assert_eq!(paid["receipt"]["network"], "polygon-amoy");
    assert_eq!(credits(&net).await, U256::from(2 * NET));

    // MCP: list, call free, call paid (402 first, then paid over `_meta`).
    let mcp = format!("{}/mcp", net.net.gateway_url());
    let out = node("mcp.mjs", &[&mcp, &key, &usdc, "shop_free", "shop_paid"]);
    let names: Vec<&str> =
        out["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"shop_free") && names.contains(&"shop_paid"), "{names:?}");
    let paid_tool =
        out["tools"].as_array().unwrap().iter().find(|t| t["name"] == "shop_paid").unwrap();
    assert!(paid_tool["description"].as_str().unwrap().starts_with("Echoes, for a price."));
    assert_eq!(paid_tool["inputSchema"]["type"], "object");
    assert_ne!(out["free"]["isError"], true, "{}", out["free"]);
    // An answer names its request and carries the worker's receipt, as over HTTP.
    let receipt = out["free"]["_meta"]["peerhost/receipt"].as_str().expect("a receipt");
    let receipt: peerhost_protocol::AnswerReceipt = peerhost_protocol::codec::decode(
        &data_encoding::BASE64.decode(receipt.as_bytes()).unwrap(),
    )
    .unwrap();
    let request_id = receipt.receipt.open().unwrap().request_id.to_hex();
    assert_eq!(out["free"]["_meta"]["peerhost/request-id"], request_id.as_str());
    // A tier is asked for in `_meta`: one the function does not offer is a typed tool error,
    // one that does not exist is refused as a bad parameter.
    assert_eq!(out["verified"]["isError"], true);
    assert_eq!(out["verified"]["structuredContent"]["error"], "tier_not_offered");
    assert!(out["bogusTier"].as_str().unwrap().contains("peerhost/tier"), "{}", out["bogusTier"]);
    assert_eq!(out["unpaid"]["isError"], true);
    assert_eq!(out["unpaid"]["structuredContent"]["x402Version"], 2);
    assert_ne!(out["paid"]["isError"], true, "{}", out["paid"]);
    assert_eq!(out["paid"]["_meta"]["x402/payment-response"]["success"], true);
    assert_eq!(credits(&net).await, U256::from(3 * NET));

    // The owner withdraws the credits.
    let owner = net.net.owner().0;
    let before = chain.admin.token_balance(owner).await.unwrap();
    chain.admin.withdraw_credits(owner).await.unwrap();
    assert_eq!(chain.admin.token_balance(owner).await.unwrap() - before, U256::from(3 * NET));
    assert_eq!(credits(&net).await, U256::ZERO);
    let spent = U256::from(PAYER_USDC - 3 * PRICE);
    assert_eq!(chain.admin.token_balance(Payer::of(&net).signer.address()).await.unwrap(), spent);
    net.net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_replayed_and_raced_payments_never_settle_twice() {
    let (net, _dir) = shop().await;
    let chain = net.net.chain.as_ref().unwrap();
    let url = net.url("shop", "paid");
    let payer = Payer::of(&net);

    // Each malformed payment: a 402 naming its reason, nothing settled.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let cases: Vec<(String, &str)> = vec![
        (
            payer.header(
                |a, acc| {
                    a.value = U256::from(PRICE - 1);
                    acc["amount"] = json!("9999");
                },
                false,
            ),
            "authorization_value",
        ),
        (payer.header(|a, _| a.to = Address::repeat_byte(9), false), "recipient_mismatch"),
        (payer.header(|a, _| a.validBefore = U256::from(now - 1), false), "valid_before"),
        (payer.header(|a, _| a.validAfter = U256::from(now + 600), false), "valid_after"),
        (payer.header(|a, _| a.nonce = fresh_nonce(), true), "payload_signature"),
        (
            payer.header(|_, acc| acc["asset"] = json!(Address::repeat_byte(7).to_string()), false),
            "payload_asset",
        ),
        ("not base64!".to_owned(), "invalid_payload"),
    ];
    for (header, reason) in cases {
        let reply = pay(&url, &header).await;
        assert_eq!(reply.status, 402, "{reason}");
        let body = reply.json();
        assert!(body["error"].as_str().unwrap().ends_with(reason), "{reason}: {body}");
        assert!(!body["message"].as_str().unwrap().is_empty());
        assert!(reply.header("payment-required").is_some());
    }
    assert_eq!(credits(&net).await, U256::ZERO, "no malformed payment settled");

    // A good payment is served once; its replay is refused.
    let header = payer.header(|_, _| {}, false);
    assert_eq!(pay(&url, &header).await.status, 200);
    let replay = pay(&url, &header).await;
    assert_eq!(replay.status, 402);
    assert_eq!(replay.json()["error"], "payment_already_used");
    assert_eq!(credits(&net).await, U256::from(NET));

    // 20 concurrent copies of a fresh payment: one answer, one settlement.
    let header = payer.header(|_, _| {}, false);
    let copies = (0..20).map(|_| {
        let (url, header) = (url.clone(), header.clone());
        tokio::spawn(async move { pay(&url, &header).await })
    });
    let mut served = 0;
    for copy in copies {
        let reply = copy.await.unwrap();
        match reply.status {
            200 => served += 1,
            402 => {
                let reason = reply.json()["error"].as_str().unwrap().to_owned();
                assert!(
                    ["payment_in_progress", "payment_already_used"].contains(&reason.as_str()),
                    "{reason}"
                );
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(served, 1);
    assert_eq!(credits(&net).await, U256::from(2 * NET), "the raced payment settled once");
    let filter = Filter::new()
        .address(chain.deployment.coordinator)
        .event_signature(PaymentSettled::SIGNATURE_HASH)
        .topic1(payer.signer.address().into_word())
        .from_block(0);
    let settlements = chain.admin.provider().get_logs(&filter).await.unwrap();
    assert_eq!(settlements.len(), 2, "one settlement per accepted payment");
    net.net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_crash_after_settling_loses_nothing_and_free_calls_run_out() {
    let mut net = TestNet::start(1, |options| {
        options.chain = Some(DevnetChainOptions { validator: false, ..Default::default() });
        options.gateway.free_calls = 1;
    })
    .await;
    let settings = "[functions.slow]\nprice = \"0.01\"\ntimeout_ms = 2000\n";
    let dir = project("slow", &[("slow", "fixture")], settings);
    net.deploy(dir.path()).await;
    let url = net.url("slow", "slow");

    // The free tier: one call per caller, then 402.
    assert_eq!(send("GET", &format!("{url}?mode=echo"), &[], "").await.status, 200);
    let over = send("GET", &format!("{url}?mode=echo"), &[], "").await;
    assert_eq!((over.status, over.json()["error"].as_str()), (402, Some("payment_required")));
    assert_eq!(credits(&net).await, U256::ZERO, "free calls pay the owner nothing");

    // A paid call is settled, then the gateway dies while the function still runs.
    let payer = Payer::of(&net);
    let header = payer.header(|_, _| {}, false);
    let slow = format!("{url}?mode=sleep&ms=1500");
    let in_flight = tokio::spawn({
        let header = header.clone();
        async move { pay(&slow, &header).await.status }
    });
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while credits(&net).await != U256::from(NET) {
        assert!(tokio::time::Instant::now() < deadline, "the payment never settled");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    net.net = net.net.restart_gateway().await.expect("the gateway starts again");
    let lost = in_flight.await;
    assert!(!matches!(lost, Ok(200)), "the crashed gateway did not answer");

    // Retried with the same payment: served, and settled only once.
    let retry = pay(&format!("{url}?mode=echo"), &header).await;
    assert_eq!(retry.status, 200, "{:?}", String::from_utf8_lossy(&retry.body));
    assert!(retry.header("payment-response").is_some());
    assert_eq!(credits(&net).await, U256::from(NET));
    assert_eq!(pay(&url, &header).await.json()["error"], "payment_already_used");
    net.net.shutdown().await;
}
