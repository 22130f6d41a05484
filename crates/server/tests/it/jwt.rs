//! JWT authentication on SCIM with real keys (RSA 2048, P-256, P-384, Ed25519) and real JWKS
//! servers on loopback (HTTP and HTTPS). Every connection goes to 127.0.0.1 only.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde_json::{Map, Value, json};

use crate::common::{Res, TestApp, test_audit};
use crate::jwks_server::{Answer, JwksServer, TlsJwksServer};
use scimgate::config::Config;
use scimgate::jwt::tools::{GeneratedKey, generate, mint};
use scimgate_domain::{AccountId, Clock, ManualClock};

const SCIM_PERMS: [&str; 5] = [
    "core_user_view",
    "core_user_invite",
    "core_user_manage",
    "core_usergroup_view",
    "core_usergroup_manage",
];
const CLAIM: &str = "idp@acme.test";

struct Jwt {
    app: TestApp,
    clock: Arc<ManualClock>,
    jwks: JwksServer,
}

fn u(path: &str) -> String {
    let sep = if path.contains('?') { '&' } else { '?' };
    format!("/gateway{path}{sep}accountIdentifier=acme")
}

async fn ok(r: Res) -> Value {
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.body["data"].clone()
}

/// A service account with a role; `perms` empty means no role at all.
async fn service_account(app: &TestApp, ident: &str, perms: &[&str]) {
    ok(app
        .admin(
            Method::POST,
            &u("/ng/api/serviceaccount"),
            Some(json!({"identifier": ident, "name": ident, "email": format!("{ident}@acme.test")})),
        )
        .await)
    .await;
    if perms.is_empty() {
        return;
    }
    let role = format!("role_{ident}");
    ok(app
        .admin(
            Method::POST,
            &u("/authz/api/roles"),
            Some(json!({"identifier": role, "name": role, "permissions": perms})),
        )
        .await)
    .await;
    ok(app
        .admin(
            Method::POST,
            &u("/authz/api/roleassignments"),
            Some(json!({"roleIdentifier": role, "resourceGroupIdentifier": "_all_account_level_resources",
                        "principal": {"identifier": ident, "type": "SERVICE_ACCOUNT"}})),
        )
        .await)
    .await;
}

async fn put_settings(app: &TestApp, items: Value) -> Value {
    ok(app.admin(Method::PUT, &u("/ng/api/settings"), Some(items)).await).await
}

fn setting(id: &str, value: &str) -> Value {
    json!({"identifier": id, "value": value, "allowOverrides": false, "updateType": "UPDATE"})
}

async fn configure(app: &TestApp, url: &str, service_account: &str) {
    let res = put_settings(
        app,
        json!([
            setting("scim_jwt_token_jwks_keys_url", url),
            setting("scim_jwt_token_key_field", "email"),
            setting("scim_jwt_token_value_field", CLAIM),
            setting("scim_jwt_token_service_account_id", service_account),
        ]),
    )
    .await;
    for item in res.as_array().expect("items") {
        assert_eq!(item["updateStatus"], true, "{item}");
    }
}

async fn flags(app: &TestApp, jwt_on: bool) {
    let acme = AccountId::parse("acme").expect("id");
    app.store.set_feature_flag(&acme, "NG_SETTINGS", true, &test_audit()).await.expect("flag");
    app.store
        .set_feature_flag(&acme, "PL_SUPPORT_JWT_TOKEN_SCIM_API", jwt_on, &test_audit())
        .await
        .expect("flag");
    app.state.auth.invalidate(&acme);
}

async fn setup_with(change: impl FnOnce(&mut Config)) -> Jwt {
    let clock = Arc::new(ManualClock::new(time::OffsetDateTime::now_utc()));
    let mut http = true;
    let app = TestApp::with_config(clock.clone(), |c| {
        c.jwks_allow_hosts = "loopback".into();
        c.jwks_allow_http = true;
        c.jwks_timeout = Duration::from_secs(2);
        change(c);
        http = c.jwks_allow_http;
    })
    .await;
    flags(&app, true).await;
    service_account(&app, "idp", &SCIM_PERMS).await;
    let jwks = JwksServer::start("127.0.0.1").await;
    if http {
        configure(&app, &jwks.url(), "idp").await;
    }
    Jwt { app, clock, jwks }
}

async fn setup() -> Jwt {
    setup_with(|_| {}).await
}

impl Jwt {
    fn now(&self) -> i64 {
        self.clock.now().unix_timestamp()
    }
    fn claims(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("email".into(), json!(CLAIM));
        m.insert("iat".into(), json!(self.now()));
        m.insert("exp".into(), json!(self.now() + 300));
        m
    }
    fn token(&self, key: &GeneratedKey) -> String {
        mint(&key.encoding, key.alg, Some(&key.kid), &self.claims()).expect("mint")
    }
    fn token_with(&self, key: &GeneratedKey, change: impl FnOnce(&mut Map<String, Value>)) -> String {
        let mut c = self.claims();
        change(&mut c);
        mint(&key.encoding, key.alg, Some(&key.kid), &c).expect("mint")
    }
    async fn get(&self, token: &str) -> Res {
        self.app.send(Method::GET, &self.app.scim("/Users"), Some(token), None, &[]).await
    }
    async fn get_on(&self, account: &str, token: &str) -> Res {
        let path = format!("/gateway/ng/api/scim/account/{account}/Users");
        self.app.send(Method::GET, &path, Some(token), None, &[]).await
    }
    fn metric(&self, label: &str) -> u64 {
        self.app.state.jwt.metrics.get(label)
    }
}

/// Signs an arbitrary header and payload (for headers `mint` would not produce).
fn sign_raw(key: &GeneratedKey, header: Value, claims: &Map<String, Value>) -> String {
    let h = URL_SAFE_NO_PAD.encode(header.to_string());
    let p = URL_SAFE_NO_PAD.encode(Value::Object(claims.clone()).to_string());
    let input = format!("{h}.{p}");
    let sig = jsonwebtoken::crypto::sign(input.as_bytes(), &key.encoding, key.alg).expect("sign");
    format!("{input}.{sig}")
}

