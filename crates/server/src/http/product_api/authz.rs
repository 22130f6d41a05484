//! Roles (`/gateway/authz/api/roles`), role assignments (`/gateway/authz/api/roleassignments`)
//! and resource groups (`/gateway/resourcegroup/api/v2/resourcegroup`).

use axum::extract::{Path, Query, State};
use axum::http::Method;
use axum::routing::{delete, get, post, put};
use scimgate_domain::DomainError;
use scimgate_domain::access::Scope;
use scimgate_domain::access_service::RoleInput;
use scimgate_domain::entities::{PrincipalType, ResourceGroup, Role, RoleAssignment, Tags};
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::openapi::{AccountParam, Conflict, ErrorResponses, SuccessEnvelope};
use super::{
    ApiJson, ApiResult, Endpoint, ListParams, ScopeParams, ep, millis, ok, page_data, same_identifier,
    tags_json,
};
use crate::http::auth::ApiCaller;
use crate::state::AppState;

pub(crate) fn endpoints() -> Vec<Endpoint> {
    const ROLES: &str = "/gateway/authz/api/roles";
    const ROLE: &str = "/gateway/authz/api/roles/{identifier}";
    const RAS: &str = "/gateway/authz/api/roleassignments";
    const RA: &str = "/gateway/authz/api/roleassignments/{identifier}";
    const RGS: &str = "/gateway/resourcegroup/api/v2/resourcegroup";
    const RG: &str = "/gateway/resourcegroup/api/v2/resourcegroup/{identifier}";
    vec![
        ep(Method::POST, ROLES, post(create_role)),
        ep(Method::GET, ROLES, get(list_roles)),
        ep(Method::GET, ROLE, get(get_role)),
        ep(Method::PUT, ROLE, put(update_role)),
        ep(Method::DELETE, ROLE, delete(delete_role)),
        ep(Method::POST, RAS, post(create_assignment)),
        ep(Method::GET, RAS, get(list_assignments)),
        ep(Method::GET, RA, get(get_assignment)),
        ep(Method::PUT, RA, put(update_assignment)),
        ep(Method::DELETE, RA, delete(delete_assignment)),
        ep(Method::POST, RGS, post(create_rg)),
        ep(Method::GET, RGS, get(list_rgs)),
        ep(Method::GET, RG, get(get_rg)),
        ep(Method::PUT, RG, put(update_rg)),
        ep(Method::DELETE, RG, delete(delete_rg)),
    ]
}

fn scope_json(account: &str, s: &Scope) -> Value {
    let opt = |v: &str| if v.is_empty() { Value::Null } else { json!(v) };
    json!({"accountIdentifier": account, "orgIdentifier": opt(&s.org), "projectIdentifier": opt(&s.project)})
}

// ---- roles ---------------------------------------------------------------------------

/// A role.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct RoleBody {
    identifier: String,
    name: String,
    /// Permission identifiers, such as `core_serviceaccount_view`.
    #[serde(default)]
    permissions: Vec<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<std::collections::BTreeMap<String, String>>)]
    tags: Option<Tags>,
}

fn role_input(b: RoleBody) -> RoleInput {
    RoleInput {
        identifier: b.identifier,
        name: b.name,
        description: b.description.unwrap_or_default(),
        permissions: b.permissions,
        tags: b.tags.unwrap_or_default(),
    }
}

fn role_json(account: &str, r: &Role) -> Value {
    json!({
        "role": {
            "identifier": r.identifier,
            "name": r.name,
            "description": r.description,
            "permissions": r.permissions.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
            "allowedScopeLevels": ["account"],
            "tags": tags_json(&r.tags),
        },
        "scope": if r.builtin { Value::Null } else { scope_json(account, &Scope::account()) },
        "harnessManaged": r.builtin,
        "createdAt": if r.builtin { Value::Null } else { json!(millis(r.created)) },
        "lastModifiedAt": if r.builtin { Value::Null } else { json!(millis(r.modified)) },
    })
}

#[utoipa::path(
    post,
    path = "/gateway/authz/api/roles",
    tag = "roles",
    params(AccountParam),
    request_body = RoleBody,
    responses((status = 200, description = "`data`: the role, `{role: {identifier, name, description, permissions, allowedScopeLevels, tags}, scope, harnessManaged, createdAt, lastModifiedAt}` (built-in roles have no scope nor times)", body = SuccessEnvelope), ErrorResponses, Conflict),
    security(("api_key" = []))
)]
async fn create_role(
    State(st): State<AppState>,
    caller: ApiCaller,
    ApiJson(b): ApiJson<RoleBody>,
) -> ApiResult {
    let r = st.access.create_role(&caller, role_input(b)).await?;
    Ok(ok(role_json(caller.account().as_str(), &r)))
}

