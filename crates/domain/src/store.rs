//! Storage traits. Every method takes the account it works in, so a query that crosses
//! accounts cannot be written by accident (docs/design.md).

use async_trait::async_trait;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use scimgate_scim::filter::Filter;
use scimgate_scim::list::ListRequest;
use scimgate_scim::patch::{MemberChange, MemberRef};
use scimgate_scim::schema::ResourceKind;

use crate::access::Scope;
use crate::audit::{AuditEntry, AuditQuery, AuditRecord};
use crate::entities::{
    ApiKey, ApiKeyRef, GrantRow, Organization, PageRequest, Paged, PrincipalType, Project, ResourceGroup,
    Role, RoleAssignment, ServiceAccount, TokenInfo,
};
use crate::error::DomainError;
use crate::ids::AccountId;
use crate::request_log::{ScimRequest, ScimRequestQuery};
use crate::settings::{SettingAudit, SettingRow};
use crate::token::{NewToken, StoredToken, TokenKind};

pub use scimgate_scim::stored::{GroupRef, Member, StoredResource};

pub use scimgate_scim::list::{CursorPosition, Page, Sort};

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
    /// Count every match (`totalResults`). A page that does not show the total (the
    /// console's lists) leaves it out: on a large account the count costs more than the page.
    pub count_total: bool,
}

impl ListQuery {
    /// The query for a parsed list request (with the total, as SCIM answers need).
    pub fn new(request: ListRequest, include_related: bool) -> Self {
        Self {
            filter: request.filter,
            sort: request.sort,
            page: request.page,
            include_related,
            count_total: true,
        }
    }
}

/// A page of results.
#[derive(Debug, Clone)]
pub struct ListPage {
    /// Total number of matches (0 when the query did not ask for it, `count_total`).
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
    /// The event the new document is (`None`: the document is unchanged, or not written);
    /// membership events are added by the store for the members really added or removed.
    pub event: Option<crate::events::EventType>,
    /// The resource's creation time, when the caller read it before writing at
    /// `expected_version`: the store can then write the event in the write's own statement
    /// (its data shows version `expected_version + 1`) instead of reading the row back.
    pub created: Option<OffsetDateTime>,
}

/// SCIM resources of one account.
#[async_trait]
pub trait ScimStore: Send + Sync {
    /// Inserts a resource; `members` for Groups. Duplicate userName → `Conflict`.
    #[allow(clippy::too_many_arguments, reason = "a SCIM create and its audit entry, each argument distinct")]
    async fn create_resource(
        &self,
        account: &AccountId,
        kind: ResourceKind,
        id: &str,
        doc: &Map<String, Value>,
        members: &[MemberRef],
        now: OffsetDateTime,
        audit: &AuditEntry,
    ) -> Result<StoredResource, DomainError>;

    /// Reads one resource; `include_related` loads members or groups.
    async fn get_resource(
        &self,
        account: &AccountId,
        kind: ResourceKind,
        id: &str,
        include_related: bool,
    ) -> Result<StoredResource, DomainError>;

