//! `RoleAssignmentStore`: role assignments, and the grants they give a principal (its own and
//! its groups', joined with custom roles and resource groups). Loaded once per backend (see
//! the crate documentation).
//!
//! Every statement is SQL text fixed in this file, scoped by `account_id`. Uniqueness is left
//! to the database's indexes (a violation becomes `Conflict`).

use async_trait::async_trait;

use scimgate_domain::access::{Principal, Scope};
use scimgate_domain::entities::{GrantRow, PageRequest, Paged, PrincipalType, RoleAssignment};
use scimgate_domain::store::RoleAssignmentStore;
use scimgate_domain::{AccountId, DomainError};

use scimgate_domain::audit::AuditEntry;

use super::audit;
use super::common::col;
use super::common::write_tx;
use super::rows::{account_missing, changed, is_primary_key_violation, permissions_from, strings_from};
use super::{DbRow, Store};
use crate::{DbResultExt, from_micros, micros, write_error};

fn principal_type_from(s: &str) -> Result<PrincipalType, DomainError> {
    PrincipalType::parse(s)
        .ok_or_else(|| DomainError::Internal(format!("stored principal_type '{s}' is unknown")))
}

fn role_assignment_row(r: &DbRow) -> Result<RoleAssignment, DomainError> {
    Ok(RoleAssignment {
        identifier: col(r, "identifier")?,
        scope: Scope { org: col(r, "org_identifier")?, project: col(r, "project_identifier")? },
        role_identifier: col(r, "role_identifier")?,
        resource_group_identifier: col(r, "resource_group_identifier")?,
        principal_type: principal_type_from(&col::<String>(r, "principal_type")?)?,
        principal_identifier: col(r, "principal_identifier")?,
        disabled: col::<i64>(r, "disabled")? != 0,
        created: from_micros(col(r, "created_us")?),
        modified: from_micros(col(r, "modified_us")?),
    })
}

fn grant_row(r: &DbRow) -> Result<GrantRow, DomainError> {
    let permissions: Option<String> = col(r, "role_permissions")?;
    let include_all: Option<i64> = col(r, "rg_include_all")?;
    let types: Option<String> = col(r, "rg_resource_types")?;
    Ok(GrantRow {
        scope: Scope { org: col(r, "org_identifier")?, project: col(r, "project_identifier")? },
        role_identifier: col(r, "role_identifier")?,
        role_permissions: permissions.as_deref().map(permissions_from).transpose()?,
        resource_group_identifier: col(r, "resource_group_identifier")?,
        resource_group: match include_all {
            Some(all) => Some((all != 0, strings_from(types.as_deref().unwrap_or("[]"))?)),
            None => None,
        },
    })
}

/// The enabled assignments of a principal and of the groups a user is a direct member of,
/// with the custom role and resource group they name. Binds: account, principal type,
/// principal id, account, user id (NULL for a service account). The memberships are read once
/// through `scim_group_members_member`; the assignments in one pass over the account's rows,
/// already in identifier order.
pub(super) const PRINCIPAL_GRANTS_SQL: &str = "\
    SELECT ra.org_identifier, ra.project_identifier, ra.role_identifier, ra.resource_group_identifier, \
           r.permissions AS role_permissions, g.include_all AS rg_include_all, \
           g.resource_types AS rg_resource_types \
    FROM role_assignments ra \
    LEFT JOIN roles r ON r.account_id = ra.account_id AND r.identifier = ra.role_identifier \
    LEFT JOIN resource_groups g ON g.account_id = ra.account_id AND g.identifier = ra.resource_group_identifier \
    WHERE ra.account_id = $1 AND ra.disabled = 0 \
      AND ((ra.principal_type = $2 AND ra.principal_identifier = $3) \
        OR (ra.principal_type = 'USER_GROUP' AND ra.principal_identifier IN ( \
              SELECT gm.group_id FROM scim_group_members gm JOIN scim_groups sg ON sg.id = gm.group_id \
              WHERE sg.account_id = $4 AND gm.member_id = $5 AND gm.member_type = 'User'))) \
    ORDER BY ra.identifier";

/// The columns `role_assignment_row` reads.
const ROLE_ASSIGNMENT_COLUMNS: &str = "identifier, org_identifier, project_identifier, role_identifier, \
     resource_group_identifier, principal_type, principal_identifier, disabled, created_us, modified_us";

