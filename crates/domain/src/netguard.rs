//! Which network addresses scimgate may fetch from (docs/jwt-auth.md item 11): the SSRF guard's
//! address classifier and the operator's allow-list. Pure functions, no I/O: the JWKS
//! fetcher checks each resolved address at connect time, and the Settings API checks literal
//! IPs in a JWKS URL at write time.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use ipnet::IpNet;

/// Why an address is not public, or `None` when it is a public unicast address.
pub fn non_public_reason(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_reason(v4),
        IpAddr::V6(v6) => v6_reason(v6),
    }
}

/// Whether an address is a public unicast address.
pub fn is_public(ip: IpAddr) -> bool {
    non_public_reason(ip).is_none()
}

fn v4_reason(ip: Ipv4Addr) -> Option<&'static str> {
    const RANGES: &[([u8; 4], u8, &str)] = &[
        ([0, 0, 0, 0], 8, "\"this network\" (0.0.0.0/8)"),
        ([10, 0, 0, 0], 8, "private (10.0.0.0/8)"),
        ([100, 64, 0, 0], 10, "carrier-grade NAT (100.64.0.0/10)"),
        ([127, 0, 0, 0], 8, "loopback (127.0.0.0/8)"),
        ([169, 254, 0, 0], 16, "link-local (169.254.0.0/16)"),
        ([172, 16, 0, 0], 12, "private (172.16.0.0/12)"),
        ([192, 0, 0, 0], 24, "IETF protocol assignments (192.0.0.0/24)"),
        ([192, 0, 2, 0], 24, "documentation (192.0.2.0/24)"),
        ([192, 88, 99, 0], 24, "6to4 relay anycast (192.88.99.0/24)"),
        ([192, 168, 0, 0], 16, "private (192.168.0.0/16)"),
        ([198, 18, 0, 0], 15, "benchmarking (198.18.0.0/15)"),
        ([198, 51, 100, 0], 24, "documentation (198.51.100.0/24)"),
        ([203, 0, 113, 0], 24, "documentation (203.0.113.0/24)"),
        ([224, 0, 0, 0], 4, "multicast (224.0.0.0/4)"),
        ([240, 0, 0, 0], 4, "reserved (240.0.0.0/4)"),
    ];
    let n = u32::from(ip);
    RANGES.iter().find_map(|(base, len, why)| {
        let mask = if *len == 0 { 0 } else { u32::MAX << (32 - u32::from(*len)) };
        (n & mask == u32::from(Ipv4Addr::from(*base)) & mask).then_some(*why)
    })
}

fn v6_reason(ip: Ipv6Addr) -> Option<&'static str> {
    let seg = ip.segments();
    // Forms that carry an IPv4 address are judged as that address.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return v4_reason(v4);
    }
    if seg[..6] == [0, 0, 0, 0, 0, 0] && !ip.is_unspecified() && !ip.is_loopback() {
        // IPv4-compatible ::a.b.c.d (deprecated).
        return v4_reason(Ipv4Addr::new(
            (seg[6] >> 8) as u8,
            seg[6] as u8,
            (seg[7] >> 8) as u8,
            seg[7] as u8,
        ));
    }
    if seg[..6] == [0, 0, 0, 0, 0xffff, 0] {
        // IPv4-translated ::ffff:0:a.b.c.d (RFC 2765).
        return v4_reason(Ipv4Addr::new(
            (seg[6] >> 8) as u8,
            seg[6] as u8,
            (seg[7] >> 8) as u8,
            seg[7] as u8,
        ));
    }
    if seg[0] == 0x64 && seg[1] == 0xff9b && seg[2..6] == [0, 0, 0, 0] {
        // NAT64 well-known prefix 64:ff9b::/96.
        return v4_reason(Ipv4Addr::new(
            (seg[6] >> 8) as u8,
            seg[6] as u8,
            (seg[7] >> 8) as u8,
            seg[7] as u8,
        ));
    }
    if seg[0] == 0x2002 {
        // 6to4 2002:a.b.c.d::/48.
        return v4_reason(Ipv4Addr::new(
            (seg[1] >> 8) as u8,
            seg[1] as u8,
            (seg[2] >> 8) as u8,
            seg[2] as u8,
        ));
    }
    if ip.is_unspecified() {
        return Some("unspecified (::)");
    }
    if ip.is_loopback() {
        return Some("loopback (::1)");
    }
    const RANGES: &[(&str, &str)] = &[
        ("64:ff9b:1::/48", "local-use NAT64 (64:ff9b:1::/48)"),
        ("100::/64", "discard-only (100::/64)"),
        ("2001::/32", "Teredo (2001::/32)"),
        ("2001:2::/48", "benchmarking (2001:2::/48)"),
        ("2001:db8::/32", "documentation (2001:db8::/32)"),
        ("2001:10::/28", "ORCHID (2001:10::/28)"),
        ("2001:20::/28", "ORCHIDv2 (2001:20::/28)"),
        ("3fff::/20", "documentation (3fff::/20)"),
        ("fc00::/7", "unique local (fc00::/7)"),
        ("fe80::/10", "link-local (fe80::/10)"),
        ("fec0::/10", "site-local (fec0::/10)"),
        ("ff00::/8", "multicast (ff00::/8)"),
    ];
    RANGES.iter().find_map(|(net, why)| {
        IpNet::from_str(net).ok().filter(|n| n.contains(&IpAddr::V6(ip))).map(|_| *why)
    })
}

