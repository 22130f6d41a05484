//! JWT bearer authentication on SCIM routes (docs/contract.md §6, docs/jwt-auth.md).
//!
//! A Bearer credential that is a JWS compact token is checked in this order: size and
//! format limits and the algorithm allow-list ([`token`]), the account's feature flag and
//! settings, the remembered-verification cache, the key from the account's JWKS
//! ([`cache`], [`fetch`], [`keys`]), the signature, the time claims with leeway, the
//! optional issuer and audience, and the claim match. It then acts as the configured service
//! account with that account's roles.

pub mod cache;
pub mod diagnose;
pub mod fetch;
#[cfg(test)]
mod fuzz_regressions;
pub mod keys;
pub mod token;
pub mod tools;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use moka::sync::Cache;
use scimgate_domain::access::{Caller, Principal, Scope};
use scimgate_domain::auth_service::AuthService;
use scimgate_domain::settings::{
    AUDIENCE, CLOCK_SKEW, ISSUER, JWKS_URL, KEY_FIELD, MAX_LIFETIME, SERVICE_ACCOUNT_ID, VALUE_FIELD,
};
use scimgate_domain::settings::{SettingRow, find, resolve};
use scimgate_domain::settings_service::SettingsService;
use scimgate_domain::{AccountId, Clock, DomainError};
use serde_json::Value;
use sha2::{Digest, Sha256};

use cache::JwksCache;
use scimgate_domain::jwt_trust;

/// The flag that gates JWT authentication.
pub const JWT_FLAG: &str = "PL_SUPPORT_JWT_TOKEN_SCIM_API";
/// How many verified tokens are remembered.
pub const REMEMBERED_CAPACITY: u64 = 10_000;

/// Why a JWT was refused: logged and counted, never sent to the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reason {
    /// Not a well-formed JWS compact token.
    Malformed,
    /// Over a size limit.
    TooLarge,
    /// Five parts: JWE is not accepted.
    Encrypted,
    /// `alg` not in the allow-list (none, HS*, unknown).
    AlgorithmNotAllowed,
    /// `jwk`, `jku`, `x5u` or `x5c` in the header.
    EmbeddedKey,
    /// A `crit` header.
    UnknownCrit,
    /// The feature flag is off.
    FlagOff,
    /// The settings are incomplete.
    NotConfigured,
    /// The JWKS could not be fetched and no key set is held.
    JwksUnavailable,
    /// No key with that `kid`.
    UnknownKid,
    /// Without `kid`: no key fits the algorithm.
    NoMatchingKey,
    /// Without `kid`: more than one key fits.
    AmbiguousKey,
    /// The key's type, curve or `alg` does not fit the token's `alg`.
    KeyMismatch,
    /// The signature does not verify.
    BadSignature,
    /// `exp` missing.
    MissingExp,
    /// A time claim that is not a number.
    BadTimeClaim,
    /// Expired.
    Expired,
    /// `nbf` in the future.
    NotYetValid,
    /// `iat` in the future.
    IssuedInFuture,
    /// `iss` differs from the configured issuer.
    IssuerMismatch,
    /// `aud` does not contain the configured audience.
    AudienceMismatch,
    /// `exp` − `iat` longer than the configured maximum.
    LifetimeTooLong,
    /// The configured claim is missing or not a string.
    ClaimMissing,
    /// The configured claim has another value.
    ClaimMismatch,
    /// The JWKS is a key set shared by many customers and the settings do not pin the
    /// issuer (or, where the issuer is shared too, the audience).
    SharedKeySetUnpinned,
    /// The server requires an issuer and an audience (`--jwt-require-issuer-audience`) and
    /// the account has not set both.
    IssuerAudienceRequired,
}

