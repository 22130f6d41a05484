//! Property tests (issue 14): the filter printer and parser agree, a PATCH `add` undone by
//! a `remove` gives the document back, and a projection never returns what it was asked to
//! leave out (nor more than it was asked for).
//!
//! Each property runs the proptest default of 256 cases unless its config says otherwise;
//! all of them together take well under a second in a debug build. A failure prints the
//! shrunk input; proptest keeps no regression files here (`failure_persistence` is off), so
//! a bug it finds gets a plain unit test beside the code it fixes.

use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::TestCaseError;
use serde_json::{Map, Number, Value, json};
use time::OffsetDateTime;

use crate::filter::{AttrPath, CompValue, CompareOp, Filter, MAX_FILTER_DEPTH, MAX_FILTER_LEN, parse_filter};
use crate::projection::Projection;
use crate::schema::{ENTERPRISE_USER_URN, GROUP_URN, ResourceKind, USER_URN};
use crate::stored::{GroupRef, Member, StoredResource, to_representation};
use crate::{PATCH_OP_URN, patch, resource};

/// `cases` per property, or `PROPTEST_CASES` when set (for a longer run by hand:
/// `PROPTEST_CASES=20000 cargo test -p scimgate-scim properties`).
fn config(cases: u32) -> ProptestConfig {
    let default = ProptestConfig::default();
    let cases = if std::env::var_os("PROPTEST_CASES").is_some() { default.cases } else { cases };
    ProptestConfig { cases, failure_persistence: None, ..default }
}

/// A small deterministic source of choices (SplitMix64) for the parts of an input that only
/// vary its spelling: keyword case, white space, redundant parentheses. Its seed is part of
/// the generated input, so a failure shrinks and replays like any other.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// True one time in `n`.
    fn one_in(&mut self, n: u64) -> bool {
        self.next().is_multiple_of(n)
    }
    /// `s` with each ASCII letter's case flipped at random.
    fn case(&mut self, s: &str) -> String {
        s.chars()
            .map(|c| if self.one_in(2) { c.to_ascii_uppercase() } else { c.to_ascii_lowercase() })
            .collect()
    }
    /// `min` to `min + 2` white-space characters of the four the parser skips.
    fn ws(&mut self, min: usize) -> String {
        let n = min + (self.next() % 3) as usize;
        (0..n).map(|_| [' ', ' ', '\t', '\n', '\r'][(self.next() % 5) as usize]).collect()
    }
}

// ---------------------------------------------------------------------------------------
// 1. Filters: print ∘ parse is the identity on ASTs.
// ---------------------------------------------------------------------------------------

/// Attribute names clients send (the parser keeps the spelling; callers compare
/// case-insensitively).
const NAMES: &[&str] = &[
    "userName",
    "displayName",
    "emails",
    "members",
    "title",
    "active",
    "externalId",
    "id",
    "schemas",
    "groups",
    "phoneNumbers",
    "userType",
    "$ref",
    "value",
    "type",
    "primary",
    "display",
];

/// Names that are also words of the grammar: the parser must tell them apart by position.
const KEYWORD_NAMES: &[&str] = &[
    "not", "NOT", "Not", "and", "AND", "or", "Or", "pr", "eq", "ne", "co", "gt", "true", "false", "null",
    "urn",
];

/// `(uri, name, subAttr)` of paths seen in real filters.
const PATHS: &[(Option<&str>, &str, Option<&str>)] = &[
    (None, "userName", None),
    (None, "name", Some("givenName")),
    (None, "name", Some("familyName")),
    (None, "meta", Some("lastModified")),
    (None, "meta", Some("created")),
    (None, "emails", Some("value")),
    (None, "emails", Some("type")),
    (None, "members", Some("value")),
    (None, "manager", Some("value")),
    (Some(ENTERPRISE_USER_URN), "employeeNumber", None),
    (Some(ENTERPRISE_USER_URN), "manager", Some("value")),
    (Some(USER_URN), "userName", None),
    (Some(USER_URN), "name", Some("familyName")),
    (Some(GROUP_URN), "displayName", None),
];

fn attr_name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => select(NAMES).prop_map(str::to_string),
        1 => select(KEYWORD_NAMES).prop_map(str::to_string),
        // Any valid name (RFC 7643 §2.1 ATTRNAME, plus the `$ref` spelling).
        3 => "[a-zA-Z$][a-zA-Z0-9_-]{0,10}",
    ]
}

fn uri() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => select(&[USER_URN, GROUP_URN, ENTERPRISE_USER_URN][..]).prop_map(str::to_string),
        // Any URN the tokenizer can read: `urn:` (any case) and segments of name bytes.
        1 => "[uU][rR][nN]:[a-zA-Z0-9._$-]{1,8}(:[a-zA-Z0-9._$-]{1,8}){0,3}",
    ]
}

fn attr_path() -> impl Strategy<Value = AttrPath> {
    prop_oneof![
        select(PATHS).prop_map(|(uri, name, sub)| AttrPath {
            uri: uri.map(str::to_string),
            name: name.to_string(),
            sub_attr: sub.map(str::to_string),
        }),
        (prop::option::weighted(0.2, uri()), attr_name(), prop::option::weighted(0.3, attr_name()))
            .prop_map(|(uri, name, sub_attr)| AttrPath { uri, name, sub_attr }),
    ]
}

