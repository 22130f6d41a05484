//! Webhook delivery across processes and nodes (docs/events.md "Delivery"): `kill -9` of the
//! server during delivery under write load loses no event of an acknowledged write, and two
//! nodes on one database deliver each event once. On SQLite and, with `TEST_DATABASE_URL`,
//! PostgreSQL (where the claim uses `FOR UPDATE SKIP LOCKED`).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::Method;
use serde_json::{Value, json};

use crate::cli::{http_with, shared_db_url, sigterm, start_with};
use crate::common::TestApp;
use crate::operations::{create_acme, try_http};

/// A webhook receiver on loopback (plain threads): answers 200 to every POST and keeps the
/// bodies, in arrival order.
fn receiver() -> (String, Arc<Mutex<Vec<Value>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    let got = Arc::new(Mutex::new(Vec::new()));
    let store = got.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            let store = store.clone();
            std::thread::spawn(move || {
                let mut w = conn.try_clone().expect("clone");
                let mut r = BufReader::new(conn);
                loop {
                    let mut len = 0usize;
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    loop {
                        let mut h = String::new();
                        if r.read_line(&mut h).unwrap_or(0) == 0 {
                            return;
                        }
                        if h == "\r\n" {
                            break;
                        }
                        if let Some((k, v)) = h.split_once(':')
                            && k.eq_ignore_ascii_case("content-length")
                        {
                            len = v.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0; len];
                    if r.read_exact(&mut body).is_err() {
                        return;
                    }
                    if let Ok(v) = serde_json::from_slice::<Value>(&body) {
                        store.lock().expect("lock").push(v);
                    }
                    if w.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").is_err() {
                        return;
                    }
                }
            });
        }
    });
    (url, got)
}

fn create_webhook(addr: &str, token: &str, url: &str) {
    let body = json!({"identifier": "sink", "url": url, "events": ["*"]}).to_string();
    let (status, text) = http_with(
        addr,
        "POST",
        "/gateway/ng/api/webhooks?accountIdentifier=acme",
        &[("x-api-key", token)],
        Some(&body),
    );
    assert_eq!(status, 200, "{text}");
}

