//! Database errors → `DomainError`: the one mapping of sqlx errors every statement of the
//! store goes through ([`DbResultExt`]), and the mapping of migration errors.

use scimgate_domain::DomainError;

/// The SQLSTATEs with which an engine aborts a transaction that the client should simply run
/// again: `serialization_failure` (SERIALIZABLE engines such as CockroachDB and YugabyteDB,
/// PostgreSQL at SERIALIZABLE or REPEATABLE READ) and `deadlock_detected`.
const RETRYABLE_SQLSTATES: [&str; 2] = ["40001", "40P01"];

/// The codes with which an engine reports a statement it interrupted: SQLite's
/// `SQLITE_INTERRUPT` (9, the progress handler of the statement time limit gave up) and
/// PostgreSQL's `query_canceled` (57014: `statement_timeout`, or a cancel request).
const INTERRUPTED_CODES: [&str; 2] = ["9", "57014"];

/// How the message of an interrupted statement's `Unavailable` starts.
pub(crate) const STATEMENT_TIMEOUT: &str = "statement timeout";

/// Maps a sqlx error with no uniqueness meaning: an unreachable database is
/// `Unavailable` (503, retry later), and so is a statement the database interrupted at the
/// statement time limit (the message starts with [`STATEMENT_TIMEOUT`]); a transaction the
/// engine aborted as a serialization failure or deadlock is `SerializationFailure` (the
/// store's write transactions run it again), anything else `Internal`.
pub(crate) fn internal(e: sqlx::Error) -> DomainError {
    match e {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::Tls(_) => {
            DomainError::Unavailable(e.to_string())
        }
        sqlx::Error::Database(ref d) if d.code().is_some_and(|c| INTERRUPTED_CODES.contains(&c.as_ref())) => {
            DomainError::Timeout(format!(
                "{STATEMENT_TIMEOUT}: the statement ran longer than the store's time limit and was \
                 interrupted ({e})"
            ))
        }
        sqlx::Error::Database(ref d)
            if d.code().is_some_and(|c| RETRYABLE_SQLSTATES.contains(&c.as_ref())) =>
        {
            DomainError::SerializationFailure(e.to_string())
        }
        e => DomainError::Internal(e.to_string()),
    }
}

/// Maps a sqlx error: unique violations become `Conflict(conflict)`, everything else as
/// [`internal`] does (mostly `Internal`: logged by the HTTP layer, never shown to clients).
pub(crate) fn unique_error(e: sqlx::Error, conflict: impl FnOnce() -> String) -> DomainError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => DomainError::Conflict(conflict()),
        _ => internal(e),
    }
}

/// Maps the error of a write: a foreign-key violation becomes `NotFound(missing)` (the parent
/// row does not exist), everything else as [`unique_error`] does.
pub(crate) fn write_error(
    e: sqlx::Error,
    conflict: impl FnOnce() -> String,
    missing: impl FnOnce() -> String,
) -> DomainError {
    match &e {
        sqlx::Error::Database(d) if d.is_foreign_key_violation() => DomainError::NotFound(missing()),
        _ => unique_error(e, conflict),
    }
}

/// The outcome of a sqlx call, with its error mapped to `DomainError`.
pub(crate) trait DbResultExt<T> {
    /// The error as [`internal`] maps it (`Unavailable`, `SerializationFailure` or `Internal`).
    fn db(self) -> Result<T, DomainError>;
    /// A unique violation as `Conflict(conflict())`, any other error as [`DbResultExt::db`].
    fn on_unique(self, conflict: impl FnOnce() -> String) -> Result<T, DomainError>;
    /// A unique violation as `Conflict(conflict())`, a foreign-key violation as
    /// `NotFound(missing())`, any other error as [`DbResultExt::db`].
    fn on_write(
        self,
        conflict: impl FnOnce() -> String,
        missing: impl FnOnce() -> String,
    ) -> Result<T, DomainError>;
}

impl<T> DbResultExt<T> for Result<T, sqlx::Error> {
    fn db(self) -> Result<T, DomainError> {
        self.map_err(internal)
    }

    fn on_unique(self, conflict: impl FnOnce() -> String) -> Result<T, DomainError> {
        self.map_err(|e| unique_error(e, conflict))
    }

    fn on_write(
        self,
        conflict: impl FnOnce() -> String,
        missing: impl FnOnce() -> String,
    ) -> Result<T, DomainError> {
        self.map_err(|e| write_error(e, conflict, missing))
    }
}

/// Maps a migration error; a migration the database has but this binary does not know means
/// the database was written by a newer scimgate.
pub(crate) fn migrate_error(
    migrator: &sqlx::migrate::Migrator,
    e: sqlx::migrate::MigrateError,
) -> DomainError {
    match e {
        sqlx::migrate::MigrateError::VersionMissing(v) => DomainError::Internal(format!(
            "the database has schema migration {v}, which this scimgate binary does not know: \
             the database was written by a newer scimgate; upgrade scimgate (newest known migration: {})",
            migrator.iter().map(|m| m.version).max().unwrap_or(0)
        )),
        other => DomainError::Internal(format!("database migration failed: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_errors_are_unavailable_and_others_internal() {
        let got: Result<(), _> = Err::<(), _>(sqlx::Error::PoolTimedOut).db();
        assert!(matches!(got, Err(DomainError::Unavailable(_))), "{got:?}");
        let got = Err::<(), _>(sqlx::Error::RowNotFound).on_unique(|| "taken".into());
        assert!(matches!(got, Err(DomainError::Internal(_))), "{got:?}");
        let got = Err::<(), _>(sqlx::Error::PoolClosed).on_write(|| "taken".into(), || "gone".into());
        assert!(matches!(got, Err(DomainError::Unavailable(_))), "{got:?}");
        assert_eq!(Ok::<_, sqlx::Error>(7).db().expect("ok"), 7);
    }
}
