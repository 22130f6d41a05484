//! The audit log and the SCIM request log (docs/audit.md): an entry for every write, in the
//! write's transaction; `GET /gateway/ng/api/audit` and `/scim-requests` with their filters,
//! keyset paging and permission; redaction; retention.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{Res, TestApp, patch_body};

fn audit_url(query: &str) -> String {
    format!("/gateway/ng/api/audit?accountIdentifier=acme&{query}")
}

fn entries(r: &Res) -> Vec<Value> {
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.body["data"]["entries"].as_array().cloned().unwrap_or_default()
}

async fn audit(app: &TestApp, query: &str) -> Vec<Value> {
    entries(&app.admin(Method::GET, &audit_url(query), None).await)
}

/// A service account holding `role` on every account resource, and its token.
async fn token_with_role(app: &TestApp, ident: &str, role: &str) -> String {
    let q = "accountIdentifier=acme";
    let sa = app
        .admin(
            Method::POST,
            &format!("/gateway/ng/api/serviceaccount?{q}"),
            Some(json!({"identifier": ident, "name": ident, "email": format!("{ident}@acme.test")})),
        )
        .await;
    assert_eq!(sa.status, StatusCode::OK, "{}", sa.text);
    if !role.is_empty() {
        let ra = app
            .admin(
                Method::POST,
                &format!("/gateway/authz/api/roleassignments?{q}"),
                Some(
                    json!({"roleIdentifier": role, "resourceGroupIdentifier": "_all_account_level_resources",
                    "principal": {"identifier": ident, "type": "SERVICE_ACCOUNT"}}),
                ),
            )
            .await;
        assert_eq!(ra.status, StatusCode::OK, "{}", ra.text);
    }
    let k = app
        .admin(
            Method::POST,
            &format!("/gateway/ng/api/apikey?{q}"),
            Some(json!({"identifier": "k", "apiKeyType": "SERVICE_ACCOUNT", "parentIdentifier": ident})),
        )
        .await;
    assert_eq!(k.status, StatusCode::OK, "{}", k.text);
    let t = app
        .admin(
            Method::POST,
            &format!("/gateway/ng/api/token?{q}"),
            Some(json!({"identifier": "t", "apiKeyType": "SERVICE_ACCOUNT", "parentIdentifier": ident, "apiKeyIdentifier": "k"})),
        )
        .await;
    t.body["data"].as_str().expect("token").to_string()
}

#[tokio::test]
async fn every_scim_write_is_audited_with_who_what_and_the_members_changed() {
    let app = TestApp::new().await;
    let r = app
        .send(
            Method::POST,
            &app.scim("/Users"),
            Some(&app.token),
            Some(json!({"userName": "ada", "password": "hunter2", "title": "Eng"}).to_string()),
            &[("x-request-id", "req-create-ada")],
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let ada = r.body["id"].as_str().expect("id").to_string();
    let bob = app.user("bob").await;
    let group = app.group("eng", &[&ada]).await;
    let p = app
        .patch(
            &format!("/Users/{ada}"),
            patch_body(json!([{"op": "replace", "path": "title", "value": "Lead"},
                              {"op": "replace", "path": "password", "value": "s3cret-2"}])),
        )
        .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.text);
    let m = app
        .patch(
            &format!("/Groups/{group}"),
            patch_body(json!([{"op": "add", "path": "members", "value": [{"value": bob}, {"value": ada}]},
                              {"op": "remove", "path": format!("members[value eq \"{ada}\"]")}])),
        )
        .await;
    assert_eq!(m.status, StatusCode::NO_CONTENT, "{}", m.text);
    let put = app.put(&format!("/Users/{bob}"), json!({"userName": "bob", "nickName": "B"})).await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.text);
    assert_eq!(app.delete(&format!("/Users/{bob}")).await.status, StatusCode::NO_CONTENT);

    let all = audit(&app, "").await;
    let of = |kind: &str, id: &str| -> Vec<Value> {
        all.iter().filter(|e| e["resourceType"] == kind && e["resourceId"] == id).cloned().collect()
    };
    // Newest first: ada's create is the oldest of ada's entries.
    let ada_entries = of("USER", &ada);
    assert_eq!(ada_entries.len(), 2, "{ada_entries:?}");
    let created = &ada_entries[1];
    assert_eq!(created["action"], "CREATE");
    assert_eq!(created["requestId"], "req-create-ada");
    assert_eq!(created["principal"]["type"], "USER");
    assert_eq!(created["principal"]["identifier"], app.admin_user_id.as_str());
    let token_id = app.token.split('.').nth(2).expect("token id");
    assert_eq!(created["credentialId"], token_id);
    // The password is accepted and discarded (scimgate stores none), so it changes nothing.
    assert_eq!(created["summary"]["attributes"], json!(["title", "userName"]));
    assert_eq!(ada_entries[0]["action"], "PATCH");
    assert_eq!(ada_entries[0]["summary"]["attributes"], json!(["title"]));

    let group_entries = of("GROUP", &group);
    assert_eq!(group_entries.len(), 2, "{group_entries:?}");
    assert_eq!(group_entries[1]["summary"]["members"]["added"], json!([ada]));
    // bob added; ada was a member, added again (no change) and removed.
    assert_eq!(group_entries[0]["summary"]["members"]["added"], json!([bob]));
    assert_eq!(group_entries[0]["summary"]["members"]["removed"], json!([ada]));
    let bob_entries = of("USER", &bob);
    let actions: Vec<&str> = bob_entries.iter().map(|e| e["action"].as_str().unwrap_or("")).collect();
    assert_eq!(actions, ["DELETE", "UPDATE", "CREATE"]);
    // The PUT replaced everything: what `app.user` set and it left out is named too.
    assert_eq!(bob_entries[1]["summary"]["attributes"], json!(["active", "emails", "name", "nickName"]));

    // No secret reaches the log: not the passwords, not the token.
    let text = serde_json::to_string(&all).expect("json");
    for secret in ["hunter2", "s3cret-2", app.token.rsplit('.').next().expect("secret")] {
        assert!(!text.contains(secret), "{secret} in the audit log");
    }
}

