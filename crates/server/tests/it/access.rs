//! Access control over HTTP: service accounts, roles, resource groups, role assignments, API
//! keys and tokens, permissions on every SCIM operation, and cross-account isolation.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{Res, TestApp, assert_scim_error, patch_body};
use scimgate_domain::AccountId;
use scimgate_domain::access::Principal;
use scimgate_domain::access_service::TokenInput;
use scimgate_domain::entities::{ApiKey, ApiKeyRef, Tags};
use scimgate_domain::token::TokenKind;

const SCIM_PERMISSIONS: [&str; 5] = [
    "core_user_view",
    "core_user_invite",
    "core_user_manage",
    "core_usergroup_view",
    "core_usergroup_manage",
];

fn u(path: &str) -> String {
    let sep = if path.contains('?') { '&' } else { '?' };
    format!("/gateway{path}{sep}accountIdentifier=acme")
}

fn ok_data(r: &Res) -> &Value {
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["status"], "SUCCESS", "{}", r.text);
    &r.body["data"]
}

fn assert_envelope_error(r: &Res, status: u16, code: &str) {
    assert_eq!(r.status.as_u16(), status, "{}", r.text);
    assert_eq!(r.body["status"], "ERROR", "{}", r.text);
    assert_eq!(r.body["code"], code, "{}", r.text);
    assert!(r.body["message"].as_str().is_some_and(|m| !m.is_empty()), "{}", r.text);
    assert!(r.body["correlationId"].as_str().is_some_and(|m| !m.is_empty()), "{}", r.text);
}

/// Creates a service account with a role holding `perms` on every account resource, an API
/// key and a token; returns the token.
async fn service_account_token(app: &TestApp, ident: &str, perms: &[&str]) -> String {
    let r = app
        .admin(
            Method::POST,
            &u("/ng/api/serviceaccount"),
            Some(json!({"identifier": ident, "name": ident, "email": format!("{ident}@acme.test")})),
        )
        .await;
    ok_data(&r);
    if !perms.is_empty() {
        let role = format!("role_{ident}");
        let r = app
            .admin(
                Method::POST,
                &u("/authz/api/roles"),
                Some(json!({"identifier": role, "name": role, "permissions": perms})),
            )
            .await;
        ok_data(&r);
        let r = app
            .admin(
                Method::POST,
                &u("/authz/api/roleassignments"),
                Some(json!({
                    "roleIdentifier": role,
                    "resourceGroupIdentifier": "_all_account_level_resources",
                    "principal": {"identifier": ident, "type": "SERVICE_ACCOUNT"}
                })),
            )
            .await;
        ok_data(&r);
    }
    sa_token(app, ident, "key", "tok", None).await
}

async fn sa_token(app: &TestApp, ident: &str, key: &str, tok: &str, valid_to: Option<i64>) -> String {
    let r = app
        .admin(
            Method::POST,
            &u("/ng/api/apikey"),
            Some(json!({"identifier": key, "name": key, "apiKeyType": "SERVICE_ACCOUNT", "parentIdentifier": ident})),
        )
        .await;
    assert!(r.status == StatusCode::OK || r.status == StatusCode::CONFLICT, "{}", r.text);
    let mut body = json!({
        "identifier": tok, "name": tok, "apiKeyType": "SERVICE_ACCOUNT",
        "parentIdentifier": ident, "apiKeyIdentifier": key
    });
    if let Some(v) = valid_to {
        body["validTo"] = json!(v);
    }
    let r = app.admin(Method::POST, &u("/ng/api/token"), Some(body)).await;
    ok_data(&r).as_str().expect("token string").to_string()
}

async fn scim_as(app: &TestApp, token: &str, method: Method, path: &str, body: Option<Value>) -> Res {
    app.send(method, &app.scim(path), Some(token), body.map(|b| b.to_string()), &[]).await
}

