//! The Settings API (`/gateway/ng/api/settings`, docs/contract.md §4), gated by the
//! `NG_SETTINGS` feature flag.

use axum::extract::{Path, Query, State};
use axum::http::Method;
use axum::routing::{get, put};
use scimgate_domain::DomainError;
use scimgate_domain::access::Scope;
use scimgate_domain::settings_service::{SettingUpdate, SettingView, UpdateType};
use serde::Deserialize;
use serde_json::{Value, json};

use super::openapi::{AccountParam, ErrorResponses, SuccessEnvelope};
use super::{ApiJson, ApiResult, Endpoint, ListParams, ScopeParams, ep, millis, ok, page_data};
use crate::http::auth::ApiCaller;
use crate::state::AppState;

pub(crate) fn endpoints() -> Vec<Endpoint> {
    const LIST: &str = "/gateway/ng/api/settings";
    vec![
        ep(Method::GET, LIST, get(list)),
        ep(Method::PUT, LIST, put(update)),
        ep(Method::GET, "/gateway/ng/api/settings/{identifier}", get(get_one)),
        ep(Method::GET, "/gateway/ng/api/settings-audit", get(audit)),
    ]
}

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
struct Params {
    /// Organization.
    org_identifier: Option<String>,
    /// Project.
    project_identifier: Option<String>,
    /// Only the settings of this category, such as `SCIM`.
    category: Option<String>,
    /// Only the settings of this group.
    group: Option<String>,
    /// `true` to list the settings of the parent scopes too (default `false`).
    #[param(value_type = Option<bool>)]
    include_parent_scopes: Option<String>,
}

impl Params {
    fn scope(&self) -> Scope {
        Scope {
            org: self.org_identifier.clone().unwrap_or_default(),
            project: self.project_identifier.clone().unwrap_or_default(),
        }
    }
}

fn opt(s: &str) -> Value {
    if s.is_empty() { Value::Null } else { json!(s) }
}

/// `SettingDTO`.
fn setting_json(v: &SettingView) -> Value {
    let d = v.def;
    json!({
        "identifier": d.identifier,
        "name": d.name,
        "orgIdentifier": opt(&v.scope.org),
        "projectIdentifier": opt(&v.scope.project),
        "category": d.category,
        "groupIdentifier": d.group,
        "valueType": d.value_type.as_str(),
        "allowedValues": if d.allowed_values.is_empty() { Value::Null } else { json!(d.allowed_values) },
        "allowOverrides": v.effective.allow_overrides,
        "value": v.effective.value,
        "defaultValue": d.default,
        "settingSource": v.effective.source.map(|l| l.source_name()).unwrap_or("DEFAULT"),
        "isSettingEditable": v.effective.editable,
        "allowedScopes": d.allowed_scopes.iter().map(|l| l.allowed_name()).collect::<Vec<_>>(),
    })
}

#[utoipa::path(
    get,
    path = "/gateway/ng/api/settings",
    tag = "settings",
    operation_id = "list_settings",
    params(AccountParam, Params),
    responses((status = 200, description = "`data`: an array of `{setting: {identifier, name, orgIdentifier, projectIdentifier, category, groupIdentifier, valueType, allowedValues, allowOverrides, value, defaultValue, settingSource, isSettingEditable, allowedScopes}, lastModifiedAt}`", body = SuccessEnvelope), ErrorResponses),
    security(("api_key" = []))
)]
async fn list(State(st): State<AppState>, caller: ApiCaller, Query(q): Query<Params>) -> ApiResult {
    let scope = q.scope();
    let include = match q.include_parent_scopes.as_deref() {
        None | Some("") | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(DomainError::invalid(format!(
                "includeParentScopes must be true or false, not '{other}'"
            ))
            .into());
        }
    };
    let views = st.settings.list(&caller, &scope, q.category.as_deref(), q.group.as_deref(), include).await?;
    Ok(ok(json!(
        views
            .iter()
            .map(|v| json!({"setting": setting_json(v), "lastModifiedAt": v.effective.last_modified.map(millis)}))
            .collect::<Vec<_>>()
    )))
}

