//! Abuse limits (docs/abuse.md): the per-account token bucket, the request timeout and the
//! failed-authentication throttle, over the real router. Peer addresses are values recorded
//! in the request (as the server records a connection's peer); nothing is sent to them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use scimgate_domain::SystemClock;
use serde_json::Value;
use tower::ServiceExt;

use crate::common::{TestApp, test_audit};

struct Answer {
    status: StatusCode,
    retry_after: Option<String>,
    body: Value,
}

async fn get(app: &TestApp, path: &str, auth: (&str, &str), peer: Option<&str>) -> Answer {
    let mut b =
        Request::builder().method(Method::GET).uri(path).header("host", "scim.test").header(auth.0, auth.1);
    if let Some(p) = peer {
        b = b.extension(ConnectInfo(p.parse::<SocketAddr>().expect("addr")));
    }
    let res = app.router.clone().oneshot(b.body(Body::empty()).expect("request")).await.expect("infallible");
    let status = res.status();
    let retry_after = res.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_string);
    let bytes = res.into_body().collect().await.expect("body").to_bytes();
    Answer { status, retry_after, body: serde_json::from_slice(&bytes).unwrap_or(Value::Null) }
}

fn bearer(t: &str) -> (&'static str, String) {
    ("authorization", format!("Bearer {t}"))
}

/// Over `--account-rate-limit`: 429 with `Retry-After` (whole seconds) and a SCIM error on
/// SCIM paths, the envelope on the product API; another account is not slowed at all.
#[tokio::test]
async fn the_rate_limit_is_per_account_with_retry_after() {
    let app = TestApp::with_config(Arc::new(SystemClock), |c| {
        c.account_rate_limit = 1;
        c.account_rate_burst = 5;
    })
    .await;
    let other = app.other_account("globex").await;
    let (acme_h, acme_v) = bearer(&app.token);
    let (other_h, other_v) = bearer(&other);
    let mut limited = 0;
    for _ in 0..20 {
        let r = get(&app, &app.scim("/Users"), (acme_h, &acme_v), None).await;
        match r.status {
            StatusCode::OK => {}
            StatusCode::TOO_MANY_REQUESTS => {
                limited += 1;
                let secs: u64 =
                    r.retry_after.as_deref().and_then(|s| s.parse().ok()).expect("Retry-After in seconds");
                assert!((1..=5).contains(&secs), "{secs}");
                assert_eq!(r.body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error");
                assert_eq!(r.body["status"], "429");
            }
            s => panic!("unexpected {s}"),
        }
    }
    assert!(limited >= 14, "a burst of 5 at 1/s: {limited} of 20 limited");
    // The product API of the same account: the envelope.
    let r =
        get(&app, "/gateway/ng/api/accounts/acme?accountIdentifier=acme", ("x-api-key", &app.token), None)
            .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.body["code"], "TOO_MANY_REQUESTS");
    assert!(r.retry_after.is_some());
    // The other account: its own bucket, never refused.
    for _ in 0..5 {
        let r = get(&app, "/gateway/ng/api/scim/account/globex/Users", (other_h, &other_v), None).await;
        assert_eq!(r.status, StatusCode::OK);
    }
    assert!(app.state.limits.refused.get("rate") >= 15);
}

/// Under load from a noisy account (16 clients at once, far over its rate and over its
/// in-flight limit), another account on the same node is never refused. The latency side of
/// "not slowed" is measured by `scripts/noisy-neighbour.sh`, not timed here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_noisy_account_under_load_does_not_refuse_another() {
    let app = Arc::new(
        TestApp::with_config(Arc::new(SystemClock), |c| {
            c.account_rate_limit = 50;
            c.account_rate_burst = 50;
            c.account_max_in_flight = 4;
        })
        .await,
    );
    let other = app.other_account("globex").await;
    let mut noisy = Vec::new();
    for _ in 0..16 {
        let app = app.clone();
        noisy.push(tokio::spawn(async move {
            let (h, v) = bearer(&app.token);
            let mut refused = 0;
            for _ in 0..40 {
                if get(&app, &app.scim("/Users"), (h, &v), None).await.status == StatusCode::TOO_MANY_REQUESTS
                {
                    refused += 1;
                }
            }
            refused
        }));
    }
    let (h, v) = bearer(&other);
    for _ in 0..40 {
        let r = get(&app, "/gateway/ng/api/scim/account/globex/Users", (h, &v), None).await;
        assert_eq!(r.status, StatusCode::OK, "the quiet account was refused: {}", r.body);
    }
    let mut refused = 0;
    for t in noisy {
        refused += t.await.expect("task");
    }
    assert!(refused >= 300, "the noisy account was limited: {refused} of 640 refused");
}

