//! Change events (docs/events.md): the feed, and webhooks delivered to real receivers on
//! loopback, with signatures checked by the independent `standardwebhooks` package (PyPI).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, Method, StatusCode};
use serde_json::{Value, json};

use crate::common::TestApp;

const FEED: &str = "/gateway/ng/api/events?accountIdentifier=acme";
pub(crate) const HOOKS: &str = "/gateway/ng/api/webhooks?accountIdentifier=acme";

pub(crate) fn hook_path(id: &str, tail: &str) -> String {
    format!("/gateway/ng/api/webhooks/{id}{tail}?accountIdentifier=acme")
}

pub(crate) async fn feed(app: &TestApp, query: &str) -> Value {
    let r = app.admin(Method::GET, &format!("{FEED}{query}"), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.body["data"].clone()
}

fn types(events: &Value) -> Vec<String> {
    events.as_array().expect("events").iter().map(|e| e["type"].as_str().expect("type").to_string()).collect()
}

/// Every kind of change, through the SCIM API: the feed holds one event per change, in order.
#[tokio::test]
async fn the_feed_has_every_event_type_in_order() {
    let app = TestApp::new().await;
    let start = feed(&app, "").await;
    assert_eq!(types(&start["events"]), vec!["user.created"], "the admin user is the first event");
    let cursor = start["next"].as_str().expect("next").to_string();

    let u1 = app.user("alice@acme.test").await;
    let u2 = app.user("bob@acme.test").await;
    let patch =
        |ops: Value| json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops});
    let r = app
        .patch(
            &format!("/Users/{u1}"),
            patch(json!([{"op": "replace", "path": "displayName", "value": "Alice"}])),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = app
        .patch(&format!("/Users/{u1}"), patch(json!([{"op": "replace", "path": "active", "value": false}])))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = app
        .patch(&format!("/Users/{u1}"), patch(json!([{"op": "replace", "path": "active", "value": true}])))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    // A PATCH that changes nothing makes no event.
    let r = app
        .patch(&format!("/Users/{u1}"), patch(json!([{"op": "replace", "path": "active", "value": true}])))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let g = app
        .post(
            "/Groups",
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Eng", "members": [{"value": u1}]}),
        )
        .await;
    assert_eq!(g.status, StatusCode::CREATED, "{}", g.text);
    let gid = g.body["id"].as_str().expect("id").to_string();
    let r = app
        .patch(
            &format!("/Groups/{gid}"),
            patch(json!([{"op": "add", "path": "members", "value": [{"value": u2}]}, {"op": "remove", "path": format!("members[value eq \"{u1}\"]")}])),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.text);
    let r = app
        .put(
            &format!("/Groups/{gid}"),
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Engineering", "members": [{"value": u2}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(app.delete(&format!("/Users/{u2}")).await.status, StatusCode::NO_CONTENT);
    assert_eq!(app.delete(&format!("/Groups/{gid}")).await.status, StatusCode::NO_CONTENT);

    let page = feed(&app, &format!("&after={cursor}&limit=1000")).await;
    assert_eq!(
        types(&page["events"]),
        vec![
            "user.created",
            "user.created",
            "user.updated",
            "user.deactivated",
            "user.reactivated",
            "group.created",
            "group.user_added",
            "group.user_removed",
            "group.user_added",
            "group.updated",
            "group.user_removed",
            "user.deleted",
            "group.deleted",
        ]
    );
    let events = page["events"].as_array().expect("events");
    let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().expect("seq")).collect();
    assert_eq!(seqs, (2..=14).collect::<Vec<_>>(), "numbers grow by one, no gaps");
    let first = &events[0];
    for k in ["id", "type", "seq", "occurredAt", "accountIdentifier", "requestId", "data"] {
        assert!(first.get(k).is_some(), "{k} missing in {first}");
    }
    assert_eq!(first["accountIdentifier"], "acme");
    assert!(first["id"].as_str().expect("id").starts_with("evt_"));
    assert!(first["requestId"].as_str().is_some_and(|r| !r.is_empty()), "{first}");
    // The data is the SCIM representation, as GET answers it (without a User's groups).
    let data = &first["data"];
    assert_eq!(data["userName"], "alice@acme.test");
    assert_eq!(data["meta"]["resourceType"], "User");
    assert_eq!(data["meta"]["version"], "W/\"1\"");
    assert!(
        data["meta"]["location"].as_str().expect("location").ends_with(&format!("/Users/{u1}")),
        "{data}"
    );
    assert_eq!(events[3]["data"]["active"], false);
    assert_eq!(events[6]["data"], json!({"groupId": gid, "memberId": u1, "memberType": "User"}));
    // A delete carries the last representation.
    assert_eq!(events[11]["data"]["userName"], "bob@acme.test");
    assert_eq!(events[12]["data"]["displayName"], "Engineering");
    assert_eq!(page["next"], "14");

    // Pages of two cover the same events, once each; a type filter moves the cursor past the rest.
    let mut after = cursor.clone();
    let mut seen = vec![];
    for _ in 0..20 {
        let p = feed(&app, &format!("&after={after}&limit=2")).await;
        let batch = p["events"].as_array().expect("events");
        if batch.is_empty() {
            break;
        }
        seen.extend(batch.iter().map(|e| e["seq"].as_i64().expect("seq")));
        after = p["next"].as_str().expect("next").to_string();
    }
    assert_eq!(seen, seqs);
    let deletes = feed(&app, &format!("&after={cursor}&type=user.deleted,group.deleted")).await;
    assert_eq!(types(&deletes["events"]), vec!["user.deleted", "group.deleted"]);
    assert_eq!(deletes["next"], "14");
}

