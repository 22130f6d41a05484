//! Server configuration: one typed struct, layered defaults → TOML file → environment →
//! flags (docs/contract.md §1). Unknown file keys are rejected.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use serde::Deserialize;

/// `scimgate serve` options. Every flag is also `SCIMGATE_<NAME>` and a key of `--config`.
#[derive(Debug, Clone, Args, Default)]
pub struct ServeArgs {
    /// TOML file with any of the keys below (snake_case, e.g. `listen = "0.0.0.0:8080"`).
    #[arg(long, env = "SCIMGATE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "SCIMGATE_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Database URL [default: sqlite://scimgate.db?mode=rwc].
    #[arg(long, env = "SCIMGATE_DATABASE")]
    pub database: Option<String>,
    /// How long settings are cached, e.g. `120s`, `2m` [default: 120s].
    #[arg(long, env = "SCIMGATE_SETTINGS_CACHE_TTL")]
    pub settings_cache_ttl: Option<String>,
    /// Non-public JWKS hosts to allow: `loopback` or CIDRs, comma-separated [default: none].
    #[arg(long, env = "SCIMGATE_JWKS_ALLOW_HOSTS")]
    pub jwks_allow_hosts: Option<String>,
    /// Allow `http://` JWKS URLs [default: false]. A bare switch means true.
    #[arg(long, env = "SCIMGATE_JWKS_ALLOW_HTTP", num_args = 0..=1, default_missing_value = "true", require_equals = false)]
    pub jwks_allow_http: Option<bool>,
    /// Non-public webhook hosts to allow: `loopback` or CIDRs, comma-separated [default: none].
    #[arg(long, env = "SCIMGATE_WEBHOOK_ALLOW_HOSTS")]
    pub webhook_allow_hosts: Option<String>,
    /// Allow `http://` webhook URLs [default: false]. A bare switch means true.
    #[arg(long, env = "SCIMGATE_WEBHOOK_ALLOW_HTTP", num_args = 0..=1, default_missing_value = "true", require_equals = false)]
    pub webhook_allow_http: Option<bool>,
    /// Total timeout of one JWKS download, e.g. `5s` [default: 5s].
    #[arg(long, env = "SCIMGATE_JWKS_TIMEOUT")]
    pub jwks_timeout: Option<String>,
    /// PEM bundle of extra CA certificates trusted for JWKS downloads (private CAs).
    #[arg(long, env = "SCIMGATE_JWKS_CA_FILE")]
    pub jwks_ca_file: Option<PathBuf>,
    /// Most database connections this node opens [default: 8].
    #[arg(long, env = "SCIMGATE_DB_MAX_CONNECTIONS")]
    pub db_max_connections: Option<u32>,
    /// How long a request waits for a free database connection, e.g. `5s` [default: 5s].
    #[arg(long, env = "SCIMGATE_DB_ACQUIRE_TIMEOUT")]
    pub db_acquire_timeout: Option<String>,
    /// Do not create the `default` account on an empty database. A bare switch means true.
    #[arg(long, env = "SCIMGATE_NO_BOOTSTRAP", num_args = 0..=1, default_missing_value = "true", require_equals = false)]
    pub no_bootstrap: Option<bool>,
    /// Largest accepted request body in bytes [default: 1048576].
    #[arg(long, env = "SCIMGATE_MAX_BODY_BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Refuse every JWT of an account until its issuer and audience settings are both set
    /// [default: false]. A bare switch means true.
    #[arg(long, env = "SCIMGATE_JWT_REQUIRE_ISSUER_AUDIENCE", num_args = 0..=1, default_missing_value = "true", require_equals = false)]
    pub jwt_require_issuer_audience: Option<bool>,
    /// Serve `/metrics` on this address instead of the main listener [default: the main
    /// listener, loopback peers only].
    #[arg(long, env = "SCIMGATE_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// The URL clients reach this server at, e.g. `https://scim.example.com`; used for
    /// `Location` and `meta.location` [default: none: from the request's Host].
    #[arg(long, env = "SCIMGATE_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Trust `X-Forwarded-For`/`-Proto`/`-Host` from a proxy in front [default: false]. A bare
    /// switch means true.
    #[arg(long, env = "SCIMGATE_TRUST_FORWARDED_FOR", num_args = 0..=1, default_missing_value = "true", require_equals = false)]
    pub trust_forwarded_for: Option<bool>,
    /// Longest a database statement may run, e.g. `10s` [default: 10s].
    #[arg(long, env = "SCIMGATE_DB_STATEMENT_TIMEOUT")]
    pub db_statement_timeout: Option<String>,
    /// Requests per second each account may make on this node; 0 turns the limit off
    /// [default: 1000].
    #[arg(long, env = "SCIMGATE_ACCOUNT_RATE_LIMIT")]
    pub account_rate_limit: Option<u32>,
    /// Requests an account may make at once above its rate [default: 2000].
    #[arg(long, env = "SCIMGATE_ACCOUNT_RATE_BURST")]
    pub account_rate_burst: Option<u32>,
    /// Requests of one account running at once on this node; 0 turns the limit off [default: 32].
    #[arg(long, env = "SCIMGATE_ACCOUNT_MAX_IN_FLIGHT")]
    pub account_max_in_flight: Option<usize>,
    /// Longest a request may take before it is stopped with 504, e.g. `30s` [default: 30s].
    #[arg(long, env = "SCIMGATE_REQUEST_TIMEOUT")]
    pub request_timeout: Option<String>,
    /// Failed authentications a minute from one address on one account before that address
    /// must present a credential already known to be good; 0 turns it off [default: 100].
    #[arg(long, env = "SCIMGATE_AUTH_FAILURE_LIMIT")]
    pub auth_failure_limit: Option<u32>,
    /// Log lines as `pretty` text or one JSON object each (`json`) [default: pretty].
    #[arg(long, env = "SCIMGATE_LOG_FORMAT")]
    pub log_format: Option<String>,
    /// How long audit entries are kept, e.g. `400d` [default: 400d].
    #[arg(long, env = "SCIMGATE_AUDIT_RETENTION")]
    pub audit_retention: Option<String>,
    /// How long the SCIM request log keeps a request, e.g. `7d`; `0` turns the request log
    /// off [default: 7d].
    #[arg(long, env = "SCIMGATE_REQUEST_LOG_RETENTION")]
    pub request_log_retention: Option<String>,
    /// How long change events are kept for the events feed and webhooks, e.g. `30d`
    /// [default: 30d].
    #[arg(long, env = "SCIMGATE_EVENT_RETENTION")]
    pub event_retention: Option<String>,
    /// A console session ends after this long without a request, e.g. `30m` [default: 30m].
    #[arg(long, env = "SCIMGATE_CONSOLE_IDLE_TIMEOUT")]
    pub console_idle_timeout: Option<String>,
    /// A console session ends this long after sign-in, however active, e.g. `12h` [default: 12h].
    #[arg(long, env = "SCIMGATE_CONSOLE_ABSOLUTE_TIMEOUT")]
    pub console_absolute_timeout: Option<String>,
}

