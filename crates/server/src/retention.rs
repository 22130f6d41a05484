//! Retention of the audit log and the SCIM request log (docs/audit.md "Retention"): a
//! background task deletes what is older than `--audit-retention` and
//! `--request-log-retention`, in batches with a pause between them, so pruning a large
//! backlog never holds the database for long.

use std::sync::Arc;
use std::time::Duration;

use scimgate_domain::Clock;
use scimgate_domain::audit_service::AuditStores;
use tokio::sync::watch;

/// Audit rows per DELETE.
pub const PRUNE_BATCH: u32 = 1_000;
/// Request-log segments per DELETE (a segment holds up to 500 requests, docs/audit.md "How it
/// is stored").
pub const REQUEST_PRUNE_BATCH: u32 = 50;
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
}

/// One pass: deletes, batch by batch, every audit entry older than `audit` and every logged
/// request older than `requests` (none when it is zero: the request log is off, and what it
/// holds stays until it is on again).
pub async fn prune_once(
    store: &dyn AuditStores,
    clock: &dyn Clock,
    audit: Duration,
    requests: Duration,
) -> Result<Pruned, String> {
    let now = clock.now();
    let mut pruned = Pruned::default();
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
    Ok(pruned)
}

/// Prunes every [`PRUNE_INTERVAL`] (the first pass a minute after start) until `stop`.
pub async fn run(
    store: Arc<dyn AuditStores>,
    clock: Arc<dyn Clock>,
    audit: Duration,
    requests: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut wait = Duration::from_secs(60);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => return,
        }
        wait = PRUNE_INTERVAL;
        match prune_once(store.as_ref(), clock.as_ref(), audit, requests).await {
            Ok(p) if p != Pruned::default() => {
                tracing::info!(
                    audit = p.audit,
                    requests = p.requests,
                    "pruned old audit entries and requests"
                )
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "pruning the audit log and request log failed"),
        }
    }
}
