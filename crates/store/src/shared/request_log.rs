//! `RequestLogStore`: the SCIM request log (docs/audit.md "How it is stored"). Loaded once
//! per backend (see the crate documentation). Batches arrive from the server's writer task;
//! each becomes one segment row per account ([`crate::segment`]), in one transaction.
//!
//! Rows of the table before segments (`scim_requests`, migration 0004) are still read after
//! the segments, and pruned, until retention has emptied it: migration 0005 started segment
//! positions above theirs, so newest first stays one order.

use async_trait::async_trait;
use sqlx::QueryBuilder;

use scimgate_domain::request_log::{ScimRequest, ScimRequestQuery};
use scimgate_domain::store::RequestLogStore;
use scimgate_domain::{AccountId, DomainError};

use super::common::{col, write_tx};
use super::{DIALECT, Db, DbRow, Store};
use crate::dialect::push_contains_ci;
use crate::segment::{self, SPAN};
use crate::{DbResultExt, from_micros, micros};

/// Segment rows per INSERT statement, at most (7 parameters each).
const ROWS_PER_STATEMENT: usize = 64;
/// Segments a query reads per statement while it fills a page.
const SEGMENTS_PER_READ: i64 = 8;

/// The rows of the next INSERT with `left` rows still to go: [`ROWS_PER_STATEMENT`], or the
/// largest power of two up to `left`, so that a few statement shapes are prepared once and
/// stay in the connection's statement cache (a new shape per batch size pushed the hot
/// statements of user writes out of it).
fn statement_rows(left: usize) -> usize {
    if left >= ROWS_PER_STATEMENT { ROWS_PER_STATEMENT } else { 1 << left.max(1).ilog2() }
}

/// A batch's records grouped by account (in the order the accounts first appear), each group
/// cut at [`SPAN`] records, oldest first.
///
/// The group is looked up by a scan from the newest: a batch (at most 500 records) holds few
/// accounts, and the one of the previous record is found first.
fn by_account(batch: &[ScimRequest]) -> Vec<Vec<&ScimRequest>> {
    let mut groups: Vec<Vec<&ScimRequest>> = Vec::new();
    for r in batch {
        match groups.iter_mut().rev().find(|g| g[0].account == r.account) {
            Some(g) if g.len() < SPAN as usize => g.push(r),
            _ => groups.push(vec![r]),
        }
    }
    groups
}

/// Whether a decoded record matches what the segment columns could not decide.
fn matches(r: &ScimRequest, q: &ScimRequestQuery, method: Option<&str>, path: Option<&str>) -> bool {
    let micros_at = micros(r.at);
    method.is_none_or(|m| r.method == m)
        && q.status.is_none_or(|c| {
            let (low, high) = c.range();
            (low..high).contains(&i64::from(r.status))
        })
        && path.is_none_or(|p| r.path.to_lowercase().contains(p))
        && q.since.is_none_or(|t| micros_at >= micros(t))
        && q.until.is_none_or(|t| micros_at < micros(t))
        && q.before.is_none_or(|b| r.seq < b)
}

