//! Unit tests of `patch`.

use super::*;
use crate::resource::{finish, normalize};
use crate::schema::ENTERPRISE_USER_URN;
use serde_json::json;

fn user() -> Map<String, Value> {
    normalize(
        ResourceKind::User,
        &json!({
            "userName": "ana@x", "active": true, "name": {"givenName": "Ana", "familyName": "Lopez"},
            "emails": [{"value": "ana@x", "type": "work", "primary": true}]
        }),
    )
    .expect("valid")
}

fn run(
    kind: ResourceKind,
    doc: &mut Map<String, Value>,
    body: Value,
) -> Result<Vec<MemberChange>, ScimError> {
    let ops = parse_request(&body)?;
    let changes = apply(kind, doc, &ops)?;
    *doc = finish(kind, std::mem::take(doc))?;
    Ok(changes)
}

fn patch(ops: Value) -> Value {
    json!({"schemas": [crate::PATCH_OP_URN], "Operations": ops})
}

#[test]
fn entra_default_style() {
    let mut d = user();
    run(
        ResourceKind::User,
        &mut d,
        patch(json!([
            {"op": "Replace", "path": "active", "value": "False"},
            {"op": "Add", "value": {"name.givenName": "Anna",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "R&D"}},
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "anna@x"},
            {"op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 555"},
            {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "value": "m-1"},
        ])),
    )
    .expect("patch applies");
    assert_eq!(d["active"], false);
    assert_eq!(d["name"]["givenName"], "Anna");
    assert_eq!(d["name"]["familyName"], "Lopez");
    assert_eq!(d["emails"], json!([{"value": "anna@x", "type": "work", "primary": true}]));
    assert_eq!(d["phoneNumbers"], json!([{"type": "mobile", "value": "+1 555"}]));
    assert_eq!(d[ENTERPRISE_USER_URN]["department"], "R&D");
    assert_eq!(d[ENTERPRISE_USER_URN]["manager"], json!({"value": "m-1"}));
    assert!(d["schemas"].as_array().is_some_and(|s| s.len() == 2));
}

#[test]
fn okta_pathless_deactivate_and_rfc_ops() {
    let mut d = user();
    run(ResourceKind::User, &mut d, patch(json!([{"op": "replace", "value": {"active": false}}])))
        .expect("ok");
    assert_eq!(d["active"], false);
    run(
        ResourceKind::User,
        &mut d,
        patch(json!([
            {"op": "add", "path": "emails", "value": [{"value": "home@x", "type": "home", "primary": true}]},
            {"op": "remove", "path": "name.familyName"},
            {"op": "remove", "path": "emails[type eq \"work\"]"},
        ])),
    )
    .expect("ok");
    assert_eq!(d["emails"], json!([{"value": "home@x", "type": "home", "primary": true}]));
    assert_eq!(d["name"], json!({"givenName": "Ana"}));
}

#[test]
fn primary_moves() {
    let mut d = user();
    run(
        ResourceKind::User,
        &mut d,
        patch(json!([{"op": "add", "path": "emails", "value": [{"value": "b@x", "primary": true}]}])),
    )
    .expect("ok");
    assert_eq!(d["emails"][0]["primary"], false);
    assert_eq!(d["emails"][1]["primary"], true);
}

#[test]
fn errors() {
    let k = ResourceKind::User;
    let mut d = user();
    let e = run(k, &mut d, patch(json!([{"op": "remove", "path": "userName"}]))).expect_err("required");
    assert_eq!(e.status, 400);
    let e = run(k, &mut d, patch(json!([{"op": "replace", "path": "id", "value": "x"}]))).expect_err("ro");
    assert_eq!(e.scim_type, Some(crate::ScimType::Mutability));
    let e = run(k, &mut d, patch(json!([{"op": "replace", "path": "nope", "value": "x"}]))).expect_err("x");
    assert_eq!(e.scim_type, Some(crate::ScimType::InvalidPath));
    let e = run(k, &mut d, patch(json!([{"op": "remove"}]))).expect_err("x");
    assert_eq!(e.scim_type, Some(crate::ScimType::NoTarget));
    let e = run(k, &mut d, patch(json!([{"op": "move", "path": "x"}]))).expect_err("x");
    assert_eq!(e.scim_type, Some(crate::ScimType::InvalidSyntax));
    let e = run(
        k,
        &mut d,
        patch(
            json!([{"op": "replace", "path": "emails[type eq \"work\" or type eq \"x\"].value", "value": 1}]),
        ),
    )
    .expect_err("type");
    assert_eq!(e.scim_type, Some(crate::ScimType::InvalidValue));
    let e = run(
        k,
        &mut d,
        patch(json!([{"op": "replace", "path": "emails[value co \"zzz\"]", "value": {"value": "q"}}])),
    )
    .expect_err("no target");
    assert_eq!(e.scim_type, Some(crate::ScimType::NoTarget));
    assert!(run(k, &mut d, json!({"Operations": []})).is_err());
}