/// Strings with what JSON must escape (quotes, backslashes, control characters), what it
/// need not (DEL, U+2028, non-ASCII), and the grammar's own punctuation.
fn string_value() -> impl Strategy<Value = String> {
    let tricky = prop_oneof![
        select(&['"', '\\', '\n', '\t', '\r', '\0', '\u{1f}', '\u{7f}', '\u{2028}', ']', ')', '(', '['][..]),
        select(&['é', 'ß', '€', '😀', '𝄞', 'K', '\u{212a}', ' ', '/', ':', '.'][..]),
        any::<char>(),
        prop::char::range('a', 'z'),
    ];
    prop_oneof![
        "[a-zA-Z0-9@._ -]{0,12}",
        prop::collection::vec(tricky, 0..16).prop_map(|v| v.into_iter().collect()),
        prop::collection::vec(any::<char>(), 0..24).prop_map(|v| v.into_iter().collect()),
    ]
}

fn number() -> impl Strategy<Value = Number> {
    prop_oneof![
        (-1000i64..1000).prop_map(Number::from),
        any::<i64>().prop_map(Number::from),
        any::<u64>().prop_map(Number::from),
        (-1.0e6f64..1.0e6).prop_filter_map("finite", Number::from_f64),
        any::<f64>().prop_filter_map("finite", Number::from_f64),
    ]
}

/// An operator with a value the parser accepts for it (RFC 7644 §3.4.2.2: `co`/`sw`/`ew`
/// take strings; `gt`/`ge`/`lt`/`le` strings, numbers and dates, never booleans or null).
fn op_and_value() -> impl Strategy<Value = (CompareOp, CompValue)> {
    use CompareOp::*;
    let any_value = prop_oneof![
        Just(CompValue::Null),
        any::<bool>().prop_map(CompValue::Bool),
        number().prop_map(CompValue::Number),
        string_value().prop_map(CompValue::String),
    ];
    prop_oneof![
        (select(&[Eq, Ne][..]), any_value),
        (select(&[Co, Sw, Ew][..]), string_value().prop_map(CompValue::String)),
        (
            select(&[Gt, Ge, Lt, Le][..]),
            prop_oneof![number().prop_map(CompValue::Number), string_value().prop_map(CompValue::String)]
        ),
    ]
}

fn leaf() -> impl Strategy<Value = Filter> {
    prop_oneof![
        3 => (attr_path(), op_and_value()).prop_map(|(path, (op, value))| Filter::Compare { path, op, value }),
        1 => attr_path().prop_map(Filter::Present),
    ]
}

fn combine(inner: BoxedStrategy<Filter>) -> impl Strategy<Value = Filter> {
    prop_oneof![
        (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::And(Box::new(a), Box::new(b))),
        (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::Or(Box::new(a), Box::new(b))),
        inner.prop_map(|a| Filter::Not(Box::new(a))),
    ]
}

/// A filter inside `[...]`: anything but another value path (the grammar has no nesting).
fn value_filter() -> impl Strategy<Value = Filter> {
    leaf().prop_recursive(3, 12, 2, |inner| combine(inner.boxed()))
}

/// `emails[...]`: a value path names the attribute only, never a sub-attribute.
fn value_path() -> impl Strategy<Value = Filter> {
    (attr_path(), value_filter()).prop_map(|(mut path, f)| {
        path.sub_attr = None;
        Filter::ValuePath { path, filter: Box::new(f) }
    })
}

/// Nesting as the parser counts it: each parenthesised group (`and`/`or` print their own),
/// `not (...)` and `[...]` add one.
fn printed_depth(f: &Filter) -> usize {
    match f {
        Filter::Compare { .. } | Filter::Present(_) => 0,
        Filter::And(a, b) | Filter::Or(a, b) => 1 + printed_depth(a).max(printed_depth(b)),
        Filter::Not(a) | Filter::ValuePath { filter: a, .. } => 1 + printed_depth(a),
    }
}

/// Any filter the parser accepts once printed: at most [`MAX_FILTER_DEPTH`] deep and
/// [`MAX_FILTER_LEN`] bytes long (the two limits `parse_filter` enforces; the comparison
/// limits are checked after parsing, by `check_filter_limits`).
fn filter() -> impl Strategy<Value = Filter> {
    prop_oneof![3 => leaf(), 1 => value_path()]
        .prop_recursive(5, 24, 2, |inner| combine(inner.boxed()))
        .prop_filter("within the parser's limits", |f| {
            printed_depth(f) <= MAX_FILTER_DEPTH && f.to_string().len() <= MAX_FILTER_LEN
        })
}

