//! `OrganizationStore`: organizations and their projects, the child scopes of an account.
//! Loaded once per backend (see the crate documentation).
//!
//! Every statement is SQL text fixed in this file, scoped by `account_id`. Uniqueness is left
//! to the database's indexes (a violation becomes `Conflict`); foreign keys turn a missing
//! parent into `NotFound`. A delete and the role assignments it removes run in one write
//! transaction.

use async_trait::async_trait;

use scimgate_domain::entities::{Organization, PageRequest, Paged, Project};
use scimgate_domain::store::OrganizationStore;
use scimgate_domain::{AccountId, DomainError};

use scimgate_domain::audit::AuditEntry;

use super::audit;
use super::common::{col, push_search, write_tx};
use super::rows::{account_missing, changed, tags_from, tags_json};
use super::{DbRow, Store};
use crate::{DbResultExt, from_micros, micros};

fn org_row(r: &DbRow) -> Result<Organization, DomainError> {
    Ok(Organization {
        identifier: col(r, "identifier")?,
        name: col(r, "name")?,
        description: col(r, "description")?,
        tags: tags_from(&col::<String>(r, "tags")?)?,
        created: from_micros(col(r, "created_us")?),
        modified: from_micros(col(r, "modified_us")?),
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
        created: from_micros(col(r, "created_us")?),
        modified: from_micros(col(r, "modified_us")?),
    })
}

/// The columns `org_row` reads.
const ORG_COLUMNS: &str = "identifier, name, description, tags, created_us, modified_us";

#[async_trait]
impl OrganizationStore for Store {
    async fn create_org(
        &self,
        account: &AccountId,
        org: &Organization,
        audit: &AuditEntry,
    ) -> Result<(), DomainError> {
        write_tx!(self, |tx| {
            audit::insert(tx, account, audit).await?;
            sqlx::query(
                "INSERT INTO organizations (account_id, identifier, name, description, tags, created_us, modified_us) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(account.as_str())
            .bind(&org.identifier)
            .bind(&org.name)
            .bind(&org.description)
            .bind(tags_json(&org.tags))
            .bind(micros(org.created))
            .bind(micros(org.modified))
            .execute(&mut **tx)
            .await
            .on_write(
                || format!("an organization with identifier '{}' already exists", org.identifier),
                || account_missing(account),
            )?;
            Ok(())
        })
    }

    async fn get_org(&self, account: &AccountId, identifier: &str) -> Result<Organization, DomainError> {
        self.get_by_identifier(ORG_COLUMNS, "organizations", account, identifier, "organization", org_row)
            .await
    }

    async fn list_orgs(
        &self,
        account: &AccountId,
        search: Option<&str>,
        page: PageRequest,
    ) -> Result<Paged<Organization>, DomainError> {
        self.paged(
            ORG_COLUMNS,
            |q| {
                q.push("FROM organizations WHERE account_id = ").push_bind(account.as_str()).push(" AND ");
                push_search(q, search);
            },
            "identifier",
            page,
            org_row,
        )
        .await
    }

    async fn update_org(
        &self,
        account: &AccountId,
        org: &Organization,
        audit: &AuditEntry,
    ) -> Result<(), DomainError> {
        write_tx!(self, |tx| {
            audit::insert(tx, account, audit).await?;
            let done = sqlx::query(
                "UPDATE organizations SET name = $1, description = $2, tags = $3, modified_us = $4 \
                 WHERE account_id = $5 AND identifier = $6",
            )
            .bind(&org.name)
            .bind(&org.description)
            .bind(tags_json(&org.tags))
            .bind(micros(org.modified))
            .bind(account.as_str())
            .bind(&org.identifier)
            .execute(&mut **tx)
            .await
            .db()?;
            changed(done, || format!("organization '{}' does not exist", org.identifier))
        })
    }

    async fn delete_org(
        &self,
        account: &AccountId,
        identifier: &str,
        audit: &AuditEntry,
    ) -> Result<(), DomainError> {
        write_tx!(self, |tx| {
            audit::insert(tx, account, audit).await?;
            // Projects cascade with the organization row.
            let done = sqlx::query("DELETE FROM organizations WHERE account_id = $1 AND identifier = $2")
                .bind(account.as_str())
                .bind(identifier)
                .execute(&mut **tx)
                .await
                .db()?;
            changed(done, || format!("organization '{identifier}' does not exist"))?;
            sqlx::query("DELETE FROM role_assignments WHERE account_id = $1 AND org_identifier = $2")
                .bind(account.as_str())
                .bind(identifier)
                .execute(&mut **tx)
                .await
                .db()?;
            Ok(())
        })
    }

    // ---- projects ------------------------------------------------------------------

    async fn create_project(
        &self,
        account: &AccountId,
        project: &Project,
        audit: &AuditEntry,
    ) -> Result<(), DomainError> {
        write_tx!(self, |tx| {
            audit::insert(tx, account, audit).await?;
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
            .bind(micros(project.created))
            .bind(micros(project.modified))
            .execute(&mut **tx)
            .await
            .on_write(
                || {
                    format!(
                        "a project with identifier '{}' already exists in organization '{}'",
                        project.identifier, project.org_identifier
                    )
                },
                || format!("organization '{}' does not exist", project.org_identifier),
            )?;
            Ok(())
        })
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
        .db()?
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
            "org_identifier, identifier, name, description, color, tags, created_us, modified_us",
            |q| {
                q.push("FROM projects WHERE account_id = ").push_bind(account.as_str());
                q.push(" AND (").push_bind(org).push(" IS NULL OR org_identifier = ").push_bind(org);
                q.push(") AND ");
                push_search(q, search);
            },
            "org_identifier, identifier",
            page,
            project_row,
        )
        .await
    }

