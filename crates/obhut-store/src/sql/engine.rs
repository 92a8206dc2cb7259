//! What the shared method bodies need from an engine ([`Engine`]): its
//! write transaction (SQLite's `BEGIN IMMEDIATE`, PostgreSQL's log head
//! lock), its sequencing of audit entries, a statement run on its read
//! connections or inside a transaction, and the statements whose text
//! differs between the engines. Everything else about a method is the
//! same on both and is written once (`sql/names.rs`, `sql/hold.rs`, …).
//!
//! A statement is one text with `$1, $2, …` placeholders, which SQLite
//! accepts as well as PostgreSQL (sqlx binds SQLite's `$n` to the n-th
//! value, wherever it stands); its values are [`Arg`]s, each bound as its
//! own Rust type (a `&[u8]` as `BLOB` or `BYTEA`, an `i64` as `INTEGER` or
//! `BIGINT`), so PostgreSQL sees typed parameters, a NULL included.

use std::future::Future;

use sqlx::query::Query;
use sqlx::{Database, Encode, Executor, IntoArguments, QueryBuilder, Type};

use super::Columns;
use crate::{NewLogEntry, Result, StoreError};

/// A value bound to a statement's next placeholder.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Arg<'a> {
    /// `BLOB` / `BYTEA`.
    Bytes(&'a [u8]),
    /// A nullable `BLOB` / `BYTEA`.
    OptBytes(Option<&'a [u8]>),
    /// `INTEGER` / `BIGINT`.
    Int(i64),
    /// A nullable `INTEGER` / `BIGINT`.
    OptInt(Option<i64>),
    /// `TEXT`.
    Text(&'a str),
    /// A nullable `TEXT`.
    OptText(Option<&'a str>),
}

/// `sql` with `args` bound, for either engine.
pub(crate) fn bind<'q, DB>(sql: &'static str, args: &[Arg<'q>]) -> Query<'q, DB, DB::Arguments>
where
    DB: Database,
    for<'a> &'a [u8]: Encode<'a, DB> + Type<DB>,
    for<'a> &'a str: Encode<'a, DB> + Type<DB>,
    for<'a> i64: Encode<'a, DB> + Type<DB>,
    for<'a> Option<&'a [u8]>: Encode<'a, DB> + Type<DB>,
    for<'a> Option<i64>: Encode<'a, DB> + Type<DB>,
    for<'a> Option<&'a str>: Encode<'a, DB> + Type<DB>,
{
    args.iter().fold(sqlx::query(sql), |q, a| match *a {
        Arg::Bytes(v) => q.bind(v),
        Arg::OptBytes(v) => q.bind(v),
        Arg::Int(v) => q.bind(v),
        Arg::OptInt(v) => q.bind(v),
        Arg::Text(v) => q.bind(v),
        Arg::OptText(v) => q.bind(v),
    })
}

/// One SQL engine under the shared method bodies (module docs).
pub(crate) trait Engine: Send + Sync + 'static {
    /// A row this engine returns.
    type Row: Columns + Send + Sync;
    /// A write transaction of this engine.
    type Tx: Send;

    /// Insert a hold (`$1`–`$7`: id, group, case, device, from, to,
    /// placed; not released) unless one with its id exists: no row
    /// changed then.
    const INSERT_HOLD: &'static str;
    /// The held segments of epoch `$1`, with each active hold that
    /// covers one (`recording_id`, `idx`, `hold_id`).
    const HOLD_CANDIDATES: &'static str;
    /// The segments of epoch `$1` (`recording_id`, `idx`) in key order.
    const EPOCH_SEGMENTS: &'static str;
    /// Queue every segment of recording `$1` for deletion, skipping those
    /// queued already.
    const QUEUE_RECORDING: &'static str;
    /// The artifacts not deleted with a source in recording `$1`'s
    /// segments `$3` up to `$2`, in id order.
    const DERIVED_FROM_SEGMENTS: &'static str;
    /// The artifacts with artifact `$1` as a source, in id order.
    const DERIVED_FROM_ARTIFACT: &'static str;
    /// Epoch `$1`'s segments as runs per recording (`recording_id`,
    /// `first`, `end`).
    const EPOCH_SOURCES: &'static str;
    /// The log's size, sequenced entries included (`size`).
    const LOG_SIZE: &'static str;
    /// Write tile (`$1` level, `$2` index) as `$3` unless a longer one is
    /// stored: a tile only ever grows.
    const UPSERT_TILE: &'static str;
    /// Epoch `$1`'s segments per recording (`recording_id`, `bytes` as a
    /// 64-bit integer, `n`).
    const EPOCH_RECORDINGS: &'static str;
    /// Queue epoch `$1`'s segments of recording `$2` for deletion,
    /// skipping those queued already.
    const QUEUE_EPOCH_RECORDING: &'static str;
    /// The tombstone of recording `$1`, expired with epoch `$2` at `$3`,
    /// unless it has one.
    const EXPIRE_RECORDING: &'static str;
    /// The readiness probe's write: a `meta` row `write-probe` big
    /// enough to need pages of its own (8 KiB).
    const WRITE_PROBE: &'static str;
    /// Lower recording `$2`'s `total_bytes` by `$1`, not below 0.
    const LOWER_TOTAL_BYTES: &'static str;
    /// Epochs expired by `$1` and not yet swept, earliest first, at most
    /// `$2`.
    const DUE_EPOCHS: &'static str;

    /// Begin a write transaction: one at a time across every process
    /// sharing the database (the engine's module docs say how).
    fn begin_write(&self) -> impl Future<Output = Result<Self::Tx>> + Send;
    /// Begin a write transaction that needs no ordering with other
    /// writes (a nonce, the readiness probe): on SQLite the same as
    /// [`Engine::begin_write`] (its only way to write), on PostgreSQL one
    /// without the log head's lock.
    fn begin_unlocked(&self) -> impl Future<Output = Result<Self::Tx>> + Send;
    /// The locks servers sharing this database hold (PostgreSQL only).
    fn locks(&self) -> Option<crate::SharedLocks> {
        None
    }
    /// Commit `tx`.
    fn commit(tx: Self::Tx) -> impl Future<Output = Result<()>> + Send;
    /// Sequence `entries` inside `tx`; the index of the first.
    fn sequence(
        tx: &mut Self::Tx,
        entries: &[NewLogEntry],
    ) -> impl Future<Output = Result<u64>> + Send;

    /// The rows of a read on the reading connections.
    fn read_all(
        &self,
        sql: &'static str,
        args: &[Arg<'_>],
    ) -> impl Future<Output = Result<Vec<Self::Row>>> + Send;
    /// The row, if any, of a read on the reading connections.
    fn read_optional(
        &self,
        sql: &'static str,
        args: &[Arg<'_>],
    ) -> impl Future<Output = Result<Option<Self::Row>>> + Send;
    /// Run a single statement outside a transaction, on the writing
    /// connection; the rows it changed.
    fn write(
        &self,
        sql: &'static str,
        args: &[Arg<'_>],
    ) -> impl Future<Output = Result<u64>> + Send;
    /// The rows of a statement inside `tx`.
    fn all(
        tx: &mut Self::Tx,
        sql: &'static str,
        args: &[Arg<'_>],
    ) -> impl Future<Output = Result<Vec<Self::Row>>> + Send;
    /// The row, if any, of a statement inside `tx`.
    fn optional(
        tx: &mut Self::Tx,
        sql: &'static str,
        args: &[Arg<'_>],
    ) -> impl Future<Output = Result<Option<Self::Row>>> + Send;
    /// Run a statement inside `tx`; the rows it changed.
    fn execute(
        tx: &mut Self::Tx,
        sql: &'static str,
        args: &[Arg<'_>],
    ) -> impl Future<Output = Result<u64>> + Send;
}

/// The row, if any, of a read on `ix`'s reading connections, through
/// `map`.
pub(crate) async fn find<X: Engine, T>(
    ix: &X,
    sql: &'static str,
    args: &[Arg<'_>],
    map: impl Fn(&X::Row) -> Result<T> + Send,
) -> Result<Option<T>> {
    ix.read_optional(sql, args)
        .await?
        .as_ref()
        .map(map)
        .transpose()
}

/// The rows of a read on `ix`'s reading connections, through `map`.
pub(crate) async fn list<X: Engine, T>(
    ix: &X,
    sql: &'static str,
    args: &[Arg<'_>],
    map: impl Fn(&X::Row) -> Result<T> + Send,
) -> Result<Vec<T>> {
    ix.read_all(sql, args).await?.iter().map(map).collect()
}

/// Commit a write with its log entry only if it changed something: a
/// repeat changes nothing and logs nothing.
pub(crate) async fn commit_logged_if_new<X: Engine>(
    mut tx: X::Tx,
    new: bool,
    log: &NewLogEntry,
) -> Result<()> {
    if new {
        X::sequence(&mut tx, std::slice::from_ref(log)).await?;
    }
    X::commit(tx).await
}

/// Commit a write with its one log entry.
pub(crate) async fn commit_logged<X: Engine>(mut tx: X::Tx, log: &NewLogEntry) -> Result<()> {
    X::sequence(&mut tx, std::slice::from_ref(log)).await?;
    X::commit(tx).await
}

/// Rows per `INSERT` when sequencing a batch: 6 parameters a row, far
/// below SQLite's limit of 32,766 and PostgreSQL's 65,535 per statement.
const ROWS_PER_INSERT: usize = 256;

/// Insert `entries` as the log entries from index `first` on, inside the
/// caller's transaction (an engine's `sequence`, which chose `first`
/// under its write lock). Many rows per statement: on SQLite each
/// statement is a round trip to sqlx's worker thread, which is most of
/// the cost of a row (BENCHMARKS.md, audit log).
pub(crate) async fn insert_entries<DB>(
    tx: &mut DB::Connection,
    first: i64,
    entries: &[NewLogEntry],
) -> Result<()>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'a> i64: Encode<'a, DB> + Type<DB>,
    for<'a> &'a str: Encode<'a, DB> + Type<DB>,
    for<'a> Vec<u8>: Encode<'a, DB> + Type<DB>,
    for<'a> Option<Vec<u8>>: Encode<'a, DB> + Type<DB>,
    DB::Arguments: IntoArguments<DB>,
{
    let mut idx = first;
    for chunk in entries.chunks(ROWS_PER_INSERT) {
        let mut q = QueryBuilder::<DB>::new(
            "INSERT INTO log_entries (idx, time_ms, kind, recording_id, body, leaf_hash) ",
        );
        let mut row_idx = idx;
        q.push_values(chunk, |mut b, e| {
            b.push_bind(row_idx)
                .push_bind(e.time_ms)
                .push_bind(e.kind)
                .push_bind(e.recording.as_ref().map(|r| r.0.to_vec()))
                .push_bind(e.body.clone())
                .push_bind(e.leaf_hash.to_vec());
            row_idx += 1;
        });
        q.build().execute(&mut *tx).await?;
        idx = idx
            .checked_add(i64::try_from(chunk.len()).map_err(|_| StoreError::Corrupt("batch size"))?)
            .ok_or(StoreError::Corrupt("log index"))?;
    }
    Ok(())
}
