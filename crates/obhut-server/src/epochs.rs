//! Retention epochs: the vault makes each class's epoch keys on its own
//! schedule (key file first, then the public row and its `epoch-created`
//! audit entry in one transaction) and serves their public halves at
//! `GET /v1/epochs` (docs/vault.md §3, §8), so devices can seal.
//!
//! Nothing unauthenticated makes an epoch (issue 16: anonymous calls with
//! `at` made the vault write key files and rows at will). The schedule
//! gives each class the epochs of the current and the next period (at
//! start, hourly, and when a device enrols with its token); an anonymous
//! `GET /v1/epochs` only reads. A device-signed one, from an enrolled
//! device of that class, may also make the epoch covering a capture time
//! within the policy's window (`max_capture_age_secs`), for footage from a
//! period the schedule did not cover (the vault was down, or the class
//! was new); it is logged with the device as actor.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, Request, State};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use obhut_api::ErrorKind;
use obhut_api::ingest::{EpochJson, EpochsQuery, EpochsResponse};
use obhut_core::audit::{Event, Role};
use obhut_core::ids::EpochId;
use obhut_core::vault::body_sha256;
use obhut_store::{BlobStore, EpochRow, EpochState, IndexStore};

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

/// Who an epoch is made for: the vault's schedule, or a device.
pub type Actor = (Role, [u8; 32]);

