//! A stored User or Group and its SCIM representation (RFC 7643 §3.1 `meta`, RFC 7644
//! §3.14 ETags): what the store hands back, rendered the same way for every response.

use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::ScimError;
use crate::resource::{self, Meta};
use crate::schema::ResourceKind;

/// A stored User or Group.
#[derive(Debug, Clone)]
pub struct StoredResource {
    /// Resource id.
    pub id: String,
    /// The normalised document, without `id`, `meta`, `members` or `groups`.
    pub doc: Map<String, Value>,
    /// Creation time.
    pub created: OffsetDateTime,
    /// Last modification.
    pub last_modified: OffsetDateTime,
    /// Version counter, the ETag is `W/"<version>"`.
    pub version: i64,
    /// Group members, when they were asked for.
    pub members: Option<Vec<Member>>,
    /// The groups a user belongs to, when they were asked for.
    pub groups: Option<Vec<GroupRef>>,
}

/// A group member as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Member id.
    pub value: String,
    /// `User` or `Group`.
    pub member_type: ResourceKind,
    /// `display` as the client sent it.
    pub display: Option<String>,
}

/// A group a user belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRef {
    /// Group id.
    pub value: String,
    /// Group displayName.
    pub display: Option<String>,
}

/// The attribute that holds a resource's related resources: a Group's `members`, a User's
/// `groups` (loaded from the membership table only when a response includes it).
pub fn related_attribute(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::User => "groups",
        ResourceKind::Group => "members",
    }
}

/// Parses one entity tag of `If-Match` / `If-None-Match`: `W/"3"`, `"3"` or `*`
/// (`Some(None)` = any version; `None` = not a tag this server issues).
pub fn parse_etag(value: &str) -> Option<Option<i64>> {
    let v = value.trim();
    if v == "*" {
        return Some(None);
    }
    let v = v.strip_prefix("W/").unwrap_or(v);
    v.trim_matches('"').parse::<i64>().ok().map(Some)
}

/// The version an `If-Match` header requires (`None` = no header or `*`); a tag that can
/// never match is 412 at once (RFC 7644 §3.14).
pub fn if_match(header: Option<&str>) -> Result<Option<i64>, ScimError> {
    let Some(text) = header else { return Ok(None) };
    parse_etag(text).ok_or_else(|| {
        ScimError::new(412, None, format!("If-Match '{text}' does not match the resource version"))
    })
}

/// Whether an `If-None-Match` header matches `version` (then the answer is 304).
pub fn if_none_match(header: &str, version: i64) -> bool {
    header.split(',').filter_map(parse_etag).any(|v| v.is_none_or(|v| v == version))
}

/// The weak ETag of a version (RFC 7644 §3.14).
pub fn etag(version: i64) -> String {
    format!("W/\"{version}\"")
}

/// RFC 3339 with fixed precision.
pub fn format_time(t: time::OffsetDateTime) -> String {
    let t = t.replace_nanosecond(t.nanosecond() / 1_000 * 1_000).unwrap_or(t);
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

/// The full SCIM representation of a stored resource. `base` is the SCIM base URL.
pub fn to_representation(kind: ResourceKind, r: &StoredResource, base: &str) -> Map<String, Value> {
    let meta = Meta {
        id: r.id.clone(),
        created: format_time(r.created),
        last_modified: format_time(r.last_modified),
        version: etag(r.version),
        location: format!("{base}/{}/{}", kind.endpoint(), r.id),
    };
    let mut out = resource::render(kind, &r.doc, &meta);
    if let Some(members) = &r.members
        && !members.is_empty()
    {
        let list = members.iter().map(|m| member_value(m, base)).collect();
        insert_before_meta(&mut out, "members", Value::Array(list));
    }
    if let Some(groups) = &r.groups
        && !groups.is_empty()
    {
        let list = groups
            .iter()
            .map(|g| {
                let mut o = Map::new();
                o.insert("value".into(), Value::String(g.value.clone()));
                o.insert("$ref".into(), Value::String(format!("{base}/Groups/{}", g.value)));
                if let Some(d) = &g.display {
                    o.insert("display".into(), Value::String(d.clone()));
                }
                o.insert("type".into(), Value::String("direct".into()));
                Value::Object(o)
            })
            .collect();
        insert_before_meta(&mut out, "groups", Value::Array(list));
    }
    out
}

/// One element of a Group's `members` (RFC 7643 §4.2).
pub fn member_value(m: &Member, base: &str) -> Value {
    let mut o = Map::new();
    o.insert("value".into(), Value::String(m.value.clone()));
    o.insert("$ref".into(), Value::String(format!("{base}/{}/{}", m.member_type.endpoint(), m.value)));
    if let Some(d) = &m.display {
        o.insert("display".into(), Value::String(d.clone()));
    }
    o.insert("type".into(), Value::String(m.member_type.name().into()));
    Value::Object(o)
}

fn insert_before_meta(out: &mut Map<String, Value>, key: &str, value: Value) {
    let meta = out.remove("meta");
    out.insert(key.into(), value);
    if let Some(m) = meta {
        out.insert("meta".into(), m);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entity_tags() {
        assert_eq!(etag(3), "W/\"3\"");
        assert_eq!(parse_etag("W/\"3\""), Some(Some(3)));
        assert_eq!(parse_etag("\"3\""), Some(Some(3)));
        assert_eq!(parse_etag(" * "), Some(None));
        assert_eq!(parse_etag("W/\"x\""), None);
        assert_eq!(if_match(None).expect("none"), None);
        assert_eq!(if_match(Some("W/\"7\"")).expect("tag"), Some(7));
        assert_eq!(if_match(Some("bogus")).expect_err("412").status, 412);
        assert!(if_none_match("W/\"1\", W/\"2\"", 2));
        assert!(if_none_match("*", 9));
        assert!(!if_none_match("W/\"1\"", 2));
    }

    #[test]
    fn times_have_microsecond_precision() {
        let t = OffsetDateTime::UNIX_EPOCH + time::Duration::nanoseconds(1_234_567);
        assert_eq!(format_time(t), "1970-01-01T00:00:00.001234Z");
    }
}
