//! `RequestLogStore`: the SCIM request log (docs/audit.md "SCIM request log"). Loaded once
//! per backend (see the crate documentation). Batches arrive from the server's writer task;
//! one multi-row INSERT per batch, in one transaction.

use async_trait::async_trait;
use sqlx::QueryBuilder;

use scimgate_domain::request_log::{ScimRequest, ScimRequestQuery};
use scimgate_domain::store::RequestLogStore;
use scimgate_domain::{AccountId, DomainError};

use super::common::{col, write_tx};
use super::{DIALECT, Db, DbRow, Store};
use crate::dialect::push_contains_ci;
use crate::{DbResultExt, from_micros, micros};

/// Rows per INSERT statement (14 parameters each, well under SQLite's 32,766).
const ROWS_PER_STATEMENT: usize = 200;

fn request_row(r: &DbRow) -> Result<ScimRequest, DomainError> {
    Ok(ScimRequest {
        seq: col(r, "seq")?,
        account: col(r, "account_id")?,
        at: from_micros(col(r, "at_us")?),
        method: col(r, "method")?,
        path: col(r, "path")?,
        query: col(r, "query")?,
        status: u16::try_from(col::<i64>(r, "status")?).unwrap_or(0),
        duration_us: col(r, "duration_us")?,
        principal: col(r, "principal")?,
        credential_id: col(r, "credential_id")?,
        user_agent: col(r, "user_agent")?,
        request_id: col(r, "request_id")?,
        request_body: col(r, "request_body")?,
        response_body: col(r, "response_body")?,
    })
}

#[async_trait]
impl RequestLogStore for Store {
    async fn insert_scim_requests(&self, batch: &[ScimRequest]) -> Result<(), DomainError> {
        if batch.is_empty() {
            return Ok(());
        }
        write_tx!(self, |tx| {
            for chunk in batch.chunks(ROWS_PER_STATEMENT) {
                let mut q = QueryBuilder::<Db>::new(
                    "INSERT INTO scim_requests (account_id, at_us, method, path, query, status, duration_us, \
                     principal, credential_id, user_agent, request_id, request_body, response_body) ",
                );
                q.push_values(chunk, |mut b, r| {
                    b.push_bind(r.account.clone())
                        .push_bind(micros(r.at))
                        .push_bind(r.method.clone())
                        .push_bind(r.path.clone())
                        .push_bind(r.query.clone())
                        .push_bind(i64::from(r.status))
                        .push_bind(r.duration_us)
                        .push_bind(r.principal.clone())
                        .push_bind(r.credential_id.clone())
                        .push_bind(r.user_agent.clone())
                        .push_bind(r.request_id.clone())
                        .push_bind(r.request_body.clone())
                        .push_bind(r.response_body.clone());
                });
                q.build().execute(&mut **tx).await.db()?;
            }
            Ok(())
        })
    }

    async fn list_scim_requests(
        &self,
        account: &AccountId,
        query: &ScimRequestQuery,
    ) -> Result<Vec<ScimRequest>, DomainError> {
        let mut q = QueryBuilder::<Db>::new(
            "SELECT seq, account_id, at_us, method, path, query, status, duration_us, principal, \
             credential_id, user_agent, request_id, request_body, response_body \
             FROM scim_requests WHERE account_id = ",
        );
        q.push_bind(account.as_str());
        if let Some(m) = &query.method {
            q.push(" AND method = ").push_bind(m.to_ascii_uppercase());
        }
        if let Some(class) = query.status {
            let (low, high) = class.range();
            q.push(" AND status >= ").push_bind(low).push(" AND status < ").push_bind(high);
        }
        if let Some(text) = query.path_contains.as_deref().filter(|t| !t.is_empty()) {
            q.push(" AND ");
            push_contains_ci(DIALECT, &mut q, "path", text.to_string());
        }
        if let Some(t) = query.since {
            q.push(" AND at_us >= ").push_bind(micros(t));
        }
        if let Some(t) = query.until {
            q.push(" AND at_us < ").push_bind(micros(t));
        }
        if let Some(before) = query.before {
            q.push(" AND seq < ").push_bind(before);
        }
        q.push(" ORDER BY seq DESC LIMIT ").push_bind(i64::from(query.limit));
        let rows = q.build().fetch_all(&self.pool).await.db()?;
        rows.iter().map(request_row).collect()
    }

    async fn prune_scim_requests(
        &self,
        before: time::OffsetDateTime,
        batch: u32,
    ) -> Result<u64, DomainError> {
        let done = sqlx::query(
            "DELETE FROM scim_requests WHERE seq IN (SELECT seq FROM scim_requests ORDER BY seq LIMIT $2) AND at_us < $1",
        )
        .bind(micros(before))
        .bind(i64::from(batch))
        .execute(&self.pool)
        .await
        .db()?;
        Ok(done.rows_affected())
    }
}
