//! API keys (`/gateway/ng/api/apikey`) and tokens (`/gateway/ng/api/token`).
//!
//! Service-account keys need `core_serviceaccount_manageapikey` to change and
//! `core_serviceaccount_view` to read; personal keys (`apiKeyType=USER`) can only be managed
//! by the user who owns them.

use axum::extract::{Path, Query, State};
use axum::http::Method;
use axum::routing::{delete, get, post, put};
use scimgate_domain::DomainError;
use scimgate_domain::access_service::TokenInput;
use scimgate_domain::entities::{ApiKey, ApiKeyRef, Tags, TokenInfo};
use scimgate_domain::token::TokenKind;
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::openapi::{AccountParam, Conflict, ErrorResponses, SuccessEnvelope};
use super::{
    ApiError, ApiJson, ApiResult, Endpoint, ListParams, ep, from_millis, millis, ok, page_data,
    same_identifier, tags_json,
};
use crate::http::auth::ApiCaller;
use crate::state::AppState;

pub(crate) fn endpoints() -> Vec<Endpoint> {
    const KEYS: &str = "/gateway/ng/api/apikey";
    const KEY: &str = "/gateway/ng/api/apikey/{identifier}";
    const TOKENS: &str = "/gateway/ng/api/token";
    const TOKEN: &str = "/gateway/ng/api/token/{identifier}";
    vec![
        ep(Method::POST, KEYS, post(create_key)),
        ep(Method::GET, KEYS, get(list_keys)),
        ep(Method::GET, KEY, get(get_key)),
        ep(Method::PUT, KEY, put(update_key)),
        ep(Method::DELETE, KEY, delete(delete_key)),
        ep(Method::POST, TOKENS, post(create_token)),
        ep(Method::GET, TOKENS, get(list_tokens)),
        ep(Method::PUT, TOKEN, put(update_token)),
        ep(Method::DELETE, TOKEN, delete(delete_token)),
        ep(Method::POST, "/gateway/ng/api/token/rotate/{identifier}", post(rotate_token)),
    ]
}

fn key_type(s: &str) -> Result<TokenKind, DomainError> {
    match s {
        "USER" => Ok(TokenKind::User),
        "SERVICE_ACCOUNT" => Ok(TokenKind::ServiceAccount),
        _ => Err(DomainError::invalid(format!("apiKeyType '{s}' is invalid: use USER or SERVICE_ACCOUNT"))),
    }
}

fn key_type_name(k: TokenKind) -> &'static str {
    match k {
        TokenKind::User => "USER",
        TokenKind::ServiceAccount => "SERVICE_ACCOUNT",
    }
}

/// Query parameters that locate an API key or its tokens.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct KeyParams {
    api_key_type: Option<String>,
    parent_identifier: Option<String>,
    api_key_identifier: Option<String>,
    rotate_timestamp: Option<String>,
    #[serde(flatten)]
    list: ListParams,
}

impl KeyParams {
    fn parent(&self) -> Result<(TokenKind, String), DomainError> {
        let t = self
            .api_key_type
            .as_deref()
            .ok_or_else(|| DomainError::invalid("the apiKeyType query parameter is required"))?;
        let p = self
            .parent_identifier
            .clone()
            .filter(|p| !p.is_empty())
            .ok_or_else(|| DomainError::invalid("the parentIdentifier query parameter is required"))?;
        Ok((key_type(t)?, p))
    }
    fn key(&self) -> Result<ApiKeyRef, DomainError> {
        let (api_key_type, parent_identifier) = self.parent()?;
        let identifier = self
            .api_key_identifier
            .clone()
            .filter(|p| !p.is_empty())
            .ok_or_else(|| DomainError::invalid("the apiKeyIdentifier query parameter is required"))?;
        Ok(ApiKeyRef { api_key_type, parent_identifier, identifier })
    }
}

// ---- API keys ------------------------------------------------------------------------

/// An API key.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = ApiKeyBody)]
struct KeyBody {
    identifier: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<std::collections::BTreeMap<String, String>>)]
    tags: Option<Tags>,
    /// `USER` (a personal key) or `SERVICE_ACCOUNT`.
    api_key_type: String,
    /// The key's owner: the user id, or the service account's identifier.
    parent_identifier: String,
    /// The lifetime of its tokens when they name no `validTo`, in milliseconds.
    #[serde(default)]
    default_time_to_expire_token: Option<i64>,
}