fn legacy_row(r: &DbRow) -> Result<ScimRequest, DomainError> {
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

impl Store {
    /// Runs a prune statement (`$1` the time, `$2` the batch); returns the rows it deleted.
    async fn prune_oldest(
        &self,
        sql: &'static str,
        before: time::OffsetDateTime,
        batch: u32,
    ) -> Result<u64, DomainError> {
        let done =
            sqlx::query(sql).bind(micros(before)).bind(i64::from(batch)).execute(&self.pool).await.db()?;
        Ok(done.rows_affected())
    }

    /// Up to `limit` matching rows of the table before segments, newest first.
    async fn legacy_requests(
        &self,
        account: &AccountId,
        query: &ScimRequestQuery,
        method: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ScimRequest>, DomainError> {
        let mut q = QueryBuilder::<Db>::new(
            "SELECT seq, account_id, at_us, method, path, query, status, duration_us, principal, \
             credential_id, user_agent, request_id, request_body, response_body \
             FROM scim_requests WHERE account_id = ",
        );
        q.push_bind(account.as_str());
        if let Some(m) = method {
            q.push(" AND method = ").push_bind(m.to_string());
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
        q.push(" ORDER BY seq DESC LIMIT ").push_bind(limit as i64);
        let rows = q.build().fetch_all(&self.pool).await.db()?;
        rows.iter().map(legacy_row).collect()
    }
}

#[async_trait]
impl RequestLogStore for Store {
    async fn insert_scim_requests(&self, batch: &[ScimRequest]) -> Result<(), DomainError> {
        if batch.is_empty() {
            return Ok(());
        }
        let segments: Vec<(&str, segment::Encoded)> = by_account(batch)
            .iter()
            .map(|records| (records[0].account.as_str(), segment::encode(records)))
            .collect();
        write_tx!(self, |tx| {
            let mut rest = segments.as_slice();
            while !rest.is_empty() {
                let (chunk, tail) = rest.split_at(statement_rows(rest.len()));
                rest = tail;
                let mut q = QueryBuilder::<Db>::new(
                    "INSERT INTO scim_request_segments \
                     (account_id, first_at_us, last_at_us, methods, statuses, records, data) ",
                );
                q.push_values(chunk, |mut b, (account, s)| {
                    b.push_bind(*account)
                        .push_bind(s.first_at_us)
                        .push_bind(s.last_at_us)
                        .push_bind(s.methods)
                        .push_bind(s.statuses)
                        .push_bind(s.records)
                        .push_bind(s.data.as_slice());
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
        let limit = query.limit as usize;
        let method = query.method.as_deref().map(str::to_ascii_uppercase);
        let path = query.path_contains.as_deref().filter(|t| !t.is_empty()).map(str::to_lowercase);
        let mut out = Vec::new();
        if limit == 0 {
            return Ok(out);
        }
        // Segments whose records all lie before the cursor's, newest first.
        let mut upper = query.before.map(|b| (b - 1).div_euclid(SPAN));
        'segments: loop {
            let mut q =
                QueryBuilder::<Db>::new("SELECT id, data FROM scim_request_segments WHERE account_id = ");
            q.push_bind(account.as_str());
            if let Some(upper) = upper {
                q.push(" AND id <= ").push_bind(upper);
            }
            if let Some(m) = &method {
                q.push(" AND (methods & ").push_bind(segment::method_bit(m)).push(") <> 0");
            }
            if let Some(class) = query.status {
                q.push(" AND (statuses & ").push_bind(segment::class_bit(class)).push(") <> 0");
            }
            if let Some(t) = query.since {
                q.push(" AND last_at_us >= ").push_bind(micros(t));
            }
            if let Some(t) = query.until {
                q.push(" AND first_at_us < ").push_bind(micros(t));
            }
            q.push(" ORDER BY id DESC LIMIT ").push_bind(SEGMENTS_PER_READ);
            let rows = q.build().fetch_all(&self.pool).await.db()?;
            for row in &rows {
                let id: i64 = col(row, "id")?;
                let data: Vec<u8> = col(row, "data")?;
                let records = segment::decode(account.as_str(), id, &data).map_err(DomainError::Internal)?;
                for r in records.into_iter().rev() {
                    if matches(&r, query, method.as_deref(), path.as_deref()) {
                        out.push(r);
                        if out.len() == limit {
                            break 'segments;
                        }
                    }
                }
                upper = Some(id - 1);
            }
            if (rows.len() as i64) < SEGMENTS_PER_READ {
                let more = self.legacy_requests(account, query, method.as_deref(), limit - out.len()).await?;
                out.extend(more);
                break;
            }
        }
        Ok(out)
    }

    async fn prune_scim_requests(
        &self,
        before: time::OffsetDateTime,
        batch: u32,
    ) -> Result<u64, DomainError> {
        let legacy = self
            .prune_oldest(
                "DELETE FROM scim_requests WHERE seq IN \
                 (SELECT seq FROM scim_requests ORDER BY seq LIMIT $2) AND at_us < $1",
                before,
                batch,
            )
            .await?;
        if legacy >= u64::from(batch) {
            return Ok(legacy);
        }
        let segments = self
            .prune_oldest(
                "DELETE FROM scim_request_segments WHERE id IN \
                 (SELECT id FROM scim_request_segments ORDER BY id LIMIT $2) AND last_at_us < $1",
                before,
                batch,
            )
            .await?;
        Ok(legacy + segments)
    }
}

#[cfg(test)]
#[path = "request_log_tests.rs"]
mod tests;
