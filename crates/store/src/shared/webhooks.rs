//! `WebhookStore`: subscriptions, their leases and their delivery log (docs/events.md
//! "Webhooks"). Loaded once per backend (see the crate documentation).
//!
//! A node takes a lease on a subscription that has something due ([`claim_webhooks`]: one
//! UPDATE, whose candidate rows PostgreSQL locks with `FOR UPDATE SKIP LOCKED` so that two
//! nodes never wait on or take the same one) and writes its progress only while the lease is
//! still its own ([`record_progress`]).
//!
//! [`claim_webhooks`]: WebhookStore::claim_webhooks
//! [`record_progress`]: WebhookStore::record_progress

use async_trait::async_trait;
use serde_json::Value;
use sqlx::QueryBuilder;
use time::OffsetDateTime;

use scimgate_domain::audit::AuditEntry;
use scimgate_domain::poll::PollState;
use scimgate_domain::store::{WebhookProgress, WebhookStore};
use scimgate_domain::webhooks::{
    Delivery, EventFilter, MAX_PER_ACCOUNT, Webhook, WebhookDelivery, WebhookFormat, WebhookInput,
    WebhookStatus,
};
use scimgate_domain::{AccountId, DomainError};

use super::common::{col, write_tx};
use super::{DIALECT, Db, DbRow, Store, audit};
use crate::dialect::skip_locked;
use crate::{DbResultExt, from_micros, micros};

const COLUMNS: &str = "account_id, identifier, url, events, format, delivery, enabled, status, secret, previous_secret, \
     previous_until_us, cursor_seq, attempts, first_failure_us, next_attempt_us, last_error, created_us, modified_us";

const DELIVERY_COLUMNS: &str = "id, webhook, event_id, event_seq, event_type, attempt, at_us, status, duration_ms, \
     ok, error, response, redelivery";

fn not_found(identifier: &str) -> DomainError {
    DomainError::NotFound(format!("webhook '{identifier}' not found"))
}

fn webhook(r: &DbRow) -> Result<Webhook, DomainError> {
    let events: String = col(r, "events")?;
    let events = serde_json::from_str::<Value>(&events)
        .map_err(|e| DomainError::Internal(format!("stored webhook events: {e}")))
        .and_then(|v| EventFilter::parse(&v))?;
    let format: String = col(r, "format")?;
    let status: String = col(r, "status")?;
    let previous: Option<String> = col(r, "previous_secret")?;
    let until: Option<i64> = col(r, "previous_until_us")?;
    let enabled: i64 = col(r, "enabled")?;
    Ok(Webhook {
        identifier: col(r, "identifier")?,
        url: col(r, "url")?,
        events,
        format: WebhookFormat::parse(&format).unwrap_or(WebhookFormat::Standard),
        delivery: WebhookDelivery::parse(&col::<String>(r, "delivery")?).unwrap_or(WebhookDelivery::Push),
        enabled: enabled != 0,
        status: WebhookStatus::parse(&status),
        secret: col(r, "secret")?,
        previous_secret: previous.zip(until.map(from_micros)),
        cursor: col(r, "cursor_seq")?,
        attempts: col(r, "attempts")?,
        first_failure: col::<Option<i64>>(r, "first_failure_us")?.map(from_micros),
        next_attempt: from_micros(col(r, "next_attempt_us")?),
        last_error: col(r, "last_error")?,
        created: from_micros(col(r, "created_us")?),
        modified: from_micros(col(r, "modified_us")?),
    })
}

fn delivery(r: &DbRow) -> Result<Delivery, DomainError> {
    let ok: i64 = col(r, "ok")?;
    let redelivery: i64 = col(r, "redelivery")?;
    Ok(Delivery {
        id: col(r, "id")?,
        webhook: col(r, "webhook")?,
        event_id: col(r, "event_id")?,
        event_seq: col(r, "event_seq")?,
        event_type: col(r, "event_type")?,
        attempt: col(r, "attempt")?,
        at: from_micros(col(r, "at_us")?),
        status: col(r, "status")?,
        duration_ms: col(r, "duration_ms")?,
        ok: ok != 0,
        error: col(r, "error")?,
        response: col(r, "response")?,
        redelivery: redelivery != 0,
    })
}

