//! `RoleStore`: custom roles and custom resource groups (the built-in ones live in code).
//! Loaded once per backend (see the crate documentation).
//!
//! Every statement is SQL text fixed in this file, scoped by `account_id`. Uniqueness is left
//! to the database's indexes (a violation becomes `Conflict`); a role or resource group that
//! role assignments use is not deleted (`Conflict`).

use async_trait::async_trait;

use scimgate_domain::entities::{PageRequest, Paged, ResourceGroup, Role};
use scimgate_domain::store::RoleStore;
use scimgate_domain::{AccountId, DomainError};

use scimgate_domain::audit::AuditEntry;

use super::audit;
use super::common::{col, write_tx};
use super::rows::{
    account_missing, changed, permissions_from, permissions_json, strings_from, strings_json, tags_from,
    tags_json,
};
use super::{DbRow, Store};
use crate::{DbResultExt, from_micros, micros};

fn role_row(r: &DbRow) -> Result<Role, DomainError> {
    Ok(Role {
        identifier: col(r, "identifier")?,
        name: col(r, "name")?,
        description: col(r, "description")?,
        permissions: permissions_from(&col::<String>(r, "permissions")?)?,
        tags: tags_from(&col::<String>(r, "tags")?)?,
        builtin: false,
        created: from_micros(col(r, "created_us")?),
        modified: from_micros(col(r, "modified_us")?),
    })
}

fn resource_group_row(r: &DbRow) -> Result<ResourceGroup, DomainError> {
    Ok(ResourceGroup {
        identifier: col(r, "identifier")?,
        name: col(r, "name")?,
        description: col(r, "description")?,
        include_all: col::<i64>(r, "include_all")? != 0,
        resource_types: strings_from(&col::<String>(r, "resource_types")?)?,
        tags: tags_from(&col::<String>(r, "tags")?)?,
        builtin: false,
        created: from_micros(col(r, "created_us")?),
        modified: from_micros(col(r, "modified_us")?),
    })
}

/// The columns `role_row` reads.
const ROLE_COLUMNS: &str = "identifier, name, description, permissions, tags, created_us, modified_us";

/// The columns `resource_group_row` reads.
const RESOURCE_GROUP_COLUMNS: &str =
    "identifier, name, description, include_all, resource_types, tags, created_us, modified_us";

/// What [`Store::delete_unused`] deletes: its name in messages and its statements.
#[derive(Clone, Copy)]
struct Deletable {
    what: &'static str,
    exists_sql: &'static str,
    usage_sql: &'static str,
    delete_sql: &'static str,
}

impl Store {
    /// Deletes a custom role or resource group unless a role assignment uses it, in one
    /// write transaction: `NotFound` when missing, `Conflict` while used.
    async fn delete_unused(
        &self,
        account: &AccountId,
        identifier: &str,
        kind: &Deletable,
        audit: &AuditEntry,
    ) -> Result<(), DomainError> {
        let Deletable { what, exists_sql, usage_sql, delete_sql } = *kind;
        write_tx!(self, |tx| {
            audit::insert(tx, account, audit).await?;
            let found = sqlx::query(exists_sql)
                .bind(account.as_str())
                .bind(identifier)
                .fetch_optional(&mut **tx)
                .await
                .db()?;
            if found.is_none() {
                return Err(DomainError::NotFound(format!("{what} '{identifier}' does not exist")));
            }
            let used: i64 = sqlx::query_scalar(usage_sql)
                .bind(account.as_str())
                .bind(identifier)
                .fetch_one(&mut **tx)
                .await
                .db()?;
            if used > 0 {
                let noun = if used == 1 { "role assignment" } else { "role assignments" };
                return Err(DomainError::Conflict(format!(
                    "{what} '{identifier}' is used by {used} {noun}; delete them first"
                )));
            }
            sqlx::query(delete_sql).bind(account.as_str()).bind(identifier).execute(&mut **tx).await.db()?;
            Ok(())
        })
    }
}

