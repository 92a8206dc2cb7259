//! A custody group reshared while its cameras are out (format.md §4.3):
//! the admin stores the next generation at the vault; cameras that already
//! re-pinned seal to it, cameras that have not yet seal to the old one.
//! The running vault accepts both — without a restart — since resharing
//! keeps the group key.

use std::sync::Arc;

use obhut_core::group::PinnedGroup;
use obhut_core::identity::PersonSecret;
use obhut_core::reshare::{self, ReshareDeal, ResharePlan};
use obhut_core::rng::os_rng;
use obhut_core::segment::SegmentKind;
use obhut_server::ManualClock;
use obhut_server::testkit::{
    Enrolled, InProcess, TestGroup, create_token, put_sealed, seal_recording,
};

const NOW: i64 = 1_790_000_000_000;
const CLASS: &str = "bodycam-30d";

/// Generation 2 of `old`: custodians 1 and 2 deal to three new people, 2 of 3.
fn reshared(old: &TestGroup) -> PinnedGroup {
    let mut rng = os_rng();
    let people: Vec<PersonSecret> = (1..=3)
        .map(|j| PersonSecret::generate(&format!("new custodian {j}"), &mut rng))
        .collect();
    let publics: Vec<_> = people.iter().map(PersonSecret::public).collect();
    let plan = ResharePlan::new(&[1, 2], "district 4 (2027)", 2, &publics).unwrap();
    let deals: Vec<ReshareDeal> = (0..2)
        .map(|i| {
            ReshareDeal::create(
                &old.custodians[i],
                &old.shares[i],
                &old.pinned,
                &plan,
                &mut rng,
            )
            .unwrap()
        })
        .collect();
    let received: Vec<_> = people
        .iter()
        .map(|p| reshare::receive(p, &old.pinned, &deals, &mut rng).unwrap())
        .collect();
    let mut descriptor = received[0].descriptor.clone();
    for r in &received[1..] {
        let sig = r.descriptor.signatures()[0];
        descriptor.add_signature(sig.index, sig.signature).unwrap();
    }
    reshare::verify_successor(&old.pinned, &deals, &descriptor).unwrap()
}

#[test]
fn ingest_accepts_every_generation_of_a_reshared_group() {
    let dir = tempfile::tempdir().unwrap();
    let vault = InProcess::start(
        &dir.path().join("data"),
        &dir.path().join("keys"),
        Arc::new(ManualClock::new(NOW)),
        1 << 20,
    );
    let old = TestGroup::new(2, 3);
    let token = vault.block_on(create_token(&vault.app.index, &old.pinned, CLASS, NOW));
    let camera = Enrolled::with_token(vault.addr, old.pinned.clone(), &token, CLASS, NOW);
    let upload = |group: &PinnedGroup, capture_ms: i64| {
        let seg = seal_recording(
            &camera.device,
            group,
            &camera.epoch,
            capture_ms,
            &[(SegmentKind::Media, vec![7; 10_000])],
            true,
        )
        .remove(0);
        put_sealed(vault.addr, &vault.ids(), &camera.device, &seg, NOW).unwrap()
    };
    // Generation 1, cached by the vault.
    let r = upload(&old.pinned, NOW - 60_000);
    assert_eq!(r.status, 201, "{:?}", r.json());

    // The admin stores generation 2 (as `obhut admin enrol-token --group`
    // with the new descriptor does).
    let new = reshared(&old);
    assert_eq!(
        (new.group_id(), new.generation()),
        (old.pinned.group_id(), 2)
    );
    vault.block_on(create_token(&vault.app.index, &new, CLASS, NOW));

    // A camera that re-pinned: generation 2, on the running vault.
    let r = upload(&new, NOW - 50_000);
    assert_eq!(r.status, 201, "generation 2: {:?}", r.json());
    // A camera that has not yet: generation 1, after the vault moved on.
    let r = upload(&old.pinned, NOW - 40_000);
    assert_eq!(
        r.status,
        201,
        "generation 1 after the reshare: {:?}",
        r.json()
    );
}
