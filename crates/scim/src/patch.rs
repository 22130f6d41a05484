//! PATCH (RFC 7644 §3.5.2) applied to a normalised resource document.
//!
//! Besides the RFC this accepts what real clients send (see `docs/interop.md`):
//! capitalised `op` values, booleans as strings, path-less values with dotted keys
//! (`"name.givenName"`), `Replace`/`Add` on `emails[type eq "work"].value` that creates the
//! element when none matches, and `Remove` of `members` with a value list (remove only those).
//!
//! Group membership is not applied to the document: it is returned as [`MemberChange`]s so
//! the store can apply them at a cost proportional to the change, never to the group size.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher, RandomState};

use serde_json::{Map, Value};

use crate::error::ScimError;
use crate::filter::{self, AttrPath, CompValue, CompareOp, Filter, MAX_FILTER_COMPARISONS, PatchPath};
use crate::resource::{
    MAX_MULTI_VALUED_ELEMENTS, check_multi_valued_len, coerce, coerce_single, get_ci, is_capped,
    unknown_attribute,
};
use crate::schema::{AttributeDef, Mutability, ResourceKind, SchemaDef, resolve};

/// Most operations accepted in one PATCH request (reported in `/ServiceProviderConfig` docs).
pub const MAX_PATCH_OPERATIONS: usize = 1000;

/// Most comparisons the value filters of one PATCH have together (each at most
/// [`MAX_FILTER_COMPARISONS`]): every comparison is evaluated on every element of its
/// attribute, so this and [`MAX_MULTI_VALUED_ELEMENTS`] bound a PATCH's filter work
/// (security review item 2). `members[...]` filters do not count (they become id lists).
pub const MAX_PATCH_FILTER_COMPARISONS: usize = 1000;

/// The three PATCH operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    /// `add`.
    Add,
    /// `remove`.
    Remove,
    /// `replace`.
    Replace,
}

/// One operation of a PatchOp request.
#[derive(Debug, Clone)]
pub struct PatchOperation {
    /// The operation.
    pub op: OpKind,
    /// The parsed `path`, when given.
    pub path: Option<PatchPath>,
    /// The `value`, when given.
    pub value: Option<Value>,
}

/// A reference to a group member as sent by the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRef {
    /// The member's id.
    pub value: String,
    /// `User` or `Group` when the client said so.
    pub member_type: Option<String>,
    /// `display` as the client sent it (stored and returned as sent).
    pub display: Option<String>,
}

/// A change to a group's membership, in request order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberChange {
    /// Add these members (already present ones are kept once).
    Add(Vec<MemberRef>),
    /// Remove these member ids (absent ones are ignored).
    Remove(Vec<String>),
    /// Remove every member.
    RemoveAll,
    /// Make the membership exactly this list.
    Replace(Vec<MemberRef>),
}

/// Whether a PATCH answers 200 with the resource or 204 with only its ETag: Users always
/// get the resource; Groups (whose member list can be large) get 204 unless the client asked
/// for `attributes` or `excludedAttributes` (docs/interop.md, docs/scim.md).
pub fn answers_with_resource(kind: ResourceKind, asked_for_attributes: bool) -> bool {
    kind == ResourceKind::User || asked_for_attributes
}

/// Parses a PatchOp request body (RFC 7644 §3.5.2). Operation names are accepted in any case.
pub fn parse_request(body: &Value) -> Result<Vec<PatchOperation>, ScimError> {
    let Some(obj) = body.as_object() else {
        return Err(ScimError::invalid_syntax("the PATCH body must be a JSON object (a PatchOp message)"));
    };
    if let Some(schemas) = get_ci(obj, "schemas") {
        let ok = schemas.as_array().is_some_and(|l| {
            l.iter().any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(crate::PATCH_OP_URN)))
        });
        if !ok {
            return Err(ScimError::invalid_syntax(format!(
                "'schemas' must contain '{}'",
                crate::PATCH_OP_URN
            )));
        }
    }
    let Some(ops) = get_ci(obj, "Operations").and_then(Value::as_array) else {
        return Err(ScimError::invalid_syntax("the PATCH body needs an 'Operations' array"));
    };
    if ops.is_empty() {
        return Err(ScimError::invalid_syntax("'Operations' must not be empty"));
    }
    if ops.len() > MAX_PATCH_OPERATIONS {
        return Err(ScimError::new(
            413,
            Some(crate::ScimType::TooMany),
            format!("at most {MAX_PATCH_OPERATIONS} operations per PATCH request"),
        ));
    }
    ops.iter().enumerate().map(|(i, op)| parse_operation(i, op)).collect()
}