    /// Up to `limit` members of a group in member-id order, after `after` (all when `None`),
    /// read while the group is at `version`: `None` when it is at another version or gone, so
    /// that an answer assembled from several pages never mixes two versions of the group.
    async fn group_members_page(
        &self,
        account: &AccountId,
        group_id: &str,
        version: i64,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Option<Vec<Member>>, DomainError>;

    /// Updates a resource in one transaction; returns the new (version, lastModified).
    /// `VersionMismatch` when `expected_version` does not match.
    async fn update_resource(
        &self,
        account: &AccountId,
        kind: ResourceKind,
        id: &str,
        update: &ResourceUpdate<'_>,
        now: OffsetDateTime,
        audit: &AuditEntry,
    ) -> Result<(i64, OffsetDateTime), DomainError>;

    /// Deletes a resource (and its memberships).
    async fn delete_resource(
        &self,
        account: &AccountId,
        kind: ResourceKind,
        id: &str,
        expected_version: Option<i64>,
        audit: &AuditEntry,
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

/// A database connection pool's state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStatus {
    /// Open connections.
    pub open: u32,
    /// Open connections not in use.
    pub idle: u32,
    /// The most the pool opens.
    pub max: u32,
}

/// Accounts and credentials.
#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Creates an account, its admin user and token atomically. `Conflict` if it exists.
    async fn create_account(
        &self,
        account: &NewAccount,
        now: OffsetDateTime,
        audit: &AuditEntry,
    ) -> Result<(), DomainError>;
    /// Whether an account exists.
    async fn account_exists(&self, account: &AccountId) -> Result<bool, DomainError>;
    /// Number of accounts (bootstrap on an empty database).
    async fn count_accounts(&self) -> Result<u64, DomainError>;
    /// Whether the database answers (readiness).
    async fn ping(&self) -> Result<(), DomainError>;
    /// The connection pool's state, for `/metrics`.
    fn pool_status(&self) -> PoolStatus;
}

/// Organizations and projects: the child scopes of an account. Every method takes the account it works in.
///
/// Failures: `NotFound` for a missing row, `Conflict` for a duplicate identifier (from the
/// database's unique indexes, never check-then-insert).
#[async_trait]
pub trait OrganizationStore: Send + Sync {
    /// Creates an organization.
    async fn create_org(
        &self,
        account: &AccountId,
        org: &Organization,
        audit: &AuditEntry,
    ) -> Result<(), DomainError>;
    /// Reads an organization.
    async fn get_org(&self, account: &AccountId, identifier: &str) -> Result<Organization, DomainError>;
    /// Lists organizations, optionally those whose identifier or name contains `search`
    /// (case-insensitive), ordered by identifier.
    async fn list_orgs(
        &self,
        account: &AccountId,
        search: Option<&str>,
        page: PageRequest,
    ) -> Result<Paged<Organization>, DomainError>;
    /// Updates name, description, tags and modified time.
    async fn update_org(
        &self,
        account: &AccountId,
        org: &Organization,
        audit: &AuditEntry,
    ) -> Result<(), DomainError>;
    /// Deletes an organization with its projects.
    async fn delete_org(
        &self,
        account: &AccountId,
        identifier: &str,
        audit: &AuditEntry,
    ) -> Result<(), DomainError>;

    /// Creates a project (`NotFound` when its organization does not exist).
    async fn create_project(
        &self,
        account: &AccountId,
        project: &Project,
        audit: &AuditEntry,
    ) -> Result<(), DomainError>;
    /// Reads a project.
    async fn get_project(
        &self,
        account: &AccountId,
        org: &str,
        identifier: &str,
    ) -> Result<Project, DomainError>;
    /// Lists projects, of one organization or all, ordered by org then identifier.
    async fn list_projects(
        &self,
        account: &AccountId,
        org: Option<&str>,
        search: Option<&str>,
        page: PageRequest,
    ) -> Result<Paged<Project>, DomainError>;
    /// Updates name, description, color, tags and modified time.
    async fn update_project(
        &self,
        account: &AccountId,
        project: &Project,
        audit: &AuditEntry,
    ) -> Result<(), DomainError>;
    /// Deletes a project.
    async fn delete_project(
        &self,
        account: &AccountId,
        org: &str,
        identifier: &str,
        audit: &AuditEntry,
    ) -> Result<(), DomainError>;
}

/// Service accounts. Every method takes the account it works in.
///
/// Failures: `NotFound` for a missing row, `Conflict` for a duplicate identifier (from the
/// database's unique indexes, never check-then-insert).
#[async_trait]
pub trait ServiceAccountStore: Send + Sync {
    /// Creates a service account.
    async fn create_service_account(
        &self,
        account: &AccountId,
        service_account: &ServiceAccount,
        audit: &AuditEntry,
    ) -> Result<(), DomainError>;
    /// Reads a service account.
    async fn get_service_account(
        &self,
        account: &AccountId,
        identifier: &str,
    ) -> Result<ServiceAccount, DomainError>;
    /// Lists service accounts, ordered by identifier.
    async fn list_service_accounts(
        &self,
        account: &AccountId,
        search: Option<&str>,
        page: PageRequest,
    ) -> Result<Paged<ServiceAccount>, DomainError>;
    /// Updates name, email, description, tags and modified time.
    async fn update_service_account(
        &self,
        account: &AccountId,
        service_account: &ServiceAccount,
        audit: &AuditEntry,
    ) -> Result<(), DomainError>;
    /// Deletes a service account with its API keys, tokens and role assignments, in one
    /// transaction.
    async fn delete_service_account(
        &self,
        account: &AccountId,
        identifier: &str,
        audit: &AuditEntry,
    ) -> Result<(), DomainError>;
}

/// Custom roles and resource groups (the built-ins live in code). Every method takes the account it works in.
///
/// Failures: `NotFound` for a missing row, `Conflict` for a duplicate identifier (from the
/// database's unique indexes, never check-then-insert).
#[async_trait]
pub trait RoleStore: Send + Sync {
    /// Creates a custom role.
    async fn create_role(
        &self,
        account: &AccountId,
        role: &Role,
        audit: &AuditEntry,
    ) -> Result<(), DomainError>;
    /// Reads a custom role.
    async fn get_role(&self, account: &AccountId, identifier: &str) -> Result<Role, DomainError>;
    /// Lists custom roles, ordered by identifier.
    async fn list_roles(&self, account: &AccountId, page: PageRequest) -> Result<Paged<Role>, DomainError>;
    /// Updates a custom role.
    async fn update_role(
        &self,
        account: &AccountId,
        role: &Role,
        audit: &AuditEntry,
    ) -> Result<(), DomainError>;
    /// Deletes a custom role; `Conflict` while role assignments use it.
    async fn delete_role(
        &self,
        account: &AccountId,
        identifier: &str,
        audit: &AuditEntry,
    ) -> Result<(), DomainError>;

