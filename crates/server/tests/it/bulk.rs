//! /Bulk (RFC 7644 §3.7).

use axum::http::StatusCode;
use serde_json::json;

use crate::common::{TestApp, assert_scim_error};

#[tokio::test]
async fn bulk_with_bulk_id_references() {
    let app = TestApp::new().await;
    let r = app
        .post(
            "/Bulk",
            json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
                "failOnErrors": 1,
                "Operations": [
                    // Forward reference: the group names a user created later in the request.
                    {"method": "POST", "path": "/Groups", "bulkId": "g1",
                     "data": {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Tour Guides",
                              "members": [{"type": "User", "value": "bulkId:u1"}]}},
                    {"method": "POST", "path": "/Users", "bulkId": "u1",
                     "data": {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "Alice"}},
                    {"method": "PATCH", "path": "/Users/bulkId:u1",
                     "data": {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                              "Operations": [{"op": "add", "path": "displayName", "value": "Alice A."}]}},
                ]
            }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let ops = r.body["Operations"].as_array().expect("ops");
    assert_eq!(ops.len(), 3, "{}", r.text);
    assert_eq!(ops[0]["status"], "201", "{}", r.text);
    assert_eq!(ops[1]["status"], "201");
    assert_eq!(ops[2]["status"], "200");
    let group_loc = ops[0]["location"].as_str().expect("location");
    let gid = group_loc.rsplit('/').next().expect("id");
    let g = app.get(&format!("/Groups/{gid}")).await;
    let uid = ops[1]["location"].as_str().expect("location").rsplit('/').next().expect("id");
    assert_eq!(g.body["members"][0]["value"], uid, "{}", g.text);
    assert_eq!(app.get(&format!("/Users/{uid}")).await.body["displayName"], "Alice A.");
}

#[tokio::test]
async fn bulk_fail_on_errors_and_limits() {
    let app = TestApp::new().await;
    app.user("taken@example.com").await;
    let r = app
        .post(
            "/Bulk",
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "failOnErrors": 1, "Operations": [
                {"method": "POST", "path": "/Users", "bulkId": "a", "data": {"userName": "taken@example.com"}},
                {"method": "POST", "path": "/Users", "bulkId": "b", "data": {"userName": "never@example.com"}},
            ]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let ops = r.body["Operations"].as_array().expect("ops");
    assert_eq!(ops.len(), 1, "processing stops after failOnErrors errors: {}", r.text);
    assert_eq!(ops[0]["status"], "409");
    assert_eq!(ops[0]["response"]["scimType"], "uniqueness");
    assert_eq!(app.get("/Users?filter=userName+eq+%22never%40example.com%22").await.body["totalResults"], 0);

    let r = app
        .post("/Bulk", json!({"Operations": [{"method": "POST", "path": "/Users", "bulkId": "x", "data": {"userName": "q", "members": "bulkId:nope"}}]}))
        .await;
    assert_eq!(r.body["Operations"][0]["status"], "400", "{}", r.text);

    let many: Vec<_> =
        (0..1001).map(|i| json!({"method": "DELETE", "path": format!("/Users/{i}")})).collect();
    let r = app.post("/Bulk", json!({"Operations": many})).await;
    assert_scim_error(&r, 413, Some("tooMany"));
    let r = app.post("/Bulk", json!({"Operations": [{"method": "GET", "path": "/Users"}]})).await;
    assert_scim_error(&r, 400, Some("invalidSyntax"));
}
