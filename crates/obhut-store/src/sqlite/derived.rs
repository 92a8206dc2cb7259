//! [`DerivedStore`] on the SQLite index: `artifacts`, `artifact_sources`
//! (indexed by source recording and by source artifact) and `consents`
//! (migration `20261208200001_derived.sql`).

use obhut_core::artifact::Source;
use obhut_core::ids::{EpochId, GroupId, RecordingId};
use sqlx::{Row, SqliteConnection};

use super::SqliteIndex;
use super::sequence::sequence;
use crate::sql::column::{arr, to_u32};
use crate::sql::rows::{artifact_head, consent_row, source_row};
use crate::{
    ArtifactRow, BlobKey, ConsentRow, DerivedStore, EpochSource, NewLogEntry, QueuedBlob, Result,
    StoreError,
};

impl SqliteIndex {
    /// Rows of `sql` (binding `bind`) as artifacts with their lineage.
    async fn artifacts_where(&self, sql: &'static str, bind: &[u8]) -> Result<Vec<ArtifactRow>> {
        let rows = sqlx::query(sql).bind(bind).fetch_all(&self.readers).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let mut a = artifact_head(r)?;
            a.sources = self.sources_of(a.artifact_id).await?;
            out.push(a);
        }
        Ok(out)
    }

    async fn sources_of(&self, id: RecordingId) -> Result<Vec<Source>> {
        sqlx::query("SELECT * FROM artifact_sources WHERE artifact_id = ? ORDER BY pos")
            .bind(&id.0[..])
            .fetch_all(&self.readers)
            .await?
            .iter()
            .map(source_row)
            .collect()
    }
}

/// Move every segment row of recording `rid` to the deletion queue and
/// remove the recording, inside the caller's transaction.
async fn queue_recording(tx: &mut SqliteConnection, rid: RecordingId) -> Result<Vec<QueuedBlob>> {
    let rows = sqlx::query("SELECT epoch_id, idx FROM segments WHERE recording_id = ?")
        .bind(&rid.0[..])
        .fetch_all(&mut *tx)
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        out.push(QueuedBlob {
            epoch_id: EpochId(arr(r.try_get("epoch_id")?, "epoch id length")?),
            key: BlobKey {
                recording: rid,
                index: to_u32(r.try_get("idx")?, "segment index")?,
            },
        });
    }
    sqlx::query(
        "INSERT OR IGNORE INTO deletion_queue (epoch_id, recording_id, idx)
         SELECT epoch_id, recording_id, idx FROM segments WHERE recording_id = ?",
    )
    .bind(&rid.0[..])
    .execute(&mut *tx)
    .await?;
    for sql in [
        "DELETE FROM segment_rewraps WHERE recording_id = ?",
        "DELETE FROM segments WHERE recording_id = ?",
        "DELETE FROM recordings WHERE recording_id = ?",
    ] {
        sqlx::query(sql).bind(&rid.0[..]).execute(&mut *tx).await?;
    }
    Ok(out)
}

