//! Strict parsing of signed notes, verifier keys and checkpoints: what the
//! C2SP specs forbid is refused, and what we write parses back unchanged.

use obhut_log::cosignature::signed_message_v1;
use obhut_log::note::{
    ALG_COSIGNATURE_V1, ALG_ED25519, MAX_SIGNATURES, NoteError, NoteSignature, VerifierKey, key_id,
};
use obhut_log::{
    Checkpoint, CheckpointError, CosignatureSigner, Hash, Note, NoteSigner, leaf_hash,
};
use proptest::prelude::*;

/// The example note and verifier key of Go's `golang.org/x/mod/sumdb/note`
/// package documentation (reproduced in the `signed_note` 0.2.0 crate docs):
/// a signature made by someone else's implementation.
#[test]
fn go_sumdb_note_example_verifies() {
    let vkey: VerifierKey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
        .parse()
        .unwrap();
    assert_eq!(vkey.alg(), ALG_ED25519);
    let msg = "If you think cryptography is the answer to your problem,\n\
               then you don't know what your problem is.\n\
               \n\
               \u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
    let note = Note::parse(msg.as_bytes()).unwrap();
    let v = note.verify(&[vkey]).unwrap();
    assert_eq!(v[0].name, "PeterNeumann");
    assert_eq!(note.to_bytes(), msg.as_bytes());
}

#[test]
fn malformed_notes_are_refused() {
    let s = NoteSigner::from_seed("example.com/log", &[1; 32]).unwrap();
    let mut good = Note::new("hello\nworld\n").unwrap();
    s.sign(&mut good).unwrap();
    let good = String::from_utf8(good.to_bytes()).unwrap();
    let line = good.split("\n\n").nth(1).unwrap().trim_end().to_string();
    let cases: Vec<(String, &str)> = vec![
        ("hello\n".into(), "no signatures"),
        ("hello\n\n".into(), "empty signature block"),
        (good.trim_end_matches('\n').into(), "no final newline"),
        (good.replace("hello", "hel\rlo"), "control character"),
        (good.replace("hello", "hel\tlo"), "tab"),
        (good.replace('\u{2014}', "-"), "hyphen for em dash"),
        (good.replace("\u{2014} ", "\u{2014}  "), "double space"),
        (good.replace("example.com/log", "exa+mple"), "plus in name"),
        (good.replacen("=\n", "\n", 1), "missing padding"),
        (format!("{good}\n"), "trailing blank line"),
        (format!("\n\n{line}\n"), "empty text"),
        ("hello\n\n\u{2014} k AAAA\n".into(), "signature too short"),
        ("hello\n\n\u{2014} k\n".into(), "no signature"),
    ];
    for (msg, why) in cases {
        assert!(Note::parse(msg.as_bytes()).is_err(), "accepted: {why}");
    }
    assert!(Note::parse(&[0xff, b'\n', b'\n']).is_err());

    // Too many signatures, and exactly the limit.
    let many = |n: usize| format!("hello\n\n{}", format!("{line}\n").repeat(n));
    assert!(Note::parse(many(MAX_SIGNATURES).as_bytes()).is_ok());
    assert_eq!(
        Note::parse(many(MAX_SIGNATURES + 1).as_bytes()).unwrap_err(),
        NoteError::TooManySignatures {
            count: MAX_SIGNATURES + 1,
            max: MAX_SIGNATURES
        }
    );
    // The spec's minimum: at least 16 accepted.
    assert!(Note::parse(many(16).as_bytes()).is_ok());
}

#[test]
fn unknown_signatures_are_ignored_known_bad_ones_reject() {
    let a = NoteSigner::from_seed("a.example/log", &[1; 32]).unwrap();
    let b = NoteSigner::from_seed("b.example/log", &[2; 32]).unwrap();
    let mut n = Note::new("text\n").unwrap();
    b.sign(&mut n).unwrap();
    a.sign(&mut n).unwrap();
    // Only b trusted: a ignored.
    assert_eq!(n.verify(&[b.verifier_key()]).unwrap().len(), 1);
    // Nobody trusted: refused.
    let c = NoteSigner::from_seed("c.example/log", &[3; 32]).unwrap();
    assert_eq!(
        n.verify(&[c.verifier_key()]),
        Err(NoteError::NoTrustedSignature)
    );
    // Same name as a known key but another ID: ignored, not an error.
    let a2 = NoteSigner::from_seed("a.example/log", &[4; 32]).unwrap();
    assert_eq!(
        n.verify(&[a2.verifier_key()]),
        Err(NoteError::NoTrustedSignature)
    );
}

