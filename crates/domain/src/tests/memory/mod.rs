//! A small in-memory store for the services' unit tests: every Store trait over maps behind
//! one mutex, with the same rules the SQL store keeps (unique identifiers, cascades, version
//! checks). SCIM lists support paging but no filters: filter SQL is tested in the store crate.

mod access;
mod scim;

use crate::audit::AuditEntry;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use time::OffsetDateTime;

use scimgate_scim::schema::ResourceKind;

use crate::access::{Principal, Scope};
use crate::entities::{
    ApiKey, ApiKeyRef, GrantRow, Organization, PageRequest, Paged, PrincipalType, Project, ResourceGroup,
    Role, RoleAssignment, ServiceAccount, TokenInfo,
};
use crate::error::DomainError;
use crate::ids::AccountId;
use crate::settings::{SettingAudit, SettingRow};
use crate::store::{
    AccountStore, ApiKeyStore, FeatureFlagStore, ListPage, ListQuery, Member, NewAccount, OrganizationStore,
    Page, ResourceUpdate, RoleAssignmentStore, RoleStore, ScimStore, ServiceAccountStore, SettingsStore,
    StoredResource,
};
use crate::token::{StoredToken, TokenKind};

type Key = (String, String);

/// A token: its account, metadata, secret hash and the rotated-out hash.
type StoredTokenRow = (AccountId, TokenInfo, Vec<u8>, Option<Vec<u8>>);

fn key(account: &AccountId, id: &str) -> Key {
    (account.as_str().to_string(), id.to_string())
}

fn kind_name(kind: ResourceKind) -> &'static str {
    kind.name()
}

