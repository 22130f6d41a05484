//! Authentication extractors. SCIM routes take `Authorization: Bearer <token>` for the
//! account in the path; every other product route takes `x-api-key: <token>` for the account
//! in the `accountIdentifier` query parameter. Every failure is the same 401 to the caller;
//! the reason goes to the log.

use axum::extract::{FromRequestParts, Query, RawPathParams};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use scimgate_domain::DomainError;
use scimgate_domain::access::Caller;

use crate::http::access_log::RequestContext;
use crate::http::error::ScimApiError;
use crate::http::product_api::ApiError;
use crate::limits::{self, Admission, Refusal};
use crate::state::AppState;

/// A verified SCIM caller. Handlers pass it to a service, which checks the permission the
/// operation needs. It holds the request's in-flight slot of its account (docs/abuse.md).
#[derive(Debug)]
pub struct ScimCaller(pub Caller, pub Admission);

impl std::ops::Deref for ScimCaller {
    type Target = Caller;
    fn deref(&self) -> &Caller {
        &self.0
    }
}

impl FromRequestParts<AppState> for ScimCaller {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let scim = |e: DomainError| ScimApiError::from(e).into_response();
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| scim(DomainError::Unauthenticated("no account in path")))?;
        let account = params
            .iter()
            .find(|(k, _)| *k == "account")
            .map(|(_, v)| v.to_string())
            .ok_or_else(|| scim(DomainError::Unauthenticated("no account in path")))?;
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| scim(DomainError::Unauthenticated("missing Authorization header")))?;
        let token = header
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim())
            .ok_or_else(|| scim(DomainError::Unauthenticated("Authorization is not a Bearer credential")))?;
        // A JWS compact token is a JWT signed by the account's identity provider; anything
        // else is an API token (docs/contract.md §6).
        let credential = if crate::jwt::token::looks_like_jwt(token) {
            Credential::Jwt(token)
        } else {
            Credential::Token(token)
        };
        let (caller, admission) = gate(parts, state, &account, credential).await.map_err(|r| match r {
            Refused::Limited(l) => scim_limited(l),
            Refused::Denied(e) => scim(e),
        })?;
        Ok(ScimCaller(caller, admission))
    }
}

/// A presented credential.
#[derive(Clone, Copy)]
enum Credential<'a> {
    /// A JWT of the account's identity provider (SCIM only).
    Jwt(&'a str),
    /// An API token (`pat.`/`sat.`).
    Token(&'a str),
}

impl Credential<'_> {
    /// Whether this node verified it before and still holds it, without any lookup.
    fn known_good(self, state: &AppState, account: &str) -> bool {
        match self {
            Credential::Jwt(t) => state.jwt.is_remembered(t, account),
            Credential::Token(t) => state.auth.is_cached(t, account),
        }
    }

    async fn verify(self, state: &AppState, account: &str) -> Result<Caller, DomainError> {
        match self {
            Credential::Jwt(t) => state.jwt.authenticate(t, account).await,
            Credential::Token(t) => state.auth.authenticate_token(t, account).await,
        }
    }
}

/// Why a request did not get past [`gate`]; each API answers it in its own format.
enum Refused {
    /// A limit of docs/abuse.md (429).
    Limited(Refusal),
    /// The credential (401) or another failure.
    Denied(DomainError),
}

/// What every API does with a credential (docs/abuse.md): past the failed-authentication
/// threshold of this address only a credential already known to be good goes on (nothing is
/// looked up or verified for the others); a failed verification is counted; the verified
/// caller is recorded for the request's log line and admitted by its account's limits.
async fn gate(
    parts: &Parts,
    state: &AppState,
    account: &str,
    credential: Credential<'_>,
) -> Result<(Caller, Admission), Refused> {
    let ip = limits::client_ip(parts, state.config.trust_forwarded_for);
    if let Some(r) = state.limits.throttled(account, ip)
        && !credential.known_good(state, account)
    {
        return Err(Refused::Limited(r));
    }
    let caller = match credential.verify(state, account).await {
        Ok(c) => match parts.headers.get("x-request-id").and_then(|v| v.to_str().ok()) {
            Some(id) => c.with_request_id(id),
            None => c,
        },
        Err(e) => {
            if matches!(e, DomainError::Unauthenticated(_)) {
                state.limits.failed(account, ip);
            }
            return Err(Refused::Denied(e));
        }
    };
    if let Some(ctx) = parts.extensions.get::<RequestContext>() {
        ctx.set(&caller);
    }
    let admission = state.limits.admit(caller.account().as_str()).map_err(Refused::Limited)?;
    Ok((caller, admission))
}

/// 429 with `Retry-After` and a SCIM error.
fn scim_limited(r: Refusal) -> Response {
    let mut res = ScimApiError(scimgate_scim::ScimError::new(429, None, r.message())).into_response();
    retry_after(&mut res, r);
    res
}

fn retry_after(res: &mut Response, r: Refusal) {
    if let Ok(v) = HeaderValue::from_str(&r.retry_after().to_string()) {
        res.headers_mut().insert(header::RETRY_AFTER, v);
    }
}

/// A verified caller of the non-SCIM API (`x-api-key`), holding its in-flight slot.
#[derive(Debug)]
pub struct ApiCaller(pub Caller, pub Admission);

impl std::ops::Deref for ApiCaller {
    type Target = Caller;
    fn deref(&self) -> &Caller {
        &self.0
    }
}

#[derive(serde::Deserialize)]
struct AccountParam {
    #[serde(rename = "accountIdentifier")]
    account_identifier: Option<String>,
}

impl FromRequestParts<AppState> for ApiCaller {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let api = |e: DomainError| ApiError(e).into_response();
        let key = parts
            .headers
            .get("x-api-key")
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .ok_or_else(|| api(DomainError::Unauthenticated("missing x-api-key header")))?;
        let account = Query::<AccountParam>::try_from_uri(&parts.uri)
            .ok()
            .and_then(|q| q.0.account_identifier)
            .filter(|a| !a.is_empty())
            .ok_or_else(|| api(DomainError::invalid("the accountIdentifier query parameter is required")))?;
        let (caller, admission) =
            gate(parts, state, &account, Credential::Token(key)).await.map_err(|r| match r {
                Refused::Limited(l) => api_limited(l),
                Refused::Denied(e) => api(e),
            })?;
        Ok(ApiCaller(caller, admission))
    }
}

/// 429 with `Retry-After` and the error envelope.
fn api_limited(r: Refusal) -> Response {
    let mut res = crate::http::product_api::error_envelope(
        StatusCode::TOO_MANY_REQUESTS,
        "TOO_MANY_REQUESTS",
        &r.message(),
    );
    retry_after(&mut res, r);
    res
}
