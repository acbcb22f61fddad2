//! The node's chain client against the real contracts on a real anvil: the trees, leaves and
//! EIP-712 digests the Rust side builds are the ones the coordinator accepts.

use std::time::Duration;

use alloy::{
    primitives::{Address, B256, U256},
    providers::{Provider as _, ext::AnvilApi as _},
};
use peerhost_contracts::{
    ExecutionCoordinator::{OwnerUsage, WorkerLeaf},
    receipts::{self, Receipt},
};
use peerhost_node::{
    chain::{
        Chain, LocalChain,
        deploy::{DeployOptions, USDC, deploy},
        events::Followed,
    },
    dispatch::BondRole,
};
use peerhost_protocol::{Keccak, Wallet, merkle::MerkleTree};

const EPOCH_S: u64 = 30;

struct Net {
    chain: LocalChain,
    admin: Chain,
    gateway: Chain,
    workers: Vec<Chain>,
}

fn wallet(key: [u8; 32]) -> Wallet {
    Wallet::from_bytes(&key).unwrap()
}

/// anvil, the contracts, a bonded gateway and two bonded workers (anvil's keys 0–3).
async fn net() -> Net {
    peerhost_tests::init_tracing();
    let chain = LocalChain::start(None).unwrap();
    let keys = chain.keys();
    let deployment =
        deploy(&chain.http_url(), &keys[0], &DeployOptions::devnet(EPOCH_S)).await.unwrap();
    let connect = |key: [u8; 32]| {
        let url = chain.ws_url();
        async move { Chain::connect(&url, deployment.coordinator, &wallet(key)).await.unwrap() }
    };
    let admin = connect(keys[0]).await;
    let gateway = connect(keys[1]).await;
    let workers = vec![connect(keys[2]).await, connect(keys[3]).await];
    // Anyone registers a gateway by bonding: no admin step.
    admin.mint(gateway.address(), U256::from(100 * USDC)).await.unwrap();
    gateway.bond(BondRole::Gateway, U256::from(50 * USDC), B256::repeat_byte(0xaa)).await.unwrap();
    for (i, worker) in workers.iter().enumerate() {
        admin.mint(worker.address(), U256::from(100 * USDC)).await.unwrap();
        let key = B256::repeat_byte(i as u8 + 1);
        worker.bond(BondRole::Worker, U256::from(50 * USDC), key).await.unwrap();
    }
    Net { chain, admin, gateway, workers }
}

/// Moves the chain's clock past the current epoch.
async fn next_epoch(chain: &Chain) {
    chain.provider().anvil_increase_time(EPOCH_S).await.unwrap();
    chain.provider().anvil_mine(Some(1), None).await.unwrap();
}

/// The function owner every test receipt is for.
const OWNER: Address = Address::repeat_byte(0x0e);

/// `requests` requests of [`OWNER`], as an anchor declares them.
fn usage(requests: u32) -> Vec<OwnerUsage> {
    vec![OwnerUsage { owner: OWNER, requests }]
}