fn key_from(b: KeyBody) -> Result<ApiKey, DomainError> {
    let t = OffsetDateTime::UNIX_EPOCH;
    Ok(ApiKey {
        api_key_type: key_type(&b.api_key_type)?,
        parent_identifier: b.parent_identifier,
        identifier: b.identifier,
        name: b.name.unwrap_or_default(),
        description: b.description.unwrap_or_default(),
        tags: b.tags.unwrap_or_default(),
        default_ttl_ms: b.default_time_to_expire_token,
        created: t,
        modified: t,
    })
}

fn key_json(account: &str, k: &ApiKey) -> Value {
    json!({
        "identifier": k.identifier,
        "name": k.name,
        "description": k.description,
        "tags": tags_json(&k.tags),
        "apiKeyType": key_type_name(k.api_key_type),
        "parentIdentifier": k.parent_identifier,
        "defaultTimeToExpireToken": k.default_ttl_ms,
        "accountIdentifier": account,
        "orgIdentifier": null,
        "projectIdentifier": null,
        "createdAt": millis(k.created),
        "lastModifiedAt": millis(k.modified),
    })
}

#[utoipa::path(
    post,
    path = "/gateway/ng/api/apikey",
    tag = "API keys",
    params(AccountParam),
    request_body = KeyBody,
    responses((status = 200, description = "`data`: the API key, `{identifier, name, description, tags, apiKeyType, parentIdentifier, defaultTimeToExpireToken, accountIdentifier, orgIdentifier, projectIdentifier, createdAt, lastModifiedAt}` (times in epoch milliseconds)", body = SuccessEnvelope), ErrorResponses, Conflict),
    security(("api_key" = []))
)]
async fn create_key(
    State(st): State<AppState>,
    caller: ApiCaller,
    ApiJson(b): ApiJson<KeyBody>,
) -> ApiResult {
    let key = key_from(b)?;
    let k = st.access.create_api_key(&caller, key).await?;
    Ok(ok(key_json(caller.account().as_str(), &k)))
}

#[utoipa::path(
    get,
    path = "/gateway/ng/api/apikey",
    tag = "API keys",
    params(AccountParam, ("apiKeyType" = String, Query, description = "`USER` (a personal key) or `SERVICE_ACCOUNT`"), ("parentIdentifier" = String, Query, description = "The key's owner: the user id, or the service account's identifier"), ListParams),
    responses((status = 200, description = "`data`: a page `{content, pageIndex, pageSize, totalItems, totalPages, empty}` whose `content` items are `{identifier, name, description, tags, apiKeyType, parentIdentifier, defaultTimeToExpireToken, accountIdentifier, orgIdentifier, projectIdentifier, createdAt, lastModifiedAt}` (times in epoch milliseconds)", body = SuccessEnvelope), ErrorResponses),
    security(("api_key" = []))
)]
async fn list_keys(State(st): State<AppState>, caller: ApiCaller, Query(q): Query<KeyParams>) -> ApiResult {
    let (kind, parent) = q.parent()?;
    let page = q.list.page()?;
    let all = st.access.list_api_keys(&caller, kind, &parent).await?;
    let total = all.len() as u64;
    let items = all.into_iter().skip((page.index * page.size) as usize).take(page.size as usize).collect();
    let p = scimgate_domain::entities::Paged { items, total };
    Ok(ok(page_data(page, p, |k| key_json(caller.account().as_str(), k))))
}

#[utoipa::path(
    get,
    path = "/gateway/ng/api/apikey/{identifier}",
    tag = "API keys",
    params(("identifier" = String, Path, description = "The API key"), AccountParam, ("apiKeyType" = String, Query, description = "`USER` (a personal key) or `SERVICE_ACCOUNT`"), ("parentIdentifier" = String, Query, description = "The key's owner: the user id, or the service account's identifier")),
    responses((status = 200, description = "`data`: `{identifier, name, description, tags, apiKeyType, parentIdentifier, defaultTimeToExpireToken, accountIdentifier, orgIdentifier, projectIdentifier, createdAt, lastModifiedAt}` (times in epoch milliseconds)", body = SuccessEnvelope), ErrorResponses),
    security(("api_key" = []))
)]
async fn get_key(
    State(st): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
    Query(q): Query<KeyParams>,
) -> ApiResult {
    let (kind, parent) = q.parent()?;
    let r = ApiKeyRef { api_key_type: kind, parent_identifier: parent, identifier: id };
    let k = st.access.get_api_key(&caller, &r).await?;
    Ok(ok(key_json(caller.account().as_str(), &k)))
}

