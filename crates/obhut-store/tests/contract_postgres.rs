//! The store contract suite (`obhut_store::contract`) on PostgreSQL: a
//! throwaway cluster this binary starts itself (`contract::pg`), a fresh
//! database per case. Then what only a shared server can show: two
//! handles (two vault processes) appending and acknowledging at once
//! never fork the log nor lose an entry, a lost compare-and-swap of the
//! tree head is refused, and every connection commits synchronously.

use std::collections::HashSet;
use std::sync::Arc;

use obhut_core::audit::{Actor, Event, LogEntry, Role};
use obhut_store::contract::{self, pg::TestServer};
use obhut_store::postgres::PgIndex;
use obhut_store::{LogStore, NewLogEntry, StoreError, StoredCheckpoint};

async fn database() -> (Arc<TestServer>, String) {
    let server = TestServer::shared().expect("starting the test cluster");
    let db = server.database().await.expect("a fresh database");
    (db.server, db.url)
}

async fn pg() -> (Arc<TestServer>, PgIndex) {
    let server = TestServer::shared().expect("starting the test cluster");
    in_schema(&server).await
}

/// An index in a fresh schema of `server`: the suite's many cases each
/// need one.
async fn in_schema(server: &Arc<TestServer>) -> (Arc<TestServer>, PgIndex) {
    let db = server.schema().await.expect("a fresh schema");
    let (server, url) = (db.server, db.url);
    let index = PgIndex::connect(&url).await.expect("opening the index");
    (server, index)
}

#[tokio::test]
async fn the_postgres_index_keeps_the_contract() {
    // Held across the cases: the cluster stops when its last handle
    // drops, and each case drops its own.
    let server = TestServer::shared().expect("starting the test cluster");
    contract::index_store(|| in_schema(&server)).await;
}

#[tokio::test]
async fn every_connection_commits_synchronously() {
    let (_server, index) = pg().await;
    for _ in 0..4 {
        let v: String = sqlx::query_scalar("SHOW synchronous_commit")
            .fetch_one(index.pool())
            .await
            .unwrap();
        assert_eq!(v, "on");
    }
}

fn entry(writer: u32, n: u32) -> NewLogEntry {
    NewLogEntry::new(&LogEntry {
        time_ms: 1,
        actor: Actor {
            role: Role::Operator,
            key: [0; 32],
        },
        recording: None,
        event: Event::PolicyInEffect {
            policy: format!("writer {writer} entry {n}"),
        },
    })
    .unwrap()
}

/// Two handles on one database (two vault processes) append at once, in
/// single entries and batches: every entry is stored once, the indexes
/// are dense from 0, and each batch's entries are consecutive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_appending_at_once_never_fork_the_log() {
    let (_server, url) = database().await;
    let a = PgIndex::connect(&url).await.unwrap();
    let b = PgIndex::connect(&url).await.unwrap();
    const WRITERS: u32 = 16;
    const APPENDS: u32 = 20;
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let index = if w % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            let mut firsts = Vec::new();
            for n in 0..APPENDS {
                // Every third append a batch of three.
                let batch: Vec<_> = if n % 3 == 0 {
                    (0..3).map(|k| entry(w, n * 10 + k)).collect()
                } else {
                    vec![entry(w, n * 10)]
                };
                let first = index.log_append(&batch).await.expect("append");
                firsts.push((first, batch));
            }
            firsts
        }));
    }
    let mut want = 0u64;
    let mut placed = Vec::new();
    for t in tasks {
        for (first, batch) in t.await.unwrap() {
            want += batch.len() as u64;
            placed.push((first, batch));
        }
    }
    assert_eq!(a.log_sequenced().await.unwrap(), want);
    assert_eq!(b.log_sequenced().await.unwrap(), want);
    let rows = a.log_entries(0, u32::MAX).await.unwrap();
    assert_eq!(rows.len() as u64, want, "no entry lost");
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r.index, i as u64, "dense from 0");
    }
    let bodies: HashSet<_> = rows.iter().map(|r| r.body.clone()).collect();
    assert_eq!(bodies.len() as u64, want, "no entry twice");
    for (first, batch) in placed {
        for (k, e) in batch.iter().enumerate() {
            let row = &rows[first as usize + k];
            assert_eq!(
                row.body.as_deref(),
                Some(&e.body[..]),
                "a batch is consecutive"
            );
        }
    }
}

/// Two integrators race to sign the same size from the same head: one
/// wins, the other's compare-and-swap is refused; a stale one (grown from
/// a head that is no longer the latest, even to a larger size) too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_compare_and_swap_of_the_tree_head_is_refused() {
    let (_server, url) = database().await;
    let a = PgIndex::connect(&url).await.unwrap();
    let b = PgIndex::connect(&url).await.unwrap();
    let cp = |size, tag: u8| StoredCheckpoint {
        size,
        time_ms: 1,
        note: vec![tag; 8],
        edge: vec![tag; 32],
    };
    let (one, two) = (cp(5, 1), cp(5, 2));
    let (ra, rb) = tokio::join!(a.log_integrate(0, &[], &one), b.log_integrate(0, &[], &two));
    assert!(ra.is_ok() != rb.is_ok(), "exactly one wins: {ra:?} {rb:?}");
    let lost = if ra.is_err() { ra } else { rb };
    assert!(
        matches!(
            lost,
            Err(StoreError::HeadMoved {
                expected: 0,
                latest: 5
            })
        ),
        "{lost:?}"
    );
    for (from, size) in [(5, 4), (0, 9), (3, 9)] {
        let r = a.log_integrate(from, &[], &cp(size, 3)).await;
        assert!(matches!(r, Err(StoreError::HeadMoved { .. })), "{r:?}");
    }
    assert_eq!(b.log_checkpoint().await.unwrap().unwrap().size, 5);
}

/// A writer that skipped the log head's lock (a bug, or a tool writing
/// the table) cannot put a second entry at a taken index: the primary
/// key refuses it, so the log cannot fork underneath the integrator.
#[tokio::test]
async fn a_second_entry_at_a_taken_index_is_refused() {
    let (_server, index) = pg().await;
    index.log_append(&[entry(0, 0)]).await.unwrap();
    let e = sqlx::query(
        "INSERT INTO log_entries (idx, time_ms, kind, body, leaf_hash) VALUES (0, 1, 'x', '\\x00', '\\x00')",
    )
    .execute(index.pool())
    .await
    .unwrap_err();
    assert!(e.to_string().contains("duplicate key"), "{e}");
    assert_eq!(index.log_sequenced().await.unwrap(), 1);
}
