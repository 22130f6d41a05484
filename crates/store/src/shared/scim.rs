//! `ScimStore` and `AccountStore`: SCIM users and groups (memberships in their own table) and
//! account creation. Loaded once per backend (see the crate documentation).

use async_trait::async_trait;
use serde_json::{Map, Value};
use sqlx::{Row, Transaction};
use time::OffsetDateTime;

use scimgate_domain::access::{ACCOUNT_ADMIN_ROLE, ALL_ACCOUNT_RESOURCES};
use scimgate_domain::store::{
    AccountStore, CursorPosition, GroupRef, ListPage, ListQuery, Member, NewAccount, Page, ResourceUpdate,
    ScimStore, StoredResource,
};
use scimgate_domain::{AccountId, DomainError};
use scimgate_scim::ScimError;
use scimgate_scim::patch::{MemberChange, MemberRef};
use scimgate_scim::schema::ResourceKind;

use super::common::{bind_all, write_tx};
use super::{DIALECT, Db, DbRow, Store};
use crate::dialect::{doc_column, json_param};
use crate::query::{Param, SqlBuf, sort_expr, write_filter};
use crate::{db_error, from_us, internal, us};

pub(super) fn table(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::User => "scim_users",
        ResourceKind::Group => "scim_groups",
    }
}

fn not_found(kind: ResourceKind, id: &str) -> DomainError {
    DomainError::NotFound(format!("{} '{id}' not found", kind.name()))
}

/// ` AND version = $n` when a version is expected (bound as parameter `n`), else nothing.
fn version_check(expected: Option<i64>, n: usize) -> String {
    if expected.is_some() { format!(" AND version = ${n}") } else { String::new() }
}

/// Indexed columns derived from the document.
struct Columns {
    name: Option<String>,
    name_lower: Option<String>,
    external_id: Option<String>,
    display_name: Option<String>,
    active: Option<i64>,
}

fn columns(kind: ResourceKind, doc: &Map<String, Value>) -> Columns {
    let s = |k: &str| doc.get(k).and_then(Value::as_str).map(str::to_string);
    let name = match kind {
        ResourceKind::User => s("userName"),
        ResourceKind::Group => s("displayName"),
    };
    Columns {
        name_lower: name.as_deref().map(str::to_lowercase),
        name,
        external_id: s("externalId"),
        display_name: s("displayName"),
        active: doc.get("active").and_then(Value::as_bool).map(i64::from),
    }
}

fn conflict_message(kind: ResourceKind, doc: &Map<String, Value>) -> String {
    match kind {
        ResourceKind::User => format!(
            "userName '{}' is already in use in this account (userName is unique, case-insensitively)",
            doc.get("userName").and_then(Value::as_str).unwrap_or_default()
        ),
        ResourceKind::Group => "the group conflicts with an existing one".to_string(),
    }
}

impl Store {
    async fn members_of(&self, group_id: &str) -> Result<Vec<Member>, DomainError> {
        let rows = sqlx::query(
            "SELECT member_id, member_type, display FROM scim_group_members WHERE group_id = $1 \
             ORDER BY member_id",
        )
        .bind(group_id)
        .fetch_all(&self.pool)
        .await
        .map_err(internal)?;
        rows.iter()
            .map(|r| {
                let t: String = r.try_get("member_type").map_err(internal)?;
                Ok(Member {
                    value: r.try_get("member_id").map_err(internal)?,
                    member_type: if t == "Group" { ResourceKind::Group } else { ResourceKind::User },
                    display: r.try_get("display").map_err(internal)?,
                })
            })
            .collect()
    }

