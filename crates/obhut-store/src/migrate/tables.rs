//! The index's tables copied from SQLite to PostgreSQL generically: every
//! column of every table the migration knows, read in primary-key order
//! and inserted in batches, each batch one PostgreSQL transaction. The
//! destination therefore always holds a prefix of each table in key
//! order, and its row count is where a later run resumes.
//!
//! **Tables another version added.** [`KNOWN`] lists every table of the
//! SQLite schema; a source with a table not in it is refused
//! ([`MigrateError::UnknownTable`]) rather than migrated without it, so a
//! schema change merged without teaching the migration cannot silently
//! drop data. Columns are not listed: they are read from both schemas and
//! must agree by name and type, so a column added to both engines is
//! copied without a change here.

use futures_util::TryStreamExt;
use futures_util::stream::BoxStream;
use sqlx::postgres::PgArguments;
use sqlx::sqlite::SqliteArguments;
use sqlx::{Arguments, ColumnIndex, Decode, Row, Type};

use super::{MigrateError, Progress};
use crate::postgres::PgIndex;
use crate::sqlite::SqliteIndex;

/// Every table of the SQLite schema, in an order that satisfies the
/// foreign keys (a referenced table before its referrers). `meta` is
/// last and copied apart: its `instance_id` appearing at the destination
/// marks the migration complete (mod.rs).
pub(super) const KNOWN: &[&str] = &[
    "custody_groups",
    "enrol_tokens",
    "devices",
    "nonces",
    "epochs",
    "recordings",
    "segments",
    "readers",
    "log_entries",
    "log_tiles",
    "log_checkpoints",
    "auditors",
    "requesters",
    "access_requests",
    "approvals",
    "denials",
    "deletion_queue",
    "expired_recordings",
    "holds",
    "segment_rewraps",
    "artifacts",
    "artifact_sources",
    "consents",
    "names",
    "meta",
];

/// Rows per inserted batch, at most.
const BATCH_ROWS: usize = 500;
/// Bytes per inserted batch, about (a batch ends at the row that passes it).
const BATCH_BYTES: usize = 4 << 20;

/// A column's type in both engines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Ty {
    /// SQLite BLOB, PostgreSQL bytea.
    Blob,
    /// SQLite INTEGER, PostgreSQL bigint.
    Int,
    /// TEXT in both.
    Text,
}

/// A table as the migration reads it.
#[derive(Clone, Debug)]
pub(super) struct Table {
    pub name: &'static str,
    /// Columns in declaration order.
    pub columns: Vec<(String, Ty)>,
    /// Primary-key columns, in key order.
    pub key: Vec<String>,
}

/// One value of a row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Value {
    Null,
    Blob(Vec<u8>),
    Int(i64),
    Text(String),
}

impl Value {
    fn size(&self) -> usize {
        match self {
            Value::Null | Value::Int(_) => 8,
            Value::Blob(b) => b.len(),
            Value::Text(t) => t.len(),
        }
    }

    /// Feed a canonical encoding to `h` (tag, length, bytes), for the
    /// tables' digests.
    fn digest(&self, h: &mut blake3::Hasher) {
        match self {
            Value::Null => {
                h.update(&[0]);
            }
            Value::Int(i) => {
                h.update(&[1]);
                h.update(&i.to_be_bytes());
            }
            Value::Blob(b) => {
                h.update(&[2]);
                h.update(&(b.len() as u64).to_be_bytes());
                h.update(b);
            }
            Value::Text(t) => {
                h.update(&[3]);
                h.update(&(t.len() as u64).to_be_bytes());
                h.update(t.as_bytes());
            }
        }
    }
}

