//! Polled delivery of security event tokens (RFC 8936; docs/events.md "Polling"): what a
//! poll request asks, and the rules that turn a subscription's state, the request and the
//! events after its cursor into what is handed out and what is recorded. Pure: the service
//! reads and writes the state, the server signs the events.
//!
//! A subscription with `deliveryMethod` `poll` keeps: its cursor (every event up to it is
//! acknowledged), the newest event handed out (`sent_through`) and when the oldest of those
//! still unacknowledged was handed out (`sent_at`), and the acknowledgements that came out
//! of order. Events handed out are not handed out again until [`RESEND_AFTER`] has passed
//! without their acknowledgement; then they are, first, in order.

use std::collections::BTreeSet;

use serde_json::Value;
use time::{Duration, OffsetDateTime};

use crate::error::DomainError;
use crate::events::Event;
use crate::webhooks::Delivery;

/// The most events one poll answers (`maxEvents` above it is taken as this).
pub const MAX_EVENTS: u32 = 1_000;
/// `maxEvents` when the request does not say.
pub const DEFAULT_MAX_EVENTS: u32 = 100;
/// How far past the cursor a poll looks: at most this many events are handed out and not
/// yet acknowledged at any time.
pub const WINDOW: u32 = 2_000;
/// Events handed out and not acknowledged for this long are handed out again.
pub const RESEND_AFTER: Duration = Duration::seconds(60);

/// A subscription's poll state, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PollState {
    /// Every event up to this number is acknowledged.
    pub cursor: i64,
    /// The newest event handed out.
    pub sent_through: i64,
    /// When the oldest event handed out and still unacknowledged was handed out.
    pub sent_at: Option<OffsetDateTime>,
    /// Event ids acknowledged after an unacknowledged one (they wait for it).
    pub acks: BTreeSet<String>,
}

/// An error the receiver reports for one SET (`setErrs`, RFC 8936 §2.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetError {
    /// The SET's `jti` (the event id).
    pub jti: String,
    /// The error code (RFC 8935 §2.4, e.g. `invalid_request`).
    pub err: String,
    /// What the receiver said.
    pub description: String,
}

/// A poll request (RFC 8936 §2.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollRequest {
    /// At most this many SETs in the answer (0: only acknowledge).
    pub max_events: u32,
    /// Answer at once even with nothing to hand out (else the server waits a while).
    pub return_immediately: bool,
    /// The `jti`s the receiver has processed.
    pub acks: Vec<String>,
    /// The `jti`s the receiver could not process, and why (not handed out again).
    pub errors: Vec<SetError>,
}

