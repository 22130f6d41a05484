//! Overview, Users, User groups and the personal page (docs/console.md "Pages").

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use maud::{Markup, html};
use scimgate_domain::entities::{ApiKeyRef, PageRequest, PrincipalType};
use scimgate_domain::store::{ListQuery, Page};
use scimgate_domain::token::TokenKind;
use scimgate_domain::use_case::UseCase;
use scimgate_scim::list::{CursorPosition, ListParams, decode_cursor, encode_cursor};
use scimgate_scim::schema::ResourceKind;
use scimgate_scim::stored::{StoredResource, to_representation};
use serde::Deserialize;
use serde_json::Value;

use super::Console;
use super::layout::{json_block, notice};
use crate::http::cursor::CursorScope;
use crate::http::scim::base_url;
use crate::jwt::JWT_FLAG;
use crate::state::AppState;

/// Rows per console list page.
pub const PAGE_ROWS: u64 = 25;

pub(super) async fn overview(State(st): State<AppState>, headers: HeaderMap, c: Console) -> Response {
    let account = c.caller.account().clone();
    let scim_base = base_url(&st.config, &headers, account.as_str());
    let count = async |kind: ResourceKind| -> Option<u64> {
        let q = ListQuery {
            filter: None,
            sort: None,
            page: Page::Index { start_index: 1, count: 0 },
            include_related: false,
            count_total: true,
        };
        st.scim.list(&c.caller, kind, &q).await.ok().map(|p| p.total)
    };
    let users = count(ResourceKind::User).await;
    let groups = count(ResourceKind::Group).await;
    let flag = async |f: &str| st.auth.is_feature_enabled(&account, f).await.unwrap_or(false);
    let settings_on = flag(scimgate_domain::settings_service::NG_SETTINGS).await;
    let jwt_on = flag(JWT_FLAG).await;
    let on_off = |b: bool| if b { "on" } else { "off" };
    c.page(
        "overview",
        "Overview",
        html! {
            dl.facts {
                dt { "Account" } dd { code { (account.as_str()) } }
                dt { "SCIM base URL" } dd {
                    code id="scim-base" { (scim_base) }
                    " " button type="button" data-copy="scim-base" { "Copy" }
                    p.hint { "Paste it into Okta (SCIM connector base URL) or Microsoft Entra ID (Tenant URL)." }
                }
                dt { "Users" } dd { (users.map_or("—".to_string(), |n| n.to_string())) }
                dt { "User groups" } dd { (groups.map_or("—".to_string(), |n| n.to_string())) }
                dt { "Settings API (NG_SETTINGS)" } dd { (on_off(settings_on)) }
                dt { "SCIM JWT authentication (" (JWT_FLAG) ")" } dd { (on_off(jwt_on)) }
            }
        },
    )
}

#[derive(Deserialize, Default)]
pub(super) struct ListForm {
    q: Option<String>,
    after: Option<String>,
}

/// A SCIM filter string literal.
fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The search filter of a list page: userName, names, e-mail and externalId for users;
/// displayName and externalId for groups.
fn search_filter(kind: ResourceKind, q: &str) -> Option<String> {
    let q = q.trim();
    if q.is_empty() {
        return None;
    }
    let v = quoted(q);
    Some(match kind {
        ResourceKind::User => format!(
            "userName co {v} or displayName co {v} or name.givenName co {v} or name.familyName co {v} or \
             emails.value co {v} or externalId eq {v}"
        ),
        ResourceKind::Group => format!("displayName co {v} or externalId eq {v}"),
    })
}

/// One page of a list: keyset paging on the insertion order (no offset, so the millionth
/// page costs what the first does), the position sealed like a SCIM cursor.
async fn list_page(
    st: &AppState,
    c: &Console,
    kind: ResourceKind,
    form: &ListForm,
) -> Result<(Vec<StoredResource>, Option<String>), Response> {
    let filter = form.q.as_deref().and_then(|q| search_filter(kind, q));
    let endpoint = format!("console-{}", kind.name());
    let scope = CursorScope {
        account: c.caller.account().as_str(),
        endpoint: &endpoint,
        filter: filter.as_deref(),
        sort_by: None,
        sort_order: None,
    };
    let seal = st.cursors.seal().await.map_err(|e| c.fail(e))?;
    let after = match form.after.as_deref().filter(|a| !a.is_empty()) {
        Some(a) => {
            let plain = seal.open(&scope, a).map_err(|e| c.fail(e.into()))?;
            decode_cursor(&plain).map_err(|e| c.fail(e.into()))?
        }
        None => None,
    };
    let params = ListParams { filter: filter.clone(), ..ListParams::default() };
    let request = params.parse().map_err(|e| c.fail(e.into()))?;
    let query = ListQuery {
        filter: request.filter,
        sort: None,
        page: Page::Cursor { after, count: PAGE_ROWS },
        include_related: false,
        count_total: false,
    };
    let page = st.scim.list(&c.caller, kind, &query).await.map_err(|e| c.fail(e))?;
    let next = page.next.map(|n: CursorPosition| seal.seal(&scope, &encode_cursor(n)));
    Ok((page.items, next))
}

