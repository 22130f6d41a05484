//! **Audit log** and **SCIM requests** (docs/console.md, docs/audit.md): the two logs with the
//! API's filters, keyset-paged newest first, and one request with its bodies side by side.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use maud::{Markup, html};
use scimgate_domain::audit::{AuditResource, action};
use scimgate_domain::request_log::ScimRequest;
use scimgate_scim::stored::format_time;
use serde_json::Value;

use super::Console;
use super::layout::{json_block, notice};
use crate::http::product_api::audit::{AuditParams, RequestParams};
use crate::state::AppState;

/// Rows per page.
const ROWS: u32 = 50;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/audit", get(audit))
        .route("/scim-requests", get(requests))
        .route("/scim-requests/{seq}", get(request))
}

/// The query string of a filter form, without `cursor`, for the next page's link.
fn query_of(pairs: &[(&str, &Option<String>)]) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        if let Some(v) = v.as_deref().filter(|v| !v.trim().is_empty()) {
            q.append_pair(k, v);
        }
    }
    q.finish()
}

fn text_field(id: &str, label: &str, value: &Option<String>, hint: &str) -> Markup {
    html! {
        div.field {
            label for=(id) { (label) }
            input id=(id) name=(id) type="text" value=(value.clone().unwrap_or_default()) aria-describedby=(format!("{id}-hint"));
            p.hint id=(format!("{id}-hint")) { (hint) }
        }
    }
}

fn select_field(id: &str, label: &str, value: &Option<String>, options: &[&str]) -> Markup {
    let current = value.clone().unwrap_or_default();
    html! {
        div.field {
            label for=(id) { (label) }
            select id=(id) name=(id) {
                option value="" selected[current.is_empty()] { "Any" }
                @for o in options {
                    option value=(o) selected[current.eq_ignore_ascii_case(o)] { (o) }
                }
            }
        }
    }
}

const TIME_HINT: &str = "Epoch milliseconds or RFC 3339, e.g. 2026-12-01T09:30:00Z.";

async fn audit(State(st): State<AppState>, c: Console, Query(mut form): Query<AuditParams>) -> Response {
    form.limit = Some(ROWS.to_string());
    let query = match form.query() {
        Ok(q) => q,
        Err(e) => return c.fail(e),
    };
    let entries = match st.audit.list(&c.caller, &query).await {
        Ok(e) => e,
        Err(e) => return c.fail(e),
    };
    let kinds: Vec<&str> = AuditResource::ALL.iter().map(|k| k.as_str()).collect();
    let next = (entries.len() == ROWS as usize).then(|| entries.last().map(|e| e.seq)).flatten();
    let base = query_of(&[
        ("resourceType", &form.resource_type),
        ("resourceId", &form.resource_id),
        ("principal", &form.principal),
        ("action", &form.action),
        ("from", &form.from),
        ("to", &form.to),
    ]);
    c.page(
        "auditlog",
        "Audit log",
        html! {
            p.hint { "Every change in this account, newest first: who made it, with which credential, and what changed." }
            form.filters method="get" action="/audit" role="search" {
                (select_field("resourceType", "Resource type", &form.resource_type, &kinds))
                (text_field("resourceId", "Resource id", &form.resource_id, "Exact id, e.g. a user's SCIM id."))
                (text_field("principal", "Who", &form.principal, "A user id or service account identifier."))
                (select_field("action", "Action", &form.action, &action::ALL))
                (text_field("from", "From", &form.from, TIME_HINT))
                (text_field("to", "To", &form.to, TIME_HINT))
                button type="submit" { "Filter" }
            }
            @if entries.is_empty() { (notice("info", "No entries match.")) } @else {
                table {
                    thead { tr { th scope="col" { "When" } th scope="col" { "Who" } th scope="col" { "Action" } th scope="col" { "Resource" } th scope="col" { "What changed" } th scope="col" { "Request" } } }
                    tbody {
                        @for e in &entries {
                            tr {
                                td { (format_time(e.at)) }
                                td {
                                    code { (e.actor.label()) }
                                    @if let Some(j) = &e.actor.jwt { br; small { "JWT " (j.iss.clone().unwrap_or_default()) " / " (j.sub.clone().unwrap_or_default()) } }
                                    @if let Some(t) = &e.actor.credential_id { br; small { "token " code { (t) } } }
                                }
                                td { (e.action) }
                                td { (e.resource_type) " " code { (e.resource_id) } }
                                td { code { (e.summary.to_string()) } }
                                td { @if let Some(r) = &e.actor.request_id { code { (r) } } }
                            }
                        }
                    }
                }
            }
            @if let Some(n) = next {
                p.pager { a rel="next" href=(format!("/audit?{base}&cursor={n}")) { "Older →" } }
            }
        },
    )
}

