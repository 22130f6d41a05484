//! The admin console without a browser (docs/console.md): sign-in and sessions, CSRF,
//! response headers, what each page offers, and that the services refuse forged requests.
//! The browser tests (headless Chromium) are in `tests/e2e/`.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::json;
use tower::ServiceExt;

use crate::common::{TestApp, enc, test_audit};

struct Page {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    text: String,
}

impl Page {
    fn location(&self) -> Option<&str> {
        self.headers.get("location").and_then(|v| v.to_str().ok())
    }
    /// The CSRF token of the page's first form.
    fn csrf(&self) -> String {
        let at = self.text.find("name=\"csrf\" value=\"").expect("a form with a CSRF token");
        let rest = &self.text[at + "name=\"csrf\" value=\"".len()..];
        rest[..rest.find('"').expect("end")].to_string()
    }
}

async fn send(app: &TestApp, method: Method, path: &str, cookie: Option<&str>, form: Option<&str>) -> Page {
    let mut b = Request::builder().method(method).uri(path).header("host", "console.test");
    if let Some(c) = cookie {
        b = b.header("cookie", format!("scimgate_session={c}"));
    }
    if form.is_some() {
        b = b.header("content-type", "application/x-www-form-urlencoded");
    }
    let req = b.body(form.map(|f| Body::from(f.to_string())).unwrap_or_else(Body::empty)).expect("request");
    let res = app.router.clone().oneshot(req).await.expect("infallible");
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = res.into_body().collect().await.expect("body").to_bytes();
    Page { status, headers, text: String::from_utf8_lossy(&bytes).to_string() }
}

/// Signs in with a token; the session id.
async fn sign_in(app: &TestApp, token: &str) -> String {
    let r = send(app, Method::POST, "/login", None, Some(&format!("token={}", enc(token)))).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    let cookie =
        r.headers.get("set-cookie").and_then(|v| v.to_str().ok()).expect("a session cookie").to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && cookie.contains("Path=/"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "plain http without --public-url: {cookie}");
    cookie.split(';').next().and_then(|c| c.strip_prefix("scimgate_session=")).expect("id").to_string()
}