fn search_box(action: &str, q: &str, label: &str) -> Markup {
    html! {
        form.search method="get" action=(action) role="search" {
            label for="q" { (label) }
            input id="q" name="q" type="search" value=(q);
            button type="submit" { "Search" }
        }
    }
}

fn next_link(path: &str, q: &str, next: Option<&str>) -> Markup {
    html! {
        @if let Some(n) = next {
            p.pager { a rel="next" href=(format!("{path}?q={}&after={n}", url::form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>())) { "Next page →" } }
        }
    }
}

fn text<'a>(doc: &'a serde_json::Map<String, Value>, key: &str) -> &'a str {
    doc.get(key).and_then(Value::as_str).unwrap_or("")
}

fn primary_email(doc: &serde_json::Map<String, Value>) -> String {
    let emails = doc.get("emails").and_then(Value::as_array);
    emails
        .and_then(|l| l.iter().find(|e| e["primary"] == true).or_else(|| l.first()))
        .and_then(|e| e["value"].as_str())
        .unwrap_or("")
        .to_string()
}

pub(super) async fn users(State(st): State<AppState>, c: Console, Query(form): Query<ListForm>) -> Response {
    let (items, next) = match list_page(&st, &c, ResourceKind::User, &form).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let q = form.q.clone().unwrap_or_default();
    c.page(
        "users",
        "Users",
        html! {
            p.hint { "Users provisioned over SCIM by the identity provider." }
            (search_box("/users", &q, "Search by userName, name, e-mail or externalId"))
            @if items.is_empty() { (notice("info", "No users match.")) } @else {
                table {
                    thead { tr { th scope="col" { "userName" } th scope="col" { "Name" } th scope="col" { "E-mail" } th scope="col" { "Active" } th scope="col" { "externalId" } } }
                    tbody {
                        @for u in &items {
                            tr {
                                td { a href=(format!("/users/{}", u.id)) { (text(&u.doc, "userName")) } }
                                td { (u.doc.get("name").and_then(|n| n.get("formatted").or(n.get("familyName"))).and_then(Value::as_str).unwrap_or(text(&u.doc, "displayName"))) }
                                td { (primary_email(&u.doc)) }
                                td { (if u.doc.get("active") == Some(&Value::Bool(false)) { "no" } else { "yes" }) }
                                td { (text(&u.doc, "externalId")) }
                            }
                        }
                    }
                }
            }
            (next_link("/users", &q, next.as_deref()))
        },
    )
}

pub(super) async fn user(
    State(st): State<AppState>,
    headers: HeaderMap,
    c: Console,
    Path(id): Path<String>,
) -> Response {
    let r = match st.scim.get(&c.caller, ResourceKind::User, &id, true).await {
        Ok(r) => r,
        Err(e) => return c.fail(e),
    };
    let base = base_url(&st.config, &headers, c.caller.account().as_str());
    let json = Value::Object(to_representation(ResourceKind::User, &r, &base));
    let active = r.doc.get("active") != Some(&Value::Bool(false));
    c.page(
        "users",
        text(&r.doc, "userName"),
        html! {
            dl.facts {
                dt { "id" } dd { code { (r.id) } }
                dt { "Active" } dd { (if active { "yes" } else { "no (deactivated)" }) }
                dt { "Display name" } dd { (text(&r.doc, "displayName")) }
                dt { "E-mail" } dd { (primary_email(&r.doc)) }
                dt { "externalId" } dd { (text(&r.doc, "externalId")) }
                dt { "Groups" } dd {
                    @match &r.groups {
                        Some(g) if !g.is_empty() => { ul { @for g in g { li { a href=(format!("/groups/{}", g.value)) { (g.display.as_deref().unwrap_or(&g.value)) } } } } }
                        _ => "none",
                    }
                }
            }
            h2 { "SCIM representation" }
            (json_block(&json))
        },
    )
}

pub(super) async fn groups(State(st): State<AppState>, c: Console, Query(form): Query<ListForm>) -> Response {
    let (items, next) = match list_page(&st, &c, ResourceKind::Group, &form).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let q = form.q.clone().unwrap_or_default();
    c.page(
        "groups",
        "User groups",
        html! {
            p.hint { "Groups provisioned over SCIM. Roles assigned to a group apply to its members." }
            (search_box("/groups", &q, "Search by name or externalId"))
            @if items.is_empty() { (notice("info", "No groups match.")) } @else {
                table {
                    thead { tr { th scope="col" { "Name" } th scope="col" { "externalId" } th scope="col" { "id" } } }
                    tbody {
                        @for g in &items {
                            tr {
                                td { a href=(format!("/groups/{}", g.id)) { (text(&g.doc, "displayName")) } }
                                td { (text(&g.doc, "externalId")) }
                                td { code { (g.id) } }
                            }
                        }
                    }
                }
            }
            (next_link("/groups", &q, next.as_deref()))
        },
    )
}

#[derive(Deserialize, Default)]
pub(super) struct MemberPage {
    from: Option<usize>,
}

