//! The whole path in one process, with the attackers of docs/threat-model.md playing
//! against it: device seals → requester asks → k custodians answer → vault
//! releases b → requester opens exactly the scope. Each adversarial test
//! fails if its property breaks.

use obhut_core::Error;
use obhut_core::access::{GrantKeys, records_in_scope, release_for_grant};
use obhut_core::device::{RecordingSealer, SegmentSpec};
use obhut_core::epoch::EpochSecret;
use obhut_core::error::{RefusalReason, SegmentFailure};
use obhut_core::group::{self, CustodianShare, PinnedGroup};
use obhut_core::identity::{DeviceSecret, PersonSecret};
use obhut_core::ids::{EpochId, RecordingId};
use obhut_core::partial::Runs;
use obhut_core::partial::{PartialEnvelope, custodian_partial};
use obhut_core::record::SegmentRecord;
use obhut_core::request::{AccessRequest, GrantRef, RequestContent, Scope, SegmentFacts};
use obhut_core::rng::os_rng;
use obhut_core::secret::Secret32;
use obhut_core::segment::KeyParts;
use obhut_core::segment::{SegmentKind, SegmentOpener};

const NOW: i64 = 1_790_000_000_000;
const SEGMENT_MS: u64 = 10_000;

struct World {
    custodians: Vec<PersonSecret>,
    shares: Vec<CustodianShare>,
    group: PinnedGroup,
    epoch: EpochSecret,
    requester: PersonSecret,
    records: Vec<SegmentRecord>,
    blobs: Vec<Vec<u8>>,
    plaintexts: Vec<Vec<u8>>,
}

/// A 2-of-3 group; a recording of four 10-second media segments (a few
/// chunks each) followed by a descriptive-metadata segment.
fn world() -> World {
    let mut rng = os_rng();
    let custodians: Vec<PersonSecret> = (1..=3)
        .map(|i| PersonSecret::generate(&format!("c{i}"), &mut rng))
        .collect();
    let publics: Vec<_> = custodians.iter().map(PersonSecret::public).collect();
    let (mut descriptor, envelopes) = group::deal("unit", 2, 3, &publics, &mut rng).unwrap();
    let shares: Vec<_> = envelopes
        .iter()
        .zip(&custodians)
        .map(|(e, c)| e.open(c, &descriptor).unwrap())
        .collect();
    for (s, c) in shares.iter().zip(&custodians) {
        group::sign_descriptor(&mut descriptor, s, c).unwrap();
    }
    let group = descriptor.pin().unwrap();
    let epoch = EpochSecret::generate(EpochId([4; 16]), &mut rng);
    let epoch_public = epoch.public("bodycam-30d", 0, i64::MAX);
    let device = DeviceSecret::generate("bodycam-7", &mut rng);
    let mut sealer = RecordingSealer::new(
        &device.sign,
        &group,
        &epoch_public,
        RecordingId::random(&mut rng),
    );
    let mut records = Vec::new();
    let mut blobs = Vec::new();
    let mut plaintexts = Vec::new();
    for i in 0..5u32 {
        let metadata = i == 4;
        let plaintext: Vec<u8> = if metadata {
            br#"{"officer":"PC 4711","gps":[[52.52,13.40]],"notes":"stop at Alexanderplatz"}"#
                .to_vec()
        } else {
            (0..150_000u32)
                .map(|j| (j.wrapping_mul(31) ^ i) as u8)
                .collect()
        };
        let spec = SegmentSpec {
            kind: if metadata {
                SegmentKind::Metadata
            } else {
                SegmentKind::Media
            },
            media_start_ms: if metadata {
                0
            } else {
                u64::from(i) * SEGMENT_MS
            },
            media_end_ms: if metadata {
                0
            } else {
                u64::from(i + 1) * SEGMENT_MS
            },
            capture_utc_ms: NOW - 3_600_000 + i64::from(i) * 10_000,
            is_final: metadata,
        };
        let mut blob = Vec::new();
        records.push(
            sealer
                .seal_segment(spec, &plaintext[..], &mut blob, &mut rng)
                .unwrap(),
        );
        blobs.push(blob);
        plaintexts.push(plaintext);
    }
    World {
        custodians,
        shares,
        group,
        epoch,
        requester: PersonSecret::generate("investigator", &mut rng),
        records,
        blobs,
        plaintexts,
    }
}

