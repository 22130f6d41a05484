//! The audit log (`GET /gateway/ng/api/audit`) and the SCIM request log
//! (`GET /gateway/ng/api/scim-requests`), docs/audit.md. Both are keyset-paged newest first:
//! `limit` (1–1,000, default 100) and `cursor`, the `next` of the previous page.

use axum::extract::{Query, State};
use axum::http::Method;
use axum::routing::get;
use scimgate_domain::DomainError;
use scimgate_domain::audit::{AuditQuery, AuditRecord, AuditResource, action};
use scimgate_domain::request_log::{ScimRequest, ScimRequestQuery, StatusClass};
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::openapi::{AccountParam, ErrorResponses, SuccessEnvelope};
use super::{ApiResult, Endpoint, ep, millis, ok};
use crate::http::auth::ApiCaller;
use crate::state::AppState;

/// The page size when `limit` is not given.
pub const DEFAULT_LIMIT: u32 = 100;

pub(crate) fn endpoints() -> Vec<Endpoint> {
    vec![
        ep(Method::GET, "/gateway/ng/api/audit", get(audit)),
        ep(Method::GET, "/gateway/ng/api/scim-requests", get(requests)),
    ]
}

/// A time filter: epoch milliseconds (the product API's times) or RFC 3339.
pub fn parse_time(name: &str, v: &str) -> Result<OffsetDateTime, DomainError> {
    let v = v.trim();
    if let Ok(ms) = v.parse::<i64>() {
        return OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
            .map_err(|_| DomainError::invalid(format!("{name} is out of range")));
    }
    OffsetDateTime::parse(v, &Rfc3339).map_err(|_| {
        DomainError::invalid(format!(
            "{name} must be epoch milliseconds or an RFC 3339 time such as 2026-12-01T09:30:00Z"
        ))
    })
}

/// `limit`: 1 to 1,000.
pub fn parse_limit(v: Option<&str>) -> Result<u32, DomainError> {
    match v.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(DEFAULT_LIMIT),
        Some(v) => {
            v.parse::<u32>().ok().filter(|n| (1..=1_000).contains(n)).ok_or_else(|| {
                DomainError::invalid(format!("limit must be a number from 1 to 1000, not '{v}'"))
            })
        }
    }
}

/// `cursor`: the `next` of the previous page.
pub fn parse_cursor(v: Option<&str>) -> Result<Option<i64>, DomainError> {
    match v.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v.parse::<i64>().map(Some).map_err(|_| {
            DomainError::invalid("cursor is not one this server gave: pass the 'next' of the previous page")
        }),
    }
}

/// The cursor of the page after one of `len` entries ending at `last`.
fn next_cursor(len: usize, limit: u32, last: Option<i64>) -> Value {
    match last {
        Some(seq) if len == limit as usize => json!(seq.to_string()),
        _ => Value::Null,
    }
}

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub(crate) struct AuditParams {
    /// Only entries about this kind of resource, such as `SERVICE_ACCOUNT` (docs/audit.md).
    pub resource_type: Option<String>,
    /// Only entries about this resource.
    pub resource_id: Option<String>,
    /// Only entries by this principal.
    pub principal: Option<String>,
    /// Only entries of this action, such as `CREATE`.
    pub action: Option<String>,
    /// From this time: epoch milliseconds or RFC 3339.
    pub from: Option<String>,
    /// Up to this time: epoch milliseconds or RFC 3339.
    pub to: Option<String>,
    /// The `next` of the previous page.
    pub cursor: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
}

