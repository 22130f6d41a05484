//! Listing: filters in SQL, sorting, index and cursor paging, attributes, POST /.search.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::common::{TestApp, assert_scim_error, enc};

async fn seed(app: &TestApp) -> Vec<String> {
    let people = [
        ("bjensen@example.com", "Barbara", "Jensen", "Employee", "Tour Operations", true, "work"),
        ("jsmith@example.org", "John", "Smith", "Intern", "Sales", false, "home"),
        ("alice@example.com", "Alice", "O'Malley", "Employee", "Sales", true, "work"),
        ("zed@other.net", "Zed", "Zulu", "Contractor", "R&D", true, "other"),
    ];
    let mut ids = vec![];
    for (u, g, f, t, d, active, et) in people {
        let r = app
            .post(
                "/Users",
                json!({"userName": u, "name": {"givenName": g, "familyName": f}, "userType": t, "active": active,
                       "title": if t == "Employee" { Value::from("Engineer") } else { Value::Null },
                       "emails": [{"value": u, "type": et}],
                       "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": d, "employeeNumber": format!("{}", ids.len() + 1)}}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        ids.push(r.body["id"].as_str().expect("id").to_string());
    }
    ids
}

async fn names(app: &TestApp, filter: &str) -> Vec<String> {
    let r = app.get(&format!("/Users?filter={}&sortBy=userName", enc(filter))).await;
    assert_eq!(r.status, StatusCode::OK, "{filter}: {}", r.text);
    let list: Vec<String> = r.body["Resources"]
        .as_array()
        .expect("Resources")
        .iter()
        .map(|u| u["userName"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(r.body["totalResults"], list.len(), "{filter}");
    list
}

#[tokio::test]
async fn every_operator_and_combinator() {
    let app = TestApp::new().await;
    seed(&app).await;
    const ALL: &[&str] = &[
        "admin@acme.test",
        "alice@example.com",
        "bjensen@example.com",
        "jsmith@example.org",
        "zed@other.net",
    ];
    let cases: &[(&str, &[&str])] = &[
        ("userName eq \"BJENSEN@example.com\"", &["bjensen@example.com"]),
        (
            "userName ne \"bjensen@example.com\" and userName ne \"admin@acme.test\"",
            &["alice@example.com", "jsmith@example.org", "zed@other.net"],
        ),
        ("name.familyName co \"O'Malley\"", &["alice@example.com"]),
        ("userName sw \"J\"", &["jsmith@example.org"]),
        ("userName ew \".NET\"", &["zed@other.net"]),
        ("urn:ietf:params:scim:schemas:core:2.0:User:userName sw \"j\"", &["jsmith@example.org"]),
        ("title pr", &["alice@example.com", "bjensen@example.com"]),
        ("title pr and userType eq \"Employee\"", &["alice@example.com", "bjensen@example.com"]),
        (
            "title pr or userType eq \"Intern\"",
            &["alice@example.com", "bjensen@example.com", "jsmith@example.org"],
        ),
        (
            "userType eq \"Employee\" and (emails co \"example.com\" or emails.value co \"example.org\")",
            &["alice@example.com", "bjensen@example.com"],
        ),
        (
            "userType ne \"Employee\" and not (emails co \"example.com\" or emails.value co \"example.org\")",
            &["admin@acme.test", "zed@other.net"],
        ),
        (
            "userType eq \"Employee\" and (emails.type eq \"work\")",
            &["alice@example.com", "bjensen@example.com"],
        ),
        (
            "userType eq \"Employee\" and emails[type eq \"work\" and value co \"@example.com\"]",
            &["alice@example.com", "bjensen@example.com"],
        ),
        (
            "emails[type eq \"home\" and value co \"@example.org\"] or emails[type eq \"other\"]",
            &["jsmith@example.org", "zed@other.net"],
        ),
        ("active eq false", &["jsmith@example.org"]),
        ("active eq true and userName sw \"a\"", &["admin@acme.test", "alice@example.com"]),
        (
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq \"sales\"",
            &["alice@example.com", "jsmith@example.org"],
        ),
        ("department eq \"R&D\"", &["zed@other.net"]),
        (
            "schemas eq \"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User\" and userName sw \"b\"",
            &["bjensen@example.com"],
        ),
        ("meta.created gt \"2000-01-01T00:00:00Z\" and userName eq \"zed@other.net\"", &["zed@other.net"]),
        ("meta.lastModified lt \"2000-01-01T00:00:00Z\"", &[]),
        ("meta.resourceType eq \"User\" and userName eq \"zed@other.net\"", &["zed@other.net"]),
        ("name.givenName gt \"X\"", &["zed@other.net"]),
        ("name.givenName le \"Alice\"", &["alice@example.com"]),
        ("not (userName pr)", &[]),
        ("externalId pr", &[]),
        (
            "externalId eq null",
            &[
                "admin@acme.test",
                "alice@example.com",
                "bjensen@example.com",
                "jsmith@example.org",
                "zed@other.net",
            ],
        ),
        ("(userName eq \"zed@other.net\")", &["zed@other.net"]),
        // NOT over an absent value: the comparison is false, so its negation holds.
        ("not (title eq \"nobody\") and not (externalId eq \"x\") and externalId ne \"y\"", ALL),
        ("not (emails[type eq \"nothing\"]) and not (name.givenName sw \"zz\")", ALL),
    ];
    for (filter, want) in cases {
        let got = names(&app, filter).await;
        let want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
        assert_eq!(got, want, "filter: {filter}");
    }
}

#[tokio::test]
async fn filter_on_group_membership_both_ways() {
    let app = TestApp::new().await;
    let ids = seed(&app).await;
    let g = app.group("Ops", &[&ids[0], &ids[1]]).await;
    let got = names(&app, &format!("groups.value eq \"{g}\"")).await;
    assert_eq!(got, vec!["bjensen@example.com", "jsmith@example.org"]);
    let got = names(&app, "groups.display eq \"ops\"").await;
    assert_eq!(got.len(), 2);
    let r = app.get(&format!("/Groups?filter={}", enc(&format!("members.value eq \"{}\"", ids[1])))).await;
    assert_eq!(r.body["totalResults"], 1, "{}", r.text);
    let r = app
        .get(&format!(
            "/Groups?filter={}",
            enc(&format!("members[value eq \"{}\" and type eq \"User\"]", ids[0]))
        ))
        .await;
    assert_eq!(r.body["totalResults"], 1, "{}", r.text);
}

#[tokio::test]
async fn sorting_and_index_paging() {
    let app = TestApp::new().await;
    seed(&app).await;
    let r = app.get("/Users?sortBy=name.givenName&sortOrder=descending&count=2").await;
    assert_eq!(r.body["totalResults"], 5);
    assert_eq!(r.body["itemsPerPage"], 2);
    assert_eq!(r.body["startIndex"], 1);
    let first: Vec<&str> = r.body["Resources"]
        .as_array()
        .expect("list")
        .iter()
        .map(|u| u["userName"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(first, vec!["zed@other.net", "jsmith@example.org"]);
    let r = app.get("/Users?sortBy=userName&startIndex=4&count=10").await;
    assert_eq!(r.body["startIndex"], 4);
    assert_eq!(r.body["itemsPerPage"], 2);
    assert_eq!(r.body["Resources"][0]["userName"], "jsmith@example.org");
    let r = app.get("/Users?startIndex=0&count=-5").await;
    assert_eq!(r.body["startIndex"], 1);
    assert_eq!(r.body["totalResults"], 5);
    assert!(r.body.get("Resources").is_none(), "count=0 returns only totalResults: {}", r.text);
    let r = app.get("/Users?sortBy=emails&count=1").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = app.get("/Users?sortBy=urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber&sortOrder=DESCENDING&count=1").await;
    assert_eq!(r.body["Resources"][0]["userName"], "zed@other.net", "{}", r.text);
    assert_scim_error(&app.get("/Users?sortBy=nonsense").await, 400, Some("invalidValue"));
    assert_scim_error(&app.get("/Users?sortBy=userName&sortOrder=sideways").await, 400, Some("invalidValue"));
    assert_scim_error(&app.get("/Users?startIndex=abc").await, 400, Some("invalidValue"));
}

#[tokio::test]
async fn cursor_paging_visits_every_user_once() {
    let app = TestApp::new().await;
    for i in 0..7 {
        app.user(&format!("c{i}@example.com")).await;
    }
    let mut seen = Vec::new();
    let mut cursor = String::new();
    for _ in 0..10 {
        let r = app.get(&format!("/Users?count=3&cursor={cursor}")).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(r.body["totalResults"], 8);
        assert!(r.body.get("startIndex").is_none());
        for u in r.body["Resources"].as_array().expect("list") {
            seen.push(u["id"].as_str().unwrap_or_default().to_string());
        }
        match r.body["nextCursor"].as_str() {
            Some(c) => cursor = c.to_string(),
            None => break,
        }
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(seen.len(), 8);
    assert_eq!(unique.len(), 8);
    // Sorted cursor paging.
    let r = app.get("/Users?count=5&cursor=&sortBy=userName&sortOrder=descending").await;
    let next = r.body["nextCursor"].as_str().expect("next").to_string();
    let r2 = app.get(&format!("/Users?count=5&cursor={next}&sortBy=userName&sortOrder=descending")).await;
    assert_eq!(r2.body["Resources"].as_array().map(Vec::len), Some(3));
    assert!(r2.body.get("nextCursor").is_none());
    assert_scim_error(&app.get("/Users?cursor=%21%21notacursor").await, 400, Some("invalidCursor"));
}

#[tokio::test]
async fn attributes_and_excluded_attributes() {
    let app = TestApp::new().await;
    seed(&app).await;
    let r = app
        .get("/Users?filter=userName+eq+%22bjensen%40example.com%22&attributes=userName,name.familyName")
        .await;
    let u = &r.body["Resources"][0];
    let mut keys: Vec<&str> = u.as_object().expect("object").keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, vec!["id", "name", "schemas", "userName"], "{}", r.text);
    assert_eq!(u["name"], json!({"familyName": "Jensen"}));
    let r = app
        .get("/Users?filter=userName+eq+%22bjensen%40example.com%22&excludedAttributes=emails,meta,id")
        .await;
    let u = &r.body["Resources"][0];
    assert!(u.get("emails").is_none() && u.get("meta").is_none());
    assert!(u.get("id").is_some(), "id is returned always");
}

#[tokio::test]
async fn post_search() {
    let app = TestApp::new().await;
    seed(&app).await;
    app.group("Sales", &[]).await;
    let r = app
        .post(
            "/Users/.search",
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "attributes": ["userName"],
                   "filter": "userName sw \"j\" or userName sw \"z\"", "sortBy": "userName", "startIndex": 1, "count": 10}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["totalResults"], 2);
    assert!(r.body["Resources"][0].get("emails").is_none());
    let r = app.post("/.search", json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "filter": "meta.created pr", "count": 100})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["totalResults"], 6, "5 users + 1 group: {}", r.text);
    let r = app.post("/.search", json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "filter": "displayName eq \"sales\""})).await;
    assert_eq!(r.body["totalResults"], 1, "{}", r.text);
    let r = app.post("/Users/.search", json!({"filter": "userName zz \"x\""})).await;
    assert_scim_error(&r, 400, Some("invalidFilter"));
}

