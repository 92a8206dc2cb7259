//! Malleability (docs/format.md §5.3, §8.3, §9.3): a custodian must compute
//! s_i·R only for an R taken from a device-signed record whose TDH2 proof
//! verifies for that segment, and only for in-scope segments.
//!
//! The attacker is a requester holding a legitimate grant for recording X
//! who wants `a` of recording Y (out of scope), and who can register a
//! rogue device to sign records. The same attack is run against two
//! custodian oracles:
//!
//! - a *naive* custodian written here, which multiplies whatever R it is
//!   given by its share (it skips the record, proof and scope checks): the
//!   attacker submits c·R_Y, combines, multiplies by c⁻¹ and recovers a_Y;
//! - the real [`custodian_partial`], which refuses. If it ever answered, the
//!   test would unblind its answer exactly the same way and fail.

use crate::threshold_support;

use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::scalar::Scalar;
use obhut_core::error::{Error, RefusalReason, SegmentFailure};
use obhut_core::identity::PersonSecret;
use obhut_core::ids::RecordingId;
use obhut_core::kem::{self, Capsule, CapsuleContext};
use obhut_core::partial::Runs;
use obhut_core::partial::{custodian_partial, records_from_bytes};
use obhut_core::point::random_scalar;
use obhut_core::record::SegmentRecord;
use obhut_core::request::{AccessRequest, Scope};
use obhut_core::secret::Secret32;
use obhut_core::segment::KeyParts;
use obhut_core::segment::{SegmentKind, SegmentOpener};
use threshold_support::*;

struct Scene {
    group: Group,
    /// Recording X, in scope.
    x: Sealed,
    /// Recording Y of the same device, out of scope: the target.
    y: Sealed,
    /// A device the attacker controls.
    rogue: Device,
    attacker: PersonSecret,
    request: AccessRequest,
}

fn scene(rng: &mut Rng) -> Scene {
    let group = Group::new(2, 3, rng);
    let device = Device::new("bodycam 1", rng);
    let rec_x = RecordingId::random(rng);
    let rec_y = RecordingId::random(rng);
    let x = device.seal(&group, Spec::media(rec_x, 0, 0, 4000), rng);
    let y = device.seal(&group, Spec::media(rec_y, 0, 0, 4000), rng);
    let attacker = PersonSecret::generate("requester", rng);
    let request = request(&attacker, &group.pinned, vec![whole_recording(rec_x)], rng);
    Scene {
        group,
        x,
        y,
        rogue: Device::new("rogue", rng),
        attacker,
        request,
    }
}

impl Scene {
    /// A record signed by the rogue device, claiming to be segment 5 of the
    /// in-scope recording X, carrying `capsule`.
    fn rogue_record(&self, capsule: Capsule, rng: &mut Rng) -> SegmentRecord {
        let rec_x = self.x.segment().recording;
        let (mut fields, a, b) =
            self.rogue
                .fields(&self.group, Spec::media(rec_x, 5, 0, 1000), rng);
        fields.capsule = capsule;
        self.rogue.seal_fields(&self.group, fields, a, b).record
    }

    /// Y's capsule with R and Ū blinded by c (the proof copied along: the
    /// attacker cannot make a valid one without knowing c·r).
    fn blinded_y(&self, c: &Scalar) -> Capsule {
        let y = self.y.capsule();
        let u_bar = curve25519_dalek::ristretto::CompressedRistretto(y.u_bar)
            .decompress()
            .unwrap();
        Capsule {
            r: (c * self.y.r()).compress().to_bytes(),
            u_bar: (c * u_bar).compress().to_bytes(),
            ..y
        }
    }
}

/// A custodian oracle: custodian `i`, asked about one record, returns D
/// (or refuses).
type Oracle<'a> = dyn Fn(u16, &SegmentRecord, &mut Rng) -> obhut_core::Result<RistrettoPoint> + 'a;

/// The naive custodian: takes R straight from the record and multiplies.
/// Its share is the real one, read the way any software on the custodian's
/// machine could (opening the custodian's share envelope).
fn naive<'a>(group: &'a Group) -> Box<Oracle<'a>> {
    Box::new(move |i, record, _| {
        let r = record.header().fields.capsule.r_point()?;
        Ok(group.raw_share(i) * r)
    })
}