fn parse_operation(index: usize, op: &Value) -> Result<PatchOperation, ScimError> {
    let Some(o) = op.as_object() else {
        return Err(ScimError::invalid_syntax(format!("Operations[{index}] must be an object")));
    };
    let kind = match get_ci(o, "op").and_then(Value::as_str) {
        Some(s) if s.eq_ignore_ascii_case("add") => OpKind::Add,
        Some(s) if s.eq_ignore_ascii_case("remove") => OpKind::Remove,
        Some(s) if s.eq_ignore_ascii_case("replace") => OpKind::Replace,
        _ => {
            return Err(ScimError::invalid_syntax(format!(
                "Operations[{index}].op must be \"add\", \"remove\" or \"replace\""
            )));
        }
    };
    let path = match get_ci(o, "path") {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) if p.trim().is_empty() => None,
        Some(Value::String(p)) => Some(filter::parse_patch_path(p.trim()).map_err(|e| {
            ScimError::invalid_path(format!("Operations[{index}].path '{p}' is not a valid path: {e}"))
        })?),
        Some(_) => return Err(ScimError::invalid_path(format!("Operations[{index}].path must be a string"))),
    };
    let value = get_ci(o, "value").cloned();
    if kind != OpKind::Remove && value.is_none() {
        return Err(ScimError::invalid_value(format!("Operations[{index}] ({kind:?}) needs a 'value'")));
    }
    if kind == OpKind::Remove && path.is_none() {
        return Err(ScimError::no_target(format!(
            "Operations[{index}]: remove needs a 'path' (RFC 7644 §3.5.2.2)"
        )));
    }
    Ok(PatchOperation { op: kind, path, value })
}

/// Applies the operations in order to `doc`. For Groups, membership operations are returned
/// instead of being applied to the document.
pub fn apply(
    kind: ResourceKind,
    doc: &mut Map<String, Value>,
    ops: &[PatchOperation],
) -> Result<Vec<MemberChange>, ScimError> {
    let mut run = Applied::default();
    for op in ops {
        match &op.path {
            Some(path) => apply_path(kind, doc, op.op, path, op.value.as_ref(), &mut run)?,
            None => {
                let Some(Value::Object(values)) = &op.value else {
                    return Err(ScimError::invalid_value(
                        "an add or replace without 'path' needs an object 'value' (RFC 7644 §3.5.2.1)",
                    ));
                };
                for (key, value) in values {
                    if key.eq_ignore_ascii_case("schemas") {
                        continue;
                    }
                    if let Some(ext) = kind.extension(key) {
                        apply_extension_object(kind, doc, op.op, ext, value, &mut run)?;
                        continue;
                    }
                    let path = filter::parse_patch_path(key).map_err(|e| {
                        ScimError::invalid_path(format!(
                            "'{key}' in the PATCH value is not an attribute: {e}"
                        ))
                    })?;
                    if is_read_only_top(kind, &path) {
                        // RFC 7644 §3.5.2: read-only attributes in a path-less value are ignored,
                        // so a client may send back what it read.
                        continue;
                    }
                    apply_path(kind, doc, op.op, &path, Some(value), &mut run)?;
                }
            }
        }
    }
    Ok(run.changes)
}

/// What applying a PATCH has produced so far.
#[derive(Default)]
struct Applied {
    /// Membership changes, in request order.
    changes: Vec<MemberChange>,
    /// Comparisons in the value filters applied so far.
    filter_comparisons: usize,
}

fn is_read_only_top(kind: ResourceKind, path: &PatchPath) -> bool {
    resolve(kind, path.attr.uri.as_deref(), &path.attr.name, None)
        .is_some_and(|r| r.attr.mutability == Mutability::ReadOnly)
}

