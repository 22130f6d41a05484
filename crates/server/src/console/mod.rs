//! The admin console (docs/console.md): server-rendered HTML at `/`, plain forms that work
//! without JavaScript, one stylesheet and one small script of our own, both served from the
//! binary. Every page acts through the domain services with the signed-in session's caller,
//! so the services refuse what its permissions do not allow even when a request is forged;
//! the pages only hide what the caller cannot do.

mod access_pages;
mod event_pages;
pub mod layout;
mod log_pages;
mod pages;
pub mod session;
mod settings_pages;

use std::net::SocketAddr;

use axum::Router;
use axum::extract::{ConnectInfo, Form, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use maud::html;
use scimgate_domain::DomainError;
use scimgate_domain::access::Caller;
use serde::Deserialize;

use crate::state::AppState;
use layout::{Frame, csrf_field, error_page, notice, ok, page, respond, see_other};
use session::{COOKIE, Session, Sessions};

/// The console's routes, with its response headers.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(pages::overview))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/users", get(pages::users))
        .route("/users/{id}", get(pages::user))
        .route("/groups", get(pages::groups))
        .route("/groups/{id}", get(pages::group))
        .route("/me", get(pages::me))
        .merge(access_pages::routes())
        .merge(settings_pages::routes())
        .merge(log_pages::routes())
        .merge(event_pages::routes())
        .route("/assets/console.css", get(stylesheet))
        .route("/assets/console.js", get(script))
        .layer(axum::middleware::from_fn(headers))
}

/// `Content-Security-Policy` (nothing inline), no framing, no referrer, and no caching of
/// pages (every page shows account data); the two assets may be cached.
async fn headers(req: axum::extract::Request, next: Next) -> Response {
    let asset = req.uri().path().starts_with("/assets/");
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert("content-security-policy", HeaderValue::from_static(layout::CSP));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(if asset { "public, max-age=3600" } else { "no-store" }),
    );
    res
}

async fn stylesheet() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], include_str!("../../assets/console.css"))
        .into_response()
}

async fn script() -> Response {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], include_str!("../../assets/console.js"))
        .into_response()
}

/// The signed-in session and its caller: the session's token authenticated again on every
/// request (cached like every token), so a revoked, expired or rotated-out token ends the
/// session at once. Without one, the browser is sent to `/login`.
pub struct Console {
    /// What the session's token may do.
    pub caller: Caller,
    /// The session.
    pub session: Session,
}

impl Console {
    /// The page frame.
    pub fn frame<'a>(&'a self, section: &'a str) -> Frame<'a> {
        Frame { caller: &self.caller, csrf: &self.session.csrf, section }
    }
    /// A page in the frame.
    pub fn page(&self, section: &str, title: &str, body: maud::Markup) -> Response {
        self.page_with(StatusCode::OK, section, title, body)
    }
    /// A page in the frame, with another status (a form shown again with its errors).
    pub fn page_with(&self, status: StatusCode, section: &str, title: &str, body: maud::Markup) -> Response {
        respond(status, page(Some(&self.frame(section)), title, body))
    }
    /// The answer to a failed service call: the login page when the credential went away,
    /// else an error page with the domain's message (internal details only in the log).
    pub fn fail(&self, e: DomainError) -> Response {
        let (status, message) = match e {
            DomainError::Unauthenticated(_) | DomainError::NotConfigured(_) => return see_other("/login"),
            DomainError::Forbidden(p) => {
                (StatusCode::FORBIDDEN, format!("missing permission {p}: your roles do not grant it"))
            }
            DomainError::ForbiddenMessage(m) => (StatusCode::FORBIDDEN, m),
            DomainError::FeatureDisabled(f) => {
                (StatusCode::FORBIDDEN, format!("the feature flag {f} is not enabled for this account"))
            }
            DomainError::NotFound(m) => (StatusCode::NOT_FOUND, m),
            DomainError::Conflict(m) => (StatusCode::CONFLICT, m),
            DomainError::Invalid(e) => (StatusCode::BAD_REQUEST, e.detail),
            e => {
                tracing::error!(error = %e, "console request failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal error; the server log has details".into())
            }
        };
        error_page(Some(&self.frame("")), status, &message)
    }
    /// Checks a form's CSRF token: `None` when it is the session's, else the 403 page.
    pub fn check_csrf(&self, sent: Option<&str>) -> Option<Response> {
        if Sessions::csrf_ok(&self.session, sent) {
            return None;
        }
        Some(error_page(
            Some(&self.frame("")),
            StatusCode::FORBIDDEN,
            "the form's security token is missing or stale: reload the page and try again",
        ))
    }
}

/// The session cookie's value, if sent.
pub fn session_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| {
            let (name, value) = c.trim().split_once('=')?;
            (name == COOKIE).then(|| value.to_string())
        })
}

