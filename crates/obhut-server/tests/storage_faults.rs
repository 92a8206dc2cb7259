//! Issue 16: the vault keeps serving under storage faults. The real server
//! on a loopback listener over real SQLite and a real blob directory;
//! segments sealed by the core and uploaded over HTTP; readers fetching
//! over HTTP. The faults:
//!
//! - a failed SQLite COMMIT (the commit hook of the writing connection,
//!   `SqliteIndex::fail_next_commits`), once and several times;
//! - a full index (`SqliteIndex::fill_up`: `max_page_count`, a real
//!   `SQLITE_FULL`) and a full blob store (`Fault::Full`: `ENOSPC`), both
//!   with no root needed;
//! - a small filesystem really filled during uploads (a size-limited
//!   tmpfs), when the test runs as root and may mount; otherwise it says
//!   why it skipped.
//!
//! Each time: the device gets a clean JSON error (`507
//! insufficient-storage` for a full store), reads go on, `/readyz` says
//! "not ready" while writes fail, and once the fault is gone the next
//! upload succeeds without a restart and everything acknowledged reads
//! back.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

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
    put_sealed, seal_recording, signed_headers,
};
use obhut_store::contract::{Fault, FaultyBlobStore};
use obhut_store::dir::DirBlobStore;
use obhut_store::sqlite::SqliteIndex;
use obhut_store::{BlobStore, IndexStore, LogStore};

const NOW: i64 = 1_790_000_000_000;
const CLASS: &str = "bodycam-30d";

type Faulty = FaultyBlobStore<DirBlobStore>;
type Vault = InProcess<SqliteIndex, Faulty>;

struct World {
    vault: Vault,
    group: PinnedGroup,
    device: SignKey,
    reader: SignKey,
    epoch: EpochPublic,
}

impl World {
    /// A vault over `root/data` and `root/keys`, one device enrolled and
    /// one reader.
    fn new(root: &Path) -> World {
        let clock = Arc::new(ManualClock::new(NOW));
        let vault = InProcess::start_wrapped(
            &root.join("data"),
            &root.join("keys"),
            clock,
            FileConfig {
                max_segment_bytes: Some(1 << 20),
                ..FileConfig::default()
            },
            |index, blobs| (index, FaultyBlobStore::new(blobs)),
        );
        let group = custody_group();
        let device = SignKey::generate(&mut os_rng());
        let reader = SignKey::generate(&mut os_rng());
        let token = vault.block_on(create_token(&vault.app.index, &group, CLASS, NOW));
        let body = serde_json::to_vec(&serde_json::json!({
            "token": token,
            "device_key": hex::encode(device.verify_key().to_bytes()),
        }))
        .unwrap();
        let h = signed_headers(
            &VaultIds::ENROL,
            &device,
            false,
            "POST",
            "/v1/enrol",
            NOW,
            &body_sha256(&body),
        );
        let r = http(vault.addr, "POST", "/v1/enrol", &h, &body).unwrap();
        assert_eq!(r.status, 200, "{:?}", r.json());
        let e = http(vault.addr, "GET", "/v1/epochs?class=bodycam-30d", &[], &[]).unwrap();
        let public = B64
            .decode(e.json()["current"]["public"].as_str().unwrap())
            .unwrap();
        let epoch = EpochPublic::from_bytes(&public).unwrap();
        let (key, group_id) = (reader.verify_key().to_bytes(), group.group_id());
        let entry = operator_entry(
            NOW,
            Event::ReaderAdded {
                person_key: key,
                group_id,
            },
        );
        vault
            .block_on(vault.app.index.add_reader(key, group_id, NOW, &entry))
            .unwrap();
        World {
            vault,
            group,
            device,
            reader,
            epoch,
        }
    }

    fn addr(&self) -> SocketAddr {
        self.vault.addr
    }

    fn index(&self) -> &SqliteIndex {
        &self.vault.app.index
    }

    fn blobs(&self) -> &Faulty {
        &self.vault.app.blobs
    }