#[tokio::test]
async fn documented_flow_service_account_role_token_scim() {
    let app = TestApp::new().await;
    // 1. A service account, identifier derived from the name.
    let r = app
        .admin(
            Method::POST,
            &u("/ng/api/serviceaccount"),
            Some(json!({"name": "SCIM Provisioner (Okta)", "email": "scim@acme.test", "description": "IdP"})),
        )
        .await;
    let service_account = ok_data(&r);
    assert_eq!(service_account["identifier"], "SCIM_Provisioner_Okta");
    assert_eq!(service_account["accountIdentifier"], "acme");
    // 2. A role with the five SCIM permissions, assigned on all account resources.
    let r = app
        .admin(
            Method::POST,
            &u("/authz/api/roles"),
            Some(json!({"identifier": "scim_provisioner", "name": "SCIM provisioner", "permissions": SCIM_PERMISSIONS})),
        )
        .await;
    assert_eq!(ok_data(&r)["role"]["permissions"].as_array().map(Vec::len), Some(5));
    let r = app
        .admin(
            Method::POST,
            &u("/authz/api/roleassignments"),
            Some(json!({
                "roleIdentifier": "scim_provisioner",
                "resourceGroupIdentifier": "_all_account_level_resources",
                "principal": {"identifier": "SCIM_Provisioner_Okta", "type": "SERVICE_ACCOUNT"}
            })),
        )
        .await;
    assert_eq!(ok_data(&r)["roleAssignment"]["principal"]["type"], "SERVICE_ACCOUNT");
    // 3. An API key and a token, shown once.
    let token = sa_token(&app, "SCIM_Provisioner_Okta", "okta", "okta_token", None).await;
    assert!(token.starts_with("sat.acme."), "{token}");
    // 4. SCIM with the token.
    let r = scim_as(&app, &token, Method::GET, "/Users", None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = scim_as(&app, &token, Method::POST, "/Users", Some(json!({"userName": "okta@acme.test"}))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let id = r.body["id"].as_str().expect("id").to_string();
    let r = scim_as(
        &app,
        &token,
        Method::PATCH,
        &format!("/Users/{id}"),
        Some(patch_body(json!([{"op": "replace", "path": "active", "value": false}]))),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = scim_as(&app, &token, Method::POST, "/Groups", Some(json!({"displayName": "okta-group"}))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    // The same token cannot manage service accounts: 403 naming the permission.
    let r = app.api(Method::GET, &u("/ng/api/serviceaccount"), &token, None).await;
    assert_envelope_error(&r, 403, "NG_ACCESS_DENIED");
    assert!(r.body["message"].as_str().is_some_and(|m| m.contains("core_serviceaccount_view")), "{}", r.text);
    // Listing tokens never shows a secret.
    let r = app
        .admin(
            Method::GET,
            &u("/ng/api/token?apiKeyType=SERVICE_ACCOUNT&parentIdentifier=SCIM_Provisioner_Okta&apiKeyIdentifier=okta"),
            None,
        )
        .await;
    let data = ok_data(&r);
    assert_eq!(data["totalItems"], 1);
    assert_eq!(data["content"][0]["token"]["identifier"], "okta_token");
    let secret = token.rsplit('.').next().expect("secret");
    assert!(!r.text.contains(secret));
}

#[tokio::test]
async fn service_account_identifier_rule_and_validation() {
    let app = TestApp::new().await;
    let create = |body: Value| {
        let app = &app;
        async move { app.admin(Method::POST, &u("/ng/api/serviceaccount"), Some(body)).await }
    };
    for (name, want) in [
        ("SCIM Provisioner (Okta)", "SCIM_Provisioner_Okta"),
        ("Équipe Sécurité", "Equipe_Securite"),
        ("42 robots.v2-beta", "_robots_v2_beta"),
        ("  many    spaces  ", "many_spaces"),
        ("$9money", "money"),
    ] {
        let r = create(json!({"name": name, "email": "sa@acme.test"})).await;
        assert_eq!(ok_data(&r)["identifier"], want, "{name}");
    }
    // Duplicate identifier → 409.
    let r = create(json!({"name": "SCIM Provisioner (Okta)", "email": "sa@acme.test"})).await;
    assert_envelope_error(&r, 409, "DUPLICATE_FIELD");
    // Reserved words, bad explicit identifiers, bad email, nothing derivable.
    for body in [
        json!({"name": "class", "email": "sa@acme.test"}),
        json!({"identifier": "account", "name": "x", "email": "sa@acme.test"}),
        json!({"identifier": "stepGroup", "name": "x", "email": "sa@acme.test"}),
        json!({"identifier": "1abc", "name": "x", "email": "sa@acme.test"}),
        json!({"identifier": "a-b", "name": "x", "email": "sa@acme.test"}),
        json!({"identifier": "ok_id", "name": "x", "email": "not-an-email"}),
        json!({"identifier": "ok_id", "name": "x", "email": "a@b"}),
        json!({"name": "!!!", "email": "sa@acme.test"}),
        json!({"identifier": "ok_id", "name": "", "email": "sa@acme.test"}),
    ] {
        let r = create(body.clone()).await;
        assert_envelope_error(&r, 400, "INVALID_REQUEST");
    }
    // Malformed bodies: 400, nothing stored.
    for raw in ["{not json", "[]", r#"{"name": 5, "email": "x@y.z"}"#, r#"{"email": "x@y.z"}"#] {
        let r = app
            .send(
                Method::POST,
                &u("/ng/api/serviceaccount"),
                None,
                Some(raw.into()),
                &[("x-api-key", &app.token), ("content-type", "application/json")],
            )
            .await;
        assert_envelope_error(&r, 400, "INVALID_REQUEST");
    }
    let r = app.admin(Method::GET, &u("/ng/api/serviceaccount?pageSize=2"), None).await;
    let data = ok_data(&r);
    assert_eq!(data["totalItems"], 5);
    assert_eq!(data["totalPages"], 3);
    assert_eq!(data["content"].as_array().map(Vec::len), Some(2));
    let r = app.admin(Method::GET, &u("/ng/api/serviceaccount?searchTerm=okta"), None).await;
    assert_eq!(ok_data(&r)["totalItems"], 1);
    // Get, update (identifier fixed), delete.
    let r = app.admin(Method::GET, &u("/ng/api/serviceaccount/many_spaces"), None).await;
    assert_eq!(ok_data(&r)["email"], "sa@acme.test");
    let r = app
        .admin(
            Method::PUT,
            &u("/ng/api/serviceaccount/many_spaces"),
            Some(json!({"name": "Renamed", "email": "new@acme.test"})),
        )
        .await;
    assert_eq!(ok_data(&r)["name"], "Renamed");
    let r = app
        .admin(
            Method::PUT,
            &u("/ng/api/serviceaccount/many_spaces"),
            Some(json!({"identifier": "other", "name": "Renamed", "email": "new@acme.test"})),
        )
        .await;
    assert_envelope_error(&r, 400, "INVALID_REQUEST");
    let r = app.admin(Method::DELETE, &u("/ng/api/serviceaccount/many_spaces"), None).await;
    assert_eq!(ok_data(&r), &json!(true));
    let r = app.admin(Method::GET, &u("/ng/api/serviceaccount/many_spaces"), None).await;
    assert_envelope_error(&r, 404, "RESOURCE_NOT_FOUND");
    let r = app.admin(Method::DELETE, &u("/ng/api/serviceaccount/many_spaces"), None).await;
    assert_envelope_error(&r, 404, "RESOURCE_NOT_FOUND");
}

/// Every SCIM operation, with a credential holding exactly one SCIM permission: allowed
/// where the contract maps the operation to it, 403 naming the needed permission elsewhere.
#[tokio::test]
async fn every_scim_operation_checks_its_permission() {
    let app = TestApp::new().await;
    let user = app.user("target@acme.test").await;
    let group = app.group("target-group", &[]).await;
    let mut tokens = Vec::new();
    for (i, p) in SCIM_PERMISSIONS.iter().enumerate() {
        tokens.push((*p, service_account_token(&app, &format!("sa_{i}"), &[p]).await));
    }
    let none = service_account_token(&app, "sa_none", &[]).await;
    tokens.push(("", none));
    let user_patch = patch_body(json!([{"op": "replace", "path": "title", "value": "t"}]));
    let group_patch = patch_body(json!([{"op": "replace", "path": "displayName", "value": "target-group"}]));
    // (method, path, body, needed permission). DELETEs come last, on throwaway resources.
    let mut ops: Vec<(Method, String, Option<Value>, &str)> = vec![
        (Method::GET, "/Users".into(), None, "core_user_view"),
        (Method::GET, format!("/Users/{user}"), None, "core_user_view"),
        (Method::POST, "/Users/.search".into(), Some(json!({"filter": "userName pr"})), "core_user_view"),
        (Method::POST, "/Users".into(), Some(json!({"userName": "PLACEHOLDER"})), "core_user_invite"),
        (
            Method::PUT,
            format!("/Users/{user}"),
            Some(json!({"userName": "target@acme.test"})),
            "core_user_manage",
        ),
        (Method::PATCH, format!("/Users/{user}"), Some(user_patch), "core_user_manage"),
        (Method::GET, "/Groups".into(), None, "core_usergroup_view"),
        (Method::GET, format!("/Groups/{group}"), None, "core_usergroup_view"),
        (Method::POST, "/Groups/.search".into(), Some(json!({})), "core_usergroup_view"),
        (
            Method::POST,
            "/Groups".into(),
            Some(json!({"displayName": "PLACEHOLDER"})),
            "core_usergroup_manage",
        ),
        (
            Method::PUT,
            format!("/Groups/{group}"),
            Some(json!({"displayName": "target-group"})),
            "core_usergroup_manage",
        ),
        (Method::PATCH, format!("/Groups/{group}"), Some(group_patch), "core_usergroup_manage"),
    ];
    let mut n = 0;
    for (perm, token) in &tokens {
        let doomed_user = app.user(&format!("doomed{n}@acme.test")).await;
        let doomed_group = app.group(&format!("doomed-{n}"), &[]).await;
        n += 1;
        ops.truncate(12);
        ops.push((Method::DELETE, format!("/Users/{doomed_user}"), None, "core_user_manage"));
        ops.push((Method::DELETE, format!("/Groups/{doomed_group}"), None, "core_usergroup_manage"));
        for (method, path, body, needed) in &ops {
            let body = body.clone().map(|b| {
                let s = b.to_string().replace("PLACEHOLDER", &format!("new-{n}-{}", path.len()));
                serde_json::from_str::<Value>(&s).expect("json")
            });
            let r = scim_as(&app, token, method.clone(), path, body).await;
            if perm == needed {
                assert!(r.status.is_success(), "{perm} {method} {path}: {}", r.text);
            } else {
                assert_scim_error(&r, 403, None);
                assert!(
                    r.body["detail"].as_str().is_some_and(|d| d.contains(needed)),
                    "{perm} {method} {path}: {}",
                    r.text
                );
            }
        }
        // Bulk checks each operation on its own.
        let bulk = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
            "Operations": [
                {"method": "POST", "path": "/Users", "bulkId": "u", "data": {"userName": format!("bulk{n}@acme.test")}},
                {"method": "POST", "path": "/Groups", "bulkId": "g", "data": {"displayName": format!("bulk-{n}")}}
            ]
        });
        let r = scim_as(&app, token, Method::POST, "/Bulk", Some(bulk)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let statuses: Vec<&str> = r.body["Operations"]
            .as_array()
            .expect("ops")
            .iter()
            .map(|o| o["status"].as_str().unwrap_or(""))
            .collect();
        let want = |p: &str| if perm == &p { "201" } else { "403" };
        assert_eq!(
            statuses,
            vec![want("core_user_invite"), want("core_usergroup_manage")],
            "{perm}: {}",
            r.text
        );
    }
    // Discovery needs a valid credential but no permission.
    let (_, none) = tokens.last().expect("none");
    for path in ["/ServiceProviderConfig", "/Schemas", "/ResourceTypes"] {
        assert_eq!(scim_as(&app, none, Method::GET, path, None).await.status, StatusCode::OK, "{path}");
    }
}

#[tokio::test]
async fn group_members_inherit_roles_and_lose_them_at_once() {
    let app = TestApp::new().await;
    let uid = app.user("member@acme.test").await;
    // A personal access token for that user, made as the user would (console sign-in).
    let account = AccountId::parse("acme").expect("id");
    let caller =
        app.state.auth.caller_for_principal(&account, Principal::User(uid.clone())).await.expect("caller");
    let proof = caller;
    let t0 = time::OffsetDateTime::UNIX_EPOCH;
    let key = ApiKey {
        api_key_type: TokenKind::User,
        parent_identifier: uid.clone(),
        identifier: "mine".into(),
        name: "mine".into(),
        description: String::new(),
        tags: Tags::new(),
        default_ttl_ms: None,
        created: t0,
        modified: t0,
    };
    app.state.access.create_api_key(&proof, key).await.expect("key");
    let kref = ApiKeyRef {
        api_key_type: TokenKind::User,
        parent_identifier: uid.clone(),
        identifier: "mine".into(),
    };
    let input = TokenInput { identifier: "t1".into(), ..TokenInput::default() };
    let (_, pat) = app.state.access.create_token(&proof, &kref, input).await.expect("token");
    assert!(pat.starts_with("pat.acme."));
    // No roles yet: authenticated but forbidden.
    assert_scim_error(&scim_as(&app, &pat, Method::GET, "/Users", None).await, 403, None);
    // A group holding the viewer role: its members may read, not write.
    let gid = app.group("viewers", &[&uid]).await;
    let r = app
        .admin(
            Method::POST,
            &u("/authz/api/roleassignments"),
            Some(json!({
                "identifier": "viewers_ra",
                "roleIdentifier": "_account_viewer",
                "resourceGroupIdentifier": "_all_account_level_resources",
                "principal": {"identifier": gid, "type": "USER_GROUP"}
            })),
        )
        .await;
    ok_data(&r);
    assert_eq!(scim_as(&app, &pat, Method::GET, "/Users", None).await.status, StatusCode::OK);
    assert_scim_error(
        &scim_as(&app, &pat, Method::POST, "/Users", Some(json!({"userName": "x@acme.test"}))).await,
        403,
        None,
    );
    // The user manages its own personal keys over HTTP, and nobody else's.
    let r = app
        .api(
            Method::POST,
            &u("/ng/api/apikey"),
            &pat,
            Some(json!({"identifier": "second", "apiKeyType": "USER", "parentIdentifier": uid})),
        )
        .await;
    ok_data(&r);
    let r = app
        .api(
            Method::POST,
            &u("/ng/api/apikey"),
            &pat,
            Some(json!({"identifier": "steal", "apiKeyType": "USER", "parentIdentifier": app.admin_user_id})),
        )
        .await;
    assert_envelope_error(&r, 403, "NG_ACCESS_DENIED");
    // Removing the user from the group takes the role away on the next request.
    let r = app
        .patch(
            &format!("/Groups/{gid}"),
            patch_body(json!([{"op": "remove", "path": format!("members[value eq \"{uid}\"]")}])),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.text);
    assert_scim_error(&scim_as(&app, &pat, Method::GET, "/Users", None).await, 403, None);
    // Back in the group, then the assignment disabled, enabled, deleted.
    let r = app
        .patch(
            &format!("/Groups/{gid}"),
            patch_body(json!([{"op": "add", "path": "members", "value": [{"value": uid}]}])),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.text);
    assert_eq!(scim_as(&app, &pat, Method::GET, "/Users", None).await.status, StatusCode::OK);
    let role_assignment = |disabled: bool| {
        json!({
            "identifier": "viewers_ra",
            "roleIdentifier": "_account_viewer",
            "resourceGroupIdentifier": "_all_account_level_resources",
            "principal": {"identifier": gid, "type": "USER_GROUP"},
            "disabled": disabled
        })
    };
    let r = app
        .admin(Method::PUT, &u("/authz/api/roleassignments/viewers_ra"), Some(role_assignment(true)))
        .await;
    assert_eq!(ok_data(&r)["roleAssignment"]["disabled"], true);
    assert_scim_error(&scim_as(&app, &pat, Method::GET, "/Users", None).await, 403, None);
    let r = app
        .admin(Method::PUT, &u("/authz/api/roleassignments/viewers_ra"), Some(role_assignment(false)))
        .await;
    ok_data(&r);
    assert_eq!(scim_as(&app, &pat, Method::GET, "/Users", None).await.status, StatusCode::OK);
    let r = app.admin(Method::DELETE, &u("/authz/api/roleassignments/viewers_ra"), None).await;
    ok_data(&r);
    assert_scim_error(&scim_as(&app, &pat, Method::GET, "/Users", None).await, 403, None);
    // Deactivating the user (how Entra ID and Okta remove people) stops its tokens at once;
    // reactivating brings them back.
    let active = |on: bool| patch_body(json!([{"op": "replace", "path": "active", "value": on}]));
    assert!(app.patch(&format!("/Users/{uid}"), active(false)).await.status.is_success());
    assert_scim_error(&scim_as(&app, &pat, Method::GET, "/Users", None).await, 401, None);
    assert!(app.patch(&format!("/Users/{uid}"), active(true)).await.status.is_success());
    assert_scim_error(&scim_as(&app, &pat, Method::GET, "/Users", None).await, 403, None);
    // Deleting the user kills its tokens.
    assert_eq!(app.delete(&format!("/Users/{uid}")).await.status, StatusCode::NO_CONTENT);
    assert_scim_error(&scim_as(&app, &pat, Method::GET, "/Users", None).await, 401, None);
}

#[tokio::test]
async fn token_expiry_rotation_and_deletion() {
    let (app, clock) = TestApp::manual_clock().await;
    let now = || (clock_now(&clock).unix_timestamp_nanos() / 1_000_000) as i64;
    let full = service_account_token(&app, "rotator", &["core_user_view"]).await;
    let hour = 3_600_000;
    // Expiry.
    let short = sa_token(&app, "rotator", "key", "short", Some(now() + hour)).await;
    assert_eq!(scim_as(&app, &short, Method::GET, "/Users", None).await.status, StatusCode::OK);
    clock.advance(time::Duration::hours(2));
    assert_scim_error(&scim_as(&app, &short, Method::GET, "/Users", None).await, 401, None);
    assert_eq!(scim_as(&app, &full, Method::GET, "/Users", None).await.status, StatusCode::OK);
    // A validTo in the past is refused.
    let r = app
        .admin(
            Method::POST,
            &u("/ng/api/token"),
            Some(json!({"identifier": "old", "apiKeyType": "SERVICE_ACCOUNT", "parentIdentifier": "rotator",
                        "apiKeyIdentifier": "key", "validTo": now() - 1000})),
        )
        .await;
    assert_envelope_error(&r, 400, "INVALID_REQUEST");
    // Rotation without a grace period: the old secret stops at once.
    let q = "apiKeyType=SERVICE_ACCOUNT&parentIdentifier=rotator&apiKeyIdentifier=key";
    let r = app.admin(Method::POST, &u(&format!("/ng/api/token/rotate/tok?{q}")), None).await;
    let rotated = ok_data(&r).as_str().expect("token").to_string();
    assert_ne!(rotated, full);
    assert_eq!(rotated.rsplit_once('.').map(|x| x.0), full.rsplit_once('.').map(|x| x.0), "same token id");
    assert_scim_error(&scim_as(&app, &full, Method::GET, "/Users", None).await, 401, None);
    assert_eq!(scim_as(&app, &rotated, Method::GET, "/Users", None).await.status, StatusCode::OK);
    // A grace period longer than 30 days is refused.
    let far = now() + 31 * 24 * hour;
    let r = app
        .admin(Method::POST, &u(&format!("/ng/api/token/rotate/tok?{q}&rotateTimestamp={far}")), None)
        .await;
    assert_envelope_error(&r, 400, "INVALID_REQUEST");
    assert_eq!(scim_as(&app, &rotated, Method::GET, "/Users", None).await.status, StatusCode::OK);
    // Rotation with rotateTimestamp: both work until then.
    let r = app
        .admin(
            Method::POST,
            &u(&format!("/ng/api/token/rotate/tok?{q}&rotateTimestamp={}", now() + hour)),
            None,
        )
        .await;
    let third = ok_data(&r).as_str().expect("token").to_string();
    assert_eq!(scim_as(&app, &rotated, Method::GET, "/Users", None).await.status, StatusCode::OK);
    assert_eq!(scim_as(&app, &third, Method::GET, "/Users", None).await.status, StatusCode::OK);
    clock.advance(time::Duration::hours(2));
    assert_scim_error(&scim_as(&app, &rotated, Method::GET, "/Users", None).await, 401, None);
    assert_eq!(scim_as(&app, &third, Method::GET, "/Users", None).await.status, StatusCode::OK);
    // Last-used is recorded in batches.
    app.state.auth.flush_last_used().await.expect("flush");
    let r = app.admin(Method::GET, &u(&format!("/ng/api/token?{q}")), None).await;
    let content = ok_data(&r)["content"].as_array().expect("content").clone();
    let tok = content.iter().find(|t| t["token"]["identifier"] == "tok").expect("tok");
    assert_eq!(tok["token"]["lastUsedAt"], json!(now()));
    let short = content.iter().find(|t| t["token"]["identifier"] == "short").expect("short");
    assert_eq!(short["token"]["valid"], false);
    // Update: a new expiry applies at once.
    let r = app
        .admin(
            Method::PUT,
            &u("/ng/api/token/tok"),
            Some(json!({"identifier": "tok", "name": "renamed", "apiKeyType": "SERVICE_ACCOUNT",
                        "parentIdentifier": "rotator", "apiKeyIdentifier": "key", "validTo": now() - 1})),
        )
        .await;
    assert_eq!(ok_data(&r)["name"], "renamed");
    assert_scim_error(&scim_as(&app, &third, Method::GET, "/Users", None).await, 401, None);
    let r = app
        .admin(
            Method::PUT,
            &u("/ng/api/token/tok"),
            Some(json!({"identifier": "tok", "apiKeyType": "SERVICE_ACCOUNT",
                        "parentIdentifier": "rotator", "apiKeyIdentifier": "key", "validTo": now() + hour})),
        )
        .await;
    ok_data(&r);
    assert_eq!(scim_as(&app, &third, Method::GET, "/Users", None).await.status, StatusCode::OK);
    // Deletion: 401 at once.
    let r = app.admin(Method::DELETE, &u(&format!("/ng/api/token/tok?{q}")), None).await;
    ok_data(&r);
    assert_scim_error(&scim_as(&app, &third, Method::GET, "/Users", None).await, 401, None);
    // Deleting the service account kills its other tokens, keys and assignments.
    let another = sa_token(&app, "rotator", "key", "another", None).await;
    assert_eq!(scim_as(&app, &another, Method::GET, "/Users", None).await.status, StatusCode::OK);
    ok_data(&app.admin(Method::DELETE, &u("/ng/api/serviceaccount/rotator"), None).await);
    assert_scim_error(&scim_as(&app, &another, Method::GET, "/Users", None).await, 401, None);
    let r = app
        .admin(
            Method::GET,
            &u("/authz/api/roleassignments?principalType=SERVICE_ACCOUNT&principalIdentifier=rotator"),
            None,
        )
        .await;
    assert_eq!(ok_data(&r)["totalItems"], 0);
}

fn clock_now(c: &scimgate_domain::ManualClock) -> time::OffsetDateTime {
    use scimgate_domain::Clock;
    c.now()
}

#[tokio::test]
async fn orgs_projects_roles_resource_groups_crud() {
    let app = TestApp::new().await;
    // Organizations: the default one exists.
    let r = app.admin(Method::GET, &u("/ng/api/organizations"), None).await;
    assert_eq!(ok_data(&r)["content"][0]["organization"]["identifier"], "default");
    let org = json!({"org": {"identifier": "eng", "name": "Engineering", "description": "builders", "tags": {"k": "v"}}});
    let r = app.admin(Method::POST, &u("/ng/api/organizations"), Some(org.clone())).await;
    assert_eq!(ok_data(&r)["organization"]["tags"]["k"], "v");
    assert_envelope_error(
        &app.admin(Method::POST, &u("/ng/api/organizations"), Some(org)).await,
        409,
        "DUPLICATE_FIELD",
    );
    let r = app.admin(Method::GET, &u("/ng/api/organizations?searchTerm=ENGIN"), None).await;
    assert_eq!(ok_data(&r)["totalItems"], 1);
    let r = app
        .admin(
            Method::PUT,
            &u("/ng/api/organizations/eng"),
            Some(json!({"org": {"identifier": "eng", "name": "Eng"}})),
        )
        .await;
    assert_eq!(ok_data(&r)["organization"]["name"], "Eng");
    assert_envelope_error(
        &app.admin(Method::GET, &u("/ng/api/organizations/nope"), None).await,
        404,
        "RESOURCE_NOT_FOUND",
    );
    // Projects live in an organization.
    let r = app
        .admin(
            Method::POST,
            &u("/ng/api/projects?orgIdentifier=eng"),
            Some(json!({"project": {"orgIdentifier": "eng", "identifier": "api", "name": "API"}})),
        )
        .await;
    assert_eq!(ok_data(&r)["project"]["orgIdentifier"], "eng");
    let r = app
        .admin(
            Method::POST,
            &u("/ng/api/projects?orgIdentifier=nope"),
            Some(json!({"project": {"identifier": "api", "name": "API"}})),
        )
        .await;
    assert_envelope_error(&r, 404, "RESOURCE_NOT_FOUND");
    let r = app
        .admin(
            Method::POST,
            &u("/ng/api/projects?orgIdentifier=default"),
            Some(json!({"project": {"orgIdentifier": "eng", "identifier": "x", "name": "X"}})),
        )
        .await;
    assert_envelope_error(&r, 400, "INVALID_REQUEST");
    let r = app.admin(Method::GET, &u("/ng/api/projects?orgIdentifier=eng"), None).await;
    assert_eq!(ok_data(&r)["totalItems"], 1);
    let r = app.admin(Method::GET, &u("/ng/api/projects/api?orgIdentifier=eng"), None).await;
    assert_eq!(ok_data(&r)["project"]["name"], "API");
    let r = app
        .admin(
            Method::PUT,
            &u("/ng/api/projects/api?orgIdentifier=eng"),
            Some(json!({"project": {"name": "Api v2"}})),
        )
        .await;
    assert_eq!(ok_data(&r)["project"]["name"], "Api v2");
    // A second project, deleted on its own.
    let r = app
        .admin(
            Method::POST,
            &u("/ng/api/projects?orgIdentifier=eng"),
            Some(json!({"project": {"identifier": "tmp", "name": "Tmp"}})),
        )
        .await;
    ok_data(&r);
    ok_data(&app.admin(Method::DELETE, &u("/ng/api/projects/tmp?orgIdentifier=eng"), None).await);
    assert_envelope_error(
        &app.admin(Method::DELETE, &u("/ng/api/projects/tmp?orgIdentifier=eng"), None).await,
        404,
        "RESOURCE_NOT_FOUND",
    );
    // Deleting the organization takes its projects.
    ok_data(&app.admin(Method::DELETE, &u("/ng/api/organizations/eng"), None).await);
    assert_envelope_error(
        &app.admin(Method::GET, &u("/ng/api/projects/api?orgIdentifier=eng"), None).await,
        404,
        "RESOURCE_NOT_FOUND",
    );

    // Roles: built-ins listed first and not editable; custom ones validated.
    let r = app.admin(Method::GET, &u("/authz/api/roles"), None).await;
    let data = ok_data(&r);
    assert_eq!(data["content"][0]["role"]["identifier"], "_account_admin");
    assert_eq!(data["content"][1]["role"]["identifier"], "_account_viewer");
    assert_eq!(data["content"][0]["harnessManaged"], true);
    let r = app
        .admin(
            Method::POST,
            &u("/authz/api/roles"),
            Some(json!({"identifier": "bad", "name": "b", "permissions": ["core_user_fly"]})),
        )
        .await;
    assert_envelope_error(&r, 400, "INVALID_REQUEST");
    assert!(r.body["message"].as_str().is_some_and(|m| m.contains("core_user_fly")));
    let r = app
        .admin(
            Method::PUT,
            &u("/authz/api/roles/_account_admin"),
            Some(json!({"identifier": "_account_admin", "name": "x"})),
        )
        .await;
    assert_envelope_error(&r, 400, "INVALID_REQUEST");
    let r = app
        .admin(
            Method::POST,
            &u("/authz/api/roles"),
            Some(json!({"identifier": "_mine", "name": "x", "permissions": []})),
        )
        .await;
    assert_envelope_error(&r, 400, "INVALID_REQUEST");
    let r = app
        .admin(
            Method::POST,
            &u("/authz/api/roles"),
            Some(json!({"identifier": "readers", "name": "Readers", "permissions": ["core_user_view", "core_usergroup_view"]})),
        )
        .await;
    ok_data(&r);
    let r = app.admin(Method::GET, &u("/authz/api/roles?pageIndex=1&pageSize=2"), None).await;
    assert_eq!(ok_data(&r)["content"][0]["role"]["identifier"], "readers");
    assert_eq!(ok_data(&r)["totalItems"], 3);
    let r = app
        .admin(
            Method::PUT,
            &u("/authz/api/roles/readers"),
            Some(json!({"identifier": "readers", "name": "Readers!", "permissions": ["core_usergroup_view", "core_user_view"]})),
        )
        .await;
    assert_eq!(ok_data(&r)["role"]["name"], "Readers!");
    let r = app.admin(Method::GET, &u("/authz/api/roles/readers"), None).await;
    assert_eq!(ok_data(&r)["role"]["permissions"], json!(["core_user_view", "core_usergroup_view"]));

    // Resource groups narrow a role: only groups, not users.
    let r = app
        .admin(Method::GET, &u("/resourcegroup/api/v2/resourcegroup/_all_account_level_resources"), None)
        .await;
    assert_eq!(ok_data(&r)["resourceGroup"]["resourceFilter"]["includeAllResources"], true);
    let resource_group = json!({"resourceGroup": {"identifier": "groups_only", "name": "Groups only",
        "resourceFilter": {"includeAllResources": false, "resources": [{"resourceType": "USERGROUP"}]}}});
    ok_data(&app.admin(Method::POST, &u("/resourcegroup/api/v2/resourcegroup"), Some(resource_group)).await);
    let bad = json!({"resourceGroup": {"identifier": "bad", "name": "Bad",
        "resourceFilter": {"resources": [{"resourceType": "SPACESHIP"}]}}});
    assert_envelope_error(
        &app.admin(Method::POST, &u("/resourcegroup/api/v2/resourcegroup"), Some(bad)).await,
        400,
        "INVALID_REQUEST",
    );
    ok_data(
        &app.admin(
            Method::POST,
            &u("/ng/api/serviceaccount"),
            Some(json!({"identifier": "narrow", "name": "narrow", "email": "n@acme.test"})),
        )
        .await,
    );
    let r = app
        .admin(
            Method::POST,
            &u("/authz/api/roleassignments"),
            Some(json!({"identifier": "narrow_ra", "roleIdentifier": "readers", "resourceGroupIdentifier": "groups_only",
                        "principal": {"identifier": "narrow", "type": "SERVICE_ACCOUNT"}})),
        )
        .await;
    ok_data(&r);
    let token = sa_token(&app, "narrow", "k", "t", None).await;
    assert_eq!(scim_as(&app, &token, Method::GET, "/Groups", None).await.status, StatusCode::OK);
    assert_scim_error(&scim_as(&app, &token, Method::GET, "/Users", None).await, 403, None);
    // Role assignments: checks and conflicts.
    for (body, status) in [
        (
            json!({"roleIdentifier": "nope", "resourceGroupIdentifier": "_all_account_level_resources", "principal": {"identifier": "narrow", "type": "SERVICE_ACCOUNT"}}),
            400,
        ),
        (
            json!({"roleIdentifier": "readers", "resourceGroupIdentifier": "nope", "principal": {"identifier": "narrow", "type": "SERVICE_ACCOUNT"}}),
            400,
        ),
        (
            json!({"roleIdentifier": "readers", "resourceGroupIdentifier": "groups_only", "principal": {"identifier": "ghost", "type": "SERVICE_ACCOUNT"}}),
            400,
        ),
        (
            json!({"roleIdentifier": "readers", "resourceGroupIdentifier": "groups_only", "principal": {"identifier": "narrow", "type": "ROBOT"}}),
            400,
        ),
        (
            json!({"roleIdentifier": "readers", "resourceGroupIdentifier": "groups_only", "principal": {"identifier": "narrow", "type": "SERVICE_ACCOUNT"}}),
            409,
        ),
    ] {
        let r = app.admin(Method::POST, &u("/authz/api/roleassignments"), Some(body)).await;
        assert_eq!(r.status.as_u16(), status, "{}", r.text);
    }
    let r = app.admin(Method::GET, &u("/authz/api/roleassignments/narrow_ra"), None).await;
    assert_eq!(ok_data(&r)["roleAssignment"]["resourceGroupIdentifier"], "groups_only");
    let r = app.admin(Method::GET, &u("/resourcegroup/api/v2/resourcegroup"), None).await;
    let data = ok_data(&r);
    assert_eq!(data["totalItems"], 2);
    assert_eq!(data["content"][0]["resourceGroup"]["identifier"], "_all_account_level_resources");
    assert_eq!(data["content"][1]["resourceGroup"]["identifier"], "groups_only");
    // Widening the resource group to users takes effect on the next request.
    let wider = json!({"resourceGroup": {"identifier": "groups_only", "name": "Groups and users",
        "resourceFilter": {"resources": [{"resourceType": "USERGROUP"}, {"resourceType": "USER"}]}}});
    let r = app.admin(Method::PUT, &u("/resourcegroup/api/v2/resourcegroup/groups_only"), Some(wider)).await;
    assert_eq!(ok_data(&r)["resourceGroup"]["name"], "Groups and users");
    assert_eq!(scim_as(&app, &token, Method::GET, "/Users", None).await.status, StatusCode::OK);
    // A role or resource group in use cannot be deleted; unused, it can.
    assert_envelope_error(
        &app.admin(Method::DELETE, &u("/authz/api/roles/readers"), None).await,
        409,
        "DUPLICATE_FIELD",
    );
    assert_envelope_error(
        &app.admin(Method::DELETE, &u("/resourcegroup/api/v2/resourcegroup/groups_only"), None).await,
        409,
        "DUPLICATE_FIELD",
    );
    ok_data(&app.admin(Method::DELETE, &u("/authz/api/roleassignments/narrow_ra"), None).await);
    ok_data(&app.admin(Method::DELETE, &u("/authz/api/roles/readers"), None).await);
    ok_data(&app.admin(Method::DELETE, &u("/resourcegroup/api/v2/resourcegroup/groups_only"), None).await);
    assert_envelope_error(
        &app.admin(Method::GET, &u("/authz/api/roles/readers"), None).await,
        404,
        "RESOURCE_NOT_FOUND",
    );

    // The admin from `account create` holds _account_admin.
    let r = app
        .admin(
            Method::GET,
            &u(&format!(
                "/authz/api/roleassignments?principalType=USER&principalIdentifier={}",
                app.admin_user_id
            )),
            None,
        )
        .await;
    let data = ok_data(&r);
    assert_eq!(data["totalItems"], 1);
    assert_eq!(data["content"][0]["roleAssignment"]["roleIdentifier"], "_account_admin");
    // API keys: list, get, update, delete.
    let q = "apiKeyType=SERVICE_ACCOUNT&parentIdentifier=narrow";
    let r = app.admin(Method::GET, &u(&format!("/ng/api/apikey?{q}")), None).await;
    assert_eq!(ok_data(&r)["totalItems"], 1);
    let r = app
        .admin(
            Method::PUT,
            &u("/ng/api/apikey/k"),
            Some(json!({"identifier": "k", "name": "renamed", "apiKeyType": "SERVICE_ACCOUNT", "parentIdentifier": "narrow"})),
        )
        .await;
    assert_eq!(ok_data(&r)["name"], "renamed");
    let r = app.admin(Method::GET, &u(&format!("/ng/api/apikey/k?{q}")), None).await;
    assert_eq!(ok_data(&r)["name"], "renamed");
    ok_data(&app.admin(Method::DELETE, &u(&format!("/ng/api/apikey/k?{q}")), None).await);
    assert_scim_error(&scim_as(&app, &token, Method::GET, "/Groups", None).await, 401, None);
    // The account itself.
    let r = app.admin(Method::GET, &u("/ng/api/accounts/acme"), None).await;
    assert_eq!(ok_data(&r)["identifier"], "acme");
}

#[tokio::test]
async fn non_scim_permissions_are_checked_and_named() {
    let app = TestApp::new().await;
    let viewer = service_account_token(&app, "viewer", &[]).await;
    ok_data(
        &app.admin(
            Method::POST,
            &u("/authz/api/roleassignments"),
            Some(json!({"roleIdentifier": "_account_viewer", "resourceGroupIdentifier": "_all_account_level_resources",
                        "principal": {"identifier": "viewer", "type": "SERVICE_ACCOUNT"}})),
        )
        .await,
    );
    for (method, path, body, needed) in [
        (Method::GET, "/ng/api/organizations", None, None),
        (
            Method::POST,
            "/ng/api/organizations",
            Some(json!({"org": {"identifier": "o", "name": "o"}})),
            Some("core_organization_edit"),
        ),
        (Method::GET, "/ng/api/projects", None, None),
        (
            Method::POST,
            "/ng/api/projects",
            Some(json!({"project": {"identifier": "p", "name": "p"}})),
            Some("core_project_edit"),
        ),
        (Method::GET, "/ng/api/serviceaccount", None, None),
        (
            Method::POST,
            "/ng/api/serviceaccount",
            Some(json!({"name": "n", "email": "n@acme.test"})),
            Some("core_serviceaccount_edit"),
        ),
        (Method::DELETE, "/ng/api/serviceaccount/viewer", None, Some("core_serviceaccount_delete")),
        (Method::GET, "/authz/api/roles", None, None),
        (
            Method::POST,
            "/authz/api/roles",
            Some(json!({"identifier": "r", "name": "r"})),
            Some("core_role_edit"),
        ),
        (Method::GET, "/authz/api/roleassignments", None, None),
        (Method::DELETE, "/authz/api/roleassignments/x", None, Some("core_roleassignment_edit")),
        (Method::GET, "/resourcegroup/api/v2/resourcegroup", None, None),
        (Method::DELETE, "/resourcegroup/api/v2/resourcegroup/x", None, Some("core_resourcegroup_edit")),
        (Method::GET, "/ng/api/apikey?apiKeyType=SERVICE_ACCOUNT&parentIdentifier=viewer", None, None),
        (
            Method::POST,
            "/ng/api/token",
            Some(
                json!({"identifier": "t2", "apiKeyType": "SERVICE_ACCOUNT", "parentIdentifier": "viewer", "apiKeyIdentifier": "key"}),
            ),
            Some("core_serviceaccount_manageapikey"),
        ),
        (Method::GET, "/ng/api/accounts/acme", None, None),
    ] {
        let r = app.api(method.clone(), &u(path), &viewer, body).await;
        match needed {
            None => assert_eq!(r.status, StatusCode::OK, "{method} {path}: {}", r.text),
            Some(p) => {
                assert_envelope_error(&r, 403, "NG_ACCESS_DENIED");
                assert!(r.body["message"].as_str().is_some_and(|m| m.contains(p)), "{}", r.text);
            }
        }
    }
    // Missing, malformed or unknown keys: 401 with the error envelope.
    for key in ["", "nonsense", "pat.acme.nope.nope", "sat.acme.x.y"] {
        let r = app.api(Method::GET, &u("/ng/api/organizations"), key, None).await;
        assert_envelope_error(&r, 401, "INVALID_TOKEN");
    }
    let r = app.send(Method::GET, &u("/ng/api/organizations"), None, None, &[]).await;
    assert_envelope_error(&r, 401, "INVALID_TOKEN");
    // A SCIM bearer header is not an API key.
    let r = app.send(Method::GET, &u("/ng/api/organizations"), Some(&app.token), None, &[]).await;
    assert_envelope_error(&r, 401, "INVALID_TOKEN");
    let r = app.admin(Method::GET, "/gateway/ng/api/organizations", None).await;
    assert_envelope_error(&r, 400, "INVALID_REQUEST");
    let r = app.admin(Method::GET, &u("/ng/api/organizations?pageSize=abc"), None).await;
    assert_envelope_error(&r, 400, "INVALID_REQUEST");
}

/// A credential of one account never reads or writes another account, on any route of the
/// router's table; the answer never reveals whether the other account exists.
#[tokio::test]
async fn cross_account_isolation_on_every_route() {
    let app = TestApp::new().await;
    let globex = app.other_account("globex").await;
    ok_data(
        &app.admin(
            Method::POST,
            &u("/ng/api/organizations"),
            Some(json!({"org": {"identifier": "secret", "name": "s"}})),
        )
        .await,
    );
    let routes = scimgate::http::product_api::route_list();
    assert!(routes.len() >= 35, "{}", routes.len());
    for (method, path) in &routes {
        let concrete = path.replace("{identifier}", "secret");
        for (account, key) in
            [("acme", globex.as_str()), ("globex", app.token.as_str()), ("nosuch", app.token.as_str())]
        {
            let url = format!(
                "{concrete}?accountIdentifier={account}&orgIdentifier=default&apiKeyType=SERVICE_ACCOUNT&parentIdentifier=x&apiKeyIdentifier=y"
            );
            let body = matches!(*method, Method::POST | Method::PUT)
                .then(|| json!({"org": {"identifier": "x", "name": "x"}}));
            let r = app.api(method.clone(), &url, key, body).await;
            assert_envelope_error(&r, 401, "INVALID_TOKEN");
            assert!(!r.text.contains("secret\""), "{method} {url}: {}", r.text);
        }
        // And every route answers for its own method (the table and the router agree).
        let own =
            if path.contains("/accounts/") { path.replace("{identifier}", "acme") } else { concrete.clone() };
        let r = app.admin(method.clone(), &format!("{own}?accountIdentifier=acme"), None).await;
        assert_ne!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        assert_ne!(r.status, StatusCode::UNAUTHORIZED, "{method} {path}: {}", r.text);
        assert!(!r.status.is_server_error(), "{method} {path}: a 5xx is never an answer: {}", r.text);
    }
    // Acme's organization is untouched... (the loop above deleted it with acme's own key,
    // which is allowed); globex's own view never includes acme's data.
    let r =
        app.api(Method::GET, "/gateway/ng/api/organizations?accountIdentifier=globex", &globex, None).await;
    let data = ok_data(&r);
    assert_eq!(data["totalItems"], 1);
    assert_eq!(data["content"][0]["organization"]["identifier"], "default");
}

/// The same for every SCIM route: another account's token, this account's token on another
/// account's path, and a path naming no account all get the same 401.
#[tokio::test]
async fn cross_account_isolation_on_every_scim_route() {
    let app = TestApp::new().await;
    let globex = app.other_account("globex").await;
    let uid = app.user("secret@acme.test").await;
    let routes = scimgate::http::scim::route_list();
    assert!(routes.len() >= 21, "{}", routes.len());
    for (method, path) in &routes {
        let concrete = path.replace("{id}", &uid);
        for (account, key) in
            [("acme", globex.as_str()), ("globex", app.token.as_str()), ("nosuch", app.token.as_str())]
        {
            let url = format!("/gateway/ng/api/scim/account/{account}{concrete}");
            let body = matches!(*method, Method::POST | Method::PUT | Method::PATCH).then(|| {
                json!({"userName": "stolen@acme.test", "displayName": "stolen", "Operations": [], "schemas": []})
                    .to_string()
            });
            let r = app.send(method.clone(), &url, Some(key), body, &[]).await;
            assert_scim_error(&r, 401, None);
            assert!(!r.text.contains("secret@acme.test"), "{method} {url}: {}", r.text);
        }
    }
    // Nothing changed in acme.
    let r = app.get("/Users").await;
    assert_eq!(r.body["totalResults"], 2, "{}", r.text);
    assert!(r.text.contains("secret@acme.test"));
}
