//! Validation and normalisation of resource bodies (RFC 7643 §2, RFC 7644 §3.3, §3.5.1).
//!
//! Incoming JSON is checked against the schema table and rewritten into a canonical form:
//! attribute names in their canonical case, extension attributes nested under their URN,
//! read-only attributes dropped, booleans sent as strings (`"True"`, as Entra ID does)
//! turned into booleans, and nulls/empty values removed (RFC 7643 §2.5 "unassigned").

use serde_json::{Map, Value};

use crate::error::ScimError;
use crate::schema::{AttrType, AttributeDef, Mutability, ResourceKind, SchemaDef};

/// Most values one multi-valued attribute (`emails`, `phoneNumbers`, `addresses`, ...) may
/// hold; more is 400 `invalidValue` on create, replace and PATCH (security review item 2: the
/// work of a PATCH grows with the array). A Group's `members` (and a User's `groups`) are not
/// limited: they live in their own table, and a membership change costs what it changes.
pub const MAX_MULTI_VALUED_ELEMENTS: usize = 1000;

/// Whether [`MAX_MULTI_VALUED_ELEMENTS`] applies to an attribute of `kind`: every
/// multi-valued attribute but the related resources (a Group's `members`, a User's `groups`).
pub fn is_capped(kind: ResourceKind, attr: &AttributeDef) -> bool {
    attr.multi_valued && attr.name != crate::stored::related_attribute(kind)
}

/// 400 `invalidValue` when a multi-valued attribute would hold `len` values, more than
/// [`MAX_MULTI_VALUED_ELEMENTS`].
pub fn check_multi_valued_len(name: &str, len: usize) -> Result<(), ScimError> {
    if len > MAX_MULTI_VALUED_ELEMENTS {
        return Err(ScimError::invalid_value(format!(
            "'{name}' may hold at most {MAX_MULTI_VALUED_ELEMENTS} values; the request gives it {len}"
        )));
    }
    Ok(())
}

fn check_capped(kind: ResourceKind, attr: &AttributeDef, value: &Value) -> Result<(), ScimError> {
    match value {
        Value::Array(items) if is_capped(kind, attr) => check_multi_valued_len(attr.name, items.len()),
        _ => Ok(()),
    }
}

/// Longest string value of any attribute, in bytes (16 KiB).
pub const MAX_STRING_BYTES: usize = 16 * 1024;
/// Longest `userName`, `externalId` or `displayName`, in bytes: these are indexed, and a
/// database index entry has a size limit (PostgreSQL's B-tree about 2.7 KB).
pub const MAX_INDEXED_STRING_BYTES: usize = 1024;

/// Checks every string of a document: at most [`MAX_STRING_BYTES`] (the indexed ones
/// [`MAX_INDEXED_STRING_BYTES`]) and no NUL character (which PostgreSQL cannot store).
fn check_strings(doc: &Map<String, Value>) -> Result<(), ScimError> {
    fn walk(v: &Value, name: &str, limit: usize) -> Result<(), ScimError> {
        match v {
            Value::String(s) if s.len() > limit => Err(ScimError::invalid_value(format!(
                "'{name}' is {} bytes long; at most {limit} are allowed",
                s.len()
            ))),
            Value::String(s) if s.contains('\0') => {
                Err(ScimError::invalid_value(format!("'{name}' contains a NUL character (U+0000)")))
            }
            Value::Array(items) => items.iter().try_for_each(|i| walk(i, name, limit)),
            Value::Object(m) => m.iter().try_for_each(|(k, v)| walk(v, &format!("{name}.{k}"), limit)),
            _ => Ok(()),
        }
    }
    for (name, value) in doc {
        let limit = match name.as_str() {
            "userName" | "externalId" | "displayName" => MAX_INDEXED_STRING_BYTES,
            _ => MAX_STRING_BYTES,
        };
        walk(value, name, limit)?;
    }
    Ok(())
}

