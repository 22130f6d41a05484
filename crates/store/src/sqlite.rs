//! SQLite: WAL, foreign keys on, migrations embedded and run at open, a progress handler as
//! the statement time limit. The store traits are the shared implementation (`src/shared/`),
//! compiled here with this module's aliases.

use std::ops::{Deref, DerefMut};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sqlx::SqlitePool;
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions, SqliteSynchronous};

use scimgate_domain::DomainError;

use crate::query::Dialect;
use crate::{DbResultExt, StoreOptions, migrate_error};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sqlite");

/// The SQLite implementation of every store trait.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// Whose turn it is to write, in this process. SQLite takes one writer at a time; without
    /// a queue here, writers that find the lock taken poll for it with SQLite's busy handler,
    /// which sleeps 1, 2, 5, 10, … up to 100 ms between tries, so a write under load waited
    /// hundreds of milliseconds at p99 with the lock free most of that time. Writers of this
    /// process wait here in order instead; other processes on the same file still meet the
    /// busy handler.
    writer: std::sync::Arc<tokio::sync::Mutex<()>>,
    /// [`StoreOptions::statement_timeout`], which [`SqliteStore::limited`] applies.
    statement_timeout: Option<Duration>,
}

// The aliases the shared implementation is written against.
/// The database of this backend.
type Db = sqlx::Sqlite;
/// A row of [`Db`].
type DbRow = sqlx::sqlite::SqliteRow;
/// A connection to [`Db`].
type DbConn = sqlx::SqliteConnection;
/// What executing a statement on [`Db`] returns.
type DbQueryResult = sqlx::sqlite::SqliteQueryResult;
/// The store the shared trait implementations are for.
type Store = SqliteStore;
/// The SQL dialect of [`Db`].
const DIALECT: Dialect = Dialect::Sqlite;

// The shared implementation, loaded as sub-modules of this backend. Each file is loaded once
// per backend on purpose: that is what compiles one implementation for both databases.
#[allow(clippy::duplicate_mod, reason = "compiled once per backend")]
#[path = "shared/accounts.rs"]
mod accounts;
#[allow(clippy::duplicate_mod, reason = "compiled once per backend")]
#[path = "shared/api_keys.rs"]
mod api_keys;
#[allow(clippy::duplicate_mod, reason = "compiled once per backend")]
#[path = "shared/audit.rs"]
mod audit;
#[allow(clippy::duplicate_mod, reason = "compiled once per backend")]
#[path = "shared/changes.rs"]
mod changes;
#[allow(clippy::duplicate_mod, reason = "compiled once per backend")]
#[path = "shared/common.rs"]
mod common;
#[allow(clippy::duplicate_mod, reason = "compiled once per backend")]
#[path = "shared/events.rs"]
mod events;
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
#[path = "shared/request_log.rs"]
mod request_log;
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
#[allow(clippy::duplicate_mod, reason = "compiled once per backend")]
#[path = "shared/service_accounts.rs"]
mod service_accounts;
#[allow(clippy::duplicate_mod, reason = "compiled once per backend")]
#[path = "shared/settings.rs"]
mod settings;
#[allow(clippy::duplicate_mod, reason = "compiled once per backend")]
#[path = "shared/webhooks.rs"]
mod webhooks;

