//! The node's one libp2p behaviour: every protocol a PeerHost node speaks.

use std::time::Duration;

use libp2p::{
    StreamProtocol, autonat, connection_limits, dcutr, gossipsub, identify,
    identity::Keypair,
    kad, ping, relay,
    request_response::{self, ProtocolSupport},
    swarm::{NetworkBehaviour, behaviour::toggle::Toggle},
};
use peerhost_protocol::{
    BodyRequest, BodyResponse, CatalogRequest, CatalogResponse, Delivery, DeliveryAck,
    OrderRequest, OrderResponse, Wire, topics,
};

use super::{MeshConfig, codec::WireCodec, scoring};

/// Kademlia protocol name: a private DHT, separate from the public IPFS one.
pub(crate) const KAD_PROTOCOL: StreamProtocol = StreamProtocol::new("/peerhost/kad/1.0.0");
/// Identify protocol version.
const IDENTIFY_PROTOCOL: &str = "/peerhost/id/1.0.0";
/// Largest gossip message: an announcement (manifest of up to 256 functions) or an execution
/// request with an inline body, with its publisher's signature and framing.
pub(crate) const MAX_GOSSIP_BYTES: usize = 192 * 1024;

pub(crate) type DeliverBehaviour = request_response::Behaviour<WireCodec<Delivery, DeliveryAck>>;
pub(crate) type BodyBehaviour = request_response::Behaviour<WireCodec<BodyRequest, BodyResponse>>;
pub(crate) type CatalogBehaviour =
    request_response::Behaviour<WireCodec<CatalogRequest, CatalogResponse>>;
pub(crate) type OrderBehaviour =
    request_response::Behaviour<WireCodec<OrderRequest, OrderResponse>>;

/// Every protocol of a node, in the order the swarm polls them.
#[derive(NetworkBehaviour)]
pub(crate) struct Behaviour {
    /// Caps connections first, before any other protocol spends work on them.
    pub(crate) limits: connection_limits::Behaviour,
    /// Relays circuits for peers behind NATs, within limits (only where configured).
    pub(crate) relay: Toggle<relay::Behaviour>,
    /// Listens and dials through relays (`/p2p-circuit` addresses).
    pub(crate) relay_client: relay::client::Behaviour,
    /// Upgrades relayed connections to direct ones by hole punching.
    pub(crate) dcutr: dcutr::Behaviour,
    /// Learns whether this node is reachable, and answers other peers' probes.
    pub(crate) autonat: Toggle<autonat::Behaviour>,
    /// Exchanges listen addresses and protocols; feeds Kademlia.
    pub(crate) identify: identify::Behaviour,
    /// Keeps connections measured and alive.
    pub(crate) ping: ping::Behaviour,
    /// Peers' addresses learned from signed application messages, offered when dialing them.
    pub(crate) addresses: super::addresses::AddressBook,
    /// Peer discovery only: bundle providers are learned from heartbeats and announcements,
    /// which carry the iroh addresses a provider record lacks.
    pub(crate) kad: kad::Behaviour<kad::store::MemoryStore>,
    /// Deployment announcements, worker heartbeats, execution requests.
    pub(crate) gossipsub: gossipsub::Behaviour,
    /// Results straight from workers to the gateway that asked.
    pub(crate) deliver: DeliverBehaviour,
    /// Large request bodies, fetched by racing workers from the gateway.
    pub(crate) body: BodyBehaviour,
    /// Deployment catalog sync for nodes that join late.
    pub(crate) catalog: CatalogBehaviour,
    /// Audited requests' orders, fetched by validators from the gateway that dispatched them.
    pub(crate) order: OrderBehaviour,
    /// Long-lived raw streams: the gateway–worker dispatch links (see `link.rs`).
    pub(crate) streams: libp2p_stream::Behaviour,
}

