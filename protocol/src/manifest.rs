//! Bundle manifests: what a deployed project contains and how each function may run.
//!
//! A bundle is an iroh-blobs hash sequence `[manifest, component₀, component₁, …]` where
//! component *i* belongs to `functions[i]`. The bundle hash (the sequence's BLAKE3 hash) is
//! therefore fully determined by the manifest; see [`BundleManifest::bundle_hash`].

use serde::{Deserialize, Serialize};

use crate::{
    codec::{self, Invalid, Wire},
    hash::BlobHash,
    names::check_name,
    request::MAX_BODY_LEN,
};

/// Most functions in one project.
pub const MAX_FUNCTIONS: usize = 256;

/// Longest function description, in bytes.
pub const MAX_DESCRIPTION_LEN: usize = 1024;

/// Longest input schema (JSON text), in bytes.
pub const MAX_INPUT_SCHEMA_LEN: usize = 8 * 1024;

/// Most outbound hosts one effectful function may allow-list.
pub const MAX_ALLOWED_HOSTS: usize = 32;

/// How a function's result is accepted by the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(into = "u8", try_from = "u8")]
pub enum Tier {
    /// The first valid signed result wins.
    #[default]
    Fast,
    /// `q` distinct workers must return the same result hash.
    Verified,
}

impl From<Tier> for u8 {
    fn from(tier: Tier) -> u8 {
        match tier {
            Tier::Fast => 0,
            Tier::Verified => 1,
        }
    }
}

impl TryFrom<u8> for Tier {
    type Error = String;

    fn try_from(v: u8) -> Result<Self, Self::Error> {
        match v {
            0 => Ok(Tier::Fast),
            1 => Ok(Tier::Verified),
            other => Err(format!("unknown tier {other}")),
        }
    }
}

impl std::str::FromStr for Tier {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "fast" => Ok(Tier::Fast),
            "verified" => Ok(Tier::Verified),
            other => Err(format!("unknown tier {other:?} (expected \"fast\" or \"verified\")")),
        }
    }
}

/// Resource limits of one function, as the owner asks for them. Workers cap each by their own
/// policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Fuel (wasmtime instruction-cost units) per call: the deterministic CPU budget.
    pub fuel: u64,
    /// Largest linear memory, in bytes.
    pub memory_bytes: u64,
    /// Wall-clock budget per call, in milliseconds.
    pub timeout_ms: u64,
    /// Largest request body, in bytes.
    pub max_request_bytes: u64,
    /// Largest response body, in bytes.
    pub max_response_bytes: u64,
}

impl Default for Limits {
    /// Generous defaults for ordinary HTTP handlers: about a quarter second of CPU, 128 MiB of
    /// memory, 10 s wall clock, 8 MiB bodies.
    fn default() -> Self {
        Self {
            fuel: 2_000_000_000,
            memory_bytes: 128 << 20,
            timeout_ms: 10_000,
            max_request_bytes: 8 << 20,
            max_response_bytes: 8 << 20,
        }
    }
}

impl Limits {
    fn validate(&self) -> Result<(), Invalid> {
        if self.fuel == 0 || self.memory_bytes == 0 || self.timeout_ms == 0 {
            return Err(Invalid::new("limits", "fuel, memory and timeout must be positive"));
        }
        if self.memory_bytes > 4 << 30 {
            return Err(Invalid::new(
                "limits.memory_bytes",
                "exceeds the 4 GiB wasm32 address space",
            ));
        }
        if self.timeout_ms > 15 * 60 * 1000 {
            return Err(Invalid::new("limits.timeout_ms", "exceeds 15 minutes"));
        }
        if self.max_request_bytes > MAX_BODY_LEN || self.max_response_bytes > MAX_BODY_LEN {
            return Err(Invalid::new("limits", format!("body limits exceed {MAX_BODY_LEN} bytes")));
        }
        Ok(())
    }
}

