//! `SettingsStore`: setting values per scope (`''` = the account level) and their audit
//! trail. Loaded once per backend (see the crate documentation).
//!
//! Every statement is static SQL scoped by `account_id`. A write (value, cleared children and
//! audit row) runs in one write transaction, so the old value the audit records is the one
//! the write replaced (on PostgreSQL, READ COMMITTED: two concurrent writes of the same
//! setting may both record the same old value). Secret settings reach the audit trail only as
//! `sha256:<hex>` ([`audit_text`]); the `settings` table keeps the value itself.

use async_trait::async_trait;

use scimgate_domain::access::Scope;
use scimgate_domain::entities::{PageRequest, Paged};
use scimgate_domain::settings::{SettingAudit, SettingRow, audit_text};
use scimgate_domain::store::SettingsStore;
use scimgate_domain::{AccountId, DomainError};

use scimgate_domain::audit::{AuditEntry, AuditResource, action};
use serde_json::{Value, json};

use super::audit;
use super::common::{col, write_tx};
use super::{DbConn, DbRow, Store};
use crate::{DbResultExt, from_micros, micros, write_error};

/// Maps a write error: a foreign-key violation means the account does not exist.
fn setting_write_error(e: sqlx::Error, account: &AccountId) -> DomainError {
    write_error(
        e,
        || "the setting was written concurrently".to_string(),
        || format!("account '{account}' does not exist"),
    )
}

fn setting_row(r: &DbRow) -> Result<SettingRow, DomainError> {
    Ok(SettingRow {
        scope: Scope { org: col(r, "org_identifier")?, project: col(r, "project_identifier")? },
        identifier: col(r, "identifier")?,
        value: col(r, "value")?,
        allow_overrides: col::<i64>(r, "allow_overrides")? != 0,
        modified: from_micros(col(r, "modified_us")?),
    })
}

/// A settings audit entry from the audit log (resource type `SETTING`).
fn audit_row(r: &DbRow) -> Result<SettingAudit, DomainError> {
    let rec = audit::record(r)?;
    let text = |k: &str| rec.summary.get(k).and_then(Value::as_str).map(str::to_string);
    let scope = &rec.summary["scope"];
    let part = |k: &str| scope.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
    Ok(SettingAudit {
        scope: Scope { org: part("org"), project: part("project") },
        identifier: rec.resource_id,
        action: rec.action,
        old_value: text("old"),
        new_value: text("new"),
        actor: rec.actor,
        at: rec.at,
    })
}

/// `NotFound` unless the scope's organization (and project) exist in the account. The
/// account scope always exists; a project without an organization is not a scope.
async fn check_scope(conn: &mut DbConn, account: &AccountId, scope: &Scope) -> Result<(), DomainError> {
    if scope.org.is_empty() {
        if scope.project.is_empty() {
            return Ok(());
        }
        return Err(DomainError::invalid(format!(
            "project '{}' is given without its organization",
            scope.project
        )));
    }
    let org = sqlx::query("SELECT 1 FROM organizations WHERE account_id = $1 AND identifier = $2")
        .bind(account.as_str())
        .bind(&scope.org)
        .fetch_optional(&mut *conn)
        .await
        .db()?;
    if org.is_none() {
        return Err(DomainError::NotFound(format!("organization '{}' does not exist", scope.org)));
    }
    if scope.project.is_empty() {
        return Ok(());
    }
    let project = sqlx::query(
        "SELECT 1 FROM projects WHERE account_id = $1 AND org_identifier = $2 AND identifier = $3",
    )
    .bind(account.as_str())
    .bind(&scope.org)
    .bind(&scope.project)
    .fetch_optional(&mut *conn)
    .await
    .db()?;
    if project.is_none() {
        return Err(DomainError::NotFound(format!(
            "project '{}' does not exist in organization '{}'",
            scope.project, scope.org
        )));
    }
    Ok(())
}

/// The value stored at exactly `scope`, if any.
async fn current_value(
    conn: &mut DbConn,
    account: &AccountId,
    scope: &Scope,
    identifier: &str,
) -> Result<Option<String>, DomainError> {
    sqlx::query_scalar(
        "SELECT value FROM settings WHERE account_id = $1 AND identifier = $2 \
         AND org_identifier = $3 AND project_identifier = $4",
    )
    .bind(account.as_str())
    .bind(identifier)
    .bind(&scope.org)
    .bind(&scope.project)
    .fetch_optional(&mut *conn)
    .await
    .db()
}

