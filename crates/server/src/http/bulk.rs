//! `/Bulk` (RFC 7644 §3.7): operations in order, `bulkId` references resolved (including
//! forward references, by deferring an operation until the POST it needs has run),
//! `failOnErrors`, and the operation-count limit of `/ServiceProviderConfig`.

use std::collections::HashMap;

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Map, Value, json};

use scimgate_domain::DomainError;
use scimgate_domain::scim_service::etag;
use scimgate_scim::resource::get_ci;
use scimgate_scim::schema::ResourceKind;
use scimgate_scim::{BULK_REQUEST_URN, BULK_RESPONSE_URN, ScimError, ScimType};

use crate::http::auth::ScimCaller;
use crate::http::body::ScimBody;
use crate::http::error::ScimApiError;
use crate::http::scim::{BULK_MAX_OPERATIONS, base_url, scim_json};
use crate::state::AppState;
use scimgate_domain::scim_service::ReadBack;

struct Op {
    index: usize,
    method: String,
    bulk_id: Option<String>,
    version: Option<i64>,
    path: String,
    data: Option<Value>,
}

/// POST /Bulk.
pub async fn bulk(
    axum::extract::State(st): axum::extract::State<AppState>,
    caller: ScimCaller,
    headers: HeaderMap,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimApiError> {
    let obj = body
        .as_object()
        .ok_or_else(|| ScimError::invalid_syntax("the Bulk body must be a BulkRequest object"))?;
    if let Some(s) = get_ci(obj, "schemas") {
        let ok = s.as_array().is_some_and(|l| {
            l.iter().any(|x| x.as_str().is_some_and(|x| x.eq_ignore_ascii_case(BULK_REQUEST_URN)))
        });
        if !ok {
            return Err(
                ScimError::invalid_syntax(format!("'schemas' must contain '{BULK_REQUEST_URN}'")).into()
            );
        }
    }
    let fail_on_errors = match get_ci(obj, "failOnErrors") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_u64()
                .filter(|n| *n >= 1)
                .ok_or_else(|| ScimError::invalid_value("failOnErrors must be a positive integer"))?,
        ),
    };
    let raw_ops = get_ci(obj, "Operations")
        .and_then(Value::as_array)
        .ok_or_else(|| ScimError::invalid_syntax("the Bulk body needs an 'Operations' array"))?;
    if raw_ops.len() > BULK_MAX_OPERATIONS {
        return Err(ScimError::new(
            413,
            Some(ScimType::TooMany),
            format!(
                "a Bulk request may hold at most {BULK_MAX_OPERATIONS} operations; it had {}",
                raw_ops.len()
            ),
        )
        .into());
    }
    let mut ops = Vec::with_capacity(raw_ops.len());
    for (index, raw) in raw_ops.iter().enumerate() {
        let o = raw
            .as_object()
            .ok_or_else(|| ScimError::invalid_syntax(format!("Operations[{index}] must be an object")))?;
        let s = |k: &str| get_ci(o, k).and_then(Value::as_str).map(str::to_string);
        let method = s("method")
            .map(|m| m.to_ascii_uppercase())
            .filter(|m| ["POST", "PUT", "PATCH", "DELETE"].contains(&m.as_str()))
            .ok_or_else(|| {
                ScimError::invalid_syntax(format!(
                    "Operations[{index}].method must be POST, PUT, PATCH or DELETE"
                ))
            })?;
        let path = s("path")
            .ok_or_else(|| ScimError::invalid_syntax(format!("Operations[{index}].path is required")))?;
        let bulk_id = s("bulkId");
        if method == "POST" && bulk_id.is_none() {
            return Err(ScimError::invalid_syntax(format!(
                "Operations[{index}]: POST needs a bulkId (RFC 7644 §3.7)"
            ))
            .into());
        }
        let version = s("version").and_then(|v| v.trim_start_matches("W/").trim_matches('"').parse().ok());
        ops.push(Op { index, method, bulk_id, version, path, data: get_ci(o, "data").cloned() });
    }
    let declared: Vec<String> =
        ops.iter().filter(|o| o.method == "POST").filter_map(|o| o.bulk_id.clone()).collect();
    let base = base_url(&headers, caller.account().as_str());
    let mut resolved: HashMap<String, String> = HashMap::new();
    let mut results: Vec<(usize, Value)> = Vec::new();
    let mut errors = 0u64;
    let mut pending: Vec<Op> = ops;
    loop {
        let mut deferred = Vec::new();
        let mut progressed = false;
        for op in pending {
            if fail_on_errors.is_some_and(|n| errors >= n) {
                break;
            }
            let refs = references(&op);
            if let Some(missing) = refs.iter().find(|r| !declared.contains(r)) {
                errors += 1;
                results.push((
                    op.index,
                    op_error(
                        &op,
                        ScimError::invalid_value(format!(
                            "bulkId '{missing}' is not defined by a POST in this request"
                        )),
                    ),
                ));
                progressed = true;
                continue;
            }
            if refs.iter().any(|r| !resolved.contains_key(r)) {
                deferred.push(op);
                continue;
            }
            progressed = true;
            let outcome = run(&st, &caller, &base, &op, &resolved).await;
            match outcome {
                Ok((status, location, version, id)) => {
                    if let (Some(b), Some(id)) = (&op.bulk_id, id) {
                        resolved.insert(b.clone(), id);
                    }
                    let mut r = Map::new();
                    r.insert("method".into(), json!(op.method));
                    if let Some(b) = &op.bulk_id {
                        r.insert("bulkId".into(), json!(b));
                    }
                    if let Some(v) = version {
                        r.insert("version".into(), json!(etag(v)));
                    }
                    if let Some(l) = location {
                        r.insert("location".into(), json!(l));
                    }
                    r.insert("status".into(), json!(status.to_string()));
                    results.push((op.index, Value::Object(r)));
                }
                Err(e) => {
                    errors += 1;
                    results.push((op.index, op_error(&op, e)));
                }
            }
        }
        if deferred.is_empty() {
            break;
        }
        let stopped = fail_on_errors.is_some_and(|n| errors >= n);
        if !progressed || stopped {
            if !stopped {
                for op in deferred {
                    results.push((
                        op.index,
                        op_error(
                            &op,
                            ScimError::new(
                                409,
                                Some(ScimType::InvalidSyntax),
                                "circular bulkId references cannot be resolved",
                            ),
                        ),
                    ));
                }
            }
            break;
        }
        pending = deferred;
    }
    results.sort_by_key(|(i, _)| *i);
    let operations: Vec<Value> = results.into_iter().map(|(_, v)| v).collect();
    Ok(scim_json(StatusCode::OK, &json!({"schemas": [BULK_RESPONSE_URN], "Operations": operations})))
}