/// The real custodian procedure; the attacker, as the grant's requester,
/// opens the envelope and reads D.
fn real<'a>(s: &'a Scene) -> Box<Oracle<'a>> {
    Box::new(move |i, record, rng| {
        let (me, share) = s.group.custodian(i);
        let env = custodian_partial(
            me,
            share,
            &s.group.pinned,
            &s.request,
            &grant(&s.request),
            std::slice::from_ref(record),
            Runs::default(),
            NOW,
            rng,
        )?;
        let p = env.open(&s.attacker.kem)?;
        Ok(p.entries[0].d)
    })
}

fn lagrange_at_zero(i: u16, set: &[u16]) -> Scalar {
    set.iter()
        .filter(|&&j| j != i)
        .fold(Scalar::ONE, |acc, &j| {
            acc * Scalar::from(j) * (Scalar::from(j) - Scalar::from(i)).invert()
        })
}

/// The attack: ask custodians 1 and 2 about `record` (whose R is c·R_Y),
/// combine, unblind with c⁻¹, derive a for Y's capsule.
fn attack(
    s: &Scene,
    oracle: &Oracle<'_>,
    record: &SegmentRecord,
    c: &Scalar,
    rng: &mut Rng,
) -> obhut_core::Result<Secret32> {
    let set = [1u16, 2];
    let mut combined = RistrettoPoint::default();
    for &i in &set {
        combined += lagrange_at_zero(i, &set) * oracle(i, record, rng)?;
    }
    let s_r_y = c.invert() * combined;
    Ok(kem::derive_a(&s_r_y, &s.y.capsule(), &s.group.key().key))
}

/// The attack must fail against the real custodian with `expected`; if the
/// custodian answers, show what the attacker got.
fn assert_refused(
    s: &Scene,
    record: &SegmentRecord,
    c: &Scalar,
    expected: RefusalReason,
    rng: &mut Rng,
) {
    match attack(s, &*real(s), record, c, rng) {
        Err(Error::Refused(reason)) => assert_eq!(reason, expected),
        Ok(a) => panic!(
            "the custodian computed on an attacker-chosen R; recovered a of the \
             out-of-scope segment: {}",
            a == s.y.a
        ),
        Err(other) => panic!("expected refusal {expected:?}, got {other}"),
    }
}

#[test]
fn naive_custodian_lets_the_attacker_unblind_a_of_out_of_scope_footage() {
    let mut rng = rng();
    let s = scene(&mut rng);
    let c = random_scalar(&mut rng);
    let record = s.rogue_record(s.blinded_y(&c), &mut rng);
    // The record really is blinded: its R is not Y's.
    assert_ne!(record.header().fields.capsule.r, s.y.capsule().r);

    let a = attack(&s, &*naive(&s.group), &record, &c, &mut rng).unwrap();
    assert_eq!(
        a, s.y.a,
        "unblinding the naive custodians' answers gives Y's a"
    );
    // With b (which the vault holds) and Y's c, that opens Y's footage. The
    // post-quantum part c (§5.6) is per segment and not malleable: the
    // rogue record carries shares of its own c, so the attacker would also
    // need k custodians' shares of Y's c. Without them the key commitment
    // refuses; the check that R is Y's own is what keeps `a` safe.
    let without_c = KeyParts {
        a: a.clone(),
        b: s.y.b.clone(),
        c: Secret32::new([0; 32]),
    };
    assert!(SegmentOpener::from_header(s.y.record.header(), &without_c).is_err());
    let parts = KeyParts {
        a,
        b: s.y.b.clone(),
        c: s.y.c.clone(),
    };
    let opener = SegmentOpener::from_header(s.y.record.header(), &parts).unwrap();
    let mut out = Vec::new();
    opener.open_stream(&s.y.blob[..], &mut out).unwrap();
    assert_eq!(out, s.y.plaintext);
}

#[test]
fn custodian_refuses_a_blinded_r() {
    let mut rng = rng();
    let s = scene(&mut rng);
    let c = random_scalar(&mut rng);
    let record = s.rogue_record(s.blinded_y(&c), &mut rng);
    let seg = record.segment_ref();
    assert_refused(&s, &record, &c, RefusalReason::UnprovenR(seg), &mut rng);

    // Blinding R alone, keeping Y's Ū, does not help either.
    let mut half = s.y.capsule();
    half.r = s.blinded_y(&c).r;
    let record = s.rogue_record(half, &mut rng);
    assert_refused(&s, &record, &c, RefusalReason::UnprovenR(seg), &mut rng);

    // Control: a record of the rogue device with its own honest capsule is
    // answered, so what refused above is the proof check and nothing else.
    let rec_x = s.x.segment().recording;
    let honest = s
        .rogue
        .seal(&s.group, Spec::media(rec_x, 5, 0, 1000), &mut rng);
    let d = real(&s)(1, &honest.record, &mut rng).unwrap();
    assert_eq!(d, s.group.raw_share(1) * honest.r());
}

