//! Webhook subscriptions' use cases (docs/events.md "Webhooks"): `core_webhook_edit` to
//! write them, `core_webhook_view` to read them and their delivery log. Delivery itself is
//! the server's background work; a redelivery is checked here and sent by the server.

use std::sync::Arc;

use serde_json::json;

use crate::access::{Caller, validate_identifier};
use crate::audit::{AuditEntry, AuditResource, action};
use crate::clock::Clock;
use crate::error::DomainError;
use crate::ids::AccountId;
use crate::netguard::WebhookUrlPolicy;
use crate::store::WebhookStore;
use crate::use_case::UseCase;
use crate::webhooks::{Delivery, PREVIOUS_SECRET_GRACE, Webhook, WebhookInput, WebhookStatus, new_secret};

/// The largest page of the delivery log.
pub const MAX_DELIVERY_PAGE: u32 = 1_000;

/// The webhook use cases.
#[derive(Clone)]
pub struct WebhookService {
    store: Arc<dyn WebhookStore>,
    clock: Arc<dyn Clock>,
    policy: WebhookUrlPolicy,
}

impl std::fmt::Debug for WebhookService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookService").field("policy", &self.policy).finish_non_exhaustive()
    }
}

fn summary(input: &WebhookInput) -> serde_json::Value {
    json!({
        "url": input.url,
        "events": input.events.to_json(),
        "format": input.format.as_str(),
        "deliveryMethod": input.delivery.as_str(),
        "enabled": input.enabled,
    })
}

impl WebhookService {
    /// A service over a store, checking URLs with `policy`.
    pub fn new(store: Arc<dyn WebhookStore>, clock: Arc<dyn Clock>, policy: WebhookUrlPolicy) -> Self {
        Self { store, clock, policy }
    }

    /// The URL policy (the deliverer checks addresses again at connect time).
    pub fn policy(&self) -> &WebhookUrlPolicy {
        &self.policy
    }

    fn check(&self, input: &WebhookInput) -> Result<(), DomainError> {
        validate_identifier(&input.identifier, "webhook")?;
        if input.delivery == crate::webhooks::WebhookDelivery::Push {
            self.policy.check(&input.url).map_err(DomainError::invalid)?;
        }
        Ok(())
    }

    /// Creates a subscription with a new secret (answered this once).
    pub async fn create(&self, caller: &Caller, input: &WebhookInput) -> Result<Webhook, DomainError> {
        let account = caller.authorize(UseCase::CreateWebhook)?;
        self.check(input)?;
        let now = self.clock.now();
        let hook = Webhook {
            identifier: input.identifier.clone(),
            url: input.url.trim().to_string(),
            events: input.events.clone(),
            format: input.format,
            delivery: input.delivery,
            enabled: input.enabled,
            status: WebhookStatus::Active,
            secret: new_secret()?,
            previous_secret: None,
            cursor: 0,
            attempts: 0,
            first_failure: None,
            next_attempt: now,
            last_error: None,
            created: now,
            modified: now,
        };
        let audit = AuditEntry::new(
            caller,
            now,
            action::CREATE,
            AuditResource::Webhook,
            &input.identifier,
            summary(input),
        );
        self.store.create_webhook(account, &hook, &audit).await
    }

    /// The account's subscriptions.
    pub async fn list(&self, caller: &Caller) -> Result<Vec<Webhook>, DomainError> {
        let account = caller.authorize(UseCase::ListWebhooks)?;
        self.store.list_webhooks(account).await
    }

    /// One subscription.
    pub async fn get(&self, caller: &Caller, identifier: &str) -> Result<Webhook, DomainError> {
        let account = caller.authorize(UseCase::GetWebhook)?;
        self.store.get_webhook(account, identifier).await
    }

    /// Replaces URL, events, format and enabled (the identifier cannot change).
    pub async fn update(
        &self,
        caller: &Caller,
        identifier: &str,
        input: &WebhookInput,
    ) -> Result<Webhook, DomainError> {
        let account = caller.authorize(UseCase::UpdateWebhook)?;
        if input.identifier != identifier {
            return Err(DomainError::invalid(format!(
                "the identifier of a webhook cannot be changed (the path names '{identifier}', the body '{}')",
                input.identifier
            )));
        }
        self.check(input)?;
        let now = self.clock.now();
        let audit =
            AuditEntry::new(caller, now, action::UPDATE, AuditResource::Webhook, identifier, summary(input));
        self.store.update_webhook(account, input, now, &audit).await
    }

    /// Deletes a subscription and its delivery log.
    pub async fn delete(&self, caller: &Caller, identifier: &str) -> Result<(), DomainError> {
        let account = caller.authorize(UseCase::DeleteWebhook)?;
        let audit = AuditEntry::new(
            caller,
            self.clock.now(),
            action::DELETE,
            AuditResource::Webhook,
            identifier,
            json!({}),
        );
        self.store.delete_webhook(account, identifier, &audit).await
    }

    /// A new secret (answered this once); the old one keeps signing for 24 hours.
    pub async fn rotate_secret(&self, caller: &Caller, identifier: &str) -> Result<Webhook, DomainError> {
        let account = caller.authorize(UseCase::RotateWebhookSecret)?;
        let now = self.clock.now();
        let grace = now + PREVIOUS_SECRET_GRACE;
        let audit = AuditEntry::new(
            caller,
            now,
            action::ROTATE,
            AuditResource::Webhook,
            identifier,
            json!({"fields": ["secret"], "previousSecretValidUntil": crate::events::rfc3339(grace)}),
        );
        self.store.rotate_webhook_secret(account, identifier, &new_secret()?, grace, now, &audit).await
    }

    /// A subscription's deliveries, newest first.
    pub async fn deliveries(
        &self,
        caller: &Caller,
        identifier: &str,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Delivery>, DomainError> {
        let account = caller.authorize(UseCase::ListWebhookDeliveries)?;
        if limit == 0 || limit > MAX_DELIVERY_PAGE {
            return Err(DomainError::invalid(format!("limit must be between 1 and {MAX_DELIVERY_PAGE}")));
        }
        self.store.get_webhook(account, identifier).await?;
        self.store.list_deliveries(account, identifier, before, limit).await
    }

    /// Checks a redelivery: the subscription and the delivery whose event is sent again.
    pub async fn redelivery(
        &self,
        caller: &Caller,
        identifier: &str,
        delivery: i64,
    ) -> Result<(AccountId, Webhook, Delivery), DomainError> {
        let account = caller.authorize(UseCase::RedeliverWebhook)?;
        let hook = self.store.get_webhook(account, identifier).await?;
        let d = self.store.get_delivery(account, identifier, delivery).await?;
        Ok((account.clone(), hook, d))
    }
}
