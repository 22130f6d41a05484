//! **Webhooks** and **Events** (docs/console.md, docs/events.md): subscriptions with their
//! delivery state, the secret shown once after a create or a rotation, the delivery log with
//! redeliver, and the events feed filtered by type.

use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use maud::{Markup, html};
use scimgate_domain::events::{EventQuery, EventType};
use scimgate_domain::use_case::UseCase;
use scimgate_domain::webhooks::{
    EventFilter, Webhook, WebhookDelivery, WebhookFormat, WebhookInput, WebhookStatus,
};
use scimgate_scim::stored::format_time;
use serde::Deserialize;
use serde_json::Value;

use super::layout::{json_block, notice, see_other};
use super::{Console, csrf};
use crate::events::{delivery_base, event_json};
use crate::state::AppState;

/// Rows per page.
const ROWS: u32 = 50;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/webhooks", get(list).post(create))
        .route("/webhooks/{id}", get(one).post(update))
        .route("/webhooks/{id}/rotate-secret", post(rotate))
        .route("/webhooks/{id}/delete", post(remove))
        .route("/webhooks/{id}/deliveries/{d}/redeliver", post(redeliver))
        .route("/events", get(events))
}

/// The form of a create or an edit. `events` is `*` or a comma-separated list of types.
#[derive(Deserialize, Default)]
struct HookForm {
    csrf: Option<String>,
    identifier: Option<String>,
    url: Option<String>,
    events: Option<String>,
    /// `standard`, `set` (RFC 8935 push) or `set-poll` (RFC 8936 poll).
    mode: Option<String>,
    enabled: Option<String>,
}

impl HookForm {
    fn input(&self, identifier: &str) -> Result<WebhookInput, scimgate_domain::DomainError> {
        let text = self.events.clone().unwrap_or_else(|| "*".into());
        let list: Vec<Value> = text
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(|t| Value::String(t.into()))
            .collect();
        let (format, delivery) = match self.mode.as_deref().unwrap_or("standard") {
            "standard" => (WebhookFormat::Standard, WebhookDelivery::Push),
            "set" => (WebhookFormat::Set, WebhookDelivery::Push),
            "set-poll" => (WebhookFormat::Set, WebhookDelivery::Poll),
            other => return Err(scimgate_domain::DomainError::invalid(format!("unknown format '{other}'"))),
        };
        let url = self.url.clone().unwrap_or_default().trim().to_string();
        if delivery == WebhookDelivery::Poll && !url.is_empty() {
            return Err(scimgate_domain::DomainError::invalid(
                "a polled subscription has no URL: leave the URL empty (the receiver polls this server)",
            ));
        }
        Ok(WebhookInput {
            identifier: identifier.trim().to_string(),
            url,
            events: EventFilter::parse(&Value::Array(list))?,
            format,
            delivery,
            enabled: self.enabled.is_some(),
        })
    }
}

fn events_text(f: &EventFilter) -> String {
    match f {
        EventFilter::All => "*".into(),
        EventFilter::Only(t) => t.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(", "),
    }
}

fn status_badge(w: &Webhook) -> Markup {
    html! {
        @match (w.status, w.enabled) {
            (WebhookStatus::Failing, _) => strong.failing { "Failing" },
            (_, false) => span { "Disabled" },
            _ if w.attempts > 0 => span.retrying { "Retrying" },
            _ => span { "Active" },
        }
    }
}

/// The console's name of a subscription's format and delivery.
fn mode(w: &Webhook) -> &'static str {
    match (w.format, w.delivery) {
        (WebhookFormat::Standard, _) => "standard",
        (WebhookFormat::Set, WebhookDelivery::Push) => "set",
        (WebhookFormat::Set, WebhookDelivery::Poll) => "set-poll",
    }
}

fn mode_text(mode: &str) -> &'static str {
    match mode {
        "set" => "Security event tokens, pushed (RFC 8935)",
        "set-poll" => "Security event tokens, polled (RFC 8936)",
        _ => "Standard Webhooks (JSON)",
    }
}