#[utoipa::path(
    get,
    path = "/gateway/authz/api/roles",
    tag = "roles",
    params(AccountParam, ListParams),
    responses((status = 200, description = "`data`: a page `{content, pageIndex, pageSize, totalItems, totalPages, empty}` whose `content` items are `{role: {identifier, name, description, permissions, allowedScopeLevels, tags}, scope, harnessManaged, createdAt, lastModifiedAt}` (built-in roles have no scope nor times), the built-in roles included", body = SuccessEnvelope), ErrorResponses),
    security(("api_key" = []))
)]
async fn list_roles(State(st): State<AppState>, caller: ApiCaller, Query(q): Query<ListParams>) -> ApiResult {
    let page = q.page()?;
    let p = st.access.list_roles(&caller, page).await?;
    Ok(ok(page_data(page, p, |r| role_json(caller.account().as_str(), r))))
}

#[utoipa::path(
    get,
    path = "/gateway/authz/api/roles/{identifier}",
    tag = "roles",
    params(("identifier" = String, Path, description = "The role"), AccountParam),
    responses((status = 200, description = "`data`: `{role: {identifier, name, description, permissions, allowedScopeLevels, tags}, scope, harnessManaged, createdAt, lastModifiedAt}` (built-in roles have no scope nor times)", body = SuccessEnvelope), ErrorResponses),
    security(("api_key" = []))
)]
async fn get_role(State(st): State<AppState>, caller: ApiCaller, Path(id): Path<String>) -> ApiResult {
    let r = st.access.get_role(&caller, &id).await?;
    Ok(ok(role_json(caller.account().as_str(), &r)))
}

#[utoipa::path(
    put,
    path = "/gateway/authz/api/roles/{identifier}",
    tag = "roles",
    params(("identifier" = String, Path, description = "The role"), AccountParam),
    request_body = RoleBody,
    responses((status = 200, description = "`data`: the role as stored, `{role: {identifier, name, description, permissions, allowedScopeLevels, tags}, scope, harnessManaged, createdAt, lastModifiedAt}` (built-in roles have no scope nor times)", body = SuccessEnvelope), ErrorResponses, Conflict),
    security(("api_key" = []))
)]
async fn update_role(
    State(st): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<RoleBody>,
) -> ApiResult {
    same_identifier(Some(&b.identifier), &id)?;
    let r = st.access.update_role(&caller, role_input(b)).await?;
    Ok(ok(role_json(caller.account().as_str(), &r)))
}

#[utoipa::path(
    delete,
    path = "/gateway/authz/api/roles/{identifier}",
    tag = "roles",
    params(("identifier" = String, Path, description = "The role"), AccountParam),
    responses((status = 200, description = "`data`: `true`", body = SuccessEnvelope), ErrorResponses, Conflict),
    security(("api_key" = []))
)]
async fn delete_role(State(st): State<AppState>, caller: ApiCaller, Path(id): Path<String>) -> ApiResult {
    st.access.delete_role(&caller, &id).await?;
    Ok(ok(json!(true)))
}

// ---- role assignments ----------------------------------------------------------------

/// Who a role assignment is for.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct PrincipalBody {
    identifier: String,
    /// `USER`, `USER_GROUP` or `SERVICE_ACCOUNT`.
    #[serde(rename = "type")]
    principal_type: String,
}

/// A role assignment.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct AssignmentBody {
    /// Generated when left out on create; on update, when given, the same as the path's.
    #[serde(default)]
    identifier: Option<String>,
    role_identifier: String,
    resource_group_identifier: String,
    principal: PrincipalBody,
    #[serde(default)]
    disabled: bool,
}

fn scope_of(q: &ScopeParams) -> Scope {
    Scope {
        org: q.org_identifier.clone().unwrap_or_default(),
        project: q.project_identifier.clone().unwrap_or_default(),
    }
}

fn principal_type(s: &str) -> Result<PrincipalType, DomainError> {
    PrincipalType::parse(s).ok_or_else(|| {
        DomainError::invalid(format!(
            "principal type '{s}' is invalid: use USER, USER_GROUP or SERVICE_ACCOUNT"
        ))
    })
}

