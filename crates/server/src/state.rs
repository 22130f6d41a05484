//! Shared server state (no globals: everything lives here and in axum `State`).

use std::sync::Arc;

use scimgate_domain::Clock;
use scimgate_domain::access_service::AccessService;
use scimgate_domain::auth_service::AuthService;
use scimgate_domain::scim_service::ScimService;
use scimgate_domain::settings_service::SettingsService;
use scimgate_domain::store::{AccountStore, ChangeStore};
use std::sync::Mutex;

use crate::changes::ChangeQueue;
use crate::config::Config;
use crate::jwt::JwtAuthenticator;

/// What every handler can reach: one `Arc`, so that the clone axum makes for every
/// middleware and handler of every request is one reference count, not one per service
/// (about 4 % of the server's CPU under load, in `perf`).
#[derive(Clone)]
pub struct AppState(Arc<State>);

impl AppState {
    /// The shared state around `state`.
    pub fn new(state: State) -> Self {
        Self(Arc::new(state))
    }
}

impl std::ops::Deref for AppState {
    type Target = State;

    fn deref(&self) -> &State {
        &self.0
    }
}

/// The services, stores and configuration behind [`AppState`].
pub struct State {
    /// SCIM use cases.
    pub scim: ScimService,
    /// Access-control use cases.
    pub access: AccessService,
    /// Settings with their cache.
    pub settings: SettingsService,
    /// Authentication with its caches.
    pub auth: Arc<AuthService>,
    /// JWT authentication on SCIM.
    pub jwt: Arc<JwtAuthenticator>,
    /// The change log shared with the other nodes.
    pub changes: Arc<dyn ChangeStore>,
    /// Changes waiting to be written (taken by the writer task when the node starts).
    pub change_queue: Arc<Mutex<Option<ChangeQueue>>>,
    /// Accounts.
    pub accounts: Arc<dyn AccountStore>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// Configuration.
    pub config: Arc<Config>,
    /// The seal of SCIM cursors.
    pub cursors: Arc<crate::http::cursor::Cursors>,
    /// Console sessions of this node.
    pub sessions: Arc<crate::console::session::Sessions>,
    /// Abuse limits of this node.
    pub limits: Arc<crate::limits::Limits>,
    /// Reading the audit log and the SCIM request log.
    pub audit: scimgate_domain::audit_service::AuditService,
    /// Where both logs live (the request log's writer and the pruning write there).
    pub logs: Arc<dyn scimgate_domain::audit_service::AuditStores>,
    /// The SCIM request log's queue.
    pub request_log: Arc<crate::request_log::RequestLog>,
    /// Reading the change-event feed.
    pub events: scimgate_domain::event_service::EventService,
    /// Where the events are (delivery and pruning read and write there).
    pub event_store: Arc<dyn scimgate_domain::store::EventStores>,
    /// Webhook subscriptions' use cases.
    pub webhooks: scimgate_domain::webhook_service::WebhookService,
    /// Where subscriptions, leases and deliveries are.
    pub webhook_store: Arc<dyn scimgate_domain::store::WebhookStore>,
    /// The HTTP client of deliveries.
    pub webhook_client: Arc<crate::events::deliver::WebhookClient>,
    /// Rings when this node has written events (feed readers and deliverers wait on it).
    pub event_signal: crate::events::EventSignal,
    /// The accounts' keys that sign security event tokens.
    pub set_keys: Arc<crate::events::set::SetKeys>,
    /// Its receiving end (taken by the writer task when the node starts).
    pub request_log_queue: Arc<Mutex<Option<crate::request_log::RequestLogQueue>>>,
}
