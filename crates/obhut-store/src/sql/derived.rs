//! [`DerivedStore`] on either SQL engine: `artifacts`, `artifact_sources`
//! (indexed by source recording and by source artifact) and `consents`
//! (migration `20261208200001_derived.sql`). The statements that differ
//! (SQLite's `INSERT OR IGNORE` and index hints) are the engine's.

use obhut_core::artifact::Source;
use obhut_core::ids::{EpochId, GroupId, RecordingId};

use super::Columns;
use super::column::{arr, to_u32};
use super::engine::{Arg, Engine, commit_logged, find, list};
use super::rows::{artifact_head, consent_row, source_row};
use crate::{
    ArtifactRow, BlobKey, ConsentRow, DerivedStore, EpochSource, NewLogEntry, QueuedBlob, Result,
    StoreError,
};

/// Rows of `sql` (binding `bind`) as artifacts with their lineage.
async fn artifacts_where<X: Engine>(
    ix: &X,
    sql: &'static str,
    args: &[Arg<'_>],
) -> Result<Vec<ArtifactRow>> {
    let rows = ix.read_all(sql, args).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let mut a = artifact_head(r)?;
        a.sources = sources_of(ix, a.artifact_id).await?;
        out.push(a);
    }
    Ok(out)
}

async fn sources_of<X: Engine>(ix: &X, id: RecordingId) -> Result<Vec<Source>> {
    ix.read_all(
        "SELECT * FROM artifact_sources WHERE artifact_id = $1 ORDER BY pos",
        &[Arg::Bytes(&id.0)],
    )
    .await?
    .iter()
    .map(source_row)
    .collect()
}

/// Move every segment row of recording `rid` to the deletion queue and
/// remove the recording, inside the caller's transaction.
async fn queue_recording<X: Engine>(tx: &mut X::Tx, rid: RecordingId) -> Result<Vec<QueuedBlob>> {
    let id = [Arg::Bytes(&rid.0)];
    let rows = X::all(
        tx,
        "SELECT epoch_id, idx FROM segments WHERE recording_id = $1",
        &id,
    )
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        out.push(QueuedBlob {
            epoch_id: EpochId(arr(r.bytes("epoch_id")?, "epoch id length")?),
            key: BlobKey {
                recording: rid,
                index: to_u32(r.int("idx")?, "segment index")?,
            },
        });
    }
    X::execute(tx, X::QUEUE_RECORDING, &id).await?;
    for sql in [
        "DELETE FROM segment_rewraps WHERE recording_id = $1",
        "DELETE FROM segments WHERE recording_id = $1",
        "DELETE FROM recordings WHERE recording_id = $1",
    ] {
        X::execute(tx, sql, &id).await?;
    }
    Ok(out)
}

