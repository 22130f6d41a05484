//! The Settings API: the documented curl body, per-item results, the hierarchy, validation,
//! the feature flag, permissions, the audit trail and the settings cache.

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{Res, TestApp, test_audit};
use scimgate_domain::access::Scope;
use scimgate_domain::{AccountId, ManualClock};

/// The seed document's `--data-raw` body, byte for byte, with its placeholders filled in.
const DOCUMENTED_BODY: &str = r#"[
                {
                    "identifier": "scim_jwt_token_jwks_keys_url",
                    "value": "JWT_KEYS_URL_VALUE",
                    "allowOverrides": false,
                    "updateType": "UPDATE"
                },
                {
                    "identifier": "scim_jwt_token_key_field",
                    "value": "KEY_FIELD_VALUE",
                    "allowOverrides": false,
                    "updateType": "UPDATE"
                },
                {
                    "identifier": "scim_jwt_token_value_field",
                    "value": "VALUE_FIELD_VALUE",
                    "allowOverrides": false,
                    "updateType": "UPDATE"
                },
                {
                    "identifier": "scim_jwt_token_service_account_id",
                    "value": "SERVICE_ACCOUNT_ID",
                    "allowOverrides": false,
                    "updateType": "UPDATE"
            }
        ]"#;

const SETTINGS: &str = "/gateway/ng/api/settings?accountIdentifier=acme";

fn with_scope(org: &str, project: &str) -> String {
    let mut s = SETTINGS.to_string();
    if !org.is_empty() {
        s.push_str(&format!("&orgIdentifier={org}"));
    }
    if !project.is_empty() {
        s.push_str(&format!("&projectIdentifier={project}"));
    }
    s
}

fn data(r: &Res) -> &Value {
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["status"], "SUCCESS", "{}", r.text);
    &r.body["data"]
}

async fn enable_settings(app: &TestApp) {
    let acme = AccountId::parse("acme").expect("id");
    app.store.set_feature_flag(&acme, "NG_SETTINGS", true, &test_audit()).await.expect("flag");
    app.state.auth.invalidate(&acme);
}

async fn put(app: &TestApp, url: &str, body: Value) -> Res {
    app.admin(Method::PUT, url, Some(body)).await
}

fn item(id: &str, value: Value, allow: bool) -> Value {
    json!({"identifier": id, "value": value, "allowOverrides": allow, "updateType": "UPDATE"})
}

fn restore(id: &str) -> Value {
    json!({"identifier": id, "updateType": "RESTORE"})
}

async fn value_at(app: &TestApp, id: &str, org: &str, project: &str) -> Value {
    let url = with_scope(org, project).replace("/settings?", &format!("/settings/{id}?"));
    data(&app.admin(Method::GET, &url, None).await)["value"].clone()
}

