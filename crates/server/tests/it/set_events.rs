//! RFC 9967 security event tokens (docs/events.md "Security event tokens"): SETs pushed to a
//! receiver on loopback (RFC 8935) and polled (RFC 8936), verified by an independent JOSE
//! library (PyJWT, from PyPI) against the key set scimgate publishes.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{TestApp, patch_body};
use crate::events::{HOOKS, Receiver, feed, python, pytool, webhook_app};

const CREATE_FULL: &str = "urn:ietf:params:scim:event:prov:create:full";
const PUT_FULL: &str = "urn:ietf:params:scim:event:prov:put:full";
const PATCH_FULL: &str = "urn:ietf:params:scim:event:prov:patch:full";
const DELETE: &str = "urn:ietf:params:scim:event:prov:delete";
const ACTIVATE: &str = "urn:ietf:params:scim:event:prov:activate";
const DEACTIVATE: &str = "urn:ietf:params:scim:event:prov:deactivate";

pub(crate) const JWKS: &str = "/gateway/ng/api/events/jwks?accountIdentifier=acme";

/// The account's published key set, fetched without credentials.
pub(crate) async fn jwks(app: &TestApp) -> Value {
    let r = app.send(Method::GET, JWKS, None, None, &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.body
}

/// Verifies every token with PyJWT against `jwks` (ES256, `typ` `secevent+jwt`, `iss`, `aud`,
/// `jti` and `iat` required): the claims of each, or for a token PyJWT refuses
/// `{"refused": why}`. `None` when PyJWT cannot be had outside CI.
pub(crate) fn pyjwt(tokens: &[String], keys: &Value, aud: &str, iss: &str) -> Option<Vec<Value>> {
    let path = pytool("jwt", "PyJWT[crypto]==2.10.1")?;
    let script = "import json, sys, jwt\n\
                  m = json.load(sys.stdin)\n\
                  keys = jwt.PyJWKSet.from_dict(m['jwks'])\n\
                  out = []\n\
                  for t in m['tokens']:\n    \
                      try:\n        \
                          h = jwt.get_unverified_header(t)\n        \
                          assert h.get('typ') == 'secevent+jwt', 'typ is %r' % h.get('typ')\n        \
                          key = keys[h['kid']]\n        \
                          out.append(jwt.decode(t, key.key, algorithms=['ES256'], audience=m['aud'], issuer=m['iss'], \
                                     options={'require': ['iss', 'aud', 'iat', 'jti']}))\n    \
                      except Exception as e:\n        \
                          out.append({'refused': '%s: %s' % (type(e).__name__, e)})\n\
                  print(json.dumps(out))\n";
    let out = python(&path, script, &json!({"tokens": tokens, "jwks": keys, "aud": aud, "iss": iss}));
    assert!(out.status.success(), "PyJWT failed: {}", String::from_utf8_lossy(&out.stderr));
    Some(serde_json::from_slice(&out.stdout).expect("claims"))
}

/// The issuer of the account's SETs.
pub(crate) fn issuer(app: &TestApp) -> String {
    scimgate::events::delivery_base(&app.state.config, "acme")
}

/// Makes one change of every kind; the feed's events for them, in order.
pub(crate) async fn every_kind_of_change(app: &TestApp) -> Vec<Value> {
    let before = feed(app, "&limit=1000").await["next"].as_str().expect("next").to_string();
    let u = app
        .post(
            "/Users",
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "eve@acme.test", "externalId": "ext-eve"}),
        )
        .await;
    assert_eq!(u.status, StatusCode::CREATED, "{}", u.text);
    let u = u.body["id"].as_str().expect("id").to_string();
    let user = format!("/Users/{u}");
    for ops in [
        json!([{"op": "replace", "path": "displayName", "value": "Eve"}]),
        json!([{"op": "replace", "path": "active", "value": false}]),
        json!([{"op": "replace", "path": "active", "value": true}]),
    ] {
        let r = app.patch(&user, patch_body(ops)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    }
    let g = app.group("Security", &[&u]).await;
    let r =
        app.patch(&format!("/Groups/{g}"), patch_body(json!([{"op": "remove", "path": "members"}]))).await;
    assert!(r.status.is_success(), "{}", r.text);
    let r = app
        .patch(
            &format!("/Groups/{g}"),
            patch_body(json!([{"op": "replace", "path": "displayName", "value": "Sec"}])),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.text);
    assert_eq!(app.delete(&user).await.status, StatusCode::NO_CONTENT);
    assert_eq!(app.delete(&format!("/Groups/{g}")).await.status, StatusCode::NO_CONTENT);
    let page = feed(app, &format!("&after={before}&limit=1000")).await;
    page["events"].as_array().expect("events").clone()
}

