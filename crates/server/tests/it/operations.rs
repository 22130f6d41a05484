//! Operations promises of the README ("Configuration") and docs/contract.md §1–§2 that only
//! show when the server runs: SIGTERM drains a request in flight, `account feature-flag`
//! reaches a running server within 5 s, flag > environment > file, `/metrics` is Prometheus
//! text, no pooled connection in time is 503, and a panic is the 500 envelope.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use serde_json::Value;

use crate::cli::{
    BIN, http_full, http_with, send_sigterm, shared_db_url, sigterm, start_with, start_with_env,
    wait_for_exit,
};
use crate::common::{Res, TestApp, assert_scim_error, test_database_url};

/// `scimgate account create acme` on `url` (every feature flag off); returns the admin token.
pub(crate) fn create_acme(url: &str) -> String {
    let out = Command::new(BIN)
        .args(["account", "create", "acme", "--admin-email", "admin@acme.test", "--database", url])
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    v["token"].as_str().expect("token").to_string()
}

/// Reads one response head (up to and including the blank line) byte by byte, so nothing
/// after it is consumed.
fn read_head(s: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = s.read(&mut byte).expect("read head");
        assert_eq!(n, 1, "connection closed inside a response head: {}", String::from_utf8_lossy(&head));
        head.push(byte[0]);
    }
    String::from_utf8(head).expect("utf-8 head")
}

