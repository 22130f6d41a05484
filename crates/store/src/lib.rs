//! The storage traits of `scimgate-domain` implemented on SQL databases with sqlx: schema
//! migrations, row mapping, SCIM filter → SQL, and database errors → `DomainError`.
//!
//! Two backends, one implementation: the trait implementations live once, in the files under
//! `src/shared/`, written against a few aliases (`Db`, `DbRow`, `Store`, `DIALECT`, …). The
//! modules `sqlite` ([`SqliteStore`]) and `postgres` ([`PgStore`]) each define those aliases
//! and load the shared files as their own sub-modules (`#[path]`), so every query and method
//! body is written once and compiled twice. What differs between the SQL dialects is in the
//! module `dialect` (and, for SCIM filters, in [`query`]).

mod dialect;
mod postgres;
pub mod query;
mod sqlite;

pub use dialect::CHANGE_CHANNEL;
pub use postgres::PgStore;
pub use sqlite::SqliteStore;

use scimgate_domain::DomainError;
use time::OffsetDateTime;

/// Maps a sqlx error: unique violations become `Conflict`, everything else as [`internal`]
/// does (mostly `Internal`: logged by the HTTP layer, never shown to clients).
pub(crate) fn db_error(e: sqlx::Error, conflict: impl FnOnce() -> String) -> DomainError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => DomainError::Conflict(conflict()),
        _ => internal(e),
    }
}

/// The SQLSTATEs with which an engine aborts a transaction that the client should simply run
/// again: `serialization_failure` (SERIALIZABLE engines such as CockroachDB and YugabyteDB,
/// PostgreSQL at SERIALIZABLE or REPEATABLE READ) and `deadlock_detected`.
const RETRYABLE_SQLSTATES: [&str; 2] = ["40001", "40P01"];

/// Maps a sqlx error with no uniqueness meaning: an unreachable database is
/// `Unavailable` (503, retry later), a transaction the engine aborted as a serialization
/// failure or deadlock is `SerializationFailure` (the store's write transactions run it
/// again), anything else `Internal`.
pub(crate) fn internal(e: sqlx::Error) -> DomainError {
    match e {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::Tls(_) => {
            DomainError::Unavailable(e.to_string())
        }
        sqlx::Error::Database(ref d)
            if d.code().is_some_and(|c| RETRYABLE_SQLSTATES.contains(&c.as_ref())) =>
        {
            DomainError::SerializationFailure(e.to_string())
        }
        e => DomainError::Internal(e.to_string()),
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

/// Microseconds since the Unix epoch, as timestamps are stored.
pub(crate) fn us(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000) as i64
}

/// The inverse of [`us`].
pub(crate) fn from_us(v: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(v) * 1_000).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    /// The two migration folders are twins: same numbers and names, in the same order
    /// (docs/design.md). A migration added for one backend without the other fails here.
    #[test]
    fn migrations_are_twinned() {
        let list = |dir: &str| {
            let path = format!("{}/../../migrations/{dir}", env!("CARGO_MANIFEST_DIR"));
            let mut names: Vec<String> = std::fs::read_dir(&path)
                .unwrap_or_else(|e| panic!("{path}: {e}"))
                .map(|e| e.expect("entry").file_name().to_string_lossy().to_string())
                .collect();
            names.sort();
            names
        };
        let sqlite = list("sqlite");
        assert!(!sqlite.is_empty());
        assert_eq!(sqlite, list("postgres"));
        // Same tables on both sides.
        let tables = |dir: &str| {
            let mut t: Vec<String> = sqlite
                .iter()
                .flat_map(|f| {
                    let path = format!("{}/../../migrations/{dir}/{f}", env!("CARGO_MANIFEST_DIR"));
                    std::fs::read_to_string(path)
                        .expect("read")
                        .lines()
                        .filter_map(|l| {
                            l.trim()
                                .strip_prefix("CREATE TABLE ")
                                .map(|r| r.split_whitespace().next().unwrap_or("").to_string())
                        })
                        .collect::<Vec<_>>()
                })
                .collect();
            t.sort();
            t
        };
        assert_eq!(tables("sqlite"), tables("postgres"));
    }
}