/// Checks one SET's claims against the feed's event for the same change (RFC 9967).
pub(crate) fn assert_set_matches(claims: &Value, event: &Value, iss: &str, aud: &str) {
    let at = format!("SET for {} {}", event["type"], event["id"]);
    assert!(claims.get("refused").is_none(), "{at}: PyJWT refused it: {claims}");
    assert_eq!(claims["jti"], event["id"], "{at}: jti is the event id");
    assert_eq!(claims["iss"], iss, "{at}");
    assert_eq!(claims["aud"], aud, "{at}");
    assert!(claims["iat"].is_i64() && claims["toe"].is_i64(), "{at}: {claims}");
    if let Some(request) = event["requestId"].as_str() {
        assert_eq!(claims["txn"], request, "{at}: txn is the request id");
    }
    let events = claims["events"].as_object().unwrap_or_else(|| panic!("{at}: no events claim"));
    let mut uris: Vec<&str> = events.keys().map(String::as_str).collect();
    uris.sort_unstable();
    let sub = &claims["sub_id"];
    assert_eq!(sub["format"], "scim", "{at}: {sub}");
    let data = &event["data"];
    match event["type"].as_str().expect("type") {
        t @ ("user.created" | "group.created") => {
            assert_eq!(uris, [CREATE_FULL], "{at}");
            assert_eq!(events[CREATE_FULL]["data"]["id"], data["id"], "{at}");
            assert!(events[CREATE_FULL]["version"].as_str().is_some_and(|v| v.starts_with("W/")), "{at}");
            let endpoint = if t == "user.created" { "Users" } else { "Groups" };
            assert_eq!(sub["uri"], format!("/{endpoint}/{}", data["id"].as_str().expect("id")), "{at}");
            if t == "user.created" {
                assert_eq!(sub["externalId"], "ext-eve", "{at}: sub_id has the externalId");
                assert_eq!(events[CREATE_FULL]["data"]["userName"], "eve@acme.test", "{at}");
            }
        }
        "user.updated" | "group.updated" => {
            assert_eq!(uris, [PUT_FULL], "{at}");
            // The full representation (its meta.location is under the issuer, not the Host
            // header the feed was read with).
            let mut full = events[PUT_FULL]["data"].clone();
            let mut fed = data.clone();
            for d in [&mut full, &mut fed] {
                d.as_object_mut().expect("object").remove("meta");
            }
            assert_eq!(full, fed, "{at}: the full representation");
            assert!(
                events[PUT_FULL]["data"]["meta"]["location"].as_str().is_some_and(|l| l.starts_with(iss)),
                "{at}"
            );
        }
        "user.deactivated" => {
            assert_eq!(uris, [DEACTIVATE, PUT_FULL], "{at}");
            assert_eq!(events[PUT_FULL]["data"]["active"], false, "{at}");
        }
        "user.reactivated" => {
            assert_eq!(uris, [ACTIVATE, PUT_FULL], "{at}");
            assert_eq!(events[PUT_FULL]["data"]["active"], true, "{at}");
        }
        "user.deleted" | "group.deleted" => {
            assert_eq!(uris, [DELETE], "{at}");
            assert_eq!(events[DELETE], json!({}), "{at}");
            assert_eq!(sub["id"], data["id"], "{at}");
        }
        t @ ("group.user_added" | "group.user_removed") => {
            assert_eq!(uris, [PATCH_FULL], "{at}");
            let patch = &events[PATCH_FULL]["data"];
            assert_eq!(patch["schemas"], json!(["urn:ietf:params:scim:api:messages:2.0:PatchOp"]), "{at}");
            let op = &patch["Operations"][0];
            let member = data["memberId"].as_str().or(data["member"]["value"].as_str());
            let member = member.unwrap_or_else(|| panic!("{at}: no member id in {data}"));
            if t == "group.user_added" {
                assert_eq!(op["op"], "add", "{at}");
                assert_eq!(op["value"][0]["value"], member, "{at}");
            } else {
                assert_eq!(op["op"], "remove", "{at}");
                assert_eq!(op["path"], format!("members[value eq \"{member}\"]"), "{at}");
            }
            let group = data["groupId"].as_str().or(data["group"]["value"].as_str()).expect("group id");
            assert_eq!(sub["uri"], format!("/Groups/{group}"), "{at}");
        }
        other => panic!("unexpected event type {other}"),
    }
}

