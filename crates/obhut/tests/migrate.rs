//! `obhut migrate`, `obhut check` on PostgreSQL and S3, and `obhut
//! backup` from the command line (issue 20 items 4 and 5), with a real
//! MP4 made by ffmpeg and ingested by the agent over loopback.
//!
//! Migration: a vault on SQLite and its blob directory records footage,
//! a requester's request is logged and an auditor's client accepts the
//! log; the vault stops and `obhut migrate` moves it to a throwaway
//! PostgreSQL cluster and a SeaweedFS bucket. Served from there with the
//! same keystore, the same auditor's client accepts the new checkpoint
//! only by a consistency proof from the one it kept (and rebuilds the tree
//! from every entry body), the request is approved and the footage opens
//! byte-identical; `obhut check --database-url --blob-url` passes and then
//! names a blob changed in the bucket. Resuming after an interruption and
//! the refusals are tested on the stores in
//! crates/obhut-server/tests/migrate.rs.
//!
//! Backup: `obhut backup` while the vault runs and ingests; the backup,
//! restored in another directory with a copy of the keystore, passes
//! `obhut check` and `obhut audit verify`. That an epoch key destroyed
//! after the backup leaves the backup's footage unopenable is tested on
//! the vault in crates/obhut-server/tests/backup.rs.

use std::fs;
use std::path::Path;

use obhut_store::contract::s3::TestS3;

use crate::support;
use support::*;

/// The camera enrolled, a real MP4 of six seconds ingested in 2-second
/// segments; the requester, readers and an auditor (alice) registered.
/// Returns the recording id and the original file.
fn record(d: &Path, vault: &Vault) -> (String, Vec<u8>) {
    ok(
        d,
        &[
            "keygen",
            "person",
            "--name",
            "requester",
            "--out",
            "req.key",
            "--kdf-fast",
        ],
    );
    enrol(d, vault);
    let rid = ingest_clip(d, 6, "320x240");
    let gid = group_id(d);
    admin(
        d,
        &[
            "add-requester",
            "--identity",
            "req.key.pub",
            "--group",
            &gid,
        ],
    );
    for who in ["req", "alice", "bob"] {
        admin(
            d,
            &[
                "add-reader",
                "--identity",
                &format!("{who}.key.pub"),
                "--group",
                &gid,
            ],
        );
    }
    admin(d, &["add-auditor", "--identity", "alice.key.pub"]);
    (rid, fs::read(d.join("dock/clip.mp4")).unwrap())
}

/// `obhut audit verify --full` as alice, keeping her state in `state`.
fn audit_verify(d: &Path, vault: &Vault, vkey: &str, state: &str) -> String {
    ok(
        d,
        &[
            "audit",
            "verify",
            "--vault",
            &vault.url,
            "--log-key",
            vkey,
            "--state",
            state,
            "--full",
            "--identity",
            "alice.key",
        ],
    )
}

/// The whole recording requested; returns the request's hash.
fn request(d: &Path, vault: &Vault, vkey: &str, rid: &str) -> String {
    let o = ok(
        d,
        &[
            "request",
            "--identity",
            "req.key",
            "--group",
            "custody/group.obgd",
            "--recording",
            rid,
            "--include-metadata",
            "--purpose",
            "criminal investigation",
            "--justification",
            "complaint 17 concerns this stop",
            "--legal-basis",
            "§ 48 BDSG",
            "--case",
            "CASE-17",
            "--recipient",
            "prosecutor",
            "--out",
            "req.obar",
            "--vault",
            &vault.url,
            "--log-key",
            vkey,
            "--log-state",
            "req.cp",
        ],
    );
    o.trim().to_owned()
}

fn approve(d: &Path, vault: &Vault, vkey: &str, who: &str, share: u32, hash: &str) {
    ok(
        d,
        &[
            "approve",
            hash,
            "--vault",
            &vault.url,
            "--log-key",
            vkey,
            "--state",
            &format!("{who}.cp"),
            "--identity",
            &format!("{who}.key"),
            "--share",
            &format!("custody/share-{share}.obse"),
            "--group",
            "custody/group.obgd",
            "--yes",
        ],
    );
}

fn with_s3(d: &Path, s3: &TestS3, args: &[&str]) -> std::process::Output {
    cmd(d, args)
        .envs(s3.env())
        .output()
        .expect("run the obhut binary")
}

