//! The guest's random generators: ChaCha20 seeded from the request id, so two workers hand a
//! call the same bytes. The seed (a Keccak) is derived on the first draw: most calls never
//! draw, and the hash was a measurable share of a small call.

use std::convert::Infallible;

use peerhost_protocol::{RequestId, keccak256_parts};
use rand_chacha::{
    ChaCha20Rng,
    rand_core::{SeedableRng, TryRng},
};

/// The 32-byte seed for the generator or value named `label`, for one request.
pub(crate) fn seed(label: &[u8], request_id: &RequestId) -> [u8; 32] {
    keccak256_parts(&[label, request_id.as_bytes()]).0
}

/// A ChaCha20 generator seeded with [`seed`]`(label, request_id)` when first used; its output
/// is exactly that of a generator seeded up front.
pub(crate) struct RequestRng {
    label: &'static [u8],
    request_id: RequestId,
    rng: Option<ChaCha20Rng>,
}

impl RequestRng {
    pub(crate) fn new(label: &'static [u8], request_id: &RequestId) -> Self {
        Self { label, request_id: *request_id, rng: None }
    }

    fn rng(&mut self) -> &mut ChaCha20Rng {
        let (label, request_id) = (self.label, &self.request_id);
        self.rng.get_or_insert_with(|| ChaCha20Rng::from_seed(seed(label, request_id)))
    }
}

impl TryRng for RequestRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        self.rng().try_next_u32()
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        self.rng().try_next_u64()
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        self.rng().try_fill_bytes(dst)
    }
}

#[cfg(test)]
mod tests {
    use rand_chacha::rand_core::Rng;

    use super::*;

    #[test]
    fn draws_what_an_up_front_generator_draws() {
        let id = RequestId([7; 32]);
        let mut eager = ChaCha20Rng::from_seed(seed(b"secure", &id));
        let mut lazy = RequestRng::new(b"secure", &id);
        let (mut a, mut b) = ([0u8; 67], [0u8; 67]);
        eager.fill_bytes(&mut a);
        lazy.fill_bytes(&mut b);
        assert_eq!(a, b);
        assert_eq!(eager.next_u64(), lazy.next_u64());
        assert_eq!(eager.next_u32(), lazy.next_u32());
    }
}
