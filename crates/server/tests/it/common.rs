//! Test fixtures: a fresh SQLite database per test and an in-process router.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

use scimgate::config::Config;
use scimgate::jwt::fetch::loopback_lookup;
use scimgate::server::{build_state_with_lookup, open_store};
use scimgate::state::AppState;
use scimgate_domain::access::Caller;
use scimgate_domain::account_service::create_account;
use scimgate_domain::{AccountId, Clock, ManualClock, SystemClock};

/// The database of one test: a fresh SQLite file, or, when `TEST_DATABASE_URL` names a
/// PostgreSQL server, a fresh schema in it (so every test starts empty and tests can run
/// in parallel).
pub async fn test_database_url(dir: &tempfile::TempDir) -> String {
    match std::env::var("TEST_DATABASE_URL") {
        Ok(base) if base.starts_with("postgres") => {
            use sqlx::Connection;
            let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
            let mut conn = sqlx::PgConnection::connect(&base).await.expect("connect to TEST_DATABASE_URL");
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                .execute(&mut conn)
                .await
                .expect("create schema");
            let sep = if base.contains('?') { '&' } else { '?' };
            format!("{base}{sep}options[search_path]={schema}")
        }
        _ => format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display()),
    }
}

/// One test's server: router, state, an account and its admin token.
pub struct TestApp {
    pub router: Router,
    pub state: AppState,
    pub store: Arc<dyn scimgate_domain::store::Store>,
    pub account: String,
    pub token: String,
    pub admin_user_id: String,
    _dir: tempfile::TempDir,
}

/// A response.
#[derive(Debug)]
pub struct Res {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Res {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl TestApp {
    pub async fn new() -> Self {
        Self::with_clock(Arc::new(SystemClock)).await
    }

    /// A server whose clock only moves when the test moves it.
    pub async fn manual_clock() -> (Self, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new(time::OffsetDateTime::now_utc()));
        (Self::with_clock(clock.clone()).await, clock)
    }

    pub async fn with_clock(clock: Arc<dyn Clock>) -> Self {
        Self::with_config(clock, |_| {}).await
    }

    /// A server with some configuration changed (the database is filled in).
    pub async fn with_config(clock: Arc<dyn Clock>, change: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = test_database_url(&dir).await;
        let store = open_store(&url).await.expect("open");
        Self::with_store(dir, url, store, clock, change).await
    }

    /// A server over a store the test opened itself on `url` (a database of
    /// [`test_database_url`] in `dir`).
    pub async fn with_store(
        dir: tempfile::TempDir,
        url: String,
        store: Arc<dyn scimgate_domain::store::Store>,
        clock: Arc<dyn Clock>,
        change: impl FnOnce(&mut Config),
    ) -> Self {
        let mut config = Config { database: url, ..Config::default() };
        change(&mut config);
        // Every name resolves to 127.0.0.1: no test download can leave the machine.
        let state = build_state_with_lookup(store.clone(), clock, config, loopback_lookup()).expect("state");
        let created = create_account(
            state.accounts.as_ref(),
            state.clock.as_ref(),
            &Caller::system(AccountId::parse("acme").expect("id")),
            "admin@acme.test",
            None,
            &[],
        )
        .await
        .expect("account");
        let router = scimgate::http::router(state.clone());
        Self {
            router,
            state,
            store,
            account: "acme".into(),
            token: created.token,
            admin_user_id: created.admin_user_id,
            _dir: dir,
        }
    }

    /// Starts the SCIM request log's writer (as a node does at start); it stops when the
    /// returned sender is dropped.
    pub fn start_request_log(&self) -> tokio::sync::watch::Sender<bool> {
        let (stop, rx) = tokio::sync::watch::channel(false);
        let queue =
            self.state.request_log_queue.lock().expect("lock").take().expect("writer not started yet");
        tokio::spawn(scimgate::request_log::write_loop(
            self.state.logs.clone(),
            self.state.request_log.clone(),
            queue,
            rx,
        ));
        stop
    }

    /// A second server state on the same database (another node).
    pub async fn second_node(&self, clock: Arc<dyn Clock>) -> AppState {
        let store = open_store(&self.state.config.database).await.expect("open");
        build_state_with_lookup(store, clock, (*self.state.config).clone(), loopback_lookup()).expect("state")
    }

    /// Another account in the same database.
    pub async fn other_account(&self, id: &str) -> String {
        create_account(
            self.state.accounts.as_ref(),
            self.state.clock.as_ref(),
            &Caller::system(AccountId::parse(id).expect("id")),
            "admin@other.test",
            None,
            &[],
        )
        .await
        .expect("account")
        .token
    }

    pub fn scim(&self, path: &str) -> String {
        format!("/gateway/ng/api/scim/account/{}{path}", self.account)
    }

