//! `ApiKeyStore`: API keys and their tokens, the token lookup of authentication and the
//! last-used times. Loaded once per backend (see the crate documentation).
//!
//! Every statement is SQL text fixed in this file, scoped by `account_id` (the lookup and the
//! last-used times by the globally unique token id). Uniqueness is left to the database's
//! indexes (a violation becomes `Conflict`); foreign keys turn a missing API key into
//! `NotFound`; a key's tokens cascade with it.

use std::collections::BTreeMap;

use async_trait::async_trait;
use time::OffsetDateTime;

use scimgate_domain::entities::{ApiKey, ApiKeyRef, PageRequest, Paged, PrincipalType, TokenInfo};
use scimgate_domain::store::ApiKeyStore;
use scimgate_domain::token::{StoredToken, TokenKind};
use scimgate_domain::{AccountId, DomainError};

use scimgate_domain::audit::AuditEntry;

use super::audit;
use super::common::{col, write_tx};
use super::rows::{account_missing, changed, is_primary_key_violation, tags_from, tags_json};
use super::{DIALECT, DbRow, Store};
use crate::dialect::greatest;
use crate::{DbResultExt, from_micros, micros, write_error};

/// The principal type a token acts for: its `api_key_type` as stored.
fn principal_type(kind: TokenKind) -> PrincipalType {
    match kind {
        TokenKind::User => PrincipalType::User,
        TokenKind::ServiceAccount => PrincipalType::ServiceAccount,
    }
}

/// The stored `api_key_type` of a token kind (a principal type's wire name).
fn kind_str(kind: TokenKind) -> &'static str {
    principal_type(kind).as_str()
}

/// The inverse of [`kind_str`].
fn kind_from(s: &str) -> Result<TokenKind, DomainError> {
    match PrincipalType::parse(s) {
        Some(PrincipalType::User) => Ok(TokenKind::User),
        Some(PrincipalType::ServiceAccount) => Ok(TokenKind::ServiceAccount),
        Some(PrincipalType::UserGroup) | None => {
            Err(DomainError::Internal(format!("stored api_key_type '{s}' is unknown")))
        }
    }
}

fn opt_micros(t: Option<OffsetDateTime>) -> Option<i64> {
    t.map(micros)
}

fn key_missing(key: &ApiKeyRef) -> String {
    format!("API key '{}' does not exist", key.identifier)
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
        created: from_micros(col(r, "created_us")?),
        modified: from_micros(col(r, "modified_us")?),
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
        created: from_micros(col(r, "created_us")?),
        modified: from_micros(col(r, "modified_us")?),
        valid_from: from_micros(col(r, "valid_from_us")?),
        valid_to: col::<Option<i64>>(r, "valid_to_us")?.map(from_micros),
        last_used: col::<Option<i64>>(r, "last_used_us")?.map(from_micros),
        previous_valid_to: col::<Option<i64>>(r, "previous_valid_to_us")?.map(from_micros),
    })
}

#[async_trait]
impl ApiKeyStore for Store {
    async fn create_api_key(
        &self,
        account: &AccountId,
        key: &ApiKey,
        audit: &AuditEntry,
    ) -> Result<(), DomainError> {
        write_tx!(self, |tx| {
            audit::insert(tx, account, audit).await?;
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
            .bind(micros(key.created))
            .bind(micros(key.modified))
            .execute(&mut **tx)
            .await
            .on_write(
                || {
                    format!(
                        "an API key with identifier '{}' already exists for {} '{}'",
                        key.identifier,
                        kind_str(key.api_key_type),
                        key.parent_identifier
                    )
                },
                || account_missing(account),
            )?;
            Ok(())
        })
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
        .db()?
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
        .db()?;
        rows.iter().map(api_key_row).collect()
    }

    async fn update_api_key(
        &self,
        account: &AccountId,
        key: &ApiKey,
        audit: &AuditEntry,
    ) -> Result<(), DomainError> {
        write_tx!(self, |tx| {
            audit::insert(tx, account, audit).await?;
            let done = sqlx::query(
                "UPDATE api_keys SET name = $1, description = $2, tags = $3, default_ttl_ms = $4, modified_us = $5 \
                 WHERE account_id = $6 AND api_key_type = $7 AND parent_identifier = $8 AND identifier = $9",
            )
            .bind(&key.name)
            .bind(&key.description)
            .bind(tags_json(&key.tags))
            .bind(key.default_ttl_ms)
            .bind(micros(key.modified))
            .bind(account.as_str())
            .bind(kind_str(key.api_key_type))
            .bind(&key.parent_identifier)
            .bind(&key.identifier)
            .execute(&mut **tx)
            .await
            .db()?;
            changed(done, || format!("API key '{}' does not exist", key.identifier))
        })
    }

