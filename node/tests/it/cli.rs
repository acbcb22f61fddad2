//! `peerhost-node devnet` prints a curl line that works; a volunteer joins with
//! `peerhost-node --bootstrap <addr>` and serves calls; Ctrl-C stops both cleanly.

use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

const BIN: &str = env!("CARGO_BIN_EXE_peerhost-node");

// The same process harness as the end-to-end tests (it finds this very binary).
#[allow(clippy::disallowed_methods, dead_code, unreachable_pub)]
#[path = "../../../tests/src/process.rs"]
mod process;
use process::Process;

/// `GET url` with curl, returning (headers, body).
fn curl(args: &[&str]) -> (String, String) {
    let output =
        Command::new("curl").args(["-s", "-D", "-"]).args(args).output().expect("curl runs");
    let text = String::from_utf8(output.stdout).unwrap();
    let (headers, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (headers.to_lowercase(), body.to_owned())
}

fn header<'a>(headers: &'a str, name: &str) -> Option<&'a str> {
    headers.lines().find_map(|l| l.strip_prefix(&format!("{name}: ")))
}

#[test]
fn devnet_curl_line_works_and_a_volunteer_joins() {
    if Command::new("curl").arg("--version").output().is_err() {
        eprintln!("curl is not installed; skipping the process-level devnet test");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let devnet = Process::spawn(&["devnet", "--http", "127.0.0.1:0"], &dir.path().join("devnet"));
    let bootstrap = devnet.wait_for("bootstrap ", Duration::from_secs(300));
    let bootstrap = bootstrap.strip_prefix("bootstrap ").unwrap().to_owned();
    let gateway = devnet.wait_for("gateway ", Duration::from_secs(60));
    let gateway = gateway.strip_prefix("gateway ").unwrap().to_owned();
    let rpc = devnet.wait_for("rpc ", Duration::from_secs(60));
    let coordinator = devnet.wait_for("coordinator ", Duration::from_secs(60));
    let faucet = devnet.wait_for("faucet 0x", Duration::from_secs(60));
    let chain_flags = [
        "--rpc-url",
        rpc.strip_prefix("rpc ").unwrap(),
        "--coordinator",
        coordinator.strip_prefix("coordinator ").unwrap(),
    ];
    let curl_line = devnet.wait_for("curl ", Duration::from_secs(60));
    let paid = devnet.wait_for("paid ", Duration::from_secs(10));
    let payer = devnet.wait_for("payer 0x", Duration::from_secs(10));
    assert_eq!(payer.len(), "payer 0x".len() + 64, "{payer}");

    // The priced example answers 402 until paid; its owner has nothing credited yet.
    let (headers, body) = curl(&[paid.strip_prefix("paid ").unwrap()]);
    assert!(headers.to_ascii_lowercase().starts_with("http/1.1 402"), "{headers}");
    assert!(header(&headers, "payment-required").is_some(), "{headers}");
    let required: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(required["accepts"][0]["network"], "polygon-amoy");
    let balance = Command::new(BIN)
        .env("PEERHOST_DATA_DIR", dir.path().join("owner"))
        .args(["owner", "balance", "--rpc-url", rpc.strip_prefix("rpc ").unwrap()])
        .args(["--coordinator", coordinator.strip_prefix("coordinator ").unwrap()])
        .args(["--wallet-key", peerhost_node::devnet::DEVNET_OWNER_KEY])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&balance.stdout);
    assert!(
        stdout.contains("credits 0.000000"),
        "{stdout}{}",
        String::from_utf8_lossy(&balance.stderr)
    );

    // The printed line, run exactly as printed.
    let output = Command::new("sh").arg("-c").arg(&curl_line).output().unwrap();
    assert!(output.status.success(), "{curl_line}");
    let echo: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["path"], "/greet");
    assert_eq!(echo["query"]["name"], "peerhost");
    assert_eq!(echo["body"]["hello"], "world");

    // The answer's receipt checks out against its body, the worker's bond on the chain and
    // (once anchored, else said so) the gateway's proof.
    let echo_url = curl_line.split('\'').nth(1).expect("the curl line quotes its URL");
    let (body_file, headers_file) = (dir.path().join("answer"), dir.path().join("headers"));
    let fetched = Command::new("curl")
        .args(["-s", "-o"])
        .arg(&body_file)
        .arg("-D")
        .arg(&headers_file)
        .arg(echo_url)
        .status()
        .unwrap();
    assert!(fetched.success());
    let headers = std::fs::read_to_string(&headers_file).unwrap();
    let receipt = headers
        .lines()
        .find_map(|l| {
            l.split_once(": ").filter(|(n, _)| n.eq_ignore_ascii_case("x-peerhost-receipt"))
        })
        .map(|(_, v)| v.trim().to_owned())
        .unwrap_or_else(|| panic!("no receipt header in {headers}"));
    let verify = Command::new(BIN)
        .args(["verify", &receipt, "--body"])
        .arg(&body_file)
        .args(["--gateway", gateway.as_str()])
        .args(chain_flags)
        .arg("--data-dir")
        .arg(dir.path().join("verifier"))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&verify.stdout);
    assert!(verify.status.success(), "{said}{}", String::from_utf8_lossy(&verify.stderr));
    assert!(said.contains("ok  signed on-chain by"), "{said}");

    // A JavaScript function deploys with one command and answers through the devnet.
    let gateway_url = gateway.as_str();
    let deploy = Process::spawn(
        // The devnet's workers compile the 13 MB JavaScript engine once between them; on a
        // loaded 2-core CI machine that can take minutes, so wait longer than deploy's default.
        &[
            "deploy",
            "examples/greet",
            "--bootstrap",
            &bootstrap,
            "--gateway-url",
            gateway_url,
            "--timeout",
            "600",
        ],
        &dir.path().join("js-owner"),
    );
    let line = deploy.wait_for("hello\t", Duration::from_secs(600));
    let url = line.split('\t').nth(1).unwrap();
    let (headers, body) = curl(&[&format!("{url}?name=Ada")]);
    assert!(headers.starts_with("http/1.1 200"), "{headers}{body}");
    let greeting: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(greeting["greeting"], "Hello, Ada!");

    // A volunteer without a bond is told it will not be raced, and how to bond.
    let unbonded = Process::spawn(
        &[&["--bootstrap", bootstrap.as_str()][..], &chain_flags[..]].concat(),
        &dir.path().join("unbonded"),
    );
    let notice = unbonded.wait_for("NOT BONDED", Duration::from_secs(60));
    assert!(notice.contains("peerhost-node worker bond 10.000000 --rpc-url"), "{notice}");
    assert!(unbonded.interrupt().success());

    // A volunteer joins from "a second terminal", bonding from the devnet's faucet, and starts
    // winning calls. On the devnet's machine it shares the devnet's compiled components
    // instead of compiling the 13 MB JavaScript engine again.
    let compiled = dir.path().join("devnet/devnet/compiled");
    let volunteer = Process::spawn(
        &[
            &["--bootstrap", bootstrap.as_str(), "--compile-cache", compiled.to_str().unwrap()][..],
            // Prefetch every project, not only those it is among the first three workers for.
            &["--prefetch-rank", "0"][..],
            &chain_flags[..],
            &["--bond", "10", "--fund-from", faucet.strip_prefix("faucet ").unwrap()][..],
        ]
        .concat(),
        &dir.path().join("volunteer"),
    );
    let peer = volunteer.wait_for("peer ", Duration::from_secs(60));
    let peer = peer.strip_prefix("peer ").unwrap().to_owned();
    volunteer.wait_for("bonded 10 USDC as worker", Duration::from_secs(60));
    volunteer.wait_for("worker ready", Duration::from_secs(60));
    let url = curl_line.split('\'').nth(1).unwrap().to_owned();
    let started = Instant::now();
    let mut served = false;
    // The volunteer precompiles both projects (one compile at a time) before it can win.
    while !served && started.elapsed() < Duration::from_secs(300) {
        let (headers, _) = curl(&[&url]);
        served = header(&headers, "x-peerhost-worker") == Some(peer.to_lowercase().as_str());
        if !served {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    assert!(served, "the volunteer {peer} never answered a call");
    let (_, health) = curl(&[&format!("{gateway}/healthz")]);
    let health: serde_json::Value = serde_json::from_str(&health).unwrap();
    // The devnet's three and the bonded volunteer (the unbonded one may still be remembered).
    assert_eq!(health["trust"]["bonded_workers"], 4, "{health}");
    assert!(health["workers"].as_u64().unwrap() >= 4, "{health}");

    // Ctrl-C: both exit cleanly.
    assert!(volunteer.interrupt().success());
    assert!(devnet.interrupt().success());
}

#[test]
fn bad_invocations_explain_themselves() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(BIN).arg("--data-dir").arg(dir.path()).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--bootstrap"), "{stderr}");

    let output = Command::new(BIN)
        .args(["deploy", "/nonexistent/project", "--bootstrap"])
        .arg("/ip4/127.0.0.1/tcp/1/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN")
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("has no functions"), "{stderr}");

    let output = Command::new(BIN).arg("id").arg("--data-dir").arg(dir.path()).output().unwrap();
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.starts_with("peer 12D3Koo") && stdout.contains("\nowner 0x"), "{stdout}");
}

