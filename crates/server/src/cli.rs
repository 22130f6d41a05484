//! The command line (contract.md §1).

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
    Serve(ServeArgs),
    /// Manage accounts.
    #[command(subcommand)]
    Account(AccountCommand),
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
            match scimgate_domain::account_service::create_account(
                store.as_ref(),
                &clock,
                &id,
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
        Command::Account(AccountCommand::FeatureFlag { id, flag, state, database }) => {
            let store = match crate::server::open_store(&database).await {
                Ok(s) => s,
                Err(e) => return fail(&e),
            };
            let on = state == "on";
            match scimgate_domain::access_service::set_feature_flag(store.as_ref(), &id, &flag, on).await {
                Ok(()) => {
                    println!("{}", serde_json::json!({"accountIdentifier": id, "flag": flag, "enabled": on}));
                    0
                }
                Err(scimgate_domain::DomainError::Invalid(e)) => fail(&e.detail),
                Err(e) => fail(&e.to_string()),
            }
        }
    }
}

fn fail(msg: &str) -> i32 {
    eprintln!("scimgate: error: {msg}");
    1
}