/// A name safe to splice into SQL between double quotes: what the
/// schemas use (lower case, digits, underscores).
fn plain(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// The source's tables, checked against [`KNOWN`]: an unknown one is
/// refused, a missing one too (the source is migrated to the current
/// schema when opened, so every known table exists).
pub(super) async fn source_tables(src: &SqliteIndex) -> Result<Vec<Table>, MigrateError> {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_schema WHERE type = 'table' \
         AND name NOT LIKE '\\_sqlx%' ESCAPE '\\' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' \
         ORDER BY name",
    )
    .fetch_all(src.pool())
    .await
    .map_err(crate::StoreError::from)?;
    if let Some(unknown) = names.iter().find(|n| !KNOWN.contains(&n.as_str())) {
        return Err(MigrateError::UnknownTable(unknown.clone()));
    }
    let mut out = Vec::with_capacity(KNOWN.len());
    for name in KNOWN {
        if !names.iter().any(|n| n == name) {
            return Err(MigrateError::MissingTable {
                table: name,
                side: "source",
            });
        }
        let rows = sqlx::query("SELECT name, type, pk FROM pragma_table_info(?) ORDER BY cid")
            .bind(*name)
            .fetch_all(src.pool())
            .await
            .map_err(crate::StoreError::from)?;
        let mut columns = Vec::new();
        let mut key: Vec<(i64, String)> = Vec::new();
        for r in &rows {
            let col: String = r.try_get("name").map_err(crate::StoreError::from)?;
            let ty: String = r.try_get("type").map_err(crate::StoreError::from)?;
            let pk: i64 = r.try_get("pk").map_err(crate::StoreError::from)?;
            let ty = match ty.as_str() {
                "BLOB" => Ty::Blob,
                "INTEGER" => Ty::Int,
                "TEXT" => Ty::Text,
                _ => {
                    return Err(MigrateError::Schema(format!(
                        "column {name}.{col} has type {ty}, which migrate does not copy"
                    )));
                }
            };
            if !plain(&col) {
                return Err(MigrateError::Schema(format!(
                    "column {name}.{col:?} has a name migrate does not copy"
                )));
            }
            if pk > 0 {
                key.push((pk, col.clone()));
            }
            columns.push((col, ty));
        }
        if key.is_empty() {
            return Err(MigrateError::Schema(format!(
                "table {name} has no primary key, so a run cut short could not resume"
            )));
        }
        key.sort();
        out.push(Table {
            name,
            columns,
            key: key.into_iter().map(|(_, c)| c).collect(),
        });
    }
    Ok(out)
}

/// Refuse a destination whose table differs from the source's (columns
/// by name, order and type).
pub(super) async fn check_destination(dst: &PgIndex, t: &Table) -> Result<(), MigrateError> {
    let rows = sqlx::query(
        "SELECT column_name::text AS name, data_type::text AS ty FROM information_schema.columns \
         WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
    )
    .bind(t.name)
    .fetch_all(dst.pool())
    .await
    .map_err(crate::StoreError::from)?;
    if rows.is_empty() {
        return Err(MigrateError::MissingTable {
            table: t.name,
            side: "destination",
        });
    }
    let mut got = Vec::new();
    for r in &rows {
        let name: String = r.try_get("name").map_err(crate::StoreError::from)?;
        let ty: String = r.try_get("ty").map_err(crate::StoreError::from)?;
        let ty = match ty.as_str() {
            "bytea" => Some(Ty::Blob),
            "bigint" => Some(Ty::Int),
            "text" => Some(Ty::Text),
            _ => None,
        };
        got.push((name, ty));
    }
    let want: Vec<(String, Option<Ty>)> = t
        .columns
        .iter()
        .map(|(n, ty)| (n.clone(), Some(*ty)))
        .collect();
    if got != want {
        let show = |v: &[(String, Option<Ty>)]| {
            v.iter()
                .map(|(n, t)| format!("{n} {t:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Err(MigrateError::Schema(format!(
            "table {} differs: source ({}), destination ({})",
            t.name,
            show(&want),
            show(&got)
        )));
    }
    Ok(())
}

/// Rows of a table: `SELECT COUNT(*)`.
pub(super) async fn count_source(src: &SqliteIndex, t: &Table) -> Result<u64, MigrateError> {
    let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM \"{}\"",
        t.name
    )))
    .fetch_one(src.pool())
    .await
    .map_err(crate::StoreError::from)?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Rows of a table at the destination.
pub(super) async fn count_destination(dst: &PgIndex, name: &str) -> Result<u64, MigrateError> {
    let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM \"{name}\""
    )))
    .fetch_one(dst.pool())
    .await
    .map_err(crate::StoreError::from)?;
    Ok(u64::try_from(n).unwrap_or(0))
}

