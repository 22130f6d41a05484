//! The change-event feed (`GET /gateway/ng/api/events`, docs/events.md): the account's events
//! in order, `after` the cursor a previous page gave, `limit` (1–1,000, default 100), `type`
//! (a comma-separated list of event types) and `wait` (0–30 seconds) to long-poll when there
//! is nothing new.

use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use scimgate_domain::events::{EventQuery, EventType};
use scimgate_domain::{AccountId, DomainError};
use serde::Deserialize;
use serde_json::json;

use super::audit::parse_limit;
use super::openapi::{AccountParam, ErrorResponses, SuccessEnvelope};
use super::{ApiError, ApiResult, Endpoint, ep, ok};
use crate::events::{event_json, read_or_wait};
use crate::http::auth::ApiCaller;
use crate::http::scim::base_url;
use crate::state::AppState;

/// The longest `wait`.
pub const MAX_WAIT_SECONDS: u64 = 30;

/// Where an account's security event tokens' public keys are (no authentication: receivers
/// fetch it to verify SETs; docs/events.md "Security event tokens").
pub const JWKS_PATH: &str = "/gateway/ng/api/events/jwks";

pub(crate) fn endpoints() -> Vec<Endpoint> {
    vec![ep(Method::GET, "/gateway/ng/api/events", get(feed))]
}

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct FeedParams {
    /// The `next` of the previous page; without it the feed starts at the oldest event kept.
    pub after: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
    /// Only these event types, comma-separated, e.g. `user.created,user.deleted`.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub types: Option<String>,
    /// When nothing is new, wait up to this many seconds (0 to 30, default 0) for events.
    #[param(value_type = Option<u32>, minimum = 0, maximum = 30)]
    pub wait: Option<String>,
}

impl FeedParams {
    fn query(&self) -> Result<(EventQuery, Duration), DomainError> {
        let after = match self.after.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
            None => None,
            Some(v) => Some(v.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
                DomainError::invalid(format!(
                    "after '{v}' is not a cursor this server gave: pass the 'next' of a previous page"
                ))
            })?),
        };
        let types = match self.types.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
            None => None,
            Some(list) => Some(
                list.split(',')
                    .map(|t| {
                        let t = t.trim();
                        EventType::parse(t).ok_or_else(|| {
                            let known: Vec<&str> = EventType::ALL.iter().map(|k| k.as_str()).collect();
                            DomainError::invalid(format!("type '{t}' is not one of {}", known.join(", ")))
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
        };
        let wait = match self.wait.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
            None => 0,
            Some(v) => v.parse::<u64>().ok().filter(|s| *s <= MAX_WAIT_SECONDS).ok_or_else(|| {
                DomainError::invalid(format!(
                    "wait must be a number of seconds from 0 to {MAX_WAIT_SECONDS}, not '{v}'"
                ))
            })?,
        };
        let query = EventQuery { after, limit: parse_limit(self.limit.as_deref())?, types };
        Ok((query, Duration::from_secs(wait)))
    }
}

#[utoipa::path(
    get,
    path = "/gateway/ng/api/events",
    tag = "events",
    operation_id = "list_events",
    params(AccountParam, FeedParams),
    responses((status = 200, description = "`data`: `{events: [{id, type, seq, occurredAt, accountIdentifier, requestId, data}], next}` in `seq` order; pass `next` as `after` to read on (docs/events.md). 410 when `after` is older than what `--event-retention` kept", body = SuccessEnvelope), ErrorResponses),
    security(("api_key" = []))
)]
async fn feed(
    State(st): State<AppState>,
    caller: ApiCaller,
    headers: HeaderMap,
    Query(q): Query<FeedParams>,
) -> ApiResult {
    let (query, wait) = q.query()?;
    // A long poll ends well before the request time limit, so it answers instead of timing out.
    let wait = wait.min(st.config.request_timeout.saturating_sub(Duration::from_secs(2)));
    let page = read_or_wait(&st, &caller, &query, wait).await?;
    let base = base_url(&st.config, &headers, caller.account().as_str());
    let events: Vec<_> = page.events.iter().map(|e| event_json(e, &base)).collect();
    Ok(ok(json!({"events": events, "next": page.next.to_string()})))
}

#[derive(Deserialize)]
pub(crate) struct JwksParams {
    #[serde(rename = "accountIdentifier")]
    account: Option<String>,
}

/// `GET /gateway/ng/api/events/jwks?accountIdentifier=…`: `{"keys": [...]}`, the public key
/// that signs the account's SETs; 404 for an account that does not exist.
pub(crate) async fn jwks(State(st): State<AppState>, Query(q): Query<JwksParams>) -> Response {
    let answer = async {
        let raw = q
            .account
            .as_deref()
            .filter(|a| !a.is_empty())
            .ok_or_else(|| DomainError::invalid("the accountIdentifier query parameter is required"))?;
        let account = AccountId::parse(raw)?;
        if !st.accounts.account_exists(&account).await? {
            return Err(DomainError::NotFound(format!("account '{raw}' not found")));
        }
        st.set_keys.jwks(&account).await
    };
    match answer.await {
        Ok(keys) => {
            let mut res = axum::Json(keys).into_response();
            res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
            res
        }
        Err(e) => ApiError(e).into_response(),
    }
}
