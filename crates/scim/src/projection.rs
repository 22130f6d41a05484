//! `attributes` / `excludedAttributes` (RFC 7644 §3.4.2.5) and the `returned` rules of
//! RFC 7643 §2.2.

use serde_json::{Map, Value};

use crate::error::ScimError;
use crate::filter::{AttrPath, parse_attribute_list};
use crate::schema::{ResourceKind, Returned, SchemaDef, resolve};

/// Which attributes a response carries.
#[derive(Debug, Clone, Default)]
pub struct Projection {
    /// Whether `attributes` was given: then only what it names (and `returned: always`) is
    /// returned, even when none of its names is an attribute of the resource type.
    inclusive: bool,
    attributes: Vec<Selected>,
    excluded: Vec<Selected>,
}

/// One resolved attribute reference: (extension URN or core, attribute, sub-attribute);
/// `attr` None means the whole extension object.
#[derive(Debug, Clone)]
struct Selected {
    extension: Option<&'static str>,
    attr: Option<&'static str>,
    sub: Option<&'static str>,
}

impl Projection {
    /// Parses the two query parameters. Unknown attribute names are ignored, as RFC 7644
    /// §3.4.2.5 allows; syntax errors are 400 `invalidValue`.
    pub fn parse(
        kind: ResourceKind,
        attributes: Option<&str>,
        excluded: Option<&str>,
    ) -> Result<Self, ScimError> {
        let parse = |s: Option<&str>, name: &str| -> Result<Vec<Selected>, ScimError> {
            match s.map(str::trim) {
                None | Some("") => Ok(vec![]),
                Some(s) => Ok(parse_attribute_list(s)
                    .map_err(|e| {
                        ScimError::invalid_value(format!("'{name}' is not a valid attribute list: {e}"))
                    })?
                    .iter()
                    .filter_map(|p| select(kind, p))
                    .collect()),
            }
        };
        Ok(Self {
            inclusive: attributes.is_some_and(|s| !s.trim().is_empty()),
            attributes: parse(attributes, "attributes")?,
            excluded: parse(excluded, "excludedAttributes")?,
        })
    }

    /// Builds a projection from already-parsed lists (SearchRequest bodies).
    pub fn from_lists(
        kind: ResourceKind,
        attributes: &[String],
        excluded: &[String],
    ) -> Result<Self, ScimError> {
        let a = attributes.join(",");
        let e = excluded.join(",");
        Self::parse(kind, Some(&a), Some(&e))
    }

    /// Whether the top-level core attribute `name` will appear. Lets the store skip reading
    /// group members or user groups when they are not wanted.
    pub fn includes(&self, name: &str) -> bool {
        if self.inclusive {
            return self
                .attributes
                .iter()
                .any(|s| s.extension.is_none() && s.attr.is_some_and(|a| a.eq_ignore_ascii_case(name)));
        }
        !self.excluded.iter().any(|s| {
            s.extension.is_none() && s.sub.is_none() && s.attr.is_some_and(|a| a.eq_ignore_ascii_case(name))
        })
    }