fn assignment_json(account: &str, role_assignment: &RoleAssignment) -> Value {
    json!({
        "roleAssignment": {
            "identifier": role_assignment.identifier,
            "roleIdentifier": role_assignment.role_identifier,
            "resourceGroupIdentifier": role_assignment.resource_group_identifier,
            "principal": {"identifier": role_assignment.principal_identifier, "type": role_assignment.principal_type.as_str()},
            "disabled": role_assignment.disabled,
            "managed": false,
        },
        "scope": scope_json(account, &role_assignment.scope),
        "createdAt": millis(role_assignment.created),
        "lastModifiedAt": millis(role_assignment.modified),
        "harnessManaged": false,
    })
}

#[utoipa::path(
    post,
    path = "/gateway/authz/api/roleassignments",
    tag = "role assignments",
    params(AccountParam, ScopeParams),
    request_body = AssignmentBody,
    responses((status = 200, description = "`data`: the role assignment, `{roleAssignment: {identifier, roleIdentifier, resourceGroupIdentifier, principal: {identifier, type}, disabled, managed}, scope: {accountIdentifier, orgIdentifier, projectIdentifier}, createdAt, lastModifiedAt, harnessManaged}`", body = SuccessEnvelope), ErrorResponses, Conflict),
    security(("api_key" = []))
)]
async fn create_assignment(
    State(st): State<AppState>,
    caller: ApiCaller,
    Query(q): Query<ScopeParams>,
    ApiJson(b): ApiJson<AssignmentBody>,
) -> ApiResult {
    let scope = scope_of(&q);
    let t = OffsetDateTime::UNIX_EPOCH;
    let role_assignment = RoleAssignment {
        identifier: b.identifier.unwrap_or_default(),
        scope,
        role_identifier: b.role_identifier,
        resource_group_identifier: b.resource_group_identifier,
        principal_type: principal_type(&b.principal.principal_type)?,
        principal_identifier: b.principal.identifier,
        disabled: b.disabled,
        created: t,
        modified: t,
    };
    let role_assignment = st.access.create_role_assignment(&caller, role_assignment).await?;
    Ok(ok(assignment_json(caller.account().as_str(), &role_assignment)))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
struct AssignmentListParams {
    /// Only the assignments of this principal: `USER`, `USER_GROUP` or `SERVICE_ACCOUNT`
    /// (with principalIdentifier).
    principal_type: Option<String>,
    /// Only the assignments of this principal (with principalType).
    principal_identifier: Option<String>,
    #[serde(flatten)]
    #[param(ignore)] // ListParams, listed beside this in the annotation
    list: ListParams,
}

#[utoipa::path(
    get,
    path = "/gateway/authz/api/roleassignments",
    tag = "role assignments",
    params(AccountParam, AssignmentListParams, ListParams),
    responses((status = 200, description = "`data`: a page `{content, pageIndex, pageSize, totalItems, totalPages, empty}` whose `content` items are `{roleAssignment: {identifier, roleIdentifier, resourceGroupIdentifier, principal: {identifier, type}, disabled, managed}, scope: {accountIdentifier, orgIdentifier, projectIdentifier}, createdAt, lastModifiedAt, harnessManaged}`", body = SuccessEnvelope), ErrorResponses),
    security(("api_key" = []))
)]
async fn list_assignments(
    State(st): State<AppState>,
    caller: ApiCaller,
    Query(q): Query<AssignmentListParams>,
) -> ApiResult {
    let page = q.list.page()?;
    let principal = match (q.principal_type.as_deref(), q.principal_identifier.as_deref()) {
        (Some(t), Some(id)) => Some((principal_type(t)?, id)),
        (None, None) => None,
        _ => {
            return Err(
                DomainError::invalid("give both principalType and principalIdentifier, or neither").into()
            );
        }
    };
    let p = st.access.list_role_assignments(&caller, principal, page).await?;
    Ok(ok(page_data(page, p, |role_assignment| assignment_json(caller.account().as_str(), role_assignment))))
}

#[utoipa::path(
    get,
    path = "/gateway/authz/api/roleassignments/{identifier}",
    tag = "role assignments",
    params(("identifier" = String, Path, description = "The role assignment"), AccountParam),
    responses((status = 200, description = "`data`: `{roleAssignment: {identifier, roleIdentifier, resourceGroupIdentifier, principal: {identifier, type}, disabled, managed}, scope: {accountIdentifier, orgIdentifier, projectIdentifier}, createdAt, lastModifiedAt, harnessManaged}`", body = SuccessEnvelope), ErrorResponses),
    security(("api_key" = []))
)]
async fn get_assignment(State(st): State<AppState>, caller: ApiCaller, Path(id): Path<String>) -> ApiResult {
    let role_assignment = st.access.get_role_assignment(&caller, &id).await?;
    Ok(ok(assignment_json(caller.account().as_str(), &role_assignment)))
}

