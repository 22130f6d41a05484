//! /Users: create, read, replace, patch, delete, ETags.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::common::{TestApp, assert_scim_error, patch_body};

#[tokio::test]
async fn create_get_replace_delete() {
    let app = TestApp::new().await;
    let r = app
        .post(
            "/Users",
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
                            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
                "userName": "bjensen@example.com",
                "externalId": "ext-1",
                "name": {"givenName": "Barbara", "familyName": "Jensen"},
                "emails": [{"value": "bjensen@example.com", "type": "work", "primary": true}],
                "active": true,
                "password": "t1meMa$heen",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": "701984", "department": "Tour Operations"}
            }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.header("content-type"), Some("application/scim+json"));
    let id = r.body["id"].as_str().expect("id").to_string();
    let location = r.header("location").expect("location").to_string();
    assert!(location.ends_with(&format!("/Users/{id}")), "{location}");
    assert_eq!(r.body["meta"]["location"], location);
    assert_eq!(r.body["meta"]["resourceType"], "User");
    assert_eq!(r.header("etag"), Some("W/\"1\""));
    assert_eq!(r.body["meta"]["version"], "W/\"1\"");
    assert!(r.body.get("password").is_none(), "password is never returned");
    assert_eq!(
        r.body["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["department"],
        "Tour Operations"
    );

    let g = app.get(&format!("/Users/{id}")).await;
    assert_eq!(g.status, StatusCode::OK);
    assert_eq!(g.body["userName"], "bjensen@example.com");
    assert_eq!(g.body["name"]["familyName"], "Jensen");

    // PUT replaces: attributes not sent are removed; read-only ones are ignored.
    let p = app
        .put(
            &format!("/Users/{id}"),
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": "ignored",
                   "userName": "bjensen@example.com", "displayName": "Babs", "active": false}),
        )
        .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.text);
    assert_eq!(p.body["id"], id.as_str());
    assert_eq!(p.body["displayName"], "Babs");
    assert_eq!(p.body["active"], false);
    assert!(p.body.get("name").is_none());
    assert!(p.body.get("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User").is_none());
    assert_eq!(p.body["meta"]["version"], "W/\"2\"");
    assert_eq!(p.body["meta"]["created"], r.body["meta"]["created"]);

    let d = app.delete(&format!("/Users/{id}")).await;
    assert_eq!(d.status, StatusCode::NO_CONTENT);
    assert_scim_error(&app.get(&format!("/Users/{id}")).await, 404, None);
    assert_scim_error(&app.delete(&format!("/Users/{id}")).await, 404, None);
}

#[tokio::test]
async fn duplicate_user_name_is_409_case_insensitively() {
    let app = TestApp::new().await;
    app.user("Alice@Example.com").await;
    let r = app.post("/Users", json!({"userName": "alice@example.COM"})).await;
    assert_scim_error(&r, 409, Some("uniqueness"));
    // Renaming another user onto a taken name is 409 too, and changes nothing.
    let bob = app.user("bob@example.com").await;
    let r = app.put(&format!("/Users/{bob}"), json!({"userName": "ALICE@example.com"})).await;
    assert_scim_error(&r, 409, Some("uniqueness"));
    let r = app
        .patch(
            &format!("/Users/{bob}"),
            patch_body(json!([{"op": "replace", "path": "userName", "value": "alice@EXAMPLE.com"}])),
        )
        .await;
    assert_scim_error(&r, 409, Some("uniqueness"));
    assert_eq!(app.get(&format!("/Users/{bob}")).await.body["userName"], "bob@example.com");
}

#[tokio::test]
async fn deactivated_user_is_still_readable() {
    let app = TestApp::new().await;
    let id = app.user("d@example.com").await;
    let r = app
        .patch(
            &format!("/Users/{id}"),
            patch_body(json!([{"op": "replace", "path": "active", "value": false}])),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["active"], false);
    let g = app.get(&format!("/Users/{id}")).await;
    assert_eq!(g.status, StatusCode::OK);
    assert_eq!(g.body["active"], false);
}