/// The operation examples of RFC 7644 §3.5.2.1–§3.5.2.3, applied to RFC 7643's sample user.
#[test]
fn rfc_7644_examples() {
    let k = ResourceKind::User;
    let mut d = normalize(
        k,
        &json!({"userName": "bjensen", "nickName": "B",
                "emails": [{"value": "bjensen@example.com", "type": "work", "primary": true}],
                "addresses": [{"type": "work", "streetAddress": "100 Universal City Plaza", "locality": "Hollywood"},
                              {"type": "home", "streetAddress": "456 Hollywood Blvd"}]}),
    )
    .expect("valid");
    // §3.5.2.1: add without path; names are case-insensitive ("nickname").
    run(k, &mut d, patch(json!([{"op": "add", "value": {"emails": [{"value": "babs@jensen.org", "type": "home"}], "nickname": "Babs"}}])))
        .expect("add");
    assert_eq!(d["nickName"], "Babs");
    assert_eq!(d["emails"].as_array().map(Vec::len), Some(2));
    // §3.5.2.3: replace a whole filtered value, then one sub-attribute of it.
    run(
        k,
        &mut d,
        patch(json!([{"op": "replace", "path": "addresses[type eq \"work\"]",
                      "value": {"type": "work", "streetAddress": "911 Universal City Plaza", "locality": "Hollywood",
                                "region": "CA", "postalCode": "91608", "country": "US", "formatted": "911 Universal City Plaza\nHollywood, CA 91608 US", "primary": true}}])),
    )
    .expect("replace filtered");
    assert_eq!(d["addresses"][0]["streetAddress"], "911 Universal City Plaza");
    assert_eq!(d["addresses"][1]["streetAddress"], "456 Hollywood Blvd");
    run(k, &mut d, patch(json!([{"op": "replace", "path": "addresses[type eq \"work\"].streetAddress", "value": "1010 Broadway Ave"}])))
        .expect("replace sub");
    assert_eq!(d["addresses"][0]["streetAddress"], "1010 Broadway Ave");
    assert_eq!(d["addresses"][0]["region"], "CA");
    // §3.5.2.3: replace without path.
    run(k, &mut d, patch(json!([{"op": "replace", "value": {"emails": [{"value": "bjensen@example.com", "type": "work", "primary": true}, {"value": "babs@jensen.org", "type": "home"}], "nickname": "Babs"}}])))
        .expect("replace all");
    assert_eq!(d["emails"].as_array().map(Vec::len), Some(2));
    // §3.5.2.2: remove a filtered value and a whole attribute.
    run(k, &mut d, patch(json!([{"op": "remove", "path": "emails[type eq \"home\"]"}, {"op": "remove", "path": "nickName"}])))
        .expect("remove");
    assert_eq!(d["emails"].as_array().map(Vec::len), Some(1));
    assert!(!d.contains_key("nickName"));

    // Group examples: add members, remove one by filter, remove all, replace all.
    let g = ResourceKind::Group;
    let mut doc = normalize(g, &json!({"displayName": "Tour Guides"})).expect("valid");
    let changes = run(
        g,
        &mut doc,
        patch(json!([
            {"op": "add", "path": "members", "value": [{"display": "Babs Jensen",
                "$ref": "https://example.com/v2/Users/2819c223-7f76-453a-919d-413861904646",
                "value": "2819c223-7f76-453a-919d-413861904646"}]},
            {"op": "remove", "path": "members[value eq \"2819c223-7f76-453a-919d-413861904646\"]"},
            {"op": "remove", "path": "members"},
            {"op": "replace", "path": "members", "value": [{"display": "James Smith", "value": "08e1d05d-121c-4561-8b96-473d93df9210"}]},
        ])),
    )
    .expect("group ops");
    assert_eq!(changes.len(), 4);
    assert!(matches!(&changes[0], MemberChange::Add(v) if v[0].display.as_deref() == Some("Babs Jensen")));
    assert_eq!(changes[1], MemberChange::Remove(vec!["2819c223-7f76-453a-919d-413861904646".into()]));
    assert_eq!(changes[2], MemberChange::RemoveAll);
    assert!(
        matches!(&changes[3], MemberChange::Replace(v) if v[0].value == "08e1d05d-121c-4561-8b96-473d93df9210")
    );
}

