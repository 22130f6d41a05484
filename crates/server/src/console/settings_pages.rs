//! **SCIM JWT settings** (one form for the eight settings, **Test a token**, **Fetch keys**)
//! and the **Settings audit** (docs/console.md).

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use maud::{Markup, html};
use scimgate_domain::access::Scope;
use scimgate_domain::entities::PageRequest;
use scimgate_domain::settings::{
    AUDIENCE, CLOCK_SKEW, ISSUER, JWKS_URL, KEY_FIELD, MAX_LIFETIME, SERVICE_ACCOUNT_ID, VALUE_FIELD,
};
use scimgate_domain::settings_service::{SettingUpdate, UpdateType};
use scimgate_domain::use_case::UseCase;
use serde::Deserialize;

use super::layout::{notice, see_other};
use super::{Console, csrf};
use crate::jwt::diagnose::{Check, ShownKey};
use crate::state::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/settings/scim-jwt", get(jwt_page).post(save_jwt))
        .route("/settings/scim-jwt/test", post(test_token))
        .route("/settings/scim-jwt/keys", post(fetch_keys))
        .route("/settings/audit", get(audit))
}

/// The form's fields: setting, label, input type, hint.
const FIELDS: [(&str, &str, &str, &str); 8] = [
    (JWKS_URL, "JWKS URL", "url", "Where the identity provider publishes its signing keys (https)."),
    (KEY_FIELD, "Claim name", "text", "The JWT claim that identifies the caller, e.g. email."),
    (VALUE_FIELD, "Claim value", "text", "The value that claim must have, compared exactly."),
    (SERVICE_ACCOUNT_ID, "Service account", "text", "The Id of the service account a matching JWT acts as."),
    (ISSUER, "Issuer (iss)", "text", "Recommended: the exact issuer of your identity provider's tokens."),
    (AUDIENCE, "Audience (aud)", "text", "Recommended: the audience your tokens are issued for."),
    (CLOCK_SKEW, "Clock skew (seconds)", "number", "Leeway on exp, nbf and iat: 0–300, 60 by default."),
    (
        MAX_LIFETIME,
        "Maximum lifetime (seconds)",
        "number",
        "Longest accepted exp − iat: 60 s – 30 days; 24 h when empty.",
    ),
];

struct Outcome {
    values: HashMap<String, String>,
    errors: HashMap<String, String>,
    warning: Option<String>,
    saved: bool,
}

async fn current(st: &AppState, c: &Console) -> Result<HashMap<String, String>, Response> {
    let views = st
        .settings
        .list(&c.caller, &Scope::account(), Some("SCIM"), None, false)
        .await
        .map_err(|e| c.fail(e))?;
    Ok(views
        .into_iter()
        .filter_map(|v| {
            v.effective
                .value
                .clone()
                .filter(|_| v.effective.source.is_some())
                .map(|x| (v.def.identifier.to_string(), x))
        })
        .collect())
}

fn form(
    c: &Console,
    o: &Outcome,
    checks: Option<&[Check]>,
    keys: Option<&Result<Vec<ShownKey>, String>>,
) -> Markup {
    let editable = c.caller.can(UseCase::UpdateSettings);
    html! {
        @if o.saved { (notice("ok", "Saved.")) }
        @if let Some(w) = &o.warning { (notice("warning", w)) }
        form.card method="post" action="/settings/scim-jwt" {
            (csrf(c))
            @for (id, label, kind, hint) in FIELDS {
                div.field {
                    label for=(id) { (label) }
                    input id=(id) name=(id) type=(kind) value=(o.values.get(id).cloned().unwrap_or_default()) readonly[!editable]
                        aria-describedby=(format!("{id}-hint")) aria-invalid=[o.errors.contains_key(id).then_some("true")];
                    p.hint id=(format!("{id}-hint")) { (hint) " " code { (id) } }
                    @if let Some(e) = o.errors.get(id) { p.field-error role="alert" { (e) } }
                }
            }
            @if editable { button type="submit" { "Save" } }
        }
        section aria-labelledby="test-h" {
            h2 id="test-h" { "Test a token" }
            form.card method="post" action="/settings/scim-jwt/test" {
                (csrf(c))
                label for="jwt" { "JWT" }
                textarea id="jwt" name="jwt" rows="4" required {}
                button type="submit" { "Test" }
            }
            @if let Some(checks) = checks {
                table.checks {
                    thead { tr { th scope="col" { "Check" } th scope="col" { "Result" } th scope="col" { "Detail" } } }
                    tbody {
                        @for ch in checks {
                            tr class=(if ch.ok { "pass" } else { "fail" }) {
                                td { (ch.name) }
                                td { (if ch.ok { "pass" } else { "fail" }) }
                                td { (ch.detail) }
                            }
                        }
                    }
                }
            }
        }
        section aria-labelledby="keys-h" {
            h2 id="keys-h" { "Keys" }
            form method="post" action="/settings/scim-jwt/keys" { (csrf(c)) button type="submit" { "Fetch keys" } }
            @match keys {
                Some(Ok(list)) if list.is_empty() => { (notice("warning", "The JWKS holds no usable key.")) }
                Some(Ok(list)) => {
                    table {
                        thead { tr { th scope="col" { "kid" } th scope="col" { "kty" } th scope="col" { "alg" } } }
                        tbody { @for k in list { tr { td { code { (k.kid) } } td { (k.kty) } td { (k.alg) } } } }
                    }
                }
                Some(Err(e)) => { (notice("error", &format!("Cannot fetch the keys: {e}"))) }
                None => {}
            }
        }
    }
}