    async fn groups_of(&self, user_ids: &[String]) -> Result<Vec<(String, GroupRef)>, DomainError> {
        if user_ids.is_empty() {
            return Ok(vec![]);
        }
        let mut sql = SqlBuf::default();
        sql.push(
            "SELECT gm.member_id, g.id, g.display_name FROM scim_group_members gm \
             JOIN scim_groups g ON g.id = gm.group_id WHERE gm.member_id IN (",
        );
        for (i, id) in user_ids.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.bind(Param::Text(id.clone()));
        }
        sql.push(") ORDER BY gm.member_id, gm.group_id");
        let rows = bind_all(sqlx::query(sqlx::AssertSqlSafe(sql.sql)), &sql.params)
            .fetch_all(&self.pool)
            .await
            .map_err(internal)?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("member_id").map_err(internal)?,
                    GroupRef {
                        value: r.try_get("id").map_err(internal)?,
                        display: r.try_get("display_name").map_err(internal)?,
                    },
                ))
            })
            .collect()
    }

    async fn attach_related(
        &self,
        kind: ResourceKind,
        items: &mut [StoredResource],
    ) -> Result<(), DomainError> {
        match kind {
            ResourceKind::Group => {
                for g in items.iter_mut() {
                    g.members = Some(self.members_of(&g.id).await?);
                }
            }
            ResourceKind::User => {
                let ids: Vec<String> = items.iter().map(|u| u.id.clone()).collect();
                let pairs = self.groups_of(&ids).await?;
                for u in items.iter_mut() {
                    u.groups =
                        Some(pairs.iter().filter(|(uid, _)| *uid == u.id).map(|(_, g)| g.clone()).collect());
                }
            }
        }
        Ok(())
    }

    /// The statement `select … FROM <table> r WHERE r.account_id = $1 [AND <filter>]`.
    fn list_statement(
        &self,
        select: &str,
        account: &AccountId,
        kind: ResourceKind,
        query: &ListQuery,
    ) -> Result<SqlBuf, DomainError> {
        let mut sql = SqlBuf::default();
        sql.push(&format!("{select} FROM {} r WHERE r.account_id = ", table(kind)))
            .bind(Param::Text(account.as_str().to_string()));
        if let Some(f) = &query.filter {
            sql.push(" AND ");
            write_filter(&mut sql, DIALECT, kind, f)?;
        }
        Ok(sql)
    }
}

fn row_to_resource(r: &DbRow) -> Result<StoredResource, DomainError> {
    let doc: String = r.try_get("doc").map_err(internal)?;
    let doc: Map<String, Value> =
        serde_json::from_str(&doc).map_err(|e| DomainError::Internal(format!("stored document: {e}")))?;
    Ok(StoredResource {
        id: r.try_get("id").map_err(internal)?,
        doc,
        created: from_us(r.try_get("created_us").map_err(internal)?),
        last_modified: from_us(r.try_get("modified_us").map_err(internal)?),
        version: r.try_get("version").map_err(internal)?,
        members: None,
        groups: None,
    })
}

async fn apply_member_changes(
    tx: &mut Transaction<'static, Db>,
    account: &AccountId,
    group_id: &str,
    changes: &[MemberChange],
) -> Result<(), DomainError> {
    for change in changes {
        match change {
            MemberChange::RemoveAll => {
                sqlx::query("DELETE FROM scim_group_members WHERE group_id = $1")
                    .bind(group_id)
                    .execute(&mut **tx)
                    .await
                    .map_err(internal)?;
            }
            MemberChange::Remove(ids) => {
                for id in ids {
                    sqlx::query("DELETE FROM scim_group_members WHERE group_id = $1 AND member_id = $2")
                        .bind(group_id)
                        .bind(id)
                        .execute(&mut **tx)
                        .await
                        .map_err(internal)?;
                }
            }
            MemberChange::Add(refs) => add_members(tx, account, group_id, refs).await?,
            MemberChange::Replace(refs) => {
                sqlx::query("DELETE FROM scim_group_members WHERE group_id = $1")
                    .bind(group_id)
                    .execute(&mut **tx)
                    .await
                    .map_err(internal)?;
                add_members(tx, account, group_id, refs).await?;
            }
        }
    }
    Ok(())
}

async fn add_members(
    tx: &mut Transaction<'static, Db>,
    account: &AccountId,
    group_id: &str,
    refs: &[MemberRef],
) -> Result<(), DomainError> {
    for m in refs {
        if m.value == group_id {
            return Err(ScimError::invalid_value("a group cannot be a member of itself").into());
        }
        // One indexed lookup per added member: the member must exist in this account.
        let found: Option<String> = sqlx::query_scalar(
            "SELECT 'User' FROM scim_users WHERE account_id = $1 AND id = $2 \
             UNION ALL SELECT 'Group' FROM scim_groups WHERE account_id = $3 AND id = $4",
        )
        .bind(account.as_str())
        .bind(&m.value)
        .bind(account.as_str())
        .bind(&m.value)
        .fetch_optional(&mut **tx)
        .await
        .map_err(internal)?;
        let Some(member_type) = found else {
            return Err(ScimError::invalid_value(format!(
                "member '{}' is not the id of a User or Group in this account",
                m.value
            ))
            .into());
        };
        if let Some(t) = &m.member_type
            && !t.eq_ignore_ascii_case(&member_type)
        {
            return Err(ScimError::invalid_value(format!(
                "member '{}' is a {member_type}, not a {t}",
                m.value
            ))
            .into());
        }
        sqlx::query(
            "INSERT INTO scim_group_members (group_id, member_id, member_type, display) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (group_id, member_id) \
             DO UPDATE SET display = coalesce(excluded.display, scim_group_members.display)",
        )
        .bind(group_id)
        .bind(&m.value)
        .bind(member_type)
        .bind(&m.display)
        .execute(&mut **tx)
        .await
        .map_err(internal)?;
    }
    Ok(())
}

