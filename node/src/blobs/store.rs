//! The node's blob store: an iroh endpoint (same key as the libp2p identity), an on-disk
//! iroh-blobs store served to other nodes, and a downloader that fetches by BLAKE3 hash from
//! whichever providers we know, verifying every chunk as it streams. Behind a NAT the endpoint
//! also keeps a home on an iroh relay its operator names (a bootstrap can run one), which it
//! announces next to its socket addresses, so that peers reach it when no direct path exists.

use std::{net::SocketAddr, path::Path, time::Duration};

use bytes::Bytes;
use iroh::{
    Endpoint, EndpointAddr, RelayMap, RelayMode, RelayUrl, SecretKey, address_lookup::MemoryLookup,
    endpoint::presets, protocol::Router,
};
use iroh_blobs::{
    BlobFormat, BlobsProtocol, Hash, HashAndFormat,
    api::{Store, blobs::AddBytesOptions, downloader::Shuffled},
    hashseq::HashSeq,
    store::fs::FsStore,
};
use peerhost_protocol::{BlobHash, NodeKey, NodeSecret};
use tracing::debug;

/// How often untagged blobs are swept from the store.
const GC_INTERVAL: Duration = Duration::from_secs(30);

/// Why a blob operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BlobError {
    /// The store or endpoint could not start.
    #[error("blob store: {0}")]
    Start(String),
    /// No provider is known for the blob.
    #[error("no known provider for {0}")]
    NoProviders(BlobHash),
    /// Every provider failed (unreachable, or sent data that did not verify against the hash).
    #[error("fetching {hash} failed: {reason}")]
    Fetch {
        /// The blob.
        hash: BlobHash,
        /// The last failure.
        reason: String,
    },
    /// The fetch took longer than allowed.
    #[error("fetching {0} timed out")]
    Timeout(BlobHash),
    /// The blob is not (completely) in the local store.
    #[error("blob {0} is not stored here")]
    Missing(BlobHash),
    /// The stored bytes no longer match their hash (altered at rest).
    #[error("blob {hash} is unreadable: {reason}")]
    Unreadable {
        /// The blob.
        hash: BlobHash,
        /// What the store reported.
        reason: String,
    },
    /// The local store failed.
    #[error("blob store: {0}")]
    Store(String),
}

/// Longest address string an announcement carries (see `peerhost_protocol::gossip`).
const MAX_ANNOUNCED_URL: usize = 64;

fn to_hash(h: &BlobHash) -> Hash {
    Hash::from_bytes(h.0)
}

fn from_hash(h: &Hash) -> BlobHash {
    BlobHash(*h.as_bytes())
}

/// The node's iroh endpoint and blob store.
#[derive(Debug, Clone)]
pub struct BlobStore {
    store: FsStore,
    router: Router,
    lookup: MemoryLookup,
    /// The relay this endpoint is homed on: announced, and the only relay it uses for others.
    relay: Option<RelayUrl>,
}

impl BlobStore {
    /// Opens (or creates) the store under `dir` and starts serving it on `bind`.
    ///
    /// # Errors
    ///
    /// [`BlobError::Start`] if the store cannot be opened or the socket bound.
    pub async fn open(
        dir: &Path,
        secret: &NodeSecret,
        bind: SocketAddr,
    ) -> Result<Self, BlobError> {
        Self::open_with_relay(dir, secret, bind, None).await
    }

