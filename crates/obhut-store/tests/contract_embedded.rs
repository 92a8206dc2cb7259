//! The store contract suite (`obhut_store::contract`) on the embedded
//! engines: SQLite in a temporary directory and the blob directory; then
//! the fault-injecting blob store, disarmed (it must keep the contract
//! too) and armed (each fault leaves what the contract promises).

use obhut_core::ids::RecordingId;
use obhut_core::segment::ciphertext_hasher;
use obhut_store::contract::{self, Fault, FaultyBlobStore};
use obhut_store::dir::DirBlobStore;
use obhut_store::sqlite::SqliteIndex;
use obhut_store::{BlobKey, BlobStore, StoreError, check_consistency};
use tempfile::TempDir;

async fn sqlite() -> (TempDir, SqliteIndex) {
    let d = tempfile::tempdir().expect("temporary directory");
    let index = SqliteIndex::open(&d.path().join("obhut.sqlite"))
        .await
        .expect("opening the index");
    (d, index)
}

async fn dir() -> (TempDir, DirBlobStore) {
    let d = tempfile::tempdir().expect("temporary directory");
    let blobs = DirBlobStore::open(d.path())
        .await
        .expect("opening the blob directory");
    (d, blobs)
}

async fn faulty() -> (TempDir, FaultyBlobStore<DirBlobStore>) {
    let (d, blobs) = dir().await;
    (d, FaultyBlobStore::new(blobs))
}

#[tokio::test]
async fn the_sqlite_index_keeps_the_contract() {
    contract::index_store(sqlite).await;
}

#[tokio::test]
async fn the_blob_directory_keeps_the_contract() {
    contract::blob_store(dir).await;
}

#[tokio::test]
async fn the_faulty_store_disarmed_keeps_the_contract() {
    contract::blob_store(faulty).await;
}

fn hash(b: &[u8]) -> [u8; 32] {
    let mut h = ciphertext_hasher();
    h.update(b);
    *h.finalize().as_bytes()
}

const KEY: BlobKey = BlobKey {
    recording: RecordingId([1; 16]),
    index: 0,
};

#[tokio::test]
async fn each_fault_fails_its_operation_and_leaves_the_promised_state() {
    let (d, s) = faulty().await;
    let b = vec![3u8; 100_000];
    let len = b.len() as u64;
    let leftovers = |d: &TempDir| std::fs::read_dir(d.path().join("tmp")).unwrap().count();

    // Write: nothing staged, nothing left.
    s.arm(Fault::Write, 1);
    assert!(matches!(
        s.stage(&b[..], len).await,
        Err(StoreError::Io { .. })
    ));
    assert_eq!(leftovers(&d), 0);

    // Fsync: the staged blob is the caller's to discard; nothing visible.
    s.arm(Fault::Sync, 1);
    let mut staged = s.stage(&b[..], len).await.unwrap();
    assert!(matches!(
        s.sync_staged(&mut staged).await,
        Err(StoreError::Io { .. })
    ));
    s.discard(staged).await;
    assert_eq!(leftovers(&d), 0);

    // Rename: nothing published, the staged bytes gone.
    s.arm(Fault::Publish, 1);
    assert!(matches!(
        s.put_verified(KEY, &b[..], len, hash(&b)).await,
        Err(StoreError::Io { .. })
    ));
    assert!(s.list().await.unwrap().is_empty());
    assert_eq!(leftovers(&d), 0);

    // Each armed fault fired once, and disarmed ones pass.
    for f in [Fault::Write, Fault::Sync, Fault::Publish] {
        assert_eq!(s.injected(f), 1, "{f:?}");
    }
    s.put_verified(KEY, &b[..], len, hash(&b)).await.unwrap();
    assert_eq!(s.list().await.unwrap(), [KEY]);

    // Armed for two: the next two fail, the third passes.
    s.arm(Fault::Write, 2);
    for _ in 0..2 {
        assert!(s.stage(&b[..], len).await.is_err());
    }
    s.discard(s.stage(&b[..], len).await.unwrap()).await;
    s.arm(Fault::Sync, 5);
    s.disarm();
    let mut staged = s.stage(&b[..], len).await.unwrap();
    s.sync_staged(&mut staged).await.unwrap();
    s.discard(staged).await;
}

#[tokio::test]
async fn a_crash_between_blob_and_row_leaves_an_orphan_the_startup_check_reports() {
    let (d, index) = sqlite().await;
    let blobs = FaultyBlobStore::new(DirBlobStore::open(d.path()).await.unwrap());
    let (db, root) = (
        d.path().join("obhut.sqlite"),
        blobs.inner().root().to_owned(),
    );
    let first = check_consistency(&index, &blobs, &db, &root).await.unwrap();
    assert!(first.orphan_blobs.is_empty());

    // The blob lands, the caller hears an error and never writes the row.
    let b = vec![5u8; 10_000];
    blobs.arm(Fault::AfterPublish, 1);
    assert!(matches!(
        blobs
            .put_verified(KEY, &b[..], b.len() as u64, hash(&b))
            .await,
        Err(StoreError::Io { .. })
    ));
    assert_eq!(blobs.list().await.unwrap(), [KEY], "the blob is there");
    let report = check_consistency(&index, &blobs, &db, &root).await.unwrap();
    assert_eq!(report.orphan_blobs, [KEY]);
    assert!(
        report.missing_blobs.is_empty(),
        "no row names a missing blob"
    );
}