#[test]
fn secrets_are_sealed_listed_and_removed_without_showing_values() {
    let dir = tempfile::tempdir().unwrap();
    let worker = "12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN";
    let secrets = |args: &[&str], stdin: &str| {
        let mut child = Command::new(BIN)
            .arg("secrets")
            .args(args)
            .arg("--data-dir")
            .arg(dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), stdin.as_bytes()).unwrap();
        let output = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr);
        (output.status.success(), text)
    };
    let (ok, text) = secrets(&["set", "shop", "API_KEY", "--worker", worker], "hunter2-canary\n");
    assert!(ok, "{text}");
    let (ok, text) = secrets(&["list", "shop"], "");
    assert!(ok && text.contains("API_KEY") && text.contains(worker), "{text}");
    assert!(!text.contains("hunter2-canary"), "list never shows values");
    let stored = std::fs::read(dir.path().join("secrets/shop.cbor")).unwrap();
    assert!(!stored.windows(14).any(|w| w == b"hunter2-canary"), "only sealed values on disk");

    let (ok, text) = secrets(&["set", "shop", "api-key", "--worker", worker], "x");
    assert!(!ok && text.contains("A-Z"), "{text}");
    let (ok, text) = secrets(&["set", "shop", "K", "--worker", "not-a-peer"], "x");
    assert!(!ok && text.contains("neither a peer id"), "{text}");
    let (ok, text) = secrets(&["set", "shop", "K", "--worker", worker], "");
    assert!(!ok && text.contains("empty"), "{text}");
    let (ok, _) = secrets(&["remove", "shop", "API_KEY"], "");
    assert!(ok);
    let (_, text) = secrets(&["list", "shop"], "");
    assert!(!text.contains("API_KEY"), "{text}");
}