    /// [`open`](Self::open), homed on `relay` (an iroh relay URL, `http://` on test networks)
    /// so that nodes without a direct path to this one still fetch from it.
    ///
    /// # Errors
    ///
    /// [`BlobError::Start`] if the store cannot be opened, the socket bound, or the relay URL
    /// is too long to announce.
    pub async fn open_with_relay(
        dir: &Path,
        secret: &NodeSecret,
        bind: SocketAddr,
        relay: Option<RelayUrl>,
    ) -> Result<Self, BlobError> {
        let start = |e: &dyn std::fmt::Display| BlobError::Start(e.to_string());
        if let Some(url) = relay.as_ref().filter(|u| u.to_string().len() > MAX_ANNOUNCED_URL) {
            return Err(BlobError::Start(format!(
                "relay URL {url} is longer than the {MAX_ANNOUNCED_URL} bytes an announcement carries"
            )));
        }
        // Bundles are kept by tag; a forgotten (untagged) bundle's bytes go at the next sweep.
        let mut options = iroh_blobs::store::fs::options::Options::new(dir);
        options.gc =
            Some(iroh_blobs::store::GcConfig { interval: GC_INTERVAL, add_protected: None });
        let store =
            FsStore::load_with_opts(dir.join("blobs.db"), options).await.map_err(|e| start(&e))?;
        let lookup = MemoryLookup::new();
        let relay_mode = match &relay {
            Some(url) => RelayMode::Custom(RelayMap::from(url.clone())),
            None => RelayMode::Disabled,
        };
        let endpoint = Endpoint::builder(presets::Minimal)
            .relay_mode(relay_mode)
            .clear_ip_transports()
            .bind_addr(bind)
            .map_err(|e| start(&e))?
            .secret_key(SecretKey::from_bytes(&secret.to_bytes()))
            .address_lookup(lookup.clone())
            .bind()
            .await
            .map_err(|e| start(&e))?;
        let blobs = BlobsProtocol::new(&store, None);
        let router = Router::builder(endpoint).accept(iroh_blobs::ALPN, blobs).spawn();
        Ok(Self { store, router, lookup, relay })
    }

    /// Socket addresses where other nodes reach this store.
    pub fn addrs(&self) -> Vec<SocketAddr> {
        let mut addrs: Vec<SocketAddr> =
            self.router.endpoint().addr().ip_addrs().copied().collect();
        if addrs.is_empty() {
            addrs = self.router.endpoint().bound_sockets();
        }
        addrs.sort();
        addrs.dedup();
        addrs
    }

    /// [`addrs`](Self::addrs) as strings, for announcements and heartbeats, then the relay
    /// URL this store is homed on, if any.
    pub fn addr_strings(&self) -> Vec<String> {
        let relay = self.relay.iter().map(ToString::to_string);
        let max_ips = peerhost_protocol::MAX_ADDRS - relay.len();
        self.addrs().iter().take(max_ips).map(ToString::to_string).chain(relay).collect()
    }

    /// Remembers where `node` serves blobs (from an announcement or heartbeat): socket
    /// addresses, and a relay URL if it is this store's own relay (a node only talks to the
    /// relay its operator named, never to one a stranger announces).
    pub fn learn(&self, node: &NodeKey, addrs: &[String]) {
        let Ok(id) = iroh::EndpointId::from_bytes(node.as_bytes()) else { return };
        if id == self.router.endpoint().id() {
            return;
        }
        let mut addr = EndpointAddr::new(id);
        for announced in addrs {
            if let Ok(ip) = announced.parse::<SocketAddr>() {
                addr = addr.with_ip_addr(ip);
            } else if let Some(relay) = self
                .relay
                .as_ref()
                .filter(|own| announced.parse::<RelayUrl>().ok().as_ref() == Some(own))
            {
                addr = addr.with_relay_url(relay.clone());
            }
        }
        if !addr.is_empty() {
            self.lookup.add_endpoint_info(addr);
        }
    }

    fn api(&self) -> &Store {
        &self.store
    }

    /// Stores a bundle: its members (manifest first, then components) and the hash sequence
    /// over them, tagged so it is kept. Returns the bundle hash.
    ///
    /// # Errors
    ///
    /// [`BlobError::Store`] on a local store failure.
    pub async fn add_bundle(&self, members: Vec<Bytes>) -> Result<BlobHash, BlobError> {
        let store_err = |e: &dyn std::fmt::Display| BlobError::Store(e.to_string());
        let mut hashes = Vec::with_capacity(members.len());
        let mut temp_tags = Vec::with_capacity(members.len());
        for member in members {
            let tag = self.api().add_bytes(member).temp_tag().await.map_err(|e| store_err(&e))?;
            hashes.push(tag.hash());
            temp_tags.push(tag);
        }
        let sequence: HashSeq = hashes.into_iter().collect();
        let tag = self
            .api()
            .add_bytes_with_opts(AddBytesOptions {
                data: sequence.into(),
                format: BlobFormat::HashSeq,
            })
            .temp_tag()
            .await
            .map_err(|e| store_err(&e))?;
        let hash = from_hash(&tag.hash());
        self.keep(&hash).await?;
        Ok(hash)
    }