/// Why the behaviour could not be built.
#[derive(Debug, thiserror::Error)]
#[error("building the {0} behaviour failed: {1}")]
pub struct BehaviourError(&'static str, String);

impl Behaviour {
    pub(crate) fn new(
        key: &Keypair,
        relay_client: relay::client::Behaviour,
        config: &MeshConfig,
    ) -> Result<Self, BehaviourError> {
        let peer_id = key.public().to_peer_id();
        // Per peer: a relayed connection each side may have dialed, a fresh one that retries
        // hole punching, and the direct connection that replaces them (relayed ones close once
        // it exists).
        let limits = connection_limits::ConnectionLimits::default()
            .with_max_established(Some(config.max_connections))
            .with_max_established_per_peer(Some(4))
            .with_max_pending_incoming(Some(config.max_connections / 4 + 1));

        // Anonymous gossip: libp2p's per-message signature would be checked on every copy a
        // peer forwards, before duplicates are dropped. Messages carry the publisher's
        // signature inside instead (`peerhost_protocol::Published`), checked once per message
        // by the application before it lets gossipsub forward it; the id is a hash of every
        // byte, so a forged copy cannot claim a real message's id.
        let gossip_config = gossipsub::ConfigBuilder::default()
            .validation_mode(gossipsub::ValidationMode::Anonymous)
            .message_id_fn(|message| {
                gossipsub::MessageId::new(&peerhost_protocol::gossip_message_id(&message.data))
            })
            .validate_messages()
            .max_transmit_size(MAX_GOSSIP_BYTES)
            .heartbeat_interval(Duration::from_millis(700))
            .mesh_n(config.mesh_degree)
            .mesh_n_low(config.mesh_degree - 1)
            .mesh_n_high(2 * config.mesh_degree)
            .gossip_lazy(config.mesh_degree)
            .mesh_outbound_min((config.mesh_degree / 2).min(2))
            .duplicate_cache_time(Duration::from_secs(120))
            .build()
            .map_err(|e| BehaviourError("gossipsub", e.to_string()))?;
        let mut gossipsub =
            gossipsub::Behaviour::new(gossipsub::MessageAuthenticity::Anonymous, gossip_config)
                .map_err(|e| BehaviourError("gossipsub", e.to_string()))?;
        let mut score_params = scoring::params();
        score_params.decay_interval = scoring::DECAY_INTERVAL;
        gossipsub
            .with_peer_score(score_params, scoring::thresholds())
            .map_err(|e| BehaviourError("gossipsub scoring", e.to_string()))?;

        let mut kad_config = kad::Config::new(KAD_PROTOCOL);
        kad_config.set_query_timeout(Duration::from_secs(30));
        // The actor runs its own refresh schedule (`MeshConfig::kad_refresh`).
        kad_config.set_periodic_bootstrap_interval(None);
        // Peers enter the routing table when identify says they speak Kademlia, and only where
        // there is room (`MeshActor::route`): no liveness dials of evicted entries.
        kad_config.set_kbucket_inserts(kad::BucketInserts::Manual);
        let mut kad =
            kad::Behaviour::with_config(peer_id, kad::store::MemoryStore::new(peer_id), kad_config);
        kad.set_mode(Some(kad::Mode::Server));

        let rr = |protocol: &'static str| {
            (
                [(StreamProtocol::new(protocol), ProtocolSupport::Full)],
                request_response::Config::default()
                    .with_request_timeout(config.request_timeout)
                    .with_max_concurrent_streams(256),
            )
        };
        let (deliver_protocols, deliver_config) = rr(topics::DELIVER_PROTOCOL);
        let (body_protocols, body_config) = rr(topics::BODY_PROTOCOL);
        let (catalog_protocols, catalog_config) = rr(topics::CATALOG_PROTOCOL);
        let (order_protocols, order_config) = rr(topics::ORDER_PROTOCOL);

        // The largest gossiped message (`Published` around the largest payload) fits in the
        // transmit limit, with room for gossipsub's own framing.
        const {
            assert!(peerhost_protocol::Published::MAX_BYTES + 256 < MAX_GOSSIP_BYTES);
        }

        let relay = config
            .nat
            .relay_server
            .as_ref()
            .map(|limits| relay::Behaviour::new(peer_id, limits.relay_config()));
        let autonat = config.nat.autonat.then(|| {
            autonat::Behaviour::new(
                peer_id,
                autonat::Config {
                    boot_delay: Duration::from_secs(3),
                    retry_interval: Duration::from_secs(20),
                    refresh_interval: Duration::from_secs(5 * 60),
                    // Private networks are networks too (a LAN, or a test's namespaces).
                    only_global_ips: false,
                    ..autonat::Config::default()
                },
            )
        });

        Ok(Self {
            limits: connection_limits::Behaviour::new(limits),
            relay: relay.into(),
            relay_client,
            dcutr: dcutr::Behaviour::new(peer_id),
            autonat: autonat.into(),
            identify: identify::Behaviour::new(
                identify::Config::new(IDENTIFY_PROTOCOL.to_owned(), key.public())
                    .with_agent_version(config.agent.clone())
                    // Relayed addresses appear after the first exchange: tell peers at once.
                    .with_push_listen_addr_updates(true),
            ),
            ping: ping::Behaviour::new(ping::Config::new().with_interval(Duration::from_secs(5))),
            addresses: super::addresses::AddressBook::new(
                std::num::NonZeroUsize::new(
                    usize::try_from(config.max_connections).unwrap_or(usize::MAX).max(1024),
                )
                .expect("at least 1024"),
            ),
            kad,
            gossipsub,
            deliver: request_response::Behaviour::with_codec(
                WireCodec::default(),
                deliver_protocols,
                deliver_config,
            ),
            body: request_response::Behaviour::with_codec(
                WireCodec::default(),
                body_protocols,
                body_config,
            ),
            catalog: request_response::Behaviour::with_codec(
                WireCodec::default(),
                catalog_protocols,
                catalog_config,
            ),
            order: request_response::Behaviour::with_codec(
                WireCodec::default(),
                order_protocols,
                order_config,
            ),
            streams: libp2p_stream::Behaviour::new(),
        })
    }
}
