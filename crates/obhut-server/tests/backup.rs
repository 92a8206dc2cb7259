//! The embedded vault's online backup (`obhut_store::backup`, `obhut
//! backup`; issue 20 item 5, docs/backup.md) against a real vault on an
//! injected clock: taken while the vault serves, the backup is a data
//! directory that passes the full check (every blob against its record,
//! the log against its checkpoint) and serves as the same vault; and
//! retention's key destruction still defeats it: once the epoch expired
//! and the sweeper destroyed its key in the key holder, the backup —
//! restored with the keystore copied beside it — opens nothing of that
//! epoch, though its index rows and ciphertext are all there.

use crate::retention_support;

use obhut_server::keystore::KeystoreError;
use obhut_server::testkit::InProcess;
use obhut_store::backup::{BackupError, backup_embedded};
use obhut_store::dir::DirBlobStore;
use obhut_store::migrate::NoProgress;
use obhut_store::sqlite::SqliteIndex;
use obhut_store::{BlobKey, BlobStore, IndexStore, check_store};
use retention_support::*;

#[test]
fn an_online_backup_checks_clean_and_opens_nothing_after_its_epoch_key_is_destroyed() {
    let w = world();
    let rid = upload(&w, NOW);
    let id = w.device.epoch.epoch_id;
    let app = &w.vault.app;
    assert!(
        app.keystore.epoch(id).is_ok(),
        "the key opens before expiry"
    );

    // While the vault runs: the data directory by obhut_store::backup,
    // the keystore as files (never the key holder).
    let root = w.dir.path().join("restored");
    let report = w
        .vault
        .block_on(backup_embedded(
            &app.index,
            &app.blobs,
            &root.join("data"),
            &NoProgress,
        ))
        .unwrap();
    assert_eq!((report.segments, report.bytes > 0), (2, true), "{report:?}");
    copy_dir(&w.dir.path().join("keys"), &root.join("keys"));
    // A second backup into the same directory is refused.
    let again = w.vault.block_on(backup_embedded(
        &app.index,
        &app.blobs,
        &root.join("data"),
        &NoProgress,
    ));
    assert!(matches!(again, Err(BackupError::TargetNotEmpty(_))));

    // The backup passes the full check on its own.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let index = SqliteIndex::open(&root.join("data/obhut.sqlite"))
            .await
            .unwrap();
        let blobs = DirBlobStore::open(&root.join("data")).await.unwrap();
        assert_eq!(
            index.instance_id().await.unwrap(),
            blobs.instance_id().await.unwrap()
        );
        let checked = check_store(&index, &blobs).await.unwrap();
        assert!(checked.findings.is_empty(), "{:?}", checked.findings);
        assert_eq!(checked.segments, 2);
        assert!(checked.log_entries > 0);
        index.close().await;
    });

    // The epoch expires; the sweeper destroys its key, then its footage.
    w.clock.set(w.device.epoch.not_after + KEEP);
    let swept = w.sweep();
    assert_eq!((swept.keys_destroyed, swept.blobs), (1, 2), "{swept:?}");
    assert!(app.keystore.epoch(id).is_err());

    // The backup restored as a vault, with the vault's own key holder:
    // its ciphertext of the epoch is there, its key is not.
    let backed_up = rt.block_on(DirBlobStore::open(&root.join("data"))).unwrap();
    for index in 0..2 {
        let key = BlobKey {
            recording: rid,
            index,
        };
        assert!(backed_up.path_of(key).exists(), "{index}");
    }
    drop(w.vault);
    let restored = InProcess::start_with(
        &root.join("data"),
        &root.join("keys"),
        w.clock.clone(),
        settings(obhut_server::config::FileConfig {
            epoch_holder_dir: Some(holder_dir(w.dir.path())),
            ..Default::default()
        }),
    );
    let sealed = std::fs::read(root.join("keys/epochs").join(format!("{id}.sealed"))).unwrap();
    assert!(matches!(
        restored.app.keystore.open_sealed(id, &sealed),
        Err(KeystoreError::Holder(_))
    ));
    assert!(restored.app.keystore.epoch(id).is_err());
}