impl World {
    fn request(&self, from_ms: u64, to_ms: u64, include_metadata: bool) -> AccessRequest {
        RequestContent {
            request_id: [1; 16],
            group_id: self.group.group_id(),
            generation: self.group.generation(),
            scope: vec![Scope::Recording {
                recording_id: self.records[0].segment_ref().recording,
                media_start_ms: from_ms,
                media_end_ms: to_ms,
                include_metadata,
            }],
            purpose: "criminal investigation".into(),
            justification: "assault reported at 14:02".into(),
            legal_basis: "StPO §94".into(),
            case_ref: "2026-K-0042".into(),
            recipients: vec!["public prosecutor".into()],
            created_utc_ms: NOW,
            expires_utc_ms: NOW + 86_400_000,
        }
        .sign(&self.requester)
        .unwrap()
    }

    fn partials(
        &self,
        who: &[usize],
        request: &AccessRequest,
        grant: &GrantRef,
    ) -> Vec<PartialEnvelope> {
        let in_scope: Vec<SegmentRecord> = records_in_scope(request, &self.records)
            .into_iter()
            .cloned()
            .collect();
        who.iter()
            .map(|&i| {
                custodian_partial(
                    &self.custodians[i],
                    &self.shares[i],
                    &self.group,
                    request,
                    grant,
                    &in_scope,
                    Runs::in_records(&self.records),
                    NOW,
                    &mut os_rng(),
                )
                .unwrap()
            })
            .collect()
    }

    fn keys(&self, request: &AccessRequest, who: &[usize]) -> Result<GrantKeys, Error> {
        let grant = GrantRef::new(7, request);
        let in_scope = records_in_scope(request, &self.records);
        let partials = self.partials(who, request, &grant);
        let release = release_for_grant(
            |_| Some(&self.epoch),
            request,
            &grant,
            &in_scope,
            NOW,
            &mut os_rng(),
        )?;
        GrantKeys::recover(
            &self.group,
            request,
            &grant,
            &in_scope,
            &partials,
            &release,
            &self.requester,
        )
    }
}

#[test]
fn a_scoped_grant_opens_exactly_its_segments_byte_for_byte() {
    let w = world();
    // 12 s .. 25 s covers media segments 1 and 2 only; no metadata.
    let request = w.request(12_000, 25_000, false);
    let in_scope: Vec<u32> = records_in_scope(&request, &w.records)
        .iter()
        .map(|r| r.segment_ref().index)
        .collect();
    assert_eq!(in_scope, [1, 2]);
    let keys = w.keys(&request, &[0, 2]).unwrap();
    for i in [1usize, 2] {
        let mut out = Vec::new();
        keys.open_segment(&w.records[i], &w.blobs[i][..], &mut out)
            .unwrap();
        assert_eq!(out, w.plaintexts[i], "segment {i}");
        // Random access reads the same bytes.
        let mut part = Vec::new();
        keys.read_range(
            &w.records[i],
            &mut std::io::Cursor::new(&w.blobs[i]),
            70_000,
            140_000,
            &mut part,
        )
        .unwrap();
        assert_eq!(part, w.plaintexts[i][70_000..140_000]);
    }
    // Segments outside the scope, and the metadata, stay sealed.
    for i in [0usize, 3, 4] {
        let err = keys
            .open_segment(&w.records[i], &w.blobs[i][..], std::io::sink())
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::Segment {
                    failure: SegmentFailure::NoKey,
                    ..
                }
            ),
            "{err}"
        );
    }
}

#[test]
fn metadata_needs_include_metadata() {
    let w = world();
    let with = w.request(0, u64::MAX, true);
    let keys = w.keys(&with, &[1, 2]).unwrap();
    let mut out = Vec::new();
    keys.open_segment(&w.records[4], &w.blobs[4][..], &mut out)
        .unwrap();
    assert_eq!(out, w.plaintexts[4]);
    let without = w.request(0, u64::MAX, false);
    assert_eq!(records_in_scope(&without, &w.records).len(), 4);
}