/// One function of a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FunctionSpec {
    /// Function name (URL segment).
    pub name: String,
    /// BLAKE3 hash of the `wasi:http/proxy` component.
    pub component: BlobHash,
    /// Size of the component in bytes.
    pub component_size: u64,
    /// Resource limits.
    pub limits: Limits,
    /// Result acceptance tier.
    pub tier: Tier,
    /// Price per call in the payment token's smallest unit (USDC: 6 decimals); 0 = free.
    pub price: u64,
    /// What the function does, for people and agents (MCP tool description). May be empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// JSON Schema of the JSON body the function takes (MCP tool input schema), as JSON text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_schema: Option<String>,
    /// The function has effects outside the sandbox (outbound HTTP): it runs on one worker and
    /// its results are never hash-voted. `false` means `pure`: deterministic by contract.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub effectful: bool,
    /// Hosts an effectful function may reach with `wasi:http` outgoing requests, as `host` (any
    /// port) or `host:port`. Empty: no network.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_hosts: Vec<String>,
    /// Names of the project secrets the function reads from its environment. Only workers
    /// the owner sealed every one of them to run it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<String>,
    /// Smallest bond (token units) a worker must hold to race this function on a
    /// chain-connected network; 0 = the network's minimum. It can only raise that minimum.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub min_bond: u64,
    /// Tiers a caller may ask for per request (`x-peerhost-tier`) besides `tier`, the default.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tiers: Vec<Tier>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl FunctionSpec {
    /// A free, pure, fast-tier function of `component` with default limits and nothing else
    /// declared: the starting point a manifest's settings are applied to.
    pub fn new(name: impl Into<String>, component: &[u8]) -> Self {
        Self {
            name: name.into(),
            component: BlobHash::of(component),
            component_size: component.len() as u64,
            limits: Limits::default(),
            tier: Tier::Fast,
            price: 0,
            description: String::new(),
            input_schema: None,
            effectful: false,
            allowed_hosts: Vec::new(),
            secrets: Vec::new(),
            min_bond: 0,
            tiers: Vec::new(),
        }
    }

    /// The tier a call runs in when its caller asks for `requested` (`None`: the default).
    ///
    /// # Errors
    ///
    /// A sentence for the caller when the function does not offer that tier.
    pub fn tier_for(&self, requested: Option<Tier>) -> Result<Tier, &'static str> {
        match requested {
            None => Ok(self.tier),
            Some(Tier::Verified) if self.effectful => {
                Err("effectful functions run once and cannot be verified")
            }
            Some(tier) if tier == self.tier || self.tiers.contains(&tier) => Ok(tier),
            Some(_) => Err("the function's manifest does not offer that tier"),
        }
    }

    fn validate(&self) -> Result<(), Invalid> {
        check_name("functions.name", &self.name)?;
        self.limits.validate()?;
        if self.description.len() > MAX_DESCRIPTION_LEN {
            return Err(Invalid::new(
                "functions.description",
                format!("exceeds {MAX_DESCRIPTION_LEN} bytes"),
            ));
        }
        if let Some(schema) = &self.input_schema
            && (schema.is_empty() || schema.len() > MAX_INPUT_SCHEMA_LEN)
        {
            return Err(Invalid::new(
                "functions.input_schema",
                format!("must be 1 to {MAX_INPUT_SCHEMA_LEN} bytes of JSON"),
            ));
        }
        if self.effectful && (self.tier == Tier::Verified || self.tiers.contains(&Tier::Verified)) {
            return Err(Invalid::new(
                "functions.effectful",
                "effectful functions run once and cannot use the verified tier",
            ));
        }
        if self.tiers.len() > 2 {
            return Err(Invalid::new("functions.tiers", "at most two tiers"));
        }
        if !self.allowed_hosts.is_empty() && !self.effectful {
            return Err(Invalid::new(
                "functions.allowed_hosts",
                "only effectful functions may reach the network",
            ));
        }
        if self.allowed_hosts.len() > MAX_ALLOWED_HOSTS {
            return Err(Invalid::new(
                "functions.allowed_hosts",
                format!("at most {MAX_ALLOWED_HOSTS} hosts"),
            ));
        }
        for host in &self.allowed_hosts {
            check_host(host)?;
        }
        if self.secrets.len() > crate::MAX_SECRETS {
            return Err(Invalid::new("functions.secrets", "too many secrets"));
        }
        for name in &self.secrets {
            crate::check_secret_name(name)
                .map_err(|e| Invalid::new("functions.secrets", e.to_string()))?;
        }
        Ok(())
    }
}

/// An allow-list entry: `host` or `host:port`, lower-case DNS name or IPv4 address.
fn check_host(entry: &str) -> Result<(), Invalid> {
    let bad =
        || Invalid::new("functions.allowed_hosts", format!("{entry:?} is not host or host:port"));
    let (host, port) = match entry.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (entry, None),
    };
    if let Some(port) = port
        && port.parse::<u16>().map_or(true, |p| p == 0)
    {
        return Err(bad());
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    if host.is_empty() || host.len() > 253 || !host.split('.').all(label_ok) {
        return Err(bad());
    }
    Ok(())
}

/// The manifest blob at the head of a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleManifest {
    /// Project name.
    pub project: String,
    /// Functions, sorted by name, names unique.
    pub functions: Vec<FunctionSpec>,
}

impl BundleManifest {
    /// The function called `name`.
    pub fn function(&self, name: &str) -> Option<&FunctionSpec> {
        self.functions
            .binary_search_by(|f| f.name.as_str().cmp(name))
            .ok()
            .map(|i| &self.functions[i])
    }