fn op_error(op: &Op, e: ScimError) -> Value {
    let mut r = Map::new();
    r.insert("method".into(), json!(op.method));
    if let Some(b) = &op.bulk_id {
        r.insert("bulkId".into(), json!(b));
    }
    r.insert("status".into(), json!(e.status.to_string()));
    r.insert("response".into(), e.to_json());
    Value::Object(r)
}

fn references(op: &Op) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::String(s) => {
                if let Some(id) = s.strip_prefix("bulkId:") {
                    out.push(id.to_string());
                }
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            Value::Object(o) => o.values().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    if let Some(d) = &op.data {
        walk(d, &mut out);
    }
    for seg in op.path.split('/') {
        if let Some(id) = seg.strip_prefix("bulkId:") {
            out.push(id.to_string());
        }
    }
    out
}

fn substitute(v: &Value, resolved: &HashMap<String, String>) -> Value {
    match v {
        Value::String(s) => match s.strip_prefix("bulkId:").and_then(|id| resolved.get(id)) {
            Some(real) => Value::String(real.clone()),
            None => v.clone(),
        },
        Value::Array(a) => Value::Array(a.iter().map(|x| substitute(x, resolved)).collect()),
        Value::Object(o) => {
            Value::Object(o.iter().map(|(k, x)| (k.clone(), substitute(x, resolved))).collect())
        }
        other => other.clone(),
    }
}

type Outcome = (u16, Option<String>, Option<i64>, Option<String>);

async fn run(
    st: &AppState,
    caller: &ScimCaller,
    base: &str,
    op: &Op,
    resolved: &HashMap<String, String>,
) -> Result<Outcome, ScimError> {
    let segments: Vec<String> = op
        .path
        .trim_start_matches('/')
        .split('/')
        .map(|s| {
            s.strip_prefix("bulkId:")
                .and_then(|id| resolved.get(id))
                .cloned()
                .unwrap_or_else(|| s.to_string())
        })
        .collect();
    let kind = match segments.first().map(String::as_str) {
        Some("Users") => ResourceKind::User,
        Some("Groups") => ResourceKind::Group,
        _ => {
            return Err(ScimError::invalid_path(format!(
                "path '{}' must start with /Users or /Groups",
                op.path
            )));
        }
    };
    let id = segments.get(1).cloned();
    if segments.len() > 2 || (op.method == "POST") != id.is_none() {
        return Err(ScimError::invalid_path(format!("path '{}' does not fit method {}", op.path, op.method)));
    }
    let data = op.data.as_ref().map(|d| substitute(d, resolved));
    let need_data =
        || data.clone().ok_or_else(|| ScimError::invalid_syntax(format!("{} needs 'data'", op.method)));
    let map = |e: DomainError| -> ScimError { ScimApiError::from(e).0 };
    // Each operation is authorized on its own by the service: a Bulk request is no way
    // around a missing permission, and the failing operation reports the 403 in its own
    // status.
    match (op.method.as_str(), id) {
        ("POST", None) => {
            let r = st.scim.create(caller, kind, &need_data()?).await.map_err(map)?;
            let loc = format!("{base}/{}/{}", kind.endpoint(), r.id);
            Ok((201, Some(loc), Some(r.version), Some(r.id)))
        }
        ("PUT", Some(id)) => {
            let r = st.scim.replace(caller, kind, &id, &need_data()?, op.version).await.map_err(map)?;
            Ok((200, Some(format!("{base}/{}/{id}", kind.endpoint())), Some(r.version), None))
        }
        ("PATCH", Some(id)) => {
            let o = st
                .scim
                .patch(caller, kind, &id, &need_data()?, op.version, ReadBack::Nothing)
                .await
                .map_err(map)?;
            Ok((200, Some(format!("{base}/{}/{id}", kind.endpoint())), Some(o.version), None))
        }
        ("DELETE", Some(id)) => {
            st.scim.delete(caller, kind, &id, op.version).await.map_err(map)?;
            Ok((204, Some(format!("{base}/{}/{id}", kind.endpoint())), None, None))
        }
        _ => Err(ScimError::invalid_path(format!("path '{}' does not fit method {}", op.path, op.method))),
    }
}
