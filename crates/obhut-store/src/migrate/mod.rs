//! `obhut migrate` (issue 20 item 4, docs/backup.md §Migrating): a
//! stopped embedded vault's index copied from SQLite to PostgreSQL and/or
//! its blobs from the directory to another blob store (an S3 bucket),
//! resumable and verified.
//!
//! **Order.** Blobs first, then the tables in foreign-key order, then —
//! only once everything verified — the `meta` table in one transaction
//! with the log head. The index's `instance_id` (in `meta`) is what a
//! vault needs to open the destination, so a vault cannot start on a
//! destination that is half copied or failed verification.
//!
//! **Resuming.** While copying, the destination's `meta` holds
//! `migrating_from` = the source's instance id (and the blob store has
//! the source's instance id). A second run finds it and continues: each
//! table holds a prefix of the source's rows in key order (tables.rs),
//! so it copies from its row count on; a blob already there with its
//! length is kept. Nothing is inserted twice. A destination that holds
//! anything else — another vault, another migration's rows, a table with
//! rows — is refused before anything is written.
//!
//! **Verification** reads everything back from the destination: every
//! blob re-hashed (BLAKE3 against its device-signed record; an orphan
//! against the source's bytes), every table's rows hashed in key order
//! on both sides, the log's entries and tiles folded to the latest
//! checkpoint's root ([`crate::check`]'s fold), and the log head.

use crate::postgres::PgIndex;
use crate::sqlite::SqliteIndex;
use crate::{BlobKey, BlobStore, IndexStore, LogStore, StoreError};

mod blobs;
mod tables;

/// The key of `meta` naming the source while a migration runs.
const MIGRATING_FROM: &str = "migrating_from";

/// Why a migration stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MigrateError {
    /// A store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The source index has no instance id: no vault was ever started on it.
    #[error("the source holds no vault (its index has no instance id)")]
    NoSourceVault,
    /// The source has a table this version does not copy.
    #[error(
        "the source index has a table `{0}` that this obhut's migrate does not know; copying \
         without it would lose its rows, so nothing was copied (use the obhut release whose \
         schema added it)"
    )]
    UnknownTable(String),
    /// A table is missing on one side.
    #[error("the {side} index has no table `{table}` (are both on the same obhut release?)")]
    MissingTable {
        /// The table.
        table: &'static str,
        /// `source` or `destination`.
        side: &'static str,
    },
    /// The schemas disagree.
    #[error("the schemas differ: {0}")]
    Schema(String),
    /// The destination holds data that no earlier run of this migration
    /// put there.
    #[error(
        "the destination {what} is not empty ({detail}) and holds no earlier run of this \
         migration: migrate only into an empty database and bucket"
    )]
    NotEmpty {
        /// The database or the bucket.
        what: String,
        /// What is in it.
        detail: String,
    },
    /// The destination belongs to another vault.
    #[error(
        "the destination {what} belongs to vault {found}, not to the source's vault {source_id}"
    )]
    OtherVault {
        /// The database or the bucket.
        what: String,
        /// Its instance id (or the source of its migration).
        found: String,
        /// The source's instance id.
        source_id: String,
    },
    /// A source blob cannot be copied as its record says.
    #[error(
        "the source's blob of recording {} segment {}: {reason}; run `obhut check` on the source",
        key.recording,
        key.index
    )]
    SourceBlob {
        /// The segment.
        key: BlobKey,
        /// What is wrong.
        reason: String,
    },
    /// Verification found the destination differing from the source.
    #[error("verification found {} disagreement(s) at the destination:\n{}", .0.len(), .0.join("\n"))]
    Verify(Vec<String>),
}

/// Where a migration tells its progress (the command's progress bar).
/// Called from concurrent copies, hence `&self`.
pub trait Progress: Sync {
    /// A phase begins: `total` units (rows, or bytes if `bytes`), of
    /// which `done` were done by an earlier run.
    fn phase(&self, what: &'static str, total: u64, done: u64, bytes: bool);
    /// `n` more units done.
    fn advance(&self, n: u64);
}

/// No progress shown.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn phase(&self, _: &'static str, _: u64, _: u64, _: bool) {}
    fn advance(&self, _: u64) {}
}

/// What a migration did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MigrateReport {
    /// The vault's instance id.
    pub instance_id: String,
    /// An earlier run had begun (or finished) this migration.
    pub resumed: bool,
    /// Rows at the source (all tables).
    pub rows: u64,
    /// Rows copied by this run.
    pub rows_copied: u64,
    /// Blobs at the source.
    pub blobs: u64,
    /// Blobs copied by this run.
    pub blobs_copied: u64,
    /// Blob bytes at the source (each read back and hashed at the
    /// destination once).
    pub bytes: u64,
    /// Audit-log entries (the log head at the destination).
    pub log_entries: u64,
}

