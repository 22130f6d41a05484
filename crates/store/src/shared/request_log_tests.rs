//! Tests of the request-log store (loaded by `request_log.rs` for each backend).

use super::super::{test_store, test_store_upgraded};
use super::*;
use scimgate_domain::request_log::StatusClass;
use time::OffsetDateTime;

fn at(s: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_700_000_000 + s).expect("time")
}

/// Request `i` of `account`: a GET at second `i`, except every fifth (a POST answered 409).
fn request(account: &str, i: i64) -> ScimRequest {
    let post = i % 5 == 0;
    ScimRequest {
        seq: 0,
        account: account.into(),
        at: at(i),
        method: if post { "POST" } else { "GET" }.into(),
        path: format!("/gateway/ng/api/scim/account/{account}/{}/{i}", if post { "Users" } else { "Groups" }),
        query: format!("n={i}"),
        status: if post { 409 } else { 200 },
        duration_us: i,
        principal: Some("USER:admin".into()),
        credential_id: None,
        user_agent: Some("test".into()),
        request_id: Some(format!("req-{i}")),
        request_body: post.then(|| format!("{{\"n\":{i}}}")),
        response_body: Some("{}".into()),
    }
}

fn acme() -> AccountId {
    AccountId::parse("acme").expect("id")
}

/// Every request of `acme` matching `query`, page by page with `limit`, newest first.
async fn all_pages(store: &Store, mut query: ScimRequestQuery, limit: u32) -> Vec<ScimRequest> {
    query.limit = limit;
    let mut out: Vec<ScimRequest> = Vec::new();
    for _ in 0..10_000 {
        let page = store.list_scim_requests(&acme(), &query).await.expect("list");
        out.extend(page.iter().cloned());
        if page.len() < limit as usize {
            return out;
        }
        query.before = page.last().map(|r| r.seq);
    }
    panic!("paging never ended");
}

/// The `n` of each request, from its query string.
fn numbers(rows: &[ScimRequest]) -> Vec<i64> {
    rows.iter().map(|r| r.query.trim_start_matches("n=").parse().expect("n")).collect()
}

#[tokio::test]
async fn requests_page_across_segments_newest_first_with_no_gap_or_repeat() {
    let Some(store) = test_store().await else { return };
    // Three batches, the second of two accounts and longer than one segment holds.
    let mut batches = vec![(0..7).map(|i| request("acme", i)).collect::<Vec<_>>()];
    let mut second = Vec::new();
    for i in 7..1_307 {
        second.push(request("acme", i));
        if i % 4 == 0 {
            second.push(request("beta", i));
        }
    }
    batches.push(second);
    batches.push((1_307..1_310).map(|i| request("acme", i)).collect());
    for b in &batches {
        store.insert_scim_requests(b).await.expect("insert");
    }
    store.insert_scim_requests(&[]).await.expect("an empty batch is nothing");

    for limit in [1, 7, 50, 500, 2_000] {
        let rows = all_pages(&store, ScimRequestQuery::default(), limit).await;
        assert_eq!(numbers(&rows), (0..1_310).rev().collect::<Vec<_>>(), "limit {limit}");
        assert!(rows.windows(2).all(|w| w[0].seq > w[1].seq), "positions fall, limit {limit}");
        assert!(rows.iter().all(|r| r.account == "acme"));
    }
    let newest = &all_pages(&store, ScimRequestQuery::default(), 1).await[0];
    assert_eq!(
        *newest,
        ScimRequest { seq: newest.seq, ..request("acme", 1_309) },
        "a record reads back whole"
    );

    // A cursor inside a segment, and the console's "this one record" read (cursor seq + 1).
    let rows = all_pages(&store, ScimRequestQuery::default(), 100).await;
    let middle = &rows[700];
    let one = ScimRequestQuery { before: Some(middle.seq + 1), limit: 1, ..Default::default() };
    assert_eq!(store.list_scim_requests(&acme(), &one).await.expect("one"), vec![middle.clone()]);
    let after = ScimRequestQuery { before: Some(middle.seq), ..Default::default() };
    assert_eq!(numbers(&all_pages(&store, after, 64).await), numbers(&rows[701..]));
}

