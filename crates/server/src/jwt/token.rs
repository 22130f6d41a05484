//! Parsing a JWS compact token under strict limits, before any cryptography
//! (docs/jwt-auth.md items 1, 2 and 4): size, strict unpadded base64url, header size, bounded
//! JSON nesting, duplicate members rejected, the algorithm allow-list, no key material or
//! key URLs taken from the token, no unknown `crit`.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::Reason;

/// The largest token accepted.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// The largest decoded header accepted.
pub const MAX_HEADER_BYTES: usize = 2 * 1024;
/// The deepest JSON nesting accepted in header and payload.
pub const MAX_JSON_DEPTH: usize = 16;
/// The longest `kid` accepted.
pub const MAX_KID_BYTES: usize = 256;

/// A token that passed the checks that need no key.
#[derive(Debug, Clone)]
pub struct ParsedToken<'a> {
    /// The algorithm named by the header (already in the allow-list).
    pub alg: Algorithm,
    /// The key id, when given.
    pub kid: Option<String>,
    /// The claims.
    pub claims: Map<String, Value>,
    /// `base64(header).base64(payload)`: what the signature covers.
    pub signing_input: &'a str,
    /// The signature part.
    pub signature: &'a str,
}

/// Whether a credential looks like a JWT (three dot-separated parts, or five for a JWE,
/// which is then refused by name) and not like an API token. The `typ` header is optional
/// (RFC 7519 §5.1), so it plays no part.
pub fn looks_like_jwt(credential: &str) -> bool {
    let parts = credential.split('.').count();
    !credential.starts_with("pat.") && !credential.starts_with("sat.") && (parts == 3 || parts == 5)
}

/// The allow-list: RS256/384/512, PS256/384/512, ES256, ES384, EdDSA. `none`, every HS* and
/// anything unknown are refused.
pub fn allowed_alg(name: &str) -> Option<Algorithm> {
    Some(match name {
        "RS256" => Algorithm::RS256,
        "RS384" => Algorithm::RS384,
        "RS512" => Algorithm::RS512,
        "PS256" => Algorithm::PS256,
        "PS384" => Algorithm::PS384,
        "PS512" => Algorithm::PS512,
        "ES256" => Algorithm::ES256,
        "ES384" => Algorithm::ES384,
        "EdDSA" => Algorithm::EdDSA,
        _ => return None,
    })
}

fn b64(part: &str) -> Result<Vec<u8>, Reason> {
    // Strict: the URL-safe alphabet without padding, canonical trailing bits.
    if part.is_empty() || !part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Err(Reason::Malformed);
    }
    URL_SAFE_NO_PAD.decode(part).map_err(|_| Reason::Malformed)
}

/// Parses and checks a token.
pub fn parse(token: &str) -> Result<ParsedToken<'_>, Reason> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(Reason::TooLarge);
    }
    let parts: Vec<&str> = token.split('.').collect();
    match parts.len() {
        3 => {}
        5 => return Err(Reason::Encrypted),
        _ => return Err(Reason::Malformed),
    }
    if parts[0].len() > MAX_HEADER_BYTES * 4 / 3 + 4 {
        return Err(Reason::TooLarge);
    }
    let header_bytes = b64(parts[0])?;
    if header_bytes.len() > MAX_HEADER_BYTES {
        return Err(Reason::TooLarge);
    }
    let header = strict_object(&header_bytes)?;
    let payload = strict_object(&b64(parts[1])?)?;
    // The signature must be well-formed base64url too.
    b64(parts[2])?;

    let alg_name = header.get("alg").and_then(Value::as_str).ok_or(Reason::Malformed)?;
    let alg = allowed_alg(alg_name).ok_or(Reason::AlgorithmNotAllowed)?;
    // Keys and key locations come only from the configured JWKS (docs/jwt-auth.md item 2).
    if ["jwk", "jku", "x5u", "x5c"].iter().any(|k| header.contains_key(*k)) {
        return Err(Reason::EmbeddedKey);
    }
    // No extension is understood, so any `crit` is unknown (RFC 7515 §4.1.11).
    if header.contains_key("crit") {
        return Err(Reason::UnknownCrit);
    }
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(k)) if k.len() <= MAX_KID_BYTES => Some(k.clone()),
        Some(_) => return Err(Reason::Malformed),
    };
    let signing_input = &token[..parts[0].len() + 1 + parts[1].len()];
    Ok(ParsedToken { alg, kid, claims: payload, signing_input, signature: parts[2] })
}