/// The value of a header in a response head (case-insensitive name).
fn head_header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// docs/contract.md §1: "`SIGTERM`/Ctrl-C drain in-flight requests and exit 0". A POST whose
/// body the client sends slowly is in its handler (the server asked for the body with
/// `100 Continue` after authenticating) when SIGTERM arrives; the listener then closes, the
/// rest of the body is sent, and the whole 201 still arrives before the process exits 0.
#[test]
fn sigterm_drains_a_request_in_flight() {
    let dir = tempfile::tempdir().expect("tmp");
    let url = shared_db_url(&dir);
    let token = create_acme(&url);
    let (mut child, addr, _) = start_with(&url, &["--no-bootstrap", "true"]);
    let body =
        r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"inflight@acme.test"}"#;
    let (first, rest) = body.split_at(body.len() / 2);
    let mut s = TcpStream::connect(&addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
    let head = format!(
        "POST /gateway/ng/api/scim/account/acme/Users HTTP/1.1\r\nHost: {addr}\r\n\
         Authorization: Bearer {token}\r\nContent-Type: application/scim+json\r\n\
         Content-Length: {}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).expect("write head");
    // hyper answers `100 Continue` when the handler first reads the body: the request is
    // authenticated and in flight from here on.
    let interim = read_head(&mut s);
    assert!(interim.starts_with("HTTP/1.1 100"), "expected 100 Continue: {interim}");
    s.write_all(first.as_bytes()).expect("write first half");
    send_sigterm(&child);
    // The server stops accepting when it has taken the signal: wait for that (bounded).
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(&addr).is_ok() {
        assert!(Instant::now() < deadline, "the listener still accepts 10 s after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(child.try_wait().expect("wait").is_none(), "exited with a request in flight");
    s.write_all(rest.as_bytes()).expect("write the rest of the body after SIGTERM");
    let mut out = Vec::new();
    s.read_to_end(&mut out).expect("read the response");
    let out = String::from_utf8(out).expect("utf-8");
    let (res_head, res_body) = out.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no response: {out:?}"));
    assert!(res_head.starts_with("HTTP/1.1 201"), "{out}");
    let len: usize =
        head_header(res_head, "content-length").and_then(|v| v.parse().ok()).expect("Content-Length");
    assert_eq!(res_body.len(), len, "the body arrived whole: {out}");
    let user: Value = serde_json::from_str(res_body).expect("a complete JSON body");
    assert_eq!(user["userName"], "inflight@acme.test", "{res_body}");
    assert!(user["id"].as_str().is_some_and(|id| !id.is_empty()), "{res_body}");
    let status = wait_for_exit(&mut child);
    assert!(status.success(), "exit status after draining: {status:?}");

    // It was stored, too.
    let (mut child, addr, _) = start_with(&url, &["--no-bootstrap", "true"]);
    let (status, text) = http_with(
        &addr,
        "GET",
        "/gateway/ng/api/scim/account/acme/Users?filter=userName%20eq%20%22inflight@acme.test%22",
        &[("Authorization", &format!("Bearer {token}"))],
        None,
    );
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("\"totalResults\":1"), "{text}");
    assert!(sigterm(&mut child).success());
}

/// docs/contract.md §1: `scimgate account feature-flag ID FLAG on|off` — "Running servers on
/// that database see the change within 5 s". The Settings API answers 403
/// FEATURE_NOT_ENABLED while NG_SETTINGS is off; both directions are polled against a 5 s
/// deadline that starts when the command has returned.
#[test]
fn feature_flag_command_reaches_a_running_server_within_5_s() {
    let dir = tempfile::tempdir().expect("tmp");
    let url = shared_db_url(&dir);
    let token = create_acme(&url);
    let (mut child, addr, _) = start_with(&url, &["--no-bootstrap", "true"]);
    let key = [("x-api-key", token.as_str())];
    let get = || http_with(&addr, "GET", "/gateway/ng/api/settings?accountIdentifier=acme", &key, None);
    let flag_off = |(status, text): &(u16, String)| {
        *status == 403 && text.contains("\"code\":\"FEATURE_NOT_ENABLED\"") && text.contains("NG_SETTINGS")
    };
    // Off: refused (and the running server has now cached the flags).
    let r = get();
    assert!(flag_off(&r), "{r:?}");
    for (state, want_on) in [("on", true), ("off", false)] {
        let out = Command::new(BIN)
            .args(["account", "feature-flag", "acme", "NG_SETTINGS", state, "--database", &url])
            .output()
            .expect("run");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let since = Instant::now();
        loop {
            let r = get();
            let seen =
                if want_on { r.0 == 200 && r.1.contains("\"status\":\"SUCCESS\"") } else { flag_off(&r) };
            if seen {
                break;
            }
            assert!(r.0 == 200 || flag_off(&r), "only the old or the new answer is acceptable: {r:?}");
            assert!(
                since.elapsed() < Duration::from_secs(5),
                "NG_SETTINGS {state} not seen within 5 s: {r:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!("NG_SETTINGS {state} seen by the running server after {:?}", since.elapsed());
    }
    assert!(sigterm(&mut child).success());
}

/// README "Configuration": flags beat the environment, which beats the `--config` file.
/// Three starts of the real binary, read back through `/ServiceProviderConfig`
/// `bulk.maxPayloadSize` (which is `--max-body-bytes`).
#[test]
fn config_precedence_flag_over_env_over_file() {
    let dir = tempfile::tempdir().expect("tmp");
    let url = shared_db_url(&dir);
    let token = create_acme(&url);
    let file = dir.path().join("scimgate.toml");
    std::fs::write(&file, "max_body_bytes = 111111\nno_bootstrap = true\n").expect("write");
    let file = file.to_str().expect("utf-8").to_string();
    let auth = format!("Bearer {token}");
    let max_payload = |flags: &[&str], env: Option<&str>| {
        let mut args = vec!["--config", file.as_str()];
        args.extend_from_slice(flags);
        let (mut child, addr, _) =
            start_with_env(&url, &args, &[("SCIMGATE_MAX_BODY_BYTES", env), ("SCIMGATE_CONFIG", None)]);
        let (status, text) = http_with(
            &addr,
            "GET",
            "/gateway/ng/api/scim/account/acme/ServiceProviderConfig",
            &[("Authorization", &auth)],
            None,
        );
        let exit = sigterm(&mut child);
        assert!(exit.success(), "SIGTERM after one answer must drain and exit 0: {exit:?}");
        assert_eq!(status, 200, "{text}");
        let v: Value = serde_json::from_str(&text).expect("json");
        v["bulk"]["maxPayloadSize"].as_u64().unwrap_or_else(|| panic!("no bulk.maxPayloadSize: {text}"))
    };
    assert_eq!(max_payload(&[], None), 111_111, "the file over the default");
    assert_eq!(max_payload(&[], Some("222222")), 222_222, "the environment over the file");
    assert_eq!(
        max_payload(&["--max-body-bytes", "333333"], Some("222222")),
        333_333,
        "the flag over the environment and the file"
    );
}

/// Checks that `text` is Prometheus text exposition format 0.0.4 and returns its samples
/// (`name{labels}` → value).
fn parse_prometheus(text: &str) -> Vec<(String, f64)> {
    fn is_name(s: &str) -> bool {
        let mut chars = s.chars();
        chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    }
    fn is_label_name(s: &str) -> bool {
        let mut chars = s.chars();
        chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    }
    fn value(s: &str) -> Option<f64> {
        match s {
            "NaN" => Some(f64::NAN),
            "+Inf" => Some(f64::INFINITY),
            "-Inf" => Some(f64::NEG_INFINITY),
            _ => s.parse().ok(),
        }
    }
    /// `{k="v",...}` → ok when every pair is well formed (values may escape `\\`, `\"`, `\n`).
    fn labels_ok(s: &str) -> bool {
        let Some(inner) = s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) else { return false };
        let mut rest = inner;
        while !rest.is_empty() {
            let Some((name, after)) = rest.split_once("=\"") else { return false };
            if !is_label_name(name) {
                return false;
            }
            let mut end = None;
            let mut escaped = false;
            for (i, c) in after.char_indices() {
                match (escaped, c) {
                    (true, '\\' | '"' | 'n') => escaped = false,
                    (true, _) => return false,
                    (false, '\\') => escaped = true,
                    (false, '"') => {
                        end = Some(i);
                        break;
                    }
                    (false, '\n') => return false,
                    (false, _) => {}
                }
            }
            let Some(end) = end else { return false };
            rest = &after[end + 1..];
            if let Some(r) = rest.strip_prefix(',') {
                rest = r;
            } else if !rest.is_empty() {
                return false;
            }
        }
        true
    }
    assert!(text.ends_with('\n'), "the last line ends with a line feed: {text:?}");
    let mut typed: Vec<String> = Vec::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let words: Vec<&str> = comment.split_whitespace().collect();
            match words.as_slice() {
                ["HELP", name, ..] => assert!(is_name(name), "bad HELP line: {line}"),
                ["TYPE", name, kind] => {
                    assert!(is_name(name), "bad TYPE line: {line}");
                    assert!(
                        ["counter", "gauge", "histogram", "summary", "untyped"].contains(kind),
                        "bad TYPE line: {line}"
                    );
                    assert!(!typed.iter().any(|t| t == name), "second TYPE for {name}");
                    typed.push((*name).to_string());
                }
                ["HELP" | "TYPE", ..] => panic!("bad comment line: {line}"),
                _ => {}
            }
            continue;
        }
        let (series, rest) = match line.find('{') {
            Some(open) => {
                let close = line.rfind('}').unwrap_or_else(|| panic!("unclosed labels: {line}"));
                assert!(labels_ok(&line[open..=close]), "bad labels: {line}");
                assert!(is_name(&line[..open]), "bad metric name: {line}");
                (&line[..=close], &line[close + 1..])
            }
            None => {
                let name = line.split(' ').next().expect("split");
                assert!(is_name(name), "bad metric name: {line}");
                (name, &line[name.len()..])
            }
        };
        let fields: Vec<&str> = rest.split(' ').filter(|f| !f.is_empty()).collect();
        assert!(rest.starts_with(' ') && (1..=2).contains(&fields.len()), "want `series value [ts]`: {line}");
        let v = value(fields[0]).unwrap_or_else(|| panic!("value is not a number: {line}"));
        if let Some(ts) = fields.get(1) {
            assert!(ts.parse::<i64>().is_ok(), "bad timestamp: {line}");
        }
        let name = series.split('{').next().expect("name");
        assert!(
            typed
                .iter()
                .any(|t| name == t || name.strip_prefix(t.as_str()).is_some_and(|s| s.starts_with('_'))),
            "sample before its # TYPE line: {line}"
        );
        samples.push((series.to_string(), v));
    }
    samples
}

/// docs/contract.md §2 and the README: `/metrics` is Prometheus text (JWT outcomes by
/// reason), without a credential, to loopback clients. A refused JWT shows as a counter.
#[tokio::test]
async fn metrics_are_prometheus_text_and_count_refused_jwts() {
    let app = TestApp::new().await;
    let scrape = || async {
        let r = app.get_from("127.0.0.1:50000".parse().expect("addr"), "/metrics").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(r.header("content-type"), Some("text/plain; version=0.0.4"));
        parse_prometheus(&r.text)
    };
    let series = "scimgate_jwt_auth_total{outcome=\"flag_off\"}";
    let count = |samples: &[(String, f64)]| samples.iter().find(|(s, _)| s == series).map(|(_, v)| *v);
    let before = count(&scrape().await).unwrap_or(0.0);
    // A JWT-shaped credential while PL_SUPPORT_JWT_TOKEN_SCIM_API is off: refused.
    let r =
        app.send(Method::GET, &app.scim("/Users"), Some("eyJhbGciOiJSUzI1NiJ9.e30.c2ln"), None, &[]).await;
    assert_scim_error(&r, 401, None);
    let after = scrape().await;
    let n = count(&after).unwrap_or_else(|| panic!("no {series} line: {after:?}"));
    assert!(n >= 1.0 && n >= before + 1.0, "{series} {n} (was {before})");
}

/// The pooled connection a test holds, on either backend.
enum Held {
    Sqlite { _conn: sqlx::pool::PoolConnection<sqlx::Sqlite> },
    Postgres { _conn: sqlx::pool::PoolConnection<sqlx::Postgres> },
}

/// docs/contract.md §1–§2: `--db-acquire-timeout` is how long a request waits for a pooled
/// connection, then 503 (SCIM error body; envelope `SERVICE_UNAVAILABLE` on the product
/// API). A pool of one connection (`--db-max-connections 1`) whose connection the test holds;
/// the same requests succeed once it is released.
#[tokio::test]
async fn no_pooled_connection_in_time_is_503_until_released() {
    let timeout = Duration::from_millis(300);
    let dir = tempfile::tempdir().expect("tmp");
    let url = test_database_url(&dir).await;
    // What `open_store_with(url, 1, timeout)` opens, kept concrete so the test can reach the
    // pool.
    let (store, sqlite, pg): (Arc<dyn scimgate_domain::store::Store>, _, _) = if url.starts_with("sqlite:") {
        let s = scimgate_store::SqliteStore::open_with(&url, 1, timeout).await.expect("open");
        (Arc::new(s.clone()), Some(s), None)
    } else {
        let s = scimgate_store::PgStore::open(&url, 1, timeout).await.expect("open");
        (Arc::new(s.clone()), None, Some(s))
    };
    let app = TestApp::with_store(dir, url, store, Arc::new(scimgate_domain::SystemClock), |c| {
        c.db_max_connections = 1;
        c.db_acquire_timeout = timeout;
    })
    .await;
    let product = "/gateway/ng/api/serviceaccount?accountIdentifier=acme";
    let call = |which: &'static str| {
        let app = &app;
        async move {
            let fut = async {
                match which {
                    "scim" => app.get("/Users").await,
                    _ => app.admin(Method::GET, product, None).await,
                }
            };
            tokio::time::timeout(Duration::from_secs(30), fut).await.expect("an answer within 30 s")
        }
    };
    let ok = |r: &Res| assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    ok(&call("scim").await);
    ok(&call("product").await);

    let held = match (&sqlite, &pg) {
        (Some(s), _) => Held::Sqlite { _conn: s.pool().acquire().await.expect("acquire") },
        (_, Some(p)) => Held::Postgres { _conn: p.pool().acquire().await.expect("acquire") },
        _ => unreachable!(),
    };
    let r = call("scim").await;
    assert_scim_error(&r, 503, None);
    let r = call("product").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text);
    assert_eq!(r.header("content-type"), Some("application/json"), "{}", r.text);
    assert_eq!(r.body["status"], "ERROR", "{}", r.text);
    assert_eq!(r.body["code"], "SERVICE_UNAVAILABLE", "{}", r.text);
    assert!(r.body["message"].as_str().is_some_and(|m| !m.is_empty()), "{}", r.text);
    assert!(r.body["correlationId"].as_str().is_some_and(|m| !m.is_empty()), "{}", r.text);

    drop(held);
    ok(&call("scim").await);
    ok(&call("product").await);
}

