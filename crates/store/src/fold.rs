//! Case folding: the one function by which the store makes strings comparable ignoring case,
//! for the shadow columns, the folded copy of each document and every filter value compared
//! case-insensitively (security review item 11).
//!
//! Done in Rust, never with SQL's `lower()`: SQLite's folds ASCII only, PostgreSQL's depends
//! on the database's collation (its C locale leaves `Ö` as it is), so the same filter found
//! different resources on the two backends and duplicates slipped past the unique index.
//!
//! [`fold`] is NFC normalisation, then the Unicode lowercase mapping of each character, then
//! NFC again:
//!
//! - **NFC first**, so the composed and decomposed spellings of one text (`é` as U+00E9, or
//!   `e` + U+0301 as macOS and some IdPs send it) are the same string: one userName, one match.
//!   NFC rather than NFD because it is what nearly every client sends (the common case stays
//!   unchanged and short); NFKC is not used, as it would merge distinct characters (`ﬁ`/`fi`,
//!   superscripts), which is not what "case-insensitive" promises.
//! - **Lowercase, character by character** (`char::to_lowercase`, the full Unicode lowercase
//!   mappings, so `İ` becomes `i̇`), plus `ς` → `σ`. Per character rather than
//!   `str::to_lowercase`, whose one contextual rule (capital sigma at the end of a word becomes
//!   final `ς`) would make a string's fold depend on what follows it: `co "ΟΣ"` would then
//!   not find "ΟΣΑ", since the needle alone folds to "ος" and the haystack to "οσα". A
//!   context-free fold makes `fold(a)` contain `fold(b)` whenever `a` contains `b`, which `co`,
//!   `sw` and `ew` rely on. Lowercasing rather than full Unicode case folding (`ß` → `ss`):
//!   RFC 7643 asks for case-insensitive comparison, not for merging different letters, and the
//!   identity providers' own checks lowercase too (a folding server would call "Strasse" and
//!   "Straße" one userName when the IdP keeps both).
//! - **NFC again** when lowercasing left the text unnormalised (rare; it keeps the result a
//!   fixed point: `fold(fold(s)) == fold(s)`).
//!
//! ASCII text takes a fast path with the same result. Changing this function changes stored
//! values: it needs a migration that refills the shadow values (see `backfill_folded`).

use serde_json::{Map, Value};
use unicode_normalization::{UnicodeNormalization, is_nfc};

use scimgate_scim::schema::{AttrType, AttributeDef, ResourceKind, find};

/// `s` made comparable ignoring case: NFC, lowercased per character (`ς` as `σ`), NFC.
pub fn fold(s: &str) -> String {
    if s.is_ascii() {
        return s.to_ascii_lowercase();
    }
    let lowered: String = s.nfc().flat_map(|c| if c == 'ς' { 'σ' } else { c }.to_lowercase()).collect();
    if is_nfc(&lowered) { lowered } else { lowered.nfc().collect() }
}

/// Whether filters compare the string values of `attr` ignoring case: every string-valued
/// type (string, reference, dateTime, binary) that is not `caseExact` (RFC 7643 §2.4).
pub(crate) fn folds(attr: &AttributeDef) -> bool {
    !attr.case_exact
        && !matches!(
            attr.attr_type,
            AttrType::Boolean | AttrType::Integer | AttrType::Decimal | AttrType::Complex
        )
}

/// The document as filters and `sortBy` read it: the same attributes in the same places,
/// every string of an attribute that [`folds`] replaced by its [`fold`], the `schemas` URNs
/// too; `caseExact` strings, numbers and booleans as they are. Keeping the structure whole
/// (rather than only the folded strings) lets one `EXISTS` over an array element compare
/// case-exact and case-insensitive sub-attributes of the same element.
pub(crate) fn folded_doc(kind: ResourceKind, doc: &Map<String, Value>) -> Map<String, Value> {
    doc.iter()
        .map(|(key, value)| {
            let folded = if key.eq_ignore_ascii_case("schemas") {
                fold_strings(value)
            } else if let Some(ext) = kind.extension(key) {
                match value {
                    Value::Object(obj) => Value::Object(fold_attributes(ext.attributes, obj)),
                    other => other.clone(),
                }
            } else {
                match kind.schema().attribute(key) {
                    Some(attr) => fold_value(attr, value),
                    None => value.clone(),
                }
            };
            (key.clone(), folded)
        })
        .collect()
}

