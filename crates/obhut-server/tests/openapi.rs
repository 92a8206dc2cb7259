//! `/openapi.json` is maintained by hand: it must list exactly the routes
//! the router serves (read from the router's source) and be OpenAPI 3.1.

use std::collections::BTreeSet;

#[test]
fn openapi_lists_exactly_the_routes() {
    let doc: serde_json::Value = serde_json::from_str(obhut_server::ops::OPENAPI).unwrap();
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
    let doc: serde_json::Value = serde_json::from_str(obhut_server::ops::OPENAPI).unwrap();
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