impl Reason {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Reason::Malformed => "malformed",
            Reason::TooLarge => "too_large",
            Reason::Encrypted => "encrypted",
            Reason::AlgorithmNotAllowed => "alg_not_allowed",
            Reason::EmbeddedKey => "embedded_key",
            Reason::UnknownCrit => "unknown_crit",
            Reason::FlagOff => "flag_off",
            Reason::NotConfigured => "not_configured",
            Reason::JwksUnavailable => "jwks_unavailable",
            Reason::UnknownKid => "unknown_kid",
            Reason::NoMatchingKey => "no_matching_key",
            Reason::AmbiguousKey => "ambiguous_key",
            Reason::KeyMismatch => "key_mismatch",
            Reason::BadSignature => "bad_signature",
            Reason::MissingExp => "missing_exp",
            Reason::BadTimeClaim => "bad_time_claim",
            Reason::Expired => "expired",
            Reason::NotYetValid => "not_yet_valid",
            Reason::IssuedInFuture => "issued_in_future",
            Reason::IssuerMismatch => "issuer_mismatch",
            Reason::AudienceMismatch => "audience_mismatch",
            Reason::LifetimeTooLong => "lifetime_too_long",
            Reason::ClaimMissing => "claim_missing",
            Reason::ClaimMismatch => "claim_mismatch",
            Reason::SharedKeySetUnpinned => "shared_key_set_unpinned",
            Reason::IssuerAudienceRequired => "issuer_audience_required",
        }
    }
}

/// Counters for `/metrics`: JWT outcomes by reason.
#[derive(Debug, Default)]
pub struct JwtMetrics {
    counts: Mutex<BTreeMap<&'static str, u64>>,
}

impl JwtMetrics {
    pub(crate) fn add(&self, label: &'static str) {
        *self.counts.lock().unwrap_or_else(PoisonError::into_inner).entry(label).or_insert(0) += 1;
    }
    /// The count for a label (`ok` for successes).
    pub fn get(&self, label: &str) -> u64 {
        self.counts.lock().unwrap_or_else(PoisonError::into_inner).get(label).copied().unwrap_or(0)
    }
    /// Prometheus text.
    pub fn render(&self) -> String {
        self.render_as("scimgate_jwt_auth_total", "JWT authentications on SCIM by outcome.", "outcome")
    }
    /// Prometheus text of these counters as metric `name` with label `label`.
    pub fn render_as(&self, name: &str, help: &str, label: &str) -> String {
        let mut out = format!("# HELP {name} {help}\n# TYPE {name} counter\n");
        for (value, n) in self.counts.lock().unwrap_or_else(PoisonError::into_inner).iter() {
            out.push_str(&format!("{name}{{{label}=\"{value}\"}} {n}\n"));
        }
        out
    }
}

/// An account's JWT configuration, from its settings.
#[derive(Debug, Clone)]
struct JwtConfig {
    url: url::Url,
    key_field: String,
    value_field: String,
    service_account: String,
    issuer: Option<String>,
    audience: Option<String>,
    skew: i64,
    max_lifetime: i64,
    /// Why no token can be accepted although the four settings are set (a shared key set
    /// without its pin, or an issuer and audience the operator requires).
    unusable: Option<(Reason, String)>,
    /// Identifies this configuration (remembered verifications of another one are void).
    fingerprint: [u8; 32],
}

/// A built configuration (or why there is none) and the settings snapshot it came from.
type ConfigEntry = (Arc<Vec<SettingRow>>, Result<Arc<JwtConfig>, String>);

#[derive(Debug)]
struct Remembered {
    account: AccountId,
    config: [u8; 32],
    exp: i64,
    kid: Option<String>,
    key: [u8; 32],
    /// `iss`, `sub` and `jti`, for the audit log.
    subject: scimgate_domain::audit::JwtSubject,
}

/// The JWT authenticator of one node.
pub struct JwtAuthenticator {
    settings: SettingsService,
    auth: Arc<AuthService>,
    clock: Arc<dyn Clock>,
    keys: Arc<JwksCache>,
    remembered: Cache<[u8; 32], Arc<Remembered>>,
    configs: Cache<AccountId, ConfigEntry>,
    require_issuer_audience: bool,
    /// Outcome counters.
    pub metrics: JwtMetrics,
}

impl std::fmt::Debug for JwtAuthenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtAuthenticator").finish_non_exhaustive()
    }
}

fn unauthenticated(reason: Reason) -> DomainError {
    DomainError::Unauthenticated(reason.label())
}

/// The latest time claim accepted (year ~4000): keeps the arithmetic on claims far from
/// overflow.
const MAX_TIME_CLAIM: i64 = 1 << 36;

