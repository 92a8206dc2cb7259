//! The post-quantum custody part c (docs/format.md §5.6, §9.4), played by
//! the attacker it is there for: a vault operator who can compute discrete
//! logarithms ("Q"). The test gives the attacker what Q would give (the
//! group secret s, hence every a), everything the vault holds (every b,
//! every record, every custody block) and k − 1 custodians' X-Wing keys;
//! opening must still fail. Without c in the key schedule (before issue 15
//! item 12) every assertion of failure here would see the segment open.

use crate::threshold_support;

use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::scalar::Scalar;
use obhut_core::Error;
use obhut_core::device::{RecordingSealer, SegmentSpec};
use obhut_core::error::SegmentFailure;
use obhut_core::ids::RecordingId;
use obhut_core::kem;
use obhut_core::partial::Runs;
use obhut_core::pq_custody::{self, RUN_SEGMENTS};
use obhut_core::record::{SegmentRecord, record_len};
use obhut_core::secret::Secret32;
use obhut_core::segment::{KeyParts, SegmentKind, SegmentOpener};
use threshold_support::*;

/// A 2-of-3 group and one recording of `n` small segments sealed by
/// `RecordingSealer` (custody runs of 64 segments).
struct Scene {
    group: Group,
    device: Device,
    records: Vec<SegmentRecord>,
    blobs: Vec<Vec<u8>>,
    plaintexts: Vec<Vec<u8>>,
}

fn scene(n: u32, rng: &mut Rng) -> Scene {
    let group = Group::new(2, 3, rng);
    let device = Device::new("bodycam 12", rng);
    let mut sealer = RecordingSealer::new(
        &device.secret.sign,
        &group.pinned,
        &device.epoch_public,
        RecordingId::random(rng),
    );
    let (mut records, mut blobs, mut plaintexts) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..n {
        let plaintext = format!("frame data of segment {i}").into_bytes();
        let mut blob = Vec::new();
        let spec = SegmentSpec {
            kind: SegmentKind::Media,
            media_start_ms: u64::from(i) * 1000,
            media_end_ms: u64::from(i + 1) * 1000,
            capture_utc_ms: NOW - 86_400_000 + i64::from(i) * 1000,
            is_final: i + 1 == n,
        };
        let record = sealer
            .seal_segment(spec, &plaintext[..], &mut blob, rng)
            .unwrap();
        records.push(record);
        blobs.push(blob);
        plaintexts.push(plaintext);
    }
    Scene {
        group,
        device,
        records,
        blobs,
        plaintexts,
    }
}

impl Scene {
    /// What Q gives: s from P (here: interpolated from two shares), then
    /// a = derive_a(s·R) for any capsule.
    fn a_by_discrete_log(&self, record: &SegmentRecord) -> Secret32 {
        let set = [1u16, 2];
        let s: Scalar = set
            .iter()
            .map(|&i| lagrange(i, &set) * self.group.raw_share(i))
            .sum();
        let f = &record.header().fields;
        let r: RistrettoPoint = f.capsule.r_point().unwrap();
        kem::derive_a(&(s * r), &f.capsule, &self.group.pinned.group_key().key)
    }

    /// What the vault holds: b, from its epoch secret.
    fn b_from_the_vault(&self, record: &SegmentRecord) -> Secret32 {
        let f = &record.header().fields;
        self.device
            .epoch
            .unwrap(
                &f.epoch_wrap,
                f.recording_id,
                &f.device_key,
                f.segment_index,
            )
            .unwrap()
    }

    /// The shares of `record`'s c that custodians `who` (1-based) can
    /// unwrap with their X-Wing keys from the runs in the records.
    fn shares(&self, who: &[u16], record: &SegmentRecord) -> Vec<(u16, Secret32)> {
        let runs = Runs::in_records(&self.records);
        let f = &record.header().fields;
        let start = runs
            .start(f.recording_id, record.custody().run_start)
            .unwrap();
        who.iter()
            .map(|&i| {
                let (me, _) = self.group.custodian(i);
                let key = runs
                    .key(start, &me.public().fingerprint(), &me.kem)
                    .unwrap();
                (
                    key.x(),
                    key.share(record.custody(), &f.header_hash()).unwrap(),
                )
            })
            .collect()
    }

    fn opens(&self, j: usize, c: Secret32) -> bool {
        let record = &self.records[j];
        let parts = KeyParts {
            a: self.a_by_discrete_log(record),
            b: self.b_from_the_vault(record),
            c,
        };
        match SegmentOpener::from_header(record.header(), &parts) {
            Ok(opener) => {
                let mut out = Vec::new();
                opener.open_stream(&self.blobs[j][..], &mut out).unwrap();
                assert_eq!(out, self.plaintexts[j]);
                true
            }
            Err(Error::Segment {
                failure: SegmentFailure::KeyCommitment,
                ..
            }) => false,
            Err(e) => panic!("{e}"),
        }
    }
}