#[async_trait]
impl ScimStore for Store {
    async fn create_resource(
        &self,
        account: &AccountId,
        kind: ResourceKind,
        id: &str,
        doc: &Map<String, Value>,
        members: &[MemberRef],
        now: OffsetDateTime,
    ) -> Result<StoredResource, DomainError> {
        let text = Value::Object(doc.clone()).to_string();
        write_tx!(self, |tx| {
            let cols = columns(kind, doc);
            let q = match kind {
                ResourceKind::User => sqlx::query(sqlx::AssertSqlSafe(format!(
                    "INSERT INTO scim_users (account_id, id, user_name, user_name_lower, external_id, display_name, \
                     active, doc, version, created_us, modified_us) VALUES ($1, $2, $3, $4, $5, $6, $7, {}, 1, $9, $10)",
                    json_param(DIALECT, 8)
                )))
                .bind(account.as_str())
                .bind(id)
                .bind(cols.name)
                .bind(cols.name_lower)
                .bind(cols.external_id)
                .bind(cols.display_name)
                .bind(cols.active),
                ResourceKind::Group => sqlx::query(sqlx::AssertSqlSafe(format!(
                    "INSERT INTO scim_groups (account_id, id, display_name, display_name_lower, external_id, \
                     doc, version, created_us, modified_us) VALUES ($1, $2, $3, $4, $5, {}, 1, $7, $8)",
                    json_param(DIALECT, 6)
                )))
                .bind(account.as_str())
                .bind(id)
                .bind(cols.name)
                .bind(cols.name_lower)
                .bind(cols.external_id),
            };
            q.bind(&text)
                .bind(us(now))
                .bind(us(now))
                .execute(&mut **tx)
                .await
                .map_err(|e| db_error(e, || conflict_message(kind, doc)))?;
            if kind == ResourceKind::Group && !members.is_empty() {
                add_members(tx, account, id, members).await?;
            }
            Ok(())
        })?;
        let mut created = StoredResource {
            id: id.to_string(),
            doc: doc.clone(),
            created: now,
            last_modified: now,
            version: 1,
            members: None,
            groups: None,
        };
        match kind {
            ResourceKind::Group => {
                created.members = Some(if members.is_empty() { vec![] } else { self.members_of(id).await? })
            }
            ResourceKind::User => created.groups = Some(vec![]),
        }
        Ok(created)
    }

