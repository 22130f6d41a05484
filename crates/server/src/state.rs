//! Shared server state (no globals: everything lives here and in axum `State`).

use std::sync::Arc;

use scimgate_domain::Clock;
use scimgate_domain::access_service::AccessService;
use scimgate_domain::auth_service::AuthService;
use scimgate_domain::scim_service::ScimService;
use scimgate_domain::settings_service::SettingsService;
use scimgate_domain::store::AccountStore;

use crate::config::Config;
use crate::jwt::JwtAuthenticator;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
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
    /// Accounts.
    pub accounts: Arc<dyn AccountStore>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// Configuration.
    pub config: Arc<Config>,
}
