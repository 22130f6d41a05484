//! Authentication extractors. SCIM routes take `Authorization: Bearer <token>` for the
//! account in the path; every other product route takes `x-api-key: <token>` for the account
//! in the `accountIdentifier` query parameter. Every failure is the same 401 to the caller;
//! the reason goes to the log.

use axum::extract::{FromRequestParts, Query, RawPathParams};
use axum::http::header;
use axum::http::request::Parts;
use scimgate_domain::DomainError;
use scimgate_domain::access::Caller;

use crate::http::error::ScimApiError;
use crate::http::product_api::ApiError;
use crate::state::AppState;

/// A verified SCIM caller. Handlers pass it to a service, which checks the permission the
/// operation needs.
#[derive(Debug, Clone)]
pub struct ScimCaller(pub Caller);

impl std::ops::Deref for ScimCaller {
    type Target = Caller;
    fn deref(&self) -> &Caller {
        &self.0
    }
}

impl FromRequestParts<AppState> for ScimCaller {
    type Rejection = ScimApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| DomainError::Unauthenticated("no account in path"))?;
        let account = params
            .iter()
            .find(|(k, _)| *k == "account")
            .map(|(_, v)| v.to_string())
            .ok_or(DomainError::Unauthenticated("no account in path"))?;
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or(DomainError::Unauthenticated("missing Authorization header"))?;
        let token = header
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim())
            .ok_or(DomainError::Unauthenticated("Authorization is not a Bearer credential"))?;
        // A JWS compact token is a JWT signed by the account's identity provider; anything
        // else is an API token (docs/contract.md §6).
        if crate::jwt::token::looks_like_jwt(token) {
            return Ok(ScimCaller(state.jwt.authenticate(token, &account).await?));
        }
        Ok(ScimCaller(state.auth.authenticate_token(token, &account).await?))
    }
}

/// A verified caller of the non-SCIM API (`x-api-key`).
#[derive(Debug, Clone)]
pub struct ApiCaller(pub Caller);

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
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let key = parts
            .headers
            .get("x-api-key")
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .ok_or(DomainError::Unauthenticated("missing x-api-key header"))?;
        let account = Query::<AccountParam>::try_from_uri(&parts.uri)
            .ok()
            .and_then(|q| q.0.account_identifier)
            .filter(|a| !a.is_empty())
            .ok_or_else(|| DomainError::invalid("the accountIdentifier query parameter is required"))?;
        Ok(ApiCaller(state.auth.authenticate_token(key, &account).await?))
    }
}
