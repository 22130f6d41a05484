//! Access-control use cases: organizations, projects, service accounts, roles, resource
//! groups, role assignments, API keys and tokens. Every method takes the verified [`Caller`] and
//! checks the permission its use case needs (crate::use_case) before anything else.

mod api_keys;

use std::sync::Arc;

use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::access::{
    ACCOUNT_ADMIN_ROLE, ACCOUNT_VIEWER_ROLE, ALL_ACCOUNT_RESOURCES, Caller, Permission, RESOURCE_TYPES,
    Scope, builtin_role, identifier_from_name, validate_identifier,
};
use crate::audit::{AuditEntry, AuditResource, action, changed_summary, created_summary};
use crate::clock::Clock;
use crate::entities::{
    ApiKey, ApiKeyRef, Organization, PageRequest, Paged, PrincipalType, Project, ResourceGroup, Role,
    RoleAssignment, ServiceAccount, Tags, TokenInfo,
};
use crate::error::DomainError;
use crate::ids::AccountId;
use crate::store::AccessStore;
use crate::token::{TokenKind, generate};
use crate::use_case::UseCase;

/// Called after every change that can alter who may do what, so authentication caches of
/// that account are dropped at once on this node.
pub type ChangeHook = Arc<dyn Fn(&AccountId) + Send + Sync>;

/// Access-control use cases.
#[derive(Clone)]
pub struct AccessService {
    store: Arc<dyn AccessStore>,
    clock: Arc<dyn Clock>,
    on_change: ChangeHook,
}

fn check_name(name: &str, what: &str) -> Result<String, DomainError> {
    let n = name.trim();
    if n.is_empty() || n.chars().count() > 128 {
        return Err(DomainError::invalid(format!("{what} name must be 1-128 characters")));
    }
    Ok(n.to_string())
}

fn check_text(s: &str, what: &str, max: usize) -> Result<(), DomainError> {
    if s.chars().count() > max {
        return Err(DomainError::invalid(format!("{what} is longer than {max} characters")));
    }
    Ok(())
}

fn check_tags(tags: &Tags) -> Result<(), DomainError> {
    if tags.len() > 64 || tags.iter().any(|(k, v)| k.is_empty() || k.len() > 128 || v.len() > 1024) {
        return Err(DomainError::invalid("tags: at most 64, keys 1-128 and values up to 1024 characters"));
    }
    Ok(())
}

/// One page of a list whose built-in entries (kept in code) come before the custom ones
/// (stored): the built-ins fill the first positions, and `custom` is asked only for the
/// stored rows the page still needs.
async fn builtins_first<T, F, Fut>(
    builtins: Vec<T>,
    page: PageRequest,
    custom: F,
) -> Result<Paged<T>, DomainError>
where
    F: FnOnce(PageRequest) -> Fut,
    Fut: std::future::Future<Output = Result<Paged<T>, DomainError>>,
{
    let nb = builtins.len() as u64;
    let start = page.index * page.size;
    let mut items: Vec<T> = builtins.into_iter().skip(start as usize).take(page.size as usize).collect();
    let skip = start.saturating_sub(nb);
    let want = page.size - items.len() as u64;
    // The stored part starts `skip` rows in: fetch from the top and drop those.
    let stored = custom(PageRequest { index: 0, size: skip + want }).await?;
    items.extend(stored.items.into_iter().skip(skip as usize).take(want as usize));
    Ok(Paged { items, total: stored.total + nb })
}

/// A plain email check: one '@', a non-empty local part, a dotted domain, no spaces.
pub fn is_valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else { return false };
    !local.is_empty()
        && !domain.contains('@')
        && email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && (domain == "localhost"
            || (domain.contains('.')
                && domain.split('.').all(|l| !l.is_empty() && !l.starts_with('-') && !l.ends_with('-'))))
}

/// The longest a rotated-out secret may keep working.
pub const MAX_ROTATION_GRACE_DAYS: i64 = 30;

