//! Console sessions (docs/console.md "Sessions"): a random id in a cookie, kept on the
//! server with the API token it was opened with, so every request re-authenticates that
//! token (cached like any token) and a revoked, expired or rotated-out token ends the session
//! at once. Idle and absolute timeouts on the server's clock; a CSRF token per session;
//! failed sign-ins slowed per client address.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use moka::sync::Cache;
use scimgate_domain::Clock;
use subtle::ConstantTimeEq;
use time::{Duration, OffsetDateTime};

/// The session cookie's name.
pub const COOKIE: &str = "scimgate_session";
/// Failed sign-ins from one address within a minute before each further attempt waits.
pub const FREE_FAILURES: u32 = 5;
/// The most sessions one node keeps.
const MAX_SESSIONS: u64 = 100_000;

/// One signed-in browser.
#[derive(Debug, Clone)]
pub struct Session {
    /// The account signed in to.
    pub account: String,
    /// The API token the session was opened with (kept in memory only, never sent back).
    pub token: String,
    /// The form token.
    pub csrf: String,
    /// When it was opened.
    pub opened: OffsetDateTime,
    /// Its last request.
    pub seen: OffsetDateTime,
    /// A new secret to show once on the next page (label, secret): set by the POST that made
    /// it, taken by the page it redirects to, so a reload shows it no more and re-sends
    /// nothing.
    pub once: Option<(String, String)>,
}

/// The sessions of this node.
pub struct Sessions {
    clock: Arc<dyn Clock>,
    idle: Duration,
    absolute: Duration,
    by_id: Cache<String, Session>,
    failures: Cache<IpAddr, (u32, OffsetDateTime)>,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions").field("idle", &self.idle).field("absolute", &self.absolute).finish()
    }
}

/// A random, URL-safe identifier of 256 bits.
pub fn random_id() -> String {
    let mut b = [0u8; 32];
    // Without randomness no session can be opened safely: an empty id is never accepted.
    if getrandom::fill(&mut b).is_err() {
        return String::new();
    }
    URL_SAFE_NO_PAD.encode(b)
}

impl Sessions {
    /// Sessions with the configured timeouts.
    pub fn new(clock: Arc<dyn Clock>, idle: StdDuration, absolute: StdDuration) -> Self {
        Self {
            clock,
            idle: Duration::try_from(idle).unwrap_or(Duration::minutes(30)),
            absolute: Duration::try_from(absolute).unwrap_or(Duration::hours(12)),
            by_id: Cache::builder().max_capacity(MAX_SESSIONS).build(),
            failures: Cache::builder()
                .max_capacity(100_000)
                .time_to_idle(StdDuration::from_secs(120))
                .build(),
        }
    }

    /// Opens a session for a verified token; the id for the cookie.
    pub fn open(&self, account: &str, token: &str) -> Option<(String, Session)> {
        let id = random_id();
        let csrf = random_id();
        if id.is_empty() || csrf.is_empty() {
            return None;
        }
        let now = self.clock.now();
        let s = Session {
            account: account.into(),
            token: token.into(),
            csrf,
            opened: now,
            seen: now,
            once: None,
        };
        self.by_id.insert(id.clone(), s.clone());
        Some((id, s))
    }

    /// The live session with that id (its idle clock restarted), or `None` (unknown, idle
    /// too long, or older than the absolute timeout: then it is gone).
    pub fn touch(&self, id: &str) -> Option<Session> {
        if id.is_empty() {
            return None;
        }
        let mut s = self.by_id.get(id)?;
        let now = self.clock.now();
        if now - s.seen > self.idle || now - s.opened > self.absolute {
            self.by_id.invalidate(id);
            return None;
        }
        s.seen = now;
        self.by_id.insert(id.to_string(), s.clone());
        Some(s)
    }

    /// Keeps a secret to show once on the session's next page.
    pub fn show_once(&self, id: &str, label: &str, secret: &str) {
        if let Some(mut s) = self.by_id.get(id) {
            s.once = Some((label.to_string(), secret.to_string()));
            self.by_id.insert(id.to_string(), s);
        }
    }

    /// Takes the secret to show once, if any.
    pub fn take_once(&self, id: &str) -> Option<(String, String)> {
        let mut s = self.by_id.get(id)?;
        let once = s.once.take()?;
        self.by_id.insert(id.to_string(), s);
        Some(once)
    }

