//! The command line (docs/contract.md §1).

use clap::{Parser, Subcommand};

use crate::config::{Config, DEFAULT_DATABASE, ServeArgs};

/// scimgate: a SCIM 2.0 provisioning server.
#[derive(Debug, Parser)]
#[command(name = "scimgate", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server.
    Serve(Box<ServeArgs>),
    /// Manage accounts.
    #[command(subcommand)]
    Account(AccountCommand),
    /// Local tooling for JWT authentication: keys, tokens, a JWKS server on loopback.
    #[command(subcommand)]
    Jwt(JwtCommand),
}

/// `scimgate jwt ...`.
#[derive(Debug, Subcommand)]
pub enum JwtCommand {
    /// Make a signing key: writes DIR/<kid>.pem (mode 0600) and adds its public key to DIR/jwks.json.
    Keygen {
        /// RS256, RS384, RS512, PS256, PS384, PS512 (RSA 2048), ES256 (P-256), ES384 (P-384) or EdDSA (Ed25519).
        #[arg(long, default_value = "RS256")]
        alg: String,
        /// Key id [default: <alg>-<random>].
        #[arg(long)]
        kid: Option<String>,
        /// Directory for the key and jwks.json.
        #[arg(long, default_value = "jwks")]
        dir: std::path::PathBuf,
    },
    /// Mint a token signed with a key from `keygen`; prints it on stdout.
    Mint {
        /// The private key file (DIR/<kid>.pem).
        #[arg(long)]
        key: std::path::PathBuf,
        /// The key's algorithm.
        #[arg(long, default_value = "RS256")]
        alg: String,
        /// Key id for the header [default: the key file's name without .pem].
        #[arg(long)]
        kid: Option<String>,
        /// A claim `name=value` (repeatable); numbers, booleans, arrays and objects are JSON.
        #[arg(long = "claim")]
        claims: Vec<String>,
        /// Lifetime: `exp` is now plus this, e.g. `1h`, `300s` [default: 1h].
        #[arg(long, default_value = "1h")]
        ttl: String,
    },
    /// Serve the .json files of a directory over HTTP on a loopback address.
    ServeJwks {
        /// The directory (from `keygen`).
        #[arg(long, default_value = "jwks")]
        dir: std::path::PathBuf,
        /// Loopback address to listen on.
        #[arg(long, default_value = "127.0.0.1:8765")]
        listen: std::net::SocketAddr,
    },
}

/// `scimgate account ...`.
#[derive(Debug, Subcommand)]
pub enum AccountCommand {
    /// Create an account with an admin user and a personal access token (JSON on stdout).
    Create {
        /// Account identifier (letters, digits, '_' or '-').
        id: String,
        /// The admin user's email (its SCIM userName).
        #[arg(long)]
        admin_email: String,
        /// Display name.
        #[arg(long)]
        name: Option<String>,
        /// Feature flags to turn on (repeatable).
        #[arg(long = "feature-flag")]
        feature_flags: Vec<String>,
        /// Database URL.
        #[arg(long, env = "SCIMGATE_DATABASE", default_value = DEFAULT_DATABASE)]
        database: String,
    },
    /// Turn a feature flag on or off for an account (running servers see it within 5 s).
    FeatureFlag {
        /// Account identifier.
        id: String,
        /// The flag (NG_SETTINGS, PL_SUPPORT_JWT_TOKEN_SCIM_API).
        flag: String,
        /// `on` or `off`.
        #[arg(value_parser = ["on", "off"])]
        state: String,
        /// Database URL.
        #[arg(long, env = "SCIMGATE_DATABASE", default_value = DEFAULT_DATABASE)]
        database: String,
    },
}

