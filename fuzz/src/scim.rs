// The bodies of the SCIM fuzz targets: the filter, PATCH path and `attributes` parsers, PATCH
// parsing and application, and resource validation. Each takes the fuzzer's bytes, runs the
// crate's public functions on them and panics only when an invariant does not hold; errors
// (400s) are expected outcomes. Included by crates/scim/src/fuzz_regressions.rs: see lib.rs.

use std::sync::LazyLock;

use scimgate_scim::filter::{self, Filter, MAX_FILTER_DEPTH, MAX_FILTER_LEN};
use scimgate_scim::patch::{self, OpKind, PatchOperation};
use scimgate_scim::projection::Projection;
use scimgate_scim::resource::{self, Meta};
use scimgate_scim::schema::ResourceKind;
use serde_json::{Map, Value, json};

const KINDS: [ResourceKind; 2] = [ResourceKind::User, ResourceKind::Group];

/// A User as GET returns it (with `id`, `meta` and `groups`): what filters are evaluated on.
static USER_JSON: LazyLock<Value> = LazyLock::new(|| {
    json!({
        "schemas": [
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
        ],
        "id": "2819c223-7f76-453a-919d-413861904646",
        "externalId": "bjensen",
        "userName": "bjensen@example.com",
        "name": {
            "formatted": "Ms. Barbara J Jensen III",
            "familyName": "Jensen",
            "givenName": "Barbara",
            "middleName": "Jane",
            "honorificPrefix": "Ms.",
            "honorificSuffix": "III"
        },
        "displayName": "Babs Jensen",
        "nickName": "Babs",
        "profileUrl": "https://login.example.com/bjensen",
        "title": "Tour Guide",
        "userType": "Employee",
        "preferredLanguage": "en-US",
        "locale": "en-US",
        "timezone": "America/Los_Angeles",
        "active": true,
        "emails": [
            { "value": "bjensen@example.com", "type": "work", "primary": true },
            { "value": "babs@jensen.org", "type": "home" },
            { "value": "ÅSA.Ölund@Example.COM", "type": "other", "display": "Åsa" }
        ],
        "phoneNumbers": [
            { "value": "555-555-5555", "type": "work" },
            { "value": "555-555-4444", "type": "mobile" }
        ],
        "ims": [{ "value": "someaimhandle", "type": "aim" }],
        "photos": [{ "value": "https://photos.example.com/profilephoto/72930000000Ccne/F", "type": "photo" }],
        "addresses": [{
            "type": "work",
            "streetAddress": "100 Universal City Plaza",
            "locality": "Hollywood",
            "region": "CA",
            "postalCode": "91608",
            "country": "USA",
            "primary": true
        }],
        "groups": [{
            "value": "e9e30dba-f08f-4109-8486-d5c6a331660a",
            "$ref": "https://example.com/v2/Groups/e9e30dba-f08f-4109-8486-d5c6a331660a",
            "display": "Tour Guides",
            "type": "direct"
        }],
        "entitlements": [{ "value": "vpn" }],
        "roles": [{ "value": "guide", "primary": true }],
        "x509Certificates": [{ "value": "MIIDQzCCAqygAwIBAgICEAAwDQYJKoZIhvcNAQEFBQAw" }],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
            "employeeNumber": "701984",
            "costCenter": "4130",
            "organization": "Universal Studios",
            "division": "Theme Park",
            "department": "Tour Operations",
            "manager": { "value": "26118915-6090-4610-87e4-49d8ca9f808d", "displayName": "John Smith" }
        },
        "meta": {
            "resourceType": "User",
            "created": "2010-01-23T04:56:22Z",
            "lastModified": "2011-05-13T04:42:34Z",
            "version": "W/\"3694e05e9dff591\"",
            "location": "https://example.com/v2/Users/2819c223-7f76-453a-919d-413861904646"
        },
        "score": 12.5,
        "logins": 42
    })
});