#[utoipa::path(
    put,
    path = "/gateway/authz/api/roleassignments/{identifier}",
    tag = "role assignments",
    params(("identifier" = String, Path, description = "The role assignment"), AccountParam),
    request_body = AssignmentBody,
    responses((status = 200, description = "`data`: the role assignment as stored, `{roleAssignment: {identifier, roleIdentifier, resourceGroupIdentifier, principal: {identifier, type}, disabled, managed}, scope: {accountIdentifier, orgIdentifier, projectIdentifier}, createdAt, lastModifiedAt, harnessManaged}`", body = SuccessEnvelope), ErrorResponses, Conflict),
    security(("api_key" = []))
)]
async fn update_assignment(
    State(st): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<AssignmentBody>,
) -> ApiResult {
    same_identifier(b.identifier.as_deref(), &id)?;
    let t = OffsetDateTime::UNIX_EPOCH;
    let wanted = RoleAssignment {
        identifier: id.clone(),
        scope: Scope::account(),
        role_identifier: b.role_identifier,
        resource_group_identifier: b.resource_group_identifier,
        principal_type: principal_type(&b.principal.principal_type)?,
        principal_identifier: b.principal.identifier,
        disabled: b.disabled,
        created: t,
        modified: t,
    };
    let role_assignment = st.access.update_role_assignment(&caller, wanted).await?;
    Ok(ok(assignment_json(caller.account().as_str(), &role_assignment)))
}

#[utoipa::path(
    delete,
    path = "/gateway/authz/api/roleassignments/{identifier}",
    tag = "role assignments",
    params(("identifier" = String, Path, description = "The role assignment"), AccountParam),
    responses((status = 200, description = "`data`: the deleted role assignment, `{roleAssignment: {identifier, roleIdentifier, resourceGroupIdentifier, principal: {identifier, type}, disabled, managed}, scope: {accountIdentifier, orgIdentifier, projectIdentifier}, createdAt, lastModifiedAt, harnessManaged}`", body = SuccessEnvelope), ErrorResponses, Conflict),
    security(("api_key" = []))
)]
async fn delete_assignment(
    State(st): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> ApiResult {
    let role_assignment = st.access.delete_role_assignment(&caller, &id).await?;
    Ok(ok(assignment_json(caller.account().as_str(), &role_assignment)))
}

// ---- resource groups -----------------------------------------------------------------

/// The body of a create or update: `{"resourceGroup": {...}}`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = ResourceGroupBody)]
struct RgBody {
    resource_group: RgFields,
}

/// A resource group.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = ResourceGroupFields)]
struct RgFields {
    identifier: String,
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<std::collections::BTreeMap<String, String>>)]
    tags: Option<Tags>,
    #[serde(default)]
    resource_filter: Option<ResourceFilter>,
}

/// Which resources a resource group covers.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct ResourceFilter {
    #[serde(default)]
    include_all_resources: bool,
    #[serde(default)]
    resources: Vec<ResourceSelector>,
}

/// One resource type of a resource filter.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct ResourceSelector {
    resource_type: String,
}

fn rg_from(f: RgFields) -> ResourceGroup {
    let t = OffsetDateTime::UNIX_EPOCH;
    let (include_all, types) = match f.resource_filter {
        Some(rf) => (rf.include_all_resources, rf.resources.into_iter().map(|r| r.resource_type).collect()),
        None => (false, Vec::new()),
    };
    ResourceGroup {
        identifier: f.identifier,
        name: f.name,
        description: f.description.unwrap_or_default(),
        include_all,
        resource_types: types,
        tags: f.tags.unwrap_or_default(),
        builtin: false,
        created: t,
        modified: t,
    }
}

fn rg_json(account: &str, resource_group: &ResourceGroup) -> Value {
    json!({
        "resourceGroup": {
            "identifier": resource_group.identifier,
            "name": resource_group.name,
            "accountIdentifier": account,
            "description": resource_group.description,
            "tags": tags_json(&resource_group.tags),
            "includedScopes": [{"filter": "EXCLUDING_CHILD_SCOPES", "accountIdentifier": account}],
            "resourceFilter": {
                "includeAllResources": resource_group.include_all,
                "resources": resource_group.resource_types.iter().map(|t| json!({"resourceType": t})).collect::<Vec<_>>(),
            },
        },
        "harnessManaged": resource_group.builtin,
        "createdAt": if resource_group.builtin { Value::Null } else { json!(millis(resource_group.created)) },
        "lastModifiedAt": if resource_group.builtin { Value::Null } else { json!(millis(resource_group.modified)) },
    })
}

