//! Threshold custody end to end (docs/format.md §4, §5.2, §8.2–8.4): every
//! k-subset of custodians recovers the device's `a`, no (k−1)-subset does,
//! and a wrong, malicious or misdirected partial is detected and names its
//! custodian.

use crate::threshold_support;

use curve25519_dalek::constants::RISTRETTO_BASEPOINT_POINT as G;
use obhut_core::combine::{Combined, combine};
use obhut_core::error::{Error, PartialFailure, RejectedPartial};
use obhut_core::identity::PersonSecret;
use obhut_core::ids::RecordingId;
use obhut_core::partial::Runs;
use obhut_core::partial::{PartialEnvelope, custodian_partial};
use obhut_core::request::GrantRef;
use obhut_core::secret::Secret32;
use obhut_core::segment::KeyParts;
use obhut_core::segment::{SegmentKind, SegmentOpener};
use threshold_support::*;

/// A group, a device, one recording of three media segments plus its
/// container index, a requester and a grant covering the whole recording.
struct World {
    group: Group,
    device: Device,
    segments: Vec<Sealed>,
    requester: PersonSecret,
    request: obhut_core::request::AccessRequest,
    grant: GrantRef,
}

fn world(k: u16, n: u16, rng: &mut Rng) -> World {
    let group = Group::new(k, n, rng);
    let device = Device::new("bodycam 7", rng);
    let rec = RecordingId::random(rng);
    let mut segments: Vec<Sealed> = (0..3)
        .map(|i| {
            device.seal(
                &group,
                Spec::media(rec, i, i as u64 * 4000, (i as u64 + 1) * 4000),
                rng,
            )
        })
        .collect();
    let mut index = Spec::media(rec, 3, 0, 0);
    index.kind = SegmentKind::ContainerIndex;
    segments.push(device.seal(&group, index, rng));
    let requester = PersonSecret::generate("requester", rng);
    let request = request(&requester, &group.pinned, vec![whole_recording(rec)], rng);
    let grant = grant(&request);
    World {
        group,
        device,
        segments,
        requester,
        request,
        grant,
    }
}

impl World {
    fn records(&self) -> Vec<obhut_core::record::SegmentRecord> {
        self.segments.iter().map(|s| s.record.clone()).collect()
    }
    fn expected(&self) -> Vec<&obhut_core::record::SegmentRecord> {
        self.segments.iter().map(|s| &s.record).collect()
    }
    fn partial_from(&self, index: u16, rng: &mut Rng) -> PartialEnvelope {
        let (me, share) = self.group.custodian(index);
        custodian_partial(
            me,
            share,
            &self.group.pinned,
            &self.request,
            &self.grant,
            &self.records(),
            Runs::default(),
            NOW,
            rng,
        )
        .unwrap()
    }
    fn combine(
        &self,
        envelopes: &[PartialEnvelope],
    ) -> obhut_core::Result<Vec<(obhut_core::ids::SegmentRef, Secret32, Secret32)>> {
        self.combine_reporting(envelopes).map(|c| c.keys)
    }
    fn combine_reporting(&self, envelopes: &[PartialEnvelope]) -> obhut_core::Result<Combined> {
        combine(
            &self.group.pinned,
            &self.request,
            &self.grant,
            &self.expected(),
            envelopes,
            &self.requester.kem,
        )
    }
    fn fingerprint(&self, index: u16) -> obhut_core::ids::Fingerprint {
        self.group.custodian(index).0.public().fingerprint()
    }
}

fn every_subset_recovers_a(k: u16, n: u16) {
    let mut rng = rng();
    let w = world(k, n, &mut rng);
    let partials: Vec<PartialEnvelope> = (1..=n).map(|i| w.partial_from(i, &mut rng)).collect();
    // Envelopes survive their encoding.
    for p in &partials {
        assert_eq!(&PartialEnvelope::from_bytes(&p.to_bytes()).unwrap(), p);
    }
    for subset in subsets(n, k as usize) {
        let envs: Vec<_> = subset
            .iter()
            .map(|&i| partials[i as usize - 1].clone())
            .collect();
        let out = w
            .combine(&envs)
            .unwrap_or_else(|e| panic!("{subset:?}: {e}"));
        assert_eq!(out.len(), w.segments.len());
        for ((seg, a, _), sealed) in out.iter().zip(&w.segments) {
            assert_eq!(*seg, sealed.segment());
            assert_eq!(a, &sealed.a, "subset {subset:?} recovered a different a");
        }
    }
    for subset in subsets(n, k as usize - 1) {
        let envs: Vec<_> = subset
            .iter()
            .map(|&i| partials[i as usize - 1].clone())
            .collect();
        match w.combine(&envs) {
            Err(Error::NotEnoughPartials {
                needed,
                have,
                rejected,
            }) => {
                assert!(rejected.is_empty(), "{subset:?}: {rejected:?}");
                assert_eq!((needed, have), (k, k - 1), "{subset:?}");
            }
            other => panic!("{subset:?}: expected NotEnoughPartials, got {other:?}"),
        }
    }
}

