//! Local tooling for the JWT feature (docs/contract.md §1 `scimgate jwt …`): make a signing key
//! and its public JWK, mint a token, serve a JWKS directory on loopback. The tests use the
//! same functions, so they sign with real keys exactly as a user would.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use aws_lc_rs::encoding::AsDer;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::jwk::{Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Map, Value, json};

use super::token::allowed_alg;

/// A generated key pair.
pub struct GeneratedKey {
    /// The algorithm it signs with.
    pub alg: Algorithm,
    /// Its key id.
    pub kid: String,
    /// PKCS#8 PEM of the private key.
    pub private_pem: String,
    /// The public JWK (with `kid`, `alg`, `use: sig`).
    pub jwk: Value,
    /// The signing key.
    pub encoding: EncodingKey,
}

impl std::fmt::Debug for GeneratedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeneratedKey").field("alg", &self.alg).field("kid", &self.kid).finish_non_exhaustive()
    }
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Parses an algorithm name from the allow-list.
pub fn parse_alg(name: &str) -> Result<Algorithm, String> {
    allowed_alg(name).ok_or_else(|| {
        format!("algorithm '{name}' is not supported; use RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384 or EdDSA")
    })
}

/// Loads a PKCS#8 PEM private key for an algorithm.
pub fn load_key(alg: Algorithm, pem_text: &[u8]) -> Result<EncodingKey, String> {
    let k = match alg {
        Algorithm::ES256 | Algorithm::ES384 => EncodingKey::from_ec_pem(pem_text),
        Algorithm::EdDSA => EncodingKey::from_ed_pem(pem_text),
        _ => EncodingKey::from_rsa_pem(pem_text),
    };
    k.map_err(|e| format!("cannot read the private key for {alg:?}: {e}"))
}

/// Generates a key pair (RSA 2048 for RS*/PS*, P-256, P-384, Ed25519).
pub fn generate(alg: Algorithm, kid: &str) -> Result<GeneratedKey, String> {
    let err = |_| "key generation failed".to_string();
    let der: Vec<u8> = match alg {
        Algorithm::ES256 => aws_lc_rs::signature::EcdsaKeyPair::generate(
            &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        )
        .and_then(|k| k.to_pkcs8v1())
        .map_err(err)?
        .as_ref()
        .to_vec(),
        Algorithm::ES384 => aws_lc_rs::signature::EcdsaKeyPair::generate(
            &aws_lc_rs::signature::ECDSA_P384_SHA384_FIXED_SIGNING,
        )
        .and_then(|k| k.to_pkcs8v1())
        .map_err(err)?
        .as_ref()
        .to_vec(),
        Algorithm::EdDSA => aws_lc_rs::signature::Ed25519KeyPair::generate()
            .and_then(|k| k.to_pkcs8v1())
            .map_err(err)?
            .as_ref()
            .to_vec(),
        Algorithm::RS256
        | Algorithm::RS384
        | Algorithm::RS512
        | Algorithm::PS256
        | Algorithm::PS384
        | Algorithm::PS512 => aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
            .and_then(|k| k.as_der())
            .map_err(err)?
            .as_ref()
            .to_vec(),
        other => return Err(format!("algorithm {other:?} is not supported")),
    };
    let private_pem = pem("PRIVATE KEY", &der);
    let encoding = load_key(alg, private_pem.as_bytes())?;
    let mut jwk =
        Jwk::from_encoding_key(&encoding, alg).map_err(|e| format!("cannot derive the public key: {e}"))?;
    jwk.common.key_id = Some(kid.to_string());
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    let jwk = serde_json::to_value(&jwk).map_err(|e| e.to_string())?;
    Ok(GeneratedKey { alg, kid: kid.to_string(), private_pem, jwk, encoding })
}

/// Signs claims. `kid: None` leaves the header without one.
pub fn mint(
    key: &EncodingKey,
    alg: Algorithm,
    kid: Option<&str>,
    claims: &Map<String, Value>,
) -> Result<String, String> {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_string);
    jsonwebtoken::encode(&header, claims, key).map_err(|e| format!("signing failed: {e}"))
}