/// Prints `f` as a client might write it: keywords in any case, any white space, only the
/// parentheses precedence needs (`and` binds tighter than `or`, both left-associative) plus
/// some redundant ones. Returns the text and its nesting depth.
fn print_loosely(f: &Filter, dice: &mut Dice) -> (String, usize) {
    fn prec(f: &Filter) -> u8 {
        match f {
            Filter::Or(..) => 1,
            Filter::And(..) => 2,
            _ => 3,
        }
    }
    fn go(f: &Filter, min_prec: u8, d: &mut Dice, depth: usize, max: &mut usize, out: &mut String) {
        if prec(f) < min_prec || d.one_in(5) {
            *max = (*max).max(depth + 1);
            out.push('(');
            out.push_str(&d.ws(0));
            body(f, d, depth + 1, max, out);
            out.push_str(&d.ws(0));
            out.push(')');
        } else {
            body(f, d, depth, max, out);
        }
    }
    fn body(f: &Filter, d: &mut Dice, depth: usize, max: &mut usize, out: &mut String) {
        match f {
            Filter::Or(a, b) | Filter::And(a, b) => {
                let (kw, p) = if matches!(f, Filter::Or(..)) { ("or", 1) } else { ("and", 2) };
                go(a, p, d, depth, max, out);
                out.push_str(&d.ws(1));
                out.push_str(&d.case(kw));
                out.push_str(&d.ws(1));
                go(b, p + 1, d, depth, max, out);
            }
            Filter::Not(a) => {
                *max = (*max).max(depth + 1);
                out.push_str(&d.case("not"));
                out.push_str(&d.ws(0));
                out.push('(');
                out.push_str(&d.ws(0));
                go(a, 0, d, depth + 1, max, out);
                out.push_str(&d.ws(0));
                out.push(')');
            }
            Filter::ValuePath { path, filter } => {
                *max = (*max).max(depth + 1);
                out.push_str(&format!("{path}["));
                out.push_str(&d.ws(0));
                go(filter, 0, d, depth + 1, max, out);
                out.push_str(&d.ws(0));
                out.push(']');
            }
            Filter::Present(path) => {
                out.push_str(&format!("{path}{}{}", d.ws(1), d.case("pr")));
            }
            Filter::Compare { path, op, value } => {
                let op = format!("{op:?}");
                let value = match value {
                    CompValue::Null => d.case("null"),
                    CompValue::Bool(b) => d.case(&b.to_string()),
                    v => v.to_string(),
                };
                out.push_str(&format!("{path}{}{}{}{value}", d.ws(1), d.case(&op), d.ws(1)));
            }
        }
    }
    let mut out = String::new();
    let mut max = 0;
    out.push_str(&dice.ws(0));
    go(f, 0, dice, 0, &mut max, &mut out);
    out.push_str(&dice.ws(0));
    (out, max)
}

