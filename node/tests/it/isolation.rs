//! Isolation between requests: one owner's request fills its memory with a random canary; the
//! next request on the same pool slot (another owner's component) scans all of its own linear
//! memory for that canary and checks that freshly grown pages are zero.

use peerhost_protocol::Limits;
use rand::RngExt as _;

use crate::guests::{call, fixture, prepare, renamed, sandbox};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_pairs_never_see_each_others_bytes() {
    let pairs = 1_000;
    // One pool slot: every request reuses the memory the previous one dirtied.
    let sandbox = sandbox(1);
    let fixture = fixture();
    let owners =
        [prepare(&sandbox, &fixture).await, prepare(&sandbox, &renamed(&fixture, "b")).await];
    let limits = Limits {
        fuel: 10_000_000_000,
        memory_bytes: 64 << 20,
        timeout_ms: 30_000,
        ..Limits::default()
    };
    let mut rng = rand::rng();
    for pair in 0..pairs {
        let canary: [u8; 16] = rng.random();
        let masked: Vec<u8> = canary.iter().map(|b| !b).collect();
        let (writer, reader) = (&owners[pair % 2], &owners[(pair + 1) % 2]);
        let filled = sandbox.invoke(writer, call("mode=canary", &canary, limits)).await;
        assert_eq!(filled.result.unwrap().body, b"filled");
        if pair == 0 {
            // The scan finds a canary that is there ...
            let live = sandbox.invoke(writer, call("mode=canary&check=1", &canary, limits)).await;
            let text = String::from_utf8(live.result.unwrap().body).unwrap();
            let found: usize =
                text.strip_prefix("found=").unwrap().split(' ').next().unwrap().parse().unwrap();
            assert!(found >= (4 << 20) / 16, "the scan sees a live canary: {text}");
        }
        // ... and the next request never sees the previous one's.
        let scanned = sandbox.invoke(reader, call("mode=scan", &masked, limits)).await;
        let text = String::from_utf8(scanned.result.unwrap().body).unwrap();
        assert_eq!(text, "found=0 dirty=0", "pair {pair}: the next request saw the canary");
    }
}
