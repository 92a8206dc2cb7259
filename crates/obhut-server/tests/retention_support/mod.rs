//! What tests/retention.rs and tests/retention_hsm.rs share: a vault with
//! a short retention class on an injected clock, and the backup test run
//! with either key holder.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use obhut_core::audit::{Event, LogEntry};
use obhut_core::deletion::DeletionReceipt;
use obhut_core::ids::RecordingId;
use obhut_core::vault::body_sha256;
use obhut_server::ManualClock;
use obhut_server::config::FileConfig;
use obhut_server::holder::HolderError;
use obhut_server::keystore::{Keystore, KeystoreError};
use obhut_server::testkit::{Enrolled, InProcess, http, put_sealed, signed_headers};
use obhut_store::{BlobKey, BlobStore, EpochState, IndexStore, LogStore, RetentionStore};

pub const NOW: i64 = 1_790_000_000_000;
pub const HOUR: i64 = 3_600_000;
pub const CLASS: &str = "cctv";
pub const KEEP: i64 = 2 * HOUR;

pub struct World {
    pub dir: tempfile::TempDir,
    pub clock: Arc<ManualClock>,
    pub vault: InProcess,
    pub device: Enrolled,
}

pub fn holder_dir(root: &Path) -> PathBuf {
    root.join("holder")
}

pub fn world() -> World {
    world_with(|dir| FileConfig {
        epoch_holder_dir: Some(holder_dir(dir)),
        ..FileConfig::default()
    })
}

/// The settings of the test vaults: class [`CLASS`] with one-hour epochs
/// kept [`KEEP`], on top of `holder`'s key-holder settings.
pub fn settings(holder: FileConfig) -> FileConfig {
    FileConfig {
        max_segment_bytes: Some(1 << 20),
        epoch_period_secs: [(CLASS.to_owned(), 3600)].into(),
        retention: [(CLASS.to_owned(), "2 hours".to_owned())].into(),
        ..holder
    }
}

/// (Re)start the vault of `root` (DATA, KEYS and the file holder in it).
pub fn start_on(root: &Path, clock: Arc<ManualClock>) -> InProcess {
    InProcess::start_with(
        &root.join("data"),
        &root.join("keys"),
        clock,
        settings(FileConfig {
            epoch_holder_dir: Some(holder_dir(root)),
            ..FileConfig::default()
        }),
    )
}

/// A vault whose key holder `holder` configures (given the test's directory).
pub fn world_with(holder: impl FnOnce(&Path) -> FileConfig) -> World {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(NOW));
    let vault = InProcess::start_with(
        &dir.path().join("data"),
        &dir.path().join("keys"),
        clock.clone(),
        settings(holder(dir.path())),
    );
    let device = Enrolled::new(&vault, CLASS, NOW);
    World {
        dir,
        clock,
        vault,
        device,
    }
}

/// Upload a two-segment recording captured at `capture_ms`.
pub fn upload(w: &World, capture_ms: i64) -> RecordingId {
    let segs = obhut_server::testkit::seal_recording(
        &w.device.device,
        &w.device.group,
        &w.device.epoch,
        capture_ms,
        &[
            (obhut_core::segment::SegmentKind::Media, vec![1; 3000]),
            (obhut_core::segment::SegmentKind::Media, vec![2; 3000]),
        ],
        true,
    );
    for s in &segs {
        let r = put_sealed(
            w.vault.addr,
            &w.vault.ids(),
            &w.device.device,
            s,
            w.clock_now(),
        )
        .unwrap();
        assert_eq!(r.status, 201, "{:?}", r.json());
    }
    segs[0].record.segment_ref().recording
}

impl World {
    pub fn clock_now(&self) -> i64 {
        use obhut_server::Clock;
        self.clock.now_ms()
    }
    pub fn sweep(&self) -> obhut_server::sweep::SweepReport {
        self.vault.block_on(self.vault.app.sweep_once()).unwrap()
    }
    pub fn device_get(&self, path: &str) -> obhut_server::testkit::HttpResponse {
        let h = signed_headers(
            &self.vault.ids(),
            &self.device.device,
            false,
            "GET",
            path,
            self.clock_now(),
            &body_sha256(&[]),
        );
        http(self.vault.addr, "GET", path, &h, &[]).unwrap()
    }
}

