//! `EventStore` and the outbox append every SCIM write makes (docs/events.md). Loaded once
//! per backend (see the crate documentation).
//!
//! [`append`] runs in the write's open transaction and takes the account's next numbers: on
//! PostgreSQL from `event_counters` (an upsert whose row lock orders the account's writers, so
//! numbers become visible in the order they were taken); on SQLite, whose writers are one at
//! a time anyway, as the newest number in `events` plus one (no counter row to rewrite on
//! every commit: that page was a tenth of a write's WAL). A write that rolls back gives its
//! numbers back; the only gaps are what retention removed, which `pruned_through` records.
//! The newest number is therefore read the same way on both: the newest event, else the
//! watermark.

use async_trait::async_trait;
use sqlx::{QueryBuilder, Row};
use time::OffsetDateTime;

use scimgate_domain::audit::AuditEntry;
use scimgate_domain::events::{Event, EventData, EventPage, EventQuery, EventType, NewEvent};
use scimgate_domain::store::EventStore;
use scimgate_domain::{AccountId, DomainError};

use super::common::{DbQuery, write_tx};
use super::{DIALECT, Db, DbConn, Store};
use crate::query::Dialect;
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
    let last: i64 = match DIALECT {
        Dialect::Postgres => sqlx::query_scalar(
            "INSERT INTO event_counters (account_id, last_seq) VALUES ($1, $2) ON CONFLICT (account_id) \
             DO UPDATE SET last_seq = event_counters.last_seq + excluded.last_seq RETURNING last_seq",
        )
        .bind(account.as_str())
        .bind(n)
        .fetch_one(&mut *conn)
        .await
        .db()?,
        Dialect::Sqlite => {
            let newest: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT {}", newest_sql(1))))
                .bind(account.as_str())
                .fetch_one(&mut *conn)
                .await
                .db()?;
            newest + n
        }
    };
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
                .push_bind(e.data.clone());
            seq += 1;
        });
        q.build().execute(&mut *conn).await.db()?;
    }
    Ok(())
}

/// The account's newest event number as an SQL expression, the account being parameter
/// `$account`: the newest event kept, else retention's watermark, else 0.
pub(super) fn newest_sql(account: usize) -> String {
    format!(
        "COALESCE((SELECT max(seq) FROM events WHERE account_id = ${account}), \
         (SELECT pruned_through FROM event_counters WHERE account_id = ${account}), 0)"
    )
}

/// The statement that appends one event, to ride along in a write's own query where the
/// engine allows it (`audit::APPENDS`, SQLite only): the account is parameter `$account`
/// (already bound by the write), the event's six parameters are numbered from `$from`
/// ([`bind_one`]).
pub(super) fn append_one_sql(account: usize, from: usize) -> String {
    format!(
        "INSERT INTO events (account_id, seq, id, type, resource_id, occurred_us, request_id, data) VALUES \
         (${account}, {} + 1, ${}, ${}, ${}, ${}, ${}, ${})",
        newest_sql(account),
        from,
        from + 1,
        from + 2,
        from + 3,
        from + 4,
        from + 5
    )
}

/// Binds the six parameters of [`append_one_sql`], after the ones `q` already has.
pub(super) fn bind_one<'q>(q: DbQuery<'q>, audit: &AuditEntry, e: &NewEvent) -> DbQuery<'q> {
    q.bind(e.id.clone())
        .bind(e.event_type.as_str())
        .bind(e.resource_id.clone())
        .bind(micros(audit.at))
        .bind(audit.actor.request_id.clone())
        .bind(e.data.clone())
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
        // Account by account, oldest numbers first (an account's events are in time order, but
        // for clock differences between nodes: an event older than one before it waits for a
        // later pass), so no index on the time is needed and appends write one page less.
        let accounts: Vec<String> =
            sqlx::query_scalar("SELECT id FROM accounts ORDER BY id").fetch_all(self.pool()).await.db()?;
        let mut done = 0u64;
        for account in accounts {
            while done < u64::from(batch) {
                let want = u64::from(batch) - done;
                let gone: Vec<i64> = write_tx!(self, |tx| {
                    let gone: Vec<i64> = sqlx::query_scalar(
                        "DELETE FROM events WHERE account_id = $1 AND seq IN (SELECT seq FROM events \
                         WHERE account_id = $2 ORDER BY seq LIMIT $3) AND occurred_us < $4 RETURNING seq",
                    )
                    .bind(&account)
                    .bind(&account)
                    .bind(i64::try_from(want).unwrap_or(i64::MAX))
                    .bind(micros(before))
                    .fetch_all(&mut **tx)
                    .await
                    .db()?;
                    // The watermark moves to the newest number deleted, so that a cursor
                    // before it is told it missed events.
                    if let Some(newest) = gone.iter().max() {
                        sqlx::query(
                            "INSERT INTO event_counters (account_id, last_seq, pruned_through) VALUES ($1, $2, $3) \
                             ON CONFLICT (account_id) DO UPDATE SET pruned_through = CASE WHEN \
                             event_counters.pruned_through < excluded.pruned_through THEN excluded.pruned_through \
                             ELSE event_counters.pruned_through END",
                        )
                        .bind(&account)
                        .bind(newest)
                        .bind(newest)
                        .execute(&mut **tx)
                        .await
                        .db()?;
                    }
                    Ok(gone)
                })?;
                done += gone.len() as u64;
                if (gone.len() as u64) < want {
                    break;
                }
            }
        }
        Ok(done)
    }
}

impl Store {
    /// The account's newest event number and retention's watermark (0, 0 before its first
    /// event).
    async fn counters(&self, account: &AccountId) -> Result<(i64, i64), DomainError> {
        let row: (i64, i64) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {}, COALESCE((SELECT pruned_through FROM event_counters WHERE account_id = $1), 0)",
            newest_sql(1)
        )))
        .bind(account.as_str())
        .fetch_one(self.pool())
        .await
        .db()?;
        Ok(row)
    }
}

#[cfg(test)]
#[path = "events_tests.rs"]
mod tests;