/// Input for creating or updating a service account.
#[derive(Debug, Clone, Default)]
pub struct ServiceAccountInput {
    /// Identifier; derived from `name` when absent.
    pub identifier: Option<String>,
    /// Name.
    pub name: String,
    /// Email.
    pub email: String,
    /// Description.
    pub description: String,
    /// Tags.
    pub tags: Tags,
}

/// Input for creating or updating a custom role: permissions by wire name.
#[derive(Debug, Clone, Default)]
pub struct RoleInput {
    /// Identifier.
    pub identifier: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Permission names (`core_user_view`, ...).
    pub permissions: Vec<String>,
    /// Tags.
    pub tags: Tags,
}

impl RoleInput {
    /// The role, once every permission name is known (400 naming the unknown ones and
    /// listing the known ones).
    fn into_role(self) -> Result<Role, DomainError> {
        let mut unknown = Vec::new();
        let mut permissions = Vec::new();
        for p in &self.permissions {
            match Permission::parse(p) {
                Some(p) => permissions.push(p),
                None => unknown.push(p.as_str()),
            }
        }
        if !unknown.is_empty() {
            return Err(DomainError::invalid(format!(
                "unknown permissions: {}; known permissions: {}",
                unknown.join(", "),
                Permission::ALL.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", ")
            )));
        }
        let t = OffsetDateTime::UNIX_EPOCH;
        Ok(Role {
            identifier: self.identifier,
            name: self.name,
            description: self.description,
            permissions,
            tags: self.tags,
            builtin: false,
            created: t,
            modified: t,
        })
    }
}

/// Input for a token.
#[derive(Debug, Clone, Default)]
pub struct TokenInput {
    /// Identifier, unique per API key.
    pub identifier: String,
    /// Name (defaults to the identifier).
    pub name: Option<String>,
    /// Description.
    pub description: String,
    /// Tags.
    pub tags: Tags,
    /// Valid from (defaults to now).
    pub valid_from: Option<OffsetDateTime>,
    /// Expiry (defaults to the API key's default lifetime, if any).
    pub valid_to: Option<OffsetDateTime>,
}

impl AccessService {
    /// Makes the service.
    pub fn new(store: Arc<dyn AccessStore>, clock: Arc<dyn Clock>, on_change: ChangeHook) -> Self {
        Self { store, clock, on_change }
    }

    fn changed(&self, account: &AccountId) {
        (self.on_change)(account);
    }

    /// The audit entry of a write by `caller`, now.
    fn audit(
        &self,
        caller: &Caller,
        action: &'static str,
        resource: AuditResource,
        id: impl Into<String>,
        summary: Value,
    ) -> AuditEntry {
        AuditEntry::new(caller, self.clock.now(), action, resource, id, summary)
    }

    // ---- the account ---------------------------------------------------------------

    /// Reads the caller's account. Asking about another account is answered like a
    /// credential of another account (401), so nothing about it leaks.
    pub fn get_account(&self, caller: &Caller, identifier: &str) -> Result<AccountId, DomainError> {
        let account = caller.authorize(UseCase::GetAccount)?;
        if identifier != account.as_str() {
            return Err(DomainError::Unauthenticated("path account differs from accountIdentifier"));
        }
        Ok(account.clone())
    }

    // ---- organizations -------------------------------------------------------------

    /// Creates an organization.
    pub async fn create_org(
        &self,
        caller: &Caller,
        identifier: &str,
        name: &str,
        description: &str,
        tags: Tags,
    ) -> Result<Organization, DomainError> {
        let account = caller.authorize(UseCase::CreateOrganization)?;
        validate_identifier(identifier, "organization")?;
        check_text(description, "description", 1024)?;
        check_tags(&tags)?;
        let now = self.clock.now();
        let org = Organization {
            identifier: identifier.into(),
            name: check_name(name, "organization")?,
            description: description.into(),
            tags,
            created: now,
            modified: now,
        };
        let audit = self.audit(
            caller,
            action::CREATE,
            AuditResource::Organization,
            &org.identifier,
            created_summary(&org),
        );
        self.store.create_org(account, &org, &audit).await?;
        Ok(org)
    }