/// `kill -9` while users are being created and their events delivered: after a restart, the
/// feed holds a `user.created` for every acknowledged create, and the receiver gets each of
/// them (duplicates allowed, losses not), in order.
#[test]
fn kill_9_during_delivery_loses_no_event_of_an_acknowledged_write() {
    let dir = tempfile::tempdir().expect("tmp");
    let url = shared_db_url(&dir);
    let token = create_acme(&url);
    let flags = [
        "--no-bootstrap",
        "--account-rate-limit",
        "0",
        "--account-max-in-flight",
        "0",
        "--webhook-allow-hosts",
        "loopback",
        "--webhook-allow-http",
    ];
    let (mut child, addr, _) = start_with(&url, &flags);
    let (hook_url, got) = receiver();
    create_webhook(&addr, &token, &hook_url);
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (addr, token) = (addr.clone(), token.clone());
            std::thread::spawn(move || {
                let mut acked = vec![];
                for i in 0..100_000 {
                    let body = format!(r#"{{"userName": "k{w}-{i}@acme.test"}}"#);
                    let users = "/gateway/ng/api/scim/account/acme/Users";
                    match try_http(&addr, "POST", users, &token, Some(&body)) {
                        Some((201, _)) => acked.push(format!("k{w}-{i}@acme.test")),
                        _ => break,
                    }
                }
                acked
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    let acked: BTreeSet<String> = writers.into_iter().flat_map(|w| w.join().expect("writer")).collect();
    let before_restart = got.lock().expect("lock").len();
    assert!(acked.len() >= 20, "the load ran: {} acknowledged creates", acked.len());
    assert!(before_restart > 0, "delivery was running when the server died");

    // Restart: delivery goes on from where it was recorded.
    let (mut child, addr, _) = start_with(&url, &flags);
    let deadline = Instant::now() + Duration::from_secs(60);
    let delivered = || -> BTreeSet<String> {
        got.lock()
            .expect("lock")
            .iter()
            .filter(|e| e["type"] == "user.created")
            .filter_map(|e| e["data"]["userName"].as_str().map(str::to_string))
            .collect()
    };
    while !acked.is_subset(&delivered()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let arrived = delivered();
    let missing: Vec<&String> = acked.difference(&arrived).take(5).collect();
    assert!(missing.is_empty(), "acknowledged creates never delivered (first 5): {missing:?}");
    // Arrivals never go backwards except where a page was sent again after the restart.
    let seqs: Vec<i64> = got.lock().expect("lock").iter().map(|e| e["seq"].as_i64().expect("seq")).collect();
    let mut seen = BTreeSet::new();
    let mut newest = 0;
    for s in &seqs {
        assert!(*s > newest || seen.contains(s), "event {s} arrived after {newest} without being a repeat");
        seen.insert(*s);
        newest = newest.max(*s);
    }
    // The feed has every acknowledged create.
    let mut in_feed = BTreeSet::new();
    let mut after = "0".to_string();
    for _ in 0..1_000 {
        let (status, text) = http_with(
            &addr,
            "GET",
            &format!("/gateway/ng/api/events?accountIdentifier=acme&after={after}&limit=1000"),
            &[("x-api-key", &token)],
            None,
        );
        assert_eq!(status, 200, "{text}");
        let v: Value = serde_json::from_str(&text).expect("json");
        let events = v["data"]["events"].as_array().expect("events");
        if events.is_empty() {
            break;
        }
        in_feed.extend(events.iter().filter_map(|e| e["data"]["userName"].as_str().map(str::to_string)));
        after = v["data"]["next"].as_str().expect("next").to_string();
    }
    assert!(acked.is_subset(&in_feed), "every acknowledged create has its event in the feed");
    eprintln!(
        "kill -9: {} acknowledged creates, {} deliveries before the kill, {} in all ({} repeats)",
        acked.len(),
        before_restart,
        seqs.len(),
        seqs.len() - seen.len()
    );
    sigterm(&mut child);
}

/// Two nodes on one database, both delivering: each event goes out once, in order.
#[tokio::test]
async fn two_nodes_deliver_each_event_once() {
    let app = TestApp::with_config(Arc::new(scimgate_domain::SystemClock), |c| {
        c.webhook_allow_hosts = "loopback".into();
        c.webhook_allow_http = true;
    })
    .await;
    let other = app.second_node(Arc::new(scimgate_domain::SystemClock)).await;
    let (stop, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(scimgate::events::deliver::run(app.state.clone(), rx.clone()));
    tokio::spawn(scimgate::events::deliver::run(other.clone(), rx));
    let (url, got) = receiver();
    let r = app
        .admin(
            Method::POST,
            "/gateway/ng/api/webhooks?accountIdentifier=acme",
            Some(json!({"identifier": "sink", "url": url, "events": ["*"]})),
        )
        .await;
    assert_eq!(r.status.as_u16(), 200, "{}", r.text);
    // Writes through both nodes.
    let other_router = scimgate::http::router(other.clone());
    for i in 0..60 {
        if i % 2 == 0 {
            app.user(&format!("n{i}@acme.test")).await;
        } else {
            use tower::ServiceExt;
            let body = json!({"userName": format!("n{i}@acme.test")}).to_string();
            let req = axum::http::Request::builder()
                .method("POST")
                .uri(app.scim("/Users"))
                .header("host", "scim.test")
                .header("authorization", format!("Bearer {}", app.token))
                .header("content-type", "application/scim+json")
                .body(axum::body::Body::from(body))
                .expect("request");
            let res = other_router.clone().oneshot(req).await.expect("infallible");
            assert_eq!(res.status().as_u16(), 201);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while got.lock().expect("lock").len() < 60 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    let seqs: Vec<i64> = got.lock().expect("lock").iter().map(|e| e["seq"].as_i64().expect("seq")).collect();
    let mut counts: BTreeMap<i64, usize> = BTreeMap::new();
    for s in &seqs {
        *counts.entry(*s).or_default() += 1;
    }
    assert_eq!(counts.len(), 60, "every event arrived: {seqs:?}");
    assert!(counts.values().all(|n| *n == 1), "each event once: {seqs:?}");
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "in order: {seqs:?}");
    let _ = stop.send(true);
}