/// A time claim: absent, or a JSON number of seconds since the epoch in [0, 2^36].
fn time_claim(claims: &serde_json::Map<String, Value>, name: &str) -> Result<Option<i64>, Reason> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.is_finite() && f.abs() < 1e15).map(|f| f.floor() as i64))
            .filter(|t| (0..=MAX_TIME_CLAIM).contains(t))
            .map(Some)
            .ok_or(Reason::BadTimeClaim),
        Some(_) => Err(Reason::BadTimeClaim),
    }
}

/// The time checks, with the account's leeway: `exp` required and not passed, `nbf` and
/// `iat` not in the future, and a lifetime (`exp` − `iat`, or `exp` − now without `iat`) no
/// longer than the account's maximum (24 h unless it sets another). The token's `exp`.
fn check_times(claims: &serde_json::Map<String, Value>, now: i64, cfg: &JwtConfig) -> Result<i64, Reason> {
    let exp = time_claim(claims, "exp")?.ok_or(Reason::MissingExp)?;
    let nbf = time_claim(claims, "nbf")?;
    let iat = time_claim(claims, "iat")?;
    if now >= exp + cfg.skew {
        return Err(Reason::Expired);
    }
    if nbf.is_some_and(|n| now + cfg.skew < n) {
        return Err(Reason::NotYetValid);
    }
    if iat.is_some_and(|i| now + cfg.skew < i) {
        return Err(Reason::IssuedInFuture);
    }
    if exp - iat.unwrap_or(now) > cfg.max_lifetime {
        return Err(Reason::LifetimeTooLong);
    }
    Ok(exp)
}

/// Whether `aud` (a string, or a list of them) contains `want`.
fn audience_contains(claims: &serde_json::Map<String, Value>, want: &str) -> bool {
    match claims.get("aud") {
        Some(Value::String(a)) => a == want,
        Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(want)),
        _ => false,
    }
}

impl JwtAuthenticator {
    /// Makes the authenticator.
    pub fn new(
        settings: SettingsService,
        auth: Arc<AuthService>,
        clock: Arc<dyn Clock>,
        keys: Arc<JwksCache>,
        require_issuer_audience: bool,
    ) -> Self {
        Self {
            settings,
            auth,
            clock,
            keys,
            require_issuer_audience,
            remembered: Cache::builder().max_capacity(REMEMBERED_CAPACITY).build(),
            configs: Cache::builder().max_capacity(10_000).build(),
            metrics: JwtMetrics::default(),
        }
    }

    /// Drops an account's cached keys (its JWT settings changed on this node). Remembered
    /// verifications of the old configuration no longer match its fingerprint.
    pub fn invalidate(&self, account: &AccountId) {
        self.keys.invalidate(account);
    }

    /// The account's JWT configuration, rebuilt only when its settings snapshot changes.
    async fn config(&self, account: &AccountId) -> Result<Arc<JwtConfig>, DomainError> {
        let snapshot = self.settings.snapshot(account).await?;
        if let Some((seen, cfg)) = self.configs.get(account)
            && Arc::ptr_eq(&seen, &snapshot)
        {
            return cfg.map_err(DomainError::NotConfigured);
        }
        let built = Self::build_config(&snapshot, self.require_issuer_audience).map(Arc::new);
        self.configs.insert(account.clone(), (snapshot, built.clone()));
        built.map_err(DomainError::NotConfigured)
    }