    /// Creates a custom resource group.
    async fn create_resource_group(
        &self,
        account: &AccountId,
        resource_group: &ResourceGroup,
        audit: &AuditEntry,
    ) -> Result<(), DomainError>;
    /// Reads a custom resource group.
    async fn get_resource_group(
        &self,
        account: &AccountId,
        identifier: &str,
    ) -> Result<ResourceGroup, DomainError>;
    /// Lists custom resource groups, ordered by identifier.
    async fn list_resource_groups(
        &self,
        account: &AccountId,
        page: PageRequest,
    ) -> Result<Paged<ResourceGroup>, DomainError>;
    /// Updates a custom resource group.
    async fn update_resource_group(
        &self,
        account: &AccountId,
        resource_group: &ResourceGroup,
        audit: &AuditEntry,
    ) -> Result<(), DomainError>;
    /// Deletes a custom resource group; `Conflict` while role assignments use it.
    async fn delete_resource_group(
        &self,
        account: &AccountId,
        identifier: &str,
        audit: &AuditEntry,
    ) -> Result<(), DomainError>;
}

/// Role assignments and the grants they give. Every method takes the account it works in.
///
/// Failures: `NotFound` for a missing row, `Conflict` for a duplicate identifier (from the
/// database's unique indexes, never check-then-insert).
#[async_trait]
pub trait RoleAssignmentStore: Send + Sync {
    /// Creates a role assignment; `Conflict` for a duplicate identifier or a duplicate
    /// (scope, role, resource group, principal).
    async fn create_role_assignment(
        &self,
        account: &AccountId,
        role_assignment: &RoleAssignment,
        audit: &AuditEntry,
    ) -> Result<(), DomainError>;
    /// Reads a role assignment.
    async fn get_role_assignment(
        &self,
        account: &AccountId,
        identifier: &str,
    ) -> Result<RoleAssignment, DomainError>;
    /// Lists role assignments, optionally of one principal, ordered by identifier.
    async fn list_role_assignments(
        &self,
        account: &AccountId,
        principal: Option<(PrincipalType, &str)>,
        page: PageRequest,
    ) -> Result<Paged<RoleAssignment>, DomainError>;
    /// Sets `disabled` (and modified time).
    async fn update_role_assignment(
        &self,
        account: &AccountId,
        role_assignment: &RoleAssignment,
        audit: &AuditEntry,
    ) -> Result<(), DomainError>;
    /// Deletes a role assignment.
    async fn delete_role_assignment(
        &self,
        account: &AccountId,
        identifier: &str,
        audit: &AuditEntry,
    ) -> Result<(), DomainError>;
    /// The enabled assignments that apply to a principal: its own and, for a user, those of
    /// the SCIM groups it is a direct member of; joined with custom roles and resource groups.
    async fn principal_grants(
        &self,
        account: &AccountId,
        principal: &crate::access::Principal,
    ) -> Result<Vec<GrantRow>, DomainError>;
    /// Whether a principal exists (SCIM user or group id, or service account identifier).
    async fn principal_exists(
        &self,
        account: &AccountId,
        kind: PrincipalType,
        identifier: &str,
    ) -> Result<bool, DomainError>;
}

/// API keys and their tokens, and the token lookup of authentication. Every method takes the account it works in.
///
/// Failures: `NotFound` for a missing row, `Conflict` for a duplicate identifier (from the
/// database's unique indexes, never check-then-insert).
#[async_trait]
pub trait ApiKeyStore: Send + Sync {
    /// Creates an API key.
    async fn create_api_key(
        &self,
        account: &AccountId,
        key: &ApiKey,
        audit: &AuditEntry,
    ) -> Result<(), DomainError>;
    /// Reads an API key.
    async fn get_api_key(&self, account: &AccountId, key: &ApiKeyRef) -> Result<ApiKey, DomainError>;
    /// Lists the API keys of a parent, ordered by identifier.
    async fn list_api_keys(
        &self,
        account: &AccountId,
        kind: TokenKind,
        parent: &str,
    ) -> Result<Vec<ApiKey>, DomainError>;
    /// Updates name, description, tags, default lifetime.
    async fn update_api_key(
        &self,
        account: &AccountId,
        key: &ApiKey,
        audit: &AuditEntry,
    ) -> Result<(), DomainError>;
    /// Deletes an API key with its tokens.
    async fn delete_api_key(
        &self,
        account: &AccountId,
        key: &ApiKeyRef,
        audit: &AuditEntry,
    ) -> Result<(), DomainError>;