/// Members shown per page of a group.
const MEMBER_ROWS: usize = 100;

pub(super) async fn group(
    State(st): State<AppState>,
    c: Console,
    Path(id): Path<String>,
    Query(mp): Query<MemberPage>,
) -> Response {
    let g = match st.scim.get(&c.caller, ResourceKind::Group, &id, true).await {
        Ok(g) => g,
        Err(e) => return c.fail(e),
    };
    let members = g.members.clone().unwrap_or_default();
    let from = mp.from.unwrap_or(0).min(members.len());
    let shown = &members[from..(from + MEMBER_ROWS).min(members.len())];
    let assignments = if c.caller.can(UseCase::ListRoleAssignments) {
        st.access
            .list_role_assignments(
                &c.caller,
                Some((PrincipalType::UserGroup, &id)),
                PageRequest { index: 0, size: 100 },
            )
            .await
            .map(|p| p.items)
            .ok()
    } else {
        None
    };
    c.page(
        "groups",
        text(&g.doc, "displayName"),
        html! {
            dl.facts {
                dt { "id" } dd { code { (g.id) } }
                dt { "externalId" } dd { (text(&g.doc, "externalId")) }
                dt { "Members" } dd { (members.len()) }
            }
            h2 { "Members" }
            @if shown.is_empty() { p { "No members." } } @else {
                table {
                    thead { tr { th scope="col" { "Member" } th scope="col" { "Type" } } }
                    tbody {
                        @for m in shown {
                            tr {
                                td { @if m.member_type != ResourceKind::Group { a href=(format!("/users/{}", m.value)) { (m.display.as_deref().unwrap_or(&m.value)) } } @else { a href=(format!("/groups/{}", m.value)) { (m.display.as_deref().unwrap_or(&m.value)) } } }
                                td { (m.member_type.name()) }
                            }
                        }
                    }
                }
                @if from + MEMBER_ROWS < members.len() {
                    p.pager { a rel="next" href=(format!("/groups/{}?from={}", g.id, from + MEMBER_ROWS)) { "Next members →" } }
                }
            }
            h2 { "Role assignments" }
            @match &assignments {
                None => p { "Your roles do not let you see role assignments." },
                Some(list) if list.is_empty() => p { "None: members get no roles through this group." },
                Some(list) => ul { @for a in list { li { code { (a.role_identifier) } " on " code { (a.resource_group_identifier) } } } },
            }
        },
    )
}

pub(super) async fn me(State(st): State<AppState>, c: Console) -> Response {
    let principal = c.caller.principal().clone();
    let kind = match principal.type_name() {
        "USER" => PrincipalType::User,
        _ => PrincipalType::ServiceAccount,
    };
    let assignments = if c.caller.can(UseCase::ListRoleAssignments) {
        st.access
            .list_role_assignments(
                &c.caller,
                Some((kind, principal.id())),
                PageRequest { index: 0, size: 100 },
            )
            .await
            .map(|p| p.items)
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    let permissions = c.caller.permission_names();
    // Its own API keys and tokens: a user's personal ones, or the service account's.
    let key_kind = if kind == PrincipalType::User { TokenKind::User } else { TokenKind::ServiceAccount };
    let mut keys = Vec::new();
    for k in st.access.list_api_keys(&c.caller, key_kind, principal.id()).await.unwrap_or_default() {
        let key = ApiKeyRef {
            api_key_type: key_kind,
            parent_identifier: principal.id().to_string(),
            identifier: k.identifier.clone(),
        };
        let tokens = st
            .access
            .list_tokens(&c.caller, &key, PageRequest { index: 0, size: 100 })
            .await
            .map(|p| p.items)
            .unwrap_or_default();
        keys.push((k, tokens));
    }
    c.page(
        "me",
        "Me",
        html! {
            dl.facts {
                dt { "Signed in as" } dd { (principal.type_name()) " " code { (principal.id()) } }
                dt { "Account" } dd { code { (c.caller.account().as_str()) } }
                dt { "Token" } dd { code { (c.caller.token_id().unwrap_or("")) } }
            }
            h2 { "Role assignments" }
            @if assignments.is_empty() { p { "None visible." } } @else {
                ul { @for a in &assignments { li { code { (a.role_identifier) } " on " code { (a.resource_group_identifier) } } } }
            }
            h2 { "API keys and tokens" }
            @if keys.is_empty() { p { "None visible." } } @else {
                table {
                    thead { tr { th scope="col" { "API key" } th scope="col" { "Token" } th scope="col" { "Valid to" } } }
                    tbody {
                        @for (k, tokens) in &keys {
                            @for t in tokens {
                                tr {
                                    td { code { (k.identifier) } }
                                    td { code { (t.identifier) } @if c.caller.token_id() == Some(t.token_id.as_str()) { " (this session)" } }
                                    td { (t.valid_to.map_or("never".to_string(), |v| v.to_string())) }
                                }
                            }
                        }
                    }
                }
            }
            h2 { "Permissions at account scope" }
            @if permissions.is_empty() { p { "None." } } @else { ul.perms { @for p in &permissions { li { code { (p) } } } } }
        },
    )
}