    async fn delete_api_key(
        &self,
        account: &AccountId,
        key: &ApiKeyRef,
        audit: &AuditEntry,
    ) -> Result<(), DomainError> {
        write_tx!(self, |tx| {
            audit::insert(tx, account, audit).await?;
            // Its tokens cascade.
            let done = sqlx::query(
                "DELETE FROM api_keys \
                 WHERE account_id = $1 AND api_key_type = $2 AND parent_identifier = $3 AND identifier = $4",
            )
            .bind(account.as_str())
            .bind(kind_str(key.api_key_type))
            .bind(&key.parent_identifier)
            .bind(&key.identifier)
            .execute(&mut **tx)
            .await
            .db()?;
            changed(done, || key_missing(key))
        })
    }

    // ---- tokens --------------------------------------------------------------------

    async fn create_token(
        &self,
        account: &AccountId,
        info: &TokenInfo,
        secret_hash: &[u8],
        audit: &AuditEntry,
    ) -> Result<(), DomainError> {
        write_tx!(self, |tx| {
            audit::insert(tx, account, audit).await?;
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
            .bind(micros(info.created))
            .bind(micros(info.modified))
            .bind(micros(info.valid_from))
            .bind(opt_micros(info.valid_to))
            .bind(opt_micros(info.last_used))
            .execute(&mut **tx)
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
        })
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
        .db()?
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
            "id, api_key_type, parent_identifier, api_key_identifier, identifier, name, description, tags, \
             created_us, modified_us, valid_from_us, valid_to_us, last_used_us, previous_valid_to_us",
            |q| {
                q.push("FROM api_tokens WHERE account_id = ").push_bind(account.as_str());
                q.push(" AND api_key_type = ").push_bind(kind_str(key.api_key_type));
                q.push(" AND parent_identifier = ").push_bind(key.parent_identifier.as_str());
                q.push(" AND api_key_identifier = ").push_bind(key.identifier.as_str());
            },
            "identifier",
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
        audit: &AuditEntry,
    ) -> Result<(), DomainError> {
        write_tx!(self, |tx| {
            audit::insert(tx, account, audit).await?;
            // The right-hand sides read the row as it was, so `secret_hash` there is the old one.
            let done = sqlx::query(
                "UPDATE api_tokens SET \
                 previous_secret_hash = CASE WHEN $1 IS NULL THEN NULL ELSE secret_hash END, \
                 previous_valid_to_us = $2, secret_hash = $3, modified_us = $4 \
                 WHERE account_id = $5 AND id = $6",
            )
            .bind(opt_micros(previous_valid_to))
            .bind(opt_micros(previous_valid_to))
            .bind(new_hash)
            .bind(micros(now))
            .bind(account.as_str())
            .bind(token_id)
            .execute(&mut **tx)
            .await
            .db()?;
            changed(done, || format!("token '{token_id}' does not exist"))
        })
    }

    async fn update_token(
        &self,
        account: &AccountId,
        info: &TokenInfo,
        audit: &AuditEntry,
    ) -> Result<(), DomainError> {
        write_tx!(self, |tx| {
            audit::insert(tx, account, audit).await?;
            let done = sqlx::query(
                "UPDATE api_tokens SET name = $1, description = $2, tags = $3, valid_to_us = $4, modified_us = $5 \
                 WHERE account_id = $6 AND id = $7",
            )
            .bind(&info.name)
            .bind(&info.description)
            .bind(tags_json(&info.tags))
            .bind(opt_micros(info.valid_to))
            .bind(micros(info.modified))
            .bind(account.as_str())
            .bind(&info.token_id)
            .execute(&mut **tx)
            .await
            .db()?;
            changed(done, || format!("token '{}' does not exist", info.identifier))
        })
    }

