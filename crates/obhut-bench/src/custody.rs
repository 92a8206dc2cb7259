//! `custody`: what the post-quantum custody part c (format.md §5.6) adds
//! to sealing, per segment, so that `./scripts/bench` can state it as a
//! share of the segment's sealing time beside the seal figures of the same
//! run (issue 15 item 12: within 5 %).
//!
//! Two costs: splitting a fresh c and padding its n shares, every segment;
//! and a custody run's n X-Wing encapsulations, once per 64 segments.

use std::time::Instant;

use obhut_core::ids::RecordingId;
use obhut_core::pq_custody::RUN_SEGMENTS;
use obhut_core::rng::os_rng;

type Error = Box<dyn std::error::Error>;

/// Print the per-segment and per-run costs (microseconds, medians of
/// rounds) and their sum per segment, for the bench's 2-of-3 group.
pub fn overhead() -> Result<(), Error> {
    let seed = obhut_core::rng::random_32(&mut os_rng());
    let cast = crate::flow::cast(seed)?;
    let device = cast.device.verify_key();
    let recording = RecordingId([7; 16]);
    let mut rng = os_rng();
    let header_hash = [0x42u8; 32];

    let run_us = median_us(15, 20, || {
        std::hint::black_box(cast.group.custody_run(recording, &device, 0, &mut os_rng()));
    });
    let run = cast.group.custody_run(recording, &device, 0, &mut rng);
    let share_us = median_us(15, 2000, || {
        std::hint::black_box(run.seal_c(1, &header_hash, &mut rng));
    });
    let per_segment = share_us + run_us / f64::from(RUN_SEGMENTS);
    let n = cast.group.custodians().len();
    let k = cast.group.threshold();
    println!(
        "| PQ custody ({k} of {n}): split c, pad and hash {n} shares, per segment | µs | {share_us:.1} |"
    );
    println!(
        "| PQ custody ({k} of {n}): a custody run ({n} X-Wing encapsulations), per {RUN_SEGMENTS} segments | µs | {run_us:.1} |"
    );
    println!("| PQ custody ({k} of {n}): per segment, run amortised | µs | {per_segment:.1} |");
    Ok(())
}

/// Median over `rounds` of the mean time of `per_round` calls, in µs.
fn median_us(rounds: usize, per_round: u32, mut f: impl FnMut()) -> f64 {
    let mut means: Vec<f64> = (0..rounds)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..per_round {
                f();
            }
            t.elapsed().as_secs_f64() * 1e6 / f64::from(per_round)
        })
        .collect();
    means.sort_by(f64::total_cmp);
    means[rounds / 2]
}