#[tokio::test]
async fn a_refused_write_leaves_no_entry_and_bulk_operations_are_audited_one_by_one() {
    let app = TestApp::new().await;
    app.user("ada").await;
    let before = audit(&app, "resourceType=USER").await.len();
    let dup = app.post("/Users", json!({"userName": "ADA"})).await;
    assert_eq!(dup.status, StatusCode::CONFLICT, "{}", dup.text);
    // A role in use cannot be deleted: the entry written before the refusal is rolled back.
    let role = app
        .admin(
            Method::POST,
            "/gateway/authz/api/roles?accountIdentifier=acme",
            Some(json!({"identifier": "r1", "name": "r1", "permissions": ["core_user_view"]})),
        )
        .await;
    assert_eq!(role.status, StatusCode::OK, "{}", role.text);
    app.admin(
        Method::POST,
        "/gateway/authz/api/roleassignments?accountIdentifier=acme",
        Some(json!({"roleIdentifier": "r1", "resourceGroupIdentifier": "_all_account_level_resources",
            "principal": {"identifier": app.admin_user_id, "type": "USER"}})),
    )
    .await;
    let del = app.admin(Method::DELETE, "/gateway/authz/api/roles/r1?accountIdentifier=acme", None).await;
    assert_eq!(del.status, StatusCode::CONFLICT, "{}", del.text);
    assert!(audit(&app, "resourceType=ROLE&action=DELETE").await.is_empty());
    assert_eq!(audit(&app, "resourceType=USER").await.len(), before);

    let bulk = app
        .post(
            "/Bulk",
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": [
                {"method": "POST", "path": "/Users", "bulkId": "a", "data": {"userName": "bulk-a"}},
                {"method": "POST", "path": "/Users", "bulkId": "b", "data": {"userName": "bulk-b"}},
                {"method": "POST", "path": "/Groups", "bulkId": "g", "data": {"displayName": "bulk-g",
                    "members": [{"value": "bulkId:a"}, {"value": "bulkId:b"}]}}
            ]}),
        )
        .await;
    assert_eq!(bulk.status, StatusCode::OK, "{}", bulk.text);
    assert_eq!(audit(&app, "resourceType=USER&action=CREATE").await.len(), before + 2);
    let g = audit(&app, "resourceType=GROUP").await;
    assert_eq!(g.len(), 1);
    assert_eq!(g[0]["summary"]["members"]["addedCount"], 2);
}

