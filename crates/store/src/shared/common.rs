//! Helpers of the shared implementation: transactions, column decoding, parameter binding
//! and paged lists. Loaded once per backend (see the crate documentation), so `Db`, `DbRow` and
//! `Store` are that backend's.

use std::hash::{BuildHasher, RandomState};
use std::ops::ControlFlow;
use std::time::Duration;

use scimgate_domain::DomainError;
use scimgate_domain::entities::{PageRequest, Paged};
use scimgate_domain::ids::AccountId;
use sqlx::{Database, QueryBuilder, Row, Transaction};

use super::{DIALECT, Db, DbRow, Store};
use crate::DbResultExt;
use crate::dialect::{self, push_contains_ci};
use crate::query::Param;

/// A statement of this backend, as `sqlx::query` builds it.
pub(super) type DbQuery<'q> = sqlx::query::Query<'q, Db, <Db as Database>::Arguments>;

/// How many times [`write_tx!`] runs a transaction that keeps losing serialization races
/// before it gives up with `Unavailable`.
pub(super) const WRITE_ATTEMPTS: u32 = 5;

/// The pause before attempt `attempt + 1` of a write transaction: 2^`attempt` ms plus up to
/// as much again of jitter, so transactions that collided do not collide again in lockstep.
/// The jitter comes from std's randomly keyed hasher (no random number crate needed).
fn backoff(attempt: u32) -> Duration {
    let base_us = 1_000u64 << attempt.min(10);
    Duration::from_micros(base_us + RandomState::new().hash_one(attempt) % base_us)
}

/// Runs a write transaction of `store` and commits it, running it again when the engine aborts
/// it as a lost serialization race; evaluates to the `Result` of the transaction:
///
/// ```text
/// write_tx!(self, |tx| {
///     sqlx::query("…").execute(&mut **tx).await.db()?;
///     Ok(())
/// })
/// ```
///
/// The body is the code of one attempt, given the open transaction as `tx`
/// (`&mut Transaction`); it evaluates to `Result<T, DomainError>`, and `?` and `return` in it
/// end the attempt, not the enclosing function. [`Store::finish_write`] then commits (on `Ok`)
/// or rolls back, and decides whether the body runs again in a fresh transaction: see there.
/// The body may therefore run more than once, so it must do its work through `tx` and nothing
/// it cannot repeat.
///
/// A macro rather than a method taking an async closure: rustc cannot yet prove the futures of
/// the store traits (`#[async_trait]`, `Send`) `Send` when they await a generic function that
/// calls an `AsyncFnMut` (rust-lang/rust#139475, #154523), so the loop is expanded in place.
macro_rules! write_tx {
    ($store:expr, |$tx:ident| { $($body:tt)* }) => {{
        let store = &$store;
        let mut attempt = 1;
        loop {
            // SQLite: this process's writers queue here instead of polling for the lock.
            let _turn = store.writer_turn().await;
            let mut transaction = match store.begin_write().await {
                Ok(transaction) => transaction,
                Err(e) => break Err(e),
            };
            let outcome = {
                let $tx = &mut transaction;
                store.write_attempt(async { $($body)* }).await
            };
            if let ::std::ops::ControlFlow::Break(result) =
                store.finish_write(transaction, outcome, &mut attempt).await
            {
                break result;
            }
        }
    }};
}
pub(super) use write_tx;

