//! Calls in flight at a gateway: where deliveries for a request id go, and the bodies workers
//! may fetch. Entries are removed when the call's guard drops, including when the HTTP client
//! disconnects mid-call.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use bytes::Bytes;
use peerhost_protocol::{Delivery, ExecutionResult, NodeKey, RequestId};
use tokio::sync::mpsc;

/// Inputs per call buffered before extra deliveries are dropped: enough for every racer of
/// every attempt to deliver and decline.
const INPUT_CAPACITY: usize = 64;

/// Something that happened to a call.
#[derive(Debug)]
pub(crate) enum RaceInput {
    /// A worker delivered a result (not yet verified).
    Result { from: NodeKey, result: Box<ExecutionResult> },
    /// A worker declined.
    Declined { from: NodeKey },
    /// A worker we asked disconnected.
    PeerLost { peer: NodeKey },
}

struct Call {
    inputs: mpsc::Sender<RaceInput>,
    body: Option<Bytes>,
    racers: Vec<NodeKey>,
    /// Answered, and only waiting for the other racers' results (not in flight).
    answered: bool,
}

/// All calls in flight.
#[derive(Default)]
pub(crate) struct Pending {
    calls: Mutex<HashMap<RequestId, Call>>,
}

/// Removes its call from [`Pending`] when dropped.
pub(crate) struct PendingGuard {
    pending: Arc<Pending>,
    id: RequestId,
}

impl Drop for PendingGuard {
    fn drop(&mut self) {
        self.pending.calls.lock().expect("pending lock").remove(&self.id);
    }
}

impl Pending {
    /// Registers a call; `body` is kept for workers to fetch when it was not inlined.
    pub(crate) fn register(
        self: &Arc<Self>,
        id: RequestId,
        body: Option<Bytes>,
    ) -> (PendingGuard, mpsc::Receiver<RaceInput>) {
        let (tx, rx) = mpsc::channel(INPUT_CAPACITY);
        self.calls
            .lock()
            .expect("pending lock")
            .insert(id, Call { inputs: tx, body, racers: Vec::new(), answered: false });
        (PendingGuard { pending: self.clone(), id }, rx)
    }

    /// Records racers asked for a call (to route disconnects).
    pub(crate) fn add_racers(&self, id: &RequestId, racers: &[NodeKey]) {
        if let Some(call) = self.calls.lock().expect("pending lock").get_mut(id) {
            call.racers.extend_from_slice(racers);
        }
    }

    /// Routes an input to its call. Returns whether the call is still pending.
    pub(crate) fn deliver(&self, id: &RequestId, input: RaceInput) -> bool {
        match self.calls.lock().expect("pending lock").get(id) {
            Some(call) => {
                let _ = call.inputs.try_send(input);
                true
            }
            None => false,
        }
    }

    /// Routes what worker `from` delivered (on a link or a request-response stream) to its
    /// call. Returns whether the call is still pending.
    pub(crate) fn delivered(&self, from: NodeKey, delivery: Delivery) -> bool {
        let input = match delivery.result {
            Some(result) => RaceInput::Result { from, result: Box::new(result) },
            None => RaceInput::Declined { from },
        };
        self.deliver(&delivery.request_id, input)
    }

    /// The body of a pending call, if it is held for fetching.
    pub(crate) fn body(&self, id: &RequestId) -> Option<Bytes> {
        self.calls.lock().expect("pending lock").get(id).and_then(|c| c.body.clone())
    }

    /// Tells every call that asked `peer` that it is gone.
    pub(crate) fn peer_lost(&self, peer: &NodeKey) {
        for call in self.calls.lock().expect("pending lock").values() {
            if call.racers.contains(peer) {
                let _ = call.inputs.try_send(RaceInput::PeerLost { peer: *peer });
            }
        }
    }

    /// Marks a call answered: it stays registered for late results but is no longer in
    /// flight.
    #[cfg_attr(not(feature = "chain"), allow(dead_code))] // only settled calls linger
    pub(crate) fn answered(&self, id: &RequestId) {
        if let Some(call) = self.calls.lock().expect("pending lock").get_mut(id) {
            call.answered = true;
        }
    }

    /// Calls in flight (not yet answered).
    pub(crate) fn len(&self) -> usize {
        self.calls.lock().expect("pending lock").values().filter(|c| !c.answered).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guard_removes_and_routing_follows_racers() {
        let pending = Arc::new(Pending::default());
        let id = RequestId([1; 32]);
        let (guard, mut rx) = pending.register(id, Some(Bytes::from_static(b"body")));
        assert_eq!(pending.body(&id).as_deref(), Some(&b"body"[..]));
        pending.add_racers(&id, &[NodeKey([2; 32])]);
        pending.peer_lost(&NodeKey([3; 32]));
        pending.peer_lost(&NodeKey([2; 32]));
        assert!(
            matches!(rx.try_recv(), Ok(RaceInput::PeerLost { peer }) if peer == NodeKey([2; 32]))
        );
        assert!(rx.try_recv().is_err());
        drop(guard);
        assert_eq!(pending.len(), 0);
        assert!(!pending.deliver(&id, RaceInput::Declined { from: NodeKey([2; 32]) }));
    }
}
