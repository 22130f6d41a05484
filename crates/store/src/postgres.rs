//! PostgreSQL (and wire-compatible engines): migrations embedded and run at open. The store
//! traits are the shared implementation (`src/shared/`), compiled here with this module's
//! aliases.

use std::str::FromStr;
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use scimgate_domain::DomainError;

use crate::migrate_error;
use crate::query::Dialect;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/postgres");

/// The PostgreSQL implementation of every store trait.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

// The aliases the shared implementation is written against.
/// The database of this backend.
type Db = sqlx::Postgres;
/// A row of [`Db`].
type DbRow = sqlx::postgres::PgRow;
/// A connection to [`Db`].
type DbConn = sqlx::PgConnection;
/// What executing a statement on [`Db`] returns.
type DbQueryResult = sqlx::postgres::PgQueryResult;
/// The store the shared trait implementations are for.
type Store = PgStore;
/// The SQL dialect of [`Db`].
const DIALECT: Dialect = Dialect::Postgres;

// The shared implementation, loaded as sub-modules of this backend. Each file is loaded once
// per backend on purpose: that is what compiles one implementation for both databases.
#[allow(clippy::duplicate_mod, reason = "compiled once per backend")]
#[path = "shared/accounts.rs"]
mod accounts;
#[allow(clippy::duplicate_mod, reason = "compiled once per backend")]
#[path = "shared/api_keys.rs"]
mod api_keys;
#[allow(clippy::duplicate_mod, reason = "compiled once per backend")]
#[path = "shared/changes.rs"]
mod changes;
#[allow(clippy::duplicate_mod, reason = "compiled once per backend")]
#[path = "shared/common.rs"]
mod common;
#[allow(clippy::duplicate_mod, reason = "compiled once per backend")]
#[path = "shared/feature_flags.rs"]
mod feature_flags;
#[cfg(test)]
#[allow(clippy::duplicate_mod, reason = "compiled once per backend")]
#[path = "shared/fixtures.rs"]
mod fixtures;
#[allow(clippy::duplicate_mod, reason = "compiled once per backend")]
#[path = "shared/memberships.rs"]
mod memberships;
#[allow(clippy::duplicate_mod, reason = "compiled once per backend")]
#[path = "shared/organizations.rs"]
mod organizations;
#[allow(clippy::duplicate_mod, reason = "compiled once per backend")]
#[path = "shared/resources.rs"]
mod resources;
#[allow(clippy::duplicate_mod, reason = "compiled once per backend")]
#[path = "shared/role_assignments.rs"]
mod role_assignments;
#[allow(clippy::duplicate_mod, reason = "compiled once per backend")]
#[path = "shared/roles.rs"]
mod roles;
#[allow(clippy::duplicate_mod, reason = "compiled once per backend")]
#[path = "shared/rows.rs"]
mod rows;
#[allow(clippy::duplicate_mod, reason = "compiled once per backend")]
#[path = "shared/secrets.rs"]
mod secrets;

#[path = "shared/service_accounts.rs"]
mod service_accounts;
#[allow(clippy::duplicate_mod, reason = "compiled once per backend")]
#[path = "shared/settings.rs"]
mod settings;

