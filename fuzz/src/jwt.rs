// The bodies of the JWT fuzz targets: the token parser with its strict JSON, and JWKS
// parsing. Each takes the fuzzer's bytes and panics only when an invariant does not hold;
// refusals are expected outcomes. Included by crates/server/src/jwt/fuzz_regressions.rs: see
// lib.rs.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use scimgate::jwt::keys::{KeySet, MAX_KEYS};
use scimgate::jwt::token::{self, MAX_KID_BYTES, MAX_TOKEN_BYTES};
use serde_json::{Map, Value};

/// The algorithm allow-list, by name.
const ALGS: [&str; 9] = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"];

/// The token parser on the bytes as a token, and on a token made of them (`header` newline
/// `payload` newline `signature`, each base64url-encoded) so that mutations reach the JSON
/// rules without having to keep the base64 valid; the strict JSON parser on the bytes.
pub fn jwt(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        check_token(text);
    }
    let mut parts = data.splitn(3, |b| *b == b'\n');
    let mut next = || URL_SAFE_NO_PAD.encode(parts.next().unwrap_or_default());
    let (header, payload, signature) = (next(), next(), next());
    check_token(&format!("{header}.{payload}.{signature}"));
    if let Ok(strict) = token::strict_object(data) {
        // What the strict parser accepts, serde_json reads the same way.
        let loose = serde_json::from_slice::<Map<String, Value>>(data);
        assert_eq!(loose.ok().as_ref(), Some(&strict), "strict and serde_json disagree");
    }
}

fn check_token(text: &str) {
    let _ = token::looks_like_jwt(text);
    let Ok(parsed) = token::parse(text) else { return };
    assert!(text.len() <= MAX_TOKEN_BYTES);
    assert!(token::looks_like_jwt(text) || text.starts_with("pat.") || text.starts_with("sat."));
    assert_eq!(
        text,
        format!("{}.{}", parsed.signing_input, parsed.signature),
        "the parts do not make the token"
    );
    assert!(parsed.kid.as_ref().is_none_or(|k| k.len() <= MAX_KID_BYTES));
    assert!(ALGS.iter().filter_map(|a| token::allowed_alg(a)).any(|a| a == parsed.alg));
}

/// JWKS parsing on the bytes; every key of a parsed set is usable as selected.
pub fn jwks(data: &[u8]) {
    let Ok(set) = KeySet::parse(data) else { return };
    assert!(set.keys.len() <= MAX_KEYS);
    let _ = format!("{set:?}");
    for key in &set.keys {
        assert!(key.kid.as_ref().is_none_or(|k| k.len() <= MAX_KID_BYTES));
        assert!(key.alg.is_none_or(|a| key.kind.fits(a)), "a key whose alg does not fit its type");
        assert!(set.contains(key.kid.as_deref(), &key.fingerprint));
        let _ = key.kind.jwk_name();
    }
    for alg in ALGS.iter().filter_map(|a| token::allowed_alg(a)) {
        if let Ok(k) = set.select(alg, None) {
            assert!(k.accepts(alg));
        }
        for kid in set.keys.iter().filter_map(|k| k.kid.as_deref()) {
            if let Ok(k) = set.select(alg, Some(kid)) {
                assert!(k.accepts(alg) && k.kid.as_deref() == Some(kid));
            }
        }
    }
}
