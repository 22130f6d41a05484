//! One mapping from domain errors to HTTP (docs/design.md principle 1): internal errors are
//! logged and answered generically, never echoed.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use scimgate_domain::DomainError;
use scimgate_scim::ScimError;

/// `application/scim+json`.
pub const SCIM_JSON: &str = "application/scim+json";

/// A SCIM error response (RFC 7644 §3.12).
#[derive(Debug)]
pub struct ScimApiError(pub ScimError);

impl From<ScimError> for ScimApiError {
    fn from(e: ScimError) -> Self {
        Self(e)
    }
}

impl From<DomainError> for ScimApiError {
    fn from(e: DomainError) -> Self {
        Self(match e {
            DomainError::NotFound(m) => ScimError::not_found(m),
            DomainError::Conflict(m) => ScimError::uniqueness(m),
            DomainError::PreconditionFailed(v) => ScimError::new(
                412,
                None,
                format!("the resource has changed: If-Match {v} no longer matches; read it again"),
            ),
            DomainError::Invalid(e) => e,
            DomainError::Unauthenticated(reason) => {
                tracing::info!(reason, "authentication failed");
                unauthenticated()
            }
            DomainError::Forbidden(p) => ScimError::new(
                403,
                None,
                format!("missing permission {p}: the credential's roles do not grant it"),
            ),
            DomainError::ForbiddenMessage(m) => ScimError::new(403, None, m),
            DomainError::NotConfigured(m) => {
                tracing::info!(reason = %m, "authentication not configured");
                ScimError::new(401, None, m)
            }
            DomainError::FeatureDisabled(flag) => {
                tracing::info!(flag, "feature flag off");
                ScimError::new(403, None, format!("the feature flag {flag} is not enabled for this account"))
            }
            DomainError::Gone(m) => ScimError::new(410, None, m),
            DomainError::Timeout(m) => {
                tracing::warn!(error = %m, "statement time limit reached");
                ScimError::new(503, None, TIMEOUT_DETAIL)
            }
            DomainError::Unavailable(m) | DomainError::SerializationFailure(m) => {
                tracing::error!(error = %m, "database unavailable");
                ScimError::new(503, None, "the database is unavailable; retry shortly")
            }
            DomainError::VersionMismatch | DomainError::Internal(_) => {
                tracing::error!(error = %e, "internal error");
                ScimError::new(
                    500,
                    None,
                    "internal server error; the server log has details (see X-Request-Id)",
                )
            }
        })
    }
}

/// What a client is told when its request hit the statement time limit.
pub const TIMEOUT_DETAIL: &str = "the request took longer than this server allows (--db-statement-timeout) \
     and was stopped; narrow the filter or ask for a smaller page";

/// The generic 401 (the precise reason goes to the log only).
pub fn unauthenticated() -> ScimError {
    ScimError::new(
        401,
        None,
        "authentication failed: the bearer token is missing, invalid, expired or not for this account",
    )
}

impl IntoResponse for ScimApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut res = (status, self.0.to_json().to_string()).into_response();
        res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
        if status == StatusCode::UNAUTHORIZED {
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"scimgate\", error=\"invalid_token\""),
            );
        }
        res
    }
}

#[cfg(test)]
mod tests {
    use axum::response::IntoResponse;
    use scimgate_domain::DomainError;

    use super::ScimApiError;
    use crate::http::product_api::ApiError;

    /// docs/contract.md §3: a flag that gates an API is 403, a credential that cannot be
    /// accepted is 401, on the SCIM API and the product API alike.
    #[test]
    fn both_apis_answer_a_disabled_feature_and_an_unusable_credential_alike() {
        let cases: [(fn() -> DomainError, u16); 3] = [
            (|| DomainError::FeatureDisabled("NG_SETTINGS"), 403),
            (|| DomainError::NotConfigured("the feature flag X is not enabled for this account".into()), 401),
            (|| DomainError::Unauthenticated("unknown token id"), 401),
        ];
        for (error, status) in cases {
            let scim = ScimApiError::from(error()).into_response().status().as_u16();
            let product = ApiError(error()).into_response().status().as_u16();
            assert_eq!((scim, product), (status, status), "{:?}", error());
        }
    }

    /// Security review item 3: a statement stopped at the time limit is a 503 on both APIs
    /// with a message that says what to change, and the store's detail is not echoed.
    #[test]
    fn a_statement_timeout_is_503_saying_to_narrow_the_request() {
        let e = || DomainError::Timeout("statement timeout: interrupted (code 57014, SELECT ...)".into());
        let scim = ScimApiError::from(e());
        assert_eq!(scim.0.status, 503);
        assert!(
            scim.0.detail.contains("narrow the filter") && !scim.0.detail.contains("SELECT"),
            "{}",
            scim.0.detail
        );
        assert_eq!(ApiError(e()).into_response().status().as_u16(), 503);
    }
}