#[test]
fn custodian_refuses_r_copied_from_another_recording() {
    let mut rng = rng();
    let s = scene(&mut rng);
    let one = Scalar::ONE;
    // Y's capsule, unmodified, in a record claiming an in-scope segment.
    let record = s.rogue_record(s.y.capsule(), &mut rng);
    assert_refused(
        &s,
        &record,
        &one,
        RefusalReason::UnprovenR(record.segment_ref()),
        &mut rng,
    );
    // The naive custodian hands over Y's a directly.
    assert_eq!(
        attack(&s, &*naive(&s.group), &record, &one, &mut rng).unwrap(),
        s.y.a
    );
}

#[test]
fn custodian_refuses_the_out_of_scope_record_itself() {
    let mut rng = rng();
    let s = scene(&mut rng);
    let one = Scalar::ONE;
    assert_refused(
        &s,
        &s.y.record,
        &one,
        RefusalReason::OutOfScope(s.y.segment()),
        &mut rng,
    );
    assert_eq!(
        attack(&s, &*naive(&s.group), &s.y.record, &one, &mut rng).unwrap(),
        s.y.a
    );
    // The in-scope record is answered (and gives X's a, as it should).
    let set = [1u16, 2];
    let mut s_r = RistrettoPoint::default();
    for &i in &set {
        s_r += lagrange_at_zero(i, &set) * real(&s)(i, &s.x.record, &mut rng).unwrap();
    }
    assert_eq!(
        kem::derive_a(&s_r, &s.x.capsule(), &s.group.key().key),
        s.x.a
    );
}

