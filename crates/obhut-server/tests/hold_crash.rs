//! Issue 18 item 3: a sweep killed while it keeps held footage (after
//! making the hold's key, after moving the first held segment) leaves the
//! held recording whole and openable, the unheld one whole or expired,
//! and the next sweep finishes: the held recording is kept under the
//! hold's key, made once. The sweep runs in a child process that dies at
//! the chosen step (`OBHUT_TEST_SWEEP_CRASH_AFTER`, as tests/retention_crash.rs).

use crate::retention_support;

use std::sync::Arc;

use obhut_core::audit::Event;
use obhut_core::ids::{EpochId, RecordingId};
use obhut_core::record::SegmentRecord;
use obhut_core::rewrap::EpochRewrap;
use obhut_server::ManualClock;
use obhut_server::testkit::operator_entry;
use obhut_store::{BlobKey, BlobStore, HoldRow, HoldStore, IndexStore, LogStore};
use retention_support::*;

const CHILD: &str = "hold_sweep_child";

/// The held recording is whole, every segment's b opens from its stored
/// re-wrap with the hold's key, and the hold's key was made once.
fn held_and_openable(vault: &obhut_server::testkit::InProcess, rid: RecordingId, hold: [u8; 16]) {
    let app = &vault.app;
    let segs = vault.block_on(app.index.segments(rid)).unwrap();
    assert_eq!(segs.len(), 2);
    let secret = app.keystore.epoch(EpochId(hold)).unwrap();
    for s in segs {
        let k = BlobKey {
            recording: rid,
            index: s.index,
        };
        assert!(vault.block_on(app.blobs.len(k)).unwrap().is_some());
        let rw = vault
            .block_on(app.index.segment_rewrap(rid, s.index))
            .unwrap()
            .expect("a re-wrap beside the held segment");
        let record = SegmentRecord::from_bytes(&s.record).unwrap();
        EpochRewrap::from_bytes(&rw.rewrap)
            .unwrap()
            .unwrap(record.header(), &secret)
            .unwrap();
    }
    let created = vault
        .block_on(app.index.log_entries(0, 1000))
        .unwrap()
        .into_iter()
        .filter(|r| r.kind == "epoch-created")
        .map(|r| obhut_core::audit::LogEntry::from_bytes(&r.body.unwrap()).unwrap())
        .filter(|e| matches!(&e.event, Event::EpochCreated { epoch_id, .. } if epoch_id.0 == hold))
        .count();
    assert_eq!(created, 1, "the hold's key is made once");
}

fn crash_at(step: &str) {
    let w = world();
    let held = upload(&w, NOW);
    let unheld = upload(&w, NOW + 10 * 60_000);
    let expiry = w.device.epoch.not_after + KEEP;
    let app = &w.vault.app;
    let hold = HoldRow {
        hold_id: [0x48; 16],
        group_id: w.device.group.group_id(),
        case: "2026-K-0042".into(),
        device_key: w.device.device.verify_key().to_bytes(),
        from_ms: NOW - 1000,
        to_ms: NOW + 60_000,
        placed_ms: NOW,
        released_ms: None,
    };
    // Placed in the store directly: the approvals are tests/hold.rs's.
    let entry = operator_entry(
        NOW,
        Event::HoldPlaced {
            hold_id: hold.hold_id,
            case: hold.case.clone(),
            device_key: hold.device_key,
            from_ms: hold.from_ms,
            to_ms: hold.to_ms,
            approvals: Vec::new(),
        },
    );
    w.vault
        .block_on(app.index.place_hold(&hold, &entry))
        .unwrap();
    let root = w.dir.path().to_owned();
    let World { dir, vault, .. } = w;
    drop(vault);

    let child = std::process::Command::new(std::env::current_exe().unwrap())
        .env("OBHUT_TEST_SWEEP_CRASH_AFTER", step)
        .env("OBHUT_TEST_ROOT", &root)
        .env("OBHUT_TEST_NOW", expiry.to_string())
        .args([
            crate::test_name(module_path!(), CHILD).as_str(),
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .output()
        .unwrap();
    assert!(
        !child.status.success(),
        "the child was to die at {step}: {}",
        String::from_utf8_lossy(&child.stdout)
    );

    // The next sweep (at start, and asked for) finishes it.
    let vault = start_on(&root, Arc::new(ManualClock::new(expiry)));
    vault.block_on(vault.app.sweep_once()).unwrap();
    held_and_openable(&vault, held, hold.hold_id);
    let app = &vault.app;
    assert!(
        vault
            .block_on(app.index.segments(unheld))
            .unwrap()
            .is_empty()
    );
    assert!(
        vault
            .block_on(obhut_store::RetentionStore::expired_recording(
                &app.index, unheld
            ))
            .unwrap()
            .is_some()
    );
    drop(vault);
    drop(dir);
}

#[test]
fn a_sweep_killed_after_making_the_hold_key_is_finished_by_the_next() {
    crash_at("HoldKeyMade");
}

#[test]
fn a_sweep_killed_after_moving_a_held_segment_is_finished_by_the_next() {
    crash_at("Held");
}

/// Run by the tests above in a child process: the vault of
/// `OBHUT_TEST_ROOT` at `OBHUT_TEST_NOW`, sweeping until it dies.
#[test]
#[ignore = "run by the crash tests in a child process"]
fn hold_sweep_child() {
    let root = std::path::PathBuf::from(std::env::var_os("OBHUT_TEST_ROOT").unwrap());
    let now: i64 = std::env::var("OBHUT_TEST_NOW").unwrap().parse().unwrap();
    let vault = start_on(&root, Arc::new(ManualClock::new(now)));
    let _ = vault.block_on(vault.app.sweep_once());
    std::thread::sleep(std::time::Duration::from_secs(5));
}