impl SqliteStore {
    /// This process's turn to write (see [`SqliteStore::writer`]), held for one write
    /// transaction (`write_tx!`).
    pub(crate) async fn writer_turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        Some(self.writer.lock().await)
    }

    /// Opens (creating if `mode=rwc`) and migrates the database at `url`, with the
    /// [`StoreOptions::default`]: up to 8 connections (1 for an in-memory database), sqlx's
    /// default acquire timeout (30 s), a 10 s statement time limit.
    pub async fn open(url: &str) -> Result<Self, DomainError> {
        Self::open_with_options(url, &StoreOptions::default()).await
    }

    /// Opens (creating if `mode=rwc`) and migrates the database at `url`, with a pool of up to
    /// `max_connections` that waits up to `acquire_timeout` for a free connection, and the
    /// default statement time limit. An in-memory database exists per connection, so it always
    /// gets exactly one.
    pub async fn open_with(
        url: &str,
        max_connections: u32,
        acquire_timeout: Duration,
    ) -> Result<Self, DomainError> {
        Self::open_with_options(
            url,
            &StoreOptions { max_connections, acquire_timeout, ..StoreOptions::default() },
        )
        .await
    }

    /// Opens (creating if `mode=rwc`), migrates and completes (the folded shadow values) the
    /// database at `url`, with the pool and time limits of `options`.
    pub async fn open_with_options(url: &str, options: &StoreOptions) -> Result<Self, DomainError> {
        let StoreOptions { max_connections, acquire_timeout, statement_timeout } = *options;
        // No journal_mode on the pool's connections: switching it needs a lock that
        // busy_timeout cannot wait for, so a connection opened while another one writes (the
        // pool growing during a migration, a second node starting) would fail with "database
        // is locked". WAL is a property of the database file: set it once, below.
        let opts = SqliteConnectOptions::from_str(url)
            .map_err(|e| DomainError::Internal(format!("invalid SQLite URL '{url}': {e}")))?
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        if !in_memory {
            ensure_wal(&opts)
                .await
                .map_err(|e| DomainError::Internal(format!("cannot open database '{url}': {e}")))?;
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(if in_memory { 1 } else { max_connections.max(1) })
            .acquire_timeout(acquire_timeout)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(opts)
            .await
            .map_err(|e| DomainError::Internal(format!("cannot open database '{url}': {e}")))?;
        // SQLite has no migration lock: two processes opening a fresh file at once (two nodes,
        // or `account create` beside a starting server) both try to apply a migration, and the
        // later one fails once the first has committed. Running again sees it applied; a real
        // failure fails every time.
        let mut attempt = 0;
        loop {
            match MIGRATOR.run(&pool).await {
                Ok(()) => break,
                Err(
                    e @ (sqlx::migrate::MigrateError::Execute(_)
                    | sqlx::migrate::MigrateError::ExecuteMigration(..)),
                ) if attempt < 5 => {
                    tracing::debug!(error = %e, "migration raced with another process; running it again");
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(20 * attempt)).await;
                }
                Err(e) => return Err(migrate_error(&MIGRATOR, e)),
            }
        }
        let store =
            Self { pool, statement_timeout, writer: std::sync::Arc::new(tokio::sync::Mutex::new(())) };
        store.backfill_folded().await?;
        Ok(store)
    }

    /// A connection of the pool whose statements SQLite interrupts once the statement time
    /// limit has passed since it was handed out (`SQLITE_INTERRUPT`, mapped to `Unavailable`
    /// "statement timeout…"); for the statements a client can make expensive (see
    /// [`StoreOptions::statement_timeout`]).
    ///
    /// Arming costs one round trip to the connection's worker thread (it installs a progress
    /// handler with this deadline, replacing the last one), which is why it is not done for
    /// every statement. Dropping the [`Limited`] disarms the handler without a round trip, so
    /// later users of the connection are never interrupted by this deadline.
    async fn limited(&self) -> Result<Limited, DomainError> {
        let mut conn = self.pool.acquire().await.db()?;
        let armed = match self.statement_timeout {
            Some(limit) => {
                let armed = Arc::new(AtomicBool::new(true));
                let still_armed = Arc::clone(&armed);
                let deadline = Instant::now() + limit;
                conn.lock_handle().await.db()?.set_progress_handler(PROGRESS_OPS, move || {
                    !still_armed.load(Ordering::Relaxed) || Instant::now() < deadline
                });
                Some(armed)
            }
            None => None,
        };
        Ok(Limited { conn, armed })
    }

    /// The pool, for tests and tools.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

/// How many virtual-machine instructions SQLite runs between two calls of the progress
/// handler of [`SqliteStore::limited`]: a deadline check (a clock read) every few microseconds
/// of work.
const PROGRESS_OPS: i32 = 1000;

/// A connection from [`SqliteStore::limited`]: a pooled connection whose statements are
/// interrupted past a deadline until it is dropped.
struct Limited {
    conn: PoolConnection<sqlx::Sqlite>,
    /// Whether the deadline still applies (`None`: no time limit).
    armed: Option<Arc<AtomicBool>>,
}