impl Store {
    /// A write transaction ([`dialect::begin_write`]), for [`write_tx!`], which retries it.
    pub(super) async fn begin_write(&self) -> Result<Transaction<'static, Db>, DomainError> {
        self.pool.begin_with(dialect::begin_write(DIALECT)).await.db()
    }

    /// The body of one attempt of [`write_tx!`], as is: fixes its output type, so that `?`
    /// in it converts to `DomainError`.
    pub(super) fn write_attempt<T, F>(&self, body: F) -> F
    where
        F: Future<Output = Result<T, DomainError>>,
    {
        body
    }

    /// Ends attempt `*attempt` of a write transaction ([`write_tx!`]) whose body gave
    /// `outcome`: commits `tx` on `Ok`, rolls it back on `Err`.
    ///
    /// SERIALIZABLE engines (CockroachDB, YugabyteDB, PostgreSQL at SERIALIZABLE) abort a
    /// transaction that lost a race with SQLSTATE 40001 (a deadlock: 40P01) and expect the
    /// client to run the whole transaction again; [`crate::error::internal`] (behind
    /// [`DbResultExt::db`]) maps both to
    /// `SerializationFailure`. When the body or the commit failed so, this pauses briefly
    /// ([`backoff`]), counts the attempt and returns `Continue`: the body runs again in a fresh
    /// transaction. After [`WRITE_ATTEMPTS`] such attempts it gives up with `Unavailable` (503,
    /// retry later). Anything else, `Ok` committed or another error, is the result (`Break`).
    pub(super) async fn finish_write<T>(
        &self,
        tx: Transaction<'static, Db>,
        outcome: Result<T, DomainError>,
        attempt: &mut u32,
    ) -> ControlFlow<Result<T, DomainError>> {
        let outcome = match outcome {
            Ok(value) => tx.commit().await.db().map(|()| value),
            Err(e) => {
                // Rolls back (sqlx issues the ROLLBACK before the connection is used again).
                drop(tx);
                Err(e)
            }
        };
        match outcome {
            Err(DomainError::SerializationFailure(m)) if *attempt < WRITE_ATTEMPTS => {
                tracing::debug!(
                    attempt = *attempt,
                    error = %m,
                    "write transaction lost a serialization race; retrying"
                );
                tokio::time::sleep(backoff(*attempt)).await;
                *attempt += 1;
                ControlFlow::Continue(())
            }
            Err(DomainError::SerializationFailure(m)) => {
                let m = format!(
                    "the write transaction kept conflicting with concurrent transactions \
                     ({WRITE_ATTEMPTS} attempts); the last error: {m}"
                );
                ControlFlow::Break(Err(DomainError::Unavailable(m)))
            }
            other => ControlFlow::Break(other),
        }
    }

    /// One page and the total of a list, read in one transaction so both see the same
    /// snapshot: `SELECT count(*) <from>` and
    /// `SELECT <columns> <from> ORDER BY <order_by> LIMIT … OFFSET …`.
    ///
    /// `from` writes the `FROM … WHERE …` of both statements into their builder, binding its
    /// values with `push_bind`; the builder numbers every placeholder of a statement, those of
    /// LIMIT and OFFSET included.
    /// One row of an aggregate's table by `(account_id, identifier)`, or `NotFound` saying
    /// "`what` '`identifier`' does not exist".
    pub(super) async fn get_by_identifier<T>(
        &self,
        columns: &str,
        table: &str,
        account: &AccountId,
        identifier: &str,
        what: &str,
        map: fn(&DbRow) -> Result<T, DomainError>,
    ) -> Result<T, DomainError> {
        let mut q = QueryBuilder::<Db>::new(format!("SELECT {columns} FROM {table} WHERE account_id = "));
        q.push_bind(account.as_str()).push(" AND identifier = ").push_bind(identifier);
        let row = q
            .build()
            .fetch_optional(&self.pool)
            .await
            .db()?
            .ok_or_else(|| DomainError::NotFound(format!("{what} '{identifier}' does not exist")))?;
        map(&row)
    }

    pub(super) async fn paged<T>(
        &self,
        columns: &str,
        from: impl Fn(&mut QueryBuilder<Db>),
        order_by: &str,
        page: PageRequest,
        map: fn(&DbRow) -> Result<T, DomainError>,
    ) -> Result<Paged<T>, DomainError> {
        let (limit, offset) = limit_offset(page);
        let mut count = QueryBuilder::<Db>::new("SELECT count(*) ");
        from(&mut count);
        let mut select = QueryBuilder::<Db>::new(format!("SELECT {columns} "));
        from(&mut select);
        select.push(format_args!(" ORDER BY {order_by} LIMIT ")).push_bind(limit);
        select.push(" OFFSET ").push_bind(offset);
        // A search is the client's: the statement time limit applies (see `limited`). One
        // read transaction ([`dialect::begin_read`]) so the page and the total see one snapshot.
        let mut conn = self.limited().await?;
        let mut tx = sqlx::Connection::begin_with(&mut *conn, dialect::begin_read(DIALECT)).await.db()?;
        let total: i64 = count.build_query_scalar().fetch_one(&mut *tx).await.db()?;
        let rows = select.build().fetch_all(&mut *tx).await.db()?;
        tx.commit().await.db()?;
        Ok(Paged {
            items: rows.iter().map(map).collect::<Result<_, _>>()?,
            total: u64::try_from(total).unwrap_or(0),
        })
    }
}

