//! **Account Settings → Access Control** (docs/console.md): Service Accounts (with **Manage
//! Roles** and their API keys and tokens), Roles, Resource Groups, Role Assignments.

use axum::Router;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use maud::{Markup, html};
use scimgate_domain::DomainError;
use scimgate_domain::access::{Permission, RESOURCE_TYPES, Scope, identifier_from_name};
use scimgate_domain::access_service::{RoleInput, ServiceAccountInput, TokenInput};
use scimgate_domain::entities::{
    ApiKey, ApiKeyRef, PageRequest, PrincipalType, ResourceGroup, RoleAssignment, Tags,
};
use scimgate_domain::token::TokenKind;
use scimgate_domain::use_case::UseCase;
use serde::Deserialize;

use super::layout::{access_tabs, error_page, notice, see_other};
use super::{Console, csrf};
use crate::state::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/serviceaccounts", get(service_accounts))
        .route("/serviceaccounts/new", get(new_service_account).post(create_service_account))
        .route("/serviceaccounts/{id}", get(service_account))
        .route("/serviceaccounts/{id}/roles", post(add_role))
        .route("/serviceaccounts/{id}/roles/{assignment}/delete", post(remove_role))
        .route("/serviceaccounts/{id}/tokens", post(create_token))
        .route("/serviceaccounts/{id}/tokens/{key}/{token}/rotate", post(rotate_token))
        .route("/serviceaccounts/{id}/tokens/{key}/{token}/delete", post(delete_token))
        .route("/roles", get(roles))
        .route("/roles/new", get(new_role).post(create_role))
        .route("/roles/{id}", get(edit_role).post(update_role))
        .route("/resourcegroups", get(resource_groups))
        .route("/resourcegroups/new", get(new_resource_group).post(create_resource_group))
        .route("/resourcegroups/{id}", get(edit_resource_group).post(update_resource_group))
        .route("/roleassignments", get(role_assignments))
}

const ALL: PageRequest = PageRequest { index: 0, size: 100 };

async fn service_accounts(State(st): State<AppState>, c: Console) -> Response {
    let list = match st.access.list_service_accounts(&c.caller, None, ALL).await {
        Ok(l) => l,
        Err(e) => return c.fail(e),
    };
    c.page(
        "access",
        "Service Accounts",
        html! {
            (access_tabs(&c.caller, "serviceaccounts"))
            @if c.caller.can(UseCase::CreateServiceAccount) {
                p { a.button href="/serviceaccounts/new" { "New Service Account" } }
            }
            @if list.items.is_empty() { (notice("info", "No service accounts yet.")) } @else {
                table {
                    thead { tr { th scope="col" { "Name" } th scope="col" { "Id" } th scope="col" { "Email" } } }
                    tbody {
                        @for s in &list.items {
                            tr {
                                td { a href=(format!("/serviceaccounts/{}", s.identifier)) { (s.name) } }
                                td { code { (s.identifier) } }
                                td { (s.email) }
                            }
                        }
                    }
                }
            }
        },
    )
}

#[derive(Deserialize, Default)]
struct ServiceAccountForm {
    csrf: Option<String>,
    name: Option<String>,
    email: Option<String>,
    identifier: Option<String>,
    description: Option<String>,
}

fn service_account_form(c: &Console, f: &ServiceAccountForm, error: Option<&str>) -> Markup {
    let name = f.name.clone().unwrap_or_default();
    html! {
        @if let Some(e) = error { (notice("error", e)) }
        form.card method="post" action="/serviceaccounts/new" {
            (csrf(c))
            label for="name" { "Name" }
            input id="name" name="name" type="text" required value=(name) data-derive-id="identifier";
            label for="email" { "Email" }
            input id="email" name="email" type="email" required value=(f.email.clone().unwrap_or_default());
            label for="identifier" { "Id" }
            input id="identifier" name="identifier" type="text" value=(f.identifier.clone().unwrap_or_else(|| identifier_from_name(&name))) aria-describedby="id-hint";
            p.hint id="id-hint" { "Generated from the Name (letters, digits and _); you can change it before saving. It cannot be changed later." }
            label for="description" { "Description" }
            textarea id="description" name="description" { (f.description.clone().unwrap_or_default()) }
            button type="submit" { "Save" }
        }
    }
}

