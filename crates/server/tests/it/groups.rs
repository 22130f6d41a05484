//! /Groups: membership in its own table, PATCH semantics, 204 responses.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::common::{TestApp, assert_scim_error, patch_body};

#[tokio::test]
async fn group_crud_and_members() {
    let app = TestApp::new().await;
    let a = app.user("a@example.com").await;
    let b = app.user("b@example.com").await;
    let g = app.group("Admins", &[&a]).await;
    let r = app.get(&format!("/Groups/{g}")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["displayName"], "Admins");
    assert_eq!(r.body["members"][0]["value"], a.as_str());
    assert_eq!(r.body["members"][0]["type"], "User");
    assert!(r.body["members"][0].get("display").is_none(), "display is returned only as a client sent it");
    assert!(r.body["members"][0]["$ref"].as_str().is_some_and(|s| s.ends_with(&format!("/Users/{a}"))));

    let r = app
        .patch(
            &format!("/Groups/{g}"),
            patch_body(json!([{"op": "add", "path": "members", "value": [{"value": b, "display": "Bee"}]}])),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    assert_eq!(r.header("etag"), Some("W/\"2\""));
    let r = app.get(&format!("/Groups/{g}")).await;
    assert_eq!(r.body["members"].as_array().map(Vec::len), Some(2));

    // With attributes asked for, PATCH answers 200 with the resource.
    let r = app
        .patch(
            &format!("/Groups/{g}?attributes=members"),
            patch_body(json!([{"op": "remove", "path": format!("members[value eq \"{a}\"]")}])),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        r.body["members"],
        json!([{"value": b, "$ref": r.body["members"][0]["$ref"], "display": "Bee", "type": "User"}])
    );
    assert!(r.body.get("displayName").is_none());

    // excludedAttributes=members never shows members.
    let r = app.get(&format!("/Groups/{g}?excludedAttributes=members")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(r.body.get("members").is_none());
    assert_eq!(r.body["displayName"], "Admins");

    // Nested group, then delete a member user: membership goes with it.
    let outer = app.group("Outer", &[&g]).await;
    let r = app.get(&format!("/Groups/{outer}")).await;
    assert_eq!(r.body["members"][0]["type"], "Group");
    assert_eq!(app.delete(&format!("/Users/{b}")).await.status, StatusCode::NO_CONTENT);
    let r = app.get(&format!("/Groups/{g}")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(r.body.get("members").is_none(), "{}", r.text);

    // PUT replaces members.
    let r =
        app.put(&format!("/Groups/{g}"), json!({"displayName": "Admins 2", "members": [{"value": a}]})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["members"][0]["value"], a.as_str());
    assert_eq!(app.delete(&format!("/Groups/{g}")).await.status, StatusCode::NO_CONTENT);
    let r = app.get(&format!("/Groups/{outer}")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(r.body.get("members").is_none(), "{}", r.text);
}

#[tokio::test]
async fn bad_members_are_rejected_and_nothing_changes() {
    let app = TestApp::new().await;
    let a = app.user("a@example.com").await;
    let g = app.group("G", &[&a]).await;
    let r = app
        .patch(
            &format!("/Groups/{g}"),
            patch_body(json!([
                {"op": "remove", "path": "members"},
                {"op": "add", "path": "members", "value": [{"value": "no-such-id"}]}
            ])),
        )
        .await;
    assert_scim_error(&r, 400, Some("invalidValue"));
    let r = app.get(&format!("/Groups/{g}")).await;
    assert_eq!(r.body["members"][0]["value"], a.as_str(), "the failed PATCH must not remove members");
    assert_eq!(r.body["meta"]["version"], "W/\"1\"");
    let r = app.post("/Groups", json!({"displayName": "H", "members": [{"value": "nope"}]})).await;
    assert_scim_error(&r, 400, Some("invalidValue"));
    let r = app.get("/Groups?filter=displayName%20eq%20%22H%22").await;
    assert_eq!(r.body["totalResults"], 0, "a failed create leaves no group behind");
    let r = app
        .patch(
            &format!("/Groups/{g}"),
            patch_body(json!([{"op": "add", "path": "members", "value": [{"value": g}]}])),
        )
        .await;
    assert_scim_error(&r, 400, Some("invalidValue"));
    let r = app.post("/Groups", json!({"members": []})).await;
    assert_scim_error(&r, 400, Some("invalidValue"));
}

#[tokio::test]
async fn membership_patch_on_an_unknown_group_is_404_and_creates_nothing() {
    // (That a membership-only PATCH never reads the group document is a unit test of the
    // domain: tests::scim::a_member_only_group_patch_is_one_write.)
    let app = TestApp::new().await;
    let a = app.user("a@example.com").await;
    let r = app
        .patch(
            "/Groups/unknown",
            patch_body(json!([{"op": "add", "path": "members", "value": [{"value": a}]}])),
        )
        .await;
    assert_scim_error(&r, 404, None);
    let list = app.get("/Groups").await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text);
    assert_eq!(list.body["totalResults"], 0, "{}", list.text);
}

/// Members are looked up and written in batches: the first bad member in the request's order
/// is the error and nothing is written; a member named twice is added once, with the last
/// display given.
#[tokio::test]
async fn batched_member_writes_keep_the_rules_in_order() {
    let app = TestApp::new().await;
    let a = app.user("a@batch.test").await;
    let b = app.user("b@batch.test").await;
    let g = app.group("Batch", &[]).await;
    let path = format!("/Groups/{g}");
    let add = |value: Value| patch_body(json!([{"op": "add", "path": "members", "value": value}]));
    let r =
        app.patch(&path, add(json!([{"value": a}, {"value": "missing-1"}, {"value": "missing-2"}]))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert!(r.body["detail"].as_str().is_some_and(|d| d.contains("'missing-1'")), "{}", r.text);
    let r = app.patch(&path, add(json!([{"value": b}, {"value": a, "type": "Group"}]))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert!(r.body["detail"].as_str().is_some_and(|d| d.contains("is a User, not a Group")), "{}", r.text);
    let r = app.patch(&path, add(json!([{"value": b}, {"value": g}]))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    // Another account's user is not a user of this one.
    let token = app.other_account("globex").await;
    let body =
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "x@globex.test"});
    let theirs = app
        .send(
            axum::http::Method::POST,
            "/gateway/ng/api/scim/account/globex/Users",
            Some(&token),
            Some(body.to_string()),
            &[],
        )
        .await;
    assert_eq!(theirs.status, StatusCode::CREATED, "{}", theirs.text);
    let theirs = theirs.body["id"].as_str().expect("id").to_string();
    let r = app.patch(&path, add(json!([{"value": b}, {"value": theirs}]))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert!(r.body["detail"].as_str().is_some_and(|d| d.contains("in this account")), "{}", r.text);
    let got = app.get(&path).await;
    assert!(
        got.body.get("members").is_none_or(|m| m.as_array().is_some_and(|m| m.is_empty())),
        "{}",
        got.text
    );

    let r = app
        .patch(
            &path,
            add(json!([{"value": a, "display": "One"}, {"value": b}, {"value": a, "display": "Uno"}])),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.text);
    let got = app.get(&path).await;
    let members = got.body["members"].as_array().expect("members").clone();
    assert_eq!(members.len(), 2, "{}", got.text);
    let first = members.iter().find(|m| m["value"] == a.as_str()).expect("a");
    assert_eq!(first["display"], "Uno", "the last display given wins: {}", got.text);
}

/// A group larger than a page of members (1,000) is written out page by page
/// (http/group_stream.rs): the answer is the same document a whole read gives, members in
/// id order, with the ETag, `If-None-Match`, and `attributes` / `excludedAttributes` on the
/// members as for a small group.
#[tokio::test]
async fn a_large_group_is_written_out_page_by_page_as_the_same_document() {
    let app = TestApp::new().await;
    let mut ids = Vec::new();
    for batch in 0..2 {
        let ops: Vec<Value> = (0..1000)
            .map(|i| {
                json!({"method": "POST", "path": "/Users", "bulkId": format!("u{i}"),
                       "data": {"userName": format!("m{batch}-{i}@big.test")}})
            })
            .collect();
        let r = app
            .post(
                "/Bulk",
                json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": ops}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        for op in r.body["Operations"].as_array().expect("operations") {
            assert_eq!(op["status"], "201", "{op}");
            let location = op["location"].as_str().expect("location");
            ids.push(location.rsplit('/').next().expect("id").to_string());
        }
    }
    let g = app.group("Everyone", &[]).await;
    let path = format!("/Groups/{g}");
    for chunk in ids.chunks(1000) {
        let value: Vec<Value> =
            chunk.iter().map(|id| json!({"value": id, "display": format!("d-{id}")})).collect();
        let r = app.patch(&path, patch_body(json!([{"op": "add", "path": "members", "value": value}]))).await;
        assert!(r.status.is_success(), "{}", r.text);
    }
    ids.sort();

    let full = app.get(&path).await;
    assert_eq!(full.status, StatusCode::OK, "{}", full.text);
    assert!(full.header("content-length").is_none(), "written out in pages, not as one buffer");
    let members = full.body["members"].as_array().expect("members");
    let got: Vec<&str> = members.iter().map(|m| m["value"].as_str().expect("value")).collect();
    assert_eq!(got, ids.iter().map(String::as_str).collect::<Vec<_>>(), "every member once, in id order");
    let first = &members[0];
    assert_eq!(first["type"], "User");
    assert_eq!(first["display"], format!("d-{}", ids[0]));
    assert!(first["$ref"].as_str().is_some_and(|r| r.ends_with(&format!("/Users/{}", ids[0]))), "{first}");
    assert_eq!(full.body["displayName"], "Everyone");
    let keys: Vec<&str> = full.body.as_object().expect("object").keys().map(String::as_str).collect();
    assert_eq!(keys, ["schemas", "id", "displayName", "members", "meta"], "{keys:?}");
    let version = full.body["meta"]["version"].as_str().expect("version");
    assert_eq!(full.header("etag"), Some(version));

    let r = app
        .send(
            axum::http::Method::GET,
            &app.scim(&path),
            Some(&app.token),
            None,
            &[("if-none-match", version)],
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED, "{}", r.text);

    let r = app.get(&format!("{path}?excludedAttributes=members.display")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let members = r.body["members"].as_array().expect("members");
    assert_eq!(members.len(), 2000);
    assert!(members.iter().all(|m| m.get("display").is_none() && m.get("value").is_some()), "{}", members[0]);

    let r = app.get(&format!("{path}?attributes=members.value")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let keys: Vec<&str> = r.body.as_object().expect("object").keys().map(String::as_str).collect();
    assert_eq!(keys, ["schemas", "id", "members"], "{}", &r.text[..200]);
    let members = r.body["members"].as_array().expect("members");
    assert_eq!(members.len(), 2000);
    assert!(members.iter().all(|m| m.as_object().is_some_and(|o| o.len() == 1)), "{}", members[0]);

    let r = app.get(&format!("{path}?excludedAttributes=members")).await;
    assert!(r.body.get("members").is_none() && r.header("content-length").is_some(), "{}", r.text);
}
