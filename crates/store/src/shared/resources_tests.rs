//! Tests of the SCIM resource store (loaded by `resources.rs` for each backend).

use super::super::fixtures::scim::*;
use super::*;
use scimgate_domain::store::{AccountStore, NewAccount, Sort};
use scimgate_domain::token::{TokenKind, generate};
use scimgate_scim::filter::Filter;
use scimgate_scim::filter::{parse_attribute_list, parse_filter};
use scimgate_scim::resource::normalize;
use scimgate_scim::schema::ENTERPRISE_USER_URN;
use serde_json::json;
use std::time::{Duration, Instant};

use crate::StoreOptions;

/// Users the statement time limit test seeds: enough that its filter takes seconds.
const SEEDED_USERS: i64 = 50_000;
use time::format_description::well_known::Rfc3339;

#[tokio::test]
async fn resources_round_trip_with_conflicts_and_versions() {
    let Some((store, account)) = setup().await else { return };
    let kind = ResourceKind::User;
    let created = store
        .create_resource(&account, kind, "u1", &user(1), &[], t(1), &test_audit())
        .await
        .expect("create");
    assert_eq!((created.version, created.groups, created.created), (1, Some(vec![]), t(1)));
    let got = store.get_resource(&account, kind, "u1", true).await.expect("get");
    assert_eq!(got.doc, user(1), "the document reads back as written");
    assert_eq!((got.version, got.created, got.last_modified), (1, t(1), t(1)));
    assert_eq!(got.groups, Some(vec![]));
    assert!(store.get_resource(&account, kind, "u1", false).await.expect("get").groups.is_none());

    let mut dup = user(9);
    dup.insert("userName".into(), json!("user1@EXAMPLE.com"));
    match store.create_resource(&account, kind, "u9", &dup, &[], t(1), &test_audit()).await {
        Err(DomainError::Conflict(m)) => assert_eq!(
            m,
            "userName 'user1@EXAMPLE.com' is already in use in this account \
             (userName is unique, case-insensitively)"
        ),
        other => panic!("expected Conflict, got {other:?}"),
    }

    let mut renamed = user(1);
    renamed.insert("displayName".into(), json!("Renamed"));
    let update = ResourceUpdate {
        doc: Some(&renamed),
        expected_version: Some(1),
        members: &[],
        event: None,
        created: None,
    };
    assert_eq!(
        store.update_resource(&account, kind, "u1", &update, t(2), &test_audit()).await.expect("update"),
        (2, t(2))
    );
    let got = store.get_resource(&account, kind, "u1", false).await.expect("get");
    assert_eq!((got.doc, got.version, got.created, got.last_modified), (renamed.clone(), 2, t(1), t(2)));
    assert!(matches!(
        store.update_resource(&account, kind, "u1", &update, t(3), &test_audit()).await,
        Err(DomainError::VersionMismatch)
    ));
    let touch =
        ResourceUpdate { doc: None, expected_version: Some(2), members: &[], event: None, created: None };
    assert_eq!(
        store.update_resource(&account, kind, "u1", &touch, t(3), &test_audit()).await.expect("touch"),
        (3, t(3))
    );
    match store.update_resource(&account, kind, "nope", &doc_only(&renamed), t(3), &test_audit()).await {
        Err(DomainError::NotFound(m)) => assert_eq!(m, "User 'nope' not found"),
        other => panic!("expected NotFound, got {other:?}"),
    }
    store.create_resource(&account, kind, "u2", &user(2), &[], t(4), &test_audit()).await.expect("create");
    assert!(matches!(
        store.update_resource(&account, kind, "u2", &doc_only(&renamed), t(5), &test_audit()).await,
        Err(DomainError::Conflict(_))
    ));

    assert!(matches!(
        store.delete_resource(&account, kind, "u1", Some(1), &test_audit()).await,
        Err(DomainError::VersionMismatch)
    ));
    store.delete_resource(&account, kind, "u1", Some(3), &test_audit()).await.expect("delete");
    assert!(matches!(store.get_resource(&account, kind, "u1", false).await, Err(DomainError::NotFound(_))));
    assert!(matches!(
        store.delete_resource(&account, kind, "u1", None, &test_audit()).await,
        Err(DomainError::NotFound(_))
    ));
    // Another account sees nothing of this one.
    let other = AccountId::parse("other").expect("id");
    assert!(matches!(store.get_resource(&other, kind, "u2", false).await, Err(DomainError::NotFound(_))));
    assert!(store.account_exists(&account).await.expect("exists"));
    assert!(!store.account_exists(&other).await.expect("exists"));
    assert_eq!(store.count_accounts().await.expect("count"), 1);
    store.ping().await.expect("ping");
}