    /// Sends a request with the admin token.
    pub async fn req(&self, method: Method, path: &str, body: Option<Value>) -> Res {
        self.send(method, &self.scim(path), Some(&self.token), body.map(|b| b.to_string()), &[]).await
    }

    pub async fn get(&self, path: &str) -> Res {
        self.req(Method::GET, path, None).await
    }
    pub async fn post(&self, path: &str, body: Value) -> Res {
        self.req(Method::POST, path, Some(body)).await
    }
    pub async fn put(&self, path: &str, body: Value) -> Res {
        self.req(Method::PUT, path, Some(body)).await
    }
    pub async fn patch(&self, path: &str, body: Value) -> Res {
        self.req(Method::PATCH, path, Some(body)).await
    }
    pub async fn delete(&self, path: &str) -> Res {
        self.req(Method::DELETE, path, None).await
    }

    /// A GET as if it came from `peer` (the server records the peer address of real
    /// connections; nothing is sent to that address).
    pub async fn get_from(&self, peer: std::net::SocketAddr, path: &str) -> Res {
        let mut req = Request::builder().method(Method::GET).uri(path).header("host", "scim.test");
        req = req.extension(axum::extract::ConnectInfo(peer));
        let res =
            self.router.clone().oneshot(req.body(Body::empty()).expect("request")).await.expect("infallible");
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.into_body().collect().await.expect("body").to_bytes();
        let text = String::from_utf8_lossy(&bytes).to_string();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Res { status, headers, body, text }
    }

    /// Fully general request: absolute path, optional token, raw body, extra headers.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<String>,
        headers: &[(&str, &str)],
    ) -> Res {
        let mut b = Request::builder().method(method).uri(path);
        if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
            b = b.header("host", "scim.test");
        }
        if let Some(t) = token {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        let has_ct = headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type"));
        if body.is_some() && !has_ct {
            b = b.header("content-type", "application/scim+json");
        }
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let req = b.body(body.map(Body::from).unwrap_or_else(Body::empty)).expect("request");
        let res = self.router.clone().oneshot(req).await.expect("infallible");
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.into_body().collect().await.expect("body").to_bytes();
        let text = String::from_utf8_lossy(&bytes).to_string();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Res { status, headers, body, text }
    }

    /// A non-SCIM API call with `x-api-key`.
    pub async fn api(&self, method: Method, path: &str, key: &str, body: Option<Value>) -> Res {
        let headers = [("x-api-key", key), ("content-type", "application/json")];
        self.send(method, path, None, body.map(|b| b.to_string()), &headers).await
    }

    /// A non-SCIM API call with the admin token.
    pub async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> Res {
        self.api(method, path, &self.token.clone(), body).await
    }

    /// Creates a user and returns its id.
    pub async fn user(&self, user_name: &str) -> String {
        let r = self
            .post(
                "/Users",
                serde_json::json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": user_name,
                    "name": {"givenName": "Given", "familyName": "Family"},
                    "emails": [{"value": user_name, "type": "work", "primary": true}],
                    "active": true
                }),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        r.body["id"].as_str().expect("id").to_string()
    }

    /// Creates a group and returns its id.
    pub async fn group(&self, name: &str, members: &[&str]) -> String {
        let members: Vec<Value> = members.iter().map(|m| serde_json::json!({"value": m})).collect();
        let r = self
            .post(
                "/Groups",
                serde_json::json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                    "displayName": name,
                    "members": members
                }),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        r.body["id"].as_str().expect("id").to_string()
    }
}

/// Asserts a SCIM error body.
pub fn assert_scim_error(r: &Res, status: u16, scim_type: Option<&str>) {
    assert_eq!(r.status.as_u16(), status, "{}", r.text);
    assert_eq!(r.header("content-type"), Some("application/scim+json"), "{}", r.text);
    assert_eq!(r.body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error", "{}", r.text);
    assert_eq!(r.body["status"], status.to_string(), "{}", r.text);
    assert!(r.body["detail"].as_str().is_some_and(|d| !d.is_empty()), "{}", r.text);
    match scim_type {
        Some(t) => assert_eq!(r.body["scimType"], t, "{}", r.text),
        None => assert!(r.body.get("scimType").is_none(), "{}", r.text),
    }
}

pub fn patch_body(ops: Value) -> Value {
    serde_json::json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops})
}

/// Percent-encodes a query value (everything but unreserved characters).
pub fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// An audit entry for writes a test makes straight through the store (the operator's).
pub fn test_audit() -> scimgate_domain::audit::AuditEntry {
    scimgate_domain::audit::AuditEntry {
        at: time::OffsetDateTime::now_utc(),
        actor: scimgate_domain::audit::Actor::system(),
        action: scimgate_domain::audit::action::UPDATE,
        resource: scimgate_domain::audit::AuditResource::FeatureFlag,
        resource_id: "test".into(),
        summary: serde_json::json!({}),
    }
}