    /// A recording of `n` segments of `size` bytes each.
    fn seal(&self, n: usize, size: usize) -> Vec<Sealed> {
        let payloads: Vec<_> = (0..n)
            .map(|i| {
                let p = (0..size).map(|j| (j as u8).wrapping_mul(13) ^ i as u8);
                (SegmentKind::Media, p.collect())
            })
            .collect();
        seal_recording(
            &self.device,
            &self.group,
            &self.epoch,
            NOW - 1000,
            &payloads,
            true,
        )
    }

    fn put(&self, s: &Sealed) -> HttpResponse {
        put_sealed(self.addr(), &self.vault.ids(), &self.device, s, NOW).expect("an answer")
    }

    fn read_blob(&self, rid: RecordingId, index: u32) -> HttpResponse {
        let path = format!("/v1/recordings/{rid}/segments/{index}/blob");
        let h = signed_headers(
            &self.vault.ids(),
            &self.reader,
            true,
            "GET",
            &path,
            NOW,
            &body_sha256(&[]),
        );
        http(self.addr(), "GET", &path, &h, &[]).expect("an answer")
    }

    fn list(&self) -> HttpResponse {
        let h = signed_headers(
            &self.vault.ids(),
            &self.reader,
            true,
            "GET",
            "/v1/recordings",
            NOW,
            &body_sha256(&[]),
        );
        http(self.addr(), "GET", "/v1/recordings", &h, &[]).expect("an answer")
    }