/// The operator's allow-list for non-public JWKS hosts (`--jwks-allow-hosts`): `loopback`
/// and/or CIDRs. Empty by default: only public addresses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    nets: Vec<IpNet>,
}

impl AllowList {
    /// Parses a comma-separated list of `loopback` and CIDRs (or single addresses).
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut nets = Vec::new();
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            if item.eq_ignore_ascii_case("loopback") {
                nets.push(IpNet::from_str("127.0.0.0/8").map_err(|e| e.to_string())?);
                nets.push(IpNet::from_str("::1/128").map_err(|e| e.to_string())?);
                continue;
            }
            let net = IpNet::from_str(item)
                .or_else(|_| IpAddr::from_str(item).map(IpNet::from))
                .map_err(|_| format!("'{item}' is neither 'loopback' nor a CIDR such as 10.0.0.0/8"))?;
            nets.push(net);
        }
        Ok(Self { nets })
    }
    /// Whether nothing is allowed beyond public addresses.
    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }
    /// Whether the operator allowed this (non-public) address.
    pub fn allows(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.nets.iter().any(|n| n.contains(&ip))
    }
    /// Whether scimgate may connect to `ip`: public, or allowed by the operator.
    pub fn permits(&self, ip: IpAddr) -> Result<(), &'static str> {
        match non_public_reason(ip) {
            None => Ok(()),
            Some(_) if self.allows(ip) => Ok(()),
            Some(why) => Err(why),
        }
    }
}

/// Whether a host name is `localhost` or under `.localhost` (RFC 6761 §6.3), in any case
/// and with or without the root's trailing dot. The URL parser has already percent-decoded
/// and lower-cased it; the check does not rely on that.
pub fn is_localhost_name(host: &str) -> bool {
    let h = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    h == "localhost" || h.ends_with(".localhost")
}

/// IPv4-mapped IPv6 addresses as IPv4, so allow-list CIDRs match either form.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// The policy for JWKS URLs: scheme and literal-address checks done when the URL is
/// written (docs/contract.md §4); host names are checked on each connection by the fetcher.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JwksUrlPolicy {
    /// `--jwks-allow-http`.
    pub allow_http: bool,
    /// `--jwks-allow-hosts`.
    pub allow_hosts: AllowList,
    /// `--jwt-require-issuer-audience`: no token is accepted for an account until both
    /// `scim_jwt_token_issuer` and `scim_jwt_token_audience` are set (the Settings API warns).
    pub require_issuer_audience: bool,
}

impl JwksUrlPolicy {
    /// Checks a JWKS URL; the error says what to fix.
    pub fn check(&self, raw: &str) -> Result<url::Url, String> {
        check_url(raw, "JWKS URL", "jwks", self.allow_http, &self.allow_hosts)
    }
}

/// The policy for webhook URLs (docs/events.md "Where events may go"): the same rules as JWKS
/// URLs, with their own options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebhookUrlPolicy {
    /// `--webhook-allow-http`.
    pub allow_http: bool,
    /// `--webhook-allow-hosts`.
    pub allow_hosts: AllowList,
}

impl WebhookUrlPolicy {
    /// Checks a webhook URL; the error says what to fix.
    pub fn check(&self, raw: &str) -> Result<url::Url, String> {
        check_url(raw, "webhook URL", "webhook", self.allow_http, &self.allow_hosts)
    }
}

