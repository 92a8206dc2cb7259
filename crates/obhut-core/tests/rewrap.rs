//! The re-wrap side structure (docs/format.md §5.5): an epoch split moves
//! `b` of the recordings that stay to a new epoch key without touching the
//! signed header, after which the old epoch secret is destroyed and only
//! the erased recording is gone. Every way of using a re-wrap with the
//! wrong segment, header or key is refused with its named error, and
//! parsing never panics.

use crate::segment_support;

use obhut_core::epoch::{EpochPublic, EpochSecret};
use obhut_core::error::{Error, RewrapFailure, SegmentFailure};
use obhut_core::ids::EpochId;
use obhut_core::rewrap::{EpochRewrap, REWRAP_LEN, RewrapReason, rewrap_segment};
use obhut_core::rng::os_rng;
use obhut_core::segment::{SegmentHeader, SegmentOpener};
use proptest::prelude::*;
use segment_support::{Recording, Segment, data, open, parts, seal_with};

fn epoch() -> (EpochSecret, EpochPublic) {
    let mut rng = os_rng();
    let s = EpochSecret::generate(EpochId::random(&mut rng), &mut rng);
    let p = s.public("bodycam-30d", 0, 1);
    (s, p)
}

/// Segment `index` of `rec` with its `b` really wrapped to `to`.
fn sealed_to(rec: &Recording, index: u32, to: &EpochPublic) -> Segment {
    let (mut fields, a, b) = rec.fields(index);
    fields.epoch_wrap = to.wrap(
        &b,
        fields.recording_id,
        &fields.device_key,
        index,
        &mut os_rng(),
    );
    seal_with(
        fields,
        a,
        b,
        data(70_000 + index as usize, u64::from(index)),
    )
}

fn header(seg: &Segment) -> &SegmentHeader {
    &seg.sealed.header
}

#[track_caller]
fn rewrap_failure(e: Error) -> RewrapFailure {
    match e {
        Error::Rewrap(f) => f,
        other => panic!("expected a re-wrap failure, got {other:?}"),
    }
}

#[test]
fn an_epoch_split_keeps_the_other_recordings_and_loses_the_erased_one() {
    let (old, old_pub) = epoch();
    let (new, new_pub) = epoch();
    let keep = Recording::new();
    let erase = Recording::new();
    let kept: Vec<Segment> = (0..2).map(|i| sealed_to(&keep, i, &old_pub)).collect();
    let erased = sealed_to(&erase, 0, &old_pub);
    let mut rng = os_rng();
    // The vault re-wraps every segment but the erased recording's…
    let rewraps: Vec<Vec<u8>> = kept
        .iter()
        .map(|s| {
            rewrap_segment(
                header(s),
                &old,
                &new_pub,
                RewrapReason::EpochSplit,
                &mut rng,
            )
            .unwrap()
            .to_bytes()
        })
        .collect();
    // …and destroys the old epoch secret.
    drop(old);
    for (seg, bytes) in kept.iter().zip(&rewraps) {
        assert_eq!(bytes.len(), REWRAP_LEN);
        let rw = EpochRewrap::from_bytes(bytes).unwrap();
        assert_eq!(rw.to_bytes(), *bytes, "canonical");
        let b = rw.unwrap(header(seg), &new).unwrap();
        assert_eq!(b.expose(), seg.b.expose());
        // The blob is untouched and opens with a and the re-wrapped b.
        let opener = SegmentOpener::from_header(header(seg), &parts(&seg.a, &b, &seg.c)).unwrap();
        assert_eq!(open(&opener, &seg.blob).unwrap(), seg.plaintext);
    }
    // The erased recording's b was wrapped only to the destroyed key: the
    // new key does not unwrap its header's wrap.
    let f = &erased.sealed.header.fields;
    assert!(matches!(
        new.unwrap(&f.epoch_wrap, f.recording_id, &f.device_key, 0),
        Err(Error::Malformed { .. })
    ));
}