    async fn get_resource(
        &self,
        account: &AccountId,
        kind: ResourceKind,
        id: &str,
        include_related: bool,
    ) -> Result<StoredResource, DomainError> {
        let sql = format!(
            "SELECT id, {}, version, created_us, modified_us FROM {} WHERE account_id = $1 AND id = $2",
            doc_column(DIALECT, "doc"),
            table(kind)
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(account.as_str())
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(internal)?
            .ok_or_else(|| not_found(kind, id))?;
        let mut r = [row_to_resource(&row)?];
        if include_related {
            self.attach_related(kind, &mut r).await?;
        }
        let [r] = r;
        Ok(r)
    }

    async fn update_resource(
        &self,
        account: &AccountId,
        kind: ResourceKind,
        id: &str,
        update: &ResourceUpdate<'_>,
        now: OffsetDateTime,
    ) -> Result<(i64, OffsetDateTime), DomainError> {
        write_tx!(self, |tx| {
            let result = match update.doc {
                Some(doc) => {
                    let cols = columns(kind, doc);
                    let text = Value::Object(doc.clone()).to_string();
                    let q = match kind {
                        ResourceKind::User => sqlx::query(sqlx::AssertSqlSafe(format!(
                            "UPDATE scim_users SET user_name = $1, user_name_lower = $2, external_id = $3, \
                             display_name = $4, active = $5, doc = {}, version = version + 1, modified_us = $7 \
                             WHERE account_id = $8 AND id = $9{} RETURNING version",
                            json_param(DIALECT, 6),
                            version_check(update.expected_version, 10)
                        )))
                        .bind(cols.name)
                        .bind(cols.name_lower)
                        .bind(cols.external_id)
                        .bind(cols.display_name)
                        .bind(cols.active),
                        ResourceKind::Group => sqlx::query(sqlx::AssertSqlSafe(format!(
                            "UPDATE scim_groups SET display_name = $1, display_name_lower = $2, external_id = $3, \
                             doc = {}, version = version + 1, modified_us = $5 \
                             WHERE account_id = $6 AND id = $7{} RETURNING version",
                            json_param(DIALECT, 4),
                            version_check(update.expected_version, 8)
                        )))
                        .bind(cols.name)
                        .bind(cols.name_lower)
                        .bind(cols.external_id),
                    };
                    let mut q = q.bind(text).bind(us(now)).bind(account.as_str()).bind(id);
                    if let Some(v) = update.expected_version {
                        q = q.bind(v);
                    }
                    q.fetch_optional(&mut **tx)
                        .await
                        .map_err(|e| db_error(e, || conflict_message(kind, doc)))?
                }
                None => {
                    let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "UPDATE {} SET version = version + 1, modified_us = $1 WHERE account_id = $2 AND id = $3{} \
                         RETURNING version",
                        table(kind),
                        version_check(update.expected_version, 4)
                    )))
                    .bind(us(now))
                    .bind(account.as_str())
                    .bind(id);
                    if let Some(v) = update.expected_version {
                        q = q.bind(v);
                    }
                    q.fetch_optional(&mut **tx).await.map_err(internal)?
                }
            };
            let Some(row) = result else {
                let exists = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT 1 FROM {} WHERE account_id = $1 AND id = $2",
                    table(kind)
                )))
                .bind(account.as_str())
                .bind(id)
                .fetch_optional(&mut **tx)
                .await
                .map_err(internal)?;
                return Err(if exists.is_some() {
                    DomainError::VersionMismatch
                } else {
                    not_found(kind, id)
                });
            };
            let version: i64 = row.try_get("version").map_err(internal)?;
            if kind == ResourceKind::Group {
                apply_member_changes(tx, account, id, update.members).await?;
            }
            Ok((version, now))
        })
    }

    async fn delete_resource(
        &self,
        account: &AccountId,
        kind: ResourceKind,
        id: &str,
        expected_version: Option<i64>,
    ) -> Result<(), DomainError> {
        write_tx!(self, |tx| {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM {} WHERE account_id = $1 AND id = $2{}",
                table(kind),
                version_check(expected_version, 3)
            )))
            .bind(account.as_str())
            .bind(id);
            if let Some(v) = expected_version {
                q = q.bind(v);
            }
            let done = q.execute(&mut **tx).await.map_err(internal)?.rows_affected();
            if done == 0 {
                let exists = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT 1 FROM {} WHERE account_id = $1 AND id = $2",
                    table(kind)
                )))
                .bind(account.as_str())
                .bind(id)
                .fetch_optional(&mut **tx)
                .await
                .map_err(internal)?;
                return Err(if exists.is_some() {
                    DomainError::VersionMismatch
                } else {
                    not_found(kind, id)
                });
            }
            // Memberships of the deleted resource (its own members cascade with the group row).
            sqlx::query("DELETE FROM scim_group_members WHERE member_id = $1")
                .bind(id)
                .execute(&mut **tx)
                .await
                .map_err(internal)?;
            // What hangs off the principal: a user's personal API keys (their tokens cascade) and
            // the role assignments made to the user or group.
            let principal_type = match kind {
                ResourceKind::User => {
                    sqlx::query(
                        "DELETE FROM api_keys WHERE account_id = $1 AND api_key_type = 'USER' \
                         AND parent_identifier = $2",
                    )
                    .bind(account.as_str())
                    .bind(id)
                    .execute(&mut **tx)
                    .await
                    .map_err(internal)?;
                    "USER"
                }
                ResourceKind::Group => "USER_GROUP",
            };
            sqlx::query(
                "DELETE FROM role_assignments WHERE account_id = $1 AND principal_type = $2 \
                 AND principal_identifier = $3",
            )
            .bind(account.as_str())
            .bind(principal_type)
            .bind(id)
            .execute(&mut **tx)
            .await
            .map_err(internal)?;
            Ok(())
        })
    }

    async fn list_resources(
        &self,
        account: &AccountId,
        kind: ResourceKind,
        query: &ListQuery,
    ) -> Result<ListPage, DomainError> {
        let count = self.list_statement("SELECT count(*)", account, kind, query)?;
        let total: i64 = bind_all(sqlx::query(sqlx::AssertSqlSafe(count.sql)), &count.params)
            .fetch_one(&self.pool)
            .await
            .map_err(internal)?
            .try_get(0)
            .map_err(internal)?;
        let total = u64::try_from(total).unwrap_or(0);
        let (count, offset, after_seq) = match query.page {
            Page::Index { start_index, count } => (count, start_index.saturating_sub(1), None),
            Page::Cursor { after: None, count } => (count, 0, None),
            Page::Cursor { after: Some(CursorPosition::Offset(o)), count } => (count, o, None),
            Page::Cursor { after: Some(CursorPosition::AfterSeq(s)), count } => (count, 0, Some(s)),
        };
        if count == 0 {
            return Ok(ListPage { total, items: vec![], next: None });
        }
        let select = format!(
            "SELECT r.seq, r.id, {}, r.version, r.created_us, r.modified_us",
            doc_column(DIALECT, "r.doc")
        );
        let mut sql = self.list_statement(&select, account, kind, query)?;
        let keyset = query.sort.is_none() && matches!(query.page, Page::Cursor { .. });
        if let (Some(s), true) = (after_seq, keyset) {
            sql.push(" AND r.seq > ").bind(Param::Int(s));
        }
        match &query.sort {
            Some(s) => sql.push(&format!(
                " ORDER BY {} {} NULLS LAST, r.seq",
                sort_expr(DIALECT, kind, &s.path)?,
                if s.descending { "DESC" } else { "ASC" }
            )),
            None => sql.push(" ORDER BY r.seq"),
        };
        sql.push(&format!(" LIMIT {} OFFSET {}", count.saturating_add(1), offset));
        let rows = bind_all(sqlx::query(sqlx::AssertSqlSafe(sql.sql)), &sql.params)
            .fetch_all(&self.pool)
            .await
            .map_err(internal)?;
        let has_more = rows.len() as u64 > count;
        let rows = &rows[..rows.len().min(usize::try_from(count).unwrap_or(usize::MAX))];
        let mut items = rows.iter().map(row_to_resource).collect::<Result<Vec<_>, _>>()?;
        let last_seq: Option<i64> = rows.last().map(|r| r.try_get("seq")).transpose().map_err(internal)?;
        if query.include_related {
            self.attach_related(kind, &mut items).await?;
        }
        let next = match (&query.page, has_more) {
            (Page::Cursor { .. }, true) if keyset => last_seq.map(CursorPosition::AfterSeq),
            (Page::Cursor { .. }, true) => Some(CursorPosition::Offset(offset + count)),
            _ => None,
        };
        Ok(ListPage { total, items, next })
    }
}