#[test]
fn verifier_keys_parse_strictly() {
    let s = NoteSigner::from_seed("obhut.example/vault-1", &[5; 32]).unwrap();
    let vk = s.verifier_key();
    let text = vk.to_string();
    assert_eq!(text.parse::<VerifierKey>().unwrap(), vk);
    // Key ID = SHA-256(name || 0x0A || 0x01 || key)[:4].
    assert_eq!(
        vk.key_id(),
        key_id(vk.name(), ALG_ED25519, vk.public_key().as_bytes())
    );
    let (name, rest) = text.split_once('+').unwrap();
    let (id, b64) = rest.split_once('+').unwrap();
    for bad in [
        format!("{name}+{}+{b64}", id.to_uppercase()),
        format!("{name}+{id}0+{b64}"),
        format!("{name}+00000000+{b64}"),
        format!("{name}+{id}+{}", &b64[..b64.len() - 1]),
        format!("+{id}+{b64}"),
        format!("{name} x+{id}+{b64}"),
        format!("{name}+{id}"),
        format!("{name}+{id}+AqCg"),
    ] {
        assert!(bad.parse::<VerifierKey>().is_err(), "{bad}");
    }
    // Cosignature keys use type 0x04 and another key ID.
    let w = CosignatureSigner::from_seed("w.example", &[5; 32]).unwrap();
    let wk = w.verifier_key();
    assert_eq!(wk.alg(), ALG_COSIGNATURE_V1);
    assert_eq!(wk.to_string().parse::<VerifierKey>().unwrap(), *wk);
    assert_ne!(
        wk.key_id(),
        key_id("w.example", ALG_ED25519, wk.public_key().as_bytes())
    );
}

#[test]
fn checkpoint_body_is_strict() {
    let root = leaf_hash(b"x");
    let cp = Checkpoint::new("obhut.example/vault-1", 42, root).unwrap();
    let text = cp.to_text();
    assert_eq!(
        text,
        format!("obhut.example/vault-1\n42\n{}\n", root.to_base64())
    );
    assert_eq!(Checkpoint::parse_text(&text).unwrap(), cp);
    let b64 = root.to_base64();
    for bad in [
        format!("\n42\n{b64}\n"),
        format!("o\n042\n{b64}\n"),
        format!("o\n+42\n{b64}\n"),
        format!("o\n\n{b64}\n"),
        format!("o\n18446744073709551616\n{b64}\n"),
        format!("o\n42\n{}\n", &b64[..b64.len() - 1]),
        format!("o\n42\n{}\n", Hash::EMPTY_ROOT.to_hex()),
        "o\n42\n".to_string(),
        format!("o\n42\n{b64}\n\n"),
        format!("o\n42\n{b64}\next\n\nmore\n"),
        format!("o\n42\n{b64}"),
    ] {
        assert!(Checkpoint::parse_text(&bad).is_err(), "{bad:?}");
    }
    let with_ext = format!("o\n0\n{b64}\nextension one\n");
    let p = Checkpoint::parse_text(&with_ext).unwrap();
    assert_eq!(p.extensions, vec!["extension one".to_string()]);
    assert_eq!(p.to_text(), with_ext);
    assert!(matches!(
        Checkpoint::new("has space", 1, root),
        Err(CheckpointError::Malformed { .. })
    ));
}

#[test]
fn cosignature_message_matches_spec_example() {
    // tlog-cosignature §Ed25519 signed message example.
    let body =
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
    assert_eq!(
        signed_message_v1(body, 1679315147),
        b"cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    );
    let w = CosignatureSigner::from_seed("witness.example/w1", &[9; 32]).unwrap();
    let sig = w.cosign(body, 1679315147).unwrap();
    assert_eq!(sig.signature().len(), 8 + 64);
    assert_eq!(&sig.signature()[..8], &1679315147u64.to_be_bytes());
    assert!(w.cosign(body, 1 << 63).is_err());
}

proptest! {
    /// Parse then encode returns the input, for notes we can produce.
    #[test]
    fn note_round_trip(lines in proptest::collection::vec("[a-z0-9 /.:+=-]{1,40}", 1..6), nsig in 1usize..5) {
        let text = format!("{}\n", lines.join("\n"));
        let mut n = Note::new(&text).unwrap();
        for i in 0..nsig {
            let s = NoteSigner::from_seed(&format!("k{i}.example"), &[i as u8; 32]).unwrap();
            s.sign(&mut n).unwrap();
        }
        let bytes = n.to_bytes();
        let p = Note::parse(&bytes).unwrap();
        prop_assert_eq!(&p, &n);
        prop_assert_eq!(p.to_bytes(), bytes);
    }

    /// Arbitrary bytes never panic the parsers.
    #[test]
    fn parsers_do_not_panic(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = Note::parse(&data);
        if let Ok(s) = std::str::from_utf8(&data) {
            let _ = Checkpoint::parse_text(s);
            let _ = s.parse::<VerifierKey>();
            let _ = NoteSignature::parse_line(s);
            let _ = obhut_log::tiles::TileId::parse_path(s);
        }
        let _ = obhut_log::witness::AddCheckpoint::parse(&data);
    }
}
