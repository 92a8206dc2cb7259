//! Issue 18 item 4: a sweep killed at any step leaves no recording half
//! deleted, and the next sweep finishes it. The sweep runs in a child
//! process of this test binary that dies at a chosen step
//! (`OBHUT_TEST_SWEEP_CRASH_AFTER`, honoured in builds with `test-util`:
//! `std::process::abort`, as abrupt as kill -9: no destructor, no flush);
//! the parent then looks at what is on disk and restarts the vault.

use crate::retention_support;

use std::path::Path;
use std::sync::Arc;

use obhut_core::audit::{Event, LogEntry};
use obhut_core::deletion::DeletionReceipt;
use obhut_core::ids::RecordingId;
use obhut_server::ManualClock;
use obhut_server::embedded::{Start, open_stores};
use obhut_store::{BlobKey, BlobStore, EpochState, IndexStore, LogStore, RetentionStore};
use retention_support::*;

const CHILD: &str = "sweep_child";

/// What a reader can see of `rid` on disk: whole (its row, both segment
/// rows and both blobs) or expired (a tombstone, no segment row); anything
/// else is half deleted.
async fn visible_state(root: &Path, rid: RecordingId) -> &'static str {
    let o = open_stores(&root.join("data"), &root.join("keys"), Start::Existing)
        .await
        .unwrap();
    let row = o.index.recording(rid).await.unwrap();
    let segs = o.index.segments(rid).await.unwrap();
    let tomb = o.index.expired_recording(rid).await.unwrap();
    let mut blobs = 0;
    for index in 0..2 {
        if o.blobs
            .len(BlobKey {
                recording: rid,
                index,
            })
            .await
            .unwrap()
            .is_some()
        {
            blobs += 1;
        }
    }
    o.index.close().await;
    match (row.is_some(), segs.len(), tomb.is_some(), blobs) {
        (true, 2, false, 2) => "whole",
        (false, 0, true, _) => "expired",
        _ => panic!(
            "half deleted: row {row:?}, {} segments, tombstone {tomb:?}, {blobs} blobs",
            segs.len()
        ),
    }
}

fn crash_at(step: &str) {
    let w = world();
    let rid = upload(&w, NOW);
    let id = w.device.epoch.epoch_id;
    let expiry = w.device.epoch.not_after + KEEP;
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

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let seen = rt.block_on(visible_state(&root, rid));
    let want = match step {
        "Expiring" | "KeyDestroyed" => "whole",
        _ => "expired",
    };
    assert_eq!(seen, want, "after a crash at {step}");

    // The next sweep (at start, and asked for) finishes it.
    let clock = Arc::new(ManualClock::new(expiry));
    let vault = start_on(&root, clock);
    vault.block_on(vault.app.sweep_once()).unwrap();
    let app = &vault.app;
    assert_eq!(
        vault.block_on(app.index.epoch(id)).unwrap().unwrap().state,
        EpochState::Swept
    );
    drop(vault);
    assert_eq!(rt.block_on(visible_state(&root, rid)), "expired");
    let o = rt
        .block_on(open_stores(
            &root.join("data"),
            &root.join("keys"),
            Start::Existing,
        ))
        .unwrap();
    let entries: Vec<LogEntry> = rt
        .block_on(o.index.log_entries(0, 1000))
        .unwrap()
        .into_iter()
        .filter(|r| r.kind == "epoch-destroyed")
        .map(|r| LogEntry::from_bytes(&r.body.unwrap()).unwrap())
        .collect();
    assert_eq!(entries.len(), 1, "logged once: {entries:?}");
    let Event::EpochDestroyed {
        segments,
        key_destroyed,
        ..
    } = entries[0].event
    else {
        unreachable!()
    };
    assert_eq!(segments, 2);
    // The entry tells the truth about which sweep destroyed the key: the
    // next one did only if the first died before its transaction.
    assert_eq!(
        key_destroyed,
        step != "KeyDestroyed",
        "after a crash at {step}"
    );
    let receipt = rt.block_on(o.index.deletion_receipt(id)).unwrap().unwrap();
    assert!(DeletionReceipt::from_bytes(&receipt).is_ok());
    rt.block_on(o.index.close());
    drop(dir);
}

#[test]
fn a_sweep_killed_after_marking_the_epoch_expiring_is_finished_by_the_next() {
    crash_at("Expiring");
}

#[test]
fn a_sweep_killed_after_destroying_the_key_is_finished_by_the_next() {
    crash_at("KeyDestroyed");
}

#[test]
fn a_sweep_killed_after_its_transaction_is_finished_by_the_next() {
    crash_at("Destroyed");
}

#[test]
fn a_sweep_killed_between_deleting_a_blob_and_dequeuing_it_is_finished_by_the_next() {
    crash_at("BlobDeleted");
}

/// Run by the tests above in a child process: the vault of
/// `OBHUT_TEST_ROOT` at `OBHUT_TEST_NOW`, sweeping until it dies.
#[test]
#[ignore = "run by the crash tests in a child process"]
fn sweep_child() {
    let root = std::path::PathBuf::from(std::env::var_os("OBHUT_TEST_ROOT").unwrap());
    let now: i64 = std::env::var("OBHUT_TEST_NOW").unwrap().parse().unwrap();
    let vault = start_on(&root, Arc::new(ManualClock::new(now)));
    // The vault's own sweep at start may die first; this one, if not.
    let _ = vault.block_on(vault.app.sweep_once());
    std::thread::sleep(std::time::Duration::from_secs(5));
}