/// docs/contract.md §2 (500 `UNEXPECTED`, "logged with the request id, never echoed") and
/// docs/architecture.md ("catch-panic -> 500 envelope"): a handler that panics, served over
/// loopback inside the layers of the real router's product API
/// ([`scimgate::http::with_layers`] around [`scimgate::http::product_api::with_product_layers`]).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_answers_the_500_envelope_and_the_server_keeps_serving() {
    use axum::routing::get;
    async fn boom() -> &'static str {
        panic!("secret panic detail")
    }
    let routes = axum::Router::new().route("/boom", get(boom)).route("/fine", get(|| async { "fine" }));
    let app = scimgate::http::with_layers(scimgate::http::product_api::with_product_layers(routes));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let get = |path: &'static str, headers: Vec<(&'static str, &'static str)>| {
        let addr = addr.clone();
        tokio::task::spawn_blocking(move || http_full(&addr, "GET", path, &headers, None))
    };
    for request_id in [Some("client-chosen-id-1"), None] {
        let headers = request_id.map(|id| vec![("X-Request-Id", id)]).unwrap_or_default();
        let (status, head, body) = get("/boom", headers).await.expect("join");
        assert_eq!(status, 500, "{head}\n{body}");
        assert_eq!(head_header(&head, "content-type"), Some("application/json"), "{head}");
        let id = head_header(&head, "x-request-id").unwrap_or_else(|| panic!("no X-Request-Id: {head}"));
        assert!(!id.is_empty());
        if let Some(want) = request_id {
            assert_eq!(id, want, "a client-supplied X-Request-Id is kept");
        }
        let v: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"));
        assert_eq!(v["status"], "ERROR", "{body}");
        assert_eq!(v["code"], "UNEXPECTED", "{body}");
        assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
        assert_eq!(v["correlationId"], id, "the envelope carries the request id: {body}");
        assert!(!body.contains("secret panic detail"), "the panic is never echoed: {body}");
        // The next request is served.
        let (status, _, body) = get("/fine", vec![]).await.expect("join");
        assert_eq!((status, body.as_str()), (200, "fine"));
    }
    assert!(!server.is_finished(), "the server is still running");
    server.abort();
}