    /// BLAKE3 hash of the manifest blob.
    pub fn hash(&self) -> BlobHash {
        BlobHash::of(&codec::encode(self))
    }

    /// The bundle hash: the hash sequence `[manifest, components…]`.
    pub fn bundle_hash(&self) -> BlobHash {
        BlobHash::of_sequence(&self.sequence())
    }

    /// The members of the bundle's hash sequence, in order.
    pub fn sequence(&self) -> Vec<BlobHash> {
        std::iter::once(self.hash()).chain(self.functions.iter().map(|f| f.component)).collect()
    }
}

impl Wire for BundleManifest {
    const MAX_BYTES: usize = 64 * 1024;

    fn validate(&self) -> Result<(), Invalid> {
        check_name("project", &self.project)?;
        if self.functions.is_empty() || self.functions.len() > MAX_FUNCTIONS {
            return Err(Invalid::new(
                "functions",
                format!("must hold 1 to {MAX_FUNCTIONS} functions"),
            ));
        }
        for f in &self.functions {
            f.validate()?;
        }
        if !self.functions.windows(2).all(|w| w[0].name < w[1].name) {
            return Err(Invalid::new("functions", "names must be unique and sorted"));
        }
        Ok(())
    }
}

impl Wire for FunctionSpec {
    const MAX_BYTES: usize = 1024 + MAX_DESCRIPTION_LEN + MAX_INPUT_SCHEMA_LEN;

    fn validate(&self) -> Result<(), Invalid> {
        FunctionSpec::validate(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str) -> FunctionSpec {
        FunctionSpec { component_size: 1, ..FunctionSpec::new(name, name.as_bytes()) }
    }

    #[test]
    fn only_effectful_fast_functions_reach_allow_listed_hosts() {
        let mut f = spec("a");
        f.allowed_hosts = vec!["api.example.com".into()];
        assert!(Wire::validate(&f).is_err(), "a pure function has no network");
        f.effectful = true;
        Wire::validate(&f).unwrap();
        let back: FunctionSpec = codec::decode(&codec::encode(&f)).unwrap();
        assert_eq!(back, f);
        f.tier = Tier::Verified;
        assert!(Wire::validate(&f).is_err(), "effectful results are never voted on");
        f.tier = Tier::Fast;
        for good in ["127.0.0.1:8080", "localhost", "a-b.example.org:443"] {
            f.allowed_hosts = vec![good.into()];
            Wire::validate(&f).unwrap();
        }
        for bad in ["", "Example.com", "a..b", "-a.com", "host:0", "host:99999", "a b", "h/x"] {
            f.allowed_hosts = vec![bad.into()];
            assert!(Wire::validate(&f).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn optional_fields_are_omitted_when_empty() {
        let plain = spec("a");
        let mut described = spec("a");
        described.description = "says hello".into();
        described.input_schema = Some("{\"type\":\"object\"}".into());
        assert!(codec::encode(&described).len() > codec::encode(&plain).len());
        let back: FunctionSpec = codec::decode(&codec::encode(&described)).unwrap();
        assert_eq!(back, described);
        described.description = "x".repeat(MAX_DESCRIPTION_LEN + 1);
        assert!(Wire::validate(&described).is_err());
    }

    #[test]
    fn lookup_and_bundle_hash() {
        let m = BundleManifest { project: "p".into(), functions: vec![spec("a"), spec("b")] };
        m.validate().unwrap();
        assert_eq!(m.function("b").unwrap().name, "b");
        assert!(m.function("c").is_none());
        assert_eq!(m.sequence().len(), 3);
        assert_eq!(m.bundle_hash(), BlobHash::of_sequence(&m.sequence()));
    }

    #[test]
    fn refuses_duplicates_and_bad_limits() {
        let m = BundleManifest { project: "p".into(), functions: vec![spec("a"), spec("a")] };
        assert!(m.validate().is_err());
        let mut f = spec("a");
        f.limits.memory_bytes = 8 << 30;
        let m = BundleManifest { project: "p".into(), functions: vec![f] };
        assert!(m.validate().is_err());
    }

    #[test]
    fn tier_encodes_as_an_integer() {
        let bytes = codec::encode(&spec("a"));
        let back: FunctionSpec = codec::decode(&bytes).unwrap();
        assert_eq!(back.tier, Tier::Fast);
        let mut bad = spec("a");
        bad.tier = Tier::Verified;
        let mut bytes = codec::encode(&bad);
        // The tier is the only `0x01` following key `0x04`; make it an unknown tier 2.
        let pos = bytes.windows(2).position(|w| w == [0x04, 0x01]).unwrap();
        bytes[pos + 1] = 0x02;
        assert!(codec::decode::<FunctionSpec>(&bytes).is_err());
    }
}
