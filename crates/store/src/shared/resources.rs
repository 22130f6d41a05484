//! `ScimStore`: SCIM users and groups — create, read, update, delete and list, with their
//! indexed columns derived from the document. Loaded once per backend (see the crate
//! documentation); group memberships are in the sibling module `memberships`.

use async_trait::async_trait;
use serde_json::{Map, Value};
use sqlx::Row;
use time::OffsetDateTime;

use scimgate_domain::audit::{AuditEntry, member_summary};
use scimgate_domain::entities::PrincipalType;
use scimgate_domain::events::{EventType, Membership, NewEvent, ResourceRef};
use scimgate_domain::store::{
    CursorPosition, GroupRef, ListPage, ListQuery, Member, Page, ResourceUpdate, ScimStore, StoredResource,
};
use scimgate_domain::{AccountId, DomainError};
use scimgate_scim::patch::MemberRef;
use scimgate_scim::schema::ResourceKind;

use super::common::{DbQuery, bind_all, write_tx};
use super::memberships::{MemberDelta, add_members, apply_member_changes};
use super::{DIALECT, DbConn, DbRow, Store};
use super::{audit, events};
use crate::dialect::{doc_column, folded_doc_param, json_param, user_groups_column};
use crate::fold::{fold, folded_doc};
use crate::query::{Param, SqlBuf, sort_expr, write_filter};
use crate::{DbResultExt, from_micros, micros};

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

/// Indexed columns derived from the document, and its folded copy.
pub(super) struct Columns {
    /// `userName` of a User, `displayName` of a Group.
    pub(super) name: Option<String>,
    /// [`fold`] of `name`: `user_name_lower` (under the unique index), `display_name_lower`.
    pub(super) name_folded: Option<String>,
    pub(super) external_id: Option<String>,
    pub(super) display_name: Option<String>,
    /// [`fold`] of a User's `displayName` (`display_name_folded`).
    pub(super) display_name_folded: Option<String>,
    pub(super) active: Option<i64>,
    /// [`folded_doc`] as JSON text (`doc_folded`): what filters and sortBy read.
    pub(super) doc_folded: String,
}

pub(super) fn columns(kind: ResourceKind, doc: &Map<String, Value>) -> Columns {
    let s = |k: &str| doc.get(k).and_then(Value::as_str).map(str::to_string);
    let name = match kind {
        ResourceKind::User => s("userName"),
        ResourceKind::Group => s("displayName"),
    };
    let display_name = s("displayName");
    Columns {
        name_folded: name.as_deref().map(fold),
        name,
        external_id: s("externalId"),
        display_name_folded: display_name.as_deref().map(fold),
        display_name,
        active: doc.get("active").and_then(Value::as_bool).map(i64::from),
        doc_folded: Value::Object(folded_doc(kind, doc)).to_string(),
    }
}