    /// Stores a token (its metadata and the hash of its secret).
    async fn create_token(
        &self,
        account: &AccountId,
        info: &TokenInfo,
        secret_hash: &[u8],
        audit: &AuditEntry,
    ) -> Result<(), DomainError>;
    /// Reads a token's metadata by API key and identifier.
    async fn get_token_info(
        &self,
        account: &AccountId,
        key: &ApiKeyRef,
        identifier: &str,
    ) -> Result<TokenInfo, DomainError>;
    /// Lists the tokens of an API key, ordered by identifier.
    async fn list_tokens(
        &self,
        account: &AccountId,
        key: &ApiKeyRef,
        page: PageRequest,
    ) -> Result<Paged<TokenInfo>, DomainError>;
    /// Replaces a token's secret hash; keeps the old one valid until `previous_valid_to`.
    async fn rotate_token(
        &self,
        account: &AccountId,
        token_id: &str,
        new_hash: &[u8],
        previous_valid_to: Option<OffsetDateTime>,
        now: OffsetDateTime,
        audit: &AuditEntry,
    ) -> Result<(), DomainError>;
    /// Updates a token's name, description, tags and validTo.
    async fn update_token(
        &self,
        account: &AccountId,
        info: &TokenInfo,
        audit: &AuditEntry,
    ) -> Result<(), DomainError>;
    /// Deletes a token.
    async fn delete_token(
        &self,
        account: &AccountId,
        token_id: &str,
        audit: &AuditEntry,
    ) -> Result<(), DomainError>;
    /// Looks up a token for authentication by its id (the id inside the token string).
    async fn get_stored_token(&self, token_id: &str) -> Result<Option<StoredToken>, DomainError>;
    /// Records last-used times (a batch from the tracker); unknown ids are ignored.
    async fn touch_tokens(&self, uses: &[(String, OffsetDateTime)]) -> Result<(), DomainError>;
}

/// Feature flags per account (set by the operator). Every method takes the account it works in.
///
/// Failures: `NotFound` for a missing row, `Conflict` for a duplicate identifier (from the
/// database's unique indexes, never check-then-insert).
#[async_trait]
pub trait FeatureFlagStore: Send + Sync {
    /// The account's feature flags that are on.
    async fn feature_flags(&self, account: &AccountId) -> Result<Vec<String>, DomainError>;
    /// Turns a feature flag on or off (`NotFound` when the account does not exist).
    async fn set_feature_flag(
        &self,
        account: &AccountId,
        flag: &str,
        on: bool,
        audit: &AuditEntry,
    ) -> Result<(), DomainError>;
}

/// Access control of one account, as one bound for the services that need several parts.
pub trait AccessStore:
    OrganizationStore + ServiceAccountStore + RoleStore + RoleAssignmentStore + ApiKeyStore + FeatureFlagStore
{
}

impl<
    T: OrganizationStore
        + ServiceAccountStore
        + RoleStore
        + RoleAssignmentStore
        + ApiKeyStore
        + FeatureFlagStore,
> AccessStore for T
{
}

/// Settings values and their audit trail.
#[async_trait]
pub trait SettingsStore: Send + Sync {
    /// Every stored value of an account, at every scope.
    async fn list_setting_rows(&self, account: &AccountId) -> Result<Vec<SettingRow>, DomainError>;
    /// Writes a value at a scope in one transaction: upserts the row; when
    /// `clear_children`, deletes the same setting's rows in the scopes below; records the
    /// audit entry with the old value read inside the transaction (`audit.old_value` is
    /// ignored). `NotFound` when the scope's organization or project does not exist.
    async fn put_setting(
        &self,
        account: &AccountId,
        row: &SettingRow,
        clear_children: bool,
        audit: &SettingAudit,
        secret: bool,
    ) -> Result<(), DomainError>;
    /// Removes the value at a scope (RESTORE) and records the audit entry; returns whether a
    /// value was there.
    async fn delete_setting(
        &self,
        account: &AccountId,
        scope: &Scope,
        identifier: &str,
        audit: &SettingAudit,
        secret: bool,
    ) -> Result<bool, DomainError>;
    /// The audit trail, newest first.
    async fn list_setting_audit(
        &self,
        account: &AccountId,
        page: PageRequest,
    ) -> Result<Paged<SettingAudit>, DomainError>;
}

/// What a change notification is about: which caches other nodes must drop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangeKind {
    /// Credentials, roles, assignments, group membership, feature flags.
    Access,
    /// Settings (and with them the JWT configuration and keys).
    Settings,
}