#[utoipa::path(
    put,
    path = "/gateway/ng/api/apikey/{identifier}",
    tag = "API keys",
    params(("identifier" = String, Path, description = "The API key"), AccountParam),
    request_body = KeyBody,
    responses((status = 200, description = "`data`: the API key as stored, `{identifier, name, description, tags, apiKeyType, parentIdentifier, defaultTimeToExpireToken, accountIdentifier, orgIdentifier, projectIdentifier, createdAt, lastModifiedAt}` (times in epoch milliseconds)", body = SuccessEnvelope), ErrorResponses, Conflict),
    security(("api_key" = []))
)]
async fn update_key(
    State(st): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<KeyBody>,
) -> ApiResult {
    same_identifier(Some(&b.identifier), &id)?;
    let key = key_from(b)?;
    let k = st.access.update_api_key(&caller, key).await?;
    Ok(ok(key_json(caller.account().as_str(), &k)))
}

#[utoipa::path(
    delete,
    path = "/gateway/ng/api/apikey/{identifier}",
    tag = "API keys",
    params(("identifier" = String, Path, description = "The API key"), AccountParam, ("apiKeyType" = String, Query, description = "`USER` (a personal key) or `SERVICE_ACCOUNT`"), ("parentIdentifier" = String, Query, description = "The key's owner: the user id, or the service account's identifier")),
    responses((status = 200, description = "`data`: `true`", body = SuccessEnvelope), ErrorResponses, Conflict),
    security(("api_key" = []))
)]
async fn delete_key(
    State(st): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
    Query(q): Query<KeyParams>,
) -> ApiResult {
    let (kind, parent) = q.parent()?;
    let r = ApiKeyRef { api_key_type: kind, parent_identifier: parent, identifier: id };
    st.access.delete_api_key(&caller, &r).await?;
    Ok(ok(json!(true)))
}

// ---- tokens --------------------------------------------------------------------------

/// A token of an API key.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct TokenBody {
    identifier: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<std::collections::BTreeMap<String, String>>)]
    tags: Option<Tags>,
    /// `USER` or `SERVICE_ACCOUNT`: the type of its API key.
    api_key_type: String,
    /// The API key's owner.
    parent_identifier: String,
    /// The API key.
    api_key_identifier: String,
    /// Epoch milliseconds.
    #[serde(default)]
    valid_from: Option<i64>,
    /// Epoch milliseconds.
    #[serde(default)]
    valid_to: Option<i64>,
}

impl TokenBody {
    fn key(&self) -> Result<ApiKeyRef, DomainError> {
        Ok(ApiKeyRef {
            api_key_type: key_type(&self.api_key_type)?,
            parent_identifier: self.parent_identifier.clone(),
            identifier: self.api_key_identifier.clone(),
        })
    }
    fn input(self) -> Result<TokenInput, ApiError> {
        Ok(TokenInput {
            identifier: self.identifier,
            name: self.name,
            description: self.description.unwrap_or_default(),
            tags: self.tags.unwrap_or_default(),
            valid_from: self.valid_from.map(|v| from_millis(v, "validFrom")).transpose()?,
            valid_to: self.valid_to.map(|v| from_millis(v, "validTo")).transpose()?,
        })
    }
}

fn token_json(account: &str, t: &TokenInfo, now: OffsetDateTime) -> Value {
    json!({
        "identifier": t.identifier,
        "name": t.name,
        "description": t.description,
        "tags": tags_json(&t.tags),
        "validFrom": millis(t.valid_from),
        "validTo": t.valid_to.map(millis),
        "scheduledExpireTime": t.previous_valid_to.map(millis),
        "valid": t.valid_to.is_none_or(|v| v > now) && t.valid_from <= now,
        "accountIdentifier": account,
        "orgIdentifier": null,
        "projectIdentifier": null,
        "apiKeyIdentifier": t.api_key_identifier,
        "parentIdentifier": t.parent_identifier,
        "apiKeyType": key_type_name(t.api_key_type),
        "lastUsedAt": t.last_used.map(millis),
    })
}

#[utoipa::path(
    post,
    path = "/gateway/ng/api/token",
    tag = "tokens",
    params(AccountParam),
    request_body = TokenBody,
    responses((status = 200, description = "`data`: the token's secret, a string, shown only here", body = SuccessEnvelope), ErrorResponses, Conflict),
    security(("api_key" = []))
)]
async fn create_token(
    State(st): State<AppState>,
    caller: ApiCaller,
    ApiJson(b): ApiJson<TokenBody>,
) -> ApiResult {
    let key = b.key()?;
    let (_, token) = st.access.create_token(&caller, &key, b.input()?).await?;
    // The token is shown once, here (docs/contract.md §3).
    Ok(ok(json!(token)))
}

