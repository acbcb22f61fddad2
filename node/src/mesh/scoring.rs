//! Gossipsub peer-scoring parameters. Messages the application rejects (bad signatures,
//! malformed or non-canonical bytes) count as invalid deliveries and push the sender's score
//! down until the mesh prunes and then ignores it.

use std::time::Duration;

use libp2p::gossipsub::{IdentTopic, PeerScoreParams, PeerScoreThresholds, TopicScoreParams};
use peerhost_protocol::topics;

/// Score parameters for every PeerHost topic.
pub(crate) fn params() -> PeerScoreParams {
    let mut params = PeerScoreParams::default();
    let mut topic_names =
        vec![topics::DEPLOYMENTS.to_owned(), topics::WORKERS.to_owned(), topics::EPOCHS.to_owned()];
    topic_names.extend((0..topics::EXEC_SHARDS).map(topics::exec_topic));
    for name in topic_names {
        params.topics.insert(IdentTopic::new(name).hash(), topic_params());
    }
    params
}

fn topic_params() -> TopicScoreParams {
    TopicScoreParams {
        topic_weight: 1.0,
        // No reward for first deliveries or mesh time: a quiet honest peer scores 0.
        time_in_mesh_weight: 0.0,
        first_message_deliveries_weight: 0.0,
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        // P4: each rejected message costs 10 points (squared), decaying over ~10 minutes.
        invalid_message_deliveries_weight: -10.0,
        invalid_message_deliveries_decay: 0.99,
        ..TopicScoreParams::default()
    }
}

/// Thresholds: a peer that sent one or two invalid messages is tolerated (graylisted only
/// after repeated abuse).
pub(crate) fn thresholds() -> PeerScoreThresholds {
    PeerScoreThresholds {
        gossip_threshold: -100.0,
        publish_threshold: -500.0,
        graylist_threshold: -1000.0,
        ..PeerScoreThresholds::default()
    }
}

/// How often scores decay.
pub(crate) const DECAY_INTERVAL: Duration = Duration::from_secs(1);
