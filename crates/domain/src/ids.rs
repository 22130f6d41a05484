//! Identifier newtypes.

use std::fmt;

use crate::error::DomainError;
use scimgate_scim::ScimError;

/// An account identifier: 1–64 of `[A-Za-z0-9_-]`, so it can sit in a URL path and in a
/// dot-separated token without escaping.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountId(String);

impl AccountId {
    /// Validates an account identifier.
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if ok {
            Ok(Self(s.to_string()))
        } else {
            Err(DomainError::Invalid(ScimError::invalid_value(format!(
                "account identifier '{s}' is invalid: use 1-64 letters, digits, '_' or '-'"
            ))))
        }
    }
    /// The identifier text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A new random resource id (UUID v4, as most SCIM servers use).
pub fn new_resource_id() -> String {
    uuid::Uuid::new_v4().to_string()
}
