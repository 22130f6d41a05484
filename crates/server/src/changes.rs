//! Background work: carries cache invalidations between nodes that share a database
//! (issue: cross-node invalidation). A change on this node is queued by the services'
//! hooks and written to the change log; every node polls the log and drops the affected
//! account's caches. The caches' TTLs stay as the safety net.

use std::sync::Arc;
use std::time::Duration;

use scimgate_domain::store::{ChangeKind, ChangeStore};
use scimgate_domain::{AccountId, Clock};
use tokio::sync::{mpsc, watch};

use crate::state::AppState;

/// How many queued changes may wait to be written; beyond that they are dropped (the TTLs
/// still bound staleness) rather than slowing requests down.
pub const QUEUE: usize = 10_000;
/// How long changes are kept in the log.
pub const KEEP: time::Duration = time::Duration::hours(1);

/// Changes queued on this node, waiting to be written to the log.
pub type ChangeQueue = mpsc::Receiver<(AccountId, ChangeKind)>;

/// The sending side used by the hooks.
#[derive(Clone, Debug)]
pub struct ChangeFeed {
    tx: mpsc::Sender<(AccountId, ChangeKind)>,
}

impl ChangeFeed {
    /// A feed and the receiver its writer task drains.
    pub fn new() -> (Self, ChangeQueue) {
        let (tx, rx) = mpsc::channel(QUEUE);
        (Self { tx }, rx)
    }
    /// Queues a change (never blocks).
    pub fn publish(&self, account: &AccountId, kind: ChangeKind) {
        if self.tx.try_send((account.clone(), kind)).is_err() {
            tracing::warn!(account = %account, kind = kind.as_str(), "change queue full; other nodes rely on cache TTLs");
        }
    }
}

/// Drops this node's caches for a change.
pub fn apply(state: &AppState, account: &AccountId, kind: ChangeKind) {
    match kind {
        ChangeKind::Access => state.auth.invalidate(account),
        ChangeKind::Settings => {
            state.settings.invalidate(account);
            state.jwt.invalidate(account);
        }
    }
}

/// Writes queued changes in batches until the feed closes or `stop` turns true.
pub async fn write_loop(
    store: Arc<dyn ChangeStore>,
    clock: Arc<dyn Clock>,
    mut rx: ChangeQueue,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let first = tokio::select! {
            item = rx.recv() => match item { Some(i) => i, None => break },
            _ = stop.changed() => break,
        };
        let mut batch = vec![first];
        while let Ok(more) = rx.try_recv() {
            batch.push(more);
            if batch.len() >= 500 {
                break;
            }
        }
        batch.dedup();
        if let Err(e) = store.publish_changes(&batch, clock.now()).await {
            tracing::warn!(error = %e, "writing cache invalidations failed; other nodes rely on cache TTLs");
        }
    }
}

/// Listens for PostgreSQL's change notifications and wakes the poller at once; polling
/// stays as the fallback (and is all there is on engines without LISTEN/NOTIFY). Reconnects
/// after a lost connection.
pub async fn listen_loop(url: String, wake: Arc<tokio::sync::Notify>, mut stop: watch::Receiver<bool>) {
    loop {
        let mut listener = match sqlx::postgres::PgListener::connect(&url).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "LISTEN connection failed; polling only, retrying in 5 s");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(5)) => continue,
                    _ = stop.changed() => return,
                }
            }
        };
        if let Err(e) = listener.listen(scimgate_store::CHANGE_CHANNEL).await {
            tracing::warn!(error = %e, "LISTEN failed; polling only, retrying in 5 s");
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(5)) => continue,
                _ = stop.changed() => return,
            }
        }
        loop {
            tokio::select! {
                n = listener.try_recv() => match n {
                    // A notification, or a dropped connection that the next call re-opens:
                    // either way, poll now.
                    Ok(_) => wake.notify_one(),
                    Err(e) => {
                        tracing::warn!(error = %e, "LISTEN connection lost; reconnecting");
                        wake.notify_one();
                        break;
                    }
                },
                _ = stop.changed() => return,
            }
        }
    }
}

/// Polls the change log every `interval`, and at once when `wake` is notified, and applies
/// other nodes' changes; prunes old entries now and then.
pub async fn poll_loop(
    state: AppState,
    store: Arc<dyn ChangeStore>,
    interval: Duration,
    wake: Arc<tokio::sync::Notify>,
    mut stop: watch::Receiver<bool>,
) {
    let mut last = match store.latest_change().await {
        Ok(seq) => seq,
        Err(e) => {
            tracing::warn!(error = %e, "reading the change log failed; starting from its beginning");
            0
        }
    };
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut rounds: u64 = 0;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = wake.notified() => {}
            _ = stop.changed() => break,
        }
        match store.changes_since(last, 1000).await {
            Ok(changes) => {
                for c in &changes {
                    apply(&state, &c.account, c.kind);
                    last = last.max(c.seq);
                }
            }
            Err(e) => tracing::warn!(error = %e, "polling the change log failed; retrying"),
        }
        rounds += 1;
        if rounds.is_multiple_of(3000)
            && let Err(e) = store.prune_changes(state.clock.now() - KEEP).await
        {
            tracing::warn!(error = %e, "pruning the change log failed");
        }
    }
}