#[test]
fn every_2_subset_of_3_recovers_a_and_no_single_custodian_does() {
    every_subset_recovers_a(2, 3);
}

#[test]
fn every_3_subset_of_5_recovers_a_and_no_2_subset_does() {
    every_subset_recovers_a(3, 5);
}

#[test]
fn one_of_one_recovers_a() {
    every_subset_recovers_a(1, 1);
}

#[test]
fn recovered_a_with_the_epoch_part_opens_the_footage() {
    let mut rng = rng();
    let w = world(2, 3, &mut rng);
    let envs = [w.partial_from(3, &mut rng), w.partial_from(1, &mut rng)];
    let keys = w.combine(&envs).unwrap();
    for ((_, a, c), sealed) in keys.iter().zip(&w.segments) {
        let header = &sealed.record.header().fields;
        let b = w
            .device
            .epoch
            .unwrap(
                &header.epoch_wrap,
                header.recording_id,
                &header.device_key,
                header.segment_index,
            )
            .unwrap();
        assert_eq!(c, &sealed.c);
        let parts = KeyParts {
            a: a.clone(),
            b,
            c: c.clone(),
        };
        let opener = SegmentOpener::from_header(sealed.record.header(), &parts).unwrap();
        let mut out = Vec::new();
        opener.open_stream(&sealed.blob[..], &mut out).unwrap();
        assert_eq!(out, sealed.plaintext);
    }
}

#[test]
fn duplicate_partials_count_once() {
    let mut rng = rng();
    let w = world(2, 3, &mut rng);
    let p1 = w.partial_from(1, &mut rng);
    let p1_again = w.partial_from(1, &mut rng);
    assert!(matches!(
        w.combine(&[p1.clone(), p1_again]),
        Err(Error::NotEnoughPartials { needed: 2, have: 1, rejected }) if rejected.is_empty()
    ));
    // More than k valid partials are fine.
    let all: Vec<_> = (1..=3).map(|i| w.partial_from(i, &mut rng)).collect();
    assert_eq!(w.combine(&all).unwrap().len(), w.segments.len());
}

/// Open custodian `index`'s honest partial, let `tamper` change it as a
/// malicious custodian (holding its own signing key) would, re-sign with
/// `signer`, and re-seal to the requester under envelope index
/// `envelope_index`.
fn tampered(
    w: &World,
    index: u16,
    signer: &PersonSecret,
    envelope_index: u16,
    tamper: impl FnOnce(&mut obhut_core::partial::Partial),
    rng: &mut Rng,
) -> PartialEnvelope {
    let env = w.partial_from(index, rng);
    let mut p = env.open(&w.requester.kem).unwrap();
    tamper(&mut p);
    p.sign(&signer.sign);
    let mut sealed = PartialEnvelope::seal(&p, &w.request, rng);
    if sealed.custodian != envelope_index {
        // Re-seal under another envelope index (the aad binds it).
        p.custodian = envelope_index;
        p.sign(&signer.sign);
        sealed = PartialEnvelope::seal(&p, &w.request, rng);
    }
    sealed
}

/// A custodian who sends a wrong share of c (§5.6) is named, and the
/// others still open: its partial is rejected as `BadShare`.
#[test]
fn a_wrong_share_of_c_names_its_custodian() {
    let mut rng = rng();
    let w = world(2, 3, &mut rng);
    let good1 = w.partial_from(1, &mut rng);
    let (c2, _) = w.group.custodian(2);
    let c2 = c2.clone();
    let bad = tampered(&w, 2, &c2, 2, |p| p.entries[1].share[0] ^= 1, &mut rng);
    assert_named(
        w.combine(&[good1.clone(), bad.clone()]),
        2,
        PartialFailure::BadShare(w.segments[1].segment()),
    );
    // A share claimed for another position fails its hash as well.
    let moved = tampered(&w, 2, &c2, 2, |p| p.entries[0].share_x = 3, &mut rng);
    assert_named(
        w.combine(&[good1.clone(), moved]),
        2,
        PartialFailure::BadShare(w.segments[0].segment()),
    );
    // Withholding the share (share_x 0) is not a bad share, but leaves
    // too few shares for c: the segment is named.
    let withheld = tampered(
        &w,
        2,
        &c2,
        2,
        |p| {
            p.entries[2].share_x = 0;
            p.entries[2].share = [0; 32];
        },
        &mut rng,
    );
    match w.combine(&[good1.clone(), withheld]) {
        Err(Error::Segment {
            segment,
            failure: obhut_core::error::SegmentFailure::TooFewShares { needed: 2, have: 1 },
        }) => assert_eq!(segment, w.segments[2].segment()),
        other => panic!("{other:?}"),
    }
    // With custodian 3's honest partial the bad one is skipped and named.
    let good3 = w.partial_from(3, &mut rng);
    let out = w.combine_reporting(&[bad, good1, good3]).unwrap();
    assert_eq!(out.rejected.len(), 1);
    for ((_, _, c), sealed) in out.keys.iter().zip(&w.segments) {
        assert_eq!(c, &sealed.c);
    }
}

