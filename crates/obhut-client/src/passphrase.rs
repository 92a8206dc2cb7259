//! How strong a passphrase that locks a new key file must be: an entropy
//! estimate (zxcvbn), the same for every front end. Custodian, requester
//! and device keys are attacked offline, for as long as the footage
//! matters, by whoever steals a key file.

use zeroize::Zeroizing;

/// The least log10 of zxcvbn's guess estimate a new key file's passphrase
/// needs: 14, i.e. 10^14 guesses. A stolen key file can be attacked offline
/// for as long as the footage matters (decades). At Argon2id 64 MiB, 3
/// passes, one guess costs about 0.1 core-second, so 10^14 guesses cost
/// some 300,000 core-years (centuries on a thousand cores). zxcvbn's own
/// top score, 4 (10^10 guesses, some 30 core-years: days on a thousand
/// cores), is too little for that, and accepts `Tr0ub4dor&3` (10^11). Five
/// random words or 16 random characters pass (zxcvbn counts an unmatched
/// character as 10 guesses, so 14 random characters are the least).
/// docs/format.md §3.3 and the README state the threshold.
pub const MIN_GUESSES_LOG10: f64 = 14.0;

/// Only the first characters are scored: zxcvbn's matching is superlinear in
/// the length, and a passphrase this long that fails on its prefix alone is
/// still weak at the start (scoring a prefix never overestimates).
const SCORED_CHARS: usize = 128;

/// A passphrase below the bar: zxcvbn's estimate and its advice.
#[derive(Debug, thiserror::Error)]
#[error(
    "the passphrase is too weak to lock a key file: about 10^{guesses_log10} guesses would find it (zxcvbn estimate), and at least 10^{MIN_GUESSES_LOG10} are required"
)]
pub struct WeakPassphrase {
    /// log10 of the estimated guesses, rounded down.
    pub guesses_log10: u32,
    /// zxcvbn's warning and suggestions (may be empty), each followed by a
    /// space.
    pub advice: String,
}

/// Refuse a passphrase for a new key file whose estimated guesses are below
/// 10^[`MIN_GUESSES_LOG10`]. `context` holds words a guesser would try
/// first (names, file names).
pub fn check_strength(pass: &[u8], context: &[&str]) -> Result<(), WeakPassphrase> {
    // zxcvbn scores text; a non-UTF-8 byte becomes U+FFFD, which can only
    // lower the estimate (a conservative error).
    let text = Zeroizing::new(String::from_utf8_lossy(pass).into_owned());
    let prefix_end = text
        .char_indices()
        .nth(SCORED_CHARS)
        .map_or(text.len(), |(i, _)| i);
    let mut inputs = vec!["obhut", "custody", "custodian", "requester", "camera"];
    inputs.extend_from_slice(context);
    // zxcvbn keeps copies of parts of the text in its result (match tokens)
    // that it does not zeroize; the result is dropped at once.
    let estimate = zxcvbn::zxcvbn(&text[..prefix_end], &inputs);
    if estimate.guesses_log10() >= MIN_GUESSES_LOG10 {
        return Ok(());
    }
    let mut advice = String::new();
    if let Some(fb) = estimate.feedback() {
        if let Some(w) = fb.warning() {
            advice.push_str(&format!("{w} "));
        }
        for s in fb.suggestions() {
            advice.push_str(&format!("{s} "));
        }
    }
    Err(WeakPassphrase {
        // Non-negative and far below u32::MAX: floor of a log10 of a count.
        guesses_log10: estimate.guesses_log10().floor().max(0.0) as u32,
        advice,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weak_passphrases_are_refused_with_advice() {
        for weak in [
            "password",
            "hunter2",
            "Passw0rd!",
            "Tr0ub4dor&3",
            "kX9#mQ2$vL7p",
            "obhut2026",
            "qwertyuiop",
            "aaaaaaaaaaaaaaaa",
        ] {
            let e = check_strength(weak.as_bytes(), &[]).unwrap_err();
            assert!(e.to_string().contains("too weak"), "{weak}: {e}");
        }
        // A name the key carries is among the first guesses.
        assert!(check_strength(b"Alice Custodian-Smith", &["Alice Custodian-Smith"]).is_err());
    }

    #[test]
    fn strong_passphrases_pass() {
        for strong in [
            "correct horse battery staple",
            "tarnish-oblong-velvet-quarry-mimosa",
            "f3b1c9a07e5d2b8c4a6f9e1d3c7b5a20",
        ] {
            check_strength(strong.as_bytes(), &[]).unwrap();
        }
        // Very long input is scored on its prefix only, quickly.
        check_strength(&vec![b'x'; 100_000], &[]).unwrap_err();
    }
}