/// `peerhost-node verify` accepts a receipt with the body it signs and refuses another body
/// or bytes that are no receipt, each with a message that says which.
#[test]
fn verify_checks_a_receipt_against_the_body() {
    use peerhost_protocol::{
        AnswerReceipt, BlobHash, CanonicalRequest, Envelope, Header, HttpResponse, NodeSecret,
        Owner, RawRequest, Receipt, codec,
    };
    let dir = tempfile::tempdir().unwrap();
    let worker = NodeSecret::from_bytes(&[0x21; 32]);
    let raw = RawRequest {
        owner: Owner(alloy_primitives::Address::repeat_byte(0x0e)),
        project: "hello",
        function: "echo",
        method: "GET",
        path: "/x",
        query: Some("q=1"),
        headers: vec![],
        body: b"",
    };
    let request =
        CanonicalRequest::build(&raw, NodeSecret::from_bytes(&[0x31; 32]).public(), 7, 1_000)
            .unwrap();
    let headers = vec![Header { name: "content-type".into(), value: b"text/plain".to_vec() }];
    let response = HttpResponse { status: 200, headers: headers.clone(), body: b"hello".to_vec() };
    let receipt = Receipt {
        request_id: request.id(),
        result_hash: response.hash(),
        worker: worker.public(),
        fuel_used: 42,
        bundle: BlobHash::of(b"bundle"),
    };
    let answer = AnswerReceipt {
        receipt: Envelope::seal(&worker, &receipt),
        request: request.clone(),
        status: 200,
        headers,
        chain_signature: None,
    };
    let encoded = data_encoding::BASE64.encode(&codec::encode(&answer));
    let body = dir.path().join("body");
    let verify = |receipt: &str, contents: &[u8]| {
        std::fs::write(&body, contents).unwrap();
        Command::new(BIN)
            .args(["verify", receipt, "--body"])
            .arg(&body)
            .arg("--data-dir")
            .arg(dir.path())
            .output()
            .expect("peerhost-node runs")
    };
    let good = verify(&encoded, b"hello");
    assert!(good.status.success(), "{}", String::from_utf8_lossy(&good.stderr));
    let out = String::from_utf8_lossy(&good.stdout);
    assert!(out.contains(&format!("ok  request {}", request.id().to_hex())), "{out}");
    assert!(out.contains("GET /x?q=1"), "{out}");
    assert!(out.contains("bond not checked"), "{out}");

    let bad = verify(&encoded, b"hello!");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("response does not match the receipt"));
    let garbage = verify("bm90IGEgcmVjZWlwdA==", b"hello");
    assert!(!garbage.status.success());
    assert!(String::from_utf8_lossy(&garbage.stderr).contains("does not decode"));
}

/// `bench --paid` runs every scenario it names on a real devnet and chain: free and paid
/// calls of the priced example, and the chain's own round trip, with no failed call.
#[test]
fn bench_pays_per_call_next_to_free_calls() {
    let dir = tempfile::tempdir().unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let output = Command::new(BIN)
        .current_dir(root)
        .args(["bench", "--data-dir"])
        .arg(dir.path())
        .args(["-n", "20", "-c", "2", "--paid", "--json", "--log", "error"])
        .stderr(Stdio::inherit())
        .output()
        .expect("peerhost-node runs");
    assert!(output.status.success(), "bench failed");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let scenario = |name: &str| {
        report["scenarios"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["scenario"].as_str().is_some_and(|s| s.contains(name)))
            .unwrap_or_else(|| panic!("no {name} scenario in {report}"))
            .clone()
    };
    for name in ["(fast)", "(digest, free)", "(digest, paid x402)", "chain: token transfers"] {
        let s = scenario(name);
        assert_eq!((s["requests"].as_u64(), s["failures"].as_u64()), (Some(20), Some(0)), "{s}");
    }
    assert!(report["paid"].as_str().is_some_and(|l| l.starts_with("paid − free")), "{report}");
}
