//! RFC 9967 security event tokens (docs/events.md "Security event tokens"): SETs pushed to a
//! receiver on loopback (RFC 8935) and polled (RFC 8936), verified by an independent JOSE
//! library (PyJWT, from PyPI) against the key set scimgate publishes.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{TestApp, patch_body};
use crate::events::{HOOKS, Receiver, feed, pytool, webhook_app};

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
    use std::io::Write;
    let mut child = std::process::Command::new("python3")
        .args(["-c", script])
        .env("PYTHONPATH", &path)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    let input = json!({"tokens": tokens, "jwks": keys, "aud": aud, "iss": iss});
    child.stdin.take().expect("stdin").write_all(input.to_string().as_bytes()).expect("write");
    let out = child.wait_with_output().expect("python");
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

#[tokio::test]
async fn set_push_delivers_security_event_tokens_a_jose_library_verifies() {
    let (app, _stop) = webhook_app(None).await;
    let (rx, url) = Receiver::start().await;
    let r = app
        .admin(
            Method::POST,
            HOOKS,
            Some(json!({"identifier": "siem", "url": url, "events": ["*"], "format": "set"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["data"]["format"], "set");
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

    let spc = app.get("/ServiceProviderConfig").await;
    assert_eq!(spc.status, StatusCode::OK);
    let se = &spc.body["securityEvents"];
    assert_eq!(se["asyncRequest"], "none", "{se}");
    let uris: Vec<&str> =
        se["eventUris"].as_array().expect("eventUris").iter().filter_map(Value::as_str).collect();
    for u in [CREATE_FULL, PUT_FULL, PATCH_FULL, DELETE, ACTIVATE, DEACTIVATE] {
        assert!(uris.contains(&u), "{u} is announced: {uris:?}");
    }
}