#[async_trait]
impl RoleStore for Store {
    async fn create_role(
        &self,
        account: &AccountId,
        role: &Role,
        audit: &AuditEntry,
    ) -> Result<(), DomainError> {
        write_tx!(self, |tx| {
            audit::insert(tx, account, audit).await?;
            sqlx::query(
                "INSERT INTO roles (account_id, identifier, name, description, permissions, tags, created_us, \
                 modified_us) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(account.as_str())
            .bind(&role.identifier)
            .bind(&role.name)
            .bind(&role.description)
            .bind(permissions_json(&role.permissions))
            .bind(tags_json(&role.tags))
            .bind(micros(role.created))
            .bind(micros(role.modified))
            .execute(&mut **tx)
            .await
            .on_write(
                || format!("a role with identifier '{}' already exists", role.identifier),
                || account_missing(account),
            )?;
            Ok(())
        })
    }

    async fn get_role(&self, account: &AccountId, identifier: &str) -> Result<Role, DomainError> {
        self.get_by_identifier(ROLE_COLUMNS, "roles", account, identifier, "role", role_row).await
    }

    async fn list_roles(&self, account: &AccountId, page: PageRequest) -> Result<Paged<Role>, DomainError> {
        self.paged(
            ROLE_COLUMNS,
            |q| {
                q.push("FROM roles WHERE account_id = ").push_bind(account.as_str());
            },
            "identifier",
            page,
            role_row,
        )
        .await
    }

    async fn update_role(
        &self,
        account: &AccountId,
        role: &Role,
        audit: &AuditEntry,
    ) -> Result<(), DomainError> {
        write_tx!(self, |tx| {
            audit::insert(tx, account, audit).await?;
            let done = sqlx::query(
                "UPDATE roles SET name = $1, description = $2, permissions = $3, tags = $4, modified_us = $5 \
                 WHERE account_id = $6 AND identifier = $7",
            )
            .bind(&role.name)
            .bind(&role.description)
            .bind(permissions_json(&role.permissions))
            .bind(tags_json(&role.tags))
            .bind(micros(role.modified))
            .bind(account.as_str())
            .bind(&role.identifier)
            .execute(&mut **tx)
            .await
            .db()?;
            changed(done, || format!("role '{}' does not exist", role.identifier))
        })
    }

    async fn delete_role(
        &self,
        account: &AccountId,
        identifier: &str,
        audit: &AuditEntry,
    ) -> Result<(), DomainError> {
        self.delete_unused(
            account,
            identifier,
            &Deletable {
                what: "role",
                exists_sql: "SELECT 1 FROM roles WHERE account_id = $1 AND identifier = $2",
                usage_sql: "SELECT count(*) FROM role_assignments WHERE account_id = $1 AND role_identifier = $2",
                delete_sql: "DELETE FROM roles WHERE account_id = $1 AND identifier = $2",
            },
            audit,
        )
        .await
    }

    // ---- resource groups -----------------------------------------------------------

    async fn create_resource_group(
        &self,
        account: &AccountId,
        resource_group: &ResourceGroup,
        audit: &AuditEntry,
    ) -> Result<(), DomainError> {
        write_tx!(self, |tx| {
            audit::insert(tx, account, audit).await?;
            sqlx::query(
                "INSERT INTO resource_groups (account_id, identifier, name, description, include_all, \
                 resource_types, tags, created_us, modified_us) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(account.as_str())
            .bind(&resource_group.identifier)
            .bind(&resource_group.name)
            .bind(&resource_group.description)
            .bind(i64::from(resource_group.include_all))
            .bind(strings_json(resource_group.resource_types.iter().map(String::as_str)))
            .bind(tags_json(&resource_group.tags))
            .bind(micros(resource_group.created))
            .bind(micros(resource_group.modified))
            .execute(&mut **tx)
            .await
            .on_write(
                || format!("a resource group with identifier '{}' already exists", resource_group.identifier),
                || account_missing(account),
            )?;
            Ok(())
        })
    }

    async fn get_resource_group(
        &self,
        account: &AccountId,
        identifier: &str,
    ) -> Result<ResourceGroup, DomainError> {
        self.get_by_identifier(
            RESOURCE_GROUP_COLUMNS,
            "resource_groups",
            account,
            identifier,
            "resource group",
            resource_group_row,
        )
        .await
    }

    async fn list_resource_groups(
        &self,
        account: &AccountId,
        page: PageRequest,
    ) -> Result<Paged<ResourceGroup>, DomainError> {
        self.paged(
            RESOURCE_GROUP_COLUMNS,
            |q| {
                q.push("FROM resource_groups WHERE account_id = ").push_bind(account.as_str());
            },
            "identifier",
            page,
            resource_group_row,
        )
        .await
    }

    async fn update_resource_group(
        &self,
        account: &AccountId,
        resource_group: &ResourceGroup,
        audit: &AuditEntry,
    ) -> Result<(), DomainError> {
        write_tx!(self, |tx| {
            audit::insert(tx, account, audit).await?;
            let done = sqlx::query(
                "UPDATE resource_groups SET name = $1, description = $2, include_all = $3, resource_types = $4, tags = $5, \
                 modified_us = $6 WHERE account_id = $7 AND identifier = $8",
            )
            .bind(&resource_group.name)
            .bind(&resource_group.description)
            .bind(i64::from(resource_group.include_all))
            .bind(strings_json(resource_group.resource_types.iter().map(String::as_str)))
            .bind(tags_json(&resource_group.tags))
            .bind(micros(resource_group.modified))
            .bind(account.as_str())
            .bind(&resource_group.identifier)
            .execute(&mut **tx)
            .await
            .db()?;
            changed(done, || format!("resource group '{}' does not exist", resource_group.identifier))
        })
    }

    async fn delete_resource_group(
        &self,
        account: &AccountId,
        identifier: &str,
        audit: &AuditEntry,
    ) -> Result<(), DomainError> {
        self.delete_unused(
            account,
            identifier,
            &Deletable {
                what: "resource group",
                exists_sql: "SELECT 1 FROM resource_groups WHERE account_id = $1 AND identifier = $2",
                usage_sql: "SELECT count(*) FROM role_assignments WHERE account_id = $1 \
                            AND resource_group_identifier = $2",
                delete_sql: "DELETE FROM resource_groups WHERE account_id = $1 AND identifier = $2",
            },
            audit,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::access::*;
    use super::*;
    use scimgate_domain::access::Permission;
    use scimgate_domain::entities::{PrincipalType, Tags};
    use scimgate_domain::store::RoleAssignmentStore;

    #[tokio::test]
    async fn roles_and_resource_groups_round_trip_and_refuse_delete_while_used() {
        let Some((store, account, _)) = setup().await else { return };
        let role = Role {
            identifier: "auditor".into(),
            name: "Auditor".into(),
            description: "reads".into(),
            permissions: vec![Permission::UserView, Permission::RoleView],
            tags: tags("k", "v"),
            builtin: false,
            created: t(6),
            modified: t(6),
        };
        store.create_role(&account, &role, &test_audit()).await.expect("role");
        assert_eq!(store.get_role(&account, "auditor").await.expect("get"), role);
        assert_eq!(
            conflict_message(store.create_role(&account, &role, &test_audit()).await),
            "a role with identifier 'auditor' already exists"
        );
        // Permission names this binary does not know are skipped.
        sqlx::query("UPDATE roles SET permissions = '[\"core_user_view\",\"core_future_thing\"]'")
            .execute(store.pool())
            .await
            .expect("raw update");
        assert_eq!(
            store.get_role(&account, "auditor").await.expect("get").permissions,
            vec![Permission::UserView]
        );
        let mut edited = role.clone();
        edited.permissions = vec![Permission::ProjectView];
        edited.modified = t(60);
        store.update_role(&account, &edited, &test_audit()).await.expect("update");
        assert_eq!(store.get_role(&account, "auditor").await.expect("get"), edited);
        let roles = store.list_roles(&account, page(0, 10)).await.expect("list");
        assert_eq!((roles.items.len(), roles.total), (1, 1));

        let resource_group = ResourceGroup {
            identifier: "people".into(),
            name: "People".into(),
            description: String::new(),
            include_all: false,
            resource_types: vec!["USER".into(), "USERGROUP".into()],
            tags: Tags::new(),
            builtin: false,
            created: t(7),
            modified: t(7),
        };
        store.create_resource_group(&account, &resource_group, &test_audit()).await.expect("rg");
        assert_eq!(store.get_resource_group(&account, "people").await.expect("get"), resource_group);
        assert_eq!(
            conflict_message(store.create_resource_group(&account, &resource_group, &test_audit()).await),
            "a resource group with identifier 'people' already exists"
        );
        let mut all = resource_group.clone();
        all.include_all = true;
        all.resource_types = vec![];
        store.update_resource_group(&account, &all, &test_audit()).await.expect("update");
        assert_eq!(store.get_resource_group(&account, "people").await.expect("get"), all);
        assert_eq!(store.list_resource_groups(&account, page(0, 10)).await.expect("list").total, 1);

        let a = role_assignment("uses-both", ("", ""), "auditor", "people", PrincipalType::User, ADMIN);
        store.create_role_assignment(&account, &a, &test_audit()).await.expect("assignment");
        assert_eq!(
            conflict_message(store.delete_role(&account, "auditor", &test_audit()).await),
            "role 'auditor' is used by 1 role assignment; delete them first"
        );
        assert_eq!(
            conflict_message(store.delete_resource_group(&account, "people", &test_audit()).await),
            "resource group 'people' is used by 1 role assignment; delete them first"
        );
        store.delete_role_assignment(&account, "uses-both", &test_audit()).await.expect("delete assignment");
        store.delete_role(&account, "auditor", &test_audit()).await.expect("delete role");
        store.delete_resource_group(&account, "people", &test_audit()).await.expect("delete rg");
        assert_not_found(store.get_role(&account, "auditor").await, "role 'auditor' does not exist");
        assert_not_found(
            store.delete_role(&account, "auditor", &test_audit()).await,
            "role 'auditor' does not exist",
        );
        assert_not_found(
            store.update_role(&account, &role, &test_audit()).await,
            "role 'auditor' does not exist",
        );
        assert_not_found(
            store.get_resource_group(&account, "people").await,
            "resource group 'people' does not exist",
        );
        assert_not_found(
            store.delete_resource_group(&account, "people", &test_audit()).await,
            "resource group 'people' does not exist",
        );
    }
}