/// `scimgate jwt keygen`: writes `<dir>/<kid>.pem` (mode 0600) and adds the public key to
/// `<dir>/jwks.json`. Returns a summary for stdout.
pub fn keygen(dir: &Path, alg_name: &str, kid: Option<&str>) -> Result<Value, String> {
    let alg = parse_alg(alg_name)?;
    let kid = kid
        .map(str::to_string)
        .unwrap_or_else(|| format!("{alg_name}-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]));
    if kid.is_empty() || kid.len() > 256 || kid.contains(['/', '\\']) || kid.starts_with('.') {
        return Err(format!("kid '{kid}' is not usable as a file name"));
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let key_path = dir.join(format!("{kid}.pem"));
    if key_path.exists() {
        return Err(format!("{} exists; choose another --kid", key_path.display()));
    }
    let k = generate(alg, &kid)?;
    crate::server::write_secret_file(&key_path, &k.private_pem, true)
        .map_err(|e| format!("cannot write {}: {e}", key_path.display()))?;
    let jwks_path = dir.join("jwks.json");
    let mut doc: Value = match std::fs::read(&jwks_path) {
        Ok(bytes) => {
            serde_json::from_slice(&bytes).map_err(|e| format!("{} is not JSON: {e}", jwks_path.display()))?
        }
        Err(_) => json!({"keys": []}),
    };
    let keys = doc.get_mut("keys").and_then(Value::as_array_mut).ok_or("jwks.json has no keys array")?;
    keys.push(k.jwk.clone());
    let text = serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?;
    std::fs::write(&jwks_path, text).map_err(|e| format!("cannot write {}: {e}", jwks_path.display()))?;
    Ok(json!({
        "kid": kid,
        "alg": alg_name,
        "privateKey": key_path.display().to_string(),
        "jwks": jwks_path.display().to_string(),
    }))
}

/// `scimgate jwt mint`: claims from `key=value` pairs (a value that parses as a JSON
/// number, boolean, array or object is used as such), `exp` from `ttl_seconds`.
pub fn mint_cli(
    key_file: &Path,
    alg_name: &str,
    kid: Option<&str>,
    claims: &[String],
    ttl_seconds: i64,
    now: i64,
) -> Result<String, String> {
    let alg = parse_alg(alg_name)?;
    let pem_text = std::fs::read(key_file).map_err(|e| format!("cannot read {}: {e}", key_file.display()))?;
    let key = load_key(alg, &pem_text)?;
    let mut map = Map::new();
    map.insert("iat".into(), json!(now));
    map.insert("exp".into(), json!(now + ttl_seconds));
    for c in claims {
        let (k, v) = c.split_once('=').ok_or_else(|| format!("claim '{c}' is not key=value"))?;
        let v = match serde_json::from_str::<Value>(v) {
            Ok(j @ (Value::Number(_) | Value::Bool(_) | Value::Array(_) | Value::Object(_))) => j,
            _ => Value::String(v.to_string()),
        };
        map.insert(k.to_string(), v);
    }
    let kid =
        kid.map(str::to_string).or_else(|| key_file.file_stem().map(|s| s.to_string_lossy().to_string()));
    mint(&key, alg, kid.as_deref(), &map)
}

/// `scimgate jwt serve-jwks`: serves the `.json` files of a directory over plain HTTP on a
/// loopback address (for trying the flow on one machine), with `Cache-Control: max-age=300`.
pub async fn serve_jwks(dir: PathBuf, listen: SocketAddr) -> Result<(), String> {
    if !listen.ip().is_loopback() {
        return Err(format!("{listen} is not a loopback address; serve-jwks is for local testing only"));
    }
    let listener =
        tokio::net::TcpListener::bind(listen).await.map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    eprintln!("scimgate: serving {} at http://{addr}/jwks.json", dir.display());
    let app = axum::Router::new().route(
        "/{file}",
        axum::routing::get(move |axum::extract::Path(file): axum::extract::Path<String>| {
            let dir = dir.clone();
            async move {
                use axum::http::{StatusCode, header};
                use axum::response::IntoResponse;
                if !file.ends_with(".json") || file.contains(['/', '\\']) || file.starts_with('.') {
                    return StatusCode::NOT_FOUND.into_response();
                }
                match tokio::fs::read(dir.join(&file)).await {
                    Ok(body) => (
                        [(header::CONTENT_TYPE, "application/json"), (header::CACHE_CONTROL, "max-age=300")],
                        body,
                    )
                        .into_response(),
                    Err(_) => StatusCode::NOT_FOUND.into_response(),
                }
            }
        }),
    );
    axum::serve(listener, app).await.map_err(|e| e.to_string())
}
