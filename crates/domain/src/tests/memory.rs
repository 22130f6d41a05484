//! A small in-memory store for the services' unit tests: every Store trait over maps behind
//! one mutex, with the same rules the SQL store keeps (unique identifiers, cascades, version
//! checks). SCIM lists support paging but no filters: filter SQL is tested in the store crate.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use scimgate_scim::patch::{MemberChange, MemberRef};
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

fn kind_str(kind: TokenKind) -> &'static str {
    kind.prefix()
}

#[async_trait]
impl AccountStore for MemoryStore {
    async fn create_account(&self, account: &NewAccount, now: OffsetDateTime) -> Result<(), DomainError> {
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
}

#[async_trait]
impl OrganizationStore for MemoryStore {
    async fn create_org(&self, account: &AccountId, org: &Organization) -> Result<(), DomainError> {
        let mut d = self.data();
        let k = key(account, &org.identifier);
        if d.orgs.contains_key(&k) {
            return Err(conflict("organization", &org.identifier));
        }
        d.orgs.insert(k, org.clone());
        Ok(())
    }
    async fn get_org(&self, account: &AccountId, identifier: &str) -> Result<Organization, DomainError> {
        self.data()
            .orgs
            .get(&key(account, identifier))
            .cloned()
            .ok_or_else(|| not_found("organization", identifier))
    }
    async fn list_orgs(
        &self,
        account: &AccountId,
        search: Option<&str>,
        page: PageRequest,
    ) -> Result<Paged<Organization>, DomainError> {
        let d = self.data();
        let items = d
            .orgs
            .iter()
            .filter(|((a, _), o)| a == account.as_str() && matches(search, &o.identifier, &o.name))
            .map(|(_, o)| o.clone())
            .collect();
        Ok(paged(items, page))
    }
    async fn update_org(&self, account: &AccountId, org: &Organization) -> Result<(), DomainError> {
        let mut d = self.data();
        let o = d
            .orgs
            .get_mut(&key(account, &org.identifier))
            .ok_or_else(|| not_found("organization", &org.identifier))?;
        *o = org.clone();
        Ok(())
    }
    async fn delete_org(&self, account: &AccountId, identifier: &str) -> Result<(), DomainError> {
        let mut d = self.data();
        d.orgs.remove(&key(account, identifier)).ok_or_else(|| not_found("organization", identifier))?;
        d.projects.retain(|(a, o, _), _| !(a == account.as_str() && o == identifier));
        d.assignments.retain(|(a, _), ra| !(a == account.as_str() && ra.scope.org == identifier));
        Ok(())
    }
    async fn create_project(&self, account: &AccountId, project: &Project) -> Result<(), DomainError> {
        let mut d = self.data();
        if !d.orgs.contains_key(&key(account, &project.org_identifier)) {
            return Err(not_found("organization", &project.org_identifier));
        }
        let k = (account.as_str().into(), project.org_identifier.clone(), project.identifier.clone());
        if d.projects.contains_key(&k) {
            return Err(conflict("project", &project.identifier));
        }
        d.projects.insert(k, project.clone());
        Ok(())
    }
    async fn get_project(
        &self,
        account: &AccountId,
        org: &str,
        identifier: &str,
    ) -> Result<Project, DomainError> {
        self.data()
            .projects
            .get(&(account.as_str().into(), org.into(), identifier.into()))
            .cloned()
            .ok_or_else(|| not_found("project", identifier))
    }
    async fn list_projects(
        &self,
        account: &AccountId,
        org: Option<&str>,
        search: Option<&str>,
        page: PageRequest,
    ) -> Result<Paged<Project>, DomainError> {
        let d = self.data();
        let items = d
            .projects
            .iter()
            .filter(|((a, o, _), p)| {
                a == account.as_str() && org.is_none_or(|x| x == o) && matches(search, &p.identifier, &p.name)
            })
            .map(|(_, p)| p.clone())
            .collect();
        Ok(paged(items, page))
    }
    async fn update_project(&self, account: &AccountId, project: &Project) -> Result<(), DomainError> {
        let mut d = self.data();
        let k = (account.as_str().into(), project.org_identifier.clone(), project.identifier.clone());
        let p = d.projects.get_mut(&k).ok_or_else(|| not_found("project", &project.identifier))?;
        *p = project.clone();
        Ok(())
    }
    async fn delete_project(
        &self,
        account: &AccountId,
        org: &str,
        identifier: &str,
    ) -> Result<(), DomainError> {
        let mut d = self.data();
        d.projects
            .remove(&(account.as_str().into(), org.into(), identifier.into()))
            .map(|_| ())
            .ok_or_else(|| not_found("project", identifier))
    }
}

#[async_trait]
impl ServiceAccountStore for MemoryStore {
    async fn create_service_account(
        &self,
        account: &AccountId,
        sa: &ServiceAccount,
    ) -> Result<(), DomainError> {
        let mut d = self.data();
        let k = key(account, &sa.identifier);
        if d.service_accounts.contains_key(&k) {
            return Err(conflict("service account", &sa.identifier));
        }
        d.service_accounts.insert(k, sa.clone());
        Ok(())
    }
    async fn get_service_account(
        &self,
        account: &AccountId,
        identifier: &str,
    ) -> Result<ServiceAccount, DomainError> {
        self.data()
            .service_accounts
            .get(&key(account, identifier))
            .cloned()
            .ok_or_else(|| not_found("service account", identifier))
    }
    async fn list_service_accounts(
        &self,
        account: &AccountId,
        search: Option<&str>,
        page: PageRequest,
    ) -> Result<Paged<ServiceAccount>, DomainError> {
        let d = self.data();
        let items = d
            .service_accounts
            .iter()
            .filter(|((a, _), s)| a == account.as_str() && matches(search, &s.identifier, &s.name))
            .map(|(_, s)| s.clone())
            .collect();
        Ok(paged(items, page))
    }
    async fn update_service_account(
        &self,
        account: &AccountId,
        sa: &ServiceAccount,
    ) -> Result<(), DomainError> {
        let mut d = self.data();
        let s = d
            .service_accounts
            .get_mut(&key(account, &sa.identifier))
            .ok_or_else(|| not_found("service account", &sa.identifier))?;
        *s = sa.clone();
        Ok(())
    }
    async fn delete_service_account(&self, account: &AccountId, identifier: &str) -> Result<(), DomainError> {
        let mut d = self.data();
        d.service_accounts
            .remove(&key(account, identifier))
            .ok_or_else(|| not_found("service account", identifier))?;
        let a = account.as_str();
        d.api_keys.retain(|(acc, k, p, _), _| !(acc == a && *k == "sat" && p == identifier));
        d.tokens.retain(|_, (acc, t, _, _)| {
            !(acc == account
                && t.api_key_type == TokenKind::ServiceAccount
                && t.parent_identifier == identifier)
        });
        d.assignments.retain(|(acc, _), ra| {
            !(acc == a
                && ra.principal_type == PrincipalType::ServiceAccount
                && ra.principal_identifier == identifier)
        });
        Ok(())
    }
}

#[async_trait]
impl RoleStore for MemoryStore {
    async fn create_role(&self, account: &AccountId, role: &Role) -> Result<(), DomainError> {
        let mut d = self.data();
        let k = key(account, &role.identifier);
        if d.roles.contains_key(&k) {
            return Err(conflict("role", &role.identifier));
        }
        d.roles.insert(k, role.clone());
        Ok(())
    }
    async fn get_role(&self, account: &AccountId, identifier: &str) -> Result<Role, DomainError> {
        self.data().roles.get(&key(account, identifier)).cloned().ok_or_else(|| not_found("role", identifier))
    }
    async fn list_roles(&self, account: &AccountId, page: PageRequest) -> Result<Paged<Role>, DomainError> {
        let d = self.data();
        let items =
            d.roles.iter().filter(|((a, _), _)| a == account.as_str()).map(|(_, r)| r.clone()).collect();
        Ok(paged(items, page))
    }
    async fn update_role(&self, account: &AccountId, role: &Role) -> Result<(), DomainError> {
        let mut d = self.data();
        let r = d
            .roles
            .get_mut(&key(account, &role.identifier))
            .ok_or_else(|| not_found("role", &role.identifier))?;
        *r = role.clone();
        Ok(())
    }
    async fn delete_role(&self, account: &AccountId, identifier: &str) -> Result<(), DomainError> {
        let mut d = self.data();
        if d.assignments.iter().any(|((a, _), ra)| a == account.as_str() && ra.role_identifier == identifier)
        {
            return Err(DomainError::Conflict(format!("role '{identifier}' is used by role assignments")));
        }
        d.roles.remove(&key(account, identifier)).map(|_| ()).ok_or_else(|| not_found("role", identifier))
    }
    async fn create_resource_group(
        &self,
        account: &AccountId,
        rg: &ResourceGroup,
    ) -> Result<(), DomainError> {
        let mut d = self.data();
        let k = key(account, &rg.identifier);
        if d.resource_groups.contains_key(&k) {
            return Err(conflict("resource group", &rg.identifier));
        }
        d.resource_groups.insert(k, rg.clone());
        Ok(())
    }
    async fn get_resource_group(
        &self,
        account: &AccountId,
        identifier: &str,
    ) -> Result<ResourceGroup, DomainError> {
        self.data()
            .resource_groups
            .get(&key(account, identifier))
            .cloned()
            .ok_or_else(|| not_found("resource group", identifier))
    }
    async fn list_resource_groups(
        &self,
        account: &AccountId,
        page: PageRequest,
    ) -> Result<Paged<ResourceGroup>, DomainError> {
        let d = self.data();
        let items = d
            .resource_groups
            .iter()
            .filter(|((a, _), _)| a == account.as_str())
            .map(|(_, r)| r.clone())
            .collect();
        Ok(paged(items, page))
    }
    async fn update_resource_group(
        &self,
        account: &AccountId,
        rg: &ResourceGroup,
    ) -> Result<(), DomainError> {
        let mut d = self.data();
        let r = d
            .resource_groups
            .get_mut(&key(account, &rg.identifier))
            .ok_or_else(|| not_found("resource group", &rg.identifier))?;
        *r = rg.clone();
        Ok(())
    }
    async fn delete_resource_group(&self, account: &AccountId, identifier: &str) -> Result<(), DomainError> {
        let mut d = self.data();
        if d.assignments
            .iter()
            .any(|((a, _), ra)| a == account.as_str() && ra.resource_group_identifier == identifier)
        {
            return Err(DomainError::Conflict(format!(
                "resource group '{identifier}' is used by role assignments"
            )));
        }
        d.resource_groups
            .remove(&key(account, identifier))
            .map(|_| ())
            .ok_or_else(|| not_found("resource group", identifier))
    }
}

#[async_trait]
impl RoleAssignmentStore for MemoryStore {
    async fn create_role_assignment(
        &self,
        account: &AccountId,
        ra: &RoleAssignment,
    ) -> Result<(), DomainError> {
        let mut d = self.data();
        let k = key(account, &ra.identifier);
        let same = |x: &RoleAssignment| {
            x.scope == ra.scope
                && x.role_identifier == ra.role_identifier
                && x.resource_group_identifier == ra.resource_group_identifier
                && x.principal_type == ra.principal_type
                && x.principal_identifier == ra.principal_identifier
        };
        if d.assignments.contains_key(&k)
            || d.assignments.iter().any(|((a, _), x)| a == account.as_str() && same(x))
        {
            return Err(conflict("role assignment", &ra.identifier));
        }
        d.assignments.insert(k, ra.clone());
        Ok(())
    }
    async fn get_role_assignment(
        &self,
        account: &AccountId,
        identifier: &str,
    ) -> Result<RoleAssignment, DomainError> {
        self.data()
            .assignments
            .get(&key(account, identifier))
            .cloned()
            .ok_or_else(|| not_found("role assignment", identifier))
    }
    async fn list_role_assignments(
        &self,
        account: &AccountId,
        principal: Option<(PrincipalType, &str)>,
        page: PageRequest,
    ) -> Result<Paged<RoleAssignment>, DomainError> {
        let d = self.data();
        let items = d
            .assignments
            .iter()
            .filter(|((a, _), ra)| {
                a == account.as_str()
                    && principal.is_none_or(|(t, id)| ra.principal_type == t && ra.principal_identifier == id)
            })
            .map(|(_, ra)| ra.clone())
            .collect();
        Ok(paged(items, page))
    }
    async fn update_role_assignment(
        &self,
        account: &AccountId,
        ra: &RoleAssignment,
    ) -> Result<(), DomainError> {
        let mut d = self.data();
        let r = d
            .assignments
            .get_mut(&key(account, &ra.identifier))
            .ok_or_else(|| not_found("role assignment", &ra.identifier))?;
        *r = ra.clone();
        Ok(())
    }
    async fn delete_role_assignment(&self, account: &AccountId, identifier: &str) -> Result<(), DomainError> {
        self.data()
            .assignments
            .remove(&key(account, identifier))
            .map(|_| ())
            .ok_or_else(|| not_found("role assignment", identifier))
    }
    async fn principal_grants(
        &self,
        account: &AccountId,
        principal: &Principal,
    ) -> Result<Vec<GrantRow>, DomainError> {
        let d = self.data();
        let a = account.as_str();
        // The user's direct groups.
        let groups: Vec<String> = match principal {
            Principal::User(uid) => d
                .resources
                .iter()
                .filter(|((acc, k, _), (_, r))| {
                    acc == a
                        && *k == "Group"
                        && r.members.as_ref().is_some_and(|m| m.iter().any(|m| &m.value == uid))
                })
                .map(|((_, _, id), _)| id.clone())
                .collect(),
            _ => vec![],
        };
        let applies = |ra: &RoleAssignment| {
            (ra.principal_type.as_str() == principal.type_name() && ra.principal_identifier == principal.id())
                || (ra.principal_type == PrincipalType::UserGroup
                    && groups.contains(&ra.principal_identifier))
        };
        Ok(d.assignments
            .iter()
            .filter(|((acc, _), ra)| acc == a && !ra.disabled && applies(ra))
            .map(|(_, ra)| GrantRow {
                scope: ra.scope.clone(),
                role_identifier: ra.role_identifier.clone(),
                role_permissions: d
                    .roles
                    .get(&key(account, &ra.role_identifier))
                    .map(|r| r.permissions.clone()),
                resource_group_identifier: ra.resource_group_identifier.clone(),
                resource_group: d
                    .resource_groups
                    .get(&key(account, &ra.resource_group_identifier))
                    .map(|g| (g.include_all, g.resource_types.clone())),
            })
            .collect())
    }
    async fn principal_exists(
        &self,
        account: &AccountId,
        kind: PrincipalType,
        identifier: &str,
    ) -> Result<bool, DomainError> {
        let d = self.data();
        let a = account.as_str().to_string();
        Ok(match kind {
            PrincipalType::User => d.resources.contains_key(&(a, "User", identifier.into())),
            PrincipalType::UserGroup => d.resources.contains_key(&(a, "Group", identifier.into())),
            PrincipalType::ServiceAccount => d.service_accounts.contains_key(&key(account, identifier)),
        })
    }
}

fn key_of(account: &AccountId, r: &ApiKeyRef) -> (String, &'static str, String, String) {
    (account.as_str().into(), kind_str(r.api_key_type), r.parent_identifier.clone(), r.identifier.clone())
}

#[async_trait]
impl ApiKeyStore for MemoryStore {
    async fn create_api_key(&self, account: &AccountId, k: &ApiKey) -> Result<(), DomainError> {
        let mut d = self.data();
        let kk = (
            account.as_str().into(),
            kind_str(k.api_key_type),
            k.parent_identifier.clone(),
            k.identifier.clone(),
        );
        if d.api_keys.contains_key(&kk) {
            return Err(conflict("API key", &k.identifier));
        }
        d.api_keys.insert(kk, k.clone());
        Ok(())
    }
    async fn get_api_key(&self, account: &AccountId, r: &ApiKeyRef) -> Result<ApiKey, DomainError> {
        self.data()
            .api_keys
            .get(&key_of(account, r))
            .cloned()
            .ok_or_else(|| not_found("API key", &r.identifier))
    }
    async fn list_api_keys(
        &self,
        account: &AccountId,
        kind: TokenKind,
        parent: &str,
    ) -> Result<Vec<ApiKey>, DomainError> {
        let d = self.data();
        Ok(d.api_keys
            .iter()
            .filter(|((a, k, p, _), _)| a == account.as_str() && *k == kind_str(kind) && p == parent)
            .map(|(_, v)| v.clone())
            .collect())
    }
    async fn update_api_key(&self, account: &AccountId, k: &ApiKey) -> Result<(), DomainError> {
        let mut d = self.data();
        let kk = (
            account.as_str().into(),
            kind_str(k.api_key_type),
            k.parent_identifier.clone(),
            k.identifier.clone(),
        );
        let v = d.api_keys.get_mut(&kk).ok_or_else(|| not_found("API key", &k.identifier))?;
        *v = k.clone();
        Ok(())
    }
    async fn delete_api_key(&self, account: &AccountId, r: &ApiKeyRef) -> Result<(), DomainError> {
        let mut d = self.data();
        d.api_keys.remove(&key_of(account, r)).ok_or_else(|| not_found("API key", &r.identifier))?;
        d.tokens.retain(|_, (a, t, _, _)| {
            !(a == account
                && t.api_key_type == r.api_key_type
                && t.parent_identifier == r.parent_identifier
                && t.api_key_identifier == r.identifier)
        });
        Ok(())
    }
    async fn create_token(
        &self,
        account: &AccountId,
        info: &TokenInfo,
        secret_hash: &[u8],
    ) -> Result<(), DomainError> {
        let mut d = self.data();
        let dup = d.tokens.values().any(|(a, t, _, _)| {
            a == account
                && t.api_key_type == info.api_key_type
                && t.parent_identifier == info.parent_identifier
                && t.api_key_identifier == info.api_key_identifier
                && t.identifier == info.identifier
        });
        if dup {
            return Err(conflict("token", &info.identifier));
        }
        d.tokens.insert(info.token_id.clone(), (account.clone(), info.clone(), secret_hash.to_vec(), None));
        Ok(())
    }
    async fn get_token_info(
        &self,
        account: &AccountId,
        r: &ApiKeyRef,
        identifier: &str,
    ) -> Result<TokenInfo, DomainError> {
        let d = self.data();
        d.tokens
            .values()
            .find(|(a, t, _, _)| {
                a == account
                    && t.api_key_type == r.api_key_type
                    && t.parent_identifier == r.parent_identifier
                    && t.api_key_identifier == r.identifier
                    && t.identifier == identifier
            })
            .map(|(_, t, _, _)| t.clone())
            .ok_or_else(|| not_found("token", identifier))
    }
    async fn list_tokens(
        &self,
        account: &AccountId,
        r: &ApiKeyRef,
        page: PageRequest,
    ) -> Result<Paged<TokenInfo>, DomainError> {
        let d = self.data();
        let mut items: Vec<TokenInfo> = d
            .tokens
            .values()
            .filter(|(a, t, _, _)| {
                a == account
                    && t.api_key_type == r.api_key_type
                    && t.parent_identifier == r.parent_identifier
                    && t.api_key_identifier == r.identifier
            })
            .map(|(_, t, _, _)| t.clone())
            .collect();
        items.sort_by(|a, b| a.identifier.cmp(&b.identifier));
        Ok(paged(items, page))
    }
    async fn rotate_token(
        &self,
        account: &AccountId,
        token_id: &str,
        new_hash: &[u8],
        previous_valid_to: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Result<(), DomainError> {
        let mut d = self.data();
        let (a, info, hash, previous) =
            d.tokens.get_mut(token_id).ok_or_else(|| not_found("token", token_id))?;
        if a != account {
            return Err(not_found("token", token_id));
        }
        *previous = previous_valid_to.map(|_| hash.clone());
        *hash = new_hash.to_vec();
        info.previous_valid_to = previous_valid_to;
        info.modified = now;
        Ok(())
    }
    async fn update_token(&self, account: &AccountId, info: &TokenInfo) -> Result<(), DomainError> {
        let mut d = self.data();
        match d.tokens.get_mut(&info.token_id) {
            Some((a, t, _, _)) if a == account => {
                *t = info.clone();
                Ok(())
            }
            _ => Err(not_found("token", &info.identifier)),
        }
    }
    async fn delete_token(&self, account: &AccountId, token_id: &str) -> Result<(), DomainError> {
        let mut d = self.data();
        match d.tokens.get(token_id) {
            Some((a, _, _, _)) if a == account => {
                d.tokens.remove(token_id);
                Ok(())
            }
            _ => Err(not_found("token", token_id)),
        }
    }
    async fn get_stored_token(&self, token_id: &str) -> Result<Option<StoredToken>, DomainError> {
        let d = self.data();
        let Some((account, t, hash, previous)) = d.tokens.get(token_id) else { return Ok(None) };
        // A deactivated user's personal tokens stop working (as in the SQL lookup).
        if t.api_key_type == TokenKind::User {
            let user = d.resources.get(&(account.as_str().into(), "User", t.parent_identifier.clone()));
            if user.is_none_or(|(_, r)| r.doc.get("active") == Some(&Value::Bool(false))) {
                return Ok(None);
            }
        }
        Ok(Some(StoredToken {
            token_id: t.token_id.clone(),
            account: account.clone(),
            kind: t.api_key_type,
            principal_id: t.parent_identifier.clone(),
            secret_hash: hash.clone(),
            valid_from: Some(t.valid_from),
            valid_to: t.valid_to,
            previous_secret_hash: previous.clone(),
            previous_valid_to: t.previous_valid_to,
        }))
    }
    async fn touch_tokens(&self, uses: &[(String, OffsetDateTime)]) -> Result<(), DomainError> {
        let mut d = self.data();
        for (id, at) in uses {
            if let Some((_, t, _, _)) = d.tokens.get_mut(id) {
                t.last_used = Some(*at);
            }
        }
        Ok(())
    }
}

#[async_trait]
impl FeatureFlagStore for MemoryStore {
    async fn feature_flags(&self, account: &AccountId) -> Result<Vec<String>, DomainError> {
        Ok(self.data().accounts.get(account.as_str()).cloned().unwrap_or_default())
    }
    async fn set_feature_flag(&self, account: &AccountId, flag: &str, on: bool) -> Result<(), DomainError> {
        let mut d = self.data();
        let flags =
            d.accounts.get_mut(account.as_str()).ok_or_else(|| not_found("account", account.as_str()))?;
        flags.retain(|f| f != flag);
        if on {
            flags.push(flag.into());
            flags.sort();
        }
        Ok(())
    }
}

fn to_members(refs: &[MemberRef]) -> Vec<Member> {
    refs.iter()
        .map(|m| Member {
            value: m.value.clone(),
            member_type: if m.member_type.as_deref() == Some("Group") {
                ResourceKind::Group
            } else {
                ResourceKind::User
            },
            display: m.display.clone(),
        })
        .collect()
}

#[async_trait]
impl ScimStore for MemoryStore {
    async fn create_resource(
        &self,
        account: &AccountId,
        kind: ResourceKind,
        id: &str,
        doc: &Map<String, Value>,
        members: &[MemberRef],
        now: OffsetDateTime,
    ) -> Result<StoredResource, DomainError> {
        let mut d = self.data();
        let a = account.as_str().to_string();
        if kind == ResourceKind::User {
            let name = doc.get("userName").and_then(Value::as_str).unwrap_or_default().to_lowercase();
            let taken = d.resources.iter().any(|((acc, k, _), (_, r))| {
                *acc == a
                    && *k == "User"
                    && r.doc.get("userName").and_then(Value::as_str).is_some_and(|n| n.to_lowercase() == name)
            });
            if taken {
                return Err(DomainError::Conflict(format!("userName '{name}' is already taken")));
            }
        }
        d.seq += 1;
        let seq = d.seq;
        let r = StoredResource {
            id: id.into(),
            doc: doc.clone(),
            created: now,
            last_modified: now,
            version: 1,
            members: (kind == ResourceKind::Group).then(|| to_members(members)),
            groups: None,
        };
        d.resources.insert((a, kind_name(kind), id.into()), (seq, r.clone()));
        Ok(r)
    }