impl PollRequest {
    /// Reads a request body: `{"maxEvents"?, "returnImmediately"?, "ack"?, "setErrs"?}`;
    /// an empty body is `{}`. Other members are ignored.
    pub fn from_json(body: &Value) -> Result<Self, DomainError> {
        let empty = serde_json::Map::new();
        let obj = match body {
            Value::Null => &empty,
            Value::Object(o) => o,
            _ => return Err(DomainError::invalid("a poll request is a JSON object (RFC 8936 §2.4)")),
        };
        let max_events = match obj.get("maxEvents") {
            None | Some(Value::Null) => DEFAULT_MAX_EVENTS,
            Some(v) => match v.as_u64() {
                Some(n) => u32::try_from(n).unwrap_or(MAX_EVENTS).min(MAX_EVENTS),
                None => {
                    return Err(DomainError::invalid(format!(
                        "maxEvents must be a whole number from 0 (at most {MAX_EVENTS} are answered), not {v}"
                    )));
                }
            },
        };
        let return_immediately = match obj.get("returnImmediately") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(v) => {
                return Err(DomainError::invalid(format!(
                    "returnImmediately must be true or false, not {v}"
                )));
            }
        };
        let acks = match obj.get("ack") {
            None | Some(Value::Null) => vec![],
            Some(Value::Array(list)) => list
                .iter()
                .map(|j| {
                    j.as_str().map(str::to_string).ok_or_else(|| {
                        DomainError::invalid(format!(
                            "ack is a list of the jti of SETs received, and {j} is not one"
                        ))
                    })
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(DomainError::invalid("ack must be a list of jti values")),
        };
        let errors = match obj.get("setErrs") {
            None | Some(Value::Null) => vec![],
            Some(Value::Object(map)) => map
                .iter()
                .map(|(jti, e)| {
                    let text = |k: &str| e.get(k).and_then(Value::as_str).map(str::to_string);
                    match (text("err"), e.is_object()) {
                        (Some(err), true) => Ok(SetError {
                            jti: jti.clone(),
                            err,
                            description: text("description").unwrap_or_default(),
                        }),
                        _ => Err(DomainError::invalid(format!(
                            "setErrs.{jti} must be {{\"err\": code, \"description\": text}} (RFC 8936 §2.4)"
                        ))),
                    }
                })
                .collect::<Result<_, _>>()?,
            Some(_) => {
                return Err(DomainError::invalid("setErrs must be an object of jti to {err, description}"));
            }
        };
        Ok(Self { max_events, return_immediately, acks, errors })
    }

    /// The same request without its acknowledgements (a long poll asks again with this once
    /// they are recorded).
    pub fn without_acks(&self) -> Self {
        Self { acks: vec![], errors: vec![], ..self.clone() }
    }
}

/// What one poll does.
#[derive(Debug, Clone, PartialEq)]
pub struct PollPlan {
    /// The state to store.
    pub state: PollState,
    /// The events to hand out, in order.
    pub send: Vec<Event>,
    /// Whether more events are waiting than were handed out.
    pub more_available: bool,
    /// The delivery log's rows: one per acknowledgement and per error.
    pub deliveries: Vec<Delivery>,
}

fn logged(webhook: &str, e: &Event, now: OffsetDateTime, error: Option<String>) -> Delivery {
    Delivery {
        id: 0,
        webhook: webhook.to_string(),
        event_id: e.id.clone(),
        event_seq: e.seq,
        event_type: e.event_type.as_str().to_string(),
        attempt: 1,
        at: now,
        status: None,
        duration_ms: 0,
        ok: error.is_none(),
        response: Some(
            if error.is_none() { "acknowledged by a poll" } else { "refused by the receiver" }.into(),
        ),
        error,
        redelivery: false,
    }
}

/// Plans a poll of subscription `webhook` in `state`, given the events after its cursor
/// (`window`, up to [`WINDOW`] of the types it wants; `next` as the feed gives it, past
/// filtered-out events when the page is not full).
pub fn plan(
    webhook: &str,
    state: &PollState,
    req: &PollRequest,
    window: &[Event],
    next: i64,
    now: OffsetDateTime,
) -> PollPlan {
    let mut deliveries = Vec::new();
    let mut done: BTreeSet<&str> = state.acks.iter().map(String::as_str).collect();
    let acked: BTreeSet<&str> = req.acks.iter().map(String::as_str).collect();
    let errors: std::collections::BTreeMap<&str, &SetError> =
        req.errors.iter().map(|e| (e.jti.as_str(), e)).collect();
    for e in window {
        if done.contains(e.id.as_str()) {
            continue;
        }
        if let Some(err) = errors.get(e.id.as_str()) {
            let why = format!("setErrs: {}: {}", err.err, err.description);
            deliveries.push(logged(webhook, e, now, Some(why)));
            done.insert(&e.id);
        } else if acked.contains(e.id.as_str()) {
            deliveries.push(logged(webhook, e, now, None));
            done.insert(&e.id);
        }
    }
    // The cursor moves over the acknowledged events at its front.
    let mut cursor = state.cursor;
    let mut front = 0;
    while front < window.len() && done.contains(window[front].id.as_str()) {
        cursor = window[front].seq;
        front += 1;
    }
    let full = window.len() >= WINDOW as usize;
    if front == window.len() && !full {
        cursor = cursor.max(next);
    }
    let rest = &window[front..];
    let acks: BTreeSet<String> =
        rest.iter().filter(|e| done.contains(e.id.as_str())).map(|e| e.id.clone()).collect();
    let sent_through = state.sent_through.max(cursor);
    let outstanding = rest.iter().any(|e| e.seq <= sent_through && !acks.contains(&e.id));
    let resend = outstanding && state.sent_at.is_some_and(|at| now - at >= RESEND_AFTER);
    let from = if resend { cursor } else { sent_through };
    let eligible: Vec<&Event> = rest.iter().filter(|e| e.seq > from && !acks.contains(&e.id)).collect();
    let send: Vec<Event> = eligible.iter().take(req.max_events as usize).map(|e| (*e).clone()).collect();
    let more_available =
        eligible.len() > send.len() || (full && send.last().map(|e| e.seq) == rest.last().map(|e| e.seq));
    let sent_at = match send.first() {
        Some(_) if resend || !outstanding => Some(now),
        _ if outstanding => state.sent_at,
        _ => None,
    };
    // A resend hands out again from the cursor: what it reached is what is out now, and the
    // outstanding events it did not reach (maxEvents) go out next, before newer ones.
    let sent_through = match send.last() {
        Some(last) if resend => last.seq.max(cursor),
        Some(last) => sent_through.max(last.seq),
        None => sent_through,
    };
    PollPlan { state: PollState { cursor, sent_through, sent_at, acks }, send, more_available, deliveries }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{EventData, EventType, Membership};
    use serde_json::json;

    fn event(seq: i64) -> Event {
        Event {
            seq,
            id: format!("e{seq}"),
            event_type: EventType::GroupUserAdded,
            account: crate::AccountId::parse("acme").expect("id"),
            resource_id: "g".into(),
            occurred: OffsetDateTime::UNIX_EPOCH,
            request_id: None,
            data: EventData::Membership(Membership {
                group_id: "g".into(),
                member_id: format!("u{seq}"),
                member_type: "User".into(),
            }),
        }
    }

    fn req(v: Value) -> PollRequest {
        PollRequest::from_json(&v).expect("request")
    }

    fn ids(p: &PollPlan) -> Vec<String> {
        p.send.iter().map(|e| e.id.clone()).collect()
    }

    #[test]
    fn requests_are_read_as_rfc_8936_writes_them() {
        let r = req(json!({}));
        assert_eq!((r.max_events, r.return_immediately, r.acks.len()), (DEFAULT_MAX_EVENTS, false, 0));
        assert_eq!(req(Value::Null), r);
        let r = req(
            json!({"maxEvents": 5000, "returnImmediately": true, "ack": ["a"], "setErrs": {"b": {"err": "invalid_key", "description": "no"}}}),
        );
        assert_eq!(r.max_events, MAX_EVENTS);
        assert!(r.return_immediately);
        assert_eq!(r.acks, ["a"]);
        assert_eq!(
            r.errors[0],
            SetError { jti: "b".into(), err: "invalid_key".into(), description: "no".into() }
        );
        for bad in [
            json!([]),
            json!({"maxEvents": -1}),
            json!({"maxEvents": "3"}),
            json!({"maxEvents": 1.5}),
            json!({"returnImmediately": "yes"}),
            json!({"ack": "a"}),
            json!({"ack": [1]}),
            json!({"setErrs": {"a": "bad"}}),
            json!({"setErrs": {"a": {"description": "no code"}}}),
            json!({"setErrs": []}),
        ] {
            assert!(matches!(PollRequest::from_json(&bad), Err(DomainError::Invalid(_))), "{bad}");
        }
    }

    #[test]
    fn hands_out_in_order_and_moves_the_cursor_over_acknowledged_events() {
        let window: Vec<Event> = (1..=5).map(event).collect();
        let t0 = OffsetDateTime::UNIX_EPOCH + Duration::days(1);
        let p = plan("h", &PollState::default(), &req(json!({"maxEvents": 2})), &window, 5, t0);
        assert_eq!(ids(&p), ["e1", "e2"]);
        assert!(p.more_available);
        assert_eq!((p.state.cursor, p.state.sent_through, p.state.sent_at), (0, 2, Some(t0)));
        // Next poll: e2 acknowledged before e1; e1 holds the cursor, e2 waits, e3–e5 go out.
        let p = plan("h", &p.state, &req(json!({"ack": ["e2"]})), &window, 5, t0 + Duration::seconds(1));
        assert_eq!(ids(&p), ["e3", "e4", "e5"]);
        assert!(!p.more_available);
        assert_eq!(p.state.cursor, 0);
        assert_eq!(p.state.acks.iter().collect::<Vec<_>>(), ["e2"]);
        assert_eq!(p.state.sent_at, Some(t0), "the oldest outstanding handout");
        assert_eq!(p.deliveries.len(), 1);
        assert!(p.deliveries[0].ok);
        // e1 acknowledged, e3 refused: the cursor moves over e1–e3; e4, e5 outstanding.
        let r =
            req(json!({"ack": ["e1"], "setErrs": {"e3": {"err": "invalid_request", "description": "bad"}}}));
        let p = plan("h", &p.state, &r, &window, 5, t0 + Duration::seconds(2));
        assert!(p.send.is_empty());
        assert_eq!(p.state.cursor, 3);
        assert!(p.state.acks.is_empty());
        let refused = p.deliveries.iter().find(|d| d.event_id == "e3").expect("e3 logged");
        assert!(!refused.ok);
        assert_eq!(refused.error.as_deref(), Some("setErrs: invalid_request: bad"));
        // Unacknowledged for RESEND_AFTER: e4 and e5 go out again, first.
        let later = t0 + Duration::seconds(2) + RESEND_AFTER;
        let p2 = plan("h", &p.state, &req(json!({})), &window[3..], 5, later);
        assert_eq!(ids(&p2), ["e4", "e5"]);
        assert_eq!(p2.state.sent_at, Some(later));
        // Not yet: nothing.
        let p3 = plan("h", &p.state, &req(json!({})), &window[3..], 5, t0 + Duration::seconds(30));
        assert!(p3.send.is_empty());
        // All acknowledged: the cursor goes past filtered-out events up to `next`.
        let p4 =
            plan("h", &p2.state, &req(json!({"ack": ["e4", "e5"], "maxEvents": 0})), &window[3..], 9, later);
        assert_eq!((p4.state.cursor, p4.state.sent_through, p4.state.sent_at), (9, 9, None));
        // Acknowledging again changes nothing and logs nothing.
        let p5 = plan("h", &p4.state, &req(json!({"ack": ["e4"]})), &[], 9, later);
        assert_eq!(p5.state, p4.state);
        assert!(p5.deliveries.is_empty());
    }

    #[test]
    fn a_partial_resend_hands_out_the_rest_next_and_in_order() {
        let window: Vec<Event> = (1..=12).map(event).collect();
        let t0 = OffsetDateTime::UNIX_EPOCH + Duration::days(1);
        let p = plan("h", &PollState::default(), &req(json!({"maxEvents": 10})), &window, 12, t0);
        assert_eq!(ids(&p).len(), 10);
        let later = t0 + RESEND_AFTER;
        let p = plan("h", &p.state, &req(json!({"maxEvents": 5})), &window, 12, later);
        assert_eq!(ids(&p), ["e1", "e2", "e3", "e4", "e5"], "the oldest again, first");
        let p = plan("h", &p.state, &req(json!({"maxEvents": 7})), &window, 12, later + Duration::seconds(1));
        assert_eq!(ids(&p), ["e6", "e7", "e8", "e9", "e10", "e11", "e12"], "then the rest, in order");
        let p = plan("h", &p.state, &req(json!({})), &window, 12, later + Duration::seconds(2));
        assert!(p.send.is_empty(), "nothing twice within the resend period");
    }

    #[test]
    fn max_events_zero_only_acknowledges() {
        let window: Vec<Event> = (1..=3).map(event).collect();
        let now = OffsetDateTime::UNIX_EPOCH;
        let p =
            plan("h", &PollState::default(), &req(json!({"maxEvents": 0, "ack": ["e1"]})), &window, 3, now);
        assert!(p.send.is_empty());
        assert!(p.more_available);
        assert_eq!(p.state.cursor, 1);
        assert_eq!(p.state.sent_through, 1);
    }
}