#[tokio::test]
async fn bad_feed_parameters_are_400_and_a_pruned_cursor_is_410() {
    let (app, clock) = TestApp::manual_clock().await;
    for (query, needle) in [
        ("&limit=0", "limit must be a number from 1 to 1000"),
        ("&limit=1001", "limit must be a number from 1 to 1000"),
        ("&after=abc", "not a cursor this server gave"),
        ("&after=99", "past this account's newest event"),
        ("&wait=31", "wait must be a number of seconds from 0 to 30"),
        ("&type=user.nope", "type 'user.nope' is not one of user.created"),
    ] {
        let r = app.admin(Method::GET, &format!("{FEED}{query}"), None).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{query}: {}", r.text);
        assert!(r.body["message"].as_str().expect("message").contains(needle), "{query}: {}", r.text);
    }
    app.user("old@acme.test").await;
    clock.advance(time::Duration::days(31));
    app.user("new@acme.test").await;
    let pruned = scimgate::retention::prune_once(
        app.state.logs.as_ref(),
        app.state.event_store.as_ref(),
        clock.as_ref(),
        &scimgate::retention::Retention::of(&app.state.config),
    )
    .await
    .expect("prune");
    assert_eq!(pruned.events, 2, "the admin's and the old user's events: {pruned:?}");
    let r = app.admin(Method::GET, &format!("{FEED}&after=0"), None).await;
    assert_eq!(r.status, StatusCode::GONE, "{}", r.text);
    assert!(r.body["message"].as_str().expect("message").contains("from after=2"), "{}", r.text);
    let rest = feed(&app, "").await;
    assert_eq!(types(&rest["events"]), vec!["user.created"]);
    assert_eq!(rest["events"][0]["data"]["userName"], "new@acme.test");
}