fn nonempty(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

impl AuditParams {
    /// The query these parameters ask for.
    pub fn query(&self) -> Result<AuditQuery, DomainError> {
        let resource_type = match nonempty(&self.resource_type) {
            None => None,
            Some(t) => Some(AuditResource::parse(t).ok_or_else(|| {
                let known: Vec<&str> = AuditResource::ALL.iter().map(|k| k.as_str()).collect();
                DomainError::invalid(format!("resourceType '{t}' is not one of {}", known.join(", ")))
            })?),
        };
        let action = match nonempty(&self.action) {
            None => None,
            Some(a) => {
                Some(action::ALL.into_iter().find(|k| k.eq_ignore_ascii_case(a)).ok_or_else(|| {
                    DomainError::invalid(format!("action '{a}' is not one of {}", action::ALL.join(", ")))
                })?)
            }
        };
        Ok(AuditQuery {
            resource_type,
            resource_id: nonempty(&self.resource_id).map(str::to_string),
            principal: nonempty(&self.principal).map(str::to_string),
            action,
            from: nonempty(&self.from).map(|v| parse_time("from", v)).transpose()?,
            to: nonempty(&self.to).map(|v| parse_time("to", v)).transpose()?,
            before: parse_cursor(self.cursor.as_deref())?,
            limit: parse_limit(self.limit.as_deref())?,
        })
    }
}

/// One audit entry on the wire.
pub fn audit_json(r: &AuditRecord) -> Value {
    let a = &r.actor;
    json!({
        "seq": r.seq,
        "timestamp": millis(r.at),
        "principal": {"type": a.principal_type, "identifier": a.principal_id},
        "credentialId": a.credential_id,
        "jwt": a.jwt.as_ref().map(|j| json!({"iss": j.iss, "sub": j.sub, "jti": j.jti})),
        "requestId": a.request_id,
        "action": r.action,
        "resourceType": r.resource_type,
        "resourceId": r.resource_id,
        "summary": r.summary,
    })
}

#[utoipa::path(
    get,
    path = "/gateway/ng/api/audit",
    tag = "audit",
    operation_id = "list_audit",
    params(AccountParam, AuditParams),
    responses((status = 200, description = "`data`: `{entries: [{seq, timestamp, principal: {type, identifier}, credentialId, jwt, requestId, action, resourceType, resourceId, summary}], next}`, newest first; `next` is the cursor of the next page, null after the last", body = SuccessEnvelope), ErrorResponses),
    security(("api_key" = []))
)]
async fn audit(State(st): State<AppState>, caller: ApiCaller, Query(q): Query<AuditParams>) -> ApiResult {
    let query = q.query()?;
    let entries = st.audit.list(&caller, &query).await?;
    let next = next_cursor(entries.len(), query.limit, entries.last().map(|e| e.seq));
    Ok(ok(json!({"entries": entries.iter().map(audit_json).collect::<Vec<_>>(), "next": next})))
}

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub(crate) struct RequestParams {
    /// Only requests with this HTTP method.
    pub method: Option<String>,
    /// Only requests answered with this class of status: `2xx`, `4xx` or `5xx`.
    pub status: Option<String>,
    /// Only requests whose path contains this text.
    pub path_contains: Option<String>,
    /// From this time: epoch milliseconds or RFC 3339.
    pub since: Option<String>,
    /// Up to this time: epoch milliseconds or RFC 3339.
    pub until: Option<String>,
    /// The `next` of the previous page.
    pub cursor: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
}

impl RequestParams {
    /// The query these parameters ask for.
    pub fn query(&self) -> Result<ScimRequestQuery, DomainError> {
        let status =
            match nonempty(&self.status) {
                None => None,
                Some(s) => Some(StatusClass::parse(s).ok_or_else(|| {
                    DomainError::invalid(format!("status must be 2xx, 4xx or 5xx, not '{s}'"))
                })?),
            };
        let method = match nonempty(&self.method) {
            None => None,
            Some(m) if m.len() <= 10 && m.bytes().all(|b| b.is_ascii_alphabetic()) => {
                Some(m.to_ascii_uppercase())
            }
            Some(m) => return Err(DomainError::invalid(format!("method '{m}' is not an HTTP method"))),
        };
        Ok(ScimRequestQuery {
            method,
            status,
            path_contains: nonempty(&self.path_contains).map(|p| p.chars().take(256).collect()),
            since: nonempty(&self.since).map(|v| parse_time("since", v)).transpose()?,
            until: nonempty(&self.until).map(|v| parse_time("until", v)).transpose()?,
            before: parse_cursor(self.cursor.as_deref())?,
            limit: parse_limit(self.limit.as_deref())?,
        })
    }
}

/// A stored body on the wire: its JSON when it is whole JSON, else the stored text.
fn body_json(b: &Option<String>) -> Value {
    match b {
        None => Value::Null,
        Some(text) => serde_json::from_str(text).unwrap_or_else(|_| json!(text)),
    }
}

/// One logged request on the wire.
pub fn request_json(r: &ScimRequest) -> Value {
    json!({
        "seq": r.seq,
        "timestamp": millis(r.at),
        "method": r.method,
        "path": r.path,
        "query": r.query,
        "status": r.status,
        "durationMs": r.duration_us as f64 / 1000.0,
        "principal": r.principal,
        "credentialId": r.credential_id,
        "userAgent": r.user_agent,
        "requestId": r.request_id,
        "requestBody": body_json(&r.request_body),
        "responseBody": body_json(&r.response_body),
    })
}

#[utoipa::path(
    get,
    path = "/gateway/ng/api/scim-requests",
    tag = "audit",
    operation_id = "list_scim_requests",
    params(AccountParam, RequestParams),
    responses((status = 200, description = "`data`: `{requests: [{seq, timestamp, method, path, query, status, durationMs, principal, credentialId, userAgent, requestId, requestBody, responseBody}], next}`, newest first; `next` is the cursor of the next page, null after the last", body = SuccessEnvelope), ErrorResponses),
    security(("api_key" = []))
)]
async fn requests(
    State(st): State<AppState>,
    caller: ApiCaller,
    Query(q): Query<RequestParams>,
) -> ApiResult {
    let query = q.query()?;
    let rows = st.audit.requests(&caller, &query).await?;
    let next = next_cursor(rows.len(), query.limit, rows.last().map(|r| r.seq));
    Ok(ok(json!({"requests": rows.iter().map(request_json).collect::<Vec<_>>(), "next": next})))
}