/// With k = 2 and one good partial, `result` must be too few partials with
/// exactly one rejected: `custodian`'s, for `failure`, named in the message.
fn assert_named(
    result: obhut_core::Result<impl std::fmt::Debug>,
    custodian: u16,
    failure: PartialFailure,
) {
    match result {
        Err(e @ Error::NotEnoughPartials { .. }) => {
            let msg = e.to_string();
            let Error::NotEnoughPartials {
                needed: 2,
                have: 1,
                rejected,
            } = e
            else {
                panic!("{msg}");
            };
            assert_eq!(rejected.len(), 1, "{msg}");
            assert_eq!(
                (rejected[0].custodian, &rejected[0].failure),
                (custodian, &failure)
            );
            assert!(msg.contains(&format!("custodian {custodian}")), "{msg}");
        }
        other => panic!("expected custodian {custodian} {failure:?}, got {other:?}"),
    }
}

#[test]
fn malicious_partials_are_detected_and_name_the_custodian() {
    let mut rng = rng();
    let w = world(2, 3, &mut rng);
    let good1 = w.partial_from(1, &mut rng);
    let (c2, _) = w.group.custodian(2);
    let (c3, _) = w.group.custodian(3);

    // D altered (and re-signed by the custodian itself).
    let bad = tampered(&w, 2, c2, 2, |p| p.entries[1].d += G, &mut rng);
    assert_named(
        w.combine(&[good1.clone(), bad]),
        2,
        PartialFailure::BadProof,
    );

    // Proof altered.
    let bad = tampered(
        &w,
        2,
        c2,
        2,
        |p| p.proof_z += curve25519_dalek::scalar::Scalar::ONE,
        &mut rng,
    );
    assert_named(
        w.combine(&[good1.clone(), bad]),
        2,
        PartialFailure::BadProof,
    );
    let bad = tampered(
        &w,
        2,
        c2,
        2,
        |p| std::mem::swap(&mut p.proof_c, &mut p.proof_z),
        &mut rng,
    );
    assert_named(
        w.combine(&[good1.clone(), bad]),
        2,
        PartialFailure::BadProof,
    );

    // Custodian 3 claims custodian 2's index, signing with its own key.
    let bad = tampered(&w, 3, c3, 2, |_| {}, &mut rng);
    assert_named(
        w.combine(&[good1.clone(), bad]),
        2,
        PartialFailure::BadSignature,
    );

    // Signature from a key that is not custodian 2's (the requester's).
    let bad = tampered(&w, 2, &w.requester, 2, |_| {}, &mut rng);
    assert_named(
        w.combine(&[good1.clone(), bad]),
        2,
        PartialFailure::BadSignature,
    );

    // D values of custodian 3 under custodian 2's name, signed by 2 (a
    // colluding relay of another share): the proof is against P_2.
    let d3 = w.partial_from(3, &mut rng).open(&w.requester.kem).unwrap();
    let bad = tampered(&w, 2, c2, 2, |p| p.entries = d3.entries.clone(), &mut rng);
    assert_named(
        w.combine(&[good1.clone(), bad]),
        2,
        PartialFailure::BadProof,
    );

    // The envelope's index was changed in transit: the aad binds it.
    let mut bad = w.partial_from(2, &mut rng);
    bad.custodian = 3;
    assert_named(
        w.combine(&[good1.clone(), bad]),
        3,
        PartialFailure::Undecryptable,
    );

    // Envelope and partial disagree on the custodian (sealed that way).
    let p2 = w.partial_from(2, &mut rng).open(&w.requester.kem).unwrap();
    let bad = seal_as(&p2, 3, &w, &mut rng);
    match w.combine(&[good1.clone(), bad]) {
        Err(Error::NotEnoughPartials { rejected, .. })
            if matches!(
                rejected.as_slice(),
                [RejectedPartial {
                    custodian: 3,
                    failure: PartialFailure::Malformed(_),
                    signed: false,
                    ..
                }]
            ) => {}
        other => panic!("{other:?}"),
    }

    // A custodian index the group does not list.
    let mut bad = w.partial_from(2, &mut rng);
    bad.custodian = 9;
    assert_named(
        w.combine(&[good1.clone(), bad]),
        9,
        PartialFailure::UnknownCustodian,
    );

    // Garbage sealed to the requester.
    let mut bad = w.partial_from(2, &mut rng);
    bad.sealed[0] ^= 1;
    assert_named(
        w.combine(&[good1.clone(), bad]),
        2,
        PartialFailure::Undecryptable,
    );

    // The honest pair still works.
    let good2 = w.partial_from(2, &mut rng);
    w.combine(&[good1, good2]).unwrap();
}

