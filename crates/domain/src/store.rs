//! Storage traits. Every method takes the account it works in, so a query that crosses
//! accounts cannot be written by accident (design.md).

use async_trait::async_trait;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use scimgate_scim::filter::{AttrPath, Filter};
use scimgate_scim::patch::{MemberChange, MemberRef};
use scimgate_scim::schema::ResourceKind;

use crate::error::DomainError;
use crate::ids::AccountId;
use crate::token::{NewToken, StoredToken};

/// A stored User or Group.
#[derive(Debug, Clone)]
pub struct StoredResource {
    /// Resource id.
    pub id: String,
    /// The normalised document, without `id`, `meta`, `members` or `groups`.
    pub doc: Map<String, Value>,
    /// Creation time.
    pub created: OffsetDateTime,
    /// Last modification.
    pub last_modified: OffsetDateTime,
    /// Version counter, the ETag is `W/"<version>"`.
    pub version: i64,
    /// Group members, when they were asked for.
    pub members: Option<Vec<Member>>,
    /// The groups a user belongs to, when they were asked for.
    pub groups: Option<Vec<GroupRef>>,
}

/// A group member as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Member id.
    pub value: String,
    /// `User` or `Group`.
    pub member_type: ResourceKind,
    /// `display` as the client sent it.
    pub display: Option<String>,
}

/// A group a user belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRef {
    /// Group id.
    pub value: String,
    /// Group displayName.
    pub display: Option<String>,
}

/// Sort order.
#[derive(Debug, Clone)]
pub struct Sort {
    /// The attribute to sort by.
    pub path: AttrPath,
    /// `sortOrder=descending`.
    pub descending: bool,
}

/// Paging: by index (RFC 7644 §3.4.2.4) or by cursor (RFC 9865).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Page {
    /// 1-based `startIndex` and `count`.
    Index {
        /// 1-based start.
        start_index: u64,
        /// Page size (0 = only the total).
        count: u64,
    },
    /// Position after a cursor (`None` = first page).
    Cursor {
        /// Decoded cursor.
        after: Option<CursorPosition>,
        /// Page size.
        count: u64,
    },
}

/// What a cursor encodes: the sequence number of the last row of the previous page when
/// the order is the natural one, else an offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CursorPosition {
    /// Keyset position on the insertion order.
    AfterSeq(i64),
    /// Offset into a sorted result.
    Offset(u64),
}

/// A list query.
#[derive(Debug, Clone)]
pub struct ListQuery {
    /// Filter, already parsed and bounded.
    pub filter: Option<Filter>,
    /// Sort.
    pub sort: Option<Sort>,
    /// Paging.
    pub page: Page,
    /// Load members (groups) or groups (users).
    pub include_related: bool,
}

/// A page of results.
#[derive(Debug, Clone)]
pub struct ListPage {
    /// Total number of matches.
    pub total: u64,
    /// The page.
    pub items: Vec<StoredResource>,
    /// Cursor for the next page, in cursor mode, when there is one.
    pub next: Option<CursorPosition>,
}

/// A write to an existing resource.
#[derive(Debug, Clone)]
pub struct ResourceUpdate<'a> {
    /// The new document, or `None` to keep it (membership-only PATCH).
    pub doc: Option<&'a Map<String, Value>>,
    /// Only write when the stored version is this one.
    pub expected_version: Option<i64>,
    /// Membership changes, in order (Groups only).
    pub members: &'a [MemberChange],
}

/// SCIM resources of one account.
#[async_trait]
pub trait ScimStore: Send + Sync {
    /// Inserts a resource; `members` for Groups. Duplicate userName → `Conflict`.
    async fn create_resource(
        &self,
        account: &AccountId,
        kind: ResourceKind,
        id: &str,
        doc: &Map<String, Value>,
        members: &[MemberRef],
        now: OffsetDateTime,
    ) -> Result<StoredResource, DomainError>;

    /// Reads one resource; `include_related` loads members or groups.
    async fn get_resource(
        &self,
        account: &AccountId,
        kind: ResourceKind,
        id: &str,
        include_related: bool,
    ) -> Result<StoredResource, DomainError>;

    /// Updates a resource in one transaction; returns the new (version, lastModified).
    /// `VersionMismatch` when `expected_version` does not match.
    async fn update_resource(
        &self,
        account: &AccountId,
        kind: ResourceKind,
        id: &str,
        update: &ResourceUpdate<'_>,
        now: OffsetDateTime,
    ) -> Result<(i64, OffsetDateTime), DomainError>;

    /// Deletes a resource (and its memberships).
    async fn delete_resource(
        &self,
        account: &AccountId,
        kind: ResourceKind,
        id: &str,
        expected_version: Option<i64>,
    ) -> Result<(), DomainError>;

    /// Lists resources matching a query.
    async fn list_resources(
        &self,
        account: &AccountId,
        kind: ResourceKind,
        query: &ListQuery,
    ) -> Result<ListPage, DomainError>;
}

/// A new account with its first admin.
#[derive(Debug, Clone)]
pub struct NewAccount {
    /// Identifier.
    pub id: AccountId,
    /// Display name.
    pub name: String,
    /// Feature flags on at creation.
    pub feature_flags: Vec<String>,
    /// The admin user's id.
    pub admin_user_id: String,
    /// The admin user's SCIM document (userName = email).
    pub admin_doc: Map<String, Value>,
    /// The admin's personal access token.
    pub admin_token: NewToken,
}

/// Accounts and credentials.
#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Creates an account, its admin user and token atomically. `Conflict` if it exists.
    async fn create_account(&self, account: &NewAccount, now: OffsetDateTime) -> Result<(), DomainError>;
    /// Whether an account exists.
    async fn account_exists(&self, account: &AccountId) -> Result<bool, DomainError>;
    /// Number of accounts (bootstrap on an empty database).
    async fn count_accounts(&self) -> Result<u64, DomainError>;
    /// Looks up a token by id.
    async fn get_token(&self, token_id: &str) -> Result<Option<StoredToken>, DomainError>;
    /// Whether the database answers (readiness).
    async fn ping(&self) -> Result<(), DomainError>;
}