impl ChangeKind {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Access => "access",
            ChangeKind::Settings => "settings",
        }
    }
    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "access" => Some(ChangeKind::Access),
            "settings" => Some(ChangeKind::Settings),
            _ => None,
        }
    }
}

/// One change notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Position in the log.
    pub seq: i64,
    /// The account whose caches are stale.
    pub account: AccountId,
    /// Which caches.
    pub kind: ChangeKind,
}

/// The change log that carries cache invalidations between nodes sharing a database
/// (polled; PostgreSQL can add LISTEN/NOTIFY on top).
#[async_trait]
pub trait ChangeStore: Send + Sync {
    /// Appends changes.
    async fn publish_changes(
        &self,
        changes: &[(AccountId, ChangeKind)],
        now: OffsetDateTime,
    ) -> Result<(), DomainError>;
    /// Changes after `after`, oldest first, at most `limit`.
    async fn changes_since(&self, after: i64, limit: i64) -> Result<Vec<Change>, DomainError>;
    /// The newest position (0 when empty).
    async fn latest_change(&self) -> Result<i64, DomainError>;
    /// Deletes changes older than `before`; returns how many.
    async fn prune_changes(&self, before: OffsetDateTime) -> Result<u64, DomainError>;
}

/// Secrets every node of a deployment shares (the key that seals SCIM cursors), kept in the
/// database so that nodes on one database agree without configuration.
#[async_trait]
pub trait SecretStore: Send + Sync {
    /// The secret named `name`: the stored one, or `candidate` stored now when there is none
    /// (the first node to ask decides; every later caller gets that one).
    async fn shared_secret(&self, name: &str, candidate: &[u8]) -> Result<Vec<u8>, DomainError>;
}