#[tokio::test]
async fn filters_are_applied_to_the_records_of_every_segment() {
    let Some(store) = test_store().await else { return };
    for chunk in (0..300).collect::<Vec<_>>().chunks(37) {
        let batch: Vec<_> = chunk.iter().map(|&i| request("acme", i)).collect();
        store.insert_scim_requests(&batch).await.expect("insert");
    }
    let q = |f: fn(&mut ScimRequestQuery)| {
        let mut q = ScimRequestQuery::default();
        f(&mut q);
        q
    };
    let posts: Vec<i64> = (0..300).rev().filter(|i| i % 5 == 0).collect();
    let gets: Vec<i64> = (0..300).rev().filter(|i| i % 5 != 0).collect();
    let method = all_pages(&store, q(|q| q.method = Some("post".into())), 9).await;
    assert_eq!(numbers(&method), posts);
    let failed = all_pages(&store, q(|q| q.status = Some(StatusClass::ClientError)), 9).await;
    assert_eq!(numbers(&failed), posts);
    let ok = all_pages(&store, q(|q| q.status = Some(StatusClass::Success)), 1_000).await;
    assert_eq!(numbers(&ok), gets);
    let none = all_pages(&store, q(|q| q.status = Some(StatusClass::ServerError)), 10).await;
    assert!(none.is_empty());
    let path = all_pages(&store, q(|q| q.path_contains = Some("/gROUPS/".into())), 1_000).await;
    assert_eq!(numbers(&path), gets, "pathContains is case-insensitive");
    let window = all_pages(
        &store,
        q(|q| {
            q.since = Some(at(100));
            q.until = Some(at(140));
        }),
        6,
    )
    .await;
    assert_eq!(numbers(&window), (100..140).rev().collect::<Vec<_>>());
    let both = all_pages(
        &store,
        q(|q| {
            q.method = Some("GET".into());
            q.path_contains = Some("users".into());
        }),
        5,
    )
    .await;
    assert!(both.is_empty(), "every GET here is on Groups");
}

#[tokio::test]
async fn pruning_drops_whole_segments_past_the_retention() {
    let Some(store) = test_store().await else { return };
    for chunk in (0..100).collect::<Vec<_>>().chunks(10) {
        let batch: Vec<_> = chunk.iter().map(|&i| request("acme", i)).collect();
        store.insert_scim_requests(&batch).await.expect("insert");
    }
    // Segments 0..=2 end before second 35; the fourth (30..40) straddles it and stays.
    assert_eq!(store.prune_scim_requests(at(35), 2).await.expect("prune"), 2, "two per statement");
    assert_eq!(store.prune_scim_requests(at(35), 2).await.expect("prune"), 1);
    assert_eq!(store.prune_scim_requests(at(35), 2).await.expect("prune"), 0);
    let left = all_pages(&store, ScimRequestQuery::default(), 1_000).await;
    assert_eq!(numbers(&left), (30..100).rev().collect::<Vec<_>>());
}

/// Rows in the table before segments, written by a build before migration 0005: read after
/// every segment, in one order with them, and pruned like them.
const LEGACY: &str = "INSERT INTO scim_requests (seq, account_id, at_us, method, path, query, status, \
     duration_us, principal, credential_id, user_agent, request_id, request_body, response_body) VALUES \
     (3000, 'acme', 1700000000000000, 'GET', '/gateway/ng/api/scim/account/acme/Users', 'n=-2', 200, 5, NULL, NULL, NULL, NULL, NULL, '{}'), \
     (4100, 'acme', 1700000001000000, 'POST', '/gateway/ng/api/scim/account/acme/Users', 'n=-1', 409, 5, NULL, NULL, NULL, NULL, '{}', '{}'), \
     (4101, 'beta', 1700000001000000, 'GET', '/gateway/ng/api/scim/account/beta/Users', 'n=-1', 200, 5, NULL, NULL, NULL, NULL, NULL, '{}')";

#[tokio::test]
async fn rows_from_before_segments_are_read_after_them_and_pruned() {
    let Some(store) = test_store_upgraded(4, LEGACY).await else { return };
    let batch: Vec<_> = (0..3).map(|i| request("acme", 10 + i)).collect();
    store.insert_scim_requests(&batch).await.expect("insert");
    for limit in [1, 2, 10] {
        let rows = all_pages(&store, ScimRequestQuery::default(), limit).await;
        assert_eq!(numbers(&rows), vec![12, 11, 10, -1, -2], "limit {limit}");
        assert!(
            rows.windows(2).all(|w| w[0].seq > w[1].seq),
            "{:?}",
            rows.iter().map(|r| r.seq).collect::<Vec<_>>()
        );
    }
    let posts = all_pages(
        &store,
        ScimRequestQuery {
            method: Some("POST".into()),
            status: Some(StatusClass::ClientError),
            ..Default::default()
        },
        10,
    )
    .await;
    assert_eq!(numbers(&posts), vec![10, -1]);
    assert_eq!(store.prune_scim_requests(at(5), 100).await.expect("prune"), 3, "the legacy rows");
    assert_eq!(numbers(&all_pages(&store, ScimRequestQuery::default(), 10).await), vec![12, 11, 10]);
}
