//! Connection trimming. Gossipsub's long-lived streams count as activity, so the swarm's idle
//! timeout never closes a connection to a peer that speaks gossipsub (rust-libp2p #5190):
//! every peer a Kademlia query or a lookup dialed would stay connected for good, and at a few
//! hundred nodes each one holds a connection (and its pings, identify and gossip control
//! traffic) to most others. Above `target_peers` the actor closes, oldest use first, the
//! connections nothing uses: not in a gossip mesh, carrying no link, and neither new nor
//! carrying a direct request for [`UNUSED_FOR`].

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::Duration,
};

use libp2p::PeerId;
use tokio::time::Instant;

/// How long a connection must have gone unused before it may be trimmed: longer than a
/// Kademlia query or a request takes, short enough that the peers a network's formation dials
/// (every node's first lookups touch most others) do not all stay connected.
pub(crate) const UNUSED_FOR: Duration = Duration::from_secs(10);

/// Peers with an open link, counted per peer. Shared by the client (links register here) and
/// the actor (which never trims them).
#[derive(Debug, Clone, Default)]
pub(crate) struct Linked(Arc<Mutex<HashMap<PeerId, usize>>>);

impl Linked {
    /// Registers a link to `peer` until the guard drops.
    pub(crate) fn hold(&self, peer: PeerId) -> LinkGuard {
        *self.0.lock().expect("linked lock").entry(peer).or_default() += 1;
        LinkGuard { linked: self.clone(), peer }
    }

    pub(crate) fn contains(&self, peer: &PeerId) -> bool {
        self.0.lock().expect("linked lock").contains_key(peer)
    }
}

/// One link's registration in [`Linked`].
#[derive(Debug)]
pub(crate) struct LinkGuard {
    linked: Linked,
    peer: PeerId,
}

impl Drop for LinkGuard {
    fn drop(&mut self) {
        let mut held = self.linked.0.lock().expect("linked lock");
        if let Some(count) = held.get_mut(&self.peer) {
            *count -= 1;
            if *count == 0 {
                held.remove(&self.peer);
            }
        }
    }
}

/// When each connected peer was last used, and which peers this node hung up on.
#[derive(Debug, Default)]
pub(crate) struct Usage {
    last_used: HashMap<PeerId, Instant>,
    trimmed: HashSet<PeerId>,
    /// Peers never trimmed while pinned (relay clients holding a reservation here).
    pinned: HashSet<PeerId>,
}

impl Usage {
    /// `peer` was used now (connected, or a direct request either way).
    pub(crate) fn touch(&mut self, peer: PeerId, now: Instant) {
        self.last_used.insert(peer, now);
    }

    /// Never trims `peer` until [`Usage::unpin`].
    pub(crate) fn pin(&mut self, peer: PeerId) {
        self.pinned.insert(peer);
    }

    pub(crate) fn unpin(&mut self, peer: &PeerId) {
        self.pinned.remove(peer);
    }

    /// `peer`'s last connection closed; whether it was this node that trimmed it (then the
    /// peer did not go away: nobody needs to hear of it).
    pub(crate) fn disconnected(&mut self, peer: &PeerId) -> bool {
        self.last_used.remove(peer);
        self.trimmed.remove(peer)
    }

    /// The peers to disconnect from so that at most `target` stay connected, oldest use
    /// first, among those `keep` does not protect and unused for `idle`. Marks them trimmed.
    pub(crate) fn choose_to_trim(
        &mut self,
        connected: &[PeerId],
        target: usize,
        idle: Duration,
        now: Instant,
        keep: impl Fn(&PeerId) -> bool,
    ) -> Vec<PeerId> {
        let Some(excess) = connected.len().checked_sub(target).filter(|&n| n > 0) else {
            return Vec::new();
        };
        let mut unused: Vec<(Instant, PeerId)> = connected
            .iter()
            .filter(|peer| {
                !keep(peer) && !self.trimmed.contains(peer) && !self.pinned.contains(peer)
            })
            .map(|peer| (self.last_used.get(peer).copied().unwrap_or(now), *peer))
            .filter(|(used, _)| now.saturating_duration_since(*used) >= idle)
            .collect();
        unused.sort_unstable_by_key(|(used, _)| *used);
        let chosen: Vec<PeerId> = unused.into_iter().take(excess).map(|(_, peer)| peer).collect();
        self.trimmed.extend(chosen.iter().copied());
        chosen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peers(n: usize) -> Vec<PeerId> {
        (0..n).map(|_| PeerId::random()).collect()
    }

    #[test]
    fn nothing_is_trimmed_at_or_below_the_target() {
        let (mut usage, all, now) = (Usage::default(), peers(4), Instant::now());
        let later = now + Duration::from_secs(600);
        assert!(
            usage.choose_to_trim(&all, 4, Duration::from_secs(60), later, |_| false).is_empty()
        );
    }

    #[test]
    fn the_oldest_unused_unprotected_peers_go_down_to_the_target() {
        let (mut usage, all, start) = (Usage::default(), peers(6), Instant::now());
        for (i, peer) in all.iter().enumerate() {
            usage.touch(*peer, start + Duration::from_secs(i as u64));
        }
        let idle = Duration::from_secs(60);
        // At start + 64 s peers 0..=4 are idle; peer 0 is in a mesh (kept).
        let now = start + Duration::from_secs(64);
        let trimmed = usage.choose_to_trim(&all, 3, idle, now, |p| *p == all[0]);
        assert_eq!(trimmed, vec![all[1], all[2], all[3]]);
        // Trimmed peers are not chosen twice while their connections close.
        let again = usage.choose_to_trim(&all, 3, idle, now, |p| *p == all[0]);
        assert_eq!(again, vec![all[4]]);
        usage.pin(all[5]);
        let now = now + idle;
        assert!(usage.choose_to_trim(&all, 3, idle, now, |p| *p == all[0]).is_empty(), "pinned");
        assert!(usage.disconnected(&all[1]), "we hung up on it");
        assert!(!usage.disconnected(&all[5]), "it went away by itself");
    }

    #[test]
    fn a_recent_use_protects_a_peer() {
        let (mut usage, all, start) = (Usage::default(), peers(3), Instant::now());
        for peer in &all {
            usage.touch(*peer, start);
        }
        let now = start + Duration::from_secs(100);
        usage.touch(all[0], now - Duration::from_secs(5));
        let trimmed = usage.choose_to_trim(&all, 1, Duration::from_secs(60), now, |_| false);
        assert_eq!(trimmed.len(), 2);
        assert!(!trimmed.contains(&all[0]));
    }

    #[test]
    fn a_link_holds_its_peer_until_every_guard_drops() {
        let (linked, peer) = (Linked::default(), PeerId::random());
        let first = linked.hold(peer);
        let second = linked.hold(peer);
        drop(first);
        assert!(linked.contains(&peer));
        drop(second);
        assert!(!linked.contains(&peer));
    }
}
