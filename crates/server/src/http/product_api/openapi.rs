//! `GET /openapi.json`: the OpenAPI document of the product API (docs/contract.md §7),
//! generated with utoipa from the `#[utoipa::path]` annotation on every handler of
//! [`super::endpoints`] and the `ToSchema` request bodies they decode. The integration test
//! `openapi` checks that its paths are exactly [`super::route_list`], so a route added
//! without an annotation fails it. The document needs no `x-api-key`: it describes routes,
//! not data. SCIM is not in it; its own schema endpoints are `/Schemas` and `/ResourceTypes`.

use std::sync::LazyLock;

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{IntoParams, IntoResponses, Modify, OpenApi, ToSchema};

use super::{apikeys, audit, authz, events, orgs, poll, service_accounts, settings, webhooks};

/// Where the document is served.
pub const PATH: &str = "/openapi.json";

/// The name of the security scheme (`x-api-key` header) that every operation declares.
pub const API_KEY_SCHEME: &str = "api_key";

/// The product API's OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "scimgate product API",
        version = env!("CARGO_PKG_VERSION"),
        description = "The non-SCIM API of scimgate (docs/contract.md §2): organizations, projects, service \
                       accounts, roles, role assignments, resource groups, API keys and tokens, settings, the \
                       audit log and the SCIM request log. Every operation authenticates with the `x-api-key` \
                       header and names the account in the `accountIdentifier` query parameter. Answers use \
                       the envelope `{\"status\":\"SUCCESS\",\"data\":…,\"metaData\":null,\"correlationId\":…}`, \
                       failures `{\"status\":\"ERROR\",\"code\":…,\"message\":…,\"correlationId\":…}`. SCIM \
                       is not described here: its schema endpoints are `/Schemas` and `/ResourceTypes`."
    ),
    paths(
        orgs::get_account,
        orgs::create_org,
        orgs::list_orgs,
        orgs::get_org,
        orgs::update_org,
        orgs::delete_org,
        orgs::create_project,
        orgs::list_projects,
        orgs::get_project,
        orgs::update_project,
        orgs::delete_project,
        service_accounts::create,
        service_accounts::list,
        service_accounts::get_one,
        service_accounts::update,
        service_accounts::remove,
        authz::create_role,
        authz::list_roles,
        authz::get_role,
        authz::update_role,
        authz::delete_role,
        authz::create_assignment,
        authz::list_assignments,
        authz::get_assignment,
        authz::update_assignment,
        authz::delete_assignment,
        authz::create_rg,
        authz::list_rgs,
        authz::get_rg,
        authz::update_rg,
        authz::delete_rg,
        apikeys::create_key,
        apikeys::list_keys,
        apikeys::get_key,
        apikeys::update_key,
        apikeys::delete_key,
        apikeys::create_token,
        apikeys::list_tokens,
        apikeys::update_token,
        apikeys::delete_token,
        apikeys::rotate_token,
        settings::list,
        settings::update,
        settings::get_one,
        settings::audit,
        audit::audit,
        audit::requests,
        events::feed,
        webhooks::create,
        webhooks::list,
        webhooks::get_one,
        webhooks::update,
        webhooks::remove,
        webhooks::rotate,
        webhooks::deliveries,
        webhooks::redeliver,
        poll::poll,
    ),
    components(schemas(SuccessEnvelope, ErrorEnvelope)),
    modifiers(&ApiKeyScheme),
    tags(
        (name = "accounts", description = "The account itself"),
        (name = "organizations"),
        (name = "projects"),
        (name = "service accounts"),
        (name = "roles"),
        (name = "role assignments"),
        (name = "resource groups"),
        (name = "API keys"),
        (name = "tokens", description = "API key tokens; a token's secret is shown once, when it is created or rotated"),
        (name = "settings", description = "The Settings API (docs/contract.md §4), behind the NG_SETTINGS flag"),
        (name = "audit", description = "The audit log and the SCIM request log (docs/audit.md)"),
        (name = "events", description = "Change events of users and groups (docs/events.md)"),
        (name = "webhooks", description = "Webhook subscriptions and their deliveries (docs/events.md)"),
    )
)]
pub struct ApiDoc;