fn column_list(t: &Table) -> String {
    t.columns
        .iter()
        .map(|(c, _)| format!("\"{c}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

fn key_list(t: &Table, text_collate: &str) -> String {
    t.key
        .iter()
        .map(|k| {
            let text = t.columns.iter().any(|(c, ty)| c == k && *ty == Ty::Text);
            if text {
                format!("\"{k}\"{text_collate}")
            } else {
                format!("\"{k}\"")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A row of either engine, read column by column as [`Value`]s.
trait Values {
    /// Column `i`, of type `ty`.
    fn value(&self, i: usize, ty: Ty) -> Result<Value, sqlx::Error>;
}

impl<R> Values for R
where
    R: Row,
    usize: ColumnIndex<R>,
    for<'v> i64: Decode<'v, R::Database> + Type<R::Database>,
    for<'v> String: Decode<'v, R::Database> + Type<R::Database>,
    for<'v> Vec<u8>: Decode<'v, R::Database> + Type<R::Database>,
{
    fn value(&self, i: usize, ty: Ty) -> Result<Value, sqlx::Error> {
        Ok(match ty {
            Ty::Blob => self.try_get::<Option<Vec<u8>>, _>(i)?.map(Value::Blob),
            Ty::Int => self.try_get::<Option<i64>, _>(i)?.map(Value::Int),
            Ty::Text => self.try_get::<Option<String>, _>(i)?.map(Value::Text),
        }
        .unwrap_or(Value::Null))
    }
}

/// Read the source's rows of `t` after the first `skip` (in key order),
/// at most [`BATCH_ROWS`], or after the key `after`.
async fn read_batch(
    src: &SqliteIndex,
    t: &Table,
    after: Option<&[Value]>,
    skip: u64,
) -> Result<Vec<Vec<Value>>, MigrateError> {
    let cols = column_list(t);
    let order = key_list(t, "");
    let mut args = SqliteArguments::default();
    let sql = match after {
        None => {
            args.add(i64::try_from(skip).unwrap_or(i64::MAX))
                .map_err(|e| crate::StoreError::from(sqlx::Error::Encode(e)))?;
            format!(
                "SELECT {cols} FROM \"{}\" ORDER BY {order} LIMIT {BATCH_ROWS} OFFSET ?",
                t.name
            )
        }
        Some(key) => {
            let marks = vec!["?"; key.len()].join(", ");
            for v in key {
                add_sqlite(&mut args, v)?;
            }
            format!(
                "SELECT {cols} FROM \"{}\" WHERE ({order}) > ({marks}) ORDER BY {order} LIMIT {BATCH_ROWS}",
                t.name
            )
        }
    };
    let rows = sqlx::query_with(sqlx::AssertSqlSafe(sql), args)
        .fetch_all(src.pool())
        .await
        .map_err(crate::StoreError::from)?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let mut row = Vec::with_capacity(t.columns.len());
        for (i, (_, ty)) in t.columns.iter().enumerate() {
            row.push(r.value(i, *ty).map_err(crate::StoreError::from)?);
        }
        out.push(row);
    }
    Ok(out)
}

fn add_sqlite(args: &mut SqliteArguments, v: &Value) -> Result<(), MigrateError> {
    let r = match v {
        Value::Null => args.add(None::<i64>),
        Value::Blob(b) => args.add(b.clone()),
        Value::Int(i) => args.add(*i),
        Value::Text(s) => args.add(s.clone()),
    };
    r.map_err(|e| crate::StoreError::from(sqlx::Error::Encode(e)).into())
}

fn add_pg(args: &mut PgArguments, v: &Value, ty: Ty) -> Result<(), MigrateError> {
    // A NULL is bound with its column's type: PostgreSQL checks it.
    let r = match (v, ty) {
        (Value::Null, Ty::Blob) => args.add(None::<Vec<u8>>),
        (Value::Null, Ty::Int) => args.add(None::<i64>),
        (Value::Null, Ty::Text) => args.add(None::<String>),
        (Value::Blob(b), _) => args.add(b.as_slice()),
        (Value::Int(i), _) => args.add(*i),
        (Value::Text(s), _) => args.add(s.as_str()),
    };
    r.map_err(|e| crate::StoreError::from(sqlx::Error::Encode(e)).into())
}

/// Insert `rows` into `t` at the destination inside `tx`.
async fn insert_rows(
    tx: &mut sqlx::PgConnection,
    t: &Table,
    rows: &[Vec<Value>],
) -> Result<(), MigrateError> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut args = PgArguments::default();
    let mut groups = Vec::with_capacity(rows.len());
    let mut n = 0usize;
    for row in rows {
        let mut marks = Vec::with_capacity(row.len());
        for (v, (_, ty)) in row.iter().zip(&t.columns) {
            n += 1;
            marks.push(format!("${n}"));
            add_pg(&mut args, v, *ty)?;
        }
        groups.push(format!("({})", marks.join(", ")));
    }
    let sql = format!(
        "INSERT INTO \"{}\" ({}) VALUES {}",
        t.name,
        column_list(t),
        groups.join(", ")
    );
    sqlx::query_with(sqlx::AssertSqlSafe(sql), args)
        .execute(tx)
        .await
        .map_err(crate::StoreError::from)?;
    Ok(())
}

/// Copy the rows of `t` the destination lacks: it holds the first `have`
/// in key order (module docs). Each batch commits on its own, so a run
/// cut short keeps what it committed.
pub(super) async fn copy_table(
    src: &SqliteIndex,
    dst: &PgIndex,
    t: &Table,
    have: u64,
    progress: &dyn Progress,
) -> Result<u64, MigrateError> {
    let mut copied = 0u64;
    let mut last: Option<Vec<Value>> = None;
    loop {
        let rows = read_batch(src, t, last.as_deref(), have).await?;
        if rows.is_empty() {
            return Ok(copied);
        }
        // Cut the read batch into insert batches of bounded size.
        let mut start = 0;
        while start < rows.len() {
            let mut end = start;
            let mut bytes = 0usize;
            while end < rows.len() && (end == start || bytes < BATCH_BYTES) {
                bytes += rows[end].iter().map(Value::size).sum::<usize>();
                end += 1;
            }
            let mut tx = dst.pool().begin().await.map_err(crate::StoreError::from)?;
            insert_rows(&mut tx, t, &rows[start..end]).await?;
            tx.commit().await.map_err(crate::StoreError::from)?;
            let n = (end - start) as u64;
            copied += n;
            progress.advance(n);
            start = end;
        }
        last = last_key(t, &rows);
    }
}

/// The key of the last of `rows`, where the next batch starts.
fn last_key(t: &Table, rows: &[Vec<Value>]) -> Option<Vec<Value>> {
    let key_at: Vec<usize> = t
        .key
        .iter()
        .filter_map(|k| t.columns.iter().position(|(c, _)| c == k))
        .collect();
    rows.last()
        .map(|r| key_at.iter().map(|&i| r[i].clone()).collect())
}

/// Copy the whole of `t` inside `tx` (the `meta` table, in the final
/// transaction).
pub(super) async fn copy_all_in(
    src: &SqliteIndex,
    tx: &mut sqlx::PgConnection,
    t: &Table,
) -> Result<u64, MigrateError> {
    let mut n = 0u64;
    let mut last: Option<Vec<Value>> = None;
    loop {
        let rows = read_batch(src, t, last.as_deref(), 0).await?;
        if rows.is_empty() {
            return Ok(n);
        }
        insert_rows(&mut *tx, t, &rows).await?;
        n += rows.len() as u64;
        last = last_key(t, &rows);
    }
}

/// BLAKE3 of a table's rows in key order, at the source: what
/// [`digest_destination`] must give after the copy.
pub(super) async fn digest_source(src: &SqliteIndex, t: &Table) -> Result<[u8; 32], MigrateError> {
    let sql = select_in_key_order(t, "");
    digest(sqlx::query(sqlx::AssertSqlSafe(sql)).fetch(src.pool()), t).await
}

/// BLAKE3 of a table's rows in key order, at the destination. Text keys
/// sort by bytes (`COLLATE "C"`), as SQLite's BINARY collation does;
/// bytea and bigint sort alike in both engines.
pub(super) async fn digest_destination(dst: &PgIndex, t: &Table) -> Result<[u8; 32], MigrateError> {
    let sql = select_in_key_order(t, " COLLATE \"C\"");
    digest(sqlx::query(sqlx::AssertSqlSafe(sql)).fetch(dst.pool()), t).await
}

/// Every row of `t` in key order, text keys sorted with `text_collate`.
fn select_in_key_order(t: &Table, text_collate: &str) -> String {
    format!(
        "SELECT {} FROM \"{}\" ORDER BY {}",
        column_list(t),
        t.name,
        key_list(t, text_collate)
    )
}

/// BLAKE3 of `rows` (of either engine), every column as a [`Value`].
async fn digest<R: Values>(
    mut rows: BoxStream<'_, Result<R, sqlx::Error>>,
    t: &Table,
) -> Result<[u8; 32], MigrateError> {
    let mut h = blake3::Hasher::new();
    while let Some(r) = rows.try_next().await.map_err(crate::StoreError::from)? {
        for (i, (_, ty)) in t.columns.iter().enumerate() {
            r.value(i, *ty)
                .map_err(crate::StoreError::from)?
                .digest(&mut h);
        }
    }
    Ok(*h.finalize().as_bytes())
}
