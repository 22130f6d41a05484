//! What differs between SQLite and PostgreSQL outside SCIM filters, as small functions of
//! [`Dialect`]. The shared implementation (`src/shared/`) calls these with its backend's
//! `DIALECT` instead of branching per query; everything else in its SQL text is written once,
//! with `$1`, `$2`, … placeholders, which both databases accept.

use sqlx::{Database, Encode, QueryBuilder, Type};

use crate::query::Dialect;

/// SQLite's extended result code for a PRIMARY KEY violation (`SQLITE_CONSTRAINT_PRIMARYKEY`),
/// as sqlx reports it in `DatabaseError::code`.
const SQLITE_PRIMARY_KEY_VIOLATION: &str = "1555";

/// The statement that opens a write transaction.
///
/// SQLite: `BEGIN IMMEDIATE` takes the write lock up front, so a read-then-write transaction
/// never fails with `SQLITE_BUSY` on lock upgrade; `busy_timeout` queues writers instead.
/// PostgreSQL: a plain `BEGIN` (READ COMMITTED); row locks and unique indexes arbitrate.
pub(crate) fn begin_write(d: Dialect) -> &'static str {
    match d {
        Dialect::Sqlite => "BEGIN IMMEDIATE",
        Dialect::Postgres => "BEGIN",
    }
}

/// The statement that opens a read transaction whose statements all see one snapshot (a page
/// and the total of a list). SQLite's deferred transaction already does; PostgreSQL needs
/// REPEATABLE READ for it.
pub(crate) fn begin_read(d: Dialect) -> &'static str {
    match d {
        Dialect::Sqlite => "BEGIN",
        Dialect::Postgres => "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
    }
}

/// A boolean expression: `haystack` contains `needle` as a substring (both SQL expressions,
/// typically a column and a placeholder). Not `LIKE`, so no wildcard escaping is needed.
pub(crate) fn contains(d: Dialect, haystack: &str, needle: &str) -> String {
    match d {
        Dialect::Sqlite => format!("instr({haystack}, {needle}) > 0"),
        Dialect::Postgres => format!("strpos({haystack}, {needle}) > 0"),
    }
}

/// [`contains`], ignoring case.
pub(crate) fn contains_ci(d: Dialect, haystack: &str, needle: &str) -> String {
    contains(d, &format!("lower({haystack})"), &format!("lower({needle})"))
}

/// [`contains_ci`] written into a statement builder, with `needle` bound as its next
/// parameter (the builder numbers the placeholder).
pub(crate) fn push_contains_ci<'t, DB, T>(d: Dialect, q: &mut QueryBuilder<DB>, haystack: &str, needle: T)
where
    DB: Database,
    T: Encode<'t, DB> + Type<DB>,
{
    /// Stands for the needle in the expression: no SQL text of the store contains it.
    const NEEDLE: &str = "\u{1}needle\u{1}";
    let expr = contains_ci(d, haystack, NEEDLE);
    let (before, after) = expr.split_once(NEEDLE).expect("contains_ci writes its needle once");
    q.push(before).push_bind(needle).push(after);
}

/// The larger of two values (SQLite's two-argument `max`, PostgreSQL's `greatest`).
pub(crate) fn greatest(d: Dialect, a: &str, b: &str) -> String {
    match d {
        Dialect::Sqlite => format!("max({a}, {b})"),
        Dialect::Postgres => format!("greatest({a}, {b})"),
    }
}

/// The placeholder `$n` for a resource document bound as JSON text (the `doc` columns are
/// TEXT on both backends).
pub(crate) fn json_param(d: Dialect, n: usize) -> String {
    match d {
        Dialect::Sqlite => format!("${n}"),
        // The document column is TEXT on both backends: it keeps the attributes in the
        // order they were written (JSONB would reorder them), and filters cast it to jsonb.
        Dialect::Postgres => format!("${n}"),
    }
}

/// The placeholder `$n` for a folded document ([`crate::fold::folded_doc`]) bound as JSON
/// text: the `doc_folded` columns are TEXT in SQLite, JSONB in PostgreSQL (never returned, so
/// key order does not matter, and filters read it without parsing text per row).
pub(crate) fn folded_doc_param(d: Dialect, n: usize) -> String {
    match d {
        Dialect::Sqlite => format!("${n}"),
        Dialect::Postgres => format!("${n}::jsonb"),
    }
}

