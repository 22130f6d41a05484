//! Structural redaction of SCIM bodies for the request log (docs/audit.md "Redaction"):
//! secrets are found by where they sit in the JSON, never by matching text. A value is
//! replaced by `"[redacted]"` when
//!
//! - its key names a secret ([`is_secret_name`]: `password`, as RFC 7643 §4.1.1 defines it,
//!   and the usual names of tokens, keys and client secrets), with or without a schema URN
//!   prefix, in any case, at any depth (a Bulk operation's `data`, a PATCH value object);
//! - it is the `value` of a PATCH operation whose `path` names a secret attribute
//!   (`{"op": "replace", "path": "password", "value": "…"}`).
//!
//! What is not a JSON body is not stored at all, only its size (a malformed body may hold
//! a password in a place no structure shows).

use serde_json::Value;

/// What a redacted value becomes.
pub const REDACTED: &str = "[redacted]";

/// Attribute and key names whose values are secrets, lower-case.
const SECRET_NAMES: &[&str] = &[
    "password",
    "secret",
    "clientsecret",
    "client_secret",
    "token",
    "accesstoken",
    "access_token",
    "refreshtoken",
    "refresh_token",
    "idtoken",
    "id_token",
    "apikey",
    "api_key",
    "privatekey",
    "private_key",
    "credentials",
];

/// Whether a key or attribute path names a secret: its last name (after a schema URN's
/// `:`, before a sub-attribute's `.` or a value filter's `[`), compared case-insensitively.
pub fn is_secret_name(key: &str) -> bool {
    let attr = key.split('[').next().unwrap_or(key);
    let attr = attr.rsplit(':').next().unwrap_or(attr);
    let attr = attr.split('.').next().unwrap_or(attr).trim();
    SECRET_NAMES.iter().any(|s| s.eq_ignore_ascii_case(attr))
}

/// Redacts `value` in place.
pub fn redact(value: &mut Value) {
    match value {
        Value::Object(map) => {
            let patch_path_is_secret = map
                .get("op")
                .and(map.get("path"))
                .and_then(Value::as_str)
                .is_some_and(|p| p.split('.').any(is_secret_name) || is_secret_name(p));
            for (k, v) in map.iter_mut() {
                if is_secret_name(k) || (patch_path_is_secret && k.eq_ignore_ascii_case("value")) {
                    if !v.is_null() {
                        *v = Value::String(REDACTED.into());
                    }
                } else {
                    redact(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

/// Whether a JSON text may hold a value [`redact`] would replace: it has a secret's name in
/// it (ASCII case-insensitively), or a `\` escape (behind which a name can hide). `false`
/// means redaction would change nothing, so a JSON text known to be valid can be kept as it
/// is, without parsing it (the request log's fast path).
pub fn may_hold_secret(text: &[u8]) -> bool {
    if text.contains(&b'\\') {
        return true;
    }
    let lower = text.to_ascii_lowercase();
    SECRET_NAMES.iter().any(|name| {
        let name = name.as_bytes();
        lower.windows(name.len()).any(|w| w == name)
    })
}

/// A body as the request log stores it: JSON redacted and printed, cut to `limit` bytes (at
/// a character boundary, then marked); anything else only as its size. `None` for no body.
pub fn loggable_body(bytes: &[u8], limit: usize) -> Option<String> {
    if bytes.is_empty() {
        return None;
    }
    let text = match serde_json::from_slice::<Value>(bytes) {
        Ok(mut v) => {
            redact(&mut v);
            v.to_string()
        }
        Err(e) => return Some(format!("[not JSON: {} bytes; {e}]", bytes.len())),
    };
    if text.len() <= limit {
        return Some(text);
    }
    Some(cut_marked(&text, limit, text.len()))
}

/// The first `limit` bytes of `text` (back to a character boundary), marked as cut from a body
/// of `total` bytes.
pub fn cut_marked(text: &str, limit: usize, total: usize) -> String {
    let mut cut = text.len().min(limit);
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}…[cut: {total} bytes in all]", &text[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_are_redacted_wherever_they_sit() {
        let mut body = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "ada",
            "password": "hunter2",
            "urn:ietf:params:scim:schemas:extension:acme:2.0:User": {"apiKey": "k-123"},
            "Operations": [
                {"op": "replace", "path": "password", "value": "p1"},
                {"op": "replace", "path": "urn:ietf:params:scim:schemas:core:2.0:User:PASSWORD", "value": "p2"},
                {"op": "replace", "value": {"password": "p3", "displayName": "Ada"}},
                {"op": "add", "path": "emails", "value": [{"value": "ada@example.com"}]}
            ],
            "data": {"password": "p4"}
        });
        redact(&mut body);
        let text = body.to_string();
        for secret in ["hunter2", "k-123", "p1", "p2", "p3", "p4"] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
        assert_eq!(body["userName"], "ada");
        assert_eq!(body["Operations"][2]["value"]["displayName"], "Ada");
        assert_eq!(body["Operations"][3]["value"][0]["value"], "ada@example.com");
    }

    #[test]
    fn non_json_bodies_keep_only_their_size_and_long_ones_are_cut() {
        let raw = br#"{"userName": "ada", "password": "hunter2""#;
        let logged = loggable_body(raw, 16 * 1024).expect("body");
        assert!(!logged.contains("hunter2") && logged.starts_with("[not JSON"), "{logged}");
        assert_eq!(loggable_body(b"", 10), None);
        let long = json!({"displayName": "é".repeat(100)}).to_string();
        let cut = loggable_body(long.as_bytes(), 51).expect("body");
        assert!(cut.contains("[cut: "), "{cut}");
        assert!(cut.len() < long.len());
    }

    #[test]
    fn the_fast_path_sees_every_name_redaction_would_act_on() {
        assert!(may_hold_secret(br#"{"PassWord": "x"}"#));
        assert!(may_hold_secret(br#"{"pass\u0077ord": "x"}"#));
        assert!(may_hold_secret(br#"{"op": "replace", "path": "urn:x:User:password", "value": "x"}"#));
        assert!(!may_hold_secret(br#"{"userName": "ada", "emails": [{"value": "a@b.c"}]}"#));
        // Whatever redaction changes, the fast path flags.
        for body in
            [json!({"a": {"client_secret": 1}}), json!([{"path": "password", "op": "add", "value": 1}])]
        {
            let text = body.to_string();
            let mut v = body.clone();
            redact(&mut v);
            assert!(v == body || may_hold_secret(text.as_bytes()), "{text}");
        }
    }

    #[test]
    fn names_of_secrets() {
        assert!(is_secret_name("password"));
        assert!(is_secret_name("urn:ietf:params:scim:schemas:core:2.0:User:Password"));
        assert!(is_secret_name("client_secret"));
        assert!(!is_secret_name("userName"));
        assert!(!is_secret_name("passwordChangedAt"));
    }
}