#[tokio::test]
async fn product_api_and_settings_writes_are_audited_and_the_settings_trail_is_folded_in() {
    let app = TestApp::new().await;
    let org = app
        .admin(
            Method::POST,
            "/gateway/ng/api/organizations?accountIdentifier=acme",
            Some(json!({"org": {"identifier": "eng", "name": "Engineering"}})),
        )
        .await;
    assert_eq!(org.status, StatusCode::OK, "{}", org.text);
    let upd = app
        .admin(
            Method::PUT,
            "/gateway/ng/api/organizations/eng?accountIdentifier=acme",
            Some(json!({"org": {"identifier": "eng", "name": "Engineering!", "description": "d"}})),
        )
        .await;
    assert_eq!(upd.status, StatusCode::OK, "{}", upd.text);
    let e = audit(&app, "resourceType=ORGANIZATION&resourceId=eng").await;
    assert_eq!(e.len(), 2, "{e:?}");
    assert_eq!(e[0]["action"], "UPDATE");
    assert_eq!(e[0]["summary"]["fields"], json!(["name", "description"]));
    assert_eq!(e[1]["action"], "CREATE");

    let token = token_with_role(&app, "ops", "").await;
    let tokens = audit(&app, "resourceType=TOKEN").await;
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0]["resourceId"], "SERVICE_ACCOUNT/ops/k/t");
    let text = serde_json::to_string(&audit(&app, "").await).expect("json");
    assert!(
        !text.contains(token.rsplit('.').next().expect("secret")),
        "the token's secret is in the audit log"
    );

    // Settings: old → new in the same log, and the settings trail still answers.
    app.store
        .set_feature_flag(
            &scimgate_domain::AccountId::parse("acme").expect("id"),
            "NG_SETTINGS",
            true,
            &crate::common::test_audit(),
        )
        .await
        .expect("flag");
    let put = app
        .admin(
            Method::PUT,
            "/gateway/ng/api/settings?accountIdentifier=acme",
            Some(json!([{"identifier": "pipeline_timeout_minutes", "value": "20", "updateType": "UPDATE"}])),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.text);
    let s = audit(&app, "resourceType=SETTING").await;
    assert_eq!(s.len(), 1, "{s:?}");
    assert_eq!(s[0]["summary"]["new"], "20");
    assert_eq!(s[0]["summary"]["old"], Value::Null);
    let trail = app.admin(Method::GET, "/gateway/ng/api/settings-audit?accountIdentifier=acme", None).await;
    assert_eq!(trail.status, StatusCode::OK, "{}", trail.text);
    assert_eq!(trail.body["data"]["content"][0]["newValue"], "20", "{}", trail.text);
}

#[tokio::test]
async fn filters_keyset_paging_and_the_permission() {
    let app = TestApp::new().await;
    for i in 0..7 {
        app.user(&format!("u{i}")).await;
    }
    // Pages of 3 walk every entry once, newest first.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let r = app
            .admin(Method::GET, &audit_url(&format!("resourceType=USER&limit=3&cursor={cursor}")), None)
            .await;
        let page = entries(&r);
        seen.extend(page.iter().map(|e| e["seq"].as_i64().expect("seq")));
        match r.body["data"]["next"].as_str() {
            Some(next) => cursor = next.to_string(),
            None => break,
        }
    }
    // The admin user of the account is created with it (an ACCOUNT entry, not a USER one).
    assert_eq!(seen.len(), 7, "{seen:?}");
    assert!(seen.windows(2).all(|w| w[0] > w[1]), "{seen:?}");
    let me = audit(&app, &format!("principal={}", app.admin_user_id)).await;
    assert_eq!(me.len(), 7);
    assert!(audit(&app, "principal=nobody").await.is_empty());
    let future = time::OffsetDateTime::now_utc().unix_timestamp() * 1000 + 60_000;
    assert!(audit(&app, &format!("from={future}")).await.is_empty());
    assert_eq!(audit(&app, "resourceType=USER&to=2999-01-01T00:00:00Z").await.len(), 7);

    for bad in
        ["resourceType=PLANET", "action=EXPLODE", "limit=0", "limit=5000", "cursor=abc", "from=yesterday"]
    {
        let r = app.admin(Method::GET, &audit_url(bad), None).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.text);
        assert!(r.body["message"].as_str().is_some_and(|m| !m.is_empty()), "{}", r.text);
    }

    // _account_viewer holds core_audit_view; a service account without a role does not.
    let viewer = token_with_role(&app, "auditor", "_account_viewer").await;
    let r = app.api(Method::GET, &audit_url(""), &viewer, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let nobody = token_with_role(&app, "nobody", "").await;
    let r = app.api(Method::GET, &audit_url(""), &nobody, None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    assert!(r.text.contains("core_audit_view"), "{}", r.text);
    let r = app.api(Method::GET, "/gateway/ng/api/scim-requests?accountIdentifier=acme", &nobody, None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
}

#[tokio::test]
async fn retention_prunes_old_entries_in_batches() {
    let (app, clock) = TestApp::manual_clock().await;
    for i in 0..3 {
        app.user(&format!("old{i}")).await;
    }
    clock.advance(time::Duration::days(401));
    app.user("new").await;
    let pruned = scimgate::retention::prune_once(
        app.state.logs.as_ref(),
        app.state.event_store.as_ref(),
        clock.as_ref(),
        &scimgate::retention::Retention::of(&app.state.config),
    )
    .await
    .expect("prune");
    // The account's own entry and the three old users' entries.
    assert_eq!(pruned.audit, 4, "{pruned:?}");
    let left = audit(&app, "").await;
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0]["action"], "CREATE");
}

