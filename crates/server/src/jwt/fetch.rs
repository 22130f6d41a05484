//! Downloading a JWKS (docs/jwt-auth.md items 10 and 11): HTTPS with certificate and host-name
//! verification, no redirects, no proxy from the environment, connect and total timeouts,
//! a body cap, status 200 only, and every address checked against the SSRF guard when the
//! connection is made (the resolver only hands out permitted addresses; literal IPs, which
//! skip the resolver, are checked before the request).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use scimgate_domain::netguard::AllowList;

use super::keys::KeySet;

/// The largest JWKS body accepted.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// Fetch limits and policy.
#[derive(Debug, Clone)]
pub struct FetchPolicy {
    /// Operator allow-list for non-public addresses.
    pub allow_hosts: AllowList,
    /// Whether `http://` is allowed.
    pub allow_http: bool,
    /// Total timeout per fetch.
    pub timeout: Duration,
    /// Extra trusted root certificates (PEM bundles), for private CAs and tests.
    pub extra_roots_pem: Vec<Vec<u8>>,
}

/// What a fetch brought.
#[derive(Debug)]
pub enum Fetched {
    /// 304: the cached set is still current.
    NotModified {
        /// `Cache-Control: max-age`, when sent.
        max_age: Option<Duration>,
    },
    /// 200 with a valid JWKS.
    Keys {
        /// The keys.
        set: KeySet,
        /// `ETag`, for revalidation.
        etag: Option<String>,
        /// `Cache-Control: max-age`, when sent.
        max_age: Option<Duration>,
    },
}

/// An address lookup: name → addresses. Production uses the system resolver; tests plug in
/// a fake one to show that rebinding to a private address is refused.
pub type Lookup = Arc<dyn Fn(String) -> Resolving + Send + Sync>;

/// The system resolver.
pub fn system_lookup() -> Lookup {
    Arc::new(|name: String| {
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    })
}