/// A Group as GET returns it.
static GROUP_JSON: LazyLock<Value> = LazyLock::new(|| {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "id": "e9e30dba-f08f-4109-8486-d5c6a331660a",
        "displayName": "Tour Guides",
        "members": [
            { "value": "2819c223-7f76-453a-919d-413861904646", "display": "Babs Jensen", "type": "User" },
            { "value": "902c246b-6245-4190-8e05-00816be7344a", "display": "Mandy Pepperidge", "type": "User" }
        ],
        "meta": { "resourceType": "Group", "version": "W/\"3694e05e9dff592\"" }
    })
});

/// The stored documents PATCH is applied to: what POST made of the two bodies (without the
/// User's two numbers, which are in no schema; a Group's members are stored apart from its
/// document, so it has none).
static STORED: LazyLock<[(ResourceKind, Map<String, Value>); 2]> = LazyLock::new(|| {
    let (mut user, mut group) = (USER_JSON.clone(), GROUP_JSON.clone());
    for (doc, drop) in [(&mut user, &["score", "logins"][..]), (&mut group, &["members"][..])] {
        if let Some(doc) = doc.as_object_mut() {
            for k in drop {
                doc.shift_remove(*k);
            }
        }
    }
    let stored =
        |kind, body: &Value| resource::normalize(kind, body).expect("the fixture is a valid resource");
    [
        (ResourceKind::User, stored(ResourceKind::User, &user)),
        (ResourceKind::Group, stored(ResourceKind::Group, &group)),
    ]
});

/// The nesting depth of `f` as `Display` prints it: every `and`/`or` parenthesised.
fn printed_depth(f: &Filter) -> usize {
    match f {
        Filter::Compare { .. } | Filter::Present(_) => 0,
        Filter::And(a, b) | Filter::Or(a, b) => 1 + printed_depth(a).max(printed_depth(b)),
        Filter::Not(a) | Filter::ValuePath { filter: a, .. } => 1 + printed_depth(a),
    }
}

/// A filter prints as text that parses back to the same filter, unless the printed text is
/// past the parser's length or depth limit (its parentheses can make it longer and deeper).
fn assert_round_trip(f: &Filter) {
    let printed = f.to_string();
    if printed.len() <= MAX_FILTER_LEN && printed_depth(f) <= MAX_FILTER_DEPTH {
        assert_eq!(filter::parse_filter(&printed).as_ref(), Ok(f), "printed as {printed}");
    }
}

/// The filter parser on any text; a parsed filter is limit-checked, evaluated on a User and a
/// Group (case-exact and not) and printed back.
pub fn filter(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(f) = filter::parse_filter(text) else { return };
    assert!(text.len() <= MAX_FILTER_LEN);
    for kind in KINDS {
        let _ = filter::check_filter_limits(&f, kind);
    }
    let _ = filter::check_filter_limits_any_kind(&f);
    let _ = filter::comparisons(&f);
    for doc in [&*USER_JSON, &*GROUP_JSON] {
        for case_exact in [false, true] {
            let holds = filter::evaluate(&f, doc, &|_| case_exact);
            let negated = Filter::Not(Box::new(f.clone()));
            assert_eq!(filter::evaluate(&negated, doc, &|_| case_exact), !holds);
        }
    }
    assert_round_trip(&f);
}

/// The PATCH path parser on any text; a parsed path is printed back and parsed again, and
/// used by a `remove` and a `replace` on the stored User and Group.
pub fn patch_path(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(path) = filter::parse_patch_path(text) else { return };
    let mut printed = path.attr.to_string();
    if let Some(f) = &path.filter {
        assert_round_trip(f);
        printed = format!("{printed}[{f}]");
        if let Some(sub) = &path.sub_attr {
            printed = format!("{printed}.{sub}");
        }
    } else {
        assert!(path.sub_attr.is_none(), "a sub-attribute after ']' without a filter: {text:?}");
    }
    let depth = path.filter.as_ref().map_or(0, |f| 1 + printed_depth(f));
    if printed.len() <= MAX_FILTER_LEN && depth <= MAX_FILTER_DEPTH {
        assert_eq!(filter::parse_patch_path(&printed).as_ref(), Ok(&path), "printed as {printed}");
    }
    for (kind, stored) in STORED.iter() {
        for (op, value) in [
            (OpKind::Remove, None),
            (OpKind::Replace, Some(json!("x"))),
            (OpKind::Add, Some(json!({"value": "v", "type": "work"}))),
        ] {
            let ops = [PatchOperation { op, path: Some(path.clone()), value }];
            patched(*kind, stored.clone(), &ops);
        }
    }
}

