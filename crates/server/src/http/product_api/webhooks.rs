//! Webhook subscriptions (`/gateway/ng/api/webhooks…`, docs/events.md "Webhooks"): create
//! (the secret answered once), list, get, update, delete, rotate the secret, the delivery log
//! and redelivery.

use axum::extract::{Path, Query, State};
use axum::http::Method;
use axum::routing::{get, post};
use scimgate_domain::webhooks::{Delivery, Webhook, WebhookInput};
use serde::Deserialize;
use serde_json::{Value, json};

use super::audit::{parse_cursor, parse_limit};
use super::openapi::{AccountParam, Conflict, ErrorResponses, SuccessEnvelope};
use super::{ApiJson, ApiResult, Endpoint, ep, millis, ok};
use crate::http::auth::ApiCaller;
use crate::state::AppState;

pub(crate) fn endpoints() -> Vec<Endpoint> {
    vec![
        ep(Method::POST, "/gateway/ng/api/webhooks", post(create)),
        ep(Method::GET, "/gateway/ng/api/webhooks", get(list)),
        ep(Method::GET, "/gateway/ng/api/webhooks/{identifier}", get(get_one)),
        ep(Method::PUT, "/gateway/ng/api/webhooks/{identifier}", axum::routing::put(update)),
        ep(Method::DELETE, "/gateway/ng/api/webhooks/{identifier}", axum::routing::delete(remove)),
        ep(Method::POST, "/gateway/ng/api/webhooks/{identifier}/rotate-secret", post(rotate)),
        ep(Method::GET, "/gateway/ng/api/webhooks/{identifier}/deliveries", get(deliveries)),
        ep(Method::POST, "/gateway/ng/api/webhooks/{identifier}/deliveries/{id}/redeliver", post(redeliver)),
    ]
}

/// A subscription on the wire; the secret only when `secret` (creation and rotation).
pub fn webhook_json(account: &str, w: &Webhook, secret: bool) -> Value {
    let mut v = json!({
        "identifier": w.identifier,
        "accountIdentifier": account,
        "url": w.url,
        "events": w.events.to_json(),
        "format": w.format.as_str(),
        "deliveryMethod": w.delivery.as_str(),
        "enabled": w.enabled,
        "status": w.status.as_str(),
        "delivery": {
            "cursor": w.cursor.to_string(),
            "attempts": w.attempts,
            "failingSince": w.first_failure.map(millis),
            "nextAttemptAt": (w.attempts > 0).then(|| millis(w.next_attempt)),
            "lastError": w.last_error,
        },
        "previousSecretValidUntil": w.previous_secret.as_ref().map(|(_, until)| millis(*until)),
        "createdAt": millis(w.created),
        "lastModifiedAt": millis(w.modified),
    });
    if secret {
        v["secret"] = json!(w.secret);
    }
    v
}

/// A delivery on the wire.
pub fn delivery_json(d: &Delivery) -> Value {
    json!({
        "id": d.id.to_string(),
        "eventId": d.event_id,
        "eventSeq": d.event_seq,
        "eventType": d.event_type,
        "attempt": d.attempt,
        "timestamp": millis(d.at),
        "status": d.status,
        "durationMs": d.duration_ms,
        "ok": d.ok,
        "error": d.error,
        "response": d.response,
        "redelivery": d.redelivery,
    })
}

/// The body of a create or update: `{identifier, url, events, format?, enabled?}`.
#[derive(Deserialize, utoipa::ToSchema)]
#[allow(dead_code, reason = "the schema of the body; the handlers read it as JSON")]
pub(crate) struct WebhookBody {
    /// Unique in the account: `^[a-zA-Z_][0-9a-zA-Z_$]{0,127}$`.
    identifier: String,
    /// Where events are POSTed: https, a public address (see docs/events.md). Absent for
    /// `deliveryMethod` `poll`.
    url: Option<String>,
    /// `["*"]` or a list of event types.
    events: Vec<String>,
    /// `standard` (default): Standard Webhooks; `set`: RFC 9967 security event tokens.
    format: Option<String>,
    /// `push` (default): POSTed to `url` (Standard Webhooks or RFC 8935); `poll`: the
    /// receiver polls `…/webhooks/{identifier}/poll` (RFC 8936, format `set` only).
    #[serde(rename = "deliveryMethod")]
    delivery_method: Option<String>,
    /// Default true.
    enabled: Option<bool>,
}

#[utoipa::path(
    post,
    path = "/gateway/ng/api/webhooks",
    tag = "webhooks",
    operation_id = "create_webhook",
    params(AccountParam),
    request_body = WebhookBody,
    responses((status = 200, description = "`data`: the subscription `{identifier, accountIdentifier, url, events, format, deliveryMethod, enabled, status, delivery, previousSecretValidUntil, createdAt, lastModifiedAt}` and, this once, `secret` (`whsec_…`)", body = SuccessEnvelope), ErrorResponses, Conflict),
    security(("api_key" = []))
)]
async fn create(State(st): State<AppState>, caller: ApiCaller, ApiJson(body): ApiJson<Value>) -> ApiResult {
    let input = WebhookInput::from_json(&body)?;
    let hook = st.webhooks.create(&caller, &input).await?;
    st.event_signal.ring();
    Ok(ok(webhook_json(caller.account().as_str(), &hook, true)))
}

#[utoipa::path(
    get,
    path = "/gateway/ng/api/webhooks",
    tag = "webhooks",
    operation_id = "list_webhooks",
    params(AccountParam),
    responses((status = 200, description = "`data`: `{webhooks: [subscription]}` by identifier (never a secret)", body = SuccessEnvelope), ErrorResponses),
    security(("api_key" = []))
)]
async fn list(State(st): State<AppState>, caller: ApiCaller) -> ApiResult {
    let hooks = st.webhooks.list(&caller).await?;
    let account = caller.account().as_str();
    Ok(ok(json!({"webhooks": hooks.iter().map(|h| webhook_json(account, h, false)).collect::<Vec<_>>()})))
}

