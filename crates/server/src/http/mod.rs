//! The HTTP surface: router, extractors and error mapping.

pub mod access_log;
pub mod auth;
pub mod body;
pub mod bulk;
pub mod cursor;
pub mod error;
pub mod group_stream;
pub mod keep_alive;
pub mod metrics;
pub mod product_api;
pub mod scim;

use axum::Router;
use axum::http::{HeaderName, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::state::AppState;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Builds the whole application.
pub fn router(state: AppState) -> Router {
    let mut routes = Router::new()
        .nest("/gateway/ng/api/scim/account/{account}", scim::routes())
        .merge(product_api::with_product_layers(product_api::routes()))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .merge(crate::console::routes());
    // With --metrics-listen, /metrics is served there only (see `metrics_router`).
    if state.config.metrics_listen.is_none() {
        routes = routes.route("/metrics", get(loopback_metrics));
    }
    let limit = state.config.request_timeout;
    metrics::install();
    let (log, clock) = (state.request_log.clone(), state.clock.clone());
    with_layers(
        routes
            .route_layer(axum::middleware::from_fn(metrics::record))
            .fallback(fallback)
            .layer(axum::middleware::from_fn(move |req, next| {
                crate::request_log::record(log.clone(), clock.clone(), req, next)
            }))
            .with_state(state)
            .layer(axum::middleware::from_fn(move |req, next| request_timeout(limit, req, next))),
    )
}

/// `--request-timeout`: a request still running after it is stopped (its future dropped, so
/// its database work is cancelled) and answered 504 — a SCIM error on SCIM paths, the
/// envelope elsewhere (docs/abuse.md).
async fn request_timeout(
    limit: std::time::Duration,
    req: Request<axum::body::Body>,
    next: axum::middleware::Next,
) -> Response {
    let scim = req.uri().path().starts_with("/gateway/ng/api/scim/");
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(res) => res,
        Err(_) => {
            tracing::warn!(limit_ms = limit.as_millis() as u64, "request stopped at --request-timeout");
            let message = format!(
                "the request took longer than this server allows ({} s, --request-timeout) and was stopped; retry, \
                 or ask for less",
                limit.as_secs_f64()
            );
            if scim {
                error::ScimApiError(scimgate_scim::ScimError::new(504, None, message)).into_response()
            } else {
                product_api::error_envelope(StatusCode::GATEWAY_TIMEOUT, "GATEWAY_TIMEOUT", &message)
            }
        }
    }
}

/// The router of `--metrics-listen`: `/metrics` for whoever can reach that address (the
/// operator chooses it: a loopback or an internal interface).
pub fn metrics_router(state: AppState) -> Router {
    Router::new().route("/metrics", get(metrics)).fallback(fallback).with_state(state)
}

/// The layers every route of [`router`] runs in: X-Request-Id set and propagated, a trace
/// span, an unread request body drained or the connection announced closed
/// ([`keep_alive`]), and a panic turned into a 500 (the envelope; product routes carry the correlation
/// id in it, see [`product_api::with_product_layers`]; the SCIM routes stay without that
/// middleware, which costs about 4 % of a GET by id).
pub fn with_layers(routes: Router) -> Router {
    routes
        .layer(axum::middleware::from_fn(keep_alive::drain_or_close))
        .layer(axum::middleware::from_fn(access_log::log_request))
        .layer(CatchPanicLayer::custom(|_| {
            product_api::error_envelope(StatusCode::INTERNAL_SERVER_ERROR, "UNEXPECTED", "internal error")
        }))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
            let id = req.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
        }))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

async fn readyz(axum::extract::State(st): axum::extract::State<AppState>) -> Response {
    match st.accounts.ping().await {
        Ok(()) => "ready".into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response()
        }
    }
}

/// `/metrics` on the main listener: answered to loopback peers only (security review item 6;
/// docs/contract.md §2). A request without a known peer address is refused too.
async fn loopback_metrics(state: axum::extract::State<AppState>, req: Request<axum::body::Body>) -> Response {
    let peer = req.extensions().get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0);
    if !peer.is_some_and(|p| p.ip().to_canonical().is_loopback()) {
        return product_api::error_envelope(
            StatusCode::FORBIDDEN,
            "NG_ACCESS_DENIED",
            "/metrics is answered to loopback clients only on this listener; scrape it from the same \
             host, or serve it on an address of your choice with --metrics-listen",
        );
    }
    metrics(state).await
}

async fn metrics(axum::extract::State(st): axum::extract::State<AppState>) -> Response {
    let pool = st.accounts.pool_status();
    ::metrics::gauge!("scimgate_db_pool_connections", "state" => "in_use")
        .set(f64::from(pool.open - pool.idle.min(pool.open)));
    ::metrics::gauge!("scimgate_db_pool_connections", "state" => "idle").set(f64::from(pool.idle));
    ::metrics::gauge!("scimgate_db_pool_max_connections").set(f64::from(pool.max));
    ::metrics::gauge!("scimgate_request_log_queue_depth").set(st.request_log.queue_depth() as f64);
    let mut text = metrics::render();
    text.push_str(&st.jwt.metrics.render());
    text.push_str(&st.limits.refused.render_as(
        "scimgate_limit_refusals_total",
        "Requests refused by the per-account limits, by reason (docs/abuse.md).",
        "reason",
    ));
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

async fn fallback(uri: axum::http::Uri) -> Response {
    if uri.path().starts_with("/gateway/ng/api/scim/") {
        return error::ScimApiError(scimgate_scim::ScimError::not_found(format!(
            "no SCIM endpoint at {}",
            uri.path()
        )))
        .into_response();
    }
    product_api::error_envelope(
        StatusCode::NOT_FOUND,
        "RESOURCE_NOT_FOUND",
        &format!("no endpoint at {}", uri.path()),
    )
}