/// The add keeps the first of equal values (existing ones first), in order; objects are
/// equal whatever the order of their members.
#[test]
fn add_keeps_the_first_of_equal_values_in_order() {
    let mut d = user();
    run(
        ResourceKind::User,
        &mut d,
        patch(json!([{"op": "add", "path": "emails", "value": [
            {"value": "b@x"},
            {"primary": true, "type": "work", "value": "ana@x"},
            {"value": "b@x"},
            {"value": "c@x", "type": "home"},
            {"type": "home", "value": "b@x"},
            {"type": "home", "value": "c@x"},
        ]}])),
    )
    .expect("ok");
    assert_eq!(
        d["emails"],
        json!([{"value": "ana@x", "type": "work", "primary": true}, {"value": "b@x"},
               {"value": "c@x", "type": "home"}, {"type": "home", "value": "b@x"}])
    );
}

/// `remove` with a value list drops the elements whose `value` equals a listed one's,
/// and, for values without `value`, the elements equal to it as a whole.
#[test]
fn value_list_remove_matches_by_value_or_whole() {
    let k = ResourceKind::User;
    let mut d = normalize(
        k,
        &json!({"userName": "a", "roles": [{"value": "r1", "type": "x"}, {"value": "r2"},
                {"type": "home", "display": "d"}, {"type": "home"}, {"display": "e"}]}),
    )
    .expect("valid");
    run(
        k,
        &mut d,
        patch(json!([{"op": "remove", "path": "roles",
                      "value": [{"value": "r1"}, {"display": "d", "type": "home"}, {"type": "work"}]}])),
    )
    .expect("ok");
    assert_eq!(d["roles"], json!([{"value": "r2"}, {"type": "home"}, {"display": "e"}]));
}