impl Drop for Limited {
    fn drop(&mut self) {
        if let Some(armed) = &self.armed {
            armed.store(false, Ordering::Relaxed);
        }
    }
}

impl Deref for Limited {
    type Target = DbConn;
    fn deref(&self) -> &DbConn {
        &self.conn
    }
}

impl DerefMut for Limited {
    fn deref_mut(&mut self) -> &mut DbConn {
        &mut self.conn
    }
}

/// Puts the database file in WAL mode once, on a connection of its own. Another process may
/// hold a lock for a moment (a second node starting on the same file): retry for a while,
/// and accept a file that some other connection already switched.
async fn ensure_wal(opts: &SqliteConnectOptions) -> Result<(), sqlx::Error> {
    use sqlx::ConnectOptions;
    let mut conn = opts.connect().await?;
    let mut last = None;
    for _ in 0..100 {
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(&mut conn).await?;
        if mode.eq_ignore_ascii_case("wal") {
            return Ok(());
        }
        match sqlx::query_scalar::<_, String>("PRAGMA journal_mode = WAL").fetch_one(&mut conn).await {
            Ok(m) if m.eq_ignore_ascii_case("wal") => return Ok(()),
            Ok(m) => last = Some(sqlx::Error::Protocol(format!("journal_mode stayed '{m}'"))),
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(last.unwrap_or_else(|| sqlx::Error::Protocol("cannot switch to WAL".into())))
}

/// The store the shared tests run on: a fresh in-memory database.
#[cfg(test)]
async fn test_store() -> Option<Store> {
    test_store_with(&StoreOptions::default()).await
}

/// [`test_store`] with these options (an in-memory database has one connection whatever
/// `max_connections` says).
#[cfg(test)]
async fn test_store_with(options: &StoreOptions) -> Option<Store> {
    Some(SqliteStore::open_with_options("sqlite::memory:", options).await.expect("open"))
}

/// A store on a file database that ran the migrations up to `version`, then `sql`, and then
/// the rest when the store opened it (an upgrade with data in the older schema).
#[cfg(test)]
async fn test_store_upgraded(version: i64, sql: &'static str) -> Option<Store> {
    let dir = tempfile::tempdir().expect("tmp").keep();
    let url = format!("sqlite://{}?mode=rwc", dir.join("upgraded.db").display());
    let pool = sqlx::SqlitePool::connect(&url).await.expect("open");
    MIGRATOR.run_to(version, &pool).await.expect("migrate");
    sqlx::raw_sql(sql).execute(&pool).await.expect("seed");
    pool.close().await;
    Some(SqliteStore::open(&url).await.expect("open"))
}

/// SQLite's query plans for the statements the indexes were designed for.
#[cfg(test)]
mod tests {
    use super::*;

    /// A file database is in WAL mode, and several pools (nodes) can open it at the same time.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn file_databases_use_wal_and_open_concurrently() {
        let dir = tempfile::tempdir().expect("tmp");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("w.db").display());
        let opens: Vec<_> = (0..4)
            .map(|_| {
                let url = url.clone();
                tokio::spawn(async move { SqliteStore::open(&url).await })
            })
            .collect();
        for handle in opens {
            let store = handle.await.expect("join").expect("open");
            let mode: String =
                sqlx::query_scalar("PRAGMA journal_mode").fetch_one(store.pool()).await.expect("pragma");
            assert_eq!(mode, "wal");
        }
    }
    use crate::query::{Param, SqlBuf, filter_sql, write_filter};
    use common::bind_all;
    use resources::table;
    use scimgate_scim::filter::parse_filter;
    use scimgate_scim::schema::ResourceKind;
    use sqlx::Row;

    /// The SQL of a filter, as the store would run it, and SQLite's plan for it.
    async fn plan(store: &SqliteStore, kind: ResourceKind, filter: &str) -> String {
        let f = parse_filter(filter).expect("filter");
        let mut sql = SqlBuf::default();
        sql.push(&format!("EXPLAIN QUERY PLAN SELECT r.id FROM {} r WHERE r.account_id = ", table(kind)));
        sql.bind(Param::Text("a".into()));
        sql.push(" AND ");
        write_filter(&mut sql, DIALECT, kind, &f).expect("sql");
        let rows = bind_all(sqlx::query(sqlx::AssertSqlSafe(sql.sql)), &sql.params)
            .fetch_all(store.pool())
            .await
            .expect("plan");
        rows.iter()
            .map(|r| r.try_get::<String, _>("detail").unwrap_or_default())
            .collect::<Vec<_>>()
            .join("; ")
    }

    #[tokio::test]
    async fn equality_filters_use_indexes() {
        let store = SqliteStore::open("sqlite::memory:").await.expect("open");
        let p = plan(&store, ResourceKind::User, r#"userName eq "Bob@Example.com""#).await;
        assert!(p.contains("USING INDEX scim_users_user_name (account_id=? AND user_name_lower=?)"), "{p}");
        let p = plan(&store, ResourceKind::User, r#"externalId eq "e1""#).await;
        assert!(p.contains("USING INDEX scim_users_external_id (account_id=? AND external_id=?)"), "{p}");
        let p = plan(&store, ResourceKind::Group, r#"displayName eq "Ops""#).await;
        assert!(
            p.contains("USING INDEX scim_groups_display_name (account_id=? AND display_name_lower=?)"),
            "{p}"
        );
        let p = plan(&store, ResourceKind::User, r#"displayName eq "Öz""#).await;
        assert!(
            p.contains("USING INDEX scim_users_display_name (account_id=? AND display_name_folded=?)"),
            "{p}"
        );
        let p = plan(&store, ResourceKind::User, r#"id eq "x""#).await;
        assert!(p.contains("(id=?)") || p.contains("AND id=?)"), "{p}");
    }

    #[test]
    fn values_are_bound_never_spliced() {
        let f =
            parse_filter(r#"userName eq "x' OR 1=1 --" or name.givenName co "'; DROP TABLE scim_users; --""#)
                .expect("filter");
        for dialect in [Dialect::Sqlite, Dialect::Postgres] {
            let sql = filter_sql(dialect, ResourceKind::User, &f).expect("sql");
            assert!(!sql.sql.contains("DROP") && !sql.sql.contains("1=1"), "{}", sql.sql);
            assert_eq!(sql.params.len(), 2);
        }
    }

    #[tokio::test]
    async fn a_database_from_a_newer_scimgate_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("s.db").display());
        let store = SqliteStore::open(&url).await.expect("open");
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (99990101000000, 'from the future', 1, x'00', 0)",
        )
        .execute(store.pool())
        .await
        .expect("insert");
        store.pool().close().await;
        match SqliteStore::open_with(&url, 2, Duration::from_secs(5)).await {
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
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("old.db").display());
        let pool = SqlitePool::connect(&url).await.expect("connect");
        fixtures::legacy::migrator_before(2).run(&pool).await.expect("migration 0001");
        fixtures::legacy::write_rows_before_folding(&pool).await;
        pool.close().await;
        let store = SqliteStore::open(&url).await.expect("open");
        fixtures::legacy::assert_rows_folded(&store).await;
    }

    #[tokio::test]
    async fn principal_grants_query_uses_indexes() {
        let store = SqliteStore::open("sqlite::memory:").await.expect("open");
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "EXPLAIN QUERY PLAN {}",
            role_assignments::PRINCIPAL_GRANTS_SQL
        )))
        .bind("a")
        .bind("USER")
        .bind("u")
        .bind("a")
        .bind("u")
        .fetch_all(store.pool())
        .await
        .expect("plan");
        let plan = rows
            .iter()
            .map(|r| r.try_get::<String, _>("detail").expect("detail"))
            .collect::<Vec<_>>()
            .join("; ");
        assert!(plan.contains("SEARCH gm USING INDEX scim_group_members_member (member_id=?)"), "{plan}");
        assert!(plan.contains("SEARCH ra USING") && !plan.contains("SCAN ra"), "{plan}");
        assert!(
            plan.contains("SEARCH r USING PRIMARY KEY") && plan.contains("SEARCH g USING PRIMARY KEY"),
            "{plan}"
        );
    }
}
