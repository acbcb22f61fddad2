//! A worker's end of the dispatch links: accepts the streams gateways open to it, admits
//! every execution request that arrives on one exactly as a gossiped one (the gateway is the
//! link's authenticated peer, so the request carries no signature of its own), and sends the
//! delivery back on the same link.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use bytes::Bytes;
use futures::StreamExt as _;
use peerhost_protocol::{Delivery, ExecutionRequest, NodeKey, Wire, codec, topics};
use tracing::{debug, warn};

use super::Shared;
use crate::{
    dispatch::Forward,
    mesh::{self, FrameLimits, LinkHandler, LinkSender},
};

/// Most dispatch links a worker keeps at once, and per gateway (a gateway needs one; a
/// second covers a reconnect before the first one's end is noticed).
const MAX_LINKS: usize = 512;
const MAX_LINKS_PER_GATEWAY: usize = 2;

/// Links open now, per gateway.
#[derive(Default)]
struct Open(Mutex<HashMap<NodeKey, usize>>);

impl Open {
    /// Counts a new link from `gateway`, unless that would pass a bound.
    fn admit(&self, gateway: NodeKey) -> bool {
        let mut open = self.0.lock().expect("links lock");
        let total: usize = open.values().sum();
        let mine = open.entry(gateway).or_default();
        if total >= MAX_LINKS || *mine >= MAX_LINKS_PER_GATEWAY {
            return false;
        }
        *mine += 1;
        true
    }

    fn closed(&self, gateway: &NodeKey) {
        let mut open = self.0.lock().expect("links lock");
        if let Some(n) = open.get_mut(gateway) {
            *n -= 1;
            if *n == 0 {
                open.remove(gateway);
            }
        }
    }
}

/// Accepts dispatch links until shutdown.
pub(super) fn accept(shared: &Arc<Shared>) {
    let mut incoming = match shared.mesh.accept_streams(topics::DISPATCH_PROTOCOL) {
        Ok(incoming) => incoming,
        Err(e) => {
            warn!(target: "peerhost::worker", error = %e, "cannot accept dispatch links; requests come by gossip only");
            return;
        }
    };
    let shared = shared.clone();
    let open = Arc::new(Open::default());
    tokio::spawn(async move {
        loop {
            let (peer, stream) = tokio::select! {
                () = shared.shutdown.cancelled() => break,
                next = incoming.next() => match next {
                    Some(next) => next,
                    None => break,
                },
            };
            let Some(gateway) = mesh::node_key(&peer) else { continue };
            if !open.admit(gateway) {
                // Dropping the stream resets it; the gateway reaches us by gossip meanwhile.
                debug!(target: "peerhost::worker", gateway = %gateway.short(), "dispatch link refused: too many");
                continue;
            }
            debug!(target: "peerhost::worker", gateway = %gateway.short(), "dispatch link accepted");
            let limits =
                FrameLimits { inbound: ExecutionRequest::MAX_BYTES, outbound: Delivery::MAX_BYTES };
            let handler = Orders { shared: shared.clone(), gateway, open: open.clone() };
            shared.mesh.spawn_link(peer, stream, limits, handler, &shared.shutdown);
        }
    });
}

/// Execution requests from the gateway at the other end of a link.
struct Orders {
    shared: Arc<Shared>,
    gateway: NodeKey,
    open: Arc<Open>,
}

impl LinkHandler for Orders {
    fn frame(&mut self, link: &LinkSender, frame: Bytes) -> Result<(), String> {
        let request = codec::decode::<ExecutionRequest>(&frame).map_err(|e| e.to_string())?;
        // What gossip would penalize (another gateway's request, a body that does not match
        // its hash, an absurd deadline) closes the link.
        match self.shared.admit_request(request, link.peer(), Some(link.clone())) {
            Forward::Reject => Err("a request admission rejects".into()),
            Forward::Accept | Forward::Ignore => Ok(()),
        }
    }

    fn closed(&mut self, _link: &LinkSender) {
        self.open.closed(&self.gateway);
        debug!(target: "peerhost::worker", gateway = %self.gateway.short(), "dispatch link closed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_bounded_per_gateway_and_in_total() {
        let open = Open::default();
        let gateway = NodeKey([1; 32]);
        assert!(open.admit(gateway) && open.admit(gateway));
        assert!(!open.admit(gateway), "a third link from one gateway");
        open.closed(&gateway);
        assert!(open.admit(gateway));
        for i in 0..MAX_LINKS / MAX_LINKS_PER_GATEWAY {
            let mut other = [0u8; 32];
            other[..8].copy_from_slice(&(i as u64 + 2).to_le_bytes());
            let _ = open.admit(NodeKey(other)) && open.admit(NodeKey(other));
        }
        assert!(!open.admit(NodeKey([255; 32])), "past the total");
    }
}
