//! A JWKS as scimgate uses it: only public signing keys of the allowed kinds, each with the
//! algorithms it may verify (docs/jwt-auth.md items 1–3).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::Reason;
use super::token::{MAX_KID_BYTES, allowed_alg};

/// The most keys a JWKS may hold.
pub const MAX_KEYS: usize = 100;
/// The smallest RSA modulus accepted, in bytes (2048 bits).
pub const MIN_RSA_BYTES: usize = 256;

/// Key family and curve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// RSA.
    Rsa,
    /// EC P-256.
    P256,
    /// EC P-384.
    P384,
    /// OKP Ed25519.
    Ed25519,
}

impl KeyKind {
    /// The JWK `kty` and, for curves, `crv` (`RSA`, `EC P-256`, `EC P-384`, `OKP Ed25519`).
    pub fn jwk_name(self) -> &'static str {
        match self {
            KeyKind::Rsa => "RSA",
            KeyKind::P256 => "EC P-256",
            KeyKind::P384 => "EC P-384",
            KeyKind::Ed25519 => "OKP Ed25519",
        }
    }
    /// Whether a key of this kind can verify `alg`.
    pub fn fits(self, alg: Algorithm) -> bool {
        matches!(
            (self, alg),
            (
                KeyKind::Rsa,
                Algorithm::RS256
                    | Algorithm::RS384
                    | Algorithm::RS512
                    | Algorithm::PS256
                    | Algorithm::PS384
                    | Algorithm::PS512
            ) | (KeyKind::P256, Algorithm::ES256)
                | (KeyKind::P384, Algorithm::ES384)
                | (KeyKind::Ed25519, Algorithm::EdDSA)
        )
    }
}

/// One verification key.
#[derive(Clone)]
pub struct VerifyKey {
    /// `kid`, when the JWK has one.
    pub kid: Option<String>,
    /// Family and curve.
    pub kind: KeyKind,
    /// The JWK's own `alg`, when present: then only that algorithm.
    pub alg: Option<Algorithm>,
    /// The key.
    pub key: DecodingKey,
    /// SHA-256 of the public parameters: identifies the key material.
    pub fingerprint: [u8; 32],
}

impl std::fmt::Debug for VerifyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyKey")
            .field("kid", &self.kid)
            .field("kind", &self.kind)
            .field("alg", &self.alg)
            .finish()
    }
}

impl VerifyKey {
    /// Whether this key may verify a token signed with `alg`.
    pub fn accepts(&self, alg: Algorithm) -> bool {
        self.kind.fits(alg) && self.alg.is_none_or(|a| a == alg)
    }
}

/// The usable keys of a JWKS.
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    /// Keys, in document order.
    pub keys: Vec<VerifyKey>,
}

/// Why a key was skipped (logged, never fatal for the set).
fn skip(reason: &str, kid: Option<&str>) -> Option<VerifyKey> {
    tracing::warn!(kid = kid.unwrap_or("-"), reason, "JWKS key ignored");
    None
}

fn str_field<'a>(m: &'a Map<String, Value>, k: &str) -> Option<&'a str> {
    m.get(k).and_then(Value::as_str)
}

fn b64(s: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).ok()
}

