//! Settings use cases (docs/contract.md §4) and the settings cache for hot-path readers.
//!
//! Readers (the SCIM JWT path) go through a per-account snapshot cached for the
//! `--settings-cache-ttl` (120 s by default, as the documents say), measured with the
//! [`Clock`] so tests move time instead of sleeping. A write drops the account's snapshot on
//! the node that took it at once; other nodes see it when their snapshot expires.

use std::sync::Arc;

use moka::sync::Cache;
use time::{Duration, OffsetDateTime};

use crate::access::{Caller, Permission, Scope};
use crate::auth_service::AuthService;
use crate::clock::Clock;
use crate::entities::{PageRequest, Paged};
use crate::error::DomainError;
use crate::ids::AccountId;
use crate::netguard::JwksUrlPolicy;
use crate::settings::{
    AUDIENCE, Effective, ISSUER, JWKS_URL, REGISTRY, SERVICE_ACCOUNT_ID, ScopeLevel, SettingAudit,
    SettingDef, SettingRow, find, resolve,
};
use crate::store::{OrganizationStore, ServiceAccountStore, SettingsStore};
use crate::use_case::UseCase;

/// Called after a setting changed on this node, with what the change makes stale.
pub type SettingsHook = Arc<dyn Fn(&AccountId, SettingsChange) + Send + Sync>;

/// What a settings write makes stale beyond the settings snapshot (which the service drops
/// itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettingsChange {
    /// A setting of the SCIM JWT group: the account's cached JWT keys and verifications
    /// must go too (docs/jwt-auth.md item 15).
    JwtConfiguration,
    /// Any other setting.
    Other,
}

/// The feature flag that gates the Settings API (docs/contract.md §3).
pub const NG_SETTINGS: &str = "NG_SETTINGS";

/// `updateType` of a PUT item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdateType {
    /// Set the value at the scope.
    Update,
    /// Remove the scope's value (fall back to the parent or the default).
    Restore,
    /// Anything else, as sent: that item fails, the others are applied.
    Unknown(String),
}

impl UpdateType {
    /// Parses the wire value (`UPDATE`, `RESTORE`).
    pub fn parse(s: &str) -> Self {
        match s {
            "UPDATE" => UpdateType::Update,
            "RESTORE" => UpdateType::Restore,
            other => UpdateType::Unknown(other.to_string()),
        }
    }
    /// Audit name.
    fn as_str(&self) -> &str {
        match self {
            UpdateType::Update => "UPDATE",
            UpdateType::Restore => "RESTORE",
            UpdateType::Unknown(s) => s,
        }
    }
}

/// Where a setting's value lives when it is read at `scope`: the deepest scope of the chain
/// down to `scope` at which it may be set (an account-only setting read at an org lives at
/// the account). Reading it needs the view permission there (docs/settings.md "Who may read
/// what").
fn home_scope(def: &SettingDef, scope: &Scope) -> Scope {
    crate::settings::chain(scope)
        .into_iter()
        .rev()
        .find(|s| def.allows_level(ScopeLevel::of(s)))
        .unwrap_or_else(Scope::account)
}

/// The most items one PUT may carry.
pub const MAX_BATCH: usize = 100;

/// A setting as seen at a scope.
#[derive(Debug, Clone)]
pub struct SettingView {
    /// Its definition.
    pub def: &'static SettingDef,
    /// The scope asked about.
    pub scope: Scope,
    /// Its state there.
    pub effective: Effective,
}

/// One item of a PUT.
#[derive(Debug, Clone)]
pub struct SettingUpdate {
    /// Setting identifier.
    pub identifier: String,
    /// The value, as text (`None` for RESTORE).
    pub value: Option<String>,
    /// `allowOverrides`, when given.
    pub allow_overrides: Option<bool>,
    /// `UPDATE` or `RESTORE`.
    pub update_type: UpdateType,
}

/// The outcome of one item.
#[derive(Debug, Clone)]
pub struct UpdateResult {
    /// Setting identifier, as sent.
    pub identifier: String,
    /// The setting after the write (also after a failure, when it exists).
    pub setting: Option<SettingView>,
    /// Whether the item was stored.
    pub ok: bool,
    /// Why not.
    pub error: Option<String>,
    /// For a SCIM JWT setting: what the configuration still lacks to bind tokens to this
    /// account (docs/jwt.md "What binds a token to your account"), after the whole batch.
    pub warning: Option<String>,
}