/// The INSERT of a resource row with its derived columns ([`columns`]) at version 1 (also
/// the account's admin User).
pub(super) fn insert_statement(
    kind: ResourceKind,
    account: &AccountId,
    id: &str,
    doc: &Map<String, Value>,
    now: OffsetDateTime,
    audit: Option<(&AccountId, &AuditEntry, &NewEvent)>,
) -> DbQuery<'static> {
    let cols = columns(kind, doc);
    // The audit insert and the event append ride along as further statements where the
    // engine allows it (`audit::APPENDS`): the audit's first parameter is the account.
    let tail =
        |from: usize| format!("; {}; {}", audit::insert_sql(from), events::append_one_sql(from, from + 13));
    let tail = match (audit, kind) {
        (Some(_), ResourceKind::User) => tail(13),
        (Some(_), ResourceKind::Group) => tail(10),
        (None, _) => String::new(),
    };
    let q = match kind {
        ResourceKind::User => sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO scim_users (account_id, id, user_name, user_name_lower, external_id, display_name, \
             display_name_folded, active, doc_folded, doc, version, created_us, modified_us) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, {}, {}, 1, $11, $12){tail}",
            folded_doc_param(DIALECT, 9),
            json_param(DIALECT, 10)
        )))
        .bind(account.as_str().to_string())
        .bind(id.to_string())
        .bind(cols.name)
        .bind(cols.name_folded)
        .bind(cols.external_id)
        .bind(cols.display_name)
        .bind(cols.display_name_folded)
        .bind(cols.active),
        ResourceKind::Group => sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO scim_groups (account_id, id, display_name, display_name_lower, external_id, \
             doc_folded, doc, version, created_us, modified_us) VALUES ($1, $2, $3, $4, $5, {}, {}, 1, $8, $9){tail}",
            folded_doc_param(DIALECT, 6),
            json_param(DIALECT, 7)
        )))
        .bind(account.as_str().to_string())
        .bind(id.to_string())
        .bind(cols.name)
        .bind(cols.name_folded)
        .bind(cols.external_id),
    };
    let q = q
        .bind(cols.doc_folded)
        .bind(serde_json::to_string(doc).unwrap_or_default())
        .bind(micros(now))
        .bind(micros(now));
    match audit {
        Some((account, entry, event)) => events::bind_one(audit::bind(q, account, entry), entry, event),
        None => q,
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

/// From this offset on, an unfiltered page in `seq` order skips by `resource_blocks`.
const BLOCK_SKIP_FROM: u64 = 1_024;

/// The block of 1,024 `seq` numbers that holds row `offset` (from 0) of the account's rows in
/// `seq` order, and how many of its rows come before that block; `None` past the end. Reads
/// the kept block sizes from the front in growing chunks, so a page at offset k reads about
/// k / 1,024 rows of `resource_blocks`, whatever the size of the account.
async fn block_of(
    conn: &mut DbConn,
    account: &AccountId,
    kind: ResourceKind,
    offset: u64,
) -> Result<Option<(i64, u64)>, DomainError> {
    let mut before = 0u64;
    let mut after = -1i64;
    let mut chunk = offset / 1_024 + 16;
    loop {
        let rows: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT block, n FROM resource_blocks WHERE account_id = $1 AND kind = $2 AND block > $3 \
             ORDER BY block LIMIT $4",
        )
        .bind(account.as_str())
        .bind(kind.name())
        .bind(after)
        .bind(i64::try_from(chunk).unwrap_or(i64::MAX))
        .fetch_all(&mut *conn)
        .await
        .db()?;
        for &(block, n) in &rows {
            let n = u64::try_from(n).unwrap_or(0);
            if before + n > offset {
                return Ok(Some((block, before)));
            }
            before += n;
            after = block;
        }
        if (rows.len() as u64) < chunk {
            return Ok(None);
        }
        chunk = chunk.saturating_mul(2).min(4_096);
    }
}

