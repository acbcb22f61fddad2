//! Which receipts of an anchored epoch are put up for re-execution. The draw is keyed by the
//! epoch's Merkle root, which did not exist while the requests ran, so no worker knows in
//! advance which of its results will be checked; anyone holding the root and a request id
//! recomputes it.

use peerhost_protocol::{Keccak, RequestId, keccak256_parts};

/// The audit rate as a threshold on the draw: `fraction` (clamped to 0–1) of all draws fall
/// below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditRate(u64);

impl AuditRate {
    /// About `fraction` of the receipts audited.
    pub fn new(fraction: f64) -> Self {
        if fraction >= 1.0 {
            return Self(u64::MAX);
        }
        Self((fraction.max(0.0) * u64::MAX as f64) as u64)
    }

    /// Whether the receipt of `request` in the epoch whose root is `root` is audited.
    pub fn audits(self, root: &Keccak, request: &RequestId) -> bool {
        let draw = keccak256_parts(&[&root.0, &request.0]);
        let draw = u64::from_be_bytes(draw.0[..8].try_into().expect("8 bytes"));
        self.0 == u64::MAX || draw < self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: u64) -> impl Iterator<Item = RequestId> {
        (0..n).map(|i| RequestId(peerhost_protocol::keccak256(&i.to_le_bytes()).0))
    }

    #[test]
    fn the_rate_is_kept_and_the_draw_follows_the_root() {
        let root = Keccak([7; 32]);
        assert!(ids(1000).all(|id| !AuditRate::new(0.0).audits(&root, &id)));
        assert!(ids(1000).all(|id| AuditRate::new(1.0).audits(&root, &id)));
        let rate = AuditRate::new(0.1);
        let audited: Vec<_> = ids(10_000).filter(|id| rate.audits(&root, id)).collect();
        assert!((850..1150).contains(&audited.len()), "{} of 10,000", audited.len());
        let other = Keccak([8; 32]);
        let again = audited.iter().filter(|id| rate.audits(&other, id)).count();
        assert!(again < 200, "another root draws other receipts ({again} repeated)");
    }
}