    /// Reads an organization.
    pub async fn get_org(&self, caller: &Caller, identifier: &str) -> Result<Organization, DomainError> {
        self.store.get_org(caller.authorize(UseCase::GetOrganization)?, identifier).await
    }

    /// Lists organizations.
    pub async fn list_orgs(
        &self,
        caller: &Caller,
        search: Option<&str>,
        page: PageRequest,
    ) -> Result<Paged<Organization>, DomainError> {
        self.store.list_orgs(caller.authorize(UseCase::ListOrganizations)?, search, page).await
    }

    /// Updates an organization (the identifier cannot change).
    pub async fn update_org(
        &self,
        caller: &Caller,
        identifier: &str,
        name: &str,
        description: &str,
        tags: Tags,
    ) -> Result<Organization, DomainError> {
        let account = caller.authorize(UseCase::UpdateOrganization)?;
        check_text(description, "description", 1024)?;
        check_tags(&tags)?;
        let mut org = self.store.get_org(account, identifier).await?;
        let old = org.clone();
        org.name = check_name(name, "organization")?;
        org.description = description.into();
        org.tags = tags;
        org.modified = self.clock.now();
        let audit = self.audit(
            caller,
            action::UPDATE,
            AuditResource::Organization,
            identifier,
            changed_summary(&old, &org),
        );
        self.store.update_org(account, &org, &audit).await?;
        Ok(org)
    }

    /// Deletes an organization and its projects.
    pub async fn delete_org(&self, caller: &Caller, identifier: &str) -> Result<(), DomainError> {
        let account = caller.authorize(UseCase::DeleteOrganization)?;
        let audit = self.audit(caller, action::DELETE, AuditResource::Organization, identifier, json!({}));
        self.store.delete_org(account, identifier, &audit).await?;
        self.changed(account);
        Ok(())
    }

    // ---- projects ------------------------------------------------------------------

    /// Creates a project in an organization.
    pub async fn create_project(&self, caller: &Caller, mut p: Project) -> Result<Project, DomainError> {
        let account = caller.authorize(UseCase::CreateProject)?;
        validate_identifier(&p.identifier, "project")?;
        p.name = check_name(&p.name, "project")?;
        check_text(&p.description, "description", 1024)?;
        check_tags(&p.tags)?;
        let now = self.clock.now();
        p.created = now;
        p.modified = now;
        let audit = self.audit(
            caller,
            action::CREATE,
            AuditResource::Project,
            project_id(&p.org_identifier, &p.identifier),
            created_summary(&p),
        );
        self.store.create_project(account, &p, &audit).await?;
        Ok(p)
    }

    /// Reads a project.
    pub async fn get_project(&self, caller: &Caller, org: &str, id: &str) -> Result<Project, DomainError> {
        self.store.get_project(caller.authorize(UseCase::GetProject)?, org, id).await
    }

    /// Lists projects.
    pub async fn list_projects(
        &self,
        caller: &Caller,
        org: Option<&str>,
        search: Option<&str>,
        page: PageRequest,
    ) -> Result<Paged<Project>, DomainError> {
        self.store.list_projects(caller.authorize(UseCase::ListProjects)?, org, search, page).await
    }

    /// Updates a project's name, description, color and tags.
    pub async fn update_project(&self, caller: &Caller, p: Project) -> Result<Project, DomainError> {
        let account = caller.authorize(UseCase::UpdateProject)?;
        check_text(&p.description, "description", 1024)?;
        check_tags(&p.tags)?;
        let mut cur = self.store.get_project(account, &p.org_identifier, &p.identifier).await?;
        let old = cur.clone();
        cur.name = check_name(&p.name, "project")?;
        cur.description = p.description;
        cur.color = p.color;
        cur.tags = p.tags;
        cur.modified = self.clock.now();
        let audit = self.audit(
            caller,
            action::UPDATE,
            AuditResource::Project,
            project_id(&cur.org_identifier, &cur.identifier),
            changed_summary(&old, &cur),
        );
        self.store.update_project(account, &cur, &audit).await?;
        Ok(cur)
    }