    fn build_config(rows: &[SettingRow], require_issuer_audience: bool) -> Result<JwtConfig, String> {
        let get = |id: &str| find(id).and_then(|def| resolve(def, rows, &Scope::account()).value);
        let url = get(JWKS_URL);
        let key_field = get(KEY_FIELD);
        let value_field = get(VALUE_FIELD);
        let service_account = get(SERVICE_ACCOUNT_ID);
        let missing: Vec<&str> = [
            (JWKS_URL, url.is_none()),
            (KEY_FIELD, key_field.is_none()),
            (VALUE_FIELD, value_field.is_none()),
            (SERVICE_ACCOUNT_ID, service_account.is_none()),
        ]
        .iter()
        .filter(|(_, m)| *m)
        .map(|(id, _)| *id)
        .collect();
        let (Some(url), Some(key_field), Some(value_field), Some(service_account)) =
            (url, key_field, value_field, service_account)
        else {
            return Err(format!(
                "JWT authentication is not configured for this account: set {} with the Settings API",
                missing.join(", ")
            ));
        };
        let url = url::Url::parse(&url)
            .map_err(|_| "JWT authentication is misconfigured: the JWKS URL is not a URL".to_string())?;
        let issuer = get(ISSUER);
        let audience = get(AUDIENCE);
        let skew =
            get(CLOCK_SKEW).and_then(|s| s.parse::<f64>().ok()).unwrap_or(60.0).clamp(0.0, 300.0) as i64;
        let max_lifetime = get(MAX_LIFETIME)
            .and_then(|s| s.parse::<f64>().ok())
            .map_or(jwt_trust::DEFAULT_MAX_LIFETIME_SECONDS, |f| f as i64);
        // Values stored before only ASCII whitespace was trimmed at write time.
        let value_field = jwt_trust::normalize_claim_value(&value_field).to_string();
        let unusable = jwt_trust::unpinned_shared_key_set(&url, issuer.as_deref(), audience.as_deref())
            .map(|m| (Reason::SharedKeySetUnpinned, m))
            .or_else(|| {
                (require_issuer_audience && (issuer.is_none() || audience.is_none())).then(|| {
                    (
                        Reason::IssuerAudienceRequired,
                        "this server requires scim_jwt_token_issuer and scim_jwt_token_audience \
                         (--jwt-require-issuer-audience)"
                            .to_string(),
                    )
                })
            });
        let mut h = Sha256::new();
        for part in [url.as_str(), &key_field, &value_field, &service_account] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        for part in [&issuer, &audience] {
            h.update(part.as_deref().unwrap_or("\u{1}").as_bytes());
            h.update([0]);
        }
        h.update(skew.to_be_bytes());
        h.update(max_lifetime.to_be_bytes());
        Ok(JwtConfig {
            url,
            key_field,
            value_field,
            service_account,
            issuer,
            audience,
            skew,
            max_lifetime,
            unusable,
            fingerprint: h.finalize().into(),
        })
    }

    /// Whether this node verified `raw` for `path_account` before and still remembers it
    /// (not expired): for letting known-good credentials through a throttle, without parsing
    /// or fetching anything (docs/abuse.md). `authenticate` still checks it fully.
    pub fn is_remembered(&self, raw: &str, path_account: &str) -> bool {
        if raw.len() > token::MAX_TOKEN_BYTES {
            return false;
        }
        let hash: [u8; 32] = Sha256::digest(raw.as_bytes()).into();
        let now = self.clock.now().unix_timestamp();
        self.remembered.get(&hash).is_some_and(|r| r.account.as_str() == path_account && now < r.exp)
    }

    /// Authenticates a JWT presented on the SCIM path of `path_account`.
    pub async fn authenticate(&self, raw: &str, path_account: &str) -> Result<Caller, DomainError> {
        match self.verify(raw, path_account).await {
            Ok(c) => {
                self.metrics.add("ok");
                Ok(c)
            }
            Err(Failure::Reason(r)) => {
                tracing::info!(reason = r.label(), account = path_account, "JWT refused");
                self.metrics.add(r.label());
                Err(unauthenticated(r))
            }
            Err(Failure::Domain(e)) => Err(e),
        }
    }