async fn new_service_account(c: Console) -> Response {
    if !c.caller.can(UseCase::CreateServiceAccount) {
        return c.fail(DomainError::Forbidden(Permission::ServiceaccountEdit));
    }
    let body = html! { (access_tabs(&c.caller, "serviceaccounts")) (service_account_form(&c, &ServiceAccountForm::default(), None)) };
    c.page("access", "New Service Account", body)
}

async fn create_service_account(
    State(st): State<AppState>,
    c: Console,
    Form(f): Form<ServiceAccountForm>,
) -> Response {
    if let Some(refused) = c.check_csrf(f.csrf.as_deref()) {
        return refused;
    }
    let input = ServiceAccountInput {
        identifier: f.identifier.clone().filter(|i| !i.trim().is_empty()).map(|i| i.trim().to_string()),
        name: f.name.clone().unwrap_or_default(),
        email: f.email.clone().unwrap_or_default(),
        description: f.description.clone().unwrap_or_default(),
        tags: Tags::new(),
    };
    match st.access.create_service_account(&c.caller, input).await {
        Ok(sa) => see_other(&format!("/serviceaccounts/{}", sa.identifier)),
        Err(DomainError::Invalid(e)) => {
            let body = html! { (access_tabs(&c.caller, "serviceaccounts")) (service_account_form(&c, &f, Some(&e.detail))) };
            c.page_with(StatusCode::BAD_REQUEST, "access", "New Service Account", body)
        }
        Err(DomainError::Conflict(m)) => {
            let body = html! { (access_tabs(&c.caller, "serviceaccounts")) (service_account_form(&c, &f, Some(&m))) };
            c.page_with(StatusCode::CONFLICT, "access", "New Service Account", body)
        }
        Err(e) => c.fail(e),
    }
}

fn sa_key(id: &str, key: &str) -> ApiKeyRef {
    ApiKeyRef {
        api_key_type: TokenKind::ServiceAccount,
        parent_identifier: id.into(),
        identifier: key.into(),
    }
}

