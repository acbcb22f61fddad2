//! Orders a chain-connected gateway dispatched, kept until the epoch that holds their receipts
//! has been audited: requests travel on dispatch links, so validators no longer hear them on
//! gossip and fetch an audited request's order from its gateway instead (they check that its
//! id is the audited one). Bounded by count and bytes; the oldest go first.

use std::{
    collections::{HashMap, VecDeque},
    sync::Mutex,
};

use bytes::Bytes;
use peerhost_protocol::{ExecutionRequest, RequestId, codec};

/// Most orders kept.
const MAX_ORDERS: usize = 16_384;
/// Most bytes of encoded orders kept.
const MAX_ORDER_BYTES: usize = 64 << 20;

#[derive(Default)]
struct Kept {
    by_id: HashMap<RequestId, Bytes>,
    order: VecDeque<RequestId>,
    bytes: usize,
}

/// Recent orders, encoded as sent.
#[derive(Default)]
pub(crate) struct Orders {
    kept: Mutex<Kept>,
}

impl Orders {
    /// Keeps an order (the last attempt's replaces earlier ones).
    pub(crate) fn keep(&self, id: RequestId, encoded: Bytes) {
        let mut kept = self.kept.lock().expect("orders lock");
        let size = encoded.len();
        match kept.by_id.insert(id, encoded) {
            Some(old) => kept.bytes -= old.len(),
            None => kept.order.push_back(id),
        }
        kept.bytes += size;
        while kept.order.len() > MAX_ORDERS || kept.bytes > MAX_ORDER_BYTES {
            let Some(oldest) = kept.order.pop_front() else { break };
            if let Some(old) = kept.by_id.remove(&oldest) {
                kept.bytes -= old.len();
            }
        }
    }

    /// The order of `id`, if still kept.
    pub(crate) fn get(&self, id: &RequestId) -> Option<ExecutionRequest> {
        let encoded = self.kept.lock().expect("orders lock").by_id.get(id).cloned()?;
        codec::decode(&encoded).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_by_count_and_bytes() {
        let orders = Orders::default();
        for i in 0..(MAX_ORDERS + 10) {
            let mut id = [0u8; 32];
            id[..8].copy_from_slice(&(i as u64).to_le_bytes());
            orders.keep(RequestId(id), Bytes::from_static(b"x"));
        }
        let kept = orders.kept.lock().unwrap();
        assert_eq!(kept.by_id.len(), MAX_ORDERS);
        assert_eq!(kept.bytes, MAX_ORDERS);
        assert!(!kept.by_id.contains_key(&RequestId([0; 32])));
    }
}