#[utoipa::path(
    post,
    path = "/gateway/resourcegroup/api/v2/resourcegroup",
    tag = "resource groups",
    params(AccountParam),
    request_body = RgBody,
    responses((status = 200, description = "`data`: the resource group, `{resourceGroup: {identifier, name, accountIdentifier, description, tags, includedScopes, resourceFilter: {includeAllResources, resources: [{resourceType}]}}, harnessManaged, createdAt, lastModifiedAt}` (built-in groups have no times)", body = SuccessEnvelope), ErrorResponses, Conflict),
    security(("api_key" = []))
)]
async fn create_rg(State(st): State<AppState>, caller: ApiCaller, ApiJson(b): ApiJson<RgBody>) -> ApiResult {
    let resource_group = st.access.create_resource_group(&caller, rg_from(b.resource_group)).await?;
    Ok(ok(rg_json(caller.account().as_str(), &resource_group)))
}

#[utoipa::path(
    get,
    path = "/gateway/resourcegroup/api/v2/resourcegroup",
    tag = "resource groups",
    params(AccountParam, ListParams),
    responses((status = 200, description = "`data`: a page `{content, pageIndex, pageSize, totalItems, totalPages, empty}` whose `content` items are `{resourceGroup: {identifier, name, accountIdentifier, description, tags, includedScopes, resourceFilter: {includeAllResources, resources: [{resourceType}]}}, harnessManaged, createdAt, lastModifiedAt}` (built-in groups have no times), the built-in groups included", body = SuccessEnvelope), ErrorResponses),
    security(("api_key" = []))
)]
async fn list_rgs(State(st): State<AppState>, caller: ApiCaller, Query(q): Query<ListParams>) -> ApiResult {
    let page = q.page()?;
    let p = st.access.list_resource_groups(&caller, page).await?;
    Ok(ok(page_data(page, p, |resource_group| rg_json(caller.account().as_str(), resource_group))))
}

#[utoipa::path(
    get,
    path = "/gateway/resourcegroup/api/v2/resourcegroup/{identifier}",
    tag = "resource groups",
    params(("identifier" = String, Path, description = "The resource group"), AccountParam),
    responses((status = 200, description = "`data`: `{resourceGroup: {identifier, name, accountIdentifier, description, tags, includedScopes, resourceFilter: {includeAllResources, resources: [{resourceType}]}}, harnessManaged, createdAt, lastModifiedAt}` (built-in groups have no times)", body = SuccessEnvelope), ErrorResponses),
    security(("api_key" = []))
)]
async fn get_rg(State(st): State<AppState>, caller: ApiCaller, Path(id): Path<String>) -> ApiResult {
    let resource_group = st.access.get_resource_group(&caller, &id).await?;
    Ok(ok(rg_json(caller.account().as_str(), &resource_group)))
}

#[utoipa::path(
    put,
    path = "/gateway/resourcegroup/api/v2/resourcegroup/{identifier}",
    tag = "resource groups",
    params(("identifier" = String, Path, description = "The resource group"), AccountParam),
    request_body = RgBody,
    responses((status = 200, description = "`data`: the resource group as stored, `{resourceGroup: {identifier, name, accountIdentifier, description, tags, includedScopes, resourceFilter: {includeAllResources, resources: [{resourceType}]}}, harnessManaged, createdAt, lastModifiedAt}` (built-in groups have no times)", body = SuccessEnvelope), ErrorResponses, Conflict),
    security(("api_key" = []))
)]
async fn update_rg(
    State(st): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<RgBody>,
) -> ApiResult {
    same_identifier(Some(&b.resource_group.identifier), &id)?;
    let resource_group = st.access.update_resource_group(&caller, rg_from(b.resource_group)).await?;
    Ok(ok(rg_json(caller.account().as_str(), &resource_group)))
}

#[utoipa::path(
    delete,
    path = "/gateway/resourcegroup/api/v2/resourcegroup/{identifier}",
    tag = "resource groups",
    params(("identifier" = String, Path, description = "The resource group"), AccountParam),
    responses((status = 200, description = "`data`: `true`", body = SuccessEnvelope), ErrorResponses, Conflict),
    security(("api_key" = []))
)]
async fn delete_rg(State(st): State<AppState>, caller: ApiCaller, Path(id): Path<String>) -> ApiResult {
    st.access.delete_resource_group(&caller, &id).await?;
    Ok(ok(json!(true)))
}