/// Security review item 6: `/metrics` answered anyone. On the main listener it now answers
/// loopback clients only (a request whose peer is not known is refused too); with
/// `--metrics-listen` it is served on that address only. Peers other than loopback are
/// recorded addresses in the request, never contacted.
#[tokio::test]
async fn review_6_metrics_answer_loopback_peers_or_their_own_listener_only() {
    let app = TestApp::new().await;
    for peer in ["127.0.0.1:40000", "[::1]:40000", "[::ffff:127.0.0.1]:40000"] {
        let r = app.get_from(peer.parse().expect("addr"), "/metrics").await;
        assert_eq!(r.status, StatusCode::OK, "{peer}: {}", r.text);
    }
    for peer in ["203.0.113.7:40000", "10.1.2.3:40000", "[2001:db8::1]:40000"] {
        let r = app.get_from(peer.parse().expect("addr"), "/metrics").await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{peer}: {}", r.text);
        assert!(r.text.contains("--metrics-listen"), "{}", r.text);
    }
    let r = app.send(Method::GET, "/metrics", None, None, &[]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "no known peer: {}", r.text);
    // A real server: loopback scrapes work on the main listener...
    let dir = tempfile::tempdir().expect("tmp");
    let url = crate::cli::db_url(&dir);
    let (mut child, addr, _) = crate::cli::start_with(&url, &["--no-bootstrap"]);
    let (status, text) = crate::cli::http(&addr, "GET", "/metrics", None, None);
    assert_eq!(status, 200, "{text}");
    crate::cli::sigterm(&mut child);
    // ... and with --metrics-listen only there.
    let (mut child, addr, lines) =
        crate::cli::start_with(&url, &["--no-bootstrap", "--metrics-listen", "127.0.0.1:0"]);
    let metrics_at = lines
        .iter()
        .find_map(|l| {
            l.trim().strip_prefix("scimgate: metrics on http://").and_then(|a| a.strip_suffix("/metrics"))
        })
        .unwrap_or_else(|| panic!("no metrics address in {lines:?}"))
        .to_string();
    let (status, text) = crate::cli::http(&metrics_at, "GET", "/metrics", None, None);
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("scimgate_jwt_auth_total"), "{text}");
    let (status, _) = crate::cli::http(&addr, "GET", "/metrics", None, None);
    assert_eq!(status, 404, "not on the main listener");
    let (status, _) =
        crate::cli::http(&metrics_at, "GET", "/gateway/ng/api/scim/account/default/Users", None, None);
    assert_eq!(status, 404, "nothing else on the metrics listener");
    crate::cli::sigterm(&mut child);
}