fn hook_fields(identifier: Option<&str>, url: &str, events: &str, enabled: bool, current: &str) -> Markup {
    let types: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
    html! {
        @if identifier.is_none() {
            div.field {
                label for="identifier" { "Identifier" }
                input id="identifier" name="identifier" type="text" required aria-describedby="identifier-hint";
                p.hint id="identifier-hint" { "Letters, digits and _; unique in the account." }
            }
        }
        div.field {
            label for="url" { "URL" }
            input id="url" name="url" type="url" value=(url) aria-describedby="url-hint";
            p.hint id="url-hint" { "Where events are POSTed: https and a public address (unless the server allows others). Empty for a polled subscription." }
        }
        div.field {
            label for="mode" { "Format" }
            select id="mode" name="mode" {
                @for m in ["standard", "set", "set-poll"] {
                    option value=(m) selected[m == current] { (mode_text(m)) }
                }
            }
        }
        div.field {
            label for="events" { "Events" }
            input id="events" name="events" type="text" value=(events) aria-describedby="events-hint";
            p.hint id="events-hint" { "* for all, or a comma-separated list of: " (types.join(", ")) }
        }
        div.field {
            label { input name="enabled" type="checkbox" value="on" checked[enabled]; " Enabled" }
        }
    }
}

fn secret_once(secret: &str) -> Markup {
    html! {
        div.notice.success role="status" {
            p { "The signing secret, shown this once. Copy it now:" }
            p { code.secret data-testid="webhook-secret" { (secret) } }
        }
    }
}

async fn list(State(st): State<AppState>, c: Console) -> Response {
    let hooks = match st.webhooks.list(&c.caller).await {
        Ok(h) => h,
        Err(e) => return c.fail(e),
    };
    let can_edit = c.caller.can(UseCase::CreateWebhook);
    c.page(
        "webhooks",
        "Webhooks",
        html! {
            p.hint { "Subscriptions that receive this account's change events, signed per the Standard Webhooks specification, in order, retried for three days." }
            @if hooks.is_empty() { (notice("info", "No webhooks yet.")) } @else {
                table {
                    thead { tr { th scope="col" { "Identifier" } th scope="col" { "URL" } th scope="col" { "Events" } th scope="col" { "Status" } th scope="col" { "Last error" } } }
                    tbody {
                        @for w in &hooks {
                            tr {
                                td { a href=(format!("/webhooks/{}", w.identifier)) { (w.identifier) } }
                                td { code { (w.url) } }
                                td { (events_text(&w.events)) }
                                td { (status_badge(w)) }
                                td { @if let Some(e) = &w.last_error { (e) } }
                            }
                        }
                    }
                }
            }
            @if can_edit {
                h2 { "New webhook" }
                form.card method="post" action="/webhooks" {
                    (csrf(&c))
                    (hook_fields(None, "", "*", true, "standard"))
                    button type="submit" { "Create webhook" }
                }
            }
        },
    )
}

async fn create(State(st): State<AppState>, c: Console, Form(f): Form<HookForm>) -> Response {
    if let Some(refused) = c.check_csrf(f.csrf.as_deref()) {
        return refused;
    }
    let input = match f.input(f.identifier.as_deref().unwrap_or_default()) {
        Ok(i) => i,
        Err(e) => return c.fail(e),
    };
    match st.webhooks.create(&c.caller, &input).await {
        Ok(w) => {
            st.event_signal.ring();
            show(&st, &c, &w.identifier, Some(&w.secret)).await
        }
        Err(e) => c.fail(e),
    }
}

async fn one(State(st): State<AppState>, c: Console, Path(id): Path<String>) -> Response {
    show(&st, &c, &id, None).await
}