#[test]
fn a_rewrap_is_refused_for_another_segment_header_or_key_in_the_spec_order() {
    let (old, old_pub) = epoch();
    let (new, new_pub) = epoch();
    let (other, _) = epoch();
    let rec = Recording::new();
    let s0 = sealed_to(&rec, 0, &old_pub);
    let s1 = sealed_to(&rec, 1, &old_pub);
    let mut rng = os_rng();
    let rw = rewrap_segment(
        header(&s0),
        &old,
        &new_pub,
        RewrapReason::LegalHold,
        &mut rng,
    )
    .unwrap();

    // Another segment of the same recording: WrongSegment, even with a
    // wrong key too (the segment is checked first).
    let e = rw.unwrap(header(&s1), &other).unwrap_err();
    assert!(matches!(
        rewrap_failure(e),
        RewrapFailure::WrongSegment { .. }
    ));
    // Another recording.
    let elsewhere = sealed_to(&Recording::new(), 0, &old_pub);
    let e = rw.unwrap(header(&elsewhere), &new).unwrap_err();
    assert!(matches!(
        rewrap_failure(e),
        RewrapFailure::WrongSegment { .. }
    ));
    // Same segment reference, another header (a vault that re-sealed the
    // segment, or altered a field): HeaderMismatch, before the key check.
    let mut altered = header(&s0).clone();
    altered.fields.capture_utc_ms += 1;
    let e = rw.unwrap(&altered, &other).unwrap_err();
    assert_eq!(rewrap_failure(e), RewrapFailure::HeaderMismatch);
    // The right segment with another epoch's secret.
    let e = rw.unwrap(header(&s0), &other).unwrap_err();
    assert_eq!(rewrap_failure(e), RewrapFailure::WrongEpoch);
    assert!(rw.unwrap(header(&s0), &new).is_ok());

    // Every byte before `enc` is in the AAD: flipping the reason (a hold
    // shown as a split) parses, but does not decrypt.
    let mut bytes = rw.to_bytes();
    let reason_at = 7 + 16 + 32 + 4 + 32;
    assert_eq!(bytes[reason_at], 2);
    bytes[reason_at] = 1;
    let flipped = EpochRewrap::from_bytes(&bytes).unwrap();
    assert!(matches!(
        flipped.unwrap(header(&s0), &new),
        Err(Error::DecryptionFailed { .. })
    ));
    // A flipped ciphertext byte.
    let mut bytes = rw.to_bytes();
    *bytes.last_mut().unwrap() ^= 1;
    let broken = EpochRewrap::from_bytes(&bytes).unwrap();
    assert!(matches!(
        broken.unwrap(header(&s0), &new),
        Err(Error::DecryptionFailed { .. })
    ));
    // The re-wrap only wraps b; a wrong b (say, a vault's mistake) still
    // cannot open footage: the key commitment refuses it.
    let wrong = EpochRewrap::seal(
        &s1.b,
        header(&s0),
        RewrapReason::EpochSplit,
        &new_pub,
        &mut rng,
    );
    let b = wrong.unwrap(header(&s0), &new).unwrap();
    let e = SegmentOpener::from_header(header(&s0), &parts(&s0.a, &b, &s0.c)).unwrap_err();
    assert!(matches!(
        e,
        Error::Segment {
            failure: SegmentFailure::KeyCommitment,
            ..
        }
    ));
}