/// `--log-format json`: one JSON object per line, and one line per request with the request
/// id, account, principal, credential, status and duration; never the token.
#[test]
fn json_logs_have_one_line_per_request_without_secrets() {
    let dir = tempfile::tempdir().expect("tmp");
    let url = crate::cli::db_url(&dir);
    let log = dir.path().join("server.log");
    let mut child = Command::new(crate::cli::BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--database", &url, "--log-format", "json"])
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(30);
    let addr = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(a) = text.lines().find_map(|l| l.strip_prefix("scimgate: listening on http://")) {
            break a.trim().to_string();
        }
        assert!(Instant::now() < deadline, "did not start: {text}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let token = std::fs::read_to_string(dir.path().join("s.db.admin-token")).expect("token");
    let token = token.trim();
    let (status, _) = crate::cli::http_with(
        &addr,
        "GET",
        "/gateway/ng/api/scim/account/default/Users?filter=userName%20eq%20%22secret-value%22",
        &[("Authorization", &format!("Bearer {token}")), ("X-Request-Id", "req-42")],
        None,
    );
    assert_eq!(status, 200);
    crate::cli::sigterm(&mut child);
    let text = std::fs::read_to_string(&log).expect("log");
    let lines: Vec<serde_json::Value> = text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    assert!(!lines.is_empty(), "JSON lines: {text}");
    let request = lines
        .iter()
        .find(|l| l["target"] == "scimgate::request" && l["fields"]["request_id"] == "req-42")
        .unwrap_or_else(|| panic!("no request line: {text}"));
    let f = &request["fields"];
    assert_eq!(f["status"], 200);
    assert_eq!(f["account"], "default");
    assert!(f["principal"].as_str().is_some_and(|p| p.starts_with("USER:")), "{f}");
    assert_eq!(f["path"], "/gateway/ng/api/scim/account/default/Users");
    assert!(f["duration_ms"].as_f64().is_some());
    let secret = token.rsplit('.').next().expect("secret");
    // (The first start prints the bootstrap token once, by design, as plain text; no log
    // line carries it.)
    let logged: String = lines.iter().map(|l| l.to_string()).collect();
    assert!(!logged.contains(secret), "the token's secret is never logged");
    assert!(!logged.contains("secret-value"), "the query is not logged");
}

/// One request that may fail (the server may be gone): the status, or `None`.
pub(crate) fn try_http(
    addr: &str,
    method: &str,
    path: &str,
    token: &str,
    body: Option<&str>,
) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAuthorization: Bearer {token}\r\n"
    );
    if let Some(b) = body {
        req.push_str(&format!("Content-Type: application/scim+json\r\nContent-Length: {}\r\n", b.len()));
    }
    req.push_str("\r\n");
    req.push_str(body.unwrap_or(""));
    s.write_all(req.as_bytes()).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let status = out.split_whitespace().nth(1).and_then(|c| c.parse().ok())?;
    Some((status, out.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default()))
}