/// Failed authentication is counted per account and client address; past the threshold
/// that address gets 429 before any lookup, unless its credential is already known good.
#[tokio::test]
async fn failed_authentication_throttles_the_address_but_not_known_good_credentials() {
    let app = TestApp::with_config(Arc::new(SystemClock), |c| c.auth_failure_limit = 5).await;
    let ip = Some("198.51.100.20:40000");
    let other_ip = Some("198.51.100.21:40000");
    let (h, good) = bearer(&app.token);
    // The admin token is verified once from this address: now it is known good.
    assert_eq!(get(&app, &app.scim("/Users"), (h, &good), ip).await.status, StatusCode::OK);
    let (_, bad) = bearer("sat.acme.nope.nope");
    for _ in 0..5 {
        assert_eq!(get(&app, &app.scim("/Users"), (h, &bad), ip).await.status, StatusCode::UNAUTHORIZED);
    }
    let r = get(&app, &app.scim("/Users"), (h, &bad), ip).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(r.retry_after.is_some());
    // A credential not seen before from the throttled address: refused without a lookup.
    let globex_token = app.other_account("globex").await;
    let (gh, gv) = bearer(&globex_token);
    let r = get(&app, "/gateway/ng/api/scim/account/globex/Users", (gh, &gv), ip).await;
    assert_eq!(r.status, StatusCode::OK, "another account is not throttled for this address");
    // The known-good admin token keeps working from the same address.
    assert_eq!(get(&app, &app.scim("/Users"), (h, &good), ip).await.status, StatusCode::OK);
    // Another address is not throttled.
    assert_eq!(get(&app, &app.scim("/Users"), (h, &bad), other_ip).await.status, StatusCode::UNAUTHORIZED);
    // A token of this account never seen from anywhere: throttled at that address.
    let t = app
        .admin(
            Method::POST,
            "/gateway/ng/api/serviceaccount?accountIdentifier=acme",
            Some(serde_json::json!({"identifier": "bot", "name": "Bot", "email": "bot@acme.test"})),
        )
        .await;
    assert_eq!(t.status, StatusCode::OK);
    app.admin(Method::POST, "/gateway/ng/api/apikey?accountIdentifier=acme", Some(serde_json::json!({"identifier": "k", "apiKeyType": "SERVICE_ACCOUNT", "parentIdentifier": "bot"}))).await;
    let t = app.admin(Method::POST, "/gateway/ng/api/token?accountIdentifier=acme", Some(serde_json::json!({"identifier": "t", "apiKeyType": "SERVICE_ACCOUNT", "parentIdentifier": "bot", "apiKeyIdentifier": "k"}))).await;
    let fresh = t.body["data"].as_str().expect("token").to_string();
    let (_, fresh_v) = bearer(&fresh);
    assert_eq!(get(&app, &app.scim("/Users"), (h, &fresh_v), ip).await.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(app.state.limits.refused.get("auth_failures") >= 2);
}

/// `--request-timeout`: a request still running is stopped and answered 504 with a SCIM
/// error (here a JWT whose JWKS server never answers, with the JWKS timeout longer than the
/// request timeout).
#[tokio::test]
async fn a_request_over_the_timeout_is_504() {
    let app = TestApp::with_config(Arc::new(SystemClock), |c| {
        c.request_timeout = Duration::from_millis(300);
        c.jwks_allow_hosts = "loopback".into();
        c.jwks_allow_http = true;
        c.jwks_timeout = Duration::from_secs(5);
    })
    .await;
    // A listener that accepts and never answers.
    let stalled = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = stalled.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = stalled.accept().await {
            held.push(s);
        }
    });
    let acme = scimgate_domain::AccountId::parse("acme").expect("id");
    app.store.set_feature_flag(&acme, "NG_SETTINGS", true, &test_audit()).await.expect("flag");
    app.store
        .set_feature_flag(&acme, "PL_SUPPORT_JWT_TOKEN_SCIM_API", true, &test_audit())
        .await
        .expect("flag");
    app.state.auth.invalidate(&acme);
    app.admin(
        Method::POST,
        "/gateway/ng/api/serviceaccount?accountIdentifier=acme",
        Some(serde_json::json!({"identifier": "idp", "name": "Idp", "email": "idp@acme.test"})),
    )
    .await;
    let set = |id: &str, v: &str| serde_json::json!({"identifier": id, "value": v, "allowOverrides": false, "updateType": "UPDATE"});
    let r = app
        .admin(
            Method::PUT,
            "/gateway/ng/api/settings?accountIdentifier=acme",
            Some(serde_json::json!([
                set("scim_jwt_token_jwks_keys_url", &format!("http://{addr}/jwks.json")),
                set("scim_jwt_token_key_field", "email"),
                set("scim_jwt_token_value_field", "idp@acme.test"),
                set("scim_jwt_token_service_account_id", "idp"),
            ])),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let key = scimgate::jwt::tools::generate(jsonwebtoken::Algorithm::ES256, "k").expect("key");
    let mut claims = serde_json::Map::new();
    claims.insert("email".into(), "idp@acme.test".into());
    claims.insert("exp".into(), (time::OffsetDateTime::now_utc().unix_timestamp() + 300).into());
    let jwt = scimgate::jwt::tools::mint(&key.encoding, key.alg, Some("k"), &claims).expect("mint");
    let started = std::time::Instant::now();
    let r = get(&app, &app.scim("/Users"), ("authorization", &format!("Bearer {jwt}")), None).await;
    assert_eq!(r.status, StatusCode::GATEWAY_TIMEOUT, "{:?}", r.body);
    assert_eq!(r.body["status"], "504");
    assert!(r.body["detail"].as_str().is_some_and(|d| d.contains("--request-timeout")));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "stopped at the request timeout, not the JWKS timeout"
    );
    // The next request is served.
    let (h, v) = bearer(&app.token);
    assert_eq!(get(&app, &app.scim("/Users"), (h, &v), None).await.status, StatusCode::OK);
}