proptest! {
    #![proptest_config(config(256))]

    /// The strongest round trip: the printer's text parses back to the very same AST (the
    /// printer parenthesises every `and`/`or`, so associativity is kept; names keep their
    /// spelling; numbers and strings come back equal).
    #[test]
    fn filter_parse_inverts_print(f in filter()) {
        let text = f.to_string();
        prop_assert_eq!(parse_filter(&text), Ok(f.clone()), "text: {}", text);
    }

    /// The parser reads what clients write: keywords in any case, any white space, minimal
    /// or redundant parentheses all give the same AST, or the depth error past the limit.
    #[test]
    fn filter_parse_ignores_spelling(f in filter(), seed in any::<u64>()) {
        let (text, depth) = print_loosely(&f, &mut Dice(seed));
        let parsed = parse_filter(&text);
        if depth <= MAX_FILTER_DEPTH && text.len() <= MAX_FILTER_LEN {
            prop_assert_eq!(parsed, Ok(f.clone()), "text: {}", text);
        } else {
            prop_assert!(parsed.is_err(), "over a limit yet parsed: {}", text);
        }
    }

    /// The depth limit is exact: `k` nested groups parse when `k <= MAX_FILTER_DEPTH`, and
    /// are an error that names the limit when deeper.
    #[test]
    fn filter_depth_limit_is_exact(
        core in leaf(),
        wraps in prop::collection::vec((0u8..3, leaf()), 0..=MAX_FILTER_DEPTH + 3),
    ) {
        let mut f = core;
        for (how, other) in wraps {
            f = match how {
                0 => Filter::Not(Box::new(f)),
                1 => Filter::And(Box::new(other), Box::new(f)),
                _ => Filter::Or(Box::new(f), Box::new(other)),
            };
        }
        let text = f.to_string();
        prop_assume!(text.len() <= MAX_FILTER_LEN);
        match parse_filter(&text) {
            Ok(parsed) => {
                prop_assert!(printed_depth(&f) <= MAX_FILTER_DEPTH);
                prop_assert_eq!(parsed, f);
            }
            Err(e) => {
                prop_assert!(printed_depth(&f) > MAX_FILTER_DEPTH, "{}: {}", text, e);
                prop_assert!(e.message.contains(&MAX_FILTER_DEPTH.to_string()), "{}", e);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// 2. PATCH: add then remove gives the document back.
// ---------------------------------------------------------------------------------------

/// Text a client may store: anything but NUL (refused on write: PostgreSQL cannot hold it).
fn text() -> impl Strategy<Value = String> {
    prop_oneof!["[a-zA-Z0-9@._+ -]{1,12}", string_value().prop_map(|s| s.replace('\0', "")),]
}

fn email_like() -> impl Strategy<Value = String> {
    prop_oneof!["[a-zA-Z0-9._+-]{1,10}@[a-z0-9-]{1,8}\\.(com|org|example)", text(),]
}

/// One element of `emails` or `phoneNumbers`: a value (rarely none), maybe a type, maybe
/// `primary`.
fn multi_valued_element(
    value: BoxedStrategy<String>,
    types: &'static [&'static str],
) -> BoxedStrategy<Value> {
    (prop::option::weighted(0.9, value), prop::option::of(select(types)), prop::option::of(any::<bool>()))
        .prop_map(|(value, ty, primary)| {
            let mut o = Map::new();
            if let Some(v) = value {
                o.insert("value".into(), json!(v));
            }
            if let Some(t) = ty {
                o.insert("type".into(), json!(t));
            }
            if let Some(p) = primary {
                o.insert("primary".into(), json!(p));
            }
            if o.is_empty() {
                o.insert("display".into(), json!("x"));
            }
            Value::Object(o)
        })
        .boxed()
}

/// At most one element keeps `"primary": true` (RFC 7643 §2.4; `finish` refuses more).
fn one_primary(mut items: Vec<Value>) -> Vec<Value> {
    let mut seen = false;
    for i in &mut items {
        if i.get("primary") == Some(&Value::Bool(true)) {
            if seen {
                i["primary"] = json!(false);
            }
            seen = true;
        }
    }
    items
}

/// A User body as a client sends it, its attribute names in any case. It never has the
/// attributes [`SIMPLE`] lists, so the add-then-remove property can add each of them.
fn user_body() -> impl Strategy<Value = Value> {
    let emails =
        prop::collection::vec(multi_valued_element(email_like().boxed(), &["work", "home", "other"]), 0..4);
    let phones = prop::collection::vec(
        multi_valued_element("\\+?[0-9 ]{3,12}".boxed(), &["work", "mobile", "fax"]),
        0..3,
    );
    (
        text().prop_filter("userName is required and not blank", |s| !s.trim().is_empty()),
        prop::option::of(text()),
        prop::option::of(text()),
        emails,
        phones,
        prop::option::of(any::<bool>()),
        prop::option::of(text()),
        any::<u64>(),
    )
        .prop_map(|(user_name, display, given, emails, phones, active, cost_center, seed)| {
            let mut d = Dice(seed);
            let mut body = Map::new();
            body.insert(d.case("userName"), json!(user_name));
            if let Some(v) = display {
                body.insert(d.case("displayName"), json!(v));
            }
            if let Some(v) = given {
                body.insert(d.case("name"), json!({ d.case("givenName"): v }));
            }
            if !emails.is_empty() {
                body.insert(d.case("emails"), Value::Array(one_primary(emails)));
            }
            if !phones.is_empty() {
                body.insert(d.case("phoneNumbers"), Value::Array(one_primary(phones)));
            }
            if let Some(v) = active {
                body.insert(d.case("active"), json!(v));
            }
            if let Some(v) = cost_center {
                body.insert(d.case(ENTERPRISE_USER_URN), json!({ d.case("costCenter"): v }));
            }
            Value::Object(body)
        })
}

fn fail(what: &str, e: impl std::fmt::Debug) -> TestCaseError {
    TestCaseError::fail(format!("{what}: {e:?}"))
}

fn valid_user(body: &Value) -> Result<Map<String, Value>, TestCaseError> {
    resource::normalize(ResourceKind::User, body).map_err(|e| fail("a generated User is valid", e))
}

/// Applies PATCH `operations` to a User document as the server does: parse, apply, finish.
fn patched(doc: &Map<String, Value>, operations: Value) -> Result<Map<String, Value>, TestCaseError> {
    let body = json!({"schemas": [PATCH_OP_URN], "Operations": operations});
    let ops = patch::parse_request(&body).map_err(|e| fail("the PATCH parses", e))?;
    let mut out = doc.clone();
    patch::apply(ResourceKind::User, &mut out, &ops).map_err(|e| fail("the PATCH applies", e))?;
    resource::finish(ResourceKind::User, out).map_err(|e| fail("the patched User is valid", e))
}

/// Equal as JSON, and with the members in the same order (what a client sees).
fn same_document(a: &Map<String, Value>, b: &Map<String, Value>) -> Result<(), TestCaseError> {
    prop_assert_eq!(a, b);
    let (ta, tb) = (Value::Object(a.clone()).to_string(), Value::Object(b.clone()).to_string());
    prop_assert_eq!(ta, tb, "same members, another order");
    Ok(())
}

/// Single-valued writable attributes, as PATCH paths, that [`user_body`] never sets.
const SIMPLE: &[&str] = &[
    "nickName",
    "title",
    "userType",
    "locale",
    "timezone",
    "preferredLanguage",
    "profileUrl",
    "name.middleName",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
];

proptest! {
    #![proptest_config(config(256))]

    /// `add` of a new email to `emails`, then `remove` of `emails[value eq "V"]`, is the
    /// identity, whether sent as two PATCH requests or as one with two operations.
    ///
    /// "New" is case-insensitive: `emails.value` has `caseExact: false` (RFC 7643 §4.1.2),
    /// so the value filter also matches, and removes, an email that differs from V only in
    /// case; V is chosen unlike every stored value after lower-casing. V is added without
    /// `primary`: marking it primary would clear the flag of the old primary (RFC 7644
    /// §3.5.2), which its removal rightly does not restore.
    #[test]
    fn patch_add_then_remove_email_is_identity(
        body in user_body(),
        v in email_like(),
        seed in any::<u64>(),
    ) {
        let original = valid_user(&body)?;
        let before = original.get("emails").and_then(Value::as_array).map_or(0, Vec::len);
        let existing: Vec<String> = original
            .get("emails")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|e| e.get("value").and_then(Value::as_str))
            .map(str::to_lowercase)
            .collect();
        prop_assume!(!existing.contains(&v.to_lowercase()));
        let mut d = Dice(seed);
        let add = json!({"op": d.case("add"), "path": d.case("emails"), "value": [{"value": v}]});
        let remove = json!({
            "op": d.case("remove"),
            "path": format!("{}[{} eq {}]", d.case("emails"), d.case("value"), Value::String(v.clone())),
        });

        let added = patched(&original, json!([add]))?;
        let emails = added.get("emails").and_then(Value::as_array).cloned().unwrap_or_default();
        prop_assert_eq!(emails.last(), Some(&json!({"value": v})), "the add appends the email");
        prop_assert_eq!(emails.len(), before + 1);
        let removed = patched(&added, json!([remove]))?;
        same_document(&removed, &original)?;

        let both = patched(&original, json!([add, remove]))?;
        same_document(&both, &original)?;
    }

    /// `add` of a single-valued attribute the User does not have (core, a sub-attribute,
    /// an extension attribute; with a path, or path-less as `{"name.middleName": V}`), then
    /// `remove` of its path, is the identity.
    #[test]
    fn patch_add_then_remove_simple_attribute_is_identity(
        body in user_body(),
        path in select(SIMPLE),
        v in text(),
        path_less in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let original = valid_user(&body)?;
        let mut d = Dice(seed);
        // The URN keeps its case half the time: it is compared case-insensitively too.
        let spelled = if d.one_in(2) { d.case(path) } else { path.to_string() };
        let add = if path_less {
            json!({"op": d.case("add"), "value": { spelled.clone(): v }})
        } else {
            json!({"op": d.case("add"), "path": spelled, "value": v})
        };
        let remove = json!({"op": d.case("remove"), "path": d.case(path)});

        let added = patched(&original, json!([add]))?;
        prop_assert_ne!(&added, &original, "the add changes the document");
        let removed = patched(&added, json!([remove]))?;
        same_document(&removed, &original)?;
        let both = patched(&original, json!([add, remove]))?;
        same_document(&both, &original)?;
    }
}

// ---------------------------------------------------------------------------------------
// 3. Projection: excludedAttributes never leaks; attributes returns only what was asked.
// ---------------------------------------------------------------------------------------

/// `(extension, attribute, sub-attribute)` in canonical spelling; `(Some(urn), None, None)`
/// is a whole extension.
type Canonical = (Option<&'static str>, Option<&'static str>, Option<&'static str>);

const E: Option<&str> = Some(ENTERPRISE_USER_URN);

/// What a User's attribute lists can name (RFC 7643 §4.1, §4.3; `groups` comes from the
/// membership table, `meta` from the store).
const USER_PATHS: &[Canonical] = &[
    (None, Some("id"), None),
    (None, Some("externalId"), None),
    (None, Some("meta"), None),
    (None, Some("meta"), Some("created")),
    (None, Some("meta"), Some("lastModified")),
    (None, Some("meta"), Some("location")),
    (None, Some("meta"), Some("version")),
    (None, Some("meta"), Some("resourceType")),
    (None, Some("userName"), None),
    (None, Some("name"), None),
    (None, Some("name"), Some("givenName")),
    (None, Some("name"), Some("familyName")),
    (None, Some("displayName"), None),
    (None, Some("nickName"), None),
    (None, Some("title"), None),
    (None, Some("active"), None),
    (None, Some("emails"), None),
    (None, Some("emails"), Some("value")),
    (None, Some("emails"), Some("type")),
    (None, Some("emails"), Some("primary")),
    (None, Some("emails"), Some("display")),
    (None, Some("phoneNumbers"), None),
    (None, Some("phoneNumbers"), Some("value")),
    (None, Some("phoneNumbers"), Some("type")),
    (None, Some("addresses"), None),
    (None, Some("addresses"), Some("locality")),
    (None, Some("groups"), None),
    (None, Some("groups"), Some("value")),
    (None, Some("groups"), Some("display")),
    (None, Some("groups"), Some("$ref")),
    (None, Some("groups"), Some("type")),
    (E, None, None),
    (E, Some("employeeNumber"), None),
    (E, Some("department"), None),
    (E, Some("costCenter"), None),
    (E, Some("manager"), None),
    (E, Some("manager"), Some("value")),
    (E, Some("manager"), Some("displayName")),
];

/// What a Group's attribute lists can name (RFC 7643 §4.2).
const GROUP_PATHS: &[Canonical] = &[
    (None, Some("id"), None),
    (None, Some("externalId"), None),
    (None, Some("meta"), None),
    (None, Some("meta"), Some("created")),
    (None, Some("meta"), Some("lastModified")),
    (None, Some("meta"), Some("location")),
    (None, Some("meta"), Some("version")),
    (None, Some("meta"), Some("resourceType")),
    (None, Some("displayName"), None),
    (None, Some("members"), None),
    (None, Some("members"), Some("value")),
    (None, Some("members"), Some("display")),
    (None, Some("members"), Some("type")),
    (None, Some("members"), Some("$ref")),
];

/// How an item of an attribute list is written.
#[derive(Debug, Clone, Copy)]
enum Qualifier {
    /// `name.sub`
    Bare,
    /// `urn:...:core:2.0:User:name.sub` (or Group).
    Core(ResourceKind),
    /// `urn:...:enterprise:2.0:User:name.sub`, for extension attributes.
    Extension,
}

/// One item of an attribute list: the path it names, how it is qualified, and its text.
#[derive(Debug, Clone)]
struct Item {
    path: Canonical,
    qualifier: Qualifier,
    text: String,
}

fn core_urn(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::User => USER_URN,
        ResourceKind::Group => GROUP_URN,
    }
}

/// An item naming one of the paths above in any case and with or without its URN, or a
/// name no schema has (which the server ignores, RFC 7644 §3.4.2.5).
fn item() -> impl Strategy<Value = Item> {
    let known = (select(USER_PATHS.iter().chain(GROUP_PATHS).copied().collect::<Vec<_>>()), any::<u64>())
        .prop_map(|(path, seed)| {
            let mut d = Dice(seed);
            let from_user = USER_PATHS.contains(&path);
            let qualifier = match path {
                (Some(_), _, _) if path.1.is_none() || d.one_in(2) => Qualifier::Extension,
                (Some(_), _, _) => Qualifier::Bare,
                _ if d.one_in(3) => {
                    // A core URN: the item's own, or now and then the other resource type's.
                    let own = if from_user { ResourceKind::User } else { ResourceKind::Group };
                    let other = if from_user { ResourceKind::Group } else { ResourceKind::User };
                    Qualifier::Core(if d.one_in(4) { other } else { own })
                }
                _ => Qualifier::Bare,
            };
            let mut text = match qualifier {
                Qualifier::Bare => String::new(),
                Qualifier::Core(k) => format!("{}:", core_urn(k)),
                Qualifier::Extension => match path.1 {
                    None => ENTERPRISE_USER_URN.to_string(),
                    Some(_) => format!("{ENTERPRISE_USER_URN}:"),
                },
            };
            if d.one_in(3) {
                text = d.case(&text);
            }
            if let Some(a) = path.1 {
                text.push_str(&d.case(a));
            }
            if let Some(s) = path.2 {
                text.push('.');
                text.push_str(&d.case(s));
            }
            Item { path, qualifier, text }
        });
    let unknown = prop_oneof![
        select(
            &["bogus", "userName.nothing", "emails.nothing", "schemas", "password", "urn:x:y:userName"][..]
        )
        .prop_map(str::to_string),
        // No attribute name starts with "zz".
        "zz[a-zA-Z0-9]{0,8}(\\.[a-zA-Z][a-zA-Z0-9]{0,8})?",
    ]
    .prop_map(|text| Item { path: (None, None, None), qualifier: Qualifier::Bare, text });
    prop_oneof![6 => known, 1 => unknown]
}

/// An attribute list: items joined by commas, with white space around some.
fn item_list() -> impl Strategy<Value = (Vec<Item>, String)> {
    (prop::collection::vec(item(), 1..6), any::<u64>()).prop_map(|(items, seed)| {
        let mut d = Dice(seed);
        let text = items
            .iter()
            .map(|i| if d.one_in(4) { format!(" {} ", i.text) } else { i.text.clone() })
            .collect::<Vec<_>>()
            .join(",");
        (items, text)
    })
}

/// The path an item names for `kind`, from the tables alone: a core URN must be the
/// kind's own, an extension is only the User's, and a bare name is found in the core
/// schema first, then in the extension. `None` for what the kind does not have.
fn meaning(kind: ResourceKind, item: &Item) -> Option<Canonical> {
    let table = match kind {
        ResourceKind::User => USER_PATHS,
        ResourceKind::Group => GROUP_PATHS,
    };
    let (_, attr, sub) = item.path;
    attr.or(item.path.0)?;
    let core = (None, attr, sub);
    let ext = (E, attr, sub);
    match item.qualifier {
        Qualifier::Core(k) if k != kind => None,
        Qualifier::Core(_) => table.contains(&core).then_some(core),
        Qualifier::Extension => table.contains(&item.path).then_some(item.path),
        Qualifier::Bare if table.contains(&core) => Some(core),
        Qualifier::Bare => table.contains(&ext).then_some(ext),
    }
}

fn timestamp() -> impl Strategy<Value = OffsetDateTime> {
    (0i64..4_000_000_000).prop_map(|s| OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(s))
}

/// A User's full representation: a generated body, groups, meta.
fn user_representation() -> impl Strategy<Value = Map<String, Value>> {
    let groups = prop::collection::vec(("[a-f0-9]{8}", prop::option::of(text())), 0..3);
    let extra = (
        prop::option::of(text()),
        prop::option::of(text()),
        prop::option::of(text()),
        prop::option::of(("[a-f0-9]{6}", any::<bool>())),
        prop::collection::vec((prop::option::of(text()), prop::option::of(text())), 0..3),
    );
    (user_body(), extra, groups, "[a-f0-9-]{1,36}", timestamp(), 1i64..1000).prop_filter_map(
        "a valid User",
        |(mut body, (family, nick, employee, manager, addresses), groups, id, at, version)| {
            let obj = body.as_object_mut()?;
            // The body's own `name` and extension object are spelled in any case: replace
            // them with canonically spelled ones that hold more sub-attributes.
            let name =
                obj.iter().find(|(k, _)| k.eq_ignore_ascii_case("name")).map(|(k, v)| (k.clone(), v.clone()));
            let mut name_obj = match name {
                Some((k, Value::Object(o))) => {
                    obj.remove(&k);
                    o.into_iter().map(|(_, v)| ("givenName".to_string(), v)).collect()
                }
                _ => Map::new(),
            };
            if let Some(f) = family {
                name_obj.insert("familyName".into(), json!(f));
            }
            if !name_obj.is_empty() {
                obj.insert("name".into(), Value::Object(name_obj));
            }
            if let Some(n) = nick {
                obj.insert("NICKNAME".into(), json!(n));
            }
            let ext_key = obj.keys().find(|k| k.eq_ignore_ascii_case(ENTERPRISE_USER_URN)).cloned();
            let mut ext = match ext_key.and_then(|k| obj.remove(&k)) {
                Some(Value::Object(o)) => o.into_iter().map(|(_, v)| ("costCenter".to_string(), v)).collect(),
                _ => Map::new(),
            };
            if let Some(e) = employee {
                ext.insert("employeeNumber".into(), json!(e));
            }
            if let Some((m, with_ref)) = manager {
                let mut mo = Map::new();
                mo.insert("value".into(), json!(m));
                if with_ref {
                    mo.insert("$ref".into(), json!(format!("../Users/{m}")));
                }
                ext.insert("manager".into(), Value::Object(mo));
            }
            if !ext.is_empty() {
                obj.insert(ENTERPRISE_USER_URN.into(), Value::Object(ext));
            }
            let addresses: Vec<Value> = addresses
                .into_iter()
                .filter_map(|(locality, region)| {
                    let mut a = Map::new();
                    a.insert("locality".into(), json!(locality?));
                    if let Some(r) = region {
                        a.insert("region".into(), json!(r));
                    }
                    Some(Value::Object(a))
                })
                .collect();
            if !addresses.is_empty() {
                obj.insert("addresses".into(), Value::Array(addresses));
            }
            let doc = resource::normalize(ResourceKind::User, &body).ok()?;
            let stored = StoredResource {
                id,
                doc,
                created: at,
                last_modified: at,
                version,
                members: None,
                groups: Some(
                    groups.into_iter().map(|(value, display)| GroupRef { value, display }).collect(),
                ),
            };
            Some(to_representation(ResourceKind::User, &stored, "https://scim.example/scim/v2"))
        },
    )
}

/// A Group's full representation: displayName, maybe externalId, members, meta.
fn group_representation() -> impl Strategy<Value = Map<String, Value>> {
    let members = prop::collection::vec(("[a-f0-9]{8}", any::<bool>(), prop::option::of(text())), 0..4);
    (
        text().prop_filter("displayName is required", |s| !s.trim().is_empty()),
        prop::option::of(text()),
        members,
        "[a-f0-9-]{1,36}",
        timestamp(),
        1i64..1000,
    )
        .prop_filter_map("a valid Group", |(display, external, members, id, at, version)| {
            let mut body = json!({"displayName": display});
            if let Some(e) = external {
                body["externalId"] = json!(e);
            }
            let doc = resource::normalize(ResourceKind::Group, &body).ok()?;
            let members = members
                .into_iter()
                .map(|(value, user, display)| Member {
                    value,
                    member_type: if user { ResourceKind::User } else { ResourceKind::Group },
                    display,
                })
                .collect();
            let stored = StoredResource {
                id,
                doc,
                created: at,
                last_modified: at,
                version,
                members: Some(members),
                groups: None,
            };
            Some(to_representation(ResourceKind::Group, &stored, "https://scim.example/scim/v2"))
        })
}

fn any_representation() -> impl Strategy<Value = (ResourceKind, Map<String, Value>)> {
    prop_oneof![
        2 => user_representation().prop_map(|r| (ResourceKind::User, r)),
        1 => group_representation().prop_map(|r| (ResourceKind::Group, r)),
    ]
}

fn key_ci<'m>(m: &'m Map<String, Value>, name: &str) -> Vec<&'m String> {
    m.keys().filter(|k| k.eq_ignore_ascii_case(name)).collect()
}