async fn requests(State(st): State<AppState>, c: Console, Query(mut form): Query<RequestParams>) -> Response {
    form.limit = Some(ROWS.to_string());
    let query = match form.query() {
        Ok(q) => q,
        Err(e) => return c.fail(e),
    };
    let rows = match st.audit.requests(&c.caller, &query).await {
        Ok(r) => r,
        Err(e) => return c.fail(e),
    };
    let next = (rows.len() == ROWS as usize).then(|| rows.last().map(|r| r.seq)).flatten();
    let base = query_of(&[
        ("method", &form.method),
        ("status", &form.status),
        ("pathContains", &form.path_contains),
        ("since", &form.since),
        ("until", &form.until),
    ]);
    c.page(
        "scimrequests",
        "SCIM requests",
        html! {
            p.hint { "What the identity provider sent to this account's SCIM API and what it got, newest first. Passwords, secrets and tokens are redacted; bodies are cut at 16 KiB." }
            form.filters method="get" action="/scim-requests" role="search" {
                (select_field("method", "Method", &form.method, &["GET", "POST", "PUT", "PATCH", "DELETE"]))
                (select_field("status", "Status", &form.status, &["2xx", "4xx", "5xx"]))
                (text_field("pathContains", "Path contains", &form.path_contains, "e.g. /Groups"))
                (text_field("since", "Since", &form.since, TIME_HINT))
                (text_field("until", "Until", &form.until, TIME_HINT))
                button type="submit" { "Filter" }
            }
            @if rows.is_empty() { (notice("info", "No requests match.")) } @else {
                table {
                    thead { tr { th scope="col" { "When" } th scope="col" { "Request" } th scope="col" { "Status" } th scope="col" { "Time" } th scope="col" { "Who" } th scope="col" { "Client" } } }
                    tbody {
                        @for r in &rows {
                            tr {
                                td { a href=(format!("/scim-requests/{}", r.seq)) { (format_time(r.at)) } }
                                td { code { (r.method) " " (short_path(r)) } }
                                td { (r.status) }
                                td { (format!("{:.1} ms", r.duration_us as f64 / 1000.0)) }
                                td { @if let Some(p) = &r.principal { code { (p) } } @else { "not authenticated" } }
                                td { (r.user_agent.clone().unwrap_or_default()) }
                            }
                        }
                    }
                }
            }
            @if let Some(n) = next {
                p.pager { a rel="next" href=(format!("/scim-requests?{base}&cursor={n}")) { "Older →" } }
            }
        },
    )
}

/// The path below the account's SCIM base, with the query.
fn short_path(r: &ScimRequest) -> String {
    let prefix = format!("/gateway/ng/api/scim/account/{}", r.account);
    let path = r.path.strip_prefix(&prefix).filter(|p| !p.is_empty()).unwrap_or(&r.path);
    if r.query.is_empty() { path.to_string() } else { format!("{path}?{}", r.query) }
}

fn body_block(b: &Option<String>) -> Markup {
    match b {
        None => html! { p.hint { "No body." } },
        Some(text) => match serde_json::from_str::<Value>(text) {
            Ok(v) => json_block(&v),
            Err(_) => html! { pre.json tabindex="0" { code { (text) } } },
        },
    }
}

async fn request(State(st): State<AppState>, c: Console, Path(seq): Path<String>) -> Response {
    let Ok(seq) = seq.parse::<i64>() else {
        return c.fail(scimgate_domain::DomainError::NotFound("no such request".into()));
    };
    let form = RequestParams {
        cursor: Some(seq.saturating_add(1).to_string()),
        limit: Some("1".into()),
        ..Default::default()
    };
    let query = match form.query() {
        Ok(q) => q,
        Err(e) => return c.fail(e),
    };
    let found = match st.audit.requests(&c.caller, &query).await {
        Ok(rows) => rows.into_iter().find(|r| r.seq == seq),
        Err(e) => return c.fail(e),
    };
    let Some(r) = found else {
        return c.page_with(
            StatusCode::NOT_FOUND,
            "scimrequests",
            "SCIM request",
            notice("error", "This request is not in the log (it may have been pruned)."),
        );
    };
    c.page(
        "scimrequests",
        "SCIM request",
        html! {
            p { a href="/scim-requests" { "← All requests" } }
            dl.facts {
                dt { "When" } dd { (format_time(r.at)) }
                dt { "Request" } dd { code { (r.method) " " (short_path(&r)) } }
                dt { "Status" } dd { (r.status) }
                dt { "Time" } dd { (format!("{:.1} ms", r.duration_us as f64 / 1000.0)) }
                dt { "Who" } dd { @if let Some(p) = &r.principal { code { (p) } } @else { "not authenticated" } }
                dt { "Token" } dd { (r.credential_id.clone().unwrap_or_else(|| "-".into())) }
                dt { "Client" } dd { (r.user_agent.clone().unwrap_or_default()) }
                dt { "Request id" } dd { code { (r.request_id.clone().unwrap_or_default()) } }
            }
            div.sidebyside {
                section aria-labelledby="sent" { h2 id="sent" { "Request body" } (body_block(&r.request_body)) }
                section aria-labelledby="got" { h2 id="got" { "Response body" } (body_block(&r.response_body)) }
            }
        },
    )
}
