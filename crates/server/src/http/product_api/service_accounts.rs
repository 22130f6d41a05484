//! Service accounts (`/gateway/ng/api/serviceaccount`).

use axum::extract::{Path, Query, State};
use axum::http::Method;
use axum::routing::{delete, get, post, put};
use scimgate_domain::access_service::ServiceAccountInput;
use scimgate_domain::entities::{ServiceAccount, Tags};
use serde::Deserialize;
use serde_json::{Value, json};

use super::openapi::{AccountParam, Conflict, ErrorResponses, SuccessEnvelope};
use super::{ApiJson, ApiResult, Endpoint, ListParams, ep, millis, ok, page_data, tags_json};
use crate::http::auth::ApiCaller;
use crate::state::AppState;

pub(crate) fn endpoints() -> Vec<Endpoint> {
    const LIST: &str = "/gateway/ng/api/serviceaccount";
    const ONE: &str = "/gateway/ng/api/serviceaccount/{identifier}";
    vec![
        ep(Method::POST, LIST, post(create)),
        ep(Method::GET, LIST, get(list)),
        ep(Method::GET, ONE, get(get_one)),
        ep(Method::PUT, ONE, put(update)),
        ep(Method::DELETE, ONE, delete(remove)),
    ]
}

/// The wire shape of a service account (Harness `ServiceAccountDTO`).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = ServiceAccountBody)]
struct Body {
    /// Derived from the name when left out.
    identifier: Option<String>,
    name: String,
    email: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<std::collections::BTreeMap<String, String>>)]
    tags: Option<Tags>,
}

impl From<Body> for ServiceAccountInput {
    fn from(b: Body) -> Self {
        ServiceAccountInput {
            identifier: b.identifier,
            name: b.name,
            email: b.email,
            description: b.description.unwrap_or_default(),
            tags: b.tags.unwrap_or_default(),
        }
    }
}

/// JSON of a service account.
pub fn sa_json(account: &str, service_account: &ServiceAccount) -> Value {
    json!({
        "identifier": service_account.identifier,
        "name": service_account.name,
        "email": service_account.email,
        "description": service_account.description,
        "tags": tags_json(&service_account.tags),
        "accountIdentifier": account,
        "orgIdentifier": null,
        "projectIdentifier": null,
        "createdAt": millis(service_account.created),
        "lastModifiedAt": millis(service_account.modified),
    })
}

#[utoipa::path(
    post,
    path = "/gateway/ng/api/serviceaccount",
    tag = "service accounts",
    operation_id = "create_service_account",
    params(AccountParam),
    request_body = Body,
    responses((status = 200, description = "`data`: the service account, `{identifier, name, email, description, tags, accountIdentifier, orgIdentifier, projectIdentifier, createdAt, lastModifiedAt}` (times in epoch milliseconds)", body = SuccessEnvelope), ErrorResponses, Conflict),
    security(("api_key" = []))
)]
async fn create(State(st): State<AppState>, caller: ApiCaller, ApiJson(b): ApiJson<Body>) -> ApiResult {
    let service_account = st.access.create_service_account(&caller, b.into()).await?;
    Ok(ok(sa_json(caller.account().as_str(), &service_account)))
}

#[utoipa::path(
    get,
    path = "/gateway/ng/api/serviceaccount",
    tag = "service accounts",
    operation_id = "list_service_accounts",
    params(AccountParam, ListParams),
    responses((status = 200, description = "`data`: a page `{content, pageIndex, pageSize, totalItems, totalPages, empty}` whose `content` items are `{identifier, name, email, description, tags, accountIdentifier, orgIdentifier, projectIdentifier, createdAt, lastModifiedAt}` (times in epoch milliseconds)", body = SuccessEnvelope), ErrorResponses),
    security(("api_key" = []))
)]
async fn list(State(st): State<AppState>, caller: ApiCaller, Query(q): Query<ListParams>) -> ApiResult {
    let page = q.page()?;
    let p = st.access.list_service_accounts(&caller, q.search(), page).await?;
    Ok(ok(page_data(page, p, |service_account| sa_json(caller.account().as_str(), service_account))))
}

#[utoipa::path(
    get,
    path = "/gateway/ng/api/serviceaccount/{identifier}",
    tag = "service accounts",
    operation_id = "get_service_account",
    params(("identifier" = String, Path, description = "The service account"), AccountParam),
    responses((status = 200, description = "`data`: `{identifier, name, email, description, tags, accountIdentifier, orgIdentifier, projectIdentifier, createdAt, lastModifiedAt}` (times in epoch milliseconds)", body = SuccessEnvelope), ErrorResponses),
    security(("api_key" = []))
)]
async fn get_one(State(st): State<AppState>, caller: ApiCaller, Path(id): Path<String>) -> ApiResult {
    let service_account = st.access.get_service_account(&caller, &id).await?;
    Ok(ok(sa_json(caller.account().as_str(), &service_account)))
}

#[utoipa::path(
    put,
    path = "/gateway/ng/api/serviceaccount/{identifier}",
    tag = "service accounts",
    operation_id = "update_service_account",
    params(("identifier" = String, Path, description = "The service account"), AccountParam),
    request_body = Body,
    responses((status = 200, description = "`data`: the service account as stored, `{identifier, name, email, description, tags, accountIdentifier, orgIdentifier, projectIdentifier, createdAt, lastModifiedAt}` (times in epoch milliseconds)", body = SuccessEnvelope), ErrorResponses, Conflict),
    security(("api_key" = []))
)]
async fn update(
    State(st): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<Body>,
) -> ApiResult {
    let service_account = st.access.update_service_account(&caller, &id, b.into()).await?;
    Ok(ok(sa_json(caller.account().as_str(), &service_account)))
}

#[utoipa::path(
    delete,
    path = "/gateway/ng/api/serviceaccount/{identifier}",
    tag = "service accounts",
    operation_id = "delete_service_account",
    params(("identifier" = String, Path, description = "The service account"), AccountParam),
    responses((status = 200, description = "`data`: `true`", body = SuccessEnvelope), ErrorResponses, Conflict),
    security(("api_key" = []))
)]
async fn remove(State(st): State<AppState>, caller: ApiCaller, Path(id): Path<String>) -> ApiResult {
    st.access.delete_service_account(&caller, &id).await?;
    Ok(ok(json!(true)))
}