#[tokio::test]
async fn sign_in_sessions_and_headers() {
    let app = TestApp::new().await;
    // Signed out: every page goes to /login; the login page has a masked token field.
    for path in ["/", "/users", "/groups", "/serviceaccounts", "/settings/scim-jwt", "/settings/audit", "/me"]
    {
        let r = send(&app, Method::GET, path, None, None).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(r.location(), Some("/login"), "{path}");
    }
    let login = send(&app, Method::GET, "/login", None, None).await;
    assert_eq!(login.status, StatusCode::OK);
    assert!(login.text.contains(r#"name="token" type="password""#), "{}", login.text);
    assert!(login.text.contains(r#"<label for="token">"#));
    // A wrong token: the login page again, 401, the same message whatever account it names.
    let mut answers = Vec::new();
    for wrong in ["pat.acme.nope.nope", "pat.nosuch.nope.nope", "garbage"] {
        let r = send(&app, Method::POST, "/login", None, Some(&format!("token={}", enc(wrong)))).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert!(r.headers.get("set-cookie").is_none());
        answers.push(r.text.replace(wrong, ""));
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "no hint of which accounts exist");
    // The right one: a session; the overview shows the account and the SCIM base URL.
    let session = sign_in(&app, &app.token).await;
    let r = send(&app, Method::GET, "/", Some(&session), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(r.text.contains("http://console.test/gateway/ng/api/scim/account/acme"), "{}", r.text);
    // The personal page: who, and its own keys and tokens (this session's marked).
    let me = send(&app, Method::GET, "/me", Some(&session), None).await;
    assert!(me.text.contains("(this session)") && me.text.contains("_account_admin"), "{}", me.text);
    // Headers on every page.
    for (name, value) in [
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        ("cache-control", "no-store"),
        ("x-content-type-options", "nosniff"),
    ] {
        assert_eq!(r.headers.get(name).and_then(|v| v.to_str().ok()), Some(value), "{name}");
    }
    let csp = r.headers.get("content-security-policy").and_then(|v| v.to_str().ok()).expect("csp");
    assert!(
        csp.contains("script-src 'self'")
            && !csp.contains("unsafe-inline")
            && csp.contains("frame-ancestors 'none'")
    );
    assert!(!r.text.contains("<script>") && !r.text.contains(" style="), "no inline script or style");
    // Assets are served by scimgate itself.
    for (path, ty) in [("/assets/console.css", "text/css"), ("/assets/console.js", "text/javascript")] {
        let a = send(&app, Method::GET, path, None, None).await;
        assert_eq!(a.status, StatusCode::OK);
        assert!(
            a.headers.get("content-type").and_then(|v| v.to_str().ok()).is_some_and(|t| t.starts_with(ty))
        );
    }
    // Sign out needs the CSRF token, then ends the session.
    let csrf = r.csrf();
    let out = send(&app, Method::POST, "/logout", Some(&session), Some("csrf=wrong")).await;
    assert_eq!(out.status, StatusCode::FORBIDDEN);
    let out = send(&app, Method::POST, "/logout", Some(&session), Some(&format!("csrf={csrf}"))).await;
    assert_eq!(out.location(), Some("/login"));
    assert_eq!(send(&app, Method::GET, "/", Some(&session), None).await.location(), Some("/login"));
}

#[tokio::test]
async fn sessions_end_with_their_token_and_their_timeouts() {
    let (app, clock) = TestApp::manual_clock().await;
    let session = sign_in(&app, &app.token).await;
    assert_eq!(send(&app, Method::GET, "/me", Some(&session), None).await.status, StatusCode::OK);
    // Idle 31 minutes: gone.
    clock.advance(time::Duration::minutes(31));
    assert_eq!(send(&app, Method::GET, "/me", Some(&session), None).await.location(), Some("/login"));
    // Absolute: 12 h, however active.
    let session = sign_in(&app, &app.token).await;
    for _ in 0..24 {
        clock.advance(time::Duration::minutes(29));
        assert_eq!(send(&app, Method::GET, "/me", Some(&session), None).await.status, StatusCode::OK);
    }
    clock.advance(time::Duration::minutes(29));
    assert_eq!(send(&app, Method::GET, "/me", Some(&session), None).await.location(), Some("/login"));
    // A session of a service account token that is then deleted: the next page is /login.
    let sa = app
        .admin(
            Method::POST,
            "/gateway/ng/api/serviceaccount?accountIdentifier=acme",
            Some(json!({"identifier": "ops", "name": "Ops", "email": "ops@acme.test"})),
        )
        .await;
    assert_eq!(sa.status, StatusCode::OK, "{}", sa.text);
    app.admin(Method::POST, "/gateway/authz/api/roleassignments?accountIdentifier=acme", Some(json!({"roleIdentifier": "_account_viewer", "resourceGroupIdentifier": "_all_account_level_resources", "principal": {"identifier": "ops", "type": "SERVICE_ACCOUNT"}}))).await;
    app.admin(
        Method::POST,
        "/gateway/ng/api/apikey?accountIdentifier=acme",
        Some(json!({"identifier": "k", "apiKeyType": "SERVICE_ACCOUNT", "parentIdentifier": "ops"})),
    )
    .await;
    let t = app.admin(Method::POST, "/gateway/ng/api/token?accountIdentifier=acme", Some(json!({"identifier": "t", "apiKeyType": "SERVICE_ACCOUNT", "parentIdentifier": "ops", "apiKeyIdentifier": "k"}))).await;
    let token = t.body["data"].as_str().expect("token").to_string();
    let session = sign_in(&app, &token).await;
    assert_eq!(send(&app, Method::GET, "/users", Some(&session), None).await.status, StatusCode::OK);
    let d = app.admin(Method::DELETE, "/gateway/ng/api/token/t?accountIdentifier=acme&apiKeyType=SERVICE_ACCOUNT&parentIdentifier=ops&apiKeyIdentifier=k", None).await;
    assert_eq!(d.status, StatusCode::OK, "{}", d.text);
    assert_eq!(send(&app, Method::GET, "/users", Some(&session), None).await.location(), Some("/login"));
}

#[tokio::test]
async fn the_seed_flow_csrf_and_a_viewer_that_cannot_edit() {
    let app = TestApp::new().await;
    let admin = sign_in(&app, &app.token).await;
    // New Service Account: the Id shown as derived from the Name; Save.
    let form = send(&app, Method::GET, "/serviceaccounts/new", Some(&admin), None).await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.text);
    for words in [
        "<label for=\"name\">Name</label>",
        "<label for=\"email\">Email</label>",
        "<label for=\"identifier\">Id</label>",
        ">Save</button>",
    ] {
        assert!(form.text.contains(words), "{words}");
    }
    let csrf = form.csrf();
    let body =
        format!("csrf={csrf}&name={}&email=scim%40acme.test&identifier=", enc("SCIM Provisioner (Okta)"));
    // Without the CSRF token: 403 and nothing created.
    let forged =
        send(&app, Method::POST, "/serviceaccounts/new", Some(&admin), Some(&body.replace(&csrf, ""))).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let r = app
        .admin(
            Method::GET,
            "/gateway/ng/api/serviceaccount/SCIM_Provisioner_Okta?accountIdentifier=acme",
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let saved = send(&app, Method::POST, "/serviceaccounts/new", Some(&admin), Some(&body)).await;
    assert_eq!(saved.location(), Some("/serviceaccounts/SCIM_Provisioner_Okta"), "{}", saved.text);
    // Manage Roles: a custom role with the five SCIM permissions on the built-in group.
    let perms = [
        "core_user_view",
        "core_user_invite",
        "core_user_manage",
        "core_usergroup_view",
        "core_usergroup_manage",
    ];
    let role_form = format!(
        "csrf={csrf}&name=SCIM&identifier=scim&{}",
        perms.map(|p| format!("permission={p}")).join("&")
    );
    let r = send(&app, Method::POST, "/roles/new", Some(&admin), Some(&role_form)).await;
    assert_eq!(r.location(), Some("/roles"), "{}", r.text);
    let page = send(&app, Method::GET, "/serviceaccounts/SCIM_Provisioner_Okta", Some(&admin), None).await;
    assert!(page.text.contains("Manage Roles"), "{}", page.text);
    let r = send(
        &app,
        Method::POST,
        "/serviceaccounts/SCIM_Provisioner_Okta/roles",
        Some(&admin),
        Some(&format!("csrf={csrf}&role=scim&resource_group=_all_account_level_resources")),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    // A token, shown once, that works over SCIM.
    let r = send(
        &app,
        Method::POST,
        "/serviceaccounts/SCIM_Provisioner_Okta/tokens",
        Some(&admin),
        Some(&format!("csrf={csrf}&name=okta")),
    )
    .await;
    // POST, then a redirect to the page that shows the secret once (a reload re-sends nothing).
    assert_eq!(r.location(), Some("/serviceaccounts/SCIM_Provisioner_Okta"), "{}", r.text);
    let r = send(&app, Method::GET, "/serviceaccounts/SCIM_Provisioner_Okta", Some(&admin), None).await;
    let at = r.text.find("sat.acme.").expect("the new token is shown");
    let token: String = r.text[at..].chars().take_while(|c| *c != '<').collect();
    let scim = app.send(Method::GET, &app.scim("/Users"), Some(&token), None, &[]).await;
    assert_eq!(scim.status, StatusCode::OK, "{}", scim.text);
    let again = send(&app, Method::GET, "/serviceaccounts/SCIM_Provisioner_Okta", Some(&admin), None).await;
    assert!(!again.text.contains(&token), "a secret is shown exactly once");

    // A viewer sees no edit controls, and its forged POSTs are refused by the services.
    app.admin(
        Method::POST,
        "/gateway/ng/api/serviceaccount?accountIdentifier=acme",
        Some(json!({"identifier": "viewer", "name": "Viewer", "email": "v@acme.test"})),
    )
    .await;
    app.admin(Method::POST, "/gateway/authz/api/roleassignments?accountIdentifier=acme", Some(json!({"roleIdentifier": "_account_viewer", "resourceGroupIdentifier": "_all_account_level_resources", "principal": {"identifier": "viewer", "type": "SERVICE_ACCOUNT"}}))).await;
    app.admin(
        Method::POST,
        "/gateway/ng/api/apikey?accountIdentifier=acme",
        Some(json!({"identifier": "k", "apiKeyType": "SERVICE_ACCOUNT", "parentIdentifier": "viewer"})),
    )
    .await;
    let t = app.admin(Method::POST, "/gateway/ng/api/token?accountIdentifier=acme", Some(json!({"identifier": "t", "apiKeyType": "SERVICE_ACCOUNT", "parentIdentifier": "viewer", "apiKeyIdentifier": "k"}))).await;
    let viewer = sign_in(&app, t.body["data"].as_str().expect("token")).await;
    let list = send(&app, Method::GET, "/serviceaccounts", Some(&viewer), None).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text);
    assert!(!list.text.contains("New Service Account"), "no edit control for a viewer");
    let sa = send(&app, Method::GET, "/serviceaccounts/SCIM_Provisioner_Okta", Some(&viewer), None).await;
    assert!(
        !sa.text.contains("Add role") && !sa.text.contains("New token") && !sa.text.contains(">Remove<"),
        "{}",
        sa.text
    );
    let vcsrf = sa.csrf();
    let forged = send(
        &app,
        Method::POST,
        "/serviceaccounts/new",
        Some(&viewer),
        Some(&format!("csrf={vcsrf}&name=Evil&email=e%40acme.test")),
    )
    .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "{}", forged.text);
    assert!(forged.text.contains("core_serviceaccount_edit"));
    let forged = send(
        &app,
        Method::POST,
        "/serviceaccounts/viewer/roles",
        Some(&viewer),
        Some(&format!("csrf={vcsrf}&role=_account_admin&resource_group=_all_account_level_resources")),
    )
    .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let r = app.admin(Method::GET, "/gateway/ng/api/serviceaccount/Evil?accountIdentifier=acme", None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "nothing was created");
    // Another session's CSRF token does not work in this one.
    let forged = send(
        &app,
        Method::POST,
        "/serviceaccounts/new",
        Some(&admin),
        Some(&format!("csrf={vcsrf}&name=Evil&email=e%40acme.test")),
    )
    .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn users_and_groups_pages_search_and_page() {
    let app = TestApp::new().await;
    for i in 0..30 {
        app.user(&format!("person{i:02}@acme.test")).await;
    }
    let alice = app.user("alice@acme.test").await;
    app.group("Engineering", &[&alice]).await;
    let s = sign_in(&app, &app.token).await;
    let first = send(&app, Method::GET, "/users", Some(&s), None).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    assert_eq!(first.text.matches("<tr>").count() - 1, 25, "25 rows and a header");
    let at = first.text.find("?q=&amp;after=").expect("a next page link");
    let next: String = first.text[at + "?q=&amp;after=".len()..].chars().take_while(|c| *c != '"').collect();
    let second = send(&app, Method::GET, &format!("/users?q=&after={next}"), Some(&s), None).await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.text);
    assert!(second.text.contains("alice@acme.test"), "the last page has the last user");
    let found = send(&app, Method::GET, "/users?q=ALICE", Some(&s), None).await;
    assert!(found.text.contains("alice@acme.test") && !found.text.contains("person01"), "{}", found.text);
    let user = send(&app, Method::GET, &format!("/users/{alice}"), Some(&s), None).await;
    assert!(
        user.text.contains("Engineering") && user.text.contains("urn:ietf:params:scim:schemas:core:2.0:User"),
        "{}",
        user.text
    );
    let groups = send(&app, Method::GET, "/groups?q=engin", Some(&s), None).await;
    assert!(groups.text.contains("Engineering"), "{}", groups.text);
    // A made-up page position is refused, not a 500.
    let bad = send(&app, Method::GET, "/users?after=bm9wZQ", Some(&s), None).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.text);
}

/// Every console route: signed out → /login; with the admin → 200 and the console's
/// headers; with a principal that holds no permission → the page refuses (403) or shows
/// nothing it may not see; every POST without the CSRF token → 403.
#[tokio::test]
async fn every_route_answers_by_permission_with_headers_and_csrf() {
    let app = TestApp::new().await;
    let acme = scimgate_domain::AccountId::parse("acme").expect("id");
    app.store.set_feature_flag(&acme, "NG_SETTINGS", true, &test_audit()).await.expect("flag");
    app.state.auth.invalidate(&acme);
    let user = app.user("someone@acme.test").await;
    let group = app.group("Team", &[&user]).await;
    app.admin(
        Method::POST,
        "/gateway/ng/api/serviceaccount?accountIdentifier=acme",
        Some(json!({"identifier": "bot", "name": "Bot", "email": "bot@acme.test"})),
    )
    .await;
    app.admin(
        Method::POST,
        "/gateway/ng/api/apikey?accountIdentifier=acme",
        Some(json!({"identifier": "k", "apiKeyType": "SERVICE_ACCOUNT", "parentIdentifier": "bot"})),
    )
    .await;
    let t = app.admin(Method::POST, "/gateway/ng/api/token?accountIdentifier=acme", Some(json!({"identifier": "t", "apiKeyType": "SERVICE_ACCOUNT", "parentIdentifier": "bot", "apiKeyIdentifier": "k"}))).await;
    let nobody = sign_in(&app, t.body["data"].as_str().expect("token")).await;
    let admin = sign_in(&app, &app.token).await;
    let gets = [
        ("/", false),
        ("/me", false),
        ("/users", true),
        (&*format!("/users/{user}"), true),
        ("/groups", true),
        (&*format!("/groups/{group}"), true),
        ("/serviceaccounts", true),
        ("/serviceaccounts/new", true),
        ("/serviceaccounts/bot", true),
        ("/roles", true),
        ("/roles/new", true),
        ("/resourcegroups", true),
        ("/roleassignments", true),
        ("/settings/scim-jwt", true),
        ("/settings/audit", true),
        ("/audit", true),
        ("/audit?resourceType=USER&action=CREATE", true),
        ("/scim-requests", true),
        ("/scim-requests?status=4xx&method=POST", true),
    ];
    for (path, needs_permission) in gets {
        let r = send(&app, Method::GET, path, None, None).await;
        assert_eq!(r.location(), Some("/login"), "{path} signed out");
        let r = send(&app, Method::GET, path, Some(&admin), None).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.text);
        assert_eq!(r.headers.get("cache-control").and_then(|v| v.to_str().ok()), Some("no-store"), "{path}");
        assert!(r.headers.get("content-security-policy").is_some(), "{path}");
        assert_eq!(r.headers.get("x-frame-options").and_then(|v| v.to_str().ok()), Some("DENY"), "{path}");
        assert!(
            r.text.contains("<label") || !r.text.contains("<input type=\"text\""),
            "{path}: inputs have labels"
        );
        let r = send(&app, Method::GET, path, Some(&nobody), None).await;
        if needs_permission {
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{path} without permissions: {}", r.text);
            assert!(r.text.contains("missing permission core_"), "{path}: {}", r.text);
        } else {
            assert_eq!(r.status, StatusCode::OK, "{path}");
        }
    }
    // The overview of a principal without permissions shows no counts it may not read and
    // no navigation to pages it cannot open.
    let r = send(&app, Method::GET, "/", Some(&nobody), None).await;
    assert!(
        !r.text.contains("href=\"/users\"") && !r.text.contains("href=\"/serviceaccounts\""),
        "{}",
        r.text
    );
    let csrf = send(&app, Method::GET, "/me", Some(&admin), None).await.csrf();
    let posts = [
        "/logout",
        "/serviceaccounts/new",
        "/serviceaccounts/bot/roles",
        "/serviceaccounts/bot/roles/nosuch/delete",
        "/serviceaccounts/bot/tokens",
        "/serviceaccounts/bot/tokens/k/t/rotate",
        "/serviceaccounts/bot/tokens/k/t/delete",
        "/roles/new",
        "/settings/scim-jwt",
        "/settings/scim-jwt/test",
        "/settings/scim-jwt/keys",
    ];
    for path in posts {
        for body in ["", "csrf=", "csrf=not-the-token", &*format!("csrf={csrf}x")] {
            let r = send(&app, Method::POST, path, Some(&admin), Some(body)).await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{path} with {body:?}: {}", r.text);
        }
    }
    // Nothing changed: the token still works, no role or service account was added.
    assert_eq!(send(&app, Method::GET, "/me", Some(&admin), None).await.status, StatusCode::OK);
    let r = app
        .admin(
            Method::GET,
            "/gateway/ng/api/apikey/k?accountIdentifier=acme&apiKeyType=SERVICE_ACCOUNT&parentIdentifier=bot",
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        send(&app, Method::GET, "/users", Some(&nobody), None).await.status,
        StatusCode::FORBIDDEN,
        "the bot's session lives on"
    );
}

/// Roles and Resource Groups: built-ins read-only, custom ones created and edited with
/// checkboxes.
#[tokio::test]
async fn custom_roles_and_resource_groups_are_created_and_edited() {
    let app = TestApp::new().await;
    let s = sign_in(&app, &app.token).await;
    let csrf = send(&app, Method::GET, "/roles/new", Some(&s), None).await.csrf();
    let r = send(
        &app,
        Method::POST,
        "/roles/new",
        Some(&s),
        Some(&format!("csrf={csrf}&name=Readers&identifier=&permission=core_user_view")),
    )
    .await;
    assert_eq!(r.location(), Some("/roles"), "{}", r.text);
    let edit = send(&app, Method::GET, "/roles/Readers", Some(&s), None).await;
    assert_eq!(edit.status, StatusCode::OK, "{}", edit.text);
    assert!(edit.text.contains(r#"value="core_user_view" checked"#), "{}", edit.text);
    let r = send(
        &app,
        Method::POST,
        "/roles/Readers",
        Some(&s),
        Some(&format!("csrf={csrf}&name=Readers&permission=core_user_view&permission=core_usergroup_view")),
    )
    .await;
    assert_eq!(r.location(), Some("/roles"), "{}", r.text);
    let role = app.admin(Method::GET, "/gateway/authz/api/roles/Readers?accountIdentifier=acme", None).await;
    assert_eq!(
        role.body["data"]["role"]["permissions"],
        json!(["core_user_view", "core_usergroup_view"]),
        "{}",
        role.text
    );
    let builtin = send(&app, Method::GET, "/roles/_account_admin", Some(&s), None).await;
    assert_eq!(builtin.status, StatusCode::FORBIDDEN);
    let r = send(
        &app,
        Method::POST,
        "/resourcegroups/new",
        Some(&s),
        Some(&format!("csrf={csrf}&name=People&resource_type=USER&resource_type=USERGROUP")),
    )
    .await;
    assert_eq!(r.location(), Some("/resourcegroups"), "{}", r.text);
    let edit = send(&app, Method::GET, "/resourcegroups/People", Some(&s), None).await;
    assert!(edit.text.contains(r#"value="USERGROUP" checked"#), "{}", edit.text);
    let r = send(
        &app,
        Method::POST,
        "/resourcegroups/People",
        Some(&s),
        Some(&format!("csrf={csrf}&name=Everything&include_all=true")),
    )
    .await;
    assert_eq!(r.location(), Some("/resourcegroups"), "{}", r.text);
    let list = send(&app, Method::GET, "/resourcegroups", Some(&s), None).await;
    assert!(list.text.contains("Everything") && list.text.contains("built-in (read-only)"), "{}", list.text);
}

/// The session cookie is `Secure` when `--public-url` is https (or a trusted proxy says the
/// request came over https).
#[tokio::test]
async fn the_cookie_is_secure_behind_https() {
    let app = TestApp::with_config(std::sync::Arc::new(scimgate_domain::SystemClock), |c| {
        c.public_url = Some(scimgate::config::parse_public_url("https://scim.acme.test").expect("url"));
    })
    .await;
    let r = send(&app, Method::POST, "/login", None, Some(&format!("token={}", enc(&app.token)))).await;
    let cookie = r.headers.get("set-cookie").and_then(|v| v.to_str().ok()).expect("cookie");
    assert!(
        cookie.contains("; Secure") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
}

#[tokio::test]
async fn the_logs_show_what_changed_and_what_okta_sent() {
    let app = TestApp::new().await;
    let _writer = app.start_request_log();
    let admin = sign_in(&app, &app.token).await;
    let bad = app.post("/Users", json!({"userName": "", "password": "hunter2"})).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.text);
    let ada = app.user("ada@acme.test").await;
    // The audit log page lists the create, filtered by resource.
    let r =
        send(&app, Method::GET, &format!("/audit?resourceType=USER&resourceId={ada}"), Some(&admin), None)
            .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(r.text.contains("CREATE") && r.text.contains(&ada), "{}", r.text);
    assert!(r.text.contains(r#"<label for="resourceType">"#), "{}", r.text);
    // The failed POST is in the request log; its page shows both bodies, the password redacted.
    let mut seq = None;
    for _ in 0..100 {
        let rows = app
            .admin(Method::GET, "/gateway/ng/api/scim-requests?accountIdentifier=acme&status=4xx", None)
            .await;
        if let Some(s) = rows.body["data"]["requests"][0]["seq"].as_i64() {
            seq = Some(s);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let seq = seq.expect("the failed request was logged");
    let list = send(&app, Method::GET, "/scim-requests?status=4xx", Some(&admin), None).await;
    assert!(list.text.contains(&format!("/scim-requests/{seq}")), "{}", list.text);
    let page = send(&app, Method::GET, &format!("/scim-requests/{seq}"), Some(&admin), None).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert!(page.text.contains("Request body") && page.text.contains("Response body"), "{}", page.text);
    assert!(page.text.contains("[redacted]") && !page.text.contains("hunter2"), "{}", page.text);
    assert!(page.text.contains("400"), "{}", page.text);
    let missing = send(&app, Method::GET, "/scim-requests/999999", Some(&admin), None).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}
