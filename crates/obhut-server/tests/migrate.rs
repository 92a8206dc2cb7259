//! `obhut_store::migrate` (issue 20 item 4) on a real vault's stores: a
//! vault on SQLite and a blob directory takes uploads over HTTP and
//! stops; its stores are migrated to a throwaway PostgreSQL cluster and a
//! SeaweedFS bucket. The migration is cut short twice (its future
//! dropped mid-copy, as a kill would stop it: each batch commits alone)
//! and resumed, copying nothing twice; a blob corrupted at the
//! destination is found by the verification, removed and copied again by
//! the next run; a destination holding anything else, and a source with a
//! table the migration does not know, are refused before anything is
//! written. The migrated stores then pass `check_store` and open as the
//! same vault with the same keystore.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use obhut_core::segment::SegmentKind;
use obhut_server::ManualClock;
use obhut_server::embedded::{Start, open_postgres_stores};
use obhut_server::testkit::{Enrolled, InProcess, put_sealed, seal_recording};
use obhut_store::contract::pg::TestServer;
use obhut_store::contract::s3::TestS3;
use obhut_store::dir::DirBlobStore;
use obhut_store::migrate::{MigrateError, Migration, NoProgress, Progress};
use obhut_store::postgres::PgIndex;
use obhut_store::s3::S3BlobStore;
use obhut_store::sqlite::SqliteIndex;
use obhut_store::{BlobConfig, BlobStore, IndexStore, LogStore, StagedBlob, check_store};

const NOW: i64 = 1_790_000_000_000;
const CLASS: &str = "bodycam-30d";

/// A vault in `root` (data, keys) that took four recordings of three
/// segments over HTTP, then stopped.
fn recorded_vault(root: &Path) {
    let clock = Arc::new(ManualClock::new(NOW));
    let vault = InProcess::start(&root.join("data"), &root.join("keys"), clock, 1 << 20);
    let dev = Enrolled::new(&vault, CLASS, NOW);
    for r in 0..4 {
        let payloads: Vec<_> = (0..3u8)
            .map(|i| {
                (
                    SegmentKind::Media,
                    vec![i ^ r; 20_000 + usize::from(i) * 1000],
                )
            })
            .collect();
        let segs = seal_recording(
            &dev.device,
            &dev.group,
            &dev.epoch,
            NOW + i64::from(r) * 10_000,
            &payloads,
            true,
        );
        for s in &segs {
            let a = put_sealed(vault.addr, &vault.ids(), &dev.device, s, NOW).unwrap();
            assert_eq!(a.status, 201, "{:?}", a.json());
        }
    }
    // Until the log has a checkpoint over every entry: the destination's
    // log is then checked against all of it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let seq = vault.block_on(vault.app.index.log_sequenced()).unwrap();
        let cp = vault.block_on(vault.app.index.log_checkpoint()).unwrap();
        if cp.is_some_and(|c| c.size == seq) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no checkpoint");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let index = vault.app.index.clone();
    vault.block_on(index.close());
}

/// Stops the run (by completing first in a `select!`) once `limit` units
/// of phase `at` are done.
struct StopAfter {
    at: &'static str,
    limit: u64,
    phase: std::sync::Mutex<&'static str>,
    done: AtomicU64,
    hit: tokio::sync::Notify,
}

impl StopAfter {
    fn new(at: &'static str, limit: u64) -> Self {
        StopAfter {
            at,
            limit,
            phase: std::sync::Mutex::new(""),
            done: AtomicU64::new(0),
            hit: tokio::sync::Notify::new(),
        }
    }
}

impl Progress for StopAfter {
    fn phase(&self, what: &'static str, _total: u64, _done: u64, _bytes: bool) {
        *self.phase.lock().unwrap() = what;
        self.done.store(0, Ordering::SeqCst);
    }
    fn advance(&self, n: u64) {
        let done = self.done.fetch_add(n, Ordering::SeqCst) + n;
        if *self.phase.lock().unwrap() == self.at && done >= self.limit {
            self.hit.notify_one();
        }
    }
}