/// Applies `ops` to `doc` and finishes it as PATCH does; a finished document is finished
/// again unchanged, and survives a GET and PUT round trip.
fn patched(kind: ResourceKind, mut doc: Map<String, Value>, ops: &[PatchOperation]) {
    if patch::apply(kind, &mut doc, ops).is_err() {
        return;
    }
    let Ok(done) = resource::finish(kind, doc) else { return };
    assert_eq!(resource::finish(kind, done.clone()).as_ref(), Ok(&done), "finish is not idempotent");
    put_round_trip(kind, &done);
}

/// GET renders a stored document; a PUT of that body stores the same document again.
fn put_round_trip(kind: ResourceKind, doc: &Map<String, Value>) {
    let meta = Meta {
        id: "2819c223-7f76-453a-919d-413861904646".into(),
        created: "2010-01-23T04:56:22Z".into(),
        last_modified: "2011-05-13T04:42:34Z".into(),
        version: "W/\"1\"".into(),
        location: "https://example.com/v2/x".into(),
    };
    let body = Value::Object(resource::render(kind, doc, &meta));
    assert_eq!(resource::normalize(kind, &body).as_ref(), Ok(doc), "PUT of the GET body changes it: {body}");
}

/// A PatchOp body (JSON bytes): parsed, then applied to the stored User and Group (and, for
/// a Group, to the empty document of the members-only path) and finished.
pub fn patch_apply(data: &[u8]) {
    let Ok(body) = serde_json::from_slice::<Value>(data) else { return };
    let Ok(ops) = patch::parse_request(&body) else { return };
    assert!(!ops.is_empty() && ops.len() <= patch::MAX_PATCH_OPERATIONS);
    for (kind, stored) in STORED.iter() {
        patched(*kind, stored.clone(), &ops);
    }
    let _ = patch::apply(ResourceKind::Group, &mut Map::new(), &ops);
}

/// The `attributes` / `excludedAttributes` parser on any text; the parsed list is printed
/// back and parsed again, and projects a User and a Group.
pub fn attributes(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(list) = filter::parse_attribute_list(text) {
        assert!(!list.is_empty());
        let printed = list.iter().map(ToString::to_string).collect::<Vec<_>>().join(",");
        if printed.len() <= MAX_FILTER_LEN {
            assert_eq!(filter::parse_attribute_list(&printed).as_ref(), Ok(&list), "printed as {printed}");
        }
    }
    for (kind, doc) in [(ResourceKind::User, &*USER_JSON), (ResourceKind::Group, &*GROUP_JSON)] {
        for (attributes, excluded) in [(Some(text), None), (None, Some(text)), (Some(text), Some(text))] {
            let Ok(projection) = Projection::parse(kind, attributes, excluded) else { continue };
            let full = doc.as_object().cloned().unwrap_or_default();
            let mut out = full.clone();
            projection.apply(kind, &mut out);
            // A projection only takes away, and never `id` or `schemas` (`returned: always`).
            assert!(out.keys().all(|k| full.contains_key(k)), "a projection added an attribute");
            assert!(
                out.contains_key("id") && out.contains_key("schemas"),
                "a projection removed id or schemas"
            );
        }
    }
}

/// A POST/PUT body (JSON bytes) validated as a User and as a Group; a valid one is finished
/// again unchanged and survives a GET and PUT round trip.
pub fn resource(data: &[u8]) {
    let Ok(body) = serde_json::from_slice::<Value>(data) else { return };
    for kind in KINDS {
        let Ok(doc) = resource::normalize(kind, &body) else { continue };
        assert_eq!(resource::finish(kind, doc.clone()).as_ref(), Ok(&doc), "finish is not idempotent");
        put_round_trip(kind, &doc);
    }
}
