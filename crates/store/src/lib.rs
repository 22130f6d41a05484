//! The storage traits of `scimgate-domain` implemented on SQL databases with sqlx: schema
//! migrations, row mapping, SCIM filter → SQL, and database errors → `DomainError`.
//!
//! Two backends, one implementation: the trait implementations live once, in the files under
//! `src/shared/`, written against a few aliases (`Db`, `DbRow`, `Store`, `DIALECT`, …). The
//! modules `sqlite` ([`SqliteStore`]) and `postgres` ([`PgStore`]) each define those aliases
//! and load the shared files as their own sub-modules (`#[path]`), so every query and method
//! body is written once and compiled twice. What differs between the SQL dialects is in the
//! module `dialect` (and, for SCIM filters, in [`query`]); database errors become `DomainError`
//! in the module `error`.

mod dialect;
mod error;
mod fold;
mod postgres;
pub mod query;
pub(crate) mod segment;
mod sqlite;

pub use dialect::CHANGE_CHANNEL;
pub use fold::fold;
pub use postgres::PgStore;
pub use sqlite::SqliteStore;

pub(crate) use error::{DbResultExt, migrate_error, write_error};
use std::time::Duration;
use time::OffsetDateTime;

/// The statement time limit of [`StoreOptions::default`]: 10 s.
pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(10);

/// How a store opens its database: the pool and the time limits
/// ([`SqliteStore::open_with_options`], [`PgStore::open_with_options`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreOptions {
    /// Connections in the pool at most (at least 1; an in-memory SQLite database always has
    /// exactly one).
    pub max_connections: u32,
    /// How long a statement waits for a free connection before it fails as `Unavailable`.
    pub acquire_timeout: Duration,
    /// How long a statement may run before the database interrupts it (`None`: no limit); an
    /// interrupted statement fails as `Unavailable` with a message that starts with
    /// "statement timeout", and its connection stays usable.
    ///
    /// PostgreSQL: the session's `statement_timeout`, set on every connection of the pool, so
    /// it bounds every statement (migrations run without it). SQLite has no such setting: a
    /// progress handler interrupts the statements of SCIM lists and searches and of the paged
    /// product-API lists — the statements that a client's filter or search makes expensive —
    /// once the limit has passed since they got their connection (the page and its total
    /// share one limit there); other statements are lookups by key and run unbounded.
    pub statement_timeout: Option<Duration>,
}

impl Default for StoreOptions {
    /// 8 connections, sqlx's acquire timeout (30 s), [`DEFAULT_STATEMENT_TIMEOUT`].
    fn default() -> Self {
        Self {
            max_connections: 8,
            acquire_timeout: Duration::from_secs(30),
            statement_timeout: Some(DEFAULT_STATEMENT_TIMEOUT),
        }
    }
}

/// Microseconds since the Unix epoch, as timestamps are stored.
pub(crate) fn micros(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000) as i64
}

/// The inverse of [`us`].
pub(crate) fn from_micros(v: i64) -> OffsetDateTime {
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