    /// Deletes a project.
    pub async fn delete_project(&self, caller: &Caller, org: &str, id: &str) -> Result<(), DomainError> {
        let account = caller.authorize(UseCase::DeleteProject)?;
        let audit =
            self.audit(caller, action::DELETE, AuditResource::Project, project_id(org, id), json!({}));
        self.store.delete_project(account, org, id, &audit).await?;
        self.changed(account);
        Ok(())
    }

    // ---- service accounts ----------------------------------------------------------

    fn service_account_from(&self, input: ServiceAccountInput) -> Result<ServiceAccount, DomainError> {
        let name = check_name(&input.name, "service account")?;
        let identifier = match input.identifier.as_deref().map(str::trim) {
            Some(id) if !id.is_empty() => id.to_string(),
            _ => {
                let derived = identifier_from_name(&name);
                if derived.is_empty() {
                    return Err(DomainError::invalid(format!(
                        "cannot derive an identifier from the name '{name}'; give an identifier"
                    )));
                }
                derived
            }
        };
        validate_identifier(&identifier, "service account")?;
        let email = input.email.trim().to_string();
        if !is_valid_email(&email) {
            return Err(DomainError::invalid(format!("'{}' is not a valid email address", input.email)));
        }
        check_text(&input.description, "description", 1024)?;
        check_tags(&input.tags)?;
        let now = self.clock.now();
        Ok(ServiceAccount {
            identifier,
            name,
            email,
            description: input.description,
            tags: input.tags,
            created: now,
            modified: now,
        })
    }

    /// Creates a service account.
    pub async fn create_service_account(
        &self,
        caller: &Caller,
        input: ServiceAccountInput,
    ) -> Result<ServiceAccount, DomainError> {
        let account = caller.authorize(UseCase::CreateServiceAccount)?;
        let service_account = self.service_account_from(input)?;
        let audit = self.audit(
            caller,
            action::CREATE,
            AuditResource::ServiceAccount,
            &service_account.identifier,
            created_summary(&service_account),
        );
        self.store.create_service_account(account, &service_account, &audit).await?;
        Ok(service_account)
    }