struct Stores {
    src: SqliteIndex,
    src_blobs: DirBlobStore,
    pg: PgIndex,
    pg_url: String,
    s3: S3BlobStore,
    s3_url: String,
}

impl Stores {
    fn migration(&self) -> Migration<'_, DirBlobStore, S3BlobStore> {
        Migration {
            source: &self.src,
            source_blobs: &self.src_blobs,
            to_index: Some(&self.pg),
            to_blobs: Some((&self.s3, self.s3_url.clone())),
        }
    }
}

async fn stores(root: &Path, pg: &Arc<TestServer>) -> Stores {
    let src = SqliteIndex::open(&root.join("data/obhut.sqlite"))
        .await
        .unwrap();
    let src_blobs = DirBlobStore::open(&root.join("data")).await.unwrap();
    let db = pg.schema().await.unwrap();
    let s3_url = TestS3::new_url();
    let s3 = TestS3::shared().store_at(&s3_url).await;
    Stores {
        src,
        src_blobs,
        pg: PgIndex::connect(&db.url).await.unwrap(),
        pg_url: db.url,
        s3,
        s3_url,
    }
}

#[test]
fn a_migration_cut_short_resumes_verifies_and_opens_as_the_same_vault() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    recorded_vault(root);
    let pg = TestServer::shared().expect("a PostgreSQL test cluster");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let st = stores(root, &pg).await;
        let m = st.migration();
        let src_keys = {
            let mut k = st.src_blobs.list().await.unwrap();
            k.sort();
            k
        };
        assert_eq!(src_keys.len(), 12);

        // Cut short while copying blobs, then while copying rows.
        for (at, limit) in [("blobs", 60_000), ("rows", 20)] {
            let stop = StopAfter::new(at, limit);
            tokio::select! {
                biased;
                () = stop.hit.notified() => {}
                r = m.run(&stop) => panic!("ran to the end before the stop: {r:?}"),
            }
        }
        // Half copied: no vault can open the destination yet.
        assert_eq!(st.pg.instance_id().await.unwrap(), None);
        // The second run copied the blobs the first did not, then stopped
        // in the rows.
        assert_eq!(st.s3.list().await.unwrap().len(), 12);

        let report = m.run(&NoProgress).await.unwrap();
        assert!(report.resumed);
        assert_eq!(report.blobs, 12);
        assert_eq!(report.blobs_copied, 0, "{report:?}");
        assert!(report.rows_copied < report.rows, "{report:?}");
        let sequenced = st.src.log_sequenced().await.unwrap();
        assert_eq!(report.log_entries, sequenced);
        assert_eq!(st.pg.log_sequenced().await.unwrap(), sequenced);
        // Nothing twice: the same rows and blobs as the source.
        for t in [
            "segments",
            "log_entries",
            "log_tiles",
            "log_checkpoints",
            "meta",
        ] {
            let q = format!("SELECT COUNT(*) FROM {t}");
            let a: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(q.clone()))
                .fetch_one(st.src.pool())
                .await
                .unwrap();
            let b: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(q))
                .fetch_one(st.pg.pool())
                .await
                .unwrap();
            assert_eq!(a, b, "{t}");
        }
        let mut dst_keys = st.s3.list().await.unwrap();
        dst_keys.sort();
        assert_eq!(dst_keys, src_keys);
        assert_eq!(
            st.pg.instance_id().await.unwrap(),
            st.src.instance_id().await.unwrap()
        );
        let checked = check_store(&st.pg, &st.s3).await.unwrap();
        assert!(checked.findings.is_empty(), "{:?}", checked.findings);
        assert_eq!(checked.segments, 12);

        // A second run on a finished migration copies nothing.
        let again = m.run(&NoProgress).await.unwrap();
        assert_eq!((again.rows_copied, again.blobs_copied), (0, 0));

        // A blob changed at the destination (same length): found by the
        // verification, removed, copied again by the next run.
        let bad = src_keys[4];
        let len = st.s3.len(bad).await.unwrap().unwrap();
        let staged = st
            .s3
            .stage(&vec![0x5a; usize::try_from(len).unwrap()][..], len)
            .await
            .unwrap();
        let h = staged.hash();
        st.s3.publish(bad, staged, h).await.unwrap();
        let e = m.run(&NoProgress).await.unwrap_err();
        let MigrateError::Verify(found) = &e else {
            panic!("{e}")
        };
        assert_eq!(found.len(), 1, "{found:?}");
        let named = format!("recording {} segment {}", bad.recording, bad.index);
        assert!(found[0].contains(&named), "{e}");
        assert_eq!(st.s3.len(bad).await.unwrap(), None, "removed");
        let fixed = m.run(&NoProgress).await.unwrap();
        assert_eq!(fixed.blobs_copied, 1);
        let checked = check_store(&st.pg, &st.s3).await.unwrap();
        assert!(checked.findings.is_empty(), "{:?}", checked.findings);

        // The same vault: its keystore opens on the migrated stores.
        let blobs = BlobConfig {
            url: Some(st.s3_url.clone()),
            options: TestS3::shared()
                .options()
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
        };
        let opened = open_postgres_stores(
            &st.pg_url,
            &root.join("data-after"),
            &root.join("keys"),
            &blobs,
            Start::Existing,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(opened.report.missing_blobs.len(), 0);
        st.src.close().await;
    });
}

