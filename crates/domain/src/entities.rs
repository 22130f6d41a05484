//! Access-control entities of an account (docs/contract.md §3): organizations, projects,
//! service accounts, roles, resource groups, role assignments, API keys and tokens.

use std::collections::BTreeMap;

use time::OffsetDateTime;

use crate::access::{Permission, Scope};
use crate::token::TokenKind;

/// Free-form tags, `{"key": "value"}`.
pub type Tags = BTreeMap<String, String>;

/// An organization.
#[derive(Debug, Clone, PartialEq)]
pub struct Organization {
    /// Identifier, unique in the account.
    pub identifier: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Tags.
    pub tags: Tags,
    /// Created.
    pub created: OffsetDateTime,
    /// Last modified.
    pub modified: OffsetDateTime,
}

/// A project inside an organization.
#[derive(Debug, Clone, PartialEq)]
pub struct Project {
    /// The organization.
    pub org_identifier: String,
    /// Identifier, unique in the organization.
    pub identifier: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Color (`#rrggbb`), as the console shows it.
    pub color: String,
    /// Tags.
    pub tags: Tags,
    /// Created.
    pub created: OffsetDateTime,
    /// Last modified.
    pub modified: OffsetDateTime,
}

/// A service account.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceAccount {
    /// Identifier, unique in the account.
    pub identifier: String,
    /// Name.
    pub name: String,
    /// Email.
    pub email: String,
    /// Description.
    pub description: String,
    /// Tags.
    pub tags: Tags,
    /// Created.
    pub created: OffsetDateTime,
    /// Last modified.
    pub modified: OffsetDateTime,
}

/// A role.
#[derive(Debug, Clone, PartialEq)]
pub struct Role {
    /// Identifier.
    pub identifier: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Permissions.
    pub permissions: Vec<Permission>,
    /// Tags.
    pub tags: Tags,
    /// Built in (not editable).
    pub builtin: bool,
    /// Created.
    pub created: OffsetDateTime,
    /// Last modified.
    pub modified: OffsetDateTime,
}

/// A resource group: which resource types a role assignment's permissions apply to.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceGroup {
    /// Identifier.
    pub identifier: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Every resource type.
    pub include_all: bool,
    /// The resource types (see `access::RESOURCE_TYPES`) when not `include_all`.
    pub resource_types: Vec<String>,
    /// Tags.
    pub tags: Tags,
    /// Built in (not editable).
    pub builtin: bool,
    /// Created.
    pub created: OffsetDateTime,
    /// Last modified.
    pub modified: OffsetDateTime,
}

/// The kind of principal a role is assigned to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrincipalType {
    /// A user (SCIM User id).
    User,
    /// A user group (SCIM Group id): its members inherit the roles.
    UserGroup,
    /// A service account (identifier).
    ServiceAccount,
}

impl PrincipalType {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalType::User => "USER",
            PrincipalType::UserGroup => "USER_GROUP",
            PrincipalType::ServiceAccount => "SERVICE_ACCOUNT",
        }
    }
    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "USER" => Some(PrincipalType::User),
            "USER_GROUP" => Some(PrincipalType::UserGroup),
            "SERVICE_ACCOUNT" => Some(PrincipalType::ServiceAccount),
            _ => None,
        }
    }
}

/// A role assignment.
#[derive(Debug, Clone, PartialEq)]
pub struct RoleAssignment {
    /// Identifier.
    pub identifier: String,
    /// The scope it grants at.
    pub scope: Scope,
    /// Role.
    pub role_identifier: String,
    /// Resource group.
    pub resource_group_identifier: String,
    /// Principal kind.
    pub principal_type: PrincipalType,
    /// Principal id.
    pub principal_identifier: String,
    /// Disabled assignments grant nothing.
    pub disabled: bool,
    /// Created.
    pub created: OffsetDateTime,
    /// Last modified.
    pub modified: OffsetDateTime,
}

/// One enabled assignment of a principal, with what its role and resource group hold (for
/// computing grants in one query).
#[derive(Debug, Clone, PartialEq)]
pub struct GrantRow {
    /// Scope.
    pub scope: Scope,
    /// Role identifier.
    pub role_identifier: String,
    /// The custom role's permissions (`None` for built-in or missing roles).
    pub role_permissions: Option<Vec<Permission>>,
    /// Resource group identifier.
    pub resource_group_identifier: String,
    /// The custom resource group's selection (`None` for built-in or missing groups).
    pub resource_group: Option<(bool, Vec<String>)>,
}

/// An API key: a named holder of tokens for a user or a service account.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiKey {
    /// USER (`pat.` tokens) or SERVICE_ACCOUNT (`sat.` tokens).
    pub api_key_type: TokenKind,
    /// The user id or service account identifier.
    pub parent_identifier: String,
    /// Identifier, unique per parent.
    pub identifier: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Tags.
    pub tags: Tags,
    /// Default token lifetime in milliseconds.
    pub default_ttl_ms: Option<i64>,
    /// Created.
    pub created: OffsetDateTime,
    /// Last modified.
    pub modified: OffsetDateTime,
}

/// A token's stored metadata (never its secret).
#[derive(Debug, Clone, PartialEq)]
pub struct TokenInfo {
    /// The id inside the token string.
    pub token_id: String,
    /// USER or SERVICE_ACCOUNT.
    pub api_key_type: TokenKind,
    /// Parent (user id or service account identifier).
    pub parent_identifier: String,
    /// API key identifier.
    pub api_key_identifier: String,
    /// Identifier, unique per API key.
    pub identifier: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Tags.
    pub tags: Tags,
    /// Created.
    pub created: OffsetDateTime,
    /// Last modified (rotation).
    pub modified: OffsetDateTime,
    /// Valid from.
    pub valid_from: OffsetDateTime,
    /// Expiry.
    pub valid_to: Option<OffsetDateTime>,
    /// Last successful use (recorded in batches, so up to a flush interval behind).
    pub last_used: Option<OffsetDateTime>,
    /// When rotated with a grace period: until when the previous secret still works.
    pub previous_valid_to: Option<OffsetDateTime>,
}

/// Where an API key lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRef {
    /// USER or SERVICE_ACCOUNT.
    pub api_key_type: TokenKind,
    /// Parent.
    pub parent_identifier: String,
    /// API key identifier.
    pub identifier: String,
}

/// Paging of the non-SCIM lists (`pageIndex` from 0, `pageSize`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    /// 0-based page.
    pub index: u64,
    /// Page size (1..=100).
    pub size: u64,
}

/// A page of results with the total.
#[derive(Debug, Clone, PartialEq)]
pub struct Paged<T> {
    /// The page.
    pub items: Vec<T>,
    /// Total matches.
    pub total: u64,
}