    async fn delete_token(
        &self,
        account: &AccountId,
        token_id: &str,
        audit: &AuditEntry,
    ) -> Result<(), DomainError> {
        write_tx!(self, |tx| {
            audit::insert(tx, account, audit).await?;
            let done = sqlx::query("DELETE FROM api_tokens WHERE account_id = $1 AND id = $2")
                .bind(account.as_str())
                .bind(token_id)
                .execute(&mut **tx)
                .await
                .db()?;
            changed(done, || format!("token '{token_id}' does not exist"))
        })
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
        .db()?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some(StoredToken {
            token_id: col(&r, "id")?,
            account: AccountId::parse(&col::<String>(&r, "account_id")?)?,
            kind: kind_from(&col::<String>(&r, "api_key_type")?)?,
            principal_id: col(&r, "parent_identifier")?,
            secret_hash: col(&r, "secret_hash")?,
            valid_from: Some(from_micros(col(&r, "valid_from_us")?)),
            valid_to: col::<Option<i64>>(&r, "valid_to_us")?.map(from_micros),
            previous_secret_hash: col(&r, "previous_secret_hash")?,
            previous_valid_to: col::<Option<i64>>(&r, "previous_valid_to_us")?.map(from_micros),
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
                    .bind(micros(at))
                    .bind(token_id)
                    .execute(&mut **tx)
                    .await
                    .db()?;
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::access::*;
    use super::*;
    use scimgate_domain::entities::TokenInfo;
    use scimgate_domain::store::ServiceAccountStore;
    use scimgate_domain::token::{PresentedToken, hash_secret};

    #[tokio::test]
    async fn api_keys_and_tokens_lifecycle() {
        let Some((store, account, _)) = setup().await else { return };
        let sat = TokenKind::ServiceAccount;
        store
            .create_service_account(&account, &service_account("ci", "CI"), &test_audit())
            .await
            .expect("sa");
        let key = api_key(sat, "ci", "k1");
        store.create_api_key(&account, &key, &test_audit()).await.expect("key");
        assert_eq!(store.get_api_key(&account, &key_ref(&key)).await.expect("get"), key);
        assert_eq!(
            conflict_message(store.create_api_key(&account, &key, &test_audit()).await),
            "an API key with identifier 'k1' already exists for SERVICE_ACCOUNT 'ci'"
        );
        let mut edited = key.clone();
        edited.description = "deploys".into();
        edited.default_ttl_ms = None;
        edited.modified = t(30);
        store.update_api_key(&account, &edited, &test_audit()).await.expect("update");
        assert_eq!(store.get_api_key(&account, &key_ref(&key)).await.expect("get"), edited);
        let missing_key = api_key(sat, "ci", "k2");
        assert_not_found(
            store.get_api_key(&account, &key_ref(&missing_key)).await,
            "API key 'k2' does not exist",
        );
        assert_not_found(
            store.update_api_key(&account, &missing_key, &test_audit()).await,
            "API key 'k2' does not exist",
        );

        assert_not_found(
            store.create_token(&account, &token(&missing_key, "t1", "tid0"), &[0], &test_audit()).await,
            "API key 'k2' does not exist",
        );
        let h1 = hash_secret("s1");
        let t1 = token(&key, "t1", "tid1");
        store.create_token(&account, &t1, &h1, &test_audit()).await.expect("token");
        let msg = conflict_message(
            store.create_token(&account, &token(&key, "t1", "tid2"), &h1, &test_audit()).await,
        );
        assert_eq!(msg, "a token with identifier 't1' already exists in API key 'k1'");
        let t2 = token(&key, "t2", "tid2");
        store.create_token(&account, &t2, &hash_secret("other"), &test_audit()).await.expect("token");
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
        store.rotate_token(&account, "tid1", &h2, Some(t(500)), t(20), &test_audit()).await.expect("rotate");
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
        store.rotate_token(&account, "tid1", &h3, None, t(21), &test_audit()).await.expect("rotate");
        let stored = store.get_stored_token("tid1").await.expect("read").expect("token");
        assert_eq!(
            (stored.secret_hash, stored.previous_secret_hash, stored.previous_valid_to),
            (h3, None, None)
        );
        assert_not_found(
            store.rotate_token(&account, "nope", &h2, None, t(21), &test_audit()).await,
            "token 'nope' does not exist",
        );
        let other = AccountId::parse("other").expect("id");
        assert!(
            store.rotate_token(&other, "tid1", &h2, None, t(21), &test_audit()).await.is_err(),
            "scoped by account"
        );

        let mut updated = store.get_token_info(&account, &key_ref(&key), "t1").await.expect("get");
        updated.name = "renamed".into();
        updated.description = "desc".into();
        updated.tags = tags("env", "prod");
        updated.valid_to = None;
        updated.modified = t(25);
        store.update_token(&account, &updated, &test_audit()).await.expect("update");
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

        store.delete_token(&account, "tid2", &test_audit()).await.expect("delete");
        assert!(store.get_stored_token("tid2").await.expect("read").is_none());
        assert_not_found(
            store.delete_token(&account, "tid2", &test_audit()).await,
            "token 'tid2' does not exist",
        );

        store.delete_api_key(&account, &key_ref(&key), &test_audit()).await.expect("delete key");
        assert!(store.get_stored_token("tid1").await.expect("read").is_none(), "tokens cascade");
        assert_not_found(
            store.delete_api_key(&account, &key_ref(&key), &test_audit()).await,
            "API key 'k1' does not exist",
        );
    }
}
