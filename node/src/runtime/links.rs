//! A worker's end of the dispatch links: accepts the streams gateways open to it, admits
//! every execution request that arrives on one exactly as a gossiped one (the gateway is the
//! link's authenticated peer, so the request carries no signature of its own), and sends the
//! delivery back on the same link.

use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt as _;
use peerhost_protocol::{Delivery, ExecutionRequest, NodeKey, Wire, codec, topics};
use tracing::{debug, warn};

use super::Shared;
use crate::mesh::{self, FrameLimits, LinkHandler, LinkSender};

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
            debug!(target: "peerhost::worker", gateway = %gateway.short(), "dispatch link accepted");
            let limits =
                FrameLimits { inbound: ExecutionRequest::MAX_BYTES, outbound: Delivery::MAX_BYTES };
            let handler = Orders { shared: shared.clone(), gateway };
            mesh::spawn_link(peer, stream, limits, handler, &shared.shutdown);
        }
    });
}

/// Execution requests from the gateway at the other end of a link.
struct Orders {
    shared: Arc<Shared>,
    gateway: NodeKey,
}

impl LinkHandler for Orders {
    fn frame(&mut self, link: &LinkSender, frame: Bytes) -> Result<(), String> {
        let request = codec::decode::<ExecutionRequest>(&frame).map_err(|e| e.to_string())?;
        if request.request.gateway != self.gateway {
            return Err("a request naming another gateway".into());
        }
        self.shared.admit_request(request, link.peer(), Some(link.clone()));
        Ok(())
    }

    fn closed(&mut self, _link: &LinkSender) {
        debug!(target: "peerhost::worker", gateway = %self.gateway.short(), "dispatch link closed");
    }
}
