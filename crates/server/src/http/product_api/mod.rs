//! The non-SCIM product API (docs/contract.md §2): organizations, projects, service accounts,
//! roles, role assignments, resource groups, API keys and tokens. Answers use the envelope
//! `{"status":"SUCCESS","data":…,"metaData":null,"correlationId":…}`; failures
//! `{"status":"ERROR","code":…,"message":…,"correlationId":…}`.

pub mod apikeys;
pub mod audit;
pub mod authz;
pub mod events;
pub mod openapi;
pub mod orgs;
pub mod poll;
pub mod service_accounts;
pub mod settings;
pub mod webhooks;

use axum::Router;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use scimgate_domain::DomainError;
use scimgate_domain::entities::{PageRequest, Paged, Tags};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::http::body::{BodyError, read_json};
use crate::state::AppState;

tokio::task_local! {
    static CORRELATION_ID: String;
}

/// The layers of the product API: the correlation id for every envelope below, and a panic
/// answered with the 500 envelope carrying it (docs/contract.md §2).
pub fn with_product_layers<S: Clone + Send + Sync + 'static>(routes: Router<S>) -> Router<S> {
    routes
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_| {
            error_envelope(StatusCode::INTERNAL_SERVER_ERROR, "UNEXPECTED", "internal error")
        }))
        // Outside the panic layer, so that its envelope carries the correlation id too.
        .layer(axum::middleware::from_fn(correlation))
}

/// Runs the rest of the request with its correlation id at hand, so that envelopes built
/// anywhere below carry it.
pub async fn correlation(req: Request, next: Next) -> Response {
    let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    CORRELATION_ID.scope(id, next.run(req)).await
}

fn correlation_id() -> Value {
    CORRELATION_ID.try_with(|id| Value::String(id.clone())).unwrap_or(Value::Null)
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut res = (status, body.to_string()).into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res
}

/// A success envelope.
pub struct Envelope(pub StatusCode, pub Value);

/// 200 with `data`.
pub fn ok(data: Value) -> Envelope {
    Envelope(StatusCode::OK, data)
}

impl IntoResponse for Envelope {
    fn into_response(self) -> Response {
        json_response(
            self.0,
            &json!({"status": "SUCCESS", "data": self.1, "metaData": null, "correlationId": correlation_id()}),
        )
    }
}

/// An error of the non-SCIM API, answered with the error envelope.
#[derive(Debug)]
pub struct ApiError(pub DomainError);

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        Self(e)
    }
}