impl Store {
    /// How many resources a filtered list matches (`SELECT count(*)` under the list's filter).
    async fn count_matches(
        &self,
        conn: &mut DbConn,
        account: &AccountId,
        kind: ResourceKind,
        query: &ListQuery,
    ) -> Result<u64, DomainError> {
        let count = self.list_statement("SELECT count(*)", account, kind, query)?;
        let total: i64 = bind_all(sqlx::query(sqlx::AssertSqlSafe(count.sql)), &count.params)
            .fetch_one(&mut *conn)
            .await
            .db()?
            .try_get(0)
            .db()?;
        Ok(u64::try_from(total).unwrap_or(0))
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

/// How many rows [`Store::backfill_folded`] folds per transaction.
const BACKFILL_BATCH: i64 = 500;

impl Store {
    /// Fills the folded shadow values (`user_name_lower`, `display_name_folded`,
    /// `display_name_lower`, `doc_folded`) of the rows that lack them: rows written before
    /// migration 0002, or by an older scimgate since. Runs when the store opens a database,
    /// after the migrations; SQL cannot compute [`fold`], so it is done here, in batches of
    /// [`BACKFILL_BATCH`] rows per write transaction, in `seq` order. Finds nothing at once
    /// when nothing is left to do (a partial index holds exactly the rows to fold). Returns
    /// how many rows it folded.
    ///
    /// Each row is written only if it is still unfolded and its document unchanged (another
    /// node may be doing the same, or an older one writing). A User whose folded userName is
    /// already another user's in the account (NFC and NFD spellings of one name, which the
    /// lowercase index of migration 0001 let in) keeps its old `user_name_lower`, so nothing
    /// is lost, and it can still be written as long as its userName stays as it is; a warning
    /// names it so an administrator can rename one of the two.
    pub(super) async fn backfill_folded(&self) -> Result<u64, DomainError> {
        let mut done = 0;
        for kind in [ResourceKind::User, ResourceKind::Group] {
            let mut after = i64::MIN;
            loop {
                let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT seq, account_id, id, doc FROM {} WHERE doc_folded IS NULL AND seq > $1 \
                     ORDER BY seq LIMIT {BACKFILL_BATCH}",
                    table(kind)
                )))
                .bind(after)
                .fetch_all(&self.pool)
                .await
                .db()?;
                let Some(last) = rows.last() else { break };
                after = last.try_get("seq").db()?;
                let mut batch = Vec::with_capacity(rows.len());
                for row in &rows {
                    let text: String = row.try_get("doc").db()?;
                    let doc: Map<String, Value> = serde_json::from_str(&text)
                        .map_err(|e| DomainError::Internal(format!("stored document: {e}")))?;
                    let seq: i64 = row.try_get("seq").db()?;
                    let account: String = row.try_get("account_id").db()?;
                    let id: String = row.try_get("id").db()?;
                    batch.push((seq, account, id, text, columns(kind, &doc)));
                }
                let kept: Vec<(String, String, String)> = write_tx!(self, |tx| {
                    let mut kept = vec![];
                    for (seq, account, id, text, cols) in &batch {
                        match kind {
                            ResourceKind::User => {
                                let written: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                                    "UPDATE scim_users SET user_name_lower = CASE WHEN EXISTS (SELECT 1 FROM \
                                     scim_users o WHERE o.account_id = scim_users.account_id \
                                     AND o.user_name_lower = $1 AND o.seq <> scim_users.seq) \
                                     THEN user_name_lower ELSE $1 END, display_name_folded = $2, doc_folded = {} \
                                     WHERE seq = $4 AND doc_folded IS NULL AND doc = $5 RETURNING user_name_lower",
                                    folded_doc_param(DIALECT, 3)
                                )))
                                .bind(&cols.name_folded)
                                .bind(&cols.display_name_folded)
                                .bind(&cols.doc_folded)
                                .bind(seq)
                                .bind(text)
                                .fetch_optional(&mut **tx)
                                .await
                                .db()?;
                                if let Some(w) = written
                                    && Some(&w) != cols.name_folded.as_ref()
                                {
                                    let name = cols.name.clone().unwrap_or_default();
                                    kept.push((account.clone(), id.clone(), name));
                                }
                            }
                            ResourceKind::Group => {
                                sqlx::query(sqlx::AssertSqlSafe(format!(
                                    "UPDATE scim_groups SET display_name_lower = $1, doc_folded = {} \
                                     WHERE seq = $3 AND doc_folded IS NULL AND doc = $4",
                                    folded_doc_param(DIALECT, 2)
                                )))
                                .bind(&cols.name_folded)
                                .bind(&cols.doc_folded)
                                .bind(seq)
                                .bind(text)
                                .execute(&mut **tx)
                                .await
                                .db()?;
                            }
                        }
                    }
                    Ok(kept)
                })?;
                for (account, id, name) in kept {
                    tracing::warn!(
                        account = %account,
                        user = %id,
                        user_name = %name,
                        "this user's userName is another user's of the account once Unicode-normalised and \
                         lower-cased; it keeps its old index entry, so lookups by userName may find the other \
                         user: rename one of them"
                    );
                }
                done += batch.len() as u64;
            }
        }
        if done > 0 {
            tracing::info!(rows = done, "filled the folded shadow values of existing users and groups");
        }
        Ok(done)
    }
}