/// `kill -9` under concurrent write load (issue 14), on SQLite and, with
/// `TEST_DATABASE_URL`, PostgreSQL: after a restart every acknowledged create, patch and
/// delete is there.
#[test]
fn kill_9_under_write_load_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().expect("tmp");
    let url = shared_db_url(&dir);
    let token = create_acme(&url);
    let (mut child, addr, _) =
        start_with(&url, &["--no-bootstrap", "--account-rate-limit", "0", "--account-max-in-flight", "0"]);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (addr, token, stop) = (addr.clone(), token.clone(), stop.clone());
            std::thread::spawn(move || {
                // (id, the states it may be in after the restart: a displayName, or None
                // when deleted). An acknowledged write allows one state; the write in flight
                // when the server died, whose answer never came, allows the state before
                // and after it.
                let mut acked: Vec<(String, Vec<Option<String>>)> = Vec::new();
                let users = "/gateway/ng/api/scim/account/acme/Users";
                for i in 0..10_000 {
                    if stop.load(std::sync::atomic::Ordering::SeqCst) && i % 7 == 0 {
                        break;
                    }
                    let body = format!(r#"{{"userName": "w{w}-{i}@acme.test", "displayName": "v0"}}"#);
                    let Some((201, text)) = try_http(&addr, "POST", users, &token, Some(&body)) else { break };
                    let v: Value = serde_json::from_str(&text).expect("json");
                    let id = v["id"].as_str().expect("id").to_string();
                    acked.push((id.clone(), vec![Some("v0".into())]));
                    if i % 3 == 0 {
                        let patch = r#"{"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "replace", "path": "displayName", "value": "v1"}]}"#;
                        let done = matches!(try_http(&addr, "PATCH", &format!("{users}/{id}"), &token, Some(patch)), Some((200, _)));
                        let states = &mut acked.last_mut().expect("last").1;
                        if done {
                            *states = vec![Some("v1".into())];
                        } else {
                            states.push(Some("v1".into()));
                            break;
                        }
                    }
                    if i % 5 == 0 {
                        let done = matches!(try_http(&addr, "DELETE", &format!("{users}/{id}"), &token, None), Some((204, _)));
                        let states = &mut acked.last_mut().expect("last").1;
                        if done {
                            *states = vec![None];
                        } else {
                            states.push(None);
                            break;
                        }
                    }
                }
                acked
            })
        })
        .collect();
    // Let the writers run, then kill the server without warning.
    std::thread::sleep(Duration::from_millis(1500));
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let acked: Vec<(String, Vec<Option<String>>)> =
        writers.into_iter().flat_map(|w| w.join().expect("writer")).collect();
    assert!(acked.len() >= 20, "the load ran: {} acknowledged creates", acked.len());
    // Restart on the same database: everything acknowledged is there.
    let (mut child, addr, _) = start_with(&url, &["--no-bootstrap"]);
    for (id, states) in &acked {
        let path = format!("/gateway/ng/api/scim/account/acme/Users/{id}");
        let (status, body) = crate::cli::http(&addr, "GET", &path, Some(&token), None);
        let found = match status {
            200 => Some(
                serde_json::from_str::<Value>(&body).expect("json")["displayName"]
                    .as_str()
                    .expect("name")
                    .to_string(),
            ),
            404 => None,
            s => panic!("{id}: {s} {body}"),
        };
        assert!(
            states.contains(&found),
            "{id} is {found:?} after the restart; acknowledged states {states:?}"
        );
    }
    sigterm(&mut child);
}