/// A resolver that answers 127.0.0.1 for every name: tests use it so that no JWKS download
/// can leave the machine, whatever URL a test writes into the settings.
pub fn loopback_lookup() -> Lookup {
    Arc::new(|_name: String| {
        Box::pin(async move {
            let addrs = vec![SocketAddr::from(([127, 0, 0, 1], 0))];
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    })
}

/// A resolver that only returns addresses the SSRF guard permits.
#[derive(Clone)]
pub struct GuardedResolver {
    allow: AllowList,
    lookup: Lookup,
}

impl GuardedResolver {
    /// Wraps a lookup.
    pub fn new(allow: AllowList, lookup: Lookup) -> Self {
        Self { allow, lookup }
    }

    /// Resolves and filters; an error when nothing permitted is left.
    pub async fn resolve_name(&self, name: String) -> Result<Vec<SocketAddr>, String> {
        let all: Vec<SocketAddr> =
            (self.lookup)(name.clone()).await.map_err(|e| format!("cannot resolve {name}: {e}"))?.collect();
        let mut refused = Vec::new();
        let ok: Vec<SocketAddr> = all
            .into_iter()
            .filter(|a| match self.allow.permits(a.ip()) {
                Ok(()) => true,
                Err(why) => {
                    refused.push(format!("{} ({why})", a.ip()));
                    false
                }
            })
            .collect();
        if ok.is_empty() {
            return Err(format!("{name} resolves to no permitted address; refused: {}", refused.join(", ")));
        }
        Ok(ok)
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let this = self.clone();
        let name = name.as_str().to_string();
        Box::pin(async move {
            let addrs = this
                .resolve_name(name)
                .await
                .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { e.into() })?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// The JWKS downloader.
#[derive(Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    policy: FetchPolicy,
}

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher").field("policy", &self.policy).finish_non_exhaustive()
    }
}

fn max_age(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let cc = headers.get(reqwest::header::CACHE_CONTROL)?.to_str().ok()?;
    cc.split(',').find_map(|d| {
        let d = d.trim();
        let v = d.strip_prefix("max-age=").or_else(|| d.strip_prefix("s-maxage="))?;
        v.trim_matches('"').parse::<u64>().ok().map(Duration::from_secs)
    })
}

impl Fetcher {
    /// Builds the HTTP client.
    pub fn new(policy: FetchPolicy, lookup: Lookup) -> Result<Self, String> {
        let mut roots = Vec::new();
        for pem in &policy.extra_roots_pem {
            roots.extend(
                reqwest::Certificate::from_pem_bundle(pem).map_err(|e| format!("bad CA bundle: {e}"))?,
            );
        }
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(policy.timeout.min(Duration::from_secs(3)))
            .timeout(policy.timeout)
            .https_only(!policy.allow_http)
            .user_agent(concat!("scimgate/", env!("CARGO_PKG_VERSION")))
            .dns_resolver(Arc::new(GuardedResolver::new(policy.allow_hosts.clone(), lookup)));
        if !roots.is_empty() {
            builder = builder.tls_certs_merge(roots);
        }
        let client = builder.build().map_err(|e| format!("cannot build the JWKS HTTP client: {e}"))?;
        Ok(Self { client, policy })
    }

    /// Fetches a JWKS; `etag` makes it a revalidation. Errors are for logs only.
    pub async fn fetch(&self, url: &url::Url, etag: Option<&str>) -> Result<Fetched, String> {
        match url.scheme() {
            "https" => {}
            "http" if self.policy.allow_http => {}
            s => return Err(format!("scheme {s} is not allowed")),
        }
        // Literal addresses never reach the resolver: check them here.
        let literal = match url.host() {
            Some(url::Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
            Some(url::Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
            _ => None,
        };
        if let Some(ip) = literal {
            self.policy.allow_hosts.permits(ip).map_err(|why| format!("address {ip} refused: {why}"))?;
        }
        let mut req = self.client.get(url.clone()).header(reqwest::header::ACCEPT, "application/json");
        if let Some(tag) = etag {
            req = req.header(reqwest::header::IF_NONE_MATCH, tag);
        }
        let mut res = req.send().await.map_err(|e| format!("request failed: {e}"))?;
        let status = res.status();
        if status == reqwest::StatusCode::NOT_MODIFIED && etag.is_some() {
            return Ok(Fetched::NotModified { max_age: max_age(res.headers()) });
        }
        if status.is_redirection() {
            return Err(format!("redirect ({status}) refused"));
        }
        if status != reqwest::StatusCode::OK {
            return Err(format!("status {status}"));
        }
        if res.content_length().is_some_and(|n| n > MAX_BODY_BYTES as u64) {
            return Err(format!("body larger than {MAX_BODY_BYTES} bytes"));
        }
        let new_etag =
            res.headers().get(reqwest::header::ETAG).and_then(|v| v.to_str().ok()).map(str::to_string);
        let age = max_age(res.headers());
        let mut body = Vec::new();
        while let Some(chunk) = res.chunk().await.map_err(|e| format!("reading the body failed: {e}"))? {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(format!("body larger than {MAX_BODY_BYTES} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        let set = KeySet::parse(&body)?;
        Ok(Fetched::Keys { set, etag: new_etag, max_age: age })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A resolver that answers with a public address first and a private one afterwards
    /// (DNS rebinding): the second answer is refused. No connection is ever made.
    #[tokio::test]
    async fn rebinding_to_a_private_address_is_refused() {
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        let lookup: Lookup = Arc::new(move |_name| {
            let n = c.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move {
                let ip: IpAddr =
                    if n == 0 { "93.184.216.34" } else { "169.254.169.254" }.parse().expect("ip");
                Ok(Box::new(vec![SocketAddr::new(ip, 443)].into_iter()) as Addrs)
            })
        });
        let r = GuardedResolver::new(AllowList::default(), lookup);
        let first = r.resolve_name("jwks.example.com".into()).await.expect("public");
        assert_eq!(first[0].ip().to_string(), "93.184.216.34");
        let second = r.resolve_name("jwks.example.com".into()).await.expect_err("rebinding refused");
        assert!(second.contains("169.254.169.254") && second.contains("link-local"), "{second}");
    }

    #[tokio::test]
    async fn mixed_answers_keep_only_permitted_addresses() {
        let lookup: Lookup = Arc::new(|_name| {
            Box::pin(async {
                let addrs: Vec<SocketAddr> =
                    ["10.0.0.1:0", "[::1]:0", "8.8.8.8:0", "[::ffff:192.168.0.1]:0", "[2606:4700::1]:0"]
                        .iter()
                        .map(|s| s.parse().expect("addr"))
                        .collect();
                Ok(Box::new(addrs.into_iter()) as Addrs)
            })
        });
        let r = GuardedResolver::new(AllowList::default(), lookup.clone());
        let got: Vec<String> =
            r.resolve_name("x".into()).await.expect("some").iter().map(|a| a.ip().to_string()).collect();
        assert_eq!(got, vec!["8.8.8.8", "2606:4700::1"]);
        let open = GuardedResolver::new(AllowList::parse("loopback").expect("p"), lookup);
        assert_eq!(open.resolve_name("x".into()).await.expect("some").len(), 3);
    }

    #[test]
    fn cache_control() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(reqwest::header::CACHE_CONTROL, "public, max-age=3600".parse().expect("h"));
        assert_eq!(max_age(&h), Some(Duration::from_secs(3600)));
        h.insert(reqwest::header::CACHE_CONTROL, "no-cache".parse().expect("h"));
        assert_eq!(max_age(&h), None);
    }
}