/// The `user_groups` column ([`user_groups_column`]) of a row.
fn row_user_groups(r: &DbRow) -> Result<Vec<GroupRef>, DomainError> {
    let text: Option<String> = r.try_get("user_groups").db()?;
    let pairs: Vec<(String, Option<String>)> = match text {
        Some(t) => {
            serde_json::from_str(&t).map_err(|e| DomainError::Internal(format!("user groups: {e}")))?
        }
        None => vec![],
    };
    Ok(pairs.into_iter().map(|(value, display)| GroupRef { value, display }).collect())
}

fn row_to_resource(r: &DbRow) -> Result<StoredResource, DomainError> {
    let doc: String = r.try_get("doc").db()?;
    let doc: Map<String, Value> =
        serde_json::from_str(&doc).map_err(|e| DomainError::Internal(format!("stored document: {e}")))?;
    Ok(StoredResource {
        id: r.try_get("id").db()?,
        doc,
        created: from_micros(r.try_get("created_us").db()?),
        last_modified: from_micros(r.try_get("modified_us").db()?),
        version: r.try_get("version").db()?,
        members: None,
        groups: None,
    })
}

/// A Group write's entry with the members it really added and removed
/// (docs/audit.md "Summaries"); a User's as given.
fn with_members(kind: ResourceKind, audit: &AuditEntry, delta: &MemberDelta) -> AuditEntry {
    let (added, removed) = delta.added_removed();
    if kind == ResourceKind::User || (added.is_empty() && removed.is_empty()) {
        return audit.clone();
    }
    audit.clone().with("members", member_summary(&added, &removed))
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
        audit: &AuditEntry,
    ) -> Result<StoredResource, DomainError> {
        // A group created with members: its entry lists them, so it is written after them.
        let appended = audit::APPENDS && members.is_empty();
        let created_event =
            NewEvent::resource(EventType::created(kind), ResourceRef::new(id, doc, now, now, 1));
        write_tx!(self, |tx| {
            insert_statement(
                kind,
                account,
                id,
                doc,
                now,
                appended.then_some((account, audit, &created_event)),
            )
            .execute(&mut **tx)
            .await
            .on_unique(|| conflict_message(kind, doc))?;
            let mut delta = MemberDelta::default();
            if kind == ResourceKind::Group && !members.is_empty() {
                add_members(tx, account, id, members, &mut delta).await?;
            }
            if !appended {
                audit::insert(tx, account, &with_members(kind, audit, &delta)).await?;
                let mut out = vec![created_event.clone()];
                out.extend(delta.events(id));
                events::append(tx, account, audit, &out).await?;
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
        // A user's groups come in the same statement; a group's members after it.
        let with_groups = include_related && kind == ResourceKind::User;
        let sql = format!(
            "SELECT id, {}, version, created_us, modified_us{} FROM {} r WHERE account_id = $1 AND id = $2",
            doc_column(DIALECT, "doc"),
            if with_groups { format!(", {}", user_groups_column(DIALECT, "r.id")) } else { String::new() },
            table(kind)
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(account.as_str())
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .db()?
            .ok_or_else(|| not_found(kind, id))?;
        let mut r = [row_to_resource(&row)?];
        if with_groups {
            r[0].groups = Some(row_user_groups(&row)?);
        } else if include_related {
            self.attach_related(kind, &mut r).await?;
        }
        let [r] = r;
        Ok(r)
    }

    async fn group_members_page(
        &self,
        account: &AccountId,
        group_id: &str,
        version: i64,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Option<Vec<Member>>, DomainError> {
        self.members_page(account, group_id, version, after, limit).await
    }

    async fn update_resource(
        &self,
        account: &AccountId,
        kind: ResourceKind,
        id: &str,
        update: &ResourceUpdate<'_>,
        now: OffsetDateTime,
        audit: &AuditEntry,
    ) -> Result<(i64, OffsetDateTime), DomainError> {
        let user_appends = audit::APPENDS && kind == ResourceKind::User && update.doc.is_some();
        let inline_event = match (update.doc, update.event, update.expected_version, update.created) {
            (Some(doc), Some(t), Some(v), Some(created)) if user_appends => {
                Some(NewEvent::resource(t, ResourceRef::new(id, doc, created, now, v + 1)))
            }
            _ => None,
        };
        write_tx!(self, |tx| {
            let result = match update.doc {
                Some(doc) => {
                    // A User's index entry is rewritten only when its userName changes: the same
                    // name folds to the same entry, except for a pre-0002 duplicate, which
                    // keeps its old entry (see `backfill_folded`) and stays writable.
                    let cols = columns(kind, doc);
                    let text = serde_json::to_string(doc).unwrap_or_default();
                    // A User's entry rides along in the same query where the engine allows
                    // it (`audit::APPENDS`), numbered after the UPDATE's own parameters.
                    // So does its event when the version it writes and its creation time are
                    // known (a failed version check rolls both back with the write).
                    let from = if update.expected_version.is_some() { 13 } else { 12 };
                    let head = match (user_appends, &inline_event) {
                        (true, Some(_)) => {
                            format!(
                                "{}; {}; ",
                                audit::insert_sql(from),
                                events::append_one_sql(from, from + 13)
                            )
                        }
                        (true, None) => format!("{}; ", audit::insert_sql(from)),
                        (false, _) => String::new(),
                    };
                    let q = match kind {
                        ResourceKind::User => sqlx::query(sqlx::AssertSqlSafe(format!(
                            "{head}UPDATE scim_users SET user_name = $1, \
                             user_name_lower = CASE WHEN user_name = $1 THEN user_name_lower ELSE $2 END, external_id = $3, \
                             display_name = $4, display_name_folded = $5, active = $6, doc_folded = {}, doc = {}, \
                             version = version + 1, modified_us = $9 WHERE account_id = $10 AND id = $11{} \
                             RETURNING version, created_us",
                            folded_doc_param(DIALECT, 7),
                            json_param(DIALECT, 8),
                            version_check(update.expected_version, 12)
                        )))
                        .bind(cols.name)
                        .bind(cols.name_folded)
                        .bind(cols.external_id)
                        .bind(cols.display_name)
                        .bind(cols.display_name_folded)
                        .bind(cols.active),
                        ResourceKind::Group => sqlx::query(sqlx::AssertSqlSafe(format!(
                            "UPDATE scim_groups SET display_name = $1, display_name_lower = $2, external_id = $3, \
                             doc_folded = {}, doc = {}, version = version + 1, modified_us = $6 \
                             WHERE account_id = $7 AND id = $8{} RETURNING version, created_us",
                            folded_doc_param(DIALECT, 4),
                            json_param(DIALECT, 5),
                            version_check(update.expected_version, 9)
                        )))
                        .bind(cols.name)
                        .bind(cols.name_folded)
                        .bind(cols.external_id),
                    };
                    let mut q =
                        q.bind(cols.doc_folded).bind(text).bind(micros(now)).bind(account.as_str()).bind(id);
                    if let Some(v) = update.expected_version {
                        q = q.bind(v);
                    }
                    if user_appends {
                        q = audit::bind(q, account, audit);
                        if let Some(e) = &inline_event {
                            q = events::bind_one(q, audit, e);
                        }
                    }
                    q.fetch_optional(&mut **tx).await.on_unique(|| conflict_message(kind, doc))?
                }
                None => {
                    let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "UPDATE {} SET version = version + 1, modified_us = $1 WHERE account_id = $2 AND id = $3{} \
                         RETURNING version",
                        table(kind),
                        version_check(update.expected_version, 4)
                    )))
                    .bind(micros(now))
                    .bind(account.as_str())
                    .bind(id);
                    if let Some(v) = update.expected_version {
                        q = q.bind(v);
                    }
                    q.fetch_optional(&mut **tx).await.db()?
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
                .db()?;
                return Err(if exists.is_some() {
                    DomainError::VersionMismatch
                } else {
                    not_found(kind, id)
                });
            };
            let version: i64 = row.try_get("version").db()?;
            let mut delta = MemberDelta::default();
            if kind == ResourceKind::Group {
                apply_member_changes(tx, account, id, update.members, &mut delta).await?;
            }
            if !user_appends {
                audit::insert(tx, account, &with_members(kind, audit, &delta)).await?;
            }
            let mut out = vec![];
            if let (Some(doc), Some(t), None) = (update.doc, update.event, &inline_event) {
                let created = from_micros(row.try_get("created_us").db()?);
                out.push(NewEvent::resource(t, ResourceRef::new(id, doc, created, now, version)));
            }
            out.extend(delta.events(id));
            events::append(tx, account, audit, &out).await?;
            Ok((version, now))
        })
    }

    async fn delete_resource(
        &self,
        account: &AccountId,
        kind: ResourceKind,
        id: &str,
        expected_version: Option<i64>,
        audit: &AuditEntry,
    ) -> Result<(), DomainError> {
        write_tx!(self, |tx| {
            audit::insert(tx, account, audit).await?;
            // The deleted row is read back: its last representation is the event's data.
            let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM {} WHERE account_id = $1 AND id = $2{} RETURNING id, {}, version, created_us, \
                 modified_us",
                table(kind),
                version_check(expected_version, 3),
                doc_column(DIALECT, "doc")
            )))
            .bind(account.as_str())
            .bind(id);
            if let Some(v) = expected_version {
                q = q.bind(v);
            }
            let Some(gone) = q.fetch_optional(&mut **tx).await.db()? else {
                let exists = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT 1 FROM {} WHERE account_id = $1 AND id = $2",
                    table(kind)
                )))
                .bind(account.as_str())
                .bind(id)
                .fetch_optional(&mut **tx)
                .await
                .db()?;
                return Err(if exists.is_some() {
                    DomainError::VersionMismatch
                } else {
                    not_found(kind, id)
                });
            };
            let last = row_to_resource(&gone)?;
            // Memberships of the deleted resource (its own members cascade with the group row):
            // each ends with a `group.user_removed` before the delete's own event.
            let groups: Vec<String> =
                sqlx::query_scalar("DELETE FROM scim_group_members WHERE member_id = $1 RETURNING group_id")
                    .bind(id)
                    .fetch_all(&mut **tx)
                    .await
                    .db()?;
            let mut out: Vec<NewEvent> = groups
                .into_iter()
                .map(|group_id| {
                    NewEvent::membership(
                        false,
                        Membership {
                            group_id,
                            member_id: id.to_string(),
                            member_type: kind.name().to_string(),
                        },
                    )
                })
                .collect();
            out.push(NewEvent::resource(
                EventType::deleted(kind),
                ResourceRef::new(id, &last.doc, last.created, last.last_modified, last.version),
            ));
            events::append(tx, account, audit, &out).await?;
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
                    .db()?;
                    PrincipalType::User
                }
                ResourceKind::Group => PrincipalType::UserGroup,
            };
            sqlx::query(
                "DELETE FROM role_assignments WHERE account_id = $1 AND principal_type = $2 \
                 AND principal_identifier = $3",
            )
            .bind(account.as_str())
            .bind(principal_type.as_str())
            .bind(id)
            .execute(&mut **tx)
            .await
            .db()?;
            Ok(())
        })
    }

    async fn list_resources(
        &self,
        account: &AccountId,
        kind: ResourceKind,
        query: &ListQuery,
    ) -> Result<ListPage, DomainError> {
        // The filter is the client's: its statements (the page, and the count when the page
        // does not tell the total) run under the statement time limit, on one connection,
        // handed back before a group's members are read. A user's groups come in the page.
        let mut conn = self.limited().await?;
        let total = if query.count_total && query.filter.is_none() {
            // Unfiltered: the size kept by migration 0010's triggers, not a count of every row.
            let n: Option<i64> =
                sqlx::query_scalar("SELECT n FROM resource_counts WHERE account_id = $1 AND kind = $2")
                    .bind(account.as_str())
                    .bind(kind.name())
                    .fetch_optional(&mut *conn)
                    .await
                    .db()?;
            Some(u64::try_from(n.unwrap_or(0)).unwrap_or(0))
        } else {
            // Filtered: counted after the page, and only when the page does not tell.
            None
        };
        let counted_later = query.count_total && total.is_none();
        let (count, offset, after_seq) = match query.page {
            Page::Index { start_index, count } => (count, start_index.saturating_sub(1), None),
            Page::Cursor { after: None, count } => (count, 0, None),
            Page::Cursor { after: Some(CursorPosition::Offset(o)), count } => (count, o, None),
            Page::Cursor { after: Some(CursorPosition::AfterSeq(s)), count } => (count, 0, Some(s)),
        };
        // Every offset is clamped to the result's size: past the end the page is empty, and
        // no client value reaches the SQL text beyond what the count allows (security review
        // item 10: `startIndex` or an offset of 2^64 − 1 answered 500).
        let offset = offset.min(total.unwrap_or(i64::MAX as u64));
        if count == 0 || (after_seq.is_none() && total.is_some_and(|t| offset >= t)) {
            let total = match total {
                Some(t) => t,
                None if counted_later => self.count_matches(&mut conn, account, kind, query).await?,
                None => 0,
            };
            return Ok(ListPage { total, items: vec![], next: None });
        }
        let with_groups = query.include_related && kind == ResourceKind::User;
        let select = format!(
            "SELECT r.seq, r.id, {}, r.version, r.created_us, r.modified_us{}",
            doc_column(DIALECT, "r.doc"),
            if with_groups { format!(", {}", user_groups_column(DIALECT, "r.id")) } else { String::new() }
        );
        let mut sql = self.list_statement(&select, account, kind, query)?;
        let keyset = query.sort.is_none() && matches!(query.page, Page::Cursor { .. });
        if let (Some(s), true) = (after_seq, keyset) {
            sql.push(" AND r.seq > ").bind(Param::Int(s));
        }
        // A deep page in `seq` order of the whole account: skip whole blocks of 1,024 `seq`
        // numbers by their kept sizes, then at most a block's rows.
        let mut offset = offset;
        let indexed = matches!(query.page, Page::Index { .. });
        if indexed && query.filter.is_none() && query.sort.is_none() && offset >= BLOCK_SKIP_FROM {
            let Some((block, before)) = block_of(&mut conn, account, kind, offset).await? else {
                return Ok(ListPage { total: total.unwrap_or(0), items: vec![], next: None });
            };
            sql.push(" AND r.seq >= ").bind(Param::Int(block << 10));
            offset -= before;
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
            .fetch_all(&mut *conn)
            .await
            .db()?;
        let has_more = rows.len() as u64 > count;
        let total = match total {
            Some(t) => t,
            // A page that ends before `count` rows, read from a known offset, holds the last
            // match: the total is exact without counting (a filter lookup's usual case).
            None if counted_later
                && !has_more
                && after_seq.is_none()
                && (offset == 0 || !rows.is_empty()) =>
            {
                offset + rows.len() as u64
            }
            None if counted_later => self.count_matches(&mut conn, account, kind, query).await?,
            None => 0,
        };
        drop(conn);
        let rows = &rows[..rows.len().min(usize::try_from(count).unwrap_or(usize::MAX))];
        let mut items = rows.iter().map(row_to_resource).collect::<Result<Vec<_>, _>>()?;
        let last_seq: Option<i64> = rows.last().map(|r| r.try_get("seq")).transpose().db()?;
        if with_groups {
            for (item, row) in items.iter_mut().zip(rows) {
                item.groups = Some(row_user_groups(row)?);
            }
        } else if query.include_related {
            self.attach_related(kind, &mut items).await?;
        }
        let next = match (&query.page, has_more) {
            (Page::Cursor { .. }, true) if keyset => last_seq.map(CursorPosition::AfterSeq),
            (Page::Cursor { .. }, true) => Some(CursorPosition::Offset(offset.saturating_add(count))),
            _ => None,
        };
        Ok(ListPage { total, items, next })
    }
}

#[cfg(test)]
#[path = "resources_tests.rs"]
mod tests;