#[test]
fn a_rewrap_moves_on_to_a_third_key_and_the_header_wrap_must_be_the_old_epochs() {
    let (old, old_pub) = epoch();
    let (mid, mid_pub) = epoch();
    let (last, last_pub) = epoch();
    let rec = Recording::new();
    let s = sealed_to(&rec, 0, &old_pub);
    let mut rng = os_rng();
    let first = rewrap_segment(
        header(&s),
        &old,
        &mid_pub,
        RewrapReason::EpochSplit,
        &mut rng,
    )
    .unwrap();
    let second = first
        .rewrap_again(
            header(&s),
            &mid,
            &last_pub,
            RewrapReason::LegalHold,
            &mut rng,
        )
        .unwrap();
    assert_eq!(
        second.unwrap(header(&s), &last).unwrap().expose(),
        s.b.expose()
    );
    // Re-wrapping from a key that is not the header's epoch fails like
    // any epoch unwrap.
    assert!(
        rewrap_segment(
            header(&s),
            &mid,
            &last_pub,
            RewrapReason::EpochSplit,
            &mut rng
        )
        .is_err()
    );
    // Debug shows no secret and names the segment.
    let dbg = format!("{second:?}");
    assert!(
        dbg.contains("segment 0") && dbg.contains("LegalHold"),
        "{dbg}"
    );
}

#[test]
fn structural_errors_are_named() {
    let (old, old_pub) = epoch();
    let (_, new_pub) = epoch();
    let s = sealed_to(&Recording::new(), 0, &old_pub);
    let rw = rewrap_segment(
        header(&s),
        &old,
        &new_pub,
        RewrapReason::EpochSplit,
        &mut os_rng(),
    )
    .unwrap()
    .to_bytes();
    let err = |b: &[u8]| EpochRewrap::from_bytes(b).unwrap_err();
    assert!(matches!(
        err(&rw[..REWRAP_LEN - 1]),
        Error::Truncated { .. }
    ));
    assert!(matches!(
        err(&[rw.clone(), vec![0]].concat()),
        Error::TrailingBytes { count: 1, .. }
    ));
    let mut m = rw.clone();
    m[0] = b'X';
    assert!(matches!(err(&m), Error::BadMagic { .. }));
    let mut m = rw.clone();
    m[4] = 2;
    assert!(matches!(err(&m), Error::UnsupportedVersion { .. }));
    let mut m = rw.clone();
    m[6] = 2;
    assert!(matches!(err(&m), Error::UnsupportedSuite { .. }));
    for bad in [0u8, 3, 0xff] {
        let mut m = rw.clone();
        m[7 + 16 + 32 + 4 + 32] = bad;
        assert!(matches!(err(&m), Error::Malformed { .. }), "reason {bad}");
    }
    // A small-order device key (the identity point, y = 1).
    let mut m = rw.clone();
    let mut identity = [0u8; 32];
    identity[0] = 1;
    m[23..55].copy_from_slice(&identity);
    assert!(matches!(err(&m), Error::InvalidSigningKey { .. }));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Arbitrary input never panics the parser.
    #[test]
    fn parsing_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..1400)) {
        let _ = EpochRewrap::from_bytes(&bytes);
    }

    /// Mutations of a valid re-wrap never panic, and whatever parses
    /// re-encodes to the same bytes (canonical encoding, §1.2).
    #[test]
    fn mutated_rewraps_parse_canonically_or_fail(
        at in 0usize..REWRAP_LEN,
        mask in 1u8..=255,
        cut in proptest::option::of(0usize..REWRAP_LEN),
    ) {
        let bytes = valid_rewrap();
        let mut m = bytes.to_vec();
        m[at] ^= mask;
        if let Some(c) = cut {
            m.truncate(c);
        }
        if let Ok(rw) = EpochRewrap::from_bytes(&m) {
            prop_assert_eq!(rw.to_bytes(), m);
        }
    }
}

/// One valid encoding, made once per test process.
fn valid_rewrap() -> &'static [u8] {
    static BYTES: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    BYTES.get_or_init(|| {
        let (old, old_pub) = epoch();
        let (_, new_pub) = epoch();
        let s = sealed_to(&Recording::new(), 3, &old_pub);
        rewrap_segment(
            header(&s),
            &old,
            &new_pub,
            RewrapReason::LegalHold,
            &mut os_rng(),
        )
        .unwrap()
        .to_bytes()
    })
}
