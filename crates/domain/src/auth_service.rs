//! Authentication: from a presented credential to a [`Caller`] with its grants.
//!
//! The warm path touches no database (docs/design.md: the async hand-off to the database, not
//! the driver, limits throughput): token records, grants and feature flags are cached.
//! Every access-control change bumps the account's epoch, which makes that account's cached
//! entries stale at once on this node; the TTL bounds how long another node may serve a
//! revoked credential. Last-used times are gathered in memory and written in batches.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use moka::sync::Cache;
use time::OffsetDateTime;

use crate::access::{
    ALL_ACCOUNT_RESOURCES, Caller, Grants, Permission, PermissionSet, Principal, builtin_role,
};
use crate::clock::Clock;
use crate::entities::GrantRow;
use crate::error::DomainError;
use crate::ids::AccountId;
use crate::store::AccessStore;
use crate::token::{PresentedToken, StoredToken, TokenKind};

/// How long cached credentials, grants and flags may be served before a reload; also the
/// longest time a change made on another node takes to show here.
pub const AUTH_CACHE_TTL: Duration = Duration::from_secs(5);

#[derive(Debug)]
struct Entry<T> {
    epoch: u64,
    value: Arc<T>,
}

impl<T> Clone for Entry<T> {
    fn clone(&self) -> Self {
        Self { epoch: self.epoch, value: self.value.clone() }
    }
}

/// Authentication with caches.
pub struct AuthService {
    store: Arc<dyn AccessStore>,
    clock: Arc<dyn Clock>,
    tokens: Cache<(AccountId, String), Entry<StoredToken>>,
    grants: Cache<(AccountId, Principal), Entry<Grants>>,
    flags: Cache<AccountId, Entry<Vec<String>>>,
    epochs: Mutex<HashMap<AccountId, u64>>,
    last_used: Mutex<HashMap<String, OffsetDateTime>>,
}

impl std::fmt::Debug for AuthService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthService").finish_non_exhaustive()
    }
}