fn apply_extension_object(
    kind: ResourceKind,
    doc: &mut Map<String, Value>,
    op: OpKind,
    ext: &'static SchemaDef,
    value: &Value,
    run: &mut Applied,
) -> Result<(), ScimError> {
    match (op, value) {
        (OpKind::Remove, _) => {
            doc.shift_remove(ext.id);
            Ok(())
        }
        (_, Value::Object(values)) => {
            for (key, v) in values {
                if key.eq_ignore_ascii_case("schemas") {
                    continue;
                }
                let path = PatchPath {
                    attr: AttrPath { uri: Some(ext.id.to_string()), name: key.clone(), sub_attr: None },
                    filter: None,
                    sub_attr: None,
                };
                let path = match key.split_once('.') {
                    Some((name, sub)) => PatchPath {
                        attr: AttrPath {
                            uri: Some(ext.id.to_string()),
                            name: name.to_string(),
                            sub_attr: Some(sub.to_string()),
                        },
                        ..path
                    },
                    None => path,
                };
                apply_path(kind, doc, op, &path, Some(v), run)?;
            }
            Ok(())
        }
        _ => Err(ScimError::invalid_value(format!("the value for '{}' must be an object", ext.id))),
    }
}

/// `urn:...:enterprise:2.0:User` parsed as a path gives uri `urn:...:enterprise:2.0`, name
/// `User`: recognise the whole-extension target.
fn whole_extension(kind: ResourceKind, path: &PatchPath) -> Option<&'static SchemaDef> {
    let uri = path.attr.uri.as_deref()?;
    if path.attr.sub_attr.is_some() || path.filter.is_some() {
        return None;
    }
    kind.extension(&format!("{uri}:{}", path.attr.name))
}

fn apply_path(
    kind: ResourceKind,
    doc: &mut Map<String, Value>,
    op: OpKind,
    path: &PatchPath,
    value: Option<&Value>,
    run: &mut Applied,
) -> Result<(), ScimError> {
    if let Some(ext) = whole_extension(kind, path) {
        return apply_extension_object(kind, doc, op, ext, value.unwrap_or(&Value::Null), run);
    }
    let attr_label = path.attr.to_string();
    let resolved = resolve(kind, path.attr.uri.as_deref(), &path.attr.name, path.attr.sub_attr.as_deref())
        .ok_or_else(|| {
            let e = unknown_attribute(kind, &attr_label);
            ScimError::invalid_path(e.detail)
        })?;
    let attr = resolved.attr;
    if kind == ResourceKind::Group && attr.name == "members" {
        return member_change(op, path, value, &mut run.changes);
    }
    if attr.mutability == Mutability::ReadOnly
        || resolved.sub.is_some_and(|s| s.mutability == Mutability::ReadOnly)
    {
        return Err(ScimError::mutability(format!("'{attr_label}' is read-only and cannot be modified")));
    }
    let container: &mut Map<String, Value> = match resolved.extension {
        None => doc,
        Some(ext) => {
            let entry = doc.entry(ext.id.to_string()).or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            match entry.as_object_mut() {
                Some(m) => m,
                None => return Err(ScimError::new(500, None, "internal error")),
            }
        }
    };
    let sub_name = resolved.sub.map(|s| s.name).or(None);
    let capped = is_capped(kind, attr);
    if capped && (path.filter.is_some() || sub_name.is_some() || op == OpKind::Add) {
        // A document stored before the limit: operations that work through its elements are
        // refused (their cost grows with the array); replacing or removing the attribute, or
        // removing listed values, is the way back under the limit.
        let held = held(container, attr.name);
        if held > MAX_MULTI_VALUED_ELEMENTS {
            return Err(ScimError::invalid_value(format!(
                "'{}' holds {held} values, more than the {MAX_MULTI_VALUED_ELEMENTS} a multi-valued attribute may hold; \
                 replace it, remove it or remove values before changing its elements",
                attr.name
            )));
        }
    }
    match (&path.filter, sub_name) {
        (None, None) => apply_attribute(container, attr, capped, op, value, &attr_label)?,
        (None, Some(sub)) => apply_sub_attribute(container, attr, sub, op, value, &attr_label)?,
        (Some(filter), _) => {
            if !attr.multi_valued {
                return Err(ScimError::invalid_path(format!(
                    "'{attr_label}' is single-valued; a [filter] applies only to multi-valued attributes"
                )));
            }
            // Evaluated on every element, by every operation (`members[...]` is not: it
            // becomes a list of ids above).
            let n = filter::comparisons(filter);
            if n > MAX_FILTER_COMPARISONS {
                return Err(ScimError::invalid_filter(format!(
                    "the filter of '{attr_label}[...]' has {n} comparisons; at most {MAX_FILTER_COMPARISONS} are allowed"
                )));
            }
            run.filter_comparisons += n;
            if run.filter_comparisons > MAX_PATCH_FILTER_COMPARISONS {
                return Err(ScimError::invalid_filter(format!(
                    "the value filters of this PATCH have more than {MAX_PATCH_FILTER_COMPARISONS} comparisons \
                     together; send the operations in several requests"
                )));
            }
            let sub = match &path.sub_attr {
                Some(s) => Some(attr.sub_attribute(s).ok_or_else(|| {
                    ScimError::invalid_path(format!("'{}' has no sub-attribute '{s}'", attr.name))
                })?),
                None => None,
            };
            if let Some(s) = sub
                && s.mutability == Mutability::ReadOnly
            {
                return Err(ScimError::mutability(format!("'{}.{}' is read-only", attr.name, s.name)));
            }
            apply_filtered(container, attr, filter, sub, op, value)?;
        }
    }
    if capped && op != OpKind::Remove {
        // The operations check before they grow the array; this keeps the rule whatever the path.
        check_multi_valued_len(attr.name, held(container, attr.name))?;
    }
    if let Some(ext) = resolved.extension
        && doc.get(ext.id).and_then(Value::as_object).is_some_and(Map::is_empty)
    {
        doc.shift_remove(ext.id);
    }
    Ok(())
}

