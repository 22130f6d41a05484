//! The storage traits of `scimgate-domain` implemented on SQL databases with sqlx: schema
//! migrations, row mapping, SCIM filter → SQL, and database errors → `DomainError`.

mod access;
pub mod query;
mod settings;
mod sqlite;

pub use sqlite::SqliteStore;

use scimgate_domain::DomainError;

/// Maps a sqlx error: unique violations become `Conflict`, everything else `Internal` (logged
/// by the HTTP layer, never shown to clients).
pub(crate) fn db_error(e: sqlx::Error, conflict: impl FnOnce() -> String) -> DomainError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => DomainError::Conflict(conflict()),
        _ => DomainError::Internal(e.to_string()),
    }
}

/// Maps a sqlx error with no uniqueness meaning.
pub(crate) fn internal(e: sqlx::Error) -> DomainError {
    DomainError::Internal(e.to_string())
}