/// Waits (bounded) until the request log holds `n` requests matching `query`.
async fn logged(app: &TestApp, query: &str, n: usize) -> Vec<Value> {
    for _ in 0..100 {
        let r = app
            .admin(
                Method::GET,
                &format!("/gateway/ng/api/scim-requests?accountIdentifier=acme&{query}"),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let rows = r.body["data"]["requests"].as_array().cloned().unwrap_or_default();
        if rows.len() >= n {
            return rows;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the request log never held {n} requests for {query}");
}

#[tokio::test]
async fn scim_requests_are_logged_redacted_and_cut() {
    let app = TestApp::new().await;
    let _writer = app.start_request_log();
    let r = app
        .send(
            Method::POST,
            &app.scim("/Users"),
            Some(&app.token),
            Some(json!({"userName": "ada", "password": "hunter2"}).to_string()),
            &[("user-agent", "Okta SCIM Client 1.0"), ("x-request-id", "okta-req-1")],
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let dup = app.post("/Users", json!({"userName": "ada", "password": "hunter3"})).await;
    assert_eq!(dup.status, StatusCode::CONFLICT);
    let bad = app
        .send(
            Method::POST,
            &app.scim("/Users"),
            Some(&app.token),
            Some(r#"{"userName": "x", "password": "hunter4""#.into()),
            &[],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let long = "x".repeat(15 * 1024);
    let big = app
        .post("/Users", json!({"userName": "big", "title": long, "nickName": long, "profileUrl": long}))
        .await;
    assert_eq!(big.status, StatusCode::CREATED, "{}", big.text);
    let list = app.get("/Users?filter=userName%20eq%20%22ada%22").await;
    assert_eq!(list.status, StatusCode::OK);

    let rows = logged(&app, "method=POST", 4).await;
    let text = serde_json::to_string(&rows).expect("json");
    for secret in ["hunter2", "hunter3", "hunter4"] {
        assert!(!text.contains(secret), "{secret} in the request log: {text}");
    }
    let first = rows.last().expect("oldest");
    assert_eq!(first["status"], 201);
    assert_eq!(first["userAgent"], "Okta SCIM Client 1.0");
    assert_eq!(first["requestId"], "okta-req-1");
    assert_eq!(first["requestBody"]["password"], "[redacted]");
    assert_eq!(first["requestBody"]["userName"], "ada");
    assert_eq!(first["responseBody"]["userName"], "ada");
    assert!(first["principal"].as_str().is_some_and(|p| p.starts_with("USER:")), "{first}");
    assert!(first["durationMs"].as_f64().is_some());
    let malformed = &rows[1];
    assert!(malformed["requestBody"].as_str().is_some_and(|b| b.starts_with("[not JSON")), "{malformed}");
    let cut = &rows[0];
    let body = cut["requestBody"].as_str().expect("cut body is text");
    assert!(body.len() < 17 * 1024 && body.contains("[cut: "), "{}", body.len());

    let failed = logged(&app, "status=4xx", 2).await;
    assert!(failed.iter().all(|r| r["status"].as_u64().is_some_and(|s| (400..500).contains(&s))));
    let gets = logged(&app, "method=GET&pathContains=users", 1).await;
    assert_eq!(gets[0]["query"], "filter=userName%20eq%20%22ada%22");
    let r =
        app.admin(Method::GET, "/gateway/ng/api/scim-requests?accountIdentifier=acme&status=3xx", None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
}

#[tokio::test]
async fn the_request_log_can_be_turned_off() {
    let app = TestApp::with_config(std::sync::Arc::new(scimgate_domain::SystemClock), |c| {
        c.request_log_retention = Duration::ZERO
    })
    .await;
    let _writer = app.start_request_log();
    app.user("ada").await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let r = app.admin(Method::GET, "/gateway/ng/api/scim-requests?accountIdentifier=acme", None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["data"]["requests"], json!([]));
}