#[tokio::test]
async fn documented_curl_request_runs_verbatim() {
    let app = TestApp::new().await;
    enable_settings(&app).await;
    let service_account = app
        .admin(
            Method::POST,
            "/gateway/ng/api/serviceaccount?accountIdentifier=acme",
            Some(json!({"name": "SCIM Provisioner (Okta)", "email": "scim@acme.test"})),
        )
        .await;
    assert_eq!(service_account.status, StatusCode::OK, "{}", service_account.text);
    let body = DOCUMENTED_BODY
        .replace("JWT_KEYS_URL_VALUE", "https://login.example.com/common/discovery/v2.0/keys")
        .replace("KEY_FIELD_VALUE", "email")
        .replace("VALUE_FIELD_VALUE", "scim@acme.test")
        .replace("SERVICE_ACCOUNT_ID", "SCIM_Provisioner_Okta");
    let headers = [
        ("Connection", "keep-alive"),
        ("x-api-key", app.token.as_str()),
        ("Accept", "*/*"),
        ("Accept-Language", "en-US,en;q=0.9"),
        ("Content-Type", "application/json"),
    ];
    let r = app.send(Method::PUT, SETTINGS, None, Some(body), &headers).await;
    let items = data(&r).as_array().expect("list").clone();
    assert_eq!(items.len(), 4);
    for it in &items {
        assert_eq!(it["updateStatus"], true, "{it}");
        assert_eq!(it["errorMessage"], Value::Null);
        assert_eq!(it["setting"]["settingSource"], "ACCOUNT");
        assert!(it["lastModifiedAt"].is_i64());
    }
    assert_eq!(items[1]["setting"]["value"], "email");
    // Its GET twins.
    let r = app.admin(Method::GET, &format!("{SETTINGS}&category=SCIM"), None).await;
    let list = data(&r).as_array().expect("list").clone();
    let url =
        list.iter().find(|s| s["setting"]["identifier"] == "scim_jwt_token_jwks_keys_url").expect("url");
    let dto = &url["setting"];
    for field in [
        "identifier",
        "name",
        "orgIdentifier",
        "projectIdentifier",
        "category",
        "groupIdentifier",
        "valueType",
        "allowedValues",
        "allowOverrides",
        "value",
        "defaultValue",
        "settingSource",
        "isSettingEditable",
        "allowedScopes",
    ] {
        assert!(dto.get(field).is_some(), "SettingDTO lacks {field}: {dto}");
    }
    assert_eq!(dto["value"], "https://login.example.com/common/discovery/v2.0/keys");
    assert_eq!(dto["groupIdentifier"], "scim_jwt_token_configuration_g1");
    assert_eq!(dto["allowedScopes"], json!(["ACCOUNT"]));
    assert!(url["lastModifiedAt"].is_i64());
    let r = app
        .admin(
            Method::GET,
            "/gateway/ng/api/settings/scim_jwt_token_service_account_id?accountIdentifier=acme",
            None,
        )
        .await;
    assert_eq!(data(&r), &json!({"valueType": "String", "value": "SCIM_Provisioner_Okta"}));
    // The body exactly as documented, placeholders and all: the URL item fails (not a URL)
    // and so does the service account (none is called SERVICE_ACCOUNT_ID); the claim name and
    // value are stored.
    let r = app.send(Method::PUT, SETTINGS, None, Some(DOCUMENTED_BODY.into()), &headers).await;
    let items = data(&r).as_array().expect("list").clone();
    assert_eq!(items[0]["updateStatus"], false);
    assert!(
        items[0]["errorMessage"].as_str().is_some_and(|m| m.contains("not an absolute URL")),
        "{}",
        r.text
    );
    assert!(items[1]["updateStatus"] == true && items[2]["updateStatus"] == true, "{}", r.text);
    assert_eq!(items[3]["updateStatus"], false);
    assert!(items[3]["errorMessage"].as_str().is_some_and(|m| m.contains("does not exist")), "{}", r.text);
    assert_eq!(
        value_at(&app, "scim_jwt_token_jwks_keys_url", "", "").await,
        "https://login.example.com/common/discovery/v2.0/keys"
    );
    assert_eq!(value_at(&app, "scim_jwt_token_key_field", "", "").await, "KEY_FIELD_VALUE");
}

