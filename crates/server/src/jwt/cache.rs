//! The JWKS key cache (docs/jwt-auth.md items 8, 9 and 12), keyed by (account, URL).
//!
//! - Lifetime from `Cache-Control: max-age`, clamped to [5 min, 24 h]; 10 min without it.
//! - Once a set is held, requests never wait for the network: a refresh runs in the
//!   background when 80 % of the lifetime has passed (ETag revalidation), and on failure the
//!   last good set keeps serving for up to 24 h after it was fetched.
//! - Without a set (first use), requests for that URL wait for one fetch in flight; requests
//!   for other URLs never wait (one lock per URL, none held across accounts).
//! - An unknown `kid` triggers one refetch through the same single flight, paid from a small
//!   budget per (account, URL): a bucket of 3 refetches, one more every 10 s. A kid still
//!   missing from a set fetched after it was asked for goes into a 30 s negative cache. So a
//!   flood of random kids costs at most 3 fetches and then one per 10 s, while a key the
//!   identity provider just published is accepted on its first request unless a flood has
//!   emptied the bucket in the last 10 s (security review item 14).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration as StdDuration;

use jsonwebtoken::Algorithm;
use scimgate_domain::{AccountId, Clock};
use time::{Duration, OffsetDateTime};

use super::Reason;
use super::fetch::{Fetched, Fetcher};
use super::keys::{KeySet, VerifyKey};

/// Shortest key-set lifetime.
pub const MIN_LIFETIME: Duration = Duration::minutes(5);
/// Longest key-set lifetime.
pub const MAX_LIFETIME: Duration = Duration::hours(24);
/// Lifetime without `Cache-Control`.
pub const DEFAULT_LIFETIME: Duration = Duration::minutes(10);
/// How long the last good set serves while the JWKS cannot be fetched.
pub const STALE_IF_ERROR: Duration = Duration::hours(24);
/// How long a kid missing from a freshly fetched set stays refused without a refetch; also
/// the retry delay of a failed background refresh.
pub const KID_COOLDOWN: Duration = Duration::seconds(30);
/// Refetches (unknown kid, failed signature) a (account, URL) may make at once.
pub const REFETCH_BURST: f64 = 3.0;
/// One more refetch is earned every this long, up to [`REFETCH_BURST`].
pub const REFETCH_EVERY: Duration = Duration::seconds(10);
/// After a failed fetch with no set held, further fetches wait this long.
pub const FAILURE_BACKOFF: Duration = Duration::seconds(2);

#[derive(Default)]
struct State {
    keys: Option<Arc<KeySet>>,
    fetched_at: Option<OffsetDateTime>,
    expires_at: Option<OffsetDateTime>,
    etag: Option<String>,
    /// Refetches left and when the count was last brought up to date (`None`: full).
    budget: Option<(f64, OffsetDateTime)>,
    failed_at: Option<OffsetDateTime>,
    negative: HashMap<String, OffsetDateTime>,
    /// Number of fetches finished (success or failure): waiters on the single flight use it
    /// to see that a fetch happened while they waited.
    attempts: u64,
}

struct Slot {
    url: url::Url,
    state: Mutex<State>,
    flight: tokio::sync::Mutex<()>,
    refreshing: AtomicBool,
}

impl State {
    /// The refetch budget now.
    fn budget_at(&self, now: OffsetDateTime) -> f64 {
        match self.budget {
            None => REFETCH_BURST,
            Some((left, at)) => {
                let earned = (now - at).as_seconds_f64().max(0.0) / REFETCH_EVERY.as_seconds_f64();
                (left + earned).min(REFETCH_BURST)
            }
        }
    }
    /// Whether a refetch may be made now (without spending it).
    fn may_refetch(&self, now: OffsetDateTime) -> bool {
        self.budget_at(now) >= 1.0
    }
    /// Spends one refetch.
    fn spend_refetch(&mut self, now: OffsetDateTime) {
        self.budget = Some(((self.budget_at(now) - 1.0).max(0.0), now));
    }
}

impl Slot {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The cache.
pub struct JwksCache {
    fetcher: Fetcher,
    clock: Arc<dyn Clock>,
    slots: Mutex<HashMap<(AccountId, String), Arc<Slot>>>,
}

impl std::fmt::Debug for JwksCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksCache").finish_non_exhaustive()
    }
}

