//! SCIM security events (RFC 9967): the event URIs, the subject (`sub_id`) and the event
//! payloads of a Security Event Token (RFC 8417). What a change *is* comes from the caller;
//! this module only knows how RFC 9967 writes it (docs/events.md "Security event tokens").

use serde_json::{Map, Value, json};

use crate::PATCH_OP_URN;
use crate::schema::ResourceKind;

/// `prov:create:full`: a new resource, its representation in `data`.
pub const CREATE_FULL: &str = "urn:ietf:params:scim:event:prov:create:full";
/// `prov:put:full`: a resource replaced; `data` is its new representation.
pub const PUT_FULL: &str = "urn:ietf:params:scim:event:prov:put:full";
/// `prov:patch:full`: a resource patched; `data` is the PatchOp that was applied.
pub const PATCH_FULL: &str = "urn:ietf:params:scim:event:prov:patch:full";
/// `prov:delete`: a resource deleted (no payload).
pub const DELETE: &str = "urn:ietf:params:scim:event:prov:delete";
/// `prov:activate`: a User became active (no payload).
pub const ACTIVATE: &str = "urn:ietf:params:scim:event:prov:activate";
/// `prov:deactivate`: a User became inactive (no payload).
pub const DEACTIVATE: &str = "urn:ietf:params:scim:event:prov:deactivate";

/// The event URIs scimgate issues, as `/ServiceProviderConfig` lists them.
pub const ISSUED: [&str; 6] = [CREATE_FULL, PUT_FULL, PATCH_FULL, DELETE, ACTIVATE, DEACTIVATE];

/// `securityEvents` of `/ServiceProviderConfig` (RFC 9967 §4): no asynchronous requests;
/// the event URIs above.
pub fn service_provider_config() -> Value {
    json!({"asyncRequest": "none", "eventUris": ISSUED})
}

/// The subject of an event about resource `id` (RFC 9967 §2.1): `format` `scim`, the
/// relative `uri`, the `id`, and the `externalId` when the resource has one.
pub fn sub_id(kind: ResourceKind, id: &str, external_id: Option<&str>) -> Value {
    let mut out = Map::new();
    out.insert("format".into(), json!("scim"));
    out.insert("uri".into(), json!(format!("/{}/{id}", kind.endpoint())));
    out.insert("id".into(), json!(id));
    if let Some(x) = external_id {
        out.insert("externalId".into(), json!(x));
    }
    Value::Object(out)
}

/// What happened, in the terms RFC 9967 has for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Created.
    Created,
    /// Changed (by PUT, PATCH or Bulk: sent as `put:full`, the new representation).
    Replaced,
    /// A User turned inactive (`put:full` and `deactivate` in one SET: one state change).
    Deactivated,
    /// A User turned active again (`put:full` and `activate`).
    Reactivated,
    /// Deleted.
    Deleted,
}

/// The `events` claim of a resource change: `representation` is the resource's SCIM
/// representation after the change (ignored for a delete), `version` its ETag.
pub fn resource_events(change: Change, representation: &Value, version: &str) -> Value {
    let full = || json!({"data": representation, "version": version});
    match change {
        Change::Created => json!({ CREATE_FULL: full() }),
        Change::Replaced => json!({ PUT_FULL: full() }),
        Change::Deactivated => json!({ PUT_FULL: full(), DEACTIVATE: {} }),
        Change::Reactivated => json!({ PUT_FULL: full(), ACTIVATE: {} }),
        Change::Deleted => json!({ DELETE: {} }),
    }
}

/// The `events` claim of one member added to or removed from a group: `patch:full` with
/// the PatchOp that has the same effect (RFC 9967 §2.4.2, Figure 6). `member_ref` is the
/// member's location.
pub fn membership_events(added: bool, member_id: &str, member_type: &str, member_ref: &str) -> Value {
    let op = if added {
        json!({"op": "add", "path": "members", "value": [{"value": member_id, "type": member_type, "$ref": member_ref}]})
    } else {
        json!({"op": "remove", "path": format!("members[value eq \"{}\"]", member_id.replace('"', "\\\""))})
    };
    json!({ PATCH_FULL: {"data": {"schemas": [PATCH_OP_URN], "Operations": [op]}} })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_follow_rfc_9967() {
        let rep = json!({"id": "u1", "userName": "a"});
        let e = resource_events(Change::Created, &rep, "W/\"1\"");
        assert_eq!(
            e,
            json!({"urn:ietf:params:scim:event:prov:create:full": {"data": rep, "version": "W/\"1\""}})
        );
        let e = resource_events(Change::Deactivated, &rep, "W/\"2\"");
        assert_eq!(e[DEACTIVATE], json!({}));
        assert_eq!(e[PUT_FULL]["data"], rep);
        assert_eq!(resource_events(Change::Deleted, &rep, "W/\"3\""), json!({DELETE: {}}));
        let s = sub_id(ResourceKind::Group, "g1", Some("ext"));
        assert_eq!(s, json!({"format": "scim", "uri": "/Groups/g1", "id": "g1", "externalId": "ext"}));
        let m = membership_events(false, "u\"1", "User", "/Users/u1");
        assert_eq!(m[PATCH_FULL]["data"]["Operations"][0]["path"], "members[value eq \"u\\\"1\"]");
        let m = membership_events(true, "u1", "User", "https://h/Users/u1");
        assert_eq!(m[PATCH_FULL]["data"]["Operations"][0]["value"][0]["$ref"], "https://h/Users/u1");
        assert!(ISSUED.iter().all(|u| u.starts_with("urn:ietf:params:scim:event:prov:")));
    }
}
