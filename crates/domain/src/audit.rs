//! The audit log (docs/audit.md): one entry for every state change, written by the store in
//! the same transaction as the change. The services decide what an entry says (who, what,
//! which resource, a summary of the change); the store writes it with the change, or neither.
//!
//! Secrets never reach an entry: summaries name attributes and fields, never their values,
//! except settings (old → new, a secret setting as `sha256:<hex>`) and member ids.

use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::access::{Caller, Principal};

/// The most member ids an entry lists per direction; past it the summary keeps the counts
/// and the first ids (a 100,000-member replace would otherwise write megabytes per entry).
pub const MAX_LISTED_MEMBERS: usize = 1_000;

/// The identifying claims of the JWT a request presented (none of them is a secret).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JwtSubject {
    /// `iss`.
    pub iss: Option<String>,
    /// `sub`.
    pub sub: Option<String>,
    /// `jti`.
    pub jti: Option<String>,
}

impl JwtSubject {
    /// The claims of a verified token's payload.
    pub fn of(claims: &Map<String, Value>) -> Self {
        let get = |k: &str| claims.get(k).and_then(Value::as_str).map(|s| s.chars().take(1024).collect());
        Self { iss: get("iss"), sub: get("sub"), jti: get("jti") }
    }
}

/// Who made a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// `USER`, `SERVICE_ACCOUNT` or `SYSTEM`.
    pub principal_type: String,
    /// The user's SCIM id, the service account's identifier, or `system`.
    pub principal_id: String,
    /// The API token's id, when the credential was one.
    pub credential_id: Option<String>,
    /// The JWT's claims, when the credential was one.
    pub jwt: Option<JwtSubject>,
    /// The request's `X-Request-Id`.
    pub request_id: Option<String>,
}

impl Actor {
    /// The actor of a caller.
    pub fn of(caller: &Caller) -> Self {
        let p = caller.principal();
        Self {
            principal_type: p.type_name().to_string(),
            principal_id: p.id().to_string(),
            credential_id: caller.token_id().map(str::to_string),
            jwt: caller.jwt().cloned(),
            request_id: caller.request_id().map(str::to_string),
        }
    }
    /// The operator (CLI, first start).
    pub fn system() -> Self {
        let p = Principal::System;
        Self {
            principal_type: p.type_name().to_string(),
            principal_id: p.id().to_string(),
            credential_id: None,
            jwt: None,
            request_id: None,
        }
    }
    /// `TYPE:id`, as the settings audit trail shows it.
    pub fn label(&self) -> String {
        format!("{}:{}", self.principal_type, self.principal_id)
    }
}

/// What kind of resource an entry is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditResource {
    /// A SCIM user.
    User,
    /// A SCIM group.
    Group,
    /// An account.
    Account,
    /// An organization.
    Organization,
    /// A project.
    Project,
    /// A service account.
    ServiceAccount,
    /// A custom role.
    Role,
    /// A custom resource group.
    ResourceGroup,
    /// A role assignment.
    RoleAssignment,
    /// An API key.
    ApiKey,
    /// An API token.
    Token,
    /// A feature flag of an account.
    FeatureFlag,
    /// A setting.
    Setting,
    /// A webhook subscription.
    Webhook,
}

impl AuditResource {
    /// Every kind, for validating a filter.
    pub const ALL: [AuditResource; 14] = [
        Self::User,
        Self::Group,
        Self::Account,
        Self::Organization,
        Self::Project,
        Self::ServiceAccount,
        Self::Role,
        Self::ResourceGroup,
        Self::RoleAssignment,
        Self::ApiKey,
        Self::Token,
        Self::FeatureFlag,
        Self::Setting,
        Self::Webhook,
    ];
    /// Stored and shown name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "USER",
            Self::Group => "GROUP",
            Self::Account => "ACCOUNT",
            Self::Organization => "ORGANIZATION",
            Self::Project => "PROJECT",
            Self::ServiceAccount => "SERVICE_ACCOUNT",
            Self::Role => "ROLE",
            Self::ResourceGroup => "RESOURCE_GROUP",
            Self::RoleAssignment => "ROLE_ASSIGNMENT",
            Self::ApiKey => "API_KEY",
            Self::Token => "TOKEN",
            Self::FeatureFlag => "FEATURE_FLAG",
            Self::Setting => "SETTING",
            Self::Webhook => "WEBHOOK",
        }
    }
    /// Parses a name (any case).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str().eq_ignore_ascii_case(s))
    }
}