/// Security review item 2: a multi-valued attribute holds at most
/// `MAX_MULTI_VALUED_ELEMENTS` values after any create, replace or PATCH (400
/// `invalidValue` naming the attribute and the limit); Group members are not limited.
#[test]
fn multi_valued_attributes_are_capped_but_members_are_not() {
    use crate::resource::MAX_MULTI_VALUED_ELEMENTS as MAX;
    let k = ResourceKind::User;
    let emails = |from: usize, n: usize| {
        (from..from + n).map(|i| json!({"value": format!("u{i}@x")})).collect::<Vec<_>>()
    };
    let too_many = |e: ScimError, attr: &str| {
        assert_eq!((e.status, e.scim_type), (400, Some(crate::ScimType::InvalidValue)), "{}", e.detail);
        assert!(e.detail.contains(&format!("'{attr}'")) && e.detail.contains("1000"), "{}", e.detail);
    };
    // PATCH add: to the limit is fine, one more is refused, the document is untouched.
    let mut d = user();
    run(k, &mut d, patch(json!([{"op": "add", "path": "emails", "value": emails(0, MAX - 1)}])))
        .expect("to the cap");
    assert_eq!(d["emails"].as_array().map(Vec::len), Some(MAX));
    let before = d.clone();
    too_many(
        run(k, &mut d, patch(json!([{"op": "add", "path": "emails", "value": emails(5000, 1)}])))
            .expect_err("over"),
        "emails",
    );
    assert_eq!(d, before);
    // Duplicates do not count: the limit is on what the attribute holds.
    run(k, &mut d, patch(json!([{"op": "add", "path": "emails", "value": emails(0, 500)}])))
        .expect("duplicates");
    // Replace, path-less add, a filtered add that creates an element, and the review's 32,000.
    let mut d = user();
    too_many(
        run(
            k,
            &mut d,
            patch(json!([{"op": "replace", "path": "phoneNumbers", "value": emails(0, MAX + 1)}])),
        )
        .expect_err("replace"),
        "phoneNumbers",
    );
    too_many(
        run(k, &mut d, patch(json!([{"op": "add", "value": {"emails": emails(0, MAX + 1)}}])))
            .expect_err("path-less"),
        "emails",
    );
    run(k, &mut d, patch(json!([{"op": "replace", "path": "emails", "value": emails(0, MAX)}])))
        .expect("replace to the cap");
    too_many(
        run(
            k,
            &mut d,
            patch(json!([{"op": "add", "path": "emails[type eq \"home\"].value", "value": "h@x"}])),
        )
        .expect_err("filtered add"),
        "emails",
    );
    too_many(
        run(k, &mut d, patch(json!([{"op": "add", "path": "emails", "value": emails(0, 32_000)}])))
            .expect_err("32,000"),
        "emails",
    );
    // Create and replace bodies (normalize).
    let body = |n: usize| json!({"userName": "a", "emails": emails(0, n)});
    assert!(normalize(k, &body(MAX)).is_ok());
    too_many(normalize(k, &body(MAX + 1)).expect_err("create"), "emails");
    too_many(
        normalize(k, &json!({"userName": "a", "x509Certificates": vec![json!({"value": "AA=="}); MAX + 1]}))
            .expect_err("certs"),
        "x509Certificates",
    );
    // A document stored before the limit: untouched attributes do not block a PATCH (a
    // deactivation must work); an operation that scans the array is refused; replacing
    // or removing the whole attribute, or removing listed values, is the way back.
    let mut legacy = user();
    legacy.insert("emails".into(), Value::Array(emails(0, 1500)));
    let mut d = legacy.clone();
    run(k, &mut d, patch(json!([{"op": "replace", "path": "active", "value": false}]))).expect("deactivate");
    for op in [
        json!({"op": "remove", "path": "emails[value eq \"u1@x\"]"}),
        json!({"op": "replace", "path": "emails.type", "value": "work"}),
        json!({"op": "add", "path": "emails", "value": [{"value": "new@x"}]}),
    ] {
        too_many(run(k, &mut legacy.clone(), patch(json!([op]))).expect_err("scan"), "emails");
    }
    run(k, &mut legacy.clone(), patch(json!([{"op": "replace", "path": "emails", "value": emails(0, 1)}])))
        .expect("replace");
    run(k, &mut legacy.clone(), patch(json!([{"op": "remove", "path": "emails"}]))).expect("remove");
    let mut d = legacy.clone();
    run(k, &mut d, patch(json!([{"op": "remove", "path": "emails", "value": emails(0, 700)}])))
        .expect("remove listed");
    assert_eq!(d["emails"].as_array().map(Vec::len), Some(800));
    // Group members: a 5,000-member create and PATCH are not limited.
    let g = ResourceKind::Group;
    let members: Vec<Value> = (0..5000).map(|i| json!({"value": format!("m{i}")})).collect();
    let created = normalize(g, &json!({"displayName": "big", "members": members})).expect("create");
    assert_eq!(created["members"].as_array().map(Vec::len), Some(5000));
    let mut d = normalize(g, &json!({"displayName": "big"})).expect("valid");
    let changes = run(
        g,
        &mut d,
        patch(json!([{"op": "add", "path": "members", "value": members},
                                               {"op": "replace", "value": {"members": members}}])),
    )
    .expect("members");
    assert!(
        matches!(&changes[..], [MemberChange::Add(a), MemberChange::Replace(r)] if a.len() == 5000 && r.len() == 5000)
    );
}

/// Security review item 2: a PATCH value filter is evaluated on every element by every
/// operation, so it has at most `MAX_FILTER_COMPARISONS` comparisons (400 `invalidFilter`);
/// `members[...]` becomes a list of ids and is not limited.
#[test]
fn patch_value_filters_are_limited_except_members() {
    let or_terms = |n: usize| (0..n).map(|i| format!("value eq \"x{i}\"")).collect::<Vec<_>>().join(" or ");
    let k = ResourceKind::User;
    let mut d = user();
    let path = |n: usize| format!("emails[{}]", or_terms(n));
    run(k, &mut d, patch(json!([{"op": "remove", "path": path(MAX_FILTER_COMPARISONS)}])))
        .expect("at the limit");
    let e = run(k, &mut d, patch(json!([{"op": "remove", "path": path(MAX_FILTER_COMPARISONS + 1)}])))
        .expect_err("over the limit");
    assert_eq!((e.status, e.scim_type), (400, Some(crate::ScimType::InvalidFilter)));
    assert!(e.detail.contains("21 comparisons") && e.detail.contains("at most 20"), "{}", e.detail);
    // Together: 50 operations of 20 comparisons are the limit, one more comparison is over.
    let ops = |n: usize, last: usize| {
        let mut ops = vec![json!({"op": "remove", "path": path(MAX_FILTER_COMPARISONS)}); n];
        ops.push(json!({"op": "remove", "path": path(last)}));
        patch(json!(ops))
    };
    let per_patch = MAX_PATCH_FILTER_COMPARISONS / MAX_FILTER_COMPARISONS;
    run(k, &mut d, ops(per_patch - 1, MAX_FILTER_COMPARISONS)).expect("at the PATCH limit");
    let e = run(k, &mut d, ops(per_patch, 1)).expect_err("over the PATCH limit");
    assert_eq!((e.status, e.scim_type), (400, Some(crate::ScimType::InvalidFilter)));
    assert!(e.detail.contains("more than 1000 comparisons"), "{}", e.detail);
    let nested = format!("emails[type eq \"work\" and ({})].display", or_terms(MAX_FILTER_COMPARISONS));
    assert!(run(k, &mut d, patch(json!([{"op": "replace", "path": nested, "value": "x"}]))).is_err());
    let g = ResourceKind::Group;
    let mut d = normalize(g, &json!({"displayName": "g"})).expect("valid");
    let member_ops = vec![json!({"op": "remove", "path": format!("members[{}]", or_terms(50))}); 30];
    let changes = run(g, &mut d, patch(json!(member_ops))).expect("members");
    assert_eq!(changes.len(), 30);
    assert!(changes.iter().all(|c| matches!(c, MemberChange::Remove(ids) if ids.len() == 50)));
}

