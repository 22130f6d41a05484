//! Webhook subscriptions' use cases (docs/events.md "Webhooks"): `core_webhook_edit` to
//! write them, `core_webhook_view` to read them and their delivery log. Delivery itself is
//! the server's background work; a redelivery is checked here and sent by the server.

use std::sync::Arc;

use serde_json::json;

use crate::access::{Caller, validate_identifier};
use crate::audit::{AuditEntry, AuditResource, action};
use crate::clock::Clock;
use crate::error::DomainError;
use crate::events::{Event, EventQuery};
use crate::ids::AccountId;
use crate::netguard::WebhookUrlPolicy;
use crate::poll::{PollRequest, PollState, WINDOW, plan};
use crate::store::EventStores;
use crate::use_case::UseCase;
use crate::webhooks::{
    Delivery, PREVIOUS_SECRET_GRACE, Webhook, WebhookDelivery, WebhookInput, WebhookStatus, new_secret,
};

/// The largest page of the delivery log.
pub const MAX_DELIVERY_PAGE: u32 = 1_000;

/// The webhook use cases.
#[derive(Clone)]
pub struct WebhookService {
    store: Arc<dyn EventStores>,
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
    /// A service over a store (subscriptions and the events they deliver), checking URLs
    /// with `policy`.
    pub fn new(store: Arc<dyn EventStores>, clock: Arc<dyn Clock>, policy: WebhookUrlPolicy) -> Self {
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
        if hook.delivery == WebhookDelivery::Poll {
            return Err(DomainError::invalid(format!(
                "webhook '{identifier}' is polled, not sent to: a SET it handed out and that is not \
                 acknowledged is handed out again by the next poll after {} seconds",
                crate::poll::RESEND_AFTER.whole_seconds()
            )));
        }
        let d = self.store.get_delivery(account, identifier, delivery).await?;
        Ok((account.clone(), hook, d))
    }

    /// One poll of a subscription with `deliveryMethod` `poll` (RFC 8936, docs/events.md
    /// "Polling"): records the acknowledgements and errors, and what is handed out; answers
    /// the events to hand out, in order, and whether more are waiting.
    pub async fn poll(
        &self,
        caller: &Caller,
        identifier: &str,
        req: &PollRequest,
    ) -> Result<(Vec<Event>, bool), DomainError> {
        let account = caller.authorize(UseCase::PollWebhook)?;
        let hook = self.store.get_webhook(account, identifier).await?;
        if hook.delivery != WebhookDelivery::Poll {
            return Err(DomainError::invalid(format!(
                "webhook '{identifier}' is pushed to its url; only a subscription with deliveryMethod \"poll\" \
                 is polled"
            )));
        }
        if !hook.enabled {
            return Err(DomainError::invalid(format!(
                "webhook '{identifier}' is disabled: enable it (PUT with \"enabled\": true) to poll it"
            )));
        }
        let types = hook.events.types();
        // Two polls at once: the second to write reads the state again and plans again.
        for _ in 0..5 {
            let state = self.store.poll_state(account, identifier).await?;
            let query = EventQuery { after: Some(state.cursor), limit: WINDOW, types: types.clone() };
            let (page, from) = match self.store.list_events(account, &query).await {
                Ok(page) => (page, state.clone()),
                // Retention removed events it had not acknowledged: it goes on from the oldest kept.
                Err(DomainError::Gone(_)) => {
                    let page = self.store.list_events(account, &EventQuery { after: None, ..query }).await?;
                    let oldest = page.events.first().map_or(page.next, |e| e.seq - 1);
                    let from = PollState {
                        cursor: oldest,
                        sent_through: state.sent_through.max(oldest),
                        ..state.clone()
                    };
                    (page, from)
                }
                Err(e) => return Err(e),
            };
            let now = self.clock.now();
            let p = plan(identifier, &from, req, &page.events, page.next, now);
            if p.state == state && p.deliveries.is_empty() {
                return Ok((p.send, p.more_available));
            }
            if self.store.record_poll(account, identifier, &state, &p.state, &p.deliveries).await? {
                return Ok((p.send, p.more_available));
            }
        }
        Err(DomainError::Conflict(format!(
            "other polls of webhook '{identifier}' kept coming in between; poll it from one receiver at a time"
        )))
    }
}