/// Creates a subscription of security event tokens: pushed to `url`, or polled without one.
async fn set_hook(app: &TestApp, id: &str, url: Option<&str>) -> Value {
    let body = match url {
        Some(url) => json!({"identifier": id, "url": url, "events": ["*"], "format": "set"}),
        None => json!({"identifier": id, "events": ["*"], "format": "set", "deliveryMethod": "poll"}),
    };
    let r = app.admin(Method::POST, HOOKS, Some(body)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.body["data"].clone()
}

#[tokio::test]
async fn set_push_delivers_security_event_tokens_a_jose_library_verifies() {
    let (app, _stop) = webhook_app(None).await;
    let (rx, url) = Receiver::start().await;
    assert_eq!(set_hook(&app, "siem", Some(&url)).await["format"], "set");
    let events = every_kind_of_change(&app).await;
    let kinds: std::collections::BTreeSet<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(kinds.len(), 10, "every event type is made: {kinds:?}");

    let got = rx.wait_raw(events.len(), Duration::from_secs(20)).await;
    assert_eq!(got.len(), events.len(), "one SET per event");
    for (h, _) in &got {
        assert_eq!(h.get("content-type").and_then(|v| v.to_str().ok()), Some("application/secevent+jwt"));
    }
    let mut tokens: Vec<String> = got.iter().map(|(_, b)| b.clone()).collect();
    let keys = jwks(&app).await;
    assert_eq!(keys["keys"][0]["kty"], "EC");
    assert_eq!(keys["keys"][0]["crv"], "P-256");
    assert!(keys["keys"][0].get("d").is_none(), "the private part is never published");
    // A forged copy (the claims of one with the signature of another) must be refused.
    let forged = {
        let a: Vec<&str> = tokens[0].split('.').collect();
        let b: Vec<&str> = tokens[1].split('.').collect();
        format!("{}.{}.{}", a[0], a[1], b[2])
    };
    tokens.push(forged);
    let iss = issuer(&app);
    let Some(claims) = pyjwt(&tokens, &keys, &url, &iss) else { return };
    for (c, e) in claims.iter().zip(&events) {
        assert_set_matches(c, e, &iss, &url);
    }
    assert!(
        claims.last().expect("forged")["refused"].as_str().is_some_and(|w| w.contains("Signature")),
        "{claims:?}"
    );
}

#[tokio::test]
async fn the_key_set_is_public_and_stable_and_service_provider_config_announces_events() {
    let app = TestApp::new().await;
    let a = jwks(&app).await;
    let b = jwks(&app).await;
    assert_eq!(a, b, "one key per account");
    assert!(a["keys"][0]["kid"].as_str().is_some_and(|k| !k.is_empty()));
    assert_eq!(a["keys"][0]["use"], "sig");
    app.other_account("globex").await;
    let g =
        app.send(Method::GET, "/gateway/ng/api/events/jwks?accountIdentifier=globex", None, None, &[]).await;
    assert_eq!(g.status, StatusCode::OK, "{}", g.text);
    assert_ne!(g.body["keys"][0]["kid"], a["keys"][0]["kid"], "each account has its own key");
    let none =
        app.send(Method::GET, "/gateway/ng/api/events/jwks?accountIdentifier=nobody", None, None, &[]).await;
    assert_eq!(none.status, StatusCode::NOT_FOUND, "{}", none.text);
    let bare = app.send(Method::GET, "/gateway/ng/api/events/jwks", None, None, &[]).await;
    assert_eq!(bare.status, StatusCode::BAD_REQUEST, "{}", bare.text);

    // Asked for by name (`returned: request`): clients that know only RFC 7643 refuse an
    // attribute they do not know, so the plain document has none.
    let plain = app.get("/ServiceProviderConfig").await;
    assert_eq!(plain.status, StatusCode::OK);
    assert!(plain.body.get("securityEvents").is_none(), "{}", plain.text);
    let spc = app.get("/ServiceProviderConfig?attributes=securityEvents").await;
    assert_eq!(spc.status, StatusCode::OK);
    assert_eq!(spc.body["patch"]["supported"], true, "the rest is there too");
    let full = app.get("/ServiceProviderConfig?attributes=urn%3Aietf%3Aparams%3Ascim%3Aschemas%3Acore%3A2.0%3AServiceProviderConfig%3AsecurityEvents").await;
    assert_eq!(full.body["securityEvents"], spc.body["securityEvents"]);
    let se = &spc.body["securityEvents"];
    assert_eq!(se["asyncRequest"], "none", "{se}");
    let uris: Vec<&str> =
        se["eventUris"].as_array().expect("eventUris").iter().filter_map(Value::as_str).collect();
    for u in [CREATE_FULL, PUT_FULL, PATCH_FULL, DELETE, ACTIVATE, DEACTIVATE] {
        assert!(uris.contains(&u), "{u} is announced: {uris:?}");
    }
}

const POLL: &str = "/gateway/ng/api/webhooks/feed/poll?accountIdentifier=acme";

/// Polls (RFC 8936); the answer's status and body.
async fn poll(app: &TestApp, body: Value) -> (StatusCode, Value) {
    let r = app.admin(Method::POST, POLL, Some(body)).await;
    (r.status, r.body)
}

/// The `jti`s of a poll answer's SETs, in event order (the `sets` object has no order).
fn jtis(answer: &Value, order: &[Value]) -> Vec<String> {
    let sets = answer["sets"].as_object().unwrap_or_else(|| panic!("no sets: {answer}"));
    let mut out: Vec<String> = sets.keys().cloned().collect();
    let pos = |id: &String| order.iter().position(|e| e["id"] == id.as_str()).unwrap_or(usize::MAX);
    out.sort_by_key(pos);
    out
}

fn ids(events: &[Value]) -> Vec<String> {
    events.iter().map(|e| e["id"].as_str().expect("id").to_string()).collect()
}

#[tokio::test]
async fn polling_hands_out_sets_takes_acknowledgements_and_hands_out_again_what_is_not() {
    let (app, clock) = TestApp::manual_clock().await;
    assert_eq!(set_hook(&app, "feed", None).await["deliveryMethod"], "poll");
    let events = every_kind_of_change(&app).await;
    let all = ids(&events);

    // The first four, then the rest: each handed out once.
    let (s, first) = poll(&app, json!({"returnImmediately": true, "maxEvents": 4})).await;
    assert_eq!(s, StatusCode::OK, "{first}");
    assert_eq!(jtis(&first, &events), all[..4]);
    assert_eq!(first["moreAvailable"], true);
    let (_, rest) = poll(&app, json!({"returnImmediately": true})).await;
    assert_eq!(jtis(&rest, &events), all[4..]);
    assert_eq!(rest["moreAvailable"], false);
    let (_, none) = poll(&app, json!({"returnImmediately": true})).await;
    assert_eq!(none, json!({"sets": {}, "moreAvailable": false}));

    // Each SET verifies with PyJWT; the audience is the subscription's feed.
    let iss = issuer(&app);
    let aud = format!("{iss}/Feeds/feed");
    let mut tokens = Vec::new();
    for answer in [&first, &rest] {
        for id in jtis(answer, &events) {
            tokens.push(answer["sets"][&id].as_str().expect("SET").to_string());
        }
    }
    if let Some(claims) = pyjwt(&tokens, &jwks(&app).await, &aud, &iss) {
        for (c, e) in claims.iter().zip(&events) {
            assert_set_matches(c, e, &iss, &aud);
        }
    }

    // Acknowledgements and an error; what is acknowledged is never handed out again.
    let (s, a) = poll(
        &app,
        json!({"returnImmediately": true, "ack": [all[1], all[2], all[3]],
               "setErrs": {all[0].clone(): {"err": "invalid_request", "description": "unknown schema"}}}),
    )
    .await;
    assert_eq!((s, a["sets"].as_object().map(|m| m.len())), (StatusCode::OK, Some(0)), "{a}");
    let log = app.admin(Method::GET, &crate::events::hook_path("feed", "/deliveries"), None).await;
    assert_eq!(log.status, StatusCode::OK, "{}", log.text);
    let log = log.body["data"]["deliveries"].as_array().expect("deliveries").clone();
    assert_eq!(log.len(), 4, "one row per acknowledgement or error: {log:?}");
    let refused = log.iter().find(|d| d["eventId"] == all[0].as_str()).expect("the error is logged");
    assert_eq!(refused["ok"], false, "{refused}");
    assert!(
        refused["error"].as_str().is_some_and(|e| e.contains("invalid_request: unknown schema")),
        "{refused}"
    );

    // Not acknowledged within 60 s: handed out again, in order.
    clock.advance(time::Duration::seconds(30));
    let (_, early) = poll(&app, json!({"returnImmediately": true})).await;
    assert_eq!(jtis(&early, &events), Vec::<String>::new());
    clock.advance(time::Duration::seconds(31));
    let (_, again) = poll(&app, json!({"returnImmediately": true})).await;
    assert_eq!(jtis(&again, &events), all[4..], "the unacknowledged ones again");

    // maxEvents 0 only acknowledges; then nothing is left.
    let (_, acked) = poll(&app, json!({"maxEvents": 0, "ack": all[4..]})).await;
    assert_eq!(acked, json!({"sets": {}, "moreAvailable": false}));
    clock.advance(time::Duration::seconds(120));
    let (_, none) = poll(&app, json!({"returnImmediately": true})).await;
    assert_eq!(none["sets"], json!({}));

    // Without returnImmediately, a poll waits for the next change.
    let started = std::time::Instant::now();
    let (waited, late) = tokio::join!(poll(&app, json!({})), async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        app.user("late@acme.test").await
    });
    assert_eq!(waited.0, StatusCode::OK, "{}", waited.1);
    let sets = waited.1["sets"].as_object().expect("sets");
    assert_eq!(sets.len(), 1, "{}", waited.1);
    let latest = feed(&app, "&limit=1000").await["events"].as_array().expect("events").clone();
    let last = latest.last().expect("the new user's event");
    assert_eq!(last["data"]["id"], late.as_str());
    assert!(sets.contains_key(last["id"].as_str().expect("id")));
    assert!(started.elapsed() < Duration::from_secs(10), "woken by the write, not by the time limit");
}