/// Checks a URL the server will fetch when it is written: `what` names it in messages, `flag`
/// is the prefix of its options (`--{flag}-allow-http`, `--{flag}-allow-hosts`). Host names
/// are checked again on each connection by the fetcher.
pub fn check_url(
    raw: &str,
    what: &str,
    flag: &str,
    allow_http: bool,
    allow_hosts: &AllowList,
) -> Result<url::Url, String> {
    let raw = raw.trim();
    if raw.len() > 2048 {
        return Err(format!("the {what} is longer than 2048 characters"));
    }
    let url = url::Url::parse(raw).map_err(|e| format!("'{raw}' is not an absolute URL ({e})"))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_http => {}
        "http" => {
            return Err(format!(
                "the {what} must use https (http is allowed only when the server runs with --{flag}-allow-http true)"
            ));
        }
        s => return Err(format!("the {what} must use https, not '{s}'")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("the {what} must not contain a user name or password"));
    }
    if url.fragment().is_some() {
        return Err(format!("the {what} must not contain a fragment (#...)"));
    }
    let ip = match url.host() {
        Some(url::Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
        Some(url::Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
        Some(url::Host::Domain("")) => return Err(format!("the {what} has no host")),
        // `localhost` and `*.localhost` always resolve to loopback (RFC 6761 §6.3): refused
        // when written, not only at fetch time, unless the allow-list admits loopback.
        Some(url::Host::Domain(d)) if is_localhost_name(d) => {
            if allow_hosts.allows(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)) {
                None
            } else {
                return Err(format!(
                    "the {what}'s host '{d}' is a loopback name (RFC 6761); only public hosts are \
                     allowed unless the server runs with --{flag}-allow-hosts loopback"
                ));
            }
        }
        Some(url::Host::Domain(_)) => None,
        None => return Err(format!("the {what} has no host")),
    };
    if let Some(ip) = ip {
        allow_hosts.permits(ip).map_err(|why| {
            format!(
                "the {what} points at a {why} address; only public addresses are allowed unless the server \
                 runs with --{flag}-allow-hosts"
            )
        })?;
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        IpAddr::from_str(s).expect("ip")
    }

    #[test]
    fn classifier_table() {
        let non_public = [
            "0.0.0.0",
            "0.1.2.3",
            "10.1.2.3",
            "100.64.0.1",
            "100.127.255.254",
            "127.0.0.1",
            "127.255.255.255",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "192.88.99.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:0:127.0.0.1",
            "::ffff:0:10.1.2.3",
            "::127.0.0.1",
            "64:ff9b::10.0.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b:1::1",
            "2002:7f00:1::1",
            "2002:c0a8:101::1",
            "100::1",
            "2001::1",
            "2001:2::1",
            "2001:db8::1",
            "3fff::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
        ];
        for s in non_public {
            assert!(!is_public(ip(s)), "{s} must not be public");
        }
        let public = [
            "1.1.1.1",
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.1.1",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
            "2606:4700:4700::1111",
            "2a00:1450:4001::1",
        ];
        for s in public {
            assert!(is_public(ip(s)), "{s} must be public");
        }
    }

    #[test]
    fn allow_list() {
        let a = AllowList::parse("loopback, 10.0.0.0/8,fd00::/8").expect("parse");
        assert!(a.permits(ip("127.0.0.1")).is_ok());
        assert!(a.permits(ip("::1")).is_ok());
        assert!(a.permits(ip("::ffff:127.0.0.1")).is_ok());
        assert!(a.permits(ip("10.9.8.7")).is_ok());
        assert!(a.permits(ip("fd00::5")).is_ok());
        assert!(a.permits(ip("192.168.0.1")).is_err());
        assert!(a.permits(ip("169.254.169.254")).is_err());
        assert!(a.permits(ip("8.8.8.8")).is_ok());
        assert!(AllowList::parse("").expect("empty").is_empty());
        assert!(AllowList::parse("nonsense").is_err());
        assert!(AllowList::parse("10.0.0.1").expect("single").allows(ip("10.0.0.1")));
    }

    #[test]
    fn jwks_url_policy() {
        let strict = JwksUrlPolicy::default();
        assert!(strict.check("https://login.example.com/keys").is_ok());
        assert!(strict.check("https://8.8.8.8/keys").is_ok());
        for bad in [
            "http://login.example.com/keys",
            "ftp://example.com/keys",
            "/relative/keys",
            "not a url",
            "https://user:pw@example.com/keys",
            "https://user@example.com/keys",
            "https://127.0.0.1/keys",
            "https://[::1]/keys",
            "https://[::ffff:10.0.0.1]/keys",
            "https://169.254.169.254/latest",
            "https://10.0.0.1/keys",
            "https://example.com/keys#frag",
            "file:///etc/passwd",
        ] {
            assert!(strict.check(bad).is_err(), "{bad}");
        }
        let open = JwksUrlPolicy {
            allow_http: true,
            allow_hosts: AllowList::parse("loopback").expect("p"),
            ..Default::default()
        };
        assert!(open.check("http://127.0.0.1:8443/jwks.json").is_ok());
        assert!(open.check("https://[::1]:8443/jwks.json").is_ok());
        assert!(open.check("http://10.0.0.1/keys").is_err());
    }

    /// Security review item 15: loopback names are refused when written.
    #[test]
    fn localhost_names_are_refused_when_written() {
        let strict = JwksUrlPolicy::default();
        for bad in [
            "https://localhost/keys",
            "https://localhost./keys",
            "https://LOCALHOST/keys",
            "https://%6c%6fcalhost/keys",
            "https://LocalHost:8443/keys",
            "https://idp.localhost/keys",
            "https://a.b.LOCALHOST./keys",
        ] {
            let e = strict.check(bad).expect_err(bad);
            assert!(e.contains("loopback name"), "{bad}: {e}");
        }
        // Names that merely contain the word are public names.
        for ok in
            ["https://localhost.example.com/keys", "https://mylocalhost/keys", "https://localhostx/keys"]
        {
            assert!(strict.check(ok).is_ok(), "{ok}");
        }
        let open = JwksUrlPolicy {
            allow_http: true,
            allow_hosts: AllowList::parse("loopback").expect("p"),
            ..Default::default()
        };
        assert!(open.check("http://localhost:8765/jwks.json").is_ok());
        let private_only =
            JwksUrlPolicy { allow_hosts: AllowList::parse("10.0.0.0/8").expect("p"), ..Default::default() };
        assert!(private_only.check("https://localhost/keys").is_err());
    }
}