/// The keys of the TOML file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    database: Option<String>,
    settings_cache_ttl: Option<String>,
    jwks_allow_hosts: Option<String>,
    jwks_allow_http: Option<bool>,
    webhook_allow_hosts: Option<String>,
    webhook_allow_http: Option<bool>,
    jwks_timeout: Option<String>,
    jwks_ca_file: Option<PathBuf>,
    db_max_connections: Option<u32>,
    db_acquire_timeout: Option<String>,
    no_bootstrap: Option<bool>,
    max_body_bytes: Option<usize>,
    jwt_require_issuer_audience: Option<bool>,
    metrics_listen: Option<SocketAddr>,
    public_url: Option<String>,
    trust_forwarded_for: Option<bool>,
    db_statement_timeout: Option<String>,
    console_idle_timeout: Option<String>,
    console_absolute_timeout: Option<String>,
    account_rate_limit: Option<u32>,
    account_rate_burst: Option<u32>,
    account_max_in_flight: Option<usize>,
    request_timeout: Option<String>,
    auth_failure_limit: Option<u32>,
    log_format: Option<String>,
    audit_retention: Option<String>,
    request_log_retention: Option<String>,
    event_retention: Option<String>,
}

/// The resolved configuration.
#[derive(Clone)]
pub struct Config {
    /// Listen address.
    pub listen: SocketAddr,
    /// Database URL (may hold a password: redacted in Debug).
    pub database: String,
    /// Settings cache lifetime.
    pub settings_cache_ttl: Duration,
    /// JWKS allow-list text.
    pub jwks_allow_hosts: String,
    /// Allow http JWKS URLs.
    pub jwks_allow_http: bool,
    /// `--webhook-allow-hosts`, as given (validated at load).
    pub webhook_allow_hosts: String,
    /// `--webhook-allow-http`.
    pub webhook_allow_http: bool,
    /// JWKS download timeout.
    pub jwks_timeout: Duration,
    /// Extra trusted CAs for JWKS downloads (PEM).
    pub jwks_ca_file: Option<PathBuf>,
    /// Database pool size.
    pub db_max_connections: u32,
    /// Wait for a pooled connection.
    pub db_acquire_timeout: Duration,
    /// Skip the first-start account.
    pub no_bootstrap: bool,
    /// Request body limit.
    pub max_body_bytes: usize,
    /// Issuer and audience are mandatory for every account's JWTs.
    pub jwt_require_issuer_audience: bool,
    /// A separate listener for `/metrics` (then the main listener does not serve it).
    pub metrics_listen: Option<SocketAddr>,
    /// The public base URL (scheme, host, optional port and path prefix), without a trailing
    /// slash.
    pub public_url: Option<url::Url>,
    /// Trust forwarded headers from a proxy.
    pub trust_forwarded_for: bool,
    /// Longest a database statement may run.
    pub db_statement_timeout: Duration,
    /// Console session idle timeout.
    pub console_idle_timeout: Duration,
    /// Console session absolute timeout.
    pub console_absolute_timeout: Duration,
    /// Requests per second per account (0: off).
    pub account_rate_limit: u32,
    /// Burst above the rate.
    pub account_rate_burst: u32,
    /// Requests in flight per account (0: off).
    pub account_max_in_flight: usize,
    /// Request time limit.
    pub request_timeout: Duration,
    /// Failed authentications a minute per (account, address) before the throttle (0: off).
    pub auth_failure_limit: u32,
    /// `json` for one JSON object per log line.
    pub log_json: bool,
    /// Audit entries older than this are pruned.
    pub audit_retention: Duration,
    /// Logged SCIM requests older than this are pruned (zero: the request log is off).
    pub request_log_retention: Duration,
    /// Change events older than this are pruned.
    pub event_retention: Duration,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("database", &redact_url(&self.database))
            .field("settings_cache_ttl", &self.settings_cache_ttl)
            .field("jwks_allow_hosts", &self.jwks_allow_hosts)
            .field("jwks_allow_http", &self.jwks_allow_http)
            .field("webhook_allow_hosts", &self.webhook_allow_hosts)
            .field("webhook_allow_http", &self.webhook_allow_http)
            .field("jwks_timeout", &self.jwks_timeout)
            .field("jwks_ca_file", &self.jwks_ca_file)
            .field("db_max_connections", &self.db_max_connections)
            .field("db_acquire_timeout", &self.db_acquire_timeout)
            .field("no_bootstrap", &self.no_bootstrap)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("jwt_require_issuer_audience", &self.jwt_require_issuer_audience)
            .field("metrics_listen", &self.metrics_listen)
            .field("public_url", &self.public_url.as_ref().map(url::Url::as_str))
            .field("trust_forwarded_for", &self.trust_forwarded_for)
            .field("db_statement_timeout", &self.db_statement_timeout)
            .field("console_idle_timeout", &self.console_idle_timeout)
            .field("console_absolute_timeout", &self.console_absolute_timeout)
            .field("account_rate_limit", &self.account_rate_limit)
            .field("account_rate_burst", &self.account_rate_burst)
            .field("account_max_in_flight", &self.account_max_in_flight)
            .field("request_timeout", &self.request_timeout)
            .field("audit_retention", &self.audit_retention)
            .field("request_log_retention", &self.request_log_retention)
            .field("event_retention", &self.event_retention)
            .field("auth_failure_limit", &self.auth_failure_limit)
            .field("log_json", &self.log_json)
            .finish()
    }
}