/// The stores the settings service reads and writes (each backend is all three).
#[derive(Clone)]
pub struct SettingsStores {
    /// The values and their audit trail.
    pub values: Arc<dyn SettingsStore>,
    /// Organizations and projects: the scope a value is written at must exist.
    pub scopes: Arc<dyn OrganizationStore>,
    /// The service account the JWT settings name must exist.
    pub service_accounts: Arc<dyn ServiceAccountStore>,
}

type Snapshot = (OffsetDateTime, Arc<Vec<SettingRow>>);

/// Settings with their cache.
#[derive(Clone)]
pub struct SettingsService {
    store: Arc<dyn SettingsStore>,
    scopes: Arc<dyn OrganizationStore>,
    service_accounts: Arc<dyn ServiceAccountStore>,
    flags: Arc<AuthService>,
    clock: Arc<dyn Clock>,
    ttl: Duration,
    policy: JwksUrlPolicy,
    cache: Cache<AccountId, Snapshot>,
    /// Bumped by every invalidation: a snapshot read before an invalidation is not cached
    /// after it (a slow reader must not put back what a write just dropped).
    generations: Arc<std::sync::Mutex<std::collections::HashMap<AccountId, u64>>>,
    on_change: SettingsHook,
}

impl std::fmt::Debug for SettingsService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SettingsService").field("ttl", &self.ttl).finish_non_exhaustive()
    }
}

impl SettingsService {
    /// Makes the service.
    pub fn new(
        stores: SettingsStores,
        flags: Arc<AuthService>,
        clock: Arc<dyn Clock>,
        ttl: std::time::Duration,
        policy: JwksUrlPolicy,
        on_change: SettingsHook,
    ) -> Self {
        Self {
            store: stores.values,
            scopes: stores.scopes,
            service_accounts: stores.service_accounts,
            flags,
            clock,
            ttl: Duration::try_from(ttl).unwrap_or(Duration::seconds(120)),
            policy,
            cache: Cache::builder().max_capacity(10_000).build(),
            generations: Arc::new(std::sync::Mutex::new(std::collections::HashMap::new())),
            on_change,
        }
    }

    /// The account's values, from the cache while younger than the TTL.
    async fn rows(&self, account: &AccountId) -> Result<Arc<Vec<SettingRow>>, DomainError> {
        let now = self.clock.now();
        if let Some((loaded, rows)) = self.cache.get(account)
            && now - loaded < self.ttl
            && now >= loaded
        {
            return Ok(rows);
        }
        let generation = self.generation(account);
        let rows = Arc::new(self.store.list_setting_rows(account).await?);
        if self.generation(account) == generation {
            self.cache.insert(account.clone(), (now, rows.clone()));
        }
        Ok(rows)
    }

    fn generation(&self, account: &AccountId) -> u64 {
        self.generations
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(account)
            .copied()
            .unwrap_or(0)
    }

    /// The account's current snapshot (cached), for readers that derive something from it
    /// and want to redo that only when the snapshot changes (compare with `Arc::ptr_eq`).
    pub async fn snapshot(&self, account: &AccountId) -> Result<Arc<Vec<SettingRow>>, DomainError> {
        self.rows(account).await
    }

    /// Drops the account's cached snapshot on this node.
    pub fn invalidate(&self, account: &AccountId) {
        *self
            .generations
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(account.clone())
            .or_insert(0) += 1;
        self.cache.invalidate(account);
    }

    /// The effective value of a setting at a scope, for readers on hot paths (cached).
    pub async fn effective_value(
        &self,
        account: &AccountId,
        scope: &Scope,
        identifier: &str,
    ) -> Result<Option<String>, DomainError> {
        let Some(def) = find(identifier) else { return Ok(None) };
        let rows = self.rows(account).await?;
        Ok(resolve(def, &rows, scope).value)
    }

