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
        .map(str::to_owned)
        .collect();
    assert!(routed.len() >= 12, "{routed:?}");
    assert_eq!(documented, routed);
}