#[test]
fn a_foreign_destination_and_an_unknown_table_are_refused_before_any_write() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    recorded_vault(root);
    let other = root.join("other");
    std::fs::create_dir(&other).unwrap();
    recorded_vault(&other);
    let pg = TestServer::shared().expect("a PostgreSQL test cluster");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let st = stores(root, &pg).await;

        // A table another release added, unknown to this migration.
        sqlx::query("CREATE TABLE leases (name TEXT PRIMARY KEY NOT NULL) STRICT")
            .execute(st.src.pool())
            .await
            .unwrap();
        let e = st.migration().run(&NoProgress).await.unwrap_err();
        assert!(
            matches!(&e, MigrateError::UnknownTable(t) if t == "leases"),
            "{e}"
        );
        assert_eq!(st.s3.instance_id().await.unwrap(), None, "nothing written");
        sqlx::query("DROP TABLE leases")
            .execute(st.src.pool())
            .await
            .unwrap();

        // A database with rows no migration put there.
        sqlx::query("INSERT INTO auditors (person_key, added_ms) VALUES ($1, 0)")
            .bind(&[7u8; 32][..])
            .execute(st.pg.pool())
            .await
            .unwrap();
        let e = st.migration().run(&NoProgress).await.unwrap_err();
        assert!(
            matches!(&e, MigrateError::NotEmpty { detail, .. } if detail.contains("auditors")),
            "{e}"
        );
        sqlx::query("DELETE FROM auditors")
            .execute(st.pg.pool())
            .await
            .unwrap();

        // Half migrated from one vault, then another vault's source.
        let stop = StopAfter::new("rows", 5);
        let first = st.migration();
        tokio::select! {
            biased;
            () = stop.hit.notified() => {}
            r = first.run(&stop) => panic!("ran to the end: {r:?}"),
        }
        let other_src = SqliteIndex::open(&other.join("data/obhut.sqlite"))
            .await
            .unwrap();
        let other_blobs = DirBlobStore::open(&other.join("data")).await.unwrap();
        let m = Migration {
            source: &other_src,
            source_blobs: &other_blobs,
            to_index: Some(&st.pg),
            to_blobs: None::<(&S3BlobStore, String)>,
        };
        let e = m.run(&NoProgress).await.unwrap_err();
        assert!(matches!(e, MigrateError::OtherVault { .. }), "{e}");
        let m = Migration {
            source: &other_src,
            source_blobs: &other_blobs,
            to_index: None,
            to_blobs: Some((&st.s3, st.s3_url.clone())),
        };
        let e = m.run(&NoProgress).await.unwrap_err();
        assert!(matches!(e, MigrateError::OtherVault { .. }), "{e}");
        // The first vault's run still finishes.
        st.migration().run(&NoProgress).await.unwrap();
        other_src.close().await;
        st.src.close().await;
    });
}
