//! Webhook subscriptions (docs/events.md "Webhooks"): where an account's events are pushed,
//! which ones, in which format, signed with which secret; and the rules of delivery that are
//! this product's own (the retry schedule, when a subscription turns failing).

use std::time::Duration;

use base64::Engine;
use serde_json::Value;
use time::OffsetDateTime;

use crate::error::DomainError;
use crate::events::EventType;

/// How long the secret a rotation replaced keeps signing next to the new one.
pub const PREVIOUS_SECRET_GRACE: Duration = Duration::from_secs(24 * 3600);
/// How long a subscription keeps retrying one event before it is marked failing.
pub const RETRY_FOR: Duration = Duration::from_secs(3 * 24 * 3600);
/// A receiver must answer within this.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);
/// Most subscriptions per account.
pub const MAX_PER_ACCOUNT: usize = 50;

/// How a subscription's events are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookFormat {
    /// Standard Webhooks: the event JSON, signed with `webhook-signature`.
    Standard,
    /// RFC 8935 push of RFC 9967 security event tokens.
    Set,
}

impl WebhookFormat {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Standard => "standard",
            Self::Set => "set",
        }
    }
    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "standard" => Some(Self::Standard),
            "set" => Some(Self::Set),
            _ => None,
        }
    }
}

/// How a subscription's events reach the receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookDelivery {
    /// scimgate posts each event to the subscription's URL (Standard Webhooks, or RFC 8935).
    Push,
    /// The receiver polls for them (RFC 8936; format `set` only, no URL).
    Poll,
}

impl WebhookDelivery {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Push => "push",
            Self::Poll => "poll",
        }
    }
    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "push" => Some(Self::Push),
            "poll" => Some(Self::Poll),
            _ => None,
        }
    }
}

/// Whether a subscription is being delivered to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookStatus {
    /// Delivering (or waiting to retry).
    Active,
    /// Retried one event for [`RETRY_FOR`] without success: stopped (and disabled) until
    /// someone enables it again; its backlog waits.
    Failing,
}

impl WebhookStatus {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Failing => "failing",
        }
    }
    /// Parses a stored name.
    pub fn parse(s: &str) -> Self {
        if s == "failing" { Self::Failing } else { Self::Active }
    }
}

/// Which events a subscription wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventFilter {
    /// `["*"]`.
    All,
    /// These types.
    Only(Vec<EventType>),
}

impl EventFilter {
    /// Parses the `events` of a request: `["*"]` or a non-empty list of event types.
    pub fn parse(v: &Value) -> Result<Self, DomainError> {
        let known = || EventType::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ");
        let Some(list) = v.as_array() else {
            return Err(DomainError::invalid(format!(
                "events must be [\"*\"] or a list of event types: {}",
                known()
            )));
        };
        if list.is_empty() {
            return Err(DomainError::invalid(format!(
                "events must not be empty: use [\"*\"] or some of {}",
                known()
            )));
        }
        let mut types = vec![];
        for item in list {
            match item.as_str() {
                Some("*") if list.len() == 1 => return Ok(Self::All),
                Some("*") => return Err(DomainError::invalid("events: \"*\" stands alone ([\"*\"])")),
                Some(t) => match EventType::parse(t) {
                    Some(t) if !types.contains(&t) => types.push(t),
                    Some(_) => {}
                    None => {
                        return Err(DomainError::invalid(format!("events: '{t}' is not one of {}", known())));
                    }
                },
                None => return Err(DomainError::invalid("events must be a list of strings")),
            }
        }
        Ok(Self::Only(types))
    }
    /// The wire (and stored) list.
    pub fn to_json(&self) -> Value {
        match self {
            Self::All => serde_json::json!(["*"]),
            Self::Only(t) => Value::Array(t.iter().map(|t| Value::String(t.as_str().into())).collect()),
        }
    }
    /// The types, or `None` for all.
    pub fn types(&self) -> Option<Vec<EventType>> {
        match self {
            Self::All => None,
            Self::Only(t) => Some(t.clone()),
        }
    }
}

