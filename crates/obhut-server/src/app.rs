//! The vault's shared state: stores, keystore, clock, configuration,
//! metrics, the audit log service and the sequencing locks (sequencing.rs); and the
//! few operations every handler module uses (audit entries, pinned
//! groups). Epoch creation is in `epochs.rs`, authentication in `auth.rs`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use obhut_api::ErrorKind;
use obhut_core::group::PinnedGroup;
use obhut_core::ids::{GroupId, RecordingId};
use obhut_store::{BlobStore, IndexStore};

use crate::clock::Clock;
use crate::config::ServerConfig;
use crate::error::{ApiError, ApiResult};
use crate::keystore::Keystore;
use crate::log::service::{LogService, default_origin, entry};
use crate::metrics;
use crate::sequencing::Sequencing;

/// The vault's shared state.
pub struct App<I, B> {
    /// The index.
    pub index: I,
    /// The blobs.
    pub blobs: B,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// Configuration.
    pub config: ServerConfig,
    /// Receipt key and epoch secrets.
    pub keystore: Keystore,
    /// Metrics registry.
    pub metrics: metrics::Metrics,
    groups: Mutex<HashMap<GroupId, Arc<PinnedGroup>>>,
    /// The locks and signals of per-recording publication, upload order,
    /// epoch creation and the log's integrator: in memory, or also in the
    /// database several vault processes share (sequencing.rs).
    pub(crate) sequencing: Sequencing,
    /// The audit log (log/service.rs).
    pub log: LogService,
    /// The outcome of the last write request, for `/readyz`.
    pub(crate) writes: crate::write_health::WriteHealth,
    /// The nonces of recent reads (replay.rs).
    pub replay: crate::replay::ReplayGuard,
}

impl<I: IndexStore, B: BlobStore> App<I, B> {
    /// Assemble the state. Fails only if the configured `log_origin` is
    /// not a valid signed-note key name.
    pub fn new(
        index: I,
        blobs: B,
        keystore: Keystore,
        config: ServerConfig,
        clock: Arc<dyn Clock>,
    ) -> ApiResult<Self> {
        let origin = config
            .log_origin
            .clone()
            .unwrap_or_else(|| default_origin(keystore.log_key()));
        let metrics = metrics::Metrics::new();
        let log = LogService::new(origin, keystore.log_key(), &config.witnesses)?
            .with_metrics(metrics.log.clone());
        let shared = index.shared_locks();
        Ok(App {
            index,
            blobs,
            config,
            keystore,
            metrics,
            groups: Mutex::new(HashMap::new()),
            sequencing: Sequencing::new(shared),
            log,
            writes: crate::write_health::WriteHealth::default(),
            replay: crate::replay::ReplayGuard::new(clock.now_ms()),
            clock,
        })
    }

    /// Record this process's start durably and raise the replay floor to
    /// it (replay.rs). If the write fails (a full disk at startup), the
    /// floor stays at the clock's reading when the state was made: a clock
    /// set back across this restart is then not caught.
    pub async fn record_start(&self) {
        match self.index.record_start(self.clock.now_ms()).await {
            Ok(start) => self.replay.raise_floor(start),
            Err(e) => tracing::warn!(error = %e, "recording the vault's start"),
        }
    }

    /// Log the policy in effect ([`ServerConfig::policy`]) if it differs
    /// from the last one logged. Failures are logged, not fatal: the vault
    /// still serves, and the next start tries again.
    pub async fn record_policy(&self) {
        let policy = self.config.policy();
        let entry = self.log_entry(
            obhut_core::audit::Role::Vault,
            self.keystore.vault_key().verify_key().to_bytes(),
            None,
            obhut_core::audit::Event::PolicyInEffect {
                policy: policy.clone(),
            },
        );
        match entry {
            Ok(entry) => match self.index.record_policy(&policy, &entry).await {
                Ok(true) => {
                    tracing::info!(%policy, "policy changed; logged");
                    self.log.wake();
                }
                Ok(false) => {}
                Err(e) => tracing::error!(error = %e, "recording the policy"),
            },
            Err(e) => tracing::error!(error = %e, "the policy does not fit an audit entry"),
        }
    }

    /// The audit entry of an event now.
    pub fn log_entry(
        &self,
        role: obhut_core::audit::Role,
        key: [u8; 32],
        recording: Option<RecordingId>,
        event: obhut_core::audit::Event,
    ) -> ApiResult<obhut_store::NewLogEntry> {
        entry(self.clock.now_ms(), role, key, recording, event)
    }

    /// Bound the wait of an upload ahead of the head for its predecessor
    /// (default [`crate::sequencing::DEFAULT_PREDECESSOR_WAIT`]); tests
    /// shorten it.
    pub fn set_predecessor_wait(&self, d: Duration) {
        self.sequencing.set_predecessor_wait(d);
    }

    /// A custody group's pinned descriptor (cached: pinning verifies k
    /// signatures).
    pub async fn pinned_group(&self, id: GroupId) -> ApiResult<Arc<PinnedGroup>> {
        self.pinned_group_cached(id, true).await
    }

    /// The group's descriptor as stored now, replacing the cached one: after
    /// a reshare the admin stores the next generation, and this process
    /// learns of it when a capsule of a later generation arrives.
    pub async fn reload_group(&self, id: GroupId) -> ApiResult<Arc<PinnedGroup>> {
        self.pinned_group_cached(id, false).await
    }

    async fn pinned_group_cached(&self, id: GroupId, cached: bool) -> ApiResult<Arc<PinnedGroup>> {
        let hit = cached
            .then(|| {
                let groups = self.groups.lock().unwrap_or_else(|p| p.into_inner());
                groups.get(&id).cloned()
            })
            .flatten();
        if let Some(g) = hit {
            return Ok(g);
        }
        let row = self.index.group(id).await?.ok_or_else(|| {
            ApiError::new(ErrorKind::Internal, "the device's custody group is missing")
        })?;
        let g = Arc::new(PinnedGroup::from_bytes(&row.descriptor).map_err(|e| {
            tracing::error!(group = %id, error = %e, "stored descriptor does not pin");
            ApiError::new(
                ErrorKind::Internal,
                "the stored custody group does not verify",
            )
        })?);
        self.groups
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, g.clone());
        Ok(g)
    }
}