#[test]
fn a_vault_migrated_to_postgres_and_s3_keeps_its_log_and_opens_its_footage() {
    let s3 = TestS3::shared();
    let dir = setup();
    let d = dir.as_path();
    let vault = Vault::start(d);
    let vkey = log_key(&vault);
    let (rid, original) = record(d, &vault);
    let hash = request(d, &vault, &vkey, &rid);
    let before = audit_verify(d, &vault, &vkey, "alice-audit.cp");
    drop(vault);

    let pg = obhut_store::contract::pg::TestServer::shared().expect("a PostgreSQL test cluster");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let db = rt.block_on(pg.database()).expect("a fresh database");
    let bucket = TestS3::new_url();
    let args = [
        "migrate",
        "--from",
        "sqlite:vault-data",
        "--to",
        &db.url,
        "--blobs-to",
        &bucket,
    ];
    // A bucket that is not empty and no earlier run's: refused by name.
    let store = rt.block_on(s3.store_at(&bucket));
    rt.block_on(async {
        use obhut_store::{BlobStore, StagedBlob};
        let st = store.stage(&b"foreign"[..], 7).await.unwrap();
        let h = st.hash();
        let key = obhut_store::BlobKey {
            recording: obhut_core::ids::RecordingId([9; 16]),
            index: 0,
        };
        store.publish(key, st, h).await.unwrap();
        let out = with_s3(d, s3, &args);
        assert!(!out.status.success());
        let e = text(&out.stderr);
        assert!(
            e.contains("is not empty") && e.contains("empty bucket"),
            "{e}"
        );
        store.delete(key).await.unwrap();
    });
    let out = with_s3(d, s3, &args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let note = text(&out.stderr);
    assert!(note.contains("migrated vault"), "{note}");
    assert!(note.contains("each re-hashed at the destination"), "{note}");
    // Again: nothing to copy, verified again.
    let out = with_s3(d, s3, &args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("(0 copied by this run)"),
        "{}",
        text(&out.stderr)
    );

    // Served from PostgreSQL and the bucket, with the same keystore.
    fs::write(d.join(DATABASE_URL_FILE), &db.url).unwrap();
    let mut toml = format!("blob_url = \"{bucket}\"\n[s3]\n");
    for (k, v) in s3.options() {
        toml.push_str(&format!("{k} = \"{v}\"\n"));
    }
    fs::write(d.join("obhut.toml"), toml).unwrap();
    fs::rename(d.join("vault-data"), d.join("old-data")).unwrap();
    let vault = Vault::start(d);
    assert_eq!(log_key(&vault), vkey, "the same vault");
    // The auditor's client moves from the checkpoint it kept by a
    // consistency proof, and rebuilds the tree from every entry.
    let after = audit_verify(d, &vault, &vkey, "alice-audit.cp");
    let size = |s: &str| -> u64 { s.split_whitespace().next().unwrap().parse().unwrap() };
    assert!(size(&after) >= size(&before), "{before} → {after}");
    approve(d, &vault, &vkey, "alice", 1, &hash);
    approve(d, &vault, &vkey, "bob", 2, &hash);
    approve(d, &vault, &vkey, "alice", 1, &hash);
    ok(
        d,
        &[
            "open",
            &hash,
            "--vault",
            &vault.url,
            "--log-key",
            &vkey,
            "--state",
            "req.cp",
            "--identity",
            "req.key",
            "--group",
            "custody/group.obgd",
            "--out",
            "opened",
            "--layout",
            "original",
        ],
    );
    let got = fs::read(d.join(format!("opened/{rid}.media"))).unwrap();
    assert!(got == original, "the opened file differs from the original");
    audit_verify(d, &vault, &vkey, "alice-audit.cp");
    drop(vault);

    // obhut check on PostgreSQL and S3, selected by flags as serve is.
    fs::remove_file(d.join(DATABASE_URL_FILE)).unwrap();
    fs::remove_file(d.join("obhut.toml")).unwrap();
    let check = |extra: &[&str]| {
        let mut a = vec![
            "check",
            "--data",
            "vault-data",
            "--database-url",
            &db.url,
            "--blob-url",
            &bucket,
            "--json",
        ];
        a.extend_from_slice(extra);
        with_s3(d, s3, &a)
    };
    let out = check(&[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_str(text(&out.stdout).trim()).unwrap();
    let stored = rt.block_on(obhut_store::BlobStore::list(&store)).unwrap();
    assert!(stored.len() >= 3, "{stored:?}");
    assert_eq!(v["segments"].as_u64(), Some(stored.len() as u64), "{v}");
    assert!(v["log_entries"].as_u64().unwrap() > 0, "{v}");

    // The scaled backup (docs/backup.md): pg_dump, and the bucket copied
    // (as `rclone sync` would), restored into a new database and bucket:
    // it checks clean and serves the same log.
    let dump = d.join("vault.pgdump");
    let pg_tool = |tool: &str, args: &[&str]| {
        let out = std::process::Command::new(pg.bin_dir().join(tool))
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("{tool}: {e}"));
        assert!(out.status.success(), "{tool}: {}", text(&out.stderr));
    };
    let dump_s = dump.to_str().unwrap();
    pg_tool(
        "pg_dump",
        &["--format=custom", "--file", dump_s, "--dbname", &db.url],
    );
    let db2 = rt.block_on(pg.database()).expect("a fresh database");
    pg_tool("pg_restore", &["--no-owner", "--dbname", &db2.url, dump_s]);
    let bucket2 = TestS3::new_url();
    let store2 = rt.block_on(s3.store_at(&bucket2));
    rt.block_on(copy_bucket(&store, &store2));
    let out = with_s3(
        d,
        s3,
        &[
            "check",
            "--data",
            "vault-data",
            "--database-url",
            &db2.url,
            "--blob-url",
            &bucket2,
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_str(text(&out.stdout).trim()).unwrap();
    assert_eq!(v["segments"].as_u64(), Some(stored.len() as u64), "{v}");
    fs::write(d.join(DATABASE_URL_FILE), &db2.url).unwrap();
    let mut toml = format!("blob_url = \"{bucket2}\"\n[s3]\n");
    for (k, v) in s3.options() {
        toml.push_str(&format!("{k} = \"{v}\"\n"));
    }
    fs::write(d.join("obhut.toml"), toml).unwrap();
    let vault = Vault::start(d);
    audit_verify(d, &vault, &vkey, "alice-audit.cp");
    drop(vault);
    fs::remove_file(d.join(DATABASE_URL_FILE)).unwrap();
    fs::remove_file(d.join("obhut.toml")).unwrap();
    // A blob changed in the bucket is named.
    let bad = stored[1];
    rt.block_on(async {
        use obhut_store::{BlobStore, StagedBlob};
        let len = store.len(bad).await.unwrap().unwrap();
        let junk = vec![0x33u8; usize::try_from(len).unwrap()];
        let st = store.stage(&junk[..], len).await.unwrap();
        let h = st.hash();
        store.publish(bad, st, h).await.unwrap();
    });
    let out = check(&[]);
    assert!(!out.status.success());
    let v: serde_json::Value = serde_json::from_str(text(&out.stdout).trim()).unwrap();
    let f = &v["findings"][0];
    assert_eq!(f["kind"], "hash-mismatch", "{v}");
    assert_eq!(f["recording"], bad.recording.to_string().as_str(), "{v}");
    // The index on PostgreSQL with blobs that are not its vault's: refused.
    let out = with_s3(
        d,
        s3,
        &["check", "--data", "empty-data", "--database-url", &db.url],
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("are not one vault's"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn an_online_backup_restores_and_passes_check_and_audit_verify() {
    let dir = setup();
    let d = dir.as_path();
    let vault = Vault::start(d);
    let vkey = log_key(&vault);
    let (rid, _) = record(d, &vault);
    // While the vault runs.
    let out = run(
        d,
        &[
            "backup",
            "--data",
            "vault-data",
            "--keys",
            "vault-keys",
            "--out",
            "backup",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let note = text(&out.stderr);
    let segments: u64 = note
        .split("backed up ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{note}"));
    assert!(segments >= 3, "{note}");
    // Not into a directory that holds something.
    let again = run(d, &["backup", "--data", "vault-data", "--out", "backup"]);
    assert!(!again.status.success());
    assert!(text(&again.stderr).contains("is not empty"));
    drop(vault);

    // Restored elsewhere, with a copy of the keystore.
    let restored = d.join("restored");
    fs::create_dir(&restored).unwrap();
    fs::rename(d.join("backup"), restored.join("vault-data")).unwrap();
    copy_tree(&d.join("vault-keys"), &restored.join("vault-keys"));
    for f in ["alice.key", "alice.key.pub"] {
        fs::copy(d.join(f), restored.join(f)).unwrap();
    }
    let out = ok(&restored, &["check", "--data", "vault-data", "--json"]);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["segments"].as_u64(), Some(segments), "{v}");
    assert_eq!(v["findings"].as_array().map(Vec::len), Some(0), "{v}");
    let vault = Vault::start(&restored);
    assert_eq!(log_key(&vault), vkey);
    let out = audit_verify(&restored, &vault, &vkey, "audit.cp");
    assert!(out.starts_with(char::is_numeric), "{out}");
    let listed = ok(
        &restored,
        &[
            "admin",
            "--data",
            "vault-data",
            "--keys",
            "vault-keys",
            "devices",
        ],
    );
    assert_eq!(listed.lines().count(), 2, "{listed}");
    assert!(!rid.is_empty());
}

/// Every object of one bucket in another, the instance id too: what an
/// operator's bucket copy (`rclone sync`, `aws s3 sync`) does.
async fn copy_bucket(from: &obhut_store::s3::S3BlobStore, to: &obhut_store::s3::S3BlobStore) {
    use obhut_store::{BlobStore, StagedBlob};
    to.set_instance_id(&from.instance_id().await.unwrap().unwrap())
        .await
        .unwrap();
    for key in from.list().await.unwrap() {
        let len = from.len(key).await.unwrap().unwrap();
        let r = from.get_range(key, 0, len).await.unwrap();
        let st = to.stage(r, len).await.unwrap();
        let h = st.hash();
        to.publish(key, st, h).await.unwrap();
    }
}

fn copy_tree(from: &Path, to: &Path) {
    use std::os::unix::fs::PermissionsExt;
    fs::create_dir_all(to).unwrap();
    fs::set_permissions(to, fs::Permissions::from_mode(0o700)).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            fs::copy(e.path(), &target).unwrap();
        }
    }
}