/// Adds the `x-api-key` header scheme that the operations' `security(("api_key" = []))` name.
struct ApiKeyScheme;

impl Modify for ApiKeyScheme {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            API_KEY_SCHEME,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "x-api-key",
                "A token of an API key (`pat.…` or `sat.…`) of the account named in accountIdentifier",
            ))),
        );
    }
}

/// The document as JSON, built once.
pub fn document() -> &'static str {
    static DOC: LazyLock<String> =
        LazyLock::new(|| ApiDoc::openapi().to_json().expect("the OpenAPI document serializes"));
    &DOC
}

/// `GET /openapi.json`.
pub async fn serve() -> Response {
    let mut res = document().into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res
}

/// The `accountIdentifier` query parameter every operation takes (read by the `x-api-key`
/// check, crates/server/src/http/auth.rs).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AccountParam {
    /// The account; the `x-api-key` token must belong to it.
    #[param(rename = "accountIdentifier")]
    pub account_identifier: String,
}

/// The success envelope.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct SuccessEnvelope {
    /// Always `SUCCESS`.
    #[schema(example = "SUCCESS")]
    pub status: String,
    /// The result; each operation's 200 response says its shape.
    pub data: Value,
    /// Always null.
    #[schema(value_type = Value)]
    pub meta_data: Option<Value>,
    /// The request's `X-Request-Id`.
    pub correlation_id: Option<String>,
}

/// The error envelope.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct ErrorEnvelope {
    /// Always `ERROR`.
    #[schema(example = "ERROR")]
    pub status: String,
    /// `INVALID_REQUEST`, `INVALID_TOKEN`, `NG_ACCESS_DENIED`, `FEATURE_NOT_ENABLED`,
    /// `RESOURCE_NOT_FOUND`, `DUPLICATE_FIELD`, `TOO_MANY_REQUESTS`, `SERVICE_UNAVAILABLE`,
    /// `GATEWAY_TIMEOUT` or `UNEXPECTED`.
    #[schema(example = "RESOURCE_NOT_FOUND")]
    pub code: String,
    /// What went wrong, for a person.
    pub message: String,
    /// The request's `X-Request-Id`.
    pub correlation_id: Option<String>,
}

/// The failures every operation can answer.
#[derive(IntoResponses)]
pub enum ErrorResponses {
    /// `INVALID_REQUEST`: a parameter or the body is missing or malformed (accountIdentifier
    /// included).
    #[response(status = 400)]
    BadRequest(ErrorEnvelope),
    /// `INVALID_TOKEN`: the `x-api-key` token is missing, invalid, expired or not for this
    /// account (with `WWW-Authenticate: ApiKey realm="scimgate"`).
    #[response(status = 401)]
    Unauthorized(ErrorEnvelope),
    /// `NG_ACCESS_DENIED`: the caller's roles do not grant the permission; or
    /// `FEATURE_NOT_ENABLED`: a feature flag the operation needs is off for the account.
    #[response(status = 403)]
    Forbidden(ErrorEnvelope),
    /// `RESOURCE_NOT_FOUND`: the resource, or one it names, does not exist in this account.
    #[response(status = 404)]
    NotFound(ErrorEnvelope),
    /// The same envelope for the other failures: 412 `INVALID_REQUEST` (a version precondition),
    /// 429 `TOO_MANY_REQUESTS` (with `Retry-After`, docs/abuse.md), 500 `UNEXPECTED`, 503
    /// `SERVICE_UNAVAILABLE`, 504 `GATEWAY_TIMEOUT`.
    #[response(status = "default")]
    Other(ErrorEnvelope),
}

/// `DUPLICATE_FIELD`: the write collides with what is stored (an identifier or another unique
/// field is taken, or the resource is still in use).
#[derive(IntoResponses)]
#[response(status = 409)]
pub struct Conflict(pub ErrorEnvelope);
