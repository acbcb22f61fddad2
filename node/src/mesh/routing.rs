//! The node's Kademlia routing table: when it is refreshed and who may enter it. Both are
//! about handshakes: at a thousand nodes every lookup and every liveness check is a dial.

use std::time::Duration;

use libp2p::{Multiaddr, PeerId, kad};
use tracing::trace;

use super::actor::MeshActor;

impl MeshActor {
    /// One refresh; returns how long until the next. Short of peers, one lookup of our own
    /// id finds the nearest ones, and the wait doubles from 1 s; the full refresh (a lookup per
    /// bucket, dozens of dials) runs once the node has its peers, then every `kad_refresh`.
    pub(super) fn refresh_routing(&mut self, every: Duration) -> Duration {
        let short = self.swarm.connected_peers().count() < self.config.target_peers;
        trace!(target: "peerhost::mesh", short, "refreshing the routing table");
        let me = *self.swarm.local_peer_id();
        let kad = &mut self.swarm.behaviour_mut().kad;
        if short && every < self.config.kad_refresh {
            let _ = kad.get_closest_peers(me);
            (every * 2).min(self.config.kad_refresh)
        } else {
            let _ = kad.bootstrap();
            self.config.kad_refresh
        }
    }

    /// Adds `peer`'s address to the routing table, unless its bucket is full and it is not
    /// there yet. A full bucket would make the new peer wait and dial the bucket's oldest
    /// disconnected entry to see whether it is alive; since trimming leaves most entries
    /// disconnected (alive, just not connected to us), every new connection would start a dial
    /// that is a new connection at its other end, which starts another: at a few hundred nodes
    /// a chain of handshakes that never ends. (Kademlia itself inserts nothing: its bucket
    /// inserts are manual, see `behaviour.rs`.)
    pub(super) fn route(&mut self, peer: PeerId, addr: Multiaddr) {
        let kad = &mut self.swarm.behaviour_mut().kad;
        let room = kad.kbucket(peer).is_none_or(|bucket| {
            bucket.num_entries() < kad::K_VALUE.get()
                || bucket.iter().any(|entry| entry.node.key.preimage() == &peer)
        });
        if room {
            kad.add_address(&peer, addr);
        }
    }
}
