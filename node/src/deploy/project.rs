//! Project folders: `functions/<name>.wasm` (a ready component), `functions/<name>.js` (a
//! JavaScript module with a fetch handler, built with componentize-js) or `functions/<name>/`
//! (a Rust crate built for `wasm32-wasip2`), plus an optional `peerhost.toml` with
//! per-function settings. `functions/<stem>` becomes the function `<stem>`.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use peerhost_protocol::{Limits, Owner, Tier, check_name};
use serde::Deserialize;

use super::DeployError;

/// Where a function's component comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A prebuilt component.
    Wasm(PathBuf),
    /// A Rust crate to build.
    Crate(PathBuf),
    /// A JavaScript module to build into a `wasi:http` component.
    JavaScript(PathBuf),
}

/// One function of a project, before building.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionSource {
    /// Function name (the file stem).
    pub name: String,
    /// Its source.
    pub source: Source,
    /// Limits from `peerhost.toml` (or defaults).
    pub limits: Limits,
    /// Tier.
    pub tier: Tier,
    /// Price per call (token base units).
    pub price: u64,
    /// Description (MCP tool description).
    pub description: String,
    /// JSON Schema of the JSON body, as JSON text.
    pub input_schema: Option<String>,
    /// Outbound HTTP allowed (not hash-voted).
    pub effectful: bool,
    /// Hosts an effectful function may reach.
    pub allowed_hosts: Vec<String>,
    /// Names of the project secrets it reads from its environment.
    pub secrets: Vec<String>,
    /// Smallest worker bond (token units) that may race it; 0 = the network's minimum.
    pub min_bond: u64,
    /// Tiers callers may ask for besides `tier`.
    pub tiers: Vec<Tier>,
}

/// A project folder, read and checked.
#[derive(Debug, Clone)]
pub struct Project {
    /// Project name.
    pub name: String,
    /// The folder.
    pub dir: PathBuf,
    /// Functions, sorted by name.
    pub functions: Vec<FunctionSource>,
    /// Where payments are credited (`None`: the deploying owner).
    pub payout: Option<Owner>,
}

/// `peerhost.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProjectFile {
    #[serde(default)]
    project: ProjectSection,
    #[serde(default)]
    defaults: Settings,
    #[serde(default)]
    functions: BTreeMap<String, Settings>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProjectSection {
    name: Option<String>,
    /// Address credited with payments (default: the owner).
    payout: Option<String>,
}

/// Per-function settings; unset fields fall back to `[defaults]`, then to built-in defaults.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    tier: Option<String>,
    fuel: Option<u64>,
    memory_mb: Option<u64>,
    timeout_ms: Option<u64>,
    max_request_kb: Option<u64>,
    max_response_kb: Option<u64>,
    /// USDC per call, as text: `"0.01"`.
    price: Option<String>,
    description: Option<String>,
    /// JSON Schema of the body, as a TOML table.
    input_schema: Option<toml::Table>,
    /// The function makes outbound HTTP requests.
    effectful: Option<bool>,
    /// `host` or `host:port` entries it may reach (implies `effectful`).
    allowed_hosts: Option<Vec<String>>,
    /// Secret names it reads from its environment.
    secrets: Option<Vec<String>>,
    /// Smallest worker bond that may race it, USDC as text: `"25"`.
    min_bond: Option<String>,
    /// Tiers callers may ask for per request (`x-peerhost-tier`), e.g. `["fast", "verified"]`.
    tiers: Option<Vec<String>>,
}

impl Settings {
    fn or(&self, fallback: &Settings) -> Settings {
        Settings {
            tier: self.tier.clone().or_else(|| fallback.tier.clone()),
            fuel: self.fuel.or(fallback.fuel),
            memory_mb: self.memory_mb.or(fallback.memory_mb),
            timeout_ms: self.timeout_ms.or(fallback.timeout_ms),
            max_request_kb: self.max_request_kb.or(fallback.max_request_kb),
            max_response_kb: self.max_response_kb.or(fallback.max_response_kb),
            price: self.price.clone().or_else(|| fallback.price.clone()),
            description: self.description.clone().or_else(|| fallback.description.clone()),
            input_schema: self.input_schema.clone().or_else(|| fallback.input_schema.clone()),
            effectful: self.effectful.or(fallback.effectful),
            allowed_hosts: self.allowed_hosts.clone().or_else(|| fallback.allowed_hosts.clone()),
            secrets: self.secrets.clone().or_else(|| fallback.secrets.clone()),
            min_bond: self.min_bond.clone().or_else(|| fallback.min_bond.clone()),
            tiers: self.tiers.clone().or_else(|| fallback.tiers.clone()),
        }
    }