#[test]
fn moving_y_into_scope_breaks_the_device_signature() {
    let mut rng = rng();
    let s = scene(&mut rng);
    // Rewrite Y's recording id to X's inside the signed record.
    let mut bytes = s.y.record.to_bytes();
    let rec_at = 7 + 7 + 1;
    bytes[rec_at..rec_at + 16].copy_from_slice(&s.x.segment().recording.0);
    match records_from_bytes(&[bytes]) {
        Err(Error::Refused(RefusalReason::UnsignedRecord(seg))) => {
            assert_eq!(seg.recording, s.x.segment().recording)
        }
        // A record that starts its custody run binds the recording id in
        // the run's hash too (§5.6): refused before the signature check.
        Err(Error::Malformed {
            what: "segment custody block",
            ..
        }) => assert!(s.y.record.custody().run.is_some()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn custodian_refuses_r_without_a_valid_proof() {
    let mut rng = rng();
    let s = scene(&mut rng);
    let rec_x = s.x.segment().recording;
    let (fields, _, _) = s
        .rogue
        .fields(&s.group, Spec::media(rec_x, 5, 0, 1000), &mut rng);
    let good = fields.capsule;
    let mut broken = Vec::new();
    // Response, challenge, Ū each altered; and a proof of all zeros.
    let mut c1 = good;
    c1.proof_z = (Scalar::from_canonical_bytes(good.proof_z).unwrap() + Scalar::ONE).to_bytes();
    broken.push(c1);
    let mut c2 = good;
    c2.proof_c = (Scalar::from_canonical_bytes(good.proof_c).unwrap() + Scalar::ONE).to_bytes();
    broken.push(c2);
    let mut c3 = good;
    c3.u_bar = s.y.capsule().u_bar;
    broken.push(c3);
    let mut c4 = good;
    c4.proof_c = [0; 32];
    c4.proof_z = [0; 32];
    broken.push(c4);
    for capsule in broken {
        let record = s.rogue_record(capsule, &mut rng);
        assert_refused(
            &s,
            &record,
            &Scalar::ONE,
            RefusalReason::UnprovenR(record.segment_ref()),
            &mut rng,
        );
    }
}

#[test]
fn the_validity_proof_binds_every_part_of_the_segment_identity() {
    let mut rng = rng();
    let group = Group::new(2, 3, &mut rng);
    let key = group.key();
    let ctx = CapsuleContext {
        recording_id: RecordingId::random(&mut rng),
        device_key: Device::new("d", &mut rng)
            .secret
            .sign
            .verify_key()
            .to_bytes(),
        segment_index: 3,
        kind: SegmentKind::Media.to_u8(),
        media_start_ms: 30_000,
        media_end_ms: 40_000,
        capture_utc_ms: NOW - 3_600_000,
    };
    let (capsule, _) = kem::encapsulate(&key, &ctx, &mut rng);
    kem::verify_capsule_proof(&capsule, &key, &ctx).unwrap();

    let bad_proof = |c: &Capsule, k: &kem::GroupKey, x: &CapsuleContext| {
        matches!(
            kem::verify_capsule_proof(c, k, x),
            Err(Error::Segment {
                failure: SegmentFailure::BadKemProof,
                ..
            })
        )
    };
    let variants = [
        CapsuleContext {
            recording_id: RecordingId::random(&mut rng),
            ..ctx
        },
        CapsuleContext {
            device_key: Device::new("e", &mut rng)
                .secret
                .sign
                .verify_key()
                .to_bytes(),
            ..ctx
        },
        CapsuleContext {
            segment_index: 4,
            ..ctx
        },
        CapsuleContext { kind: 1, ..ctx },
        CapsuleContext {
            media_start_ms: 0,
            ..ctx
        },
        CapsuleContext {
            media_end_ms: 50_000,
            ..ctx
        },
        CapsuleContext {
            capture_utc_ms: NOW,
            ..ctx
        },
    ];
    for other in &variants {
        assert!(bad_proof(&capsule, &key, other), "{other:?}");
    }
    // Another group key under the same ids.
    let other_group = Group::new(2, 3, &mut rng);
    let mut other_key = other_group.key();
    other_key.group_id = key.group_id;
    other_key.generation = key.generation;
    assert!(bad_proof(&capsule, &other_key, &ctx));
    // Another group or generation is named as such.
    let mut next = key;
    next.generation += 1;
    assert!(matches!(
        kem::verify_capsule_proof(&capsule, &next, &ctx),
        Err(Error::Segment {
            failure: SegmentFailure::Misplaced(_),
            ..
        })
    ));
    // Blinded R and Ū.
    let c = random_scalar(&mut rng);
    let u = curve25519_dalek::ristretto::CompressedRistretto(capsule.u_bar)
        .decompress()
        .unwrap();
    let blinded = Capsule {
        r: (c * capsule.r_point().unwrap()).compress().to_bytes(),
        u_bar: (c * u).compress().to_bytes(),
        ..capsule
    };
    assert!(bad_proof(&blinded, &key, &ctx));
    // Ḡ is fixed and not G.
    assert_ne!(
        *kem::generator_bar(),
        curve25519_dalek::constants::RISTRETTO_BASEPOINT_POINT
    );
    assert_eq!(
        kem::generator_bar().compress(),
        RistrettoPoint::hash_from_bytes::<sha2::Sha512>(obhut_core::labels::KEM_GENERATOR_BAR)
            .compress()
    );
}

/// Whoever holds the device's key (stolen, or of a revoked device) and
/// runs the vault re-signs an old segment's record with its times moved
/// into a narrow grant: same recording, device, index and kind, the
/// original capsule. The custodians must not answer for its R, which would
/// hand over the key of footage outside the grant.
#[test]
fn custodian_refuses_a_capsule_re_timed_into_the_grant() {
    let mut rng = rng();
    let group = Group::new(2, 3, &mut rng);
    let device = Device::new("bodycam 7", &mut rng);
    let rec = RecordingId::random(&mut rng);
    // Segment 0 covers media 0–4 s; the grant covers 60–64 s only.
    let old = device.seal(&group, Spec::media(rec, 0, 0, 4_000), &mut rng);
    let attacker = PersonSecret::generate("requester", &mut rng);
    let request = request(
        &attacker,
        &group.pinned,
        vec![Scope::Recording {
            recording_id: rec,
            media_start_ms: 60_000,
            media_end_ms: 64_000,
            include_metadata: false,
        }],
        &mut rng,
    );
    let (mut fields, a, b) = device.fields(&group, Spec::media(rec, 0, 60_000, 64_000), &mut rng);
    fields.capsule = old.capsule();
    let re_timed = device.seal_fields(&group, fields, a, b).record;
    let (me, share) = group.custodian(1);
    let answer = custodian_partial(
        me,
        share,
        &group.pinned,
        &request,
        &grant(&request),
        std::slice::from_ref(&re_timed),
        Runs::default(),
        NOW,
        &mut rng,
    );
    match answer {
        Err(Error::Refused(RefusalReason::UnprovenR(seg))) => {
            assert_eq!(seg, re_timed.segment_ref())
        }
        Ok(_) => panic!("the custodian answered for a re-timed capsule"),
        Err(other) => panic!("expected UnprovenR, got {other}"),
    }
}