/// Default database URL.
pub const DEFAULT_DATABASE: &str = "sqlite://scimgate.db?mode=rwc";
/// Default body limit: 1 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database: DEFAULT_DATABASE.into(),
            settings_cache_ttl: Duration::from_secs(120),
            jwks_allow_hosts: String::new(),
            jwks_allow_http: false,
            webhook_allow_hosts: String::new(),
            webhook_allow_http: false,
            jwks_timeout: Duration::from_secs(5),
            jwks_ca_file: None,
            db_max_connections: 8,
            db_acquire_timeout: Duration::from_secs(5),
            no_bootstrap: false,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            jwt_require_issuer_audience: false,
            metrics_listen: None,
            public_url: None,
            trust_forwarded_for: false,
            db_statement_timeout: Duration::from_secs(10),
            console_idle_timeout: Duration::from_secs(30 * 60),
            console_absolute_timeout: Duration::from_secs(12 * 3600),
            account_rate_limit: 1000,
            account_rate_burst: 2000,
            account_max_in_flight: 32,
            request_timeout: Duration::from_secs(30),
            audit_retention: Duration::from_secs(400 * 86_400),
            request_log_retention: Duration::from_secs(7 * 86_400),
            event_retention: Duration::from_secs(30 * 86_400),
            auth_failure_limit: 100,
            log_json: false,
        }
    }
}