/// Inserts delivery rows on `conn`; returns them with their ids.
async fn insert_deliveries(
    conn: &mut super::DbConn,
    account: &AccountId,
    deliveries: &[Delivery],
) -> Result<Vec<Delivery>, DomainError> {
    let mut out = Vec::with_capacity(deliveries.len());
    for chunk in deliveries.chunks(200) {
        let mut q = QueryBuilder::<Db>::new(
            "INSERT INTO webhook_deliveries (account_id, webhook, event_id, event_seq, event_type, attempt, at_us, \
             status, duration_ms, ok, error, response, redelivery) ",
        );
        q.push_values(chunk, |mut b, d| {
            b.push_bind(account.as_str().to_string())
                .push_bind(d.webhook.clone())
                .push_bind(d.event_id.clone())
                .push_bind(d.event_seq)
                .push_bind(d.event_type.clone())
                .push_bind(d.attempt)
                .push_bind(micros(d.at))
                .push_bind(d.status)
                .push_bind(d.duration_ms)
                .push_bind(i64::from(d.ok))
                .push_bind(d.error.clone())
                .push_bind(d.response.clone())
                .push_bind(i64::from(d.redelivery));
        });
        q.push(" RETURNING id");
        let ids: Vec<i64> = q.build_query_scalar().fetch_all(&mut *conn).await.db()?;
        out.extend(chunk.iter().zip(ids).map(|(d, id)| Delivery { id, ..d.clone() }));
    }
    Ok(out)
}

/// The out-of-order acknowledgements of a polled subscription.
async fn set_acks<'e, E: sqlx::Executor<'e, Database = Db>>(
    executor: E,
    account: &AccountId,
    identifier: &str,
) -> Result<std::collections::BTreeSet<String>, DomainError> {
    let acks: Vec<String> =
        sqlx::query_scalar("SELECT event_id FROM set_acks WHERE account_id = $1 AND webhook = $2")
            .bind(account.as_str())
            .bind(identifier)
            .fetch_all(executor)
            .await
            .db()?;
    Ok(acks.into_iter().collect())
}

impl Store {
    async fn webhook_row(&self, account: &AccountId, identifier: &str) -> Result<Webhook, DomainError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM webhooks WHERE account_id = $1 AND identifier = $2"
        )))
        .bind(account.as_str())
        .bind(identifier)
        .fetch_optional(self.pool())
        .await
        .db()?
        .ok_or_else(|| not_found(identifier))?;
        webhook(&row)
    }
}

