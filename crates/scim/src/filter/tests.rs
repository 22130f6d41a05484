//! Unit tests of `filter`.

use super::*;
use serde_json::json;

fn ap(name: &str) -> AttrPath {
    AttrPath { uri: None, name: name.into(), sub_attr: None }
}
fn s(v: &str) -> CompValue {
    CompValue::String(v.into())
}

/// Every filter example of RFC 7644 §3.4.2.2.
const RFC_EXAMPLES: &[&str] = &[
    r#"userName eq "bjensen""#,
    r#"name.familyName co "O'Malley""#,
    r#"userName sw "J""#,
    r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#,
    r#"title pr"#,
    r#"meta.lastModified gt "2011-05-13T04:42:34Z""#,
    r#"meta.lastModified ge "2011-05-13T04:42:34Z""#,
    r#"meta.lastModified lt "2011-05-13T04:42:34Z""#,
    r#"meta.lastModified le "2011-05-13T04:42:34Z""#,
    r#"title pr and userType eq "Employee""#,
    r#"title pr or userType eq "Intern""#,
    r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#,
    r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
    r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
    r#"userType eq "Employee" and (emails.type eq "work")"#,
    r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#,
    r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
];

#[test]
fn rfc_examples_parse_and_round_trip() {
    for e in RFC_EXAMPLES {
        let f = parse_filter(e).unwrap_or_else(|err| panic!("{e}: {err}"));
        let again = parse_filter(&f.to_string()).unwrap_or_else(|err| panic!("{f}: {err}"));
        assert_eq!(f, again, "{e}");
    }
}

