//! One log line per request (docs/operations.md "Logs"): method, path (without the query,
//! which can hold filter values), status, duration, request id, and — once a credential was
//! verified — the account, the principal and the credential id. No header, body or query is
//! logged, so no secret can be.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use scimgate_domain::access::Caller;

/// Who a request acted as, filled in by the authentication extractors.
#[derive(Debug, Clone, Default)]
pub struct RequestContext(Arc<Mutex<Option<Who>>>);

#[derive(Debug, Clone)]
struct Who {
    account: String,
    principal: String,
    credential: String,
}

impl RequestContext {
    /// Records the verified caller.
    pub fn set(&self, caller: &Caller) {
        let p = caller.principal();
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(Who {
            account: caller.account().as_str().to_string(),
            principal: format!("{}:{}", p.type_name(), p.id()),
            credential: caller.token_id().unwrap_or("-").to_string(),
        });
    }
}

impl RequestContext {
    /// `TYPE:id` of the verified caller and its credential id, once one was verified.
    pub fn principal_and_credential(&self) -> Option<(String, Option<String>)> {
        let who = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        who.as_ref().map(|w| (w.principal.clone(), (w.credential != "-").then(|| w.credential.clone())))
    }
}

/// The middleware.
pub async fn log_request(mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let ctx = RequestContext::default();
    req.extensions_mut().insert(ctx.clone());
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let request_id =
        req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-").to_string();
    let res = next.run(req).await;
    let who = ctx.0.lock().unwrap_or_else(PoisonError::into_inner).clone();
    let (account, principal, credential) = match &who {
        Some(w) => (w.account.as_str(), w.principal.as_str(), w.credential.as_str()),
        None => ("-", "-", "-"),
    };
    tracing::info!(
        target: "scimgate::request",
        %method,
        path = %path,
        status = res.status().as_u16(),
        duration_ms = started.elapsed().as_secs_f64() * 1000.0,
        request_id = %request_id,
        account,
        principal,
        credential,
        "request"
    );
    res
}