#[tokio::test]
async fn etags_if_match_and_if_none_match() {
    let app = TestApp::new().await;
    let id = app.user("e@example.com").await;
    let path = app.scim(&format!("/Users/{id}"));
    let r = app.send(Method::GET, &path, Some(&app.token), None, &[("if-none-match", "W/\"1\"")]).await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);
    let r = app.send(Method::GET, &path, Some(&app.token), None, &[("if-none-match", "W/\"7\"")]).await;
    assert_eq!(r.status, StatusCode::OK);

    let body = patch_body(json!([{"op": "replace", "path": "displayName", "value": "E"}])).to_string();
    let r = app
        .send(Method::PATCH, &path, Some(&app.token), Some(body.clone()), &[("if-match", "W/\"9\"")])
        .await;
    assert_scim_error(&r, 412, None);
    let r = app
        .send(Method::PATCH, &path, Some(&app.token), Some(body.clone()), &[("if-match", "W/\"1\"")])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.header("etag"), Some("W/\"2\""));
    // The old tag no longer matches, for PUT and DELETE too.
    let put = json!({"userName": "e@example.com"}).to_string();
    let r = app.send(Method::PUT, &path, Some(&app.token), Some(put), &[("if-match", "W/\"1\"")]).await;
    assert_scim_error(&r, 412, None);
    let r = app.send(Method::DELETE, &path, Some(&app.token), None, &[("if-match", "W/\"1\"")]).await;
    assert_scim_error(&r, 412, None);
    let r = app.send(Method::DELETE, &path, Some(&app.token), None, &[("if-match", "W/\"2\"")]).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn patch_rfc_operations() {
    let app = TestApp::new().await;
    let id = app.user("p@example.com").await;
    let r = app
        .patch(
            &format!("/Users/{id}"),
            patch_body(json!([
                {"op": "add", "path": "emails", "value": [{"value": "home@example.com", "type": "home"}]},
                {"op": "replace", "path": "name.givenName", "value": "Pat"},
                {"op": "remove", "path": "name.familyName"},
                {"op": "add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter", "value": "4130"},
                {"op": "replace", "path": "emails[type eq \"work\"].display", "value": "Work"},
            ])),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["emails"].as_array().map(Vec::len), Some(2));
    assert_eq!(r.body["emails"][0]["display"], "Work");
    assert_eq!(r.body["name"], json!({"givenName": "Pat"}));
    assert_eq!(r.body["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["costCenter"], "4130");
    assert!(r.body["schemas"].as_array().is_some_and(|s| s.len() == 2));
    let r = app
        .patch(
            &format!("/Users/{id}"),
            patch_body(json!([{"op": "remove", "path": "emails[type eq \"home\"]"}])),
        )
        .await;
    assert_eq!(r.body["emails"].as_array().map(Vec::len), Some(1), "{}", r.text);
}

#[tokio::test]
async fn user_groups_attribute_is_read_only_and_computed() {
    let app = TestApp::new().await;
    let u = app.user("g@example.com").await;
    let g = app.group("Engineering", &[&u]).await;
    let r = app.get(&format!("/Users/{u}")).await;
    assert_eq!(r.body["groups"][0]["value"], g.as_str(), "{}", r.text);
    assert_eq!(r.body["groups"][0]["display"], "Engineering");
    let r = app
        .patch(
            &format!("/Users/{u}"),
            patch_body(json!([{"op": "add", "path": "groups", "value": [{"value": g}]}])),
        )
        .await;
    assert_scim_error(&r, 400, Some("mutability"));
}

/// Security review item 12: `Host: evil.example` with `X-Forwarded-Proto: https` came back
/// as `https://evil.example/…` in `Location` and `meta.location`. Now `--public-url` is used
/// when set, forwarded headers only with `--trust-forwarded-for`, and a `Host` that is not a
/// plain authority is never reflected.
#[tokio::test]
async fn review_12_the_host_header_is_not_reflected_into_locations() {
    let hostile =
        [("host", "evil.example"), ("x-forwarded-proto", "https"), ("x-forwarded-host", "evil.example")];
    async fn create(app: &TestApp, name: &str, headers: &[(&str, &str)]) -> (String, String) {
        let body = json!({"userName": name}).to_string();
        let r = app.send(Method::POST, &app.scim("/Users"), Some(&app.token), Some(body), headers).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        let location = r.header("location").expect("Location").to_string();
        (location, r.body["meta"]["location"].as_str().expect("meta").to_string())
    }
    // --public-url wins over every header.
    let app = TestApp::with_config(std::sync::Arc::new(scimgate_domain::SystemClock), |c| {
        c.public_url = Some(scimgate::config::parse_public_url("https://scim.acme.test/").expect("url"));
    })
    .await;
    let (location, meta) = create(&app, "a@acme.test", &hostile).await;
    assert!(
        location.starts_with("https://scim.acme.test/gateway/ng/api/scim/account/acme/Users/"),
        "{location}"
    );
    assert_eq!(location, meta);
    // Without it, forwarded headers are ignored unless trusted, and the scheme stays http.
    let app = TestApp::new().await;
    let (location, _) = create(&app, "b@acme.test", &hostile).await;
    assert!(location.starts_with("http://evil.example/"), "the Host of the request, over http: {location}");
    let (location, _) = create(&app, "c@acme.test", &[("host", "evil.example/x?y=@z")]).await;
    assert!(
        !location.contains("evil.example"),
        "a Host that is not an authority is not reflected: {location}"
    );
    // Behind a trusted proxy, its headers name the public address.
    let app = TestApp::with_config(std::sync::Arc::new(scimgate_domain::SystemClock), |c| {
        c.trust_forwarded_for = true
    })
    .await;
    let (location, _) = create(
        &app,
        "d@acme.test",
        &[("host", "10.0.0.5:8080"), ("x-forwarded-proto", "https"), ("x-forwarded-host", "scim.acme.test")],
    )
    .await;
    assert!(location.starts_with("https://scim.acme.test/gateway/"), "{location}");
}

/// Security review item 11: a user stored with `displayName: "ÖZTÜRK"` was not found by
/// `displayName eq "ÖZTÜRK"` (SQLite's `lower()` folds ASCII only), so an identity provider
/// that looks up before creating made duplicates; NFC and NFD spellings of `josé@…` could
/// both be created. Matching now folds and normalises (NFC) in Rust, the same on both
/// backends.
#[tokio::test]
async fn review_11_non_ascii_case_and_normalisation_are_one_name() {
    let app = TestApp::new().await;
    let r = app.post("/Users", json!({"userName": "ozturk@acme.test", "displayName": "ÖZTÜRK"})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    for filter in [
        "displayName eq \"ÖZTÜRK\"",
        "displayName eq \"öztürk\"",
        "displayName co \"TÜR\"",
        "displayName sw \"Öz\"",
    ] {
        let q = filter.replace(' ', "%20").replace('"', "%22");
        let r = app.get(&format!("/Users?filter={q}")).await;
        assert_eq!(r.body["totalResults"], 1, "{filter}: {}", r.text);
    }
    let nfc = "jos\u{e9}@acme.test";
    let nfd = "jose\u{301}@acme.test";
    assert_eq!(app.post("/Users", json!({"userName": nfc})).await.status, StatusCode::CREATED);
    assert_scim_error(&app.post("/Users", json!({"userName": nfd})).await, 409, Some("uniqueness"));
    assert_scim_error(
        &app.post("/Users", json!({"userName": "JOS\u{c9}@ACME.TEST"})).await,
        409,
        Some("uniqueness"),
    );
    let q = format!("userName eq \"{nfd}\"").replace(' ', "%20").replace('"', "%22");
    assert_eq!(app.get(&format!("/Users?filter={q}")).await.body["totalResults"], 1);
}
