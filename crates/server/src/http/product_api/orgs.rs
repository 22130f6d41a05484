//! Organizations and projects (`/gateway/ng/api/organizations`, `/gateway/ng/api/projects`)
//! and the account itself (`/gateway/ng/api/accounts/{accountIdentifier}`).

use axum::extract::{Path, Query, State};
use axum::http::Method;
use axum::routing::{delete, get, post, put};
use scimgate_domain::DomainError;
use scimgate_domain::entities::{Organization, Project, Tags};
use serde::Deserialize;
use serde_json::{Value, json};

use super::openapi::{AccountParam, Conflict, ErrorResponses, SuccessEnvelope};
use super::{
    ApiJson, ApiResult, Endpoint, ListParams, ScopeParams, ep, millis, ok, page_data, same_identifier,
    tags_json,
};
use crate::http::auth::ApiCaller;
use crate::state::AppState;

pub(crate) fn endpoints() -> Vec<Endpoint> {
    const ORGS: &str = "/gateway/ng/api/organizations";
    const ORG: &str = "/gateway/ng/api/organizations/{identifier}";
    const PROJECTS: &str = "/gateway/ng/api/projects";
    const PROJECT: &str = "/gateway/ng/api/projects/{identifier}";
    vec![
        ep(Method::GET, "/gateway/ng/api/accounts/{identifier}", get(get_account)),
        ep(Method::POST, ORGS, post(create_org)),
        ep(Method::GET, ORGS, get(list_orgs)),
        ep(Method::GET, ORG, get(get_org)),
        ep(Method::PUT, ORG, put(update_org)),
        ep(Method::DELETE, ORG, delete(delete_org)),
        ep(Method::POST, PROJECTS, post(create_project)),
        ep(Method::GET, PROJECTS, get(list_projects)),
        ep(Method::GET, PROJECT, get(get_project)),
        ep(Method::PUT, PROJECT, put(update_project)),
        ep(Method::DELETE, PROJECT, delete(delete_project)),
    ]
}

#[utoipa::path(
    get,
    path = "/gateway/ng/api/accounts/{identifier}",
    tag = "accounts",
    params(("identifier" = String, Path, description = "The account: the same as accountIdentifier"), AccountParam),
    responses((status = 200, description = "`data`: `{identifier, accountName}`", body = SuccessEnvelope), ErrorResponses),
    security(("api_key" = []))
)]
async fn get_account(State(st): State<AppState>, caller: ApiCaller, Path(id): Path<String>) -> ApiResult {
    let account = st.access.get_account(&caller, &id)?;
    Ok(ok(json!({"identifier": account.as_str(), "accountName": account.as_str()})))
}

/// The body of a create or update: `{"org": {...}}`.
#[derive(Deserialize, utoipa::ToSchema)]
struct OrgBody {
    org: OrgFields,
}

/// An organization.
#[derive(Deserialize, utoipa::ToSchema)]
struct OrgFields {
    /// Required on create; on update, when given, the same as the path's.
    identifier: Option<String>,
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<std::collections::BTreeMap<String, String>>)]
    tags: Option<Tags>,
}

fn org_json(account: &str, o: &Organization) -> Value {
    json!({
        "organization": {
            "accountIdentifier": account,
            "identifier": o.identifier,
            "name": o.name,
            "description": o.description,
            "tags": tags_json(&o.tags),
        },
        "createdAt": millis(o.created),
        "lastModifiedAt": millis(o.modified),
        "harnessManaged": false,
    })
}

#[utoipa::path(
    post,
    path = "/gateway/ng/api/organizations",
    tag = "organizations",
    params(AccountParam),
    request_body = OrgBody,
    responses((status = 200, description = "`data`: the organization, `{organization: {accountIdentifier, identifier, name, description, tags}, createdAt, lastModifiedAt, harnessManaged}` (times in epoch milliseconds)", body = SuccessEnvelope), ErrorResponses, Conflict),
    security(("api_key" = []))
)]
async fn create_org(
    State(st): State<AppState>,
    caller: ApiCaller,
    ApiJson(b): ApiJson<OrgBody>,
) -> ApiResult {
    let id = b.org.identifier.unwrap_or_default();
    let o = st
        .access
        .create_org(
            &caller,
            &id,
            &b.org.name,
            b.org.description.as_deref().unwrap_or(""),
            b.org.tags.unwrap_or_default(),
        )
        .await?;
    Ok(ok(org_json(caller.account().as_str(), &o)))
}

#[utoipa::path(
    get,
    path = "/gateway/ng/api/organizations",
    tag = "organizations",
    params(AccountParam, ListParams),
    responses((status = 200, description = "`data`: a page `{content, pageIndex, pageSize, totalItems, totalPages, empty}` whose `content` items are `{organization: {accountIdentifier, identifier, name, description, tags}, createdAt, lastModifiedAt, harnessManaged}` (times in epoch milliseconds)", body = SuccessEnvelope), ErrorResponses),
    security(("api_key" = []))
)]
async fn list_orgs(State(st): State<AppState>, caller: ApiCaller, Query(q): Query<ListParams>) -> ApiResult {
    let page = q.page()?;
    let p = st.access.list_orgs(&caller, q.search(), page).await?;
    Ok(ok(page_data(page, p, |o| org_json(caller.account().as_str(), o))))
}

