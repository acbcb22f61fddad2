//! Worker admission: what a worker does with a gossiped execution request whose signature
//! and encoding already checked out — forward it or not, and race it or not.

use peerhost_protocol::{DeclineReason, ExecutionRequest, NodeKey};

/// Furthest in the future a deadline may lie (the longest function timeout plus slack).
pub const MAX_DEADLINE_AHEAD_MS: u64 = 15 * 60 * 1000 + 60_000;

/// The gossipsub verdict for the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forward {
    /// Valid: forward it to the mesh.
    Accept,
    /// Not worth forwarding (expired), but not the sender's fault.
    Ignore,
    /// Invalid: drop and penalize the sender.
    Reject,
}

/// Why a worker does not race a request it forwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// Other workers were chosen.
    NotChosen,
    /// The deadline passed.
    Expired,
    /// This worker does not know the deployment (open race only).
    UnknownDeployment,
    /// No free slot (open race only).
    Full,
    /// The gateway holds no gateway bond (open race only).
    UnregisteredGateway,
}

/// What this worker does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Execute and deliver the result.
    Race,
    /// Do nothing.
    Skip(Skip),
    /// Tell the gateway we will not deliver, so it re-dispatches at once.
    Decline(DeclineReason),
}

/// The decision for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admission {
    /// Gossip verdict.
    pub forward: Forward,
    /// This worker's part.
    pub role: Role,
}

/// What the worker knows when a request arrives.
#[derive(Debug, Clone)]
pub struct Context {
    /// This worker.
    pub me: NodeKey,
    /// Now, Unix ms.
    pub now_ms: u64,
    /// Whether the registry knows the deployment with the request's bundle.
    pub deployment_known: bool,
    /// Requests the worker can still take: free execution slots plus free backlog places.
    pub capacity: usize,
    /// Whether the requesting gateway may dispatch: bonded as a gateway on a chain-connected
    /// network, anyone in open mode.
    pub gateway_admitted: bool,
}

/// Decides forwarding and racing for a request whose envelope verified.
pub fn admit(request: &ExecutionRequest, ctx: &Context) -> Admission {
    let reject = Admission { forward: Forward::Reject, role: Role::Skip(Skip::NotChosen) };
    if !request.inline_body_matches() || request.deadline_ms > ctx.now_ms + MAX_DEADLINE_AHEAD_MS {
        return reject;
    }
    if request.deadline_ms <= ctx.now_ms {
        return Admission { forward: Forward::Ignore, role: Role::Skip(Skip::Expired) };
    }
    let named = !request.racers.is_empty();
    if !ctx.gateway_admitted {
        // Not the forwarder's fault (our bonded set may lag the chain), but not worth spreading.
        let role = match (request.may_race(&ctx.me), named) {
            (true, true) => Role::Decline(DeclineReason::UnregisteredGateway),
            (true, false) => Role::Skip(Skip::UnregisteredGateway),
            (false, _) => Role::Skip(Skip::NotChosen),
        };
        return Admission { forward: Forward::Ignore, role };
    }
    let role = if !request.may_race(&ctx.me) {
        Role::Skip(Skip::NotChosen)
    } else if !ctx.deployment_known {
        if named {
            Role::Decline(DeclineReason::BundleUnavailable)
        } else {
            Role::Skip(Skip::UnknownDeployment)
        }
    } else if ctx.capacity == 0 {
        if named { Role::Decline(DeclineReason::Overloaded) } else { Role::Skip(Skip::Full) }
    } else {
        Role::Race
    };
    Admission { forward: Forward::Accept, role }
}

#[cfg(test)]
mod tests {
    use super::*;
    use peerhost_protocol::{BlobHash, CanonicalRequest, RawRequest};

    fn request(racers: Vec<NodeKey>, deadline_ms: u64, body: &[u8]) -> ExecutionRequest {
        let raw = RawRequest {
            owner: "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266".parse().unwrap(),
            project: "p",
            function: "f",
            method: "POST",
            path: "/",
            query: None,
            headers: vec![],
            body,
        };
        ExecutionRequest {
            request: CanonicalRequest::build(&raw, NodeKey([9; 32]), 1, 0).unwrap(),
            bundle: BlobHash::of(b"b"),
            version: 1,
            deadline_ms,
            attempt: 0,
            racers,
            reply_to: vec![],
            body: Some(body.to_vec()),
        }
    }

    fn ctx(capacity: usize, known: bool) -> Context {
        Context {
            me: NodeKey([1; 32]),
            now_ms: 1_000,
            deployment_known: known,
            capacity,
            gateway_admitted: true,
        }
    }

    #[test]
    fn requests_of_unbonded_gateways_are_declined_and_not_spread() {
        let unbonded = Context { gateway_admitted: false, ..ctx(1, true) };
        let named = admit(&request(vec![NodeKey([1; 32])], 5_000, b"x"), &unbonded);
        assert_eq!(named.role, Role::Decline(DeclineReason::UnregisteredGateway));
        assert_eq!(named.forward, Forward::Ignore);
        let open = admit(&request(vec![], 5_000, b"x"), &unbonded);
        assert_eq!(open.role, Role::Skip(Skip::UnregisteredGateway));
        let other = admit(&request(vec![NodeKey([2; 32])], 5_000, b"x"), &unbonded);
        assert_eq!(other.role, Role::Skip(Skip::NotChosen));
    }

    #[test]
    fn named_racer_races_or_declines() {
        let r = request(vec![NodeKey([1; 32])], 5_000, b"x");
        assert_eq!(admit(&r, &ctx(1, true)).role, Role::Race);
        assert_eq!(admit(&r, &ctx(0, true)).role, Role::Decline(DeclineReason::Overloaded));
        assert_eq!(admit(&r, &ctx(1, false)).role, Role::Decline(DeclineReason::BundleUnavailable));
    }

    #[test]
    fn others_forward_without_racing() {
        let r = request(vec![NodeKey([2; 32])], 5_000, b"x");
        assert_eq!(
            admit(&r, &ctx(1, true)),
            Admission { forward: Forward::Accept, role: Role::Skip(Skip::NotChosen) }
        );
    }

    #[test]
    fn open_race_never_declines() {
        let r = request(vec![], 5_000, b"x");
        assert_eq!(admit(&r, &ctx(1, true)).role, Role::Race);
        assert_eq!(admit(&r, &ctx(0, true)).role, Role::Skip(Skip::Full));
        assert_eq!(admit(&r, &ctx(1, false)).role, Role::Skip(Skip::UnknownDeployment));
    }

    #[test]
    fn expired_is_ignored_and_far_future_rejected() {
        assert_eq!(admit(&request(vec![], 1_000, b"x"), &ctx(1, true)).forward, Forward::Ignore);
        let far = 1_000 + MAX_DEADLINE_AHEAD_MS + 1;
        assert_eq!(admit(&request(vec![], far, b"x"), &ctx(1, true)).forward, Forward::Reject);
    }

    #[test]
    fn body_swapped_after_signing_is_rejected() {
        let mut r = request(vec![], 5_000, b"x");
        r.body = Some(b"y".to_vec());
        assert_eq!(admit(&r, &ctx(1, true)).forward, Forward::Reject);
    }
}
