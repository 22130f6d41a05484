//! The request shapes Microsoft Entra ID and Okta really send (docs/interop.md).

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::common::{TestApp, assert_scim_error, patch_body};

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

#[tokio::test]
async fn entra_test_connection() {
    let app = TestApp::new().await;
    let r = app.get("/Users?filter=userName+eq+%22a9f1c3f0-2b7e-4c1e-9b1d-7c8e2f0a1b2c%22").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["totalResults"], 0);
    assert_eq!(r.body["Resources"], json!([]));
    assert_scim_error(&app.get("/Users/8d2f0c52-7a3b-4d5e-9f10-1a2b3c4d5e6f").await, 404, None);
    assert_scim_error(&app.get("/Groups/8d2f0c52-7a3b-4d5e-9f10-1a2b3c4d5e6f").await, 404, None);
}

#[tokio::test]
async fn entra_matching_by_user_name_external_id_and_group_display_name() {
    let app = TestApp::new().await;
    let r = app
        .post(
            "/Users",
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
                   "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef", "userName": "Test_User_ab6490ee@contoso.com",
                   "active": true, "displayName": "Test User",
                   "emails": [{"primary": true, "type": "work", "value": "Test_User_fd0ea19b@contoso.com"}],
                   "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
                   ENTERPRISE: {"department": "Sales"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let id = r.body["id"].as_str().expect("id").to_string();
    let r = app.get("/Users?filter=userName+eq+%22test_user_ab6490ee%40contoso.com%22").await;
    assert_eq!(r.body["totalResults"], 1, "{}", r.text);
    assert_eq!(r.body["Resources"][0]["id"], id.as_str());
    let r = app.get("/Users?filter=externalId+eq+%220a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef%22").await;
    assert_eq!(r.body["totalResults"], 1, "{}", r.text);
    let g = app.group("Sales Team", &[&id]).await;
    let r = app.get("/Groups?excludedAttributes=members&filter=displayName+eq+%22Sales+Team%22").await;
    assert_eq!(r.body["totalResults"], 1, "{}", r.text);
    assert_eq!(r.body["Resources"][0]["id"], g.as_str());
    assert!(r.body["Resources"][0].get("members").is_none());
}

#[tokio::test]
async fn entra_default_patch_style() {
    let app = TestApp::new().await;
    let manager = app.user("boss@contoso.com").await;
    let id = app.user("ana@contoso.com").await;
    let r = app
        .patch(
            &format!("/Users/{id}"),
            patch_body(json!([
                {"op": "Replace", "path": "active", "value": "False"},
                {"op": "Add", "value": {
                    "name.givenName": "Ana",
                    "name.familyName": "Lopez",
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "R&D"
                }},
                {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "ana.lopez@contoso.com"},
                {"op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 206 555 0100"},
                {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "value": manager},
            ])),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["active"], false);
    assert_eq!(r.body["name"]["givenName"], "Ana");
    assert_eq!(r.body["name"]["familyName"], "Lopez");
    assert_eq!(
        r.body["emails"],
        json!([{"value": "ana.lopez@contoso.com", "type": "work", "primary": true}])
    );
    assert_eq!(r.body["phoneNumbers"], json!([{"type": "mobile", "value": "+1 206 555 0100"}]));
    assert_eq!(r.body[ENTERPRISE]["department"], "R&D");
    assert_eq!(r.body[ENTERPRISE]["manager"]["value"], manager.as_str());
    // Manager as {"value": ...}, then "True" to reactivate.
    let r = app
        .patch(
            &format!("/Users/{id}"),
            patch_body(json!([
                {"op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "value": {"value": "other"}},
                {"op": "Replace", "path": "active", "value": "True"},
            ])),
        )
        .await;
    assert_eq!(r.body[ENTERPRISE]["manager"]["value"], "other", "{}", r.text);
    assert_eq!(r.body["active"], true);
    // Removing the manager.
    let r = app
        .patch(
            &format!("/Users/{id}"),
            patch_body(json!([{"op": "Remove", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"}])),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["id"], id.as_str(), "{}", r.text);
    assert!(r.body[ENTERPRISE].get("manager").is_none(), "{}", r.text);
}

#[tokio::test]
async fn entra_group_lifecycle() {
    let app = TestApp::new().await;
    let users: Vec<String> = {
        let mut v = Vec::new();
        for i in 0..4 {
            v.push(app.user(&format!("u{i}@contoso.com")).await);
        }
        v
    };
    let r = app
        .post("/Groups", json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159", "displayName": "displayName", "members": []}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let g = r.body["id"].as_str().expect("id").to_string();
    let add: Vec<_> = users.iter().map(|u| json!({"value": u})).collect();
    let r = app
        .patch(&format!("/Groups/{g}"), patch_body(json!([{"op": "Add", "path": "members", "value": add}])))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    // Remove only the listed members, never all.
    let r = app
        .patch(&format!("/Groups/{g}"), patch_body(json!([{"op": "Remove", "path": "members", "value": [{"value": users[0]}, {"value": users[1]}]}])))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let r = app.get(&format!("/Groups/{g}")).await;
    let mut left: Vec<String> = r.body["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| m["value"].as_str().unwrap_or_default().to_string())
        .collect();
    left.sort();
    let mut want = vec![users[2].clone(), users[3].clone()];
    want.sort();
    assert_eq!(left, want);
    let r = app
        .patch(
            &format!("/Groups/{g}"),
            patch_body(json!([{"op": "Replace", "path": "displayName", "value": "renamed"}])),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(app.get(&format!("/Groups/{g}")).await.body["displayName"], "renamed");
}

#[tokio::test]
async fn okta_list_and_filter() {
    let app = TestApp::new().await;
    app.user("Okta.User@example.com").await;
    let r = app.get("/Users?count=1&startIndex=1").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.body["totalResults"].is_u64() && r.body["itemsPerPage"].is_u64() && r.body["startIndex"].is_u64(),
        "{}",
        r.text
    );
    assert_eq!(r.body["totalResults"], 2, "admin + one user");
    assert_eq!(r.body["itemsPerPage"], 1);
    let u = &r.body["Resources"][0];
    assert!(u["name"]["givenName"].is_string() || u["userName"] == "admin@acme.test");
    let r =
        app.get("/Users?filter=userName%20eq%20%22okta.user%40EXAMPLE.com%22&startIndex=1&count=100").await;
    assert_eq!(r.body["totalResults"], 1, "{}", r.text);
    let user = &r.body["Resources"][0];
    assert_eq!(user["name"]["givenName"], "Given");
    assert_eq!(user["name"]["familyName"], "Family");
    assert_eq!(user["emails"][0]["value"], "Okta.User@example.com");
    assert_eq!(user["active"], true);
    let r = app.get("/Users?filter=userName%20eq%20%22nobody%40example.com%22").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["totalResults"], 0);
}

#[tokio::test]
async fn okta_create_with_application_json_and_duplicate() {
    let app = TestApp::new().await;
    let body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "isaac.brock@example.com",
        "name": {"givenName": "Isaac", "familyName": "Brock"},
        "emails": [{"primary": true, "value": "isaac.brock@example.com", "type": "work"}],
        "displayName": "Isaac Brock", "locale": "en-US", "externalId": "00ujl29u0le5T6Aj10h7", "groups": [], "password": "1mz050nq", "active": true})
    .to_string();
    let path = app.scim("/Users");
    let r = app
        .send(
            Method::POST,
            &path,
            Some(&app.token),
            Some(body.clone()),
            &[("content-type", "application/json; charset=utf-8")],
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let r = app
        .send(Method::POST, &path, Some(&app.token), Some(body), &[("content-type", "application/json")])
        .await;
    assert_scim_error(&r, 409, Some("uniqueness"));
}

#[tokio::test]
async fn okta_deactivate_and_put_keeps_active() {
    let app = TestApp::new().await;
    let id = app.user("okta@example.com").await;
    let r = app
        .patch(&format!("/Users/{id}"), patch_body(json!([{"op": "replace", "value": {"active": false}}])))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["active"], false);
    let r = app
        .put(
            &format!("/Users/{id}"),
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": id, "userName": "okta@example.com",
                   "name": {"givenName": "New", "familyName": "Name"}, "emails": [{"primary": true, "value": "okta@example.com", "type": "work"}],
                   "active": false}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["active"], false);
    assert_eq!(r.body["name"]["givenName"], "New");
}

#[tokio::test]
async fn okta_group_push() {
    let app = TestApp::new().await;
    let a = app.user("a@example.com").await;
    let b = app.user("b@example.com").await;
    let g = app.group("Pushed", &[&a]).await;
    let r = app
        .patch(
            &format!("/Groups/{g}"),
            patch_body(json!([{"op": "replace", "value": {"id": g, "displayName": "Pushed v2", "members": [{"value": b, "display": "b@example.com"}]}}])),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let r = app.get(&format!("/Groups/{g}")).await;
    assert_eq!(r.body["displayName"], "Pushed v2");
    assert_eq!(r.body["members"].as_array().map(Vec::len), Some(1));
    assert_eq!(r.body["members"][0]["value"], b.as_str());
}

#[tokio::test]
async fn okta_errors_are_json_and_wrong_token_is_401() {
    let app = TestApp::new().await;
    let path = app.scim("/Users");
    let r = app.send(Method::GET, &path, Some("pat.acme.nope.nope"), None, &[]).await;
    assert_scim_error(&r, 401, None);
    assert_eq!(r.header("www-authenticate"), Some("Bearer realm=\"scimgate\", error=\"invalid_token\""));
    let r = app.send(Method::GET, &path, None, None, &[]).await;
    assert_scim_error(&r, 401, None);
    let r = app.send(Method::GET, &path, Some("garbage"), None, &[]).await;
    assert_scim_error(&r, 401, None);
}

#[tokio::test]
async fn entra_keeps_one_value_per_type() {
    // Entra re-sends `emails[type eq "work"].value` on every update: it must replace the work
    // email, never add a second one.
    let app = TestApp::new().await;
    let id = app.user("one@contoso.com").await;
    for v in ["first@contoso.com", "second@contoso.com"] {
        let r = app
            .patch(
                &format!("/Users/{id}"),
                patch_body(json!([{"op": "Add", "path": "emails[type eq \"work\"].value", "value": v}])),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    }
    let r = app.get(&format!("/Users/{id}")).await;
    assert_eq!(r.body["emails"], json!([{"value": "second@contoso.com", "type": "work", "primary": true}]));
}
