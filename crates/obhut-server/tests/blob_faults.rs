//! The vault under blob-store faults: the real server on a loopback
//! listener over SQLite and a blob directory wrapped in
//! `obhut_store::contract::FaultyBlobStore`, segments sealed by the core
//! and uploaded over HTTP. A write, fsync or rename that fails, and a
//! crash between blob and row, must each give the device a clean JSON
//! error (no hang), lose nothing acknowledged, make nothing half-written
//! visible, and let the same upload succeed once the fault is gone.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use obhut_core::audit::Event;
use obhut_core::epoch::EpochPublic;
use obhut_core::group::PinnedGroup;
use obhut_core::identity::SignKey;
use obhut_core::ids::RecordingId;
use obhut_core::rng::os_rng;
use obhut_core::segment::SegmentKind;
use obhut_core::vault::body_sha256;
use obhut_server::ManualClock;
use obhut_server::config::FileConfig;
use obhut_server::testkit::{
    HttpResponse, InProcess, Sealed, VaultIds, create_token, custody_group, http, operator_entry,
    read_response, seal_recording, signed_headers, write_head,
};
use obhut_store::contract::{Fault, FaultyBlobStore};
use obhut_store::dir::DirBlobStore;
use obhut_store::sqlite::SqliteIndex;
use obhut_store::{BlobKey, BlobStore, IndexStore};

const NOW: i64 = 1_790_000_000_000;
const CLASS: &str = "bodycam-30d";
/// Longer than any answer takes here; reaching it means the vault hung.
const DEADLINE: Duration = Duration::from_secs(30);

type Faulty = FaultyBlobStore<DirBlobStore>;
type Vault = InProcess<SqliteIndex, Faulty>;

struct World {
    dir: tempfile::TempDir,
    vault: Option<Vault>,
    clock: Arc<ManualClock>,
    group: PinnedGroup,
    device: SignKey,
    reader: SignKey,
    epoch: Option<EpochPublic>,
}

impl World {
    fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let mut w = World {
            dir,
            vault: None,
            clock: Arc::new(ManualClock::new(NOW)),
            group: custody_group(),
            device: SignKey::generate(&mut os_rng()),
            reader: SignKey::generate(&mut os_rng()),
            epoch: None,
        };
        w.start();
        let token = w.block_on(create_token(&w.vault().app.index, &w.group, CLASS, NOW));
        let body = serde_json::to_vec(&serde_json::json!({
            "token": token,
            "device_key": hex::encode(w.device.verify_key().to_bytes()),
        }))
        .unwrap();
        let h = signed_headers(
            &VaultIds::ENROL,
            &w.device,
            false,
            "POST",
            "/v1/enrol",
            NOW,
            &body_sha256(&body),
        );
        let r = http(w.addr(), "POST", "/v1/enrol", &h, &body).unwrap();
        assert_eq!(r.status, 200, "{:?}", r.json());
        let e = http(w.addr(), "GET", "/v1/epochs?class=bodycam-30d", &[], &[]).unwrap();
        let public = B64
            .decode(e.json()["current"]["public"].as_str().unwrap())
            .unwrap();
        w.epoch = Some(EpochPublic::from_bytes(&public).unwrap());
        let (reader, group) = (w.reader.verify_key().to_bytes(), w.group.group_id());
        let entry = operator_entry(
            NOW,
            Event::ReaderAdded {
                person_key: reader,
                group_id: group,
            },
        );
        w.block_on(w.vault().app.index.add_reader(reader, group, NOW, &entry))
            .unwrap();
        w
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Start (or restart) the vault over the same data and keys.
    fn start(&mut self) {
        let keys = self.dir.path().join("keys");
        self.vault = Some(InProcess::start_wrapped(
            &self.data(),
            &keys,
            self.clock.clone(),
            FileConfig {
                max_segment_bytes: Some(1 << 20),
                ..FileConfig::default()
            },
            |index, blobs| (index, FaultyBlobStore::new(blobs)),
        ));
    }

    /// Stop the vault as a crash would: no clean-up of its own runs.
    fn stop(&mut self) {
        self.vault = None;
    }

    fn vault(&self) -> &Vault {
        self.vault.as_ref().expect("the vault runs")
    }

    fn addr(&self) -> SocketAddr {
        self.vault().addr
    }

    fn ids(&self) -> VaultIds {
        self.vault().ids()
    }

    fn blobs(&self) -> &Faulty {
        &self.vault().app.blobs
    }

    fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.vault().block_on(f)
    }

    fn seal(&self, segments: usize) -> Vec<Sealed> {
        let payloads: Vec<_> = (0..segments)
            .map(|i| {
                let p = (0..50_000).map(|j| (j as u8).wrapping_mul(7) ^ i as u8);
                (SegmentKind::Media, p.collect())
            })
            .collect();
        let epoch = self.epoch.as_ref().expect("enrolled");
        seal_recording(
            &self.device,
            &self.group,
            epoch,
            NOW - 1000,
            &payloads,
            true,
        )
    }

    /// Upload `s` and read the answer, failing if none comes in time.
    fn put(&self, s: &Sealed) -> HttpResponse {
        let path = s.path();
        let h = signed_headers(
            &self.ids(),
            &self.device,
            false,
            "PUT",
            &path,
            NOW,
            &s.digest(),
        );
        let mut c = TcpStream::connect(self.addr()).unwrap();
        c.set_read_timeout(Some(DEADLINE)).unwrap();
        let body = s.body();
        write_head(&mut c, "PUT", &path, &h, body.len() as u64).unwrap();
        // The vault may answer before reading the whole body.
        let _ = c.write_all(&body);
        read_response(&mut c).expect("an answer before the deadline")
    }

    /// The blob of segment `index` as the reader fetches it.
    fn read_blob(&self, rid: RecordingId, index: u32) -> HttpResponse {
        let path = format!("/v1/recordings/{rid}/segments/{index}/blob");
        let h = signed_headers(
            &self.ids(),
            &self.reader,
            true,
            "GET",
            &path,
            NOW,
            &body_sha256(&[]),
        );
        http(self.addr(), "GET", &path, &h, &[]).unwrap()
    }

    /// Stored rows and blobs of `rid`, and temporary files left.
    fn stored(&self, rid: RecordingId) -> (Vec<u32>, Vec<u32>, usize) {
        let app = &self.vault().app;
        let (rows, blobs) = self.block_on(async {
            (
                app.index.segments(rid).await.unwrap(),
                app.blobs.list().await.unwrap(),
            )
        });
        let tmp = std::fs::read_dir(self.data().join("tmp")).unwrap().count();
        (
            rows.iter().map(|r| r.index).collect(),
            blobs
                .iter()
                .filter(|k| k.recording == rid)
                .map(|k| k.index)
                .collect(),
            tmp,
        )
    }
}

/// A clean error: a 500 whose JSON names the kind.
fn assert_internal(r: &HttpResponse, what: &str) {
    assert_eq!(
        (r.status, r.kind().as_str()),
        (500, "internal"),
        "{what}: {:?}",
        r.json()
    );
    assert!(
        !r.json()["message"].as_str().unwrap_or("").is_empty(),
        "{what}: a message for people"
    );
}

/// What was acknowledged reads back byte for byte.
fn assert_readable(w: &World, segs: &[Sealed], upto: usize) {
    for (i, s) in segs.iter().enumerate().take(upto) {
        let r = w.read_blob(s.record.segment_ref().recording, i as u32);
        assert_eq!(r.status, 200, "segment {i}");
        assert_eq!(r.body, s.blob, "segment {i} reads back whole");
    }
}

#[test]
fn write_fsync_and_rename_faults_are_clean_errors_and_the_vault_recovers() {
    let w = World::new();
    for fault in [Fault::Write, Fault::Sync, Fault::Publish] {
        let segs = w.seal(3);
        let rid = segs[0].record.segment_ref().recording;
        assert_eq!(w.put(&segs[0]).status, 201, "{fault:?}: segment 0");

        w.blobs().arm(fault, 1);
        let r = w.put(&segs[1]);
        assert_internal(&r, &format!("{fault:?}"));
        assert_eq!(w.blobs().injected(fault), 1, "{fault:?} fired");
        // Nothing of segment 1: no row, no blob, no temporary file; its
        // read is a clean not-found; segment 0 is intact.
        assert_eq!(w.stored(rid), (vec![0], vec![0], 0), "{fault:?}");
        let gone = w.read_blob(rid, 1);
        assert_eq!((gone.status, gone.kind().as_str()), (404, "not-found"));
        assert_readable(&w, &segs, 1);

        // The fault fired once: the same upload now succeeds, and the
        // recording goes on.
        assert_eq!(w.put(&segs[1]).status, 201, "{fault:?}: retry");
        assert_eq!(w.put(&segs[2]).status, 201, "{fault:?}: segment 2");
        assert_eq!(w.stored(rid), (vec![0, 1, 2], vec![0, 1, 2], 0));
        assert_readable(&w, &segs, 3);
    }
}

#[test]
fn a_crash_between_blob_and_row_is_an_orphan_the_check_reports_and_a_retry_adopts() {
    let mut w = World::new();
    let segs = w.seal(2);
    let rid = segs[0].record.segment_ref().recording;
    assert_eq!(w.put(&segs[0]).status, 201);

    // The blob is published, then the vault "dies" before the row.
    w.blobs().arm(Fault::AfterPublish, 1);
    assert_internal(&w.put(&segs[1]), "crash between blob and row");
    assert_eq!(w.stored(rid), (vec![0], vec![0, 1], 0), "an orphan blob");
    // Without its row, segment 1 is not there for readers or the device.
    let r = w.read_blob(rid, 1);
    assert_eq!((r.status, r.kind().as_str()), (404, "not-found"));
    let head = w.block_on(w.vault().app.index.head(rid)).unwrap().unwrap();
    assert_eq!(head.next_index, 1, "the head stays at the last row");
    assert_readable(&w, &segs, 1);

    // At restart the consistency check reports the orphan, nothing lost.
    w.stop();
    let report = startup_check(&w.data());
    let orphan = BlobKey {
        recording: rid,
        index: 1,
    };
    assert_eq!(report.orphan_blobs, [orphan]);
    assert!(report.missing_blobs.is_empty(), "no row without its blob");

    // The device re-uploads; the vault publishes over the orphan and
    // commits the row.
    w.start();
    assert_eq!(w.put(&segs[1]).status, 201);
    assert_eq!(w.stored(rid), (vec![0, 1], vec![0, 1], 0));
    assert_readable(&w, &segs, 2);
    w.stop();
    let report = startup_check(&w.data());
    assert!(report.orphan_blobs.is_empty() && report.missing_blobs.is_empty());
}

/// The startup check, as `obhut serve` runs it.
fn startup_check(data: &Path) -> obhut_store::Consistency {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (index, _blobs, report) = obhut_store::open_embedded(data).await.unwrap();
        index.close().await;
        report
    })
}