/// 401, `WWW-Authenticate: Bearer error="invalid_token"`, a SCIM error with a generic
/// detail that names no reason.
fn assert_refused(r: &Res) {
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    assert!(r.header("www-authenticate").is_some_and(|h| h.contains("invalid_token")), "{:?}", r.headers);
    assert_eq!(r.body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error");
    // Every refusal carries the same generic detail: the reason is in the log and metrics.
    assert_eq!(
        r.body["detail"],
        "authentication failed: the bearer token is missing, invalid, expired or not for this account"
    );
}

#[tokio::test]
async fn every_allowed_algorithm_is_accepted() {
    let t = setup().await;
    let algs = [
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
    ];
    let keys: Vec<GeneratedKey> =
        algs.iter().map(|a| generate(*a, &format!("{a:?}")).expect("key")).collect();
    let second_rs256 = generate(Algorithm::RS256, "RS256-b").expect("key");
    let mut published: Vec<Value> = keys.iter().map(|k| k.jwk.clone()).collect();
    published.push(second_rs256.jwk.clone());
    t.jwks.publish(&published);
    for k in &keys {
        let r = t.get(&t.token(k)).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}: {}", k.alg, r.text);
    }
    assert_eq!(t.jwks.hits(), 1, "one fetch serves every key");
    // Without a kid: accepted when exactly one key fits the algorithm (one P-384 key) ...
    let es384 = &keys[7];
    let no_kid = mint(&es384.encoding, es384.alg, None, &t.claims()).expect("mint");
    assert_eq!(t.get(&no_kid).await.status, StatusCode::OK);
    // ... refused when several do (two RS256 keys).
    let rs = &keys[0];
    let ambiguous = mint(&rs.encoding, rs.alg, None, &t.claims()).expect("mint");
    assert_refused(&t.get(&ambiguous).await);
    assert_eq!(t.metric("ambiguous_key"), 1);
    assert!(t.metric("ok") >= 10);
}

#[tokio::test]
async fn every_rejection() {
    let t = setup().await;
    let rsa = generate(Algorithm::RS256, "rsa").expect("key");
    let ec = generate(Algorithm::ES256, "ec").expect("key");
    let stranger = generate(Algorithm::RS256, "rsa").expect("key"); // same kid, unpublished key
    t.jwks.publish(&[rsa.jwk.clone(), ec.jwk.clone()]);
    assert_eq!(t.get(&t.token(&rsa)).await.status, StatusCode::OK);
    let now = t.now();
    let claims = t.claims();
    // The public key's text as an HMAC secret: the classic algorithm confusion.
    let public_text = rsa.jwk.to_string();
    let hs256 = {
        let h = URL_SAFE_NO_PAD.encode(json!({"alg": "HS256", "kid": "rsa"}).to_string());
        let p = URL_SAFE_NO_PAD.encode(Value::Object(claims.clone()).to_string());
        let input = format!("{h}.{p}");
        let key = jsonwebtoken::EncodingKey::from_secret(public_text.as_bytes());
        let sig = jsonwebtoken::crypto::sign(input.as_bytes(), &key, Algorithm::HS256).expect("sign");
        format!("{input}.{sig}")
    };
    let tampered = {
        let good = t.token(&rsa);
        let parts: Vec<&str> = good.split('.').collect();
        let mut c = claims.clone();
        c.insert("email".into(), json!("admin@acme.test"));
        format!("{}.{}.{}", parts[0], URL_SAFE_NO_PAD.encode(Value::Object(c).to_string()), parts[2])
    };
    let alg_none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
        URL_SAFE_NO_PAD.encode(Value::Object(claims.clone()).to_string())
    );
    let alg_none_sig = format!("{alg_none}c2ln");
    let mut big = claims.clone();
    big.insert("padding".into(), json!("x".repeat(9000)));
    let cases: Vec<(&str, String, &str)> = vec![
        ("expired", t.token_with(&rsa, |c| drop(c.insert("exp".into(), json!(now - 120)))), "expired"),
        (
            "nbf in the future",
            t.token_with(&rsa, |c| drop(c.insert("nbf".into(), json!(now + 600)))),
            "not_yet_valid",
        ),
        (
            "iat in the future",
            t.token_with(&rsa, |c| drop(c.insert("iat".into(), json!(now + 600)))),
            "issued_in_future",
        ),
        ("no exp", t.token_with(&rsa, |c| drop(c.remove("exp"))), "missing_exp"),
        (
            "string exp",
            t.token_with(&rsa, |c| drop(c.insert("exp".into(), json!((now + 300).to_string())))),
            "bad_time_claim",
        ),
        ("string nbf", t.token_with(&rsa, |c| drop(c.insert("nbf".into(), json!("0")))), "bad_time_claim"),
        ("alg none, empty signature", alg_none, "malformed"),
        ("alg none", alg_none_sig, "alg_not_allowed"),
        ("HS256 with the RSA public key", hs256, "alg_not_allowed"),
        (
            "ES256 header on the RSA key",
            sign_raw(&ec, json!({"alg": "ES256", "kid": "rsa"}), &claims),
            "key_mismatch",
        ),
        ("unknown kid", sign_raw(&rsa, json!({"alg": "RS256", "kid": "nope"}), &claims), "unknown_kid"),
        ("wrong signer", t.token(&stranger), "bad_signature"),
        ("tampered payload", tampered, "bad_signature"),
        (
            "embedded jwk",
            sign_raw(&rsa, json!({"alg": "RS256", "kid": "rsa", "jwk": rsa.jwk}), &claims),
            "embedded_key",
        ),
        (
            "jku",
            sign_raw(
                &rsa,
                json!({"alg": "RS256", "kid": "rsa", "jku": "https://evil.example/keys"}),
                &claims,
            ),
            "embedded_key",
        ),
        (
            "x5u",
            sign_raw(
                &rsa,
                json!({"alg": "RS256", "kid": "rsa", "x5u": "https://evil.example/cert"}),
                &claims,
            ),
            "embedded_key",
        ),
        (
            "unknown crit",
            sign_raw(&rsa, json!({"alg": "RS256", "kid": "rsa", "crit": ["b64"], "b64": false}), &claims),
            "unknown_crit",
        ),
        ("oversized", mint(&rsa.encoding, rsa.alg, Some("rsa"), &big).expect("mint"), "too_large"),
        ("claim missing", t.token_with(&rsa, |c| drop(c.remove("email"))), "claim_missing"),
        (
            "claim mismatched",
            t.token_with(&rsa, |c| drop(c.insert("email".into(), json!("other@acme.test")))),
            "claim_mismatch",
        ),
        (
            "claim not a string",
            t.token_with(&rsa, |c| drop(c.insert("email".into(), json!(42)))),
            "claim_missing",
        ),
        (
            "claim in another case",
            t.token_with(&rsa, |c| drop(c.insert("email".into(), json!("IDP@acme.test")))),
            "claim_mismatch",
        ),
        (
            "claim nested, not top-level",
            t.token_with(&rsa, |c| drop(c.insert("email".into(), json!({"email": CLAIM})))),
            "claim_missing",
        ),
        ("five parts (JWE)", "a.b.c.d.e".into(), "encrypted"),
        (
            "exp beyond any sane date",
            t.token_with(&rsa, |c| drop(c.insert("exp".into(), json!(i64::MAX)))),
            "bad_time_claim",
        ),
        (
            "negative iat",
            t.token_with(&rsa, |c| drop(c.insert("iat".into(), json!(i64::MIN)))),
            "bad_time_claim",
        ),
    ];
    for (name, token, label) in cases {
        let before = t.metric(label);
        let r = t.get(&token).await;
        assert_refused(&r);
        assert_eq!(t.metric(label), before + 1, "{name}: reason label {label}");
    }
    // A JWT that passed is still accepted: the failures poisoned nothing.
    assert_eq!(t.get(&t.token(&rsa)).await.status, StatusCode::OK);
    // The token's claim is compared exactly, never trimmed (security review item 1).
    let padded = t.token_with(&rsa, |c| drop(c.insert("email".into(), json!(format!("  {CLAIM} ")))));
    assert_refused(&t.get(&padded).await);
    // Expiry within the 60 s leeway is still accepted; the time comes from the server's clock.
    let recent = t.token_with(&rsa, |c| drop(c.insert("exp".into(), json!(now - 30))));
    assert_eq!(t.get(&recent).await.status, StatusCode::OK);
    t.clock.advance(time::Duration::seconds(400));
    assert_refused(&t.get(&t.token_with(&rsa, |c| drop(c.insert("exp".into(), json!(now + 300))))).await);
}