#[utoipa::path(
    get,
    path = "/gateway/ng/api/token",
    tag = "tokens",
    params(AccountParam, ("apiKeyType" = String, Query, description = "`USER` (a personal key) or `SERVICE_ACCOUNT`"), ("parentIdentifier" = String, Query, description = "The key's owner: the user id, or the service account's identifier"), ("apiKeyIdentifier" = String, Query, description = "The API key"), ListParams),
    responses((status = 200, description = "`data`: a page `{content, pageIndex, pageSize, totalItems, totalPages, empty}` whose `content` items are `{token: {identifier, name, description, tags, validFrom, validTo, scheduledExpireTime, valid, accountIdentifier, orgIdentifier, projectIdentifier, apiKeyIdentifier, parentIdentifier, apiKeyType, lastUsedAt}, expiryAt, createdAt, lastModifiedAt}`", body = SuccessEnvelope), ErrorResponses),
    security(("api_key" = []))
)]
async fn list_tokens(State(st): State<AppState>, caller: ApiCaller, Query(q): Query<KeyParams>) -> ApiResult {
    let key = q.key()?;
    let page = q.list.page()?;
    let p = st.access.list_tokens(&caller, &key, page).await?;
    let now = st.clock.now();
    Ok(ok(page_data(page, p, |t| {
        json!({
            "token": token_json(caller.account().as_str(), t, now),
            "expiryAt": t.valid_to.map(millis),
            "createdAt": millis(t.created),
            "lastModifiedAt": millis(t.modified),
        })
    })))
}

#[utoipa::path(
    put,
    path = "/gateway/ng/api/token/{identifier}",
    tag = "tokens",
    params(("identifier" = String, Path, description = "The token"), AccountParam),
    request_body = TokenBody,
    responses((status = 200, description = "`data`: the token as stored (without its secret), `{identifier, name, description, tags, validFrom, validTo, scheduledExpireTime, valid, accountIdentifier, orgIdentifier, projectIdentifier, apiKeyIdentifier, parentIdentifier, apiKeyType, lastUsedAt}` (times in epoch milliseconds)", body = SuccessEnvelope), ErrorResponses, Conflict),
    security(("api_key" = []))
)]
async fn update_token(
    State(st): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<TokenBody>,
) -> ApiResult {
    same_identifier(Some(&b.identifier), &id)?;
    let key = b.key()?;
    let t = st.access.update_token(&caller, &key, &id, b.input()?).await?;
    Ok(ok(token_json(caller.account().as_str(), &t, st.clock.now())))
}

#[utoipa::path(
    delete,
    path = "/gateway/ng/api/token/{identifier}",
    tag = "tokens",
    params(("identifier" = String, Path, description = "The token"), AccountParam, ("apiKeyType" = String, Query, description = "`USER` (a personal key) or `SERVICE_ACCOUNT`"), ("parentIdentifier" = String, Query, description = "The key's owner: the user id, or the service account's identifier"), ("apiKeyIdentifier" = String, Query, description = "The API key")),
    responses((status = 200, description = "`data`: `true`", body = SuccessEnvelope), ErrorResponses, Conflict),
    security(("api_key" = []))
)]
async fn delete_token(
    State(st): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
    Query(q): Query<KeyParams>,
) -> ApiResult {
    let key = q.key()?;
    st.access.delete_token(&caller, &key, &id).await?;
    Ok(ok(json!(true)))
}

#[utoipa::path(
    post,
    path = "/gateway/ng/api/token/rotate/{identifier}",
    tag = "tokens",
    params(("identifier" = String, Path, description = "The token"), AccountParam, ("apiKeyType" = String, Query, description = "`USER` (a personal key) or `SERVICE_ACCOUNT`"), ("parentIdentifier" = String, Query, description = "The key's owner: the user id, or the service account's identifier"), ("apiKeyIdentifier" = String, Query, description = "The API key"), ("rotateTimestamp" = Option<i64>, Query, description = "When the old secret stops working, in epoch milliseconds (default: at once)")),
    responses((status = 200, description = "`data`: the new secret, a string, shown only here", body = SuccessEnvelope), ErrorResponses, Conflict),
    security(("api_key" = []))
)]
async fn rotate_token(
    State(st): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
    Query(q): Query<KeyParams>,
) -> ApiResult {
    let key = q.key()?;
    let rotate_at = match q.rotate_timestamp.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => {
            let ms = s.parse::<i64>().map_err(|_| {
                DomainError::invalid(format!("rotateTimestamp must be epoch milliseconds, not '{s}'"))
            })?;
            Some(from_millis(ms, "rotateTimestamp")?)
        }
        None => None,
    };
    let token = st.access.rotate_token(&caller, &key, &id, rotate_at).await?;
    Ok(ok(json!(token)))
}