    async fn get_resource(
        &self,
        account: &AccountId,
        kind: ResourceKind,
        id: &str,
        include_related: bool,
    ) -> Result<StoredResource, DomainError> {
        let d = self.data();
        let a = account.as_str().to_string();
        let (_, r) = d
            .resources
            .get(&(a.clone(), kind_name(kind), id.into()))
            .ok_or_else(|| DomainError::NotFound(format!("{} {id} not found", kind.name())))?;
        let mut r = r.clone();
        match (kind, include_related) {
            (ResourceKind::Group, false) => r.members = None,
            (ResourceKind::User, true) => {
                r.groups = Some(
                    d.resources
                        .iter()
                        .filter(|((acc, k, _), (_, g))| {
                            *acc == a
                                && *k == "Group"
                                && g.members.as_ref().is_some_and(|m| m.iter().any(|m| m.value == id))
                        })
                        .map(|((_, _, gid), (_, g))| crate::store::GroupRef {
                            value: gid.clone(),
                            display: g.doc.get("displayName").and_then(Value::as_str).map(str::to_string),
                        })
                        .collect(),
                )
            }
            _ => {}
        }
        Ok(r)
    }

    async fn update_resource(
        &self,
        account: &AccountId,
        kind: ResourceKind,
        id: &str,
        update: &ResourceUpdate<'_>,
        now: OffsetDateTime,
    ) -> Result<(i64, OffsetDateTime), DomainError> {
        self.updates.fetch_add(1, Ordering::SeqCst);
        let mut d = self.data();
        let k = (account.as_str().to_string(), kind_name(kind), id.to_string());
        let (_, r) = d
            .resources
            .get_mut(&k)
            .ok_or_else(|| DomainError::NotFound(format!("{} {id} not found", kind.name())))?;
        if update.expected_version.is_some()
            && self.conflicts.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok()
        {
            // Another writer came first.
            r.version += 1;
            return Err(DomainError::VersionMismatch);
        }
        if update.expected_version.is_some_and(|v| v != r.version) {
            return Err(DomainError::VersionMismatch);
        }
        if let Some(doc) = update.doc {
            r.doc = doc.clone();
        }
        let members = r.members.get_or_insert_with(Vec::new);
        for change in update.members {
            match change {
                MemberChange::Add(refs) => {
                    for m in to_members(refs) {
                        if !members.iter().any(|x| x.value == m.value) {
                            members.push(m);
                        }
                    }
                }
                MemberChange::Remove(ids) => members.retain(|m| !ids.contains(&m.value)),
                MemberChange::RemoveAll => members.clear(),
                MemberChange::Replace(refs) => *members = to_members(refs),
            }
        }
        if kind == ResourceKind::User {
            r.members = None;
        }
        r.version += 1;
        r.last_modified = now;
        Ok((r.version, now))
    }