impl Config {
    /// Resolves flags/env (already merged by clap) over the optional file over defaults.
    pub fn resolve(args: &ServeArgs) -> Result<Self, String> {
        let file = match &args.config {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| format!("cannot read config file {}: {e}", p.display()))?;
                toml::from_str::<FileConfig>(&text)
                    .map_err(|e| format!("invalid config file {}: {e}", p.display()))?
            }
            None => FileConfig::default(),
        };
        let d = Config::default();
        let ttl_text = args.settings_cache_ttl.clone().or(file.settings_cache_ttl);
        let settings_cache_ttl = match ttl_text {
            Some(t) => parse_duration(&t)?,
            None => d.settings_cache_ttl,
        };
        let jwks_allow_hosts = args.jwks_allow_hosts.clone().or(file.jwks_allow_hosts).unwrap_or_default();
        scimgate_domain::netguard::AllowList::parse(&jwks_allow_hosts)
            .map_err(|e| format!("--jwks-allow-hosts: {e}"))?;
        let webhook_allow_hosts =
            args.webhook_allow_hosts.clone().or(file.webhook_allow_hosts).unwrap_or_default();
        scimgate_domain::netguard::AllowList::parse(&webhook_allow_hosts)
            .map_err(|e| format!("--webhook-allow-hosts: {e}"))?;
        Ok(Config {
            listen: args.listen.or(file.listen).unwrap_or(d.listen),
            database: args.database.clone().or(file.database).unwrap_or(d.database),
            settings_cache_ttl,
            jwks_allow_hosts,
            jwks_allow_http: args.jwks_allow_http.or(file.jwks_allow_http).unwrap_or(false),
            webhook_allow_hosts,
            webhook_allow_http: args.webhook_allow_http.or(file.webhook_allow_http).unwrap_or(false),
            jwks_timeout: match args.jwks_timeout.clone().or(file.jwks_timeout) {
                Some(t) => parse_duration(&t).map_err(|e| format!("--jwks-timeout: {e}"))?,
                None => d.jwks_timeout,
            },
            jwks_ca_file: args.jwks_ca_file.clone().or(file.jwks_ca_file),
            db_max_connections: match args.db_max_connections.or(file.db_max_connections) {
                Some(0) => return Err("--db-max-connections must be at least 1".into()),
                Some(n) => n,
                None => d.db_max_connections,
            },
            db_acquire_timeout: match args.db_acquire_timeout.clone().or(file.db_acquire_timeout) {
                Some(t) => parse_duration(&t).map_err(|e| format!("--db-acquire-timeout: {e}"))?,
                None => d.db_acquire_timeout,
            },
            no_bootstrap: args.no_bootstrap.or(file.no_bootstrap).unwrap_or(false),
            max_body_bytes: args.max_body_bytes.or(file.max_body_bytes).unwrap_or(d.max_body_bytes),
            jwt_require_issuer_audience: args
                .jwt_require_issuer_audience
                .or(file.jwt_require_issuer_audience)
                .unwrap_or(false),
            metrics_listen: args.metrics_listen.or(file.metrics_listen),
            public_url: match args.public_url.clone().or(file.public_url).filter(|u| !u.trim().is_empty()) {
                Some(u) => Some(parse_public_url(&u)?),
                None => None,
            },
            trust_forwarded_for: args.trust_forwarded_for.or(file.trust_forwarded_for).unwrap_or(false),
            db_statement_timeout: match args.db_statement_timeout.clone().or(file.db_statement_timeout) {
                Some(t) => match parse_duration(&t).map_err(|e| format!("--db-statement-timeout: {e}"))? {
                    z if z.is_zero() => return Err("--db-statement-timeout must be more than 0".into()),
                    t => t,
                },
                None => d.db_statement_timeout,
            },
            console_idle_timeout: match args.console_idle_timeout.clone().or(file.console_idle_timeout) {
                Some(t) => parse_duration(&t).map_err(|e| format!("--console-idle-timeout: {e}"))?,
                None => d.console_idle_timeout,
            },
            console_absolute_timeout: match args
                .console_absolute_timeout
                .clone()
                .or(file.console_absolute_timeout)
            {
                Some(t) => parse_duration(&t).map_err(|e| format!("--console-absolute-timeout: {e}"))?,
                None => d.console_absolute_timeout,
            },
            account_rate_limit: args
                .account_rate_limit
                .or(file.account_rate_limit)
                .unwrap_or(d.account_rate_limit),
            account_rate_burst: args
                .account_rate_burst
                .or(file.account_rate_burst)
                .unwrap_or(d.account_rate_burst),
            account_max_in_flight: args
                .account_max_in_flight
                .or(file.account_max_in_flight)
                .unwrap_or(d.account_max_in_flight),
            request_timeout: match args.request_timeout.clone().or(file.request_timeout) {
                Some(t) => match parse_duration(&t).map_err(|e| format!("--request-timeout: {e}"))? {
                    z if z.is_zero() => return Err("--request-timeout must be more than 0".into()),
                    t => t,
                },
                None => d.request_timeout,
            },
            audit_retention: match args.audit_retention.clone().or(file.audit_retention) {
                Some(t) => match parse_duration(&t).map_err(|e| format!("--audit-retention: {e}"))? {
                    z if z.is_zero() => return Err("--audit-retention must be more than 0".into()),
                    t => t,
                },
                None => d.audit_retention,
            },
            request_log_retention: match args.request_log_retention.clone().or(file.request_log_retention) {
                Some(t) => parse_duration(&t).map_err(|e| format!("--request-log-retention: {e}"))?,
                None => d.request_log_retention,
            },
            event_retention: match args.event_retention.clone().or(file.event_retention) {
                Some(t) => match parse_duration(&t).map_err(|e| format!("--event-retention: {e}"))? {
                    z if z.is_zero() => return Err("--event-retention must be more than 0".into()),
                    t => t,
                },
                None => d.event_retention,
            },
            auth_failure_limit: args
                .auth_failure_limit
                .or(file.auth_failure_limit)
                .unwrap_or(d.auth_failure_limit),
            log_json: match args.log_format.clone().or(file.log_format).as_deref().map(str::trim) {
                None | Some("pretty") => false,
                Some("json") => true,
                Some(other) => return Err(format!("--log-format must be json or pretty, not '{other}'")),
            },
        })
    }
}