fn fold_attributes(attrs: &'static [AttributeDef], obj: &Map<String, Value>) -> Map<String, Value> {
    obj.iter()
        .map(|(key, value)| {
            let folded = match find(attrs, key) {
                Some(attr) => fold_value(attr, value),
                None => value.clone(),
            };
            (key.clone(), folded)
        })
        .collect()
}

/// A value of `attr`: a single value, or the array of a multi-valued attribute.
fn fold_value(attr: &'static AttributeDef, value: &Value) -> Value {
    match value {
        Value::String(s) if folds(attr) => Value::String(fold(s)),
        Value::Array(items) => Value::Array(items.iter().map(|v| fold_value(attr, v)).collect()),
        Value::Object(obj) if attr.attr_type == AttrType::Complex => {
            Value::Object(fold_attributes(attr.sub_attributes, obj))
        }
        other => other.clone(),
    }
}

fn fold_strings(value: &Value) -> Value {
    match value {
        Value::String(s) => Value::String(fold(s)),
        Value::Array(items) => Value::Array(items.iter().map(fold_strings).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use scimgate_scim::schema::ENTERPRISE_USER_URN;
    use serde_json::json;

    #[test]
    fn fold_normalises_then_lowercases() {
        assert_eq!(fold("Bob@Example.COM"), "bob@example.com");
        assert_eq!(fold("ÖZTÜRK"), "öztürk");
        // NFD and NFC spellings fold alike, to NFC.
        assert_eq!(fold("JOSE\u{301}@X"), "jos\u{e9}@x");
        assert_eq!(fold("jos\u{e9}@x"), "jos\u{e9}@x");
        assert_eq!(fold("O\u{308}"), fold("ö"));
        // No contextual final sigma: a word's fold is the concatenation of its letters' folds.
        assert_eq!(fold("ΟΔΟΣ"), "οδοσ");
        assert_eq!(fold("οδος"), "οδοσ");
        assert!(fold("ΟΣΑ").contains(&fold("ΟΣ")));
        // Lowercase, not full case folding: ß stays.
        assert_eq!(fold("STRAẞE"), "straße");
        assert_ne!(fold("Straße"), fold("STRASSE"));
        assert_eq!(fold("İ"), "i\u{307}");
        for s in ["ÖZTÜRK", "JOSE\u{301}", "ΟΔΟΣ", "İSTANBUL", "ǅ", "ΐ", "Ω", "K"] {
            let f = fold(s);
            assert_eq!(fold(&f), f, "{s:?}: fold is a fixed point");
            assert!(is_nfc(&f), "{s:?}");
        }
    }

    #[test]
    fn folded_documents_fold_only_case_insensitive_strings() {
        let doc = json!({
            "userName": "JOSÉ",
            "externalId": "ÖZ-1",
            "active": true,
            "name": {"familyName": "ÖZTÜRK"},
            "emails": [{"value": "A@Ö.COM", "type": "Work", "primary": true}],
            "photos": [{"value": "https://X/Ö.png", "type": "Photo"}],
            ENTERPRISE_USER_URN: {"department": "MÜNCHEN", "manager": {"value": "M1", "$ref": "https://X/M1"}}
        });
        let folded = folded_doc(ResourceKind::User, doc.as_object().expect("object"));
        assert_eq!(
            Value::Object(folded),
            json!({
                "userName": "josé",
                "externalId": "ÖZ-1",
                "active": true,
                "name": {"familyName": "öztürk"},
                "emails": [{"value": "a@ö.com", "type": "work", "primary": true}],
                "photos": [{"value": "https://X/Ö.png", "type": "photo"}],
                ENTERPRISE_USER_URN: {"department": "münchen", "manager": {"value": "m1", "$ref": "https://X/M1"}}
            })
        );
    }
}