impl DerivedStore for SqliteIndex {
    async fn put_artifact(&self, row: &ArtifactRow, log: &NewLogEntry) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let r = sqlx::query(
            "INSERT INTO artifacts (artifact_id, group_id, kind, name, consent_id, signer_key,
             record, registered_ms, state, changed_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'live', NULL)
             ON CONFLICT DO NOTHING",
        )
        .bind(&row.artifact_id.0[..])
        .bind(&row.group_id.0[..])
        .bind(i64::from(row.kind))
        .bind(&row.name)
        .bind(row.consent_id.as_ref().map(|c| &c[..]))
        .bind(&row.signer_key[..])
        .bind(&row.record)
        .bind(row.registered_ms)
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::Duplicate("artifact"));
        }
        for (pos, s) in row.sources.iter().enumerate() {
            let q = sqlx::query(
                "INSERT INTO artifact_sources (artifact_id, pos, recording_id, first_idx, end_idx,
                 source_artifact) VALUES (?, ?, ?, ?, ?, ?)",
            )
            .bind(&row.artifact_id.0[..])
            .bind(i64::try_from(pos).map_err(|_| StoreError::Corrupt("source position"))?);
            let q = match s {
                Source::Segments {
                    recording_id,
                    first,
                    end,
                } => q
                    .bind(Some(&recording_id.0[..]))
                    .bind(Some(i64::from(*first)))
                    .bind(Some(i64::from(*end)))
                    .bind(None::<&[u8]>),
                Source::Artifact { artifact_id } => q
                    .bind(None::<&[u8]>)
                    .bind(None::<i64>)
                    .bind(None::<i64>)
                    .bind(Some(&artifact_id.0[..])),
            };
            q.execute(&mut *tx).await?;
        }
        sequence(&mut tx, std::slice::from_ref(log)).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn artifact(&self, id: RecordingId) -> Result<Option<ArtifactRow>> {
        Ok(self
            .artifacts_where("SELECT * FROM artifacts WHERE artifact_id = ?", &id.0)
            .await?
            .pop())
    }

    async fn derived_from_segments(
        &self,
        recording: RecordingId,
        first: u32,
        end: u32,
    ) -> Result<Vec<ArtifactRow>> {
        let rows = sqlx::query(
            "SELECT DISTINCT a.* FROM artifact_sources s
             INDEXED BY artifact_sources_by_recording
             JOIN artifacts a ON a.artifact_id = s.artifact_id
             WHERE s.recording_id = ? AND s.first_idx < ? AND s.end_idx > ?
               AND a.state != 'deleted'
             ORDER BY a.artifact_id",
        )
        .bind(&recording.0[..])
        .bind(i64::from(end))
        .bind(i64::from(first))
        .fetch_all(&self.readers)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let mut a = artifact_head(r)?;
            a.sources = self.sources_of(a.artifact_id).await?;
            out.push(a);
        }
        Ok(out)
    }

    async fn derived_from_artifact(&self, id: RecordingId) -> Result<Vec<ArtifactRow>> {
        self.artifacts_where(
            "SELECT DISTINCT a.* FROM artifact_sources s
             INDEXED BY artifact_sources_by_artifact
             JOIN artifacts a ON a.artifact_id = s.artifact_id
             WHERE s.source_artifact = ? ORDER BY a.artifact_id",
            &id.0,
        )
        .await
    }

    async fn made_under_consent(&self, consent_id: [u8; 16]) -> Result<Vec<ArtifactRow>> {
        self.artifacts_where(
            "SELECT * FROM artifacts WHERE consent_id = ? AND state != 'deleted'
             ORDER BY artifact_id",
            &consent_id,
        )
        .await
    }

    async fn epoch_sources(&self, id: EpochId) -> Result<Vec<EpochSource>> {
        sqlx::query(
            "SELECT recording_id, MIN(idx) AS first, MAX(idx) + 1 AS end FROM segments
             INDEXED BY segments_by_epoch WHERE epoch_id = ? GROUP BY recording_id",
        )
        .bind(&id.0[..])
        .fetch_all(&self.readers)
        .await?
        .iter()
        .map(|r| {
            Ok(EpochSource {
                recording_id: RecordingId(arr(r.try_get("recording_id")?, "recording id length")?),
                first: to_u32(r.try_get("first")?, "segment index")?,
                end: to_u32(r.try_get("end")?, "segment index")?,
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
            sqlx::query(
                "UPDATE artifacts SET state = 'deleted', changed_ms = ?
                 WHERE artifact_id = ? AND state != 'deleted'",
            )
            .bind(now_ms)
            .bind(&id.0[..])
            .execute(&mut *tx)
            .await?;
            queued.extend(queue_recording(&mut tx, *id).await?);
        }
        for id in tainted {
            sqlx::query(
                "UPDATE artifacts SET state = 'tainted', changed_ms = ?
                 WHERE artifact_id = ? AND state = 'live'",
            )
            .bind(now_ms)
            .bind(&id.0[..])
            .execute(&mut *tx)
            .await?;
        }
        sequence(&mut tx, log).await?;
        tx.commit().await?;
        Ok(queued)
    }

    async fn put_consent(&self, row: &ConsentRow, log: &NewLogEntry) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let r = sqlx::query(
            "INSERT INTO consents (consent_id, group_id, purposes, not_before, not_after,
             recorded_ms, withdrawn_ms) VALUES (?, ?, ?, ?, ?, ?, NULL) ON CONFLICT DO NOTHING",
        )
        .bind(&row.consent_id[..])
        .bind(&row.group_id.0[..])
        .bind(i64::from(row.purposes))
        .bind(row.not_before)
        .bind(row.not_after)
        .bind(row.recorded_ms)
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::Duplicate("consent"));
        }
        sequence(&mut tx, std::slice::from_ref(log)).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn consent(&self, id: [u8; 16]) -> Result<Option<ConsentRow>> {
        sqlx::query("SELECT * FROM consents WHERE consent_id = ?")
            .bind(&id[..])
            .fetch_optional(&self.readers)
            .await?
            .as_ref()
            .map(consent_row)
            .transpose()
    }

    async fn group_consents(&self, group: GroupId) -> Result<Vec<ConsentRow>> {
        sqlx::query(
            "SELECT * FROM consents WHERE group_id = ? AND withdrawn_ms IS NULL
             ORDER BY recorded_ms, consent_id",
        )
        .bind(&group.0[..])
        .fetch_all(&self.readers)
        .await?
        .iter()
        .map(consent_row)
        .collect()
    }

    async fn withdraw_consent(&self, id: [u8; 16], now_ms: i64, log: &NewLogEntry) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let withdrawn: Option<Option<i64>> =
            sqlx::query_scalar("SELECT withdrawn_ms FROM consents WHERE consent_id = ?")
                .bind(&id[..])
                .fetch_optional(&mut *tx)
                .await?;
        match withdrawn {
            None => return Err(StoreError::NotFound("consent")),
            Some(Some(_)) => return Ok(false),
            Some(None) => {}
        }
        sqlx::query("UPDATE consents SET withdrawn_ms = ? WHERE consent_id = ?")
            .bind(now_ms)
            .bind(&id[..])
            .execute(&mut *tx)
            .await?;
        sequence(&mut tx, std::slice::from_ref(log)).await?;
        tx.commit().await?;
        Ok(true)
    }
}