    /// `/readyz`'s status once it settles on `want`, or the last one seen
    /// after a few seconds: the vault reuses a verdict for
    /// `PROBE_REUSE` (1 s), so a change shows within that.
    fn ready_settles(&self, want: u16) -> u16 {
        let deadline = std::time::Instant::now() + obhut_server::write_health::PROBE_REUSE * 3;
        loop {
            let status = http(self.addr(), "GET", "/readyz", &[], &[])
                .expect("an answer")
                .status;
            if status == want || std::time::Instant::now() > deadline {
                return status;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    /// Upload `segs` in order until one is refused as `507
    /// insufficient-storage`: the ones acknowledged before it, and it.
    fn put_until_full<'a>(&self, segs: &'a [Sealed], what: &str) -> (Vec<&'a Sealed>, &'a Sealed) {
        let mut acked = Vec::new();
        for s in segs {
            let r = self.put(s);
            if r.status == 201 {
                acked.push(s);
                continue;
            }
            r.assert_error(507, "insufficient-storage", what);
            return (acked, s);
        }
        panic!("{what}: every upload was stored; the store never filled up");
    }

    /// Every acknowledged segment reads back byte for byte, and the
    /// recordings list answers: reads need no write.
    fn assert_readable(&self, acked: &[&Sealed]) {
        assert_eq!(self.list().status, 200, "the list");
        for s in acked {
            let seg = s.record.segment_ref();
            let r = self.read_blob(seg.recording, seg.index);
            assert_eq!(r.status, 200, "segment {}: {:?}", seg.index, r.json());
            assert_eq!(r.body, s.blob, "segment {} reads back whole", seg.index);
        }
    }
}

/// Issue 16, item 1: one failed SQLite commit left the vault's single
/// writing connection unusable, and every authenticated request after it
/// (uploads, reads) answered 500 until a restart.
#[test]
fn issue16_a_failed_commit_does_not_wedge_the_vault() {
    let dir = tempfile::tempdir().unwrap();
    let w = World::new(dir.path());
    let segs = w.seal(4, 30_000);
    assert_eq!(w.put(&segs[0]).status, 201);

    // A transient I/O error on commit. The next commit fails, whoever's
    // it is: this upload's, or the audit log integrator's, which commits
    // the entries of the uploads in the background.
    w.index().fail_next_commits(1);
    let r = w.put(&segs[1]);
    if r.status != 201 {
        r.assert_error(500, "internal", "the failed commit");
    }
    wait_for("the fault to fire", || w.index().failed_commits() == 1);
    // The next requests of every kind succeed, without a restart.
    w.assert_readable(&[&segs[0]]);
    assert!([200, 201].contains(&w.put(&segs[1]).status), "segment 1");
    assert_eq!(w.ready_settles(200), 200);

    // Several failures in a row, then the rest of the recording.
    w.index().fail_next_commits(3);
    let mut answers = Vec::new();
    while w.index().failed_commits() < 4 && answers.len() < 50 {
        let r = w.put(&segs[2]);
        if r.status != 201 && r.status != 200 {
            r.assert_error(500, "internal", "failed commits");
        }
        answers.push(r.status);
    }
    wait_for("three more faults", || w.index().failed_commits() == 4);
    assert!([200, 201].contains(&w.put(&segs[2]).status), "segment 2");
    assert_eq!(w.put(&segs[3]).status, 201);
    w.assert_readable(&segs.iter().collect::<Vec<_>>());
    assert_eq!(w.ready_settles(200), 200);
    // The integrator, which shares the writing connection, goes on too:
    // every entry is in a checkpoint.
    wait_for("the log to integrate", || {
        let size = w.vault.block_on(async {
            w.index()
                .log_checkpoint()
                .await
                .unwrap()
                .map_or(0, |c| c.size)
        });
        size == w.vault.block_on(w.index().log_sequenced()).unwrap()
    });
}

/// Poll `done` until it holds; a generous bound, only against a hang.
fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Issue 16, item 2: a read must not need a write. Every authenticated
/// read used to record its nonce durably, so with an index that takes no
/// writes (a full disk, a failing device) nobody could fetch footage.
#[test]
fn issue16_reads_need_no_write() {
    let dir = tempfile::tempdir().unwrap();
    let w = World::new(dir.path());
    let segs = w.seal(3, 30_000);
    assert_eq!(w.put(&segs[0]).status, 201);
    assert_eq!(w.put(&segs[1]).status, 201);

    w.index().fail_next_commits(usize::MAX);
    w.assert_readable(&[&segs[0], &segs[1]]);
    w.assert_readable(&[&segs[0], &segs[1]]);
    // Writes fail, and say so; `/readyz` too.
    w.put(&segs[2])
        .assert_error(500, "internal", "no commit succeeds");
    assert_eq!(w.ready_settles(503), 503);

    w.index().fail_next_commits(0);
    assert_eq!(w.ready_settles(200), 200);
    assert_eq!(w.put(&segs[2]).status, 201);
    w.assert_readable(&segs.iter().collect::<Vec<_>>());
}

/// Issue 16, items 1 and 2: a full index is `507 insufficient-storage`
/// for uploads, `/readyz` says "not ready" while it lasts, reads go on at
/// 100 % full, and once space is back the refused upload succeeds and
/// nothing acknowledged is lost.
#[test]
fn issue16_a_full_index_is_507_reads_go_on_and_uploads_resume() {
    let dir = tempfile::tempdir().unwrap();
    let w = World::new(dir.path());
    assert_eq!(w.ready_settles(200), 200);
    let segs = w.seal(40, 2_000);
    w.vault
        .block_on(w.index().fill_up())
        .unwrap_or_else(|e| panic!("fill up: {e}"));
    // Uploads go on while the last pages have room, then one is refused.
    let (acked, refused) = w.put_until_full(&segs, "a full index");
    assert_eq!(w.ready_settles(503), 503, "not ready while writes fail");
    w.assert_readable(&acked);
    w.put(refused)
        .assert_error(507, "insufficient-storage", "still full");

    w.vault
        .block_on(w.index().free_space())
        .unwrap_or_else(|e| panic!("free space: {e}"));
    assert_eq!(w.ready_settles(200), 200, "ready once writes succeed");
    let rest = segs.iter().skip(acked.len());
    for s in rest {
        assert_eq!(w.put(s).status, 201, "after space is back");
    }
    w.assert_readable(&segs.iter().collect::<Vec<_>>());
}

/// Issue 16, item 2: a full blob store (`ENOSPC`) is `507
/// insufficient-storage`, leaves nothing half-written, and the vault
/// recovers when space is back.
#[test]
fn issue16_a_full_blob_store_is_507_and_readyz_follows() {
    let dir = tempfile::tempdir().unwrap();
    let w = World::new(dir.path());
    let segs = w.seal(3, 30_000);
    let rid = segs[0].record.segment_ref().recording;
    assert_eq!(w.put(&segs[0]).status, 201);
    w.blobs().arm(Fault::Full, usize::MAX);
    w.put(&segs[1])
        .assert_error(507, "insufficient-storage", "ENOSPC");
    assert_eq!(w.ready_settles(503), 503);
    w.assert_readable(&[&segs[0]]);
    // Nothing half-written: no row, no blob, no temporary file.
    let (rows, blobs) = w.vault.block_on(async {
        (
            w.index().segments(rid).await.unwrap().len(),
            w.blobs().list().await.unwrap().len(),
        )
    });
    assert_eq!((rows, blobs), (1, 1));
    assert_eq!(tmp_files(&dir.path().join("data")), 0);

    w.blobs().disarm();
    assert_eq!(w.ready_settles(200), 200);
    assert_eq!(w.put(&segs[1]).status, 201);
    assert_eq!(w.put(&segs[2]).status, 201);
    w.assert_readable(&segs.iter().collect::<Vec<_>>());
}

fn tmp_files(data: &Path) -> usize {
    std::fs::read_dir(data.join("tmp")).unwrap().count()
}

/// A size-limited tmpfs, unmounted on drop.
struct SmallFs {
    path: PathBuf,
}

impl SmallFs {
    /// Mount `size` of tmpfs at `path`, or say why not.
    fn mount(path: &Path, size: &str) -> Result<SmallFs, String> {
        // The effective user from `id -u`: the tests link no libc.
        let uid = std::process::Command::new("id")
            .arg("-u")
            .output()
            .map_err(|e| format!("cannot run `id -u`: {e}"))?;
        if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
            return Err("not running as root".into());
        }
        std::fs::create_dir_all(path).map_err(|e| e.to_string())?;
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(path)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(SmallFs {
            path: path.to_owned(),
        })
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.path)
            .status();
    }
}