async fn show(st: &AppState, c: &Console, id: &str, secret: Option<&str>) -> Response {
    let w = match st.webhooks.get(&c.caller, id).await {
        Ok(w) => w,
        Err(e) => return c.fail(e),
    };
    let deliveries = match st.webhooks.deliveries(&c.caller, id, None, ROWS).await {
        Ok(d) => d,
        Err(e) => return c.fail(e),
    };
    let can_edit = c.caller.can(UseCase::UpdateWebhook);
    let polled = w.delivery == WebhookDelivery::Poll;
    // A polled subscription is not sent to: nothing to redeliver (docs/events.md "Polling").
    let can_redeliver = can_edit && !polled;
    let account = c.caller.account().as_str();
    let path = format!("/webhooks/{}", w.identifier);
    c.page(
        "webhooks",
        &format!("Webhook {}", w.identifier),
        html! {
            @if let Some(s) = secret { (secret_once(s)) }
            @if w.status == WebhookStatus::Failing {
                (notice("error", &format!(
                    "Failing: one event could not be delivered for three days ({}). Delivery is stopped; its backlog waits. Enable the webhook to start again from that event.",
                    w.last_error.clone().unwrap_or_default()
                )))
            }
            dl {
                dt { "Status" } dd { (status_badge(&w)) }
                @if polled {
                    dt { "Poll URL" } dd { code { "POST /gateway/ng/api/webhooks/" (w.identifier) "/poll?accountIdentifier=" (account) } }
                    dt { "Key set" } dd { code { "/gateway/ng/api/events/jwks?accountIdentifier=" (account) } }
                } @else {
                    dt { "URL" } dd { code { (w.url) } }
                }
                dt { "Format" } dd { (mode_text(mode(&w))) }
                dt { "Events" } dd { (events_text(&w.events)) }
                dt { "Delivered up to event" } dd { (w.cursor) }
                @if w.attempts > 0 {
                    dt { "Failed attempts at the next event" } dd { (w.attempts) }
                    dt { "Next attempt" } dd { (format_time(w.next_attempt)) }
                }
                @if let Some((_, until)) = &w.previous_secret { dt { "Previous secret signs until" } dd { (format_time(*until)) } }
            }
            @if can_edit {
                h2 { "Edit" }
                form.card method="post" action=(path.clone()) {
                    (csrf(c))
                    (hook_fields(Some(&w.identifier), &w.url, &events_text(&w.events), w.enabled, mode(&w)))
                    button type="submit" { "Save" }
                }
                form method="post" action=(format!("{path}/rotate-secret")) { (csrf(c)) button type="submit" { "Rotate secret" } }
                form method="post" action=(format!("{path}/delete")) { (csrf(c)) button.danger type="submit" { "Delete webhook" } }
            }
            h2 { "Deliveries" }
            @if deliveries.is_empty() { (notice("info", "No deliveries yet.")) } @else {
                table {
                    thead { tr { th scope="col" { "When" } th scope="col" { "Event" } th scope="col" { "Attempt" } th scope="col" { "Result" } th scope="col" { "Duration" } th scope="col" { "Answer" } @if can_redeliver { th scope="col" { "" } } } }
                    tbody {
                        @for d in &deliveries {
                            tr {
                                td { (format_time(d.at)) }
                                td { (d.event_type) " " small { "#" (d.event_seq) } @if d.redelivery { " " small { "(redelivery)" } } }
                                td { (d.attempt) }
                                td {
                                    @if d.ok { "OK " } @else { strong { "Failed " } }
                                    @if let Some(s) = d.status { code { (s) } }
                                    @if let Some(e) = &d.error { br; small { (e) } }
                                }
                                td { (d.duration_ms) " ms" }
                                td { @if let Some(r) = &d.response { code { (r.chars().take(120).collect::<String>()) } } }
                                @if can_redeliver {
                                    td { form method="post" action=(format!("{path}/deliveries/{}/redeliver", d.id)) { (csrf(c)) button type="submit" { "Redeliver" } } }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}

async fn update(
    State(st): State<AppState>,
    c: Console,
    Path(id): Path<String>,
    Form(f): Form<HookForm>,
) -> Response {
    if let Some(refused) = c.check_csrf(f.csrf.as_deref()) {
        return refused;
    }
    let input = match f.input(&id) {
        Ok(i) => i,
        Err(e) => return c.fail(e),
    };
    match st.webhooks.update(&c.caller, &id, &input).await {
        Ok(_) => {
            st.event_signal.ring();
            see_other(&format!("/webhooks/{id}"))
        }
        Err(e) => c.fail(e),
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: Option<String>,
}

async fn rotate(
    State(st): State<AppState>,
    c: Console,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Response {
    if let Some(refused) = c.check_csrf(f.csrf.as_deref()) {
        return refused;
    }
    match st.webhooks.rotate_secret(&c.caller, &id).await {
        Ok(w) => show(&st, &c, &id, Some(&w.secret)).await,
        Err(e) => c.fail(e),
    }
}

async fn remove(
    State(st): State<AppState>,
    c: Console,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Response {
    if let Some(refused) = c.check_csrf(f.csrf.as_deref()) {
        return refused;
    }
    match st.webhooks.delete(&c.caller, &id).await {
        Ok(()) => see_other("/webhooks"),
        Err(e) => c.fail(e),
    }
}

async fn redeliver(
    State(st): State<AppState>,
    c: Console,
    Path((id, d)): Path<(String, String)>,
    Form(f): Form<CsrfForm>,
) -> Response {
    if let Some(refused) = c.check_csrf(f.csrf.as_deref()) {
        return refused;
    }
    let Ok(n) = d.parse::<i64>() else {
        return c.fail(scimgate_domain::DomainError::NotFound(format!("delivery '{d}' not found")));
    };
    let sent = match st.webhooks.redelivery(&c.caller, &id, n).await {
        Ok((account, hook, delivery)) => {
            crate::events::deliver::redeliver(&st, &account, &hook, &delivery).await
        }
        Err(e) => Err(e),
    };
    match sent {
        Ok(_) => see_other(&format!("/webhooks/{id}")),
        Err(e) => c.fail(e),
    }
}

#[derive(Deserialize, Default)]
struct EventsForm {
    after: Option<String>,
    #[serde(rename = "type")]
    types: Option<String>,
}

async fn events(State(st): State<AppState>, c: Console, Query(f): Query<EventsForm>) -> Response {
    let latest = match st.events.latest(&c.caller).await {
        Ok(n) => n,
        Err(e) => return c.fail(e),
    };
    let kind = f.types.clone().filter(|t| !t.is_empty());
    let types = match &kind {
        None => None,
        Some(t) => match EventType::parse(t) {
            Some(t) => Some(vec![t]),
            None => {
                return c.fail(scimgate_domain::DomainError::invalid(format!("'{t}' is not an event type")));
            }
        },
    };
    // Without a cursor the page shows the newest events (unfiltered: the last 50 numbers).
    let after = match f.after.as_deref().and_then(|a| a.parse::<i64>().ok()) {
        Some(a) => a,
        None if types.is_none() => (latest - i64::from(ROWS)).max(0),
        None => 0,
    };
    let query = EventQuery { after: Some(after), limit: ROWS, types };
    let page = match st.events.list(&c.caller, &query).await {
        Ok((_, p)) => p,
        Err(scimgate_domain::DomainError::Gone(_)) => {
            match st.events.list(&c.caller, &EventQuery { after: None, ..query }).await {
                Ok((_, p)) => p,
                Err(e) => return c.fail(e),
            }
        }
        Err(e) => return c.fail(e),
    };
    let base = delivery_base(&st.config, c.caller.account().as_str());
    let type_q = kind.clone().map(|t| format!("&type={t}")).unwrap_or_default();
    c.page(
        "events",
        "Events",
        html! {
            p.hint { "Every change to a user or group, in order (docs/events.md). The same events go to the webhooks and to " code { "GET /gateway/ng/api/events" } "." }
            form.filters method="get" action="/events" role="search" {
                div.field {
                    label for="type" { "Type" }
                    select id="type" name="type" {
                        option value="" selected[kind.is_none()] { "Any" }
                        @for t in EventType::ALL {
                            option value=(t.as_str()) selected[kind.as_deref() == Some(t.as_str())] { (t.as_str()) }
                        }
                    }
                }
                button type="submit" { "Filter" }
            }
            @if page.events.is_empty() { (notice("info", "No events here.")) } @else {
                table {
                    thead { tr { th scope="col" { "#" } th scope="col" { "When" } th scope="col" { "Type" } th scope="col" { "Resource" } th scope="col" { "Request" } th scope="col" { "Data" } } }
                    tbody {
                        @for e in &page.events {
                            tr {
                                td { (e.seq) }
                                td { (format_time(e.occurred)) }
                                td { (e.event_type.as_str()) }
                                td { code { (e.resource_id) } }
                                td { @if let Some(r) = &e.request_id { code { (r) } } }
                                td { details { summary { "JSON" } (json_block(&event_json(e, &base)["data"])) } }
                            }
                        }
                    }
                }
            }
            p.pager {
                @if after > 0 { a href=(format!("/events?after={}{type_q}", (after - i64::from(ROWS)).max(0))) { "← Older" } " " }
                @if page.next > after && page.next < latest { a rel="next" href=(format!("/events?after={}{type_q}", page.next)) { "Newer →" } }
            }
        },
    )
}