fn parse_key(m: &Map<String, Value>) -> Option<VerifyKey> {
    let kid = match m.get("kid") {
        None => None,
        Some(Value::String(k)) if k.len() <= MAX_KID_BYTES => Some(k.clone()),
        Some(_) => return skip("kid is not a string of at most 256 bytes", None),
    };
    let k = kid.as_deref();
    // Private keys have no place in a published key set.
    if ["d", "p", "q", "dp", "dq", "qi", "k"].iter().any(|f| m.contains_key(*f)) {
        return skip("private or symmetric key material in a JWKS", k);
    }
    match m.get("use") {
        None => {}
        Some(Value::String(u)) if u == "sig" => {}
        Some(_) => return skip("use is not sig", k),
    }
    match m.get("key_ops") {
        None => {}
        Some(Value::Array(ops)) if ops.iter().any(|o| o == "verify") => {}
        Some(_) => return skip("key_ops does not contain verify", k),
    }
    let alg = match m.get("alg") {
        None => None,
        Some(Value::String(a)) => match allowed_alg(a) {
            Some(a) => Some(a),
            None => return skip("alg is not in the allow-list", k),
        },
        Some(_) => return skip("alg is not a string", k),
    };
    let (kind, key, material) = match str_field(m, "kty")? {
        "RSA" => {
            let (n, e) = (str_field(m, "n")?, str_field(m, "e")?);
            let n_bytes = b64(n)?;
            if n_bytes.len() < MIN_RSA_BYTES {
                return skip("RSA modulus shorter than 2048 bits", k);
            }
            (KeyKind::Rsa, DecodingKey::from_rsa_components(n, e).ok()?, format!("RSA|{n}|{e}"))
        }
        "EC" => {
            let (crv, x, y) = (str_field(m, "crv")?, str_field(m, "x")?, str_field(m, "y")?);
            let (kind, len) = match crv {
                "P-256" => (KeyKind::P256, 32),
                "P-384" => (KeyKind::P384, 48),
                _ => return skip("unsupported EC curve", k),
            };
            if b64(x)?.len() != len || b64(y)?.len() != len {
                return skip("EC coordinates do not fit the curve", k);
            }
            (kind, DecodingKey::from_ec_components(x, y).ok()?, format!("EC|{crv}|{x}|{y}"))
        }
        "OKP" => {
            let (crv, x) = (str_field(m, "crv")?, str_field(m, "x")?);
            if crv != "Ed25519" || b64(x)?.len() != 32 {
                return skip("unsupported OKP key", k);
            }
            (KeyKind::Ed25519, DecodingKey::from_ed_components(x).ok()?, format!("OKP|{crv}|{x}"))
        }
        "oct" => return skip("symmetric (oct) key", k),
        _ => return skip("unsupported kty", k),
    };
    if let Some(a) = alg
        && !kind.fits(a)
    {
        return skip("alg does not fit the key type", k);
    }
    Some(VerifyKey { kid, kind, alg, key, fingerprint: Sha256::digest(material.as_bytes()).into() })
}

impl KeySet {
    /// Parses a JWKS document: a JSON object with a `keys` array of at most [`MAX_KEYS`].
    /// Unusable keys are skipped with a warning; a document that is not a JWKS is an error
    /// (and is never cached).
    pub fn parse(body: &[u8]) -> Result<KeySet, String> {
        let doc =
            super::token::strict_object(body).map_err(|_| "the body is not a JSON object".to_string())?;
        let keys =
            doc.get("keys").and_then(Value::as_array).ok_or("the JSON object has no \"keys\" array")?;
        if keys.len() > MAX_KEYS {
            return Err(format!("the JWKS has {} keys; at most {MAX_KEYS} are accepted", keys.len()));
        }
        Ok(KeySet { keys: keys.iter().filter_map(Value::as_object).filter_map(parse_key).collect() })
    }

    /// The key that verifies a token: by `kid` when given; without one, the only key that
    /// accepts the algorithm (docs/jwt-auth.md item 3).
    pub fn select(&self, alg: Algorithm, kid: Option<&str>) -> Result<&VerifyKey, Reason> {
        match kid {
            Some(kid) => {
                let k = self.keys.iter().find(|k| k.kid.as_deref() == Some(kid)).ok_or(Reason::UnknownKid)?;
                if k.accepts(alg) { Ok(k) } else { Err(Reason::KeyMismatch) }
            }
            None => {
                let mut it = self.keys.iter().filter(|k| k.accepts(alg));
                match (it.next(), it.next()) {
                    (Some(k), None) => Ok(k),
                    (None, _) => Err(Reason::NoMatchingKey),
                    (Some(_), Some(_)) => Err(Reason::AmbiguousKey),
                }
            }
        }
    }