    async fn update_project(
        &self,
        account: &AccountId,
        project: &Project,
        audit: &AuditEntry,
    ) -> Result<(), DomainError> {
        write_tx!(self, |tx| {
            audit::insert(tx, account, audit).await?;
            let done = sqlx::query(
                "UPDATE projects SET name = $1, description = $2, color = $3, tags = $4, modified_us = $5 \
                 WHERE account_id = $6 AND org_identifier = $7 AND identifier = $8",
            )
            .bind(&project.name)
            .bind(&project.description)
            .bind(&project.color)
            .bind(tags_json(&project.tags))
            .bind(micros(project.modified))
            .bind(account.as_str())
            .bind(&project.org_identifier)
            .bind(&project.identifier)
            .execute(&mut **tx)
            .await
            .db()?;
            changed(done, || {
                format!(
                    "project '{}' does not exist in organization '{}'",
                    project.identifier, project.org_identifier
                )
            })
        })
    }

    async fn delete_project(
        &self,
        account: &AccountId,
        org: &str,
        identifier: &str,
        audit: &AuditEntry,
    ) -> Result<(), DomainError> {
        write_tx!(self, |tx| {
            audit::insert(tx, account, audit).await?;
            let done = sqlx::query(
                "DELETE FROM projects WHERE account_id = $1 AND org_identifier = $2 AND identifier = $3",
            )
            .bind(account.as_str())
            .bind(org)
            .bind(identifier)
            .execute(&mut **tx)
            .await
            .db()?;
            changed(done, || format!("project '{identifier}' does not exist in organization '{org}'"))?;
            sqlx::query(
                "DELETE FROM role_assignments WHERE account_id = $1 AND org_identifier = $2 AND project_identifier = $3",
            )
            .bind(account.as_str())
            .bind(org)
            .bind(identifier)
            .execute(&mut **tx)
            .await
            .db()?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::access::*;
    use super::*;
    use scimgate_domain::access::{ACCOUNT_VIEWER_ROLE, ALL_ACCOUNT_RESOURCES};
    use scimgate_domain::entities::PrincipalType;
    use scimgate_domain::store::RoleAssignmentStore;

    #[tokio::test]
    async fn orgs_crud_paging_and_search() {
        let Some((store, account, _)) = setup().await else { return };
        for (id, name) in
            [("delta", "Delta"), ("alpha", "Alpha Team"), ("gamma", "Contains alPHa"), ("beta", "Beta")]
        {
            store.create_org(&account, &org(id, name), &test_audit()).await.expect("create");
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

        let msg = conflict_message(store.create_org(&account, &org("alpha", "Again"), &test_audit()).await);
        assert_eq!(msg, "an organization with identifier 'alpha' already exists");

        let mut updated = org("alpha", "Renamed");
        updated.tags = tags("k", "v");
        updated.modified = t(99);
        store.update_org(&account, &updated, &test_audit()).await.expect("update");
        assert_eq!(store.get_org(&account, "alpha").await.expect("get"), updated);
        assert_not_found(
            store.update_org(&account, &org("nope", "x"), &test_audit()).await,
            "organization 'nope' does not exist",
        );
        assert_not_found(store.get_org(&account, "nope").await, "organization 'nope' does not exist");
        assert_not_found(
            store.delete_org(&account, "nope", &test_audit()).await,
            "organization 'nope' does not exist",
        );

        // Another account sees none of them.
        let other = AccountId::parse("other").expect("id");
        assert_eq!(store.list_orgs(&other, None, page(0, 10)).await.expect("list").total, 0);
        assert_not_found(
            store.create_org(&other, &org("x", "X"), &test_audit()).await,
            "account 'other' does not exist",
        );
    }

    #[tokio::test]
    async fn projects_and_deletes_cascade_to_assignments() {
        let Some((store, account, _)) = setup().await else { return };
        assert_not_found(
            store.create_project(&account, &project("missing", "web"), &test_audit()).await,
            "organization 'missing' does not exist",
        );
        store.create_org(&account, &org("eng", "Engineering"), &test_audit()).await.expect("org");
        store.create_project(&account, &project("eng", "web"), &test_audit()).await.expect("project");
        store.create_project(&account, &project("default", "site"), &test_audit()).await.expect("project");
        let msg =
            conflict_message(store.create_project(&account, &project("eng", "web"), &test_audit()).await);
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
        store.update_project(&account, &p, &test_audit()).await.expect("update");
        assert_eq!(store.get_project(&account, "eng", "web").await.expect("get"), p);
        assert_not_found(
            store.update_project(&account, &project("eng", "nope"), &test_audit()).await,
            "project 'nope' does not exist in organization 'eng'",
        );

        let user = PrincipalType::User;
        for a in [
            role_assignment("at-eng", ("eng", ""), ACCOUNT_VIEWER_ROLE, ALL_ACCOUNT_RESOURCES, user, ADMIN),
            role_assignment(
                "at-web",
                ("eng", "web"),
                ACCOUNT_VIEWER_ROLE,
                ALL_ACCOUNT_RESOURCES,
                user,
                ADMIN,
            ),
            role_assignment(
                "at-site",
                ("default", "site"),
                ACCOUNT_VIEWER_ROLE,
                ALL_ACCOUNT_RESOURCES,
                user,
                ADMIN,
            ),
            role_assignment(
                "at-default",
                ("default", ""),
                ACCOUNT_VIEWER_ROLE,
                ALL_ACCOUNT_RESOURCES,
                user,
                ADMIN,
            ),
        ] {
            store.create_role_assignment(&account, &a, &test_audit()).await.expect("assignment");
        }

        store.delete_project(&account, "default", "site", &test_audit()).await.expect("delete project");
        assert_not_found(
            store.get_role_assignment(&account, "at-site").await,
            "role assignment 'at-site' does not exist",
        );
        store.get_role_assignment(&account, "at-default").await.expect("org-level assignment stays");
        assert_not_found(
            store.delete_project(&account, "default", "site", &test_audit()).await,
            "project 'site' does not exist in organization 'default'",
        );

        store.delete_org(&account, "eng", &test_audit()).await.expect("delete org");
        assert_not_found(
            store.get_project(&account, "eng", "web").await,
            "project 'web' does not exist in organization 'eng'",
        );
        assert!(store.get_role_assignment(&account, "at-eng").await.is_err());
        assert!(store.get_role_assignment(&account, "at-web").await.is_err());
        store.get_role_assignment(&account, "at-default").await.expect("other org's assignment stays");
        store.get_role_assignment(&account, "bootstrap_admin").await.expect("account assignment stays");
        // A re-created organization starts empty.
        store.create_org(&account, &org("eng", "Engineering"), &test_audit()).await.expect("org");
        assert_eq!(
            store.list_projects(&account, Some("eng"), None, page(0, 10)).await.expect("list").total,
            0
        );
    }
}
