//! `obhut_agent::journal::Journal::apply_log` (the agent's journal log,
//! crates/obhut-agent/src/journal.rs "On disk"): arbitrary bytes as the log
//! of a fresh journal must not panic; when they apply, the pending records
//! stay in index order, the acknowledged ones number at most the changes,
//! and the journal's next write is a whole snapshot after a torn line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use obhut_agent::journal::JournalWrite;

fuzz_target!(|data: &[u8]| {
    let mut j = obhut_fuzz::fixture_journal();
    if j.apply_log(data).is_ok() {
        assert!(j.pending.windows(2).all(|w| w[0].index <= w[1].index));
        assert!(j.acked.len() as u64 <= j.seq);
        let torn = !data.is_empty() && !data.ends_with(b"\n");
        let w = j.take_write(false).expect("a replayed journal serialises");
        if torn {
            assert!(matches!(w, JournalWrite::Snapshot { .. }));
        }
    }
});
