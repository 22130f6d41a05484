//! Fixtures of the store tests: a test store with an account, and the entities the tests
//! write. Loaded once per backend, for tests only (see the crate documentation).

/// For the access-control tests: account `acme` with admin user `admin-id` (and its token)
/// and feature flag `NG_SETTINGS`.
/// An audit entry for writes a test makes straight through the store (the operator's).
pub(crate) fn test_audit() -> scimgate_domain::audit::AuditEntry {
    scimgate_domain::audit::AuditEntry {
        at: time::OffsetDateTime::now_utc(),
        actor: scimgate_domain::audit::Actor::system(),
        action: scimgate_domain::audit::action::UPDATE,
        resource: scimgate_domain::audit::AuditResource::FeatureFlag,
        resource_id: "test".into(),
        summary: serde_json::json!({}),
    }
}

pub(crate) mod access {
    pub(crate) use super::test_audit;
    use time::OffsetDateTime;

    use scimgate_domain::access::Scope;
    use scimgate_domain::entities::{
        ApiKey, ApiKeyRef, Organization, PageRequest, Paged, PrincipalType, Project, RoleAssignment,
        ServiceAccount, Tags, TokenInfo,
    };
    use scimgate_domain::store::{AccountStore, NewAccount};
    use scimgate_domain::token::{NewToken, TokenKind, generate};
    use scimgate_domain::{AccountId, DomainError};
    use scimgate_scim::resource::normalize;
    use scimgate_scim::schema::ResourceKind;
    use serde_json::json;

    use super::super::{Store, test_store};

    pub(crate) const ADMIN: &str = "admin-id";

    pub(crate) fn t(s: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_700_000_000 + s).expect("time")
    }

    pub(crate) fn page(index: u64, size: u64) -> PageRequest {
        PageRequest { index, size }
    }

    pub(crate) fn tags(k: &str, v: &str) -> Tags {
        Tags::from([(k.to_string(), v.to_string())])
    }

    /// A store (`None` when this backend is not configured for tests) with account `acme`.
    pub(crate) async fn setup() -> Option<(Store, AccountId, NewToken)> {
        let store = test_store().await?;
        let account = AccountId::parse("acme").expect("id");
        let admin_token = generate(TokenKind::User, &account).expect("token");
        let admin_doc = normalize(ResourceKind::User, &json!({"userName": "admin@acme.test"})).expect("doc");
        store
            .create_account(
                &NewAccount {
                    id: account.clone(),
                    name: "Acme".into(),
                    feature_flags: vec!["NG_SETTINGS".into()],
                    admin_user_id: ADMIN.into(),
                    admin_doc,
                    admin_token: admin_token.clone(),
                },
                t(0),
                &test_audit(),
            )
            .await
            .expect("account");
        Some((store, account, admin_token))
    }

    pub(crate) fn org(identifier: &str, name: &str) -> Organization {
        Organization {
            identifier: identifier.into(),
            name: name.into(),
            description: format!("{name} description"),
            tags: tags("team", identifier),
            created: t(1),
            modified: t(1),
        }
    }

    pub(crate) fn project(org: &str, identifier: &str) -> Project {
        Project {
            org_identifier: org.into(),
            identifier: identifier.into(),
            name: identifier.to_uppercase(),
            description: String::new(),
            color: "#112233".into(),
            tags: Tags::new(),
            created: t(2),
            modified: t(2),
        }
    }

    pub(crate) fn service_account(identifier: &str, name: &str) -> ServiceAccount {
        ServiceAccount {
            identifier: identifier.into(),
            name: name.into(),
            email: format!("{identifier}@sa.acme.test"),
            description: String::new(),
            tags: tags("owner", "ops"),
            created: t(3),
            modified: t(3),
        }
    }

    pub(crate) fn role_assignment(
        identifier: &str,
        scope: (&str, &str),
        role: &str,
        resource_group: &str,
        principal_type: PrincipalType,
        principal: &str,
    ) -> RoleAssignment {
        RoleAssignment {
            identifier: identifier.into(),
            scope: Scope { org: scope.0.into(), project: scope.1.into() },
            role_identifier: role.into(),
            resource_group_identifier: resource_group.into(),
            principal_type,
            principal_identifier: principal.into(),
            disabled: false,
            created: t(4),
            modified: t(4),
        }
    }

    pub(crate) fn api_key(kind: TokenKind, parent: &str, identifier: &str) -> ApiKey {
        ApiKey {
            api_key_type: kind,
            parent_identifier: parent.into(),
            identifier: identifier.into(),
            name: identifier.into(),
            description: String::new(),
            tags: Tags::new(),
            default_ttl_ms: Some(86_400_000),
            created: t(5),
            modified: t(5),
        }
    }

    pub(crate) fn key_ref(key: &ApiKey) -> ApiKeyRef {
        ApiKeyRef {
            api_key_type: key.api_key_type,
            parent_identifier: key.parent_identifier.clone(),
            identifier: key.identifier.clone(),
        }
    }

    pub(crate) fn token(key: &ApiKey, identifier: &str, token_id: &str) -> TokenInfo {
        TokenInfo {
            token_id: token_id.into(),
            api_key_type: key.api_key_type,
            parent_identifier: key.parent_identifier.clone(),
            api_key_identifier: key.identifier.clone(),
            identifier: identifier.into(),
            name: identifier.into(),
            description: String::new(),
            tags: Tags::new(),
            created: t(10),
            modified: t(10),
            valid_from: t(10),
            valid_to: Some(t(1000)),
            last_used: None,
            previous_valid_to: None,
        }
    }

    pub(crate) fn ids<T>(page: &Paged<T>, id: impl Fn(&T) -> String) -> Vec<String> {
        page.items.iter().map(id).collect()
    }

    pub(crate) fn assert_not_found<T: std::fmt::Debug>(r: Result<T, DomainError>, expected: &str) {
        match r {
            Err(DomainError::NotFound(m)) => assert_eq!(m, expected),
            other => panic!("expected NotFound({expected}), got {other:?}"),
        }
    }

    pub(crate) fn conflict_message<T: std::fmt::Debug>(r: Result<T, DomainError>) -> String {
        match r {
            Err(DomainError::Conflict(m)) => m,
            other => panic!("expected Conflict, got {other:?}"),
        }
    }
}