/// The error envelope.
pub fn error_envelope(status: StatusCode, code: &str, message: &str) -> Response {
    json_response(
        status,
        &json!({"status": "ERROR", "code": code, "message": message, "correlationId": correlation_id()}),
    )
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, message) = match self.0 {
            DomainError::NotFound(m) => (StatusCode::NOT_FOUND, "RESOURCE_NOT_FOUND", m),
            DomainError::Conflict(m) => (StatusCode::CONFLICT, "DUPLICATE_FIELD", m),
            DomainError::Invalid(e) => (StatusCode::BAD_REQUEST, "INVALID_REQUEST", e.detail),
            DomainError::PreconditionFailed(v) => {
                (StatusCode::PRECONDITION_FAILED, "INVALID_REQUEST", format!("version {v} no longer matches"))
            }
            DomainError::Unauthenticated(reason) => {
                tracing::info!(reason, "authentication failed");
                (
                    StatusCode::UNAUTHORIZED,
                    "INVALID_TOKEN",
                    "authentication failed: the x-api-key token is missing, invalid, expired or not for this account"
                        .to_string(),
                )
            }
            DomainError::Forbidden(p) => (
                StatusCode::FORBIDDEN,
                "NG_ACCESS_DENIED",
                format!("missing permission {p}: the caller's roles do not grant it"),
            ),
            DomainError::ForbiddenMessage(m) => (StatusCode::FORBIDDEN, "NG_ACCESS_DENIED", m),
            DomainError::NotConfigured(m) => (StatusCode::UNAUTHORIZED, "INVALID_TOKEN", m),
            DomainError::FeatureDisabled(flag) => (
                StatusCode::FORBIDDEN,
                "FEATURE_NOT_ENABLED",
                format!("the feature flag {flag} is not enabled for this account"),
            ),
            DomainError::Gone(m) => (StatusCode::GONE, "RESOURCE_GONE", m),
            DomainError::Timeout(m) => {
                tracing::warn!(error = %m, "statement time limit reached");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "SERVICE_UNAVAILABLE",
                    crate::http::error::TIMEOUT_DETAIL.to_string(),
                )
            }
            DomainError::Unavailable(m) | DomainError::SerializationFailure(m) => {
                tracing::error!(error = %m, "database unavailable");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "SERVICE_UNAVAILABLE",
                    "the database is unavailable; retry shortly".to_string(),
                )
            }
            e @ (DomainError::VersionMismatch | DomainError::Internal(_)) => {
                tracing::error!(error = %e, "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "UNEXPECTED",
                    "internal server error; the server log has details (see X-Request-Id)".to_string(),
                )
            }
        };
        let mut res = error_envelope(status, code, &message);
        if status == StatusCode::UNAUTHORIZED {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("ApiKey realm=\"scimgate\""));
        }
        res
    }
}

/// A result of the non-SCIM API.
pub type ApiResult = Result<Envelope, ApiError>;

/// What is wrong with a request body, as a 400 says it.
pub(crate) fn body_error(e: BodyError) -> DomainError {
    DomainError::invalid(match e {
        BodyError::UnsupportedType(ct) => {
            format!("Content-Type '{ct}' is not supported; send application/json")
        }
        BodyError::TooLarge(limit) => format!("the request body exceeds the limit of {limit} bytes"),
        BodyError::Unreadable => "the request body could not be read".to_string(),
        BodyError::Empty => "the request body is empty; a JSON object is required".to_string(),
        BodyError::NotJson(e) => format!("the request body is not valid JSON: {e}"),
    })
}

/// A JSON body: `application/json` (or no content type), size-limited, decoded into `T`
/// with a message naming what is wrong.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let value = read_json(req, state.config.max_body_bytes).await.map_err(body_error)?;
        let t = serde_json::from_value(value)
            .map_err(|e| DomainError::invalid(format!("the request body has the wrong shape: {e}")))?;
        Ok(ApiJson(t))
    }
}

/// An update names its resource in the path; an identifier in the body, when there is one,
/// must be the same.
pub fn same_identifier(body: Option<&str>, path: &str) -> Result<(), ApiError> {
    match body {
        Some(b) if b != path => {
            Err(DomainError::invalid("the identifier in the body differs from the one in the path").into())
        }
        _ => Ok(()),
    }
}

/// Query parameters every list takes.
#[derive(Debug, Deserialize, Default, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// 0-based page.
    #[param(value_type = Option<u64>)]
    pub page_index: Option<String>,
    /// Page size (default 50, at most 100).
    #[param(value_type = Option<u64>, minimum = 1)]
    pub page_size: Option<String>,
    /// Substring to match.
    pub search_term: Option<String>,
}

/// Default page size of the non-SCIM lists.
pub const DEFAULT_PAGE_SIZE: u64 = 50;
/// Largest page size of the non-SCIM lists.
pub const MAX_PAGE_SIZE: u64 = 100;