fn lagrange(i: u16, set: &[u16]) -> Scalar {
    let xi = Scalar::from(i);
    set.iter()
        .filter(|&&j| j != i)
        .fold(Scalar::ONE, |acc, &j| {
            let xj = Scalar::from(j);
            acc * xj * (xj - xi).invert()
        })
}

fn combine(shares: &[(u16, Secret32)], threshold: u16) -> Option<Secret32> {
    let refs: Vec<(u16, &Secret32)> = shares.iter().map(|(x, s)| (*x, s)).collect();
    pq_custody::combine_c(threshold, &refs)
}

#[test]
fn a_quantum_vault_operator_with_k_minus_1_custodians_opens_nothing() {
    let mut rng = rng();
    let s = scene(3, &mut rng);
    for (j, record) in s.records.iter().enumerate() {
        // Everything but c: a by discrete log, b from the vault, and the
        // one custodian it has turned (k − 1 = 1).
        let one = s.shares(&[1], record);
        assert!(combine(&one, 2).is_none(), "one share is not enough");
        for guess in [
            Secret32::new([0; 32]),
            one[0].1.clone(),
            // The custody block itself: sealed shares and hashes.
            Secret32::new(record.custody().shares[1].sealed),
            Secret32::new(record.custody().shares[1].hash),
        ] {
            assert!(!s.opens(j, guess), "segment {j} opened without c");
        }
        // Control: with k custodians' shares the same attacker opens, so
        // the failures above are c's doing.
        let c = combine(&s.shares(&[1, 3], record), 2).unwrap();
        assert!(s.opens(j, c), "segment {j} with c");
    }
}

#[test]
fn c_of_a_granted_segment_opens_no_other_segment() {
    // A requester granted segment 1 (it received k shares of c_1) who
    // also holds the vault and Q still lacks c of segments 0 and 2.
    let mut rng = rng();
    let s = scene(3, &mut rng);
    let c1 = combine(&s.shares(&[1, 2], &s.records[1]), 2).unwrap();
    assert!(s.opens(1, c1.clone()));
    assert!(!s.opens(0, c1.clone()));
    assert!(!s.opens(2, c1));
}

#[test]
fn a_run_spans_at_most_64_segments_and_only_its_first_record_carries_it() {
    let mut rng = rng();
    let n = RUN_SEGMENTS + 3;
    let s = scene(n, &mut rng);
    let custodians = s.group.pinned.custodians().len();
    for (j, record) in s.records.iter().enumerate() {
        let j = j as u32;
        let starts = j.is_multiple_of(RUN_SEGMENTS);
        let custody = record.custody();
        assert_eq!(custody.run_start, j - j % RUN_SEGMENTS, "segment {j}");
        assert_eq!(custody.run.is_some(), starts, "segment {j}");
        assert_eq!(
            record.to_bytes().len(),
            record_len(custodians, starts),
            "segment {j}"
        );
    }
    // Runs have distinct wrap keys: a custodian's key to run 0 yields no
    // share of a segment in run 1.
    let runs = Runs::in_records(&s.records);
    let (me, _) = s.group.custodian(1);
    let first = &s.records[0];
    let key0 = runs
        .key(first, &me.public().fingerprint(), &me.kem)
        .unwrap();
    let later = &s.records[RUN_SEGMENTS as usize + 1];
    assert!(
        key0.share(later.custody(), &later.header().header_hash())
            .is_none()
    );
    // Every segment of both runs opens with k custodians.
    for j in [0usize, 63, 64, 66] {
        let c = combine(&s.shares(&[2, 3], &s.records[j]), 2).unwrap();
        assert!(s.opens(j, c), "segment {j}");
    }
}

#[test]
fn a_custodian_outside_the_run_gets_no_share_and_a_stranger_cannot_unwrap() {
    let mut rng = rng();
    let s = scene(1, &mut rng);
    let stranger = obhut_core::identity::PersonSecret::generate("stranger", &mut rng);
    let runs = Runs::in_records(&s.records);
    assert!(
        runs.key(
            &s.records[0],
            &stranger.public().fingerprint(),
            &stranger.kem
        )
        .is_err()
    );
    // A stranger claiming custodian 1's fingerprint cannot open its entry.
    let (c1, _) = s.group.custodian(1);
    assert!(
        runs.key(&s.records[0], &c1.public().fingerprint(), &stranger.kem)
            .is_err()
    );
}