    async fn delete_resource(
        &self,
        account: &AccountId,
        kind: ResourceKind,
        id: &str,
        expected_version: Option<i64>,
    ) -> Result<(), DomainError> {
        let mut d = self.data();
        let a = account.as_str().to_string();
        let k = (a.clone(), kind_name(kind), id.to_string());
        let (_, r) = d
            .resources
            .get(&k)
            .ok_or_else(|| DomainError::NotFound(format!("{} {id} not found", kind.name())))?;
        if expected_version.is_some_and(|v| v != r.version) {
            return Err(DomainError::VersionMismatch);
        }
        d.resources.remove(&k);
        for ((acc, _, _), (_, g)) in d.resources.iter_mut() {
            if *acc == a
                && let Some(m) = g.members.as_mut()
            {
                m.retain(|m| m.value != id);
            }
        }
        let pt = if kind == ResourceKind::User { PrincipalType::User } else { PrincipalType::UserGroup };
        d.assignments
            .retain(|(acc, _), ra| !(*acc == a && ra.principal_type == pt && ra.principal_identifier == id));
        if kind == ResourceKind::User {
            d.tokens.retain(|_, (acc, t, _, _)| {
                !(acc == account && t.api_key_type == TokenKind::User && t.parent_identifier == id)
            });
            d.api_keys.retain(|(acc, k, p, _), _| !(*acc == a && *k == "pat" && p == id));
        }
        Ok(())
    }