/// `/metrics` (issue 14): requests by route template, method and status, and a latency
/// histogram by route template, through the `metrics` crate; ids and account names never
/// become labels.
#[tokio::test]
async fn metrics_count_requests_by_route_template() {
    let app = TestApp::new().await;
    let id = app.user("m@acme.test").await;
    assert_eq!(app.get(&format!("/Users/{id}")).await.status, StatusCode::OK);
    assert_eq!(app.get("/Users/nosuch").await.status, StatusCode::NOT_FOUND);
    let r = app.get_from("127.0.0.1:40000".parse().expect("addr"), "/metrics").await;
    assert_eq!(r.status, StatusCode::OK);
    let text = r.text;
    let samples = parse_prometheus(&text);
    let route = "/gateway/ng/api/scim/account/{account}/Users/{id}";
    let count = |status: &str| {
        samples
            .iter()
            .filter(|(s, _)| {
                s.starts_with("scimgate_http_requests_total{")
                    && s.contains(&format!("route=\"{route}\""))
                    && s.contains(&format!("status=\"{status}\""))
            })
            .map(|(_, v)| *v)
            .sum::<f64>()
    };
    assert!(count("200") >= 1.0 && count("404") >= 1.0, "{text}");
    assert!(text.contains("scimgate_http_request_duration_seconds_bucket"), "{text}");
    assert!(!text.contains(&id) && !text.contains("nosuch"), "no ids in labels");
    // The pool, and the request log's queue (the test app runs no writer, so it only grows).
    let max = samples.iter().find(|(s, _)| s == "scimgate_db_pool_max_connections").map(|(_, v)| *v);
    assert!(max.is_some_and(|m| m >= 1.0), "{text}");
    assert!(samples.iter().any(|(s, _)| s == "scimgate_db_pool_connections{state=\"idle\"}"), "{text}");
    assert!(samples.iter().any(|(s, v)| s == "scimgate_request_log_queue_depth" && *v >= 1.0), "{text}");
}
