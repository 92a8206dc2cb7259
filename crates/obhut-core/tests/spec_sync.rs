//! docs/format.md must stand alone (issue 15): every label and magic of
//! `labels.rs` is in its §1.3 registry, and every error name a vector
//! expects is named in the spec, so a second implementation never has to
//! read the vectors' README or this code to learn them.

use std::collections::BTreeSet;
use std::path::PathBuf;

use obhut_core::labels;
use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn spec() -> String {
    std::fs::read_to_string(repo().join("docs/format.md")).expect("read docs/format.md")
}

/// The text of §1.3 (from its heading to the next one).
fn registry(spec: &str) -> &str {
    let start = spec.find("### 1.3 Label registry").expect("§1.3");
    let end = start + spec[start..].find("### 1.4").expect("§1.4");
    &spec[start..end]
}

#[test]
fn every_label_and_magic_is_in_the_registry() {
    let spec = spec();
    let reg = registry(&spec);
    for label in labels::ALL {
        let l = String::from_utf8_lossy(label);
        assert!(reg.contains(&format!("| `{l}` |")), "§1.3 lacks label {l}");
    }
    for m in labels::magic::ALL {
        let m = String::from_utf8_lossy(&m[..]);
        assert!(reg.contains(&format!("`{m}`")), "§1.3 lacks magic {m}");
    }
}

fn collect(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if let ("error" | "failure", Value::String(s)) = (k.as_str(), x) {
                    out.insert(s.clone());
                }
                collect(x, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect(x, out)),
        _ => {}
    }
}

#[test]
fn every_error_a_vector_expects_is_named_in_the_spec() {
    let spec = spec();
    let mut names = BTreeSet::new();
    for entry in std::fs::read_dir(repo().join("docs/vectors")).expect("docs/vectors") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "json") {
            let text = std::fs::read_to_string(&path).expect("read a vector file");
            collect(&serde_json::from_str(&text).expect("JSON"), &mut names);
        }
    }
    assert!(names.len() > 30, "found only {names:?}");
    let missing: Vec<&String> = names
        .iter()
        .filter(|n| !spec.contains(&format!("`{n}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/format.md does not name {missing:?}"
    );
}
