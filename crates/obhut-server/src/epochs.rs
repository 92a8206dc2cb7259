//! Retention epochs: the vault makes each class's epoch keys ahead of time
//! (key file first, then the public row) and serves their public halves at
//! `GET /v1/epochs` (docs/vault.md §3, §8), so devices can seal.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use obhut_api::ErrorKind;
use obhut_api::ingest::{EpochJson, EpochsQuery, EpochsResponse};
use obhut_core::ids::EpochId;
use obhut_store::{BlobStore, EpochRow, IndexStore};

use crate::app::App;
use crate::error::{ApiError, ApiResult};
use crate::params::bad;

fn epoch_json(e: obhut_store::EpochRow) -> EpochJson {
    EpochJson {
        epoch_id: e.epoch_id.to_string(),
        not_before: e.not_before,
        not_after: e.not_after,
        public: B64.encode(&e.public),
    }
}

/// `GET /v1/epochs?class=C[&at=T]` (public keys; no authentication).
pub async fn epochs<I: IndexStore, B: BlobStore>(
    State(app): State<Arc<App<I, B>>>,
    Query(q): Query<EpochsQuery>,
) -> ApiResult<Json<EpochsResponse>> {
    if !app.class_known(&q.class).await? {
        return Err(bad(
            ErrorKind::UnknownClass,
            format!("retention class {:?} is not served by this vault", q.class),
        ));
    }
    let (cur, next) = app.ensure_epochs(&q.class).await?;
    let covering = match q.at {
        Some(t) => Some(epoch_json(app.ensure_epoch_covering(&q.class, t).await?)),
        None => None,
    };
    Ok(Json(EpochsResponse {
        class: q.class,
        current: epoch_json(cur),
        next: epoch_json(next),
        covering,
    }))
}

impl<I: IndexStore, B: BlobStore> App<I, B> {
    /// Make sure the epochs of `class` for the period containing `now` and
    /// the next one exist (key file first, then the public row). Returns
    /// (current, next).
    pub async fn ensure_epochs(&self, class: &str) -> ApiResult<(EpochRow, EpochRow)> {
        let _guard = self.sequencing.lock_epochs().await;
        let period = self.config.period_of(class);
        let start = self.clock.now_ms().div_euclid(period) * period;
        let cur = self.ensure_epoch_locked(class, start, period).await?;
        let next = self
            .ensure_epoch_locked(class, start + period, period)
            .await?;
        Ok((cur, next))
    }

    /// The epoch of `class` covering capture time `t`, made if missing, for
    /// footage recorded earlier and uploaded now (a bodycam docked after a
    /// shift that crossed midnight, a camera offline for days). Refused for
    /// `t` older than `max_capture_age` or later than the end of the next
    /// period (a device clock that runs ahead).
    pub async fn ensure_epoch_covering(&self, class: &str, t: i64) -> ApiResult<EpochRow> {
        let _guard = self.sequencing.lock_epochs().await;
        let period = self.config.period_of(class);
        let now = self.clock.now_ms();
        let start = now.div_euclid(period) * period;
        let oldest = now.saturating_sub(self.config.max_capture_age_ms);
        if t < oldest || t >= start.saturating_add(2 * period) {
            return Err(ApiError::new(
                ErrorKind::UnknownEpoch,
                format!(
                    "capture time {t} (UTC ms) is outside what this vault issues epoch keys for: \
                     from {oldest} (now minus max_capture_age_secs = {} s) to the end of the next \
                     period ({}); check the device's clock, or raise max_capture_age_secs in \
                     obhut.toml for footage this old",
                    self.config.max_capture_age_ms / 1000,
                    start.saturating_add(2 * period)
                ),
            ));
        }
        let nb = t.div_euclid(period) * period;
        self.ensure_epoch_locked(class, nb, period).await
    }

    /// The epoch of `class` starting at `not_before`, created if missing.
    /// The caller holds the epoch lock
    /// ([`crate::sequencing::Sequencing::lock_epochs`]).
    async fn ensure_epoch_locked(
        &self,
        class: &str,
        not_before: i64,
        period: i64,
    ) -> ApiResult<EpochRow> {
        if let Some(e) = self.index.epoch_at(class, not_before).await? {
            return Ok(e);
        }
        let mut id = [0u8; 16];
        getrandom::fill(&mut id)
            .map_err(|_| ApiError::new(ErrorKind::Internal, "no OS randomness"))?;
        let id = EpochId(id);
        let secret = self.keystore.create_epoch(id).map_err(|e| {
            tracing::error!(error = %e, "keystore failure");
            ApiError::new(ErrorKind::Internal, "the vault's keystore failed")
        })?;
        let not_after = not_before + period;
        let public = secret.public(class, not_before, not_after);
        let row = EpochRow {
            epoch_id: id,
            retention_class: class.to_owned(),
            not_before,
            not_after,
            public: public.to_bytes(),
        };
        self.index.put_epoch(&row).await?;
        tracing::info!(epoch = %id, class, not_before, "epoch created");
        Ok(row)
    }

    /// Whether `class` is served: configured, or used by a device or an
    /// unexpired token.
    pub async fn class_known(&self, class: &str) -> ApiResult<bool> {
        if self.config.epoch_period_ms.contains_key(class) {
            return Ok(true);
        }
        Ok(self
            .index
            .known_classes(self.clock.now_ms())
            .await?
            .iter()
            .any(|c| c == class))
    }

    /// Create the epochs of every known class ahead of time.
    pub async fn ensure_all_epochs(&self) -> ApiResult<()> {
        let mut classes: Vec<String> = self.config.epoch_period_ms.keys().cloned().collect();
        classes.extend(self.index.known_classes(self.clock.now_ms()).await?);
        classes.sort();
        classes.dedup();
        for c in classes {
            self.ensure_epochs(&c).await?;
        }
        Ok(())
    }
}
