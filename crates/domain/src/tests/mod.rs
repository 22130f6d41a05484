//! Unit tests of the domain services over [`memory::MemoryStore`]: the rules that the HTTP
//! suite otherwise covers only end to end (permission table, paging of built-ins, PATCH
//! retries, per-item settings results, key ownership).

mod access;
mod memory;
mod scim;
mod settings;
mod use_cases;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use time::OffsetDateTime;

use crate::access::{Caller, Grants, Permission, PermissionSet, Principal, Scope};
use crate::access_service::AccessService;
use crate::account_service::create_account;
use crate::auth_service::AuthService;
use crate::clock::ManualClock;
use crate::ids::AccountId;
use crate::netguard::{AllowList, JwksUrlPolicy};
use crate::scim_service::ScimService;
use crate::settings_service::{SettingsChange, SettingsService, SettingsStores};
use memory::MemoryStore;

/// One account (`acme`, with `NG_SETTINGS` on) and every service over one memory store.
pub(crate) struct World {
    pub store: Arc<MemoryStore>,
    pub clock: Arc<ManualClock>,
    pub auth: Arc<AuthService>,
    pub access: AccessService,
    pub scim: ScimService,
    pub settings: SettingsService,
    pub audit: crate::audit_service::AuditService,
    pub events: crate::event_service::EventService,
    pub webhooks: crate::webhook_service::WebhookService,
    pub account: AccountId,
    pub admin_user_id: String,
    pub admin_token: String,
    /// How often the access hook ran.
    pub access_changes: Arc<AtomicUsize>,
    /// What the settings hook was told.
    pub settings_changes: Arc<Mutex<Vec<SettingsChange>>>,
}

impl World {
    pub async fn new() -> Self {
        let store = Arc::new(MemoryStore::default());
        let clock = Arc::new(ManualClock::new(OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000)));
        let auth = Arc::new(AuthService::new(store.clone(), clock.clone()));
        let access_changes = Arc::new(AtomicUsize::new(0));
        let counter = access_changes.clone();
        let hook_auth = auth.clone();
        let on_change: crate::access_service::ChangeHook = Arc::new(move |account| {
            counter.fetch_add(1, Ordering::SeqCst);
            hook_auth.invalidate(account);
        });
        let settings_changes = Arc::new(Mutex::new(Vec::new()));
        let seen = settings_changes.clone();
        let policy =
            JwksUrlPolicy { allow_hosts: AllowList::parse("").expect("empty list"), ..Default::default() };
        let settings = SettingsService::new(
            SettingsStores { values: store.clone(), scopes: store.clone(), service_accounts: store.clone() },
            auth.clone(),
            clock.clone(),
            std::time::Duration::from_secs(120),
            policy,
            Arc::new(move |_, change| seen.lock().expect("lock").push(change)),
        );
        let account = AccountId::parse("acme").expect("id");
        let created = create_account(
            store.as_ref(),
            clock.as_ref(),
            &Caller::system(account.clone()),
            "admin@acme.test",
            None,
            &["NG_SETTINGS".to_string()],
        )
        .await
        .expect("account");
        Self {
            access: AccessService::new(store.clone(), clock.clone(), on_change.clone()),
            scim: ScimService::new(store.clone(), clock.clone(), on_change),
            settings,
            audit: crate::audit_service::AuditService::new(store.clone()),
            events: crate::event_service::EventService::new(store.clone()),
            webhooks: crate::webhook_service::WebhookService::new(
                store.clone(),
                clock.clone(),
                crate::netguard::WebhookUrlPolicy::default(),
            ),
            auth,
            store,
            clock,
            account,
            admin_user_id: created.admin_user_id,
            admin_token: created.token,
            access_changes,
            settings_changes,
        }
    }

    /// A service-account caller holding exactly `perms` at account scope.
    pub fn caller(&self, perms: &[Permission]) -> Caller {
        let mut grants = Grants::default();
        grants.add(Scope::account(), perms.iter().copied().collect::<PermissionSet>());
        Caller::new(self.account.clone(), Principal::ServiceAccount("tester".into()), None, Arc::new(grants))
    }

    /// A user caller (for personal keys) with no permissions.
    pub fn user(&self, id: &str) -> Caller {
        Caller::new(self.account.clone(), Principal::User(id.into()), None, Arc::new(Grants::default()))
    }

    /// The account admin, as authentication makes it from the bootstrap token.
    pub async fn admin(&self) -> Caller {
        self.auth.authenticate_token(&self.admin_token, "acme").await.expect("admin token")
    }
}

impl World {
    /// The manual clock's time.
    pub fn clock_now(&self) -> OffsetDateTime {
        crate::clock::Clock::now(self.clock.as_ref())
    }
}