    /// Whether a key with this id and material is still in the set.
    pub fn contains(&self, kid: Option<&str>, fingerprint: &[u8; 32]) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == kid && &k.fingerprint == fingerprint)
    }
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::Algorithm;
    use serde_json::{Value, json};

    use super::KeySet;
    use crate::jwt::tools::generate;

    fn accepted(jwk: &Value) -> bool {
        let body = json!({ "keys": [jwk] }).to_string();
        KeySet::parse(body.as_bytes()).expect("a JWKS").keys.len() == 1
    }

    fn with(jwk: &Value, field: &str, value: Value) -> Value {
        let mut j = jwk.clone();
        j[field] = value;
        j
    }

    /// docs/jwt-auth.md items 1–2: which published keys scimgate will verify with. Every row
    /// starts from a real key that is accepted as it is, so each refusal is the rule's.
    #[test]
    fn jwk_acceptance_rules() {
        let rsa = generate(Algorithm::RS256, "rsa").expect("rsa").jwk;
        let p256 = generate(Algorithm::ES256, "p256").expect("p256").jwk;
        let p384 = generate(Algorithm::ES384, "p384").expect("p384").jwk;
        let ed = generate(Algorithm::EdDSA, "ed").expect("ed").jwk;
        let n = super::b64(rsa["n"].as_str().expect("n")).expect("b64");
        assert_eq!(n.len(), 256, "a 2048-bit modulus");
        let short_n = super::URL_SAFE_NO_PAD.encode(&n[..255]);
        let short_x = super::URL_SAFE_NO_PAD.encode([7u8; 31]);
        use base64::Engine as _;
        let cases: Vec<(&str, Value, bool)> = vec![
            ("RSA 2048 as published", rsa.clone(), true),
            ("P-256", p256.clone(), true),
            ("P-384", p384.clone(), true),
            ("Ed25519", ed.clone(), true),
            ("RSA modulus of 2040 bits", with(&rsa, "n", json!(short_n)), false),
            ("use sig", with(&rsa, "use", json!("sig")), true),
            ("use enc", with(&rsa, "use", json!("enc")), false),
            ("use not a string", with(&rsa, "use", json!(1)), false),
            ("key_ops with verify", with(&rsa, "key_ops", json!(["sign", "verify"])), true),
            ("key_ops without verify", with(&rsa, "key_ops", json!(["encrypt"])), false),
            ("alg PS256 on RSA", with(&rsa, "alg", json!("PS256")), true),
            ("alg ES256 on RSA", with(&rsa, "alg", json!("ES256")), false),
            ("alg HS256 (not allowed)", with(&rsa, "alg", json!("HS256")), false),
            ("alg none", with(&rsa, "alg", json!("none")), false),
            ("alg ES384 on P-256", with(&p256, "alg", json!("ES384")), false),
            ("alg EdDSA on Ed25519", with(&ed, "alg", json!("EdDSA")), true),
            ("P-256 x of 31 bytes", with(&p256, "x", json!(short_x)), false),
            ("EC curve P-521", with(&p256, "crv", json!("P-521")), false),
            ("OKP curve X25519", with(&ed, "crv", json!("X25519")), false),
            ("private RSA key (d)", with(&rsa, "d", json!("AAAA")), false),
            ("private EC key (d)", with(&p256, "d", json!("AAAA")), false),
            ("oct key", json!({"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"}), false),
            ("unknown kty", with(&rsa, "kty", json!("DSA")), false),
            ("kid not a string", with(&rsa, "kid", json!(5)), false),
            ("kid over 256 bytes", with(&rsa, "kid", json!("k".repeat(257))), false),
        ];
        for (name, jwk, want) in cases {
            assert_eq!(accepted(&jwk), want, "{name}");
        }
    }

    #[test]
    fn a_set_keeps_the_usable_keys_and_refuses_what_is_not_a_jwks() {
        let rsa = generate(Algorithm::RS256, "rsa").expect("rsa").jwk;
        let body = json!({"keys": [rsa, {"kty": "oct", "k": "c2VjcmV0"}, "not an object"]}).to_string();
        assert_eq!(KeySet::parse(body.as_bytes()).expect("jwks").keys.len(), 1);
        assert!(KeySet::parse(b"[]").is_err());
        assert!(KeySet::parse(br#"{"keys": {}}"#).is_err());
        let many = json!({ "keys": vec![json!({}); super::MAX_KEYS + 1] }).to_string();
        assert!(KeySet::parse(many.as_bytes()).is_err());
    }
}