#[tokio::test]
async fn bad_polls_are_refused_with_a_reason_and_change_nothing() {
    let (app, _stop) = webhook_app(None).await;
    let (_rx, url) = Receiver::start().await;
    set_hook(&app, "pushed", Some(&url)).await;
    set_hook(&app, "feed", None).await;
    app.user("one@acme.test").await;

    let pushed = app
        .admin(Method::POST, "/gateway/ng/api/webhooks/pushed/poll?accountIdentifier=acme", Some(json!({})))
        .await;
    assert_eq!(pushed.status, StatusCode::BAD_REQUEST, "{}", pushed.text);
    assert!(pushed.body["message"].as_str().is_some_and(|m| m.contains("deliveryMethod")), "{}", pushed.text);
    let missing = app
        .admin(Method::POST, "/gateway/ng/api/webhooks/nope/poll?accountIdentifier=acme", Some(json!({})))
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND, "{}", missing.text);
    for bad in [json!({"maxEvents": -1}), json!({"ack": "all"}), json!({"setErrs": {"x": "bad"}}), json!([1])]
    {
        let (s, b) = poll(&app, bad.clone()).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {b}");
        assert!(b["message"].as_str().is_some_and(|m| !m.is_empty()), "{b}");
    }
    let headers = [("x-api-key", app.token.as_str()), ("content-type", "application/json")];
    let broken = app.send(Method::POST, POLL, None, Some("{\"maxEvents\":".into()), &headers).await;
    assert_eq!(broken.status, StatusCode::BAD_REQUEST, "{}", broken.text);
    assert!(broken.text.contains("not valid JSON"), "{}", broken.text);
    // None of that handed anything out: the first real poll gets the event.
    let empty = app.send(Method::POST, POLL, None, None, &headers).await;
    assert_eq!(empty.status, StatusCode::OK, "an empty body is {{}}: {}", empty.text);
    assert_eq!(empty.body["sets"].as_object().map(|m| m.len()), Some(1), "{}", empty.text);

    // A polled subscription is not redelivered to; a disabled one is not polled.
    let (_, ack) = poll(&app, json!({"maxEvents": 0, "ack": empty.body["sets"].as_object().expect("sets").keys().collect::<Vec<_>>()})).await;
    assert_eq!(ack["sets"], json!({}));
    let log = app.admin(Method::GET, &crate::events::hook_path("feed", "/deliveries"), None).await;
    let d = log.body["data"]["deliveries"][0]["id"].as_str().expect("a logged acknowledgement").to_string();
    let re = app
        .admin(Method::POST, &crate::events::hook_path("feed", &format!("/deliveries/{d}/redeliver")), None)
        .await;
    assert_eq!(re.status, StatusCode::BAD_REQUEST, "{}", re.text);
    let off = app
        .admin(
            Method::PUT,
            &crate::events::hook_path("feed", ""),
            Some(json!({"identifier": "feed", "events": ["*"], "format": "set", "deliveryMethod": "poll", "enabled": false})),
        )
        .await;
    assert_eq!(off.status, StatusCode::OK, "{}", off.text);
    let (s, b) = poll(&app, json!({})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert!(b["message"].as_str().is_some_and(|m| m.contains("disabled")), "{b}");
}