fn apply_attribute(
    container: &mut Map<String, Value>,
    attr: &AttributeDef,
    capped: bool,
    op: OpKind,
    value: Option<&Value>,
    label: &str,
) -> Result<(), ScimError> {
    match op {
        OpKind::Remove => {
            match (attr.multi_valued, value) {
                // Entra ID removes chosen values with a value list (docs/interop.md): remove only those.
                (true, Some(v)) if !v.is_null() => {
                    let Some(removals) = coerce(attr, v, label)? else { return Ok(()) };
                    if let Some(Value::Array(items)) = container.get_mut(attr.name) {
                        remove_listed(items, removals.as_array().map(Vec::as_slice).unwrap_or_default());
                    }
                }
                _ => {
                    container.shift_remove(attr.name);
                }
            }
            drop_if_empty(container, attr.name);
            Ok(())
        }
        OpKind::Add | OpKind::Replace => {
            let v = value.unwrap_or(&Value::Null);
            let Some(new) = coerce(attr, v, label)? else {
                if op == OpKind::Replace {
                    container.shift_remove(attr.name);
                }
                return Ok(());
            };
            if attr.multi_valued {
                let new_items = match new {
                    Value::Array(a) => a,
                    other => vec![other],
                };
                if op == OpKind::Replace {
                    if capped {
                        check_multi_valued_len(attr.name, new_items.len())?;
                    }
                    container.insert(attr.name.into(), Value::Array(new_items));
                } else {
                    let entry =
                        container.entry(attr.name.to_string()).or_insert_with(|| Value::Array(vec![]));
                    if !entry.is_array() {
                        *entry = Value::Array(vec![]);
                    }
                    if let Value::Array(items) = entry {
                        let new_items = not_yet_in(items, new_items);
                        if capped {
                            check_multi_valued_len(attr.name, items.len() + new_items.len())?;
                        }
                        items.extend(new_items);
                    }
                }
                fix_primary(container, attr.name);
            } else if let (Value::Object(new_subs), Some(Value::Object(existing))) =
                (&new, container.get_mut(attr.name))
            {
                // RFC 7644 §3.5.2.1/§3.5.2.3: sub-attributes not given are left unchanged.
                for (k, v) in new_subs {
                    existing.insert(k.clone(), v.clone());
                }
            } else {
                container.insert(attr.name.into(), new);
            }
            Ok(())
        }
    }
}