/// A select-list item reading the document column `expr` back as JSON text named `doc`.
pub(crate) fn doc_column(d: Dialect, expr: &str) -> String {
    match d {
        Dialect::Sqlite => format!("{expr} AS doc"),
        Dialect::Postgres => format!("{expr} AS doc"),
    }
}

/// A select-list item: the groups the user `user_id` (an SQL expression) is a direct member
/// of, as JSON text `[[id, displayName], …]` in group-id order, named `user_groups` (NULL or
/// `[]` for none). A user and its groups come back from one statement instead of two.
pub(crate) fn user_groups_column(d: Dialect, user_id: &str) -> String {
    const FROM: &str = "FROM scim_group_members gm JOIN scim_groups g ON g.id = gm.group_id";
    match d {
        Dialect::Sqlite => format!(
            "(SELECT json_group_array(json_array(x.id, x.display_name)) FROM \
             (SELECT g.id, g.display_name {FROM} WHERE gm.member_id = {user_id} ORDER BY gm.group_id) x) \
             AS user_groups"
        ),
        Dialect::Postgres => format!(
            "(SELECT json_agg(json_build_array(g.id, g.display_name) ORDER BY gm.group_id)::text \
             {FROM} WHERE gm.member_id = {user_id}) AS user_groups"
        ),
    }
}

/// The channel on which PostgreSQL nodes announce new change-log rows.
pub const CHANGE_CHANNEL: &str = "scimgate_changes";

/// A statement that wakes the other nodes after change-log rows were written, where the
/// engine can (PostgreSQL `NOTIFY`, delivered at commit); elsewhere they poll.
pub(crate) fn notify_changes(d: Dialect) -> Option<&'static str> {
    match d {
        Dialect::Sqlite => None,
        Dialect::Postgres => Some("SELECT pg_notify('scimgate_changes', '')"),
    }
}

/// Whether `e` violates a table's primary key (rather than another unique index of it).
///
/// SQLite reports it by extended result code; PostgreSQL by the violated constraint, which
/// is named `<table>_pkey` for the primary keys of the migrations.
pub(crate) fn is_primary_key_violation(d: Dialect, e: &sqlx::Error) -> bool {
    let sqlx::Error::Database(db) = e else { return false };
    match d {
        Dialect::Sqlite => db.code().as_deref() == Some(SQLITE_PRIMARY_KEY_VIOLATION),
        Dialect::Postgres => {
            db.is_unique_violation() && db.constraint().is_some_and(|c| c.ends_with("_pkey"))
        }
    }
}

/// The tail of a sub-select whose rows a claim takes (`alias` is the table's): PostgreSQL
/// locks them and skips rows another transaction holds (`FOR UPDATE SKIP LOCKED`), so two
/// nodes claiming at once take different rows and never wait on each other; SQLite has one
/// writer at a time and needs nothing.
pub(crate) fn skip_locked(d: Dialect, alias: &str) -> String {
    match d {
        Dialect::Sqlite => String::new(),
        Dialect::Postgres => format!(" FOR UPDATE OF {alias} SKIP LOCKED"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragments() {
        assert_eq!(contains_ci(Dialect::Sqlite, "name", "$2"), "instr(lower(name), lower($2)) > 0");
        assert_eq!(contains_ci(Dialect::Postgres, "name", "$2"), "strpos(lower(name), lower($2)) > 0");
        assert_eq!(greatest(Dialect::Postgres, "a", "$1"), "greatest(a, $1)");
        assert_eq!(json_param(Dialect::Sqlite, 8), "$8");
        assert_eq!(json_param(Dialect::Postgres, 8), "$8");
        assert_eq!(folded_doc_param(Dialect::Sqlite, 3), "$3");
        assert_eq!(folded_doc_param(Dialect::Postgres, 3), "$3::jsonb");
        assert_eq!(doc_column(Dialect::Postgres, "r.doc"), "r.doc AS doc");
        assert!(!is_primary_key_violation(Dialect::Postgres, &sqlx::Error::RowNotFound));
    }
}
