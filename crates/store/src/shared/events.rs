//! `EventStore` and the outbox append every SCIM write makes (docs/events.md). Loaded once
//! per backend (see the crate documentation).
//!
//! [`append`] runs in the write's open transaction: it takes the account's next numbers from
//! `event_counters` (an upsert whose row lock, on PostgreSQL, orders the account's writers, so
//! numbers become visible in the order they were taken) and inserts the events with them. A
//! write that rolls back gives its numbers back; the only gaps are what retention removed.

use async_trait::async_trait;
use sqlx::{QueryBuilder, Row};
use time::OffsetDateTime;

use scimgate_domain::audit::AuditEntry;
use scimgate_domain::events::{Event, EventData, EventPage, EventQuery, EventType, NewEvent};
use scimgate_domain::store::EventStore;
use scimgate_domain::{AccountId, DomainError};

use super::common::write_tx;
use super::{Db, DbConn, Store};
use crate::{DbResultExt, from_micros, micros};

/// Events per INSERT (8 parameters each: far below either engine's limit).
const INSERT_CHUNK: usize = 500;

/// Appends `events` for `account` on `conn`, a write transaction's connection, with the
/// time and request of the write's audit entry.
pub(super) async fn append(
    conn: &mut DbConn,
    account: &AccountId,
    audit: &AuditEntry,
    events: &[NewEvent],
) -> Result<(), DomainError> {
    if events.is_empty() {
        return Ok(());
    }
    let n = i64::try_from(events.len()).unwrap_or(i64::MAX);
    let last: i64 = sqlx::query_scalar(
        "INSERT INTO event_counters (account_id, last_seq) VALUES ($1, $2) ON CONFLICT (account_id) \
         DO UPDATE SET last_seq = event_counters.last_seq + excluded.last_seq RETURNING last_seq",
    )
    .bind(account.as_str())
    .bind(n)
    .fetch_one(&mut *conn)
    .await
    .db()?;
    let at = micros(audit.at);
    let request_id = audit.actor.request_id.as_deref();
    let mut seq = last - n + 1;
    for chunk in events.chunks(INSERT_CHUNK) {
        let mut q = QueryBuilder::<Db>::new(
            "INSERT INTO events (account_id, seq, id, type, resource_id, occurred_us, request_id, data) ",
        );
        q.push_values(chunk, |mut b, e| {
            b.push_bind(account.as_str().to_string())
                .push_bind(seq)
                .push_bind(e.id.clone())
                .push_bind(e.event_type.as_str())
                .push_bind(e.resource_id.clone())
                .push_bind(at)
                .push_bind(request_id.map(str::to_string))
                .push_bind(e.data.to_json());
            seq += 1;
        });
        q.build().execute(&mut *conn).await.db()?;
    }
    Ok(())
}

fn event(account: &AccountId, r: &super::DbRow) -> Result<Event, DomainError> {
    let t: String = r.try_get("type").db()?;
    let event_type =
        EventType::parse(&t).ok_or_else(|| DomainError::Internal(format!("stored event type '{t}'")))?;
    let data: String = r.try_get("data").db()?;
    Ok(Event {
        account: account.clone(),
        seq: r.try_get("seq").db()?,
        id: r.try_get("id").db()?,
        event_type,
        resource_id: r.try_get("resource_id").db()?,
        occurred: from_micros(r.try_get("occurred_us").db()?),
        request_id: r.try_get("request_id").db()?,
        data: EventData::from_json(event_type, &data).map_err(DomainError::Internal)?,
    })
}

#[async_trait]
impl EventStore for Store {
    async fn list_events(&self, account: &AccountId, query: &EventQuery) -> Result<EventPage, DomainError> {
        // The newest number first: every event up to it has committed (numbers are taken in
        // commit order), so a page that ends early can say the reader has seen up to there.
        let (latest, pruned) = self.counters(account).await?;
        let after = query.after.unwrap_or(pruned);
        if after > latest {
            return Err(DomainError::invalid(format!(
                "the cursor {after} is past this account's newest event ({latest}): pass the 'next' of a \
                 previous page"
            )));
        }
        if after < pruned {
            return Err(DomainError::Gone(format!(
                "events {} to {pruned} are no longer kept (the server keeps events for --event-retention); \
                 read the users and groups again, then follow the feed from after={pruned}",
                after + 1
            )));
        }
        if after == latest {
            return Ok(EventPage { events: vec![], next: after });
        }
        let mut q = QueryBuilder::<Db>::new(
            "SELECT seq, id, type, resource_id, occurred_us, request_id, data FROM events WHERE account_id = ",
        );
        q.push_bind(account.as_str())
            .push(" AND seq > ")
            .push_bind(after)
            .push(" AND seq <= ")
            .push_bind(latest);
        if let Some(types) = &query.types {
            q.push(" AND type IN (");
            let mut list = q.separated(", ");
            for t in types {
                list.push_bind(t.as_str());
            }
            q.push(")");
        }
        q.push(" ORDER BY seq LIMIT ").push_bind(i64::from(query.limit));
        let rows = q.build().fetch_all(self.pool()).await.db()?;
        let events = rows.iter().map(|r| event(account, r)).collect::<Result<Vec<_>, _>>()?;
        let next = match events.last() {
            Some(e) if events.len() == query.limit as usize => e.seq,
            _ => latest,
        };
        Ok(EventPage { events, next })
    }

    async fn latest_event(&self, account: &AccountId) -> Result<i64, DomainError> {
        Ok(self.counters(account).await?.0)
    }

    async fn prune_events(&self, before: OffsetDateTime, batch: u32) -> Result<u64, DomainError> {
        write_tx!(self, |tx| {
            let gone: Vec<(String, i64)> = sqlx::query_as(
                "DELETE FROM events WHERE (account_id, seq) IN (SELECT account_id, seq FROM events \
                 WHERE occurred_us < $1 ORDER BY occurred_us LIMIT $2) RETURNING account_id, seq",
            )
            .bind(micros(before))
            .bind(i64::from(batch))
            .fetch_all(&mut **tx)
            .await
            .db()?;
            // Each account's watermark moves to the newest number deleted, so that a cursor
            // before it is told it missed events.
            let mut newest: std::collections::BTreeMap<&str, i64> = std::collections::BTreeMap::new();
            for (account, seq) in &gone {
                let n = newest.entry(account.as_str()).or_insert(*seq);
                *n = (*n).max(*seq);
            }
            for (account, seq) in newest {
                sqlx::query(
                    "UPDATE event_counters SET pruned_through = CASE WHEN pruned_through < $1 THEN $1 \
                     ELSE pruned_through END WHERE account_id = $2",
                )
                .bind(seq)
                .bind(account)
                .execute(&mut **tx)
                .await
                .db()?;
            }
            Ok(gone.len() as u64)
        })
    }
}

impl Store {
    /// The account's newest event number and retention's watermark (0, 0 before its first
    /// event).
    async fn counters(&self, account: &AccountId) -> Result<(i64, i64), DomainError> {
        let row: Option<(i64, i64)> =
            sqlx::query_as("SELECT last_seq, pruned_through FROM event_counters WHERE account_id = $1")
                .bind(account.as_str())
                .fetch_optional(self.pool())
                .await
                .db()?;
        Ok(row.unwrap_or((0, 0)))
    }
}

#[cfg(test)]
#[path = "events_tests.rs"]
mod tests;