#[utoipa::path(
    get,
    path = "/gateway/ng/api/settings/{identifier}",
    tag = "settings",
    operation_id = "get_setting",
    params(("identifier" = String, Path, description = "The setting, such as `scim_jwt_token_jwks_keys_url`"), AccountParam, ScopeParams),
    responses((status = 200, description = "`data`: `{valueType, value}`, the value in force at the scope", body = SuccessEnvelope), ErrorResponses),
    security(("api_key" = []))
)]
async fn get_one(
    State(st): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
    Query(q): Query<Params>,
) -> ApiResult {
    let scope = q.scope();
    let v = st.settings.get(&caller, &scope, &id).await?;
    Ok(ok(json!({"valueType": v.def.value_type.as_str(), "value": v.effective.value})))
}

/// One item of the PUT body. Missing or wrongly typed fields make the whole request a 400
/// (nothing stored); a wrong value for a known field fails only its item.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = SettingUpdateItem)]
struct Item {
    identifier: String,
    /// Text, or a JSON number or boolean taken as its text.
    #[serde(default)]
    #[schema(value_type = Option<Value>)]
    value: Option<Scalar>,
    #[serde(default)]
    allow_overrides: Option<bool>,
    /// `UPDATE` or `RESTORE`.
    update_type: String,
}

/// A value: text, or a JSON number or boolean taken as its text.
#[derive(Deserialize)]
#[serde(untagged)]
enum Scalar {
    Text(String),
    Bool(bool),
    Number(serde_json::Number),
}

impl Scalar {
    fn into_text(self) -> String {
        match self {
            Scalar::Text(s) => s,
            Scalar::Bool(b) => b.to_string(),
            Scalar::Number(n) => n.to_string(),
        }
    }
}

#[utoipa::path(
    put,
    path = "/gateway/ng/api/settings",
    tag = "settings",
    operation_id = "update_settings",
    params(AccountParam, ScopeParams),
    request_body = Vec<Item>,
    responses((status = 200, description = "`data`: an array, one per item, of `{identifier, setting: {identifier, name, orgIdentifier, projectIdentifier, category, groupIdentifier, valueType, allowedValues, allowOverrides, value, defaultValue, settingSource, isSettingEditable, allowedScopes} or null, lastModifiedAt, updateStatus, errorMessage, warning}`; an item can fail alone (`updateStatus` false)", body = SuccessEnvelope), ErrorResponses),
    security(("api_key" = []))
)]
async fn update(
    State(st): State<AppState>,
    caller: ApiCaller,
    Query(q): Query<Params>,
    ApiJson(items): ApiJson<Vec<Item>>,
) -> ApiResult {
    let scope = q.scope();
    let updates = items
        .into_iter()
        .map(|i| SettingUpdate {
            identifier: i.identifier,
            value: i.value.map(Scalar::into_text),
            allow_overrides: i.allow_overrides,
            update_type: UpdateType::parse(&i.update_type),
        })
        .collect();
    let results = st.settings.update(&caller, &scope, updates).await?;
    Ok(ok(json!(
        results
            .iter()
            .map(|r| json!({
                "identifier": r.identifier,
                "setting": r.setting.as_ref().map(setting_json),
                "lastModifiedAt": r.setting.as_ref().and_then(|s| s.effective.last_modified).map(millis),
                "updateStatus": r.ok,
                "errorMessage": r.error,
                "warning": r.warning,
            }))
            .collect::<Vec<_>>()
    )))
}

#[utoipa::path(
    get,
    path = "/gateway/ng/api/settings-audit",
    tag = "settings",
    operation_id = "list_settings_audit",
    params(AccountParam, ListParams),
    responses((status = 200, description = "`data`: a page `{content, pageIndex, pageSize, totalItems, totalPages, empty}` whose `content` items are `{identifier, orgIdentifier, projectIdentifier, action, oldValue, newValue, actor, timestamp}`", body = SuccessEnvelope), ErrorResponses),
    security(("api_key" = []))
)]
async fn audit(State(st): State<AppState>, caller: ApiCaller, Query(q): Query<ListParams>) -> ApiResult {
    let page = q.page()?;
    let p = st.settings.audit(&caller, page).await?;
    Ok(ok(page_data(page, p, |a| {
        json!({
            "identifier": a.identifier,
            "orgIdentifier": opt(&a.scope.org),
            "projectIdentifier": opt(&a.scope.project),
            "action": a.action,
            "oldValue": a.old_value,
            "newValue": a.new_value,
            "actor": a.actor.label(),
            "timestamp": millis(a.at),
        })
    })))
}