    /// The Settings API's check, in this order: the feature flag, then the permission at the
    /// scope (a caller without the flag learns about the flag, not about permissions).
    async fn authorize<'c>(
        &self,
        caller: &'c Caller,
        scope: &Scope,
        use_case: UseCase,
    ) -> Result<&'c AccountId, DomainError> {
        if !self.flags.is_feature_enabled(caller.account(), NG_SETTINGS).await? {
            return Err(DomainError::FeatureDisabled(NG_SETTINGS));
        }
        caller.authorize_at(scope, use_case)
    }

    async fn check_scope(&self, account: &AccountId, scope: &Scope) -> Result<(), DomainError> {
        if scope.org.is_empty() {
            if !scope.project.is_empty() {
                return Err(DomainError::invalid("projectIdentifier needs orgIdentifier"));
            }
            return Ok(());
        }
        if scope.project.is_empty() {
            self.scopes.get_org(account, &scope.org).await.map(|_| ())
        } else {
            self.scopes.get_project(account, &scope.org, &scope.project).await.map(|_| ())
        }
    }

    /// Lists settings visible at a scope: those that can be set there and, with
    /// `include_parent_scopes`, those that can only be set above it.
    pub async fn list(
        &self,
        caller: &Caller,
        scope: &Scope,
        category: Option<&str>,
        group: Option<&str>,
        include_parent_scopes: bool,
    ) -> Result<Vec<SettingView>, DomainError> {
        let account = self.authorize(caller, scope, UseCase::ListSettings).await?;
        self.check_scope(account, scope).await?;
        let level = ScopeLevel::of(scope);
        let rows = self.rows(account).await?;
        Ok(REGISTRY
            .iter()
            .filter(|d| category.is_none_or(|c| d.category.eq_ignore_ascii_case(c)))
            .filter(|d| group.is_none_or(|g| d.group == g))
            .filter(|d| {
                d.allows_level(level)
                    || (include_parent_scopes && d.allowed_scopes.iter().any(|l| *l < level))
            })
            // A setting that can only be set above the asked scope lives there: it is listed
            // only to a caller who may view it there (security review item 9).
            .filter(|d| caller.authorize_at(&home_scope(d, scope), UseCase::ListSettings).is_ok())
            .map(|def| SettingView { def, scope: scope.clone(), effective: resolve(def, &rows, scope) })
            .collect())
    }

    /// One setting at a scope.
    pub async fn get(
        &self,
        caller: &Caller,
        scope: &Scope,
        identifier: &str,
    ) -> Result<SettingView, DomainError> {
        let account = self.authorize(caller, scope, UseCase::GetSetting).await?;
        self.check_scope(account, scope).await?;
        let def = find(identifier)
            .ok_or_else(|| DomainError::NotFound(format!("setting '{identifier}' does not exist")))?;
        caller.authorize_at(&home_scope(def, scope), UseCase::GetSetting)?;
        let rows = self.rows(account).await?;
        Ok(SettingView { def, scope: scope.clone(), effective: resolve(def, &rows, scope) })
    }

    /// Applies a batch; each item succeeds or fails on its own. The SCIM JWT settings let a
    /// JWT act as a service account, which is as much power as minting that service
    /// account's tokens, so writing them also needs `core_serviceaccount_manageapikey`.
    pub async fn update(
        &self,
        caller: &Caller,
        scope: &Scope,
        items: Vec<SettingUpdate>,
    ) -> Result<Vec<UpdateResult>, DomainError> {
        let account = self.authorize(caller, scope, UseCase::UpdateSettings).await?;
        if items.is_empty() {
            return Err(DomainError::invalid("the request body is an empty list; send at least one setting"));
        }
        let may_delegate = caller.holds(Permission::ServiceaccountManageapikey);
        if items.len() > MAX_BATCH {
            return Err(DomainError::invalid(format!("at most {MAX_BATCH} settings per request")));
        }
        self.check_scope(account, scope).await?;
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let identifier = item.identifier.clone();
            let result = self.update_one(caller, account, scope, item, may_delegate).await;
            let (ok, error) = match result {
                Ok(()) => (true, None),
                Err(DomainError::Invalid(e)) => (false, Some(e.detail)),
                Err(DomainError::NotFound(m)) => (false, Some(m)),
                Err(e) => return Err(e),
            };
            let setting = match find(&identifier) {
                Some(def) => {
                    let rows = self.rows(account).await?;
                    Some(SettingView { def, scope: scope.clone(), effective: resolve(def, &rows, scope) })
                }
                None => None,
            };
            out.push(UpdateResult { identifier, setting, ok, error, warning: None });
        }
        if out.iter().any(|r| find(&r.identifier).is_some_and(SettingDef::is_jwt_configuration)) {
            let warning = self.jwt_warning(account).await?;
            for r in
                out.iter_mut().filter(|r| find(&r.identifier).is_some_and(SettingDef::is_jwt_configuration))
            {
                r.warning = warning.clone();
            }
        }
        Ok(out)
    }

    /// What the account's JWT configuration lacks to bind a token to this account: a shared
    /// key set without the issuer (or audience) that tells its customers apart, and an unset
    /// issuer or audience (refused outright with `--jwt-require-issuer-audience`).
    async fn jwt_warning(&self, account: &AccountId) -> Result<Option<String>, DomainError> {
        let rows = self.store.list_setting_rows(account).await?;
        let get = |id: &str| find(id).and_then(|def| resolve(def, &rows, &Scope::account()).value);
        let (issuer, audience) = (get(ISSUER), get(AUDIENCE));
        let mut warnings = Vec::new();
        if let Some(url) = get(JWKS_URL).and_then(|u| url::Url::parse(&u).ok())
            && let Some(m) =
                crate::jwt_trust::unpinned_shared_key_set(&url, issuer.as_deref(), audience.as_deref())
        {
            warnings.push(m);
        }
        if let Some(m) = crate::jwt_trust::unset_binding_warning(issuer.as_deref(), audience.as_deref()) {
            warnings.push(if self.policy.require_issuer_audience {
                format!("{m}; this server requires both (--jwt-require-issuer-audience), so every token is refused until they are set")
            } else {
                m
            });
        }
        Ok((!warnings.is_empty()).then(|| warnings.join("; ")))
    }

    async fn update_one(
        &self,
        caller: &Caller,
        account: &AccountId,
        scope: &Scope,
        item: SettingUpdate,
        may_delegate: bool,
    ) -> Result<(), DomainError> {
        let def = find(&item.identifier)
            .ok_or_else(|| DomainError::invalid(format!("unknown setting '{}'", item.identifier)))?;
        if def.is_jwt_configuration() && !may_delegate {
            return Err(DomainError::invalid(format!(
                "{} configures which JWTs act as a service account, so writing it also needs the \
                 permission {}",
                def.identifier,
                Permission::ServiceaccountManageapikey
            )));
        }
        let level = ScopeLevel::of(scope);
        // Always decide on fresh values, never on a cached snapshot.
        let rows = self.store.list_setting_rows(account).await?;
        let eff = resolve(def, &rows, scope);
        if let Some(why) = eff.not_editable_reason {
            return Err(DomainError::invalid(why));
        }
        let now = self.clock.now();
        let mut audit = SettingAudit {
            scope: scope.clone(),
            identifier: def.identifier.to_string(),
            action: String::new(),
            old_value: None,
            new_value: None,
            actor: crate::audit::Actor::of(caller),
            at: now,
        };
        match &item.update_type {
            UpdateType::Update => {
                let raw = item
                    .value
                    .as_deref()
                    .ok_or_else(|| DomainError::invalid("UPDATE needs a value; use RESTORE to remove one"))?;
                let value = def.parse_value(raw).map_err(DomainError::invalid)?;
                if def.identifier == JWKS_URL {
                    self.policy.check(&value).map_err(DomainError::invalid)?;
                }
                if def.identifier == SERVICE_ACCOUNT_ID {
                    self.service_accounts.get_service_account(account, &value).await.map_err(
                        |e| match e {
                            DomainError::NotFound(_) => DomainError::invalid(format!(
                                "service account '{value}' does not exist in this account"
                            )),
                            e => e,
                        },
                    )?;
                }
                let allow = item.allow_overrides.unwrap_or(def.allow_overrides);
                let row = SettingRow {
                    scope: scope.clone(),
                    identifier: def.identifier.to_string(),
                    value: value.clone(),
                    allow_overrides: allow,
                    modified: now,
                };
                audit.action = item.update_type.as_str().into();
                audit.new_value = Some(value);
                let clear_children = !allow && level != ScopeLevel::Project;
                self.store.put_setting(account, &row, clear_children, &audit, def.secret).await?;
            }
            UpdateType::Restore => {
                audit.action = item.update_type.as_str().into();
                self.store.delete_setting(account, scope, def.identifier, &audit, def.secret).await?;
            }
            UpdateType::Unknown(other) => {
                return Err(DomainError::invalid(format!(
                    "updateType '{other}' is invalid: use UPDATE or RESTORE"
                )));
            }
        }
        self.invalidate(account);
        let change =
            if def.is_jwt_configuration() { SettingsChange::JwtConfiguration } else { SettingsChange::Other };
        (self.on_change)(account, change);
        Ok(())
    }

    /// The audit trail, newest first.
    pub async fn audit(
        &self,
        caller: &Caller,
        page: PageRequest,
    ) -> Result<Paged<SettingAudit>, DomainError> {
        let account = self.authorize(caller, &Scope::account(), UseCase::ListSettingsAudit).await?;
        self.store.list_setting_audit(account, page).await
    }
}
