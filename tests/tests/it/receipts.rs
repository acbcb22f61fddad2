//! Callers can check their answers: every response carries the winning worker's signed
//! receipt, and once its epoch is anchored the gateway proves it under the root on the chain.
//! The checks `peerhost-node verify` runs accept the real answer and refuse a changed body, a
//! receipt no bonded worker signed, and a proof for a root the chain does not hold.

use std::time::Duration;

use alloy::primitives::B256;
use data_encoding::BASE64;
use peerhost_node::chain::{ProofError, ReceiptProof, VerifyError, verify_answer};
use peerhost_protocol::{AnswerReceipt, Envelope, NodeSecret, ResultError, codec};
use peerhost_tests::{TestNet, fast_chain, get, poll_until, project};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_checks_its_answer_against_the_body_the_bond_and_the_anchor() {
    let net = TestNet::start(2, |options| options.chain = Some(fast_chain(false, 0.0))).await;
    let chain = &net.net.chain.as_ref().expect("settles on a chain").admin;
    let project = project("checked", &[("echo", "echo")], "");
    net.deploy(project.path()).await;

    let reply = get(&format!("{}/x?q=1", net.url("checked", "echo"))).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let header = reply.header("x-peerhost-receipt").expect("the answer carries its receipt");
    let answer: AnswerReceipt = codec::decode(&BASE64.decode(header.as_bytes()).unwrap()).unwrap();
    let receipt = answer.receipt.open().unwrap();
    assert_eq!(Some(receipt.request_id.to_hex().as_str()), reply.header("x-peerhost-request-id"));

    // Signed by a bonded worker, over exactly this body.
    let verified = verify_answer(&answer, &reply.body, Some(chain), None).await.unwrap();
    let (account, bond) = verified.bond.expect("the bond was checked");
    assert!(bond >= 10 * u128::from(peerhost_node::chain::deploy::USDC), "bond {bond}");
    let mut changed = reply.body.to_vec();
    changed.extend_from_slice(b" and more");
    assert!(matches!(
        verify_answer(&answer, &changed, Some(chain), None).await,
        Err(VerifyError::Receipt(ResultError::HashMismatch))
    ));
    // The same receipt signed by a key no bond stands behind.
    let mut forged = answer.clone();
    let mut stranger = receipt.clone();
    stranger.worker = NodeSecret::from_bytes(&[0x5a; 32]).public();
    forged.receipt = Envelope::seal(&NodeSecret::from_bytes(&[0x5a; 32]), &stranger);
    assert!(matches!(
        verify_answer(&forged, &reply.body, Some(chain), None).await,
        Err(VerifyError::KeyMismatch { signer }) if signer == account
    ));

    // Once the epoch is anchored, the gateway proves the receipt under the root on the chain.
    let receipt_url = format!("{}/receipts/{}", net.net.gateway_url(), receipt.request_id.to_hex());
    let served = get(&receipt_url).await.json();
    assert_eq!(served["receipt"], header, "the gateway serves the same receipt");
    let proof = poll_until("the receipt's epoch is anchored", Duration::from_secs(60), || async {
        let served = get(&receipt_url).await.json();
        serde_json::from_value::<ReceiptProof>(served["anchor"].clone()).ok()
    })
    .await;
    let verified = verify_answer(&answer, &reply.body, Some(chain), Some(&proof)).await.unwrap();
    let gateway = net.net.gateway.chain().unwrap().address();
    assert_eq!(verified.anchored, Some((gateway, proof.epoch)));

    // A proof for a root the chain does not hold, or a path that leads elsewhere, fails.
    let mut other_root = proof.clone();
    other_root.root = B256::repeat_byte(7);
    other_root.leaf_proof.clear();
    assert!(matches!(
        verify_answer(&answer, &reply.body, Some(chain), Some(&other_root)).await,
        Err(VerifyError::Proof(ProofError::NotUnderRoot))
    ));
    let mut other_epoch = proof.clone();
    other_epoch.epoch += 1_000;
    assert!(matches!(
        verify_answer(&answer, &reply.body, Some(chain), Some(&other_epoch)).await,
        Err(VerifyError::RootMismatch { on_chain, .. }) if on_chain == B256::ZERO
    ));
    let mut bent = proof.clone();
    bent.receipt_proof.push(B256::repeat_byte(9));
    assert!(matches!(
        verify_answer(&answer, &reply.body, Some(chain), Some(&bent)).await,
        Err(VerifyError::Proof(ProofError::NotInLeaf))
    ));

    // A receipt this gateway never issued is a typed 404.
    let unknown = get(&format!("{}/receipts/{}", net.net.gateway_url(), "ab".repeat(32))).await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.json()["error"], "unknown_receipt");
}
