//! Background task: writes tokens' last-used times in batches, so a request never waits
//! for a write (issue: "updated without a write on every request").

use std::sync::Arc;
use std::time::Duration;

use scimgate_domain::auth_service::AuthService;
use tokio::sync::watch;

/// How often the gathered last-used times are written.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(10);

/// Flushes every [`FLUSH_INTERVAL`] until `stop` turns true, then once more.
pub async fn run(auth: Arc<AuthService>, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(FLUSH_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => break,
        }
        if let Err(e) = auth.flush_last_used().await {
            tracing::warn!(error = %e, "writing token last-used times failed; will retry");
        }
    }
    if let Err(e) = auth.flush_last_used().await {
        tracing::warn!(error = %e, "writing token last-used times at shutdown failed");
    }
}
