//! Issue 18 item 3 end to end (a real vault over HTTP on loopback, SQLite,
//! the file key holder): a legal hold, placed and released only with k
//! custodians' approvals, keeps held footage past its epoch's destruction
//! (re-wrapped to the hold's key) while unheld footage of the same epoch
//! goes, backups included; released, it goes at the next sweep. A clock
//! moved either way never deletes held footage. tests/retention_hsm.rs
//! runs the backup test with SoftHSM2.

use crate::hold_support;
use crate::retention_support;

use hold_support::*;
use obhut_core::audit::{Event, LogEntry};
use obhut_server::admin::AdminError;
use obhut_store::{HoldStore, IndexStore, LogStore};
use retention_support::*;

#[test]
fn a_held_recording_outlives_its_epoch_and_goes_once_released() {
    held_backup(world());
}

/// An operator alone, or with k-1 custodians, cannot place a hold: the
/// refusal stores and logs nothing, and the footage expires on time.
#[test]
fn a_hold_without_k_approvals_protects_nothing() {
    let c = Case::new(world());
    let (_, expiry) = c.epoch();
    let rec = c.upload(NOW, 1);
    let t = c.terms("2026-K-0042", NOW - 1000, NOW + 60_000);
    let app = &c.w.vault.app;
    let logged = c.w.vault.block_on(app.index.log_sequenced()).unwrap();
    // The operator alone; one custodian, even twice.
    assert!(matches!(
        c.place(&t, &[]),
        Err(AdminError::NotEnoughHoldApprovals { have: 0, need: 2 })
    ));
    let one = c.approval(obhut_core::hold::HoldAction::Place, &t, 1, 1);
    let twice = c.w.vault.block_on(obhut_server::hold::place_hold(
        &app.index,
        c.w.clock.as_ref(),
        &t,
        &[one.clone(), one.clone()],
    ));
    assert!(matches!(
        twice,
        Err(AdminError::NotEnoughHoldApprovals { have: 1, need: 2 })
    ));
    // Custodian 1 signing as custodian 2; a release approval as a
    // placement; approvals of another window.
    let forged = c.approval(obhut_core::hold::HoldAction::Place, &t, 2, 1);
    let release = c.approval(obhut_core::hold::HoldAction::Release, &t, 2, 2);
    let wider = c.terms("2026-K-0042", NOW - 1000, NOW + 3_600_000);
    let other = c.approval(obhut_core::hold::HoldAction::Place, &wider, 2, 2);
    for second in [forged, release, other] {
        let r = c.w.vault.block_on(obhut_server::hold::place_hold(
            &app.index,
            c.w.clock.as_ref(),
            &t,
            &[one.clone(), second],
        ));
        assert!(
            matches!(r, Err(AdminError::Approval { custodian: 2, .. })),
            "{r:?}"
        );
    }
    assert_eq!(
        c.w.vault.block_on(app.index.log_sequenced()).unwrap(),
        logged
    );
    assert!(c.w.vault.block_on(app.index.holds()).unwrap().is_empty());

    c.w.clock.set(expiry);
    let r = c.w.sweep();
    assert_eq!((r.held, r.segments), (0, 2), "{r:?}");
    assert!(!c.stored(&rec));
    assert!(c.open(&rec).is_err());
}

/// A hold placed with k approvals is logged whole; the same terms again
/// are the same hold; release needs k release approvals of those terms.
#[test]
fn placing_and_releasing_are_logged_with_the_approvals() {
    let c = Case::new(world());
    let t = c.terms("2026-K-0042", NOW, NOW + 60_000);
    let app = &c.w.vault.app;
    let logged = c.w.vault.block_on(app.index.log_sequenced()).unwrap();
    let id = c.place(&t, &[2, 3]).unwrap();
    assert!(matches!(
        c.place(&t, &[1, 2]),
        Err(AdminError::Store(obhut_store::StoreError::HoldExists))
    ));
    c.release(&t, &[1, 3]).unwrap();
    assert!(c.release(&t, &[1, 2]).is_err(), "released once");
    let rows =
        c.w.vault
            .block_on(app.index.log_entries(logged, 10))
            .unwrap();
    let events: Vec<Event> = rows
        .iter()
        .map(|r| {
            LogEntry::from_bytes(r.body.as_ref().unwrap())
                .unwrap()
                .event
        })
        .collect();
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(
        matches!(&events[0], Event::HoldPlaced { hold_id, case, approvals, .. }
        if *hold_id == id && case == "2026-K-0042" && approvals.len() == 2)
    );
    assert!(
        matches!(&events[1], Event::HoldReleased { hold_id, approvals, .. }
        if *hold_id == id && approvals.len() == 2)
    );
    let h = c.w.vault.block_on(app.index.hold(id)).unwrap().unwrap();
    assert!(h.released_ms.is_some());
}

/// Issue 18: a clock moved forwards or backwards never deletes held
/// footage; after release, the clock set back does not keep it.
#[test]
fn a_clock_moved_either_way_never_deletes_held_footage() {
    let c = Case::new(world());
    let (_, expiry) = c.epoch();
    let held = c.upload(NOW, 1);
    let unheld = c.upload(NOW + 10 * 60_000, 2);
    let t = c.terms("2026-K-0042", NOW - 1000, NOW + 60_000);
    c.place(&t, &[1, 2]).unwrap();
    // Far forwards: the epoch goes, the held recording stays.
    c.w.clock.set(expiry + 400 * DAY);
    let r = c.w.sweep();
    assert_eq!((r.held, r.segments), (2, 2), "{r:?}");
    assert!(c.stored(&held) && !c.stored(&unheld));
    // Back before the capture, then forwards again: still kept.
    for at in [NOW - DAY, NOW, expiry, expiry + 4000 * DAY] {
        c.w.clock.set(at);
        assert_eq!(c.w.sweep(), Default::default(), "at {at}");
        assert!(c.stored(&held), "at {at}");
    }
    assert_eq!(c.open(&held).unwrap(), held.plain);
    // Released, then the clock set back before the release: the floor
    // remembers, the next sweep deletes it.
    c.release(&t, &[2, 3]).unwrap();
    c.w.clock.set(NOW);
    let r = c.w.sweep();
    assert_eq!(r.segments, 2, "{r:?}");
    assert!(!c.stored(&held));
}

/// A hold released before its footage's epoch expires changes nothing:
/// the footage goes on its class's schedule, and no hold key is made.
#[test]
fn a_hold_released_before_expiry_leaves_the_schedule_as_it_was() {
    let c = Case::new(world());
    let (_, expiry) = c.epoch();
    let rec = c.upload(NOW, 1);
    let t = c.terms("2026-K-0042", NOW - 1000, NOW + 60_000);
    let id = c.place(&t, &[1, 2]).unwrap();
    c.release(&t, &[1, 2]).unwrap();
    c.w.clock.set(expiry - 1);
    assert_eq!(c.w.sweep().segments, 0);
    assert!(c.stored(&rec));
    c.w.clock.set(expiry);
    let r = c.w.sweep();
    assert_eq!((r.held, r.segments), (0, 2), "{r:?}");
    assert!(!c.stored(&rec));
    let app = &c.w.vault.app;
    assert!(
        c.w.vault
            .block_on(app.index.epoch(obhut_core::ids::EpochId(id)))
            .unwrap()
            .is_none()
    );
}
