//! `/openapi.json` is maintained by hand: it must list exactly the routes
//! the router serves (read from the router's source) and be OpenAPI 3.1,
//! and every limit it states must come from the code's constants.

use std::collections::BTreeSet;

#[test]
fn openapi_lists_exactly_the_routes() {
    let doc: serde_json::Value = serde_json::from_str(obhut_server::ops::openapi_json()).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let documented: BTreeSet<String> = doc["paths"].as_object().unwrap().keys().cloned().collect();
    let src = include_str!("../src/lib.rs");
    let routed: BTreeSet<String> = src
        .split(".route(")
        .skip(1)
        .filter_map(|s| s.trim_start().strip_prefix('"'))
        .filter_map(|s| s.split('"').next())
        // axum writes a catch-all segment `{*name}`, OpenAPI `{name}`.
        .map(|s| s.replace("{*", "{"))
        .collect();
    assert!(routed.len() >= 12, "{routed:?}");
    assert_eq!(documented, routed);
}

/// Draft 2: a segment is uploaded to its own path, `blob ‖ record`, with a
/// required (signed) Content-Length; the draft-1 route is gone.
#[test]
fn openapi_describes_the_draft_2_segment_upload() {
    let doc: serde_json::Value = serde_json::from_str(obhut_server::ops::openapi_json()).unwrap();
    assert!(doc["paths"].get("/v1/segments").is_none());
    let put = &doc["paths"]["/v1/recordings/{rid}/segments/{index}"]["put"];
    assert!(put["summary"].as_str().unwrap().contains("trailer"));
    let params = put["parameters"].as_array().unwrap();
    let cl = params
        .iter()
        .find(|p| p["name"] == "Content-Length")
        .expect("Content-Length documented");
    assert_eq!(cl["in"], "header");
    assert_eq!(cl["required"], true);
    assert!(
        put["description"]
            .as_str()
            .unwrap()
            .contains("obhut/v1/segment-upload")
    );
    for code in ["200", "201", "400", "401", "403", "409", "413", "422"] {
        assert!(put["responses"].get(code).is_some(), "{code}");
    }
}

/// Every string and number of `v` with its JSON path.
fn leaves(v: &serde_json::Value, path: String, out: &mut Vec<(String, String)>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                leaves(v, format!("{path}/{k}"), out);
            }
        }
        serde_json::Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                leaves(v, format!("{path}[{i}]"), out);
            }
        }
        serde_json::Value::String(s) => out.push((path, s.clone())),
        serde_json::Value::Number(n) => out.push((path, n.to_string())),
        _ => {}
    }
}

/// Issue 16: the document said the upload window was 2 while the vault
/// took 4. Every number in the template must now be a `{{NAME}}` filled
/// from the code, or one that is not a limit: an HTTP status, a section
/// sign's number, a name (SHA-256, u32, base64, C2SP, obhut/v1/, …), the
/// protocol's and the document's versions.
#[test]
fn the_document_states_no_limit_of_its_own() {
    let template: serde_json::Value =
        serde_json::from_str(obhut_server::ops::OPENAPI_TEMPLATE).unwrap();
    let mut all = Vec::new();
    leaves(&template, String::new(), &mut all);
    const STATUSES: &[&str] = &[
        "200", "201", "206", "400", "401", "403", "404", "409", "410", "413", "416", "422", "429",
        "500", "503",
    ];
    const NAMES: &[&str] = &[
        "SHA-256",
        "u32",
        "u64",
        "RFC 9162",
        "OpenAPI 3.1",
        "max(1,",
        "base64",
        "draft 2",
        "C2SP",
        "v1/",
    ];
    let mut stray = Vec::new();
    for (path, text) in &all {
        if path == "/openapi" || path == "/info/version" {
            continue;
        }
        let mut t = text.clone();
        for n in NAMES {
            t = t.replace(n, "");
        }
        // Placeholders, then section numbers (§8.5).
        for (name, _) in obhut_server::ops::OPENAPI_LIMITS {
            t = t.replace(&format!("{{{{{name}}}}}"), "");
        }
        let mut kept = String::new();
        let mut chars = t.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '§' {
                while chars
                    .peek()
                    .is_some_and(|c| c.is_ascii_digit() || *c == '.')
                {
                    chars.next();
                }
            } else {
                kept.push(c);
            }
        }
        for word in kept.split(|c: char| !c.is_ascii_digit()) {
            if !word.is_empty() && !STATUSES.contains(&word) {
                stray.push(format!("{path}: {word} in {text:?}"));
            }
        }
    }
    assert!(
        stray.is_empty(),
        "numbers typed into openapi.json; state them as {{{{NAME}}}} of ops::OPENAPI_LIMITS: {stray:#?}"
    );
}

#[test]
fn every_limit_is_filled_in_from_the_code() {
    let t = obhut_server::ops::OPENAPI_TEMPLATE;
    for (name, _) in obhut_server::ops::OPENAPI_LIMITS {
        assert!(t.contains(&format!("{{{{{name}}}}}")), "{name} unused");
    }
    let doc = obhut_server::ops::openapi_json();
    assert!(!doc.contains("{{"), "a placeholder left unfilled");
    let doc: serde_json::Value = serde_json::from_str(doc).unwrap();
    let put = doc["paths"]["/v1/recordings/{rid}/segments/{index}"]["put"]["description"]
        .as_str()
        .unwrap();
    let w = obhut_api::ingest::UPLOAD_WINDOW;
    assert!(put.contains(&format!("less than W = {w} ")), "{put}");
    let summary = doc["paths"]["/v1/recordings/{rid}/segments/{index}"]["put"]["summary"]
        .as_str()
        .unwrap();
    let (shortest, longest) = (
        obhut_core::record::record_len(1, false),
        obhut_core::record::MAX_RECORD_LEN,
    );
    assert!(
        summary.contains(&format!("({shortest} to {longest} bytes")),
        "{summary}"
    );
    let decision =
        doc["components"]["schemas"]["Decision"]["properties"]["decision"]["description"]
            .as_str()
            .unwrap();
    let max = obhut_core::audit::MAX_TEXT_LEN;
    assert!(
        decision.contains(&format!("at most {max} bytes")),
        "{decision}"
    );
}