#[async_trait]
impl RoleAssignmentStore for Store {
    async fn create_role_assignment(
        &self,
        account: &AccountId,
        role_assignment: &RoleAssignment,
        audit: &AuditEntry,
    ) -> Result<(), DomainError> {
        write_tx!(self, |tx| {
            audit::insert(tx, account, audit).await?;
            sqlx::query(
                "INSERT INTO role_assignments (account_id, identifier, org_identifier, project_identifier, \
                 role_identifier, resource_group_identifier, principal_type, principal_identifier, disabled, \
                 created_us, modified_us) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(account.as_str())
            .bind(&role_assignment.identifier)
            .bind(&role_assignment.scope.org)
            .bind(&role_assignment.scope.project)
            .bind(&role_assignment.role_identifier)
            .bind(&role_assignment.resource_group_identifier)
            .bind(role_assignment.principal_type.as_str())
            .bind(&role_assignment.principal_identifier)
            .bind(i64::from(role_assignment.disabled))
            .bind(micros(role_assignment.created))
            .bind(micros(role_assignment.modified))
            .execute(&mut **tx)
            .await
            .map_err(|e| {
                let duplicate_id = is_primary_key_violation(&e);
                write_error(
                    e,
                    || {
                        if duplicate_id {
                            format!(
                                "a role assignment with identifier '{}' already exists",
                                role_assignment.identifier
                            )
                        } else {
                            format!(
                                "role '{}' on resource group '{}' is already assigned to {} '{}' at this scope",
                                role_assignment.role_identifier,
                                role_assignment.resource_group_identifier,
                                role_assignment.principal_type.as_str(),
                                role_assignment.principal_identifier
                            )
                        }
                    },
                    || account_missing(account),
                )
            })?;
            Ok(())
        })
    }

    async fn get_role_assignment(
        &self,
        account: &AccountId,
        identifier: &str,
    ) -> Result<RoleAssignment, DomainError> {
        self.get_by_identifier(
            ROLE_ASSIGNMENT_COLUMNS,
            "role_assignments",
            account,
            identifier,
            "role assignment",
            role_assignment_row,
        )
        .await
    }

    async fn list_role_assignments(
        &self,
        account: &AccountId,
        principal: Option<(PrincipalType, &str)>,
        page: PageRequest,
    ) -> Result<Paged<RoleAssignment>, DomainError> {
        let kind = principal.map(|(t, _)| t.as_str());
        let id = principal.map(|(_, id)| id);
        self.paged(
            ROLE_ASSIGNMENT_COLUMNS,
            |q| {
                q.push("FROM role_assignments WHERE account_id = ").push_bind(account.as_str());
                q.push(" AND (").push_bind(kind).push(" IS NULL OR (principal_type = ").push_bind(kind);
                q.push(" AND principal_identifier = ").push_bind(id).push("))");
            },
            "identifier",
            page,
            role_assignment_row,
        )
        .await
    }

    async fn update_role_assignment(
        &self,
        account: &AccountId,
        role_assignment: &RoleAssignment,
        audit: &AuditEntry,
    ) -> Result<(), DomainError> {
        write_tx!(self, |tx| {
            audit::insert(tx, account, audit).await?;
            let done = sqlx::query(
                "UPDATE role_assignments SET disabled = $1, modified_us = $2 WHERE account_id = $3 AND identifier = $4",
            )
            .bind(i64::from(role_assignment.disabled))
            .bind(micros(role_assignment.modified))
            .bind(account.as_str())
            .bind(&role_assignment.identifier)
            .execute(&mut **tx)
            .await
            .db()?;
            changed(done, || format!("role assignment '{}' does not exist", role_assignment.identifier))
        })
    }

    async fn delete_role_assignment(
        &self,
        account: &AccountId,
        identifier: &str,
        audit: &AuditEntry,
    ) -> Result<(), DomainError> {
        write_tx!(self, |tx| {
            audit::insert(tx, account, audit).await?;
            let done = sqlx::query("DELETE FROM role_assignments WHERE account_id = $1 AND identifier = $2")
                .bind(account.as_str())
                .bind(identifier)
                .execute(&mut **tx)
                .await
                .db()?;
            changed(done, || format!("role assignment '{identifier}' does not exist"))
        })
    }

    async fn principal_grants(
        &self,
        account: &AccountId,
        principal: &Principal,
    ) -> Result<Vec<GrantRow>, DomainError> {
        // The principal's own assignments, plus (users only: a NULL member id matches nothing)
        // those of the SCIM groups it is a direct member of.
        let user_id = match principal {
            Principal::User(id) => Some(id.as_str()),
            // The operator's grants are not stored: it holds every permission by construction.
            Principal::ServiceAccount(_) | Principal::System => None,
        };
        let rows = sqlx::query(PRINCIPAL_GRANTS_SQL)
            .bind(account.as_str())
            .bind(principal.type_name())
            .bind(principal.id())
            .bind(account.as_str())
            .bind(user_id)
            .fetch_all(&self.pool)
            .await
            .db()?;
        rows.iter().map(grant_row).collect()
    }

    async fn principal_exists(
        &self,
        account: &AccountId,
        kind: PrincipalType,
        identifier: &str,
    ) -> Result<bool, DomainError> {
        let sql = match kind {
            PrincipalType::User => "SELECT 1 FROM scim_users WHERE account_id = $1 AND id = $2",
            PrincipalType::UserGroup => "SELECT 1 FROM scim_groups WHERE account_id = $1 AND id = $2",
            PrincipalType::ServiceAccount => {
                "SELECT 1 FROM service_accounts WHERE account_id = $1 AND identifier = $2"
            }
        };
        let found =
            sqlx::query(sql).bind(account.as_str()).bind(identifier).fetch_optional(&self.pool).await.db()?;
        Ok(found.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::access::*;
    use super::*;
    use scimgate_domain::access::{
        ACCOUNT_ADMIN_ROLE, ACCOUNT_VIEWER_ROLE, ALL_ACCOUNT_RESOURCES, Permission,
    };
    use scimgate_domain::entities::{ResourceGroup, Role, Tags};
    use scimgate_domain::store::{ApiKeyStore, RoleStore, ScimStore};
    use scimgate_domain::token::TokenKind;
    use scimgate_scim::patch::MemberRef;
    use scimgate_scim::resource::normalize;
    use scimgate_scim::schema::ResourceKind;
    use serde_json::json;

    #[tokio::test]
    async fn role_assignments_conflicts_listing_and_updates() {
        let Some((store, account, _)) = setup().await else { return };
        let user = PrincipalType::User;
        let a1 = role_assignment("a1", ("", ""), ACCOUNT_VIEWER_ROLE, ALL_ACCOUNT_RESOURCES, user, ADMIN);
        store.create_role_assignment(&account, &a1, &test_audit()).await.expect("create");
        assert_eq!(store.get_role_assignment(&account, "a1").await.expect("get"), a1);

        let mut same_id = a1.clone();
        same_id.role_identifier = "other-role".into();
        let msg = conflict_message(store.create_role_assignment(&account, &same_id, &test_audit()).await);
        assert_eq!(msg, "a role assignment with identifier 'a1' already exists");
        let mut same_grant = a1.clone();
        same_grant.identifier = "a2".into();
        let msg = conflict_message(store.create_role_assignment(&account, &same_grant, &test_audit()).await);
        assert!(msg.contains("already assigned to USER 'admin-id'"), "{msg}");
        // The same grant at another scope is a different assignment.
        let mut other_scope = same_grant.clone();
        other_scope.scope = Scope { org: "default".into(), project: String::new() };
        store.create_role_assignment(&account, &other_scope, &test_audit()).await.expect("create");

        let ident = |r: &RoleAssignment| r.identifier.clone();
        let mine =
            store.list_role_assignments(&account, Some((user, ADMIN)), page(0, 10)).await.expect("list");
        assert_eq!(ids(&mine, ident), vec!["a1".to_string(), "a2".into(), "bootstrap_admin".into()]);
        let p1 = store.list_role_assignments(&account, None, page(1, 2)).await.expect("list");
        assert_eq!((ids(&p1, ident), p1.total), (vec!["bootstrap_admin".into()], 3));
        let none = store
            .list_role_assignments(&account, Some((PrincipalType::ServiceAccount, ADMIN)), page(0, 10))
            .await
            .expect("list");
        assert_eq!(none.total, 0);

        let mut off = a1.clone();
        off.disabled = true;
        off.modified = t(40);
        store.update_role_assignment(&account, &off, &test_audit()).await.expect("update");
        assert_eq!(store.get_role_assignment(&account, "a1").await.expect("get"), off);
        let mut missing = off.clone();
        missing.identifier = "nope".into();
        assert_not_found(
            store.update_role_assignment(&account, &missing, &test_audit()).await,
            "role assignment 'nope' does not exist",
        );
        store.delete_role_assignment(&account, "a1", &test_audit()).await.expect("delete");
        assert_not_found(
            store.delete_role_assignment(&account, "a1", &test_audit()).await,
            "role assignment 'a1' does not exist",
        );
    }

    #[tokio::test]
    async fn principal_grants_follow_group_membership_and_skip_disabled() {
        let Some((store, account, _)) = setup().await else { return };
        let user_doc = normalize(ResourceKind::User, &json!({"userName": "u1@acme.test"})).expect("doc");
        store
            .create_resource(&account, ResourceKind::User, "u1", &user_doc, &[], t(1), &test_audit())
            .await
            .expect("user");
        let member = MemberRef { value: "u1".into(), member_type: Some("User".into()), display: None };
        for (id, members) in [("g1", vec![member]), ("g2", vec![])] {
            let doc = normalize(ResourceKind::Group, &json!({"displayName": id})).expect("doc");
            store
                .create_resource(&account, ResourceKind::Group, id, &doc, &members, t(1), &test_audit())
                .await
                .expect("group");
        }
        let role = Role {
            identifier: "auditor".into(),
            name: "Auditor".into(),
            description: String::new(),
            permissions: vec![Permission::UserView],
            tags: Tags::new(),
            builtin: false,
            created: t(1),
            modified: t(1),
        };
        store.create_role(&account, &role, &test_audit()).await.expect("role");
        let resource_group = ResourceGroup {
            identifier: "people".into(),
            name: "People".into(),
            description: String::new(),
            include_all: false,
            resource_types: vec!["USER".into()],
            tags: Tags::new(),
            builtin: false,
            created: t(1),
            modified: t(1),
        };
        store.create_resource_group(&account, &resource_group, &test_audit()).await.expect("rg");

        let (user, group) = (PrincipalType::User, PrincipalType::UserGroup);
        let mut off =
            role_assignment("r-off", ("", ""), ACCOUNT_ADMIN_ROLE, ALL_ACCOUNT_RESOURCES, user, "u1");
        off.disabled = true;
        let mut group_off =
            role_assignment("r-group-off", ("", ""), ACCOUNT_ADMIN_ROLE, ALL_ACCOUNT_RESOURCES, group, "g1");
        group_off.disabled = true;
        for a in [
            role_assignment("r-direct", ("default", ""), "auditor", "people", user, "u1"),
            role_assignment("r-group", ("", ""), ACCOUNT_VIEWER_ROLE, ALL_ACCOUNT_RESOURCES, group, "g1"),
            role_assignment(
                "r-other-group",
                ("", ""),
                ACCOUNT_ADMIN_ROLE,
                ALL_ACCOUNT_RESOURCES,
                group,
                "g2",
            ),
            role_assignment(
                "r-sa",
                ("", ""),
                ACCOUNT_VIEWER_ROLE,
                ALL_ACCOUNT_RESOURCES,
                PrincipalType::ServiceAccount,
                "u1",
            ),
            off,
            group_off,
        ] {
            store.create_role_assignment(&account, &a, &test_audit()).await.expect("assignment");
        }

        let u1 = Principal::User("u1".into());
        let grants = store.principal_grants(&account, &u1).await.expect("grants");
        assert_eq!(
            grants,
            vec![
                GrantRow {
                    scope: Scope { org: "default".into(), project: String::new() },
                    role_identifier: "auditor".into(),
                    role_permissions: Some(vec![Permission::UserView]),
                    resource_group_identifier: "people".into(),
                    resource_group: Some((false, vec!["USER".into()])),
                },
                GrantRow {
                    scope: Scope::account(),
                    role_identifier: ACCOUNT_VIEWER_ROLE.into(),
                    role_permissions: None,
                    resource_group_identifier: ALL_ACCOUNT_RESOURCES.into(),
                    resource_group: None,
                },
            ]
        );
        // A service account with the same identifier gets only its own assignment, never a group's.
        let sa_grants =
            store.principal_grants(&account, &Principal::ServiceAccount("u1".into())).await.expect("g");
        assert_eq!(sa_grants.len(), 1);
        assert_eq!(sa_grants[0].role_identifier, ACCOUNT_VIEWER_ROLE);
        // Another account sees nothing.
        let other = AccountId::parse("other").expect("id");
        assert!(store.principal_grants(&other, &u1).await.expect("grants").is_empty());

        // Deleting the group removes its assignments.
        store
            .delete_resource(&account, ResourceKind::Group, "g1", None, &test_audit())
            .await
            .expect("delete group");
        assert!(store.get_role_assignment(&account, "r-group").await.is_err());
        let grants = store.principal_grants(&account, &u1).await.expect("grants");
        assert_eq!(grants.len(), 1);
        assert_eq!(grants[0].role_identifier, "auditor");

        // Deleting the user removes its personal keys, their tokens and its assignments.
        let key = api_key(TokenKind::User, "u1", "laptop");
        store.create_api_key(&account, &key, &test_audit()).await.expect("key");
        store.create_token(&account, &token(&key, "t", "tok-u1"), &[9], &test_audit()).await.expect("token");
        store
            .delete_resource(&account, ResourceKind::User, "u1", None, &test_audit())
            .await
            .expect("delete user");
        assert!(store.list_api_keys(&account, TokenKind::User, "u1").await.expect("keys").is_empty());
        assert!(store.get_stored_token("tok-u1").await.expect("read").is_none());
        assert!(store.principal_grants(&account, &u1).await.expect("grants").is_empty());
        assert!(store.get_role_assignment(&account, "r-sa").await.is_ok(), "the service account's stays");
    }
}
