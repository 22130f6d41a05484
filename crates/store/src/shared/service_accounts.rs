//! `ServiceAccountStore`: service accounts. Loaded once per backend (see the crate
//! documentation).
//!
//! Every statement is SQL text fixed in this file, scoped by `account_id`. Uniqueness is left
//! to the database's indexes (a violation becomes `Conflict`). Deleting a service account
//! removes its API keys (their tokens cascade) and role assignments in one write transaction.

use async_trait::async_trait;

use scimgate_domain::entities::{PageRequest, Paged, ServiceAccount};
use scimgate_domain::store::ServiceAccountStore;
use scimgate_domain::{AccountId, DomainError};

use scimgate_domain::audit::AuditEntry;

use super::audit;
use super::common::{col, push_search, write_tx};
use super::rows::{account_missing, changed, tags_from, tags_json};
use super::{DbRow, Store};
use crate::{DbResultExt, from_micros, micros};

fn service_account_row(r: &DbRow) -> Result<ServiceAccount, DomainError> {
    Ok(ServiceAccount {
        identifier: col(r, "identifier")?,
        name: col(r, "name")?,
        email: col(r, "email")?,
        description: col(r, "description")?,
        tags: tags_from(&col::<String>(r, "tags")?)?,
        created: from_micros(col(r, "created_us")?),
        modified: from_micros(col(r, "modified_us")?),
    })
}

/// The columns `service_account_row` reads.
const SERVICE_ACCOUNT_COLUMNS: &str = "identifier, name, email, description, tags, created_us, modified_us";