    /// The function `name` built from `source` with these settings.
    fn resolve(&self, name: String, source: Source) -> Result<FunctionSource, DeployError> {
        let invalid = |reason: String| DeployError::Settings {
            reason: format!("function '{name}': {reason}"),
        };
        let d = Limits::default();
        let limits = Limits {
            fuel: self.fuel.unwrap_or(d.fuel),
            memory_bytes: self.memory_mb.map_or(d.memory_bytes, |mb| mb << 20),
            timeout_ms: self.timeout_ms.unwrap_or(d.timeout_ms),
            max_request_bytes: self.max_request_kb.map_or(d.max_request_bytes, |kb| kb << 10),
            max_response_bytes: self.max_response_kb.map_or(d.max_response_bytes, |kb| kb << 10),
        };
        let tier = match &self.tier {
            Some(t) => t.parse().map_err(invalid)?,
            None => Tier::Fast,
        };
        let price = match &self.price {
            Some(text) => crate::usdc::parse(text).map_err(|e| invalid(format!("price: {e}")))?,
            None => 0,
        };
        let min_bond = match &self.min_bond {
            Some(text) => {
                crate::usdc::parse(text).map_err(|e| invalid(format!("min_bond: {e}")))?
            }
            None => 0,
        };
        let mut tiers = Vec::new();
        for text in self.tiers.iter().flatten() {
            let t: Tier = text.parse().map_err(|e| invalid(format!("tiers: {e}")))?;
            if t != tier && !tiers.contains(&t) {
                tiers.push(t);
            }
        }
        let input_schema = match &self.input_schema {
            Some(table) => Some(
                serde_json::to_string(table).map_err(|e| invalid(format!("input_schema: {e}")))?,
            ),
            None => None,
        };
        Ok(FunctionSource {
            name,
            source,
            limits,
            tier,
            price,
            description: self.description.clone().unwrap_or_default(),
            input_schema,
            // Allow-listing a host is asking for the network: it makes the function effectful.
            effectful: self.effectful.unwrap_or(false) || self.allowed_hosts.is_some(),
            allowed_hosts: self.allowed_hosts.clone().unwrap_or_default(),
            secrets: self.secrets.clone().unwrap_or_default(),
            min_bond,
            tiers,
        })
    }
}