/// Normalises a body for POST or PUT. `id`, `meta` and other read-only attributes are
/// ignored as RFC 7644 §3.3 requires; unknown attributes and wrong types are rejected.
pub fn normalize(kind: ResourceKind, body: &Value) -> Result<Map<String, Value>, ScimError> {
    let Some(obj) = body.as_object() else {
        return Err(ScimError::invalid_syntax(format!(
            "the request body must be a JSON object ({} resource)",
            kind.name()
        )));
    };
    if let Some(schemas) = get_ci(obj, "schemas") {
        check_schemas(kind, schemas)?;
    }
    let mut out = Map::new();
    for (key, value) in obj {
        if key.eq_ignore_ascii_case("schemas") {
            continue;
        }
        if let Some(ext) = kind.extension(key) {
            let Some(ext_obj) = value.as_object() else {
                if value.is_null() {
                    continue;
                }
                return Err(ScimError::invalid_value(format!(
                    "'{}' must be a JSON object of extension attributes",
                    ext.id
                )));
            };
            let normalized = normalize_attrs(kind, ext, ext_obj)?;
            if !normalized.is_empty() {
                out.insert(ext.id.to_string(), Value::Object(normalized));
            }
            continue;
        }
        let schema = kind.schema();
        let Some(attr) = schema.attribute(key) else {
            return Err(unknown_attribute(kind, key));
        };
        if attr.mutability == Mutability::ReadOnly {
            continue;
        }
        if let Some(v) = coerce(attr, value, attr.name)? {
            check_capped(kind, attr, &v)?;
            out.insert(attr.name.to_string(), v);
        }
    }
    finish(kind, out)
}

/// Re-checks a document that was produced by PATCH: required attributes, `primary` rules,
/// and recomputes `schemas`. The attribute values are already canonical.
pub fn finish(kind: ResourceKind, mut doc: Map<String, Value>) -> Result<Map<String, Value>, ScimError> {
    // `shift_remove`, here and in PATCH: `remove` swaps the last member into the gap
    // (serde_json's `preserve_order`), which moved an attribute to the front on every PATCH.
    doc.shift_remove("schemas");
    check_strings(&doc)?;
    let schema = kind.schema();
    for attr in schema.attributes {
        if attr.returned == crate::schema::Returned::Never {
            // `password`: accepted and discarded; scimgate stores no credentials of users.
            doc.shift_remove(attr.name);
        }
        if attr.required && !is_present(doc.get(attr.name)) {
            return Err(ScimError::invalid_value(format!(
                "'{}' is required for a {} and must not be empty",
                attr.name,
                kind.name()
            )));
        }
        if attr.multi_valued
            && let Some(Value::Array(items)) = doc.get(attr.name)
        {
            let primaries = items.iter().filter(|i| i.get("primary") == Some(&Value::Bool(true))).count();
            if primaries > 1 {
                return Err(ScimError::invalid_value(format!(
                    "at most one of '{}' may have \"primary\": true (RFC 7643 §2.4)",
                    attr.name
                )));
            }
        }
    }
    let mut schemas = vec![Value::String(schema.id.to_string())];
    for ext in kind.extensions() {
        if doc.get(ext.id).is_some_and(|v| v.as_object().is_some_and(|o| !o.is_empty())) {
            schemas.push(Value::String(ext.id.to_string()));
        } else {
            doc.shift_remove(ext.id);
        }
    }
    let mut out = Map::with_capacity(doc.len() + 1);
    out.insert("schemas".into(), Value::Array(schemas));
    out.extend(doc);
    Ok(out)
}

fn check_schemas(kind: ResourceKind, schemas: &Value) -> Result<(), ScimError> {
    let Some(list) = schemas.as_array() else {
        return Err(ScimError::invalid_value("'schemas' must be an array of schema URNs"));
    };
    let mut has_core = false;
    for s in list {
        let Some(s) = s.as_str() else {
            return Err(ScimError::invalid_value("'schemas' must be an array of schema URNs"));
        };
        if s.eq_ignore_ascii_case(kind.schema().id) {
            has_core = true;
        } else if kind.extension(s).is_none() {
            return Err(ScimError::invalid_value(format!(
                "schema '{s}' is not supported for {}; see /Schemas and /ResourceTypes",
                kind.name()
            )));
        }
    }
    if !has_core {
        return Err(ScimError::invalid_value(format!("'schemas' must contain '{}'", kind.schema().id)));
    }
    Ok(())
}

