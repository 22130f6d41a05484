//! The domain error: every failure a service or store can report.

use scimgate_scim::ScimError;

/// Errors of the domain layer. The HTTP layer maps each to a status in one place.
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// The resource does not exist in this account.
    #[error("{0}")]
    NotFound(String),
    /// A uniqueness rule was violated (enforced by the database).
    #[error("{0}")]
    Conflict(String),
    /// The resource changed since the version the client named (If-Match).
    #[error("the resource was modified: its version is no longer {0}")]
    PreconditionFailed(String),
    /// An optimistic write lost a race; the service retries.
    #[error("concurrent modification")]
    VersionMismatch,
    /// The request is invalid; carries the SCIM error to answer.
    #[error("{0}")]
    Invalid(ScimError),
    /// The credential is missing, malformed, unknown, expired or for another account.
    #[error("{0}")]
    Unauthenticated(&'static str),
    /// A valid credential that lacks a permission (403; the permission is named).
    #[error("missing permission {0}")]
    Forbidden(crate::access::Permission),
    /// A valid credential that may not do this for another reason (403).
    #[error("{0}")]
    ForbiddenMessage(String),
    /// A credential kind the account has not set up or not enabled (401 on every API: the
    /// credential cannot be accepted; the message says what is missing and reveals nothing
    /// about keys).
    #[error("{0}")]
    NotConfigured(String),
    /// A feature an authenticated caller asked for is behind a flag that is off for the
    /// account (403 on every API: who the caller is is settled, the feature is not there).
    #[error("feature flag {0} is not enabled for this account")]
    FeatureDisabled(&'static str),
    /// What was asked for is no longer kept (410; an events cursor older than the event
    /// retention). The message says how to start over.
    #[error("{0}")]
    Gone(String),
    /// The database cannot be reached right now (503; the client may retry).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A statement ran longer than the server's statement time limit and was interrupted
    /// (503; retrying the same request will not help: the message says to narrow it).
    #[error("statement timeout: {0}")]
    Timeout(String),
    /// A transaction lost a serialization race; the store retries it.
    #[error("serialization failure: {0}")]
    SerializationFailure(String),
    /// Storage or another internal failure. The text is logged, never sent to clients.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<ScimError> for DomainError {
    fn from(e: ScimError) -> Self {
        DomainError::Invalid(e)
    }
}

impl DomainError {
    /// An invalid request (400 `invalidValue` / `INVALID_REQUEST`).
    pub fn invalid(msg: impl Into<String>) -> Self {
        DomainError::Invalid(ScimError::invalid_value(msg))
    }
}