impl PgStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/database?…`)
    /// with a pool of up to `max_connections` that waits up to `acquire_timeout` for a free
    /// connection, and applies the migrations it lacks.
    pub async fn open(
        url: &str,
        max_connections: u32,
        acquire_timeout: Duration,
    ) -> Result<Self, DomainError> {
        // The URL may hold a password: never repeat it in an error.
        let opts = PgConnectOptions::from_str(url)
            .map_err(|e| DomainError::Internal(format!("invalid PostgreSQL URL: {e}")))?;
        Self::open_with_options(opts, max_connections, acquire_timeout).await
    }

    /// [`PgStore::open`] with connection options already parsed (search path, TLS, …).
    pub(crate) async fn open_with_options(
        opts: PgConnectOptions,
        max_connections: u32,
        acquire_timeout: Duration,
    ) -> Result<Self, DomainError> {
        let target = format!("{}:{}/{}", opts.get_host(), opts.get_port(), opts.get_database().unwrap_or(""));
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(acquire_timeout)
            .connect_with(opts)
            .await
            .map_err(|e| DomainError::Internal(format!("cannot connect to database '{target}': {e}")))?;
        MIGRATOR.run(&pool).await.map_err(|e| migrate_error(&MIGRATOR, e))?;
        let store = Self { pool };
        store.backfill_folded().await?;
        Ok(store)
    }

    /// The pool, for tests and tools.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// Connection options for a fresh schema in the database at `TEST_DATABASE_URL`, or `None`
/// (the test is skipped) when that variable is not set; a panic instead when `CI` is set.
#[cfg(test)]
async fn test_options() -> Option<PgConnectOptions> {
    use sqlx::Connection;

    let Ok(url) = std::env::var("TEST_DATABASE_URL") else {
        // In CI a missing database must not turn into a pass that ran nothing.
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but TEST_DATABASE_URL is not: this PostgreSQL test would pass without running \
             (.ci/run starts a cluster and sets both; unset CI to run on SQLite only)"
        );
        eprintln!("TEST_DATABASE_URL is not set: skipping the PostgreSQL run of this test");
        return None;
    };
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(&url).await.expect("connect to TEST_DATABASE_URL");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&mut conn)
        .await
        .expect("create schema");
    conn.close().await.expect("close");
    Some(PgConnectOptions::from_str(&url).expect("url").options([("search_path", schema.as_str())]))
}

/// The store the shared tests run on: a fresh schema in the database at `TEST_DATABASE_URL`,
/// or `None` (the test is skipped) when that variable is not set.
#[cfg(test)]
async fn test_store() -> Option<Store> {
    let opts = test_options().await?;
    Some(PgStore::open_with_options(opts, 4, Duration::from_secs(30)).await.expect("open"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_database_from_a_newer_scimgate_is_refused() {
        let Some(opts) = test_options().await else { return };
        let store = PgStore::open_with_options(opts.clone(), 1, Duration::from_secs(30)).await.expect("open");
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (99990101000000, 'from the future', TRUE, '\\x00'::bytea, 0)",
        )
        .execute(store.pool())
        .await
        .expect("insert");
        store.pool().close().await;
        match PgStore::open_with_options(opts, 1, Duration::from_secs(30)).await {
            Err(DomainError::Internal(m)) => {
                assert!(m.contains("99990101000000") && m.contains("written by a newer scimgate"), "{m}")
            }
            other => panic!("expected the newer-schema error, got {other:?}"),
        }
    }

    /// Security review item 11 (d): a database written before migration 0002 gets its shadow
    /// values folded when the store opens it, and keeps working.
    #[tokio::test]
    async fn a_database_from_before_folding_is_folded_at_open() {
        let Some(opts) = test_options().await else { return };
        let pool = PgPool::connect_with(opts.clone()).await.expect("connect");
        fixtures::legacy::migrator_before(2).run(&pool).await.expect("migration 0001");
        fixtures::legacy::write_rows_before_folding(&pool).await;
        pool.close().await;
        let store = PgStore::open_with_options(opts, 2, Duration::from_secs(30)).await.expect("open");
        fixtures::legacy::assert_rows_folded(&store).await;
    }

    #[tokio::test]
    async fn connection_errors_do_not_repeat_the_password() {
        let err =
            PgStore::open("postgres://scimgate:hunter2@127.0.0.1:1/scimgate", 1, Duration::from_secs(1))
                .await
                .expect_err("nothing listens on port 1");
        let DomainError::Internal(m) = err else { panic!("{err:?}") };
        assert!(
            m.starts_with("cannot connect to database '127.0.0.1:1/scimgate'") && !m.contains("hunter2"),
            "{m}"
        );
        let err = PgStore::open("postgres://scimgate:hunter2@db:port/x", 1, Duration::from_secs(1))
            .await
            .expect_err("not a URL");
        let DomainError::Internal(m) = err else { panic!("{err:?}") };
        assert!(m.starts_with("invalid PostgreSQL URL") && !m.contains("hunter2"), "{m}");
    }
}
