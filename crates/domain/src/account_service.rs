//! Creating accounts with their first admin (docs/contract.md §1 `account create`).

use serde_json::{Map, Value, json};

use crate::access::Caller;
use crate::clock::Clock;
use crate::error::DomainError;
use crate::ids::{AccountId, new_resource_id};
use crate::store::{AccountStore, NewAccount};
use crate::token::{TokenKind, generate};
use crate::use_case::UseCase;
use scimgate_scim::ScimError;
use scimgate_scim::schema::ResourceKind;

/// What `account create` reports.
#[derive(Debug, Clone)]
pub struct CreatedAccount {
    /// The account.
    pub account: AccountId,
    /// The admin user's SCIM id.
    pub admin_user_id: String,
    /// The admin's personal access token (shown once).
    pub token: String,
}

/// Feature flags an operator may set.
pub const KNOWN_FEATURE_FLAGS: &[&str] = &["NG_SETTINGS", "PL_SUPPORT_JWT_TOKEN_SCIM_API"];

/// Creates an account with an admin user (userName = email) and a personal access token.
/// An operator action: `caller` is [`Caller::system`] for the new account.
pub async fn create_account(
    store: &dyn AccountStore,
    clock: &dyn Clock,
    caller: &Caller,
    admin_email: &str,
    name: Option<&str>,
    feature_flags: &[String],
) -> Result<CreatedAccount, DomainError> {
    let account = caller.authorize(UseCase::CreateAccount)?.clone();
    let id = account.as_str();
    let email = admin_email.trim();
    let valid_email =
        email.split_once('@').is_some_and(|(l, d)| !l.is_empty() && d.contains('.') || d == "localhost")
            && !email.contains(char::is_whitespace);
    if !valid_email {
        return Err(ScimError::invalid_value(format!("'{admin_email}' is not a valid email address")).into());
    }
    for f in feature_flags {
        if !KNOWN_FEATURE_FLAGS.contains(&f.as_str()) {
            return Err(ScimError::invalid_value(format!(
                "unknown feature flag '{f}'; known flags: {}",
                KNOWN_FEATURE_FLAGS.join(", ")
            ))
            .into());
        }
    }
    let doc = scimgate_scim::resource::normalize(
        ResourceKind::User,
        &json!({
            "userName": email,
            "displayName": "Account administrator",
            "active": true,
            "emails": [{"value": email, "type": "work", "primary": true}],
        }),
    )?;
    let admin_doc: Map<String, Value> = doc;
    let token = generate(TokenKind::User, &account)?;
    let admin_user_id = new_resource_id();
    let new = NewAccount {
        id: account.clone(),
        name: name.unwrap_or(id).to_string(),
        feature_flags: feature_flags.to_vec(),
        admin_user_id: admin_user_id.clone(),
        admin_doc,
        admin_token: token.clone(),
    };
    let now = clock.now();
    // The operator's act (CLI or first start): the account, its admin user and the admin's
    // first token, in one entry.
    let audit = crate::audit::AuditEntry {
        at: now,
        actor: crate::audit::Actor::system(),
        action: crate::audit::action::CREATE,
        resource: crate::audit::AuditResource::Account,
        resource_id: account.as_str().to_string(),
        summary: serde_json::json!({
            "adminUserId": admin_user_id,
            "featureFlags": feature_flags,
        }),
    };
    store.create_account(&new, now, &audit).await?;
    Ok(CreatedAccount { account, admin_user_id, token: token.token })
}