#[derive(Default)]
struct Data {
    accounts: BTreeMap<String, Vec<String>>,
    orgs: BTreeMap<Key, Organization>,
    projects: BTreeMap<(String, String, String), Project>,
    service_accounts: BTreeMap<Key, ServiceAccount>,
    roles: BTreeMap<Key, Role>,
    resource_groups: BTreeMap<Key, ResourceGroup>,
    assignments: BTreeMap<Key, RoleAssignment>,
    api_keys: BTreeMap<(String, &'static str, String, String), ApiKey>,
    tokens: BTreeMap<String, StoredTokenRow>,
    resources: BTreeMap<(String, &'static str, String), (i64, StoredResource)>,
    settings: Vec<(AccountId, SettingRow)>,
    audit: Vec<(AccountId, SettingAudit)>,
    seq: i64,
}

/// The in-memory store.
#[derive(Default)]
pub struct MemoryStore {
    data: Mutex<Data>,
    /// The next this many conditional SCIM updates fail with `VersionMismatch`, as if
    /// another writer had come first.
    pub conflicts: AtomicUsize,
    /// How many SCIM updates were attempted.
    pub updates: AtomicUsize,
    /// How many SCIM resources were read.
    pub reads: AtomicUsize,
}

impl MemoryStore {
    fn data(&self) -> std::sync::MutexGuard<'_, Data> {
        self.data.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn paged<T: Clone>(items: Vec<T>, page: PageRequest) -> Paged<T> {
    let total = items.len() as u64;
    let items = items.into_iter().skip((page.index * page.size) as usize).take(page.size as usize).collect();
    Paged { items, total }
}

fn matches(search: Option<&str>, id: &str, name: &str) -> bool {
    search.is_none_or(|s| {
        let s = s.to_lowercase();
        id.to_lowercase().contains(&s) || name.to_lowercase().contains(&s)
    })
}

fn not_found(what: &str, id: &str) -> DomainError {
    DomainError::NotFound(format!("{what} '{id}' does not exist"))
}

fn conflict(what: &str, id: &str) -> DomainError {
    DomainError::Conflict(format!("{what} '{id}' already exists"))
}

/// Inserts a row under a new `(account, identifier)`; `Conflict` when it is taken.
fn insert_new<V: Clone>(map: &mut BTreeMap<Key, V>, k: Key, row: &V, what: &str) -> Result<(), DomainError> {
    if map.contains_key(&k) {
        return Err(conflict(what, &k.1));
    }
    map.insert(k, row.clone());
    Ok(())
}

/// Replaces the row at `(account, identifier)`; `NotFound` when there is none.
fn replace_row<V: Clone>(map: &mut BTreeMap<Key, V>, k: Key, row: &V, what: &str) -> Result<(), DomainError> {
    let slot = map.get_mut(&k).ok_or_else(|| not_found(what, &k.1))?;
    *slot = row.clone();
    Ok(())
}

fn kind_str(kind: TokenKind) -> &'static str {
    kind.prefix()
}

#[async_trait]
impl AccountStore for MemoryStore {
    async fn create_account(
        &self,
        account: &NewAccount,
        now: OffsetDateTime,
        _audit: &AuditEntry,
    ) -> Result<(), DomainError> {
        {
            let mut d = self.data();
            if d.accounts.contains_key(account.id.as_str()) {
                return Err(conflict("account", account.id.as_str()));
            }
            d.accounts.insert(account.id.as_str().into(), account.feature_flags.clone());
        }
        self.create_resource(
            &account.id,
            ResourceKind::User,
            &account.admin_user_id,
            &account.admin_doc,
            &[],
            now,
            _audit,
        )
        .await?;
        let mut d = self.data();
        let info = TokenInfo {
            token_id: account.admin_token.token_id.clone(),
            api_key_type: TokenKind::User,
            parent_identifier: account.admin_user_id.clone(),
            api_key_identifier: "bootstrap".into(),
            identifier: "bootstrap".into(),
            name: "bootstrap".into(),
            description: String::new(),
            tags: Default::default(),
            created: now,
            modified: now,
            valid_from: now,
            valid_to: None,
            last_used: None,
            previous_valid_to: None,
        };
        d.tokens.insert(
            info.token_id.clone(),
            (account.id.clone(), info, account.admin_token.secret_hash.clone(), None),
        );
        d.assignments.insert(
            key(&account.id, "bootstrap_admin"),
            RoleAssignment {
                identifier: "bootstrap_admin".into(),
                scope: Scope::account(),
                role_identifier: crate::access::ACCOUNT_ADMIN_ROLE.into(),
                resource_group_identifier: crate::access::ALL_ACCOUNT_RESOURCES.into(),
                principal_type: PrincipalType::User,
                principal_identifier: account.admin_user_id.clone(),
                disabled: false,
                created: now,
                modified: now,
            },
        );
        Ok(())
    }
    async fn account_exists(&self, account: &AccountId) -> Result<bool, DomainError> {
        Ok(self.data().accounts.contains_key(account.as_str()))
    }
    async fn count_accounts(&self) -> Result<u64, DomainError> {
        Ok(self.data().accounts.len() as u64)
    }
    async fn ping(&self) -> Result<(), DomainError> {
        Ok(())
    }
    fn pool_status(&self) -> crate::store::PoolStatus {
        crate::store::PoolStatus::default()
    }
}

#[async_trait]
impl crate::store::AuditStore for MemoryStore {
    async fn list_audit(
        &self,
        _account: &AccountId,
        _query: &crate::audit::AuditQuery,
    ) -> Result<Vec<crate::audit::AuditRecord>, DomainError> {
        Ok(vec![])
    }
    async fn prune_audit(&self, _before: OffsetDateTime, _batch: u32) -> Result<u64, DomainError> {
        Ok(0)
    }
}

#[async_trait]
impl crate::store::RequestLogStore for MemoryStore {
    async fn insert_scim_requests(
        &self,
        _batch: &[crate::request_log::ScimRequest],
    ) -> Result<(), DomainError> {
        Ok(())
    }
    async fn list_scim_requests(
        &self,
        _account: &AccountId,
        _query: &crate::request_log::ScimRequestQuery,
    ) -> Result<Vec<crate::request_log::ScimRequest>, DomainError> {
        Ok(vec![])
    }
    async fn prune_scim_requests(&self, _before: OffsetDateTime, _batch: u32) -> Result<u64, DomainError> {
        Ok(0)
    }
}

/// The feed is the SQL stores' (tested there); here it is empty, for the permission walk.
#[async_trait]
impl crate::store::EventStore for MemoryStore {
    async fn list_events(
        &self,
        _account: &AccountId,
        query: &crate::events::EventQuery,
    ) -> Result<crate::events::EventPage, DomainError> {
        Ok(crate::events::EventPage { events: vec![], next: query.after.unwrap_or(0) })
    }
    async fn latest_event(&self, _account: &AccountId) -> Result<i64, DomainError> {
        Ok(0)
    }
    async fn prune_events(&self, _before: OffsetDateTime, _batch: u32) -> Result<u64, DomainError> {
        Ok(0)
    }
}

/// Subscriptions are the SQL stores' (tested there); here none exists, for the permission
/// walk (with the permission, every call gets as far as "not found").
#[async_trait]
impl crate::store::WebhookStore for MemoryStore {
    async fn create_webhook(
        &self,
        _account: &AccountId,
        hook: &crate::webhooks::Webhook,
        _audit: &crate::audit::AuditEntry,
    ) -> Result<crate::webhooks::Webhook, DomainError> {
        Ok(hook.clone())
    }
    async fn get_webhook(
        &self,
        _account: &AccountId,
        id: &str,
    ) -> Result<crate::webhooks::Webhook, DomainError> {
        Err(DomainError::NotFound(format!("webhook '{id}' not found")))
    }
    async fn list_webhooks(
        &self,
        _account: &AccountId,
    ) -> Result<Vec<crate::webhooks::Webhook>, DomainError> {
        Ok(vec![])
    }
    async fn update_webhook(
        &self,
        _account: &AccountId,
        input: &crate::webhooks::WebhookInput,
        _now: OffsetDateTime,
        _audit: &crate::audit::AuditEntry,
    ) -> Result<crate::webhooks::Webhook, DomainError> {
        Err(DomainError::NotFound(format!("webhook '{}' not found", input.identifier)))
    }
    async fn delete_webhook(
        &self,
        _account: &AccountId,
        id: &str,
        _audit: &crate::audit::AuditEntry,
    ) -> Result<(), DomainError> {
        Err(DomainError::NotFound(format!("webhook '{id}' not found")))
    }
    async fn rotate_webhook_secret(
        &self,
        _account: &AccountId,
        id: &str,
        _secret: &str,
        _grace_until: OffsetDateTime,
        _now: OffsetDateTime,
        _audit: &crate::audit::AuditEntry,
    ) -> Result<crate::webhooks::Webhook, DomainError> {
        Err(DomainError::NotFound(format!("webhook '{id}' not found")))
    }
    async fn list_deliveries(
        &self,
        _account: &AccountId,
        _id: &str,
        _before: Option<i64>,
        _limit: u32,
    ) -> Result<Vec<crate::webhooks::Delivery>, DomainError> {
        Ok(vec![])
    }
    async fn get_delivery(
        &self,
        _account: &AccountId,
        _id: &str,
        n: i64,
    ) -> Result<crate::webhooks::Delivery, DomainError> {
        Err(DomainError::NotFound(format!("delivery {n} not found")))
    }
    async fn insert_deliveries(
        &self,
        _account: &AccountId,
        deliveries: &[crate::webhooks::Delivery],
    ) -> Result<Vec<crate::webhooks::Delivery>, DomainError> {
        Ok(deliveries.to_vec())
    }
    async fn any_active_webhook(&self) -> Result<bool, DomainError> {
        Ok(false)
    }
    async fn claim_webhooks(
        &self,
        _node: &str,
        _now: OffsetDateTime,
        _lease_until: OffsetDateTime,
        _limit: u32,
    ) -> Result<Vec<(AccountId, crate::webhooks::Webhook)>, DomainError> {
        Ok(vec![])
    }
    async fn record_progress(
        &self,
        _account: &AccountId,
        _id: &str,
        _node: &str,
        _progress: &crate::store::WebhookProgress,
        _deliveries: &[crate::webhooks::Delivery],
    ) -> Result<bool, DomainError> {
        Ok(false)
    }
    async fn prune_deliveries(&self, _before: OffsetDateTime, _batch: u32) -> Result<u64, DomainError> {
        Ok(0)
    }
    async fn poll_state(
        &self,
        _account: &AccountId,
        id: &str,
    ) -> Result<crate::poll::PollState, DomainError> {
        Err(DomainError::NotFound(format!("webhook '{id}' not found")))
    }
    async fn record_poll(
        &self,
        _account: &AccountId,
        _id: &str,
        _expected: &crate::poll::PollState,
        _new: &crate::poll::PollState,
        _deliveries: &[crate::webhooks::Delivery],
    ) -> Result<bool, DomainError> {
        Ok(false)
    }
}
