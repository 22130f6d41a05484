//! Authentication on SCIM routes: `Authorization: Bearer <pat|sat token>` for the account in
//! the path. Every failure is the same 401 to the caller; the reason goes to the log.

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::header;
use axum::http::request::Parts;
use scimgate_domain::token::PresentedToken;
use scimgate_domain::{AccountId, DomainError};

use crate::http::error::ScimApiError;
use crate::state::AppState;

/// Proof that the request carries a valid credential for `account`. Handlers obtain it
/// before they can call a service.
#[derive(Debug, Clone)]
pub struct ScimCaller {
    /// The account from the path, which the credential belongs to.
    pub account: AccountId,
    /// The user or service account the token acts for.
    pub principal_id: String,
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
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .ok_or(DomainError::Unauthenticated("Authorization is not a Bearer credential"))?;
        let presented =
            PresentedToken::parse(token).ok_or(DomainError::Unauthenticated("malformed bearer token"))?;
        // A credential of account A on account B's path is 401 and never reveals whether B
        // exists (contract.md §3).
        if presented.account != account {
            return Err(DomainError::Unauthenticated("token is for another account").into());
        }
        let account =
            AccountId::parse(&account).map_err(|_| DomainError::Unauthenticated("invalid account"))?;
        let stored = state
            .accounts
            .get_token(&presented.token_id)
            .await?
            .ok_or(DomainError::Unauthenticated("unknown token id"))?;
        stored.verify(&presented, state.clock.now())?;
        Ok(ScimCaller { account, principal_id: stored.principal_id })
    }
}