#[async_trait]
impl AccountStore for Store {
    async fn create_account(&self, a: &NewAccount, now: OffsetDateTime) -> Result<(), DomainError> {
        write_tx!(self, |tx| {
            sqlx::query("INSERT INTO accounts (id, name, created_us) VALUES ($1, $2, $3)")
                .bind(a.id.as_str())
                .bind(&a.name)
                .bind(us(now))
                .execute(&mut **tx)
                .await
                .map_err(|e| db_error(e, || format!("account '{}' already exists", a.id)))?;
            for flag in &a.feature_flags {
                sqlx::query(
                    "INSERT INTO feature_flags (account_id, flag) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                )
                .bind(a.id.as_str())
                .bind(flag)
                .execute(&mut **tx)
                .await
                .map_err(internal)?;
            }
            let cols = columns(ResourceKind::User, &a.admin_doc);
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "INSERT INTO scim_users (account_id, id, user_name, user_name_lower, external_id, display_name, \
                 active, doc, version, created_us, modified_us) VALUES ($1, $2, $3, $4, $5, $6, $7, {}, 1, $9, $10)",
                json_param(DIALECT, 8)
            )))
            .bind(a.id.as_str())
            .bind(&a.admin_user_id)
            .bind(cols.name)
            .bind(cols.name_lower)
            .bind(cols.external_id)
            .bind(cols.display_name)
            .bind(cols.active)
            .bind(Value::Object(a.admin_doc.clone()).to_string())
            .bind(us(now))
            .bind(us(now))
            .execute(&mut **tx)
            .await
            .map_err(internal)?;
            sqlx::query(
                "INSERT INTO organizations (account_id, identifier, name, description, tags, created_us, modified_us) \
                 VALUES ($1, 'default', 'Default Organization', '', '{}', $2, $3)",
            )
            .bind(a.id.as_str())
            .bind(us(now))
            .bind(us(now))
            .execute(&mut **tx)
            .await
            .map_err(internal)?;
            // The admin's personal access token lives in API key 'bootstrap'.
            sqlx::query(
                "INSERT INTO api_keys (account_id, api_key_type, parent_identifier, identifier, name, description, \
                 tags, default_ttl_ms, created_us, modified_us) \
                 VALUES ($1, 'USER', $2, 'bootstrap', 'bootstrap', '', '{}', NULL, $3, $4)",
            )
            .bind(a.id.as_str())
            .bind(&a.admin_user_id)
            .bind(us(now))
            .bind(us(now))
            .execute(&mut **tx)
            .await
            .map_err(internal)?;
            sqlx::query(
                "INSERT INTO api_tokens (id, account_id, api_key_type, parent_identifier, api_key_identifier, \
                 identifier, name, description, tags, secret_hash, created_us, modified_us, valid_from_us) \
                 VALUES ($1, $2, 'USER', $3, 'bootstrap', 'bootstrap', 'bootstrap', '', '{}', $4, $5, $6, $7)",
            )
            .bind(&a.admin_token.token_id)
            .bind(a.id.as_str())
            .bind(&a.admin_user_id)
            .bind(&a.admin_token.secret_hash)
            .bind(us(now))
            .bind(us(now))
            .bind(us(now))
            .execute(&mut **tx)
            .await
            .map_err(internal)?;
            sqlx::query(
                "INSERT INTO role_assignments (account_id, identifier, org_identifier, project_identifier, \
                 role_identifier, resource_group_identifier, principal_type, principal_identifier, disabled, \
                 created_us, modified_us) VALUES ($1, 'bootstrap_admin', '', '', $2, $3, 'USER', $4, 0, $5, $6)",
            )
            .bind(a.id.as_str())
            .bind(ACCOUNT_ADMIN_ROLE)
            .bind(ALL_ACCOUNT_RESOURCES)
            .bind(&a.admin_user_id)
            .bind(us(now))
            .bind(us(now))
            .execute(&mut **tx)
            .await
            .map_err(internal)?;
            Ok(())
        })
    }

    async fn account_exists(&self, account: &AccountId) -> Result<bool, DomainError> {
        let found = sqlx::query("SELECT 1 FROM accounts WHERE id = $1")
            .bind(account.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(internal)?;
        Ok(found.is_some())
    }

    async fn count_accounts(&self) -> Result<u64, DomainError> {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM accounts")
            .fetch_one(&self.pool)
            .await
            .map_err(internal)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn ping(&self) -> Result<(), DomainError> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map_err(internal).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_store;
    use super::*;
    use scimgate_domain::store::Sort;
    use scimgate_domain::token::{TokenKind, generate};
    use scimgate_scim::filter::{parse_attribute_list, parse_filter};
    use scimgate_scim::resource::normalize;
    use scimgate_scim::schema::ENTERPRISE_USER_URN;
    use serde_json::json;
    use time::format_description::well_known::Rfc3339;

    const ADMIN: &str = "admin";

    fn t(s: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_700_000_000 + s).expect("time")
    }

    /// A store (`None` when this backend is not configured for tests) with account `acme`
    /// and its admin user.
    async fn setup() -> Option<(Store, AccountId)> {
        let store = test_store().await?;
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
            )
            .await
            .expect("account");
        Some((store, account))
    }

    fn user(i: i64) -> Map<String, Value> {
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

    fn group(name: &str) -> Map<String, Value> {
        normalize(ResourceKind::Group, &json!({"displayName": name})).expect("doc")
    }

    fn member(id: &str, kind: Option<&str>, display: Option<&str>) -> MemberRef {
        MemberRef { value: id.into(), member_type: kind.map(Into::into), display: display.map(Into::into) }
    }

    fn ids(page: &ListPage) -> Vec<&str> {
        page.items.iter().map(|r| r.id.as_str()).collect()
    }

    fn invalid_detail<T: std::fmt::Debug>(r: Result<T, DomainError>) -> String {
        match r {
            Err(DomainError::Invalid(e)) => e.detail,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    fn doc_only(doc: &Map<String, Value>) -> ResourceUpdate<'_> {
        ResourceUpdate { doc: Some(doc), expected_version: None, members: &[] }
    }

    #[tokio::test]
    async fn resources_round_trip_with_conflicts_and_versions() {
        let Some((store, account)) = setup().await else { return };
        let kind = ResourceKind::User;
        let created = store.create_resource(&account, kind, "u1", &user(1), &[], t(1)).await.expect("create");
        assert_eq!((created.version, created.groups, created.created), (1, Some(vec![]), t(1)));
        let got = store.get_resource(&account, kind, "u1", true).await.expect("get");
        assert_eq!(got.doc, user(1), "the document reads back as written");
        assert_eq!((got.version, got.created, got.last_modified), (1, t(1), t(1)));
        assert_eq!(got.groups, Some(vec![]));
        assert!(store.get_resource(&account, kind, "u1", false).await.expect("get").groups.is_none());

        let mut dup = user(9);
        dup.insert("userName".into(), json!("user1@EXAMPLE.com"));
        match store.create_resource(&account, kind, "u9", &dup, &[], t(1)).await {
            Err(DomainError::Conflict(m)) => assert_eq!(
                m,
                "userName 'user1@EXAMPLE.com' is already in use in this account \
                 (userName is unique, case-insensitively)"
            ),
            other => panic!("expected Conflict, got {other:?}"),
        }

        let mut renamed = user(1);
        renamed.insert("displayName".into(), json!("Renamed"));
        let update = ResourceUpdate { doc: Some(&renamed), expected_version: Some(1), members: &[] };
        assert_eq!(
            store.update_resource(&account, kind, "u1", &update, t(2)).await.expect("update"),
            (2, t(2))
        );
        let got = store.get_resource(&account, kind, "u1", false).await.expect("get");
        assert_eq!((got.doc, got.version, got.created, got.last_modified), (renamed.clone(), 2, t(1), t(2)));
        assert!(matches!(
            store.update_resource(&account, kind, "u1", &update, t(3)).await,
            Err(DomainError::VersionMismatch)
        ));
        let touch = ResourceUpdate { doc: None, expected_version: Some(2), members: &[] };
        assert_eq!(
            store.update_resource(&account, kind, "u1", &touch, t(3)).await.expect("touch"),
            (3, t(3))
        );
        match store.update_resource(&account, kind, "nope", &doc_only(&renamed), t(3)).await {
            Err(DomainError::NotFound(m)) => assert_eq!(m, "User 'nope' not found"),
            other => panic!("expected NotFound, got {other:?}"),
        }
        store.create_resource(&account, kind, "u2", &user(2), &[], t(4)).await.expect("create");
        assert!(matches!(
            store.update_resource(&account, kind, "u2", &doc_only(&renamed), t(5)).await,
            Err(DomainError::Conflict(_))
        ));

        assert!(matches!(
            store.delete_resource(&account, kind, "u1", Some(1)).await,
            Err(DomainError::VersionMismatch)
        ));
        store.delete_resource(&account, kind, "u1", Some(3)).await.expect("delete");
        assert!(matches!(
            store.get_resource(&account, kind, "u1", false).await,
            Err(DomainError::NotFound(_))
        ));
        assert!(matches!(
            store.delete_resource(&account, kind, "u1", None).await,
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

    #[tokio::test]
    async fn group_members_and_user_groups() {
        let Some((store, account)) = setup().await else { return };
        let (user_kind, group_kind) = (ResourceKind::User, ResourceKind::Group);
        for i in [1, 2] {
            store
                .create_resource(&account, user_kind, &format!("u{i}"), &user(i), &[], t(i))
                .await
                .expect("user");
        }
        let g1 = store
            .create_resource(
                &account,
                group_kind,
                "g1",
                &group("Group 1"),
                &[member("u1", Some("User"), Some("One"))],
                t(3),
            )
            .await
            .expect("group");
        let one = Member { value: "u1".into(), member_type: ResourceKind::User, display: Some("One".into()) };
        assert_eq!(g1.members, Some(vec![one.clone()]));
        store
            .create_resource(&account, group_kind, "g2", &group("Group 2"), &[member("g1", None, None)], t(4))
            .await
            .expect("nested group");
        let g2 = store.get_resource(&account, group_kind, "g2", true).await.expect("get");
        assert_eq!(
            g2.members,
            Some(vec![Member { value: "g1".into(), member_type: ResourceKind::Group, display: None }])
        );

        let detail = invalid_detail(
            store
                .create_resource(
                    &account,
                    group_kind,
                    "g3",
                    &group("G3"),
                    &[member("nope", None, None)],
                    t(5),
                )
                .await,
        );
        assert_eq!(detail, "member 'nope' is not the id of a User or Group in this account");
        assert!(matches!(
            store.get_resource(&account, group_kind, "g3", false).await,
            Err(DomainError::NotFound(_))
        ));
        let self_add = [MemberChange::Add(vec![member("g1", None, None)])];
        let update = ResourceUpdate { doc: None, expected_version: None, members: &self_add };
        let detail = invalid_detail(store.update_resource(&account, group_kind, "g1", &update, t(5)).await);
        assert_eq!(detail, "a group cannot be a member of itself");
        let wrong_type = [MemberChange::Add(vec![member("u2", Some("Group"), None)])];
        let update = ResourceUpdate { doc: None, expected_version: None, members: &wrong_type };
        let detail = invalid_detail(store.update_resource(&account, group_kind, "g1", &update, t(5)).await);
        assert_eq!(detail, "member 'u2' is a User, not a Group");

        let changes = [
            MemberChange::Add(vec![member("u2", None, Some("Two"))]),
            MemberChange::Remove(vec!["u1".into(), "absent".into()]),
            // Again, without display: the one stored stays.
            MemberChange::Add(vec![member("u2", Some("user"), None)]),
        ];
        let update = ResourceUpdate { doc: None, expected_version: Some(1), members: &changes };
        assert_eq!(
            store.update_resource(&account, group_kind, "g1", &update, t(6)).await.expect("patch"),
            (2, t(6))
        );
        let two = Member { value: "u2".into(), member_type: ResourceKind::User, display: Some("Two".into()) };
        let g1 = store.get_resource(&account, group_kind, "g1", true).await.expect("get");
        assert_eq!(g1.members, Some(vec![two.clone()]));
        assert_eq!(g1.version, 2);

        let u2 = store.get_resource(&account, user_kind, "u2", true).await.expect("get");
        assert_eq!(u2.groups, Some(vec![GroupRef { value: "g1".into(), display: Some("Group 1".into()) }]));
        let all = ListQuery {
            filter: None,
            sort: None,
            page: Page::Index { start_index: 1, count: 10 },
            include_related: true,
        };
        let page = store.list_resources(&account, user_kind, &all).await.expect("list");
        let groups: Vec<usize> = page.items.iter().map(|u| u.groups.as_ref().map_or(99, Vec::len)).collect();
        assert_eq!((ids(&page), groups), (vec![ADMIN, "u1", "u2"], vec![0, 0, 1]));

        let replace =
            [MemberChange::Replace(vec![member("u1", None, Some("One")), member("u2", None, None)])];
        let update = ResourceUpdate { doc: None, expected_version: None, members: &replace };
        store.update_resource(&account, group_kind, "g1", &update, t(7)).await.expect("replace");
        let g1 = store.get_resource(&account, group_kind, "g1", true).await.expect("get");
        let two_bare = Member { display: None, ..two };
        assert_eq!(g1.members, Some(vec![one.clone(), two_bare]));

        // Deleting a user removes its memberships.
        store.delete_resource(&account, user_kind, "u2", None).await.expect("delete");
        let g1 = store.get_resource(&account, group_kind, "g1", true).await.expect("get");
        assert_eq!(g1.members, Some(vec![one]));
        let clear = [MemberChange::RemoveAll];
        let update = ResourceUpdate { doc: Some(&group("Renamed")), expected_version: None, members: &clear };
        store.update_resource(&account, group_kind, "g1", &update, t(8)).await.expect("clear");
        let g1 = store.get_resource(&account, group_kind, "g1", true).await.expect("get");
        assert_eq!((g1.members, g1.doc), (Some(vec![]), group("Renamed")));
        // Deleting a group removes it from the groups it was a member of.
        store.delete_resource(&account, group_kind, "g1", None).await.expect("delete");
        let g2 = store.get_resource(&account, group_kind, "g2", true).await.expect("get");
        assert_eq!(g2.members, Some(vec![]));
    }

    #[tokio::test]
    async fn list_filters_sorts_and_pages() {
        let Some((store, account)) = setup().await else { return };
        let kind = ResourceKind::User;
        for i in 1..=5 {
            store
                .create_resource(&account, kind, &format!("u{i}"), &user(i), &[], t(i))
                .await
                .expect("create");
        }
        let members = [member("u1", None, None), member("u3", None, None)];
        store
            .create_resource(&account, ResourceKind::Group, "g1", &group("Ops"), &members, t(6))
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
        };
        let all = Page::Index { start_index: 1, count: 100 };
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
        let bad =
            store.list_resources(&account, kind, &query(Some(r#"nope eq "x""#), None, all.clone())).await;
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
        assert_eq!(
            (ids(&first), first.next),
            (vec![ADMIN, "u1", "u2", "u3"], Some(CursorPosition::Offset(4)))
        );
        let second = sorted("userName", false, Page::Cursor { after: first.next, count: 4 }).await;
        assert_eq!((ids(&second), second.next), (vec!["u4", "u5"], None));

        // Another account lists nothing.
        let other = AccountId::parse("other").expect("id");
        let page = store.list_resources(&other, kind, &query(None, None, all)).await.expect("list");
        assert_eq!((page.items.len(), page.total), (0, 0));
    }
}