/// Property 4: a requester holding every partial and every release for a
/// scope combines each (a, b) it learned with each out-of-scope header;
/// nothing opens. Fails if any key material of the grant opens another
/// segment.
#[test]
fn grant_keys_open_nothing_outside_the_scope() {
    let w = world();
    let request = w.request(12_000, 25_000, false);
    let grant = GrantRef::new(7, &request);
    let in_scope = records_in_scope(&request, &w.records);
    let partials = w.partials(&[0, 1, 2], &request, &grant);
    let release = release_for_grant(
        |_| Some(&w.epoch),
        &request,
        &grant,
        &in_scope,
        NOW,
        &mut os_rng(),
    )
    .unwrap();
    let a_parts = obhut_core::combine::combine(
        &w.group,
        &request,
        &grant,
        &in_scope,
        &partials,
        &w.requester.kem,
    )
    .unwrap()
    .keys;
    let b_parts = release
        .open(&w.requester, grant.log_index, &grant.request_hash)
        .unwrap();
    for out_of_scope in [0usize, 3, 4] {
        for (_, a, c) in &a_parts {
            for (_, b) in &b_parts {
                let parts = KeyParts {
                    a: a.clone(),
                    b: b.clone(),
                    c: c.clone(),
                };
                let err = SegmentOpener::from_header(w.records[out_of_scope].header(), &parts)
                    .unwrap_err();
                assert!(matches!(
                    err,
                    Error::Segment {
                        failure: SegmentFailure::KeyCommitment,
                        ..
                    }
                ));
            }
        }
    }
}

/// Property 2: the operator holds the epoch secret (so every b), the whole
/// store and its own keys, plus one custodian's cooperation (k − 1 = 1
/// partial). It cannot open any segment.
#[test]
fn operator_with_every_b_and_one_custodian_opens_nothing() {
    let w = world();
    let request = w.request(0, u64::MAX, false);
    let grant = GrantRef::new(7, &request);
    let in_scope = records_in_scope(&request, &w.records);
    let one = w.partials(&[1], &request, &grant);
    let release = release_for_grant(
        |_| Some(&w.epoch),
        &request,
        &grant,
        &in_scope,
        NOW,
        &mut os_rng(),
    )
    .unwrap();
    let err = GrantKeys::recover(
        &w.group,
        &request,
        &grant,
        &in_scope,
        &one,
        &release,
        &w.requester,
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            Error::NotEnoughPartials {
                needed: 2,
                have: 1,
                ..
            }
        ),
        "{err}"
    );
    // With b from the epoch key and the one custodian's D_1 taken as if it
    // were s·R (the best a lone share gives), the key commitment refuses.
    let partial = one[0].open(&w.requester.kem).unwrap();
    for (record, entry) in in_scope.iter().zip(&partial.entries) {
        let f = &record.header().fields;
        let b = w
            .epoch
            .unwrap(
                &f.epoch_wrap,
                f.recording_id,
                &f.device_key,
                f.segment_index,
            )
            .unwrap();
        let guess = obhut_core::kem::derive_a(&entry.d, &f.capsule, &w.group.group_key().key);
        // Its share of c taken as if it were c.
        let parts = KeyParts {
            a: guess,
            b,
            c: Secret32::new(entry.share),
        };
        let err = SegmentOpener::from_header(record.header(), &parts).unwrap_err();
        assert!(matches!(
            err,
            Error::Segment {
                failure: SegmentFailure::KeyCommitment,
                ..
            }
        ));
    }
}

/// Property 3 / 8: partials and releases go only to the key in the signed
/// request; another person (say, the operator substituting its own key)
/// can open neither.
#[test]
fn only_the_requester_named_in_the_signed_request_can_open() {
    let w = world();
    let request = w.request(0, u64::MAX, false);
    let grant = GrantRef::new(7, &request);
    let in_scope = records_in_scope(&request, &w.records);
    let partials = w.partials(&[0, 1], &request, &grant);
    let release = release_for_grant(
        |_| Some(&w.epoch),
        &request,
        &grant,
        &in_scope,
        NOW,
        &mut os_rng(),
    )
    .unwrap();
    let operator = PersonSecret::generate("operator", &mut os_rng());
    assert!(
        GrantKeys::recover(
            &w.group, &request, &grant, &in_scope, &partials, &release, &operator
        )
        .is_err()
    );
    for p in &partials {
        assert!(p.open(&operator.kem).is_err());
    }
    assert!(
        release
            .open(&operator, grant.log_index, &grant.request_hash)
            .is_err()
    );
}

#[test]
fn the_vault_refuses_to_release_outside_the_scope_or_after_expiry() {
    let w = world();
    let request = w.request(12_000, 25_000, false);
    let grant = GrantRef::new(7, &request);
    let all: Vec<&SegmentRecord> = w.records.iter().collect();
    let err = release_for_grant(
        |_| Some(&w.epoch),
        &request,
        &grant,
        &all,
        NOW,
        &mut os_rng(),
    )
    .unwrap_err();
    assert!(
        matches!(err, Error::Refused(RefusalReason::OutOfScope(s)) if s.index == 0),
        "{err}"
    );
    let in_scope = records_in_scope(&request, &w.records);
    let err = release_for_grant(
        |_| Some(&w.epoch),
        &request,
        &grant,
        &in_scope,
        NOW + 86_400_000,
        &mut os_rng(),
    )
    .unwrap_err();
    assert!(matches!(err, Error::Refused(RefusalReason::Expired)));
    // A destroyed epoch key: the vault has nothing to release, and says which segment.
    let err =
        release_for_grant(|_| None, &request, &grant, &in_scope, NOW, &mut os_rng()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Segment {
                failure: SegmentFailure::NoKey,
                ..
            }
        ),
        "{err}"
    );
}

