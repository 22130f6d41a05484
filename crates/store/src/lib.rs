//! The storage traits of `scimgate-domain` implemented on SQL databases with sqlx: schema
//! migrations, row mapping, SCIM filter → SQL, and database errors → `DomainError`.

mod access;
mod changes;
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

#[cfg(test)]
mod tests {
    /// The two migration folders are twins: same numbers and names, in the same order
    /// (design.md). A migration added for one backend without the other fails here.
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