/// For the SCIM tests: account `acme` with admin user `admin`, and SCIM documents.
pub(crate) mod scim {
    pub(crate) use super::test_audit;
    use serde_json::{Map, Value};
    use time::OffsetDateTime;

    use scimgate_domain::store::{AccountStore, ListPage, NewAccount, ResourceUpdate};
    use scimgate_domain::token::{TokenKind, generate};
    use scimgate_domain::{AccountId, DomainError};
    use scimgate_scim::patch::MemberRef;
    use scimgate_scim::resource::normalize;
    use scimgate_scim::schema::{ENTERPRISE_USER_URN, ResourceKind};
    use serde_json::json;

    use super::super::{Store, test_store, test_store_with};
    use crate::StoreOptions;

    pub(crate) const ADMIN: &str = "admin";

    pub(crate) fn t(s: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_700_000_000 + s).expect("time")
    }

    /// A store (`None` when this backend is not configured for tests) with account `acme`
    /// and its admin user.
    pub(crate) async fn setup() -> Option<(Store, AccountId)> {
        with_account(test_store().await?).await
    }

    /// [`setup`] with a store opened with these options.
    pub(crate) async fn setup_with(options: &StoreOptions) -> Option<(Store, AccountId)> {
        with_account(test_store_with(options).await?).await
    }

    async fn with_account(store: Store) -> Option<(Store, AccountId)> {
        let account = AccountId::parse("acme").expect("id");
        store
            .create_account(
                &NewAccount {
                    id: account.clone(),
                    name: "Acme".into(),
                    feature_flags: vec![],
                    admin_user_id: ADMIN.into(),
                    admin_doc: normalize(ResourceKind::User, &json!({"userName": "admin@acme.test"}))
                        .expect("doc"),
                    admin_token: generate(TokenKind::User, &account).expect("token"),
                },
                t(0),
                &test_audit(),
            )
            .await
            .expect("account");
        Some((store, account))
    }

    pub(crate) fn user(i: i64) -> Map<String, Value> {
        normalize(
            ResourceKind::User,
            &json!({
                "userName": format!("User{i}@Example.com"),
                "externalId": format!("ext-{i}"),
                "displayName": format!("User {i}"),
                "active": i % 2 == 0,
                "name": {"givenName": format!("Given{i}"), "familyName": "Family"},
                "emails": [
                    {"value": format!("user{i}@example.com"), "type": "work", "primary": true},
                    {"value": format!("home{i}@example.org"), "type": "home"}
                ],
                ENTERPRISE_USER_URN: {"employeeNumber": format!("{i}"), "department": "Eng"}
            }),
        )
        .expect("doc")
    }

    pub(crate) fn group(name: &str) -> Map<String, Value> {
        normalize(ResourceKind::Group, &json!({"displayName": name})).expect("doc")
    }

    pub(crate) fn member(id: &str, kind: Option<&str>, display: Option<&str>) -> MemberRef {
        MemberRef { value: id.into(), member_type: kind.map(Into::into), display: display.map(Into::into) }
    }

    pub(crate) fn ids(page: &ListPage) -> Vec<&str> {
        page.items.iter().map(|r| r.id.as_str()).collect()
    }

    pub(crate) fn invalid_detail<T: std::fmt::Debug>(r: Result<T, DomainError>) -> String {
        match r {
            Err(DomainError::Invalid(e)) => e.detail,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    pub(crate) fn doc_only(doc: &Map<String, Value>) -> ResourceUpdate<'_> {
        ResourceUpdate { doc: Some(doc), expected_version: None, members: &[], event: None, created: None }
    }
}

/// For the upgrade tests: a database as an older scimgate left it.
pub(crate) mod legacy {
    #[allow(unused_imports)]
    pub(crate) use super::test_audit;
    use std::borrow::Cow;

    use serde_json::{Value, json};
    use sqlx::migrate::Migrator;