/// Property 1 (core part): no plaintext byte string and no metadata text
/// appears in anything the vault stores (blobs and records).
#[test]
fn nothing_the_vault_stores_contains_plaintext() {
    let w = world();
    let stored: Vec<u8> = w
        .blobs
        .iter()
        .chain(
            w.records
                .iter()
                .map(|r| r.to_bytes())
                .collect::<Vec<_>>()
                .iter(),
        )
        .flatten()
        .copied()
        .collect();
    for needle in [
        &b"PC 4711"[..],
        b"Alexanderplatz",
        &w.plaintexts[0][1000..1016],
        &w.plaintexts[3][100_000..100_016],
    ] {
        assert!(
            !stored.windows(needle.len()).any(|win| win == needle),
            "{:?} leaked",
            String::from_utf8_lossy(needle)
        );
    }
}

/// `SegmentFacts::peek_record` reads exactly what the verified parse
/// gives, for every record and kind, and refuses truncated input.
#[test]
fn peeked_facts_equal_the_verified_ones() {
    let w = world();
    for r in &w.records {
        let bytes = r.to_bytes();
        let peeked = SegmentFacts::peek_record(&bytes).unwrap();
        assert_eq!(peeked, SegmentFacts::from(&r.header().fields));
        for cut in [0, 6, 13, 30, 94] {
            assert!(
                SegmentFacts::peek_record(&bytes[..cut]).is_err(),
                "cut {cut}"
            );
        }
    }
}

/// `chain::records_from_chain` authenticates a whole recording with the
/// final record's signature: equal to record-by-record parsing on a good
/// chain; any change to an earlier record — even with every later `prev`
/// link recomputed to match — ends at the final signature, which fails.
#[test]
fn a_chain_is_authenticated_by_its_final_signature() {
    use obhut_core::chain::records_from_chain;
    use obhut_core::error::ChainFailure;
    const PLAINTEXT_LEN_AT: usize = 7 + 1452;
    const PREV_AT: usize = 7 + 1452 + 8 + 32;
    const SIG_AT: usize = PREV_AT + 32 + 1;

    let w = world();
    let good: Vec<Vec<u8>> = w.records.iter().map(SegmentRecord::to_bytes).collect();
    assert!(good.len() >= 3);
    let (parsed, _) = records_from_chain(&good).unwrap();
    assert_eq!(parsed, w.records);

    // A changed middle record breaks the next link.
    let mut bad = good.clone();
    bad[1][PLAINTEXT_LEN_AT + 7] ^= 1;
    assert!(matches!(
        records_from_chain(&bad).unwrap_err(),
        Error::Chain(ChainFailure::BrokenLink(2))
    ));
    // So does a changed signature of a middle record (it is hashed too).
    let mut bad = good.clone();
    bad[1][SIG_AT] ^= 1;
    assert!(records_from_chain(&bad).is_err());

    // Every later link recomputed: only the final signature stands in the
    // way, and it fails.
    let record_hash = |b: &[u8]| obhut_core::labels::digest(obhut_core::labels::RECORD_HASH, &[b]);
    let mut forged = good.clone();
    forged[1][PLAINTEXT_LEN_AT + 7] ^= 1;
    for i in 2..forged.len() {
        let h = record_hash(&forged[i - 1]);
        forged[i][PREV_AT..PREV_AT + 32].copy_from_slice(&h);
    }
    let last = forged.len() - 1;
    let err = records_from_chain(&forged).unwrap_err();
    assert!(
        matches!(err, Error::Segment { segment, failure: SegmentFailure::BadSignature } if segment.index as usize == last),
        "{err}"
    );
    // And the final record's own signature is checked.
    let mut bad = good.clone();
    bad[last][SIG_AT + 10] ^= 1;
    assert!(matches!(
        records_from_chain(&bad).unwrap_err(),
        Error::Segment {
            failure: SegmentFailure::BadSignature,
            ..
        }
    ));
    assert!(records_from_chain::<Vec<u8>>(&[]).is_err());
}
