//! API keys and tokens: personal keys only by their owner, service-account keys with
//! `core_serviceaccount_manageapikey` (reads with `core_serviceaccount_view`), token
//! lifetimes, rotation with a bounded grace period.

use time::Duration;

use super::*;

impl AccessService {
    async fn check_parent(
        &self,
        account: &AccountId,
        kind: TokenKind,
        parent: &str,
    ) -> Result<(), DomainError> {
        let pt = match kind {
            TokenKind::User => PrincipalType::User,
            TokenKind::ServiceAccount => PrincipalType::ServiceAccount,
        };
        if self.store.principal_exists(account, pt, parent).await? {
            Ok(())
        } else {
            Err(DomainError::NotFound(format!("{} '{parent}' does not exist", pt.as_str())))
        }
    }

    /// Creates an API key.
    pub async fn create_api_key(&self, caller: &Caller, mut key: ApiKey) -> Result<ApiKey, DomainError> {
        let account =
            caller.authorize_keys(UseCase::CreateApiKey, key.api_key_type, &key.parent_identifier)?;
        validate_identifier(&key.identifier, "API key")?;
        key.name =
            check_name(if key.name.trim().is_empty() { &key.identifier } else { &key.name }, "API key")?;
        check_text(&key.description, "description", 1024)?;
        check_tags(&key.tags)?;
        if key.default_ttl_ms.is_some_and(|t| t <= 0) {
            return Err(DomainError::invalid(
                "defaultTimeToExpireToken must be a positive number of milliseconds",
            ));
        }
        self.check_parent(account, key.api_key_type, &key.parent_identifier).await?;
        let now = self.clock.now();
        key.created = now;
        key.modified = now;
        let audit = self.audit(
            caller,
            action::CREATE,
            AuditResource::ApiKey,
            key_id(&key.api_key_type, &key.parent_identifier, &key.identifier),
            created_summary(&key),
        );
        self.store.create_api_key(account, &key, &audit).await?;
        Ok(key)
    }

    /// Reads an API key.
    pub async fn get_api_key(&self, caller: &Caller, key: &ApiKeyRef) -> Result<ApiKey, DomainError> {
        let account = caller.authorize_keys(UseCase::GetApiKey, key.api_key_type, &key.parent_identifier)?;
        self.store.get_api_key(account, key).await
    }

    /// Lists the API keys of a parent.
    pub async fn list_api_keys(
        &self,
        caller: &Caller,
        kind: TokenKind,
        parent: &str,
    ) -> Result<Vec<ApiKey>, DomainError> {
        let account = caller.authorize_keys(UseCase::ListApiKeys, kind, parent)?;
        self.store.list_api_keys(account, kind, parent).await
    }

    /// Updates an API key's name, description, tags and default lifetime.
    pub async fn update_api_key(&self, caller: &Caller, key: ApiKey) -> Result<ApiKey, DomainError> {
        let account =
            caller.authorize_keys(UseCase::UpdateApiKey, key.api_key_type, &key.parent_identifier)?;
        let r = ApiKeyRef {
            api_key_type: key.api_key_type,
            parent_identifier: key.parent_identifier.clone(),
            identifier: key.identifier.clone(),
        };
        let mut cur = self.store.get_api_key(account, &r).await?;
        let old = cur.clone();
        cur.name =
            check_name(if key.name.trim().is_empty() { &key.identifier } else { &key.name }, "API key")?;
        check_text(&key.description, "description", 1024)?;
        check_tags(&key.tags)?;
        cur.description = key.description;
        cur.tags = key.tags;
        cur.default_ttl_ms = key.default_ttl_ms;
        cur.modified = self.clock.now();
        let audit = self.audit(
            caller,
            action::UPDATE,
            AuditResource::ApiKey,
            key_id(&r.api_key_type, &r.parent_identifier, &r.identifier),
            changed_summary(&old, &cur),
        );
        self.store.update_api_key(account, &cur, &audit).await?;
        Ok(cur)
    }