fn lifetime(max_age: Option<StdDuration>) -> Duration {
    match max_age {
        Some(d) => Duration::try_from(d).unwrap_or(MAX_LIFETIME).clamp(MIN_LIFETIME, MAX_LIFETIME),
        None => DEFAULT_LIFETIME,
    }
}

impl JwksCache {
    /// Makes the cache.
    pub fn new(fetcher: Fetcher, clock: Arc<dyn Clock>) -> Self {
        Self { fetcher, clock, slots: Mutex::new(HashMap::new()) }
    }

    fn slot(&self, account: &AccountId, url: &url::Url) -> Arc<Slot> {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        slots
            .entry((account.clone(), url.as_str().to_string()))
            .or_insert_with(|| {
                Arc::new(Slot {
                    url: url.clone(),
                    state: Mutex::new(State::default()),
                    flight: tokio::sync::Mutex::new(()),
                    refreshing: AtomicBool::new(false),
                })
            })
            .clone()
    }

    /// Drops everything cached for an account (its JWT settings changed).
    pub fn invalidate(&self, account: &AccountId) {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner).retain(|(a, _), _| a != account);
    }

    /// One fetch for a slot, recording the outcome. Callers hold the slot's flight lock.
    async fn fetch_into(&self, slot: &Slot) -> Result<(), String> {
        let etag = slot.state().etag.clone();
        // The answer describes the JWKS as of the request: time it from there.
        let now = self.clock.now();
        let result = self.fetcher.fetch(&slot.url, etag.as_deref()).await;
        let outcome = match &result {
            Ok(Fetched::Keys { .. }) => "keys",
            Ok(Fetched::NotModified { .. }) => "not_modified",
            Err(_) => "error",
        };
        metrics::counter!("scimgate_jwks_fetches_total", "outcome" => outcome).increment(1);
        let mut st = slot.state();
        st.attempts += 1;
        match result {
            Ok(Fetched::Keys { set, etag, max_age }) => {
                st.keys = Some(Arc::new(set));
                st.etag = etag;
                st.fetched_at = Some(now);
                st.expires_at = Some(now + lifetime(max_age));
                st.failed_at = None;
                Ok(())
            }
            Ok(Fetched::NotModified { max_age }) if st.keys.is_some() => {
                st.fetched_at = Some(now);
                st.expires_at = Some(now + lifetime(max_age));
                st.failed_at = None;
                Ok(())
            }
            Ok(Fetched::NotModified { .. }) => {
                st.failed_at = Some(now);
                Err("304 without a cached key set".into())
            }
            Err(e) => {
                st.failed_at = Some(now);
                Err(e)
            }
        }
    }

    /// Refreshes in the background, at most one refresh per slot at a time.
    fn refresh_in_background(self: &Arc<Self>, slot: Arc<Slot>) {
        if slot.refreshing.swap(true, Ordering::AcqRel) {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            let _flight = slot.flight.lock().await;
            if let Err(e) = this.fetch_into(&slot).await {
                tracing::warn!(url = %slot.url, error = %e, "JWKS refresh failed; serving the last good key set");
            }
            slot.refreshing.store(false, Ordering::Release);
        });
    }

    /// The current key set for (account, URL).
    pub async fn keys(self: &Arc<Self>, account: &AccountId, url: &url::Url) -> Result<Arc<KeySet>, Reason> {
        let slot = self.slot(account, url);
        let now = self.clock.now();
        let (held, seen_attempts) = {
            let st = slot.state();
            let usable = match (&st.keys, st.fetched_at, st.expires_at) {
                (Some(k), Some(fetched), Some(expires)) => {
                    let fresh = now < expires;
                    // A failed background refresh is retried after KID_COOLDOWN, not on
                    // every request.
                    let retry_ok = st.failed_at.is_none_or(|f| now >= f + KID_COOLDOWN);
                    let refresh_due = now >= expires - (expires - fetched) / 5 && retry_ok;
                    if fresh || now < fetched + STALE_IF_ERROR {
                        Some((k.clone(), refresh_due))
                    } else {
                        None
                    }
                }
                _ => None,
            };
            let backoff = st.failed_at.is_some_and(|f| now < f + FAILURE_BACKOFF);
            if usable.is_none() && backoff {
                return Err(Reason::JwksUnavailable);
            }
            (usable, st.attempts)
        };
        metrics::counter!("scimgate_jwks_cache_total", "result" => if held.is_some() { "hit" } else { "miss" })
            .increment(1);
        if let Some((keys, refresh_due)) = held {
            if refresh_due {
                self.refresh_in_background(slot);
            }
            return Ok(keys);
        }
        // No usable set: wait for one fetch for this URL only.
        let _flight = slot.flight.lock().await;
        if slot.state().attempts == seen_attempts
            && let Err(e) = self.fetch_into(&slot).await
        {
            tracing::warn!(url = %slot.url, error = %e, "JWKS fetch failed");
        }
        // Only a set fetched within the stale window counts: fail closed after 24 h.
        let now = self.clock.now();
        let st = slot.state();
        match (&st.keys, st.fetched_at) {
            (Some(k), Some(fetched)) if now < fetched + STALE_IF_ERROR => Ok(k.clone()),
            _ => Err(Reason::JwksUnavailable),
        }
    }

    /// Refetches the key set once through the URL's single flight, unless the refetch budget
    /// is spent (then nothing happens and the answer is `false`). Used when a token's
    /// signature fails or no key fits it: the identity provider may have re-keyed under the
    /// same `kid` or published a new key without one. A flood of such tokens costs at most
    /// [`REFETCH_BURST`] fetches and then one per [`REFETCH_EVERY`].
    pub async fn refetch(self: &Arc<Self>, account: &AccountId, url: &url::Url) -> bool {
        let slot = self.slot(account, url);
        let seen_attempts = {
            let st = slot.state();
            if !st.may_refetch(self.clock.now()) {
                return false;
            }
            st.attempts
        };
        let _flight = slot.flight.lock().await;
        self.refetch_once(&slot, seen_attempts).await
    }

    /// Under the slot's single flight: fetches unless another request fetched while this one
    /// waited (then its result serves), paying from the budget. `false` when the budget ran
    /// out meanwhile.
    async fn refetch_once(&self, slot: &Slot, seen_attempts: u64) -> bool {
        if slot.state().attempts != seen_attempts {
            return true;
        }
        {
            let now = self.clock.now();
            let mut st = slot.state();
            if !st.may_refetch(now) {
                return false;
            }
            st.spend_refetch(now);
        }
        if let Err(e) = self.fetch_into(slot).await {
            tracing::warn!(url = %slot.url, error = %e, "JWKS refetch failed");
        }
        true
    }

    /// The key for a token, refetching once (single flight, refetch budget and negative
    /// cache) when the `kid` is unknown, so a rotated key works within one request.
    pub async fn key_for(
        self: &Arc<Self>,
        account: &AccountId,
        url: &url::Url,
        alg: Algorithm,
        kid: Option<&str>,
    ) -> Result<(Arc<KeySet>, VerifyKey), Reason> {
        let set = self.keys(account, url).await?;
        let kid = match set.select(alg, kid) {
            Ok(k) => return Ok((set.clone(), k.clone())),
            Err(Reason::UnknownKid) => kid.unwrap_or_default().to_string(),
            Err(e) => return Err(e),
        };
        let slot = self.slot(account, url);
        let seen_attempts = {
            let now = self.clock.now();
            let mut st = slot.state();
            st.negative.retain(|_, until| *until > now);
            // Missing from a set fetched after it was first asked for: refused without a
            // refetch for a while. With the budget spent, a kid is refused but not
            // remembered, so a key published meanwhile works once the budget refills.
            if st.negative.contains_key(&kid) || !st.may_refetch(now) {
                return Err(Reason::UnknownKid);
            }
            st.attempts
        };
        let _flight = slot.flight.lock().await;
        if !self.refetch_once(&slot, seen_attempts).await {
            return Err(Reason::UnknownKid);
        }
        let set = {
            let now = self.clock.now();
            let st = slot.state();
            match (&st.keys, st.fetched_at) {
                (Some(k), Some(fetched)) if now < fetched + STALE_IF_ERROR => k.clone(),
                _ => return Err(Reason::JwksUnavailable),
            }
        };
        match set.select(alg, Some(&kid)) {
            Ok(k) => Ok((set.clone(), k.clone())),
            Err(e) => {
                let now = self.clock.now();
                let mut st = slot.state();
                if st.negative.len() < 10_000 {
                    st.negative.insert(kid, now + KID_COOLDOWN);
                }
                Err(e)
            }
        }
    }
}
