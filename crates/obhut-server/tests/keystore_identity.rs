//! Issue 16: a missing keystore was silently replaced. The vault starts
//! only with the keystore of its own data directory (the instance id in
//! `KEYS/instance`), makes keys only when asked (`Start::Init`, `obhut
//! serve --init`), and every refusal names the problem and the fix.
//! Real SQLite and blob directory, the same `Vault::open` `obhut serve`
//! runs.

use std::path::{Path, PathBuf};

use obhut_server::ServerConfig;
use obhut_server::config::FileConfig;
use obhut_server::embedded::{EmbeddedError, Start, Vault};
use obhut_server::keystore::KeystoreError;
use obhut_store::LogStore;

fn config(data: &Path, keys: &Path) -> ServerConfig {
    ServerConfig::from_layers(FileConfig {
        data: Some(data.to_owned()),
        keys: Some(keys.to_owned()),
        listen: Some("127.0.0.1:0".into()),
        ..FileConfig::default()
    })
    .expect("config")
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn open(data: &Path, keys: &Path, start: Start) -> Result<Vault, EmbeddedError> {
    rt().block_on(Vault::open(config(data, keys), start))
}

/// A vault made with `--init` that has logged its policy and signed a
/// checkpoint (as after its first start); returns its receipt key.
fn init_vault(data: &Path, keys: &Path) -> [u8; 32] {
    let rt = rt();
    rt.block_on(async {
        let v = Vault::open(config(data, keys), Start::Init)
            .await
            .expect("init");
        let app = v.app().clone();
        app.record_policy().await;
        app.log
            .integrate(&app.index, 1_790_000_000_000)
            .await
            .expect("integrate");
        assert!(app.index.log_checkpoint().await.unwrap().is_some());
        let key = app.keystore.vault_key().verify_key().to_bytes();
        drop(v);
        app.index.close().await;
        key
    })
}

fn dirs(t: &tempfile::TempDir, name: &str) -> (PathBuf, PathBuf) {
    (
        t.path().join(format!("{name}-data")),
        t.path().join(format!("{name}-keys")),
    )
}

fn mkdir_private(p: &Path) {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().mode(0o700).create(p).unwrap();
}

fn refused(r: Result<Vault, EmbeddedError>) -> (EmbeddedError, String) {
    match r {
        Ok(_) => panic!("the vault started"),
        Err(e) => {
            let m = e.to_string();
            (e, m)
        }
    }
}

#[test]
fn a_new_vault_needs_init_and_creates_nothing_without_it() {
    let t = tempfile::tempdir().unwrap();
    let (data, keys) = dirs(&t, "a");
    let (e, m) = refused(open(&data, &keys, Start::Existing));
    assert!(matches!(e, EmbeddedError::NotInitialised { .. }), "{e:?}");
    assert!(m.contains("obhut serve --init"), "{m}");
    assert!(
        !data.exists() && !keys.exists(),
        "a refused start writes nothing"
    );

    // An empty keystore directory beside a new data directory: the same.
    mkdir_private(&keys);
    let (e, _) = refused(open(&data, &keys, Start::Existing));
    assert!(matches!(e, EmbeddedError::NotInitialised { .. }), "{e:?}");

    let key = init_vault(&data, &keys);
    assert!(keys.join("instance").exists());
    // Started again, with or without --init: the same vault, the same key.
    for start in [Start::Existing, Start::Init] {
        let v = open(&data, &keys, start).expect("reopen");
        assert_eq!(
            v.app().keystore.vault_key().verify_key().to_bytes(),
            key,
            "{start:?}"
        );
    }
}

#[test]
fn a_missing_keystore_is_refused_not_replaced() {
    let t = tempfile::tempdir().unwrap();
    let (data, keys) = dirs(&t, "a");
    let key = init_vault(&data, &keys);
    std::fs::rename(&keys, t.path().join("backup")).unwrap();

    for start in [Start::Existing, Start::Init] {
        let (e, m) = refused(open(&data, &keys, start));
        assert!(
            matches!(
                e,
                EmbeddedError::KeystoreMissing {
                    state: "does not exist",
                    ..
                }
            ),
            "{start:?}: {e:?}"
        );
        assert!(m.contains("does not exist") && m.contains("Restore"), "{m}");
        assert!(m.contains(&keys.display().to_string()), "{m}");
        assert!(!keys.join("vault.key").exists(), "no new key was made");
    }

    // Restored from the backup, it starts with its own key.
    std::fs::rename(t.path().join("backup"), &keys).unwrap();
    let v = open(&data, &keys, Start::Existing).expect("restored");
    assert_eq!(v.app().keystore.vault_key().verify_key().to_bytes(), key);
}

#[test]
fn an_empty_keystore_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let (data, keys) = dirs(&t, "a");
    init_vault(&data, &keys);
    std::fs::remove_dir_all(&keys).unwrap();
    mkdir_private(&keys);
    for start in [Start::Existing, Start::Init] {
        let (e, m) = refused(open(&data, &keys, start));
        assert!(
            matches!(
                e,
                EmbeddedError::KeystoreMissing {
                    state: "is empty",
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(m.contains("is empty") && m.contains("Restore"), "{m}");
    }
    assert_eq!(std::fs::read_dir(&keys).unwrap().count(), 0);
}

#[test]
fn a_lost_key_file_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let (data, keys) = dirs(&t, "a");
    init_vault(&data, &keys);
    std::fs::remove_file(keys.join("vault.key")).unwrap();
    let (e, m) = refused(open(&data, &keys, Start::Init));
    assert!(
        matches!(e, EmbeddedError::Keystore(KeystoreError::MissingKey { .. })),
        "{e:?}"
    );
    assert!(m.contains("vault.key") && m.contains("Restore"), "{m}");
}

#[test]
fn another_vaults_keystore_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let (data_a, keys_a) = dirs(&t, "a");
    let (data_b, keys_b) = dirs(&t, "b");
    init_vault(&data_a, &keys_a);
    init_vault(&data_b, &keys_b);

    let (e, m) = refused(open(&data_a, &keys_b, Start::Existing));
    assert!(
        matches!(e, EmbeddedError::Keystore(KeystoreError::Foreign { .. })),
        "{e:?}"
    );
    assert!(m.contains("belongs to the vault with instance id"), "{m}");
    assert!(m.contains("pass the --keys of this --data"), "{m}");

    // A bound keystore beside a data directory without a vault: its data
    // directory is elsewhere (or lost), and --init makes nothing.
    let (data_c, _) = dirs(&t, "c");
    let (e, m) = refused(open(&data_c, &keys_a, Start::Init));
    assert!(matches!(e, EmbeddedError::DataMissing { .. }), "{e:?}");
    assert!(m.contains("pass that vault's --data"), "{m}");
    assert!(!data_c.exists());

    // B's keys without their instance file (as written before instance
    // ids): --init binds only keys that signed A's log.
    std::fs::remove_file(keys_b.join("instance")).unwrap();
    let (e, m) = refused(open(&data_a, &keys_b, Start::Existing));
    assert!(matches!(e, EmbeddedError::KeystoreUnbound { .. }), "{e:?}");
    assert!(m.contains("obhut serve --init"), "{m}");
    let (e, _) = refused(open(&data_a, &keys_b, Start::Init));
    assert!(matches!(e, EmbeddedError::KeysDoNotSignLog { .. }), "{e:?}");
    assert!(!keys_b.join("instance").exists());

    // A's own keys, unbound: --init binds them.
    std::fs::remove_file(keys_a.join("instance")).unwrap();
    open(&data_a, &keys_a, Start::Init).expect("bind A's own keys");
    open(&data_a, &keys_a, Start::Existing).expect("bound");
}

/// Issue 16: the data directory and the index were world-readable though
/// they hold case numbers and justifications.
#[test]
fn a_new_vault_is_readable_by_its_user_only() {
    use std::os::unix::fs::PermissionsExt;
    let t = tempfile::tempdir().unwrap();
    let (data, keys) = dirs(&t, "a");
    init_vault(&data, &keys);
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    for dir in [&data, &keys, &keys.join("epochs")] {
        assert_eq!(mode(dir), 0o700, "{}", dir.display());
    }
    let mut files = vec![
        data.join("obhut.sqlite"),
        data.join("lock"),
        keys.join("vault.key"),
        keys.join("log.key"),
        keys.join("instance"),
    ];
    // The index's WAL and shared-memory files, while it is open.
    let v = open(&data, &keys, Start::Existing).expect("reopen");
    for extra in ["obhut.sqlite-wal", "obhut.sqlite-shm"] {
        if data.join(extra).exists() {
            files.push(data.join(extra));
        }
    }
    for f in &files {
        assert_eq!(mode(f), 0o600, "{}", f.display());
    }
    drop(v);
}