async fn service_account_page(
    st: &AppState,
    c: &Console,
    id: &str,
    secret: Option<(&str, &str)>,
) -> Response {
    let sa = match st.access.get_service_account(&c.caller, id).await {
        Ok(s) => s,
        Err(e) => return c.fail(e),
    };
    let assignments = if c.caller.can(UseCase::ListRoleAssignments) {
        match st.access.list_role_assignments(&c.caller, Some((PrincipalType::ServiceAccount, id)), ALL).await
        {
            Ok(p) => Some(p.items),
            Err(e) => return c.fail(e),
        }
    } else {
        None
    };
    let can_assign = c.caller.can(UseCase::CreateRoleAssignment) && c.caller.can(UseCase::ListRoles);
    let roles = if can_assign {
        st.access.list_roles(&c.caller, ALL).await.map(|p| p.items).unwrap_or_default()
    } else {
        Vec::new()
    };
    let groups = if can_assign {
        st.access.list_resource_groups(&c.caller, ALL).await.map(|p| p.items).unwrap_or_default()
    } else {
        Vec::new()
    };
    let manage_keys = c.caller.can(UseCase::ListApiKeys);
    let mut keys = Vec::new();
    if manage_keys {
        for k in st.access.list_api_keys(&c.caller, TokenKind::ServiceAccount, id).await.unwrap_or_default() {
            let tokens = st
                .access
                .list_tokens(&c.caller, &sa_key(id, &k.identifier), ALL)
                .await
                .map(|p| p.items)
                .unwrap_or_default();
            keys.push((k, tokens));
        }
    }
    let sa_path = format!("/serviceaccounts/{}", sa.identifier);
    c.page(
        "access",
        &sa.name,
        html! {
            (access_tabs(&c.caller, "serviceaccounts"))
            @if let Some((label, token)) = secret {
                div.card.secret role="status" {
                    p { strong { "New token " (label) ": copy it now, it is shown only once." } }
                    code id="new-secret" { (token) }
                    " " button type="button" data-copy="new-secret" { "Copy" }
                }
            }
            dl.facts {
                dt { "Id" } dd { code { (sa.identifier) } }
                dt { "Email" } dd { (sa.email) }
                dt { "Description" } dd { (sa.description) }
            }
            section aria-labelledby="roles-h" {
                h2 id="roles-h" { "Manage Roles" }
                @match &assignments {
                    None => p { "Your roles do not let you see role assignments." },
                    Some(list) => {
                        @if list.is_empty() { p { "No roles yet." } } @else {
                            table {
                                thead { tr { th scope="col" { "Role" } th scope="col" { "Resource group" } th scope="col" { "Scope" } @if c.caller.can(UseCase::DeleteRoleAssignment) { th scope="col" { "Remove" } } } }
                                tbody {
                                    @for a in list {
                                        tr {
                                            td { code { (a.role_identifier) } }
                                            td { code { (a.resource_group_identifier) } }
                                            td { (scope_text(&a.scope)) }
                                            @if c.caller.can(UseCase::DeleteRoleAssignment) {
                                                td { form method="post" action=(format!("{sa_path}/roles/{}/delete", a.identifier)) { (csrf(c)) button type="submit" { "Remove" } } }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                @if can_assign {
                    form.card method="post" action=(format!("{sa_path}/roles")) {
                        (csrf(c))
                        label for="role" { "Role" }
                        select id="role" name="role" { @for r in &roles { option value=(r.identifier) { (r.name) " (" (r.identifier) ")" } } }
                        label for="resource_group" { "Resource group" }
                        select id="resource_group" name="resource_group" { @for g in &groups { option value=(g.identifier) { (g.name) " (" (g.identifier) ")" } } }
                        button type="submit" { "Add role" }
                    }
                }
            }
            @if manage_keys {
                section aria-labelledby="keys-h" {
                    h2 id="keys-h" { "API keys and tokens" }
                    @for (k, tokens) in &keys {
                        h3 { "API key " code { (k.identifier) } }
                        @if tokens.is_empty() { p { "No tokens." } } @else {
                            table {
                                thead { tr { th scope="col" { "Token" } th scope="col" { "Valid to" } th scope="col" { "Actions" } } }
                                tbody {
                                    @for t in tokens {
                                        tr {
                                            td { code { (t.identifier) } }
                                            td { (t.valid_to.map_or("never".to_string(), |v| v.to_string())) }
                                            td.actions {
                                                @if c.caller.can(UseCase::RotateToken) {
                                                    form method="post" action=(format!("{sa_path}/tokens/{}/{}/rotate", k.identifier, t.identifier)) { (csrf(c)) button type="submit" { "Rotate" } }
                                                }
                                                @if c.caller.can(UseCase::DeleteToken) {
                                                    form method="post" action=(format!("{sa_path}/tokens/{}/{}/delete", k.identifier, t.identifier)) { (csrf(c)) button.danger type="submit" { "Delete" } }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    @if c.caller.can(UseCase::CreateToken) {
                        form.card method="post" action=(format!("{sa_path}/tokens")) {
                            (csrf(c))
                            label for="token_name" { "Token name" }
                            input id="token_name" name="name" type="text" required;
                            button type="submit" { "New token" }
                        }
                    }
                }
            }
        },
    )
}

fn scope_text(s: &Scope) -> String {
    match (s.org.is_empty(), s.project.is_empty()) {
        (true, _) => "account".into(),
        (false, true) => format!("org {}", s.org),
        (false, false) => format!("project {}/{}", s.org, s.project),
    }
}

async fn service_account(
    State(st): State<AppState>,
    headers: HeaderMap,
    c: Console,
    Path(id): Path<String>,
) -> Response {
    let once = super::session_id(&headers).and_then(|sid| st.sessions.take_once(&sid));
    service_account_page(&st, &c, &id, once.as_ref().map(|(l, s)| (l.as_str(), s.as_str()))).await
}

/// After a POST that made a secret: keep it for the next page only and redirect there
/// (POST-redirect-GET), so it is shown once and a reload re-sends nothing.
fn shown_once(st: &AppState, headers: &HeaderMap, id: &str, label: &str, secret: &str) -> Response {
    if let Some(sid) = super::session_id(headers) {
        st.sessions.show_once(&sid, label, secret);
    }
    see_other(&format!("/serviceaccounts/{id}"))
}

#[derive(Deserialize)]
struct AddRoleForm {
    csrf: Option<String>,
    role: Option<String>,
    resource_group: Option<String>,
}

async fn add_role(
    State(st): State<AppState>,
    c: Console,
    Path(id): Path<String>,
    Form(f): Form<AddRoleForm>,
) -> Response {
    if let Some(refused) = c.check_csrf(f.csrf.as_deref()) {
        return refused;
    }
    let now = time::OffsetDateTime::UNIX_EPOCH;
    let assignment = RoleAssignment {
        identifier: String::new(),
        scope: Scope::account(),
        role_identifier: f.role.unwrap_or_default(),
        resource_group_identifier: f.resource_group.unwrap_or_default(),
        principal_type: PrincipalType::ServiceAccount,
        principal_identifier: id.clone(),
        disabled: false,
        created: now,
        modified: now,
    };
    match st.access.create_role_assignment(&c.caller, assignment).await {
        Ok(_) => see_other(&format!("/serviceaccounts/{id}")),
        Err(e) => c.fail(e),
    }
}

async fn remove_role(
    State(st): State<AppState>,
    c: Console,
    Path((id, assignment)): Path<(String, String)>,
    Form(f): Form<super::CsrfOnly>,
) -> Response {
    if let Some(refused) = c.check_csrf(f.csrf.as_deref()) {
        return refused;
    }
    match st.access.get_role_assignment(&c.caller, &assignment).await {
        Ok(a) if a.principal_type == PrincipalType::ServiceAccount && a.principal_identifier == id => {}
        Ok(_) => {
            return error_page(
                Some(&c.frame("access")),
                StatusCode::NOT_FOUND,
                "no such role assignment on this service account",
            );
        }
        Err(e) => return c.fail(e),
    }
    match st.access.delete_role_assignment(&c.caller, &assignment).await {
        Ok(_) => see_other(&format!("/serviceaccounts/{id}")),
        Err(e) => c.fail(e),
    }
}

#[derive(Deserialize)]
struct TokenForm {
    csrf: Option<String>,
    name: Option<String>,
}

/// The API key the console puts its tokens under.
const CONSOLE_KEY: &str = "console";

async fn create_token(
    State(st): State<AppState>,
    headers: HeaderMap,
    c: Console,
    Path(id): Path<String>,
    Form(f): Form<TokenForm>,
) -> Response {
    if let Some(refused) = c.check_csrf(f.csrf.as_deref()) {
        return refused;
    }
    let name = f.name.unwrap_or_default();
    let identifier = identifier_from_name(&name);
    let now = time::OffsetDateTime::UNIX_EPOCH;
    let key = ApiKey {
        api_key_type: TokenKind::ServiceAccount,
        parent_identifier: id.clone(),
        identifier: CONSOLE_KEY.into(),
        name: "Console".into(),
        description: "Tokens made in the console".into(),
        tags: Tags::new(),
        default_ttl_ms: None,
        created: now,
        modified: now,
    };
    match st.access.create_api_key(&c.caller, key).await {
        Ok(_) | Err(DomainError::Conflict(_)) => {}
        Err(e) => return c.fail(e),
    }
    let input = TokenInput { identifier: identifier.clone(), name: Some(name), ..TokenInput::default() };
    match st.access.create_token(&c.caller, &sa_key(&id, CONSOLE_KEY), input).await {
        Ok((_, secret)) => shown_once(&st, &headers, &id, &identifier, &secret),
        Err(e) => c.fail(e),
    }
}

async fn rotate_token(
    State(st): State<AppState>,
    headers: HeaderMap,
    c: Console,
    Path((id, key, token)): Path<(String, String, String)>,
    Form(f): Form<super::CsrfOnly>,
) -> Response {
    if let Some(refused) = c.check_csrf(f.csrf.as_deref()) {
        return refused;
    }
    match st.access.rotate_token(&c.caller, &sa_key(&id, &key), &token, None).await {
        Ok(secret) => shown_once(&st, &headers, &id, &token, &secret),
        Err(e) => c.fail(e),
    }
}

async fn delete_token(
    State(st): State<AppState>,
    c: Console,
    Path((id, key, token)): Path<(String, String, String)>,
    Form(f): Form<super::CsrfOnly>,
) -> Response {
    if let Some(refused) = c.check_csrf(f.csrf.as_deref()) {
        return refused;
    }
    match st.access.delete_token(&c.caller, &sa_key(&id, &key), &token).await {
        Ok(()) => see_other(&format!("/serviceaccounts/{id}")),
        Err(e) => c.fail(e),
    }
}

async fn roles(State(st): State<AppState>, c: Console) -> Response {
    let list = match st.access.list_roles(&c.caller, ALL).await {
        Ok(l) => l,
        Err(e) => return c.fail(e),
    };
    c.page(
        "access",
        "Roles",
        html! {
            (access_tabs(&c.caller, "roles"))
            @if c.caller.can(UseCase::CreateRole) { p { a.button href="/roles/new" { "New Role" } } }
            table {
                thead { tr { th scope="col" { "Name" } th scope="col" { "Id" } th scope="col" { "Permissions" } th scope="col" { "Kind" } } }
                tbody {
                    @for r in &list.items {
                        tr {
                            td { @if !r.builtin && c.caller.can(UseCase::UpdateRole) { a href=(format!("/roles/{}", r.identifier)) { (r.name) } } @else { (r.name) } }
                            td { code { (r.identifier) } }
                            td { @for p in &r.permissions { code { (p.as_str()) } " " } }
                            td { (if r.builtin { "built-in (read-only)" } else { "custom" }) }
                        }
                    }
                }
            }
        },
    )
}

#[derive(Deserialize, Default)]
struct RoleForm {
    csrf: Option<String>,
    name: Option<String>,
    identifier: Option<String>,
    #[serde(default)]
    permission: Vec<String>,
    #[serde(default)]
    include_all: bool,
}

fn role_form(c: &Console, f: &RoleForm, error: Option<&str>) -> Markup {
    role_form_at(c, f, error, "/roles/new", true)
}

fn role_form_at(c: &Console, f: &RoleForm, error: Option<&str>, action: &str, new: bool) -> Markup {
    let name = f.name.clone().unwrap_or_default();
    html! {
        @if let Some(e) = error { (notice("error", e)) }
        form.card method="post" action=(action) {
            (csrf(c))
            label for="name" { "Name" }
            input id="name" name="name" type="text" required value=(name) data-derive-id=[new.then_some("identifier")];
            label for="identifier" { "Id" }
            input id="identifier" name="identifier" type="text" readonly[!new] value=(f.identifier.clone().unwrap_or_else(|| identifier_from_name(&name)));
            fieldset {
                legend { "Permissions" }
                @for p in Permission::ALL {
                    label.check {
                        input type="checkbox" name="permission" value=(p.as_str()) checked[f.permission.iter().any(|x| x == p.as_str())];
                        " " code { (p.as_str()) }
                    }
                }
            }
            button type="submit" { "Save" }
        }
    }
}

async fn new_role(c: Console) -> Response {
    if !c.caller.can(UseCase::CreateRole) {
        return c.fail(DomainError::Forbidden(Permission::RoleEdit));
    }
    c.page(
        "access",
        "New Role",
        html! { (access_tabs(&c.caller, "roles")) (role_form(&c, &RoleForm::default(), None)) },
    )
}

/// Reads a form whose checkbox lists repeat a key (which `Form` cannot read into a Vec).
fn role_form_from(body: &[u8]) -> RoleForm {
    let mut f = RoleForm::default();
    for (k, v) in url::form_urlencoded::parse(body) {
        match k.as_ref() {
            "csrf" => f.csrf = Some(v.into_owned()),
            "name" => f.name = Some(v.into_owned()),
            "identifier" => f.identifier = Some(v.into_owned()),
            "permission" | "resource_type" => f.permission.push(v.into_owned()),
            "include_all" => f.include_all = true,
            _ => {}
        }
    }
    f
}

async fn edit_role(State(st): State<AppState>, c: Console, Path(id): Path<String>) -> Response {
    let role = match st.access.get_role(&c.caller, &id).await {
        Ok(r) => r,
        Err(e) => return c.fail(e),
    };
    if role.builtin || !c.caller.can(UseCase::UpdateRole) {
        return error_page(
            Some(&c.frame("access")),
            StatusCode::FORBIDDEN,
            "built-in roles are read-only, and editing a role needs core_role_edit",
        );
    }
    let f = RoleForm {
        csrf: None,
        name: Some(role.name.clone()),
        identifier: Some(role.identifier.clone()),
        permission: role.permissions.iter().map(|p| p.as_str().to_string()).collect(),
        include_all: false,
    };
    c.page("access", &format!("Role {}", role.name), html! { (access_tabs(&c.caller, "roles")) (role_form_at(&c, &f, None, &format!("/roles/{id}"), false)) })
}

async fn update_role(
    State(st): State<AppState>,
    c: Console,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let f = role_form_from(&body);
    if let Some(refused) = c.check_csrf(f.csrf.as_deref()) {
        return refused;
    }
    let input = RoleInput {
        identifier: id.clone(),
        name: f.name.clone().unwrap_or_default(),
        description: String::new(),
        permissions: f.permission.clone(),
        tags: Tags::new(),
    };
    match st.access.update_role(&c.caller, input).await {
        Ok(_) => see_other("/roles"),
        Err(DomainError::Invalid(e)) => {
            let form = role_form_at(&c, &f, Some(&e.detail), &format!("/roles/{id}"), false);
            c.page_with(
                StatusCode::BAD_REQUEST,
                "access",
                "Role",
                html! { (access_tabs(&c.caller, "roles")) (form) },
            )
        }
        Err(e) => c.fail(e),
    }
}

async fn create_role(State(st): State<AppState>, c: Console, body: axum::body::Bytes) -> Response {
    let f = role_form_from(&body);
    if let Some(refused) = c.check_csrf(f.csrf.as_deref()) {
        return refused;
    }
    let name = f.name.clone().unwrap_or_default();
    let input = RoleInput {
        identifier: f
            .identifier
            .clone()
            .filter(|i| !i.trim().is_empty())
            .unwrap_or_else(|| identifier_from_name(&name)),
        name,
        description: String::new(),
        permissions: f.permission.clone(),
        tags: Tags::new(),
    };
    match st.access.create_role(&c.caller, input).await {
        Ok(_) => see_other("/roles"),
        Err(DomainError::Invalid(e)) => c.page_with(
            StatusCode::BAD_REQUEST,
            "access",
            "New Role",
            html! { (access_tabs(&c.caller, "roles")) (role_form(&c, &f, Some(&e.detail))) },
        ),
        Err(e) => c.fail(e),
    }
}

async fn resource_groups(State(st): State<AppState>, c: Console) -> Response {
    let list = match st.access.list_resource_groups(&c.caller, ALL).await {
        Ok(l) => l,
        Err(e) => return c.fail(e),
    };
    c.page(
        "access",
        "Resource Groups",
        html! {
            (access_tabs(&c.caller, "resourcegroups"))
            @if c.caller.can(UseCase::CreateResourceGroup) { p { a.button href="/resourcegroups/new" { "New Resource Group" } } }
            table {
                thead { tr { th scope="col" { "Name" } th scope="col" { "Id" } th scope="col" { "Resources" } th scope="col" { "Kind" } } }
                tbody {
                    @for g in &list.items {
                        tr {
                            td { @if !g.builtin && c.caller.can(UseCase::UpdateResourceGroup) { a href=(format!("/resourcegroups/{}", g.identifier)) { (g.name) } } @else { (g.name) } }
                            td { code { (g.identifier) } }
                            td { @if g.include_all { "all" } @else { @for t in &g.resource_types { code { (t) } " " } } }
                            td { (if g.builtin { "built-in (read-only)" } else { "custom" }) }
                        }
                    }
                }
            }
        },
    )
}

fn resource_group_form(c: &Console, f: &RoleForm, error: Option<&str>, action: &str, new: bool) -> Markup {
    let name = f.name.clone().unwrap_or_default();
    html! {
        @if let Some(e) = error { (notice("error", e)) }
        form.card method="post" action=(action) {
            (csrf(c))
            label for="name" { "Name" }
            input id="name" name="name" type="text" required value=(name) data-derive-id=[new.then_some("identifier")];
            label for="identifier" { "Id" }
            input id="identifier" name="identifier" type="text" readonly[!new] value=(f.identifier.clone().unwrap_or_else(|| identifier_from_name(&name)));
            fieldset {
                legend { "Resources" }
                label.check { input type="checkbox" name="include_all" value="true" checked[f.include_all]; " All resources of the account" }
                @for t in RESOURCE_TYPES {
                    label.check {
                        input type="checkbox" name="resource_type" value=(t) checked[f.permission.iter().any(|x| x == t)];
                        " " code { (t) }
                    }
                }
            }
            button type="submit" { "Save" }
        }
    }
}

fn resource_group_from(id: String, f: &RoleForm) -> ResourceGroup {
    let now = time::OffsetDateTime::UNIX_EPOCH;
    ResourceGroup {
        identifier: id,
        name: f.name.clone().unwrap_or_default(),
        description: String::new(),
        include_all: f.include_all,
        resource_types: if f.include_all { Vec::new() } else { f.permission.clone() },
        tags: Tags::new(),
        builtin: false,
        created: now,
        modified: now,
    }
}

async fn new_resource_group(c: Console) -> Response {
    if !c.caller.can(UseCase::CreateResourceGroup) {
        return c.fail(DomainError::Forbidden(Permission::ResourcegroupEdit));
    }
    let form = resource_group_form(&c, &RoleForm::default(), None, "/resourcegroups/new", true);
    c.page("access", "New Resource Group", html! { (access_tabs(&c.caller, "resourcegroups")) (form) })
}

async fn create_resource_group(State(st): State<AppState>, c: Console, body: axum::body::Bytes) -> Response {
    let f = role_form_from(&body);
    if let Some(refused) = c.check_csrf(f.csrf.as_deref()) {
        return refused;
    }
    let name = f.name.clone().unwrap_or_default();
    let id =
        f.identifier.clone().filter(|i| !i.trim().is_empty()).unwrap_or_else(|| identifier_from_name(&name));
    match st.access.create_resource_group(&c.caller, resource_group_from(id, &f)).await {
        Ok(_) => see_other("/resourcegroups"),
        Err(DomainError::Invalid(e)) => {
            let form = resource_group_form(&c, &f, Some(&e.detail), "/resourcegroups/new", true);
            c.page_with(
                StatusCode::BAD_REQUEST,
                "access",
                "New Resource Group",
                html! { (access_tabs(&c.caller, "resourcegroups")) (form) },
            )
        }
        Err(e) => c.fail(e),
    }
}

async fn edit_resource_group(State(st): State<AppState>, c: Console, Path(id): Path<String>) -> Response {
    let g = match st.access.get_resource_group(&c.caller, &id).await {
        Ok(g) => g,
        Err(e) => return c.fail(e),
    };
    if g.builtin || !c.caller.can(UseCase::UpdateResourceGroup) {
        return error_page(
            Some(&c.frame("access")),
            StatusCode::FORBIDDEN,
            "the built-in resource group is read-only, and editing one needs core_resourcegroup_edit",
        );
    }
    let f = RoleForm {
        csrf: None,
        name: Some(g.name.clone()),
        identifier: Some(g.identifier.clone()),
        permission: g.resource_types.clone(),
        include_all: g.include_all,
    };
    let form = resource_group_form(&c, &f, None, &format!("/resourcegroups/{id}"), false);
    c.page(
        "access",
        &format!("Resource group {}", g.name),
        html! { (access_tabs(&c.caller, "resourcegroups")) (form) },
    )
}

async fn update_resource_group(
    State(st): State<AppState>,
    c: Console,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let f = role_form_from(&body);
    if let Some(refused) = c.check_csrf(f.csrf.as_deref()) {
        return refused;
    }
    match st.access.update_resource_group(&c.caller, resource_group_from(id.clone(), &f)).await {
        Ok(_) => see_other("/resourcegroups"),
        Err(DomainError::Invalid(e)) => {
            let form = resource_group_form(&c, &f, Some(&e.detail), &format!("/resourcegroups/{id}"), false);
            c.page_with(
                StatusCode::BAD_REQUEST,
                "access",
                "Resource group",
                html! { (access_tabs(&c.caller, "resourcegroups")) (form) },
            )
        }
        Err(e) => c.fail(e),
    }
}

async fn role_assignments(State(st): State<AppState>, c: Console) -> Response {
    let list = match st.access.list_role_assignments(&c.caller, None, ALL).await {
        Ok(l) => l,
        Err(e) => return c.fail(e),
    };
    c.page(
        "access",
        "Role Assignments",
        html! {
            (access_tabs(&c.caller, "roleassignments"))
            table {
                thead { tr { th scope="col" { "Principal" } th scope="col" { "Role" } th scope="col" { "Resource group" } th scope="col" { "Scope" } th scope="col" { "Enabled" } } }
                tbody {
                    @for a in &list.items {
                        tr {
                            td { (a.principal_type.as_str()) " " code { (a.principal_identifier) } }
                            td { code { (a.role_identifier) } }
                            td { code { (a.resource_group_identifier) } }
                            td { (scope_text(&a.scope)) }
                            td { (if a.disabled { "no" } else { "yes" }) }
                        }
                    }
                }
            }
        },
    )
}
