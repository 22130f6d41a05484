//! Change events out of the server (docs/events.md): the wake-up signal of this node's
//! writes, the wire shape of an event, and the long-poll of the feed.

use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio::sync::watch;

use scimgate_domain::DomainError;
use scimgate_domain::access::Caller;
use scimgate_domain::access_service::ChangeHook;
use scimgate_domain::events::{Event, EventData, EventPage, EventQuery};
use scimgate_domain::poll::PollRequest;
use scimgate_scim::stored::{format_time, to_representation};

use crate::state::AppState;

/// How often a waiting reader looks at the database when this node wrote nothing (other
/// nodes' writes reach it this way).
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// Rings every time this node commits a write that made events, so that feed readers and
/// deliverers waiting on this node wake at once; and, separately, when this node changed a
/// webhook subscription (the deliverers then look again whether any is active).
#[derive(Clone, Debug)]
pub struct EventSignal {
    tx: watch::Sender<u64>,
    hooks: watch::Sender<u64>,
}

impl Default for EventSignal {
    fn default() -> Self {
        Self { tx: watch::channel(0).0, hooks: watch::channel(0).0 }
    }
}

impl EventSignal {
    /// The hook the SCIM service calls after each write.
    pub fn hook(&self) -> ChangeHook {
        let tx = self.tx.clone();
        std::sync::Arc::new(move |_account| {
            tx.send_modify(|n| *n = n.wrapping_add(1));
        })
    }
    /// A receiver that sees the next ring.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.tx.subscribe()
    }
    /// A receiver that sees the next change of a subscription on this node.
    pub fn subscribe_webhooks(&self) -> watch::Receiver<u64> {
        self.hooks.subscribe()
    }
    /// Rings after a subscription was written (created, enabled, redelivered): wakes both
    /// the feed's and the subscriptions' receivers.
    pub fn ring(&self) {
        self.hooks.send_modify(|n| *n = n.wrapping_add(1));
        self.tx.send_modify(|n| *n = n.wrapping_add(1));
    }
}

/// An event on the wire: `{"id","type","seq","occurredAt","accountIdentifier","requestId","data"}`,
/// with `data` the resource's SCIM representation under `base` (the account's SCIM base URL)
/// or, for a membership event, `{"groupId","memberId","memberType"}`.
pub fn event_json(e: &Event, base: &str) -> Value {
    let data = match &e.data {
        EventData::Resource(r) => Value::Object(to_representation(e.event_type.kind(), &r.to_stored(), base)),
        EventData::Membership(m) => {
            json!({"groupId": m.group_id, "memberId": m.member_id, "memberType": m.member_type})
        }
    };
    let mut out = Map::new();
    out.insert("id".into(), json!(e.id));
    out.insert("type".into(), json!(e.event_type.as_str()));
    out.insert("seq".into(), json!(e.seq));
    out.insert("occurredAt".into(), json!(format_time(e.occurred)));
    out.insert("accountIdentifier".into(), json!(e.account.as_str()));
    out.insert("requestId".into(), json!(e.request_id));
    out.insert("data".into(), data);
    Value::Object(out)
}

/// The SCIM base URL events are rendered under when no request gives one (webhooks):
/// `--public-url`, else the listen address over http.
pub fn delivery_base(config: &crate::config::Config, account: &str) -> String {
    let path = format!("/gateway/ng/api/scim/account/{account}");
    match &config.public_url {
        Some(public) => format!("{}{path}", public.as_str().trim_end_matches('/')),
        None => format!("http://{}{path}", config.listen),
    }
}

/// Reads the feed; when the page is empty and `wait` is more than zero, waits (up to `wait`)
/// for events to arrive: woken by this node's writes at once, and looking every
/// [`POLL_INTERVAL`] for other nodes'.
pub async fn read_or_wait(
    st: &AppState,
    caller: &Caller,
    query: &EventQuery,
    wait: Duration,
) -> Result<EventPage, DomainError> {
    let deadline = tokio::time::Instant::now() + wait;
    let mut rings = st.event_signal.subscribe();
    loop {
        rings.borrow_and_update();
        let (_, page) = st.events.list(caller, query).await?;
        let now = tokio::time::Instant::now();
        if !page.events.is_empty() || now >= deadline {
            return Ok(page);
        }
        let nap = (deadline - now).min(POLL_INTERVAL);
        tokio::select! {
            _ = rings.changed() => {}
            _ = tokio::time::sleep(nap) => {}
        }
    }
}
/// One poll of a polled subscription (RFC 8936); when it has nothing to hand out and `wait`
/// is more than zero, polls again (without the acknowledgements, which are recorded) as
/// events arrive, up to `wait`.
pub async fn poll_or_wait(
    st: &AppState,
    caller: &Caller,
    identifier: &str,
    request: &PollRequest,
    wait: Duration,
) -> Result<(Vec<Event>, bool), DomainError> {
    let deadline = tokio::time::Instant::now() + wait;
    let mut rings = st.event_signal.subscribe();
    let mut request = request.clone();
    loop {
        rings.borrow_and_update();
        let (events, more) = st.webhooks.poll(caller, identifier, &request).await?;
        let now = tokio::time::Instant::now();
        if !events.is_empty() || now >= deadline {
            return Ok((events, more));
        }
        request = request.without_acks();
        let nap = (deadline - now).min(POLL_INTERVAL);
        tokio::select! {
            _ = rings.changed() => {}
            _ = tokio::time::sleep(nap) => {}
        }
    }
}

pub mod deliver;
pub mod set;