/// Writes the optional search of a list: `search` is NULL, or the identifier or the name
/// contains it ignoring case (`(? IS NULL OR … OR …)`, the search text bound three times).
pub(super) fn push_search(q: &mut QueryBuilder<Db>, search: Option<&str>) {
    q.push("(").push_bind(search).push(" IS NULL OR ");
    push_contains_ci(DIALECT, q, "identifier", search);
    q.push(" OR ");
    push_contains_ci(DIALECT, q, "name", search);
    q.push(")");
}

/// A column of a row, with decoding failures as internal errors.
pub(super) fn col<'r, T>(r: &'r DbRow, name: &str) -> Result<T, DomainError>
where
    T: sqlx::Decode<'r, Db> + sqlx::Type<Db>,
{
    r.try_get(name).db()
}

/// Binds `params` in order (the placeholders `$1`, `$2`, … of a [`crate::query::SqlBuf`]).
pub(super) fn bind_all<'q>(mut q: DbQuery<'q>, params: &[Param]) -> DbQuery<'q> {
    for p in params {
        q = match p {
            Param::Text(s) => q.bind(s.clone()),
            Param::Int(i) => q.bind(*i),
            Param::Float(f) => q.bind(*f),
        };
    }
    q
}

/// LIMIT and OFFSET of a page.
pub(super) fn limit_offset(page: PageRequest) -> (i64, i64) {
    let limit = i64::try_from(page.size).unwrap_or(i64::MAX);
    let offset = i64::try_from(page.index.saturating_mul(page.size)).unwrap_or(i64::MAX);
    (limit, offset)
}

#[cfg(test)]
mod tests {
    use super::super::test_store;
    use super::*;
    use crate::error::internal;
    use crate::query::Dialect;

    /// What the attempts of a write wrote: the `at_us` of the change-log rows, in order.
    async fn probes(store: &Store) -> Vec<i64> {
        sqlx::query_scalar("SELECT at_us FROM change_log ORDER BY seq")
            .fetch_all(store.pool())
            .await
            .expect("read probes")
    }

    /// Writes a change-log row whose `at_us` is `n` (a probe of which attempt ran).
    async fn probe(tx: &mut Transaction<'static, Db>, n: i64) -> Result<(), DomainError> {
        sqlx::query("INSERT INTO change_log (account_id, kind, at_us) VALUES ('a', 'access', $1)")
            .bind(n)
            .execute(&mut **tx)
            .await
            .db()?;
        Ok(())
    }

    #[test]
    fn backoff_grows_with_jitter() {
        for attempt in 1..WRITE_ATTEMPTS {
            let base = Duration::from_millis(1 << attempt);
            let pause = backoff(attempt);
            assert!(pause >= base && pause < 2 * base, "attempt {attempt}: {pause:?}");
        }
    }

    #[tokio::test]
    async fn write_tx_retries_serialization_failures_only() {
        let Some(store) = test_store().await else { return };

        // Lost races are rolled back and run again; the third attempt commits.
        let mut runs = 0i64;
        let got = write_tx!(store, |tx| {
            runs += 1;
            probe(tx, runs).await?;
            if runs < 3 { Err(DomainError::SerializationFailure(format!("race {runs}"))) } else { Ok(runs) }
        });
        assert_eq!(got.expect("the third attempt commits"), 3);
        assert_eq!(runs, 3);
        assert_eq!(probes(&store).await, vec![3], "the failed attempts were rolled back");

        // A transaction that always loses gives up after WRITE_ATTEMPTS, as Unavailable.
        let mut runs = 0;
        let got: Result<(), _> = write_tx!(store, |tx| {
            runs += 1;
            probe(tx, 100 + i64::from(runs)).await?;
            Err(DomainError::SerializationFailure(format!("race {runs}")))
        });
        match got {
            Err(DomainError::Unavailable(m)) => {
                assert!(m.contains("kept conflicting") && m.contains("race 5"), "{m}")
            }
            other => panic!("expected Unavailable, got {other:?}"),
        }
        assert_eq!(runs, WRITE_ATTEMPTS);

        // Any other error ends the transaction at once, rolled back; so do `?` and `return`.
        let mut runs = 0;
        let got: Result<(), _> = write_tx!(store, |tx| {
            runs += 1;
            probe(tx, 200).await?;
            if runs == 1 {
                return Err(DomainError::Conflict("taken".into()));
            }
            Ok(())
        });
        assert!(matches!(&got, Err(DomainError::Conflict(m)) if m == "taken"), "{got:?}");
        assert_eq!(runs, 1);
        let got: Result<(), _> = write_tx!(store, |tx| {
            probe(tx, 300).await?;
            sqlx::query("SELECT no_such_column FROM change_log").execute(&mut **tx).await.db()?;
            Ok(())
        });
        assert!(matches!(got, Err(DomainError::Internal(_))), "{got:?}");
        assert_eq!(probes(&store).await, vec![3], "nothing of the failed writes was kept");
    }

