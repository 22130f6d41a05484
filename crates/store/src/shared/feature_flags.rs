//! `FeatureFlagStore`: the feature flags of an account that are on (one row each). Loaded
//! once per backend (see the crate documentation).

use async_trait::async_trait;

use scimgate_domain::store::FeatureFlagStore;
use scimgate_domain::{AccountId, DomainError};

use scimgate_domain::audit::AuditEntry;

use super::Store;
use super::audit;
use super::common::write_tx;
use super::rows::account_missing;
use crate::DbResultExt;

#[async_trait]
impl FeatureFlagStore for Store {
    async fn feature_flags(&self, account: &AccountId) -> Result<Vec<String>, DomainError> {
        sqlx::query_scalar("SELECT flag FROM feature_flags WHERE account_id = $1 ORDER BY flag")
            .bind(account.as_str())
            .fetch_all(&self.pool)
            .await
            .db()
    }

    async fn set_feature_flag(
        &self,
        account: &AccountId,
        flag: &str,
        on: bool,
        audit: &AuditEntry,
    ) -> Result<(), DomainError> {
        write_tx!(self, |tx| {
            audit::insert(tx, account, audit).await?;
            let found = sqlx::query("SELECT 1 FROM accounts WHERE id = $1")
                .bind(account.as_str())
                .fetch_optional(&mut **tx)
                .await
                .db()?;
            if found.is_none() {
                return Err(DomainError::NotFound(account_missing(account)));
            }
            let sql = if on {
                "INSERT INTO feature_flags (account_id, flag) VALUES ($1, $2) ON CONFLICT DO NOTHING"
            } else {
                "DELETE FROM feature_flags WHERE account_id = $1 AND flag = $2"
            };
            sqlx::query(sql).bind(account.as_str()).bind(flag).execute(&mut **tx).await.db()?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::access::*;
    use super::*;

    #[tokio::test]
    async fn feature_flags_on_and_off() {
        let Some((store, account, _)) = setup().await else { return };
        store
            .set_feature_flag(&account, "PL_SUPPORT_JWT_TOKEN_SCIM_API", true, &test_audit())
            .await
            .expect("on");
        store
            .set_feature_flag(&account, "PL_SUPPORT_JWT_TOKEN_SCIM_API", true, &test_audit())
            .await
            .expect("on again");
        assert_eq!(
            store.feature_flags(&account).await.expect("flags"),
            vec!["NG_SETTINGS".to_string(), "PL_SUPPORT_JWT_TOKEN_SCIM_API".into()]
        );
        store.set_feature_flag(&account, "NG_SETTINGS", false, &test_audit()).await.expect("off");
        store.set_feature_flag(&account, "NG_SETTINGS", false, &test_audit()).await.expect("off again");
        assert_eq!(
            store.feature_flags(&account).await.expect("flags"),
            vec!["PL_SUPPORT_JWT_TOKEN_SCIM_API".to_string()]
        );
        let missing = AccountId::parse("missing").expect("id");
        assert_not_found(
            store.set_feature_flag(&missing, "NG_SETTINGS", true, &test_audit()).await,
            "account 'missing' does not exist",
        );
        assert_not_found(
            store.set_feature_flag(&missing, "NG_SETTINGS", false, &test_audit()).await,
            "account 'missing' does not exist",
        );
        assert!(store.feature_flags(&missing).await.expect("flags").is_empty());
    }
}