    /// Deletes an API key and its tokens.
    pub async fn delete_api_key(&self, caller: &Caller, key: &ApiKeyRef) -> Result<(), DomainError> {
        let account =
            caller.authorize_keys(UseCase::DeleteApiKey, key.api_key_type, &key.parent_identifier)?;
        let audit = self.audit(
            caller,
            action::DELETE,
            AuditResource::ApiKey,
            key_id(&key.api_key_type, &key.parent_identifier, &key.identifier),
            json!({}),
        );
        self.store.delete_api_key(account, key, &audit).await?;
        self.changed(account);
        Ok(())
    }

    /// Creates a token; returns its metadata and the full token string (shown once).
    pub async fn create_token(
        &self,
        caller: &Caller,
        key: &ApiKeyRef,
        input: TokenInput,
    ) -> Result<(TokenInfo, String), DomainError> {
        let account =
            caller.authorize_keys(UseCase::CreateToken, key.api_key_type, &key.parent_identifier)?;
        validate_identifier(&input.identifier, "token")?;
        let api_key = self.store.get_api_key(account, key).await?;
        let now = self.clock.now();
        let valid_from = input.valid_from.unwrap_or(now);
        let valid_to = match (input.valid_to, api_key.default_ttl_ms) {
            (Some(t), _) => Some(t),
            (None, Some(ms)) => Some(valid_from + Duration::milliseconds(ms)),
            (None, None) => None,
        };
        if valid_to.is_some_and(|t| t <= valid_from) {
            return Err(DomainError::invalid("validTo must be later than validFrom"));
        }
        if valid_to.is_some_and(|t| t <= now) {
            return Err(DomainError::invalid("validTo is in the past: the token would never work"));
        }
        check_text(&input.description, "description", 1024)?;
        check_tags(&input.tags)?;
        let generated = generate(key.api_key_type, account)?;
        let info = TokenInfo {
            token_id: generated.token_id.clone(),
            api_key_type: key.api_key_type,
            parent_identifier: key.parent_identifier.clone(),
            api_key_identifier: key.identifier.clone(),
            identifier: input.identifier.clone(),
            name: check_name(input.name.as_deref().unwrap_or(&input.identifier), "token")?,
            description: input.description,
            tags: input.tags,
            created: now,
            modified: now,
            valid_from,
            valid_to,
            last_used: None,
            previous_valid_to: None,
        };
        let audit = self.audit(
            caller,
            action::CREATE,
            AuditResource::Token,
            token_id(key, &info.identifier),
            created_summary(&info).with_token(&info.token_id),
        );
        self.store.create_token(account, &info, &generated.secret_hash, &audit).await?;
        Ok((info, generated.token))
    }

    /// Lists the tokens of an API key (never their secrets).
    pub async fn list_tokens(
        &self,
        caller: &Caller,
        key: &ApiKeyRef,
        page: PageRequest,
    ) -> Result<Paged<TokenInfo>, DomainError> {
        let account = caller.authorize_keys(UseCase::ListTokens, key.api_key_type, &key.parent_identifier)?;
        self.store.list_tokens(account, key, page).await
    }

