//! Opening the store, first-start bootstrap, and serving with graceful shutdown.

use std::sync::Arc;

use scimgate_domain::access_service::{AccessService, ChangeHook};
use scimgate_domain::account_service::{CreatedAccount, create_account};
use scimgate_domain::auth_service::AuthService;
use scimgate_domain::netguard::{AllowList, JwksUrlPolicy};
use scimgate_domain::scim_service::ScimService;
use scimgate_domain::settings_service::{SettingsChange, SettingsHook, SettingsService, SettingsStores};

use crate::changes::ChangeFeed;
use crate::jwt::JwtAuthenticator;
use crate::jwt::cache::JwksCache;
use crate::jwt::fetch::{FetchPolicy, Fetcher, Lookup, system_lookup};
use scimgate_domain::access::Caller;
use scimgate_domain::store::ChangeKind;
use scimgate_domain::store::Store;
use scimgate_domain::{AccountId, Clock, DomainError, SystemClock};
use scimgate_store::{PgStore, SqliteStore, StoreOptions};

use crate::config::{Config, admin_token_path};
use crate::state::AppState;

/// Opens the database named by a URL with the default pool settings.
pub async fn open_store(url: &str) -> Result<Arc<dyn Store>, String> {
    let d = Config::default();
    open_store_with(url, d.db_max_connections, d.db_acquire_timeout).await
}

/// Opens (and migrates) the database named by a URL: `sqlite://…` or `postgres://…`, with
/// the default statement time limit.
pub async fn open_store_with(
    url: &str,
    max_connections: u32,
    acquire_timeout: std::time::Duration,
) -> Result<Arc<dyn Store>, String> {
    open_store_with_options(
        url,
        &StoreOptions { max_connections, acquire_timeout, ..StoreOptions::default() },
    )
    .await
}

/// The store options of a server configuration (pool size, acquire timeout, statement time
/// limit).
pub fn store_options(config: &Config) -> StoreOptions {
    StoreOptions {
        max_connections: config.db_max_connections,
        acquire_timeout: config.db_acquire_timeout,
        statement_timeout: Some(config.db_statement_timeout),
    }
}

/// [`open_store_with`] with every store option.
pub async fn open_store_with_options(url: &str, options: &StoreOptions) -> Result<Arc<dyn Store>, String> {
    if url.starts_with("sqlite:") {
        let s = SqliteStore::open_with_options(url, options).await.map_err(|e| e.to_string())?;
        Ok(Arc::new(s))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let s = PgStore::open_with_options(url, options).await.map_err(|e| e.to_string())?;
        Ok(Arc::new(s))
    } else {
        Err(format!(
            "unsupported database URL '{}': use sqlite://PATH?mode=rwc or postgres://USER@HOST/DB",
            crate::config::redact_url(url)
        ))
    }
}

/// Builds the application state over an open store.
pub fn build_state(store: Arc<dyn Store>, clock: Arc<dyn Clock>, config: Config) -> Result<AppState, String> {
    build_state_with_lookup(store, clock, config, system_lookup())
}

