//! Change events (docs/events.md): what happened to a user or group, one event per change,
//! written by the store in the same transaction as the change (an outbox). The rules of which
//! change is which event live here; the store writes them, the server renders and delivers
//! them.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use scimgate_scim::schema::ResourceKind;

use crate::ids::AccountId;
use crate::store::StoredResource;

macro_rules! event_types {
    ($($variant:ident = $name:literal;)*) => {
        /// The type of an event.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum EventType { $(#[doc = $name] $variant,)* }

        impl EventType {
            /// Every type, in documentation order.
            pub const ALL: &'static [EventType] = &[$(EventType::$variant,)*];
            /// The wire name.
            pub const fn as_str(self) -> &'static str {
                match self { $(EventType::$variant => $name,)* }
            }
        }
    };
}

event_types! {
    UserCreated = "user.created";
    UserUpdated = "user.updated";
    UserDeactivated = "user.deactivated";
    UserReactivated = "user.reactivated";
    UserDeleted = "user.deleted";
    GroupCreated = "group.created";
    GroupUpdated = "group.updated";
    GroupDeleted = "group.deleted";
    GroupUserAdded = "group.user_added";
    GroupUserRemoved = "group.user_removed";
}

impl EventType {
    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|t| t.as_str() == s)
    }
    /// The event of a created resource.
    pub fn created(kind: ResourceKind) -> Self {
        match kind {
            ResourceKind::User => Self::UserCreated,
            ResourceKind::Group => Self::GroupCreated,
        }
    }
    /// The event of a deleted resource.
    pub fn deleted(kind: ResourceKind) -> Self {
        match kind {
            ResourceKind::User => Self::UserDeleted,
            ResourceKind::Group => Self::GroupDeleted,
        }
    }
    /// The event of a write that replaced `old` with `new`: none when the document is the
    /// same; for a User whose `active` turned false `user.deactivated`, turned true (from
    /// false) `user.reactivated`, otherwise `user.updated` (a user without `active` is
    /// active, RFC 7643 §4.1.1).
    pub fn updated(kind: ResourceKind, old: &Map<String, Value>, new: &Map<String, Value>) -> Option<Self> {
        if old == new {
            return None;
        }
        Some(match kind {
            ResourceKind::Group => Self::GroupUpdated,
            ResourceKind::User => match (is_active(old), is_active(new)) {
                (true, false) => Self::UserDeactivated,
                (false, true) => Self::UserReactivated,
                _ => Self::UserUpdated,
            },
        })
    }
    /// Whether events of this type carry a resource (the others carry a membership).
    pub fn carries_resource(self) -> bool {
        !matches!(self, Self::GroupUserAdded | Self::GroupUserRemoved)
    }
    /// The kind of resource an event of this type is about (a membership event: the group).
    pub fn kind(self) -> ResourceKind {
        if self.as_str().starts_with("user.") { ResourceKind::User } else { ResourceKind::Group }
    }
}

fn is_active(doc: &Map<String, Value>) -> bool {
    doc.get("active").and_then(Value::as_bool).unwrap_or(true)
}

/// A membership that began or ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Membership {
    /// The group.
    pub group_id: String,
    /// The member.
    pub member_id: String,
    /// `User` or `Group`.
    pub member_type: String,
}

/// A resource as an event stores it: enough to render its SCIM representation (without a
/// Group's `members` or a User's `groups`; membership changes are events of their own).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceData {
    /// Resource id.
    pub id: String,
    /// Creation time, microseconds since the epoch.
    pub created_us: i64,
    /// Last modification, microseconds since the epoch.
    pub modified_us: i64,
    /// Version (the ETag's number).
    pub version: i64,
    /// The document, as stored.
    pub doc: Map<String, Value>,
}

/// RFC 3339 with microseconds, as events and summaries show times.
pub fn rfc3339(t: OffsetDateTime) -> String {
    scimgate_scim::stored::format_time(t)
}

fn micros(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000).unwrap_or(i64::MAX)
}

fn from_micros(us: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1_000).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

impl ResourceData {
    /// The data of a resource after a write.
    pub fn new(
        id: &str,
        doc: &Map<String, Value>,
        created: OffsetDateTime,
        modified: OffsetDateTime,
        version: i64,
    ) -> Self {
        Self {
            id: id.to_string(),
            created_us: micros(created),
            modified_us: micros(modified),
            version,
            doc: doc.clone(),
        }
    }
    /// As a stored resource, for rendering.
    pub fn to_stored(&self) -> StoredResource {
        StoredResource {
            id: self.id.clone(),
            doc: self.doc.clone(),
            created: from_micros(self.created_us),
            last_modified: from_micros(self.modified_us),
            version: self.version,
            members: None,
            groups: None,
        }
    }
}

/// What an event is about.
#[derive(Debug, Clone, PartialEq)]
pub enum EventData {
    /// A user or group after the change (for a delete, before it).
    Resource(ResourceData),
    /// A membership that began or ended.
    Membership(Membership),
}

impl EventData {
    /// The stored JSON text.
    pub fn to_json(&self) -> String {
        match self {
            Self::Resource(r) => serde_json::to_string(r),
            Self::Membership(m) => serde_json::to_string(m),
        }
        .unwrap_or_default()
    }
    /// Reads the stored JSON text of an event of type `t`.
    pub fn from_json(t: EventType, text: &str) -> Result<Self, String> {
        if t.carries_resource() {
            serde_json::from_str(text).map(Self::Resource).map_err(|e| format!("stored event data: {e}"))
        } else {
            serde_json::from_str(text).map(Self::Membership).map_err(|e| format!("stored event data: {e}"))
        }
    }
}

