//! RFC 7643 / RFC 7644 building blocks: schemas, resource validation, the filter and PATCH
//! path grammar, PATCH application, attribute projection and the SCIM error body.
//!
//! Nothing here does I/O: the crate is pure functions over `serde_json` values, so it can be
//! tested and fuzzed on its own.

pub mod bulk;
pub mod error;
pub mod filter;
#[cfg(test)]
mod fuzz_regressions;
pub mod list;
pub mod patch;
pub mod projection;
#[cfg(test)]
mod properties;
pub mod redact;
pub mod resource;
pub mod schema;
pub mod set;
pub mod stored;

pub use error::{ScimError, ScimType};

/// `urn:ietf:params:scim:api:messages:2.0:ListResponse` (RFC 7644 §3.4.2).
pub const LIST_RESPONSE_URN: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
/// `urn:ietf:params:scim:api:messages:2.0:PatchOp` (RFC 7644 §3.5.2).
pub const PATCH_OP_URN: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
/// `urn:ietf:params:scim:api:messages:2.0:SearchRequest` (RFC 7644 §3.4.3).
pub const SEARCH_REQUEST_URN: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
/// `urn:ietf:params:scim:api:messages:2.0:BulkRequest` (RFC 7644 §3.7).
pub const BULK_REQUEST_URN: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
/// `urn:ietf:params:scim:api:messages:2.0:BulkResponse` (RFC 7644 §3.7).
pub const BULK_RESPONSE_URN: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";
/// `urn:ietf:params:scim:api:messages:2.0:Error` (RFC 7644 §3.12).
pub const ERROR_URN: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