#[utoipa::path(
    get,
    path = "/gateway/ng/api/organizations/{identifier}",
    tag = "organizations",
    params(("identifier" = String, Path, description = "The organization"), AccountParam),
    responses((status = 200, description = "`data`: `{organization: {accountIdentifier, identifier, name, description, tags}, createdAt, lastModifiedAt, harnessManaged}` (times in epoch milliseconds)", body = SuccessEnvelope), ErrorResponses),
    security(("api_key" = []))
)]
async fn get_org(State(st): State<AppState>, caller: ApiCaller, Path(id): Path<String>) -> ApiResult {
    let o = st.access.get_org(&caller, &id).await?;
    Ok(ok(org_json(caller.account().as_str(), &o)))
}

#[utoipa::path(
    put,
    path = "/gateway/ng/api/organizations/{identifier}",
    tag = "organizations",
    params(("identifier" = String, Path, description = "The organization"), AccountParam),
    request_body = OrgBody,
    responses((status = 200, description = "`data`: the organization as stored, `{organization: {accountIdentifier, identifier, name, description, tags}, createdAt, lastModifiedAt, harnessManaged}` (times in epoch milliseconds)", body = SuccessEnvelope), ErrorResponses, Conflict),
    security(("api_key" = []))
)]
async fn update_org(
    State(st): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<OrgBody>,
) -> ApiResult {
    same_identifier(b.org.identifier.as_deref(), &id)?;
    let o = st
        .access
        .update_org(
            &caller,
            &id,
            &b.org.name,
            b.org.description.as_deref().unwrap_or(""),
            b.org.tags.unwrap_or_default(),
        )
        .await?;
    Ok(ok(org_json(caller.account().as_str(), &o)))
}

#[utoipa::path(
    delete,
    path = "/gateway/ng/api/organizations/{identifier}",
    tag = "organizations",
    params(("identifier" = String, Path, description = "The organization"), AccountParam),
    responses((status = 200, description = "`data`: `true`", body = SuccessEnvelope), ErrorResponses, Conflict),
    security(("api_key" = []))
)]
async fn delete_org(State(st): State<AppState>, caller: ApiCaller, Path(id): Path<String>) -> ApiResult {
    st.access.delete_org(&caller, &id).await?;
    Ok(ok(json!(true)))
}

/// The body of a create or update: `{"project": {...}}`.
#[derive(Deserialize, utoipa::ToSchema)]
struct ProjectBody {
    project: ProjectFields,
}

/// A project.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct ProjectFields {
    /// The organization (default `default`); must agree with the query's when both are given.
    org_identifier: Option<String>,
    /// Required on create; on update, when given, the same as the path's.
    identifier: Option<String>,
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    color: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<std::collections::BTreeMap<String, String>>)]
    tags: Option<Tags>,
}

fn project_json(account: &str, p: &Project) -> Value {
    json!({
        "project": {
            "accountIdentifier": account,
            "orgIdentifier": p.org_identifier,
            "identifier": p.identifier,
            "name": p.name,
            "description": p.description,
            "color": p.color,
            "modules": [],
            "tags": tags_json(&p.tags),
        },
        "createdAt": millis(p.created),
        "lastModifiedAt": millis(p.modified),
        "isFavorite": false,
    })
}

/// The organization of a project request: the query parameter, or the body's field; both
/// must agree when both are given. Harness defaults to the `default` organization.
fn project_org(q: &ScopeParams, body: Option<&str>) -> Result<String, DomainError> {
    let q = q.org_identifier.as_deref().filter(|s| !s.is_empty());
    let b = body.filter(|s| !s.is_empty());
    match (q, b) {
        (Some(a), Some(b)) if a != b => Err(DomainError::invalid(format!(
            "orgIdentifier '{a}' in the query differs from '{b}' in the body"
        ))),
        (Some(a), _) | (None, Some(a)) => Ok(a.to_string()),
        (None, None) => Ok("default".to_string()),
    }
}

fn project_from(org: String, id: String, f: ProjectFields) -> Project {
    let t = time::OffsetDateTime::UNIX_EPOCH;
    Project {
        org_identifier: org,
        identifier: id,
        name: f.name,
        description: f.description.unwrap_or_default(),
        color: f.color.unwrap_or_default(),
        tags: f.tags.unwrap_or_default(),
        created: t,
        modified: t,
    }
}