fn apply_sub_attribute(
    container: &mut Map<String, Value>,
    attr: &AttributeDef,
    sub_name: &str,
    op: OpKind,
    value: Option<&Value>,
    label: &str,
) -> Result<(), ScimError> {
    let Some(sub) = attr.sub_attribute(sub_name) else {
        return Err(ScimError::invalid_path(format!("'{label}' is not an attribute")));
    };
    let new = match op {
        OpKind::Remove => None,
        _ => coerce_single(sub, value.unwrap_or(&Value::Null), label)?,
    };
    if attr.multi_valued {
        // `emails.value`: applies to every element; add creates one when there is none.
        let entry = container.entry(attr.name.to_string()).or_insert_with(|| Value::Array(vec![]));
        if let Value::Array(items) = entry {
            if items.is_empty()
                && let Some(n) = &new
            {
                let mut m = Map::new();
                m.insert(sub.name.into(), n.clone());
                items.push(Value::Object(m));
            } else {
                for item in items.iter_mut() {
                    set_or_remove(item, sub.name, new.clone());
                }
                // What a removal leaves empty goes, as with a [filter]: `remove entitlements.value`
                // left `[{}]`, which a PUT of the same body does not store.
                if new.is_none() {
                    items.retain(|i| i.as_object().is_none_or(|o| !o.is_empty()));
                }
            }
        }
    } else {
        let entry = container.entry(attr.name.to_string()).or_insert_with(|| Value::Object(Map::new()));
        set_or_remove(entry, sub.name, new);
    }
    drop_if_empty(container, attr.name);
    Ok(())
}

fn apply_filtered(
    container: &mut Map<String, Value>,
    attr: &AttributeDef,
    filter: &Filter,
    sub: Option<&AttributeDef>,
    op: OpKind,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    let case_exact = |p: &AttrPath| attr.sub_attribute(&p.name).is_some_and(|s| s.case_exact);
    let label = attr.name;
    let new = match (op, sub) {
        (OpKind::Remove, _) => None,
        (_, Some(s)) => coerce_single(s, value.unwrap_or(&Value::Null), &format!("{label}.{}", s.name))?,
        (_, None) => coerce_single(attr, value.unwrap_or(&Value::Null), label)?,
    };
    let entry = container.entry(attr.name.to_string()).or_insert_with(|| Value::Array(vec![]));
    if !entry.is_array() {
        *entry = Value::Array(vec![]);
    }
    let Value::Array(items) = entry else { return Ok(()) };
    let matched: Vec<usize> = items
        .iter()
        .enumerate()
        .filter(|(_, i)| filter::evaluate(filter, i, &case_exact))
        .map(|(n, _)| n)
        .collect();
    match op {
        OpKind::Remove => {
            if let Some(s) = sub {
                for &n in &matched {
                    set_or_remove(&mut items[n], s.name, None);
                }
                items.retain(|i| i.as_object().is_none_or(|o| !o.is_empty()));
            } else {
                // A mask, not `matched.contains`: that was quadratic when many elements match.
                let mut removed = vec![false; items.len()];
                for &n in &matched {
                    removed[n] = true;
                }
                let mut n = 0;
                items.retain(|_| {
                    let keep = !removed[n];
                    n += 1;
                    keep
                });
            }
        }
        OpKind::Add | OpKind::Replace => {
            if matched.is_empty() {
                // RFC 7644 §3.5.2.3 says noTarget; Entra ID expects `emails[type eq "work"].value`
                // to create the work email. Create when the filter pins down the element.
                let Some(mut element) = element_from_filter(filter) else {
                    return Err(ScimError::no_target(format!(
                        "no value of '{label}' matches the filter '{filter}'"
                    )));
                };
                match (sub, new) {
                    (Some(s), Some(n)) => {
                        element.insert(s.name.into(), n);
                    }
                    (None, Some(Value::Object(m))) => element.extend(m),
                    _ => return Ok(()),
                }
                let element = coerce_single(attr, &Value::Object(element), label)?;
                if let Some(e) = element {
                    check_multi_valued_len(label, items.len() + 1)?;
                    items.push(e);
                }
            } else {
                for &n in &matched {
                    match (sub, &new) {
                        (Some(s), v) => set_or_remove(&mut items[n], s.name, v.clone()),
                        (None, Some(v)) => items[n] = v.clone(),
                        (None, None) => {}
                    }
                }
            }
        }
    }
    fix_primary(container, attr.name);
    drop_if_empty(container, attr.name);
    Ok(())
}

/// `type eq "work"` or `type eq "work" and display eq "x"` → `{"type": "work", ...}`.
fn element_from_filter(filter: &Filter) -> Option<Map<String, Value>> {
    let mut out = Map::new();
    fn walk(f: &Filter, out: &mut Map<String, Value>) -> bool {
        match f {
            Filter::Compare { path, op: CompareOp::Eq, value } if path.sub_attr.is_none() => {
                let v = match value {
                    CompValue::String(s) => Value::String(s.clone()),
                    CompValue::Bool(b) => Value::Bool(*b),
                    CompValue::Number(n) => Value::Number(n.clone()),
                    CompValue::Null => return false,
                };
                out.insert(path.name.clone(), v);
                true
            }
            Filter::And(a, b) => walk(a, out) && walk(b, out),
            _ => false,
        }
    }
    walk(filter, &mut out).then_some(out)
}