fn normalize_attrs(
    kind: ResourceKind,
    schema: &SchemaDef,
    obj: &Map<String, Value>,
) -> Result<Map<String, Value>, ScimError> {
    let mut out = Map::new();
    for (key, value) in obj {
        let Some(attr) = schema.attribute(key) else {
            return Err(ScimError::invalid_value(format!(
                "unknown attribute '{key}' in schema '{}'; see /Schemas",
                schema.id
            )));
        };
        if attr.mutability == Mutability::ReadOnly {
            continue;
        }
        if let Some(v) = coerce(attr, value, attr.name)? {
            check_capped(kind, attr, &v)?;
            out.insert(attr.name.to_string(), v);
        }
    }
    Ok(out)
}

/// The error for an attribute the resource type does not define.
pub fn unknown_attribute(kind: ResourceKind, name: &str) -> ScimError {
    ScimError::invalid_value(format!(
        "unknown attribute '{name}' for {}; the supported attributes are listed at /Schemas",
        kind.name()
    ))
}

/// Whether a value counts as assigned (RFC 7643 §2.5: null, "" and [] are unassigned).
pub fn is_present(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) => !s.trim().is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
        Some(_) => true,
    }
}

/// Checks and converts one attribute value (all values of a multi-valued attribute).
/// `Ok(None)` means unassigned. `label` names the attribute in error messages.
pub fn coerce(attr: &AttributeDef, value: &Value, label: &str) -> Result<Option<Value>, ScimError> {
    if value.is_null() {
        return Ok(None);
    }
    if attr.multi_valued {
        let items: Vec<&Value> = match value {
            Value::Array(items) => items.iter().collect(),
            single => vec![single],
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            if let Some(v) = coerce_single(attr, item, label)? {
                out.push(v);
            }
        }
        return Ok(if out.is_empty() { None } else { Some(Value::Array(out)) });
    }
    if value.is_array() {
        return Err(ScimError::invalid_value(format!("'{label}' is single-valued; an array was sent")));
    }
    coerce_single(attr, value, label)
}

/// Converts one value (one element, for a multi-valued attribute).
pub fn coerce_single(attr: &AttributeDef, value: &Value, label: &str) -> Result<Option<Value>, ScimError> {
    if value.is_null() {
        return Ok(None);
    }
    let wrong =
        |want: &str| ScimError::invalid_value(format!("'{label}' must be {want}; got {}", describe(value)));
    match attr.attr_type {
        AttrType::String | AttrType::Reference | AttrType::Binary => match value {
            Value::String(_) => Ok(Some(value.clone())),
            _ => Err(wrong("a string")),
        },
        AttrType::DateTime => match value {
            Value::String(s)
                if time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).is_ok() =>
            {
                Ok(Some(value.clone()))
            }
            _ => Err(wrong("an RFC 3339 date-time string")),
        },
        AttrType::Boolean => match value {
            Value::Bool(_) => Ok(Some(value.clone())),
            // Entra ID's default PATCH style sends "True"/"False" (docs/interop.md).
            Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(Some(Value::Bool(true))),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(Some(Value::Bool(false))),
            _ => Err(wrong("a boolean")),
        },
        AttrType::Integer => match value {
            Value::Number(n) if n.is_i64() || n.is_u64() => Ok(Some(value.clone())),
            _ => Err(wrong("an integer")),
        },
        AttrType::Decimal => match value {
            Value::Number(_) => Ok(Some(value.clone())),
            _ => Err(wrong("a number")),
        },
        AttrType::Complex => {
            let obj = match value {
                Value::Object(o) => o.clone(),
                // A bare value for a complex attribute that has a `value` sub-attribute:
                // Entra ID sends `manager` as a plain id string (docs/interop.md).
                Value::String(_) | Value::Number(_) | Value::Bool(_)
                    if !attr.multi_valued && attr.sub_attribute("value").is_some() =>
                {
                    let mut m = Map::new();
                    m.insert("value".into(), value.clone());
                    m
                }
                _ => return Err(wrong("a JSON object")),
            };
            let mut out = Map::new();
            for (key, v) in &obj {
                let Some(sub) = attr.sub_attribute(key) else {
                    return Err(ScimError::invalid_value(format!(
                        "unknown sub-attribute '{key}' of '{label}'; see /Schemas"
                    )));
                };
                if sub.mutability == Mutability::ReadOnly {
                    continue;
                }
                if let Some(cv) = coerce_single(sub, v, &format!("{label}.{}", sub.name))? {
                    out.insert(sub.name.to_string(), cv);
                }
            }
            Ok(if out.is_empty() { None } else { Some(Value::Object(out)) })
        }
    }
}

