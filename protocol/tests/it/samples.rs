//! Fixed sample values of every wire type, built from constant keys so their encodings (and
//! signatures: ed25519 and RFC 6979 ECDSA are deterministic) never change.

use peerhost_protocol::*;

pub(crate) fn gateway() -> NodeSecret {
    NodeSecret::from_bytes(&[0x11; 32])
}

pub(crate) fn worker() -> NodeSecret {
    NodeSecret::from_bytes(&[0x22; 32])
}

pub(crate) fn wallet() -> Wallet {
    Wallet::from_bytes(&[0x33; 32]).unwrap()
}

pub(crate) fn manifest() -> BundleManifest {
    BundleManifest {
        project: "hello".into(),
        functions: vec![
            FunctionSpec::new("echo", b"echo component"),
            FunctionSpec {
                name: "sha".into(),
                component: BlobHash::of(b"sha component"),
                component_size: 13,
                limits: Limits { fuel: 1_000_000, timeout_ms: 500, ..Limits::default() },
                tier: Tier::Verified,
                price: 1_000,
                description: "SHA-256 of the request body".into(),
                input_schema: Some(r#"{"type":"object"}"#.into()),
                effectful: false,
                allowed_hosts: Vec::new(),
                secrets: Vec::new(),
                min_bond: 25_000_000,
                tiers: vec![Tier::Fast],
            },
        ],
    }
}

pub(crate) fn record() -> DeploymentRecord {
    let manifest = manifest();
    DeploymentRecord {
        owner: wallet().owner(),
        project: "hello".into(),
        version: 3,
        bundle: manifest.bundle_hash(),
        manifest,
        created_at_ms: 1_763_000_000_000,
        payout: Some(Wallet::from_bytes(&[0x44; 32]).unwrap().owner()),
        secrets: Vec::new(),
    }
}

pub(crate) fn deployment() -> SignedDeployment {
    SignedDeployment::sign(&wallet(), &record())
}

pub(crate) fn canonical_request(body: &[u8]) -> CanonicalRequest {
    let raw = RawRequest {
        owner: wallet().owner(),
        project: "hello",
        function: "echo",
        method: "POST",
        path: "/greet/en",
        query: Some("name=world&lang=en"),
        headers: vec![("Content-Type", b"application/json"), ("X-Trace", b"abc")],
        body,
    };
    CanonicalRequest::build(&raw, gateway().public(), 42, 1_763_000_000_123).unwrap()
}

pub(crate) fn execution_request() -> ExecutionRequest {
    let body = br#"{"hello":"world"}"#;
    ExecutionRequest {
        request: canonical_request(body),
        bundle: record().bundle,
        version: 3,
        deadline_ms: 1_763_000_010_123,
        attempt: 0,
        racers: vec![worker().public()],
        reply_to: vec!["/ip4/127.0.0.1/tcp/4001".into()],
        body: Some(body.to_vec()),
    }
}

pub(crate) fn response() -> HttpResponse {
    HttpResponse {
        status: 200,
        headers: vec![Header { name: "content-type".into(), value: b"application/json".to_vec() }],
        body: br#"{"ok":true}"#.to_vec(),
    }
}

pub(crate) fn receipt() -> Receipt {
    Receipt {
        request_id: execution_request().id(),
        result_hash: response().hash(),
        worker: worker().public(),
        fuel_used: 3_261,
        bundle: record().bundle,
    }
}

pub(crate) fn result() -> ExecutionResult {
    ExecutionResult {
        receipt: Envelope::seal(&worker(), &receipt()),
        response: response(),
        chain_signature: Some(EvmSignature([7; 65])),
    }
}

pub(crate) fn answer_receipt() -> AnswerReceipt {
    AnswerReceipt::of(&execution_request().request, &result())
}

pub(crate) fn delivery() -> Delivery {
    Delivery { request_id: execution_request().id(), result: Some(result()), declined: None }
}

pub(crate) fn decline() -> Delivery {
    Delivery {
        request_id: execution_request().id(),
        result: None,
        declined: Some(DeclineReason::Overloaded),
    }
}

pub(crate) fn heartbeat() -> Heartbeat {
    Heartbeat {
        seq: 7,
        free_slots: 1,
        max_slots: 2,
        engine: "wasmtime-48.0.8/p1".into(),
        blob_addrs: vec!["127.0.0.1:40001".into()],
        bundles: vec![record().bundle],
        mesh_addrs: vec!["/ip4/127.0.0.1/udp/40002/quic-v1".into()],
    }
}

/// The sample heartbeat as its worker publishes it on the workers' topic.
pub(crate) fn published_heartbeat() -> Published {
    Published::seal(&worker(), topics::WORKERS, 1_700_000_000_000_000, codec::encode(&heartbeat()))
}

pub(crate) fn announcement() -> Announcement {
    Announcement { deployment: deployment(), blob_addrs: vec!["127.0.0.1:40000".into()] }
}

pub(crate) fn catalog() -> CatalogResponse {
    CatalogResponse { deployments: vec![deployment()], more: false }
}

pub(crate) fn epoch_summary() -> EpochSummary {
    let address = |b: u8| Owner(alloy_primitives::Address::repeat_byte(b));
    EpochSummary {
        chain_id: 80_002,
        coordinator: address(0xc0),
        gateway: address(0x6a),
        epoch: 42,
        leaves: vec![WorkerLeaf {
            worker: address(0x77),
            owner: address(0x0e),
            requests: 3,
            assists: 2,
            fuel: 12_345,
            receipts_root: keccak256(b"receipts"),
        }],
        audits: vec![Audit {
            receipt: receipt(),
            worker: address(0x77),
            chain_signature: EvmSignature([9; 65]),
        }],
    }
}