/// Security review item 11: case-insensitive comparisons fold non-ASCII letters and
/// Unicode normalisation (NFC) alike on both backends: in the shadow columns, in the
/// attributes that live only in the document (single- and multi-valued, extension ones
/// too), for `eq`, `co`, `sw` and `ew`; `caseExact` attributes stay exact.
#[tokio::test]
async fn filters_fold_non_ascii_case_and_normalisation() {
    let Some((store, account)) = setup().await else { return };
    let kind = ResourceKind::User;
    let doc = normalize(
        kind,
        &json!({
            "userName": "josé@example.com",
            "externalId": "ÖZ-1",
            "displayName": "ÖZTÜRK",
            "name": {"familyName": "ÖZTÜRK", "givenName": "Çağrı"},
            "emails": [{"value": "ÇAĞRI@ÖRNEK.COM.TR", "type": "Work"}],
            "title": "ΟΔΟΣ",
            ENTERPRISE_USER_URN: {"department": "MÜNCHEN"}
        }),
    )
    .expect("doc");
    store.create_resource(&account, kind, "oz", &doc, &[], t(1), &test_audit()).await.expect("create");
    store.create_resource(&account, kind, "u1", &user(1), &[], t(2), &test_audit()).await.expect("create");
    store
        .create_resource(
            &account,
            ResourceKind::Group,
            "g1",
            &group("ÆSIR Ops"),
            &[member("oz", None, None)],
            t(3),
            &test_audit(),
        )
        .await
        .expect("group");
    let list = async |kind: ResourceKind, filter: &str| {
        let q = ListQuery {
            filter: Some(parse_filter(filter).expect(filter)),
            sort: None,
            page: Page::Index { start_index: 1, count: 100 },
            include_related: false,
            count_total: true,
        };
        let page = store.list_resources(&account, kind, &q).await.expect(filter);
        ids(&page).into_iter().map(str::to_string).collect::<Vec<_>>()
    };
    // NFD spellings: O + U+0308 COMBINING DIAERESIS, e + U+0301 COMBINING ACUTE ACCENT.
    let nfd_name = "displayName eq \"O\u{308}ZTU\u{308}RK\"";
    let nfd_user_name = "userName eq \"jose\u{301}@example.com\"";
    let cases: Vec<(&str, Vec<&str>)> = vec![
        (r#"displayName eq "ÖZTÜRK""#, vec!["oz"]),
        (r#"displayName eq "öztürk""#, vec!["oz"]),
        (nfd_name, vec!["oz"]),
        (r#"displayName co "TÜR""#, vec!["oz"]),
        (r#"displayName co "tür""#, vec!["oz"]),
        (r#"displayName sw "öz""#, vec!["oz"]),
        (r#"displayName ew "ÜRK""#, vec!["oz"]),
        (r#"not (displayName eq "öztürk")"#, vec![ADMIN, "u1"]),
        (r#"displayName ne "öztürk""#, vec![ADMIN, "u1"]),
        (r#"name.familyName eq "öztürk""#, vec!["oz"]),
        (r#"name.familyName co "TÜR""#, vec!["oz"]),
        (r#"name.givenName eq "ÇAĞRı""#, vec!["oz"]),
        // No locale: `I` lowercases to `i`, never to the Turkish dotless `ı`.
        (r#"name.givenName eq "ÇAĞRI""#, vec![]),
        (r#"emails.value eq "çağri@örnek.com.tr""#, vec!["oz"]),
        (r#"emails co "ÖRNEK""#, vec!["oz"]),
        (r#"emails.value ew "@ÖRNEK.COM.TR""#, vec!["oz"]),
        (r#"emails[value sw "çağ" and type eq "WORK"]"#, vec!["oz"]),
        // Greek: the capital sigma folds to σ wherever it stands (no final-ς rule), so a
        // substring ending in it matches inside a longer word and at its end alike.
        (r#"title eq "οδοσ""#, vec!["oz"]),
        (r#"title eq "οδος""#, vec!["oz"]),
        (r#"title co "ΔΟΣ""#, vec!["oz"]),
        (r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "münchen""#, vec!["oz"]),
        (r#"userName eq "JOSÉ@EXAMPLE.COM""#, vec!["oz"]),
        (nfd_user_name, vec!["oz"]),
        (r#"userName sw "JOSÉ""#, vec!["oz"]),
        (r#"groups[display eq "æsir ops"]"#, vec!["oz"]),
        // caseExact: compared as stored.
        (r#"externalId eq "ÖZ-1""#, vec!["oz"]),
        (r#"externalId eq "öz-1""#, vec![]),
    ];
    for (filter, expected) in cases {
        assert_eq!(list(kind, filter).await, expected, "{filter}");
    }
    assert_eq!(list(ResourceKind::Group, r#"displayName eq "æsir OPS""#).await, vec!["g1"]);
    assert_eq!(list(ResourceKind::Group, r#"displayName sw "Æs""#).await, vec!["g1"]);

    // Sorting by the folded values ignores case; absent values last.
    for (i, name) in ["bob", "Alice", "CAROL"].iter().enumerate() {
        let doc = normalize(kind, &json!({"userName": format!("s{i}"), "displayName": name})).expect("doc");
        store
            .create_resource(&account, kind, &format!("s{i}"), &doc, &[], t(4), &test_audit())
            .await
            .expect("create");
    }
    let q = ListQuery {
        filter: Some(parse_filter(r#"userName sw "s""#).expect("filter")),
        sort: Some(Sort {
            path: parse_attribute_list("displayName").expect("path").remove(0),
            descending: false,
        }),
        page: Page::Index { start_index: 1, count: 100 },
        include_related: false,
        count_total: true,
    };
    let page = store.list_resources(&account, kind, &q).await.expect("sorted");
    assert_eq!(ids(&page), vec!["s1", "s0", "s2"]);
}

/// Security review item 11: the unique index on userName holds the folded NFC form, so
/// the NFC and NFD spellings of one name (and its capitals) are one name: a conflict.
#[tokio::test]
async fn nfc_and_nfd_user_names_conflict() {
    let Some((store, account)) = setup().await else { return };
    let kind = ResourceKind::User;
    let named = |user_name: &str| normalize(kind, &json!({"userName": user_name})).expect("doc");
    store
        .create_resource(&account, kind, "nfc", &named("josé@example.com"), &[], t(1), &test_audit())
        .await
        .expect("nfc");
    for (id, spelling) in [
        ("nfd", "jose\u{301}@example.com"),
        ("upper", "JOSÉ@EXAMPLE.COM"),
        ("upper-nfd", "JOSE\u{301}@example.com"),
    ] {
        match store.create_resource(&account, kind, id, &named(spelling), &[], t(2), &test_audit()).await {
            Err(DomainError::Conflict(m)) => assert!(m.contains("already in use"), "{m}"),
            other => panic!("{spelling:?}: expected Conflict, got {other:?}"),
        }
    }
    store
        .create_resource(&account, kind, "other", &named("jose@example.com"), &[], t(3), &test_audit())
        .await
        .expect("no accent is another name");
    let renamed = named("jose\u{301}@EXAMPLE.com");
    assert!(matches!(
        store.update_resource(&account, kind, "other", &doc_only(&renamed), t(4), &test_audit()).await,
        Err(DomainError::Conflict(_))
    ));
}

/// Security review item 3: a statement that runs past the statement time limit is
/// interrupted and answered as `Unavailable` ("statement timeout…"), soon after the limit,
/// and the connection it ran on (the only one of the pool) serves the next statements.
#[tokio::test]
async fn slow_statements_are_interrupted_and_the_connection_serves_again() {
    let limit = Duration::from_millis(200);
    let options =
        StoreOptions { max_connections: 1, statement_timeout: Some(limit), ..StoreOptions::default() };
    let Some((store, account)) = setup_with(&options).await else { return };
    let assert_timed_out = |got: Result<_, DomainError>, started: Instant, what: &str| {
        let took = started.elapsed();
        match got {
            Err(DomainError::Timeout(m)) => {
                assert!(m.starts_with("statement timeout"), "{what}: {m}")
            }
            other => panic!("{what}: expected a statement timeout, got {other:?}"),
        }
        assert!(took >= limit && took < Duration::from_secs(1), "{what}: interrupted after {took:?}");
    };

    // A statement that would count to 10^12.
    let started = Instant::now();
    let mut conn = store.limited().await.expect("connection");
    let got = sqlx::query_scalar::<_, i64>(
        "WITH RECURSIVE c(n) AS (SELECT CAST(1 AS BIGINT) UNION ALL SELECT n + 1 FROM c WHERE n < 1000000000000) \
         SELECT count(*) FROM c",
    )
    .fetch_one(&mut *conn)
    .await
    .db()
    .map(|_| ());
    drop(conn);
    assert_timed_out(got, started, "recursive count");
    store.ping().await.expect("the connection serves again");

    // A SCIM list whose filter scans many users with many e-mails.
    let emails: Vec<Value> =
        (0..20).map(|i| json!({"value": format!("someone{i}@example.com"), "type": "work"})).collect();
    let doc = normalize(ResourceKind::User, &json!({"userName": "seed", "emails": emails})).expect("doc");
    let seed = format!(
        "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < {SEEDED_USERS}) \
         INSERT INTO scim_users (account_id, id, user_name, user_name_lower, doc, doc_folded, version, \
         created_us, modified_us) SELECT $1, 'seed' || n, 'seed' || n, 'seed' || n, $2, {}, 1, 0, 0 FROM c",
        folded_doc_param(DIALECT, 2)
    );
    // Seeding takes longer than the limit on PostgreSQL: lifted for its transaction.
    let mut tx = store.pool().begin().await.expect("begin");
    if DIALECT == crate::query::Dialect::Postgres {
        sqlx::query("SET LOCAL statement_timeout = 0").execute(&mut *tx).await.expect("no limit");
    }
    sqlx::query(sqlx::AssertSqlSafe(seed))
        .bind(account.as_str())
        .bind(Value::Object(doc).to_string())
        .execute(&mut *tx)
        .await
        .expect("seed");
    tx.commit().await.expect("commit");
    let filter = (0..8)
        .map(|i| parse_filter(&format!("emails co \"nobody{i}\"")).expect("term"))
        .reduce(|a, b| Filter::Or(Box::new(a), Box::new(b)))
        .expect("terms");
    let query = |filter| ListQuery {
        filter: Some(filter),
        sort: None,
        page: Page::Index { start_index: 1, count: 10 },
        include_related: false,
        count_total: true,
    };
    let started = Instant::now();
    let got = store.list_resources(&account, ResourceKind::User, &query(filter)).await;
    assert_timed_out(got.map(|_| ()), started, "list");
    let page = store
        .list_resources(
            &account,
            ResourceKind::User,
            &query(parse_filter(r#"userName eq "SEED7""#).expect("f")),
        )
        .await
        .expect("the connection serves again");
    assert_eq!(ids(&page), vec!["seed7"]);

    // SQLite limits only the statements run on a `limited` connection: once that is
    // dropped, a longer statement on the same connection runs to its end.
    if DIALECT == crate::query::Dialect::Sqlite {
        let started = Instant::now();
        let n: i64 = sqlx::query_scalar(
            "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 5000000) \
             SELECT count(*) FROM c",
        )
        .fetch_one(store.pool())
        .await
        .expect("not limited");
        assert_eq!(n, 5_000_000);
        assert!(started.elapsed() > limit, "the statement must outlast the limit to show anything");
    }
}

#[tokio::test]
async fn list_filters_sorts_and_pages() {
    let Some((store, account)) = setup().await else { return };
    let kind = ResourceKind::User;
    for i in 1..=5 {
        store
            .create_resource(&account, kind, &format!("u{i}"), &user(i), &[], t(i), &test_audit())
            .await
            .expect("create");
    }
    let members = [member("u1", None, None), member("u3", None, None)];
    store
        .create_resource(&account, ResourceKind::Group, "g1", &group("Ops"), &members, t(6), &test_audit())
        .await
        .expect("group");
    let query = |filter: Option<&str>, sort: Option<(&str, bool)>, page: Page| ListQuery {
        filter: filter.map(|f| parse_filter(f).expect("filter")),
        sort: sort.map(|(path, descending)| Sort {
            path: parse_attribute_list(path).expect("path").remove(0),
            descending,
        }),
        page,
        include_related: false,
        count_total: true,
    };
    let all = Page::Index { start_index: 1, count: 100 };
    // Offsets are clamped: the largest ones answer an empty page, not a database error
    // (security review item 10).
    for page in [
        Page::Cursor { after: Some(CursorPosition::Offset(u64::MAX)), count: 10 },
        Page::Cursor { after: Some(CursorPosition::Offset(i64::MAX as u64 + 1)), count: 10 },
        Page::Index { start_index: u64::MAX, count: 10 },
    ] {
        let got =
            store.list_resources(&account, kind, &query(None, Some(("userName", false)), page.clone())).await;
        let got = got.unwrap_or_else(|e| panic!("{page:?}: {e}"));
        assert!(got.items.is_empty() && got.next.is_none() && got.total > 0, "{page:?}");
    }
    let filtered = async |kind: ResourceKind, filter: &str| {
        store.list_resources(&account, kind, &query(Some(filter), None, all.clone())).await.expect(filter)
    };

    let created_after = format!("meta.created gt \"{}\"", t(3).format(&Rfc3339).expect("format"));
    let enterprise = format!("{ENTERPRISE_USER_URN}:employeeNumber eq \"4\"");
    let cases: Vec<(&str, Vec<&str>)> = vec![
        (r#"userName eq "USER3@example.com""#, vec!["u3"]),
        (r#"userName co "EXAMPLE.COM""#, vec!["u1", "u2", "u3", "u4", "u5"]),
        (r#"userName sw "user" and active eq true"#, vec!["u2", "u4"]),
        (r#"not (active eq true)"#, vec![ADMIN, "u1", "u3", "u5"]),
        (r#"active ne true"#, vec![ADMIN, "u1", "u3", "u5"]),
        (r#"externalId eq "ext-1" or externalId eq "EXT-2""#, vec!["u1"]),
        (r#"displayName ew " 5""#, vec!["u5"]),
        (r#"name.givenName eq "given5""#, vec!["u5"]),
        (r#"name.familyName pr"#, vec!["u1", "u2", "u3", "u4", "u5"]),
        (r#"emails co "home2""#, vec!["u2"]),
        (r#"emails[type eq "work" and value ew "4@example.com"]"#, vec!["u4"]),
        (r#"emails.type eq "home" and emails.value sw "home1""#, vec!["u1"]),
        (&created_after, vec!["u4", "u5"]),
        (&enterprise, vec!["u4"]),
        (r#"groups.value eq "g1""#, vec!["u1", "u3"]),
        (r#"groups[display eq "ops"]"#, vec!["u1", "u3"]),
    ];
    for (filter, expected) in cases {
        let page = filtered(kind, filter).await;
        assert_eq!((ids(&page), page.total), (expected.clone(), expected.len() as u64), "{filter}");
    }
    let groups = filtered(ResourceKind::Group, r#"members.value eq "u3""#).await;
    assert_eq!(ids(&groups), vec!["g1"]);
    let groups = filtered(ResourceKind::Group, r#"displayName eq "OPS""#).await;
    assert_eq!(ids(&groups), vec!["g1"]);
    let bad = store.list_resources(&account, kind, &query(Some(r#"nope eq "x""#), None, all.clone())).await;
    assert!(matches!(bad, Err(DomainError::Invalid(_))), "{bad:?}");

    // Sorting, with absent values last either way.
    let sorted = |path, descending, page| {
        let q = query(None, Some((path, descending)), page);
        let store = &store;
        let account = &account;
        async move { store.list_resources(account, kind, &q).await.expect("list") }
    };
    let page = sorted("userName", true, Page::Index { start_index: 1, count: 2 }).await;
    assert_eq!((ids(&page), page.total, page.next), (vec!["u5", "u4"], 6, None));
    let page = sorted("emails", true, all.clone()).await;
    assert_eq!(ids(&page), vec!["u5", "u4", "u3", "u2", "u1", ADMIN]);
    let page = sorted("name.givenName", false, all.clone()).await;
    assert_eq!(ids(&page), vec!["u1", "u2", "u3", "u4", "u5", ADMIN]);

    // Index paging in insertion order; count 0 gives only the total.
    let page = store
        .list_resources(&account, kind, &query(None, None, Page::Index { start_index: 5, count: 10 }))
        .await
        .expect("list");
    assert_eq!((ids(&page), page.total), (vec!["u4", "u5"], 6));
    let page = store
        .list_resources(&account, kind, &query(None, None, Page::Index { start_index: 1, count: 0 }))
        .await
        .expect("list");
    assert_eq!((page.items.len(), page.total), (0, 6));

    // Cursor paging: keyset on the natural order, offsets when sorted.
    let first = store
        .list_resources(&account, kind, &query(None, None, Page::Cursor { after: None, count: 4 }))
        .await
        .expect("list");
    assert_eq!(ids(&first), vec![ADMIN, "u1", "u2", "u3"]);
    assert!(matches!(first.next, Some(CursorPosition::AfterSeq(_))), "{:?}", first.next);
    let second = store
        .list_resources(&account, kind, &query(None, None, Page::Cursor { after: first.next, count: 4 }))
        .await
        .expect("list");
    assert_eq!((ids(&second), second.next), (vec!["u4", "u5"], None));
    let first = sorted("userName", false, Page::Cursor { after: None, count: 4 }).await;
    assert_eq!((ids(&first), first.next), (vec![ADMIN, "u1", "u2", "u3"], Some(CursorPosition::Offset(4))));
    let second = sorted("userName", false, Page::Cursor { after: first.next, count: 4 }).await;
    assert_eq!((ids(&second), second.next), (vec!["u4", "u5"], None));

    // Another account lists nothing.
    let other = AccountId::parse("other").expect("id");
    let page = store.list_resources(&other, kind, &query(None, None, all)).await.expect("list");
    assert_eq!((page.items.len(), page.total), (0, 0));
}

/// A page without its total (the console's lists): the same rows, no count statement.
#[tokio::test]
async fn a_page_without_the_total_has_the_same_rows() {
    let Some((store, account)) = setup().await else { return };
    for i in 0..5 {
        let doc = serde_json::json!({"userName": format!("nocount{i}@x.test")});
        let doc = doc.as_object().expect("object").clone();
        store
            .create_resource(
                &account,
                ResourceKind::User,
                &format!("nc{i}"),
                &doc,
                &[],
                OffsetDateTime::now_utc(),
                &test_audit(),
            )
            .await
            .expect("user");
    }
    let page = |count_total| ListQuery {
        filter: None,
        sort: None,
        page: Page::Cursor { after: None, count: 3 },
        include_related: false,
        count_total,
    };
    let with = store.list_resources(&account, ResourceKind::User, &page(true)).await.expect("with");
    let without = store.list_resources(&account, ResourceKind::User, &page(false)).await.expect("without");
    assert!(with.total >= 5);
    assert_eq!(without.total, 0);
    let ids = |p: &ListPage| p.items.iter().map(|r| r.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&with), ids(&without));
    assert_eq!(with.next, without.next);
}

/// Unfiltered totals come from the kept counts, and deep pages skip by the kept block sizes:
/// both agree with counting and `OFFSET` over rows of two interleaved accounts, after
/// deletes, on both backends.
#[tokio::test]
async fn kept_counts_and_block_skips_agree_with_counting() {
    let Some((store, account)) = setup().await else { return };
    let other = AccountId::parse("globex").expect("id");
    store
        .create_account(
            &NewAccount {
                id: other.clone(),
                name: "Globex".into(),
                feature_flags: vec![],
                admin_user_id: "globex-admin".into(),
                admin_doc: normalize(ResourceKind::User, &json!({"userName": "admin@globex.test"}))
                    .expect("doc"),
                admin_token: generate(TokenKind::User, &other).expect("token"),
            },
            t(0),
            &test_audit(),
        )
        .await
        .expect("account");
    let doc = normalize(ResourceKind::User, &json!({"userName": "seed"})).expect("doc");
    let seed = format!(
        "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 6000) \
         INSERT INTO scim_users (account_id, id, user_name, user_name_lower, doc, doc_folded, version, \
         created_us, modified_us) SELECT CASE WHEN n % 3 = 0 THEN 'globex' ELSE $1 END, 'seed' || n, 'seed' || n, \
         'seed' || n, $2, {}, 1, 0, 0 FROM c",
        folded_doc_param(DIALECT, 2)
    );
    sqlx::query(sqlx::AssertSqlSafe(seed))
        .bind(account.as_str())
        .bind(Value::Object(doc).to_string())
        .execute(store.pool())
        .await
        .expect("seed");
    sqlx::query("DELETE FROM scim_users WHERE account_id = $1 AND seq % 7 = 0")
        .bind(account.as_str())
        .execute(store.pool())
        .await
        .expect("delete some");
    let page = |start_index: u64, count: u64| ListQuery {
        filter: None,
        sort: None,
        page: Page::Index { start_index, count },
        include_related: false,
        count_total: true,
    };
    // A sparse account too: one row in 50, so a deep page reads the block sizes in several
    // growing chunks.
    let sparse = format!(
        "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 60000) \
         INSERT INTO scim_users (account_id, id, user_name, user_name_lower, doc, doc_folded, version, \
         created_us, modified_us) SELECT CASE WHEN n % 50 = 0 THEN $1 ELSE 'globex' END, 'sparse' || n, \
         'sparse' || n, 'sparse' || n, $2, {}, 1, 0, 0 FROM c",
        folded_doc_param(DIALECT, 2)
    );
    let doc = normalize(ResourceKind::User, &json!({"userName": "seed"})).expect("doc");
    let mut tx = store.pool().begin().await.expect("begin");
    if DIALECT == crate::query::Dialect::Postgres {
        sqlx::query("SET LOCAL statement_timeout = 0").execute(&mut *tx).await.expect("no limit");
    }
    sqlx::query(sqlx::AssertSqlSafe(sparse))
        .bind(account.as_str())
        .bind(Value::Object(doc).to_string())
        .execute(&mut *tx)
        .await
        .expect("sparse seed");
    tx.commit().await.expect("commit");
    let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM scim_users WHERE account_id = $1 ORDER BY seq")
        .bind(account.as_str())
        .fetch_all(store.pool())
        .await
        .expect("ids");
    let last = ids.len() as u64;
    let pages = [(1, 0), (1, 10), (1000, 50), (1025, 100), (2048, 7), (3000, 100), (3400, 100), (4000, 10)];
    let deep = [(4600, 100), (5000, 3), (last, 5), (last + 1, 5)];
    for (start, count) in pages.into_iter().chain(deep) {
        let got =
            store.list_resources(&account, ResourceKind::User, &page(start, count)).await.expect("list");
        assert_eq!(got.total, ids.len() as u64, "startIndex {start}");
        let want: Vec<&String> = ids.iter().skip(start as usize - 1).take(count as usize).collect();
        let got: Vec<&String> = got.items.iter().map(|r| &r.id).collect();
        assert_eq!(got, want, "startIndex {start}, count {count}");
    }
    let others: i64 = sqlx::query_scalar("SELECT count(*) FROM scim_users WHERE account_id = 'globex'")
        .fetch_one(store.pool())
        .await
        .expect("count");
    let got = store.list_resources(&other, ResourceKind::User, &page(1, 0)).await.expect("list");
    assert_eq!(got.total, others as u64);
}

/// A filtered list counts its matches only when its page cannot tell the total (a full page,
/// or an empty one past the start); every total is exact, whatever the page, sort or cursor.
/// A user's groups, read in the page's own statement, are the ones a single read gives.
#[tokio::test]
async fn filtered_totals_are_exact_whether_counted_or_read_off_the_page() {
    let Some((store, account)) = setup().await else { return };
    for i in 1..=7 {
        store
            .create_resource(
                &account,
                ResourceKind::User,
                &format!("u{i}"),
                &user(i),
                &[],
                t(i),
                &test_audit(),
            )
            .await
            .expect("user");
    }
    store
        .create_resource(
            &account,
            ResourceKind::Group,
            "g",
            &group("Evens"),
            &[member("u2", None, None), member("u4", None, None)],
            t(8),
            &test_audit(),
        )
        .await
        .expect("group");
    // The odd users are inactive (fixtures: `active` is `i % 2 == 0`).
    let filter = r#"active eq false"#;
    let expected: u64 = 4; // u1, u3, u5, u7
    let sorted = Sort { path: parse_attribute_list("userName").expect("path").remove(0), descending: true };
    for sort in [None, Some(sorted)] {
        for (start_index, count) in
            [(1, 100), (1, 4), (1, 2), (3, 2), (4, 2), (4, 100), (5, 2), (9, 2), (1, 0)]
        {
            let q = ListQuery {
                filter: Some(parse_filter(filter).expect("filter")),
                sort: sort.clone(),
                page: Page::Index { start_index, count },
                include_related: true,
                count_total: true,
            };
            let page = store.list_resources(&account, ResourceKind::User, &q).await.expect("list");
            assert_eq!(
                page.total,
                expected,
                "startIndex {start_index}, count {count}, sort {}",
                sort.is_some()
            );
            let want = expected.saturating_sub(start_index - 1).min(count);
            assert_eq!(page.items.len() as u64, want, "startIndex {start_index}, count {count}");
        }
    }
    let q = ListQuery {
        filter: Some(parse_filter(r#"userName sw "user""#).expect("filter")),
        sort: None,
        page: Page::Cursor { after: None, count: 3 },
        include_related: true,
        count_total: true,
    };
    let mut page = store.list_resources(&account, ResourceKind::User, &q).await.expect("list");
    let mut seen = page.items.len();
    assert_eq!(page.total, 7);
    while let Some(next) = page.next {
        let q = ListQuery { page: Page::Cursor { after: Some(next), count: 3 }, ..q.clone() };
        page = store.list_resources(&account, ResourceKind::User, &q).await.expect("list");
        assert_eq!(page.total, 7, "a cursor page past the first");
        seen += page.items.len();
    }
    assert_eq!(seen, 7);
    for u in ["u2", "u3"] {
        let one = store.get_resource(&account, ResourceKind::User, u, true).await.expect("get");
        let q = ListQuery {
            filter: Some(parse_filter(&format!(r#"externalId eq "ext-{}""#, &u[1..])).expect("filter")),
            sort: None,
            page: Page::Index { start_index: 1, count: 10 },
            include_related: true,
            count_total: true,
        };
        let page = store.list_resources(&account, ResourceKind::User, &q).await.expect("list");
        assert_eq!((page.total, page.items.len()), (1, 1));
        assert_eq!(page.items[0].groups, one.groups, "{u}");
        let want = if u == "u2" {
            vec![GroupRef { value: "g".into(), display: Some("Evens".into()) }]
        } else {
            vec![]
        };
        assert_eq!(one.groups, Some(want), "{u}");
    }
}