/// [`build_state`] with a chosen DNS lookup for JWKS downloads (tests use a fake one).
pub fn build_state_with_lookup(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    config: Config,
    lookup: Lookup,
) -> Result<AppState, String> {
    let auth = Arc::new(AuthService::new(store.clone(), clock.clone()));
    let (feed, feed_rx) = ChangeFeed::new();
    let hook_auth = auth.clone();
    let hook_feed = feed.clone();
    // Any change to who may do what drops the account's cached credentials and grants on
    // this node at once, and tells the other nodes through the change log.
    let on_change: ChangeHook = Arc::new(move |account| {
        hook_auth.invalidate(account);
        hook_feed.publish(account, ChangeKind::Access);
    });
    let allow_hosts =
        AllowList::parse(&config.jwks_allow_hosts).map_err(|e| format!("--jwks-allow-hosts: {e}"))?;
    let policy = JwksUrlPolicy {
        allow_http: config.jwks_allow_http,
        allow_hosts: allow_hosts.clone(),
        require_issuer_audience: config.jwt_require_issuer_audience,
    };
    let mut extra_roots_pem = Vec::new();
    if let Some(path) = &config.jwks_ca_file {
        extra_roots_pem
            .push(std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?);
    }
    let fetcher = Fetcher::new(
        FetchPolicy {
            allow_hosts,
            allow_http: config.jwks_allow_http,
            timeout: config.jwks_timeout,
            extra_roots_pem,
        },
        lookup.clone(),
    )?;
    let keys = Arc::new(JwksCache::new(fetcher, clock.clone()));
    let hook_keys = keys.clone();
    // The service says what a write makes stale (a JWT setting: the account's keys,
    // docs/jwt-auth.md item 15); it drops the settings snapshot itself.
    let settings_feed = feed.clone();
    let settings_hook: SettingsHook = Arc::new(move |account, change| {
        if change == SettingsChange::JwtConfiguration {
            hook_keys.invalidate(account);
        }
        settings_feed.publish(account, ChangeKind::Settings);
    });
    let settings = SettingsService::new(
        SettingsStores { values: store.clone(), scopes: store.clone(), service_accounts: store.clone() },
        auth.clone(),
        clock.clone(),
        config.settings_cache_ttl,
        policy,
        settings_hook,
    );
    let jwt = Arc::new(JwtAuthenticator::new(
        settings.clone(),
        auth.clone(),
        clock.clone(),
        keys,
        config.jwt_require_issuer_audience,
    ));
    let event_signal = crate::events::EventSignal::default();
    let webhook_hosts =
        AllowList::parse(&config.webhook_allow_hosts).map_err(|e| format!("--webhook-allow-hosts: {e}"))?;
    let webhook_policy = scimgate_domain::netguard::WebhookUrlPolicy {
        allow_http: config.webhook_allow_http,
        allow_hosts: webhook_hosts.clone(),
    };
    let webhook_client =
        crate::events::deliver::WebhookClient::new(webhook_hosts, config.webhook_allow_http, lookup.clone())?;
    let (request_log, request_log_queue) =
        crate::request_log::RequestLog::new(!config.request_log_retention.is_zero(), config.max_body_bytes);
    Ok(AppState::new(crate::state::State {
        audit: scimgate_domain::audit_service::AuditService::new(store.clone()),
        logs: store.clone(),
        request_log: Arc::new(request_log),
        request_log_queue: Arc::new(std::sync::Mutex::new(Some(request_log_queue))),
        scim: ScimService::new(store.clone(), clock.clone(), on_change.clone())
            .with_event_hook(event_signal.hook()),
        events: scimgate_domain::event_service::EventService::new(store.clone()),
        event_store: store.clone(),
        webhooks: scimgate_domain::webhook_service::WebhookService::new(
            store.clone(),
            clock.clone(),
            webhook_policy,
        ),
        webhook_store: store.clone(),
        webhook_client: Arc::new(webhook_client),
        event_signal,
        settings,
        access: AccessService::new(store.clone(), clock.clone(), on_change),
        auth,
        jwt,
        changes: store.clone(),
        change_queue: Arc::new(std::sync::Mutex::new(Some(feed_rx))),
        cursors: Arc::new(crate::http::cursor::Cursors::new(store.clone())),
        set_keys: Arc::new(crate::events::set::SetKeys::new(store.clone())),
        limits: Arc::new(crate::limits::Limits::new(&config)),
        sessions: Arc::new(crate::console::session::Sessions::new(
            clock.clone(),
            config.console_idle_timeout,
            config.console_absolute_timeout,
        )),
        accounts: store,
        clock,
        config: Arc::new(config),
    }))
}

/// How often each node polls the change log for other nodes' changes.
pub const CHANGE_POLL_INTERVAL: std::time::Duration = std::time::Duration::from_millis(250);

/// Starts the background work of a node: the last-used flusher, the change-log writer and
/// poller. Every task stops when `stop` turns true.
pub fn start_background(
    state: &AppState,
    poll: std::time::Duration,
    stop: &tokio::sync::watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = vec![tokio::spawn(crate::last_used::run(state.auth.clone(), stop.clone()))];
    let queue = state.change_queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
    if let Some(rx) = queue {
        tasks.push(tokio::spawn(crate::changes::write_loop(
            state.changes.clone(),
            state.clock.clone(),
            rx,
            stop.clone(),
        )));
    }
    let queue = state.request_log_queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
    if let Some(rx) = queue {
        tasks.push(tokio::spawn(crate::request_log::write_loop(
            state.logs.clone(),
            state.request_log.clone(),
            rx,
            stop.clone(),
        )));
    }
    tasks.push(tokio::spawn(crate::retention::run(
        state.logs.clone(),
        state.event_store.clone(),
        state.clock.clone(),
        crate::retention::Retention::of(&state.config),
        stop.clone(),
    )));
    tasks.push(tokio::spawn(crate::events::deliver::run(state.clone(), stop.clone())));
    // PostgreSQL announces new changes (LISTEN/NOTIFY); every engine is also polled.
    let wake = Arc::new(tokio::sync::Notify::new());
    let db = &state.config.database;
    if db.starts_with("postgres://") || db.starts_with("postgresql://") {
        tasks.push(tokio::spawn(crate::changes::listen_loop(db.clone(), wake.clone(), stop.clone())));
    }
    tasks.push(tokio::spawn(crate::changes::poll_loop(
        state.clone(),
        state.changes.clone(),
        poll,
        wake,
        stop.clone(),
    )));
    tasks
}