/// Parses JSON that must be an object, refusing duplicate members at any depth and nesting
/// deeper than [`MAX_JSON_DEPTH`].
pub fn strict_object(bytes: &[u8]) -> Result<Map<String, Value>, Reason> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let v = Strict { depth: 0 }.deserialize(&mut de).map_err(|_| Reason::Malformed)?;
    de.end().map_err(|_| Reason::Malformed)?;
    match v {
        Value::Object(m) => Ok(m),
        _ => Err(Reason::Malformed),
    }
}

struct Strict {
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for Strict {
    type Value = Value;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JSON")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map(Value::Number).unwrap_or(Value::Null))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        if self.depth >= MAX_JSON_DEPTH {
            return Err(de::Error::custom("nested too deeply"));
        }
        let mut v = Vec::new();
        while let Some(x) = seq.next_element_seed(Strict { depth: self.depth + 1 })? {
            v.push(x);
        }
        Ok(Value::Array(v))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        if self.depth >= MAX_JSON_DEPTH {
            return Err(de::Error::custom("nested too deeply"));
        }
        let mut m = Map::new();
        while let Some(k) = map.next_key::<String>()? {
            let v = map.next_value_seed(Strict { depth: self.depth + 1 })?;
            if m.insert(k, v).is_some() {
                return Err(de::Error::custom("duplicate member"));
            }
        }
        Ok(Value::Object(m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(v: &str) -> String {
        URL_SAFE_NO_PAD.encode(v)
    }

    fn tok(header: &str, payload: &str) -> String {
        format!("{}.{}.{}", enc(header), enc(payload), enc("sig"))
    }

    #[test]
    fn limits_and_header_rules() {
        let ok = tok(r#"{"alg":"RS256","kid":"k1"}"#, r#"{"exp":1}"#);
        let p = parse(&ok).expect("parses");
        assert_eq!((p.alg, p.kid.as_deref()), (Algorithm::RS256, Some("k1")));
        let cases: &[(String, Reason)] = &[
            ("a".repeat(MAX_TOKEN_BYTES + 1), Reason::TooLarge),
            ("a.b.c.d.e".into(), Reason::Encrypted),
            ("a.b".into(), Reason::Malformed),
            (tok(r#"{"alg":"none"}"#, "{}"), Reason::AlgorithmNotAllowed),
            (tok(r#"{"alg":"HS256"}"#, "{}"), Reason::AlgorithmNotAllowed),
            (tok(r#"{"alg":"RS256","jwk":{}}"#, "{}"), Reason::EmbeddedKey),
            (tok(r#"{"alg":"RS256","jku":"https://x"}"#, "{}"), Reason::EmbeddedKey),
            (tok(r#"{"alg":"RS256","x5u":"https://x"}"#, "{}"), Reason::EmbeddedKey),
            (tok(r#"{"alg":"RS256","crit":["exp"]}"#, "{}"), Reason::UnknownCrit),
            (tok(r#"{"alg":"RS256","alg":"RS256"}"#, "{}"), Reason::Malformed),
            (tok(r#"{"alg":"RS256"}"#, r#"{"a":{"b":1,"b":2}}"#), Reason::Malformed),
            (tok(r#"{"alg":"RS256"}"#, &format!("{}1{}", "[".repeat(40), "]".repeat(40))), Reason::Malformed),
            (tok(r#"{"alg":"RS256","kid":5}"#, "{}"), Reason::Malformed),
            (tok(&format!(r#"{{"alg":"RS256","kid":"{}"}}"#, "k".repeat(300)), "{}"), Reason::Malformed),
            (tok(&format!(r#"{{"alg":"RS256","x":"{}"}}"#, "k".repeat(3000)), "{}"), Reason::TooLarge),
            (tok(r#"{"alg":"RS256"}"#, "[1]"), Reason::Malformed),
            (format!("{}=.{}.{}", enc(r#"{"alg":"RS256"}"#), enc("{}"), enc("s")), Reason::Malformed),
            (format!("{}.{}.{}", enc(r#"{"alg":"RS256"}"#), "e30+", enc("s")), Reason::Malformed),
        ];
        for (t, want) in cases {
            assert_eq!(parse(t).err(), Some(*want), "{}", &t[..t.len().min(80)]);
        }
        assert!(looks_like_jwt(&ok));
        assert!(!looks_like_jwt("pat.acme.id.secret"));
        assert!(!looks_like_jwt("sat.a.b"));
        assert!(!looks_like_jwt("opaque"));
    }
}