    /// Ends a session.
    pub fn close(&self, id: &str) {
        self.by_id.invalidate(id);
    }

    /// Whether a form's CSRF token is the session's (constant time).
    pub fn csrf_ok(session: &Session, sent: Option<&str>) -> bool {
        sent.is_some_and(|t| !t.is_empty() && bool::from(t.as_bytes().ct_eq(session.csrf.as_bytes())))
    }

    /// How long a sign-in from `ip` must wait now: nothing for the first few failures of a
    /// minute, then one more second per failure, up to 10 s.
    pub fn login_delay(&self, ip: Option<IpAddr>) -> StdDuration {
        let Some(ip) = ip else { return StdDuration::ZERO };
        match self.failures.get(&ip) {
            Some((n, since)) if self.clock.now() - since < Duration::minutes(1) && n >= FREE_FAILURES => {
                StdDuration::from_secs(u64::from(n - FREE_FAILURES + 1).min(10))
            }
            _ => StdDuration::ZERO,
        }
    }

    /// Counts a failed sign-in from `ip`.
    pub fn login_failed(&self, ip: Option<IpAddr>) {
        let Some(ip) = ip else { return };
        let now = self.clock.now();
        let next = match self.failures.get(&ip) {
            Some((n, since)) if now - since < Duration::minutes(1) => (n.saturating_add(1), since),
            _ => (1, now),
        };
        self.failures.insert(ip, next);
    }

    /// Forgets the failures of `ip` after a successful sign-in.
    pub fn login_succeeded(&self, ip: Option<IpAddr>) {
        if let Some(ip) = ip {
            self.failures.invalidate(&ip);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use scimgate_domain::ManualClock;

    #[test]
    fn idle_and_absolute_timeouts_and_csrf() {
        let clock = Arc::new(ManualClock::new(OffsetDateTime::UNIX_EPOCH + Duration::days(20_000)));
        let s = Sessions::new(clock.clone(), StdDuration::from_secs(1800), StdDuration::from_secs(12 * 3600));
        let (id, session) = s.open("acme", "pat.acme.x.y").expect("open");
        assert_eq!(id.len(), 43);
        assert!(Sessions::csrf_ok(&session, Some(&session.csrf)));
        assert!(!Sessions::csrf_ok(&session, Some("nope")));
        assert!(!Sessions::csrf_ok(&session, None));
        // Idle: each request restarts the idle clock (20 × 29 min, under the absolute 12 h).
        for _ in 0..20 {
            clock.advance(Duration::minutes(29));
            assert!(s.touch(&id).is_some());
        }
        // Absolute: 12 h after sign-in, however active.
        let (old, _) = s.open("acme", "t").expect("open");
        for _ in 0..24 {
            clock.advance(Duration::minutes(29));
            assert!(s.touch(&old).is_some());
        }
        clock.advance(Duration::minutes(29));
        assert!(s.touch(&old).is_none(), "12 h 5 min after sign-in");
        assert!(s.touch(&old).is_none(), "gone");
        // Idle too long.
        let (idle, _) = s.open("acme", "t").expect("open");
        clock.advance(Duration::minutes(31));
        assert!(s.touch(&idle).is_none());
        assert!(s.touch("").is_none());
    }

    #[test]
    fn failed_sign_ins_are_slowed_per_address() {
        let clock = Arc::new(ManualClock::new(OffsetDateTime::UNIX_EPOCH + Duration::days(20_000)));
        let s = Sessions::new(clock.clone(), StdDuration::from_secs(1800), StdDuration::from_secs(3600));
        let ip: IpAddr = "127.0.0.1".parse().expect("ip");
        let other: IpAddr = "::1".parse().expect("ip");
        for _ in 0..FREE_FAILURES {
            assert_eq!(s.login_delay(Some(ip)), StdDuration::ZERO);
            s.login_failed(Some(ip));
        }
        assert_eq!(s.login_delay(Some(ip)), StdDuration::from_secs(1));
        s.login_failed(Some(ip));
        assert_eq!(s.login_delay(Some(ip)), StdDuration::from_secs(2));
        assert_eq!(s.login_delay(Some(other)), StdDuration::ZERO, "per address");
        clock.advance(Duration::minutes(2));
        assert_eq!(s.login_delay(Some(ip)), StdDuration::ZERO, "a minute later");
    }
}