    /// Applies the projection to a full representation.
    pub fn apply(&self, kind: ResourceKind, resource: &mut Map<String, Value>) {
        if self.inclusive {
            let mut out = Map::new();
            for (key, value) in std::mem::take(resource) {
                if key == "schemas" {
                    out.insert(key, value);
                    continue;
                }
                let ext = kind.extension(&key);
                let kept = match ext {
                    Some(ext) => keep_extension(ext, &self.attributes, value),
                    None => keep_core(kind.schema(), &key, &self.attributes, value),
                };
                if let Some(v) = kept {
                    out.insert(key, v);
                }
            }
            *resource = out;
        }
        // `shift_remove` keeps the order of what is left. What an exclusion leaves empty (a
        // complex value, an element of a multi-valued one, an extension object) is dropped as
        // `attributes` drops it: an empty value is unassigned (RFC 7643 §2.5).
        for s in &self.excluded {
            let container = match s.extension {
                None => Some(&mut *resource),
                Some(e) => match s.attr {
                    None => {
                        resource.shift_remove(e);
                        None
                    }
                    Some(_) => resource.get_mut(e).and_then(Value::as_object_mut),
                },
            };
            let (Some(container), Some(attr)) = (container, s.attr) else { continue };
            let schema = match s.extension {
                None => kind.schema(),
                Some(e) => kind.extension(e).unwrap_or(kind.schema()),
            };
            if schema.attribute(attr).is_some_and(|a| a.returned == Returned::Always) {
                continue;
            }
            match s.sub {
                None => {
                    container.shift_remove(attr);
                }
                Some(sub) => {
                    let emptied = match container.get_mut(attr) {
                        Some(Value::Object(o)) => {
                            o.shift_remove(sub);
                            o.is_empty()
                        }
                        Some(Value::Array(items)) => {
                            for i in items.iter_mut() {
                                if let Some(o) = i.as_object_mut() {
                                    o.shift_remove(sub);
                                }
                            }
                            items.retain(|i| i.as_object().is_none_or(|o| !o.is_empty()));
                            items.is_empty()
                        }
                        _ => false,
                    };
                    if emptied {
                        container.shift_remove(attr);
                    }
                }
            }
            if let Some(e) = s.extension
                && resource.get(e).and_then(Value::as_object).is_some_and(Map::is_empty)
            {
                resource.shift_remove(e);
            }
        }
    }
}

fn select(kind: ResourceKind, p: &AttrPath) -> Option<Selected> {
    if let Some(uri) = &p.uri
        && p.sub_attr.is_none()
        && let Some(ext) = kind.extension(&format!("{uri}:{}", p.name))
    {
        return Some(Selected { extension: Some(ext.id), attr: None, sub: None });
    }
    let r = resolve(kind, p.uri.as_deref(), &p.name, p.sub_attr.as_deref())?;
    Some(Selected {
        extension: r.extension.map(|e| e.id),
        attr: Some(r.attr.name),
        sub: r.sub.map(|s| s.name),
    })
}

fn keep_core(schema: &SchemaDef, key: &str, wanted: &[Selected], value: Value) -> Option<Value> {
    let returned = schema.attribute(key).map(|a| a.returned).unwrap_or(Returned::Default);
    if returned == Returned::Always {
        return Some(value);
    }
    let subs: Vec<&Selected> =
        wanted.iter().filter(|s| s.extension.is_none() && s.attr.is_some_and(|a| a == key)).collect();
    narrow(subs, value)
}

fn keep_extension(ext: &SchemaDef, wanted: &[Selected], value: Value) -> Option<Value> {
    let mine: Vec<&Selected> = wanted.iter().filter(|s| s.extension == Some(ext.id)).collect();
    if mine.is_empty() {
        return None;
    }
    if mine.iter().any(|s| s.attr.is_none()) {
        return Some(value);
    }
    let Value::Object(obj) = value else { return None };
    let mut out = Map::new();
    for (k, v) in obj {
        let subs: Vec<&Selected> = mine.iter().copied().filter(|s| s.attr == Some(k.as_str())).collect();
        if let Some(v) = narrow(subs, v) {
            out.insert(k, v);
        }
    }
    (!out.is_empty()).then_some(Value::Object(out))
}

