//! The console's page frame, navigation and small pieces of markup (docs/console.md).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{DOCTYPE, Markup, PreEscaped, html};
use scimgate_domain::access::Caller;
use scimgate_domain::use_case::UseCase;

/// The strict policy of every console response: nothing inline, nothing from elsewhere.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                       connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Who is signed in, for the frame.
pub struct Frame<'a> {
    /// The caller.
    pub caller: &'a Caller,
    /// The session's CSRF token, for the sign-out form.
    pub csrf: &'a str,
    /// The current section, for the navigation.
    pub section: &'a str,
}

/// A whole page: title, navigation (only what the caller may see), main content.
pub fn page(frame: Option<&Frame<'_>>, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · scimgate" }
                link rel="stylesheet" href="/assets/console.css";
                script src="/assets/console.js" defer {}
            }
            body {
                header.top {
                    a.brand href="/" { "scimgate" }
                    @if let Some(f) = frame {
                        nav aria-label="Main" {
                            ul {
                                (nav_item(f, "overview", "/", "Overview", true))
                                (nav_item(f, "users", "/users", "Users", f.caller.can(UseCase::ListUsers)))
                                (nav_item(f, "groups", "/groups", "User groups", f.caller.can(UseCase::ListGroups)))
                                (nav_item(f, "access", "/serviceaccounts", "Account Settings", f.caller.can(UseCase::ListServiceAccounts) || f.caller.can(UseCase::ListRoles)))
                                (nav_item(f, "jwt", "/settings/scim-jwt", "SCIM JWT settings", f.caller.can(UseCase::ListSettings)))
                                (nav_item(f, "audit", "/settings/audit", "Settings audit", f.caller.can(UseCase::ListSettingsAudit)))
                                (nav_item(f, "auditlog", "/audit", "Audit log", f.caller.can(UseCase::ListAudit)))
                                (nav_item(f, "scimrequests", "/scim-requests", "SCIM requests", f.caller.can(UseCase::ListScimRequests)))
                                (nav_item(f, "webhooks", "/webhooks", "Webhooks", f.caller.can(UseCase::ListWebhooks)))
                                (nav_item(f, "events", "/events", "Events", f.caller.can(UseCase::ListEvents)))
                                (nav_item(f, "me", "/me", "Me", true))
                            }
                        }
                        form.signout method="post" action="/logout" {
                            input type="hidden" name="csrf" value=(f.csrf);
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main id="main" {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

fn nav_item(f: &Frame<'_>, key: &str, href: &str, label: &str, show: bool) -> Markup {
    html! {
        @if show {
            li { a href=(href) aria-current=[(f.section == key).then_some("page")] { (label) } }
        }
    }
}

/// The tabs of **Account Settings → Access Control**.
pub fn access_tabs(caller: &Caller, current: &str) -> Markup {
    let tabs = [
        ("serviceaccounts", "/serviceaccounts", "Service Accounts", caller.can(UseCase::ListServiceAccounts)),
        ("roles", "/roles", "Roles", caller.can(UseCase::ListRoles)),
        ("resourcegroups", "/resourcegroups", "Resource Groups", caller.can(UseCase::ListResourceGroups)),
        ("roleassignments", "/roleassignments", "Role Assignments", caller.can(UseCase::ListRoleAssignments)),
    ];
    html! {
        p.crumbs { "Account Settings → Access Control" }
        nav.tabs aria-label="Access Control" {
            @for (key, href, label, show) in tabs {
                @if show {
                    a href=(href) aria-current=[(key == current).then_some("page")] { (label) }
                }
            }
        }
    }
}

/// A hidden CSRF field.
pub fn csrf_field(csrf: &str) -> Markup {
    html! { input type="hidden" name="csrf" value=(csrf); }
}

/// An error or notice box.
pub fn notice(kind: &str, text: &str) -> Markup {
    html! { p class=(format!("notice {kind}")) role=(if kind == "error" { "alert" } else { "status" }) { (text) } }
}

/// Pretty JSON in a `<pre>`, focusable so that a keyboard can scroll it sideways on a narrow
/// screen.
pub fn json_block(v: &serde_json::Value) -> Markup {
    let text = serde_json::to_string_pretty(v).unwrap_or_default();
    html! { pre.json tabindex="0" { code { (text) } } }
}

/// A markup response with the console's headers.
pub fn respond(status: StatusCode, markup: Markup) -> Response {
    let mut res = (status, markup.into_string()).into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    res
}

/// 200 with a page.
pub fn ok(markup: Markup) -> Response {
    respond(StatusCode::OK, markup)
}

/// A 303 to a console path.
pub fn see_other(path: &str) -> Response {
    Redirect::to(path).into_response()
}

/// The page for a refused or failed action.
pub fn error_page(frame: Option<&Frame<'_>>, status: StatusCode, message: &str) -> Response {
    let title = match status {
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::BAD_REQUEST => "Cannot do that",
        _ => "Something went wrong",
    };
    respond(
        status,
        page(frame, title, html! { (notice("error", message)) p { a href="/" { "Back to the overview" } } }),
    )
}

/// Unescaped markup (only for constant strings of this module).
pub fn raw(s: &'static str) -> PreEscaped<&'static str> {
    PreEscaped(s)
}
