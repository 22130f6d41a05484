//! `AuditStore` and the one insert every write transaction makes (docs/audit.md). Loaded
//! once per backend (see the crate documentation).
//!
//! [`insert`] runs in the write's open transaction: the entry commits with the change or not
//! at all. Reads are keyset-paged newest first on `seq` (`audit_log_account`, or the resource
//! and principal indexes when those filters are given).

use async_trait::async_trait;
use serde_json::Value;
use sqlx::QueryBuilder;

use scimgate_domain::audit::{Actor, AuditEntry, AuditQuery, AuditRecord, JwtSubject};
use scimgate_domain::store::AuditStore;
use scimgate_domain::{AccountId, DomainError};

use super::common::{DbQuery, col};
use super::{DIALECT, Db, DbConn, DbRow, Store};
use crate::query::Dialect;
use crate::{DbResultExt, from_micros, micros};

/// The audit insert with its parameters numbered from `$from` (13 of them).
pub(super) fn insert_sql(from: usize) -> String {
    let params: Vec<String> = (from..from + 13).map(|i| format!("${i}")).collect();
    format!(
        "INSERT INTO audit_log (account_id, at_us, principal_type, principal_id, credential_id, \
         jwt_iss, jwt_sub, jwt_jti, request_id, action, resource_type, resource_id, summary) VALUES ({})",
        params.join(", ")
    )
}

/// Binds the 13 parameters of [`insert_sql`], after the ones `q` already has.
pub(super) fn bind<'q>(q: DbQuery<'q>, account: &AccountId, entry: &AuditEntry) -> DbQuery<'q> {
    let a = &entry.actor;
    let jwt = a.jwt.clone().unwrap_or_default();
    q.bind(account.as_str().to_string())
        .bind(micros(entry.at))
        .bind(a.principal_type.clone())
        .bind(a.principal_id.clone())
        .bind(a.credential_id.clone())
        .bind(jwt.iss)
        .bind(jwt.sub)
        .bind(jwt.jti)
        .bind(a.request_id.clone())
        .bind(entry.action)
        .bind(entry.resource.as_str())
        .bind(entry.resource_id.clone())
        .bind(entry.summary.to_string())
}

/// Whether a write's own statement can carry its audit insert (one round trip instead of
/// two): SQLite runs several `;`-separated statements of one query, each binding its
/// `$N` from the one argument list; PostgreSQL's extended protocol takes one statement.
pub(super) const APPENDS: bool = matches!(DIALECT, Dialect::Sqlite);

/// Writes `entry` for `account` on `conn`, a write transaction's connection.
pub(super) async fn insert(
    conn: &mut DbConn,
    account: &AccountId,
    entry: &AuditEntry,
) -> Result<(), DomainError> {
    bind(sqlx::query(sqlx::AssertSqlSafe(insert_sql(1))), account, entry).execute(&mut *conn).await.db()?;
    Ok(())
}

/// The columns [`record`] reads.
pub(super) const COLUMNS: &str = "seq, at_us, principal_type, principal_id, credential_id, jwt_iss, \
     jwt_sub, jwt_jti, request_id, action, resource_type, resource_id, summary";

/// A stored entry.
pub(super) fn record(r: &DbRow) -> Result<AuditRecord, DomainError> {
    let (iss, sub, jti): (Option<String>, Option<String>, Option<String>) =
        (col(r, "jwt_iss")?, col(r, "jwt_sub")?, col(r, "jwt_jti")?);
    let jwt = (iss.is_some() || sub.is_some() || jti.is_some()).then_some(JwtSubject { iss, sub, jti });
    let summary: String = col(r, "summary")?;
    Ok(AuditRecord {
        seq: col(r, "seq")?,
        at: from_micros(col(r, "at_us")?),
        actor: Actor {
            principal_type: col(r, "principal_type")?,
            principal_id: col(r, "principal_id")?,
            credential_id: col(r, "credential_id")?,
            jwt,
            request_id: col(r, "request_id")?,
        },
        action: col(r, "action")?,
        resource_type: col(r, "resource_type")?,
        resource_id: col(r, "resource_id")?,
        summary: serde_json::from_str(&summary).unwrap_or(Value::String(summary)),
    })
}

#[async_trait]
impl AuditStore for Store {
    async fn list_audit(
        &self,
        account: &AccountId,
        query: &AuditQuery,
    ) -> Result<Vec<AuditRecord>, DomainError> {
        let mut q = QueryBuilder::<Db>::new("SELECT ");
        q.push(COLUMNS).push(" FROM audit_log WHERE account_id = ").push_bind(account.as_str());
        if let Some(t) = query.resource_type {
            q.push(" AND resource_type = ").push_bind(t.as_str());
        }
        if let Some(id) = &query.resource_id {
            q.push(" AND resource_id = ").push_bind(id.clone());
        }
        if let Some(p) = &query.principal {
            q.push(" AND principal_id = ").push_bind(p.clone());
        }
        if let Some(a) = query.action {
            q.push(" AND action = ").push_bind(a);
        }
        if let Some(from) = query.from {
            q.push(" AND at_us >= ").push_bind(micros(from));
        }
        if let Some(to) = query.to {
            q.push(" AND at_us < ").push_bind(micros(to));
        }
        if let Some(before) = query.before {
            q.push(" AND seq < ").push_bind(before);
        }
        q.push(" ORDER BY seq DESC LIMIT ").push_bind(i64::from(query.limit));
        let rows = q.build().fetch_all(&self.pool).await.db()?;
        rows.iter().map(record).collect()
    }

    async fn prune_audit(&self, before: time::OffsetDateTime, batch: u32) -> Result<u64, DomainError> {
        let done = sqlx::query(
            "DELETE FROM audit_log WHERE seq IN (SELECT seq FROM audit_log ORDER BY seq LIMIT $2) AND at_us < $1",
        )
        .bind(micros(before))
        .bind(i64::from(batch))
        .execute(&self.pool)
        .await
        .db()?;
        Ok(done.rows_affected())
    }
}
