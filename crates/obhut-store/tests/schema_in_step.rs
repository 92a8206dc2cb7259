//! The two engines' migrations kept in step: applied to empty databases,
//! `migrations/` (SQLite) and `migrations-postgres/` must give the same
//! tables, with the same columns in the same order, the same types
//! (SQLite's BLOB, INTEGER and TEXT are PostgreSQL's bytea, bigint and
//! text), the same nullability and primary keys, and the same secondary
//! indexes by name. A migration added to one engine fails this test
//! until the other has its counterpart.

use std::collections::BTreeMap;

use obhut_store::contract::pg::TestServer;
use obhut_store::postgres::PgIndex;
use obhut_store::sqlite::SqliteIndex;
use sqlx::Row;

/// Tables only PostgreSQL has, and why.
const POSTGRES_ONLY: &[&str] = &[
    // The row every write transaction locks first (src/postgres/mod.rs);
    // SQLite's database-wide write lock is its counterpart.
    "log_head",
];

/// A column as both engines describe it.
#[derive(Debug, PartialEq, Eq)]
struct Column {
    name: String,
    /// bytea, bigint or text.
    ty: String,
    not_null: bool,
    /// 1-based position in the primary key; 0 if not in it.
    pk: i64,
}

#[derive(Debug, Default, PartialEq, Eq)]
struct Schema {
    tables: BTreeMap<String, Vec<Column>>,
    indexes: Vec<String>,
}

async fn sqlite_schema(index: &SqliteIndex) -> Schema {
    let mut s = Schema::default();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE '\\_sqlx%' ESCAPE '\\' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
    )
    .fetch_all(index.pool())
    .await
    .unwrap();
    for t in tables {
        let rows = sqlx::query(
            "SELECT name, type, \"notnull\", pk FROM pragma_table_info(?) ORDER BY cid",
        )
        .bind(&t)
        .fetch_all(index.pool())
        .await
        .unwrap();
        let cols = rows
            .iter()
            .map(|r| Column {
                name: r.get("name"),
                ty: match r.get::<String, _>("type").as_str() {
                    "BLOB" => "bytea",
                    "INTEGER" => "bigint",
                    "TEXT" => "text",
                    other => panic!("a SQLite type without a PostgreSQL counterpart here: {other}"),
                }
                .to_owned(),
                not_null: r.get::<i64, _>("notnull") != 0 || r.get::<i64, _>("pk") != 0,
                pk: r.get("pk"),
            })
            .collect();
        s.tables.insert(t, cols);
    }
    s.indexes = sqlx::query_scalar(
        "SELECT name FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL ORDER BY name",
    )
    .fetch_all(index.pool())
    .await
    .unwrap();
    s
}

async fn postgres_schema(index: &PgIndex) -> Schema {
    let mut s = Schema::default();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables
         WHERE table_schema = current_schema() AND table_name NOT LIKE '\\_sqlx%'
         ORDER BY table_name",
    )
    .fetch_all(index.pool())
    .await
    .unwrap();
    for t in tables {
        if POSTGRES_ONLY.contains(&t.as_str()) {
            continue;
        }
        let rows = sqlx::query(
            "SELECT c.column_name::text AS name, c.data_type::text AS ty, c.is_nullable::text AS nullable,
                    COALESCE(k.ordinal_position, 0)::bigint AS pk
             FROM information_schema.columns c
             LEFT JOIN information_schema.table_constraints tc
               ON tc.table_schema = c.table_schema AND tc.table_name = c.table_name
              AND tc.constraint_type = 'PRIMARY KEY'
             LEFT JOIN information_schema.key_column_usage k
               ON k.constraint_name = tc.constraint_name AND k.table_schema = c.table_schema
              AND k.table_name = c.table_name AND k.column_name = c.column_name
             WHERE c.table_schema = current_schema() AND c.table_name = $1
             ORDER BY c.ordinal_position",
        )
        .bind(&t)
        .fetch_all(index.pool())
        .await
        .unwrap();
        let cols = rows
            .iter()
            .map(|r| Column {
                name: r.get("name"),
                ty: r.get("ty"),
                not_null: r.get::<String, _>("nullable") == "NO",
                pk: r.get("pk"),
            })
            .collect();
        s.tables.insert(t, cols);
    }
    s.indexes = sqlx::query_scalar(
        "SELECT indexname::text FROM pg_indexes
         WHERE schemaname = current_schema() AND indexname NOT LIKE '%\\_pkey'
         ORDER BY indexname",
    )
    .fetch_all(index.pool())
    .await
    .unwrap();
    s
}

#[tokio::test]
async fn both_engines_migrate_to_the_same_schema() {
    let d = tempfile::tempdir().unwrap();
    let sqlite = SqliteIndex::open(&d.path().join("obhut.sqlite"))
        .await
        .unwrap();
    let server = TestServer::shared().expect("starting the test cluster");
    let db = server.schema().await.unwrap();
    let pg = PgIndex::connect(&db.url).await.unwrap();
    let (want, got) = (sqlite_schema(&sqlite).await, postgres_schema(&pg).await);
    assert!(want.tables.len() > 10, "{want:?}");
    for (t, cols) in &want.tables {
        assert_eq!(
            got.tables.get(t),
            Some(cols),
            "table {t}: add the same change to both migrations/ and migrations-postgres/"
        );
    }
    let extra: Vec<_> = got
        .tables
        .keys()
        .filter(|t| !want.tables.contains_key(*t))
        .collect();
    assert!(extra.is_empty(), "tables only PostgreSQL has: {extra:?}");
    assert_eq!(got.indexes, want.indexes, "secondary indexes");
}
