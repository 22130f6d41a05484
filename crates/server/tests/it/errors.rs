//! Bad input gets a clear SCIM error and changes nothing.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::common::{TestApp, assert_scim_error, patch_body};

#[tokio::test]
async fn malformed_bodies() {
    let app = TestApp::new().await;
    let path = app.scim("/Users");
    let cases = ["{not json", "[]", "\"str\"", "", "{\"userName\": }"];
    for body in cases {
        let r = app.send(Method::POST, &path, Some(&app.token), Some(body.to_string()), &[]).await;
        assert_scim_error(&r, 400, Some("invalidSyntax"));
    }
    let r = app
        .send(
            Method::POST,
            &path,
            Some(&app.token),
            Some("userName=x".into()),
            &[("content-type", "application/x-www-form-urlencoded")],
        )
        .await;
    assert_scim_error(&r, 415, None);
    let r = app.get("/Users").await;
    assert_eq!(r.body["totalResults"], 1, "only the admin exists");
}

#[tokio::test]
async fn wrong_types_and_unknown_attributes() {
    let app = TestApp::new().await;
    let cases = [
        json!({"userName": 12}),
        json!({"userName": "x", "active": "perhaps"}),
        json!({"userName": "x", "emails": "not-a-list-of-objects"}),
        json!({"userName": "x", "name": ["array"]}),
        json!({"userName": "x", "favouriteColour": "blue"}),
        json!({"userName": "x", "schemas": ["urn:example:unknown"]}),
        json!({"userName": "x", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"unknown": 1}}),
        json!({"displayName": "no userName"}),
    ];
    for c in cases {
        let r = app.post("/Users", c.clone()).await;
        assert_scim_error(&r, 400, Some("invalidValue"));
    }
    assert_eq!(app.get("/Users").await.body["totalResults"], 1);
}

#[tokio::test]
async fn oversized_body_is_413_and_nothing_stored() {
    let app = TestApp::new().await;
    let big = json!({"userName": "big@example.com", "displayName": "x".repeat(2 * 1024 * 1024)});
    let r = app.post("/Users", big).await;
    assert_scim_error(&r, 413, Some("tooMany"));
    assert_eq!(app.get("/Users?filter=userName+eq+%22big%40example.com%22").await.body["totalResults"], 0);
}

#[tokio::test]
async fn bad_patches_change_nothing() {
    let app = TestApp::new().await;
    let id = app.user("p@example.com").await;
    let before = app.get(&format!("/Users/{id}")).await.body;
    let cases = [
        (
            json!({"Operations": [{"op": "replace", "path": "active", "value": false}, {"op": "replace", "path": "nope", "value": 1}]}),
            "invalidPath",
        ),
        (
            patch_body(
                json!([{"op": "replace", "path": "displayName", "value": "changed"}, {"op": "remove"}]),
            ),
            "noTarget",
        ),
        (patch_body(json!([{"op": "replace", "path": "userName", "value": 5}])), "invalidValue"),
        (patch_body(json!([{"op": "replace", "path": "emails[type eq", "value": 5}])), "invalidPath"),
        (
            patch_body(json!([{"op": "replace", "path": "meta.created", "value": "2020-01-01T00:00:00Z"}])),
            "mutability",
        ),
        (patch_body(json!([{"op": "jump", "path": "displayName", "value": "x"}])), "invalidSyntax"),
        (
            json!({"schemas": ["urn:wrong"], "Operations": [{"op": "add", "path": "title", "value": "x"}]}),
            "invalidSyntax",
        ),
        (json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"]}), "invalidSyntax"),
    ];
    for (body, scim_type) in cases {
        let r = app.patch(&format!("/Users/{id}"), body.clone()).await;
        assert_scim_error(&r, 400, Some(scim_type));
    }
    let after = app.get(&format!("/Users/{id}")).await.body;
    assert_eq!(before, after);
}

#[tokio::test]
async fn credentials_of_one_account_never_reach_another() {
    let app = TestApp::new().await;
    let other_token = app.other_account("globex").await;
    let id = app.user("secret@acme.test").await;
    // Acme's data with globex's token (on acme's path): 401, no leak.
    for path in ["/Users", &format!("/Users/{id}"), "/Groups", "/ServiceProviderConfig", "/Schemas"] {
        let r = app.send(Method::GET, &app.scim(path), Some(&other_token), None, &[]).await;
        assert_scim_error(&r, 401, None);
    }
    // Acme's token on globex's path: 401; on a nonexistent account's path: the same 401.
    let r =
        app.send(Method::GET, "/gateway/ng/api/scim/account/globex/Users", Some(&app.token), None, &[]).await;
    assert_scim_error(&r, 401, None);
    let r =
        app.send(Method::GET, "/gateway/ng/api/scim/account/nosuch/Users", Some(&app.token), None, &[]).await;
    assert_scim_error(&r, 401, None);
    // Globex, on its own path, sees none of acme's users and cannot touch them by id.
    let gpath = |p: &str| format!("/gateway/ng/api/scim/account/globex{p}");
    let r = app.send(Method::GET, &gpath("/Users"), Some(&other_token), None, &[]).await;
    assert_eq!(r.body["totalResults"], 1, "{}", r.text);
    let r = app.send(Method::GET, &gpath(&format!("/Users/{id}")), Some(&other_token), None, &[]).await;
    assert_scim_error(&r, 404, None);
    let r = app.send(Method::DELETE, &gpath(&format!("/Users/{id}")), Some(&other_token), None, &[]).await;
    assert_scim_error(&r, 404, None);
    let body = patch_body(json!([{"op": "replace", "path": "active", "value": false}])).to_string();
    let r =
        app.send(Method::PATCH, &gpath(&format!("/Users/{id}")), Some(&other_token), Some(body), &[]).await;
    assert_scim_error(&r, 404, None);
    // And globex cannot put acme's user into its group.
    let body = json!({"displayName": "steal", "members": [{"value": id}]}).to_string();
    let r = app.send(Method::POST, &gpath("/Groups"), Some(&other_token), Some(body), &[]).await;
    assert_scim_error(&r, 400, Some("invalidValue"));
    assert_eq!(app.get(&format!("/Users/{id}")).await.status, StatusCode::OK);
}

#[tokio::test]
async fn unknown_endpoints_and_operations() {
    let app = TestApp::new().await;
    let r = app.get("/Nope").await;
    assert_scim_error(&r, 404, None);
    assert_eq!(app.send(Method::GET, "/healthz", None, None, &[]).await.status, StatusCode::OK);
    assert_eq!(app.send(Method::GET, "/readyz", None, None, &[]).await.status, StatusCode::OK);
    let r = app.send(Method::GET, "/healthz", None, None, &[("x-request-id", "my-req-1")]).await;
    assert_eq!(r.header("x-request-id"), Some("my-req-1"));
    let r = app.send(Method::GET, "/healthz", None, None, &[]).await;
    assert!(r.header("x-request-id").is_some_and(|v| !v.is_empty()));
}

#[tokio::test]
async fn deleted_token_owner_loses_access() {
    // Tokens act for their user: deleting that user revokes its tokens.
    let app = TestApp::new().await;
    let r = app.delete(&format!("/Users/{}", app.admin_user_id)).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_scim_error(&app.get("/Users").await, 401, None);
}