/// One audit row (values already hashed when secret).
struct AuditInsert<'a> {
    scope: &'a Scope,
    identifier: &'a str,
    action: &'static str,
    old_value: Option<String>,
    new_value: Option<String>,
    audit: &'a SettingAudit,
}

async fn insert_audit(conn: &mut DbConn, account: &AccountId, a: AuditInsert<'_>) -> Result<(), DomainError> {
    let entry = AuditEntry {
        at: a.audit.at,
        actor: a.audit.actor.clone(),
        action: a.action,
        resource: AuditResource::Setting,
        resource_id: a.identifier.to_string(),
        summary: json!({
            "scope": {"org": a.scope.org, "project": a.scope.project},
            "old": a.old_value,
            "new": a.new_value,
        }),
    };
    audit::insert(conn, account, &entry).await
}

#[async_trait]
impl SettingsStore for Store {
    async fn list_setting_rows(&self, account: &AccountId) -> Result<Vec<SettingRow>, DomainError> {
        let rows = sqlx::query(
            "SELECT org_identifier, project_identifier, identifier, value, allow_overrides, modified_us \
             FROM settings WHERE account_id = $1 ORDER BY identifier, org_identifier, project_identifier",
        )
        .bind(account.as_str())
        .fetch_all(&self.pool)
        .await
        .db()?;
        rows.iter().map(setting_row).collect()
    }

    async fn put_setting(
        &self,
        account: &AccountId,
        row: &SettingRow,
        clear_children: bool,
        audit: &SettingAudit,
        secret: bool,
    ) -> Result<(), DomainError> {
        write_tx!(self, |tx| {
            check_scope(tx, account, &row.scope).await?;
            let old = current_value(tx, account, &row.scope, &row.identifier).await?;
            sqlx::query(
                "INSERT INTO settings (account_id, org_identifier, project_identifier, identifier, value, \
                 allow_overrides, modified_us) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (account_id, identifier, org_identifier, project_identifier) DO UPDATE SET \
                 value = excluded.value, allow_overrides = excluded.allow_overrides, \
                 modified_us = excluded.modified_us",
            )
            .bind(account.as_str())
            .bind(&row.scope.org)
            .bind(&row.scope.project)
            .bind(&row.identifier)
            .bind(&row.value)
            .bind(i64::from(row.allow_overrides))
            .bind(micros(row.modified))
            .execute(&mut **tx)
            .await
            .map_err(|e| setting_write_error(e, account))?;
            if clear_children && row.scope.project.is_empty() {
                // Account scope: every org and project row; org scope: that org's project rows.
                sqlx::query(
                    "DELETE FROM settings WHERE account_id = $1 AND identifier = $2 AND ( \
                     ($3 = '' AND org_identifier <> '') \
                     OR ($4 <> '' AND org_identifier = $5 AND project_identifier <> ''))",
                )
                .bind(account.as_str())
                .bind(&row.identifier)
                .bind(&row.scope.org)
                .bind(&row.scope.org)
                .bind(&row.scope.org)
                .execute(&mut **tx)
                .await
                .db()?;
            }
            insert_audit(
                tx,
                account,
                AuditInsert {
                    scope: &row.scope,
                    identifier: &row.identifier,
                    action: action::UPDATE,
                    old_value: old.map(|v| audit_text(secret, &v)),
                    new_value: audit.new_value.as_deref().map(|v| audit_text(secret, v)),
                    audit,
                },
            )
            .await?;
            Ok(())
        })
    }

    async fn delete_setting(
        &self,
        account: &AccountId,
        scope: &Scope,
        identifier: &str,
        audit: &SettingAudit,
        secret: bool,
    ) -> Result<bool, DomainError> {
        write_tx!(self, |tx| {
            let old = current_value(tx, account, scope, identifier).await?;
            let Some(old) = old else {
                // Nothing to delete and nothing to audit: the transaction wrote nothing.
                return Ok(false);
            };
            sqlx::query(
                "DELETE FROM settings WHERE account_id = $1 AND identifier = $2 \
                 AND org_identifier = $3 AND project_identifier = $4",
            )
            .bind(account.as_str())
            .bind(identifier)
            .bind(&scope.org)
            .bind(&scope.project)
            .execute(&mut **tx)
            .await
            .db()?;
            insert_audit(
                tx,
                account,
                AuditInsert {
                    scope,
                    identifier,
                    action: action::RESTORE,
                    old_value: Some(audit_text(secret, &old)),
                    new_value: None,
                    audit,
                },
            )
            .await?;
            Ok(true)
        })
    }

