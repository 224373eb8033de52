//! The OpenAPI document: generated, and describing every route of the router.

use std::collections::BTreeSet;

use trajstore_server::ServerConfig;

use crate::{app, get};

#[tokio::test]
async fn the_document_describes_every_route_and_no_other() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _) = app(dir.path(), ServerConfig::default()).await;
    let doc = get(&app, "/api/openapi.json").await.json();
    assert_eq!(doc["openapi"], "3.1.0");
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys().filter(|k| *k != "parameters") {
            documented.insert((method.to_ascii_uppercase(), path.clone()));
        }
    }
    let routed: BTreeSet<(String, String)> =
        trajstore_server::endpoints().into_iter().map(|(m, p)| (m.as_str().to_string(), p.to_string())).collect();
    let missing: Vec<_> = routed.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&routed).collect();
    assert!(missing.is_empty(), "routes missing from the document: {missing:?}");
    assert!(extra.is_empty(), "documented but not routed: {extra:?}");
    // Each listed endpoint is really routed: neither the fallback's 404 nor a 405.
    for (method, path) in &routed {
        let uri = path.replace("{id}", "nope").replace("{task_id}", "nope");
        let r = crate::call(&app, method, &uri, &[], b"").await;
        assert_ne!(r.status, axum::http::StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        if r.status == axum::http::StatusCode::NOT_FOUND {
            assert!(!r.error()["message"].as_str().unwrap().contains("no such endpoint"), "{method} {path}");
        }
    }
}

#[tokio::test]
async fn filters_and_sorts_have_real_types() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _) = app(dir.path(), ServerConfig::default()).await;
    let doc = get(&app, "/api/openapi.json").await.json();
    let params = doc["paths"]["/api/trajectories"]["get"]["parameters"].as_array().unwrap().clone();
    let schema =
        |name: &str| params.iter().find(|p| p["name"] == name).unwrap_or_else(|| panic!("{name}"))["schema"].clone();
    assert_eq!(schema("reward_min")["type"], "number");
    assert_eq!(schema("epoch_id")["type"], "integer");
    assert_eq!(schema("is_success")["type"], "boolean");
    assert_eq!(schema("sort")["enum"].as_array().unwrap().len(), trajstore::SortField::ALL.len());
    assert_eq!(schema("format")["enum"], serde_json::json!(["json", "arrow"]));
    assert_eq!(params.len(), 6 + trajstore::filter_params().len());
    let ok = &doc["paths"]["/api/trajectories"]["get"]["responses"]["200"]["content"]["application/json"]["schema"];
    assert_eq!(ok["$ref"], "#/components/schemas/Page");
}
