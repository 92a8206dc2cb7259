//! Issue 18 item 5 end to end (a real vault over HTTP on loopback, SQLite,
//! the file key holder): an erasure request with k custodians' approvals
//! splits the epoch (every other segment re-wrapped to a fresh key), then
//! destroys the old epoch key and the erased segments. Afterwards the
//! erased recording opens for nobody, even with a copy of the data
//! directory and keystore taken before; the other recording of the same
//! epoch still opens for k custodians. Fewer than k approvals, an open
//! epoch, or a legal hold refuse it and change nothing.

use crate::hold_support;
use crate::retention_support;

use hold_support::*;
use obhut_api::ErrorKind;
use obhut_core::audit::{Event, LogEntry};
use obhut_core::erasure::{ErasureApproval, ErasureTerms};
use obhut_core::ids::RecordingId;
use obhut_store::{LogStore, RetentionStore};
use retention_support::*;

fn terms(c: &Case, rid: RecordingId) -> ErasureTerms {
    ErasureTerms {
        group_id: c.group.pinned.group_id(),
        recording_id: rid,
        from_ms: i64::MIN,
        to_ms: i64::MAX,
        reason: "Art. 17 request 2026-0017".into(),
    }
}

fn approvals(c: &Case, t: &ErasureTerms, who: &[u16]) -> Vec<ErasureApproval> {
    who.iter()
        .map(|&i| {
            ErasureApproval::sign(t.clone(), c.now() + DAY, i, &c.group.custodian(i).0.sign)
                .unwrap()
        })
        .collect()
}

#[test]
fn an_erased_recording_opens_for_nobody_and_its_epoch_neighbour_still_opens() {
    let c = Case::new(world());
    let (epoch, expiry) = c.epoch();
    let erased = c.upload(NOW, 1);
    let kept = c.upload(NOW + 10 * 60_000, 2);
    let app = &c.w.vault.app;
    let t = terms(&c, erased.rid);
    let erase = |who: &[u16]| c.w.vault.block_on(app.erase(&t, &approvals(&c, &t, who)));

    // While the epoch's period is open, devices may still seal to it.
    let open = erase(&[1, 2]).unwrap_err();
    assert_eq!(open.kind, ErrorKind::Conflict, "{open:?}");
    c.w.clock.set(c.dev.epoch.not_after + 60_000);
    assert!(c.w.clock_now() < expiry);
    let logged = c.w.vault.block_on(app.index.log_sequenced()).unwrap();
    // One custodian, or the operator alone: refused, nothing changes.
    for who in [&[][..], &[3]] {
        let r = erase(who).unwrap_err();
        assert_eq!(r.kind, ErrorKind::Forbidden, "{r:?}");
    }
    assert_eq!(
        c.w.vault.block_on(app.index.log_sequenced()).unwrap(),
        logged
    );
    assert!(c.stored(&erased) && c.stored(&kept));

    let before = c.backup("backup-before-erasure");
    let report = erase(&[1, 3]).unwrap();
    assert_eq!(
        (report.segments, report.epochs, report.moved),
        (2, 1, 2),
        "{report:?}"
    );
    assert_eq!(report.copies_until_ms, c.w.clock_now());
    assert!(report.why.contains("backups included"), "{}", report.why);
    assert!(!c.stored(&erased) && c.stored(&kept));
    assert!(
        c.open(&erased).is_err(),
        "the erased recording opens for nobody"
    );
    assert_eq!(
        c.open(&kept).unwrap(),
        kept.plain,
        "its neighbour still opens"
    );
    // The copy holds the erased blobs and the old epoch's sealed secret,
    // which opens nothing.
    copy_opens_nothing(&c, &before.join("keys"), epoch);

    // Logged: the old epoch's destruction with its receipt, and the
    // erasure with both approvals.
    assert!(
        c.w.vault
            .block_on(app.index.deletion_receipt(epoch))
            .unwrap()
            .is_some()
    );
    let rows =
        c.w.vault
            .block_on(app.index.log_entries(logged, 100))
            .unwrap();
    let events: Vec<Event> = rows
        .iter()
        .map(|r| {
            LogEntry::from_bytes(r.body.as_ref().unwrap())
                .unwrap()
                .event
        })
        .collect();
    assert!(
        events.iter().any(|e| matches!(e,
        Event::Erased { recording_id, segments: 2, approvals, .. }
            if *recording_id == erased.rid && approvals.len() == 2)),
        "{events:?}"
    );
    assert!(events.iter().any(|e| matches!(e,
        Event::EpochDestroyed { epoch_id, segments: 2, key_destroyed: true, .. } if *epoch_id == epoch)));

    // The kept recording expires on its class's schedule, as before.
    c.w.clock.set(expiry);
    let r = c.w.sweep();
    assert_eq!(r.segments, 2, "{r:?}");
    assert!(!c.stored(&kept));
}

#[test]
fn footage_under_legal_hold_is_not_erased() {
    let c = Case::new(world());
    let rec = c.upload(NOW, 1);
    let hold = c.terms("2026-K-0042", NOW - 1000, NOW + 60_000);
    c.place(&hold, &[1, 2]).unwrap();
    c.w.clock.set(c.dev.epoch.not_after + 60_000);
    let t = terms(&c, rec.rid);
    let app = &c.w.vault.app;
    let r =
        c.w.vault
            .block_on(app.erase(&t, &approvals(&c, &t, &[1, 2])))
            .unwrap_err();
    assert_eq!(r.kind, ErrorKind::Conflict, "{r:?}");
    assert!(c.stored(&rec));
    assert_eq!(c.open(&rec).unwrap(), rec.plain);
}
