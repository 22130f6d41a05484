//! Retention of the audit log, the SCIM request log (docs/audit.md "Retention") and the
//! change events (docs/events.md "Retention"): a background task deletes what is older than
//! `--audit-retention`, `--request-log-retention` and `--event-retention`, in batches with a
//! pause between them, so pruning a large backlog never holds the database for long.

use std::sync::Arc;
use std::time::Duration;

use scimgate_domain::Clock;
use scimgate_domain::audit_service::AuditStores;
use scimgate_domain::store::EventStores;
use tokio::sync::watch;

/// Audit rows per DELETE.
pub const PRUNE_BATCH: u32 = 1_000;
/// Request-log segments per DELETE (a segment holds up to 500 requests, docs/audit.md "How it
/// is stored").
pub const REQUEST_PRUNE_BATCH: u32 = 50;
/// Events per DELETE.
pub const EVENT_PRUNE_BATCH: u32 = 1_000;
/// The pause between two batches.
const BATCH_PAUSE: Duration = Duration::from_millis(50);
/// How often the task looks for old rows.
pub const PRUNE_INTERVAL: Duration = Duration::from_secs(600);

/// What one pass deleted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pruned {
    /// Audit entries.
    pub audit: u64,
    /// Request-log segments (and rows of the table before segments).
    pub requests: u64,
    /// Change events.
    pub events: u64,
    /// Webhook deliveries (kept as long as the events).
    pub deliveries: u64,
}

/// How long each log keeps what it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// `--audit-retention`.
    pub audit: Duration,
    /// `--request-log-retention` (zero: the request log is off).
    pub requests: Duration,
    /// `--event-retention`.
    pub events: Duration,
}

impl Retention {
    /// The retention the configuration sets.
    pub fn of(config: &crate::config::Config) -> Self {
        Self {
            audit: config.audit_retention,
            requests: config.request_log_retention,
            events: config.event_retention,
        }
    }
}

/// One pass: deletes, batch by batch, every audit entry, logged request and event older than
/// its retention (no request when `requests` is zero: the request log is off, and what it
/// holds stays until it is on again).
pub async fn prune_once(
    store: &dyn AuditStores,
    events: &dyn EventStores,
    clock: &dyn Clock,
    keep: &Retention,
) -> Result<Pruned, String> {
    let now = clock.now();
    let mut pruned = Pruned::default();
    let (audit, requests) = (keep.audit, keep.requests);
    let before = now - audit;
    loop {
        let n = store.prune_audit(before, PRUNE_BATCH).await.map_err(|e| e.to_string())?;
        pruned.audit += n;
        if n < u64::from(PRUNE_BATCH) {
            break;
        }
        tokio::time::sleep(BATCH_PAUSE).await;
    }
    if !requests.is_zero() {
        let before = now - requests;
        loop {
            let n =
                store.prune_scim_requests(before, REQUEST_PRUNE_BATCH).await.map_err(|e| e.to_string())?;
            pruned.requests += n;
            if n < u64::from(REQUEST_PRUNE_BATCH) {
                break;
            }
            tokio::time::sleep(BATCH_PAUSE).await;
        }
    }
    let before = now - keep.events;
    loop {
        let n = events.prune_events(before, EVENT_PRUNE_BATCH).await.map_err(|e| e.to_string())?;
        pruned.events += n;
        if n < u64::from(EVENT_PRUNE_BATCH) {
            break;
        }
        tokio::time::sleep(BATCH_PAUSE).await;
    }
    loop {
        let n = events.prune_deliveries(before, EVENT_PRUNE_BATCH).await.map_err(|e| e.to_string())?;
        pruned.deliveries += n;
        if n < u64::from(EVENT_PRUNE_BATCH) {
            break;
        }
        tokio::time::sleep(BATCH_PAUSE).await;
    }
    Ok(pruned)
}

/// Prunes every [`PRUNE_INTERVAL`] (the first pass a minute after start) until `stop`.
pub async fn run(
    store: Arc<dyn AuditStores>,
    events: Arc<dyn EventStores>,
    clock: Arc<dyn Clock>,
    keep: Retention,
    mut stop: watch::Receiver<bool>,
) {
    let mut wait = Duration::from_secs(60);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => return,
        }
        wait = PRUNE_INTERVAL;
        match prune_once(store.as_ref(), events.as_ref(), clock.as_ref(), &keep).await {
            Ok(p) if p != Pruned::default() => {
                tracing::info!(
                    audit = p.audit,
                    requests = p.requests,
                    events = p.events,
                    deliveries = p.deliveries,
                    "pruned old audit entries, requests and events"
                )
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "pruning the audit log, request log and events failed"),
        }
    }
}
