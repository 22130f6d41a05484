//! What binds a JWT to one customer (docs/jwt.md "What binds a token to your account";
//! security review item 1 in SECURITY.md).
//!
//! A signature proves only that the key set's owner issued the token. When one key set signs
//! tokens for many tenants or applications, the signature says nothing about *whose* token it
//! is: the issuer (which names the tenant) and the audience (which names the application) do.
//! This module holds the rules the verifier and the Settings API share:
//!
//! - [`shared_key_set`]: the key sets known to sign for many customers; a token checked
//!   against one of them is refused until the account pins what tells customers apart.
//! - [`DEFAULT_MAX_LIFETIME_SECONDS`]: the longest token lifetime accepted when the account
//!   sets none.
//! - [`normalize_claim_value`]: how the configured claim value is stored (the token's claim
//!   is compared exactly, never trimmed).

use url::Url;

/// The longest accepted lifetime (`exp` − `iat`, or `exp` − now without `iat`) when
/// `scim_jwt_token_max_lifetime_seconds` is unset: 24 hours.
pub const DEFAULT_MAX_LIFETIME_SECONDS: i64 = 24 * 60 * 60;

/// A key set that signs tokens for many customers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedKeySet {
    /// Who publishes it, for messages.
    pub name: &'static str,
    /// Whether the issuer is the same for every customer, so only the audience tells them
    /// apart and it must be pinned too (Google, Apple, GitHub Actions, GitLab.com).
    pub needs_audience: bool,
}

/// One entry of [`SHARED_KEY_SETS`]: host, path prefix and what must be pinned.
struct Entry {
    host: &'static str,
    /// The path must start with one of these (case-insensitive).
    paths: &'static [&'static str],
    set: SharedKeySet,
}

const ENTRA: SharedKeySet =
    SharedKeySet { name: "Microsoft Entra ID's multi-tenant keys", needs_audience: false };
const GOOGLE: SharedKeySet = SharedKeySet { name: "Google's sign-in keys", needs_audience: true };
const FIREBASE: SharedKeySet = SharedKeySet { name: "Firebase's shared token keys", needs_audience: true };
const APPLE: SharedKeySet = SharedKeySet { name: "Sign in with Apple's keys", needs_audience: true };
const GITHUB: SharedKeySet = SharedKeySet { name: "GitHub Actions' OIDC keys", needs_audience: true };
const GITLAB: SharedKeySet = SharedKeySet { name: "GitLab.com's OIDC keys", needs_audience: true };

/// The Entra ID tenant segments that are not a tenant: every tenant's tokens verify there.
const ENTRA_SHARED: &[&str] = &["/common/", "/organizations/", "/consumers/"];

/// Key sets known to sign tokens for many customers (documented in docs/jwt.md). Entra ID's
/// per-tenant JWKS URLs are not listed: a tenant's issuer is pinned by its URL's tenant id,
/// and the verifier refuses a token whose `iss` names another tenant only when the issuer is
/// configured, which the warning on every write asks for.
static SHARED_KEY_SETS: &[Entry] = &[
    Entry { host: "login.microsoftonline.com", paths: ENTRA_SHARED, set: ENTRA },
    Entry { host: "login.microsoft.com", paths: ENTRA_SHARED, set: ENTRA },
    Entry { host: "login.windows.net", paths: ENTRA_SHARED, set: ENTRA },
    Entry { host: "sts.windows.net", paths: ENTRA_SHARED, set: ENTRA },
    Entry { host: "www.googleapis.com", paths: &["/oauth2/v1/certs", "/oauth2/v3/certs"], set: GOOGLE },
    Entry {
        host: "www.googleapis.com",
        paths: &["/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com"],
        set: FIREBASE,
    },
    Entry { host: "appleid.apple.com", paths: &["/auth/keys"], set: APPLE },
    Entry { host: "token.actions.githubusercontent.com", paths: &["/"], set: GITHUB },
    Entry { host: "gitlab.com", paths: &["/oauth/discovery/keys", "/-/jwks"], set: GITLAB },
];

/// The shared key set a JWKS URL names, if it is one of the known ones.
pub fn shared_key_set(url: &Url) -> Option<SharedKeySet> {
    let host = url.host_str()?.trim_end_matches('.').to_ascii_lowercase();
    let path = url.path().to_ascii_lowercase();
    SHARED_KEY_SETS
        .iter()
        .find(|e| e.host == host && e.paths.iter().any(|p| path.starts_with(p)))
        .map(|e| e.set)
}