/// Issue 16: a small filesystem really filled during uploads (index and
/// blobs on one tmpfs). Needs root and `mount`; skipped with the reason
/// otherwise (the injected faults above cover the same ground without).
#[test]
fn issue16_a_small_filesystem_filled_during_uploads() {
    let outer = tempfile::tempdir().unwrap();
    let root = outer.path().join("small");
    let fs = match SmallFs::mount(&root, "6m") {
        Ok(fs) => fs,
        Err(why) => {
            eprintln!("skipped: a real full filesystem needs a tmpfs mount: {why}");
            return;
        }
    };
    {
        let w = World::new(&fs.path);
        let segs = w.seal(60, 100_000);
        // Leave about 1 MiB free: a filler file the "operator" deletes.
        let filler = fs.path.join("filler");
        fill(&filler, 1 << 20);
        let (acked, _) = w.put_until_full(&segs, "a full filesystem");
        assert_eq!(
            w.ready_settles(503),
            503,
            "not ready while the disk is full"
        );
        w.assert_readable(&acked);
        assert_eq!(tmp_files(&fs.path.join("data")), 0, "nothing half-written");

        std::fs::remove_file(&filler).unwrap();
        assert_eq!(w.ready_settles(200), 200, "ready once space is back");
        for s in segs.iter().skip(acked.len()).take(5) {
            assert_eq!(w.put(s).status, 201, "after space is back");
        }
        let done = acked.len() + 5;
        w.assert_readable(&segs.iter().take(done).collect::<Vec<_>>());
    }
    drop(fs);
}

/// Fill the filesystem of `path` with a file until `leave` bytes are free.
fn fill(path: &Path, leave: u64) {
    use std::io::Write;
    let mut f = std::fs::File::create(path).unwrap();
    let chunk = vec![0xa5u8; 64 * 1024];
    loop {
        let free = free_bytes(path.parent().unwrap());
        if free <= leave + chunk.len() as u64 {
            break;
        }
        if f.write_all(&chunk).is_err() {
            break;
        }
    }
    f.sync_all().unwrap();
}

fn free_bytes(dir: &Path) -> u64 {
    let out = std::process::Command::new("df")
        .args(["-B1", "--output=avail"])
        .arg(dir)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(0)
}