    /// PostgreSQL at SERIALIZABLE: a write skew between two transactions aborts one of them
    /// with SQLSTATE 40001, which `internal` maps to `SerializationFailure`.
    #[tokio::test]
    async fn a_real_serialization_failure_is_recognized() {
        if DIALECT != Dialect::Postgres {
            return;
        }
        let Some(store) = test_store().await else { return };
        let run = sqlx::query;
        run("CREATE TABLE retry_probe (n INTEGER NOT NULL)").execute(store.pool()).await.expect("create");
        let mut c1 = store.pool().acquire().await.expect("c1");
        let mut c2 = store.pool().acquire().await.expect("c2");
        // Each reads the whole table, then adds a row the other's read did not see.
        for c in [&mut c1, &mut c2] {
            run("BEGIN ISOLATION LEVEL SERIALIZABLE").execute(&mut **c).await.expect("begin");
            run("SELECT count(*) FROM retry_probe").execute(&mut **c).await.expect("read");
        }
        run("INSERT INTO retry_probe (n) VALUES (1)").execute(&mut *c1).await.expect("write 1");
        let rest = async {
            run("INSERT INTO retry_probe (n) VALUES (2)").execute(&mut *c2).await?;
            run("COMMIT").execute(&mut *c1).await?;
            run("COMMIT").execute(&mut *c2).await
        };
        let err = rest.await.expect_err("one of the two transactions must be aborted");
        match internal(err) {
            DomainError::SerializationFailure(m) => assert!(m.contains("serialize"), "{m}"),
            other => panic!("expected SerializationFailure, got {other:?}"),
        }
    }

    /// PostgreSQL at SERIALIZABLE, through `write_tx!`: the commit of the first attempt fails
    /// (40001) because of a concurrent transaction; the second attempt commits.
    #[tokio::test]
    async fn write_tx_reruns_a_transaction_the_engine_aborted() {
        if DIALECT != Dialect::Postgres {
            return;
        }
        let Some(store) = test_store().await else { return };
        let mut runs = 0i64;
        let got = write_tx!(store, |tx| {
            runs += 1;
            sqlx::query("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE").execute(&mut **tx).await.db()?;
            sqlx::query("SELECT count(*) FROM change_log").execute(&mut **tx).await.db()?;
            if runs == 1 {
                // A concurrent transaction reads what this one writes and writes what this
                // one read, and commits first.
                let mut other = store.pool().acquire().await.expect("acquire");
                for sql in [
                    "BEGIN ISOLATION LEVEL SERIALIZABLE",
                    "SELECT count(*) FROM change_log",
                    "INSERT INTO change_log (account_id, kind, at_us) VALUES ('b', 'access', 0)",
                ] {
                    sqlx::query(sql).execute(&mut *other).await.expect(sql);
                }
                probe(tx, runs).await?;
                sqlx::query("COMMIT").execute(&mut *other).await.expect("the concurrent commit");
            } else {
                probe(tx, runs).await?;
            }
            Ok(())
        });
        got.expect("the second attempt commits");
        assert_eq!(runs, 2);
        assert_eq!(probes(&store).await, vec![0, 2], "the concurrent row and the second attempt's");
    }
}