    async fn verify(&self, raw: &str, path_account: &str) -> Result<Caller, Failure> {
        if raw.len() > token::MAX_TOKEN_BYTES {
            return Err(Reason::TooLarge.into());
        }
        let account =
            AccountId::parse(path_account).map_err(|_| DomainError::Unauthenticated("invalid account"))?;
        // The flag and the settings decide whether this credential can be accepted at all:
        // an authentication failure with the generic 401, the reason only in the log and the
        // metrics, so an unauthenticated caller cannot tell a configured account from one
        // without the flag or one that does not exist (security review item 6).
        if !self.auth.is_feature_enabled(&account, JWT_FLAG).await? {
            tracing::info!(detail = %format!("the feature flag {JWT_FLAG} is not enabled for this account"), "JWT refused");
            return Err(Reason::FlagOff.into());
        }
        let cfg = match self.config(&account).await {
            Ok(c) => c,
            Err(DomainError::NotConfigured(m)) => {
                tracing::info!(detail = %m, "JWT refused");
                return Err(Reason::NotConfigured.into());
            }
            Err(e) => return Err(e.into()),
        };
        if let Some((reason, detail)) = &cfg.unusable {
            tracing::warn!(detail = %detail, account = path_account, "JWT refused");
            return Err((*reason).into());
        }
        let now = self.clock.now().unix_timestamp();
        let token_hash: [u8; 32] = Sha256::digest(raw.as_bytes()).into();

        // Remembered: same token, same configuration, not expired, key still published. It
        // passed every check below once, so nothing is parsed or verified again.
        if let Some(r) = self.remembered.get(&token_hash)
            && r.account == account
            && r.config == cfg.fingerprint
            && now < r.exp + cfg.skew
        {
            let set = self.keys.keys(&account, &cfg.url).await?;
            if set.contains(r.kid.as_deref(), &r.key) {
                return Ok(self.caller(&account, &cfg).await?.with_jwt(r.subject.clone()));
            }
            self.remembered.invalidate(&token_hash);
        }
        let parsed = token::parse(raw)?;

        let kid = parsed.kid.as_deref();
        let verify = |k: &keys::VerifyKey| {
            jsonwebtoken::crypto::verify(
                parsed.signature,
                parsed.signing_input.as_bytes(),
                &k.key,
                parsed.alg,
            )
            .unwrap_or(false)
        };
        let key = match self.keys.key_for(&account, &cfg.url, parsed.alg, kid).await {
            Ok((_, k)) => k,
            // No key fits a token without `kid`: maybe a key was just published.
            Err(Reason::NoMatchingKey) if self.keys.refetch(&account, &cfg.url).await => {
                self.keys.key_for(&account, &cfg.url, parsed.alg, kid).await?.1
            }
            Err(e) => return Err(e.into()),
        };
        let key = if verify(&key) {
            key
        } else {
            // The identity provider may have re-keyed under the same `kid` (or, without one,
            // replaced its only key): one refetch from the refetch budget, then try the current key.
            let fresh = if self.keys.refetch(&account, &cfg.url).await {
                self.keys.key_for(&account, &cfg.url, parsed.alg, kid).await.ok().map(|(_, k)| k)
            } else {
                None
            };
            match fresh {
                Some(k) if k.fingerprint != key.fingerprint && verify(&k) => k,
                _ => return Err(Reason::BadSignature.into()),
            }
        };
        let claims = &parsed.claims;
        let exp = check_times(claims, now, &cfg)?;
        if let Some(iss) = &cfg.issuer
            && claims.get("iss").and_then(Value::as_str) != Some(iss.as_str())
        {
            return Err(Reason::IssuerMismatch.into());
        }
        if let Some(aud) = &cfg.audience
            && !audience_contains(claims, aud)
        {
            return Err(Reason::AudienceMismatch.into());
        }
        // The claim match: a top-level string compared exactly, byte for byte. Only the
        // configured value was trimmed (of ASCII whitespace, when written); the token's claim
        // never is, so U+00A0 or U+3000 padding does not match (security review item 1).
        let claim = claims.get(&cfg.key_field).and_then(Value::as_str).ok_or(Reason::ClaimMissing)?;
        if claim != cfg.value_field {
            return Err(Reason::ClaimMismatch.into());
        }
        self.remembered.insert(
            token_hash,
            Arc::new(Remembered {
                account: account.clone(),
                config: cfg.fingerprint,
                exp,
                kid: key.kid.clone(),
                key: key.fingerprint,
                subject: scimgate_domain::audit::JwtSubject::of(claims),
            }),
        );
        Ok(self.caller(&account, &cfg).await?.with_jwt(scimgate_domain::audit::JwtSubject::of(claims)))
    }

    async fn caller(&self, account: &AccountId, cfg: &JwtConfig) -> Result<Caller, DomainError> {
        self.auth.caller_for_principal(account, Principal::ServiceAccount(cfg.service_account.clone())).await
    }
}

enum Failure {
    Reason(Reason),
    Domain(DomainError),
}

impl From<Reason> for Failure {
    fn from(r: Reason) -> Self {
        Failure::Reason(r)
    }
}

impl From<DomainError> for Failure {
    fn from(e: DomainError) -> Self {
        Failure::Domain(e)
    }
}
