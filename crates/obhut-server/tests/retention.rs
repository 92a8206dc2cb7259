//! Issue 18 items 2 and 4 end to end (a real vault over HTTP on loopback,
//! SQLite, real files), with the file key holder: a backup of the data
//! directory and the keystore taken before expiry opens nothing after the
//! sweep; the sweep logs the destruction and signs a receipt that checks
//! against the log; a destroyed period is never issued a key again;
//! `GET /v1/epochs?at=` needs a device's signature; a clock moved either
//! way neither deletes early nor keeps expired footage.
//! tests/retention_hsm.rs runs the backup test with SoftHSM2.

use crate::retention_support;

use obhut_server::testkit::{http, put_sealed};
use obhut_store::{EpochState, IndexStore, RetentionStore};
use retention_support::*;

#[test]
fn a_backup_taken_before_expiry_opens_nothing_after_the_sweep() {
    backup_opens_nothing(&world());
}

#[test]
fn a_destroyed_period_is_never_issued_again_and_at_needs_a_device() {
    let w = world();
    let id = w.device.epoch.epoch_id;
    let nb = w.device.epoch.not_before;
    // Anonymous `at`: refused, whatever the time.
    let path = format!("/v1/epochs?class={CLASS}&at={NOW}");
    let r = http(w.vault.addr, "GET", &path, &[], &[]).unwrap();
    assert_eq!((r.status, r.kind().as_str()), (401, "bad-signature"));
    assert_eq!(w.device_get(&path).status, 200);

    w.clock.set(w.device.epoch.not_after + KEEP);
    w.sweep();
    // The clock set back into the destroyed period: the vault does not
    // make a second key for it, for the schedule or for the device.
    w.clock.set(NOW);
    let anon = http(
        w.vault.addr,
        "GET",
        &format!("/v1/epochs?class={CLASS}"),
        &[],
        &[],
    )
    .unwrap();
    assert_eq!(
        (anon.status, anon.kind().as_str()),
        (410, "epoch-destroyed")
    );
    let dev = w.device_get(&path);
    assert_eq!((dev.status, dev.kind().as_str()), (410, "epoch-destroyed"));
    assert!(w.vault.block_on(w.vault.app.ensure_all_epochs()).is_err());
    let e = w
        .vault
        .block_on(w.vault.app.index.epoch_at(CLASS, nb))
        .unwrap()
        .unwrap();
    assert_eq!((e.epoch_id, e.state), (id, EpochState::Swept));
    // Uploads sealed to it are refused by name.
    let segs = obhut_server::testkit::seal_recording(
        &w.device.device,
        &w.device.group,
        &w.device.epoch,
        NOW,
        &[(obhut_core::segment::SegmentKind::Media, vec![3; 100])],
        true,
    );
    let r = put_sealed(
        w.vault.addr,
        &w.vault.ids(),
        &w.device.device,
        &segs[0],
        NOW,
    )
    .unwrap();
    assert_eq!((r.status, r.kind().as_str()), (410, "epoch-destroyed"));
}

#[test]
fn a_clock_set_back_does_not_hold_back_a_due_deletion() {
    let w = world();
    let rid = upload(&w, NOW);
    let expiry = w.device.epoch.not_after + KEEP;
    // The clock jumps past expiry; the schedule runs (and remembers the
    // reading), the sweep does not yet.
    w.clock.set(expiry + HOUR);
    w.vault.block_on(w.vault.app.ensure_all_epochs()).unwrap();
    // Set back before expiry: the sweep still deletes what was due.
    w.clock.set(NOW);
    let report = w.sweep();
    assert_eq!(report.segments, 2, "{report:?}");
    assert!(
        w.vault
            .block_on(w.vault.app.index.expired_recording(rid))
            .unwrap()
            .is_some()
    );
}

/// Issue 18 item 1: moving a device to another retention class needs
/// signed approvals of k distinct custodians of its group, each for
/// exactly that change; the change is logged with the approvals whole.
#[test]
fn reclassification_needs_k_custodian_approvals_and_is_logged() {
    use obhut_core::audit::{Event, LogEntry};
    use obhut_core::reclassify::{Reclassification, ReclassifyApproval};
    use obhut_server::admin::{AdminError, reclassify_device};
    use obhut_server::testkit::{Enrolled, TestGroup, create_token};
    use obhut_store::LogStore;

    let w = world();
    let tg = TestGroup::new(2, 3);
    let token = w
        .vault
        .block_on(create_token(&w.vault.app.index, &tg.pinned, CLASS, NOW));
    let dev = Enrolled::with_token(w.vault.addr, tg.pinned.clone(), &token, CLASS, NOW);
    let key = dev.device.verify_key().to_bytes();
    let change = |to: &str| Reclassification {
        group_id: tg.pinned.group_id(),
        device_key: key,
        from_class: CLASS.into(),
        to_class: to.into(),
        not_after: NOW + HOUR,
    };
    let approve = |i: u16, signer: u16, to: &str| {
        ReclassifyApproval::sign(change(to), i, &tg.custodian(signer).0.sign).unwrap()
    };
    let app = &w.vault.app;
    let run = |approvals: &[ReclassifyApproval]| {
        w.vault.block_on(reclassify_device(
            &app.index,
            w.clock.as_ref(),
            key,
            "evidence",
            approvals,
        ))
    };
    let logged = w.vault.block_on(app.index.log_sequenced()).unwrap();

    // One custodian, even twice: not k.
    let one = approve(1, 1, "evidence");
    assert!(matches!(
        run(&[one.clone(), one.clone()]),
        Err(AdminError::NotEnoughApprovals { have: 1, need: 2 })
    ));
    // Custodian 1 signing as custodian 2; an approval of another change.
    assert!(matches!(
        run(&[one.clone(), approve(2, 1, "evidence")]),
        Err(AdminError::Approval { custodian: 2, .. })
    ));
    assert!(matches!(
        run(&[one.clone(), approve(2, 2, "bodycam")]),
        Err(AdminError::Approval { custodian: 2, .. })
    ));
    // Expired by the vault's clock.
    w.clock.set(NOW + HOUR);
    assert!(matches!(
        run(&[one.clone(), approve(2, 2, "evidence")]),
        Err(AdminError::Approval { .. })
    ));
    w.clock.set(NOW);
    assert_eq!(
        w.vault.block_on(app.index.log_sequenced()).unwrap(),
        logged,
        "refusals change and log nothing"
    );
    assert_eq!(
        w.vault
            .block_on(app.index.device(key))
            .unwrap()
            .unwrap()
            .retention_class,
        CLASS
    );

    // k of them: changed and logged with both approvals.
    run(&[one, approve(3, 3, "evidence")]).unwrap();
    assert_eq!(
        w.vault
            .block_on(app.index.device(key))
            .unwrap()
            .unwrap()
            .retention_class,
        "evidence"
    );
    let rows = w.vault.block_on(app.index.log_entries(logged, 10)).unwrap();
    assert_eq!(rows.len(), 1);
    let e = LogEntry::from_bytes(rows[0].body.as_ref().unwrap()).unwrap();
    assert!(
        matches!(&e.event, Event::DeviceReclassified { from_class, to_class, approvals, .. }
            if from_class == CLASS && to_class == "evidence" && approvals.len() == 2),
        "{e:?}"
    );
    assert!(matches!(run(&[]), Err(AdminError::SameClass(_))));
}