#[async_trait]
impl ServiceAccountStore for Store {
    async fn create_service_account(
        &self,
        account: &AccountId,
        service_account: &ServiceAccount,
        audit: &AuditEntry,
    ) -> Result<(), DomainError> {
        write_tx!(self, |tx| {
            audit::insert(tx, account, audit).await?;
            sqlx::query(
                "INSERT INTO service_accounts (account_id, identifier, name, email, description, tags, created_us, \
                 modified_us) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(account.as_str())
            .bind(&service_account.identifier)
            .bind(&service_account.name)
            .bind(&service_account.email)
            .bind(&service_account.description)
            .bind(tags_json(&service_account.tags))
            .bind(micros(service_account.created))
            .bind(micros(service_account.modified))
            .execute(&mut **tx)
            .await
            .on_write(
                || format!("a service account with identifier '{}' already exists", service_account.identifier),
                || account_missing(account),
            )?;
            Ok(())
        })
    }

    async fn get_service_account(
        &self,
        account: &AccountId,
        identifier: &str,
    ) -> Result<ServiceAccount, DomainError> {
        self.get_by_identifier(
            SERVICE_ACCOUNT_COLUMNS,
            "service_accounts",
            account,
            identifier,
            "service account",
            service_account_row,
        )
        .await
    }

    async fn list_service_accounts(
        &self,
        account: &AccountId,
        search: Option<&str>,
        page: PageRequest,
    ) -> Result<Paged<ServiceAccount>, DomainError> {
        self.paged(
            SERVICE_ACCOUNT_COLUMNS,
            |q| {
                q.push("FROM service_accounts WHERE account_id = ").push_bind(account.as_str()).push(" AND ");
                push_search(q, search);
            },
            "identifier",
            page,
            service_account_row,
        )
        .await
    }

    async fn update_service_account(
        &self,
        account: &AccountId,
        service_account: &ServiceAccount,
        audit: &AuditEntry,
    ) -> Result<(), DomainError> {
        write_tx!(self, |tx| {
            audit::insert(tx, account, audit).await?;
            let done = sqlx::query(
                "UPDATE service_accounts SET name = $1, email = $2, description = $3, tags = $4, modified_us = $5 \
                 WHERE account_id = $6 AND identifier = $7",
            )
            .bind(&service_account.name)
            .bind(&service_account.email)
            .bind(&service_account.description)
            .bind(tags_json(&service_account.tags))
            .bind(micros(service_account.modified))
            .bind(account.as_str())
            .bind(&service_account.identifier)
            .execute(&mut **tx)
            .await
            .db()?;
            changed(done, || format!("service account '{}' does not exist", service_account.identifier))
        })
    }

    async fn delete_service_account(
        &self,
        account: &AccountId,
        identifier: &str,
        audit: &AuditEntry,
    ) -> Result<(), DomainError> {
        write_tx!(self, |tx| {
            audit::insert(tx, account, audit).await?;
            let done = sqlx::query("DELETE FROM service_accounts WHERE account_id = $1 AND identifier = $2")
                .bind(account.as_str())
                .bind(identifier)
                .execute(&mut **tx)
                .await
                .db()?;
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
            .db()?;
            sqlx::query(
                "DELETE FROM role_assignments WHERE account_id = $1 AND principal_type = 'SERVICE_ACCOUNT' \
                 AND principal_identifier = $2",
            )
            .bind(account.as_str())
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
    use scimgate_domain::access::{ACCOUNT_VIEWER_ROLE, ALL_ACCOUNT_RESOURCES, Principal};
    use scimgate_domain::entities::PrincipalType;
    use scimgate_domain::store::{ApiKeyStore, RoleAssignmentStore};
    use scimgate_domain::token::TokenKind;

    #[tokio::test]
    async fn service_accounts_crud_paging_and_search() {
        let Some((store, account, _)) = setup().await else { return };
        for (id, name) in [("deployer", "Deployer"), ("ci-bot", "CI Bot"), ("backup", "Nightly backup")] {
            store
                .create_service_account(&account, &service_account(id, name), &test_audit())
                .await
                .expect("create");
        }
        assert_eq!(
            store.get_service_account(&account, "ci-bot").await.expect("get"),
            service_account("ci-bot", "CI Bot")
        );
        let ident = |s: &ServiceAccount| s.identifier.clone();
        let p0 = store.list_service_accounts(&account, None, page(0, 2)).await.expect("list");
        assert_eq!((ids(&p0, ident), p0.total), (vec!["backup".into(), "ci-bot".into()], 3));
        let p1 = store.list_service_accounts(&account, None, page(1, 2)).await.expect("list");
        assert_eq!(ids(&p1, ident), vec!["deployer".to_string()]);
        let s = store.list_service_accounts(&account, Some("BOT"), page(0, 10)).await.expect("search");
        assert_eq!((ids(&s, ident), s.total), (vec!["ci-bot".into()], 1));
        let s = store.list_service_accounts(&account, Some("nightly"), page(0, 10)).await.expect("search");
        assert_eq!(ids(&s, ident), vec!["backup".to_string()]);

        let msg = conflict_message(
            store.create_service_account(&account, &service_account("ci-bot", "Other"), &test_audit()).await,
        );
        assert_eq!(msg, "a service account with identifier 'ci-bot' already exists");

        let mut updated = service_account("ci-bot", "CI Robot");
        updated.email = "robot@acme.test".into();
        updated.modified = t(77);
        store.update_service_account(&account, &updated, &test_audit()).await.expect("update");
        assert_eq!(store.get_service_account(&account, "ci-bot").await.expect("get"), updated);
        assert_not_found(
            store.update_service_account(&account, &service_account("nope", "x"), &test_audit()).await,
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
            store
                .create_service_account(&account, &service_account(id, id), &test_audit())
                .await
                .expect("sa");
            let key = api_key(sat, id, "main");
            store.create_api_key(&account, &key, &test_audit()).await.expect("key");
            store
                .create_token(&account, &token(&key, "t", &format!("tok-{id}")), &[1, 2, 3], &test_audit())
                .await
                .expect("token");
            let a = role_assignment(
                &format!("ra-{id}"),
                ("", ""),
                ACCOUNT_VIEWER_ROLE,
                ALL_ACCOUNT_RESOURCES,
                spt,
                id,
            );
            store.create_role_assignment(&account, &a, &test_audit()).await.expect("assignment");
        }
        store.delete_service_account(&account, "ci", &test_audit()).await.expect("delete");

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
            store.delete_service_account(&account, "ci", &test_audit()).await,
            "service account 'ci' does not exist",
        );
    }
}