/// Where a destination index stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Fresh,
    Partial,
    Complete,
}

async fn meta(dst: &PgIndex, key: &str) -> Result<Option<String>, MigrateError> {
    Ok(sqlx::query_scalar("SELECT value FROM meta WHERE key = $1")
        .bind(key)
        .fetch_optional(dst.pool())
        .await
        .map_err(StoreError::from)?)
}

/// Find out whether `dst` is empty, an earlier run of this migration, or
/// finished; refuse anything else; mark an empty one as this
/// migration's.
async fn index_state(
    dst: &PgIndex,
    tables: &[tables::Table],
    instance: &str,
) -> Result<State, MigrateError> {
    let other = |found: String| MigrateError::OtherVault {
        what: "database".into(),
        found,
        source_id: instance.to_owned(),
    };
    if let Some(id) = meta(dst, "instance_id").await? {
        return if id == instance {
            Ok(State::Complete)
        } else {
            Err(other(id))
        };
    }
    if let Some(from) = meta(dst, MIGRATING_FROM).await? {
        return if from == instance {
            Ok(State::Partial)
        } else {
            Err(other(format!("{from} (an earlier migration's source)")))
        };
    }
    for t in tables {
        let n = tables::count_destination(dst, t.name).await?;
        if n > 0 {
            return Err(MigrateError::NotEmpty {
                what: "database".into(),
                detail: format!("table {} has {n} rows", t.name),
            });
        }
    }
    let head: i64 = sqlx::query_scalar("SELECT size FROM log_head WHERE id = 0")
        .fetch_one(dst.pool())
        .await
        .map_err(StoreError::from)?;
    if head != 0 {
        return Err(MigrateError::NotEmpty {
            what: "database".into(),
            detail: format!("its log head says {head} entries"),
        });
    }
    sqlx::query("INSERT INTO meta (key, value) VALUES ($1, $2)")
        .bind(MIGRATING_FROM)
        .bind(instance)
        .execute(dst.pool())
        .await
        .map_err(StoreError::from)?;
    Ok(State::Fresh)
}

/// The same for a blob store, without writing: `true` if an earlier run
/// of this migration set its instance id (the first run sets it, after
/// every check passed).
async fn blob_state(to: &impl BlobStore, what: &str, instance: &str) -> Result<bool, MigrateError> {
    match to.instance_id().await? {
        Some(id) if id == instance => Ok(true),
        Some(id) => Err(MigrateError::OtherVault {
            what: what.to_owned(),
            found: id,
            source_id: instance.to_owned(),
        }),
        None => {
            let n = to.list().await?.len();
            if n > 0 {
                return Err(MigrateError::NotEmpty {
                    what: what.to_owned(),
                    detail: format!("{n} blobs and no instance id"),
                });
            }
            Ok(false)
        }
    }
}

/// The stores a migration reads and writes.
pub struct Migration<'a, F, T> {
    /// The source index (its vault stopped).
    pub source: &'a SqliteIndex,
    /// The source's blobs.
    pub source_blobs: &'a F,
    /// The destination index, if the index moves.
    pub to_index: Option<&'a PgIndex>,
    /// The destination blob store (and how to name it), if the blobs move.
    pub to_blobs: Option<(&'a T, String)>,
}

impl<F: BlobStore, T: BlobStore> Migration<'_, F, T> {
    /// Run (or resume) the migration: copy, verify, then mark the
    /// destination index complete (module docs).
    pub async fn run(&self, progress: &dyn Progress) -> Result<MigrateReport, MigrateError> {
        run(self, progress).await
    }
}