impl AuthService {
    /// Makes the service.
    pub fn new(store: Arc<dyn AccessStore>, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            clock,
            tokens: Cache::builder().max_capacity(100_000).time_to_live(AUTH_CACHE_TTL).build(),
            grants: Cache::builder().max_capacity(100_000).time_to_live(AUTH_CACHE_TTL).build(),
            flags: Cache::builder().max_capacity(10_000).time_to_live(AUTH_CACHE_TTL).build(),
            epochs: Mutex::new(HashMap::new()),
            last_used: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn epoch(&self, account: &AccountId) -> u64 {
        self.epochs.lock().unwrap_or_else(PoisonError::into_inner).get(account).copied().unwrap_or(0)
    }

    /// Drops everything cached for an account on this node (after any access-control
    /// change, a SCIM group change, or a feature-flag change).
    pub fn invalidate(&self, account: &AccountId) {
        *self.epochs.lock().unwrap_or_else(PoisonError::into_inner).entry(account.clone()).or_insert(0) += 1;
    }

    /// Authenticates an API token (`pat.`/`sat.`) presented for `path_account`.
    pub async fn authenticate_token(&self, raw: &str, path_account: &str) -> Result<Caller, DomainError> {
        let presented = PresentedToken::parse(raw).ok_or(DomainError::Unauthenticated("malformed token"))?;
        // A credential of account A on account B is 401 and never reveals whether B exists
        // (docs/contract.md §3).
        if presented.account != path_account {
            return Err(DomainError::Unauthenticated("token is for another account"));
        }
        let account =
            AccountId::parse(path_account).map_err(|_| DomainError::Unauthenticated("invalid account"))?;
        let epoch = self.epoch(&account);
        // Keyed by (account, token id) and filled only with the path account's own tokens,
        // so a lookup through another account's path (whose epoch may happen to match)
        // never primes an entry that this account's invalidation would miss (security review
        // item 8).
        let key = (account.clone(), presented.token_id.clone());
        let stored = match self.tokens.get(&key).filter(|e| e.epoch == epoch) {
            Some(e) => e.value,
            None => {
                let t = self
                    .store_token(&presented.token_id)
                    .await?
                    .ok_or(DomainError::Unauthenticated("unknown token id"))?;
                if t.account != account {
                    return Err(DomainError::Unauthenticated("token is for another account"));
                }
                let t = Arc::new(t);
                self.tokens.insert(key, Entry { epoch, value: t.clone() });
                t
            }
        };
        let now = self.clock.now();
        stored.verify(&presented, now)?;
        let principal = match stored.kind {
            TokenKind::User => Principal::User(stored.principal_id.clone()),
            TokenKind::ServiceAccount => Principal::ServiceAccount(stored.principal_id.clone()),
        };
        let grants = self.grants_for(&account, &principal, epoch).await?;
        self.last_used.lock().unwrap_or_else(PoisonError::into_inner).insert(stored.token_id.clone(), now);
        Ok(Caller::new(account, principal, Some(stored.token_id.clone()), grants))
    }

    /// Whether `raw` is a token this node has already verified for `path_account` and still
    /// holds in its cache (current epoch, right secret, not expired), without any lookup:
    /// for letting known-good credentials through a throttle (docs/abuse.md).
    pub fn is_cached(&self, raw: &str, path_account: &str) -> bool {
        let Some(presented) = PresentedToken::parse(raw) else { return false };
        let Ok(account) = AccountId::parse(path_account) else { return false };
        if presented.account != path_account {
            return false;
        }
        let epoch = self.epoch(&account);
        self.tokens
            .get(&(account, presented.token_id.clone()))
            .filter(|e| e.epoch == epoch)
            .is_some_and(|e| e.value.verify(&presented, self.clock.now()).is_ok())
    }

    /// The caller for a principal authenticated some other way: the service account that
    /// the account's JWT settings name, or a user signed in to the console. Its grants come
    /// from the database like any other caller's.
    pub async fn caller_for_principal(
        &self,
        account: &AccountId,
        principal: Principal,
    ) -> Result<Caller, DomainError> {
        let grants = self.grants_for(account, &principal, self.epoch(account)).await?;
        Ok(Caller::new(account.clone(), principal, None, grants))
    }

    async fn store_token(&self, token_id: &str) -> Result<Option<StoredToken>, DomainError> {
        self.store.get_stored_token(token_id).await
    }

    async fn grants_for(
        &self,
        account: &AccountId,
        principal: &Principal,
        epoch: u64,
    ) -> Result<Arc<Grants>, DomainError> {
        let key = (account.clone(), principal.clone());
        if let Some(e) = self.grants.get(&key).filter(|e| e.epoch == epoch) {
            return Ok(e.value);
        }
        let rows = self.store.principal_grants(account, principal).await?;
        let g = Arc::new(compute_grants(&rows));
        self.grants.insert(key, Entry { epoch, value: g.clone() });
        Ok(g)
    }

    /// Whether a feature flag is on for an account (cached for [`AUTH_CACHE_TTL`], so a
    /// change made with the CLI shows within that time).
    pub async fn is_feature_enabled(&self, account: &AccountId, flag: &str) -> Result<bool, DomainError> {
        let epoch = self.epoch(account);
        let flags = match self.flags.get(account).filter(|e| e.epoch == epoch) {
            Some(e) => e.value,
            None => {
                let f = Arc::new(self.store.feature_flags(account).await?);
                self.flags.insert(account.clone(), Entry { epoch, value: f.clone() });
                f
            }
        };
        Ok(flags.iter().any(|f| f == flag))
    }

    /// Writes the gathered last-used times in one batch. Called by a background task
    /// every few seconds and once at shutdown.
    pub async fn flush_last_used(&self) -> Result<usize, DomainError> {
        let batch: Vec<(String, OffsetDateTime)> =
            std::mem::take(&mut *self.last_used.lock().unwrap_or_else(PoisonError::into_inner))
                .into_iter()
                .collect();
        if batch.is_empty() {
            return Ok(0);
        }
        self.store.touch_tokens(&batch).await?;
        Ok(batch.len())
    }
}

/// The grants from a principal's assignment rows: a role's permissions, narrowed to the
/// resource types its resource group selects.
pub fn compute_grants(rows: &[GrantRow]) -> Grants {
    let mut g = Grants::default();
    for row in rows {
        let role: PermissionSet = match builtin_role(&row.role_identifier) {
            Some(p) => p,
            None => match &row.role_permissions {
                Some(list) => list.iter().copied().collect(),
                None => continue,
            },
        };
        let perms: PermissionSet = if row.resource_group_identifier == ALL_ACCOUNT_RESOURCES {
            role
        } else {
            match &row.resource_group {
                Some((true, _)) => role,
                Some((false, types)) => role
                    .iter()
                    .filter(|p: &Permission| types.iter().any(|t| t == p.resource_type()))
                    .collect(),
                None => continue,
            }
        };
        g.add(row.scope.clone(), perms);
    }
    g
}
