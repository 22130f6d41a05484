//! Keep-alive after a refusal (security review item 13 in SECURITY.md).
//!
//! A request refused before its body is read (401, 403, 413, 415, 429, …) leaves the rest of
//! the body on the connection. HTTP/1.1 can only go on with the next request once that is
//! consumed, so hyper closes the connection — without saying so, and clients that pool
//! connections (httpx, the identity providers' HTTP stacks) send their next request into a
//! dead socket. This layer settles it after the handler has answered:
//!
//! - an unread remainder of at most [`DRAIN_LIMIT`] bytes that arrives within
//!   [`DRAIN_TIMEOUT`] is read and dropped, and the connection stays usable;
//! - anything longer or slower (or a `Content-Length` already over the limit) gets
//!   `Connection: close` on the response, so the client knows to open a new connection.

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use http_body::{Body as HttpBody, Frame, SizeHint};
use http_body_util::BodyExt;

/// The most unread bytes drained to keep a connection open.
pub const DRAIN_LIMIT: u64 = 1024 * 1024;
/// The longest the drain waits for the rest of a body.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// The request body, shared with the layer so it can see what the handler left unread.
#[derive(Clone)]
struct Shared(Arc<Mutex<Option<Body>>>);

impl HttpBody for Shared {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut guard = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match guard.as_mut() {
            Some(body) => Pin::new(body).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).as_ref().is_none_or(HttpBody::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map(HttpBody::size_hint)
            .unwrap_or_default()
    }
}

/// The middleware (installed by [`crate::http::with_layers`] around every route).
pub async fn drain_or_close(req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    if body.is_end_stream() {
        return next.run(Request::from_parts(parts, body)).await;
    }
    let shared = Shared(Arc::new(Mutex::new(Some(body))));
    let mut res = next.run(Request::from_parts(parts, Body::new(shared.clone()))).await;
    let rest = shared.0.lock().unwrap_or_else(PoisonError::into_inner).take();
    if let Some(rest) = rest
        && !rest.is_end_stream()
        && !drain(rest).await
    {
        res.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    res
}

/// Reads and drops the rest of a body; `false` when it is longer than [`DRAIN_LIMIT`],
/// slower than [`DRAIN_TIMEOUT`] or broken.
async fn drain(mut body: Body) -> bool {
    if body.size_hint().lower() > DRAIN_LIMIT {
        return false;
    }
    let read = async {
        let mut seen: u64 = 0;
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else { return false };
            if let Some(data) = frame.data_ref() {
                seen += data.len() as u64;
                if seen > DRAIN_LIMIT {
                    return false;
                }
            }
        }
        true
    };
    tokio::time::timeout(DRAIN_TIMEOUT, read).await.unwrap_or(false)
}