fn describe(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Case-insensitive member lookup.
pub fn get_ci<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).or_else(|| obj.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v))
}

/// Server-maintained parts of a stored resource, used to build the full representation.
#[derive(Debug, Clone)]
pub struct Meta {
    /// Resource id.
    pub id: String,
    /// Creation time, RFC 3339.
    pub created: String,
    /// Last modification time, RFC 3339.
    pub last_modified: String,
    /// Weak entity tag, e.g. `W/"3"`.
    pub version: String,
    /// Absolute URL of the resource.
    pub location: String,
}

/// Builds the full representation: `schemas`, `id`, the attributes, then `meta`.
pub fn render(kind: ResourceKind, doc: &Map<String, Value>, meta: &Meta) -> Map<String, Value> {
    let mut out = Map::with_capacity(doc.len() + 3);
    match doc.get("schemas") {
        Some(s) => out.insert("schemas".into(), s.clone()),
        None => out.insert("schemas".into(), Value::Array(vec![Value::String(kind.schema().id.into())])),
    };
    out.insert("id".into(), Value::String(meta.id.clone()));
    for (k, v) in doc {
        if k != "schemas" {
            out.insert(k.clone(), v.clone());
        }
    }
    let mut m = Map::new();
    m.insert("resourceType".into(), Value::String(kind.name().into()));
    m.insert("created".into(), Value::String(meta.created.clone()));
    m.insert("lastModified".into(), Value::String(meta.last_modified.clone()));
    m.insert("location".into(), Value::String(meta.location.clone()));
    m.insert("version".into(), Value::String(meta.version.clone()));
    out.insert("meta".into(), Value::Object(m));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn normalizes_names_types_and_read_only() {
        let body = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
                        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
            "id": "ignored", "meta": {"version": "x"},
            "USERNAME": "Ana", "Active": "False",
            "emails": [{"Value": "a@x", "type": "work", "primary": true}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"manager": "m1", "department": "R&D"},
            "groups": [{"value": "g"}]
        });
        let out = normalize(ResourceKind::User, &body).expect("valid");
        assert_eq!(out["userName"], "Ana");
        assert_eq!(out["active"], false);
        assert_eq!(out["emails"][0]["value"], "a@x");
        assert!(!out.contains_key("id") && !out.contains_key("meta") && !out.contains_key("groups"));
        assert_eq!(out[crate::schema::ENTERPRISE_USER_URN]["manager"]["value"], "m1");
        assert_eq!(out["schemas"].as_array().map(Vec::len), Some(2));
    }

    #[test]
    fn rejects_bad_input() {
        let k = ResourceKind::User;
        assert!(normalize(k, &json!([])).is_err());
        assert!(normalize(k, &json!({"displayName": "x"})).is_err(), "userName required");
        assert!(normalize(k, &json!({"userName": "  "})).is_err());
        assert!(normalize(k, &json!({"userName": 5})).is_err());
        assert!(normalize(k, &json!({"userName": "a", "active": "yes"})).is_err());
        assert!(normalize(k, &json!({"userName": "a", "bogus": 1})).is_err());
        assert!(normalize(k, &json!({"userName": "a", "schemas": ["urn:x"]})).is_err());
        assert!(
            normalize(
                k,
                &json!({"userName": "a", "emails": [{"value": "a", "primary": true}, {"value": "b", "primary": true}]})
            )
            .is_err()
        );
        let e = normalize(k, &json!({"userName": "a", "name": "x"})).expect_err("name is complex");
        assert!(e.detail.contains("name"), "{}", e.detail);
    }
}