pub fn copy_dir(from: &Path, to: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(to).unwrap();
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o700)).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// The backup test of issue 18 on `w`: a copy of DATA and KEYS taken
/// before expiry opens nothing after the sweep, with `w`'s key holder.
pub fn backup_opens_nothing(w: &World) {
    let rid = upload(w, NOW);
    let id = w.device.epoch.epoch_id;
    let app = &w.vault.app;
    // Before expiry the keystore opens the epoch, also from its sealed
    // file: the test means something.
    assert!(app.keystore.epoch(id).is_ok());
    let keys_epochs = w.dir.path().join("keys/epochs");
    let live = std::fs::read(keys_epochs.join(format!("{id}.sealed"))).unwrap();
    assert!(app.keystore.open_sealed(id, &live).is_ok());
    // The keystore holds no plain epoch secret, only sealed ones.
    let epochs_dir = w.dir.path().join("keys/epochs");
    for e in std::fs::read_dir(&epochs_dir).unwrap() {
        let name = e.unwrap().file_name().into_string().unwrap();
        assert!(name.ends_with(".sealed"), "{name}");
    }

    // The backup: the whole data directory and keystore, before expiry.
    let backup = w.dir.path().join("backup");
    copy_dir(&w.dir.path().join("data"), &backup.join("data"));
    copy_dir(&w.dir.path().join("keys"), &backup.join("keys"));

    let expiry = w.device.epoch.not_after + KEEP;
    // Footage never outlives its class's retention by more than one epoch.
    assert!(expiry - NOW <= KEEP + HOUR);
    w.clock.set(expiry - 1);
    assert_eq!(w.sweep().epochs, 0, "nothing before expiry");
    assert!(
        w.vault
            .block_on(app.index.recording(rid))
            .unwrap()
            .is_some()
    );

    w.clock.set(expiry);
    let report = w.sweep();
    assert_eq!(
        (
            report.epochs,
            report.keys_destroyed,
            report.segments,
            report.blobs
        ),
        (1, 1, 2, 2),
        "{report:?}"
    );
    // Gone from the index and the blob store; reported as expired.
    assert!(
        w.vault
            .block_on(app.index.recording(rid))
            .unwrap()
            .is_none()
    );
    for index in 0..2 {
        let k = BlobKey {
            recording: rid,
            index,
        };
        assert_eq!(w.vault.block_on(app.blobs.len(k)).unwrap(), None);
    }
    let e = w.vault.block_on(app.index.epoch(id)).unwrap().unwrap();
    assert_eq!(e.state, EpochState::Swept, "the tombstone stays");
    assert!(app.keystore.epoch(id).is_err());

    // The backup's keystore, with the vault's own key holder: its sealed
    // secret of the epoch is there and opens nothing.
    let backup_keys = backup.join("keys");
    assert!(
        backup_keys
            .join("epochs")
            .join(format!("{id}.sealed"))
            .exists()
    );
    let sealed = std::fs::read(backup_keys.join("epochs").join(format!("{id}.sealed"))).unwrap();
    assert!(matches!(
        app.keystore.open_sealed(id, &sealed),
        Err(KeystoreError::Holder(HolderError::Destroyed(_)))
    ));
    // And with its default holder (none was copied): nothing either.
    let alone = Keystore::load_unbound(&backup_keys).unwrap();
    assert!(alone.epoch(id).is_err());

    // The log says so, and the receipt checks against it.
    let rows = w.vault.block_on(app.index.log_entries(0, 1000)).unwrap();
    let row = rows
        .iter()
        .find(|r| r.kind == "epoch-destroyed")
        .expect("an epoch-destroyed entry");
    let entry = LogEntry::from_bytes(row.body.as_ref().unwrap()).unwrap();
    assert!(matches!(
        entry.event,
        Event::EpochDestroyed { epoch_id, segments: 2, key_destroyed: true, .. } if epoch_id == id
    ));
    let receipt = w
        .vault
        .block_on(app.index.deletion_receipt(id))
        .unwrap()
        .unwrap();
    let receipt = DeletionReceipt::from_bytes(&receipt).unwrap();
    assert_eq!(receipt.vault_key.to_bytes(), w.vault.ids().vault_key);
    assert_eq!(receipt.leaf_hash(), row.leaf_hash);
    assert_eq!(&receipt.entry, row.body.as_ref().unwrap());

    // Anyone: the receipt over HTTP, checked against a signed checkpoint
    // with an inclusion proof (no role needed for either).
    let r = http(
        w.vault.addr,
        "GET",
        &format!("/v1/epochs/{id}/receipt"),
        &[],
        &[],
    )
    .unwrap();
    assert_eq!(r.status, 200, "{:?}", r.json());
    let fetched =
        DeletionReceipt::from_bytes(&B64.decode(r.json()["receipt"].as_str().unwrap()).unwrap())
            .unwrap();
    assert_eq!(fetched, receipt);
    let vkey = app.log.verifier_key();
    let want = w.vault.block_on(app.index.log_sequenced()).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let cp = loop {
        let c = http(w.vault.addr, "GET", "/v1/log/checkpoint", &[], &[]).unwrap();
        if c.status == 200 {
            let cp = obhut_log::SignedCheckpoint::open(&c.body, &vkey).unwrap();
            if cp.checkpoint.size == want {
                break cp;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no checkpoint of size {want}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let p = http(
        w.vault.addr,
        "GET",
        &format!("/v1/log/proof/inclusion?index={}&size={want}", row.index),
        &[],
        &[],
    )
    .unwrap();
    assert_eq!(p.status, 200);
    let proof: Vec<obhut_log::Hash> = p.json()["proof"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| obhut_log::Hash::from_base64(h.as_str().unwrap()).unwrap())
        .collect();
    obhut_log::verify_inclusion(
        &obhut_log::Hash(fetched.leaf_hash()),
        row.index,
        want,
        &proof,
        &cp.checkpoint.root,
    )
    .unwrap();

    // A second sweep finds nothing and logs nothing.
    let logged = w.vault.block_on(app.index.log_sequenced()).unwrap();
    assert_eq!(w.sweep(), Default::default());
    assert_eq!(w.vault.block_on(app.index.log_sequenced()).unwrap(), logged);
}
