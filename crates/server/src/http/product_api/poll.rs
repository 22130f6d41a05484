//! Polling a subscription's security event tokens (RFC 8936; docs/events.md "Polling"):
//! `POST /gateway/ng/api/webhooks/{identifier}/poll` with `{"maxEvents", "returnImmediately",
//! "ack", "setErrs"}` answers `{"sets": {jti: SET}, "moreAvailable": bool}` as RFC 8936
//! writes it (not in the product envelope).

use std::time::Duration;

use axum::extract::{Path, Request, State};
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use scimgate_domain::poll::PollRequest;
use serde_json::{Map, Value, json};

use super::events::MAX_WAIT_SECONDS;
use super::openapi::{AccountParam, ErrorResponses};
use super::{ApiError, Endpoint, body_error, ep};
use crate::events::{delivery_base, poll_or_wait, set};
use crate::http::auth::ApiCaller;
use crate::http::body::{BodyError, read_json};
use crate::state::AppState;

pub(crate) fn endpoints() -> Vec<Endpoint> {
    vec![ep(Method::POST, "/gateway/ng/api/webhooks/{identifier}/poll", post(poll))]
}

/// The audience of a polled subscription's SETs: the subscription, under the issuer.
pub fn poll_audience(iss: &str, identifier: &str) -> String {
    format!("{iss}/Feeds/{identifier}")
}

#[utoipa::path(
    post,
    path = "/gateway/ng/api/webhooks/{identifier}/poll",
    tag = "webhooks",
    operation_id = "poll_webhook",
    params(("identifier" = String, Path, description = "A subscription with deliveryMethod poll"), AccountParam),
    request_body(content = Object, description = "RFC 8936 §2.4: `{\"maxEvents\"?: 0–1000 (default 100), \"returnImmediately\"?: bool (default false: wait up to 30 s for events), \"ack\"?: [jti], \"setErrs\"?: {jti: {\"err\", \"description\"}}}`; an empty body is `{}`", content_type = "application/json"),
    responses((status = 200, description = "RFC 8936 §2.5, not in the envelope: `{\"sets\": {jti: SET (application/secevent+jwt, ES256, keys at /gateway/ng/api/events/jwks)}, \"moreAvailable\": bool}`. SETs handed out and not acknowledged are handed out again after 60 s", body = Object), ErrorResponses),
    security(("api_key" = []))
)]
async fn poll(
    State(st): State<AppState>,
    caller: ApiCaller,
    Path(identifier): Path<String>,
    req: Request,
) -> Result<Response, ApiError> {
    let body = match read_json(req, st.config.max_body_bytes).await {
        Ok(v) => v,
        Err(BodyError::Empty) => Value::Null,
        Err(e) => return Err(body_error(e).into()),
    };
    let request = PollRequest::from_json(&body)?;
    let wait = if request.return_immediately || request.max_events == 0 {
        Duration::ZERO
    } else {
        // A long poll ends well before the request time limit, so it answers instead of timing out.
        Duration::from_secs(MAX_WAIT_SECONDS)
            .min(st.config.request_timeout.saturating_sub(Duration::from_secs(2)))
    };
    let (events, more) = poll_or_wait(&st, &caller, &identifier, &request, wait).await?;
    let account = caller.account();
    let iss = delivery_base(&st.config, account.as_str());
    let aud = poll_audience(&iss, &identifier);
    let mut sets = Map::new();
    if !events.is_empty() {
        let key = st.set_keys.key(account).await?;
        let now = st.clock.now();
        for e in &events {
            sets.insert(e.id.clone(), json!(set::sign(&key, &set::claims(e, &iss, &aud, now))?));
        }
    }
    Ok(axum::Json(json!({"sets": sets, "moreAvailable": more})).into_response())
}