    /// Rotates a token: a new secret, same token record. The old secret stops working at
    /// `rotate_at` (default: at once).
    pub async fn rotate_token(
        &self,
        caller: &Caller,
        key: &ApiKeyRef,
        identifier: &str,
        rotate_at: Option<OffsetDateTime>,
    ) -> Result<String, DomainError> {
        let account =
            caller.authorize_keys(UseCase::RotateToken, key.api_key_type, &key.parent_identifier)?;
        let info = self.store.get_token_info(account, key, identifier).await?;
        let now = self.clock.now();
        if info.valid_to.is_some_and(|t| t <= now) {
            return Err(DomainError::invalid(
                "the token has expired; create a new one instead of rotating it",
            ));
        }
        let mut generated = generate(key.api_key_type, account)?;
        // Same token id, new secret: clients swap the string; the id in logs stays stable.
        let secret = generated.token.rsplit('.').next().unwrap_or_default().to_string();
        generated.token = format!("{}.{}.{}.{}", key.api_key_type.prefix(), account, info.token_id, secret);
        // The old secret may keep working for a while (clients switch over), but never beyond
        // 30 days nor beyond the token's own expiry.
        if rotate_at.is_some_and(|t| t > now + Duration::days(MAX_ROTATION_GRACE_DAYS)) {
            return Err(DomainError::invalid(format!(
                "rotateTimestamp is more than {MAX_ROTATION_GRACE_DAYS} days away; the old secret may live at most that long"
            )));
        }
        let grace = rotate_at.filter(|t| *t > now).map(|t| info.valid_to.map_or(t, |v| t.min(v)));
        let audit = self.audit(
            caller,
            action::ROTATE,
            AuditResource::Token,
            token_id(key, identifier),
            json!({"tokenId": info.token_id, "previousValidTo": grace.map(|t| t.unix_timestamp())}),
        );
        self.store.rotate_token(account, &info.token_id, &generated.secret_hash, grace, now, &audit).await?;
        self.changed(account);
        Ok(generated.token)
    }

    /// Updates a token's name, description, tags and expiry.
    pub async fn update_token(
        &self,
        caller: &Caller,
        key: &ApiKeyRef,
        identifier: &str,
        input: TokenInput,
    ) -> Result<TokenInfo, DomainError> {
        let account =
            caller.authorize_keys(UseCase::UpdateToken, key.api_key_type, &key.parent_identifier)?;
        let mut info = self.store.get_token_info(account, key, identifier).await?;
        let old = info.clone();
        check_text(&input.description, "description", 1024)?;
        check_tags(&input.tags)?;
        if let Some(n) = input.name.as_deref() {
            info.name = check_name(n, "token")?;
        }
        info.description = input.description;
        info.tags = input.tags;
        if input.valid_to.is_some() {
            info.valid_to = input.valid_to;
        }
        info.modified = self.clock.now();
        let audit = self.audit(
            caller,
            action::UPDATE,
            AuditResource::Token,
            token_id(key, identifier),
            changed_summary(&old, &info).with_token(&info.token_id),
        );
        self.store.update_token(account, &info, &audit).await?;
        self.changed(account);
        Ok(info)
    }

    /// Deletes a token; it stops working at once on this node.
    pub async fn delete_token(
        &self,
        caller: &Caller,
        key: &ApiKeyRef,
        identifier: &str,
    ) -> Result<(), DomainError> {
        let account =
            caller.authorize_keys(UseCase::DeleteToken, key.api_key_type, &key.parent_identifier)?;
        let info = self.store.get_token_info(account, key, identifier).await?;
        let audit = self.audit(
            caller,
            action::DELETE,
            AuditResource::Token,
            token_id(key, identifier),
            json!({}).with_token(&info.token_id),
        );
        self.store.delete_token(account, &info.token_id, &audit).await?;
        self.changed(account);
        Ok(())
    }
}

/// An API key's id in the audit log: `TYPE/parent/key`.
fn key_id(kind: &TokenKind, parent: &str, key: &str) -> String {
    let kind = match kind {
        TokenKind::User => "USER",
        TokenKind::ServiceAccount => "SERVICE_ACCOUNT",
    };
    format!("{kind}/{parent}/{key}")
}

/// A token's id in the audit log: `TYPE/parent/key/token`.
fn token_id(key: &ApiKeyRef, token: &str) -> String {
    format!("{}/{token}", key_id(&key.api_key_type, &key.parent_identifier, &key.identifier))
}

/// Adds the token's id (the id inside the token string, which request logs show as the
/// credential; not a secret) to a summary.
trait WithToken {
    fn with_token(self, token_id: &str) -> Value;
}

impl WithToken for Value {
    fn with_token(mut self, token_id: &str) -> Value {
        if let Value::Object(m) = &mut self {
            m.insert("tokenId".into(), Value::String(token_id.into()));
        }
        self
    }
}