#[tokio::test]
async fn bad_filters_are_400_invalid_filter() {
    let app = TestApp::new().await;
    let bad = [
        "userName",
        "userName eq",
        "userName eq \"unterminated",
        "userName xx \"a\"",
        "(userName eq \"a\"",
        "nosuchattr eq \"a\"",
        "active eq \"maybe\"",
        "active gt true",
        "meta.created gt \"not a date\"",
        "name eq \"x\"",
        "userName eq 5",
        "emails[type eq \"work\"",
    ];
    for f in bad {
        let r = app.get(&format!("/Users?filter={}", enc(f))).await;
        assert_scim_error(&r, 400, Some("invalidFilter"));
    }
    let deep = format!("{}userName eq \"a\"{}", "(".repeat(200), ")".repeat(200));
    assert_scim_error(&app.get(&format!("/Users?filter={}", enc(&deep))).await, 400, Some("invalidFilter"));
    let long = format!("userName eq \"{}\"", "a".repeat(10_000));
    assert_scim_error(&app.get(&format!("/Users?filter={}", enc(&long))).await, 400, Some("invalidFilter"));
}

/// Security review item 10: `nextCursor` was `base64("s<seq>")`, the database's row counter
/// shared by every account, and `base64("o18446744073709551615")` answered 500. Cursors are
/// now sealed (authenticated encryption bound to the account, the endpoint, the filter and
/// the sort): they reveal nothing, and a forged, altered or foreign one is 400
/// `invalidCursor`. The seal's key is kept in the database, so another node (here: a second
/// state on the same database) opens a cursor this one issued.
#[tokio::test]
async fn review_10_cursors_are_sealed_bound_to_their_query_and_never_500() {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let app = TestApp::new().await;
    for i in 0..5 {
        app.user(&format!("u{i}@acme.test")).await;
    }
    let r = app.get("/Users?count=2&cursor=").await;
    assert_eq!(r.status, axum::http::StatusCode::OK, "{}", r.text);
    let next = r.body["nextCursor"].as_str().expect("nextCursor").to_string();
    let raw = URL_SAFE_NO_PAD.decode(&next).expect("base64url");
    assert!(!String::from_utf8_lossy(&raw).starts_with('s'), "the row counter is not readable: {raw:?}");
    // The old, forgeable forms: 400 invalidCursor, not 500.
    for forged in ["o18446744073709551615", "o9223372036854775807", "s-1", "s1", "o0"] {
        let c = URL_SAFE_NO_PAD.encode(forged);
        assert_scim_error(&app.get(&format!("/Users?count=2&cursor={c}")).await, 400, Some("invalidCursor"));
    }
    // Bound to the query: another filter, another sort, the other endpoint, another account.
    for other in [
        format!("/Users?count=2&cursor={next}&filter=userName%20sw%20%22u%22"),
        format!("/Users?count=2&cursor={next}&sortBy=userName"),
        format!("/Groups?count=2&cursor={next}"),
    ] {
        assert_scim_error(&app.get(&other).await, 400, Some("invalidCursor"));
    }
    let globex = app.other_account("globex").await;
    let path = format!("/gateway/ng/api/scim/account/globex/Users?count=2&cursor={next}");
    let r = app.send(axum::http::Method::GET, &path, Some(&globex), None, &[]).await;
    assert_scim_error(&r, 400, Some("invalidCursor"));
    // The same query goes on, on this node and on another one.
    let r = app.get(&format!("/Users?count=2&cursor={next}")).await;
    assert_eq!(r.status, axum::http::StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["itemsPerPage"], 2);
    let other_node =
        scimgate::http::router(app.second_node(std::sync::Arc::new(scimgate_domain::SystemClock)).await);
    let req = axum::http::Request::get(app.scim(&format!("/Users?count=2&cursor={next}")))
        .header("authorization", format!("Bearer {}", app.token))
        .body(axum::body::Body::empty())
        .expect("request");
    let res = tower::ServiceExt::oneshot(other_node, req).await.expect("infallible");
    assert_eq!(res.status(), axum::http::StatusCode::OK);
    // POST .search on /Users shares the GET's cursors.
    let r = app.post("/Users/.search", json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "count": 2, "cursor": next})).await;
    assert_eq!(r.status, axum::http::StatusCode::OK, "{}", r.text);
}