/// Parses `--public-url`: an absolute http(s) URL without query, fragment or credentials;
/// a trailing slash is dropped.
pub fn parse_public_url(raw: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(raw.trim())
        .map_err(|e| format!("--public-url '{raw}' is not an absolute URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("--public-url must be an http or https URL, not '{}'", url.scheme()));
    }
    if url.query().is_some()
        || url.fragment().is_some()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return Err("--public-url must not carry a query, a fragment or credentials".into());
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("--public-url has no host".into());
    }
    let mut url = url;
    let trimmed = url.path().trim_end_matches('/').to_string();
    url.set_path(&trimmed);
    Ok(url)
}

/// Parses `120s`, `2m`, `1h`, `500ms` or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("invalid duration '{s}' (use e.g. 120s, 2m, 7d)"))?;
    match unit {
        "" | "s" => Ok(Duration::from_secs(n)),
        "ms" => Ok(Duration::from_millis(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        "h" => Ok(Duration::from_secs(n * 3600)),
        "d" => Ok(Duration::from_secs(n * 86_400)),
        _ => Err(format!("invalid duration unit in '{s}' (use ms, s, m, h or d)")),
    }
}

/// Hides a password in a URL for logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let creds = &url[scheme_end + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// The file beside a SQLite database where the first admin token is written.
pub fn admin_token_path(database: &str) -> Option<PathBuf> {
    let rest = database.strip_prefix("sqlite://").or_else(|| database.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    if path.is_empty() || path.contains(":memory:") {
        return None;
    }
    Some(PathBuf::from(format!("{path}.admin-token")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_redaction() {
        assert_eq!(parse_duration("120s"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("5"), Ok(Duration::from_secs(5)));
        assert!(parse_duration("x").is_err());
        assert_eq!(redact_url("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(
            admin_token_path("sqlite://data/x.db?mode=rwc"),
            Some(PathBuf::from("data/x.db.admin-token"))
        );
        assert_eq!(admin_token_path("sqlite::memory:"), None);
    }

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        serve: ServeArgs,
    }

    fn parse(args: &[&str]) -> ServeArgs {
        use clap::Parser;
        Cli::try_parse_from(std::iter::once("serve").chain(args.iter().copied())).expect("args").serve
    }

    /// Boolean options are bare switches, `true|false` also accepted (docs/contract.md §7);
    /// a flag beats the file, the file beats the default.
    #[test]
    fn switches_and_flag_over_file() {
        assert_eq!(parse(&["--no-bootstrap"]).no_bootstrap, Some(true));
        assert_eq!(parse(&["--no-bootstrap", "false"]).no_bootstrap, Some(false));
        assert_eq!(parse(&["--jwks-allow-http", "--no-bootstrap"]).jwks_allow_http, Some(true));
        assert_eq!(parse(&["--jwks-allow-http=false"]).jwks_allow_http, Some(false));
        assert_eq!(parse(&[]).no_bootstrap, None);
        let dir = tempfile::tempdir().expect("tmp");
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "max_body_bytes = 1000\nno_bootstrap = true\n").expect("write");
        let path = file.to_str().expect("utf-8");
        let from_file = Config::resolve(&parse(&["--config", path])).expect("file");
        assert_eq!((from_file.max_body_bytes, from_file.no_bootstrap), (1000, true));
        let flagged = Config::resolve(&parse(&[
            "--config",
            path,
            "--max-body-bytes",
            "3000",
            "--no-bootstrap",
            "false",
        ]))
        .expect("flags");
        assert_eq!((flagged.max_body_bytes, flagged.no_bootstrap), (3000, false));
    }

    /// `config.example.toml` documents every key and its default: it must parse, and what it
    /// says must be what `Config::default()` holds.
    #[test]
    fn example_file_is_true() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config.example.toml");
        let args = ServeArgs { config: Some(PathBuf::from(path)), ..ServeArgs::default() };
        let from_file = Config::resolve(&args).expect("config.example.toml parses");
        let d = Config::default();
        assert_eq!(from_file.listen, d.listen);
        assert_eq!(from_file.database, d.database);
        assert_eq!(from_file.settings_cache_ttl, d.settings_cache_ttl);
        assert_eq!(from_file.jwks_allow_hosts, d.jwks_allow_hosts);
        assert_eq!(from_file.jwks_allow_http, d.jwks_allow_http);
        assert_eq!(from_file.jwks_timeout, d.jwks_timeout);
        assert_eq!(from_file.jwks_ca_file, d.jwks_ca_file);
        assert_eq!(from_file.db_max_connections, d.db_max_connections);
        assert_eq!(from_file.db_acquire_timeout, d.db_acquire_timeout);
        assert_eq!(from_file.no_bootstrap, d.no_bootstrap);
        assert_eq!(from_file.max_body_bytes, d.max_body_bytes);
        assert_eq!(from_file.jwt_require_issuer_audience, d.jwt_require_issuer_audience);
        assert_eq!(from_file.metrics_listen, d.metrics_listen);
        assert_eq!(from_file.public_url, d.public_url);
        assert_eq!(from_file.trust_forwarded_for, d.trust_forwarded_for);
        assert_eq!(from_file.db_statement_timeout, d.db_statement_timeout);
        assert_eq!(from_file.console_idle_timeout, d.console_idle_timeout);
        assert_eq!(from_file.console_absolute_timeout, d.console_absolute_timeout);
        assert_eq!(from_file.account_rate_limit, d.account_rate_limit);
        assert_eq!(from_file.account_rate_burst, d.account_rate_burst);
        assert_eq!(from_file.account_max_in_flight, d.account_max_in_flight);
        assert_eq!(from_file.request_timeout, d.request_timeout);
        assert_eq!(from_file.auth_failure_limit, d.auth_failure_limit);
        assert_eq!(from_file.log_json, d.log_json);
    }

    #[test]
    fn public_url() {
        assert_eq!(
            parse_public_url("https://scim.example.com/").expect("ok").as_str(),
            "https://scim.example.com/"
        );
        assert_eq!(
            parse_public_url("https://x.example/base/").expect("ok").as_str(),
            "https://x.example/base"
        );
        for bad in ["ftp://x.example", "https://x.example/?a=1", "https://u:p@x.example", "x.example"] {
            assert!(parse_public_url(bad).is_err(), "{bad}");
        }
    }
}
