//! Helpers of the shared implementation: transactions, column decoding, parameter binding
//! and paging. Loaded once per backend (see the crate documentation), so `Db`, `DbRow` and
//! `Store` are that backend's.

use scimgate_domain::DomainError;
use scimgate_domain::entities::PageRequest;
use sqlx::{Database, Row, Transaction};

use super::{DIALECT, Db, DbRow, Store};
use crate::dialect;
use crate::internal;
use crate::query::Param;

/// A statement of this backend, as `sqlx::query` builds it.
pub(super) type DbQuery<'q> = sqlx::query::Query<'q, Db, <Db as Database>::Arguments>;

impl Store {
    /// A write transaction ([`dialect::begin_write`]).
    pub(super) async fn begin_write(&self) -> Result<Transaction<'static, Db>, DomainError> {
        self.pool.begin_with(dialect::begin_write(DIALECT)).await.map_err(internal)
    }

    /// A read transaction whose statements see one snapshot ([`dialect::begin_read`]).
    pub(super) async fn begin_read(&self) -> Result<Transaction<'static, Db>, DomainError> {
        self.pool.begin_with(dialect::begin_read(DIALECT)).await.map_err(internal)
    }
}

/// A column of a row, with decoding failures as internal errors.
pub(super) fn col<'r, T>(r: &'r DbRow, name: &str) -> Result<T, DomainError>
where
    T: sqlx::Decode<'r, Db> + sqlx::Type<Db>,
{
    r.try_get(name).map_err(internal)
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