/// On a database with no account, creates `default` with an admin and token, prints the
/// token once to stderr and writes it to `<database>.admin-token` (mode 0600).
pub async fn bootstrap(state: &AppState) -> Result<Option<CreatedAccount>, String> {
    if state.config.no_bootstrap || state.accounts.count_accounts().await.map_err(|e| e.to_string())? > 0 {
        return Ok(None);
    }
    let operator = Caller::system(AccountId::parse("default").map_err(|e| e.to_string())?);
    let created = match create_account(
        state.accounts.as_ref(),
        state.clock.as_ref(),
        &operator,
        "admin@localhost",
        Some("Default account"),
        &[],
    )
    .await
    {
        Ok(c) => c,
        // Another node bootstrapped the same database first.
        Err(DomainError::Conflict(_)) => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    eprintln!(
        "scimgate: created account 'default' with admin user admin@localhost.\n\
         scimgate: admin token (shown once): {}",
        created.token
    );
    if let Some(path) = admin_token_path(&state.config.database) {
        write_secret_file(&path, &format!("{}\n", created.token), false)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        eprintln!("scimgate: the token is also in {} (mode 0600)", path.display());
    }
    Ok(Some(created))
}

/// Writes a secret to a file readable only by its owner (mode 0600). `create_new` refuses to
/// replace an existing file instead of truncating it.
pub(crate) fn write_secret_file(
    path: &std::path::Path,
    content: &str,
    create_new: bool,
) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true);
    if create_new {
        opts.create_new(true);
    } else {
        opts.create(true).truncate(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(content.as_bytes())
}

/// Runs the server until SIGTERM or Ctrl-C, then drains in-flight requests.
pub async fn serve(config: Config) -> Result<(), String> {
    tracing::info!(?config, "starting scimgate");
    if !config.jwks_allow_hosts.is_empty() || config.jwks_allow_http {
        tracing::warn!(
            allow_hosts = %config.jwks_allow_hosts,
            allow_http = config.jwks_allow_http,
            "JWKS fetches may reach non-public addresses or use plain http: for tests and private deployments only"
        );
    }
    let store = open_store_with_options(&config.database, &store_options(&config)).await?;
    let state = build_state(store, Arc::new(SystemClock), config.clone())?;
    bootstrap(&state).await?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let metrics_server = match config.metrics_listen {
        Some(at) => {
            let l = tokio::net::TcpListener::bind(at)
                .await
                .map_err(|e| format!("cannot listen on {at} (--metrics-listen): {e}"))?;
            let at = l.local_addr().map_err(|e| e.to_string())?;
            eprintln!("scimgate: metrics on http://{at}/metrics");
            let mut stop = stop_rx.clone();
            let app = crate::http::metrics_router(state.clone());
            Some(tokio::spawn(async move {
                let _ = axum::serve(l, app)
                    .with_graceful_shutdown(async move {
                        let _ = stop.wait_for(|s| *s).await;
                    })
                    .await;
            }))
        }
        None => None,
    };
    // The signal handlers are in place before anyone is told where to connect: a SIGTERM
    // that follows the first answer must drain, not kill with the default action.
    let signals = ShutdownSignals::install()?;
    tracing::info!(%addr, "listening");
    eprintln!("scimgate: listening on http://{addr}");
    let tasks = start_background(&state, CHANGE_POLL_INTERVAL, &stop_rx);
    // The peer address is kept for the loopback-only /metrics of the main listener.
    let app = crate::http::router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(signals.received())
        .await
        .map_err(|e| format!("server error: {e}"));
    let _ = stop_tx.send(true);
    for t in tasks.into_iter().chain(metrics_server) {
        let _ = t.await;
    }
    served
}

/// SIGTERM and SIGINT, registered at once (tokio registers a handler only when its stream
/// is created, and `tokio::signal::ctrl_c()` only when first polled).
struct ShutdownSignals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl ShutdownSignals {
    fn install() -> Result<Self, String> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let term = signal(SignalKind::terminate()).map_err(|e| format!("cannot handle SIGTERM: {e}"))?;
            let int = signal(SignalKind::interrupt()).map_err(|e| format!("cannot handle SIGINT: {e}"))?;
            Ok(Self { term, int })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }

    async fn received(self) {
        #[cfg(unix)]
        {
            let Self { mut term, mut int } = self;
            tokio::select! {
                _ = term.recv() => {},
                _ = int.recv() => {},
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        tracing::info!("shutdown signal received; draining requests");
    }
}