#[tokio::test]
async fn the_feed_long_polls_until_an_event_arrives() {
    let app = Arc::new(TestApp::new().await);
    let next = feed(&app, "").await["next"].as_str().expect("next").to_string();
    let waiter = {
        let app = app.clone();
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            let page = feed(&app, &format!("&after={next}&wait=20")).await;
            (page, started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.user("late@acme.test").await;
    let (page, took) = waiter.await.expect("waiter");
    assert_eq!(types(&page["events"]), vec!["user.created"]);
    assert!(took < Duration::from_secs(15), "the write woke the reader ({took:?})");
    // Nothing new: the wait ends with an empty page and the same cursor.
    let after = page["next"].as_str().expect("next").to_string();
    let empty = feed(&app, &format!("&after={after}&wait=1")).await;
    assert_eq!(empty["events"], json!([]));
    assert_eq!(empty["next"], json!(after));
}

/// A Bulk request makes one event per change, like the same requests one by one; an operation
/// that fails makes none; all carry the Bulk request's id.
#[tokio::test]
async fn bulk_operations_make_one_event_per_change() {
    let app = TestApp::new().await;
    let old = app.user("old@acme.test").await;
    let before = feed(&app, "&limit=1000").await["next"].as_str().expect("next").to_string();
    let headers = [("x-request-id", "bulk-req-1")];
    let body = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
        "Operations": [
            {"method": "POST", "path": "/Users", "bulkId": "u1",
             "data": {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "bulk@acme.test"}},
            {"method": "POST", "path": "/Users", "bulkId": "dup",
             "data": {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "old@acme.test"}},
            {"method": "POST", "path": "/Groups", "bulkId": "g1",
             "data": {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Bulk",
                      "members": [{"type": "User", "value": "bulkId:u1"}]}},
            {"method": "PATCH", "path": "/Users/bulkId:u1",
             "data": {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                      "Operations": [{"op": "replace", "path": "active", "value": false}]}},
            {"method": "DELETE", "path": format!("/Users/{old}")},
        ]
    });
    let r = app
        .send(Method::POST, &app.scim("/Bulk"), Some(&app.token.clone()), Some(body.to_string()), &headers)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let statuses: Vec<&str> =
        r.body["Operations"].as_array().expect("ops").iter().filter_map(|o| o["status"].as_str()).collect();
    assert_eq!(statuses, ["201", "409", "201", "200", "204"], "{}", r.text);
    let page = feed(&app, &format!("&after={before}&limit=1000")).await;
    assert_eq!(
        types(&page["events"]),
        ["user.created", "group.created", "group.user_added", "user.deactivated", "user.deleted"],
        "{page}"
    );
    let events = page["events"].as_array().expect("events");
    assert!(events.iter().all(|e| e["requestId"] == "bulk-req-1"), "{page}");
    assert_eq!(events[0]["data"]["userName"], "bulk@acme.test");
    assert_eq!(events[2]["data"]["memberId"], events[0]["data"]["id"]);
    assert_eq!(events[4]["data"]["id"], old.as_str());
}

/// A webhook receiver on loopback: records every request; answers from a script of
/// statuses (then 200), or redirects, or stalls.
#[derive(Clone, Default)]
pub(crate) struct Receiver {
    pub(crate) got: Arc<Mutex<Vec<(HeaderMap, String)>>>,
    script: Arc<Mutex<Vec<u16>>>,
    stall: Arc<Mutex<Option<Duration>>>,
    redirect: Arc<Mutex<Option<String>>>,
}