    /// Tags a bundle so the store keeps it.
    async fn keep(&self, bundle: &BlobHash) -> Result<(), BlobError> {
        self.api()
            .tags()
            .set(format!("bundle/{bundle}"), HashAndFormat::hash_seq(to_hash(bundle)))
            .await
            .map_err(|e| BlobError::Store(e.to_string()))
    }

    /// Stops keeping a bundle: its bytes are deleted at the next sweep (unless another bundle
    /// holds them too).
    ///
    /// # Errors
    ///
    /// [`BlobError::Store`] on a local store failure.
    pub async fn forget(&self, bundle: &BlobHash) -> Result<(), BlobError> {
        self.api()
            .tags()
            .delete(format!("bundle/{bundle}"))
            .await
            .map(drop)
            .map_err(|e| BlobError::Store(e.to_string()))
    }

    /// Whether the bundle — its hash sequence and every member — is complete locally.
    pub async fn has(&self, hash: &BlobHash) -> bool {
        let blobs = self.api().blobs();
        if !blobs.has(to_hash(hash)).await.unwrap_or(false) {
            return false;
        }
        let Ok(sequence) = self.api().get_bytes(to_hash(hash)).await else { return false };
        let Ok(sequence) = HashSeq::try_from(sequence) else { return false };
        for member in sequence.iter() {
            if !blobs.has(member).await.unwrap_or(false) {
                return false;
            }
        }
        true
    }

    /// Fetches a bundle (hash sequence and all members) from `providers`, verifying every
    /// byte against the hash tree, and tags it.
    ///
    /// # Errors
    ///
    /// [`BlobError::NoProviders`], [`BlobError::Fetch`] (including data that failed
    /// verification), or [`BlobError::Timeout`].
    ///
    /// # Cancel safety
    ///
    /// Cancelling leaves a partial download that a later fetch resumes.
    pub async fn fetch_bundle(
        &self,
        bundle: &BlobHash,
        providers: &[NodeKey],
        timeout: Duration,
    ) -> Result<(), BlobError> {
        let own = self.router.endpoint().id();
        let ids: Vec<iroh::EndpointId> = providers
            .iter()
            .filter_map(|k| iroh::EndpointId::from_bytes(k.as_bytes()).ok())
            .filter(|id| *id != own)
            .collect();
        if ids.is_empty() {
            return Err(BlobError::NoProviders(*bundle));
        }
        debug!(target: "peerhost::blobs", %bundle, providers = ids.len(), "fetching bundle");
        let download = self
            .api()
            .downloader(self.router.endpoint())
            .download(HashAndFormat::hash_seq(to_hash(bundle)), Shuffled::new(ids));
        match tokio::time::timeout(timeout, download).await {
            Err(_) => return Err(BlobError::Timeout(*bundle)),
            Ok(Err(e)) => return Err(BlobError::Fetch { hash: *bundle, reason: format!("{e:#}") }),
            Ok(Ok(())) => {}
        }
        if !self.has(bundle).await {
            return Err(BlobError::Fetch {
                hash: *bundle,
                reason: "incomplete after download".into(),
            });
        }
        self.keep(bundle).await
    }

    /// Reads a stored bundle: its member blobs in order (manifest first). The store
    /// verifies each blob against its BLAKE3 tree as it reads.
    ///
    /// # Errors
    ///
    /// [`BlobError::Missing`] if any part is not stored, [`BlobError::Unreadable`] if stored
    /// bytes no longer verify.
    pub async fn read_bundle(&self, bundle: &BlobHash) -> Result<Vec<Bytes>, BlobError> {
        let sequence = self.read(bundle).await?;
        let sequence = HashSeq::try_from(sequence).map_err(|e| BlobError::Store(e.to_string()))?;
        let mut members = Vec::new();
        for hash in sequence.iter() {
            members.push(self.read(&from_hash(&hash)).await?);
        }
        Ok(members)
    }

    async fn read(&self, hash: &BlobHash) -> Result<Bytes, BlobError> {
        if !self.api().blobs().has(to_hash(hash)).await.unwrap_or(false) {
            return Err(BlobError::Missing(*hash));
        }
        self.api()
            .get_bytes(to_hash(hash))
            .await
            .map_err(|e| BlobError::Unreadable { hash: *hash, reason: format!("{e:#}") })
    }

    /// Stops serving and flushes the store.
    pub async fn shutdown(&self) {
        let _ = self.router.shutdown().await;
        let _ = self.store.shutdown().await;
    }
}