#[tokio::test]
async fn flag_permissions_and_malformed_bodies() {
    let app = TestApp::new().await;
    // Flag off: an error naming the flag.
    let r = app.admin(Method::GET, &format!("{SETTINGS}&category=SCIM"), None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    assert_eq!(r.body["code"], "FEATURE_NOT_ENABLED");
    assert!(r.body["message"].as_str().is_some_and(|m| m.contains("NG_SETTINGS")), "{}", r.text);
    let r = put(&app, SETTINGS, json!([item("enable_notifications", json!("false"), true)])).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    enable_settings(&app).await;
    assert_eq!(value_at(&app, "enable_notifications", "", "").await, "true", "nothing was stored");
    // Malformed bodies: 400 with the envelope, nothing stored.
    for raw in [
        "not json",
        r#"{"identifier": "enable_notifications", "value": "false", "updateType": "UPDATE"}"#,
        r#"[{"identifier": "enable_notifications", "value": "false"}]"#,
        r#"[{"value": "false", "updateType": "UPDATE"}]"#,
        r#"[{"identifier": 5, "value": "false", "updateType": "UPDATE"}]"#,
        r#"[{"identifier": "enable_notifications", "value": {"x": 1}, "updateType": "UPDATE"}]"#,
        r#"[{"identifier": "enable_notifications", "value": "false", "updateType": "UPDATE", "allowOverrides": "yes"}]"#,
        r#"[{"identifier": "enable_notifications", "value": "false", "updateType": "UPDATE", "typo": 1}]"#,
        r#"[{"identifier": "enable_notifications", "value": "false", "updateType": "UPDATE"}, 7]"#,
        "[]",
        "",
    ] {
        let r = app
            .send(
                Method::PUT,
                SETTINGS,
                None,
                Some(raw.into()),
                &[("x-api-key", &app.token), ("content-type", "application/json")],
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{raw}: {}", r.text);
        assert_eq!(r.body["code"], "INVALID_REQUEST", "{raw}");
    }
    assert_eq!(value_at(&app, "enable_notifications", "", "").await, "true", "nothing was stored");
    let r = app.admin(Method::GET, "/gateway/ng/api/settings-audit?accountIdentifier=acme", None).await;
    assert_eq!(data(&r)["totalItems"], 0);
    // Permissions: view and edit.
    for (ident, role) in [("viewer", Some("_account_viewer")), ("nobody", None)] {
        let r = app
            .admin(
                Method::POST,
                "/gateway/ng/api/serviceaccount?accountIdentifier=acme",
                Some(json!({"identifier": ident, "name": ident, "email": "v@acme.test"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
        if let Some(role) = role {
            let r = app
                .admin(
                    Method::POST,
                    "/gateway/authz/api/roleassignments?accountIdentifier=acme",
                    Some(json!({"roleIdentifier": role, "resourceGroupIdentifier": "_all_account_level_resources",
                                "principal": {"identifier": ident, "type": "SERVICE_ACCOUNT"}})),
                )
                .await;
            assert_eq!(r.status, StatusCode::OK);
        }
        let r = app
            .admin(
                Method::POST,
                "/gateway/ng/api/apikey?accountIdentifier=acme",
                Some(json!({"identifier": "k", "apiKeyType": "SERVICE_ACCOUNT", "parentIdentifier": ident})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
        let r = app
            .admin(
                Method::POST,
                "/gateway/ng/api/token?accountIdentifier=acme",
                Some(json!({"identifier": "t", "apiKeyType": "SERVICE_ACCOUNT", "parentIdentifier": ident, "apiKeyIdentifier": "k"})),
            )
            .await;
        let token = data(&r).as_str().expect("token").to_string();
        let get = app.api(Method::GET, &format!("{SETTINGS}&category=CORE"), &token, None).await;
        let put = app
            .api(
                Method::PUT,
                SETTINGS,
                &token,
                Some(json!([item("enable_notifications", json!("false"), true)])),
            )
            .await;
        assert_eq!(put.status, StatusCode::FORBIDDEN, "{}", put.text);
        assert!(
            put.body["message"].as_str().is_some_and(|m| m.contains("core_setting_edit")),
            "{}",
            put.text
        );
        if role.is_some() {
            assert_eq!(get.status, StatusCode::OK, "{}", get.text);
        } else {
            assert_eq!(get.status, StatusCode::FORBIDDEN, "{}", get.text);
            assert!(
                get.body["message"].as_str().is_some_and(|m| m.contains("core_setting_view")),
                "{}",
                get.text
            );
        }
    }
    // A SCIM bearer token is not accepted here, nor another account's key.
    let r = app.send(Method::GET, SETTINGS, Some(&app.token), None, &[]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let other = app.other_account("globex").await;
    let r = app.api(Method::GET, SETTINGS, &other, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn batch_items_succeed_or_fail_on_their_own() {
    let app = TestApp::new().await;
    enable_settings(&app).await;
    let r = put(
        &app,
        SETTINGS,
        json!([
            item("pipeline_timeout_minutes", json!("90"), true),
            item("enable_notifications", json!(false), true),
            item("pipeline_timeout_minutes", json!("ninety"), true),
            item("default_ticketing_tool", json!("Jira"), true),
            item("no_such_setting", json!("x"), true),
            item("default_ticketing_tool", json!("Trello"), true),
            item("pipeline_timeout_minutes", json!(999999), true),
            {"identifier": "enable_notifications", "value": null, "updateType": "UPDATE"},
            {"identifier": "enable_notifications", "value": "true", "updateType": "REPLACE"},
            item("scim_jwt_token_jwks_keys_url", json!("http://login.example.com/keys"), false),
            item("scim_jwt_token_jwks_keys_url", json!("https://user:pw@login.example.com/keys"), false),
            item("scim_jwt_token_jwks_keys_url", json!("https://169.254.169.254/latest/meta-data"), false),
            item("scim_jwt_token_jwks_keys_url", json!("https://[::1]/keys"), false),
            item("scim_jwt_token_jwks_keys_url", json!("ftp://example.com/keys"), false),
        ]),
    )
    .await;
    let items = data(&r).as_array().expect("list").clone();
    let status: Vec<bool> = items.iter().map(|i| i["updateStatus"].as_bool().expect("bool")).collect();
    assert_eq!(
        status,
        vec![true, true, false, true, false, false, false, false, false, false, false, false, false, false],
        "{}",
        r.text
    );
    for (i, needle) in [
        (2, "not a number"),
        (4, "unknown setting"),
        (5, "Jira"),
        (6, "out of range"),
        (7, "needs a value"),
        (8, "UPDATE or RESTORE"),
        (9, "https"),
        (10, "user name or password"),
        (11, "link-local"),
        (12, "loopback"),
        (13, "https"),
    ] {
        assert!(
            items[i]["errorMessage"].as_str().is_some_and(|m| m.contains(needle)),
            "item {i}: {}",
            items[i]
        );
    }
    assert_eq!(items[4]["setting"], Value::Null);
    assert_eq!(value_at(&app, "pipeline_timeout_minutes", "", "").await, "90");
    assert_eq!(value_at(&app, "enable_notifications", "", "").await, "false");
    assert_eq!(value_at(&app, "default_ticketing_tool", "", "").await, "Jira");
    assert_eq!(value_at(&app, "scim_jwt_token_jwks_keys_url", "", "").await, Value::Null);
    // Unknown setting on GET: 404.
    let r = app.admin(Method::GET, "/gateway/ng/api/settings/nope?accountIdentifier=acme", None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn hierarchy_overrides_and_restore() {
    let app = TestApp::new().await;
    enable_settings(&app).await;
    for body in [
        json!({"org": {"identifier": "eng", "name": "Eng"}}),
        json!({"org": {"identifier": "ops", "name": "Ops"}}),
    ] {
        let r =
            app.admin(Method::POST, "/gateway/ng/api/organizations?accountIdentifier=acme", Some(body)).await;
        assert_eq!(r.status, StatusCode::OK);
    }
    let r = app
        .admin(
            Method::POST,
            "/gateway/ng/api/projects?accountIdentifier=acme&orgIdentifier=eng",
            Some(json!({"project": {"identifier": "api", "name": "API"}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let id = "pipeline_timeout_minutes";
    // Defaults everywhere.
    assert_eq!(value_at(&app, id, "eng", "api").await, "60");
    // Each scope sets its own value; the nearest wins.
    for (org, project, v) in [("", "", "10"), ("eng", "", "20"), ("eng", "api", "30")] {
        let r = put(&app, &with_scope(org, project), json!([item(id, json!(v), true)])).await;
        assert_eq!(data(&r)[0]["updateStatus"], true, "{}", r.text);
    }
    assert_eq!(value_at(&app, id, "", "").await, "10");
    assert_eq!(value_at(&app, id, "eng", "").await, "20");
    assert_eq!(value_at(&app, id, "eng", "api").await, "30");
    assert_eq!(value_at(&app, id, "ops", "").await, "10");
    let r = app.admin(Method::GET, &format!("{}&category=PIPELINE", with_scope("eng", "api")), None).await;
    let dto = &data(&r)[0]["setting"];
    assert_eq!(
        (dto["settingSource"].as_str(), dto["projectIdentifier"].as_str()),
        (Some("PROJECT"), Some("api"))
    );
    // RESTORE at each scope falls back to the parent, then the default.
    let r = put(&app, &with_scope("eng", "api"), json!([restore(id)])).await;
    assert_eq!(data(&r)[0]["setting"]["settingSource"], "ORG");
    assert_eq!(value_at(&app, id, "eng", "api").await, "20");
    put(&app, &with_scope("eng", ""), json!([restore(id)])).await;
    assert_eq!(value_at(&app, id, "eng", "api").await, "10");
    let r = put(&app, SETTINGS, json!([restore(id)])).await;
    assert_eq!(data(&r)[0]["setting"]["settingSource"], "DEFAULT");
    assert_eq!(value_at(&app, id, "eng", "api").await, "60");
    // RESTORE of a value that is not there is fine.
    assert_eq!(data(&put(&app, SETTINGS, json!([restore(id)])).await)[0]["updateStatus"], true);
    // allowOverrides:false at the account removes child overrides and refuses new ones.
    put(&app, &with_scope("eng", ""), json!([item(id, json!("25"), true)])).await;
    put(&app, &with_scope("ops", ""), json!([item(id, json!("26"), true)])).await;
    let r = put(&app, SETTINGS, json!([item(id, json!("15"), false)])).await;
    assert_eq!(data(&r)[0]["setting"]["allowOverrides"], false);
    assert_eq!(value_at(&app, id, "eng", "").await, "15");
    assert_eq!(value_at(&app, id, "ops", "").await, "15");
    let r = put(&app, &with_scope("eng", ""), json!([item(id, json!("40"), true)])).await;
    let it = &data(&r)[0];
    assert_eq!(it["updateStatus"], false);
    assert!(it["errorMessage"].as_str().is_some_and(|m| m.contains("does not allow overrides")), "{it}");
    assert_eq!(it["setting"]["isSettingEditable"], false);
    let r = put(&app, &with_scope("eng", "api"), json!([item(id, json!("40"), true)])).await;
    assert_eq!(data(&r)[0]["updateStatus"], false);
    // The org may forbid its projects in turn once the account allows overrides again.
    put(&app, SETTINGS, json!([item(id, json!("15"), true)])).await;
    put(&app, &with_scope("eng", ""), json!([item(id, json!("22"), false)])).await;
    let r = put(&app, &with_scope("eng", "api"), json!([item(id, json!("40"), true)])).await;
    assert_eq!(data(&r)[0]["updateStatus"], false);
    assert_eq!(value_at(&app, id, "eng", "api").await, "22");
    // Account-only settings are refused at org and project scope.
    for (org, project) in [("eng", ""), ("eng", "api")] {
        let r =
            put(&app, &with_scope(org, project), json!([item("enable_force_delete", json!("true"), true)]))
                .await;
        let it = &data(&r)[0];
        assert_eq!(it["updateStatus"], false, "{it}");
        assert!(it["errorMessage"].as_str().is_some_and(|m| m.contains("ACCOUNT")), "{it}");
        let r = put(&app, &with_scope(org, project), json!([restore("scim_jwt_token_key_field")])).await;
        assert_eq!(data(&r)[0]["updateStatus"], false);
    }
    // Listing at org scope: account-only settings appear only with includeParentScopes.
    let list = |q: &str| {
        let url = format!("{}&category=SCIM{q}", with_scope("eng", ""));
        let app = &app;
        async move { data(&app.admin(Method::GET, &url, None).await).as_array().expect("list").len() }
    };
    assert_eq!(list("").await, 0);
    assert_eq!(list("&includeParentScopes=true").await, 8);
    // Unknown scopes: 404.
    let r = app.admin(Method::GET, &with_scope("nope", ""), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    let r = put(&app, &with_scope("eng", "nope"), json!([item(id, json!("1"), true)])).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    // The audit trail: who, when, old → new.
    let r = app
        .admin(Method::GET, "/gateway/ng/api/settings-audit?accountIdentifier=acme&pageSize=100", None)
        .await;
    let audit = data(&r)["content"].as_array().expect("audit").clone();
    let newest = &audit[0];
    assert_eq!(newest["identifier"], id);
    assert_eq!(newest["orgIdentifier"], "eng");
    // eng's earlier "25" was removed by the account's allowOverrides:false, so nothing was
    // there before "22".
    assert_eq!(newest["oldValue"], Value::Null);
    assert_eq!(newest["newValue"], "22");
    assert_eq!(audit[1]["orgIdentifier"], Value::Null);
    assert_eq!((audit[1]["oldValue"].as_str(), audit[1]["newValue"].as_str()), (Some("15"), Some("15")));
    assert_eq!(newest["actor"], format!("USER:{}", app.admin_user_id));
    assert!(newest["timestamp"].is_i64());
    assert!(
        audit.iter().any(|a| a["action"] == "RESTORE" && a["oldValue"] == "30" && a["newValue"].is_null())
    );
}

#[tokio::test]
async fn cache_is_fresh_on_the_writing_node_and_bounded_by_the_ttl_elsewhere() {
    let (app, clock): (TestApp, Arc<ManualClock>) = TestApp::manual_clock().await;
    enable_settings(&app).await;
    let node_b = app.second_node(clock.clone()).await;
    let acme = AccountId::parse("acme").expect("id");
    let id = "scim_jwt_token_key_field";
    let read = |st: &scimgate::state::AppState| {
        let st = st.clone();
        let acme = acme.clone();
        async move { st.settings.effective_value(&acme, &Scope::account(), id).await.expect("read") }
    };
    // Both nodes cache "nothing set".
    assert_eq!(read(&app.state).await, None);
    assert_eq!(read(&node_b).await, None);
    let r = put(&app, SETTINGS, json!([item(id, json!("email"), false)])).await;
    assert_eq!(data(&r)[0]["updateStatus"], true);
    // The writing node sees it at once; the other node within the TTL (120 s).
    assert_eq!(read(&app.state).await.as_deref(), Some("email"));
    assert_eq!(read(&node_b).await, None);
    clock.advance(time::Duration::seconds(119));
    assert_eq!(read(&node_b).await, None);
    clock.advance(time::Duration::seconds(2));
    assert_eq!(read(&node_b).await.as_deref(), Some("email"));
}

/// The `scim_jwt_*` settings decide which JWTs act as a service account: writing them takes
/// `core_serviceaccount_manageapikey` besides `core_setting_edit`, and the service account
/// must exist.
#[tokio::test]
async fn jwt_settings_need_the_power_to_act_as_the_service_account() {
    let app = TestApp::new().await;
    enable_settings(&app).await;
    let api = |method: Method, path: &str, key: &str, body: Value| {
        let app = &app;
        let path = format!("/gateway{path}?accountIdentifier=acme");
        let key = key.to_string();
        async move { app.api(method, &path, &key, Some(body)).await }
    };
    let admin = app.token.clone();
    let service_account = json!({"identifier": "editor", "name": "editor", "email": "e@acme.test"});
    assert_eq!(
        api(Method::POST, "/ng/api/serviceaccount", &admin, service_account).await.status,
        StatusCode::OK
    );
    let role = json!({"identifier": "settings_editor", "name": "s", "permissions": ["core_setting_view", "core_setting_edit"]});
    assert_eq!(api(Method::POST, "/authz/api/roles", &admin, role).await.status, StatusCode::OK);
    let role_assignment = json!({"roleIdentifier": "settings_editor", "resourceGroupIdentifier": "_all_account_level_resources",
                    "principal": {"identifier": "editor", "type": "SERVICE_ACCOUNT"}});
    assert_eq!(
        api(Method::POST, "/authz/api/roleassignments", &admin, role_assignment).await.status,
        StatusCode::OK
    );
    let key = json!({"identifier": "k", "apiKeyType": "SERVICE_ACCOUNT", "parentIdentifier": "editor"});
    assert_eq!(api(Method::POST, "/ng/api/apikey", &admin, key).await.status, StatusCode::OK);
    let tok = json!({"identifier": "t", "apiKeyType": "SERVICE_ACCOUNT", "parentIdentifier": "editor", "apiKeyIdentifier": "k"});
    let r = api(Method::POST, "/ng/api/token", &admin, tok).await;
    let editor = data(&r).as_str().expect("token").to_string();
    // The editor may change ordinary settings, not the JWT ones.
    let r = app
        .api(
            Method::PUT,
            SETTINGS,
            &editor,
            Some(json!([
                item("pipeline_timeout_minutes", json!("30"), true),
                item("scim_jwt_token_service_account_id", json!("editor"), false),
                item("scim_jwt_token_jwks_keys_url", json!("https://attacker.example/keys"), false),
            ])),
        )
        .await;
    let items = data(&r).as_array().expect("items").clone();
    assert_eq!(items[0]["updateStatus"], true);
    for it in &items[1..] {
        assert_eq!(it["updateStatus"], false, "{it}");
        assert!(
            it["errorMessage"].as_str().is_some_and(|m| m.contains("core_serviceaccount_manageapikey")),
            "{it}"
        );
    }
    assert_eq!(value_at(&app, "scim_jwt_token_jwks_keys_url", "", "").await, Value::Null);
    // The admin may, but only for a service account that exists.
    let r =
        put(&app, SETTINGS, json!([item("scim_jwt_token_service_account_id", json!("ghost"), false)])).await;
    assert_eq!(data(&r)[0]["updateStatus"], false);
    let r =
        put(&app, SETTINGS, json!([item("scim_jwt_token_service_account_id", json!("editor"), false)])).await;
    assert_eq!(data(&r)[0]["updateStatus"], true, "{}", r.text);
}
