//! Request metrics through the `metrics` crate and its Prometheus exporter (docs/operations.md
//! "Metrics"): requests by route template, method and status, and a latency histogram by
//! route template. Route templates (`/gateway/ng/api/scim/account/{account}/Users/{id}`), not
//! paths, so ids and account names never become labels.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Latency buckets, in seconds.
const BUCKETS: [f64; 12] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

/// The process's recorder (one per process: the `metrics` facade has a single global one).
fn handle() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new().set_buckets(&BUCKETS).ok()?;
            match builder.install_recorder() {
                Ok(h) => Some(h),
                Err(e) => {
                    tracing::warn!(error = %e, "metrics recorder not installed");
                    None
                }
            }
        })
        .as_ref()
}

/// Installs the recorder (idempotent).
pub fn install() {
    let _ = handle();
}

/// Prometheus text of everything recorded through the `metrics` facade.
pub fn render() -> String {
    handle().map(PrometheusHandle::render).unwrap_or_default()
}

/// The middleware: counts each request and records its duration.
pub async fn record(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let method = req.method().as_str().to_string();
    let res = next.run(req).await;
    let status = res.status().as_u16().to_string();
    metrics::counter!("scimgate_http_requests_total", "route" => route.clone(), "method" => method, "status" => status)
        .increment(1);
    metrics::histogram!("scimgate_http_request_duration_seconds", "route" => route)
        .record(started.elapsed().as_secs_f64());
    res
}