/// Reads `dir` as a project.
///
/// # Errors
///
/// A [`DeployError`] that names the offending file or setting.
pub fn load(dir: &Path) -> Result<Project, DeployError> {
    let io = |path: &Path, e: std::io::Error| DeployError::Io { path: path.to_owned(), source: e };
    // Absolute paths: builds run with the function's crate as working directory.
    let dir = &dir.canonicalize().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => DeployError::NoFunctions(dir.to_owned()),
        _ => io(dir, e),
    })?;
    let settings_path = dir.join("peerhost.toml");
    let file: ProjectFile = match std::fs::read_to_string(&settings_path) {
        Ok(text) => toml::from_str(&text).map_err(|e| DeployError::Settings {
            reason: format!("{}: {e}", settings_path.display()),
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => ProjectFile::default(),
        Err(e) => return Err(io(&settings_path, e)),
    };
    let name = match file.project.name {
        Some(name) => name,
        None => dir.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned(),
    };
    check_name("project", &name)
        .map_err(|e| DeployError::InvalidName { path: dir.to_owned(), reason: e.to_string() })?;
    let payout = match &file.project.payout {
        Some(text) => Some(text.parse::<Owner>().map_err(|_| DeployError::Settings {
            reason: format!("[project] payout {text:?} is not an address (0x and 40 hex digits)"),
        })?),
        None => None,
    };

    let functions_dir = dir.join("functions");
    let entries = std::fs::read_dir(&functions_dir).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => DeployError::NoFunctions(dir.to_owned()),
        _ => io(&functions_dir, e),
    })?;
    let mut found: BTreeMap<String, (PathBuf, Source)> = BTreeMap::new();
    for entry in entries {
        let path = entry.map_err(|e| io(&functions_dir, e))?.path();
        let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        if file_name.starts_with('.') {
            continue;
        }
        let (stem, source) = if path.is_dir() {
            if !path.join("Cargo.toml").is_file() {
                return Err(DeployError::Unsupported {
                    path,
                    reason: "a function folder must be a Rust crate (with Cargo.toml)".into(),
                });
            }
            (file_name.clone(), Source::Crate(path.clone()))
        } else {
            match file_name.rsplit_once('.') {
                Some((stem, "wasm")) => (stem.to_owned(), Source::Wasm(path.clone())),
                Some((stem, "js" | "mjs")) => (stem.to_owned(), Source::JavaScript(path.clone())),
                Some((_, "ts" | "mts")) => {
                    return Err(DeployError::Unsupported {
                        path,
                        reason: "TypeScript is not built here: compile it to a JavaScript module \
                                 (e.g. with tsc) and place the .js file in functions/"
                            .into(),
                    });
                }
                _ => {
                    return Err(DeployError::Unsupported {
                        path,
                        reason: "expected <name>.wasm, <name>.js or a Rust crate folder".into(),
                    });
                }
            }
        };
        check_name("function", &stem)
            .map_err(|e| DeployError::InvalidName { path: path.clone(), reason: e.to_string() })?;
        if let Some((other, _)) = found.get(&stem) {
            return Err(DeployError::Collision { name: stem, first: other.clone(), second: path });
        }
        found.insert(stem, (path, source));
    }
    if found.is_empty() {
        return Err(DeployError::NoFunctions(dir.to_owned()));
    }
    if let Some(unknown) = file.functions.keys().find(|k| !found.contains_key(*k)) {
        return Err(DeployError::Settings {
            reason: format!(
                "peerhost.toml configures [functions.{unknown}], but functions/ has no such function"
            ),
        });
    }
    let functions = found
        .into_iter()
        .map(|(name, (_, source))| {
            let settings =
                file.functions.get(&name).cloned().unwrap_or_default().or(&file.defaults);
            settings.resolve(name, source)
        })
        .collect::<Result<Vec<_>, DeployError>>()?;
    Ok(Project { name, dir: dir.to_owned(), functions, payout })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::Builder::new().prefix("proj").tempdir().unwrap();
        // Temp dir names are not valid project names; name the project unless a test does.
        if !files.iter().any(|(path, _)| *path == "peerhost.toml") {
            std::fs::write(dir.path().join("peerhost.toml"), "[project]\nname = \"p\"\n").unwrap();
        }
        for (path, content) in files {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, content).unwrap();
        }
        dir
    }

    #[test]
    fn allow_listing_a_host_makes_a_function_effectful() {
        let toml =
            "[project]\nname = \"p\"\n[functions.a]\nallowed_hosts = [\"api.example.com\"]\n";
        let dir =
            project(&[("functions/a.wasm", ""), ("functions/b.wasm", ""), ("peerhost.toml", toml)]);
        let p = load(dir.path()).unwrap();
        assert!(p.functions[0].effectful);
        assert_eq!(p.functions[0].allowed_hosts, ["api.example.com"]);
        assert!(!p.functions[1].effectful, "functions are pure unless marked");
    }

    #[test]
    fn reads_functions_and_settings() {
        let dir = project(&[
            ("functions/a.wasm", ""),
            ("functions/b/Cargo.toml", ""),
            (
                "peerhost.toml",
                "[project]\nname = \"demo\"\npayout = \"0x70997970c51812dc3a010c7d01b50e0d17dc79c8\"\n[defaults]\ntimeout_ms = 50\n[functions.b]\ntier = \"verified\"\nprice = \"0.01\"\ndescription = \"b does\"\ninput_schema = { type = \"object\" }\n",
            ),
        ]);
        let p = load(dir.path()).unwrap();
        assert_eq!(p.name, "demo");
        assert_eq!(p.functions.len(), 2);
        assert_eq!(p.functions[0].limits.timeout_ms, 50);
        assert_eq!((p.functions[1].tier, p.functions[1].price), (Tier::Verified, 10_000));
        assert_eq!(p.functions[1].description, "b does");
        assert_eq!(p.functions[1].input_schema.as_deref(), Some(r#"{"type":"object"}"#));
        assert_eq!(p.payout.unwrap().to_string(), "0x70997970C51812dc3A010C7d01b50e0d17dc79C8");
        assert_eq!(p.functions[1].limits.timeout_ms, 50);
    }

    #[test]
    fn refuses_collisions_bad_names_and_unknown_settings() {
        let dir = project(&[("functions/a.wasm", ""), ("functions/a/Cargo.toml", "")]);
        assert!(matches!(load(dir.path()), Err(DeployError::Collision { .. })));
        let dir = project(&[("functions/Bad_Name.wasm", "")]);
        assert!(matches!(load(dir.path()), Err(DeployError::InvalidName { .. })));
        let dir = project(&[
            ("functions/a.wasm", ""),
            ("peerhost.toml", "[project]\nname = \"p\"\n[functions.zz]\nfuel = 1\n"),
        ]);
        assert!(matches!(load(dir.path()), Err(DeployError::Settings { .. })));
        let dir = project(&[
            ("functions/a.wasm", ""),
            ("peerhost.toml", "[project]\nname = \"p\"\n[defaults]\nfuell = 1\n"),
        ]);
        assert!(matches!(load(dir.path()), Err(DeployError::Settings { .. })));
        let dir = project(&[
            ("functions/a.wasm", ""),
            ("peerhost.toml", "[project]\nname = \"p\"\n[defaults]\nprice = \"0.0000001\"\n"),
        ]);
        assert!(matches!(load(dir.path()), Err(DeployError::Settings { .. })));
        let dir = project(&[("functions/a.ts", "")]);
        assert!(matches!(load(dir.path()), Err(DeployError::Unsupported { .. })));
        let dir = project(&[("functions/a.js", ""), ("functions/a.wasm", "")]);
        assert!(matches!(load(dir.path()), Err(DeployError::Collision { .. })));
        let dir = project(&[("functions/a.js", ""), ("functions/a.mjs", "")]);
        assert!(matches!(load(dir.path()), Err(DeployError::Collision { .. })));
        let dir = project(&[("functions/Hello.js", "")]);
        assert!(matches!(load(dir.path()), Err(DeployError::InvalidName { .. })));
        let dir = project(&[("readme.md", "")]);
        assert!(matches!(load(dir.path()), Err(DeployError::NoFunctions(_))));
    }
}