    /// Reads a service account.
    pub async fn get_service_account(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<ServiceAccount, DomainError> {
        self.store.get_service_account(caller.authorize(UseCase::GetServiceAccount)?, id).await
    }

    /// Lists service accounts.
    pub async fn list_service_accounts(
        &self,
        caller: &Caller,
        search: Option<&str>,
        page: PageRequest,
    ) -> Result<Paged<ServiceAccount>, DomainError> {
        self.store.list_service_accounts(caller.authorize(UseCase::ListServiceAccounts)?, search, page).await
    }

    /// Updates a service account (the identifier cannot change).
    pub async fn update_service_account(
        &self,
        caller: &Caller,
        identifier: &str,
        mut input: ServiceAccountInput,
    ) -> Result<ServiceAccount, DomainError> {
        let account = caller.authorize(UseCase::UpdateServiceAccount)?;
        if input.identifier.as_deref().is_some_and(|i| !i.is_empty() && i != identifier) {
            return Err(DomainError::invalid("the identifier of a service account cannot be changed"));
        }
        input.identifier = Some(identifier.into());
        let cur = self.store.get_service_account(account, identifier).await?;
        let mut service_account = self.service_account_from(input)?;
        service_account.created = cur.created;
        let audit = self.audit(
            caller,
            action::UPDATE,
            AuditResource::ServiceAccount,
            identifier,
            changed_summary(&cur, &service_account),
        );
        self.store.update_service_account(account, &service_account, &audit).await?;
        Ok(service_account)
    }

    /// Deletes a service account with its keys, tokens and role assignments.
    pub async fn delete_service_account(&self, caller: &Caller, id: &str) -> Result<(), DomainError> {
        let account = caller.authorize(UseCase::DeleteServiceAccount)?;
        let audit = self.audit(caller, action::DELETE, AuditResource::ServiceAccount, id, json!({}));
        self.store.delete_service_account(account, id, &audit).await?;
        self.changed(account);
        Ok(())
    }

    // ---- roles ---------------------------------------------------------------------

    /// The built-in roles.
    pub fn builtin_roles(&self) -> Vec<Role> {
        let t = OffsetDateTime::UNIX_EPOCH;
        [
            (ACCOUNT_ADMIN_ROLE, "Account Admin", "Every permission in the account"),
            (ACCOUNT_VIEWER_ROLE, "Account Viewer", "Every view permission in the account"),
        ]
        .into_iter()
        .map(|(id, name, desc)| Role {
            identifier: id.into(),
            name: name.into(),
            description: desc.into(),
            permissions: builtin_role(id).map(|s| s.iter().collect()).unwrap_or_default(),
            tags: Tags::new(),
            builtin: true,
            created: t,
            modified: t,
        })
        .collect()
    }

    fn check_role(&self, role: &mut Role) -> Result<(), DomainError> {
        validate_identifier(&role.identifier, "role")?;
        if role.identifier.starts_with('_') {
            return Err(DomainError::invalid(
                "role identifiers starting with '_' are reserved for built-in roles",
            ));
        }
        role.name = check_name(&role.name, "role")?;
        check_text(&role.description, "description", 1024)?;
        check_tags(&role.tags)?;
        role.permissions.sort();
        role.permissions.dedup();
        role.builtin = false;
        Ok(())
    }

    /// Creates a custom role.
    pub async fn create_role(&self, caller: &Caller, input: RoleInput) -> Result<Role, DomainError> {
        let account = caller.authorize(UseCase::CreateRole)?;
        let mut role = input.into_role()?;
        self.check_role(&mut role)?;
        caller.may_grant(&Scope::account(), role.permissions.iter().copied())?;
        let now = self.clock.now();
        role.created = now;
        role.modified = now;
        let audit =
            self.audit(caller, action::CREATE, AuditResource::Role, &role.identifier, created_summary(&role));
        self.store.create_role(account, &role, &audit).await?;
        Ok(role)
    }

    /// Reads a role, built-in or custom.
    pub async fn get_role(&self, caller: &Caller, id: &str) -> Result<Role, DomainError> {
        let account = caller.authorize(UseCase::GetRole)?;
        match self.builtin_roles().into_iter().find(|r| r.identifier == id) {
            Some(r) => Ok(r),
            None => self.store.get_role(account, id).await,
        }
    }

    /// Lists roles: the built-in ones first, then custom ones.
    pub async fn list_roles(&self, caller: &Caller, page: PageRequest) -> Result<Paged<Role>, DomainError> {
        let account = caller.authorize(UseCase::ListRoles)?;
        builtins_first(self.builtin_roles(), page, |p| self.store.list_roles(account, p)).await
    }

    /// Updates a custom role; built-in roles are not editable.
    pub async fn update_role(&self, caller: &Caller, input: RoleInput) -> Result<Role, DomainError> {
        let account = caller.authorize(UseCase::UpdateRole)?;
        let mut role = input.into_role()?;
        if builtin_role(&role.identifier).is_some() {
            return Err(DomainError::invalid(format!(
                "'{}' is a built-in role and cannot be changed",
                role.identifier
            )));
        }
        let cur = self.store.get_role(account, &role.identifier).await?;
        self.check_role(&mut role)?;
        caller.may_grant(&Scope::account(), role.permissions.iter().copied())?;
        role.created = cur.created;
        role.modified = self.clock.now();
        let audit = self.audit(
            caller,
            action::UPDATE,
            AuditResource::Role,
            &role.identifier,
            changed_summary(&cur, &role),
        );
        self.store.update_role(account, &role, &audit).await?;
        self.changed(account);
        Ok(role)
    }

    /// Deletes a custom role that no assignment uses.
    pub async fn delete_role(&self, caller: &Caller, id: &str) -> Result<(), DomainError> {
        let account = caller.authorize(UseCase::DeleteRole)?;
        if builtin_role(id).is_some() {
            return Err(DomainError::invalid(format!("'{id}' is a built-in role and cannot be deleted")));
        }
        let audit = self.audit(caller, action::DELETE, AuditResource::Role, id, json!({}));
        self.store.delete_role(account, id, &audit).await?;
        self.changed(account);
        Ok(())
    }

    // ---- resource groups -----------------------------------------------------------

    /// The built-in resource group.
    pub fn builtin_resource_group(&self) -> ResourceGroup {
        let t = OffsetDateTime::UNIX_EPOCH;
        ResourceGroup {
            identifier: ALL_ACCOUNT_RESOURCES.into(),
            name: "All Account Level Resources".into(),
            description: "Every resource of the account".into(),
            include_all: true,
            resource_types: Vec::new(),
            tags: Tags::new(),
            builtin: true,
            created: t,
            modified: t,
        }
    }

    fn check_resource_group(&self, resource_group: &mut ResourceGroup) -> Result<(), DomainError> {
        validate_identifier(&resource_group.identifier, "resource group")?;
        if resource_group.identifier.starts_with('_') {
            return Err(DomainError::invalid(
                "resource group identifiers starting with '_' are reserved for built-in ones",
            ));
        }
        resource_group.name = check_name(&resource_group.name, "resource group")?;
        check_text(&resource_group.description, "description", 1024)?;
        check_tags(&resource_group.tags)?;
        for t in &resource_group.resource_types {
            if !RESOURCE_TYPES.contains(&t.as_str()) {
                return Err(DomainError::invalid(format!(
                    "unknown resource type '{t}'; known types: {}",
                    RESOURCE_TYPES.join(", ")
                )));
            }
        }
        resource_group.resource_types.sort();
        resource_group.resource_types.dedup();
        resource_group.builtin = false;
        Ok(())
    }

    /// Creates a custom resource group.
    pub async fn create_resource_group(
        &self,
        caller: &Caller,
        mut resource_group: ResourceGroup,
    ) -> Result<ResourceGroup, DomainError> {
        let account = caller.authorize(UseCase::CreateResourceGroup)?;
        self.check_resource_group(&mut resource_group)?;
        let now = self.clock.now();
        resource_group.created = now;
        resource_group.modified = now;
        let audit = self.audit(
            caller,
            action::CREATE,
            AuditResource::ResourceGroup,
            &resource_group.identifier,
            created_summary(&resource_group),
        );
        self.store.create_resource_group(account, &resource_group, &audit).await?;
        Ok(resource_group)
    }

    /// Reads a resource group.
    pub async fn get_resource_group(&self, caller: &Caller, id: &str) -> Result<ResourceGroup, DomainError> {
        let account = caller.authorize(UseCase::GetResourceGroup)?;
        if id == ALL_ACCOUNT_RESOURCES {
            return Ok(self.builtin_resource_group());
        }
        self.store.get_resource_group(account, id).await
    }

    /// Lists resource groups, the built-in one first.
    pub async fn list_resource_groups(
        &self,
        caller: &Caller,
        page: PageRequest,
    ) -> Result<Paged<ResourceGroup>, DomainError> {
        let account = caller.authorize(UseCase::ListResourceGroups)?;
        builtins_first(vec![self.builtin_resource_group()], page, |p| {
            self.store.list_resource_groups(account, p)
        })
        .await
    }

    /// Updates a custom resource group.
    pub async fn update_resource_group(
        &self,
        caller: &Caller,
        mut resource_group: ResourceGroup,
    ) -> Result<ResourceGroup, DomainError> {
        let account = caller.authorize(UseCase::UpdateResourceGroup)?;
        if resource_group.identifier == ALL_ACCOUNT_RESOURCES {
            return Err(DomainError::invalid(format!(
                "'{ALL_ACCOUNT_RESOURCES}' is built in and cannot be changed"
            )));
        }
        let cur = self.store.get_resource_group(account, &resource_group.identifier).await?;
        self.check_resource_group(&mut resource_group)?;
        resource_group.created = cur.created;
        resource_group.modified = self.clock.now();
        let audit = self.audit(
            caller,
            action::UPDATE,
            AuditResource::ResourceGroup,
            &resource_group.identifier,
            changed_summary(&cur, &resource_group),
        );
        self.store.update_resource_group(account, &resource_group, &audit).await?;
        self.changed(account);
        Ok(resource_group)
    }

    /// Deletes a custom resource group that no assignment uses.
    pub async fn delete_resource_group(&self, caller: &Caller, id: &str) -> Result<(), DomainError> {
        let account = caller.authorize(UseCase::DeleteResourceGroup)?;
        if id == ALL_ACCOUNT_RESOURCES {
            return Err(DomainError::invalid(format!(
                "'{ALL_ACCOUNT_RESOURCES}' is built in and cannot be deleted"
            )));
        }
        let audit = self.audit(caller, action::DELETE, AuditResource::ResourceGroup, id, json!({}));
        self.store.delete_resource_group(account, id, &audit).await?;
        self.changed(account);
        Ok(())
    }

    // ---- role assignments ----------------------------------------------------------

    /// What a role grants: a built-in role's set, or a custom role's list (400 when the role
    /// does not exist).
    async fn role_permissions(
        &self,
        account: &AccountId,
        role: &str,
    ) -> Result<Vec<Permission>, DomainError> {
        if let Some(set) = builtin_role(role) {
            return Ok(set.iter().collect());
        }
        match self.store.get_role(account, role).await {
            Ok(r) => Ok(r.permissions),
            Err(DomainError::NotFound(_)) => {
                Err(DomainError::invalid(format!("role '{role}' does not exist")))
            }
            Err(e) => Err(e),
        }
    }

    /// Creates a role assignment after checking that its role, resource group, scope and
    /// principal exist. The identifier is generated when empty.
    pub async fn create_role_assignment(
        &self,
        caller: &Caller,
        mut role_assignment: RoleAssignment,
    ) -> Result<RoleAssignment, DomainError> {
        let account = caller.authorize_at(&role_assignment.scope, UseCase::CreateRoleAssignment)?;
        if role_assignment.identifier.trim().is_empty() {
            role_assignment.identifier = format!("ra_{}", uuid::Uuid::new_v4().simple());
        } else {
            validate_identifier(&role_assignment.identifier, "role assignment")?;
        }
        let granted = self.role_permissions(account, &role_assignment.role_identifier).await?;
        caller.may_grant(&role_assignment.scope, granted)?;
        if role_assignment.resource_group_identifier != ALL_ACCOUNT_RESOURCES {
            self.store
                .get_resource_group(account, &role_assignment.resource_group_identifier)
                .await
                .map_err(|e| match e {
                    DomainError::NotFound(_) => DomainError::invalid(format!(
                        "resource group '{}' does not exist",
                        role_assignment.resource_group_identifier
                    )),
                    e => e,
                })?;
        }
        if !role_assignment.scope.org.is_empty() {
            let missing = if role_assignment.scope.project.is_empty() {
                self.store.get_org(account, &role_assignment.scope.org).await.err()
            } else {
                self.store
                    .get_project(account, &role_assignment.scope.org, &role_assignment.scope.project)
                    .await
                    .err()
            };
            if let Some(e) = missing {
                return Err(match e {
                    DomainError::NotFound(m) => DomainError::invalid(m),
                    e => e,
                });
            }
        } else if !role_assignment.scope.project.is_empty() {
            return Err(DomainError::invalid("projectIdentifier needs orgIdentifier"));
        }
        if !self
            .store
            .principal_exists(account, role_assignment.principal_type, &role_assignment.principal_identifier)
            .await?
        {
            return Err(DomainError::invalid(format!(
                "principal {} '{}' does not exist",
                role_assignment.principal_type.as_str(),
                role_assignment.principal_identifier
            )));
        }
        let now = self.clock.now();
        role_assignment.created = now;
        role_assignment.modified = now;
        let audit = self.audit(
            caller,
            action::CREATE,
            AuditResource::RoleAssignment,
            &role_assignment.identifier,
            created_summary(&role_assignment),
        );
        self.store.create_role_assignment(account, &role_assignment, &audit).await?;
        self.changed(account);
        Ok(role_assignment)
    }

    /// Reads a role assignment.
    pub async fn get_role_assignment(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<RoleAssignment, DomainError> {
        self.store.get_role_assignment(caller.authorize(UseCase::GetRoleAssignment)?, id).await
    }

    /// Lists role assignments, optionally of one principal.
    pub async fn list_role_assignments(
        &self,
        caller: &Caller,
        principal: Option<(PrincipalType, &str)>,
        page: PageRequest,
    ) -> Result<Paged<RoleAssignment>, DomainError> {
        self.store
            .list_role_assignments(caller.authorize(UseCase::ListRoleAssignments)?, principal, page)
            .await
    }

    /// Updates a role assignment: only `disabled` can change; the role, resource group and
    /// principal identify it and must be sent unchanged.
    pub async fn update_role_assignment(
        &self,
        caller: &Caller,
        wanted: RoleAssignment,
    ) -> Result<RoleAssignment, DomainError> {
        let account = caller.authorize(UseCase::UpdateRoleAssignment)?;
        let mut role_assignment = self.store.get_role_assignment(account, &wanted.identifier).await?;
        let old = role_assignment.clone();
        if role_assignment.role_identifier != wanted.role_identifier
            || role_assignment.resource_group_identifier != wanted.resource_group_identifier
            || role_assignment.principal_type != wanted.principal_type
            || role_assignment.principal_identifier != wanted.principal_identifier
        {
            return Err(DomainError::invalid(
                "only 'disabled' can change on a role assignment; delete it and create another instead",
            ));
        }
        // Enabling an assignment grants its role again: the same escalation rule as creating it.
        if role_assignment.disabled && !wanted.disabled {
            let granted = self.role_permissions(account, &role_assignment.role_identifier).await?;
            caller.may_grant(&role_assignment.scope, granted)?;
        }
        role_assignment.disabled = wanted.disabled;
        role_assignment.modified = self.clock.now();
        let audit = self.audit(
            caller,
            action::UPDATE,
            AuditResource::RoleAssignment,
            &role_assignment.identifier,
            changed_summary(&old, &role_assignment),
        );
        self.store.update_role_assignment(account, &role_assignment, &audit).await?;
        self.changed(account);
        Ok(role_assignment)
    }

    /// Deletes a role assignment.
    pub async fn delete_role_assignment(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<RoleAssignment, DomainError> {
        let account = caller.authorize(UseCase::DeleteRoleAssignment)?;
        let role_assignment = self.store.get_role_assignment(account, id).await?;
        let audit = self.audit(
            caller,
            action::DELETE,
            AuditResource::RoleAssignment,
            id,
            created_summary(&role_assignment),
        );
        self.store.delete_role_assignment(account, id, &audit).await?;
        self.changed(account);
        Ok(role_assignment)
    }
}

/// A project's id in the audit log: `org/project`.
fn project_id(org: &str, project: &str) -> String {
    format!("{org}/{project}")
}

/// Turns a feature flag on or off: an operator action (the CLI), so only
/// [`Caller::system`] may.
pub async fn set_feature_flag(
    store: &dyn AccessStore,
    caller: &Caller,
    flag: &str,
    on: bool,
) -> Result<(), DomainError> {
    let account = caller.authorize(UseCase::SetFeatureFlag)?;
    if !crate::account_service::KNOWN_FEATURE_FLAGS.contains(&flag) {
        return Err(DomainError::invalid(format!(
            "unknown feature flag '{flag}'; known flags: {}",
            crate::account_service::KNOWN_FEATURE_FLAGS.join(", ")
        )));
    }
    let audit = AuditEntry::new(
        caller,
        time::OffsetDateTime::now_utc(),
        if on { action::ENABLE } else { action::DISABLE },
        AuditResource::FeatureFlag,
        flag,
        json!({}),
    );
    store.set_feature_flag(account, flag, on, &audit).await
}
