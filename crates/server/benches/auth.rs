//! One authenticated SCIM GET through the whole router, with a JWT (remembered after the
//! first verification) and with a service-account API token, side by side.

use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use criterion::{Criterion, criterion_group, criterion_main};
use http_body_util::BodyExt;
use jsonwebtoken::Algorithm;
use serde_json::{Map, Value, json};
use tower::ServiceExt;

use scimgate::config::Config;
use scimgate::jwt::tools::{generate, mint};
use scimgate::server::{build_state, open_store};
use scimgate_domain::account_service::create_account;
use scimgate_domain::{AccountId, SystemClock};

async fn call(
    router: &axum::Router,
    method: &str,
    uri: &str,
    header: (&str, &str),
    body: Option<Value>,
) -> Value {
    let mut b = Request::builder().method(method).uri(uri).header(header.0, header.1);
    if body.is_some() {
        b = b.header("content-type", "application/json");
    }
    let req = b.body(body.map(|v| Body::from(v.to_string())).unwrap_or_else(Body::empty)).expect("request");
    let res = router.clone().oneshot(req).await.expect("infallible");
    let status = res.status();
    let bytes = res.into_body().collect().await.expect("body").to_bytes();
    assert!(status.is_success(), "{method} {uri}: {status} {}", String::from_utf8_lossy(&bytes));
    serde_json::from_slice(&bytes).unwrap_or(Value::Null)
}

fn bench(c: &mut Criterion) {
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let dir = tempfile::tempdir().expect("tmp");
    let (router, jwt, sat, uid) = rt.block_on(async {
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("bench.db").display());
        let store = open_store(&url).await.expect("open");
        let config = Config {
            database: url,
            jwks_allow_hosts: "loopback".into(),
            jwks_allow_http: true,
            // A benchmark measures requests, not the limiter (docs/abuse.md).
            account_rate_limit: 0,
            account_max_in_flight: 0,
            ..Config::default()
        };
        let state = build_state(store, Arc::new(SystemClock), config).expect("state");
        let flags = ["NG_SETTINGS".to_string(), "PL_SUPPORT_JWT_TOKEN_SCIM_API".to_string()];
        let admin = create_account(
            state.accounts.as_ref(),
            state.clock.as_ref(),
            &scimgate_domain::access::Caller::system(scimgate_domain::AccountId::parse("acme").expect("id")),
            "admin@acme.test",
            None,
            &flags,
        )
            .await
            .expect("account");
        let _ = AccountId::parse("acme");
        let router = scimgate::http::router(state);
        let key = ("x-api-key", admin.token.as_str());
        let q = "?accountIdentifier=acme";
        call(&router, "POST", &format!("/gateway/ng/api/serviceaccount{q}"), key,
            Some(json!({"identifier": "idp", "name": "idp", "email": "idp@acme.test"}))).await;
        call(&router, "POST", &format!("/gateway/authz/api/roleassignments{q}"), key,
            Some(json!({"roleIdentifier": "_account_admin", "resourceGroupIdentifier": "_all_account_level_resources",
                        "principal": {"identifier": "idp", "type": "SERVICE_ACCOUNT"}}))).await;
        call(&router, "POST", &format!("/gateway/ng/api/apikey{q}"), key,
            Some(json!({"identifier": "k", "apiKeyType": "SERVICE_ACCOUNT", "parentIdentifier": "idp"}))).await;
        let sat = call(&router, "POST", &format!("/gateway/ng/api/token{q}"), key,
            Some(json!({"identifier": "t", "apiKeyType": "SERVICE_ACCOUNT", "parentIdentifier": "idp", "apiKeyIdentifier": "k"})))
            .await["data"]
            .as_str()
            .expect("token")
            .to_string();
        // A real JWKS server on loopback.
        let k = generate(Algorithm::RS256, "bench").expect("key");
        let body = json!({"keys": [k.jwk]}).to_string();
        let jwks = axum::Router::new().route("/jwks.json", axum::routing::get(move || {
            let body = body.clone();
            async move { ([("content-type", "application/json")], body) }
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, jwks).await });
        let item = |id: &str, v: &str| json!({"identifier": id, "value": v, "allowOverrides": false, "updateType": "UPDATE"});
        call(&router, "PUT", &format!("/gateway/ng/api/settings{q}"), key, Some(json!([
            item("scim_jwt_token_jwks_keys_url", &format!("http://{addr}/jwks.json")),
            item("scim_jwt_token_key_field", "email"),
            item("scim_jwt_token_value_field", "idp@acme.test"),
            item("scim_jwt_token_service_account_id", "idp"),
        ]))).await;
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let mut claims = Map::new();
        claims.insert("email".into(), json!("idp@acme.test"));
        claims.insert("exp".into(), json!(now + 3600));
        let jwt = mint(&k.encoding, k.alg, Some("bench"), &claims).expect("mint");
        (router, jwt, sat, admin.admin_user_id)
    });
    let path = format!("/gateway/ng/api/scim/account/acme/Users/{uid}");
    let get = |token: &str| {
        let auth = format!("Bearer {token}");
        rt.block_on(call(&router, "GET", &path, ("authorization", &auth), None));
    };
    // Warm both paths once (JWKS fetch, caches).
    get(&jwt);
    get(&sat);
    let mut g = c.benchmark_group("scim_get_user");
    g.bench_function("jwt", |b| b.iter(|| get(&jwt)));
    g.bench_function("api_token", |b| b.iter(|| get(&sat)));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