/// The audit log (docs/audit.md). Entries are written by the write methods of the other
/// traits, each in the transaction of its change; this reads and prunes them.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Entries matching a query, newest first.
    async fn list_audit(
        &self,
        account: &AccountId,
        query: &AuditQuery,
    ) -> Result<Vec<AuditRecord>, DomainError>;
    /// Of the `batch` oldest entries (of every account, by position), deletes those older
    /// than `before`; returns how many. Fewer than `batch` means the old ones are gone (no
    /// index on time is needed: positions grow with time).
    async fn prune_audit(&self, before: OffsetDateTime, batch: u32) -> Result<u64, DomainError>;
}

/// The SCIM request log (docs/audit.md "SCIM request log").
#[async_trait]
pub trait RequestLogStore: Send + Sync {
    /// Appends a batch of requests (of any accounts) in one transaction.
    async fn insert_scim_requests(&self, batch: &[ScimRequest]) -> Result<(), DomainError>;
    /// Requests of an account matching a query, newest first.
    async fn list_scim_requests(
        &self,
        account: &AccountId,
        query: &ScimRequestQuery,
    ) -> Result<Vec<ScimRequest>, DomainError>;
    /// Of the `batch` oldest stored units (segments of up to 500 requests; rows of the table
    /// before segments while it holds any), deletes those wholly older than `before`;
    /// returns how many (as [`AuditStore::prune_audit`]).
    async fn prune_scim_requests(&self, before: OffsetDateTime, batch: u32) -> Result<u64, DomainError>;
}

/// Both logs, as one bound (reading them, pruning them, writing the request log).
pub trait AuditStores: AuditStore + RequestLogStore {}
impl<T: AuditStore + RequestLogStore> AuditStores for T {}

/// The change-event outbox (docs/events.md): events are written by the SCIM writes; this
/// reads and prunes them.
#[async_trait]
pub trait EventStore: Send + Sync {
    /// A page of an account's events in `seq` order (see [`EventPage::next`]); an `after`
    /// older than what retention kept is `Gone`.
    ///
    /// [`EventPage::next`]: crate::events::EventPage::next
    async fn list_events(
        &self,
        account: &AccountId,
        query: &crate::events::EventQuery,
    ) -> Result<crate::events::EventPage, DomainError>;
    /// The account's newest event number (0 before its first event).
    async fn latest_event(&self, account: &AccountId) -> Result<i64, DomainError>;
    /// Deletes up to `batch` events that occurred before `before`; how many.
    async fn prune_events(&self, before: OffsetDateTime, batch: u32) -> Result<u64, DomainError>;
}

/// Where a subscription's delivery got to, written by the node holding its lease.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookProgress {
    /// The newest event number handled.
    pub cursor: i64,
    /// Failed attempts at the event after it.
    pub attempts: i64,
    /// When the first of those failed.
    pub first_failure: Option<OffsetDateTime>,
    /// When the next attempt is due.
    pub next_attempt: OffsetDateTime,
    /// `Failing` after [`RETRY_FOR`](crate::webhooks::RETRY_FOR) of failures (the
    /// subscription is then also disabled).
    pub status: crate::webhooks::WebhookStatus,
    /// What the last failure said.
    pub last_error: Option<String>,
    /// The lease's new end (now, to hand it back).
    pub lease_until: OffsetDateTime,
}