/// The actions an entry can record.
pub mod action {
    /// Created.
    pub const CREATE: &str = "CREATE";
    /// Replaced or edited.
    pub const UPDATE: &str = "UPDATE";
    /// Changed by a SCIM PATCH.
    pub const PATCH: &str = "PATCH";
    /// Deleted.
    pub const DELETE: &str = "DELETE";
    /// A token's secret replaced.
    pub const ROTATE: &str = "ROTATE";
    /// A setting's value removed at a scope.
    pub const RESTORE: &str = "RESTORE";
    /// A feature flag turned on.
    pub const ENABLE: &str = "ENABLE";
    /// A feature flag turned off.
    pub const DISABLE: &str = "DISABLE";
    /// Every action, for validating a filter.
    pub const ALL: [&str; 8] = [CREATE, UPDATE, PATCH, DELETE, ROTATE, RESTORE, ENABLE, DISABLE];
}

/// One entry to write.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    /// When.
    pub at: OffsetDateTime,
    /// Who.
    pub actor: Actor,
    /// One of [`action`].
    pub action: &'static str,
    /// The kind of resource.
    pub resource: AuditResource,
    /// Its id or identifier (for a project `org/project`, for a token `apikey/token`).
    pub resource_id: String,
    /// What changed: an object (see docs/audit.md "Summaries").
    pub summary: Value,
}

impl AuditEntry {
    /// An entry by `caller`.
    pub fn new(
        caller: &Caller,
        at: OffsetDateTime,
        action: &'static str,
        resource: AuditResource,
        resource_id: impl Into<String>,
        summary: Value,
    ) -> Self {
        Self { at, actor: Actor::of(caller), action, resource, resource_id: resource_id.into(), summary }
    }
    /// Adds a field to the summary.
    pub fn with(mut self, key: &str, value: Value) -> Self {
        if let Value::Object(m) = &mut self.summary {
            m.insert(key.to_string(), value);
        }
        self
    }
}

/// A stored entry, as the audit API answers it.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    /// Position in the log (grows; the keyset of paging).
    pub seq: i64,
    /// When.
    pub at: OffsetDateTime,
    /// Who.
    pub actor: Actor,
    /// What was done.
    pub action: String,
    /// The kind of resource.
    pub resource_type: String,
    /// Its id.
    pub resource_id: String,
    /// What changed.
    pub summary: Value,
}

/// A query of the audit log, newest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditQuery {
    /// Only this resource type.
    pub resource_type: Option<AuditResource>,
    /// Only this resource id.
    pub resource_id: Option<String>,
    /// Only this principal's entries (user id or service account identifier).
    pub principal: Option<String>,
    /// Only this action.
    pub action: Option<&'static str>,
    /// At or after.
    pub from: Option<OffsetDateTime>,
    /// Before.
    pub to: Option<OffsetDateTime>,
    /// Only entries older than this position (the previous page's cursor).
    pub before: Option<i64>,
    /// Page size.
    pub limit: u32,
}

/// The top-level attributes whose values differ between two documents, sorted (a summary
/// of a SCIM write names attributes, never their values).
pub fn changed_attributes(old: &Map<String, Value>, new: &Map<String, Value>) -> Vec<String> {
    let mut names: Vec<String> = old
        .iter()
        .filter(|(k, v)| new.get(*k) != Some(*v))
        .map(|(k, _)| k.clone())
        .chain(new.keys().filter(|k| !old.contains_key(*k)).cloned())
        .collect();
    names.sort();
    names.dedup();
    names
}

/// The summary of a SCIM write: the attribute names given (`schemas` is not one).
pub fn attribute_summary(names: impl IntoIterator<Item = String>) -> Value {
    let mut names: Vec<String> = names.into_iter().filter(|n| n != "schemas").collect();
    names.sort();
    json!({ "attributes": names })
}

