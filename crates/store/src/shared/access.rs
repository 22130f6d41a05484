//! `AccessStore`: organizations, projects, service accounts, custom roles and resource
//! groups, role assignments, API keys, tokens and feature flags. Loaded once per backend (see
//! the crate documentation).
//!
//! Every statement is SQL text fixed in this file, scoped by `account_id`. Uniqueness is left
//! to the database's indexes (a violation becomes `Conflict`); foreign keys turn a missing
//! parent into `NotFound`. Writes that touch several tables run in one write transaction.

use std::borrow::Cow;
use std::collections::BTreeMap;

use async_trait::async_trait;
use serde_json::Value;
use time::OffsetDateTime;

use scimgate_domain::access::{Permission, Principal, Scope};
use scimgate_domain::entities::{
    ApiKey, ApiKeyRef, GrantRow, Organization, PageRequest, Paged, PrincipalType, Project, ResourceGroup,
    Role, RoleAssignment, ServiceAccount, Tags, TokenInfo,
};
use scimgate_domain::store::AccessStore;
use scimgate_domain::token::{StoredToken, TokenKind};
use scimgate_domain::{AccountId, DomainError};

use super::common::{col, limit_offset, write_tx};
use super::{DIALECT, DbQueryResult, DbRow, Store};
use crate::dialect::{contains_ci, greatest};
use crate::{db_error, dialect, from_us, internal, us};

/// Maps a write error: unique violation → `Conflict(conflict)`, foreign-key violation →
/// `NotFound(missing)`, anything else → `Internal`.
fn write_error(
    e: sqlx::Error,
    conflict: impl FnOnce() -> String,
    missing: impl FnOnce() -> String,
) -> DomainError {
    match &e {
        sqlx::Error::Database(d) if d.is_foreign_key_violation() => DomainError::NotFound(missing()),
        _ => db_error(e, conflict),
    }
}

/// Tells a duplicate identifier (the primary key) from a violation of another unique index.
fn is_primary_key_violation(e: &sqlx::Error) -> bool {
    dialect::is_primary_key_violation(DIALECT, e)
}

/// `NotFound(missing)` when a statement changed no row.
fn changed(done: DbQueryResult, missing: impl FnOnce() -> String) -> Result<(), DomainError> {
    if done.rows_affected() == 0 { Err(DomainError::NotFound(missing())) } else { Ok(()) }
}

fn account_missing(account: &AccountId) -> String {
    format!("account '{account}' does not exist")
}

fn tags_json(tags: &Tags) -> String {
    Value::Object(tags.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect()).to_string()
}

fn tags_from(text: &str) -> Result<Tags, DomainError> {
    serde_json::from_str(text).map_err(|e| DomainError::Internal(format!("stored tags: {e}")))
}

fn strings_json<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    Value::Array(items.into_iter().map(|s| Value::String(s.to_string())).collect()).to_string()
}

fn strings_from(text: &str) -> Result<Vec<String>, DomainError> {
    serde_json::from_str(text).map_err(|e| DomainError::Internal(format!("stored list: {e}")))
}

fn permissions_json(perms: &[Permission]) -> String {
    strings_json(perms.iter().map(|p| p.as_str()))
}

/// Permissions from their stored wire names; names this binary does not know are skipped.
fn permissions_from(text: &str) -> Result<Vec<Permission>, DomainError> {
    Ok(strings_from(text)?.iter().filter_map(|s| Permission::parse(s)).collect())
}

fn kind_str(kind: TokenKind) -> &'static str {
    match kind {
        TokenKind::User => "USER",
        TokenKind::ServiceAccount => "SERVICE_ACCOUNT",
    }
}

fn kind_from(s: &str) -> Result<TokenKind, DomainError> {
    match s {
        "USER" => Ok(TokenKind::User),
        "SERVICE_ACCOUNT" => Ok(TokenKind::ServiceAccount),
        other => Err(DomainError::Internal(format!("stored api_key_type '{other}' is unknown"))),
    }
}

fn principal_type_from(s: &str) -> Result<PrincipalType, DomainError> {
    PrincipalType::parse(s)
        .ok_or_else(|| DomainError::Internal(format!("stored principal_type '{s}' is unknown")))
}

fn opt_us(t: Option<OffsetDateTime>) -> Option<i64> {
    t.map(us)
}

/// The optional search of a list: `$n` is NULL, or the identifier or the name contains it
/// ignoring case. Binds the search text three times, as `$n`, `$n+1` and `$n+2`.
fn search_clause(n: usize) -> String {
    format!(
        "(${n} IS NULL OR {} OR {})",
        contains_ci(DIALECT, "identifier", &format!("${}", n + 1)),
        contains_ci(DIALECT, "name", &format!("${}", n + 2))
    )
}

fn key_missing(key: &ApiKeyRef) -> String {
    format!("API key '{}' does not exist", key.identifier)
}

fn org_row(r: &DbRow) -> Result<Organization, DomainError> {
    Ok(Organization {
        identifier: col(r, "identifier")?,
        name: col(r, "name")?,
        description: col(r, "description")?,
        tags: tags_from(&col::<String>(r, "tags")?)?,
        created: from_us(col(r, "created_us")?),
        modified: from_us(col(r, "modified_us")?),
    })
}

fn project_row(r: &DbRow) -> Result<Project, DomainError> {
    Ok(Project {
        org_identifier: col(r, "org_identifier")?,
        identifier: col(r, "identifier")?,
        name: col(r, "name")?,
        description: col(r, "description")?,
        color: col(r, "color")?,
        tags: tags_from(&col::<String>(r, "tags")?)?,
        created: from_us(col(r, "created_us")?),
        modified: from_us(col(r, "modified_us")?),
    })
}

fn service_account_row(r: &DbRow) -> Result<ServiceAccount, DomainError> {
    Ok(ServiceAccount {
        identifier: col(r, "identifier")?,
        name: col(r, "name")?,
        email: col(r, "email")?,
        description: col(r, "description")?,
        tags: tags_from(&col::<String>(r, "tags")?)?,
        created: from_us(col(r, "created_us")?),
        modified: from_us(col(r, "modified_us")?),
    })
}

