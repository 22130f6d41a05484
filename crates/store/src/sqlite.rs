//! SQLite: WAL, foreign keys on, migrations embedded and run at open.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Map, Value};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, Sqlite, SqlitePool, Transaction};
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

use crate::query::{Param, SqlBuf, filter_sql, sort_expr};
use crate::{db_error, internal};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sqlite");

/// The SQLite implementation of every store trait.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pub(crate) pool: SqlitePool,
}

/// Microseconds since the Unix epoch, as timestamps are stored.
pub(crate) fn us(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000) as i64
}

/// The inverse of [`us`].
pub(crate) fn from_us(v: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(v) * 1_000).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn table(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::User => "scim_users",
        ResourceKind::Group => "scim_groups",
    }
}

fn not_found(kind: ResourceKind, id: &str) -> DomainError {
    DomainError::NotFound(format!("{} '{id}' not found", kind.name()))
}

fn bind_all<'q>(
    mut q: sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments>,
    params: &[Param],
) -> sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments> {
    for p in params {
        q = match p {
            Param::Text(s) => q.bind(s.clone()),
            Param::Int(i) => q.bind(*i),
            Param::Float(f) => q.bind(*f),
        };
    }
    q
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

impl SqliteStore {
    /// Opens (creating if `mode=rwc`) and migrates the database at `url`.
    pub async fn open(url: &str) -> Result<Self, DomainError> {
        let opts = SqliteConnectOptions::from_str(url)
            .map_err(|e| DomainError::Internal(format!("invalid SQLite URL '{url}': {e}")))?
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let pool = SqlitePoolOptions::new()
            // An in-memory database exists per connection: keep exactly one.
            .max_connections(if in_memory { 1 } else { 8 })
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(opts)
            .await
            .map_err(|e| DomainError::Internal(format!("cannot open database '{url}': {e}")))?;
        MIGRATOR.run(&pool).await.map_err(|e| match e {
            sqlx::migrate::MigrateError::VersionMissing(v) => DomainError::Internal(format!(
                "the database has schema migration {v}, which this scimgate binary does not know: \
                 the database was written by a newer scimgate; upgrade scimgate (newest known migration: {})",
                MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
            )),
            other => DomainError::Internal(format!("database migration failed: {other}")),
        })?;
        Ok(Self { pool })
    }

    /// The pool, for tests and tools.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// A write transaction (`BEGIN IMMEDIATE`).
    pub(crate) async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, DomainError> {
        // IMMEDIATE takes the write lock up front, so a read-then-write transaction never
        // fails with SQLITE_BUSY on lock upgrade; busy_timeout queues writers instead.
        self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(internal)
    }

    async fn members_of(&self, group_id: &str) -> Result<Vec<Member>, DomainError> {
        let rows =
            sqlx::query("SELECT member_id, member_type, display FROM scim_group_members WHERE group_id = ?")
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
        let mut sql = String::from(
            "SELECT gm.member_id, g.id, g.display_name FROM scim_group_members gm \
             JOIN scim_groups g ON g.id = gm.group_id WHERE gm.member_id IN (",
        );
        sql.push_str(&vec!["?"; user_ids.len()].join(","));
        sql.push(')');
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for id in user_ids {
            q = q.bind(id.clone());
        }
        let rows = q.fetch_all(&self.pool).await.map_err(internal)?;
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
}

fn row_to_resource(r: &sqlx::sqlite::SqliteRow) -> Result<StoredResource, DomainError> {
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
    tx: &mut Transaction<'static, Sqlite>,
    account: &AccountId,
    group_id: &str,
    changes: &[MemberChange],
) -> Result<(), DomainError> {
    for change in changes {
        match change {
            MemberChange::RemoveAll => {
                sqlx::query("DELETE FROM scim_group_members WHERE group_id = ?")
                    .bind(group_id)
                    .execute(&mut **tx)
                    .await
                    .map_err(internal)?;
            }
            MemberChange::Remove(ids) => {
                for id in ids {
                    sqlx::query("DELETE FROM scim_group_members WHERE group_id = ? AND member_id = ?")
                        .bind(group_id)
                        .bind(id)
                        .execute(&mut **tx)
                        .await
                        .map_err(internal)?;
                }
            }
            MemberChange::Add(refs) => add_members(tx, account, group_id, refs).await?,
            MemberChange::Replace(refs) => {
                sqlx::query("DELETE FROM scim_group_members WHERE group_id = ?")
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
    tx: &mut Transaction<'static, Sqlite>,
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
            "SELECT 'User' FROM scim_users WHERE account_id = ? AND id = ? \
             UNION ALL SELECT 'Group' FROM scim_groups WHERE account_id = ? AND id = ?",
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
            "INSERT INTO scim_group_members (group_id, member_id, member_type, display) VALUES (?, ?, ?, ?) \
             ON CONFLICT (group_id, member_id) DO UPDATE SET display = coalesce(excluded.display, display)",
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
impl ScimStore for SqliteStore {
    async fn create_resource(
        &self,
        account: &AccountId,
        kind: ResourceKind,
        id: &str,
        doc: &Map<String, Value>,
        members: &[MemberRef],
        now: OffsetDateTime,
    ) -> Result<StoredResource, DomainError> {
        let cols = columns(kind, doc);
        let text = Value::Object(doc.clone()).to_string();
        let mut tx = self.begin_write().await?;
        let q = match kind {
            ResourceKind::User => sqlx::query(
                "INSERT INTO scim_users (account_id, id, user_name, user_name_lower, external_id, display_name, \
                 active, doc, version, created_us, modified_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?)",
            )
            .bind(account.as_str())
            .bind(id)
            .bind(cols.name)
            .bind(cols.name_lower)
            .bind(cols.external_id)
            .bind(cols.display_name)
            .bind(cols.active),
            ResourceKind::Group => sqlx::query(
                "INSERT INTO scim_groups (account_id, id, display_name, display_name_lower, external_id, \
                 doc, version, created_us, modified_us) VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?)",
            )
            .bind(account.as_str())
            .bind(id)
            .bind(cols.name)
            .bind(cols.name_lower)
            .bind(cols.external_id),
        };
        q.bind(&text)
            .bind(us(now))
            .bind(us(now))
            .execute(&mut *tx)
            .await
            .map_err(|e| db_error(e, || conflict_message(kind, doc)))?;
        if kind == ResourceKind::Group && !members.is_empty() {
            add_members(&mut tx, account, id, members).await?;
        }
        tx.commit().await.map_err(internal)?;
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
            "SELECT id, doc, version, created_us, modified_us FROM {} WHERE account_id = ? AND id = ?",
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
        let mut tx = self.begin_write().await?;
        let version_check = if update.expected_version.is_some() { " AND version = ?" } else { "" };
        let result = match update.doc {
            Some(doc) => {
                let cols = columns(kind, doc);
                let text = Value::Object(doc.clone()).to_string();
                let q = match kind {
                    ResourceKind::User => sqlx::query(sqlx::AssertSqlSafe(format!(
                        "UPDATE scim_users SET user_name = ?, user_name_lower = ?, external_id = ?, \
                         display_name = ?, active = ?, doc = ?, version = version + 1, modified_us = ? \
                         WHERE account_id = ? AND id = ?{version_check} RETURNING version"
                    )))
                    .bind(cols.name)
                    .bind(cols.name_lower)
                    .bind(cols.external_id)
                    .bind(cols.display_name)
                    .bind(cols.active),
                    ResourceKind::Group => sqlx::query(sqlx::AssertSqlSafe(format!(
                        "UPDATE scim_groups SET display_name = ?, display_name_lower = ?, external_id = ?, \
                         doc = ?, version = version + 1, modified_us = ? \
                         WHERE account_id = ? AND id = ?{version_check} RETURNING version"
                    )))
                    .bind(cols.name)
                    .bind(cols.name_lower)
                    .bind(cols.external_id),
                };
                let mut q = q.bind(text).bind(us(now)).bind(account.as_str()).bind(id);
                if let Some(v) = update.expected_version {
                    q = q.bind(v);
                }
                q.fetch_optional(&mut *tx).await.map_err(|e| db_error(e, || conflict_message(kind, doc)))?
            }
            None => {
                let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "UPDATE {} SET version = version + 1, modified_us = ? WHERE account_id = ? AND id = ?{version_check} \
                     RETURNING version",
                    table(kind)
                )))
                .bind(us(now))
                .bind(account.as_str())
                .bind(id);
                if let Some(v) = update.expected_version {
                    q = q.bind(v);
                }
                q.fetch_optional(&mut *tx).await.map_err(internal)?
            }
        };
        let Some(row) = result else {
            let exists: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT 1 FROM {} WHERE account_id = ? AND id = ?",
                table(kind)
            )))
            .bind(account.as_str())
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(internal)?;
            return Err(if exists.is_some() { DomainError::VersionMismatch } else { not_found(kind, id) });
        };
        let version: i64 = row.try_get("version").map_err(internal)?;
        if kind == ResourceKind::Group {
            apply_member_changes(&mut tx, account, id, update.members).await?;
        }
        tx.commit().await.map_err(internal)?;
        Ok((version, now))
    }

    async fn delete_resource(
        &self,
        account: &AccountId,
        kind: ResourceKind,
        id: &str,
        expected_version: Option<i64>,
    ) -> Result<(), DomainError> {
        let mut tx = self.begin_write().await?;
        let version_check = if expected_version.is_some() { " AND version = ?" } else { "" };
        let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM {} WHERE account_id = ? AND id = ?{version_check}",
            table(kind)
        )))
        .bind(account.as_str())
        .bind(id);
        if let Some(v) = expected_version {
            q = q.bind(v);
        }
        let done = q.execute(&mut *tx).await.map_err(internal)?.rows_affected();
        if done == 0 {
            let exists: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT 1 FROM {} WHERE account_id = ? AND id = ?",
                table(kind)
            )))
            .bind(account.as_str())
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(internal)?;
            return Err(if exists.is_some() { DomainError::VersionMismatch } else { not_found(kind, id) });
        }
        // Memberships of the deleted resource (its own members cascade with the group row).
        sqlx::query("DELETE FROM scim_group_members WHERE member_id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(internal)?;
        // What hangs off the principal: a user's personal API keys (their tokens cascade) and
        // the role assignments made to the user or group.
        let principal_type = match kind {
            ResourceKind::User => {
                sqlx::query(
                    "DELETE FROM api_keys WHERE account_id = ? AND api_key_type = 'USER' AND parent_identifier = ?",
                )
                .bind(account.as_str())
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(internal)?;
                "USER"
            }
            ResourceKind::Group => "USER_GROUP",
        };
        sqlx::query(
            "DELETE FROM role_assignments WHERE account_id = ? AND principal_type = ? AND principal_identifier = ?",
        )
        .bind(account.as_str())
        .bind(principal_type)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(internal)?;
        tx.commit().await.map_err(internal)?;
        Ok(())
    }

    async fn list_resources(
        &self,
        account: &AccountId,
        kind: ResourceKind,
        query: &ListQuery,
    ) -> Result<ListPage, DomainError> {
        let mut wher = SqlBuf::default();
        wher.push(" WHERE r.account_id = ").bind(Param::Text(account.as_str().to_string()));
        if let Some(f) = &query.filter {
            wher.push(" AND ");
            wher.append(filter_sql(kind, f)?);
        }
        let count_sql = format!("SELECT count(*) FROM {} r{}", table(kind), wher.sql);
        let total: i64 = {
            let mut q = sqlx::query_scalar(sqlx::AssertSqlSafe(count_sql));
            for p in &wher.params {
                q = match p {
                    Param::Text(s) => q.bind(s.clone()),
                    Param::Int(i) => q.bind(*i),
                    Param::Float(f) => q.bind(*f),
                };
            }
            q.fetch_one(&self.pool).await.map_err(internal)?
        };
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
        let mut sql = wher;
        let keyset = query.sort.is_none() && matches!(query.page, Page::Cursor { .. });
        if let (Some(s), true) = (after_seq, keyset) {
            sql.push(" AND r.seq > ").bind(Param::Int(s));
        }
        let order = match &query.sort {
            Some(s) => format!(
                " ORDER BY {} {} NULLS LAST, r.seq",
                sort_expr(kind, &s.path)?,
                if s.descending { "DESC" } else { "ASC" }
            ),
            None => " ORDER BY r.seq".to_string(),
        };
        let page_sql = format!(
            "SELECT r.seq, r.id, r.doc, r.version, r.created_us, r.modified_us FROM {} r{}{order} LIMIT {} OFFSET {}",
            table(kind),
            sql.sql,
            count.saturating_add(1),
            offset
        );
        let rows = bind_all(sqlx::query(sqlx::AssertSqlSafe(page_sql)), &sql.params)
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
impl AccountStore for SqliteStore {
    async fn create_account(&self, a: &NewAccount, now: OffsetDateTime) -> Result<(), DomainError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("INSERT INTO accounts (id, name, created_us) VALUES (?, ?, ?)")
            .bind(a.id.as_str())
            .bind(&a.name)
            .bind(us(now))
            .execute(&mut *tx)
            .await
            .map_err(|e| db_error(e, || format!("account '{}' already exists", a.id)))?;
        for flag in &a.feature_flags {
            sqlx::query("INSERT INTO feature_flags (account_id, flag) VALUES (?, ?) ON CONFLICT DO NOTHING")
                .bind(a.id.as_str())
                .bind(flag)
                .execute(&mut *tx)
                .await
                .map_err(internal)?;
        }
        let cols = columns(ResourceKind::User, &a.admin_doc);
        sqlx::query(
            "INSERT INTO scim_users (account_id, id, user_name, user_name_lower, external_id, display_name, \
             active, doc, version, created_us, modified_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?)",
        )
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
        .execute(&mut *tx)
        .await
        .map_err(internal)?;
        sqlx::query(
            "INSERT INTO organizations (account_id, identifier, name, description, tags, created_us, modified_us) \
             VALUES (?, 'default', 'Default Organization', '', '{}', ?, ?)",
        )
        .bind(a.id.as_str())
        .bind(us(now))
        .bind(us(now))
        .execute(&mut *tx)
        .await
        .map_err(internal)?;
        // The admin's personal access token lives in API key 'bootstrap'.
        sqlx::query(
            "INSERT INTO api_keys (account_id, api_key_type, parent_identifier, identifier, name, description, \
             tags, default_ttl_ms, created_us, modified_us) \
             VALUES (?, 'USER', ?, 'bootstrap', 'bootstrap', '', '{}', NULL, ?, ?)",
        )
        .bind(a.id.as_str())
        .bind(&a.admin_user_id)
        .bind(us(now))
        .bind(us(now))
        .execute(&mut *tx)
        .await
        .map_err(internal)?;
        sqlx::query(
            "INSERT INTO api_tokens (id, account_id, api_key_type, parent_identifier, api_key_identifier, \
             identifier, name, description, tags, secret_hash, created_us, modified_us, valid_from_us) \
             VALUES (?, ?, 'USER', ?, 'bootstrap', 'bootstrap', 'bootstrap', '', '{}', ?, ?, ?, ?)",
        )
        .bind(&a.admin_token.token_id)
        .bind(a.id.as_str())
        .bind(&a.admin_user_id)
        .bind(&a.admin_token.secret_hash)
        .bind(us(now))
        .bind(us(now))
        .bind(us(now))
        .execute(&mut *tx)
        .await
        .map_err(internal)?;
        sqlx::query(
            "INSERT INTO role_assignments (account_id, identifier, org_identifier, project_identifier, \
             role_identifier, resource_group_identifier, principal_type, principal_identifier, disabled, \
             created_us, modified_us) VALUES (?, 'bootstrap_admin', '', '', ?, ?, 'USER', ?, 0, ?, ?)",
        )
        .bind(a.id.as_str())
        .bind(ACCOUNT_ADMIN_ROLE)
        .bind(ALL_ACCOUNT_RESOURCES)
        .bind(&a.admin_user_id)
        .bind(us(now))
        .bind(us(now))
        .execute(&mut *tx)
        .await
        .map_err(internal)?;
        tx.commit().await.map_err(internal)
    }

    async fn account_exists(&self, account: &AccountId) -> Result<bool, DomainError> {
        let found: Option<i64> = sqlx::query_scalar("SELECT 1 FROM accounts WHERE id = ?")
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
    use super::*;
    use scimgate_scim::filter::parse_filter;

    /// The SQL of a filter, as the store would run it, and SQLite's plan for it.
    async fn plan(store: &SqliteStore, kind: ResourceKind, filter: &str) -> String {
        let f = parse_filter(filter).expect("filter");
        let mut sql = SqlBuf::default();
        sql.push(&format!("EXPLAIN QUERY PLAN SELECT r.id FROM {} r WHERE r.account_id = ", table(kind)));
        sql.bind(Param::Text("a".into()));
        sql.push(" AND ");
        sql.append(filter_sql(kind, &f).expect("sql"));
        let rows = bind_all(sqlx::query(sqlx::AssertSqlSafe(sql.sql)), &sql.params)
            .fetch_all(store.pool())
            .await
            .expect("plan");
        rows.iter()
            .map(|r| r.try_get::<String, _>("detail").unwrap_or_default())
            .collect::<Vec<_>>()
            .join("; ")
    }

    #[tokio::test]
    async fn equality_filters_use_indexes() {
        let store = SqliteStore::open("sqlite::memory:").await.expect("open");
        let p = plan(&store, ResourceKind::User, r#"userName eq "Bob@Example.com""#).await;
        assert!(p.contains("USING INDEX scim_users_user_name (account_id=? AND user_name_lower=?)"), "{p}");
        let p = plan(&store, ResourceKind::User, r#"externalId eq "e1""#).await;
        assert!(p.contains("USING INDEX scim_users_external_id (account_id=? AND external_id=?)"), "{p}");
        let p = plan(&store, ResourceKind::Group, r#"displayName eq "Ops""#).await;
        assert!(
            p.contains("USING INDEX scim_groups_display_name (account_id=? AND display_name_lower=?)"),
            "{p}"
        );
        let p = plan(&store, ResourceKind::User, r#"id eq "x""#).await;
        assert!(p.contains("(id=?)") || p.contains("AND id=?)"), "{p}");
    }

    #[tokio::test]
    async fn values_are_bound_never_spliced() {
        let f =
            parse_filter(r#"userName eq "x' OR 1=1 --" or name.givenName co "'; DROP TABLE scim_users; --""#)
                .expect("filter");
        let sql = filter_sql(ResourceKind::User, &f).expect("sql");
        assert!(!sql.sql.contains("DROP") && !sql.sql.contains("1=1"), "{}", sql.sql);
        assert_eq!(sql.params.len(), 2);
    }
}