fn set_or_remove(target: &mut Value, key: &str, value: Option<Value>) {
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(m) = target {
        match value {
            Some(v) => {
                m.insert(key.into(), v);
            }
            None => {
                m.shift_remove(key);
            }
        }
    }
}

fn drop_if_empty(container: &mut Map<String, Value>, name: &str) {
    let empty = match container.get(name) {
        Some(Value::Array(a)) => a.is_empty(),
        Some(Value::Object(o)) => o.is_empty(),
        Some(Value::Null) => true,
        _ => false,
    };
    if empty {
        container.shift_remove(name);
    }
}

/// RFC 7644 §3.5.2: setting `primary` true on one value sets it false on the others. The
/// value last marked primary (the latest in the array) wins.
fn fix_primary(container: &mut Map<String, Value>, name: &str) {
    let Some(Value::Array(items)) = container.get_mut(name) else { return };
    let primaries: Vec<usize> = items
        .iter()
        .enumerate()
        .filter(|(_, i)| i.get("primary") == Some(&Value::Bool(true)))
        .map(|(n, _)| n)
        .collect();
    if let Some((&keep, rest)) = primaries.split_last() {
        let _ = keep;
        for &n in rest {
            if let Some(o) = items[n].as_object_mut() {
                o.insert("primary".into(), Value::Bool(false));
            }
        }
    }
}

fn held(container: &Map<String, Value>, name: &str) -> usize {
    container.get(name).and_then(Value::as_array).map_or(0, Vec::len)
}

/// The values of `new` equal to none of `items` nor to an earlier value of `new` (the first
/// of equal values is kept, in order). Linear: equal values are found by hash (security
/// review item 2: `items.contains` per value was quadratic).
fn not_yet_in(items: &[Value], new: Vec<Value>) -> Vec<Value> {
    let mut seen = ValueSet::default();
    for i in items {
        seen.insert(i);
    }
    let keep: Vec<bool> = new.iter().map(|n| seen.insert(n)).collect();
    new.into_iter().zip(keep).filter_map(|(n, keep)| keep.then_some(n)).collect()
}

/// Removes the elements that are the same as one of `removals`: their `value` members are
/// equal, or, for an element without `value`, the two are equal as a whole. Linear.
fn remove_listed(items: &mut Vec<Value>, removals: &[Value]) {
    let (mut by_value, mut whole) = (ValueSet::default(), ValueSet::default());
    for r in removals {
        match r.get("value") {
            Some(v) => by_value.insert(v),
            None => whole.insert(r),
        };
    }
    items.retain(|item| match item.get("value") {
        Some(v) => !by_value.contains(v),
        None => !whole.contains(item),
    });
}

/// A set of borrowed JSON values, compared with `==` and found by [`Canonical`] hash. The
/// hasher is keyed per set, so values cannot be chosen to collide.
#[derive(Default)]
struct ValueSet<'a> {
    state: RandomState,
    buckets: HashMap<u64, Vec<&'a Value>>,
}

impl<'a> ValueSet<'a> {
    /// Adds `v` unless an equal value is in the set; whether it was added.
    fn insert(&mut self, v: &'a Value) -> bool {
        let bucket = self.buckets.entry(self.state.hash_one(Canonical(v))).or_default();
        if bucket.contains(&v) {
            return false;
        }
        bucket.push(v);
        true
    }

    fn contains(&self, v: &Value) -> bool {
        self.buckets.get(&self.state.hash_one(Canonical(v))).is_some_and(|b| b.contains(&v))
    }
}

/// Hashes a JSON value consistently with `==`: object members in key order (`Map` equality
/// ignores their order), numbers by kind as `Number` equality compares them, `-0.0` as `0.0`.
struct Canonical<'a>(&'a Value);