/// The summary part of member changes: the ids added and removed (at most
/// [`MAX_LISTED_MEMBERS`] each) with their counts.
pub fn member_summary(added: &[String], removed: &[String]) -> Value {
    let cut = |ids: &[String]| ids.iter().take(MAX_LISTED_MEMBERS).cloned().collect::<Vec<_>>();
    json!({
        "added": cut(added),
        "removed": cut(removed),
        "addedCount": added.len(),
        "removedCount": removed.len(),
    })
}

/// An entity whose fields an audit summary can name: each field's wire name and a text to
/// compare it by (never shown, so it may hold anything but a secret; no entity has one).
pub trait Audited {
    /// The fields a write can change.
    fn audit_fields(&self) -> Vec<(&'static str, String)>;
}

macro_rules! audited {
    ($($t:ty { $($name:literal => $f:ident),* $(,)? })*) => {$(
        impl Audited for $t {
            fn audit_fields(&self) -> Vec<(&'static str, String)> {
                vec![$(($name, format!("{:?}", self.$f))),*]
            }
        }
    )*};
}

audited! {
    crate::entities::Organization { "name" => name, "description" => description, "tags" => tags }
    crate::entities::Project {
        "name" => name, "description" => description, "color" => color, "tags" => tags,
    }
    crate::entities::ServiceAccount {
        "name" => name, "email" => email, "description" => description, "tags" => tags,
    }
    crate::entities::Role {
        "name" => name, "description" => description, "permissions" => permissions, "tags" => tags,
    }
    crate::entities::ResourceGroup {
        "name" => name, "description" => description, "includeAllResources" => include_all,
        "resourceTypes" => resource_types, "tags" => tags,
    }
    crate::entities::RoleAssignment {
        "scope" => scope, "roleIdentifier" => role_identifier,
        "resourceGroupIdentifier" => resource_group_identifier, "principalType" => principal_type,
        "principalIdentifier" => principal_identifier, "disabled" => disabled,
    }
    crate::entities::ApiKey {
        "name" => name, "description" => description, "tags" => tags,
        "defaultTimeToExpireToken" => default_ttl_ms,
    }
    crate::entities::TokenInfo {
        "name" => name, "description" => description, "tags" => tags, "validTo" => valid_to,
    }
}

/// The summary of a created entity: the fields it was given.
pub fn created_summary(new: &impl Audited) -> Value {
    json!({ "fields": new.audit_fields().into_iter().map(|(n, _)| n).collect::<Vec<_>>() })
}

/// The summary of an edit: the fields whose values changed.
pub fn changed_summary<T: Audited>(old: &T, new: &T) -> Value {
    let old = old.audit_fields();
    let changed: Vec<&str> =
        new.audit_fields().into_iter().zip(old).filter(|(n, o)| n.1 != o.1).map(|(n, _)| n.0).collect();
    json!({ "fields": changed })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn changed_attributes_names_added_removed_and_changed_keys() {
        let old = doc(json!({"userName": "a", "active": true, "title": "x"}));
        let new = doc(json!({"userName": "a", "active": false, "nickName": "n"}));
        assert_eq!(changed_attributes(&old, &new), ["active", "nickName", "title"]);
        assert!(changed_attributes(&old, &old).is_empty());
    }

    #[test]
    fn member_summary_cuts_long_lists_but_keeps_counts() {
        let ids: Vec<String> = (0..MAX_LISTED_MEMBERS + 5).map(|i| i.to_string()).collect();
        let s = member_summary(&ids, &[]);
        assert_eq!(s["added"].as_array().map(Vec::len), Some(MAX_LISTED_MEMBERS));
        assert_eq!(s["addedCount"], MAX_LISTED_MEMBERS + 5);
        assert_eq!(s["removedCount"], 0);
    }

    #[test]
    fn resource_names_round_trip() {
        for k in AuditResource::ALL {
            assert_eq!(AuditResource::parse(&k.as_str().to_lowercase()), Some(k));
        }
        assert_eq!(AuditResource::parse("nope"), None);
    }
}
