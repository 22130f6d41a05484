//! `RequestLogStore`: the SCIM request log (docs/audit.md "SCIM request log"). Loaded once
//! per backend (see the crate documentation). Batches arrive from the server's writer task;
//! a few multi-row INSERTs per batch, in one transaction.

use async_trait::async_trait;
use sqlx::QueryBuilder;

use scimgate_domain::request_log::{ScimRequest, ScimRequestQuery};
use scimgate_domain::store::RequestLogStore;
use scimgate_domain::{AccountId, DomainError};

use super::common::{col, write_tx};
use super::{DIALECT, Db, DbRow, Store};
use crate::dialect::push_contains_ci;
use crate::{DbResultExt, from_micros, micros};

/// Rows per INSERT statement, at most (13 parameters each, well under SQLite's 32,766).
const ROWS_PER_STATEMENT: usize = 128;

/// The rows of the next INSERT of a batch with `left` rows still to go: 128, or the largest
/// power of two up to `left`. A statement is prepared once per row count and kept in the
/// connection's statement cache; with any count, the varying last statement of every batch
/// was prepared anew (up to 2,600 parameters to compile) and pushed the hot statements of
/// user writes out of the cache. With powers of two there are eight shapes in all.
fn statement_rows(left: usize) -> usize {
    if left >= ROWS_PER_STATEMENT { ROWS_PER_STATEMENT } else { 1 << left.max(1).ilog2() }
}

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
            let mut rest = batch;
            while !rest.is_empty() {
                let (chunk, tail) = rest.split_at(statement_rows(rest.len()));
                rest = tail;
                let mut q = QueryBuilder::<Db>::new(
                    "INSERT INTO scim_requests (account_id, at_us, method, path, query, status, duration_us, \
                     principal, credential_id, user_agent, request_id, request_body, response_body) ",
                );
                q.push_values(chunk, |mut b, r| {
                    b.push_bind(r.account.as_str())
                        .push_bind(micros(r.at))
                        .push_bind(r.method.as_str())
                        .push_bind(r.path.as_str())
                        .push_bind(r.query.as_str())
                        .push_bind(i64::from(r.status))
                        .push_bind(r.duration_us)
                        .push_bind(r.principal.as_deref())
                        .push_bind(r.credential_id.as_deref())
                        .push_bind(r.user_agent.as_deref())
                        .push_bind(r.request_id.as_deref())
                        .push_bind(r.request_body.as_deref())
                        .push_bind(r.response_body.as_deref());
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

#[cfg(test)]
mod tests {
    use super::statement_rows;

    #[test]
    fn a_batch_is_cut_into_few_statement_shapes() {
        let mut shapes = std::collections::BTreeSet::new();
        for n in 1..=1_000 {
            let (mut left, mut statements) = (n, 0);
            while left > 0 {
                let rows = statement_rows(left);
                assert!(rows >= 1 && rows <= left);
                shapes.insert(rows);
                left -= rows;
                statements += 1;
            }
            assert!(statements <= n / 128 + 7, "{n} rows took {statements} statements");
        }
        assert_eq!(shapes.into_iter().collect::<Vec<_>>(), vec![1, 2, 4, 8, 16, 32, 64, 128]);
    }
}
