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
    /// Storage or another internal failure. The text is logged, never sent to clients.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<ScimError> for DomainError {
    fn from(e: ScimError) -> Self {
        DomainError::Invalid(e)
    }
}
