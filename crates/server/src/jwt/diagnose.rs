//! **Test a token** and **Fetch keys** for the console (docs/console.md): the verifier's
//! checks run one by one on a pasted JWT, each reported with pass or fail and why, so an
//! administrator sees what the generic 401 hides. Key material is never shown: only `kid`,
//! key type and algorithm.

use scimgate_domain::access::Principal;
use scimgate_domain::use_case::UseCase;
use scimgate_domain::{AccountId, DomainError};
use serde_json::Value;

use super::{JWT_FLAG, JwtAuthenticator, Reason, audience_contains, check_times, token};

/// One check and its outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// What was checked.
    pub name: &'static str,
    /// Whether it passed.
    pub ok: bool,
    /// What was found.
    pub detail: String,
}

/// A key of the account's JWKS, as shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShownKey {
    /// `kid`.
    pub kid: String,
    /// Key type and curve.
    pub kty: String,
    /// The JWK's `alg`, if any.
    pub alg: String,
}

/// The five permissions SCIM provisioning needs (the seed document's role).
const SCIM_USE_CASES: [UseCase; 5] =
    [UseCase::ListUsers, UseCase::CreateUser, UseCase::PatchUser, UseCase::ListGroups, UseCase::PatchGroup];

struct Report(Vec<Check>);

impl Report {
    fn pass(&mut self, name: &'static str, detail: impl Into<String>) {
        self.0.push(Check { name, ok: true, detail: detail.into() });
    }
    /// Records a failure and ends the report.
    fn fail(mut self, name: &'static str, detail: impl Into<String>) -> Vec<Check> {
        self.0.push(Check { name, ok: false, detail: detail.into() });
        self.0
    }
}

fn reason_text(r: Reason) -> String {
    format!("refused: {}", r.label().replace('_', " "))
}

impl JwtAuthenticator {
    /// Runs every check of [`JwtAuthenticator::authenticate`] on `raw` for `account`, in
    /// order, stopping at the first failure.
    pub async fn diagnose(&self, raw: &str, account: &AccountId) -> Vec<Check> {
        let mut r = Report(Vec::new());
        let raw = raw.trim();
        let parsed = match token::parse(raw) {
            Ok(p) => p,
            Err(e) => return r.fail("Parsed header", reason_text(e)),
        };
        r.pass(
            "Parsed header",
            format!("alg {:?}, kid {}", parsed.alg, parsed.kid.as_deref().unwrap_or("(none)")),
        );
        match self.auth.is_feature_enabled(account, JWT_FLAG).await {
            Ok(true) => r.pass("Feature flag", format!("{JWT_FLAG} is on")),
            Ok(false) => return r.fail("Feature flag", format!("{JWT_FLAG} is off for this account")),
            Err(e) => return r.fail("Feature flag", e.to_string()),
        }
        let cfg = match self.config(account).await {
            Ok(c) => c,
            Err(DomainError::NotConfigured(m)) => return r.fail("Settings", m),
            Err(e) => return r.fail("Settings", e.to_string()),
        };
        if let Some((_, why)) = &cfg.unusable {
            return r.fail("Settings", why.clone());
        }
        r.pass("Settings", format!("JWKS {}", cfg.url));
        let key = match self.keys.key_for(account, &cfg.url, parsed.alg, parsed.kid.as_deref()).await {
            Ok((_, k)) => k,
            Err(e) => return r.fail("Key", reason_text(e)),
        };
        r.pass(
            "Key",
            format!("found {} ({:?})", key.kid.as_deref().unwrap_or("the only fitting key"), key.kind),
        );
        let verified = jsonwebtoken::crypto::verify(
            parsed.signature,
            parsed.signing_input.as_bytes(),
            &key.key,
            parsed.alg,
        )
        .unwrap_or(false);
        if !verified {
            return r.fail("Signature", "the signature does not verify with that key");
        }
        r.pass("Signature", "verifies");
        let claims = &parsed.claims;
        let now = self.clock.now().unix_timestamp();
        match check_times(claims, now, &cfg).map(|exp| exp - now) {
            Ok(left) => r.pass(
                "Time claims",
                format!("valid for {left} s more (at most {} s in all)", cfg.max_lifetime),
            ),
            Err(e) => return r.fail("Time claims", reason_text(e)),
        }
        let iss = claims.get("iss").and_then(Value::as_str);
        match &cfg.issuer {
            None => r.pass(
                "Issuer",
                format!(
                    "not checked: scim_jwt_token_issuer is unset (token says {})",
                    iss.unwrap_or("nothing")
                ),
            ),
            Some(want) if iss == Some(want.as_str()) => r.pass("Issuer", want.clone()),
            Some(want) => {
                return r
                    .fail("Issuer", format!("expected {want}, the token says {}", iss.unwrap_or("nothing")));
            }
        }
        match &cfg.audience {
            None => r.pass("Audience", "not checked: scim_jwt_token_audience is unset"),
            Some(want) if audience_contains(claims, want) => r.pass("Audience", format!("contains {want}")),
            Some(want) => return r.fail("Audience", format!("expected {want} in aud")),
        }
        match claims.get(&cfg.key_field).and_then(Value::as_str) {
            None => return r.fail("Claim match", format!("the token has no string claim {}", cfg.key_field)),
            Some(v) if v == cfg.value_field => r.pass("Claim match", format!("{} = {v}", cfg.key_field)),
            Some(v) => {
                return r.fail(
                    "Claim match",
                    format!("{} is {v:?}; the settings expect {:?}", cfg.key_field, cfg.value_field),
                );
            }
        }
        match self
            .auth
            .caller_for_principal(account, Principal::ServiceAccount(cfg.service_account.clone()))
            .await
        {
            Ok(c) => {
                let missing: Vec<&str> =
                    SCIM_USE_CASES.iter().filter(|u| !c.can(**u)).map(|u| u.name()).collect();
                if missing.is_empty() {
                    r.pass(
                        "Service account",
                        format!("acts as {} with the SCIM permissions", cfg.service_account),
                    );
                } else {
                    return r.fail(
                        "Service account",
                        format!(
                            "acts as {}, whose roles do not allow {}",
                            cfg.service_account,
                            missing.join(", ")
                        ),
                    );
                }
            }
            Err(e) => return r.fail("Service account", e.to_string()),
        }
        r.0
    }

    /// Fetches the account's JWKS now (through the guarded fetcher) and lists its keys.
    pub async fn fetch_keys(&self, account: &AccountId) -> Result<Vec<ShownKey>, String> {
        let cfg = self.config(account).await.map_err(|e| e.to_string())?;
        self.keys.refetch(account, &cfg.url).await;
        let set = self.keys.keys(account, &cfg.url).await.map_err(reason_text)?;
        Ok(set
            .keys
            .iter()
            .map(|k| ShownKey {
                kid: k.kid.clone().unwrap_or_default(),
                kty: k.kind.jwk_name().to_string(),
                alg: k.alg.map(|a| format!("{a:?}")).unwrap_or_default(),
            })
            .collect())
    }
}