#[tokio::test]
async fn issuer_and_audience_when_configured() {
    let t = setup().await;
    let k = generate(Algorithm::ES256, "ec").expect("key");
    t.jwks.publish(std::slice::from_ref(&k.jwk));
    // Not configured: not checked.
    assert_eq!(t.get(&t.token(&k)).await.status, StatusCode::OK);
    put_settings(
        &t.app,
        json!([
            setting("scim_jwt_token_issuer", "https://idp.example"),
            setting("scim_jwt_token_audience", "scimgate")
        ]),
    )
    .await;
    assert_refused(&t.get(&t.token(&k)).await);
    let good = t.token_with(&k, |c| {
        c.insert("iss".into(), json!("https://idp.example"));
        c.insert("aud".into(), json!(["other", "scimgate"]));
    });
    assert_eq!(t.get(&good).await.status, StatusCode::OK);
    let wrong_aud = t.token_with(&k, |c| {
        c.insert("iss".into(), json!("https://idp.example"));
        c.insert("aud".into(), json!("other"));
    });
    assert_refused(&t.get(&wrong_aud).await);
    assert_eq!(t.metric("audience_mismatch"), 1);
    // An optional maximum lifetime.
    put_settings(&t.app, json!([setting("scim_jwt_token_max_lifetime_seconds", "600")])).await;
    let with = |lifetime: i64| {
        let now = t.now();
        t.token_with(&k, |c| {
            c.insert("iss".into(), json!("https://idp.example"));
            c.insert("aud".into(), json!("scimgate"));
            c.insert("exp".into(), json!(now + lifetime));
        })
    };
    assert_eq!(t.get(&with(600)).await.status, StatusCode::OK);
    assert_refused(&t.get(&with(3600)).await);
    assert_eq!(t.metric("lifetime_too_long"), 1);
}