/// Runs a parsed command; returns the process exit code.
pub async fn run(cli: Cli) -> i32 {
    match cli.command {
        Command::Serve(args) => {
            let config = match Config::resolve(&args) {
                Ok(c) => c,
                Err(e) => return fail(&e),
            };
            match crate::server::serve(config).await {
                Ok(()) => 0,
                Err(e) => fail(&e),
            }
        }
        Command::Account(AccountCommand::Create { id, admin_email, name, feature_flags, database }) => {
            let store = match crate::server::open_store(&database).await {
                Ok(s) => s,
                Err(e) => return fail(&e),
            };
            let clock = scimgate_domain::SystemClock;
            let operator = match scimgate_domain::AccountId::parse(&id) {
                Ok(a) => scimgate_domain::access::Caller::system(a),
                Err(scimgate_domain::DomainError::Invalid(e)) => return fail(&e.detail),
                Err(e) => return fail(&e.to_string()),
            };
            match scimgate_domain::account_service::create_account(
                store.as_ref(),
                &clock,
                &operator,
                &admin_email,
                name.as_deref(),
                &feature_flags,
            )
            .await
            {
                Ok(c) => {
                    let out = serde_json::json!({
                        "accountIdentifier": c.account.as_str(),
                        "adminUserId": c.admin_user_id,
                        "token": c.token,
                    });
                    println!("{out}");
                    0
                }
                Err(scimgate_domain::DomainError::Invalid(e)) => fail(&e.detail),
                Err(e) => fail(&e.to_string()),
            }
        }
        Command::Jwt(cmd) => run_jwt(cmd).await,
        Command::Account(AccountCommand::FeatureFlag { id, flag, state, database }) => {
            let store = match crate::server::open_store(&database).await {
                Ok(s) => s,
                Err(e) => return fail(&e),
            };
            let on = state == "on";
            let operator = match scimgate_domain::AccountId::parse(&id) {
                Ok(a) => scimgate_domain::access::Caller::system(a),
                Err(scimgate_domain::DomainError::Invalid(e)) => return fail(&e.detail),
                Err(e) => return fail(&e.to_string()),
            };
            match scimgate_domain::access_service::set_feature_flag(store.as_ref(), &operator, &flag, on)
                .await
            {
                Ok(()) => {
                    // Running servers drop their cached flags when they next poll the log.
                    if let Ok(account) = scimgate_domain::AccountId::parse(&id) {
                        use scimgate_domain::store::ChangeKind;
                        let now = time::OffsetDateTime::now_utc();
                        if let Err(e) = store.publish_changes(&[(account, ChangeKind::Access)], now).await {
                            eprintln!(
                                "scimgate: warning: running servers will see the change within 5 s: {e}"
                            );
                        }
                    }
                    println!("{}", serde_json::json!({"accountIdentifier": id, "flag": flag, "enabled": on}));
                    0
                }
                Err(scimgate_domain::DomainError::Invalid(e)) => fail(&e.detail),
                Err(e) => fail(&e.to_string()),
            }
        }
    }
}

async fn run_jwt(cmd: JwtCommand) -> i32 {
    use crate::jwt::tools;
    match cmd {
        JwtCommand::Keygen { alg, kid, dir } => match tools::keygen(&dir, &alg, kid.as_deref()) {
            Ok(summary) => {
                println!("{summary}");
                0
            }
            Err(e) => fail(&e),
        },
        JwtCommand::Mint { key, alg, kid, claims, ttl } => {
            let ttl = match crate::config::parse_duration(&ttl) {
                Ok(d) => d.as_secs() as i64,
                Err(e) => return fail(&e),
            };
            let now = time::OffsetDateTime::now_utc().unix_timestamp();
            match tools::mint_cli(&key, &alg, kid.as_deref(), &claims, ttl, now) {
                Ok(t) => {
                    println!("{t}");
                    0
                }
                Err(e) => fail(&e),
            }
        }
        JwtCommand::ServeJwks { dir, listen } => match tools::serve_jwks(dir, listen).await {
            Ok(()) => 0,
            Err(e) => fail(&e),
        },
    }
}

fn fail(msg: &str) -> i32 {
    eprintln!("scimgate: error: {msg}");
    1
}