#[test]
fn partials_for_another_grant_requester_or_segments_are_refused() {
    let mut rng = rng();
    let w = world(2, 3, &mut rng);
    let good1 = w.partial_from(1, &mut rng);
    let (c2, s2) = w.group.custodian(2);
    let make = |request: &obhut_core::request::AccessRequest,
                grant: &GrantRef,
                records: &[obhut_core::record::SegmentRecord],
                rng: &mut Rng| {
        custodian_partial(
            c2,
            s2,
            &w.group.pinned,
            request,
            grant,
            records,
            Runs::default(),
            NOW,
            rng,
        )
        .unwrap()
    };

    // Same request, another log index.
    let other_index = GrantRef {
        log_index: w.grant.log_index + 1,
        ..w.grant
    };
    let bad = make(&w.request, &other_index, &w.records(), &mut rng);
    assert_named(
        w.combine(&[good1.clone(), bad]),
        2,
        PartialFailure::WrongGrant,
    );

    // Another request of the same requester for the same footage.
    let rec = w.segments[0].segment().recording;
    let other_request = request(
        &w.requester,
        &w.group.pinned,
        vec![whole_recording(rec)],
        &mut rng,
    );
    let bad = make(
        &other_request,
        &grant(&other_request),
        &w.records(),
        &mut rng,
    );
    assert_named(
        w.combine(&[good1.clone(), bad]),
        2,
        PartialFailure::WrongGrant,
    );

    // Another requester's request: sealed to that requester, who alone can
    // open it; relayed to ours it does not even name our grant.
    let mallory = PersonSecret::generate("mallory", &mut rng);
    let theirs = request(
        &mallory,
        &w.group.pinned,
        vec![whole_recording(rec)],
        &mut rng,
    );
    let bad = make(&theirs, &grant(&theirs), &w.records(), &mut rng);
    assert!(matches!(
        bad.open(&w.requester.kem),
        Err(Error::DecryptionFailed { .. })
    ));
    bad.open(&mallory.kem).unwrap();
    assert_named(
        w.combine(&[good1.clone(), bad]),
        2,
        PartialFailure::WrongGrant,
    );
    // A custodian that binds another requester's fingerprint into our grant.
    let bad = tampered(
        &w,
        2,
        c2,
        2,
        |p| p.requester_fpr = theirs.requester_fingerprint(),
        &mut rng,
    );
    assert_named(
        w.combine(&[good1.clone(), bad]),
        2,
        PartialFailure::WrongRequester,
    );
    // Combining with a key that is not the request's requester key.
    assert!(matches!(
        combine(
            &w.group.pinned,
            &w.request,
            &w.grant,
            &w.expected(),
            std::slice::from_ref(&good1),
            &mallory.kem
        ),
        Err(Error::Custody(_))
    ));

    // Fewer segments than expected.
    let bad = make(&w.request, &w.grant, &w.records()[..2], &mut rng);
    assert_named(
        w.combine(&[good1.clone(), bad]),
        2,
        PartialFailure::WrongSegments,
    );
    // More segments than expected.
    let extra = w
        .device
        .seal(&w.group, Spec::media(rec, 9, 90_000, 94_000), &mut rng);
    let mut more = w.records();
    more.push(extra.record.clone());
    let bad = make(&w.request, &w.grant, &more, &mut rng);
    assert_named(
        w.combine(&[good1.clone(), bad]),
        2,
        PartialFailure::WrongSegments,
    );
    // Same count, one segment swapped for another.
    let mut swapped = w.records();
    swapped[0] = extra.record.clone();
    let bad = make(&w.request, &w.grant, &swapped, &mut rng);
    assert_named(
        w.combine(&[good1.clone(), bad]),
        2,
        PartialFailure::WrongSegments,
    );
    // An entry whose R differs from the expected capsule's R.
    let bad = tampered(&w, 2, c2, 2, |p| p.entries[0].r = extra.r(), &mut rng);
    assert_named(
        w.combine(&[good1.clone(), bad]),
        2,
        PartialFailure::WrongSegments,
    );

    // Order of records does not matter.
    let mut reversed = w.records();
    reversed.reverse();
    let ok = make(&w.request, &w.grant, &reversed, &mut rng);
    let keys = w.combine(&[good1, ok]).unwrap();
    for ((_, a, _), sealed) in keys.iter().zip(&w.segments) {
        assert_eq!(a, &sealed.a);
    }
}