impl Receiver {
    pub(crate) async fn start() -> (Self, String) {
        let me = Self::default();
        let state = me.clone();
        let app = axum::Router::new().fallback(move |headers: HeaderMap, body: String| {
            let st = state.clone();
            async move {
                st.got.lock().expect("lock").push((headers, body));
                let stall = *st.stall.lock().expect("lock");
                if let Some(d) = stall {
                    tokio::time::sleep(d).await;
                }
                if let Some(to) = st.redirect.lock().expect("lock").clone() {
                    return axum::response::Response::builder()
                        .status(302)
                        .header("location", to)
                        .body(axum::body::Body::empty())
                        .expect("response");
                }
                let status = {
                    let mut s = st.script.lock().expect("lock");
                    if s.is_empty() { 200 } else { s.remove(0) }
                };
                axum::response::Response::builder()
                    .status(status)
                    .body(axum::body::Body::from(format!("answer {status}")))
                    .expect("response")
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        (me, url)
    }
    fn bodies(&self) -> Vec<Value> {
        self.got
            .lock()
            .expect("lock")
            .iter()
            .map(|(_, b)| serde_json::from_str(b).expect("json body"))
            .collect()
    }
    /// Waits (bounded) until `n` requests have come; their JSON bodies.
    pub(crate) async fn wait_for(&self, n: usize, limit: Duration) -> Vec<Value> {
        self.wait_raw(n, limit).await;
        self.bodies()
    }
    /// Waits (bounded) until `n` requests have come; the requests as they came.
    pub(crate) async fn wait_raw(&self, n: usize, limit: Duration) -> Vec<(HeaderMap, String)> {
        let until = std::time::Instant::now() + limit;
        while self.got.lock().expect("lock").len() < n && std::time::Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.got.lock().expect("lock").clone()
    }
}

/// A server whose webhooks may go to loopback over http, with its delivery worker running.
pub(crate) async fn webhook_app(
    clock: Option<Arc<scimgate_domain::ManualClock>>,
) -> (TestApp, tokio::sync::watch::Sender<bool>) {
    let clock: Arc<dyn scimgate_domain::Clock> = match clock {
        Some(c) => c,
        None => Arc::new(scimgate_domain::SystemClock),
    };
    let app = TestApp::with_config(clock, |c| {
        c.webhook_allow_hosts = "loopback".into();
        c.webhook_allow_http = true;
    })
    .await;
    let (stop, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(scimgate::events::deliver::run(app.state.clone(), rx));
    (app, stop)
}

async fn create_hook(app: &TestApp, id: &str, url: &str, events: Value) -> Value {
    let r =
        app.admin(Method::POST, HOOKS, Some(json!({"identifier": id, "url": url, "events": events}))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.body["data"].clone()
}

/// The folder of Python packages the tests run (`.ci/run` installs them; here `spec` is
/// installed into `target/pytools` on first use when `module` is missing). `None` when it
/// cannot be had, which only outside CI is allowed: under CI a missing package fails.
pub(crate) fn pytool(module: &str, spec: &str) -> Option<std::path::PathBuf> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/pytools");
    let path = std::env::var("SCIMGATE_PYTOOLS").map(std::path::PathBuf::from).unwrap_or(dir);
    static INSTALL: Mutex<()> = Mutex::new(());
    let _one_at_a_time = INSTALL.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if !path.join(module).exists() {
        let _ = std::process::Command::new("python3")
            .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--target"])
            .arg(&path)
            .arg(spec)
            .status();
    }
    if !path.join(module).exists() {
        assert!(std::env::var("CI").is_err(), "the Python package {spec} is missing under CI");
        eprintln!("{spec} is not installed: the independent check is skipped");
        return None;
    }
    Some(path)
}

/// Runs a Python `script` with the packages of `path`, `input` on its standard input.
pub(crate) fn python(path: &std::path::Path, script: &str, input: &Value) -> std::process::Output {
    use std::io::Write;
    let mut child = std::process::Command::new("python3")
        .args(["-c", script])
        .env("PYTHONPATH", path)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    child.stdin.take().expect("stdin").write_all(input.to_string().as_bytes()).expect("write");
    child.wait_with_output().expect("python")
}

/// Verifies every message with the `standardwebhooks` package from PyPI (see [`pytool`]).
fn verify_with_standardwebhooks(messages: &[(String, HeaderMap, String)]) {
    let Some(path) = pytool("standardwebhooks", "standardwebhooks==1.1.0") else { return };
    let list: Vec<Value> = messages
        .iter()
        .map(|(secret, h, body)| {
            let get = |k: &str| h.get(k).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
            json!({"secret": secret, "body": body, "headers": {
                "webhook-id": get("webhook-id"), "webhook-timestamp": get("webhook-timestamp"),
                "webhook-signature": get("webhook-signature")}})
        })
        .collect();
    let script = "import json, sys\n\
                  from standardwebhooks.webhooks import Webhook\n\
                  for m in json.load(sys.stdin):\n    Webhook(m['secret']).verify(m['body'], m['headers'])\n\
                  print('verified')\n";
    let out = python(&path, script, &Value::Array(list));
    assert!(
        out.status.success(),
        "standardwebhooks refused a signature: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn messages(rx: &Receiver, secret: &str) -> Vec<(String, HeaderMap, String)> {
    rx.got.lock().expect("lock").iter().map(|(h, b)| (secret.to_string(), h.clone(), b.clone())).collect()
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> &'a str {
    h.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
}

#[tokio::test]
async fn webhooks_deliver_signed_events_in_order() {
    let (app, _stop) = webhook_app(None).await;
    let (crm, crm_url) = Receiver::start().await;
    let (sink, sink_url) = Receiver::start().await;
    let created = create_hook(&app, "crm", &crm_url, json!(["*"])).await;
    let secret = created["secret"].as_str().expect("secret").to_string();
    assert!(secret.starts_with("whsec_"), "{created}");
    assert_eq!((created["status"].clone(), created["enabled"].clone()), (json!("active"), json!(true)));
    // The secret is shown once.
    let got = app.admin(Method::GET, &hook_path("crm", ""), None).await;
    assert_eq!(got.status, StatusCode::OK, "{}", got.text);
    assert!(got.body["data"].get("secret").is_none() && !got.text.contains(&secret), "{}", got.text);
    let only_deletes = create_hook(&app, "audit_sink", &sink_url, json!(["user.deleted"])).await;
    assert_eq!(only_deletes["events"], json!(["user.deleted"]));
    let sink_secret = only_deletes["secret"].as_str().expect("secret").to_string();

    let mut ids = vec![];
    for i in 0..20 {
        ids.push(app.user(&format!("u{i}@acme.test")).await);
    }
    assert_eq!(app.delete(&format!("/Users/{}", ids[0])).await.status, StatusCode::NO_CONTENT);
    let bodies = crm.wait_for(21, Duration::from_secs(20)).await;
    let seqs: Vec<i64> = bodies.iter().map(|b| b["seq"].as_i64().expect("seq")).collect();
    assert_eq!(seqs, (2..=22).collect::<Vec<_>>(), "every event, once, in order");
    assert_eq!(bodies[20]["type"], "user.deleted");
    let deletes = sink.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(types(&json!(deletes)), vec!["user.deleted"], "the filter holds");
    for (h, b) in crm.got.lock().expect("lock").iter() {
        let body: Value = serde_json::from_str(b).expect("json");
        assert_eq!(body["id"], json!(header(h, "webhook-id")), "webhook-id is the event id");
        assert_eq!(header(h, "content-type"), "application/json");
        let ts: i64 = header(h, "webhook-timestamp").parse().expect("timestamp");
        assert_eq!(
            header(h, "webhook-signature"),
            scimgate::events::deliver::signature(&[&secret], body["id"].as_str().expect("id"), ts, b)
        );
    }
    let mut all = messages(&crm, &secret);
    all.extend(messages(&sink, &sink_secret));
    verify_with_standardwebhooks(&all);

    // The delivery log has every attempt, newest first.
    let log = app.admin(Method::GET, &hook_path("crm", "/deliveries"), None).await;
    assert_eq!(log.status, StatusCode::OK, "{}", log.text);
    let list = log.body["data"]["deliveries"].as_array().expect("deliveries").clone();
    assert_eq!(list.len(), 21, "{}", log.text);
    assert!(
        list.iter().all(|d| d["ok"] == true && d["status"] == 200 && d["response"] == "answer 200"),
        "{}",
        log.text
    );
    assert_eq!(list[0]["eventSeq"], 22);

    // After rotation the old secret signs alongside the new one for 24 h.
    let rotated = app.admin(Method::POST, &hook_path("audit_sink", "/rotate-secret"), None).await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.text);
    let new_secret = rotated.body["data"]["secret"].as_str().expect("secret").to_string();
    assert!(new_secret.starts_with("whsec_") && new_secret != sink_secret);
    assert!(rotated.body["data"]["previousSecretValidUntil"].as_i64().is_some(), "{}", rotated.text);
    assert_eq!(app.delete(&format!("/Users/{}", ids[1])).await.status, StatusCode::NO_CONTENT);
    sink.wait_for(2, Duration::from_secs(20)).await;
    let (h, b) = sink.got.lock().expect("lock")[1].clone();
    assert_eq!(header(&h, "webhook-signature").matches("v1,").count(), 2, "{h:?}");
    verify_with_standardwebhooks(&[(new_secret, h.clone(), b.clone()), (sink_secret, h, b)]);

    // Redeliver: the same event id again, logged as a redelivery.
    let first = &list[list.len() - 1];
    let id = first["id"].as_str().expect("id");
    let again =
        app.admin(Method::POST, &hook_path("crm", &format!("/deliveries/{id}/redeliver")), None).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text);
    assert_eq!(again.body["data"]["eventId"], first["eventId"]);
    assert_eq!(again.body["data"]["redelivery"], true);
    assert_eq!(again.body["data"]["ok"], true);
    let last = crm.got.lock().expect("lock").last().cloned().expect("redelivered");
    assert_eq!(json!(header(&last.0, "webhook-id")), first["eventId"]);
}

#[tokio::test]
async fn a_failing_receiver_gets_everything_in_order_once_it_recovers() {
    let clock = Arc::new(scimgate_domain::ManualClock::new(time::OffsetDateTime::now_utc()));
    let (app, _stop) = webhook_app(Some(clock.clone())).await;
    let (rx, url) = Receiver::start().await;
    *rx.script.lock().expect("lock") = vec![500, 503, 429];
    create_hook(&app, "flaky", &url, json!(["*"])).await;
    for i in 0..5 {
        app.user(&format!("f{i}@acme.test")).await;
    }
    // Three failures of the first event, each retried when due (the clock moves past it).
    for n in 1..=3 {
        rx.wait_for(n, Duration::from_secs(10)).await;
        let h = app.admin(Method::GET, &hook_path("flaky", ""), None).await;
        let delivery = &h.body["data"]["delivery"];
        if delivery["attempts"].as_i64().unwrap_or(0) >= n as i64 {
            let next = delivery["nextAttemptAt"].as_i64().expect("next attempt");
            let failed_at = delivery["failingSince"].as_i64().expect("since");
            if n == 1 {
                assert!(next - failed_at <= 10_000, "the first retry comes within 10 s: {delivery}");
            }
        }
        clock.advance(time::Duration::minutes(10));
    }
    let bodies = rx.wait_for(8, Duration::from_secs(20)).await;
    let seqs: Vec<i64> = bodies.iter().map(|b| b["seq"].as_i64().expect("seq")).collect();
    assert_eq!(seqs.len(), 8, "{seqs:?}");
    assert_eq!(seqs[0..4], [seqs[0]; 4], "the first event until it is taken: {seqs:?}");
    assert_eq!(seqs[3..], (seqs[0]..seqs[0] + 5).collect::<Vec<_>>()[..], "then the rest in order: {seqs:?}");
    let log = app.admin(Method::GET, &hook_path("flaky", "/deliveries"), None).await;
    let statuses: Vec<Value> = log.body["data"]["deliveries"]
        .as_array()
        .expect("list")
        .iter()
        .rev()
        .map(|d| d["status"].clone())
        .collect();
    assert_eq!(statuses[..4], [json!(500), json!(503), json!(429), json!(200)], "{}", log.text);
}

#[tokio::test]
async fn a_receiver_failing_for_three_days_is_marked_failing_until_enabled_again() {
    let clock = Arc::new(scimgate_domain::ManualClock::new(time::OffsetDateTime::now_utc()));
    let (app, _stop) = webhook_app(Some(clock.clone())).await;
    let (rx, url) = Receiver::start().await;
    *rx.script.lock().expect("lock") = vec![500; 1000];
    create_hook(&app, "down", &url, json!(["*"])).await;
    app.user("d@acme.test").await;
    rx.wait_for(1, Duration::from_secs(10)).await;
    // Each due retry fails; once three days have passed since the first failure it stops.
    for _ in 0..200 {
        let h = app.admin(Method::GET, &hook_path("down", ""), None).await;
        if h.body["data"]["status"] == "failing" {
            break;
        }
        clock.advance(time::Duration::hours(2));
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    let h = app.admin(Method::GET, &hook_path("down", ""), None).await;
    assert_eq!(h.body["data"]["status"], "failing", "{}", h.text);
    assert_eq!(h.body["data"]["enabled"], false, "{}", h.text);
    assert!(h.body["data"]["delivery"]["lastError"].as_str().expect("error").contains("500"), "{}", h.text);
    let tried = rx.got.lock().expect("lock").len();
    clock.advance(time::Duration::days(1));
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(rx.got.lock().expect("lock").len(), tried, "a failing subscription is not tried");
    // Enabled again, it delivers its backlog from where it stopped.
    rx.script.lock().expect("lock").clear();
    let r = app
        .admin(
            Method::PUT,
            &hook_path("down", ""),
            Some(json!({"url": url, "events": ["*"], "enabled": true})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["data"]["status"], "active", "{}", r.text);
    let bodies = rx.wait_for(tried + 1, Duration::from_secs(10)).await;
    assert_eq!(bodies.last().expect("delivered")["data"]["userName"], "d@acme.test");
}

#[tokio::test]
async fn redirects_and_slow_receivers_fail_and_are_retried() {
    let (app, _stop) = webhook_app(None).await;
    let (target, target_url) = Receiver::start().await;
    let (rx, url) = Receiver::start().await;
    *rx.redirect.lock().expect("lock") = Some(target_url);
    create_hook(&app, "moved", &url, json!(["*"])).await;
    let (slow, slow_url) = Receiver::start().await;
    *slow.stall.lock().expect("lock") = Some(Duration::from_secs(12));
    create_hook(&app, "slow", &slow_url, json!(["*"])).await;
    app.user("r@acme.test").await;
    rx.wait_for(1, Duration::from_secs(10)).await;
    for (hook, needle) in [("moved", "redirect (302 Found) refused"), ("slow", "no answer within 10 s")] {
        let mut last = Value::Null;
        for _ in 0..150 {
            let log = app.admin(Method::GET, &hook_path(hook, "/deliveries"), None).await;
            last = log.body["data"]["deliveries"][0].clone();
            if !last.is_null() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(last["ok"], false, "{hook}: {last}");
        assert!(last["error"].as_str().is_some_and(|e| e.contains(needle)), "{hook}: {last}");
        let h = app.admin(Method::GET, &hook_path(hook, ""), None).await;
        assert_eq!(h.body["data"]["delivery"]["attempts"], 1, "{hook}: {}", h.text);
    }
    assert!(target.got.lock().expect("lock").is_empty(), "the redirect was not followed");
}

#[tokio::test]
async fn webhook_urls_are_checked_when_written() {
    // Default policy: https and public addresses only.
    let app = TestApp::new().await;
    for (url, needle) in [
        ("http://hooks.example.com/x", "must use https"),
        ("https://127.0.0.1/x", "loopback"),
        ("https://localhost/x", "loopback name"),
        ("https://10.1.2.3/x", "--webhook-allow-hosts"),
        ("ftp://hooks.example.com/x", "must use https, not 'ftp'"),
    ] {
        let r = app
            .admin(Method::POST, HOOKS, Some(json!({"identifier": "h", "url": url, "events": ["*"]})))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{url}: {}", r.text);
        assert!(r.body["message"].as_str().expect("message").contains(needle), "{url}: {}", r.text);
    }
    for (body, needle) in [
        (
            json!({"identifier": "h", "url": "https://hooks.example.com/x", "events": []}),
            "events must not be empty",
        ),
        (
            json!({"identifier": "h", "url": "https://hooks.example.com/x", "events": ["user.nope"]}),
            "'user.nope' is not one of",
        ),
        (
            json!({"identifier": "9h", "url": "https://hooks.example.com/x", "events": ["*"]}),
            "webhook identifier '9h' is invalid",
        ),
        (json!({"identifier": "h", "events": ["*"]}), "url is required"),
    ] {
        let r = app.admin(Method::POST, HOOKS, Some(body.clone())).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.text);
        assert!(r.body["message"].as_str().expect("message").contains(needle), "{body}: {}", r.text);
    }
    let ok = app
        .admin(
            Method::POST,
            HOOKS,
            Some(json!({"identifier": "h", "url": "https://hooks.example.com/x", "events": ["*"]})),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    let dup = app
        .admin(
            Method::POST,
            HOOKS,
            Some(json!({"identifier": "h", "url": "https://hooks.example.com/y", "events": ["*"]})),
        )
        .await;
    assert_eq!(dup.status, StatusCode::CONFLICT, "{}", dup.text);
    let list = app.admin(Method::GET, HOOKS, None).await;
    assert_eq!(list.body["data"]["webhooks"].as_array().expect("list").len(), 1);
    assert!(!list.text.contains("whsec_"), "no secret in a list: {}", list.text);
    assert_eq!(app.admin(Method::DELETE, &hook_path("h", ""), None).await.status, StatusCode::OK);
    assert_eq!(app.admin(Method::GET, &hook_path("h", ""), None).await.status, StatusCode::NOT_FOUND);
}