impl FromRequestParts<AppState> for Console {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, Response> {
        let id = session_id(&parts.headers).unwrap_or_default();
        let Some(session) = st.sessions.touch(&id) else { return Err(see_other("/login")) };
        match st.auth.authenticate_token(&session.token, &session.account).await {
            Ok(caller) => {
                if let Some(ctx) = parts.extensions.get::<crate::http::access_log::RequestContext>() {
                    ctx.set(&caller);
                }
                let caller = match parts.headers.get("x-request-id").and_then(|v| v.to_str().ok()) {
                    Some(id) => caller.with_request_id(id),
                    None => caller,
                };
                Ok(Console { caller, session })
            }
            Err(DomainError::Unauthenticated(why)) => {
                tracing::info!(reason = why, "console session ended: its token no longer works");
                st.sessions.close(&id);
                Err(see_other("/login"))
            }
            Err(e) => Err(error_page(
                None,
                StatusCode::SERVICE_UNAVAILABLE,
                &format!("cannot check the session: {e}"),
            )),
        }
    }
}

/// A form with its CSRF token.
#[derive(Deserialize)]
pub struct CsrfOnly {
    csrf: Option<String>,
}

fn login_form(message: Option<&str>) -> maud::Markup {
    html! {
        @if let Some(m) = message { (notice("error", m)) }
        form.card method="post" action="/login" {
            p { "Sign in with an API token (a personal access token " code { "pat.…" } " or a service account token " code { "sat.…" } ")." }
            label for="token" { "API token" }
            input id="token" name="token" type="password" autocomplete="off" required;
            button type="submit" { "Sign in" }
        }
    }
}

async fn login_page(headers: HeaderMap, st: State<AppState>) -> Response {
    if let Some(id) = session_id(&headers)
        && st.sessions.touch(&id).is_some()
    {
        return see_other("/");
    }
    ok(page(None, "Sign in", login_form(None)))
}

#[derive(Deserialize)]
struct LoginForm {
    token: Option<String>,
}

fn client_ip(parts: Option<&ConnectInfo<SocketAddr>>) -> Option<std::net::IpAddr> {
    parts.map(|c| c.0.ip().to_canonical())
}

async fn login(
    State(st): State<AppState>,
    headers: HeaderMap,
    connect: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    Form(form): Form<LoginForm>,
) -> Response {
    let ip = client_ip(connect.as_ref().map(|e| &e.0));
    let wait = st.sessions.login_delay(ip);
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
    }
    let token = form.token.unwrap_or_default().trim().to_string();
    // The account is the token's own (`pat.<account>.…`); a wrong token gets the same answer
    // whatever account it names, so nothing tells which accounts exist.
    let account = token.split('.').nth(1).unwrap_or_default().to_string();
    let refused = || {
        respond(
            StatusCode::UNAUTHORIZED,
            page(
                None,
                "Sign in",
                login_form(Some(
                    "That token was not accepted: it is unknown, expired or revoked. Check it and try again.",
                )),
            ),
        )
    };
    match st.auth.authenticate_token(&token, &account).await {
        Ok(_) => {
            st.sessions.login_succeeded(ip);
            let Some((id, _)) = st.sessions.open(&account, &token) else {
                return error_page(None, StatusCode::SERVICE_UNAVAILABLE, "cannot open a session now");
            };
            let secure = https(&st, &headers);
            let cookie = format!(
                "{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict{}",
                if secure { "; Secure" } else { "" }
            );
            let mut res = see_other("/");
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                res.headers_mut().insert(header::SET_COOKIE, v);
            }
            res
        }
        Err(DomainError::Unauthenticated(why)) => {
            tracing::info!(reason = why, "console sign-in refused");
            st.sessions.login_failed(ip);
            refused()
        }
        Err(e) => error_page(None, StatusCode::SERVICE_UNAVAILABLE, &format!("cannot sign in now: {e}")),
    }
}

/// Whether the browser talks to us over https: `--public-url` is https, or a trusted proxy
/// says so.
fn https(st: &AppState, headers: &HeaderMap) -> bool {
    st.config.public_url.as_ref().is_some_and(|u| u.scheme() == "https")
        || (st.config.trust_forwarded_for
            && headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()) == Some("https"))
}

async fn logout(
    State(st): State<AppState>,
    headers: HeaderMap,
    c: Console,
    Form(f): Form<CsrfOnly>,
) -> Response {
    if let Some(refused) = c.check_csrf(f.csrf.as_deref()) {
        return refused;
    }
    if let Some(id) = session_id(&headers) {
        st.sessions.close(&id);
    }
    let mut res = see_other("/login");
    res.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("scimgate_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    res
}

/// The form field of a CSRF token and the CSRF check, for the page modules.
pub(crate) fn csrf(c: &Console) -> maud::Markup {
    csrf_field(&c.session.csrf)
}