/// Seal `p` under envelope index `custodian`, whatever the partial says.
fn seal_as(
    p: &obhut_core::partial::Partial,
    custodian: u16,
    w: &World,
    rng: &mut Rng,
) -> PartialEnvelope {
    use obhut_core::labels;
    let mut aad = obhut_core::wire::Writer::with_preamble(
        labels::magic::PARTIAL_ENVELOPE,
        labels::VERSION,
        labels::SUITE_V1,
    );
    aad.u16(custodian).bytes(&p.grant.request_hash);
    let (enc, sealed) = obhut_core::hpke_wrap::seal(
        w.request.requester_kem(),
        labels::PARTIAL_ENVELOPE_INFO,
        aad.as_slice(),
        &p.to_bytes(),
        rng,
    );
    PartialEnvelope {
        custodian,
        request_hash: p.grant.request_hash,
        enc,
        sealed,
    }
}

/// Item 6 of issue 15: one custodian's bad partial must not block the
/// others. With k = 2 and custodians 1, 2 (bad: D altered, re-signed by 2
/// itself) and 3, combine uses 1 and 3 and names 2 with its fingerprint.
/// Before the fix combine stopped at custodian 2's partial with an error.
#[test]
fn a_bad_partial_is_skipped_and_named_when_k_others_are_valid() {
    let mut rng = rng();
    let w = world(2, 3, &mut rng);
    let (c2, _) = w.group.custodian(2);
    let good1 = w.partial_from(1, &mut rng);
    let good3 = w.partial_from(3, &mut rng);
    let bad2 = tampered(&w, 2, c2, 2, |p| p.entries[0].d += G, &mut rng);
    // A garbage envelope claiming custodian 3 as well: unsigned, so not
    // the custodian's own doing.
    let mut garbage3 = w.partial_from(3, &mut rng);
    garbage3.sealed[0] ^= 1;

    let out = w
        .combine_reporting(&[bad2.clone(), good1.clone(), garbage3.clone(), good3.clone()])
        .expect("two valid partials are enough");
    for ((seg, a, c), sealed) in out.keys.iter().zip(&w.segments) {
        assert_eq!(*seg, sealed.segment());
        assert_eq!(a, &sealed.a);
        assert_eq!(c, &sealed.c);
    }
    assert_eq!(
        out.rejected,
        vec![
            RejectedPartial {
                custodian: 2,
                fingerprint: Some(w.fingerprint(2)),
                signed: true,
                failure: PartialFailure::BadProof,
            },
            RejectedPartial {
                custodian: 3,
                fingerprint: Some(w.fingerprint(3)),
                signed: false,
                failure: PartialFailure::Undecryptable,
            },
        ]
    );
    let shown = out.rejected[0].to_string();
    assert!(shown.contains("custodian 2"), "{shown}");
    assert!(shown.contains(&w.fingerprint(2).to_string()), "{shown}");
    assert!(out.rejected[1].to_string().contains("not signed"));

    // Too few valid ones: the error names every failure, in order.
    let err = w.combine(&[bad2, garbage3, good1]).unwrap_err();
    let msg = err.to_string();
    match err {
        Error::NotEnoughPartials {
            needed: 2,
            have: 1,
            rejected,
        } => {
            let named: Vec<(u16, PartialFailure)> = rejected
                .into_iter()
                .map(|r| (r.custodian, r.failure))
                .collect();
            assert_eq!(
                named,
                vec![
                    (2, PartialFailure::BadProof),
                    (3, PartialFailure::Undecryptable)
                ]
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(
        msg.contains("custodian 2") && msg.contains("custodian 3"),
        "{msg}"
    );
}