async fn jwt_page(State(st): State<AppState>, c: Console) -> Response {
    let values = match current(&st, &c).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let o = Outcome { values, errors: HashMap::new(), warning: None, saved: false };
    c.page("jwt", "SCIM JWT settings", form(&c, &o, None, None))
}

async fn save_jwt(
    State(st): State<AppState>,
    c: Console,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    if let Some(refused) = c.check_csrf(f.get("csrf").map(String::as_str)) {
        return refused;
    }
    let before = match current(&st, &c).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    // Only what changed is written: a field emptied is RESTOREd (removed).
    let mut items = Vec::new();
    for (id, ..) in FIELDS {
        let new = f.get(id).map(|v| v.trim().to_string()).unwrap_or_default();
        let old = before.get(id).cloned().unwrap_or_default();
        if new == old {
            continue;
        }
        items.push(SettingUpdate {
            identifier: id.into(),
            value: (!new.is_empty()).then_some(new.clone()),
            allow_overrides: None,
            update_type: if new.is_empty() { UpdateType::Restore } else { UpdateType::Update },
        });
    }
    let mut errors = HashMap::new();
    let mut warning = None;
    if !items.is_empty() {
        match st.settings.update(&c.caller, &Scope::account(), items).await {
            Ok(results) => {
                for r in results {
                    if let Some(e) = r.error {
                        errors.insert(r.identifier.clone(), e);
                    }
                    if r.warning.is_some() {
                        warning = r.warning;
                    }
                }
            }
            Err(e) => return c.fail(e),
        }
    }
    if errors.is_empty() && warning.is_none() {
        return see_other("/settings/scim-jwt");
    }
    let mut values = match current(&st, &c).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    // Show what was typed where it was refused, next to the error.
    for id in errors.keys() {
        if let Some(v) = f.get(id) {
            values.insert(id.clone(), v.clone());
        }
    }
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::BAD_REQUEST };
    let saved = errors.is_empty();
    c.page_with(
        status,
        "jwt",
        "SCIM JWT settings",
        form(&c, &Outcome { values, errors, warning, saved }, None, None),
    )
}

#[derive(Deserialize)]
struct TestForm {
    csrf: Option<String>,
    jwt: Option<String>,
}

async fn test_token(State(st): State<AppState>, c: Console, Form(f): Form<TestForm>) -> Response {
    if let Some(refused) = c.check_csrf(f.csrf.as_deref()) {
        return refused;
    }
    // The same permission as reading the settings: the report shows their effect.
    let values = match current(&st, &c).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let checks = st.jwt.diagnose(f.jwt.as_deref().unwrap_or_default(), c.caller.account()).await;
    let o = Outcome { values, errors: HashMap::new(), warning: None, saved: false };
    c.page("jwt", "SCIM JWT settings", form(&c, &o, Some(&checks), None))
}

async fn fetch_keys(State(st): State<AppState>, c: Console, Form(f): Form<super::CsrfOnly>) -> Response {
    if let Some(refused) = c.check_csrf(f.csrf.as_deref()) {
        return refused;
    }
    let values = match current(&st, &c).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let keys = st.jwt.fetch_keys(c.caller.account()).await;
    let o = Outcome { values, errors: HashMap::new(), warning: None, saved: false };
    c.page("jwt", "SCIM JWT settings", form(&c, &o, None, Some(&keys)))
}

#[derive(Deserialize, Default)]
struct AuditPage {
    page: Option<u64>,
}

async fn audit(State(st): State<AppState>, c: Console, Query(q): Query<AuditPage>) -> Response {
    let index = q.page.unwrap_or(0);
    let trail = match st.settings.audit(&c.caller, PageRequest { index, size: 50 }).await {
        Ok(t) => t,
        Err(e) => return c.fail(e),
    };
    let more = (index + 1) * 50 < trail.total;
    c.page(
        "audit",
        "Settings audit",
        html! {
            @if trail.items.is_empty() { (notice("info", "No settings changes yet.")) } @else {
                table {
                    thead { tr { th scope="col" { "When" } th scope="col" { "Who" } th scope="col" { "Setting" } th scope="col" { "Action" } th scope="col" { "Old value" } th scope="col" { "New value" } } }
                    tbody {
                        @for a in &trail.items {
                            tr {
                                td { (a.at.to_string()) }
                                td { code { (a.actor.label()) } }
                                td { code { (a.identifier) } }
                                td { (a.action) }
                                td { (a.old_value.clone().unwrap_or_default()) }
                                td { (a.new_value.clone().unwrap_or_default()) }
                            }
                        }
                    }
                }
            }
            p.pager {
                @if index > 0 { a rel="prev" href=(format!("/settings/audit?page={}", index - 1)) { "← Newer" } " " }
                @if more { a rel="next" href=(format!("/settings/audit?page={}", index + 1)) { "Older →" } }
            }
        },
    )
}
