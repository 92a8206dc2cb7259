//! C2SP signed-note and tlog-checkpoint parsing (`obhut_log::Note::parse`,
//! `Checkpoint::parse_text`, `SignedCheckpoint::open`): what a client reads
//! from an untrusted vault. Arbitrary bytes must not panic; a parsed note
//! re-encodes to its input; a parsed checkpoint re-encodes to its text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use obhut_log::{Checkpoint, Note, NoteSigner, SignedCheckpoint};

fuzz_target!(|data: &[u8]| {
    if let Ok(n) = Note::parse(data) {
        assert_eq!(n.to_bytes(), data, "note re-encoding changed the input");
        if let Ok(c) = Checkpoint::parse_text(n.text()) {
            assert_eq!(
                c.to_text(),
                n.text(),
                "checkpoint re-encoding changed the text"
            );
        }
    }
    let key = NoteSigner::from_seed("example.com/log", &[1; 32])
        .expect("valid name")
        .verifier_key();
    let _ = SignedCheckpoint::open(data, &key);
});