async fn run<F: BlobStore, T: BlobStore>(
    m: &Migration<'_, F, T>,
    progress: &dyn Progress,
) -> Result<MigrateReport, MigrateError> {
    let src = m.source;
    let instance = src
        .instance_id()
        .await?
        .ok_or(MigrateError::NoSourceVault)?;
    let mut report = MigrateReport {
        instance_id: instance.clone(),
        ..MigrateReport::default()
    };
    // Everything that can refuse, before anything is written.
    let mut state = None;
    let tables = match m.to_index {
        None => Vec::new(),
        Some(dst) => {
            let tables = tables::source_tables(src).await?;
            for t in &tables {
                tables::check_destination(dst, t).await?;
            }
            tables
        }
    };
    let blobs_begun = match &m.to_blobs {
        Some((to, what)) => blob_state(*to, what, &instance).await?,
        None => false,
    };
    if let Some(dst) = m.to_index {
        state = Some(index_state(dst, &tables, &instance).await?);
        report.resumed = state != Some(State::Fresh);
    }
    let mut blobs = Vec::new();
    if let Some((to, _)) = &m.to_blobs {
        if blobs_begun {
            report.resumed = true;
        } else {
            to.set_instance_id(&instance).await?;
        }
        let (listed, bytes) = blobs::source_blobs(m.source_blobs).await?;
        report.blobs = listed.len() as u64;
        report.bytes = bytes;
        progress.phase("blobs", bytes, 0, true);
        report.blobs_copied =
            blobs::copy_blobs(src, m.source_blobs, *to, &listed, progress).await?;
        blobs = listed;
    }
    let copying: Vec<&tables::Table> = tables.iter().filter(|t| t.name != "meta").collect();
    if let (Some(_), Some(State::Complete)) = (m.to_index, state) {
        for t in &copying {
            report.rows += tables::count_source(src, t).await?;
        }
    }
    if let (Some(dst), Some(State::Fresh | State::Partial)) = (m.to_index, state) {
        let mut counts = Vec::with_capacity(copying.len());
        let (mut total, mut have_all) = (0u64, 0u64);
        for t in &copying {
            let n = tables::count_source(src, t).await?;
            let have = tables::count_destination(dst, t.name).await?;
            if have > n {
                return Err(MigrateError::Verify(vec![format!(
                    "table {} has {have} rows at the destination and {n} at the source",
                    t.name
                )]));
            }
            total += n;
            have_all += have;
            counts.push(have);
        }
        report.rows = total;
        progress.phase("rows", total, have_all, false);
        for (t, have) in copying.iter().zip(counts) {
            report.rows_copied += tables::copy_table(src, dst, t, have, progress).await?;
        }
    }

    // Verification: read everything back from the destination.
    let mut bad = Vec::new();
    if let Some((to, _)) = &m.to_blobs {
        progress.phase("verify", report.bytes, 0, true);
        bad.extend(blobs::verify_blobs(src, m.source_blobs, *to, &blobs, progress).await?);
    }
    if let Some(dst) = m.to_index {
        for t in &copying {
            if tables::digest_source(src, t).await? != tables::digest_destination(dst, t).await? {
                bad.push(format!(
                    "table {}: the destination's rows differ from the source's{}",
                    t.name,
                    if state == Some(State::Complete) {
                        " (has a vault run on the destination since it was migrated?)"
                    } else {
                        ""
                    }
                ));
            }
        }
        let (entries, log) = crate::check::check_log(dst).await?;
        report.log_entries = entries;
        bad.extend(log.into_iter().map(|l| format!("audit log: {l}")));
    }
    if !bad.is_empty() {
        return Err(MigrateError::Verify(bad));
    }
    if let Some(dst) = m.to_index {
        if let Some(meta_table) = tables.iter().find(|t| t.name == "meta") {
            if state != Some(State::Complete) {
                finish(src, dst, meta_table).await?;
            }
            if tables::digest_source(src, meta_table).await?
                != tables::digest_destination(dst, meta_table).await?
            {
                return Err(MigrateError::Verify(vec![
                    "table meta: the destination's rows differ from the source's".into(),
                ]));
            }
        }
        let size = src.log_sequenced().await?;
        let head = dst.log_sequenced().await?;
        if head != size {
            return Err(MigrateError::Verify(vec![format!(
                "the destination's log head says {head} entries, the source has {size}"
            )]));
        }
        report.log_entries = size;
    }
    Ok(report)
}

/// The last step, in one transaction under the log head's lock: the
/// log head set to the source's log size, the `meta` rows copied (the
/// instance id among them) and `migrating_from` removed.
async fn finish(
    src: &SqliteIndex,
    dst: &PgIndex,
    meta_table: &tables::Table,
) -> Result<(), MigrateError> {
    let size =
        i64::try_from(src.log_sequenced().await?).map_err(|_| StoreError::Corrupt("log size"))?;
    let mut tx = dst.pool().begin().await.map_err(StoreError::from)?;
    sqlx::query("SELECT size FROM log_head WHERE id = 0 FOR UPDATE")
        .fetch_one(&mut *tx)
        .await
        .map_err(StoreError::from)?;
    sqlx::query("DELETE FROM meta WHERE key = $1")
        .bind(MIGRATING_FROM)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?;
    tables::copy_all_in(src, &mut tx, meta_table).await?;
    sqlx::query("UPDATE log_head SET size = $1 WHERE id = 0")
        .bind(size)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(())
}
