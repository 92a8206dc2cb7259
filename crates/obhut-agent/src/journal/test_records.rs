//! Signed, chained records of one recording, for tests.

use obhut_core::device::{RecordingSealer, SegmentSpec};
use obhut_core::epoch::EpochSecret;
use obhut_core::group;
use obhut_core::identity::{PersonSecret, SignKey};
use obhut_core::ids::{EpochId, RecordingId};
use obhut_core::record::SegmentRecord;
use obhut_core::rng::os_rng;
use obhut_core::segment::SegmentKind;

/// `n` records (segments 0 … n−1, the last one final).
pub(crate) fn chain(n: usize) -> Vec<SegmentRecord> {
    let rng = &mut os_rng();
    let people: Vec<PersonSecret> = ["a", "b"]
        .iter()
        .map(|n| PersonSecret::generate(n, rng))
        .collect();
    let publics: Vec<_> = people.iter().map(|p| p.public()).collect();
    let (mut d, envs) = group::deal("journal", 2, 2, &publics, rng).unwrap();
    for (p, e) in people.iter().zip(&envs) {
        let share = e.open(p, &d).unwrap();
        group::sign_descriptor(&mut d, &share, p).unwrap();
    }
    let group = d.pin().unwrap();
    let epoch = EpochSecret::generate(EpochId::random(rng), rng).public("c", 0, i64::MAX);
    let key = SignKey::generate(rng);
    let mut sealer = RecordingSealer::new(&key, &group, &epoch, RecordingId::random(rng));
    (0..n)
        .map(|i| {
            let spec = SegmentSpec {
                kind: SegmentKind::Media,
                media_start_ms: 0,
                media_end_ms: 0,
                capture_utc_ms: 1_000,
                is_final: i + 1 == n,
            };
            sealer
                .seal_segment(spec, &[i as u8; 10][..], std::io::sink(), &mut os_rng())
                .unwrap()
        })
        .collect()
}
