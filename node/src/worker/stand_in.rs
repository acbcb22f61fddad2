//! A worker without a sandbox or a blob store (`test-utils` feature): what lets one process
//! run a thousand real workers — real mesh, admission, racing, receipts — for simnet's live
//! mode, where a wasmtime engine (its pooling reservations) and an iroh endpoint per worker
//! would not fit.

use std::{collections::HashMap, sync::Arc, time::Duration};

use bytes::Bytes;
use peerhost_protocol::DeclineReason;

use super::bundles::Loaded;
use crate::{
    blobs::Bundle,
    dispatch::Deployment,
    executor::{Prepared, Runner},
    sandbox::SandboxConfig,
};

/// How a stand-in worker behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StandIn {
    /// How long a call takes.
    pub exec: Duration,
    /// How long getting a bundle not yet held takes.
    pub fetch: Duration,
}

impl StandIn {
    pub(super) fn runner(&self, sandbox: &SandboxConfig) -> Runner {
        Runner::StandIn { config: sandbox.clone(), exec: self.exec }
    }

    /// The bundle of `deployment`, "fetched": its manifest, with empty components.
    pub(super) async fn load(
        &self,
        deployment: Option<Arc<Deployment>>,
    ) -> Result<Loaded, DeclineReason> {
        let deployment = deployment.ok_or(DeclineReason::BundleUnavailable)?;
        tokio::time::sleep(self.fetch).await;
        let manifest = deployment.record.manifest.clone();
        let components = vec![Bytes::new(); manifest.functions.len()];
        let compiled: HashMap<_, _> =
            manifest.functions.iter().map(|f| (f.name.clone(), Ok(Prepared::StandIn))).collect();
        Ok(Loaded { bundle: Bundle { manifest, components }, compiled })
    }
}