#[test]
fn asts() {
    assert_eq!(
        parse_filter(r#"userName eq "bjensen""#),
        Ok(Filter::Compare { path: ap("userName"), op: CompareOp::Eq, value: s("bjensen") })
    );
    assert_eq!(
        parse_filter(r#"urn:ietf:params:scim:schemas:core:2.0:User:name.familyName co "O'Malley""#),
        Ok(Filter::Compare {
            path: AttrPath {
                uri: Some("urn:ietf:params:scim:schemas:core:2.0:User".into()),
                name: "name".into(),
                sub_attr: Some("familyName".into())
            },
            op: CompareOp::Co,
            value: s("O'Malley")
        })
    );
    assert_eq!(
        parse_filter(r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#),
        Ok(Filter::And(
            Box::new(Filter::Compare { path: ap("userType"), op: CompareOp::Eq, value: s("Employee") }),
            Box::new(Filter::ValuePath {
                path: ap("emails"),
                filter: Box::new(Filter::And(
                    Box::new(Filter::Compare { path: ap("type"), op: CompareOp::Eq, value: s("work") }),
                    Box::new(Filter::Compare {
                        path: ap("value"),
                        op: CompareOp::Co,
                        value: s("@example.com")
                    }),
                )),
            }),
        ))
    );
    assert_eq!(
        parse_filter(r#"userType ne "Employee" and not (title pr)"#),
        Ok(Filter::And(
            Box::new(Filter::Compare { path: ap("userType"), op: CompareOp::Ne, value: s("Employee") }),
            Box::new(Filter::Not(Box::new(Filter::Present(ap("title"))))),
        ))
    );
    let ext =
        parse_filter(r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "7""#);
    match ext {
        Ok(Filter::Compare { path, .. }) => {
            assert_eq!(
                path.uri.as_deref(),
                Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")
            );
            assert_eq!(path.name, "employeeNumber");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn precedence_and_case() {
    let f = parse_filter("a eq 1 or b eq 2 and c eq 3").expect("parses");
    assert_eq!(f.to_string(), "(a eq 1 or (b eq 2 and c eq 3))");
    let f = parse_filter("a eq 1 and b eq 2 or c eq 3").expect("parses");
    assert_eq!(f.to_string(), "((a eq 1 and b eq 2) or c eq 3)");
    assert!(parse_filter(r#"userName EQ "x""#).is_ok());
    assert!(parse_filter("title PR").is_ok());
    assert!(parse_filter(r#"a eq "x" AND b eq "y" Or NOT (c pr)"#).is_ok());
    assert_eq!(
        parse_filter("active eq TRUE"),
        Ok(Filter::Compare { path: ap("active"), op: CompareOp::Eq, value: CompValue::Bool(true) })
    );
    assert!(parse_filter("  userName eq \"x\"   ").is_ok());
    assert!(parse_filter("(((userName eq \"x\")))").is_ok());
}

#[test]
fn values_and_escapes() {
    assert_eq!(
        parse_filter(r#"a eq "q\"uo\\te\u00e9\ud83d\ude00""#),
        Ok(Filter::Compare { path: ap("a"), op: CompareOp::Eq, value: s("q\"uo\\teé😀") })
    );
    assert!(matches!(parse_filter("a gt -1.5e3"), Ok(Filter::Compare { value: CompValue::Number(_), .. })));
    assert!(matches!(parse_filter("a eq null"), Ok(Filter::Compare { value: CompValue::Null, .. })));
    assert!(parse_filter("members[value eq \"x\"]").is_ok());
    assert!(parse_filter("$ref eq \"x\"").is_ok());
}

#[test]
fn errors() {
    let bad = [
        "",
        "   ",
        "userName",
        "userName eq",
        "userName eq \"unterminated",
        "userName eq \"bad escape \\q\"",
        "userName zz \"x\"",
        "(userName eq \"x\"",
        "userName eq \"x\")",
        "userName eq \"x\" and",
        "userName eq \"x\" garbage",
        "emails[type eq \"work\"",
        "emails[type[x eq 1] eq \"a\"]",
        "not userName eq \"x\"",
        "active gt true",
        "a lt null",
        "a co 5",
        "a sw true",
        "1abc eq \"x\"",
        "a.b.c eq \"x\"",
        "userName eq x",
        "userName eq\"x\"",
        "userNameeq \"x\"",
    ];
    for b in bad {
        assert!(parse_filter(b).is_err(), "should fail: {b:?}");
    }
    let e = parse_filter("userName xx \"a\"").expect_err("bad op");
    assert_eq!(e.offset, 9);
    assert!(e.message.contains("operator"), "{}", e.message);
    let deep = format!("{}a pr{}", "(".repeat(17), ")".repeat(17));
    assert!(parse_filter(&deep).expect_err("deep").message.contains("16"));
    let ok = format!("{}a pr{}", "(".repeat(16), ")".repeat(16));
    assert!(parse_filter(&ok).is_ok());
    assert!(parse_filter(&"(".repeat(100_000)).is_err());
    assert!(parse_filter(&"not (".repeat(1000)).is_err());
    let long = format!("a eq \"{}\"", "x".repeat(MAX_FILTER_LEN));
    assert!(parse_filter(&long).expect_err("long").message.contains("4096"));
}

/// Security review item 7: multi-byte characters anywhere in a filter, a PATCH path or an
/// attribute list are a syntax error (or parse, inside strings), never a panic.
#[test]
fn non_ascii_input_is_an_error_not_a_panic() {
    fn no_panic(input: &str) {
        let outcome = std::panic::catch_unwind(|| {
            let _ = parse_filter(input);
            let _ = parse_patch_path(input);
            let _ = parse_attribute_list(input);
        });
        assert!(outcome.is_ok(), "panicked on {input:?}");
    }
    // The review's three inputs (500 and a panic at the keyword comparison).
    for bad in ["éé", r#"userName eq "x" €"#, r#"emails[type eq "a" €]"#] {
        no_panic(bad);
        assert!(parse_filter(bad).is_err(), "{bad:?}");
    }
    assert!(parse_patch_path(r#"emails[type eq "a" €]"#).is_err());
    // Each keyword comparison reading into a character: `o` + 'é' (2 bytes) is as long as
    // `or`, `an` + '€' (3 bytes) as `and`...
    for bad in ["a pr oé", "a pr an€", "a pr a𝄞", "not€", "noté", "a eé", "a eq tr€", "a eq nu𝄞", "a eq f€"]
    {
        no_panic(bad);
        assert!(parse_filter(bad).is_err(), "{bad:?}");
    }
    // A multi-byte character after a backslash inside a string.
    for bad in [r#"a eq "\é""#, r#"a eq "\€"#, r#"a eq "\𝄞"#, "a eq \"\\"] {
        no_panic(bad);
        assert!(parse_filter(bad).is_err(), "{bad:?}");
    }
    // Attribute lists are split by hand: a character across byte 4 (the `urn:` test).
    for bad in ["abcé", "abc€", "ab𝄞", "urn€:x", "é", "userName,é"] {
        no_panic(bad);
        assert!(parse_attribute_list(bad).is_err(), "{bad:?}");
    }
    // Every valid example with each character inserted at every character boundary.
    let valid: Vec<&str> = RFC_EXAMPLES
        .iter()
        .copied()
        .chain([
            r#"emails[type eq "work"].value"#,
            r#"members[value eq "2819c223" or value eq "x"]"#,
            "a eq true and b eq false or c eq null and not (d pr)",
            "a gt -1.5e3",
            "userName, name.givenName,urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
        ])
        .collect();
    let mut inputs = 0;
    for v in valid {
        for c in ['é', '€', '𝄞'] {
            for at in (0..=v.len()).filter(|i| v.is_char_boundary(*i)) {
                let mut s = v.to_string();
                s.insert(at, c);
                no_panic(&s);
                // Twice, so a character can follow another's first byte position too.
                s.insert(at, c);
                no_panic(&s);
                inputs += 2;
            }
        }
    }
    assert!(inputs > 3000, "{inputs}");
    // A string value keeps its characters.
    assert_eq!(
        parse_filter("a eq \"é€𝄞\""),
        Ok(Filter::Compare { path: ap("a"), op: CompareOp::Eq, value: s("é€𝄞") })
    );
}

#[test]
fn patch_paths() {
    let p = parse_patch_path("members").expect("ok");
    assert_eq!(p, PatchPath { attr: ap("members"), filter: None, sub_attr: None });
    let p = parse_patch_path("name.familyName").expect("ok");
    assert_eq!(p.attr.sub_attr.as_deref(), Some("familyName"));
    for ok in [
        r#"addresses[type eq "work"]"#,
        r#"members[value eq "2819c223-7f76-453a-919d-413861904646"]"#,
        r#"members[value eq "2819c223-7f76-453a-919d-413861904646"].displayName"#,
        r#"emails[type eq "work" and value ew "example.com"]"#,
        r#"addresses[type eq "work"].streetAddress"#,
        r#"emails[type eq "work"].value"#,
        r#"phoneNumbers[type eq "mobile"].value"#,
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
    ] {
        assert!(parse_patch_path(ok).is_ok(), "{ok}");
    }
    let p = parse_patch_path(r#"addresses[type eq "work"].streetAddress"#).expect("ok");
    assert_eq!(p.attr, ap("addresses"));
    assert_eq!(p.sub_attr.as_deref(), Some("streetAddress"));
    assert_eq!(p.filter, Some(Filter::Compare { path: ap("type"), op: CompareOp::Eq, value: s("work") }));
    let m = parse_patch_path("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value")
        .expect("ok");
    assert_eq!(m.attr.name, "manager");
    assert_eq!(m.attr.sub_attr.as_deref(), Some("value"));
    for bad in [
        "",
        "emails[",
        "emails[type eq \"w\"",
        "emails[type eq \"w\"].",
        "name.givenName[x eq 1]",
        "a b",
        "emails[type eq \"w\"]x",
    ] {
        assert!(parse_patch_path(bad).is_err(), "{bad}");
    }
}

#[test]
fn attribute_lists() {
    let l = parse_attribute_list(
        "userName, name.givenName ,urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
    )
    .expect("ok");
    assert_eq!(l.len(), 3);
    assert_eq!(l[1].sub_attr.as_deref(), Some("givenName"));
    assert_eq!(l[2].name, "department");
    assert!(parse_attribute_list("a,,b").is_err());
    assert!(parse_attribute_list("a b").is_err());
}

/// The allocation-free string comparison gives what lower-casing both sides gives, for
/// every operator, ASCII or not, empty or not.
#[test]
fn string_comparison_agrees_with_lower_casing() {
    fn reference(a: &str, op: CompareOp, w: &str, case_exact: bool) -> bool {
        let (a, w) =
            if case_exact { (a.to_string(), w.to_string()) } else { (a.to_lowercase(), w.to_lowercase()) };
        match op {
            CompareOp::Co => a.contains(&w),
            CompareOp::Sw => a.starts_with(&w),
            CompareOp::Ew => a.ends_with(&w),
            CompareOp::Eq => a == w,
            CompareOp::Gt => a > w,
            CompareOp::Ge => a >= w,
            CompareOp::Lt => a < w,
            CompareOp::Le => a <= w,
            CompareOp::Ne => false,
        }
    }
    let words = [
        "", "a", "A", "ab", "Ab", "aB", "abc", "ABC", "b", "Z", "_", "a@X.org", "x.ORG", "é", "É", "aé",
        "Aé", "İ", "i̇", "ß", "SS", "ab€",
    ];
    use CompareOp::*;
    for a in words {
        for w in words {
            for op in [Eq, Co, Sw, Ew, Gt, Ge, Lt, Le] {
                for ce in [false, true] {
                    let got = compare_one(&Value::String(a.into()), op, &s(w), ce);
                    assert_eq!(got, reference(a, op, w, ce), "{a:?} {op:?} {w:?} case_exact={ce}");
                }
            }
        }
    }
}

/// Security review item 3: per resource type, only that type's multi-valued attributes
/// count; the any-type check (what list requests use) counts both types'.
#[test]
fn filter_limits_per_kind() {
    let f = |t: &str, n: usize| parse_filter(&vec![t; n].join(" or ")).expect("parses");
    let (user, group) = (ResourceKind::User, ResourceKind::Group);
    let five_members = f(r#"members.value eq "m""#, 5);
    assert!(check_filter_limits(&five_members, user).is_ok(), "not a User attribute");
    let e = check_filter_limits(&five_members, group).expect_err("Group members");
    assert_eq!(e.scim_type, Some(crate::ScimType::InvalidFilter));
    assert!(check_filter_limits_any_kind(&five_members).is_err());
    let five_emails = f(r#"emails[type eq "work" and value co "x"]"#, 5);
    assert!(check_filter_limits(&five_emails, user).is_err());
    assert!(check_filter_limits(&f(r#"emails[type eq "work" and value co "x"]"#, 4), user).is_ok());
    let ten_in_one = parse_filter(&format!("emails[{}]", [r#"value co "x""#; 10].join(" or "))).expect("ok");
    assert!(check_filter_limits(&ten_in_one, user).is_ok(), "one [filter], ten comparisons");
    assert!(check_filter_limits(&f("displayName pr", 20), group).is_ok());
    let e = check_filter_limits(&f("displayName pr", 21), group).expect_err("21");
    assert!(e.detail.contains("21 comparisons; at most 20"), "{}", e.detail);
    // parse_filter itself does not limit: PATCH paths have their own limits (patch.rs).
    assert!(parse_filter(&vec!["a eq 1"; 100].join(" or ")).is_ok());
}

#[test]
fn evaluation() {
    let user = json!({
        "userName": "BJensen", "title": "Tour Guide", "userType": "Employee", "active": true, "logins": 7,
        "name": {"familyName": "O'Malley", "givenName": "Barbara"},
        "emails": [{"value": "bjensen@example.com", "type": "work"}, {"value": "babs@jensen.org", "type": "home"}],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Tour Operations"}
    });
    let ci = |_: &AttrPath| false;
    let t = |f: &str| evaluate(&parse_filter(f).expect(f), &user, &ci);
    assert!(t(r#"userName eq "bjensen""#));
    assert!(t(r#"userName ne "other""#));
    assert!(!t(r#"userName ne "BJENSEN""#));
    assert!(t(r#"name.familyName co "malley""#));
    assert!(t(r#"userName sw "bj""#));
    assert!(t(r#"userName ew "SEN""#));
    assert!(
        t(r#"title gt "A""#)
            && t(r#"title ge "tour guide""#)
            && t(r#"title lt "Z""#)
            && t(r#"title le "tour guide""#)
    );
    assert!(t("logins gt 5") && !t("logins lt 5") && t("logins eq 7"));
    assert!(t("active eq true") && !t("active eq false"));
    assert!(t("title pr") && !t("nickName pr"));
    assert!(t("nickName eq null") && !t("title eq null"));
    assert!(t(r#"emails co "jensen.org""#));
    assert!(t(r#"emails.type eq "home""#));
    assert!(t(r#"emails[type eq "work" and value co "@example.com"]"#));
    assert!(!t(r#"emails[type eq "home" and value co "@example.com"]"#));
    assert!(t(r#"not (emails[type eq "other"])"#));
    assert!(t(
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "tour operations""#
    ));
    assert!(t(r#"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "BJENSEN""#));
    let exact = |_: &AttrPath| true;
    assert!(!evaluate(&parse_filter(r#"userName eq "bjensen""#).expect("ok"), &user, &exact));
}

/// Found by `properties::filter_parse_inverts_print`: an attribute called `not` (any case,
/// as `not pr`, `not.x eq 1` or `not[...]`) printed to text the parser refused, because
/// `not` was taken for the operator even with no '(' after it.
#[test]
fn an_attribute_named_not_round_trips() {
    let not =
        |sub: Option<&str>| AttrPath { uri: None, name: "Not".into(), sub_attr: sub.map(str::to_string) };
    for f in [
        Filter::Present(not(None)),
        Filter::Compare { path: not(Some("x")), op: CompareOp::Eq, value: CompValue::Bool(true) },
        Filter::ValuePath { path: not(None), filter: Box::new(Filter::Present(ap("value"))) },
        Filter::And(
            Box::new(Filter::Present(ap("a"))),
            Box::new(Filter::Not(Box::new(Filter::Present(not(None))))),
        ),
    ] {
        assert_eq!(parse_filter(&f.to_string()), Ok(f.clone()), "{f}");
    }
    assert_eq!(parse_filter("title pr and not pr"), parse_filter("(title pr and not pr)"));
    // The operator still needs its '(' and says so.
    let e = parse_filter("not userName eq \"x\"").expect_err("no '('");
    assert!(e.message.contains("'(' after 'not'"), "{}", e.message);
    assert_eq!(e.offset, 0);
}

/// Found by `properties::filter_parse_inverts_print`: a decimal parsed to a neighbour of the
/// f64 it was printed from (serde_json's default float parsing is not correctly rounded;
/// the crate turns on `float_roundtrip`).
#[test]
fn decimal_values_parse_to_the_number_they_print() {
    for x in [-907_512.494_630_955_5_f64, 136_459.283_146_996_25, 0.1, 1e-7, 5e-324, f64::MAX] {
        let Some(n) = serde_json::Number::from_f64(x) else { panic!("{x} is finite") };
        let f = Filter::Compare { path: ap("a"), op: CompareOp::Gt, value: CompValue::Number(n) };
        assert_eq!(parse_filter(&f.to_string()), Ok(f.clone()), "{f}");
    }
}
