//! The access-control traits of the test store.

use crate::audit::AuditEntry;
use async_trait::async_trait;
use serde_json::Value;
use time::OffsetDateTime;

use super::*;

#[async_trait]
impl OrganizationStore for MemoryStore {
    async fn create_org(
        &self,
        account: &AccountId,
        org: &Organization,
        _audit: &AuditEntry,
    ) -> Result<(), DomainError> {
        insert_new(&mut self.data().orgs, key(account, &org.identifier), org, "organization")
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
    async fn update_org(
        &self,
        account: &AccountId,
        org: &Organization,
        _audit: &AuditEntry,
    ) -> Result<(), DomainError> {
        replace_row(&mut self.data().orgs, key(account, &org.identifier), org, "organization")
    }
    async fn delete_org(
        &self,
        account: &AccountId,
        identifier: &str,
        _audit: &AuditEntry,
    ) -> Result<(), DomainError> {
        let mut d = self.data();
        d.orgs.remove(&key(account, identifier)).ok_or_else(|| not_found("organization", identifier))?;
        d.projects.retain(|(a, o, _), _| !(a == account.as_str() && o == identifier));
        d.assignments.retain(|(a, _), role_assignment| {
            !(a == account.as_str() && role_assignment.scope.org == identifier)
        });
        Ok(())
    }
    async fn create_project(
        &self,
        account: &AccountId,
        project: &Project,
        _audit: &AuditEntry,
    ) -> Result<(), DomainError> {
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
    async fn update_project(
        &self,
        account: &AccountId,
        project: &Project,
        _audit: &AuditEntry,
    ) -> Result<(), DomainError> {
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
        _audit: &AuditEntry,
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
        service_account: &ServiceAccount,
        _audit: &AuditEntry,
    ) -> Result<(), DomainError> {
        insert_new(
            &mut self.data().service_accounts,
            key(account, &service_account.identifier),
            service_account,
            "service account",
        )
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
        service_account: &ServiceAccount,
        _audit: &AuditEntry,
    ) -> Result<(), DomainError> {
        replace_row(
            &mut self.data().service_accounts,
            key(account, &service_account.identifier),
            service_account,
            "service account",
        )
    }
    async fn delete_service_account(
        &self,
        account: &AccountId,
        identifier: &str,
        _audit: &AuditEntry,
    ) -> Result<(), DomainError> {
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
        d.assignments.retain(|(acc, _), role_assignment| {
            !(acc == a
                && role_assignment.principal_type == PrincipalType::ServiceAccount
                && role_assignment.principal_identifier == identifier)
        });
        Ok(())
    }
}

#[async_trait]
impl RoleStore for MemoryStore {
    async fn create_role(
        &self,
        account: &AccountId,
        role: &Role,
        _audit: &AuditEntry,
    ) -> Result<(), DomainError> {
        insert_new(&mut self.data().roles, key(account, &role.identifier), role, "role")
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
    async fn update_role(
        &self,
        account: &AccountId,
        role: &Role,
        _audit: &AuditEntry,
    ) -> Result<(), DomainError> {
        replace_row(&mut self.data().roles, key(account, &role.identifier), role, "role")
    }
    async fn delete_role(
        &self,
        account: &AccountId,
        identifier: &str,
        _audit: &AuditEntry,
    ) -> Result<(), DomainError> {
        let mut d = self.data();
        if d.assignments.iter().any(|((a, _), role_assignment)| {
            a == account.as_str() && role_assignment.role_identifier == identifier
        }) {
            return Err(DomainError::Conflict(format!("role '{identifier}' is used by role assignments")));
        }
        d.roles.remove(&key(account, identifier)).map(|_| ()).ok_or_else(|| not_found("role", identifier))
    }
    async fn create_resource_group(
        &self,
        account: &AccountId,
        resource_group: &ResourceGroup,
        _audit: &AuditEntry,
    ) -> Result<(), DomainError> {
        insert_new(
            &mut self.data().resource_groups,
            key(account, &resource_group.identifier),
            resource_group,
            "resource group",
        )
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
        resource_group: &ResourceGroup,
        _audit: &AuditEntry,
    ) -> Result<(), DomainError> {
        replace_row(
            &mut self.data().resource_groups,
            key(account, &resource_group.identifier),
            resource_group,
            "resource group",
        )
    }
    async fn delete_resource_group(
        &self,
        account: &AccountId,
        identifier: &str,
        _audit: &AuditEntry,
    ) -> Result<(), DomainError> {
        let mut d = self.data();
        if d.assignments.iter().any(|((a, _), role_assignment)| {
            a == account.as_str() && role_assignment.resource_group_identifier == identifier
        }) {
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
        role_assignment: &RoleAssignment,
        _audit: &AuditEntry,
    ) -> Result<(), DomainError> {
        let mut d = self.data();
        let k = key(account, &role_assignment.identifier);
        let same = |x: &RoleAssignment| {
            x.scope == role_assignment.scope
                && x.role_identifier == role_assignment.role_identifier
                && x.resource_group_identifier == role_assignment.resource_group_identifier
                && x.principal_type == role_assignment.principal_type
                && x.principal_identifier == role_assignment.principal_identifier
        };
        if d.assignments.contains_key(&k)
            || d.assignments.iter().any(|((a, _), x)| a == account.as_str() && same(x))
        {
            return Err(conflict("role assignment", &role_assignment.identifier));
        }
        d.assignments.insert(k, role_assignment.clone());
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
            .filter(|((a, _), role_assignment)| {
                a == account.as_str()
                    && principal.is_none_or(|(t, id)| {
                        role_assignment.principal_type == t && role_assignment.principal_identifier == id
                    })
            })
            .map(|(_, role_assignment)| role_assignment.clone())
            .collect();
        Ok(paged(items, page))
    }
    async fn update_role_assignment(
        &self,
        account: &AccountId,
        role_assignment: &RoleAssignment,
        _audit: &AuditEntry,
    ) -> Result<(), DomainError> {
        replace_row(
            &mut self.data().assignments,
            key(account, &role_assignment.identifier),
            role_assignment,
            "role assignment",
        )
    }
    async fn delete_role_assignment(
        &self,
        account: &AccountId,
        identifier: &str,
        _audit: &AuditEntry,
    ) -> Result<(), DomainError> {
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
        let applies = |role_assignment: &RoleAssignment| {
            (role_assignment.principal_type.as_str() == principal.type_name()
                && role_assignment.principal_identifier == principal.id())
                || (role_assignment.principal_type == PrincipalType::UserGroup
                    && groups.contains(&role_assignment.principal_identifier))
        };
        Ok(d.assignments
            .iter()
            .filter(|((acc, _), role_assignment)| {
                acc == a && !role_assignment.disabled && applies(role_assignment)
            })
            .map(|(_, role_assignment)| GrantRow {
                scope: role_assignment.scope.clone(),
                role_identifier: role_assignment.role_identifier.clone(),
                role_permissions: d
                    .roles
                    .get(&key(account, &role_assignment.role_identifier))
                    .map(|r| r.permissions.clone()),
                resource_group_identifier: role_assignment.resource_group_identifier.clone(),
                resource_group: d
                    .resource_groups
                    .get(&key(account, &role_assignment.resource_group_identifier))
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
    async fn create_api_key(
        &self,
        account: &AccountId,
        k: &ApiKey,
        _audit: &AuditEntry,
    ) -> Result<(), DomainError> {
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
    async fn update_api_key(
        &self,
        account: &AccountId,
        k: &ApiKey,
        _audit: &AuditEntry,
    ) -> Result<(), DomainError> {
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
    async fn delete_api_key(
        &self,
        account: &AccountId,
        r: &ApiKeyRef,
        _audit: &AuditEntry,
    ) -> Result<(), DomainError> {
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
        _audit: &AuditEntry,
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
        _audit: &AuditEntry,
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
    async fn update_token(
        &self,
        account: &AccountId,
        info: &TokenInfo,
        _audit: &AuditEntry,
    ) -> Result<(), DomainError> {
        let mut d = self.data();
        match d.tokens.get_mut(&info.token_id) {
            Some((a, t, _, _)) if a == account => {
                *t = info.clone();
                Ok(())
            }
            _ => Err(not_found("token", &info.identifier)),
        }
    }
    async fn delete_token(
        &self,
        account: &AccountId,
        token_id: &str,
        _audit: &AuditEntry,
    ) -> Result<(), DomainError> {
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
    async fn set_feature_flag(
        &self,
        account: &AccountId,
        flag: &str,
        on: bool,
        _audit: &AuditEntry,
    ) -> Result<(), DomainError> {
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