fn role_row(r: &DbRow) -> Result<Role, DomainError> {
    Ok(Role {
        identifier: col(r, "identifier")?,
        name: col(r, "name")?,
        description: col(r, "description")?,
        permissions: permissions_from(&col::<String>(r, "permissions")?)?,
        tags: tags_from(&col::<String>(r, "tags")?)?,
        builtin: false,
        created: from_us(col(r, "created_us")?),
        modified: from_us(col(r, "modified_us")?),
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
        created: from_us(col(r, "created_us")?),
        modified: from_us(col(r, "modified_us")?),
    })
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
        created: from_us(col(r, "created_us")?),
        modified: from_us(col(r, "modified_us")?),
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

fn api_key_row(r: &DbRow) -> Result<ApiKey, DomainError> {
    Ok(ApiKey {
        api_key_type: kind_from(&col::<String>(r, "api_key_type")?)?,
        parent_identifier: col(r, "parent_identifier")?,
        identifier: col(r, "identifier")?,
        name: col(r, "name")?,
        description: col(r, "description")?,
        tags: tags_from(&col::<String>(r, "tags")?)?,
        default_ttl_ms: col(r, "default_ttl_ms")?,
        created: from_us(col(r, "created_us")?),
        modified: from_us(col(r, "modified_us")?),
    })
}

fn token_info_row(r: &DbRow) -> Result<TokenInfo, DomainError> {
    Ok(TokenInfo {
        token_id: col(r, "id")?,
        api_key_type: kind_from(&col::<String>(r, "api_key_type")?)?,
        parent_identifier: col(r, "parent_identifier")?,
        api_key_identifier: col(r, "api_key_identifier")?,
        identifier: col(r, "identifier")?,
        name: col(r, "name")?,
        description: col(r, "description")?,
        tags: tags_from(&col::<String>(r, "tags")?)?,
        created: from_us(col(r, "created_us")?),
        modified: from_us(col(r, "modified_us")?),
        valid_from: from_us(col(r, "valid_from_us")?),
        valid_to: col::<Option<i64>>(r, "valid_to_us")?.map(from_us),
        last_used: col::<Option<i64>>(r, "last_used_us")?.map(from_us),
        previous_valid_to: col::<Option<i64>>(r, "previous_valid_to_us")?.map(from_us),
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

impl Store {
    /// One page and the total of a list, read in one transaction so both see the same
    /// snapshot. `count_sql` and `page_sql` take the same `binds` (`$1`…`$n`); `page_sql`
    /// ends with `LIMIT $n+1 OFFSET $n+2`.
    async fn paged<T>(
        &self,
        count_sql: impl Into<Cow<'static, str>>,
        page_sql: impl Into<Cow<'static, str>>,
        binds: &[Option<&str>],
        page: PageRequest,
        map: fn(&DbRow) -> Result<T, DomainError>,
    ) -> Result<Paged<T>, DomainError> {
        let (limit, offset) = limit_offset(page);
        let mut tx = self.begin_read().await?;
        let mut count = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(count_sql.into()));
        for b in binds {
            count = count.bind(*b);
        }
        let total = count.fetch_one(&mut *tx).await.map_err(internal)?;
        let mut q = sqlx::query(sqlx::AssertSqlSafe(page_sql.into()));
        for b in binds {
            q = q.bind(*b);
        }
        let rows = q.bind(limit).bind(offset).fetch_all(&mut *tx).await.map_err(internal)?;
        tx.commit().await.map_err(internal)?;
        Ok(Paged {
            items: rows.iter().map(map).collect::<Result<_, _>>()?,
            total: u64::try_from(total).unwrap_or(0),
        })
    }

    /// Deletes a custom role or resource group unless a role assignment uses it, in one
    /// write transaction: `NotFound` when missing, `Conflict` while used.
    async fn delete_unused(
        &self,
        account: &AccountId,
        identifier: &str,
        what: &str,
        exists_sql: &'static str,
        usage_sql: &'static str,
        delete_sql: &'static str,
    ) -> Result<(), DomainError> {
        write_tx!(self, |tx| {
            let found = sqlx::query(exists_sql)
                .bind(account.as_str())
                .bind(identifier)
                .fetch_optional(&mut **tx)
                .await
                .map_err(internal)?;
            if found.is_none() {
                return Err(DomainError::NotFound(format!("{what} '{identifier}' does not exist")));
            }
            let used: i64 = sqlx::query_scalar(usage_sql)
                .bind(account.as_str())
                .bind(identifier)
                .fetch_one(&mut **tx)
                .await
                .map_err(internal)?;
            if used > 0 {
                let noun = if used == 1 { "role assignment" } else { "role assignments" };
                return Err(DomainError::Conflict(format!(
                    "{what} '{identifier}' is used by {used} {noun}; delete them first"
                )));
            }
            sqlx::query(delete_sql)
                .bind(account.as_str())
                .bind(identifier)
                .execute(&mut **tx)
                .await
                .map_err(internal)?;
            Ok(())
        })
    }
}

#[async_trait]
impl AccessStore for Store {
    // ---- organizations -------------------------------------------------------------

    async fn create_org(&self, account: &AccountId, org: &Organization) -> Result<(), DomainError> {
        sqlx::query(
            "INSERT INTO organizations (account_id, identifier, name, description, tags, created_us, modified_us) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(account.as_str())
        .bind(&org.identifier)
        .bind(&org.name)
        .bind(&org.description)
        .bind(tags_json(&org.tags))
        .bind(us(org.created))
        .bind(us(org.modified))
        .execute(&self.pool)
        .await
        .map_err(|e| {
            write_error(
                e,
                || format!("an organization with identifier '{}' already exists", org.identifier),
                || account_missing(account),
            )
        })?;
        Ok(())
    }

    async fn get_org(&self, account: &AccountId, identifier: &str) -> Result<Organization, DomainError> {
        let row = sqlx::query(
            "SELECT identifier, name, description, tags, created_us, modified_us FROM organizations \
             WHERE account_id = $1 AND identifier = $2",
        )
        .bind(account.as_str())
        .bind(identifier)
        .fetch_optional(&self.pool)
        .await
        .map_err(internal)?
        .ok_or_else(|| DomainError::NotFound(format!("organization '{identifier}' does not exist")))?;
        org_row(&row)
    }

    async fn list_orgs(
        &self,
        account: &AccountId,
        search: Option<&str>,
        page: PageRequest,
    ) -> Result<Paged<Organization>, DomainError> {
        self.paged(
            format!("SELECT count(*) FROM organizations WHERE account_id = $1 AND {}", search_clause(2)),
            format!(
                "SELECT identifier, name, description, tags, created_us, modified_us FROM organizations \
                 WHERE account_id = $1 AND {} ORDER BY identifier LIMIT $5 OFFSET $6",
                search_clause(2)
            ),
            &[Some(account.as_str()), search, search, search],
            page,
            org_row,
        )
        .await
    }

    async fn update_org(&self, account: &AccountId, org: &Organization) -> Result<(), DomainError> {
        let done = sqlx::query(
            "UPDATE organizations SET name = $1, description = $2, tags = $3, modified_us = $4 \
             WHERE account_id = $5 AND identifier = $6",
        )
        .bind(&org.name)
        .bind(&org.description)
        .bind(tags_json(&org.tags))
        .bind(us(org.modified))
        .bind(account.as_str())
        .bind(&org.identifier)
        .execute(&self.pool)
        .await
        .map_err(internal)?;
        changed(done, || format!("organization '{}' does not exist", org.identifier))
    }

    async fn delete_org(&self, account: &AccountId, identifier: &str) -> Result<(), DomainError> {
        write_tx!(self, |tx| {
            // Projects cascade with the organization row.
            let done = sqlx::query("DELETE FROM organizations WHERE account_id = $1 AND identifier = $2")
                .bind(account.as_str())
                .bind(identifier)
                .execute(&mut **tx)
                .await
                .map_err(internal)?;
            changed(done, || format!("organization '{identifier}' does not exist"))?;
            sqlx::query("DELETE FROM role_assignments WHERE account_id = $1 AND org_identifier = $2")
                .bind(account.as_str())
                .bind(identifier)
                .execute(&mut **tx)
                .await
                .map_err(internal)?;
            Ok(())
        })
    }

    // ---- projects ------------------------------------------------------------------

    async fn create_project(&self, account: &AccountId, project: &Project) -> Result<(), DomainError> {
        sqlx::query(
            "INSERT INTO projects (account_id, org_identifier, identifier, name, description, color, tags, \
             created_us, modified_us) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(account.as_str())
        .bind(&project.org_identifier)
        .bind(&project.identifier)
        .bind(&project.name)
        .bind(&project.description)
        .bind(&project.color)
        .bind(tags_json(&project.tags))
        .bind(us(project.created))
        .bind(us(project.modified))
        .execute(&self.pool)
        .await
        .map_err(|e| {
            write_error(
                e,
                || {
                    format!(
                        "a project with identifier '{}' already exists in organization '{}'",
                        project.identifier, project.org_identifier
                    )
                },
                || format!("organization '{}' does not exist", project.org_identifier),
            )
        })?;
        Ok(())
    }

    async fn get_project(
        &self,
        account: &AccountId,
        org: &str,
        identifier: &str,
    ) -> Result<Project, DomainError> {
        let row = sqlx::query(
            "SELECT org_identifier, identifier, name, description, color, tags, created_us, modified_us \
             FROM projects WHERE account_id = $1 AND org_identifier = $2 AND identifier = $3",
        )
        .bind(account.as_str())
        .bind(org)
        .bind(identifier)
        .fetch_optional(&self.pool)
        .await
        .map_err(internal)?
        .ok_or_else(|| {
            DomainError::NotFound(format!("project '{identifier}' does not exist in organization '{org}'"))
        })?;
        project_row(&row)
    }

    async fn list_projects(
        &self,
        account: &AccountId,
        org: Option<&str>,
        search: Option<&str>,
        page: PageRequest,
    ) -> Result<Paged<Project>, DomainError> {
        self.paged(
            format!(
                "SELECT count(*) FROM projects WHERE account_id = $1 AND ($2 IS NULL OR org_identifier = $3) \
                 AND {}",
                search_clause(4)
            ),
            format!(
                "SELECT org_identifier, identifier, name, description, color, tags, created_us, modified_us \
                 FROM projects WHERE account_id = $1 AND ($2 IS NULL OR org_identifier = $3) AND {} \
                 ORDER BY org_identifier, identifier LIMIT $7 OFFSET $8",
                search_clause(4)
            ),
            &[Some(account.as_str()), org, org, search, search, search],
            page,
            project_row,
        )
        .await
    }

    async fn update_project(&self, account: &AccountId, project: &Project) -> Result<(), DomainError> {
        let done = sqlx::query(
            "UPDATE projects SET name = $1, description = $2, color = $3, tags = $4, modified_us = $5 \
             WHERE account_id = $6 AND org_identifier = $7 AND identifier = $8",
        )
        .bind(&project.name)
        .bind(&project.description)
        .bind(&project.color)
        .bind(tags_json(&project.tags))
        .bind(us(project.modified))
        .bind(account.as_str())
        .bind(&project.org_identifier)
        .bind(&project.identifier)
        .execute(&self.pool)
        .await
        .map_err(internal)?;
        changed(done, || {
            format!(
                "project '{}' does not exist in organization '{}'",
                project.identifier, project.org_identifier
            )
        })
    }

    async fn delete_project(
        &self,
        account: &AccountId,
        org: &str,
        identifier: &str,
    ) -> Result<(), DomainError> {
        write_tx!(self, |tx| {
            let done = sqlx::query(
                "DELETE FROM projects WHERE account_id = $1 AND org_identifier = $2 AND identifier = $3",
            )
            .bind(account.as_str())
            .bind(org)
            .bind(identifier)
            .execute(&mut **tx)
            .await
            .map_err(internal)?;
            changed(done, || format!("project '{identifier}' does not exist in organization '{org}'"))?;
            sqlx::query(
                "DELETE FROM role_assignments WHERE account_id = $1 AND org_identifier = $2 AND project_identifier = $3",
            )
            .bind(account.as_str())
            .bind(org)
            .bind(identifier)
            .execute(&mut **tx)
            .await
            .map_err(internal)?;
            Ok(())
        })
    }

    // ---- service accounts ----------------------------------------------------------

    async fn create_service_account(
        &self,
        account: &AccountId,
        sa: &ServiceAccount,
    ) -> Result<(), DomainError> {
        sqlx::query(
            "INSERT INTO service_accounts (account_id, identifier, name, email, description, tags, created_us, \
             modified_us) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(account.as_str())
        .bind(&sa.identifier)
        .bind(&sa.name)
        .bind(&sa.email)
        .bind(&sa.description)
        .bind(tags_json(&sa.tags))
        .bind(us(sa.created))
        .bind(us(sa.modified))
        .execute(&self.pool)
        .await
        .map_err(|e| {
            write_error(
                e,
                || format!("a service account with identifier '{}' already exists", sa.identifier),
                || account_missing(account),
            )
        })?;
        Ok(())
    }

    async fn get_service_account(
        &self,
        account: &AccountId,
        identifier: &str,
    ) -> Result<ServiceAccount, DomainError> {
        let row = sqlx::query(
            "SELECT identifier, name, email, description, tags, created_us, modified_us FROM service_accounts \
             WHERE account_id = $1 AND identifier = $2",
        )
        .bind(account.as_str())
        .bind(identifier)
        .fetch_optional(&self.pool)
        .await
        .map_err(internal)?
        .ok_or_else(|| DomainError::NotFound(format!("service account '{identifier}' does not exist")))?;
        service_account_row(&row)
    }

    async fn list_service_accounts(
        &self,
        account: &AccountId,
        search: Option<&str>,
        page: PageRequest,
    ) -> Result<Paged<ServiceAccount>, DomainError> {
        self.paged(
            format!("SELECT count(*) FROM service_accounts WHERE account_id = $1 AND {}", search_clause(2)),
            format!(
                "SELECT identifier, name, email, description, tags, created_us, modified_us FROM service_accounts \
                 WHERE account_id = $1 AND {} ORDER BY identifier LIMIT $5 OFFSET $6",
                search_clause(2)
            ),
            &[Some(account.as_str()), search, search, search],
            page,
            service_account_row,
        )
        .await
    }

    async fn update_service_account(
        &self,
        account: &AccountId,
        sa: &ServiceAccount,
    ) -> Result<(), DomainError> {
        let done = sqlx::query(
            "UPDATE service_accounts SET name = $1, email = $2, description = $3, tags = $4, modified_us = $5 \
             WHERE account_id = $6 AND identifier = $7",
        )
        .bind(&sa.name)
        .bind(&sa.email)
        .bind(&sa.description)
        .bind(tags_json(&sa.tags))
        .bind(us(sa.modified))
        .bind(account.as_str())
        .bind(&sa.identifier)
        .execute(&self.pool)
        .await
        .map_err(internal)?;
        changed(done, || format!("service account '{}' does not exist", sa.identifier))
    }

    async fn delete_service_account(&self, account: &AccountId, identifier: &str) -> Result<(), DomainError> {
        write_tx!(self, |tx| {
            let done = sqlx::query("DELETE FROM service_accounts WHERE account_id = $1 AND identifier = $2")
                .bind(account.as_str())
                .bind(identifier)
                .execute(&mut **tx)
                .await
                .map_err(internal)?;
            changed(done, || format!("service account '{identifier}' does not exist"))?;
            // Tokens cascade with their API keys.
            sqlx::query(
                "DELETE FROM api_keys WHERE account_id = $1 AND api_key_type = 'SERVICE_ACCOUNT' \
                 AND parent_identifier = $2",
            )
            .bind(account.as_str())
            .bind(identifier)
            .execute(&mut **tx)
            .await
            .map_err(internal)?;
            sqlx::query(
                "DELETE FROM role_assignments WHERE account_id = $1 AND principal_type = 'SERVICE_ACCOUNT' \
                 AND principal_identifier = $2",
            )
            .bind(account.as_str())
            .bind(identifier)
            .execute(&mut **tx)
            .await
            .map_err(internal)?;
            Ok(())
        })
    }

    // ---- roles ---------------------------------------------------------------------

    async fn create_role(&self, account: &AccountId, role: &Role) -> Result<(), DomainError> {
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
        .bind(us(role.created))
        .bind(us(role.modified))
        .execute(&self.pool)
        .await
        .map_err(|e| {
            write_error(
                e,
                || format!("a role with identifier '{}' already exists", role.identifier),
                || account_missing(account),
            )
        })?;
        Ok(())
    }

    async fn get_role(&self, account: &AccountId, identifier: &str) -> Result<Role, DomainError> {
        let row = sqlx::query(
            "SELECT identifier, name, description, permissions, tags, created_us, modified_us FROM roles \
             WHERE account_id = $1 AND identifier = $2",
        )
        .bind(account.as_str())
        .bind(identifier)
        .fetch_optional(&self.pool)
        .await
        .map_err(internal)?
        .ok_or_else(|| DomainError::NotFound(format!("role '{identifier}' does not exist")))?;
        role_row(&row)
    }

    async fn list_roles(&self, account: &AccountId, page: PageRequest) -> Result<Paged<Role>, DomainError> {
        self.paged(
            "SELECT count(*) FROM roles WHERE account_id = $1",
            "SELECT identifier, name, description, permissions, tags, created_us, modified_us FROM roles \
             WHERE account_id = $1 ORDER BY identifier LIMIT $2 OFFSET $3",
            &[Some(account.as_str())],
            page,
            role_row,
        )
        .await
    }

    async fn update_role(&self, account: &AccountId, role: &Role) -> Result<(), DomainError> {
        let done = sqlx::query(
            "UPDATE roles SET name = $1, description = $2, permissions = $3, tags = $4, modified_us = $5 \
             WHERE account_id = $6 AND identifier = $7",
        )
        .bind(&role.name)
        .bind(&role.description)
        .bind(permissions_json(&role.permissions))
        .bind(tags_json(&role.tags))
        .bind(us(role.modified))
        .bind(account.as_str())
        .bind(&role.identifier)
        .execute(&self.pool)
        .await
        .map_err(internal)?;
        changed(done, || format!("role '{}' does not exist", role.identifier))
    }

    async fn delete_role(&self, account: &AccountId, identifier: &str) -> Result<(), DomainError> {
        self.delete_unused(
            account,
            identifier,
            "role",
            "SELECT 1 FROM roles WHERE account_id = $1 AND identifier = $2",
            "SELECT count(*) FROM role_assignments WHERE account_id = $1 AND role_identifier = $2",
            "DELETE FROM roles WHERE account_id = $1 AND identifier = $2",
        )
        .await
    }

    // ---- resource groups -----------------------------------------------------------

    async fn create_resource_group(
        &self,
        account: &AccountId,
        rg: &ResourceGroup,
    ) -> Result<(), DomainError> {
        sqlx::query(
            "INSERT INTO resource_groups (account_id, identifier, name, description, include_all, \
             resource_types, tags, created_us, modified_us) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(account.as_str())
        .bind(&rg.identifier)
        .bind(&rg.name)
        .bind(&rg.description)
        .bind(i64::from(rg.include_all))
        .bind(strings_json(rg.resource_types.iter().map(String::as_str)))
        .bind(tags_json(&rg.tags))
        .bind(us(rg.created))
        .bind(us(rg.modified))
        .execute(&self.pool)
        .await
        .map_err(|e| {
            write_error(
                e,
                || format!("a resource group with identifier '{}' already exists", rg.identifier),
                || account_missing(account),
            )
        })?;
        Ok(())
    }

    async fn get_resource_group(
        &self,
        account: &AccountId,
        identifier: &str,
    ) -> Result<ResourceGroup, DomainError> {
        let row = sqlx::query(
            "SELECT identifier, name, description, include_all, resource_types, tags, created_us, modified_us \
             FROM resource_groups WHERE account_id = $1 AND identifier = $2",
        )
        .bind(account.as_str())
        .bind(identifier)
        .fetch_optional(&self.pool)
        .await
        .map_err(internal)?
        .ok_or_else(|| DomainError::NotFound(format!("resource group '{identifier}' does not exist")))?;
        resource_group_row(&row)
    }

    async fn list_resource_groups(
        &self,
        account: &AccountId,
        page: PageRequest,
    ) -> Result<Paged<ResourceGroup>, DomainError> {
        self.paged(
            "SELECT count(*) FROM resource_groups WHERE account_id = $1",
            "SELECT identifier, name, description, include_all, resource_types, tags, created_us, modified_us \
             FROM resource_groups WHERE account_id = $1 ORDER BY identifier LIMIT $2 OFFSET $3",
            &[Some(account.as_str())],
            page,
            resource_group_row,
        )
        .await
    }

    async fn update_resource_group(
        &self,
        account: &AccountId,
        rg: &ResourceGroup,
    ) -> Result<(), DomainError> {
        let done = sqlx::query(
            "UPDATE resource_groups SET name = $1, description = $2, include_all = $3, resource_types = $4, tags = $5, \
             modified_us = $6 WHERE account_id = $7 AND identifier = $8",
        )
        .bind(&rg.name)
        .bind(&rg.description)
        .bind(i64::from(rg.include_all))
        .bind(strings_json(rg.resource_types.iter().map(String::as_str)))
        .bind(tags_json(&rg.tags))
        .bind(us(rg.modified))
        .bind(account.as_str())
        .bind(&rg.identifier)
        .execute(&self.pool)
        .await
        .map_err(internal)?;
        changed(done, || format!("resource group '{}' does not exist", rg.identifier))
    }

    async fn delete_resource_group(&self, account: &AccountId, identifier: &str) -> Result<(), DomainError> {
        self.delete_unused(
            account,
            identifier,
            "resource group",
            "SELECT 1 FROM resource_groups WHERE account_id = $1 AND identifier = $2",
            "SELECT count(*) FROM role_assignments WHERE account_id = $1 AND resource_group_identifier = $2",
            "DELETE FROM resource_groups WHERE account_id = $1 AND identifier = $2",
        )
        .await
    }

    // ---- role assignments ----------------------------------------------------------

    async fn create_role_assignment(
        &self,
        account: &AccountId,
        ra: &RoleAssignment,
    ) -> Result<(), DomainError> {
        sqlx::query(
            "INSERT INTO role_assignments (account_id, identifier, org_identifier, project_identifier, \
             role_identifier, resource_group_identifier, principal_type, principal_identifier, disabled, \
             created_us, modified_us) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(account.as_str())
        .bind(&ra.identifier)
        .bind(&ra.scope.org)
        .bind(&ra.scope.project)
        .bind(&ra.role_identifier)
        .bind(&ra.resource_group_identifier)
        .bind(ra.principal_type.as_str())
        .bind(&ra.principal_identifier)
        .bind(i64::from(ra.disabled))
        .bind(us(ra.created))
        .bind(us(ra.modified))
        .execute(&self.pool)
        .await
        .map_err(|e| {
            let duplicate_id = is_primary_key_violation(&e);
            write_error(
                e,
                || {
                    if duplicate_id {
                        format!("a role assignment with identifier '{}' already exists", ra.identifier)
                    } else {
                        format!(
                            "role '{}' on resource group '{}' is already assigned to {} '{}' at this scope",
                            ra.role_identifier,
                            ra.resource_group_identifier,
                            ra.principal_type.as_str(),
                            ra.principal_identifier
                        )
                    }
                },
                || account_missing(account),
            )
        })?;
        Ok(())
    }

    async fn get_role_assignment(
        &self,
        account: &AccountId,
        identifier: &str,
    ) -> Result<RoleAssignment, DomainError> {
        let row = sqlx::query(
            "SELECT identifier, org_identifier, project_identifier, role_identifier, resource_group_identifier, \
             principal_type, principal_identifier, disabled, created_us, modified_us FROM role_assignments \
             WHERE account_id = $1 AND identifier = $2",
        )
        .bind(account.as_str())
        .bind(identifier)
        .fetch_optional(&self.pool)
        .await
        .map_err(internal)?
        .ok_or_else(|| DomainError::NotFound(format!("role assignment '{identifier}' does not exist")))?;
        role_assignment_row(&row)
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
            "SELECT count(*) FROM role_assignments WHERE account_id = $1 \
             AND ($2 IS NULL OR (principal_type = $3 AND principal_identifier = $4))",
            "SELECT identifier, org_identifier, project_identifier, role_identifier, resource_group_identifier, \
             principal_type, principal_identifier, disabled, created_us, modified_us FROM role_assignments \
             WHERE account_id = $1 AND ($2 IS NULL OR (principal_type = $3 AND principal_identifier = $4)) \
             ORDER BY identifier LIMIT $5 OFFSET $6",
            &[Some(account.as_str()), kind, kind, id],
            page,
            role_assignment_row,
        )
        .await
    }

    async fn update_role_assignment(
        &self,
        account: &AccountId,
        ra: &RoleAssignment,
    ) -> Result<(), DomainError> {
        let done = sqlx::query(
            "UPDATE role_assignments SET disabled = $1, modified_us = $2 WHERE account_id = $3 AND identifier = $4",
        )
        .bind(i64::from(ra.disabled))
        .bind(us(ra.modified))
        .bind(account.as_str())
        .bind(&ra.identifier)
        .execute(&self.pool)
        .await
        .map_err(internal)?;
        changed(done, || format!("role assignment '{}' does not exist", ra.identifier))
    }

    async fn delete_role_assignment(&self, account: &AccountId, identifier: &str) -> Result<(), DomainError> {
        let done = sqlx::query("DELETE FROM role_assignments WHERE account_id = $1 AND identifier = $2")
            .bind(account.as_str())
            .bind(identifier)
            .execute(&self.pool)
            .await
            .map_err(internal)?;
        changed(done, || format!("role assignment '{identifier}' does not exist"))
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
            .map_err(internal)?;
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
        let found = sqlx::query(sql)
            .bind(account.as_str())
            .bind(identifier)
            .fetch_optional(&self.pool)
            .await
            .map_err(internal)?;
        Ok(found.is_some())
    }

    // ---- API keys ------------------------------------------------------------------

    async fn create_api_key(&self, account: &AccountId, key: &ApiKey) -> Result<(), DomainError> {
        sqlx::query(
            "INSERT INTO api_keys (account_id, api_key_type, parent_identifier, identifier, name, description, \
             tags, default_ttl_ms, created_us, modified_us) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(account.as_str())
        .bind(kind_str(key.api_key_type))
        .bind(&key.parent_identifier)
        .bind(&key.identifier)
        .bind(&key.name)
        .bind(&key.description)
        .bind(tags_json(&key.tags))
        .bind(key.default_ttl_ms)
        .bind(us(key.created))
        .bind(us(key.modified))
        .execute(&self.pool)
        .await
        .map_err(|e| {
            write_error(
                e,
                || {
                    format!(
                        "an API key with identifier '{}' already exists for {} '{}'",
                        key.identifier,
                        kind_str(key.api_key_type),
                        key.parent_identifier
                    )
                },
                || account_missing(account),
            )
        })?;
        Ok(())
    }

    async fn get_api_key(&self, account: &AccountId, key: &ApiKeyRef) -> Result<ApiKey, DomainError> {
        let row = sqlx::query(
            "SELECT api_key_type, parent_identifier, identifier, name, description, tags, default_ttl_ms, \
             created_us, modified_us FROM api_keys \
             WHERE account_id = $1 AND api_key_type = $2 AND parent_identifier = $3 AND identifier = $4",
        )
        .bind(account.as_str())
        .bind(kind_str(key.api_key_type))
        .bind(&key.parent_identifier)
        .bind(&key.identifier)
        .fetch_optional(&self.pool)
        .await
        .map_err(internal)?
        .ok_or_else(|| DomainError::NotFound(key_missing(key)))?;
        api_key_row(&row)
    }

    async fn list_api_keys(
        &self,
        account: &AccountId,
        kind: TokenKind,
        parent: &str,
    ) -> Result<Vec<ApiKey>, DomainError> {
        let rows = sqlx::query(
            "SELECT api_key_type, parent_identifier, identifier, name, description, tags, default_ttl_ms, \
             created_us, modified_us FROM api_keys \
             WHERE account_id = $1 AND api_key_type = $2 AND parent_identifier = $3 ORDER BY identifier",
        )
        .bind(account.as_str())
        .bind(kind_str(kind))
        .bind(parent)
        .fetch_all(&self.pool)
        .await
        .map_err(internal)?;
        rows.iter().map(api_key_row).collect()
    }

    async fn update_api_key(&self, account: &AccountId, key: &ApiKey) -> Result<(), DomainError> {
        let done = sqlx::query(
            "UPDATE api_keys SET name = $1, description = $2, tags = $3, default_ttl_ms = $4, modified_us = $5 \
             WHERE account_id = $6 AND api_key_type = $7 AND parent_identifier = $8 AND identifier = $9",
        )
        .bind(&key.name)
        .bind(&key.description)
        .bind(tags_json(&key.tags))
        .bind(key.default_ttl_ms)
        .bind(us(key.modified))
        .bind(account.as_str())
        .bind(kind_str(key.api_key_type))
        .bind(&key.parent_identifier)
        .bind(&key.identifier)
        .execute(&self.pool)
        .await
        .map_err(internal)?;
        changed(done, || format!("API key '{}' does not exist", key.identifier))
    }

    async fn delete_api_key(&self, account: &AccountId, key: &ApiKeyRef) -> Result<(), DomainError> {
        // Its tokens cascade.
        let done = sqlx::query(
            "DELETE FROM api_keys \
             WHERE account_id = $1 AND api_key_type = $2 AND parent_identifier = $3 AND identifier = $4",
        )
        .bind(account.as_str())
        .bind(kind_str(key.api_key_type))
        .bind(&key.parent_identifier)
        .bind(&key.identifier)
        .execute(&self.pool)
        .await
        .map_err(internal)?;
        changed(done, || key_missing(key))
    }

    // ---- tokens --------------------------------------------------------------------

    async fn create_token(
        &self,
        account: &AccountId,
        info: &TokenInfo,
        secret_hash: &[u8],
    ) -> Result<(), DomainError> {
        sqlx::query(
            "INSERT INTO api_tokens (id, account_id, api_key_type, parent_identifier, api_key_identifier, \
             identifier, name, description, tags, secret_hash, previous_secret_hash, previous_valid_to_us, \
             created_us, modified_us, valid_from_us, valid_to_us, last_used_us) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL, NULL, $11, $12, $13, $14, $15)",
        )
        .bind(&info.token_id)
        .bind(account.as_str())
        .bind(kind_str(info.api_key_type))
        .bind(&info.parent_identifier)
        .bind(&info.api_key_identifier)
        .bind(&info.identifier)
        .bind(&info.name)
        .bind(&info.description)
        .bind(tags_json(&info.tags))
        .bind(secret_hash)
        .bind(us(info.created))
        .bind(us(info.modified))
        .bind(us(info.valid_from))
        .bind(opt_us(info.valid_to))
        .bind(opt_us(info.last_used))
        .execute(&self.pool)
        .await
        .map_err(|e| {
            let duplicate_id = is_primary_key_violation(&e);
            write_error(
                e,
                || {
                    if duplicate_id {
                        "a token with this token id already exists".to_string()
                    } else {
                        format!(
                            "a token with identifier '{}' already exists in API key '{}'",
                            info.identifier, info.api_key_identifier
                        )
                    }
                },
                || format!("API key '{}' does not exist", info.api_key_identifier),
            )
        })?;
        Ok(())
    }

    async fn get_token_info(
        &self,
        account: &AccountId,
        key: &ApiKeyRef,
        identifier: &str,
    ) -> Result<TokenInfo, DomainError> {
        let row = sqlx::query(
            "SELECT id, api_key_type, parent_identifier, api_key_identifier, identifier, name, description, tags, \
             created_us, modified_us, valid_from_us, valid_to_us, last_used_us, previous_valid_to_us \
             FROM api_tokens WHERE account_id = $1 AND api_key_type = $2 \
             AND parent_identifier = $3 AND api_key_identifier = $4 AND identifier = $5",
        )
        .bind(account.as_str())
        .bind(kind_str(key.api_key_type))
        .bind(&key.parent_identifier)
        .bind(&key.identifier)
        .bind(identifier)
        .fetch_optional(&self.pool)
        .await
        .map_err(internal)?
        .ok_or_else(|| {
            DomainError::NotFound(format!("token '{identifier}' does not exist in API key '{}'", key.identifier))
        })?;
        token_info_row(&row)
    }

    async fn list_tokens(
        &self,
        account: &AccountId,
        key: &ApiKeyRef,
        page: PageRequest,
    ) -> Result<Paged<TokenInfo>, DomainError> {
        self.paged(
            "SELECT count(*) FROM api_tokens WHERE account_id = $1 AND api_key_type = $2 \
             AND parent_identifier = $3 AND api_key_identifier = $4",
            "SELECT id, api_key_type, parent_identifier, api_key_identifier, identifier, name, description, tags, \
             created_us, modified_us, valid_from_us, valid_to_us, last_used_us, previous_valid_to_us \
             FROM api_tokens WHERE account_id = $1 AND api_key_type = $2 \
             AND parent_identifier = $3 AND api_key_identifier = $4 ORDER BY identifier LIMIT $5 OFFSET $6",
            &[
                Some(account.as_str()),
                Some(kind_str(key.api_key_type)),
                Some(key.parent_identifier.as_str()),
                Some(key.identifier.as_str()),
            ],
            page,
            token_info_row,
        )
        .await
    }

    async fn rotate_token(
        &self,
        account: &AccountId,
        token_id: &str,
        new_hash: &[u8],
        previous_valid_to: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Result<(), DomainError> {
        // The right-hand sides read the row as it was, so `secret_hash` there is the old one.
        let done = sqlx::query(
            "UPDATE api_tokens SET \
             previous_secret_hash = CASE WHEN $1 IS NULL THEN NULL ELSE secret_hash END, \
             previous_valid_to_us = $2, secret_hash = $3, modified_us = $4 \
             WHERE account_id = $5 AND id = $6",
        )
        .bind(opt_us(previous_valid_to))
        .bind(opt_us(previous_valid_to))
        .bind(new_hash)
        .bind(us(now))
        .bind(account.as_str())
        .bind(token_id)
        .execute(&self.pool)
        .await
        .map_err(internal)?;
        changed(done, || format!("token '{token_id}' does not exist"))
    }

    async fn update_token(&self, account: &AccountId, info: &TokenInfo) -> Result<(), DomainError> {
        let done = sqlx::query(
            "UPDATE api_tokens SET name = $1, description = $2, tags = $3, valid_to_us = $4, modified_us = $5 \
             WHERE account_id = $6 AND id = $7",
        )
        .bind(&info.name)
        .bind(&info.description)
        .bind(tags_json(&info.tags))
        .bind(opt_us(info.valid_to))
        .bind(us(info.modified))
        .bind(account.as_str())
        .bind(&info.token_id)
        .execute(&self.pool)
        .await
        .map_err(internal)?;
        changed(done, || format!("token '{}' does not exist", info.identifier))
    }

    async fn delete_token(&self, account: &AccountId, token_id: &str) -> Result<(), DomainError> {
        let done = sqlx::query("DELETE FROM api_tokens WHERE account_id = $1 AND id = $2")
            .bind(account.as_str())
            .bind(token_id)
            .execute(&self.pool)
            .await
            .map_err(internal)?;
        changed(done, || format!("token '{token_id}' does not exist"))
    }

    async fn get_stored_token(&self, token_id: &str) -> Result<Option<StoredToken>, DomainError> {
        // A personal token stops working while its user is deactivated (`active: false`, how
        // Entra ID and Okta remove people) and comes back if the user is reactivated.
        let row = sqlx::query(
            "SELECT t.id, t.account_id, t.api_key_type, t.parent_identifier, t.secret_hash, t.valid_from_us, \
             t.valid_to_us, t.previous_secret_hash, t.previous_valid_to_us FROM api_tokens t \
             LEFT JOIN scim_users u ON t.api_key_type = 'USER' AND u.account_id = t.account_id \
             AND u.id = t.parent_identifier \
             WHERE t.id = $1 AND (t.api_key_type <> 'USER' OR u.active IS NULL OR u.active <> 0)",
        )
        .bind(token_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(internal)?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some(StoredToken {
            token_id: col(&r, "id")?,
            account: AccountId::parse(&col::<String>(&r, "account_id")?)?,
            kind: kind_from(&col::<String>(&r, "api_key_type")?)?,
            principal_id: col(&r, "parent_identifier")?,
            secret_hash: col(&r, "secret_hash")?,
            valid_from: Some(from_us(col(&r, "valid_from_us")?)),
            valid_to: col::<Option<i64>>(&r, "valid_to_us")?.map(from_us),
            previous_secret_hash: col(&r, "previous_secret_hash")?,
            previous_valid_to: col::<Option<i64>>(&r, "previous_valid_to_us")?.map(from_us),
        }))
    }

    async fn touch_tokens(&self, uses: &[(String, OffsetDateTime)]) -> Result<(), DomainError> {
        if uses.is_empty() {
            return Ok(());
        }
        // The latest use of each token, updated in token id order: concurrent batches (other
        // nodes) then lock rows in the same order and cannot deadlock each other.
        let mut latest: BTreeMap<&str, OffsetDateTime> = BTreeMap::new();
        for (token_id, at) in uses {
            let t = latest.entry(token_id.as_str()).or_insert(*at);
            *t = (*t).max(*at);
        }
        let sql = format!(
            "UPDATE api_tokens SET last_used_us = {} WHERE id = $2",
            greatest(DIALECT, "coalesce(last_used_us, 0)", "$1")
        );
        write_tx!(self, |tx| {
            for (&token_id, &at) in &latest {
                // Never moves backwards: batches may arrive out of order.
                sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                    .bind(us(at))
                    .bind(token_id)
                    .execute(&mut **tx)
                    .await
                    .map_err(internal)?;
            }
            Ok(())
        })
    }

    // ---- feature flags -------------------------------------------------------------

    async fn feature_flags(&self, account: &AccountId) -> Result<Vec<String>, DomainError> {
        sqlx::query_scalar("SELECT flag FROM feature_flags WHERE account_id = $1 ORDER BY flag")
            .bind(account.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(internal)
    }

    async fn set_feature_flag(&self, account: &AccountId, flag: &str, on: bool) -> Result<(), DomainError> {
        write_tx!(self, |tx| {
            let found = sqlx::query("SELECT 1 FROM accounts WHERE id = $1")
                .bind(account.as_str())
                .fetch_optional(&mut **tx)
                .await
                .map_err(internal)?;
            if found.is_none() {
                return Err(DomainError::NotFound(account_missing(account)));
            }
            let sql = if on {
                "INSERT INTO feature_flags (account_id, flag) VALUES ($1, $2) ON CONFLICT DO NOTHING"
            } else {
                "DELETE FROM feature_flags WHERE account_id = $1 AND flag = $2"
            };
            sqlx::query(sql).bind(account.as_str()).bind(flag).execute(&mut **tx).await.map_err(internal)?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_store;
    use super::*;
    use scimgate_domain::access::{ACCOUNT_ADMIN_ROLE, ACCOUNT_VIEWER_ROLE, ALL_ACCOUNT_RESOURCES};
    use scimgate_domain::store::{AccountStore, NewAccount, ScimStore};
    use scimgate_domain::token::{NewToken, PresentedToken, generate, hash_secret};
    use scimgate_scim::patch::MemberRef;
    use scimgate_scim::resource::normalize;
    use scimgate_scim::schema::ResourceKind;
    use serde_json::json;

    const ADMIN: &str = "admin-id";

    fn t(s: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_700_000_000 + s).expect("time")
    }

    fn page(index: u64, size: u64) -> PageRequest {
        PageRequest { index, size }
    }

    fn tags(k: &str, v: &str) -> Tags {
        Tags::from([(k.to_string(), v.to_string())])
    }

    /// A store (`None` when this backend is not configured for tests) with account `acme`.
    async fn setup() -> Option<(Store, AccountId, NewToken)> {
        let store = test_store().await?;
        let account = AccountId::parse("acme").expect("id");
        let admin_token = generate(TokenKind::User, &account).expect("token");
        let admin_doc = normalize(ResourceKind::User, &json!({"userName": "admin@acme.test"})).expect("doc");
        store
            .create_account(
                &NewAccount {
                    id: account.clone(),
                    name: "Acme".into(),
                    feature_flags: vec!["NG_SETTINGS".into()],
                    admin_user_id: ADMIN.into(),
                    admin_doc,
                    admin_token: admin_token.clone(),
                },
                t(0),
            )
            .await
            .expect("account");
        Some((store, account, admin_token))
    }

    fn org(identifier: &str, name: &str) -> Organization {
        Organization {
            identifier: identifier.into(),
            name: name.into(),
            description: format!("{name} description"),
            tags: tags("team", identifier),
            created: t(1),
            modified: t(1),
        }
    }

    fn project(org: &str, identifier: &str) -> Project {
        Project {
            org_identifier: org.into(),
            identifier: identifier.into(),
            name: identifier.to_uppercase(),
            description: String::new(),
            color: "#112233".into(),
            tags: Tags::new(),
            created: t(2),
            modified: t(2),
        }
    }

    fn sa(identifier: &str, name: &str) -> ServiceAccount {
        ServiceAccount {
            identifier: identifier.into(),
            name: name.into(),
            email: format!("{identifier}@sa.acme.test"),
            description: String::new(),
            tags: tags("owner", "ops"),
            created: t(3),
            modified: t(3),
        }
    }

    fn ra(
        identifier: &str,
        scope: (&str, &str),
        role: &str,
        rg: &str,
        principal_type: PrincipalType,
        principal: &str,
    ) -> RoleAssignment {
        RoleAssignment {
            identifier: identifier.into(),
            scope: Scope { org: scope.0.into(), project: scope.1.into() },
            role_identifier: role.into(),
            resource_group_identifier: rg.into(),
            principal_type,
            principal_identifier: principal.into(),
            disabled: false,
            created: t(4),
            modified: t(4),
        }
    }

    fn api_key(kind: TokenKind, parent: &str, identifier: &str) -> ApiKey {
        ApiKey {
            api_key_type: kind,
            parent_identifier: parent.into(),
            identifier: identifier.into(),
            name: identifier.into(),
            description: String::new(),
            tags: Tags::new(),
            default_ttl_ms: Some(86_400_000),
            created: t(5),
            modified: t(5),
        }
    }

    fn key_ref(key: &ApiKey) -> ApiKeyRef {
        ApiKeyRef {
            api_key_type: key.api_key_type,
            parent_identifier: key.parent_identifier.clone(),
            identifier: key.identifier.clone(),
        }
    }

    fn token(key: &ApiKey, identifier: &str, token_id: &str) -> TokenInfo {
        TokenInfo {
            token_id: token_id.into(),
            api_key_type: key.api_key_type,
            parent_identifier: key.parent_identifier.clone(),
            api_key_identifier: key.identifier.clone(),
            identifier: identifier.into(),
            name: identifier.into(),
            description: String::new(),
            tags: Tags::new(),
            created: t(10),
            modified: t(10),
            valid_from: t(10),
            valid_to: Some(t(1000)),
            last_used: None,
            previous_valid_to: None,
        }
    }

    fn ids<T>(page: &Paged<T>, id: impl Fn(&T) -> String) -> Vec<String> {
        page.items.iter().map(id).collect()
    }

    fn assert_not_found<T: std::fmt::Debug>(r: Result<T, DomainError>, expected: &str) {
        match r {
            Err(DomainError::NotFound(m)) => assert_eq!(m, expected),
            other => panic!("expected NotFound({expected}), got {other:?}"),
        }
    }

    fn conflict_message<T: std::fmt::Debug>(r: Result<T, DomainError>) -> String {
        match r {
            Err(DomainError::Conflict(m)) => m,
            other => panic!("expected Conflict, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn create_account_bootstraps_org_key_token_and_admin_assignment() {
        let Some((store, account, admin_token)) = setup().await else { return };
        let default = store.get_org(&account, "default").await.expect("default org");
        assert_eq!(default.name, "Default Organization");
        let keys = store.list_api_keys(&account, TokenKind::User, ADMIN).await.expect("keys");
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].identifier, "bootstrap");

        let stored = store.get_stored_token(&admin_token.token_id).await.expect("read").expect("token");
        assert_eq!(stored.account, account);
        assert_eq!(stored.kind, TokenKind::User);
        assert_eq!(stored.principal_id, ADMIN);
        assert_eq!(stored.secret_hash, admin_token.secret_hash);
        assert_eq!(stored.valid_from, Some(t(0)));
        assert!(stored.valid_to.is_none() && stored.previous_secret_hash.is_none());
        let presented = PresentedToken::parse(&admin_token.token).expect("parse");
        stored.verify(&presented, t(1)).expect("the bootstrap token verifies");
        let info = store.get_token_info(&account, &key_ref(&keys[0]), "bootstrap").await.expect("info");
        assert_eq!(info.token_id, admin_token.token_id);

        let grants = store.principal_grants(&account, &Principal::User(ADMIN.into())).await.expect("grants");
        assert_eq!(
            grants,
            vec![GrantRow {
                scope: Scope::account(),
                role_identifier: ACCOUNT_ADMIN_ROLE.into(),
                role_permissions: None,
                resource_group_identifier: ALL_ACCOUNT_RESOURCES.into(),
                resource_group: None,
            }]
        );
        assert_eq!(store.feature_flags(&account).await.expect("flags"), vec!["NG_SETTINGS".to_string()]);
        assert!(store.get_stored_token("no-such-token").await.expect("read").is_none());
    }

    #[tokio::test]
    async fn orgs_crud_paging_and_search() {
        let Some((store, account, _)) = setup().await else { return };
        for (id, name) in
            [("delta", "Delta"), ("alpha", "Alpha Team"), ("gamma", "Contains alPHa"), ("beta", "Beta")]
        {
            store.create_org(&account, &org(id, name)).await.expect("create");
        }
        assert_eq!(store.get_org(&account, "alpha").await.expect("get"), org("alpha", "Alpha Team"));

        let name = |o: &Organization| o.identifier.clone();
        let p0 = store.list_orgs(&account, None, page(0, 2)).await.expect("list");
        assert_eq!((ids(&p0, name), p0.total), (vec!["alpha".into(), "beta".into()], 5));
        let p1 = store.list_orgs(&account, None, page(1, 2)).await.expect("list");
        assert_eq!(ids(&p1, name), vec!["default".to_string(), "delta".into()]);
        let p2 = store.list_orgs(&account, None, page(2, 2)).await.expect("list");
        assert_eq!(ids(&p2, name), vec!["gamma".to_string()]);
        let p3 = store.list_orgs(&account, None, page(3, 2)).await.expect("list");
        assert_eq!((p3.items.len(), p3.total), (0, 5));

        // Case-insensitive substring of identifier or name.
        let s = store.list_orgs(&account, Some("ALPHA"), page(0, 10)).await.expect("search");
        assert_eq!((ids(&s, name), s.total), (vec!["alpha".into(), "gamma".into()], 2));
        let s = store.list_orgs(&account, Some("organiz"), page(0, 10)).await.expect("search");
        assert_eq!(ids(&s, name), vec!["default".to_string()]);
        let s = store.list_orgs(&account, Some("zzz"), page(0, 10)).await.expect("search");
        assert_eq!((s.items.len(), s.total), (0, 0));
        // Not a LIKE pattern.
        let s = store.list_orgs(&account, Some("%"), page(0, 10)).await.expect("search");
        assert_eq!(s.total, 0);

        let msg = conflict_message(store.create_org(&account, &org("alpha", "Again")).await);
        assert_eq!(msg, "an organization with identifier 'alpha' already exists");

        let mut updated = org("alpha", "Renamed");
        updated.tags = tags("k", "v");
        updated.modified = t(99);
        store.update_org(&account, &updated).await.expect("update");
        assert_eq!(store.get_org(&account, "alpha").await.expect("get"), updated);
        assert_not_found(
            store.update_org(&account, &org("nope", "x")).await,
            "organization 'nope' does not exist",
        );
        assert_not_found(store.get_org(&account, "nope").await, "organization 'nope' does not exist");
        assert_not_found(store.delete_org(&account, "nope").await, "organization 'nope' does not exist");

        // Another account sees none of them.
        let other = AccountId::parse("other").expect("id");
        assert_eq!(store.list_orgs(&other, None, page(0, 10)).await.expect("list").total, 0);
        assert_not_found(store.create_org(&other, &org("x", "X")).await, "account 'other' does not exist");
    }

    #[tokio::test]
    async fn projects_and_deletes_cascade_to_assignments() {
        let Some((store, account, _)) = setup().await else { return };
        assert_not_found(
            store.create_project(&account, &project("missing", "web")).await,
            "organization 'missing' does not exist",
        );
        store.create_org(&account, &org("eng", "Engineering")).await.expect("org");
        store.create_project(&account, &project("eng", "web")).await.expect("project");
        store.create_project(&account, &project("default", "site")).await.expect("project");
        let msg = conflict_message(store.create_project(&account, &project("eng", "web")).await);
        assert_eq!(msg, "a project with identifier 'web' already exists in organization 'eng'");
        assert_eq!(store.get_project(&account, "eng", "web").await.expect("get"), project("eng", "web"));

        let ident = |p: &Project| p.identifier.clone();
        let all = store.list_projects(&account, None, None, page(0, 10)).await.expect("list");
        assert_eq!(ids(&all, ident), vec!["site".to_string(), "web".into()]);
        let eng = store.list_projects(&account, Some("eng"), None, page(0, 10)).await.expect("list");
        assert_eq!((ids(&eng, ident), eng.total), (vec!["web".into()], 1));
        let s = store.list_projects(&account, None, Some("SIT"), page(0, 10)).await.expect("list");
        assert_eq!(ids(&s, ident), vec!["site".to_string()]);

        let mut p = project("eng", "web");
        p.color = "#abcdef".into();
        p.modified = t(50);
        store.update_project(&account, &p).await.expect("update");
        assert_eq!(store.get_project(&account, "eng", "web").await.expect("get"), p);
        assert_not_found(
            store.update_project(&account, &project("eng", "nope")).await,
            "project 'nope' does not exist in organization 'eng'",
        );

        let user = PrincipalType::User;
        for a in [
            ra("at-eng", ("eng", ""), ACCOUNT_VIEWER_ROLE, ALL_ACCOUNT_RESOURCES, user, ADMIN),
            ra("at-web", ("eng", "web"), ACCOUNT_VIEWER_ROLE, ALL_ACCOUNT_RESOURCES, user, ADMIN),
            ra("at-site", ("default", "site"), ACCOUNT_VIEWER_ROLE, ALL_ACCOUNT_RESOURCES, user, ADMIN),
            ra("at-default", ("default", ""), ACCOUNT_VIEWER_ROLE, ALL_ACCOUNT_RESOURCES, user, ADMIN),
        ] {
            store.create_role_assignment(&account, &a).await.expect("assignment");
        }

        store.delete_project(&account, "default", "site").await.expect("delete project");
        assert_not_found(
            store.get_role_assignment(&account, "at-site").await,
            "role assignment 'at-site' does not exist",
        );
        store.get_role_assignment(&account, "at-default").await.expect("org-level assignment stays");
        assert_not_found(
            store.delete_project(&account, "default", "site").await,
            "project 'site' does not exist in organization 'default'",
        );

        store.delete_org(&account, "eng").await.expect("delete org");
        assert_not_found(
            store.get_project(&account, "eng", "web").await,
            "project 'web' does not exist in organization 'eng'",
        );
        assert!(store.get_role_assignment(&account, "at-eng").await.is_err());
        assert!(store.get_role_assignment(&account, "at-web").await.is_err());
        store.get_role_assignment(&account, "at-default").await.expect("other org's assignment stays");
        store.get_role_assignment(&account, "bootstrap_admin").await.expect("account assignment stays");
        // A re-created organization starts empty.
        store.create_org(&account, &org("eng", "Engineering")).await.expect("org");
        assert_eq!(
            store.list_projects(&account, Some("eng"), None, page(0, 10)).await.expect("list").total,
            0
        );
    }

    #[tokio::test]
    async fn service_accounts_crud_paging_and_search() {
        let Some((store, account, _)) = setup().await else { return };
        for (id, name) in [("deployer", "Deployer"), ("ci-bot", "CI Bot"), ("backup", "Nightly backup")] {
            store.create_service_account(&account, &sa(id, name)).await.expect("create");
        }
        assert_eq!(store.get_service_account(&account, "ci-bot").await.expect("get"), sa("ci-bot", "CI Bot"));
        let ident = |s: &ServiceAccount| s.identifier.clone();
        let p0 = store.list_service_accounts(&account, None, page(0, 2)).await.expect("list");
        assert_eq!((ids(&p0, ident), p0.total), (vec!["backup".into(), "ci-bot".into()], 3));
        let p1 = store.list_service_accounts(&account, None, page(1, 2)).await.expect("list");
        assert_eq!(ids(&p1, ident), vec!["deployer".to_string()]);
        let s = store.list_service_accounts(&account, Some("BOT"), page(0, 10)).await.expect("search");
        assert_eq!((ids(&s, ident), s.total), (vec!["ci-bot".into()], 1));
        let s = store.list_service_accounts(&account, Some("nightly"), page(0, 10)).await.expect("search");
        assert_eq!(ids(&s, ident), vec!["backup".to_string()]);

        let msg = conflict_message(store.create_service_account(&account, &sa("ci-bot", "Other")).await);
        assert_eq!(msg, "a service account with identifier 'ci-bot' already exists");

        let mut updated = sa("ci-bot", "CI Robot");
        updated.email = "robot@acme.test".into();
        updated.modified = t(77);
        store.update_service_account(&account, &updated).await.expect("update");
        assert_eq!(store.get_service_account(&account, "ci-bot").await.expect("get"), updated);
        assert_not_found(
            store.update_service_account(&account, &sa("nope", "x")).await,
            "service account 'nope' does not exist",
        );
        assert_not_found(
            store.get_service_account(&account, "nope").await,
            "service account 'nope' does not exist",
        );

        assert!(
            store.principal_exists(&account, PrincipalType::ServiceAccount, "ci-bot").await.expect("exists")
        );
        assert!(
            !store.principal_exists(&account, PrincipalType::ServiceAccount, "nope").await.expect("exists")
        );
        assert!(store.principal_exists(&account, PrincipalType::User, ADMIN).await.expect("exists"));
        assert!(!store.principal_exists(&account, PrincipalType::UserGroup, ADMIN).await.expect("exists"));
        let other = AccountId::parse("other").expect("id");
        assert!(!store.principal_exists(&other, PrincipalType::User, ADMIN).await.expect("exists"));
    }

    #[tokio::test]
    async fn delete_service_account_removes_keys_tokens_and_assignments() {
        let Some((store, account, _)) = setup().await else { return };
        let sat = TokenKind::ServiceAccount;
        let spt = PrincipalType::ServiceAccount;
        for id in ["ci", "other"] {
            store.create_service_account(&account, &sa(id, id)).await.expect("sa");
            let key = api_key(sat, id, "main");
            store.create_api_key(&account, &key).await.expect("key");
            store
                .create_token(&account, &token(&key, "t", &format!("tok-{id}")), &[1, 2, 3])
                .await
                .expect("token");
            let a = ra(&format!("ra-{id}"), ("", ""), ACCOUNT_VIEWER_ROLE, ALL_ACCOUNT_RESOURCES, spt, id);
            store.create_role_assignment(&account, &a).await.expect("assignment");
        }
        store.delete_service_account(&account, "ci").await.expect("delete");

        assert_not_found(
            store.get_service_account(&account, "ci").await,
            "service account 'ci' does not exist",
        );
        assert!(store.list_api_keys(&account, sat, "ci").await.expect("keys").is_empty());
        assert!(store.get_stored_token("tok-ci").await.expect("read").is_none());
        let ras = store.list_role_assignments(&account, Some((spt, "ci")), page(0, 10)).await.expect("list");
        assert_eq!(ras.total, 0);
        assert!(
            store
                .principal_grants(&account, &Principal::ServiceAccount("ci".into()))
                .await
                .expect("g")
                .is_empty()
        );

        // The other service account keeps everything.
        assert_eq!(store.list_api_keys(&account, sat, "other").await.expect("keys").len(), 1);
        assert!(store.get_stored_token("tok-other").await.expect("read").is_some());
        let ras =
            store.list_role_assignments(&account, Some((spt, "other")), page(0, 10)).await.expect("list");
        assert_eq!(ras.total, 1);
        assert_eq!(
            store
                .principal_grants(&account, &Principal::ServiceAccount("other".into()))
                .await
                .expect("g")
                .len(),
            1
        );

        assert_not_found(
            store.delete_service_account(&account, "ci").await,
            "service account 'ci' does not exist",
        );
    }

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
        store.create_role(&account, &role).await.expect("role");
        assert_eq!(store.get_role(&account, "auditor").await.expect("get"), role);
        assert_eq!(
            conflict_message(store.create_role(&account, &role).await),
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
        store.update_role(&account, &edited).await.expect("update");
        assert_eq!(store.get_role(&account, "auditor").await.expect("get"), edited);
        let roles = store.list_roles(&account, page(0, 10)).await.expect("list");
        assert_eq!((roles.items.len(), roles.total), (1, 1));

        let rg = ResourceGroup {
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
        store.create_resource_group(&account, &rg).await.expect("rg");
        assert_eq!(store.get_resource_group(&account, "people").await.expect("get"), rg);
        assert_eq!(
            conflict_message(store.create_resource_group(&account, &rg).await),
            "a resource group with identifier 'people' already exists"
        );
        let mut all = rg.clone();
        all.include_all = true;
        all.resource_types = vec![];
        store.update_resource_group(&account, &all).await.expect("update");
        assert_eq!(store.get_resource_group(&account, "people").await.expect("get"), all);
        assert_eq!(store.list_resource_groups(&account, page(0, 10)).await.expect("list").total, 1);

        let a = ra("uses-both", ("", ""), "auditor", "people", PrincipalType::User, ADMIN);
        store.create_role_assignment(&account, &a).await.expect("assignment");
        assert_eq!(
            conflict_message(store.delete_role(&account, "auditor").await),
            "role 'auditor' is used by 1 role assignment; delete them first"
        );
        assert_eq!(
            conflict_message(store.delete_resource_group(&account, "people").await),
            "resource group 'people' is used by 1 role assignment; delete them first"
        );
        store.delete_role_assignment(&account, "uses-both").await.expect("delete assignment");
        store.delete_role(&account, "auditor").await.expect("delete role");
        store.delete_resource_group(&account, "people").await.expect("delete rg");
        assert_not_found(store.get_role(&account, "auditor").await, "role 'auditor' does not exist");
        assert_not_found(store.delete_role(&account, "auditor").await, "role 'auditor' does not exist");
        assert_not_found(store.update_role(&account, &role).await, "role 'auditor' does not exist");
        assert_not_found(
            store.get_resource_group(&account, "people").await,
            "resource group 'people' does not exist",
        );
        assert_not_found(
            store.delete_resource_group(&account, "people").await,
            "resource group 'people' does not exist",
        );
    }

    #[tokio::test]
    async fn role_assignments_conflicts_listing_and_updates() {
        let Some((store, account, _)) = setup().await else { return };
        let user = PrincipalType::User;
        let a1 = ra("a1", ("", ""), ACCOUNT_VIEWER_ROLE, ALL_ACCOUNT_RESOURCES, user, ADMIN);
        store.create_role_assignment(&account, &a1).await.expect("create");
        assert_eq!(store.get_role_assignment(&account, "a1").await.expect("get"), a1);

        let mut same_id = a1.clone();
        same_id.role_identifier = "other-role".into();
        let msg = conflict_message(store.create_role_assignment(&account, &same_id).await);
        assert_eq!(msg, "a role assignment with identifier 'a1' already exists");
        let mut same_grant = a1.clone();
        same_grant.identifier = "a2".into();
        let msg = conflict_message(store.create_role_assignment(&account, &same_grant).await);
        assert!(msg.contains("already assigned to USER 'admin-id'"), "{msg}");
        // The same grant at another scope is a different assignment.
        let mut other_scope = same_grant.clone();
        other_scope.scope = Scope { org: "default".into(), project: String::new() };
        store.create_role_assignment(&account, &other_scope).await.expect("create");

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
        store.update_role_assignment(&account, &off).await.expect("update");
        assert_eq!(store.get_role_assignment(&account, "a1").await.expect("get"), off);
        let mut missing = off.clone();
        missing.identifier = "nope".into();
        assert_not_found(
            store.update_role_assignment(&account, &missing).await,
            "role assignment 'nope' does not exist",
        );
        store.delete_role_assignment(&account, "a1").await.expect("delete");
        assert_not_found(
            store.delete_role_assignment(&account, "a1").await,
            "role assignment 'a1' does not exist",
        );
    }

    #[tokio::test]
    async fn principal_grants_follow_group_membership_and_skip_disabled() {
        let Some((store, account, _)) = setup().await else { return };
        let user_doc = normalize(ResourceKind::User, &json!({"userName": "u1@acme.test"})).expect("doc");
        store.create_resource(&account, ResourceKind::User, "u1", &user_doc, &[], t(1)).await.expect("user");
        let member = MemberRef { value: "u1".into(), member_type: Some("User".into()), display: None };
        for (id, members) in [("g1", vec![member]), ("g2", vec![])] {
            let doc = normalize(ResourceKind::Group, &json!({"displayName": id})).expect("doc");
            store
                .create_resource(&account, ResourceKind::Group, id, &doc, &members, t(1))
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
        store.create_role(&account, &role).await.expect("role");
        let rg = ResourceGroup {
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
        store.create_resource_group(&account, &rg).await.expect("rg");

        let (user, group) = (PrincipalType::User, PrincipalType::UserGroup);
        let mut off = ra("r-off", ("", ""), ACCOUNT_ADMIN_ROLE, ALL_ACCOUNT_RESOURCES, user, "u1");
        off.disabled = true;
        let mut group_off =
            ra("r-group-off", ("", ""), ACCOUNT_ADMIN_ROLE, ALL_ACCOUNT_RESOURCES, group, "g1");
        group_off.disabled = true;
        for a in [
            ra("r-direct", ("default", ""), "auditor", "people", user, "u1"),
            ra("r-group", ("", ""), ACCOUNT_VIEWER_ROLE, ALL_ACCOUNT_RESOURCES, group, "g1"),
            ra("r-other-group", ("", ""), ACCOUNT_ADMIN_ROLE, ALL_ACCOUNT_RESOURCES, group, "g2"),
            ra(
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
            store.create_role_assignment(&account, &a).await.expect("assignment");
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
        store.delete_resource(&account, ResourceKind::Group, "g1", None).await.expect("delete group");
        assert!(store.get_role_assignment(&account, "r-group").await.is_err());
        let grants = store.principal_grants(&account, &u1).await.expect("grants");
        assert_eq!(grants.len(), 1);
        assert_eq!(grants[0].role_identifier, "auditor");

        // Deleting the user removes its personal keys, their tokens and its assignments.
        let key = api_key(TokenKind::User, "u1", "laptop");
        store.create_api_key(&account, &key).await.expect("key");
        store.create_token(&account, &token(&key, "t", "tok-u1"), &[9]).await.expect("token");
        store.delete_resource(&account, ResourceKind::User, "u1", None).await.expect("delete user");
        assert!(store.list_api_keys(&account, TokenKind::User, "u1").await.expect("keys").is_empty());
        assert!(store.get_stored_token("tok-u1").await.expect("read").is_none());
        assert!(store.principal_grants(&account, &u1).await.expect("grants").is_empty());
        assert!(store.get_role_assignment(&account, "r-sa").await.is_ok(), "the service account's stays");
    }

    #[tokio::test]
    async fn api_keys_and_tokens_lifecycle() {
        let Some((store, account, _)) = setup().await else { return };
        let sat = TokenKind::ServiceAccount;
        store.create_service_account(&account, &sa("ci", "CI")).await.expect("sa");
        let key = api_key(sat, "ci", "k1");
        store.create_api_key(&account, &key).await.expect("key");
        assert_eq!(store.get_api_key(&account, &key_ref(&key)).await.expect("get"), key);
        assert_eq!(
            conflict_message(store.create_api_key(&account, &key).await),
            "an API key with identifier 'k1' already exists for SERVICE_ACCOUNT 'ci'"
        );
        let mut edited = key.clone();
        edited.description = "deploys".into();
        edited.default_ttl_ms = None;
        edited.modified = t(30);
        store.update_api_key(&account, &edited).await.expect("update");
        assert_eq!(store.get_api_key(&account, &key_ref(&key)).await.expect("get"), edited);
        let missing_key = api_key(sat, "ci", "k2");
        assert_not_found(
            store.get_api_key(&account, &key_ref(&missing_key)).await,
            "API key 'k2' does not exist",
        );
        assert_not_found(store.update_api_key(&account, &missing_key).await, "API key 'k2' does not exist");

        assert_not_found(
            store.create_token(&account, &token(&missing_key, "t1", "tid0"), &[0]).await,
            "API key 'k2' does not exist",
        );
        let h1 = hash_secret("s1");
        let t1 = token(&key, "t1", "tid1");
        store.create_token(&account, &t1, &h1).await.expect("token");
        let msg = conflict_message(store.create_token(&account, &token(&key, "t1", "tid2"), &h1).await);
        assert_eq!(msg, "a token with identifier 't1' already exists in API key 'k1'");
        let t2 = token(&key, "t2", "tid2");
        store.create_token(&account, &t2, &hash_secret("other")).await.expect("token");
        assert_eq!(store.get_token_info(&account, &key_ref(&key), "t1").await.expect("get"), t1);
        assert_not_found(
            store.get_token_info(&account, &key_ref(&key), "t9").await,
            "token 't9' does not exist in API key 'k1'",
        );
        let ident = |i: &TokenInfo| i.identifier.clone();
        let p0 = store.list_tokens(&account, &key_ref(&key), page(0, 1)).await.expect("list");
        assert_eq!((ids(&p0, ident), p0.total), (vec!["t1".into()], 2));
        let p1 = store.list_tokens(&account, &key_ref(&key), page(1, 1)).await.expect("list");
        assert_eq!(ids(&p1, ident), vec!["t2".to_string()]);

        // Rotation with a grace period keeps the old hash until then.
        let h2 = hash_secret("s2");
        store.rotate_token(&account, "tid1", &h2, Some(t(500)), t(20)).await.expect("rotate");
        let stored = store.get_stored_token("tid1").await.expect("read").expect("token");
        assert_eq!(stored.secret_hash, h2);
        assert_eq!(stored.previous_secret_hash, Some(h1.clone()));
        assert_eq!(stored.previous_valid_to, Some(t(500)));
        assert_eq!(stored.kind, sat);
        assert_eq!(stored.principal_id, "ci");
        assert_eq!(stored.valid_from, Some(t(10)));
        assert_eq!(stored.valid_to, Some(t(1000)));
        let presented = |secret: &str| PresentedToken {
            kind: sat,
            account: "acme".into(),
            token_id: "tid1".into(),
            secret: secret.into(),
        };
        stored.verify(&presented("s1"), t(100)).expect("old secret during grace");
        stored.verify(&presented("s2"), t(100)).expect("new secret");
        assert!(stored.verify(&presented("s1"), t(600)).is_err(), "old secret after grace");
        let info = store.get_token_info(&account, &key_ref(&key), "t1").await.expect("get");
        assert_eq!((info.modified, info.previous_valid_to), (t(20), Some(t(500))));

        // Rotation without grace drops the old hash.
        let h3 = hash_secret("s3");
        store.rotate_token(&account, "tid1", &h3, None, t(21)).await.expect("rotate");
        let stored = store.get_stored_token("tid1").await.expect("read").expect("token");
        assert_eq!(
            (stored.secret_hash, stored.previous_secret_hash, stored.previous_valid_to),
            (h3, None, None)
        );
        assert_not_found(
            store.rotate_token(&account, "nope", &h2, None, t(21)).await,
            "token 'nope' does not exist",
        );
        let other = AccountId::parse("other").expect("id");
        assert!(store.rotate_token(&other, "tid1", &h2, None, t(21)).await.is_err(), "scoped by account");

        let mut updated = store.get_token_info(&account, &key_ref(&key), "t1").await.expect("get");
        updated.name = "renamed".into();
        updated.description = "desc".into();
        updated.tags = tags("env", "prod");
        updated.valid_to = None;
        updated.modified = t(25);
        store.update_token(&account, &updated).await.expect("update");
        assert_eq!(store.get_token_info(&account, &key_ref(&key), "t1").await.expect("get"), updated);

        // last_used only moves forward; unknown ids are ignored.
        store
            .touch_tokens(&[
                ("tid1".into(), t(50)),
                ("tid1".into(), t(40)),
                ("unknown".into(), t(60)),
                ("tid2".into(), t(70)),
            ])
            .await
            .expect("touch");
        store.touch_tokens(&[("tid1".into(), t(30))]).await.expect("touch");
        store.touch_tokens(&[]).await.expect("touch nothing");
        let info = store.get_token_info(&account, &key_ref(&key), "t1").await.expect("get");
        assert_eq!(info.last_used, Some(t(50)));
        let info = store.get_token_info(&account, &key_ref(&key), "t2").await.expect("get");
        assert_eq!(info.last_used, Some(t(70)));

        store.delete_token(&account, "tid2").await.expect("delete");
        assert!(store.get_stored_token("tid2").await.expect("read").is_none());
        assert_not_found(store.delete_token(&account, "tid2").await, "token 'tid2' does not exist");

        store.delete_api_key(&account, &key_ref(&key)).await.expect("delete key");
        assert!(store.get_stored_token("tid1").await.expect("read").is_none(), "tokens cascade");
        assert_not_found(store.delete_api_key(&account, &key_ref(&key)).await, "API key 'k1' does not exist");
    }

    #[tokio::test]
    async fn feature_flags_on_and_off() {
        let Some((store, account, _)) = setup().await else { return };
        store.set_feature_flag(&account, "PL_SUPPORT_JWT_TOKEN_SCIM_API", true).await.expect("on");
        store.set_feature_flag(&account, "PL_SUPPORT_JWT_TOKEN_SCIM_API", true).await.expect("on again");
        assert_eq!(
            store.feature_flags(&account).await.expect("flags"),
            vec!["NG_SETTINGS".to_string(), "PL_SUPPORT_JWT_TOKEN_SCIM_API".into()]
        );
        store.set_feature_flag(&account, "NG_SETTINGS", false).await.expect("off");
        store.set_feature_flag(&account, "NG_SETTINGS", false).await.expect("off again");
        assert_eq!(
            store.feature_flags(&account).await.expect("flags"),
            vec!["PL_SUPPORT_JWT_TOKEN_SCIM_API".to_string()]
        );
        let missing = AccountId::parse("missing").expect("id");
        assert_not_found(
            store.set_feature_flag(&missing, "NG_SETTINGS", true).await,
            "account 'missing' does not exist",
        );
        assert_not_found(
            store.set_feature_flag(&missing, "NG_SETTINGS", false).await,
            "account 'missing' does not exist",
        );
        assert!(store.feature_flags(&missing).await.expect("flags").is_empty());
    }
}
