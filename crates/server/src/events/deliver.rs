//! Webhook delivery (docs/events.md "Delivery"): background workers that lease due
//! subscriptions, send their events in order with Standard Webhooks signatures, and write
//! where each got to; never in a SCIM request.
//!
//! One subscription is delivered by one task at a time (its lease): events go out one after
//! another in `seq` order, and the first that fails stops the subscription until its retry is
//! due, so order holds across failures. Progress is written after each page of events, so a
//! crash repeats at most one page (at least once: receivers dedupe on `webhook-id`).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lc_rs::hmac;
use base64::Engine;
use time::OffsetDateTime;
use tokio::sync::watch;
use tokio::task::JoinSet;

use scimgate_domain::events::{Event, EventQuery};
use scimgate_domain::netguard::AllowList;
use scimgate_domain::store::WebhookProgress;
use scimgate_domain::webhooks::{
    DELIVERY_TIMEOUT, Delivery, RESPONSE_KEPT, RETRY_FOR, Webhook, WebhookFormat, WebhookStatus, retry_delay,
    secret_key,
};
use scimgate_domain::{AccountId, DomainError};

use super::{POLL_INTERVAL, delivery_base, event_json, set};
use crate::jwt::fetch::{GuardedResolver, Lookup};
use crate::state::AppState;

/// Subscriptions one node delivers at once.
pub const CONCURRENCY: usize = 16;
/// How long a lease lasts. A node writes its progress (renewing the lease) after each page
/// of events, and sooner when a third of the lease has passed (a slow receiver), so it never
/// runs out under a live node; a node that dies holding one frees it after this.
pub const LEASE: Duration = Duration::from_secs(20);
/// The least time between two claim rounds of a node.
pub const CLAIM_INTERVAL: Duration = Duration::from_millis(5);
/// Events read (and recorded) per page.
pub const PAGE: u32 = 100;

/// The Standard Webhooks signature header for one message: `v1,<base64>` per secret,
/// space-separated. The signed content is `{id}.{timestamp}.{body}`.
pub fn signature(secrets: &[&str], id: &str, timestamp: i64, body: &str) -> String {
    let content = format!("{id}.{timestamp}.{body}");
    secrets
        .iter()
        .map(|s| {
            let key = hmac::Key::new(hmac::HMAC_SHA256, &secret_key(s));
            let tag = hmac::sign(&key, content.as_bytes());
            format!("v1,{}", base64::engine::general_purpose::STANDARD.encode(tag.as_ref()))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The HTTP client of deliveries: no redirects, no proxy, the delivery timeout, and every
/// address checked against the SSRF guard at connect time (`--webhook-allow-hosts`).
#[derive(Clone)]
pub struct WebhookClient {
    client: reqwest::Client,
    allow_hosts: AllowList,
    allow_http: bool,
}

impl std::fmt::Debug for WebhookClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookClient").field("allow_http", &self.allow_http).finish_non_exhaustive()
    }
}

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    /// The receiver's status, when it answered.
    pub status: Option<u16>,
    /// A 2xx within the timeout.
    pub ok: bool,
    /// Why it failed without a usable answer.
    pub error: Option<String>,
    /// The first KiB of the answer.
    pub response: Option<String>,
    /// How long it took.
    pub duration: Duration,
}