/// Keeps the whole value when a selection names the attribute itself, only the named
/// sub-attributes otherwise, nothing when nothing names it.
fn narrow(selections: Vec<&Selected>, value: Value) -> Option<Value> {
    if selections.is_empty() {
        return None;
    }
    if selections.iter().any(|s| s.sub.is_none()) {
        return Some(value);
    }
    let keep = |o: Map<String, Value>| -> Map<String, Value> {
        o.into_iter().filter(|(k, _)| selections.iter().any(|s| s.sub == Some(k.as_str()))).collect()
    };
    match value {
        Value::Object(o) => {
            let o = keep(o);
            (!o.is_empty()).then_some(Value::Object(o))
        }
        Value::Array(items) => {
            let items: Vec<Value> = items
                .into_iter()
                .filter_map(|i| match i {
                    Value::Object(o) => {
                        let o = keep(o);
                        (!o.is_empty()).then_some(Value::Object(o))
                    }
                    _ => None,
                })
                .collect();
            (!items.is_empty()).then_some(Value::Array(items))
        }
        other => Some(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Map<String, Value> {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "id": "1", "userName": "a", "displayName": "A",
            "name": {"givenName": "G", "familyName": "F"},
            "emails": [{"value": "a@x", "type": "work"}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "D", "costCenter": "C"},
            "meta": {"resourceType": "User"}
        })
        .as_object()
        .cloned()
        .expect("object")
    }

    #[test]
    fn attributes_keep_only_named_plus_always() {
        let p = Projection::parse(
            ResourceKind::User,
            Some("userName,name.givenName,emails.value,urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"),
            None,
        )
        .expect("valid");
        let mut r = sample();
        p.apply(ResourceKind::User, &mut r);
        assert_eq!(
            Value::Object(r),
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "id": "1", "userName": "a", "name": {"givenName": "G"}, "emails": [{"value": "a@x"}],
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "D"}
            })
        );
        assert!(p.includes("userName") && !p.includes("groups"));
    }

    #[test]
    fn excluded_never_removes_id() {
        let p =
            Projection::parse(ResourceKind::User, None, Some("id,emails,name.familyName")).expect("valid");
        let mut r = sample();
        p.apply(ResourceKind::User, &mut r);
        assert!(r.contains_key("id") && !r.contains_key("emails"));
        assert_eq!(r["name"], json!({"givenName": "G"}));
        assert!(!p.includes("emails") && p.includes("groups"));
        let g = Projection::parse(ResourceKind::Group, None, Some("members")).expect("valid");
        assert!(!g.includes("members"));
    }

    /// Found by `properties::attributes_return_only_what_was_asked`: when no name in
    /// `attributes` was an attribute of the type (a typo, a Group attribute asked of a User),
    /// the list was dropped and the whole resource returned.
    #[test]
    fn attributes_naming_nothing_known_return_only_the_always_returned() {
        for list in ["usrName", "members", "urn:ietf:params:scim:schemas:core:2.0:Group:displayName"] {
            let p = Projection::parse(ResourceKind::User, Some(list), None).expect("valid");
            let mut r = sample();
            p.apply(ResourceKind::User, &mut r);
            assert_eq!(
                Value::Object(r),
                json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": "1"}),
                "{list}"
            );
            assert!(!p.includes("groups") && !p.includes("userName"), "{list}");
        }
        // No list, or an empty one, is no projection.
        for list in [None, Some(""), Some("  ")] {
            let p = Projection::parse(ResourceKind::User, list, None).expect("valid");
            let mut r = sample();
            p.apply(ResourceKind::User, &mut r);
            assert_eq!(r, sample());
            assert!(p.includes("groups"));
        }
    }

    /// Found by `properties::excluded_attributes_never_leak`: excluding every sub-attribute a
    /// value has left `"name": {}`, `[{}]` elements and an empty extension object (which
    /// `attributes` drops, RFC 7643 §2.5); and removals moved `meta` up among the attributes.
    #[test]
    fn exclusion_leaves_no_empty_values_and_keeps_the_order() {
        let p = Projection::parse(
            ResourceKind::User,
            None,
            Some("name.givenName,name.familyName,emails.value,emails.type,department,costCenter,displayName"),
        )
        .expect("valid");
        let mut r = sample();
        p.apply(ResourceKind::User, &mut r);
        assert_eq!(r.keys().collect::<Vec<_>>(), ["schemas", "id", "userName", "meta"]);
        let p = Projection::parse(ResourceKind::User, None, Some("emails.type")).expect("valid");
        let mut r = sample();
        p.apply(ResourceKind::User, &mut r);
        assert_eq!(r["emails"], json!([{"value": "a@x"}]));
    }
}
