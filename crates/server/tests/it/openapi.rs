//! `/openapi.json` (docs/contract.md §7): served without authentication, and describing
//! exactly the product API's routes, each with the `x-api-key` security and its parameters.

use std::collections::BTreeSet;

use axum::http::{Method, StatusCode};
use serde_json::Value;

use crate::common::TestApp;

const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/// The document, fetched through the router without a token.
async fn document() -> Value {
    let app = TestApp::new().await;
    let res = app.send(Method::GET, "/openapi.json", None, None, &[]).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text);
    assert_eq!(res.header("content-type"), Some("application/json"));
    assert!(res.body.is_object(), "not a JSON object: {}", res.text);
    res.body
}

/// Every `(METHOD, path, operation)` of the document.
fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
    let paths = doc["paths"].as_object().expect("paths is an object");
    let mut out = Vec::new();
    for (path, item) in paths {
        let item = item.as_object().expect("a path item is an object");
        for (key, op) in item {
            if METHODS.contains(&key.as_str()) {
                out.push((key.to_uppercase(), path.clone(), op));
            }
        }
    }
    out
}

#[tokio::test]
async fn served_without_authentication_as_openapi_3() {
    let doc = document().await;
    let version = doc["openapi"].as_str().expect("openapi version");
    assert!(version.starts_with("3."), "not OpenAPI 3.x: {version}");
    assert_eq!(doc["info"]["title"], "scimgate product API");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    let scheme = &doc["components"]["securitySchemes"]["api_key"];
    assert_eq!(scheme["type"], "apiKey", "{scheme}");
    assert_eq!(scheme["in"], "header", "{scheme}");
    assert_eq!(scheme["name"], "x-api-key", "{scheme}");
}

#[tokio::test]
async fn paths_are_exactly_the_product_routes() {
    let doc = document().await;
    let documented: BTreeSet<(String, String)> =
        operations(&doc).into_iter().map(|(m, p, _)| (m, p)).collect();
    let routed: BTreeSet<(String, String)> = scimgate::http::product_api::route_list()
        .into_iter()
        .map(|(m, p)| (m.as_str().to_string(), p.to_string()))
        .collect();
    let show = |s: Vec<&(String, String)>| {
        if s.is_empty() {
            return "  (none)".to_string();
        }
        s.iter().map(|(m, p)| format!("  {m} {p}")).collect::<Vec<_>>().join("\n")
    };
    let missing: Vec<_> = routed.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&routed).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "/openapi.json differs from product_api::route_list().\n\
         Routed but not documented (add #[utoipa::path] to the handler and list it in \
         product_api/openapi.rs):\n{}\nDocumented but not routed:\n{}",
        show(missing),
        show(extra),
    );
    assert_eq!(documented.len(), scimgate::http::product_api::route_list().len(), "a route is listed twice");
}

#[tokio::test]
async fn every_operation_declares_the_api_key_and_its_parameters() {
    let doc = document().await;
    let ops = operations(&doc);
    assert!(!ops.is_empty());
    let mut ids = BTreeSet::new();
    for (method, path, op) in &ops {
        let at = format!("{method} {path}");
        let security = op["security"].as_array().unwrap_or_else(|| panic!("{at}: no security"));
        assert!(
            security.iter().any(|s| s.get("api_key").is_some()),
            "{at}: does not declare the api_key security: {security:?}"
        );
        let params = op["parameters"].as_array().map(Vec::as_slice).unwrap_or_default();
        let param = |name: &str, place: &str| params.iter().find(|p| p["name"] == name && p["in"] == place);
        let account =
            param("accountIdentifier", "query").unwrap_or_else(|| panic!("{at}: no accountIdentifier"));
        assert_eq!(account["required"], true, "{at}: accountIdentifier is not required");
        for name in path.split('/').filter_map(|s| s.strip_prefix('{')?.strip_suffix('}')) {
            let p = param(name, "path").unwrap_or_else(|| panic!("{at}: path parameter {name} not declared"));
            assert_eq!(p["required"], true, "{at}: path parameter {name} is not required");
        }
        let mut seen = BTreeSet::new();
        for p in params {
            assert!(seen.insert((p["name"].to_string(), p["in"].to_string())), "{at}: parameter {p} twice");
        }
        let responses = op["responses"].as_object().unwrap_or_else(|| panic!("{at}: no responses"));
        for status in ["200", "400", "401", "403", "404"] {
            assert!(responses.contains_key(status), "{at}: no {status} response");
        }
        let id = op["operationId"].as_str().unwrap_or_else(|| panic!("{at}: no operationId"));
        assert!(ids.insert(id.to_string()), "{at}: operationId {id} is used twice");
    }
}