/// `ValueSet` finds exactly the values `==` finds: objects whatever the member order,
/// `0.0` and `-0.0`; not `1` and `1.0` (different `Number`s), nor arrays in another order.
#[test]
fn value_set_agrees_with_equality() {
    let values = [
        json!({"value": "a", "type": "work"}),
        json!({"type": "work", "value": "a"}),
        json!({"value": "a"}),
        json!({"value": "A"}),
        json!(0.0),
        json!(-0.0),
        json!(1),
        json!(1.0),
        json!(-1),
        json!(u64::MAX),
        json!([1, 2]),
        json!([2, 1]),
        json!(null),
        json!(false),
        json!("a"),
        json!({"a": {"x": 1, "y": [true]}}),
        json!({"a": {"y": [true], "x": 1}}),
    ];
    for a in &values {
        let mut set = ValueSet::default();
        set.insert(a);
        for b in &values {
            assert_eq!(set.contains(b), a == b, "{a} vs {b}");
        }
    }
}

#[test]
fn group_member_changes() {
    let k = ResourceKind::Group;
    let mut d = normalize(k, &json!({"displayName": "g"})).expect("valid");
    let changes = run(
        k,
        &mut d,
        patch(json!([
            {"op": "Add", "path": "members", "value": [{"value": "u1"}, {"value": "u2"}]},
            {"op": "Remove", "path": "members", "value": [{"value": "u1"}]},
            {"op": "remove", "path": "members[value eq \"u2\"]"},
            {"op": "replace", "value": {"displayName": "h", "members": [{"value": "u3"}]}},
            {"op": "remove", "path": "members"},
        ])),
    )
    .expect("ok");
    assert_eq!(d["displayName"], "h");
    assert_eq!(
        changes,
        vec![
            MemberChange::Add(vec![
                MemberRef { value: "u1".into(), member_type: None, display: None },
                MemberRef { value: "u2".into(), member_type: None, display: None }
            ]),
            MemberChange::Remove(vec!["u1".into()]),
            MemberChange::Remove(vec!["u2".into()]),
            MemberChange::Replace(vec![MemberRef { value: "u3".into(), member_type: None, display: None }]),
            MemberChange::RemoveAll,
        ]
    );
}

/// Found by `properties::patch_add_then_remove_*`: `Map::remove` swaps the last member into
/// the gap (serde_json's `preserve_order`), so every PATCH (`finish` takes `schemas` out
/// first) moved the last attribute to the front, and a remove moved the last into its place.
#[test]
fn patches_keep_the_order_of_the_attributes() {
    let mut d = normalize(
        ResourceKind::User,
        &json!({"userName": "ana", "displayName": "Ana", "title": "T", "nickName": "N", "active": true}),
    )
    .expect("valid");
    let keys = |d: &Map<String, Value>| d.keys().cloned().collect::<Vec<_>>();
    run(ResourceKind::User, &mut d, patch(json!([{"op": "replace", "path": "title", "value": "U"}])))
        .expect("applies");
    assert_eq!(keys(&d), ["schemas", "userName", "displayName", "title", "nickName", "active"]);
    run(ResourceKind::User, &mut d, patch(json!([{"op": "remove", "path": "displayName"}])))
        .expect("applies");
    assert_eq!(keys(&d), ["schemas", "userName", "title", "nickName", "active"]);
}