/// `id` is `returned: always` (RFC 7643 §3.1); `schemas` is not an attribute and is always
/// returned too. Nothing else of these schemas is.
fn always_returned(path: &Canonical) -> bool {
    *path == (None, Some("id"), None)
}

/// The object a path's attribute lives in: the resource, or its extension object.
fn container_of<'m>(r: &'m Map<String, Value>, path: &Canonical) -> Option<&'m Map<String, Value>> {
    match path.0 {
        None => Some(r),
        Some(urn) => r.get(urn).and_then(Value::as_object),
    }
}

/// Removes what `path` names from a representation, at any case spelling.
fn remove_path(r: &mut Map<String, Value>, path: &Canonical) {
    let (ext, attr, sub) = *path;
    let container = match (ext, attr) {
        (Some(urn), None) => {
            r.retain(|k, _| !k.eq_ignore_ascii_case(urn));
            return;
        }
        (Some(urn), Some(_)) => match r.get_mut(urn).and_then(Value::as_object_mut) {
            Some(c) => c,
            None => return,
        },
        (None, _) => r,
    };
    let Some(attr) = attr else { return };
    match sub {
        None => container.retain(|k, _| !k.eq_ignore_ascii_case(attr)),
        Some(sub) => {
            for (_, v) in container.iter_mut().filter(|(k, _)| k.eq_ignore_ascii_case(attr)) {
                let objects: Vec<&mut Map<String, Value>> = match v {
                    Value::Object(o) => vec![o],
                    Value::Array(items) => items.iter_mut().filter_map(Value::as_object_mut).collect(),
                    _ => vec![],
                };
                for o in objects {
                    o.retain(|k, _| !k.eq_ignore_ascii_case(sub));
                }
            }
        }
    }
}