/// `GET /v1/epochs?class=C[&at=T]` (public keys). Anonymous: reads only.
/// Device-signed (docs/vault.md §2) by an enrolled device of class C: may
/// make the epochs it asks for (module docs).
pub async fn epochs<I: IndexStore, B: BlobStore>(
    State(app): State<Arc<App<I, B>>>,
    req: Request,
) -> ApiResult<Json<EpochsResponse>> {
    let (parts, _) = req.into_parts();
    let Query(q) = Query::<EpochsQuery>::try_from_uri(&parts.uri)
        .map_err(|e| bad(ErrorKind::BadRequest, format!("query: {e}")))?;
    if !app.class_known(&q.class).await? {
        return Err(bad(
            ErrorKind::UnknownClass,
            format!("retention class {:?} is not served by this vault", q.class),
        ));
    }
    let device = if parts.headers.contains_key("obhut-device") {
        Some(app.authenticate_device(&parts, &body_sha256(&[])).await?)
    } else {
        None
    };
    if q.at.is_some() && device.is_none() {
        return Err(ApiError::new(
            ErrorKind::BadSignature,
            "GET /v1/epochs?at= names a past or future period: it needs a device-signed request \
             (docs/vault.md §2) from an enrolled device; without `at` the current and next \
             public keys are served to anyone",
        ));
    }
    let maker: Option<Actor> = device
        .filter(|d| d.retention_class == q.class)
        .map(|d| (Role::Device, d.device_key));
    let (cur, next) = match maker {
        Some(actor) => app.ensure_epochs_as(&q.class, actor).await?,
        None => {
            let period = app.config.period_of(&q.class);
            let start = app.clock.now_ms().div_euclid(period) * period;
            (
                app.stored_epoch(&q.class, start).await?,
                app.stored_epoch(&q.class, start + period).await?,
            )
        }
    };
    let covering = match q.at {
        Some(t) => Some(epoch_json(app.epoch_covering(&q.class, t, maker).await?)),
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
    /// the next one exist (key file first, then the public row with its
    /// audit entry). Returns (current, next). The schedule's and
    /// enrolment's: logged with the vault as actor.
    pub async fn ensure_epochs(&self, class: &str) -> ApiResult<(EpochRow, EpochRow)> {
        let actor = (
            Role::Vault,
            self.keystore.vault_key().verify_key().to_bytes(),
        );
        self.ensure_epochs_as(class, actor).await
    }

    /// [`App::ensure_epochs`], logged with `actor` as the one who caused
    /// any epoch made.
    async fn ensure_epochs_as(&self, class: &str, actor: Actor) -> ApiResult<(EpochRow, EpochRow)> {
        let _guard = self.sequencing.lock_epochs().await?;
        let period = self.config.period_of(class);
        let start = self.clock.now_ms().div_euclid(period) * period;
        let cur = self
            .ensure_epoch_locked(class, start, period, actor)
            .await?;
        let next = self
            .ensure_epoch_locked(class, start + period, period, actor)
            .await?;
        Ok((cur, next))
    }

    /// The stored epoch of `class` starting at `not_before`, or
    /// `422 unknown-epoch` saying that it is made on the schedule.
    async fn stored_epoch(&self, class: &str, not_before: i64) -> ApiResult<EpochRow> {
        let row = self.index.epoch_at(class, not_before).await?;
        if let Some(e) = &row {
            self.check_live(e)?;
        }
        row.ok_or_else(|| {
            ApiError::new(
                ErrorKind::UnknownEpoch,
                format!(
                    "the vault has no epoch of class {class:?} starting at {not_before} (UTC ms) yet; \
                     it makes each class's epochs for the current and the next period at start and \
                     hourly: retry later"
                ),
            )
        })
    }

    /// The stored epoch of `class` covering capture time `t`, for footage
    /// recorded earlier and uploaded now (a bodycam docked after a shift
    /// that crossed midnight, a camera offline for days). Refused for `t`
    /// older than `max_capture_age` or later than the end of the next
    /// period (a device clock that runs ahead). A missing one is made only
    /// for `maker` (an authenticated device of the class); otherwise
    /// `422 unknown-epoch`.
    pub async fn epoch_covering(
        &self,
        class: &str,
        t: i64,
        maker: Option<Actor>,
    ) -> ApiResult<EpochRow> {
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
        if let Some(actor) = maker {
            let _guard = self.sequencing.lock_epochs().await?;
            return self.ensure_epoch_locked(class, nb, period, actor).await;
        }
        let row = self.index.epoch_at(class, nb).await?;
        if let Some(e) = &row {
            self.check_live(e)?;
        }
        row.ok_or_else(|| {
            ApiError::new(
                ErrorKind::UnknownEpoch,
                format!(
                    "the vault has no epoch of class {class:?} for the period of capture time {t} \
                     (UTC ms), from {nb}: it makes epochs on its schedule (the current and the next \
                     period) and for the enrolled devices of the class that ask with a signed \
                     request, never for anonymous ones; retry later, or ask as the device"
                ),
            )
        })
    }

    /// The epoch of `class` starting at `not_before`, created if missing.
    /// The caller holds the epoch lock
    /// ([`crate::sequencing::Sequencing::lock_epochs`]).
    async fn ensure_epoch_locked(
        &self,
        class: &str,
        not_before: i64,
        period: i64,
        (role, key): Actor,
    ) -> ApiResult<EpochRow> {
        if let Some(e) = self.index.epoch_at(class, not_before).await? {
            self.check_live(&e)?;
            return Ok(e);
        }
        let not_after = not_before + period;
        let expires_ms = self.config.expiry_of(class, not_after);
        // Never a key for a period already expired: its footage would be
        // due for deletion at once, and after a clock set back it could be
        // a period whose key was destroyed (the floor remembers).
        let floor = self.index.clock_floor(self.clock.now_ms()).await?;
        if let Some(x) = expires_ms
            && x <= floor
        {
            return Err(ApiError::new(
                ErrorKind::EpochDestroyed,
                format!(
                    "the period of class {class:?} from {not_before} (UTC ms) expired at {x}; the \
                     vault never makes a key for an expired period"
                ),
            ));
        }
        let mut id = [0u8; 16];
        getrandom::fill(&mut id)
            .map_err(|_| ApiError::new(ErrorKind::Internal, "no OS randomness"))?;
        let id = EpochId(id);
        let entry = self.log_entry(
            role,
            key,
            None,
            Event::EpochCreated {
                epoch_id: id,
                retention_class: class.to_owned(),
                not_before,
                not_after,
            },
        )?;
        // Key file first: a row never names a key the keystore lacks.
        let secret = self.keystore.create_epoch(id).map_err(|e| {
            tracing::error!(error = %e, "keystore failure");
            ApiError::new(ErrorKind::Internal, "the vault's keystore failed")
        })?;
        let public = secret.public(class, not_before, not_after);
        let row = EpochRow {
            epoch_id: id,
            retention_class: class.to_owned(),
            not_before,
            not_after,
            public: public.to_bytes(),
            expires_ms,
            state: EpochState::Live,
            destroyed_ms: None,
        };
        self.index.put_epoch(&row, &entry).await?;
        self.log.wake();
        tracing::info!(epoch = %id, class, not_before, "epoch created");
        Ok(row)
    }

    /// `410 epoch-destroyed` for an epoch past live or expired by the
    /// clock (the sweeper may not have run yet): its key is (about to be)
    /// destroyed and must not be handed out for sealing.
    fn check_live(&self, e: &EpochRow) -> ApiResult<()> {
        let expired = e.expires_ms.is_some_and(|x| x <= self.clock.now_ms());
        if e.state != EpochState::Live || expired {
            return Err(ApiError::new(
                ErrorKind::EpochDestroyed,
                format!(
                    "epoch {} of class {:?} ({}..{}) has expired{}; a period is never issued a \
                     second key",
                    e.epoch_id,
                    e.retention_class,
                    e.not_before,
                    e.not_after,
                    e.destroyed_ms
                        .map(|t| format!(" and its key was destroyed at {t} (UTC ms)"))
                        .unwrap_or_default()
                ),
            ));
        }
        Ok(())
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

    /// Create the epochs of every known class ahead of time (the
    /// schedule: at start and hourly).
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