/// A subscription as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Webhook {
    /// Identifier, unique in the account.
    pub identifier: String,
    /// Where events go.
    pub url: String,
    /// Which events.
    pub events: EventFilter,
    /// How they are sent.
    pub format: WebhookFormat,
    /// Pushed or polled.
    pub delivery: WebhookDelivery,
    /// Whether delivery runs.
    pub enabled: bool,
    /// Delivery state.
    pub status: WebhookStatus,
    /// The signing secret (`whsec_…`); never shown after it was created or rotated.
    pub secret: String,
    /// The secret a rotation replaced, and until when it signs too.
    pub previous_secret: Option<(String, OffsetDateTime)>,
    /// The newest event number handled (delivered, or not for this subscription).
    pub cursor: i64,
    /// Failed attempts at the event after `cursor`.
    pub attempts: i64,
    /// When the first of those failed.
    pub first_failure: Option<OffsetDateTime>,
    /// When the next attempt is due.
    pub next_attempt: OffsetDateTime,
    /// What the last failed attempt said.
    pub last_error: Option<String>,
    /// Created.
    pub created: OffsetDateTime,
    /// Last changed by an administrator.
    pub modified: OffsetDateTime,
}

impl Webhook {
    /// The secrets that sign a delivery at `now`: the current one, and the previous one during
    /// its grace period.
    pub fn signing_secrets(&self, now: OffsetDateTime) -> Vec<&str> {
        let mut out = vec![self.secret.as_str()];
        if let Some((old, until)) = &self.previous_secret
            && *until > now
        {
            out.push(old.as_str());
        }
        out
    }
}

/// What an administrator writes.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookInput {
    /// Identifier.
    pub identifier: String,
    /// URL (checked against the SSRF policy by the service); empty for a polled one.
    pub url: String,
    /// Which events.
    pub events: EventFilter,
    /// Format.
    pub format: WebhookFormat,
    /// Pushed or polled.
    pub delivery: WebhookDelivery,
    /// Enabled.
    pub enabled: bool,
}

impl WebhookInput {
    /// Reads a request body: `{"identifier", "url", "events", "format"?, "deliveryMethod"?,
    /// "enabled"?}` (`url` absent for `deliveryMethod` `poll`).
    pub fn from_json(body: &Value) -> Result<Self, DomainError> {
        let obj = body.as_object().ok_or_else(|| DomainError::invalid("the body must be a JSON object"))?;
        let text = |k: &str| -> Result<String, DomainError> {
            obj.get(k)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| DomainError::invalid(format!("{k} is required and must be a string")))
        };
        let format = match obj.get("format") {
            None | Some(Value::Null) => WebhookFormat::Standard,
            Some(Value::String(f)) => WebhookFormat::parse(f).ok_or_else(|| {
                DomainError::invalid(format!("format must be \"standard\" or \"set\", not '{f}'"))
            })?,
            Some(_) => return Err(DomainError::invalid("format must be \"standard\" or \"set\"")),
        };
        let delivery = match obj.get("deliveryMethod") {
            None | Some(Value::Null) => WebhookDelivery::Push,
            Some(Value::String(d)) => WebhookDelivery::parse(d).ok_or_else(|| {
                DomainError::invalid(format!("deliveryMethod must be \"push\" or \"poll\", not '{d}'"))
            })?,
            Some(_) => return Err(DomainError::invalid("deliveryMethod must be \"push\" or \"poll\"")),
        };
        let url = match (delivery, obj.get("url")) {
            (WebhookDelivery::Push, _) => text("url")?,
            (WebhookDelivery::Poll, None | Some(Value::Null)) => String::new(),
            (WebhookDelivery::Poll, Some(_)) => {
                return Err(DomainError::invalid(
                    "a polled subscription (deliveryMethod \"poll\") has no url: the receiver polls \
                     POST /gateway/ng/api/webhooks/{identifier}/poll",
                ));
            }
        };
        if delivery == WebhookDelivery::Poll && format != WebhookFormat::Set {
            return Err(DomainError::invalid(
                "deliveryMethod \"poll\" is RFC 8936 and needs format \"set\" (for JSON events, read \
                 GET /gateway/ng/api/events)",
            ));
        }
        let enabled = match obj.get("enabled") {
            None | Some(Value::Null) => true,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(DomainError::invalid("enabled must be true or false")),
        };
        let events = EventFilter::parse(obj.get("events").unwrap_or(&Value::Null))?;
        Ok(Self { identifier: text("identifier")?, url, events, format, delivery, enabled })
    }
}

/// A new signing secret: `whsec_` and the base64 of 32 random bytes (Standard Webhooks).
pub fn new_secret() -> Result<String, DomainError> {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| DomainError::Internal(format!("no randomness: {e}")))?;
    Ok(format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(key)))
}