    async fn list_setting_audit(
        &self,
        account: &AccountId,
        page: PageRequest,
    ) -> Result<Paged<SettingAudit>, DomainError> {
        self.paged(
            audit::COLUMNS,
            |q| {
                q.push("FROM audit_log WHERE account_id = ")
                    .push_bind(account.as_str())
                    .push(" AND resource_type = ")
                    .push_bind(AuditResource::Setting.as_str());
            },
            "seq DESC",
            page,
            audit_row,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::test_audit;
    use super::super::{DIALECT, test_store};
    use super::*;
    use crate::dialect::contains;
    use scimgate_domain::audit::Actor;
    use scimgate_domain::entities::{Organization, Project, Tags};
    use scimgate_domain::store::{AccountStore, NewAccount, OrganizationStore};
    use scimgate_domain::token::{TokenKind, generate};
    use scimgate_scim::resource::normalize;
    use scimgate_scim::schema::ResourceKind;
    use serde_json::json;
    use time::OffsetDateTime;

    const ID: &str = "pipeline_timeout_minutes";
    const OTHER: &str = "enable_notifications";

    fn t(s: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_700_000_000 + s).expect("time")
    }

    fn page(index: u64, size: u64) -> PageRequest {
        PageRequest { index, size }
    }

    fn account_scope() -> Scope {
        Scope::account()
    }

    fn org_scope(org: &str) -> Scope {
        Scope { org: org.into(), project: String::new() }
    }

    fn project_scope(org: &str, project: &str) -> Scope {
        Scope { org: org.into(), project: project.into() }
    }

    fn row(scope: Scope, identifier: &str, value: &str, at: i64) -> SettingRow {
        SettingRow {
            scope,
            identifier: identifier.into(),
            value: value.into(),
            allow_overrides: true,
            modified: t(at),
        }
    }

    /// The actor of a `TYPE:id` label.
    fn by(label: &str) -> Actor {
        let (t, id) = label.split_once(':').expect("TYPE:id");
        Actor {
            principal_type: t.into(),
            principal_id: id.into(),
            credential_id: None,
            jwt: None,
            request_id: None,
        }
    }

    fn update(r: &SettingRow, actor: &str) -> SettingAudit {
        SettingAudit {
            scope: r.scope.clone(),
            identifier: r.identifier.clone(),
            action: "UPDATE".into(),
            old_value: None,
            new_value: Some(r.value.clone()),
            actor: by(actor),
            at: r.modified,
        }
    }

    fn restore(scope: Scope, identifier: &str, at: i64) -> SettingAudit {
        SettingAudit {
            scope,
            identifier: identifier.into(),
            action: "RESTORE".into(),
            old_value: None,
            new_value: None,
            actor: by("USER:admin"),
            at: t(at),
        }
    }

    async fn add_account(store: &Store, id: &str) -> AccountId {
        let account = AccountId::parse(id).expect("id");
        let admin_token = generate(TokenKind::User, &account).expect("token");
        let admin_doc =
            normalize(ResourceKind::User, &json!({"userName": format!("admin@{id}.test")})).expect("doc");
        store
            .create_account(
                &NewAccount {
                    id: account.clone(),
                    name: id.to_uppercase(),
                    feature_flags: vec!["NG_SETTINGS".into()],
                    admin_user_id: format!("admin-{id}"),
                    admin_doc,
                    admin_token,
                },
                t(0),
                &test_audit(),
            )
            .await
            .expect("account");
        account
    }

    /// A store with account `acme`, its `default` organization, organization `eng` and
    /// project `eng/web`.
    /// (`None` when this backend is not configured for tests.)
    async fn setup() -> Option<(Store, AccountId)> {
        let store = test_store().await?;
        let account = add_account(&store, "acme").await;
        store
            .create_org(
                &account,
                &Organization {
                    identifier: "eng".into(),
                    name: "Engineering".into(),
                    description: String::new(),
                    tags: Tags::new(),
                    created: t(1),
                    modified: t(1),
                },
                &test_audit(),
            )
            .await
            .expect("org");
        store
            .create_project(
                &account,
                &Project {
                    org_identifier: "eng".into(),
                    identifier: "web".into(),
                    name: "Web".into(),
                    description: String::new(),
                    color: String::new(),
                    tags: Tags::new(),
                    created: t(2),
                    modified: t(2),
                },
                &test_audit(),
            )
            .await
            .expect("project");
        Some((store, account))
    }

    async fn put(store: &Store, account: &AccountId, r: &SettingRow, clear: bool) {
        store.put_setting(account, r, clear, &update(r, "USER:admin"), false).await.expect("put");
    }

    fn sorted(mut rows: Vec<SettingRow>) -> Vec<SettingRow> {
        rows.sort_by(|a, b| {
            (&a.identifier, &a.scope.org, &a.scope.project).cmp(&(
                &b.identifier,
                &b.scope.org,
                &b.scope.project,
            ))
        });
        rows
    }

    #[tokio::test]
    async fn upsert_then_read() {
        let Some((store, account)) = setup().await else { return };
        assert!(store.list_setting_rows(&account).await.expect("list").is_empty());

        let first = row(account_scope(), ID, "90", 10);
        put(&store, &account, &first, false).await;
        assert_eq!(store.list_setting_rows(&account).await.expect("list"), vec![first]);

        // The same scope again replaces the value, the flag and the time.
        let second = SettingRow { allow_overrides: false, ..row(account_scope(), ID, "120", 11) };
        put(&store, &account, &second, false).await;
        let proj = row(project_scope("eng", "web"), ID, "30", 12);
        put(&store, &account, &proj, false).await;
        assert_eq!(sorted(store.list_setting_rows(&account).await.expect("list")), vec![second, proj]);
    }

    #[tokio::test]
    async fn clear_children_removes_lower_rows_of_the_same_setting_only() {
        let Some((store, account)) = setup().await else { return };
        let org = row(org_scope("eng"), ID, "20", 10);
        let proj = row(project_scope("eng", "web"), ID, "30", 11);
        let default_org = row(org_scope("default"), ID, "25", 12);
        let other_org = row(org_scope("eng"), OTHER, "false", 13);
        let other_proj = row(project_scope("eng", "web"), OTHER, "true", 14);
        for r in [&org, &proj, &default_org, &other_org, &other_proj] {
            put(&store, &account, r, false).await;
        }

        // A project write has no children: clearing is a no-op.
        let proj2 = row(project_scope("eng", "web"), ID, "35", 15);
        put(&store, &account, &proj2, true).await;
        assert_eq!(store.list_setting_rows(&account).await.expect("list").len(), 5);

        // An org write clears that org's project rows of the setting only.
        let org2 = row(org_scope("eng"), ID, "21", 16);
        put(&store, &account, &org2, true).await;
        assert_eq!(
            sorted(store.list_setting_rows(&account).await.expect("list")),
            sorted(vec![default_org.clone(), org2.clone(), other_org.clone(), other_proj.clone()])
        );

        // An account write clears every org and project row of the setting.
        let acct = row(account_scope(), ID, "90", 17);
        put(&store, &account, &acct, true).await;
        assert_eq!(
            sorted(store.list_setting_rows(&account).await.expect("list")),
            sorted(vec![acct, other_org, other_proj])
        );

        // One audit row per write, whatever was cleared.
        assert_eq!(store.list_setting_audit(&account, page(0, 100)).await.expect("audit").total, 8);
    }

    #[tokio::test]
    async fn a_missing_scope_is_not_found_and_writes_nothing() {
        let Some((store, account)) = setup().await else { return };
        let cases = [
            (org_scope("nope"), "organization 'nope' does not exist"),
            (project_scope("nope", "web"), "organization 'nope' does not exist"),
            (project_scope("eng", "nope"), "project 'nope' does not exist in organization 'eng'"),
            (project_scope("default", "web"), "project 'web' does not exist in organization 'default'"),
        ];
        for (scope, message) in cases {
            let r = row(scope, ID, "20", 10);
            let err = store.put_setting(&account, &r, true, &update(&r, "USER:admin"), false).await;
            match err {
                Err(DomainError::NotFound(m)) => assert_eq!(m, message),
                other => panic!("expected NotFound({message}), got {other:?}"),
            }
        }
        // A project without an organization is not a scope.
        let r = row(project_scope("", "web"), ID, "20", 10);
        let err = store.put_setting(&account, &r, false, &update(&r, "USER:admin"), false).await;
        assert!(matches!(err, Err(DomainError::Invalid(_))), "{err:?}");

        assert!(store.list_setting_rows(&account).await.expect("list").is_empty());
        let audit = store.list_setting_audit(&account, page(0, 10)).await.expect("audit");
        assert_eq!((audit.items.len(), audit.total), (0, 0));
    }

    #[tokio::test]
    async fn delete_reports_and_audits_only_real_deletions() {
        let Some((store, account)) = setup().await else { return };
        let scope = org_scope("eng");
        assert!(
            !store
                .delete_setting(&account, &scope, ID, &restore(scope.clone(), ID, 5), false)
                .await
                .expect("del")
        );
        assert_eq!(store.list_setting_audit(&account, page(0, 10)).await.expect("audit").total, 0);

        let kept = row(account_scope(), ID, "90", 9);
        put(&store, &account, &kept, false).await;
        put(&store, &account, &row(scope.clone(), ID, "20", 10), false).await;
        assert!(
            store
                .delete_setting(&account, &scope, ID, &restore(scope.clone(), ID, 11), false)
                .await
                .expect("del")
        );
        assert!(
            !store
                .delete_setting(&account, &scope, ID, &restore(scope.clone(), ID, 12), false)
                .await
                .expect("del")
        );
        assert_eq!(store.list_setting_rows(&account).await.expect("list"), vec![kept]);

        let audit = store.list_setting_audit(&account, page(0, 10)).await.expect("audit");
        assert_eq!(audit.total, 3);
        assert_eq!(
            audit.items[0],
            SettingAudit {
                scope,
                identifier: ID.into(),
                action: "RESTORE".into(),
                old_value: Some("20".into()),
                new_value: None,
                actor: by("USER:admin"),
                at: t(11),
            }
        );
    }

    #[tokio::test]
    async fn audit_is_newest_first_with_old_and_new_values_and_pages() {
        let Some((store, account)) = setup().await else { return };
        let values = ["10", "20", "30", "40", "50"];
        for (i, v) in values.iter().enumerate() {
            let r = row(account_scope(), ID, v, 100 + i as i64);
            store
                .put_setting(&account, &r, false, &update(&r, &format!("USER:u{i}")), false)
                .await
                .expect("put");
        }
        let all = store.list_setting_audit(&account, page(0, 100)).await.expect("audit");
        assert_eq!(all.total, 5);
        let labels: Vec<String> = all.items.iter().map(|a| a.actor.label()).collect();
        let got: Vec<(Option<&str>, Option<&str>, &str, OffsetDateTime)> = all
            .items
            .iter()
            .zip(&labels)
            .map(|(a, label)| (a.old_value.as_deref(), a.new_value.as_deref(), label.as_str(), a.at))
            .collect();
        assert_eq!(
            got,
            vec![
                (Some("40"), Some("50"), "USER:u4", t(104)),
                (Some("30"), Some("40"), "USER:u3", t(103)),
                (Some("20"), Some("30"), "USER:u2", t(102)),
                (Some("10"), Some("20"), "USER:u1", t(101)),
                (None, Some("10"), "USER:u0", t(100)),
            ]
        );
        assert!(
            all.items
                .iter()
                .all(|a| a.action == "UPDATE" && a.identifier == ID && a.scope == account_scope())
        );

        let p1 = store.list_setting_audit(&account, page(1, 2)).await.expect("page");
        assert_eq!(p1.total, 5);
        assert_eq!(p1.items, all.items[2..4].to_vec());
        let p2 = store.list_setting_audit(&account, page(2, 2)).await.expect("page");
        assert_eq!(p2.items, all.items[4..].to_vec());
        let past = store.list_setting_audit(&account, page(3, 2)).await.expect("page");
        assert_eq!((past.items.len(), past.total), (0, 5));
    }

    #[tokio::test]
    async fn secrets_reach_the_audit_only_hashed() {
        let Some((store, account)) = setup().await else { return };
        let first = row(account_scope(), OTHER, "hunter2", 10);
        store.put_setting(&account, &first, false, &update(&first, "USER:admin"), true).await.expect("put");
        let second = row(account_scope(), OTHER, "correct-horse", 11);
        store.put_setting(&account, &second, false, &update(&second, "USER:admin"), true).await.expect("put");
        let scope = account_scope();
        assert!(
            store
                .delete_setting(&account, &scope, OTHER, &restore(scope.clone(), OTHER, 12), true)
                .await
                .expect("del")
        );

        let audit = store.list_setting_audit(&account, page(0, 10)).await.expect("audit").items;
        assert_eq!(audit.len(), 3);
        let texts: Vec<&str> =
            audit.iter().flat_map(|a| [a.old_value.as_deref(), a.new_value.as_deref()]).flatten().collect();
        assert_eq!(texts.len(), 4);
        for text in &texts {
            assert!(text.starts_with("sha256:"), "{text}");
            assert!(!text.contains("hunter2") && !text.contains("correct-horse"), "{text}");
        }
        // The same value hashes the same way, so the trail still links old to new.
        assert_eq!(audit[2].new_value, audit[1].old_value);
        assert_eq!(audit[1].new_value, audit[0].old_value);
        assert_eq!(audit[1].new_value.as_deref(), Some(audit_text(true, "correct-horse").as_str()));

        // Nothing in the audit table holds a clear value.
        let values = "summary";
        let leaks: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM audit_log WHERE {} OR {}",
            contains(DIALECT, values, "'hunter2'"),
            contains(DIALECT, values, "'correct-horse'")
        )))
        .fetch_one(store.pool())
        .await
        .expect("count");
        assert_eq!(leaks, 0);
    }

    #[tokio::test]
    async fn accounts_do_not_see_each_other() {
        let Some((store, acme)) = setup().await else { return };
        let globex = add_account(&store, "globex").await;
        put(&store, &acme, &row(account_scope(), ID, "90", 10), false).await;
        put(&store, &acme, &row(org_scope("eng"), ID, "20", 11), false).await;
        let theirs = row(account_scope(), ID, "15", 12);
        put(&store, &globex, &theirs, false).await;

        // globex has no organization `eng`, even though acme does.
        let r = row(org_scope("eng"), ID, "20", 13);
        let err = store.put_setting(&globex, &r, false, &update(&r, "USER:admin"), false).await;
        assert!(matches!(err, Err(DomainError::NotFound(_))), "{err:?}");

        // globex's account-scope write with clear_children leaves acme's org row alone.
        put(&store, &globex, &row(account_scope(), ID, "16", 14), true).await;
        assert_eq!(store.list_setting_rows(&acme).await.expect("list").len(), 2);
        assert_eq!(store.list_setting_rows(&globex).await.expect("list").len(), 1);

        // Deleting in one account does not touch the other.
        let scope = org_scope("eng");
        assert!(
            !store
                .delete_setting(&globex, &scope, ID, &restore(scope.clone(), ID, 15), false)
                .await
                .expect("del")
        );
        assert_eq!(store.list_setting_rows(&acme).await.expect("list").len(), 2);

        let acme_audit = store.list_setting_audit(&acme, page(0, 10)).await.expect("audit");
        assert_eq!(acme_audit.total, 2);
        assert!(acme_audit.items.iter().all(|a| a.new_value.as_deref() != Some("15")));
        let globex_audit = store.list_setting_audit(&globex, page(0, 10)).await.expect("audit");
        assert_eq!(globex_audit.total, 2);
        assert_eq!(globex_audit.items[1].new_value.as_deref(), Some("15"));

        // An unknown account has nothing and cannot write.
        let ghost = AccountId::parse("ghost").expect("id");
        assert!(store.list_setting_rows(&ghost).await.expect("list").is_empty());
        let r = row(account_scope(), ID, "1", 16);
        let err = store.put_setting(&ghost, &r, false, &update(&r, "USER:admin"), false).await;
        assert!(matches!(err, Err(DomainError::NotFound(_))), "{err:?}");
    }
}