/// Webhook subscriptions and their deliveries (docs/events.md "Webhooks").
#[async_trait]
pub trait WebhookStore: Send + Sync {
    /// Stores a new subscription; it starts after the account's newest event. Conflict when
    /// the identifier is taken, Invalid past [`MAX_PER_ACCOUNT`](crate::webhooks::MAX_PER_ACCOUNT).
    async fn create_webhook(
        &self,
        account: &AccountId,
        hook: &crate::webhooks::Webhook,
        audit: &AuditEntry,
    ) -> Result<crate::webhooks::Webhook, DomainError>;
    /// One subscription.
    async fn get_webhook(
        &self,
        account: &AccountId,
        identifier: &str,
    ) -> Result<crate::webhooks::Webhook, DomainError>;
    /// The account's subscriptions, by identifier.
    async fn list_webhooks(&self, account: &AccountId) -> Result<Vec<crate::webhooks::Webhook>, DomainError>;
    /// Writes URL, events, format and enabled; enabling a failing subscription makes it active
    /// again with its backlog due at once.
    async fn update_webhook(
        &self,
        account: &AccountId,
        input: &crate::webhooks::WebhookInput,
        now: OffsetDateTime,
        audit: &AuditEntry,
    ) -> Result<crate::webhooks::Webhook, DomainError>;
    /// Deletes a subscription and its delivery log.
    async fn delete_webhook(
        &self,
        account: &AccountId,
        identifier: &str,
        audit: &AuditEntry,
    ) -> Result<(), DomainError>;
    /// Replaces the secret; the old one signs too until `grace_until`.
    async fn rotate_webhook_secret(
        &self,
        account: &AccountId,
        identifier: &str,
        secret: &str,
        grace_until: OffsetDateTime,
        now: OffsetDateTime,
        audit: &AuditEntry,
    ) -> Result<crate::webhooks::Webhook, DomainError>;
    /// A subscription's deliveries, newest first, before delivery `before`.
    async fn list_deliveries(
        &self,
        account: &AccountId,
        identifier: &str,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<crate::webhooks::Delivery>, DomainError>;
    /// One delivery.
    async fn get_delivery(
        &self,
        account: &AccountId,
        identifier: &str,
        id: i64,
    ) -> Result<crate::webhooks::Delivery, DomainError>;
    /// Logs deliveries made outside a lease (redeliveries); returns them with their ids.
    async fn insert_deliveries(
        &self,
        account: &AccountId,
        deliveries: &[crate::webhooks::Delivery],
    ) -> Result<Vec<crate::webhooks::Delivery>, DomainError>;
    /// Whether any subscription of any account is enabled and active (the deliverers sleep
    /// while none is).
    async fn any_active_webhook(&self) -> Result<bool, DomainError>;
    /// Leases up to `limit` subscriptions that have something due (enabled, active, an
    /// attempt due, events after their cursor) and no live lease, to `node` until
    /// `lease_until`; each is delivered by one node at a time.
    async fn claim_webhooks(
        &self,
        node: &str,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<(AccountId, crate::webhooks::Webhook)>, DomainError>;
    /// Writes the progress of a leased subscription and logs its deliveries, if `node` still
    /// holds the lease and the subscription is still enabled; `false` when not (another node
    /// took over, or an administrator disabled or deleted it: stop; what this call would have
    /// recorded is sent again later).
    async fn record_progress(
        &self,
        account: &AccountId,
        identifier: &str,
        node: &str,
        progress: &WebhookProgress,
        deliveries: &[crate::webhooks::Delivery],
    ) -> Result<bool, DomainError>;
    /// Deletes deliveries logged before `before`, up to `batch`; how many.
    async fn prune_deliveries(&self, before: OffsetDateTime, batch: u32) -> Result<u64, DomainError>;
    /// A subscription's poll state (RFC 8936, docs/events.md "Polling").
    async fn poll_state(
        &self,
        account: &AccountId,
        identifier: &str,
    ) -> Result<crate::poll::PollState, DomainError>;
    /// Writes a poll's new state and logs its deliveries, if the stored state is still
    /// `expected` and the subscription still polled; `false` when not (another poll came in
    /// between: read the state again).
    async fn record_poll(
        &self,
        account: &AccountId,
        identifier: &str,
        expected: &crate::poll::PollState,
        new: &crate::poll::PollState,
        deliveries: &[crate::webhooks::Delivery],
    ) -> Result<bool, DomainError>;
}

/// The outbox and the webhooks, as one bound (delivery and retention use both).
pub trait EventStores: EventStore + WebhookStore {}
impl<T: EventStore + WebhookStore> EventStores for T {}

/// Everything a server needs from its database, as one object (each backend implements
/// all of it).
pub trait Store:
    ScimStore + AccountStore + AccessStore + SettingsStore + ChangeStore + SecretStore + AuditStores + EventStores
{
}

impl<
    T: ScimStore
        + AccountStore
        + AccessStore
        + SettingsStore
        + ChangeStore
        + SecretStore
        + AuditStores
        + EventStores,
> Store for T
{
}