/// What a configuration with this JWKS URL, issuer and audience still lacks before any token
/// can be accepted: `Some(message)` when the key set is shared and the issuer (or, where the
/// issuer is shared too, the audience) is not pinned.
pub fn unpinned_shared_key_set(url: &Url, issuer: Option<&str>, audience: Option<&str>) -> Option<String> {
    let set = shared_key_set(url)?;
    let missing: Vec<&str> = [
        (crate::settings::ISSUER, issuer.is_none()),
        (crate::settings::AUDIENCE, set.needs_audience && audience.is_none()),
    ]
    .iter()
    .filter(|(_, m)| *m)
    .map(|(id, _)| *id)
    .collect();
    if missing.is_empty() {
        return None;
    }
    Some(format!(
        "the JWKS URL is {}, which signs tokens for many customers: every token is refused until {} \
         pins yours",
        set.name,
        missing.join(" and ")
    ))
}

/// The warning for a configuration without an issuer or an audience: a token of any issuer
/// or application signed by a key in the JWKS would be accepted.
pub fn unset_binding_warning(issuer: Option<&str>, audience: Option<&str>) -> Option<String> {
    let missing: Vec<&str> =
        [(crate::settings::ISSUER, issuer.is_none()), (crate::settings::AUDIENCE, audience.is_none())]
            .iter()
            .filter(|(_, m)| *m)
            .map(|(id, _)| *id)
            .collect();
    if missing.is_empty() {
        return None;
    }
    Some(format!(
        "{} not set: any token signed by a key in the JWKS whose claim matches is accepted, whoever \
         it was issued by or for; set {} (see docs/jwt.md)",
        missing.join(" and "),
        if missing.len() == 1 { "it" } else { "both" }
    ))
}

/// The stored form of a configured string value: only ASCII whitespace is trimmed, so
/// U+00A0 or U+3000 stay part of the value (and a token claim must carry them to match).
pub fn normalize_claim_value(raw: &str) -> &str {
    raw.trim_matches(|c: char| c.is_ascii_whitespace())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).expect("url")
    }

    #[test]
    fn known_shared_key_sets() {
        for (u, shared, needs_aud) in [
            ("https://login.microsoftonline.com/common/discovery/v2.0/keys", true, false),
            ("https://login.microsoftonline.com/organizations/discovery/v2.0/keys", true, false),
            ("https://login.microsoftonline.com/consumers/discovery/keys", true, false),
            ("https://LOGIN.MICROSOFTONLINE.COM./Common/discovery/keys", true, false),
            ("https://login.windows.net/common/discovery/keys", true, false),
            ("https://www.googleapis.com/oauth2/v3/certs", true, true),
            ("https://www.googleapis.com/oauth2/v1/certs", true, true),
            (
                "https://www.googleapis.com/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com",
                true,
                true,
            ),
            ("https://appleid.apple.com/auth/keys", true, true),
            ("https://token.actions.githubusercontent.com/.well-known/jwks", true, true),
            ("https://gitlab.com/oauth/discovery/keys", true, true),
            // A tenant's own key URL, an Okta org, an Auth0 tenant: not in the list.
            (
                "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/discovery/v2.0/keys",
                false,
                false,
            ),
            ("https://acme.okta.com/oauth2/v1/keys", false, false),
            ("https://acme.eu.auth0.com/.well-known/jwks.json", false, false),
            (
                "https://www.googleapis.com/service_accounts/v1/jwk/robot@acme.iam.gserviceaccount.com",
                false,
                false,
            ),
        ] {
            let got = shared_key_set(&url(u));
            assert_eq!(got.is_some(), shared, "{u}");
            assert_eq!(got.is_some_and(|s| s.needs_audience), needs_aud, "{u}");
        }
    }

    #[test]
    fn pinning_rules() {
        let entra = url("https://login.microsoftonline.com/common/discovery/v2.0/keys");
        assert!(
            unpinned_shared_key_set(&entra, None, Some("app"))
                .is_some_and(|m| m.contains("scim_jwt_token_issuer"))
        );
        assert_eq!(unpinned_shared_key_set(&entra, Some("https://sts.windows.net/t/"), None), None);
        let google = url("https://www.googleapis.com/oauth2/v3/certs");
        let m =
            unpinned_shared_key_set(&google, Some("https://accounts.google.com"), None).expect("needs aud");
        assert!(m.contains("scim_jwt_token_audience") && !m.contains("scim_jwt_token_issuer"), "{m}");
        assert_eq!(unpinned_shared_key_set(&url("https://idp.acme.test/keys"), None, None), None);
    }

    #[test]
    fn only_ascii_whitespace_is_trimmed() {
        assert_eq!(normalize_claim_value("  scim@acme.example\t\n"), "scim@acme.example");
        assert_eq!(normalize_claim_value("scim@acme.example\u{a0}"), "scim@acme.example\u{a0}");
        assert_eq!(normalize_claim_value("\u{3000}scim@acme.example"), "\u{3000}scim@acme.example");
    }

    #[test]
    fn unset_binding() {
        assert!(unset_binding_warning(None, None).is_some_and(|m| m.contains("set both")));
        assert!(
            unset_binding_warning(Some("i"), None).is_some_and(|m| m.starts_with("scim_jwt_token_audience"))
        );
        assert_eq!(unset_binding_warning(Some("i"), Some("a")), None);
    }
}