#[utoipa::path(
    get,
    path = "/gateway/ng/api/webhooks/{identifier}",
    tag = "webhooks",
    operation_id = "get_webhook",
    params(("identifier" = String, Path, description = "The subscription"), AccountParam),
    responses((status = 200, description = "`data`: the subscription (never its secret)", body = SuccessEnvelope), ErrorResponses),
    security(("api_key" = []))
)]
async fn get_one(State(st): State<AppState>, caller: ApiCaller, Path(id): Path<String>) -> ApiResult {
    let hook = st.webhooks.get(&caller, &id).await?;
    Ok(ok(webhook_json(caller.account().as_str(), &hook, false)))
}

#[utoipa::path(
    put,
    path = "/gateway/ng/api/webhooks/{identifier}",
    tag = "webhooks",
    operation_id = "update_webhook",
    params(("identifier" = String, Path, description = "The subscription"), AccountParam),
    request_body = WebhookBody,
    responses((status = 200, description = "`data`: the subscription as stored; `enabled: true` on a failing one makes it active again, from the event it was stuck on", body = SuccessEnvelope), ErrorResponses),
    security(("api_key" = []))
)]
async fn update(
    State(st): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
    ApiJson(mut body): ApiJson<Value>,
) -> ApiResult {
    if let Some(obj) = body.as_object_mut() {
        obj.entry("identifier").or_insert_with(|| json!(id));
    }
    let input = WebhookInput::from_json(&body)?;
    let hook = st.webhooks.update(&caller, &id, &input).await?;
    st.event_signal.ring();
    Ok(ok(webhook_json(caller.account().as_str(), &hook, false)))
}

#[utoipa::path(
    delete,
    path = "/gateway/ng/api/webhooks/{identifier}",
    tag = "webhooks",
    operation_id = "delete_webhook",
    params(("identifier" = String, Path, description = "The subscription"), AccountParam),
    responses((status = 200, description = "`data`: `true`", body = SuccessEnvelope), ErrorResponses),
    security(("api_key" = []))
)]
async fn remove(State(st): State<AppState>, caller: ApiCaller, Path(id): Path<String>) -> ApiResult {
    st.webhooks.delete(&caller, &id).await?;
    Ok(ok(json!(true)))
}

#[utoipa::path(
    post,
    path = "/gateway/ng/api/webhooks/{identifier}/rotate-secret",
    tag = "webhooks",
    operation_id = "rotate_webhook_secret",
    params(("identifier" = String, Path, description = "The subscription"), AccountParam),
    responses((status = 200, description = "`data`: the subscription with its new `secret`, shown this once; the old secret also signs until `previousSecretValidUntil` (24 hours)", body = SuccessEnvelope), ErrorResponses),
    security(("api_key" = []))
)]
async fn rotate(State(st): State<AppState>, caller: ApiCaller, Path(id): Path<String>) -> ApiResult {
    let hook = st.webhooks.rotate_secret(&caller, &id).await?;
    Ok(ok(webhook_json(caller.account().as_str(), &hook, true)))
}

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct DeliveryParams {
    /// The `next` of the previous page.
    pub cursor: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
}

#[utoipa::path(
    get,
    path = "/gateway/ng/api/webhooks/{identifier}/deliveries",
    tag = "webhooks",
    operation_id = "list_webhook_deliveries",
    params(("identifier" = String, Path, description = "The subscription"), AccountParam, DeliveryParams),
    responses((status = 200, description = "`data`: `{deliveries: [{id, eventId, eventSeq, eventType, attempt, timestamp, status, durationMs, ok, error, response, redelivery}], next}`, newest first; `response` is the first KiB of the receiver's answer", body = SuccessEnvelope), ErrorResponses),
    security(("api_key" = []))
)]
async fn deliveries(
    State(st): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
    Query(q): Query<DeliveryParams>,
) -> ApiResult {
    let limit = parse_limit(q.limit.as_deref())?;
    let list = st.webhooks.deliveries(&caller, &id, parse_cursor(q.cursor.as_deref())?, limit).await?;
    let next = match list.last() {
        Some(d) if list.len() == limit as usize => json!(d.id.to_string()),
        _ => Value::Null,
    };
    Ok(ok(json!({"deliveries": list.iter().map(delivery_json).collect::<Vec<_>>(), "next": next})))
}

#[utoipa::path(
    post,
    path = "/gateway/ng/api/webhooks/{identifier}/deliveries/{id}/redeliver",
    tag = "webhooks",
    operation_id = "redeliver_webhook",
    params(
        ("identifier" = String, Path, description = "The subscription"),
        ("id" = String, Path, description = "The delivery whose event is sent again"),
        AccountParam
    ),
    responses((status = 200, description = "`data`: the new delivery (sent now, with the event's same id; the subscription's own schedule is not changed)", body = SuccessEnvelope), ErrorResponses),
    security(("api_key" = []))
)]
async fn redeliver(
    State(st): State<AppState>,
    caller: ApiCaller,
    Path((id, delivery)): Path<(String, String)>,
) -> ApiResult {
    let n = delivery.parse::<i64>().map_err(|_| {
        scimgate_domain::DomainError::NotFound(format!("delivery '{delivery}' of webhook '{id}' not found"))
    })?;
    let (account, hook, d) = st.webhooks.redelivery(&caller, &id, n).await?;
    let sent = crate::events::deliver::redeliver(&st, &account, &hook, &d).await?;
    Ok(ok(delivery_json(&sent)))
}