#[async_trait]
impl WebhookStore for Store {
    async fn create_webhook(
        &self,
        account: &AccountId,
        hook: &Webhook,
        audit: &AuditEntry,
    ) -> Result<Webhook, DomainError> {
        write_tx!(self, |tx| {
            let count: i64 = sqlx::query_scalar("SELECT count(*) FROM webhooks WHERE account_id = $1")
                .bind(account.as_str())
                .fetch_one(&mut **tx)
                .await
                .db()?;
            if count >= MAX_PER_ACCOUNT as i64 {
                return Err(DomainError::invalid(format!(
                    "an account can have at most {MAX_PER_ACCOUNT} webhooks; delete one first"
                )));
            }
            audit::insert(tx, account, audit).await?;
            // It starts after the account's newest event: it receives what happens from now on.
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "INSERT INTO webhooks (account_id, identifier, url, events, format, enabled, status, secret, \
                 cursor_seq, next_attempt_us, created_us, modified_us, delivery, poll_sent_through) \
                 VALUES ($1, $2, $3, $4, $5, $6, 'active', $7, \
                 {0}, $9, $10, $11, $12, {0})",
                super::events::newest_sql(8)
            )))
            .bind(account.as_str())
            .bind(&hook.identifier)
            .bind(&hook.url)
            .bind(hook.events.to_json().to_string())
            .bind(hook.format.as_str())
            .bind(i64::from(hook.enabled))
            .bind(&hook.secret)
            .bind(account.as_str())
            .bind(micros(hook.next_attempt))
            .bind(micros(hook.created))
            .bind(micros(hook.modified))
            .bind(hook.delivery.as_str())
            .execute(&mut **tx)
            .await
            .on_unique(|| format!("a webhook with identifier '{}' already exists", hook.identifier))?;
            Ok(())
        })?;
        self.webhook_row(account, &hook.identifier).await
    }

    async fn get_webhook(&self, account: &AccountId, identifier: &str) -> Result<Webhook, DomainError> {
        self.webhook_row(account, identifier).await
    }

    async fn list_webhooks(&self, account: &AccountId) -> Result<Vec<Webhook>, DomainError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM webhooks WHERE account_id = $1 ORDER BY identifier"
        )))
        .bind(account.as_str())
        .fetch_all(self.pool())
        .await
        .db()?;
        rows.iter().map(webhook).collect()
    }

    async fn update_webhook(
        &self,
        account: &AccountId,
        input: &WebhookInput,
        now: OffsetDateTime,
        audit: &AuditEntry,
    ) -> Result<Webhook, DomainError> {
        write_tx!(self, |tx| {
            audit::insert(tx, account, audit).await?;
            // Enabling a failing subscription starts it over at the event it was stuck on.
            let done = sqlx::query(
                "UPDATE webhooks SET url = $1, events = $2, format = $3, \
                 status = CASE WHEN $4 = 1 AND enabled = 0 THEN 'active' ELSE status END, \
                 attempts = CASE WHEN $4 = 1 AND enabled = 0 THEN 0 ELSE attempts END, \
                 first_failure_us = CASE WHEN $4 = 1 AND enabled = 0 THEN NULL ELSE first_failure_us END, \
                 next_attempt_us = CASE WHEN $4 = 1 AND enabled = 0 THEN $5 ELSE next_attempt_us END, \
                 poll_sent_through = CASE WHEN delivery = $8 THEN poll_sent_through ELSE cursor_seq END, \
                 enabled = $4, modified_us = $5, delivery = $8 WHERE account_id = $6 AND identifier = $7",
            )
            .bind(input.url.trim())
            .bind(input.events.to_json().to_string())
            .bind(input.format.as_str())
            .bind(i64::from(input.enabled))
            .bind(micros(now))
            .bind(account.as_str())
            .bind(&input.identifier)
            .bind(input.delivery.as_str())
            .execute(&mut **tx)
            .await
            .db()?;
            if done.rows_affected() == 0 {
                return Err(not_found(&input.identifier));
            }
            Ok(())
        })?;
        self.webhook_row(account, &input.identifier).await
    }

    async fn delete_webhook(
        &self,
        account: &AccountId,
        identifier: &str,
        audit: &AuditEntry,
    ) -> Result<(), DomainError> {
        write_tx!(self, |tx| {
            audit::insert(tx, account, audit).await?;
            let done = sqlx::query("DELETE FROM webhooks WHERE account_id = $1 AND identifier = $2")
                .bind(account.as_str())
                .bind(identifier)
                .execute(&mut **tx)
                .await
                .db()?;
            if done.rows_affected() == 0 {
                return Err(not_found(identifier));
            }
            for table in ["webhook_deliveries", "set_acks"] {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DELETE FROM {table} WHERE account_id = $1 AND webhook = $2"
                )))
                .bind(account.as_str())
                .bind(identifier)
                .execute(&mut **tx)
                .await
                .db()?;
            }
            Ok(())
        })
    }

    async fn rotate_webhook_secret(
        &self,
        account: &AccountId,
        identifier: &str,
        secret: &str,
        grace_until: OffsetDateTime,
        now: OffsetDateTime,
        audit: &AuditEntry,
    ) -> Result<Webhook, DomainError> {
        write_tx!(self, |tx| {
            audit::insert(tx, account, audit).await?;
            let done = sqlx::query(
                "UPDATE webhooks SET previous_secret = secret, previous_until_us = $1, secret = $2, modified_us = $3 \
                 WHERE account_id = $4 AND identifier = $5",
            )
            .bind(micros(grace_until))
            .bind(secret)
            .bind(micros(now))
            .bind(account.as_str())
            .bind(identifier)
            .execute(&mut **tx)
            .await
            .db()?;
            if done.rows_affected() == 0 {
                return Err(not_found(identifier));
            }
            Ok(())
        })?;
        self.webhook_row(account, identifier).await
    }

    async fn list_deliveries(
        &self,
        account: &AccountId,
        identifier: &str,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Delivery>, DomainError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE account_id = $1 AND webhook = $2 AND id < $3 \
             ORDER BY id DESC LIMIT $4"
        )))
        .bind(account.as_str())
        .bind(identifier)
        .bind(before.unwrap_or(i64::MAX))
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await
        .db()?;
        rows.iter().map(delivery).collect()
    }

    async fn get_delivery(
        &self,
        account: &AccountId,
        identifier: &str,
        id: i64,
    ) -> Result<Delivery, DomainError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE account_id = $1 AND webhook = $2 AND id = $3"
        )))
        .bind(account.as_str())
        .bind(identifier)
        .bind(id)
        .fetch_optional(self.pool())
        .await
        .db()?
        .ok_or_else(|| DomainError::NotFound(format!("delivery {id} of webhook '{identifier}' not found")))?;
        delivery(&row)
    }

    async fn insert_deliveries(
        &self,
        account: &AccountId,
        deliveries: &[Delivery],
    ) -> Result<Vec<Delivery>, DomainError> {
        write_tx!(self, |tx| { insert_deliveries(tx, account, deliveries).await })
    }

    async fn any_active_webhook(&self) -> Result<bool, DomainError> {
        let any: Option<i64> = sqlx::query_scalar(
            "SELECT CAST(1 AS BIGINT) FROM webhooks WHERE enabled = 1 AND status = 'active' \
             AND delivery = 'push' LIMIT 1",
        )
        .fetch_optional(self.pool())
        .await
        .db()?;
        Ok(any.is_some())
    }

    async fn claim_webhooks(
        &self,
        node: &str,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<(AccountId, Webhook)>, DomainError> {
        const DUE: &str = "w.enabled = 1 AND w.status = 'active' AND w.delivery = 'push' AND w.next_attempt_us <= $1 \
             AND w.lease_until_us <= $1 \
             AND EXISTS (SELECT 1 FROM events e WHERE e.account_id = w.account_id AND e.seq > w.cursor_seq)";
        // A read first: most rounds find nothing due, and a read takes no write lock (a write
        // transaction per SCIM write doubled a write's cost on SQLite).
        let due: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT w.cursor_seq FROM webhooks w WHERE {DUE} LIMIT 1"
        )))
        .bind(micros(now))
        .fetch_optional(self.pool())
        .await
        .db()?;
        if due.is_none() {
            return Ok(vec![]);
        }
        let rows = write_tx!(self, |tx| {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE webhooks SET lease_owner = $2, lease_until_us = $3 WHERE (account_id, identifier) IN \
                 (SELECT w.account_id, w.identifier FROM webhooks w WHERE {DUE} \
                 ORDER BY w.next_attempt_us LIMIT $4{}) RETURNING {COLUMNS}",
                skip_locked(DIALECT, "w")
            )))
            .bind(micros(now))
            .bind(node)
            .bind(micros(lease_until))
            .bind(i64::from(limit))
            .fetch_all(&mut **tx)
            .await
            .db()
        })?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let account: String = col(r, "account_id")?;
            let Ok(account) = AccountId::parse(&account) else { continue };
            out.push((account, webhook(r)?));
        }
        Ok(out)
    }

    async fn record_progress(
        &self,
        account: &AccountId,
        identifier: &str,
        node: &str,
        progress: &WebhookProgress,
        deliveries: &[Delivery],
    ) -> Result<bool, DomainError> {
        write_tx!(self, |tx| {
            let failing = progress.status == WebhookStatus::Failing;
            let done = sqlx::query(
                "UPDATE webhooks SET cursor_seq = $1, attempts = $2, first_failure_us = $3, next_attempt_us = $4, \
                 status = $5, enabled = CASE WHEN $6 = 1 THEN 0 ELSE enabled END, last_error = $7, \
                 lease_until_us = $8 WHERE account_id = $9 AND identifier = $10 AND lease_owner = $11 \
                 AND enabled = 1",
            )
            .bind(progress.cursor)
            .bind(progress.attempts)
            .bind(progress.first_failure.map(micros))
            .bind(micros(progress.next_attempt))
            .bind(progress.status.as_str())
            .bind(i64::from(failing))
            .bind(&progress.last_error)
            .bind(micros(progress.lease_until))
            .bind(account.as_str())
            .bind(identifier)
            .bind(node)
            .execute(&mut **tx)
            .await
            .db()?;
            if done.rows_affected() == 0 {
                return Ok(false);
            }
            insert_deliveries(tx, account, deliveries).await?;
            Ok(true)
        })
    }

    async fn prune_deliveries(&self, before: OffsetDateTime, batch: u32) -> Result<u64, DomainError> {
        let done = sqlx::query(
            "DELETE FROM webhook_deliveries WHERE id IN \
             (SELECT id FROM webhook_deliveries WHERE at_us < $1 ORDER BY id LIMIT $2)",
        )
        .bind(micros(before))
        .bind(i64::from(batch))
        .execute(self.pool())
        .await
        .db()?;
        Ok(done.rows_affected())
    }

    async fn poll_state(&self, account: &AccountId, identifier: &str) -> Result<PollState, DomainError> {
        let row = sqlx::query(
            "SELECT cursor_seq, poll_sent_through, poll_sent_us FROM webhooks \
             WHERE account_id = $1 AND identifier = $2",
        )
        .bind(account.as_str())
        .bind(identifier)
        .fetch_optional(self.pool())
        .await
        .db()?
        .ok_or_else(|| not_found(identifier))?;
        let acks = set_acks(self.pool(), account, identifier).await?;
        let sent_us: i64 = col(&row, "poll_sent_us")?;
        Ok(PollState {
            cursor: col(&row, "cursor_seq")?,
            sent_through: col(&row, "poll_sent_through")?,
            sent_at: (sent_us != 0).then(|| from_micros(sent_us)),
            acks,
        })
    }

    async fn record_poll(
        &self,
        account: &AccountId,
        identifier: &str,
        expected: &PollState,
        new: &PollState,
        deliveries: &[Delivery],
    ) -> Result<bool, DomainError> {
        let us = |at: Option<OffsetDateTime>| at.map_or(0, micros);
        // Another poll's write in between: its acknowledgements may differ while the row's
        // numbers do not (an out-of-order ack changes only `set_acks`), so the acks are
        // compared too, after the UPDATE has locked the row; this one is then rolled back.
        const RACED: &str = "another poll wrote first";
        let outcome = write_tx!(self, |tx| {
            let done = sqlx::query(
                "UPDATE webhooks SET cursor_seq = $1, poll_sent_through = $2, poll_sent_us = $3 \
                 WHERE account_id = $4 AND identifier = $5 AND delivery = 'poll' AND cursor_seq = $6 \
                 AND poll_sent_through = $7 AND poll_sent_us = $8",
            )
            .bind(new.cursor)
            .bind(new.sent_through)
            .bind(us(new.sent_at))
            .bind(account.as_str())
            .bind(identifier)
            .bind(expected.cursor)
            .bind(expected.sent_through)
            .bind(us(expected.sent_at))
            .execute(&mut **tx)
            .await
            .db()?;
            if done.rows_affected() == 0 {
                return Ok(false);
            }
            if set_acks(&mut **tx, account, identifier).await? != expected.acks {
                return Err(DomainError::Conflict(RACED.into()));
            }
            if new.acks != expected.acks {
                sqlx::query("DELETE FROM set_acks WHERE account_id = $1 AND webhook = $2")
                    .bind(account.as_str())
                    .bind(identifier)
                    .execute(&mut **tx)
                    .await
                    .db()?;
                let acks: Vec<&String> = new.acks.iter().collect();
                for chunk in acks.chunks(500) {
                    let mut q =
                        QueryBuilder::<Db>::new("INSERT INTO set_acks (account_id, webhook, event_id) ");
                    q.push_values(chunk, |mut b, id| {
                        b.push_bind(account.as_str().to_string())
                            .push_bind(identifier.to_string())
                            .push_bind((*id).clone());
                    });
                    q.build().execute(&mut **tx).await.db()?;
                }
            }
            insert_deliveries(tx, account, deliveries).await?;
            Ok(true)
        });
        match outcome {
            Err(DomainError::Conflict(m)) if m == RACED => Ok(false),
            other => other,
        }
    }
}

#[cfg(test)]
#[path = "webhooks_tests.rs"]
mod tests;
