//! Issue 19 item 6: a clean clip's Content Credentials read back with the
//! C2PA reference reader (the `c2pa` crate's `Reader`), as standard tools
//! read them. Shared by tests/export.rs and tests/access.rs.
#![allow(dead_code)]

use std::io::Cursor;
use std::path::Path;

use c2pa::{Reader, ValidationState};

/// A clip's manifest as the reader sees it: the state, the failure codes
/// and the active manifest's assertions by label.
pub struct Read {
    pub state: ValidationState,
    pub failures: Vec<String>,
    pub actions: serde_json::Value,
    pub custody: serde_json::Value,
    pub json: String,
}

/// Read the embedded manifest of an MP4's bytes with the default settings
/// (trust checked, no trust list: the one-clip CA is trusted by nobody).
pub fn read(bytes: &[u8]) -> Result<Read, c2pa::Error> {
    let reader = Reader::from_context(c2pa::Context::new())
        .with_stream("video/mp4", Cursor::new(bytes.to_vec()))?;
    let failures = reader
        .validation_results()
        .and_then(|r| r.active_manifest())
        .map(|m| m.failure().iter().map(|s| s.code().to_owned()).collect())
        .unwrap_or_default();
    let json: serde_json::Value = serde_json::from_str(&reader.json()).expect("reader JSON");
    let active = reader
        .active_label()
        .expect("an active manifest")
        .to_owned();
    let assertions = json["manifests"][&active]["assertions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let by = |label: &str| {
        assertions
            .iter()
            .find(|a| a["label"].as_str().is_some_and(|l| l.starts_with(label)))
            .map(|a| a["data"].clone())
            .unwrap_or(serde_json::Value::Null)
    };
    Ok(Read {
        state: reader.validation_state(),
        failures,
        actions: by("c2pa.actions"),
        custody: by("org.obhut.custody"),
        json: reader.json(),
    })
}

/// The clip's manifest is valid (signature, hashes) but for the untrusted
/// one-clip certificate, and states its custody: the recording `rid`, the
/// segments cut from, the grant; after one byte of the clip's media data
/// is changed the reader finds it invalid.
#[track_caller]
pub fn assert_credentials(clip: &Path, rid: &str) -> serde_json::Value {
    let bytes = std::fs::read(clip).unwrap();
    let r = read(&bytes).expect("a C2PA manifest in the clip");
    assert_eq!(r.state, ValidationState::Valid, "{}", r.json);
    assert_eq!(
        r.failures,
        ["signingCredential.untrusted"],
        "only the certificate is not trusted: {}",
        r.json
    );
    let actions: Vec<&str> = r.actions["actions"]
        .as_array()
        .expect("c2pa.actions")
        .iter()
        .filter_map(|a| a["action"].as_str())
        .collect();
    assert!(
        actions.starts_with(&["c2pa.opened", "c2pa.edited"]),
        "{actions:?}"
    );
    let c = &r.custody;
    assert_eq!(c["format"], "obhut-custody/v1", "{}", r.json);
    assert_eq!(c["recording"], rid);
    assert_eq!(c["device"]["key"].as_str().map(str::len), Some(64));
    let segments = c["segments"].as_array().expect("segments");
    assert!(!segments.is_empty());
    for s in segments {
        assert_eq!(s["record_hash"].as_str().map(str::len), Some(64), "{s}");
        assert_eq!(
            s["ciphertext_blake3"].as_str().map(str::len),
            Some(64),
            "{s}"
        );
    }
    assert_eq!(c["grant"]["request_hash"].as_str().map(str::len), Some(64));
    assert!(
        c["log"]["note"]
            .as_str()
            .is_some_and(|n| n.contains('\u{2014}')),
        "a signed checkpoint: {c}"
    );

    // One byte of video (mid-mdat) changed: the reader says invalid and why.
    let mut bad = bytes.clone();
    let at = bad.len() * 3 / 4;
    bad[at] ^= 0x01;
    let r = read(&bad).expect("the manifest still parses");
    assert_eq!(r.state, ValidationState::Invalid, "{}", r.json);
    assert!(
        r.failures
            .iter()
            .any(|f| f.starts_with("assertion.bmffHash.mismatch")),
        "{:?}",
        r.failures
    );
    c.clone()
}
