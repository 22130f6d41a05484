//! `AccountStore`: account creation (with its admin user, default organization, bootstrap
//! API key and token, and the admin's role assignment, in one write transaction), and the
//! account checks. Loaded once per backend (see the crate documentation).

use async_trait::async_trait;
use time::OffsetDateTime;

use scimgate_domain::access::{ACCOUNT_ADMIN_ROLE, ALL_ACCOUNT_RESOURCES};
use scimgate_domain::store::{AccountStore, NewAccount, PoolStatus};
use scimgate_domain::{AccountId, DomainError};
use scimgate_scim::schema::ResourceKind;

use scimgate_domain::audit::AuditEntry;

use super::Store;
use super::audit;
use super::common::write_tx;
use super::events;
use super::resources::insert_statement;
use crate::{DbResultExt, micros};
use scimgate_domain::events::{EventType, NewEvent, ResourceRef};

#[async_trait]
impl AccountStore for Store {
    async fn create_account(
        &self,
        a: &NewAccount,
        now: OffsetDateTime,
        audit: &AuditEntry,
    ) -> Result<(), DomainError> {
        write_tx!(self, |tx| {
            audit::insert(tx, &a.id, audit).await?;
            sqlx::query("INSERT INTO accounts (id, name, created_us) VALUES ($1, $2, $3)")
                .bind(a.id.as_str())
                .bind(&a.name)
                .bind(micros(now))
                .execute(&mut **tx)
                .await
                .on_unique(|| format!("account '{}' already exists", a.id))?;
            for flag in &a.feature_flags {
                sqlx::query(
                    "INSERT INTO feature_flags (account_id, flag) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                )
                .bind(a.id.as_str())
                .bind(flag)
                .execute(&mut **tx)
                .await
                .db()?;
            }
            insert_statement(ResourceKind::User, &a.id, &a.admin_user_id, &a.admin_doc, now, None)
                .execute(&mut **tx)
                .await
                .db()?;
            // The admin user is the account's first user: its `user.created` is event 1.
            let created = NewEvent::resource(
                EventType::UserCreated,
                ResourceRef::new(&a.admin_user_id, &a.admin_doc, now, now, 1),
            );
            events::append(tx, &a.id, audit, &[created]).await?;
            sqlx::query(
                "INSERT INTO organizations (account_id, identifier, name, description, tags, created_us, modified_us) \
                 VALUES ($1, 'default', 'Default Organization', '', '{}', $2, $3)",
            )
            .bind(a.id.as_str())
            .bind(micros(now))
            .bind(micros(now))
            .execute(&mut **tx)
            .await
            .db()?;
            // The admin's personal access token lives in API key 'bootstrap'.
            sqlx::query(
                "INSERT INTO api_keys (account_id, api_key_type, parent_identifier, identifier, name, description, \
                 tags, default_ttl_ms, created_us, modified_us) \
                 VALUES ($1, 'USER', $2, 'bootstrap', 'bootstrap', '', '{}', NULL, $3, $4)",
            )
            .bind(a.id.as_str())
            .bind(&a.admin_user_id)
            .bind(micros(now))
            .bind(micros(now))
            .execute(&mut **tx)
            .await
            .db()?;
            sqlx::query(
                "INSERT INTO api_tokens (id, account_id, api_key_type, parent_identifier, api_key_identifier, \
                 identifier, name, description, tags, secret_hash, created_us, modified_us, valid_from_us) \
                 VALUES ($1, $2, 'USER', $3, 'bootstrap', 'bootstrap', 'bootstrap', '', '{}', $4, $5, $6, $7)",
            )
            .bind(&a.admin_token.token_id)
            .bind(a.id.as_str())
            .bind(&a.admin_user_id)
            .bind(&a.admin_token.secret_hash)
            .bind(micros(now))
            .bind(micros(now))
            .bind(micros(now))
            .execute(&mut **tx)
            .await
            .db()?;
            sqlx::query(
                "INSERT INTO role_assignments (account_id, identifier, org_identifier, project_identifier, \
                 role_identifier, resource_group_identifier, principal_type, principal_identifier, disabled, \
                 created_us, modified_us) VALUES ($1, 'bootstrap_admin', '', '', $2, $3, 'USER', $4, 0, $5, $6)",
            )
            .bind(a.id.as_str())
            .bind(ACCOUNT_ADMIN_ROLE)
            .bind(ALL_ACCOUNT_RESOURCES)
            .bind(&a.admin_user_id)
            .bind(micros(now))
            .bind(micros(now))
            .execute(&mut **tx)
            .await
            .db()?;
            Ok(())
        })
    }

    async fn account_exists(&self, account: &AccountId) -> Result<bool, DomainError> {
        let found = sqlx::query("SELECT 1 FROM accounts WHERE id = $1")
            .bind(account.as_str())
            .fetch_optional(&self.pool)
            .await
            .db()?;
        Ok(found.is_some())
    }

    async fn count_accounts(&self) -> Result<u64, DomainError> {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM accounts").fetch_one(&self.pool).await.db()?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn ping(&self) -> Result<(), DomainError> {
        sqlx::query("SELECT 1").execute(&self.pool).await.db().map(|_| ())
    }

    fn pool_status(&self) -> PoolStatus {
        PoolStatus {
            open: self.pool.size(),
            idle: u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX),
            max: self.pool.options().get_max_connections(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::access::*;
    use super::*;
    use scimgate_domain::access::{Principal, Scope};
    use scimgate_domain::entities::GrantRow;
    use scimgate_domain::store::{ApiKeyStore, FeatureFlagStore, OrganizationStore, RoleAssignmentStore};
    use scimgate_domain::token::{PresentedToken, TokenKind};

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
}