fn receipt(i: u8) -> Receipt {
    Receipt {
        requestId: B256::repeat_byte(i),
        resultHash: B256::repeat_byte(i ^ 0xff),
        fuelUsed: 1_000 + u64::from(i),
        bundle: B256::repeat_byte(7),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anchored_epoch_pays_each_worker_for_what_it_served() {
    let net = net().await;
    let served: [&[u8]; 2] = [&[1, 2, 3], &[4, 5]];

    // The gateway's epoch: a receipts tree per worker, a leaf per worker.
    let mut worker_leaves = Vec::new();
    let mut roots = Vec::new();
    for (worker, requests) in net.workers.iter().zip(served) {
        let leaves: Vec<Keccak> =
            requests.iter().map(|&i| receipt(i).leaf(worker.address())).collect();
        let root = MerkleTree::new(leaves).unwrap().root();
        let fuel = requests.iter().map(|&i| receipt(i).fuelUsed).sum();
        worker_leaves.push(receipts::worker_leaf(
            worker.address(),
            OWNER,
            requests.len() as u32,
            0,
            fuel,
            B256::from(root.0),
        ));
        roots.push((root, fuel));
    }
    let tree = MerkleTree::new(worker_leaves.clone()).unwrap();

    // The contract computes the same leaves.
    let coordinator = net.gateway.coordinator();
    let w0 = net.workers[0].address();
    let on_chain = coordinator
        .workerLeaf(w0, OWNER, 3, 0, roots[0].1, B256::from(roots[0].0.0))
        .call()
        .await
        .unwrap();
    assert_eq!(on_chain.0, worker_leaves[0].0);

    // An epoch still running cannot be anchored.
    let epoch = net.gateway.current_epoch().await.unwrap();
    let early = net.gateway.anchor(epoch, tree.root(), usage(5)).await.unwrap_err();
    assert!(early.is_revert("EpochNotOver"), "{early}");

    next_epoch(&net.gateway).await;
    net.gateway.anchor(epoch, tree.root(), usage(5)).await.unwrap();
    let again = net.gateway.anchor(epoch, tree.root(), usage(5)).await.unwrap_err();
    assert!(again.is_revert("EpochAlreadyAnchored"), "{again}");
    // Only registered gateways anchor.
    let stranger = net.workers[0].anchor(epoch, tree.root(), usage(5)).await.unwrap_err();
    assert!(stranger.is_revert("NotGateway"), "{stranger}");

    let rate = U256::from(USDC / 1000);
    let leaf = |i: usize, requests: u32| {
        let (root, fuel) = roots[i];
        let worker = net.workers[i].address();
        let receipts_root = B256::from(root.0);
        WorkerLeaf { worker, owner: OWNER, requests, assists: 0, fuel, receiptsRoot: receipts_root }
    };
    for (i, worker) in net.workers.iter().enumerate() {
        let before = worker.token_balance(worker.address()).await.unwrap();
        let proof = tree.proof(i).unwrap();
        let n = served[i].len() as u32;
        worker.claim(net.gateway.address(), epoch, leaf(i, n), &proof).await.unwrap();
        let after = worker.token_balance(worker.address()).await.unwrap();
        assert_eq!(after - before, rate * U256::from(n), "worker {i} paid per request");
        let twice = worker.claim(net.gateway.address(), epoch, leaf(i, n), &proof).await;
        let twice = twice.unwrap_err();
        assert!(twice.is_revert("AlreadyClaimed"), "{twice}");
    }
    // What stays reserved is the assist room nobody used (two assists per funded request at
    // the devnet's 0.00025 USDC): it goes back to the treasury when the claim window ends.
    let unused_assists = U256::from(5 * 2 * (USDC / 4000));
    assert_eq!(net.gateway.reserved(net.gateway.address(), epoch).await.unwrap(), unused_assists);

    // A proof for more requests than were anchored fails.
    let inflated = net.workers[1]
        .claim(net.gateway.address(), epoch, leaf(1, 9), &tree.proof(1).unwrap())
        .await
        .unwrap_err();
    assert!(
        inflated.is_revert("AlreadyClaimed") || inflated.is_revert("InvalidProof"),
        "{inflated}"
    );
    drop(net.chain);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_receipts_are_what_the_contract_verifies() {
    let net = net().await;
    let cheater = &net.workers[0];
    let honest = &net.workers[1];
    let coordinator = net.admin.coordinator();

    // The Rust digest is the contract's.
    let r = receipt(9);
    let on_chain = coordinator.receiptDigest(r.clone()).call().await.unwrap();
    assert_eq!(on_chain, r.digest(&cheater.domain()));

    // Two receipts from one worker for one request with different results: slashed.
    let mut other = r.clone();
    other.resultHash = B256::repeat_byte(0x42);
    let (sig_a, sig_b) = (cheater.sign_receipt(&r), cheater.sign_receipt(&other));
    let stake_before = net.admin.stake_in(BondRole::Worker, cheater.address()).await.unwrap();
    net.admin.slash_equivocation((&r, &sig_a), (&other, &sig_b)).await.unwrap();
    let stake_after = net.admin.stake_in(BondRole::Worker, cheater.address()).await.unwrap();
    assert_eq!(stake_after.bonded, stake_before.bonded / 2, "half the bond slashed");

    // An honest worker's consistent receipt against a validator that agrees: no slash.
    // The gateway's wallet becomes a validator: a bond (validators need no node key) and the
    // admin's approval; a bond alone does not make its attestations count.
    net.gateway.bond(BondRole::Validator, U256::from(20 * USDC), B256::ZERO).await.unwrap();
    assert!(!net.admin.coordinator().isValidator(net.gateway.address()).call().await.unwrap());
    net.admin.approve_validator(net.gateway.address(), true).await.unwrap();
    let honest_receipt = receipt(10);
    let honest_sig = honest.sign_receipt(&honest_receipt);
    let attestation = net.gateway.attest(honest_receipt.requestId, honest_receipt.resultHash);
    let refused = net
        .admin
        .slash_wrong_result(
            (&honest_receipt, &honest_sig),
            honest_receipt.resultHash,
            vec![attestation],
        )
        .await
        .unwrap_err();
    assert!(refused.is_revert("NotConflicting"), "{refused}");
    // A validator that saw another result: the wrong receipt is slashed.
    let truth = B256::repeat_byte(0x77);
    let attestation = net.gateway.attest(honest_receipt.requestId, truth);
    net.admin
        .slash_wrong_result((&honest_receipt, &honest_sig), truth, vec![attestation])
        .await
        .unwrap();
    assert_eq!(
        net.admin.stake_in(BondRole::Worker, honest.address()).await.unwrap().bonded,
        U256::from(25 * USDC).to::<u128>(),
        "slashed by the validator's re-execution"
    );
    let chain_id = net.admin.provider().get_chain_id().await.unwrap();
    assert_eq!(chain_id, peerhost_node::chain::LOCAL_CHAIN_ID);
    let _: Address = net.admin.address();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_back_filled_then_followed_live_once_each() {
    use alloy::{rpc::types::Filter, sol_types::SolEvent as _};
    use peerhost_contracts::ExecutionCoordinator::RequestsAnchored;

    let net = net().await;
    let root = |i: u8| Keccak([i; 32]);
    // One epoch anchored before anyone follows…
    let first = net.gateway.current_epoch().await.unwrap();
    next_epoch(&net.gateway).await;
    net.gateway.anchor(first, root(1), usage(3)).await.unwrap();

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let stop = tokio_util::sync::CancellationToken::new();
    let follower = net.gateway.clone();
    let filter = Filter::new()
        .address(*follower.coordinator().address())
        .event_signature(RequestsAnchored::SIGNATURE_HASH);
    let task = tokio::spawn({
        let stop = stop.clone();
        async move {
            peerhost_node::chain::events::follow(&follower, filter, 0, stop, |followed| {
                let Followed::Log(log) = followed else { return };
                let event = log.log_decode::<RequestsAnchored>().unwrap().inner.data;
                let _ = tx.send((event.epoch, event.count));
            })
            .await;
        }
    });
    let within = Duration::from_secs(20);
    assert_eq!(
        tokio::time::timeout(within, rx.recv()).await.unwrap(),
        Some((first, 3)),
        "back-filled"
    );

    // …and one after: it arrives live.
    let second = net.gateway.current_epoch().await.unwrap();
    next_epoch(&net.gateway).await;
    net.gateway.anchor(second, root(2), usage(5)).await.unwrap();
    assert_eq!(tokio::time::timeout(within, rx.recv()).await.unwrap(), Some((second, 5)), "live");
    // Each event once: the next thing delivered is the next anchor, not a repeat.
    let third = net.gateway.current_epoch().await.unwrap();
    next_epoch(&net.gateway).await;
    net.gateway.anchor(third, root(3), usage(7)).await.unwrap();
    assert_eq!(
        tokio::time::timeout(within, rx.recv()).await.unwrap(),
        Some((third, 7)),
        "each event once"
    );
    stop.cancel();
    task.await.unwrap();
}

/// Volunteers funded from one faucet at the same moment (separate clients, as separate
/// processes are) read the same nonce; each still ends up with its gas money and bond tokens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn volunteers_funded_at_once_from_one_faucet_each_get_their_money() {
    let net = net().await;
    let faucet = wallet(net.chain.keys()[4]);
    let faucet_address = Address::from(*faucet.owner().as_bytes());
    net.admin.mint(faucet_address, U256::from(1_000 * USDC)).await.unwrap();
    let (gas, tokens) = (U256::from(10u64).pow(U256::from(17u64)), U256::from(10 * USDC));
    let coordinator = *net.admin.coordinator().address();
    let recipients: Vec<Address> = (0..8).map(|i| Address::repeat_byte(0x40 + i)).collect();
    let funders = recipients.iter().map(|&to| {
        let url = net.chain.ws_url();
        let faucet = faucet.clone();
        async move {
            let funder = Chain::connect(&url, coordinator, &faucet).await.unwrap();
            funder.fund(to, gas, tokens).await
        }
    });
    for (to, funded) in recipients.iter().zip(futures::future::join_all(funders).await) {
        funded.unwrap_or_else(|e| panic!("funding {to}: {e}"));
        assert!(net.admin.provider().get_balance(*to).await.unwrap() >= gas, "{to}'s gas");
        assert!(net.admin.token_balance(*to).await.unwrap() >= tokens, "{to}'s tokens");
    }
}

/// A funding transfer another faucet user replaces in the pool (same nonce, higher fee) is
/// never mined; the funder notices, sends again and the volunteer is funded all the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_funding_transfer_replaced_by_another_sender_is_sent_again() {
    use alloy::{network::TransactionBuilder as _, rpc::types::TransactionRequest};

    let net = net().await;
    let faucet = wallet(net.chain.keys()[4]);
    let faucet_address = Address::from(*faucet.owner().as_bytes());
    let coordinator = *net.admin.coordinator().address();
    let url = net.chain.ws_url();
    let (funder, rival) = (
        Chain::connect(&url, coordinator, &faucet).await.unwrap(),
        Chain::connect(&url, coordinator, &faucet).await.unwrap(),
    );
    let provider = net.admin.provider();
    let nonce = provider.get_transaction_count(faucet_address).await.unwrap();
    // Hold blocks back so the funder's transfer waits in the pool…
    provider.anvil_set_interval_mining(0).await.unwrap();
    let (to, gas) = (Address::repeat_byte(0x51), U256::from(10u64).pow(U256::from(17u64)));
    let funding = tokio::spawn(async move { funder.fund(to, gas, U256::ZERO).await });
    peerhost_tests::poll_until("the transfer is pending", Duration::from_secs(20), || async {
        let pending = provider.get_transaction_count(faucet_address).pending().await.unwrap();
        (pending > nonce).then_some(())
    })
    .await;
    // …where a rival sender from the same faucet replaces it with a dearer one.
    let gwei = 1_000_000_000u128;
    let rivalry = TransactionRequest::default()
        .with_to(Address::repeat_byte(0x52))
        .with_value(U256::from(1u64))
        .with_nonce(nonce)
        .with_gas_limit(21_000)
        .with_max_fee_per_gas(100 * gwei)
        .with_max_priority_fee_per_gas(50 * gwei);
    let replaced = rival.provider().send_transaction(rivalry).await.unwrap();
    provider.anvil_set_interval_mining(1).await.unwrap();
    replaced.get_receipt().await.unwrap();

    funding.await.unwrap().expect("funded after the replaced transfer was sent again");
    assert!(provider.get_balance(to).await.unwrap() >= gas);
}