impl WebhookClient {
    /// Builds the client.
    pub fn new(allow_hosts: AllowList, allow_http: bool, lookup: Lookup) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(Duration::from_secs(5))
            .timeout(DELIVERY_TIMEOUT)
            .https_only(!allow_http)
            .pool_max_idle_per_host(4)
            .user_agent(concat!("scimgate/", env!("CARGO_PKG_VERSION")))
            .dns_resolver(Arc::new(GuardedResolver::new(allow_hosts.clone(), lookup)))
            .build()
            .map_err(|e| format!("cannot build the webhook HTTP client: {e}"))?;
        Ok(Self { client, allow_hosts, allow_http })
    }

    /// POSTs one signed message.
    pub async fn send(
        &self,
        url: &str,
        headers: &[(&str, String)],
        content_type: &str,
        body: String,
    ) -> Attempt {
        let started = Instant::now();
        let fail = |error: String| Attempt {
            status: None,
            ok: false,
            error: Some(error),
            response: None,
            duration: started.elapsed(),
        };
        let url = match url::Url::parse(url) {
            Ok(u) => u,
            Err(e) => return fail(format!("bad URL: {e}")),
        };
        match url.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            s => return fail(format!("scheme {s} is not allowed (--webhook-allow-http)")),
        }
        // Literal addresses never reach the resolver: check them here.
        let literal = match url.host() {
            Some(url::Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
            Some(url::Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
            _ => None,
        };
        if let Some(ip) = literal
            && let Err(why) = self.allow_hosts.permits(ip)
        {
            return fail(format!("address {ip} refused: {why} (--webhook-allow-hosts)"));
        }
        let mut req = self.client.post(url).header(reqwest::header::CONTENT_TYPE, content_type);
        for (name, value) in headers {
            req = req.header(*name, value);
        }
        let mut res = match req.body(body).send().await {
            Ok(r) => r,
            Err(e) if e.is_timeout() => {
                return fail(format!("no answer within {} s", DELIVERY_TIMEOUT.as_secs()));
            }
            Err(e) => return fail(format!("request failed: {}", error_chain(&e))),
        };
        let status = res.status();
        let mut kept = Vec::new();
        let mut read_error = None;
        loop {
            match res.chunk().await {
                Ok(Some(chunk)) => {
                    let room = RESPONSE_KEPT.saturating_sub(kept.len());
                    kept.extend_from_slice(&chunk[..chunk.len().min(room)]);
                    if kept.len() >= RESPONSE_KEPT {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    read_error = Some(if e.is_timeout() {
                        format!("no complete answer within {} s", DELIVERY_TIMEOUT.as_secs())
                    } else {
                        format!("reading the answer failed: {}", error_chain(&e))
                    });
                    break;
                }
            }
        }
        let error = if status.is_redirection() {
            Some(format!("redirect ({status}) refused: a webhook URL must answer itself"))
        } else if !status.is_success() {
            Some(format!("status {status}"))
        } else {
            read_error
        };
        Attempt {
            status: Some(status.as_u16()),
            ok: error.is_none(),
            error,
            response: (!kept.is_empty()).then(|| String::from_utf8_lossy(&kept).into_owned()),
            duration: started.elapsed(),
        }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// Sends one event to a subscription now.
async fn send_event(st: &AppState, hook: &Webhook, event: &Event, now: OffsetDateTime) -> Attempt {
    let base = delivery_base(&st.config, event.account.as_str());
    match hook.format {
        WebhookFormat::Standard => {
            let body = event_json(event, &base).to_string();
            let ts = now.unix_timestamp();
            let headers = [
                ("webhook-id", event.id.clone()),
                ("webhook-timestamp", ts.to_string()),
                ("webhook-signature", signature(&hook.signing_secrets(now), &event.id, ts, &body)),
            ];
            st.webhook_client.send(&hook.url, &headers, "application/json", body).await
        }
        WebhookFormat::Set => {
            // RFC 8935: the SET is the body; the audience is the receiver's URL.
            let token = match st.set_keys.key(&event.account).await {
                Ok(key) => set::sign(&key, &set::claims(event, &base, &hook.url, now)),
                Err(e) => Err(e),
            };
            let token = match token {
                Ok(t) => t,
                Err(e) => {
                    return Attempt {
                        status: None,
                        ok: false,
                        error: Some(e.to_string()),
                        response: None,
                        duration: Duration::ZERO,
                    };
                }
            };
            let headers = [("accept", "application/json".to_string())];
            let mut a = st.webhook_client.send(&hook.url, &headers, set::CONTENT_TYPE, token).await;
            // A 400 of RFC 8935 says why in {"err", "description"}: the log shows it.
            if a.status == Some(400)
                && let Some(why) =
                    a.response.as_deref().and_then(|r| serde_json::from_str::<serde_json::Value>(r).ok())
                && let Some(err) = why.get("err").and_then(|v| v.as_str())
            {
                let description = why.get("description").and_then(|v| v.as_str()).unwrap_or("");
                a.error = Some(format!("refused by the receiver: {err}: {description}"));
            }
            a
        }
    }
}

fn record(
    hook: &Webhook,
    event: &Event,
    attempt: i64,
    at: OffsetDateTime,
    a: &Attempt,
    redelivery: bool,
) -> Delivery {
    Delivery {
        id: 0,
        webhook: hook.identifier.clone(),
        event_id: event.id.clone(),
        event_seq: event.seq,
        event_type: event.event_type.as_str().to_string(),
        attempt,
        at,
        status: a.status.map(i64::from),
        duration_ms: i64::try_from(a.duration.as_millis()).unwrap_or(i64::MAX),
        ok: a.ok,
        error: a.error.clone(),
        response: a.response.clone(),
        redelivery,
    }
}

/// The event of a delivery.
async fn event_of(st: &AppState, account: &AccountId, d: &Delivery) -> Result<Event, DomainError> {
    let page = st
        .event_store
        .list_events(account, &EventQuery { after: Some(d.event_seq - 1), limit: 1, types: None })
        .await?;
    page.events.into_iter().find(|e| e.id == d.event_id).ok_or_else(|| {
        DomainError::Gone(format!("event {} is no longer kept (--event-retention)", d.event_id))
    })
}

/// Sends a delivery's event again now (outside the subscription's schedule) and logs it.
pub async fn redeliver(
    st: &AppState,
    account: &AccountId,
    hook: &Webhook,
    d: &Delivery,
) -> Result<Delivery, DomainError> {
    let event = event_of(st, account, d).await?;
    let now = st.clock.now();
    let a = send_event(st, hook, &event, now).await;
    let logged = st
        .webhook_store
        .insert_deliveries(account, &[record(hook, &event, d.attempt + 1, now, &a, true)])
        .await?;
    logged.into_iter().next().ok_or_else(|| DomainError::Internal("the delivery was not logged".into()))
}

/// Delivers one leased subscription until it has nothing due, fails, or loses its lease.
async fn deliver(st: AppState, node: Arc<str>, account: AccountId, hook: Webhook) {
    let mut cursor = hook.cursor;
    let mut attempts = hook.attempts;
    let mut first_failure = hook.first_failure;
    let types = hook.events.types();
    loop {
        let query = EventQuery { after: Some(cursor), limit: PAGE, types: types.clone() };
        let page = match st.event_store.list_events(&account, &query).await {
            Ok(p) => p,
            // Retention removed events it had not handled: it goes on from the oldest kept.
            Err(DomainError::Gone(m)) => {
                tracing::warn!(account = %account, webhook = %hook.identifier, reason = %m, "webhook skipped pruned events");
                match st.event_store.list_events(&account, &EventQuery { after: None, ..query }).await {
                    Ok(p) => p,
                    Err(e) => {
                        return release(
                            &st,
                            &node,
                            &account,
                            &hook,
                            cursor,
                            attempts,
                            first_failure,
                            &e.to_string(),
                        )
                        .await;
                    }
                }
            }
            Err(e) => {
                return release(&st, &node, &account, &hook, cursor, attempts, first_failure, &e.to_string())
                    .await;
            }
        };
        let mut full = page.events.len() == PAGE as usize;
        let mut deliveries = Vec::with_capacity(page.events.len());
        let mut failure = None;
        let page_started = Instant::now();
        for event in &page.events {
            // A slow receiver: write what was done and renew the lease before it runs short.
            if page_started.elapsed() > LEASE / 3 {
                full = true;
                break;
            }
            let now = st.clock.now();
            let a = send_event(&st, &hook, event, now).await;
            deliveries.push(record(&hook, event, attempts + 1, now, &a, false));
            if a.ok {
                cursor = event.seq;
                attempts = 0;
                first_failure = None;
            } else {
                attempts += 1;
                first_failure.get_or_insert(now);
                failure = Some(a.error.unwrap_or_else(|| "failed".into()));
                break;
            }
        }
        let now = st.clock.now();
        let progress = match &failure {
            None => {
                if !full {
                    cursor = cursor.max(page.next);
                }
                WebhookProgress {
                    cursor,
                    attempts: 0,
                    first_failure: None,
                    next_attempt: now,
                    status: WebhookStatus::Active,
                    last_error: None,
                    lease_until: if full { now + LEASE } else { now },
                }
            }
            Some(error) => {
                let since = first_failure.unwrap_or(now);
                let failing = now - since >= RETRY_FOR;
                if failing {
                    tracing::warn!(account = %account, webhook = %hook.identifier, error = %error, "webhook failing: retried for 3 days; disabled until enabled again");
                }
                WebhookProgress {
                    cursor,
                    attempts,
                    first_failure,
                    next_attempt: now + retry_delay(attempts, jitter()),
                    status: if failing { WebhookStatus::Failing } else { WebhookStatus::Active },
                    last_error: Some(error.clone()),
                    lease_until: now,
                }
            }
        };
        match st
            .webhook_store
            .record_progress(&account, &hook.identifier, &node, &progress, &deliveries)
            .await
        {
            Ok(true) if full && failure.is_none() => continue,
            Ok(true) => return,
            Ok(false) => {
                tracing::info!(account = %account, webhook = %hook.identifier, "webhook lease lost to another node");
                return;
            }
            Err(e) => {
                tracing::warn!(account = %account, webhook = %hook.identifier, error = %e, "recording webhook progress failed; its lease runs out and the events go again");
                return;
            }
        }
    }
}

/// Hands a lease back after an error reading events (the subscription is retried at once
/// next round).
#[allow(clippy::too_many_arguments, reason = "the state of one delivery loop")]
async fn release(
    st: &AppState,
    node: &str,
    account: &AccountId,
    hook: &Webhook,
    cursor: i64,
    attempts: i64,
    first_failure: Option<OffsetDateTime>,
    error: &str,
) {
    tracing::warn!(account = %account, webhook = %hook.identifier, error, "reading events for a webhook failed");
    let now = st.clock.now();
    let progress = WebhookProgress {
        cursor,
        attempts,
        first_failure,
        next_attempt: now + Duration::from_secs(1),
        status: hook.status,
        last_error: hook.last_error.clone(),
        lease_until: now,
    };
    let _ = st.webhook_store.record_progress(account, &hook.identifier, node, &progress, &[]).await;
}

fn jitter() -> f64 {
    let mut b = [0u8; 4];
    if getrandom::fill(&mut b).is_err() {
        return 0.5;
    }
    f64::from(u32::from_le_bytes(b)) / (f64::from(u32::MAX) + 1.0)
}

/// The delivery loop of a node: leases what is due, up to [`CONCURRENCY`] subscriptions at
/// once; woken by this node's writes at once and looking every [`POLL_INTERVAL`] for other
/// nodes' and for retries coming due. While no subscription is enabled anywhere (looked up
/// every [`POLL_INTERVAL`], and at once when this node changes one) writes do not wake it:
/// an account without webhooks pays nothing for delivery. Stops when `stop` turns true.
pub async fn run(st: AppState, mut stop: watch::Receiver<bool>) {
    let node: Arc<str> = format!("node-{}", uuid::Uuid::new_v4().simple()).into();
    let mut rings = st.event_signal.subscribe();
    let mut hooks = st.event_signal.subscribe_webhooks();
    let mut running: JoinSet<()> = JoinSet::new();
    let mut armed = false;
    let mut looked: Option<tokio::time::Instant> = None;
    loop {
        // Under write load the writes ring far more often than a round is worth: rounds are
        // at least CLAIM_INTERVAL apart (the lag this adds is at most that).
        tokio::time::sleep(CLAIM_INTERVAL).await;
        rings.borrow_and_update();
        if hooks.has_changed().unwrap_or(false) || looked.is_none_or(|t| t.elapsed() >= POLL_INTERVAL) {
            hooks.borrow_and_update();
            looked = Some(tokio::time::Instant::now());
            armed = match st.webhook_store.any_active_webhook().await {
                Ok(any) => any,
                Err(e) => {
                    tracing::warn!(error = %e, "looking for active webhooks failed");
                    true
                }
            };
        }
        let room = CONCURRENCY.saturating_sub(running.len());
        if armed && room > 0 {
            let now = st.clock.now();
            match st.webhook_store.claim_webhooks(&node, now, now + LEASE, room as u32).await {
                Ok(claimed) => {
                    for (account, hook) in claimed {
                        running.spawn(deliver(st.clone(), node.clone(), account, hook));
                    }
                }
                Err(e) => tracing::warn!(error = %e, "claiming due webhooks failed"),
            }
        }
        tokio::select! {
            _ = rings.changed(), if armed => {}
            _ = hooks.changed() => {}
            Some(_) = running.join_next(), if !running.is_empty() => {}
            _ = tokio::time::sleep(POLL_INTERVAL) => {}
            _ = stop.changed() => break,
        }
    }
    running.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks specification.
    #[test]
    fn signature_matches_the_specification_example() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = r#"{"test": 2432232314}"#;
        let sig = signature(&[secret], "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body);
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        let two = signature(&[secret, secret], "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body);
        assert_eq!(two, format!("{sig} {sig}"));
    }
}
