//! Abuse limits per account (docs/abuse.md): a token bucket of requests, a cap on requests
//! in flight, and a throttle on failed authentication per account and client address. All
//! are per node.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use governor::clock::{Clock as _, DefaultClock};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use moka::sync::Cache;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::Config;

/// Why a request was not admitted, with how long the client should wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The account's request rate is over `--account-rate-limit`.
    Rate(Duration),
    /// The account already has `--account-max-in-flight` requests running.
    InFlight,
    /// Too many failed authentications from this address for this account.
    AuthFailures(Duration),
}

impl Refusal {
    /// Whole seconds for `Retry-After` (at least 1).
    pub fn retry_after(self) -> u64 {
        match self {
            Refusal::Rate(d) | Refusal::AuthFailures(d) => d.as_secs_f64().ceil().max(1.0) as u64,
            Refusal::InFlight => 1,
        }
    }
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Refusal::Rate(_) => "rate",
            Refusal::InFlight => "in_flight",
            Refusal::AuthFailures(_) => "auth_failures",
        }
    }
    /// What the client is told.
    pub fn message(self) -> String {
        match self {
            Refusal::Rate(_) => format!(
                "too many requests for this account (over --account-rate-limit); retry in {} s",
                self.retry_after()
            ),
            Refusal::InFlight => {
                "too many requests of this account are running at once (--account-max-in-flight); retry shortly"
                    .into()
            }
            Refusal::AuthFailures(_) => format!(
                "too many failed authentications from this address; retry in {} s with a valid credential",
                self.retry_after()
            ),
        }
    }
}

/// A request admitted: holds its in-flight slot until it is dropped.
#[derive(Debug)]
pub struct Admission {
    _slot: Option<OwnedSemaphorePermit>,
}

type Limiter = RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock>;

/// The limits of one node.
pub struct Limits {
    rate: Option<Limiter>,
    max_in_flight: usize,
    in_flight: Cache<String, Arc<Semaphore>>,
    failures: Cache<(String, IpAddr), (u32, Instant)>,
    failure_threshold: u32,
    /// Refusals by reason, for `/metrics`.
    pub refused: crate::jwt::JwtMetrics,
}

impl std::fmt::Debug for Limits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limits").field("max_in_flight", &self.max_in_flight).finish_non_exhaustive()
    }
}

/// The window failed authentications are counted in.
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);

impl Limits {
    /// The limits of a configuration.
    pub fn new(config: &Config) -> Self {
        let rate = NonZeroU32::new(config.account_rate_limit).map(|per_second| {
            let burst = NonZeroU32::new(config.account_rate_burst).unwrap_or(per_second);
            RateLimiter::dashmap(Quota::per_second(per_second).allow_burst(burst))
        });
        Self {
            rate,
            max_in_flight: config.account_max_in_flight,
            in_flight: Cache::builder().max_capacity(100_000).time_to_idle(Duration::from_secs(600)).build(),
            failures: Cache::builder().max_capacity(100_000).time_to_live(FAILURE_WINDOW).build(),
            failure_threshold: config.auth_failure_limit,
            refused: crate::jwt::JwtMetrics::default(),
        }
    }

    /// Admits an authenticated request of `account`, or says why not.
    pub fn admit(&self, account: &str) -> Result<Admission, Refusal> {
        if let Some(rate) = &self.rate
            && let Err(not_until) = rate.check_key(&account.to_string())
        {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            return Err(self.refuse(Refusal::Rate(wait)));
        }
        if self.max_in_flight == 0 {
            return Ok(Admission { _slot: None });
        }
        let slots =
            self.in_flight.get_with(account.to_string(), || Arc::new(Semaphore::new(self.max_in_flight)));
        match slots.try_acquire_owned() {
            Ok(slot) => Ok(Admission { _slot: Some(slot) }),
            Err(_) => Err(self.refuse(Refusal::InFlight)),
        }
    }

    fn refuse(&self, r: Refusal) -> Refusal {
        self.refused.add(r.label());
        r
    }

    /// Whether `ip` is past the failed-authentication threshold for `account`: then a
    /// credential not already known to be good is refused before any lookup.
    pub fn throttled(&self, account: &str, ip: Option<IpAddr>) -> Option<Refusal> {
        let ip = ip?;
        if self.failure_threshold == 0 {
            return None;
        }
        let (n, since) = self.failures.get(&(account.to_string(), ip))?;
        (n >= self.failure_threshold).then(|| {
            let wait = FAILURE_WINDOW.saturating_sub(since.elapsed());
            self.refuse(Refusal::AuthFailures(wait))
        })
    }

    /// Counts a failed authentication of `ip` on `account`.
    pub fn failed(&self, account: &str, ip: Option<IpAddr>) {
        let Some(ip) = ip else { return };
        let key = (account.to_string(), ip);
        let next = match self.failures.get(&key) {
            Some((n, since)) if since.elapsed() < FAILURE_WINDOW => (n.saturating_add(1), since),
            _ => (1, Instant::now()),
        };
        self.failures.insert(key, next);
    }
}

/// The client address of a request: the connection's peer, or with `--trust-forwarded-for`
/// the last `X-Forwarded-For` entry (the address that connected to the proxy in front).
pub fn client_ip(parts: &axum::http::request::Parts, trust_forwarded: bool) -> Option<IpAddr> {
    if trust_forwarded
        && let Some(ip) = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|s| s.trim().parse::<IpAddr>().ok())
            .next_back()
    {
        return Some(ip.to_canonical());
    }
    parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip().to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(rate: u32, burst: u32, in_flight: usize) -> Config {
        Config {
            account_rate_limit: rate,
            account_rate_burst: burst,
            account_max_in_flight: in_flight,
            ..Config::default()
        }
    }

    #[test]
    fn a_bucket_per_account() {
        let l = Limits::new(&config(1, 3, 0));
        for _ in 0..3 {
            assert!(l.admit("noisy").is_ok());
        }
        let r = l.admit("noisy").expect_err("over the burst");
        assert!(matches!(r, Refusal::Rate(_)) && r.retry_after() >= 1, "{r:?}");
        assert!(l.admit("quiet").is_ok(), "another account has its own bucket");
        let off = Limits::new(&config(0, 0, 0));
        for _ in 0..10_000 {
            assert!(off.admit("a").is_ok());
        }
    }

    #[test]
    fn in_flight_slots_come_back_when_requests_end() {
        let l = Limits::new(&config(0, 0, 2));
        let a = l.admit("a").expect("1");
        let _b = l.admit("a").expect("2");
        assert_eq!(l.admit("a").expect_err("full"), Refusal::InFlight);
        assert!(l.admit("b").is_ok(), "per account");
        drop(a);
        assert!(l.admit("a").is_ok());
        assert_eq!(l.refused.get("in_flight"), 1);
    }

    #[test]
    fn failed_authentication_throttles_one_address_of_one_account() {
        let l = Limits::new(&Config { auth_failure_limit: 3, ..Config::default() });
        let ip: IpAddr = "127.0.0.1".parse().expect("ip");
        let other: IpAddr = "::1".parse().expect("ip");
        for _ in 0..3 {
            assert!(l.throttled("acme", Some(ip)).is_none());
            l.failed("acme", Some(ip));
        }
        assert!(matches!(l.throttled("acme", Some(ip)), Some(Refusal::AuthFailures(_))));
        assert!(l.throttled("acme", Some(other)).is_none(), "another address");
        assert!(l.throttled("globex", Some(ip)).is_none(), "another account");
    }
}
