//! Column encodings shared by the access-control tables (tags, string lists and permissions
//! as JSON text) and the outcomes of their writes (missing rows, duplicate identifiers).
//! Loaded once per backend (see the crate documentation).

use serde_json::Value;

use scimgate_domain::access::Permission;
use scimgate_domain::entities::Tags;
use scimgate_domain::{AccountId, DomainError};

use super::{DIALECT, DbQueryResult};
use crate::dialect;

/// Tells a duplicate identifier (the primary key) from a violation of another unique index.
pub(super) fn is_primary_key_violation(e: &sqlx::Error) -> bool {
    dialect::is_primary_key_violation(DIALECT, e)
}

/// `NotFound(missing)` when a statement changed no row.
pub(super) fn changed(done: DbQueryResult, missing: impl FnOnce() -> String) -> Result<(), DomainError> {
    if done.rows_affected() == 0 { Err(DomainError::NotFound(missing())) } else { Ok(()) }
}

/// The message of a write into an account that does not exist.
pub(super) fn account_missing(account: &AccountId) -> String {
    format!("account '{account}' does not exist")
}

/// Tags as stored: a JSON object of strings.
pub(super) fn tags_json(tags: &Tags) -> String {
    Value::Object(tags.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect()).to_string()
}

/// The inverse of [`tags_json`].
pub(super) fn tags_from(text: &str) -> Result<Tags, DomainError> {
    serde_json::from_str(text).map_err(|e| DomainError::Internal(format!("stored tags: {e}")))
}

/// A list of strings as stored: a JSON array.
pub(super) fn strings_json<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    Value::Array(items.into_iter().map(|s| Value::String(s.to_string())).collect()).to_string()
}

/// The inverse of [`strings_json`].
pub(super) fn strings_from(text: &str) -> Result<Vec<String>, DomainError> {
    serde_json::from_str(text).map_err(|e| DomainError::Internal(format!("stored list: {e}")))
}

/// Permissions as stored: a JSON array of their wire names.
pub(super) fn permissions_json(perms: &[Permission]) -> String {
    strings_json(perms.iter().map(|p| p.as_str()))
}

/// Permissions from their stored wire names; names this binary does not know are skipped.
pub(super) fn permissions_from(text: &str) -> Result<Vec<Permission>, DomainError> {
    Ok(strings_from(text)?.iter().filter_map(|s| Permission::parse(s)).collect())
}