/// A resource as an event stores it, borrowed: what [`NewEvent::resource`] serialises
/// straight into the stored text (the same fields as [`ResourceData`], without copying the
/// document).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ResourceRef<'a> {
    id: &'a str,
    created_us: i64,
    modified_us: i64,
    version: i64,
    doc: &'a Map<String, Value>,
}

impl<'a> ResourceRef<'a> {
    /// The resource `id` with document `doc` at `version`.
    pub fn new(
        id: &'a str,
        doc: &'a Map<String, Value>,
        created: OffsetDateTime,
        modified: OffsetDateTime,
        version: i64,
    ) -> Self {
        Self { id, created_us: micros(created), modified_us: micros(modified), version, doc }
    }
}

/// An event to write, before it has its number.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// `evt_` and 32 hex digits; stays the same on every delivery.
    pub id: String,
    /// Type.
    pub event_type: EventType,
    /// The user or group (a membership event: the group).
    pub resource_id: String,
    /// What it carries, as stored: the JSON text [`EventData::from_json`] reads.
    pub data: String,
}

impl NewEvent {
    /// A new event with a fresh id.
    pub fn new(event_type: EventType, resource_id: &str, data: &EventData) -> Self {
        Self { id: new_event_id(), event_type, resource_id: resource_id.to_string(), data: data.to_json() }
    }
    /// The event of a resource write.
    pub fn resource(event_type: EventType, data: ResourceRef<'_>) -> Self {
        Self {
            id: new_event_id(),
            event_type,
            resource_id: data.id.to_string(),
            data: serde_json::to_string(&data).unwrap_or_default(),
        }
    }
    /// The event of a membership change.
    pub fn membership(added: bool, m: Membership) -> Self {
        let t = if added { EventType::GroupUserAdded } else { EventType::GroupUserRemoved };
        let group = m.group_id.clone();
        Self::new(t, &group, &EventData::Membership(m))
    }
}

/// A fresh event id.
pub fn new_event_id() -> String {
    format!("evt_{}", uuid::Uuid::new_v4().simple())
}

/// A stored event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The account.
    pub account: AccountId,
    /// The account's event number: grows by one per event.
    pub seq: i64,
    /// Stable id.
    pub id: String,
    /// Type.
    pub event_type: EventType,
    /// The user or group (a membership event: the group).
    pub resource_id: String,
    /// When the change committed (the write's time).
    pub occurred: OffsetDateTime,
    /// The `X-Request-Id` of the request that made the change.
    pub request_id: Option<String>,
    /// What it carries.
    pub data: EventData,
}

/// A read of the feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventQuery {
    /// Events after this number (`None`: from the oldest retained).
    pub after: Option<i64>,
    /// At most this many.
    pub limit: u32,
    /// Only these types (`None`: all).
    pub types: Option<Vec<EventType>>,
}

/// A page of the feed.
#[derive(Debug, Clone, PartialEq)]
pub struct EventPage {
    /// The events, in `seq` order.
    pub events: Vec<Event>,
    /// Where the next read starts: the last event's number, or, when the page is not full,
    /// the newest number the read could see (so a filtered read moves past what it skipped).
    pub next: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(v: Value) -> Map<String, Value> {
        v.as_object().cloned().expect("object")
    }

    #[test]
    fn names_round_trip() {
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Some(*t));
        }
        assert_eq!(EventType::ALL.len(), 10);
        assert_eq!(EventType::parse("user.nope"), None);
        assert_eq!(EventType::GroupUserAdded.kind(), ResourceKind::Group);
        assert_eq!(EventType::UserReactivated.kind(), ResourceKind::User);
    }

    #[test]
    fn which_update_is_which_event() {
        let u = ResourceKind::User;
        let active = doc(json!({"userName": "a", "active": true}));
        let inactive = doc(json!({"userName": "a", "active": false}));
        let unset = doc(json!({"userName": "a"}));
        let renamed = doc(json!({"userName": "b", "active": true}));
        assert_eq!(EventType::updated(u, &active, &active), None);
        assert_eq!(EventType::updated(u, &active, &inactive), Some(EventType::UserDeactivated));
        assert_eq!(EventType::updated(u, &unset, &inactive), Some(EventType::UserDeactivated));
        assert_eq!(EventType::updated(u, &inactive, &active), Some(EventType::UserReactivated));
        assert_eq!(EventType::updated(u, &inactive, &unset), Some(EventType::UserReactivated));
        assert_eq!(EventType::updated(u, &active, &renamed), Some(EventType::UserUpdated));
        assert_eq!(EventType::updated(u, &active, &unset), Some(EventType::UserUpdated));
        let g = ResourceKind::Group;
        assert_eq!(
            EventType::updated(g, &doc(json!({"displayName": "x"})), &doc(json!({"displayName": "y"}))),
            Some(EventType::GroupUpdated)
        );
    }

    #[test]
    fn data_round_trips() {
        let t = OffsetDateTime::from_unix_timestamp(1_800_000_000).expect("t");
        let r = ResourceData::new("u1", &doc(json!({"userName": "a"})), t, t, 3);
        let text = EventData::Resource(r.clone()).to_json();
        assert_eq!(EventData::from_json(EventType::UserUpdated, &text), Ok(EventData::Resource(r.clone())));
        assert_eq!(r.to_stored().created, t);
        let m = Membership { group_id: "g".into(), member_id: "u".into(), member_type: "User".into() };
        let text = EventData::Membership(m.clone()).to_json();
        assert_eq!(EventData::from_json(EventType::GroupUserAdded, &text), Ok(EventData::Membership(m)));
        assert!(new_event_id().starts_with("evt_") && new_event_id().len() == 36);
    }
}