    use scimgate_domain::AccountId;
    use scimgate_domain::store::{ListQuery, Page, ScimStore};
    use scimgate_scim::filter::parse_filter;
    use scimgate_scim::schema::ResourceKind;

    use super::super::{Db, MIGRATOR, Store};
    use super::scim::{doc_only, ids, t};

    /// The migrations before `version`, as a binary that did not know the later ones had them.
    pub(crate) fn migrator_before(version: i64) -> Migrator {
        Migrator {
            migrations: Cow::Owned(MIGRATOR.iter().filter(|m| m.version < version).cloned().collect()),
            ..Migrator::DEFAULT
        }
    }

    /// Rows of account `legacy` as scimgate wrote them with only migration 0001, whose shadow
    /// names were Rust's `to_lowercase` of the name, not normalised: the NFC and the NFD
    /// spelling of one userName (which its unique index let in), a Greek userName whose
    /// lowercase ended in a final sigma, and a group.
    pub(crate) async fn write_rows_before_folding(pool: &sqlx::Pool<Db>) {
        sqlx::query("INSERT INTO accounts (id, name, created_us) VALUES ('legacy', 'Legacy', 0)")
            .execute(pool)
            .await
            .expect("account");
        let users = [
            (
                "u-nfc",
                "jos\u{e9}@x",
                json!({"userName": "jos\u{e9}@x", "displayName": "ÖZTÜRK",
                       "emails": [{"value": "ÇAĞRı@ÖRNEK.TR", "type": "work"}]}),
            ),
            ("u-nfd", "JOSE\u{301}@x", json!({"userName": "JOSE\u{301}@x"})),
            ("u-sigma", "ΟΔΟΣ", json!({"userName": "ΟΔΟΣ"})),
        ];
        for (i, (id, name, doc)) in users.into_iter().enumerate() {
            sqlx::query(
                "INSERT INTO scim_users (account_id, id, user_name, user_name_lower, external_id, display_name, \
                 active, doc, version, created_us, modified_us) VALUES ('legacy', $1, $2, $3, NULL, $4, NULL, $5, 1, $6, $6)",
            )
            .bind(id)
            .bind(name)
            .bind(name.to_lowercase())
            .bind(doc.get("displayName").and_then(Value::as_str))
            .bind(doc.to_string())
            .bind(i as i64)
            .execute(pool)
            .await
            .expect("user");
        }
        sqlx::query(
            "INSERT INTO scim_groups (account_id, id, display_name, display_name_lower, external_id, doc, version, \
             created_us, modified_us) VALUES ('legacy', 'g', 'ÆSIR', 'æsir', NULL, $1, 1, 0, 0)",
        )
        .bind(json!({"displayName": "ÆSIR"}).to_string())
        .execute(pool)
        .await
        .expect("group");
    }

    /// The rows of [`write_rows_before_folding`] after the store opened the database: folded,
    /// found by the filters, and the NFD duplicate kept as it was.
    pub(crate) async fn assert_rows_folded(store: &Store) {
        let account = AccountId::parse("legacy").expect("id");
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
        let kind = ResourceKind::User;
        assert_eq!(list(kind, r#"userName eq "JOSÉ@X""#).await, vec!["u-nfc"]);
        assert_eq!(list(kind, r#"displayName eq "öztürk""#).await, vec!["u-nfc"]);
        assert_eq!(list(kind, r#"emails.value eq "çağrı@örnek.tr""#).await, vec!["u-nfc"]);
        assert_eq!(list(kind, r#"userName eq "οδος""#).await, vec!["u-sigma"]);
        assert_eq!(list(ResourceKind::Group, r#"displayName co "ÆS""#).await, vec!["g"]);
        let unfolded: i64 = sqlx::query_scalar("SELECT count(*) FROM scim_users WHERE doc_folded IS NULL")
            .fetch_one(store.pool())
            .await
            .expect("count");
        assert_eq!(unfolded, 0);
        let kept: String = sqlx::query_scalar("SELECT user_name_lower FROM scim_users WHERE id = 'u-nfd'")
            .fetch_one(store.pool())
            .await
            .expect("row");
        assert_eq!(kept, "jose\u{301}@x", "the duplicate keeps its index entry");
        assert_eq!(store.backfill_folded().await.expect("again"), 0, "nothing is left to fold");
        // The duplicate can still be written while its userName stays; another spelling of
        // the name it shares cannot be taken.
        let doc = |name: &str| {
            scimgate_scim::resource::normalize(kind, &json!({"userName": name, "active": false}))
                .expect("doc")
        };
        let same = doc("JOSE\u{301}@x");
        store
            .update_resource(&account, kind, "u-nfd", &doc_only(&same), t(1), &test_audit())
            .await
            .expect("unchanged name");
        let got = store
            .update_resource(&account, kind, "u-nfd", &doc_only(&doc("JOS\u{c9}@x")), t(2), &test_audit())
            .await;
        assert!(matches!(got, Err(scimgate_domain::DomainError::Conflict(_))), "{got:?}");
        store
            .update_resource(&account, kind, "u-nfd", &doc_only(&doc("jose2@x")), t(3), &test_audit())
            .await
            .expect("renamed");
    }
}