/// RFC 7643 §2.5: an empty object or array is unassigned, and an unassigned attribute is
/// not returned. Drops the empty values (and array elements) a projection can leave.
fn drop_empty(r: &mut Map<String, Value>) {
    fn empty(v: &Value) -> bool {
        match v {
            Value::Object(o) => o.is_empty(),
            Value::Array(a) => a.is_empty(),
            _ => false,
        }
    }
    for v in r.values_mut() {
        match v {
            Value::Object(o) => drop_empty(o),
            Value::Array(items) => {
                for i in items.iter_mut() {
                    if let Value::Object(o) = i {
                        drop_empty(o);
                    }
                }
                items.retain(|i| !empty(i));
            }
            _ => {}
        }
    }
    r.retain(|_, v| !empty(v));
}

/// What `attributes` keeps of a representation, from the tables: `schemas` and `id`, an
/// attribute named whole, the named sub-attributes of one named by sub-attributes only
/// (elements and objects left empty are dropped), an extension object named whole or
/// holding a named attribute.
fn kept_by_inclusion(r: &Map<String, Value>, wanted: &[Canonical]) -> Map<String, Value> {
    fn narrow(value: &Value, subs: &[&str]) -> Value {
        let keep = |o: &Map<String, Value>| -> Map<String, Value> {
            o.iter()
                .filter(|(k, _)| subs.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        };
        match value {
            Value::Object(o) => Value::Object(keep(o)),
            Value::Array(items) => Value::Array(
                items.iter().filter_map(Value::as_object).map(|o| Value::Object(keep(o))).collect(),
            ),
            other => other.clone(),
        }
    }
    fn select_in(obj: &Map<String, Value>, ext: Option<&str>, wanted: &[Canonical]) -> Map<String, Value> {
        let mut out = Map::new();
        for (k, v) in obj {
            let named: Vec<&Canonical> =
                wanted.iter().filter(|w| w.0 == ext && w.1 == Some(k.as_str())).collect();
            if named.iter().any(|w| w.2.is_none()) {
                out.insert(k.clone(), v.clone());
            } else if !named.is_empty() {
                let subs: Vec<&str> = named.iter().filter_map(|w| w.2).collect();
                out.insert(k.clone(), narrow(v, &subs));
            }
        }
        out
    }
    let mut out = select_in(r, None, wanted);
    for key in ["schemas", "id"] {
        if let Some(v) = r.get(key) {
            out.insert(key.into(), v.clone());
        }
    }
    if let Some(Value::Object(ext)) = r.get(ENTERPRISE_USER_URN) {
        if wanted.contains(&(E, None, None)) {
            out.insert(ENTERPRISE_USER_URN.into(), Value::Object(ext.clone()));
        } else {
            out.insert(ENTERPRISE_USER_URN.into(), Value::Object(select_in(ext, E, wanted)));
        }
    }
    drop_empty(&mut out);
    out
}

proptest! {
    #![proptest_config(config(256))]

    /// After `excludedAttributes`, nothing excluded is left at any case spelling (but `id`,
    /// which is `returned: always`), and everything else is exactly as it was, less the
    /// complex values the exclusion left empty.
    #[test]
    fn excluded_attributes_never_leak(
        (kind, full) in any_representation(),
        (items, list) in item_list(),
    ) {
        let projection = Projection::parse(kind, None, Some(&list))
            .map_err(|e| fail("a list of attribute names parses", e))?;
        let mut out = full.clone();
        projection.apply(kind, &mut out);

        let excluded: Vec<Canonical> = items.iter().filter_map(|i| meaning(kind, i)).collect();
        for path in &excluded {
            let (ext, attr, sub) = *path;
            if always_returned(path) {
                prop_assert!(out.contains_key("id"), "id is always returned ({})", list);
                continue;
            }
            match (ext, attr, sub) {
                (Some(urn), None, _) => prop_assert!(key_ci(&out, urn).is_empty(), "{} leaked ({})", urn, list),
                (_, Some(attr), None) => {
                    if let Some(c) = container_of(&out, path) {
                        prop_assert!(key_ci(c, attr).is_empty(), "{} leaked ({})", attr, list);
                    }
                }
                (_, Some(attr), Some(sub)) => {
                    for (_, v) in container_of(&out, path).into_iter().flatten().filter(|(k, _)| k.eq_ignore_ascii_case(attr)) {
                        let objects: Vec<&Map<String, Value>> = match v {
                            Value::Object(o) => vec![o],
                            Value::Array(a) => a.iter().filter_map(Value::as_object).collect(),
                            _ => vec![],
                        };
                        for o in objects {
                            prop_assert!(key_ci(o, sub).is_empty(), "{}.{} leaked ({})", attr, sub, list);
                        }
                    }
                }
                _ => {}
            }
        }

        let mut expected = full.clone();
        for path in excluded.iter().filter(|p| !always_returned(p)) {
            remove_path(&mut expected, path);
        }
        drop_empty(&mut expected);
        prop_assert_eq!(&out, &expected, "excludedAttributes={}", list);
        prop_assert_eq!(out.get("schemas"), full.get("schemas"));
    }

    /// After `attributes`, only the named attributes (and sub-attributes) are present, plus
    /// `schemas` and `id`; each of them as it was.
    #[test]
    fn attributes_return_only_what_was_asked(
        (kind, full) in any_representation(),
        (items, list) in item_list(),
    ) {
        let projection = Projection::parse(kind, Some(&list), None)
            .map_err(|e| fail("a list of attribute names parses", e))?;
        let mut out = full.clone();
        projection.apply(kind, &mut out);

        let wanted: Vec<Canonical> = items.iter().filter_map(|i| meaning(kind, i)).collect();
        for key in out.keys() {
            let asked = key == "schemas"
                || key == "id"
                || wanted.iter().any(|w| w.0.is_none() && w.1 == Some(key.as_str()))
                || wanted.iter().any(|w| w.0 == Some(key.as_str()));
            prop_assert!(asked, "{} was not asked for (attributes={})", key, list);
        }
        prop_assert_eq!(&out, &kept_by_inclusion(&full, &wanted), "attributes={}", list);
    }
}