    async fn list_resources(
        &self,
        account: &AccountId,
        kind: ResourceKind,
        query: &ListQuery,
    ) -> Result<ListPage, DomainError> {
        if query.filter.is_some() || query.sort.is_some() {
            return Err(DomainError::invalid("the test store lists without filters or sorting"));
        }
        let d = self.data();
        let a = account.as_str();
        let mut all: Vec<(i64, StoredResource)> = d
            .resources
            .iter()
            .filter(|((acc, k, _), _)| acc == a && *k == kind_name(kind))
            .map(|(_, v)| v.clone())
            .collect();
        all.sort_by_key(|(seq, _)| *seq);
        let total = all.len() as u64;
        let (start, count) = match query.page {
            Page::Index { start_index, count } => ((start_index.max(1) - 1) as usize, count as usize),
            Page::Cursor { .. } => return Err(DomainError::invalid("the test store has no cursors")),
        };
        let items = all.into_iter().skip(start).take(count).map(|(_, r)| r).collect();
        Ok(ListPage { total, items, next: None })
    }
}

#[async_trait]
impl SettingsStore for MemoryStore {
    async fn list_setting_rows(&self, account: &AccountId) -> Result<Vec<SettingRow>, DomainError> {
        Ok(self.data().settings.iter().filter(|(a, _)| a == account).map(|(_, r)| r.clone()).collect())
    }
    async fn put_setting(
        &self,
        account: &AccountId,
        row: &SettingRow,
        clear_children: bool,
        audit: &SettingAudit,
        _secret: bool,
    ) -> Result<(), DomainError> {
        let mut d = self.data();
        if !row.scope.org.is_empty() && !d.orgs.contains_key(&key(account, &row.scope.org)) {
            return Err(not_found("organization", &row.scope.org));
        }
        let same = |r: &SettingRow| r.identifier == row.identifier && r.scope == row.scope;
        let old = d.settings.iter().find(|(a, r)| a == account && same(r)).map(|(_, r)| r.value.clone());
        d.settings.retain(|(a, r)| !(a == account && same(r)));
        if clear_children {
            d.settings.retain(|(a, r)| {
                !(a == account
                    && r.identifier == row.identifier
                    && row.scope.covers(&r.scope)
                    && r.scope != row.scope)
            });
        }
        d.settings.push((account.clone(), row.clone()));
        d.audit.push((account.clone(), SettingAudit { old_value: old, ..audit.clone() }));
        Ok(())
    }
    async fn delete_setting(
        &self,
        account: &AccountId,
        scope: &Scope,
        identifier: &str,
        audit: &SettingAudit,
        _secret: bool,
    ) -> Result<bool, DomainError> {
        let mut d = self.data();
        let old = d
            .settings
            .iter()
            .find(|(a, r)| a == account && r.identifier == identifier && r.scope == *scope)
            .map(|(_, r)| r.value.clone());
        d.settings.retain(|(a, r)| !(a == account && r.identifier == identifier && r.scope == *scope));
        d.audit.push((account.clone(), SettingAudit { old_value: old.clone(), ..audit.clone() }));
        Ok(old.is_some())
    }
    async fn list_setting_audit(
        &self,
        account: &AccountId,
        page: PageRequest,
    ) -> Result<Paged<SettingAudit>, DomainError> {
        let d = self.data();
        let items = d.audit.iter().rev().filter(|(a, _)| a == account).map(|(_, e)| e.clone()).collect();
        Ok(paged(items, page))
    }
}
