//! The worker's config file: `<data dir>/worker.toml` if it exists, or `--config <file>`.
//! Flags given on the command line win over it.
//!
//! ```toml
//! [serve]
//! owners = ["0x1234…"]             # only these owners' functions (default: everyone's)
//! projects = ["0x1234…/shop"]      # only these projects (default: every project)
//!
//! [disk]
//! quota_mb = 4096                  # bundles and compiled components; LRU eviction beyond
//! max_bundle_mb = 64               # refuse larger bundles
//!
//! [prefetch]
//! rank = 3                         # prefetch what this worker is among the first 3 for; 0: all
//!
//! [sandbox]
//! executors = 2                    # confined executor processes (default: one per core)
//! slots = 4                        # calls at once
//! allow_outbound = ["192.168.1.0/24"]
//! ```

use std::path::Path;

use anyhow::Context;
use serde::Deserialize;

use crate::worker::WorkerPolicy;

/// Prefetch rank of a worker whose operator sets none.
pub(super) const DEFAULT_PREFETCH_RANK: usize = 3;

/// The file's contents.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WorkerFile {
    #[serde(default)]
    serve: Serve,
    #[serde(default)]
    disk: Disk,
    #[serde(default)]
    prefetch: Prefetch,
    #[serde(default)]
    pub(super) sandbox: Sandbox,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Serve {
    #[serde(default)]
    owners: Vec<String>,
    #[serde(default)]
    projects: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Disk {
    quota_mb: Option<u64>,
    max_bundle_mb: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Prefetch {
    rank: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Sandbox {
    pub(super) executors: Option<usize>,
    pub(super) slots: Option<usize>,
    #[serde(default)]
    pub(super) allow_outbound: Vec<ipnet::IpNet>,
}

impl WorkerFile {
    /// Reads `explicit`, or `<data dir>/worker.toml` if it exists, or nothing.
    pub(super) fn load(data_dir: &Path, explicit: Option<&Path>) -> anyhow::Result<Self> {
        let default = data_dir.join("worker.toml");
        let path = match explicit {
            Some(path) => path,
            None if default.is_file() => &default,
            None => return Ok(Self::default()),
        };
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        toml::from_str(&text)
            .with_context(|| format!("{} is not a valid worker config", path.display()))
    }

    /// The policy it sets (flags are applied on top by the caller).
    pub(super) fn policy(&self) -> anyhow::Result<WorkerPolicy> {
        let owners = self
            .serve
            .owners
            .iter()
            .map(|o| o.parse().with_context(|| format!("serve.owners: {o:?} is not a 0x address")))
            .collect::<anyhow::Result<_>>()?;
        let projects = self
            .serve
            .projects
            .iter()
            .map(|entry| {
                let (owner, project) = entry.split_once('/').with_context(|| {
                    format!("serve.projects: {entry:?} is not <owner address>/<project>")
                })?;
                let owner = owner.parse().with_context(|| format!("serve.projects: {entry:?}"))?;
                Ok((owner, project.to_owned()))
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(WorkerPolicy {
            owners,
            projects,
            max_bundle_bytes: self.disk.max_bundle_mb.map(|mb| mb << 20),
            disk_quota_bytes: self.disk.quota_mb.map(|mb| mb << 20),
            prefetch_rank: match self.prefetch.rank.unwrap_or(DEFAULT_PREFETCH_RANK) {
                0 => None,
                n => Some(n),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> anyhow::Result<WorkerPolicy> {
        toml::from_str::<WorkerFile>(text)?.policy()
    }

    #[test]
    fn the_example_parses_and_defaults_hold() {
        let owner = "0x1234567890123456789012345678901234567890";
        let policy = parse(&format!(
            "[serve]\nowners = [\"{owner}\"]\nprojects = [\"{owner}/shop\"]\n\
             [disk]\nquota_mb = 10\nmax_bundle_mb = 2\n[prefetch]\nrank = 0\n\
             [sandbox]\nexecutors = 1\nallow_outbound = [\"10.0.0.0/8\"]\n"
        ))
        .unwrap();
        assert_eq!(policy.owners.len(), 1);
        assert_eq!(policy.projects[0].1, "shop");
        assert_eq!(policy.disk_quota_bytes, Some(10 << 20));
        assert_eq!(policy.max_bundle_bytes, Some(2 << 20));
        assert_eq!(policy.prefetch_rank, None);
        let empty = parse("").unwrap();
        assert_eq!(empty.prefetch_rank, Some(DEFAULT_PREFETCH_RANK));
        assert!(empty.owners.is_empty() && empty.disk_quota_bytes.is_none());
    }

    #[test]
    fn mistakes_are_named() {
        let e = parse("[serve]\nowners = [\"alice\"]\n").unwrap_err();
        assert!(format!("{e:#}").contains("alice"), "{e:#}");
        let e = parse("[serve]\nprojects = [\"shop\"]\n").unwrap_err();
        assert!(format!("{e:#}").contains("<owner address>/<project>"), "{e:#}");
        assert!(parse("[disk]\nquota = 3\n").is_err(), "unknown keys are refused");
    }
}