/// The key bytes of a `whsec_` secret.
pub fn secret_key(secret: &str) -> Vec<u8> {
    let b64 = secret.strip_prefix("whsec_").unwrap_or(secret);
    base64::engine::general_purpose::STANDARD.decode(b64).unwrap_or_else(|_| b64.as_bytes().to_vec())
}

/// How long to wait before retry number `attempt` (1 = the first retry): 5 s, then doubling
/// up to an hour, each with ±20 % jitter from `jitter` (a number in [0, 1)), so that the
/// first retry comes within 10 s and a receiver back after an outage is not hit by every
/// subscription at once.
pub fn retry_delay(attempt: i64, jitter: f64) -> Duration {
    let base = 5.0 * 2f64.powi(i32::try_from(attempt.clamp(1, 20) - 1).unwrap_or(19));
    let base = base.min(3600.0);
    Duration::from_secs_f64(base * (0.8 + 0.4 * jitter.clamp(0.0, 1.0)))
}

/// One attempt to deliver an event.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// Number, growing.
    pub id: i64,
    /// The subscription.
    pub webhook: String,
    /// The event.
    pub event_id: String,
    /// Its number.
    pub event_seq: i64,
    /// Its type.
    pub event_type: String,
    /// Which attempt at this event (1 = the first; a redelivery counts on).
    pub attempt: i64,
    /// When it was made.
    pub at: OffsetDateTime,
    /// The receiver's HTTP status, when it answered.
    pub status: Option<i64>,
    /// How long it took, in milliseconds.
    pub duration_ms: i64,
    /// Whether it counted as delivered (a 2xx within the timeout).
    pub ok: bool,
    /// Why it failed, when it did without an answer (timeout, refused address, redirect).
    pub error: Option<String>,
    /// The first KiB of the receiver's answer.
    pub response: Option<String>,
    /// Made by a redeliver request, not by the schedule.
    pub redelivery: bool,
}

/// The most of a receiver's answer a delivery keeps.
pub const RESPONSE_KEPT: usize = 1024;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn event_filters() {
        assert_eq!(EventFilter::parse(&json!(["*"])).expect("all"), EventFilter::All);
        assert_eq!(
            EventFilter::parse(&json!(["user.created", "group.deleted", "user.created"])).expect("list"),
            EventFilter::Only(vec![EventType::UserCreated, EventType::GroupDeleted])
        );
        for bad in [json!([]), json!("*"), json!(["*", "user.created"]), json!(["user.nope"]), json!([1])] {
            assert!(EventFilter::parse(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn retry_schedule_starts_within_ten_seconds_and_is_capped() {
        assert!(retry_delay(1, 0.999) < Duration::from_secs(10));
        assert!(retry_delay(1, 0.0) >= Duration::from_secs(4));
        assert_eq!(retry_delay(2, 0.5), Duration::from_secs(10));
        assert!(retry_delay(30, 0.999) <= Duration::from_secs(4320));
        // Over three days the schedule makes a few dozen attempts, not thousands.
        let (mut t, mut n) = (Duration::ZERO, 0);
        while t < RETRY_FOR {
            n += 1;
            t += retry_delay(n, 0.5);
        }
        assert!((70..90).contains(&n), "{n} attempts");
    }

    #[test]
    fn secrets_and_grace() {
        let s = new_secret().expect("secret");
        assert!(s.starts_with("whsec_"));
        assert_eq!(secret_key(&s).len(), 32);
        let t = OffsetDateTime::UNIX_EPOCH + time::Duration::days(1);
        let mut w = Webhook {
            identifier: "h".into(),
            url: "https://example.com/".into(),
            events: EventFilter::All,
            format: WebhookFormat::Standard,
            delivery: WebhookDelivery::Push,
            enabled: true,
            status: WebhookStatus::Active,
            secret: "whsec_new".into(),
            previous_secret: Some(("whsec_old".into(), t)),
            cursor: 0,
            attempts: 0,
            first_failure: None,
            next_attempt: t,
            last_error: None,
            created: t,
            modified: t,
        };
        assert_eq!(w.signing_secrets(t - time::Duration::seconds(1)), vec!["whsec_new", "whsec_old"]);
        assert_eq!(w.signing_secrets(t), vec!["whsec_new"]);
        w.previous_secret = None;
        assert_eq!(w.signing_secrets(t), vec!["whsec_new"]);
    }
}