impl Hash for Canonical<'_> {
    fn hash<H: Hasher>(&self, h: &mut H) {
        match self.0 {
            Value::Null => h.write_u8(0),
            Value::Bool(b) => {
                h.write_u8(1);
                b.hash(h);
            }
            Value::Number(n) => {
                h.write_u8(2);
                if let Some(u) = n.as_u64() {
                    h.write_u8(0);
                    u.hash(h);
                } else if let Some(i) = n.as_i64() {
                    h.write_u8(1);
                    i.hash(h);
                } else {
                    let f = n.as_f64().unwrap_or_default();
                    h.write_u8(2);
                    (if f == 0.0 { 0.0_f64 } else { f }).to_bits().hash(h);
                }
            }
            Value::String(s) => {
                h.write_u8(3);
                s.hash(h);
            }
            Value::Array(a) => {
                h.write_u8(4);
                h.write_usize(a.len());
                a.iter().for_each(|x| Canonical(x).hash(h));
            }
            Value::Object(o) => {
                h.write_u8(5);
                h.write_usize(o.len());
                let mut members: Vec<(&String, &Value)> = o.iter().collect();
                members.sort_unstable_by(|a, b| a.0.cmp(b.0));
                for (k, v) in members {
                    k.hash(h);
                    Canonical(v).hash(h);
                }
            }
        }
    }
}

fn member_change(
    op: OpKind,
    path: &PatchPath,
    value: Option<&Value>,
    changes: &mut Vec<MemberChange>,
) -> Result<(), ScimError> {
    if path.sub_attr.is_some() || path.attr.sub_attr.is_some() {
        return Err(ScimError::mutability(
            "member sub-attributes are immutable; add or remove the member instead",
        ));
    }
    match (&path.filter, op) {
        (Some(f), OpKind::Remove) => {
            let mut ids = Vec::new();
            if !member_ids_from_filter(f, &mut ids) {
                return Err(ScimError::invalid_filter(
                    "member filters in PATCH paths support `value eq \"id\"` joined with `or`",
                ));
            }
            changes.push(MemberChange::Remove(ids));
        }
        (Some(_), _) => {
            return Err(ScimError::invalid_path(
                "add or replace on 'members[...]' is not supported; use path 'members' with a value list",
            ));
        }
        (None, OpKind::Remove) => match value {
            Some(v) if !v.is_null() => {
                let refs = member_refs(v)?;
                changes.push(MemberChange::Remove(refs.into_iter().map(|r| r.value).collect()));
            }
            _ => changes.push(MemberChange::RemoveAll),
        },
        (None, OpKind::Add) => changes.push(MemberChange::Add(member_refs(value.unwrap_or(&Value::Null))?)),
        (None, OpKind::Replace) => {
            changes.push(MemberChange::Replace(member_refs(value.unwrap_or(&Value::Null))?))
        }
    }
    Ok(())
}

fn member_ids_from_filter(f: &Filter, out: &mut Vec<String>) -> bool {
    match f {
        Filter::Compare { path, op: CompareOp::Eq, value: CompValue::String(s) }
            if path.name.eq_ignore_ascii_case("value") && path.sub_attr.is_none() =>
        {
            out.push(s.clone());
            true
        }
        Filter::Or(a, b) => member_ids_from_filter(a, out) && member_ids_from_filter(b, out),
        _ => false,
    }
}

/// Parses a `members` value: an array (or one object) of `{"value": id, "type"?: ..}`.
pub fn member_refs(v: &Value) -> Result<Vec<MemberRef>, ScimError> {
    let items: Vec<&Value> = match v {
        Value::Null => vec![],
        Value::Array(a) => a.iter().collect(),
        one => vec![one],
    };
    items
        .into_iter()
        .map(|item| {
            let obj = item.as_object();
            let value = obj.and_then(|o| get_ci(o, "value")).and_then(Value::as_str);
            let Some(value) = value.filter(|s| !s.is_empty()) else {
                return Err(ScimError::invalid_value(
                    "each member must be an object with a string 'value' (the member's id)",
                ));
            };
            let member_type = obj.and_then(|o| get_ci(o, "type")).and_then(Value::as_str).map(str::to_string);
            if let Some(t) = &member_type
                && !t.eq_ignore_ascii_case("User")
                && !t.eq_ignore_ascii_case("Group")
            {
                return Err(ScimError::invalid_value(format!(
                    "member type '{t}' is not supported; use \"User\" or \"Group\""
                )));
            }
            let display = obj.and_then(|o| get_ci(o, "display")).and_then(Value::as_str).map(str::to_string);
            Ok(MemberRef { value: value.to_string(), member_type, display })
        })
        .collect()
}

#[cfg(test)]
mod tests;