#[utoipa::path(
    post,
    path = "/gateway/ng/api/projects",
    tag = "projects",
    params(AccountParam, ("orgIdentifier" = Option<String>, Query, description = "The organization (default `default`); when the body names one too, both must agree")),
    request_body = ProjectBody,
    responses((status = 200, description = "`data`: the project, `{project: {accountIdentifier, orgIdentifier, identifier, name, description, color, modules, tags}, createdAt, lastModifiedAt, isFavorite}` (times in epoch milliseconds)", body = SuccessEnvelope), ErrorResponses, Conflict),
    security(("api_key" = []))
)]
async fn create_project(
    State(st): State<AppState>,
    caller: ApiCaller,
    Query(q): Query<ScopeParams>,
    ApiJson(b): ApiJson<ProjectBody>,
) -> ApiResult {
    let org = project_org(&q, b.project.org_identifier.as_deref())?;
    let id = b.project.identifier.clone().unwrap_or_default();
    let p = st.access.create_project(&caller, project_from(org, id, b.project)).await?;
    Ok(ok(project_json(caller.account().as_str(), &p)))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
struct ProjectListParams {
    /// Only the projects of this organization.
    org_identifier: Option<String>,
    #[serde(flatten)]
    #[param(ignore)] // ListParams, listed beside this in the annotation
    list: ListParams,
}

#[utoipa::path(
    get,
    path = "/gateway/ng/api/projects",
    tag = "projects",
    params(AccountParam, ProjectListParams, ListParams),
    responses((status = 200, description = "`data`: a page `{content, pageIndex, pageSize, totalItems, totalPages, empty}` whose `content` items are `{project: {accountIdentifier, orgIdentifier, identifier, name, description, color, modules, tags}, createdAt, lastModifiedAt, isFavorite}` (times in epoch milliseconds)", body = SuccessEnvelope), ErrorResponses),
    security(("api_key" = []))
)]
async fn list_projects(
    State(st): State<AppState>,
    caller: ApiCaller,
    Query(q): Query<ProjectListParams>,
) -> ApiResult {
    let page = q.list.page()?;
    let org = q.org_identifier.as_deref().filter(|s| !s.is_empty());
    let p = st.access.list_projects(&caller, org, q.list.search(), page).await?;
    Ok(ok(page_data(page, p, |x| project_json(caller.account().as_str(), x))))
}

#[utoipa::path(
    get,
    path = "/gateway/ng/api/projects/{identifier}",
    tag = "projects",
    params(("identifier" = String, Path, description = "The project"), AccountParam, ("orgIdentifier" = Option<String>, Query, description = "The organization (default `default`); when the body names one too, both must agree")),
    responses((status = 200, description = "`data`: `{project: {accountIdentifier, orgIdentifier, identifier, name, description, color, modules, tags}, createdAt, lastModifiedAt, isFavorite}` (times in epoch milliseconds)", body = SuccessEnvelope), ErrorResponses),
    security(("api_key" = []))
)]
async fn get_project(
    State(st): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
    Query(q): Query<ScopeParams>,
) -> ApiResult {
    let org = project_org(&q, None)?;
    let p = st.access.get_project(&caller, &org, &id).await?;
    Ok(ok(project_json(caller.account().as_str(), &p)))
}

#[utoipa::path(
    put,
    path = "/gateway/ng/api/projects/{identifier}",
    tag = "projects",
    params(("identifier" = String, Path, description = "The project"), AccountParam, ("orgIdentifier" = Option<String>, Query, description = "The organization (default `default`); when the body names one too, both must agree")),
    request_body = ProjectBody,
    responses((status = 200, description = "`data`: the project as stored, `{project: {accountIdentifier, orgIdentifier, identifier, name, description, color, modules, tags}, createdAt, lastModifiedAt, isFavorite}` (times in epoch milliseconds)", body = SuccessEnvelope), ErrorResponses, Conflict),
    security(("api_key" = []))
)]
async fn update_project(
    State(st): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
    Query(q): Query<ScopeParams>,
    ApiJson(b): ApiJson<ProjectBody>,
) -> ApiResult {
    let org = project_org(&q, b.project.org_identifier.as_deref())?;
    same_identifier(b.project.identifier.as_deref(), &id)?;
    let p = st.access.update_project(&caller, project_from(org, id, b.project)).await?;
    Ok(ok(project_json(caller.account().as_str(), &p)))
}

#[utoipa::path(
    delete,
    path = "/gateway/ng/api/projects/{identifier}",
    tag = "projects",
    params(("identifier" = String, Path, description = "The project"), AccountParam, ("orgIdentifier" = Option<String>, Query, description = "The organization (default `default`); when the body names one too, both must agree")),
    responses((status = 200, description = "`data`: `true`", body = SuccessEnvelope), ErrorResponses, Conflict),
    security(("api_key" = []))
)]
async fn delete_project(
    State(st): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
    Query(q): Query<ScopeParams>,
) -> ApiResult {
    let org = project_org(&q, None)?;
    st.access.delete_project(&caller, &org, &id).await?;
    Ok(ok(json!(true)))
}