impl<X: Engine> DerivedStore for X {
    async fn put_artifact(&self, row: &ArtifactRow, log: &NewLogEntry) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let new = X::execute(
            &mut tx,
            "INSERT INTO artifacts (artifact_id, group_id, kind, name, consent_id, signer_key,
             record, registered_ms, state, changed_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'live', NULL)
             ON CONFLICT DO NOTHING",
            &[
                Arg::Bytes(&row.artifact_id.0),
                Arg::Bytes(&row.group_id.0),
                Arg::Int(i64::from(row.kind)),
                Arg::Text(&row.name),
                Arg::OptBytes(row.consent_id.as_ref().map(|c| &c[..])),
                Arg::Bytes(&row.signer_key),
                Arg::Bytes(&row.record),
                Arg::Int(row.registered_ms),
            ],
        )
        .await?;
        if new == 0 {
            return Err(StoreError::Duplicate("artifact"));
        }
        for (pos, s) in row.sources.iter().enumerate() {
            let pos = i64::try_from(pos).map_err(|_| StoreError::Corrupt("source position"))?;
            let (recording, first, end, artifact) = match s {
                Source::Segments {
                    recording_id,
                    first,
                    end,
                } => (
                    Some(&recording_id.0[..]),
                    Some(i64::from(*first)),
                    Some(i64::from(*end)),
                    None,
                ),
                Source::Artifact { artifact_id } => (None, None, None, Some(&artifact_id.0[..])),
            };
            X::execute(
                &mut tx,
                "INSERT INTO artifact_sources (artifact_id, pos, recording_id, first_idx, end_idx,
                 source_artifact) VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    Arg::Bytes(&row.artifact_id.0),
                    Arg::Int(pos),
                    Arg::OptBytes(recording),
                    Arg::OptInt(first),
                    Arg::OptInt(end),
                    Arg::OptBytes(artifact),
                ],
            )
            .await?;
        }
        commit_logged::<X>(tx, log).await
    }

    async fn artifact(&self, id: RecordingId) -> Result<Option<ArtifactRow>> {
        Ok(artifacts_where(
            self,
            "SELECT * FROM artifacts WHERE artifact_id = $1",
            &[Arg::Bytes(&id.0)],
        )
        .await?
        .pop())
    }

    async fn derived_from_segments(
        &self,
        recording: RecordingId,
        first: u32,
        end: u32,
    ) -> Result<Vec<ArtifactRow>> {
        artifacts_where(
            self,
            X::DERIVED_FROM_SEGMENTS,
            &[
                Arg::Bytes(&recording.0),
                Arg::Int(i64::from(end)),
                Arg::Int(i64::from(first)),
            ],
        )
        .await
    }

    async fn derived_from_artifact(&self, id: RecordingId) -> Result<Vec<ArtifactRow>> {
        artifacts_where(self, X::DERIVED_FROM_ARTIFACT, &[Arg::Bytes(&id.0)]).await
    }

    async fn made_under_consent(&self, consent_id: [u8; 16]) -> Result<Vec<ArtifactRow>> {
        artifacts_where(
            self,
            "SELECT * FROM artifacts WHERE consent_id = $1 AND state != 'deleted'
             ORDER BY artifact_id",
            &[Arg::Bytes(&consent_id)],
        )
        .await
    }

    async fn epoch_sources(&self, id: EpochId) -> Result<Vec<EpochSource>> {
        self.read_all(X::EPOCH_SOURCES, &[Arg::Bytes(&id.0)])
            .await?
            .iter()
            .map(|r| {
                Ok(EpochSource {
                    recording_id: RecordingId(arr(
                        r.bytes("recording_id")?,
                        "recording id length",
                    )?),
                    first: to_u32(r.int("first")?, "segment index")?,
                    end: to_u32(r.int("end")?, "segment index")?,
                })
            })
            .collect()
    }

    async fn apply_cascade(
        &self,
        deleted: &[RecordingId],
        tainted: &[RecordingId],
        now_ms: i64,
        log: &[NewLogEntry],
    ) -> Result<Vec<QueuedBlob>> {
        let mut tx = self.begin_write().await?;
        let mut queued = Vec::new();
        for id in deleted {
            X::execute(
                &mut tx,
                "UPDATE artifacts SET state = 'deleted', changed_ms = $1
                 WHERE artifact_id = $2 AND state != 'deleted'",
                &[Arg::Int(now_ms), Arg::Bytes(&id.0)],
            )
            .await?;
            queued.extend(queue_recording::<X>(&mut tx, *id).await?);
        }
        for id in tainted {
            X::execute(
                &mut tx,
                "UPDATE artifacts SET state = 'tainted', changed_ms = $1
                 WHERE artifact_id = $2 AND state = 'live'",
                &[Arg::Int(now_ms), Arg::Bytes(&id.0)],
            )
            .await?;
        }
        X::sequence(&mut tx, log).await?;
        X::commit(tx).await?;
        Ok(queued)
    }

    async fn put_consent(&self, row: &ConsentRow, log: &NewLogEntry) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let new = X::execute(
            &mut tx,
            "INSERT INTO consents (consent_id, group_id, purposes, not_before, not_after,
             recorded_ms, withdrawn_ms) VALUES ($1, $2, $3, $4, $5, $6, NULL) ON CONFLICT DO NOTHING",
            &[
                Arg::Bytes(&row.consent_id),
                Arg::Bytes(&row.group_id.0),
                Arg::Int(i64::from(row.purposes)),
                Arg::Int(row.not_before),
                Arg::Int(row.not_after),
                Arg::Int(row.recorded_ms),
            ],
        )
        .await?;
        if new == 0 {
            return Err(StoreError::Duplicate("consent"));
        }
        commit_logged::<X>(tx, log).await
    }

    async fn consent(&self, id: [u8; 16]) -> Result<Option<ConsentRow>> {
        find(
            self,
            "SELECT * FROM consents WHERE consent_id = $1",
            &[Arg::Bytes(&id)],
            consent_row,
        )
        .await
    }

    async fn group_consents(&self, group: GroupId) -> Result<Vec<ConsentRow>> {
        list(
            self,
            "SELECT * FROM consents WHERE group_id = $1 AND withdrawn_ms IS NULL
             ORDER BY recorded_ms, consent_id",
            &[Arg::Bytes(&group.0)],
            consent_row,
        )
        .await
    }

    async fn withdraw_consent(&self, id: [u8; 16], now_ms: i64, log: &NewLogEntry) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let withdrawn = X::optional(
            &mut tx,
            "SELECT withdrawn_ms FROM consents WHERE consent_id = $1",
            &[Arg::Bytes(&id)],
        )
        .await?
        .ok_or(StoreError::NotFound("consent"))?
        .opt_int("withdrawn_ms")?;
        if withdrawn.is_some() {
            return Ok(false);
        }
        X::execute(
            &mut tx,
            "UPDATE consents SET withdrawn_ms = $1 WHERE consent_id = $2",
            &[Arg::Int(now_ms), Arg::Bytes(&id)],
        )
        .await?;
        commit_logged::<X>(tx, log).await?;
        Ok(true)
    }
}
