//! The SQL lookup path over 10,000 users: filter → SQL → SQLite → rows, as
//! `GET /Users?filter=userName eq "..."` runs it (without HTTP and auth).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use scimgate_domain::AccountId;
use scimgate_domain::store::{AccountStore, ListQuery, NewAccount, Page, ScimStore};
use scimgate_domain::token::{TokenKind, generate};
use scimgate_scim::filter::parse_filter;
use scimgate_scim::resource::normalize;
use scimgate_scim::schema::ResourceKind;
use scimgate_store::SqliteStore;
use serde_json::json;
use time::OffsetDateTime;

/// An audit entry for writes a test makes straight through the store (the operator's).
fn test_audit() -> scimgate_domain::audit::AuditEntry {
    scimgate_domain::audit::AuditEntry {
        at: time::OffsetDateTime::now_utc(),
        actor: scimgate_domain::audit::Actor::system(),
        action: scimgate_domain::audit::action::UPDATE,
        resource: scimgate_domain::audit::AuditResource::FeatureFlag,
        resource_id: "test".into(),
        summary: serde_json::json!({}),
    }
}

const USERS: usize = 10_000;

fn bench(c: &mut Criterion) {
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("bench.db").display());
    let account = AccountId::parse("bench").expect("id");
    let (store, ids) = rt.block_on(async {
        let store = SqliteStore::open(&url).await.expect("open");
        let admin = normalize(ResourceKind::User, &json!({"userName": "admin@bench.test"})).expect("doc");
        store
            .create_account(
                &NewAccount {
                    id: account.clone(),
                    name: "bench".into(),
                    feature_flags: vec![],
                    admin_user_id: "admin".into(),
                    admin_doc: admin,
                    admin_token: generate(TokenKind::User, &account).expect("token"),
                },
                OffsetDateTime::now_utc(),
                &test_audit(),
            )
            .await
            .expect("account");
        let mut ids = Vec::with_capacity(USERS);
        for i in 1..=USERS {
            let doc = normalize(
                ResourceKind::User,
                &json!({"userName": format!("user{i}@example.com"), "externalId": format!("ext-{i}"),
                        "name": {"givenName": "Given", "familyName": format!("Family{i}")},
                        "emails": [{"value": format!("user{i}@example.com"), "type": "work", "primary": true}],
                        "active": true}),
            )
            .expect("doc");
            let id = format!("id-{i}");
            store
                .create_resource(&account, ResourceKind::User, &id, &doc, &[], OffsetDateTime::now_utc(), &test_audit())
                .await
                .expect("create");
            ids.push(id);
        }
        (store, ids)
    });
    let query = |f: &str| ListQuery {
        filter: Some(parse_filter(f).expect("filter")),
        sort: None,
        page: Page::Index { start_index: 1, count: 100 },
        include_related: true,
        count_total: true,
    };
    let by_user_name = query(r#"userName eq "user5000@example.com""#);
    c.bench_function("sqlite/filter_userName_eq_10k", |b| {
        b.iter(|| {
            let page =
                rt.block_on(store.list_resources(&account, ResourceKind::User, black_box(&by_user_name)));
            assert_eq!(page.expect("list").total, 1);
        })
    });
    let by_email = query(r#"emails[type eq "work" and value eq "user5000@example.com"]"#);
    c.bench_function("sqlite/filter_emails_value_path_10k_scan", |b| {
        b.iter(|| rt.block_on(store.list_resources(&account, ResourceKind::User, black_box(&by_email))))
    });
    c.bench_function("sqlite/get_by_id_10k", |b| {
        b.iter(|| rt.block_on(store.get_resource(&account, ResourceKind::User, black_box(&ids[4999]), true)))
    });
    let page = ListQuery {
        filter: None,
        sort: None,
        page: Page::Index { start_index: 1, count: 100 },
        include_related: true,
        count_total: true,
    };
    c.bench_function("sqlite/list_page_100_of_10k", |b| {
        b.iter(|| rt.block_on(store.list_resources(&account, ResourceKind::User, black_box(&page))))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = bench
}
criterion_main!(benches);