impl ListParams {
    /// The page asked for; 400 for values that are not numbers.
    pub fn page(&self) -> Result<PageRequest, ApiError> {
        let num = |v: &Option<String>, name: &str, default: u64| -> Result<u64, ApiError> {
            match v.as_deref() {
                None | Some("") => Ok(default),
                Some(s) => s.parse::<u64>().map_err(|_| {
                    DomainError::invalid(format!("{name} must be a non-negative integer, not '{s}'")).into()
                }),
            }
        };
        let index = num(&self.page_index, "pageIndex", 0)?;
        let size = num(&self.page_size, "pageSize", DEFAULT_PAGE_SIZE)?;
        if size == 0 {
            return Err(DomainError::invalid("pageSize must be at least 1").into());
        }
        if index > 1_000_000 {
            return Err(DomainError::invalid("pageIndex is too large").into());
        }
        Ok(PageRequest { index, size: size.min(MAX_PAGE_SIZE) })
    }
    /// The search term, when not empty.
    pub fn search(&self) -> Option<&str> {
        self.search_term.as_deref().map(str::trim).filter(|s| !s.is_empty())
    }
}

/// `data` of a list: `{"content", "pageIndex", "pageSize", "totalItems", "totalPages", "empty"}`.
pub fn page_data<T>(page: PageRequest, p: Paged<T>, render: impl Fn(&T) -> Value) -> Value {
    let total_pages = p.total.div_ceil(page.size);
    json!({
        "content": p.items.iter().map(render).collect::<Vec<_>>(),
        "pageIndex": page.index,
        "pageSize": page.size,
        "totalItems": p.total,
        "totalPages": total_pages,
        "empty": p.items.is_empty(),
    })
}

/// Epoch milliseconds.
pub fn millis(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

/// From epoch milliseconds, with a clear error for out-of-range values.
pub fn from_millis(ms: i64, name: &str) -> Result<OffsetDateTime, ApiError> {
    OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .map_err(|_| DomainError::invalid(format!("{name} is not a valid epoch-milliseconds time")).into())
}

/// Tags as JSON.
pub fn tags_json(t: &Tags) -> Value {
    json!(t)
}

/// Query parameters naming a scope.
#[derive(Debug, Deserialize, Default, Clone, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ScopeParams {
    /// The account (also checked by authentication).
    #[param(ignore)] // documented by openapi::AccountParam, on every operation
    pub account_identifier: Option<String>,
    /// Organization.
    pub org_identifier: Option<String>,
    /// Project.
    pub project_identifier: Option<String>,
}

/// One product endpoint: its method, its path and its handler. The router is built from
/// this table, and the tests walk the same table (cross-account isolation on every route).
pub struct Endpoint {
    /// HTTP method.
    pub method: Method,
    /// Path with `{param}` placeholders.
    pub path: &'static str,
    /// Handler.
    pub handler: MethodRouter<AppState>,
}

/// Every non-SCIM product endpoint.
pub fn endpoints() -> Vec<Endpoint> {
    let mut v = Vec::new();
    v.extend(orgs::endpoints());
    v.extend(service_accounts::endpoints());
    v.extend(authz::endpoints());
    v.extend(apikeys::endpoints());
    v.extend(settings::endpoints());
    v.extend(audit::endpoints());
    v.extend(events::endpoints());
    v.extend(webhooks::endpoints());
    v.extend(poll::endpoints());
    v
}

/// The routes of [`endpoints`], and `/openapi.json` describing them (not an endpoint: it
/// needs no `x-api-key`, and it is not one of the routes it describes).
pub fn routes() -> Router<AppState> {
    endpoints()
        .into_iter()
        .fold(Router::new(), |r, e| r.route(e.path, e.handler))
        .route(openapi::PATH, axum::routing::get(openapi::serve))
        .route(events::JWKS_PATH, axum::routing::get(events::jwks))
}

/// `(method, path)` of every endpoint, for tests and docs.
pub fn route_list() -> Vec<(Method, &'static str)> {
    endpoints().into_iter().map(|e| (e.method, e.path)).collect()
}

/// Shorthand for a table row.
pub fn ep(method: Method, path: &'static str, handler: MethodRouter<AppState>) -> Endpoint {
    Endpoint { method, path, handler }
}