#[tokio::test]
async fn account_isolation_flag_settings_and_roles() {
    let t = setup().await;
    let k = generate(Algorithm::EdDSA, "ed").expect("key");
    t.jwks.publish(std::slice::from_ref(&k.jwk));
    let token = t.token(&k);
    assert_eq!(t.get(&token).await.status, StatusCode::OK);
    // Acme's token on another account's path: 401, the same answer whether or not that
    // account exists (neither has the flag on).
    t.app.other_account("globex").await;
    let on_globex = t.get_on("globex", &token).await;
    let on_nosuch = t.get_on("nosuch", &token).await;
    for r in [&on_globex, &on_nosuch] {
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
        assert!(r.header("www-authenticate").is_some_and(|h| h.contains("invalid_token")));
    }
    assert_eq!(on_globex.body["detail"], on_nosuch.body["detail"]);
    // JWTs are refused on non-SCIM routes, as x-api-key and as a Bearer header.
    for headers in [vec![("x-api-key", token.as_str())], vec![("authorization", &*format!("Bearer {token}"))]]
    {
        let r = t.app.send(Method::GET, &u("/ng/api/settings"), None, None, &headers).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
        assert_eq!(r.body["code"], "INVALID_TOKEN");
    }
    // The service account without roles: authenticated, 403.
    service_account(&t.app, "bare", &[]).await;
    configure(&t.app, &t.jwks.url(), "bare").await;
    let r = t.get(&token).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    assert!(r.body["detail"].as_str().is_some_and(|d| d.contains("core_user_view")));
    configure(&t.app, &t.jwks.url(), "idp").await;
    assert_eq!(t.get(&token).await.status, StatusCode::OK);
    // Security review item 6: incomplete settings and the flag off answer the generic 401,
    // the same as an account that does not exist; the reason is only in the log and the
    // metrics (an unauthenticated caller must not tell accounts apart).
    put_settings(&t.app, json!([{"identifier": "scim_jwt_token_value_field", "updateType": "RESTORE"}]))
        .await;
    let r = t.get(&token).await;
    assert_refused(&r);
    assert_eq!(r.body, on_nosuch.body);
    assert_eq!(t.metric("not_configured"), 1);
    configure(&t.app, &t.jwks.url(), "idp").await;
    flags(&t.app, false).await;
    let r = t.get(&token).await;
    assert_refused(&r);
    assert_eq!(r.body, on_nosuch.body);
    assert!(t.metric("flag_off") >= 1);
    flags(&t.app, true).await;
    assert_eq!(t.get(&token).await.status, StatusCode::OK);
    // A write through the JWT caller works and acts as the service account.
    let r = t
        .app
        .send(
            Method::POST,
            &t.app.scim("/Users"),
            Some(&token),
            Some(json!({"userName": "via-jwt@acme.test"}).to_string()),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
}

#[tokio::test]
async fn key_rotation_is_picked_up_within_one_request_and_kid_floods_cost_a_bounded_budget() {
    let t = setup().await;
    let k1 = generate(Algorithm::RS256, "k1").expect("key");
    let k2 = generate(Algorithm::RS256, "k2").expect("key");
    t.jwks.publish(std::slice::from_ref(&k1.jwk));
    assert_eq!(t.get(&t.token(&k1)).await.status, StatusCode::OK);
    assert_eq!(t.jwks.hits(), 1);
    // The identity provider publishes k2 and signs with it: accepted on the first request.
    t.jwks.publish(&[k1.jwk.clone(), k2.jwk.clone()]);
    assert_eq!(t.get(&t.token(&k2)).await.status, StatusCode::OK);
    assert_eq!(t.jwks.hits(), 2, "one refetch");
    // A flood of random kids: the rest of the budget (3 refetches in all), then nothing
    // until it refills.
    for i in 0..50 {
        let forged = sign_raw(&k1, json!({"alg": "RS256", "kid": format!("random-{i}")}), &t.claims());
        assert_refused(&t.get(&forged).await);
    }
    assert_eq!(t.jwks.hits(), 4, "the budget holds");
    // One refetch is earned every 10 s.
    t.clock.advance(time::Duration::seconds(10));
    for i in 0..50 {
        let forged = sign_raw(&k1, json!({"alg": "RS256", "kid": format!("again-{i}")}), &t.claims());
        assert_refused(&t.get(&forged).await);
    }
    assert_eq!(t.jwks.hits(), 5);
    // Known keys kept working throughout.
    assert_eq!(t.get(&t.token(&k1)).await.status, StatusCode::OK);
    // The identity provider re-keys under the same kid: accepted on the first request, with
    // one refetch; tokens of the old key under that kid then fail.
    t.clock.advance(time::Duration::seconds(31));
    let rekeyed = generate(Algorithm::RS256, "k1").expect("key");
    t.jwks.publish(&[rekeyed.jwk.clone(), k2.jwk.clone()]);
    let hits = t.jwks.hits();
    assert_eq!(t.get(&t.token(&rekeyed)).await.status, StatusCode::OK);
    assert_eq!(t.jwks.hits(), hits + 1);
    assert_refused(&t.get(&t.token(&k1)).await);
    // A flood of bad signatures under a known kid: bounded by the same budget.
    for _ in 0..20 {
        assert_refused(&t.get(&t.token(&k1)).await);
    }
    assert!(t.jwks.hits() <= hits + 3, "{} fetches", t.jwks.hits() - hits);
}

/// Security review item 14: one unknown-kid token put the URL in a 30 s cooldown and the
/// next kid in the negative cache, so a key rotated in just after was refused for 30 s. Now
/// a new key is accepted on its first request after a few unknown-kid tokens, and 1,000
/// random kids cost at most a handful of fetches.
#[tokio::test]
async fn review_14_a_rotated_in_key_works_after_unknown_kids_and_floods_stay_cheap() {
    let t = setup().await;
    let k1 = generate(Algorithm::ES256, "k1").expect("key");
    t.jwks.publish(std::slice::from_ref(&k1.jwk));
    assert_eq!(t.get(&t.token(&k1)).await.status, StatusCode::OK);
    // Two tokens with kids nobody published (a misconfigured client, a probe)...
    for kid in ["nobody-1", "nobody-2"] {
        let forged = sign_raw(&k1, json!({"alg": "ES256", "kid": kid}), &t.claims());
        assert_refused(&t.get(&forged).await);
    }
    // ... then the identity provider rotates k2 in: accepted on its first request.
    let k2 = generate(Algorithm::ES256, "k2").expect("key");
    t.jwks.publish(&[k1.jwk.clone(), k2.jwk.clone()]);
    assert_eq!(t.get(&t.token(&k2)).await.status, StatusCode::OK, "no 30 s wait");
    // 1,000 random kids over 20 s of server time: 3 refetches at once, then one per 10 s.
    t.clock.advance(time::Duration::seconds(30));
    let before = t.jwks.hits();
    for i in 0..1000 {
        if i % 50 == 49 {
            t.clock.advance(time::Duration::seconds(1));
        }
        let forged = sign_raw(&k1, json!({"alg": "ES256", "kid": format!("flood-{i}")}), &t.claims());
        assert_refused(&t.get(&forged).await);
    }
    let fetches = t.jwks.hits() - before;
    assert!(fetches <= 5, "1,000 random kids cost {fetches} fetches");
    // The same unknown kid again and again: the negative cache answers without a fetch.
    t.clock.advance(time::Duration::seconds(30));
    let before = t.jwks.hits();
    for _ in 0..100 {
        let forged = sign_raw(&k1, json!({"alg": "ES256", "kid": "same"}), &t.claims());
        assert_refused(&t.get(&forged).await);
    }
    assert_eq!(t.jwks.hits() - before, 1);
    // Known keys kept working throughout.
    assert_eq!(t.get(&t.token(&k2)).await.status, StatusCode::OK);
}

#[tokio::test]
async fn cached_keys_outlive_a_jwks_outage_and_bad_bodies_are_never_cached() {
    let t = setup().await;
    let k = generate(Algorithm::ES384, "k").expect("key");
    t.jwks.set(Answer::Json {
        body: json!({"keys": [k.jwk]}),
        cache_control: Some("max-age=600".into()),
        etag: Some("\"v1\"".into()),
    });
    let token = t.token(&k);
    assert_eq!(t.get(&token).await.status, StatusCode::OK);
    // Near expiry a background refresh revalidates with the ETag (304).
    t.clock.advance(time::Duration::seconds(500));
    let fresh = t.token(&k);
    assert_eq!(t.get(&fresh).await.status, StatusCode::OK);
    wait_for(|| t.jwks.conditional_hits() == 1).await;
    // The JWKS goes down with an HTML error page; cached keys keep serving.
    t.jwks.set(Answer::Raw {
        status: 500,
        content_type: "text/html".into(),
        body: b"<html>down</html>".to_vec(),
    });
    t.clock.advance(time::Duration::hours(2));
    let later = t.token(&k);
    assert_eq!(t.get(&later).await.status, StatusCode::OK, "stale-if-error");
    // An HTML page with status 200 is not a JWKS either.
    t.jwks.set(Answer::Raw {
        status: 200,
        content_type: "text/html".into(),
        body: b"<html>login</html>".to_vec(),
    });
    t.clock.advance(time::Duration::minutes(1));
    assert_eq!(t.get(&t.token(&k)).await.status, StatusCode::OK);
    // After 24 h without a good fetch, the keys are gone: fail closed.
    t.clock.advance(time::Duration::hours(23));
    assert_refused(&t.get(&t.token(&k)).await);
    // A fresh cache with the endpoint broken: nothing is cached, and once fixed it works.
    let t2 = setup().await;
    t2.jwks.set(Answer::Raw {
        status: 500,
        content_type: "text/html".into(),
        body: b"<html>oops</html>".to_vec(),
    });
    let k2 = generate(Algorithm::ES256, "k2").expect("key");
    assert_refused(&t2.get(&t2.token(&k2)).await);
    assert_eq!(t2.metric("jwks_unavailable"), 1);
    t2.jwks.publish(std::slice::from_ref(&k2.jwk));
    t2.clock.advance(time::Duration::seconds(3));
    assert_eq!(t2.get(&t2.token(&k2)).await.status, StatusCode::OK);
}

async fn wait_for(cond: impl Fn() -> bool) {
    for _ in 0..200 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("condition not met within 2 s");
}

#[tokio::test]
async fn hostile_jwks_endpoints() {
    let t = setup_with(|c| c.jwks_allow_hosts = "127.0.0.1/32".into()).await;
    let k = generate(Algorithm::RS256, "k").expect("key");
    // A redirect (to another loopback address the allow-list does not cover) is refused and
    // never followed.
    let target = JwksServer::start("127.0.0.2").await;
    target.publish(std::slice::from_ref(&k.jwk));
    t.jwks.set(Answer::Redirect(target.url()));
    assert_refused(&t.get(&t.token(&k)).await);
    assert_eq!(target.hits(), 0, "the redirect was not followed");
    // A valid JWKS padded with whitespace to 10 MiB (so only the size cap can refuse it; the
    // same document under the cap is accepted at the end of this test).
    let padded = |keys: &[Value], pad: usize| {
        let mut body = format!(r#"{{"keys":{}"#, Value::Array(keys.to_vec())).into_bytes();
        body.extend(std::iter::repeat_n(b' ', pad));
        body.push(b'}');
        body
    };
    // With a Content-Length: refused without reading it.
    t.clock.advance(time::Duration::seconds(3));
    t.jwks.set(Answer::Raw {
        status: 200,
        content_type: "application/json".into(),
        body: padded(std::slice::from_ref(&k.jwk), 10 * 1024 * 1024),
    });
    assert_refused(&t.get(&t.token(&k)).await);
    // Streamed without a length: cut at the cap.
    t.clock.advance(time::Duration::seconds(3));
    t.jwks.set(Answer::Stream {
        head: format!(r#"{{"keys":[{}]"#, k.jwk).into_bytes(),
        chunk: vec![b' '; 64 * 1024],
        chunks: 160,
        tail: b"}".to_vec(),
    });
    let started = std::time::Instant::now();
    assert_refused(&t.get(&t.token(&k)).await);
    assert!(started.elapsed() < Duration::from_secs(2));
    // A JWKS with more than 100 keys.
    t.clock.advance(time::Duration::seconds(3));
    t.jwks.publish(&vec![k.jwk.clone(); 101]);
    assert_refused(&t.get(&t.token(&k)).await);
    // A private key in the set is ignored, with a warning; the public one still works.
    t.clock.advance(time::Duration::seconds(3));
    let mut private = k.jwk.clone();
    private["d"] = json!("AAAA");
    private["kid"] = json!("leaked");
    t.jwks.publish(&[private, k.jwk.clone()]);
    assert_eq!(t.get(&t.token(&k)).await.status, StatusCode::OK);
    let leaked = sign_raw(&k, json!({"alg": "RS256", "kid": "leaked"}), &t.claims());
    assert_refused(&t.get(&leaked).await);
    // The padded document of the size checks, under the cap (200 KiB of a 256 KiB cap), is
    // a JWKS like any other: the refusals above came from the cap alone.
    t.clock.advance(time::Duration::seconds(31));
    let small = generate(Algorithm::RS256, "small").expect("key");
    t.jwks.set(Answer::Raw {
        status: 200,
        content_type: "application/json".into(),
        body: padded(&[k.jwk.clone(), small.jwk.clone()], 200 * 1024),
    });
    assert_eq!(t.get(&t.token(&small)).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_stalled_jwks_times_out_without_delaying_other_accounts() {
    let t = setup_with(|c| c.jwks_timeout = Duration::from_millis(2000)).await;
    let k = generate(Algorithm::ES256, "k").expect("key");
    t.jwks.set(Answer::Stall(Duration::from_secs(10)));
    // Another account with a healthy JWKS.
    let globex_admin = t.app.other_account("globex").await;
    let globex = AccountId::parse("globex").expect("id");
    t.app.store.set_feature_flag(&globex, "NG_SETTINGS", true, &test_audit()).await.expect("flag");
    t.app
        .store
        .set_feature_flag(&globex, "PL_SUPPORT_JWT_TOKEN_SCIM_API", true, &test_audit())
        .await
        .expect("flag");
    t.app.state.auth.invalidate(&globex);
    let healthy = JwksServer::start("127.0.0.1").await;
    healthy.publish(std::slice::from_ref(&k.jwk));
    let g = |p: &str| format!("/gateway{p}?accountIdentifier=globex");
    let r = t
        .app
        .api(
            Method::POST,
            &g("/ng/api/serviceaccount"),
            &globex_admin,
            Some(json!({"identifier": "gidp", "name": "g", "email": "g@globex.test"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = t
        .app
        .api(
            Method::POST,
            &g("/authz/api/roleassignments"),
            &globex_admin,
            Some(json!({"roleIdentifier": "_account_viewer", "resourceGroupIdentifier": "_all_account_level_resources",
                        "principal": {"identifier": "gidp", "type": "SERVICE_ACCOUNT"}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = t
        .app
        .api(
            Method::PUT,
            &g("/ng/api/settings"),
            &globex_admin,
            Some(json!([
                setting("scim_jwt_token_jwks_keys_url", &healthy.url()),
                setting("scim_jwt_token_key_field", "email"),
                setting("scim_jwt_token_value_field", CLAIM),
                setting("scim_jwt_token_service_account_id", "gidp"),
            ])),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let token = t.token(&k);
    let stalled = {
        let app_router = t.app.router.clone();
        let token = token.clone();
        tokio::spawn(async move {
            use tower::ServiceExt;
            let started = std::time::Instant::now();
            let req = axum::http::Request::builder()
                .uri("/gateway/ng/api/scim/account/acme/Users")
                .header("authorization", format!("Bearer {token}"))
                .body(axum::body::Body::empty())
                .expect("request");
            let res = app_router.oneshot(req).await.expect("infallible");
            (res.status(), started.elapsed())
        })
    };
    // The acme request is inside its stalled download once the JWKS server has seen it.
    wait_for(|| t.jwks.hits() >= 1).await;
    let started = std::time::Instant::now();
    let r = t.get_on("globex", &token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(started.elapsed() < Duration::from_millis(1500), "globex waited {:?}", started.elapsed());
    let (status, took) = stalled.await.expect("join");
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(took >= Duration::from_millis(1500) && took < Duration::from_secs(6), "{took:?}");
}

#[tokio::test]
async fn ssrf_guard_refuses_loopback_when_the_allow_list_is_off() {
    let clock = Arc::new(ManualClock::new(time::OffsetDateTime::now_utc()));
    let app = TestApp::with_config(clock.clone(), |c| c.jwks_allow_http = true).await;
    flags(&app, true).await;
    service_account(&app, "idp", &SCIM_PERMS).await;
    let jwks = JwksServer::start("127.0.0.1").await;
    let k = generate(Algorithm::RS256, "k").expect("key");
    jwks.publish(std::slice::from_ref(&k.jwk));
    // A literal loopback address is refused when the setting is written.
    let res = put_settings(&app, json!([setting("scim_jwt_token_jwks_keys_url", &jwks.url())])).await;
    assert_eq!(res[0]["updateStatus"], false);
    assert!(res[0]["errorMessage"].as_str().is_some_and(|m| m.contains("loopback")), "{res}");
    // `localhost` and `*.localhost` are loopback by definition (RFC 6761): refused when
    // written too (security review item 15), in every spelling.
    for name in ["localhost", "localhost.", "LOCALHOST", "%6c%6fcalhost", "idp.localhost"] {
        let url = format!("http://{name}:{}/jwks.json", jwks.addr.port());
        let res = put_settings(&app, json!([setting("scim_jwt_token_jwks_keys_url", &url)])).await;
        assert_eq!(res[0]["updateStatus"], false, "{url}: {res}");
        assert!(res[0]["errorMessage"].as_str().is_some_and(|m| m.contains("loopback name")), "{res}");
    }
    // Any other host name that resolves to loopback (the test app resolves every name to
    // 127.0.0.1) is accepted as text, and refused at connect time.
    configure(&app, &format!("http://jwks.idp.test:{}/jwks.json", jwks.addr.port()), "idp").await;
    let mut claims = Map::new();
    claims.insert("email".into(), json!(CLAIM));
    claims.insert("exp".into(), json!(clock.now().unix_timestamp() + 300));
    let token = mint(&k.encoding, k.alg, Some("k"), &claims).expect("mint");
    let r = app.send(Method::GET, &app.scim("/Users"), Some(&token), None, &[]).await;
    assert_refused(&r);
    assert_eq!(jwks.hits(), 0, "no connection was made");
}

#[tokio::test]
async fn https_jwks_with_a_private_ca() {
    let k = generate(Algorithm::PS256, "tls").expect("key");
    let tls = TlsJwksServer::start(json!({"keys": [k.jwk]})).await;
    let dir = tempfile::tempdir().expect("tmp");
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &tls.ca_pem).expect("write");
    // Trusting the CA: verified HTTPS works (host name "localhost" in the certificate).
    let t = setup_with(|c| {
        c.jwks_allow_http = false;
        c.jwks_ca_file = Some(ca.clone());
    })
    .await;
    // Plain http is refused when --jwks-allow-http is off.
    let r = put_settings(&t.app, json!([setting("scim_jwt_token_jwks_keys_url", &t.jwks.url())])).await;
    assert_eq!(r[0]["updateStatus"], false);
    configure(&t.app, &format!("https://localhost:{}/jwks.json", tls.addr.port()), "idp").await;
    assert_eq!(t.get(&t.token(&k)).await.status, StatusCode::OK);
    assert_eq!(tls.hits.load(std::sync::atomic::Ordering::SeqCst), 1);
    // Without the CA: the certificate is not trusted, nothing is accepted.
    let untrusted = setup_with(|c| c.jwks_allow_http = false).await;
    configure(&untrusted.app, &format!("https://localhost:{}/jwks.json", tls.addr.port()), "idp").await;
    assert_refused(&untrusted.get(&untrusted.token(&k)).await);
    assert_eq!(tls.hits.load(std::sync::atomic::Ordering::SeqCst), 1, "no request after a failed handshake");
}

#[tokio::test]
async fn changing_the_jwt_settings_takes_effect_at_once_on_this_node() {
    let t = setup().await;
    let old = generate(Algorithm::ES256, "old").expect("key");
    let new = generate(Algorithm::ES256, "new").expect("key");
    t.jwks.publish(std::slice::from_ref(&old.jwk));
    let old_token = t.token(&old);
    assert_eq!(t.get(&old_token).await.status, StatusCode::OK);
    assert_eq!(t.get(&old_token).await.status, StatusCode::OK, "remembered");
    let other = JwksServer::start("127.0.0.1").await;
    other.publish(std::slice::from_ref(&new.jwk));
    configure(&t.app, &other.url(), "idp").await;
    assert_refused(&t.get(&old_token).await);
    assert_eq!(t.get(&t.token(&new)).await.status, StatusCode::OK);
    // One fetch of the new URL, one refetch for the old token's unknown kid.
    assert_eq!(other.hits(), 2);
    // A key removed from the JWKS stops a remembered token once the set is refetched.
    other.publish(&[]);
    t.clock.advance(time::Duration::minutes(11));
    let token = t.token(&new);
    let _ = t.get(&token).await; // serves the stale set and refreshes in the background
    wait_for(|| other.hits() == 3).await;
    // The refreshed set lands in the cache after the download: poll (bounded) until the
    // remembered token is refused, instead of sleeping and hoping.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while t.get(&token).await.status == StatusCode::OK {
        assert!(std::time::Instant::now() < deadline, "the refreshed set never replaced the cached one");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_refused(&t.get(&token).await);
}

/// Security review item 1: with only the four settings of the seed document, a token of
/// another issuer and audience living 1,000 years was accepted, and claim values padded with
/// U+00A0 or U+3000 matched. Now: a default maximum lifetime of 24 h (`exp` − `iat`, or
/// `exp` − now without `iat`), and the claim compared exactly.
#[tokio::test]
async fn review_1_lifetime_cap_and_exact_claim_with_the_four_settings() {
    let t = setup().await;
    let k = generate(Algorithm::RS256, "k").expect("key");
    t.jwks.publish(std::slice::from_ref(&k.jwk));
    let now = t.now();
    let evil = t.token_with(&k, |c| {
        c.insert("iss".into(), json!("https://evil-tenant.example/"));
        c.insert("aud".into(), json!("some-other-app"));
        c.insert("exp".into(), json!(now + 1000 * 365 * 24 * 3600));
    });
    assert_refused(&t.get(&evil).await);
    assert_eq!(t.metric("lifetime_too_long"), 1);
    // 24 h is accepted, a second more is not; without `iat` the lifetime is `exp` − now.
    let lives = |secs: i64, with_iat: bool| {
        t.token_with(&k, |c| {
            c.insert("exp".into(), json!(now + secs));
            if !with_iat {
                c.remove("iat");
            }
        })
    };
    assert_eq!(t.get(&lives(24 * 3600, true)).await.status, StatusCode::OK);
    assert_refused(&t.get(&lives(24 * 3600 + 1, true)).await);
    assert_eq!(t.get(&lives(24 * 3600, false)).await.status, StatusCode::OK);
    assert_refused(&t.get(&lives(25 * 3600, false)).await);
    // The setting overrides the default, up to 30 days.
    put_settings(&t.app, json!([setting("scim_jwt_token_max_lifetime_seconds", "172800")])).await;
    assert_eq!(t.get(&lives(47 * 3600, true)).await.status, StatusCode::OK);
    put_settings(
        &t.app,
        json!([{"identifier": "scim_jwt_token_max_lifetime_seconds", "updateType": "RESTORE"}]),
    )
    .await;
    // Exact claim: non-ASCII whitespace around the token's claim does not match.
    for padded in
        [format!("{CLAIM}\u{a0}"), format!("\u{3000}{CLAIM}"), format!(" {CLAIM}"), CLAIM.to_uppercase()]
    {
        let token = t.token_with(&k, |c| {
            c.insert("email".into(), json!(padded));
        });
        assert_refused(&t.get(&token).await);
    }
    assert_eq!(t.metric("claim_mismatch"), 4);
    // The configured value is trimmed of ASCII whitespace only, when written.
    let res =
        put_settings(&t.app, json!([setting("scim_jwt_token_value_field", &format!("  {CLAIM}\t"))])).await;
    assert_eq!(res[0]["setting"]["value"], CLAIM, "{res}");
    assert_eq!(t.get(&t.token(&k)).await.status, StatusCode::OK);
    let res =
        put_settings(&t.app, json!([setting("scim_jwt_token_value_field", &format!("{CLAIM}\u{a0}"))])).await;
    assert_eq!(res[0]["setting"]["value"], format!("{CLAIM}\u{a0}"), "{res}");
    assert_refused(&t.get(&t.token(&k)).await);
    let padded = t.token_with(&k, |c| {
        c.insert("email".into(), json!(format!("{CLAIM}\u{a0}")));
    });
    assert_eq!(t.get(&padded).await.status, StatusCode::OK);
}

/// Security review item 1: a JWKS URL of a key set that signs for many customers (here
/// Entra ID's `common` keys and GitHub Actions') refuses every token until the issuer (and,
/// where the issuer is shared too, the audience) is pinned; the 401 stays generic, the
/// reason is in the metrics and the settings answer warns. The test app resolves every name
/// to 127.0.0.1, and the refusal comes before any download.
#[tokio::test]
async fn review_1_shared_key_sets_refuse_tokens_until_the_issuer_is_pinned() {
    let t = setup().await;
    let k = generate(Algorithm::RS256, "k").expect("key");
    t.jwks.publish(std::slice::from_ref(&k.jwk));
    let entra = "https://login.microsoftonline.com/common/discovery/v2.0/keys";
    let res = put_settings(&t.app, json!([setting("scim_jwt_token_jwks_keys_url", entra)])).await;
    assert_eq!(res[0]["updateStatus"], true, "{res}");
    let warning = res[0]["warning"].as_str().expect("a warning");
    assert!(warning.contains("many customers") && warning.contains("scim_jwt_token_issuer"), "{warning}");
    let r = t.get(&t.token(&k)).await;
    assert_refused(&r);
    assert_eq!(t.metric("shared_key_set_unpinned"), 1);
    assert_eq!(t.jwks.hits(), 0, "refused before any download");
    // Pinned: the refusal is lifted (the key set itself is unreachable from the test, so
    // the token now fails on the download, not on the pin).
    let tenant = "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0";
    let res = put_settings(&t.app, json!([setting("scim_jwt_token_issuer", tenant)])).await;
    assert!(!res[0]["warning"].as_str().unwrap_or("").contains("many customers"), "{res}");
    let token = t.token_with(&k, |c| {
        c.insert("iss".into(), json!(tenant));
    });
    assert_refused(&t.get(&token).await);
    assert_eq!(t.metric("shared_key_set_unpinned"), 1);
    // GitHub Actions: every repository's tokens share the issuer, so the audience is needed.
    let res = put_settings(
        &t.app,
        json!([setting(
            "scim_jwt_token_jwks_keys_url",
            "https://token.actions.githubusercontent.com/.well-known/jwks"
        )]),
    )
    .await;
    assert!(res[0]["warning"].as_str().is_some_and(|w| w.contains("scim_jwt_token_audience")), "{res}");
    assert_refused(&t.get(&token).await);
    assert_eq!(t.metric("shared_key_set_unpinned"), 2);
}

/// Security review item 1: the Settings API answer warns, per item, while issuer or
/// audience are unset; `--jwt-require-issuer-audience` makes both mandatory.
#[tokio::test]
async fn review_1_unset_issuer_or_audience_warns_and_the_switch_requires_them() {
    let t = setup().await;
    let k = generate(Algorithm::ES256, "k").expect("key");
    t.jwks.publish(std::slice::from_ref(&k.jwk));
    let res = put_settings(
        &t.app,
        json!([setting("scim_jwt_token_key_field", "email"), setting("pipeline_timeout_minutes", "5")]),
    )
    .await;
    assert!(
        res[0]["warning"]
            .as_str()
            .is_some_and(|w| w.contains("scim_jwt_token_issuer and scim_jwt_token_audience not set")),
        "{res}"
    );
    assert_eq!(res[1]["warning"], Value::Null, "only the JWT settings carry it");
    assert_eq!(t.get(&t.token(&k)).await.status, StatusCode::OK, "the seed document's flow keeps working");
    let res = put_settings(
        &t.app,
        json!([
            setting("scim_jwt_token_issuer", "https://idp.example"),
            setting("scim_jwt_token_audience", "scimgate")
        ]),
    )
    .await;
    assert_eq!(res[0]["warning"], Value::Null, "{res}");
    assert_eq!(res[1]["warning"], Value::Null, "{res}");

    let strict = setup_with(|c| c.jwt_require_issuer_audience = true).await;
    strict.jwks.publish(std::slice::from_ref(&k.jwk));
    let res =
        put_settings(&strict.app, json!([setting("scim_jwt_token_issuer", "https://idp.example")])).await;
    assert!(res[0]["warning"].as_str().is_some_and(|w| w.contains("--jwt-require-issuer-audience")), "{res}");
    let good = strict.token_with(&k, |c| {
        c.insert("iss".into(), json!("https://idp.example"));
        c.insert("aud".into(), json!("scimgate"));
    });
    assert_refused(&strict.get(&good).await);
    assert_eq!(strict.metric("issuer_audience_required"), 1);
    put_settings(&strict.app, json!([setting("scim_jwt_token_audience", "scimgate")])).await;
    assert_eq!(strict.get(&good).await.status, StatusCode::OK);
}

/// The console's **Test a token** (docs/console.md): every check of the verifier in order,
/// each passing for a good token; a wrong claim fails exactly the claim match; key material
/// is never in the report. **Fetch keys** lists kid, type and alg.
#[tokio::test]
async fn diagnose_reports_each_check_and_agrees_with_the_verifier() {
    let t = setup().await;
    let k = generate(Algorithm::ES256, "idp-key").expect("key");
    t.jwks.publish(std::slice::from_ref(&k.jwk));
    let acme = AccountId::parse("acme").expect("id");
    let good = t.token(&k);
    assert_eq!(t.get(&good).await.status, StatusCode::OK);
    let report = t.app.state.jwt.diagnose(&good, &acme).await;
    let names: Vec<&str> = report.iter().map(|c| c.name).collect();
    assert_eq!(
        names,
        [
            "Parsed header",
            "Feature flag",
            "Settings",
            "Key",
            "Signature",
            "Time claims",
            "Issuer",
            "Audience",
            "Claim match",
            "Service account"
        ]
    );
    assert!(report.iter().all(|c| c.ok), "{report:?}");
    let wrong = t.token_with(&k, |c| drop(c.insert("email".into(), json!("other@acme.test"))));
    assert_refused(&t.get(&wrong).await);
    let report = t.app.state.jwt.diagnose(&wrong, &acme).await;
    let failed: Vec<&str> = report.iter().filter(|c| !c.ok).map(|c| c.name).collect();
    assert_eq!(failed, ["Claim match"], "{report:?}");
    assert_eq!(report.last().map(|c| c.name), Some("Claim match"), "stops at the first failure");
    let x = k.jwk["x"].as_str().expect("x");
    assert!(report.iter().all(|c| !c.detail.contains(x)), "no key material");
    // Expired, and another key: each fails at its own check.
    let now = t.now();
    let expired = t.token_with(&k, |c| drop(c.insert("exp".into(), json!(now - 3600))));
    let r = t.app.state.jwt.diagnose(&expired, &acme).await;
    assert_eq!(r.iter().find(|c| !c.ok).map(|c| c.name), Some("Time claims"), "{r:?}");
    let stranger = generate(Algorithm::ES256, "idp-key").expect("key");
    let r = t.app.state.jwt.diagnose(&t.token(&stranger), &acme).await;
    assert_eq!(r.iter().find(|c| !c.ok).map(|c| c.name), Some("Signature"), "{r:?}");
    let r = t.app.state.jwt.diagnose("not-a-jwt", &acme).await;
    assert_eq!(r.iter().find(|c| !c.ok).map(|c| c.name), Some("Parsed header"));
    // Fetch keys.
    let keys = t.app.state.jwt.fetch_keys(&acme).await.expect("keys");
    assert_eq!(keys.iter().map(|k| k.kid.as_str()).collect::<Vec<_>>(), ["idp-key"]);
    assert_eq!(keys[0].kty, "EC P-256");
}

#[tokio::test]
async fn a_jwt_write_is_audited_with_its_issuer_subject_and_id_and_jwks_use_is_measured() {
    let t = setup().await;
    let key = generate(Algorithm::ES256, "audit").expect("key");
    t.jwks.publish(std::slice::from_ref(&key.jwk));
    let token = t.token_with(&key, |c| {
        c.insert("iss".into(), json!("https://idp.example"));
        c.insert("sub".into(), json!("okta-app-1"));
        c.insert("jti".into(), json!("jti-42"));
    });
    // The first request verifies the token; the second finds it remembered: both carry the claims.
    for name in ["jwt-a", "jwt-b"] {
        let r = t
            .app
            .send(
                Method::POST,
                &t.app.scim("/Users"),
                Some(&token),
                Some(json!({"userName": name}).to_string()),
                &[],
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    }
    let a = t.app.admin(Method::GET, &u("/ng/api/audit?resourceType=USER"), None).await;
    let entries = a.body["data"]["entries"].as_array().cloned().unwrap_or_default();
    assert_eq!(entries.len(), 2, "{}", a.text);
    for e in &entries {
        assert_eq!(e["principal"], json!({"type": "SERVICE_ACCOUNT", "identifier": "idp"}), "{e}");
        assert_eq!(
            e["jwt"],
            json!({"iss": "https://idp.example", "sub": "okta-app-1", "jti": "jti-42"}),
            "{e}"
        );
        assert_eq!(e["credentialId"], Value::Null);
    }
    let m = t.app.get_from("127.0.0.1:40000".parse().expect("addr"), "/metrics").await;
    assert!(m.text.contains("scimgate_jwks_fetches_total{outcome=\"keys\"}"), "{}", m.text);
    assert!(m.text.contains("scimgate_jwks_cache_total{result=\"hit\"}"), "{}", m.text);
}
