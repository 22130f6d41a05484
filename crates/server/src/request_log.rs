//! The SCIM request log, server side (docs/audit.md "SCIM request log").
//!
//! A middleware on the SCIM paths copies what a request sends and gets as the bodies stream
//! by (the request body up to the body limit, the response up to [`BODY_CUT`]), and when
//! the response has been sent hands the record to a writer task through a bounded queue. The
//! writer redacts ([`scimgate_scim::redact`]), cuts and stores records in batches, off the
//! request path. A full queue drops records (counted in
//! `scimgate_request_log_dropped_total`), never requests.

use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use http_body::Frame;
use scimgate_domain::Clock;
use scimgate_domain::request_log::ScimRequest;
use scimgate_domain::store::RequestLogStore;
use scimgate_scim::redact::{cut_marked, loggable_body, may_hold_secret};
use tokio::sync::{mpsc, watch};

use crate::http::access_log::RequestContext;

/// Bodies are stored cut to this many bytes (after redaction).
pub const BODY_CUT: usize = 16 * 1024;
/// Records waiting for the writer, at most.
const QUEUE: usize = 20_000;
/// Raw request bytes waiting for the writer, at most (past it records are dropped).
const QUEUE_BYTES: usize = 64 * 1024 * 1024;
/// Records per write transaction, at most.
const BATCH: usize = 500;
/// The longest a record waits for its batch to fill.
const FLUSH_AFTER: Duration = Duration::from_millis(200);
/// The path prefix of the SCIM API.
const SCIM_PREFIX: &str = "/gateway/ng/api/scim/account/";

/// The receiving end, taken by [`write_loop`] when the node starts.
pub type RequestLogQueue = mpsc::Receiver<Pending>;

/// The sending end and its accounting.
#[derive(Debug)]
pub struct RequestLog {
    tx: mpsc::Sender<Pending>,
    queued_bytes: AtomicUsize,
    /// Records in the queue (read into `scimgate_request_log_queue_depth` at each scrape).
    queued: AtomicUsize,
    enabled: bool,
    request_cap: usize,
}

impl RequestLog {
    /// A log and its queue; `enabled: false` (`--request-log-retention 0`) records nothing.
    pub fn new(enabled: bool, max_body_bytes: usize) -> (Self, RequestLogQueue) {
        let (tx, rx) = mpsc::channel(QUEUE);
        (
            Self {
                tx,
                queued_bytes: AtomicUsize::new(0),
                queued: AtomicUsize::new(0),
                enabled,
                request_cap: max_body_bytes,
            },
            rx,
        )
    }

    fn send(&self, pending: Pending) {
        let bytes = pending.raw_len();
        if self.queued_bytes.fetch_add(bytes, Ordering::Relaxed) + bytes > QUEUE_BYTES {
            self.queued_bytes.fetch_sub(bytes, Ordering::Relaxed);
            metrics::counter!("scimgate_request_log_dropped_total").increment(1);
            return;
        }
        if self.tx.try_send(pending).is_err() {
            self.queued_bytes.fetch_sub(bytes, Ordering::Relaxed);
            metrics::counter!("scimgate_request_log_dropped_total").increment(1);
            return;
        }
        self.queued.fetch_add(1, Ordering::Relaxed);
    }

    /// Records waiting for the writer.
    pub fn queue_depth(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }
}

/// What a body streamed so far: the first `cap` bytes and how many there were in all.
#[derive(Debug, Default)]
struct Captured {
    bytes: Vec<u8>,
    seen: usize,
    cap: usize,
}

type Capture = Arc<Mutex<Captured>>;

/// A capture of at most `cap` bytes, with room for `expected` (a body's exact size, when
/// known) so that copying it in does not grow the buffer step by step. The room made up
/// front is at most [`BODY_CUT`] + 1: a `Content-Length` is a claim, not bytes received.
fn capture(cap: usize, expected: Option<u64>) -> Capture {
    let room = expected.map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX).min(cap).min(BODY_CUT + 1));
    Arc::new(Mutex::new(Captured { bytes: Vec::with_capacity(room), cap, seen: 0 }))
}

fn take(c: &Capture) -> Captured {
    std::mem::take(&mut *c.lock().unwrap_or_else(PoisonError::into_inner))
}

/// A body that copies the first bytes of what passes through it into a [`Capture`], and runs
/// `done` when it is dropped (the response was sent, or the client went away).
struct Tee {
    inner: Body,
    capture: Capture,
    done: Option<Box<dyn FnOnce() + Send>>,
}

impl Drop for Tee {
    fn drop(&mut self) {
        if let Some(done) = self.done.take() {
            done();
        }
    }
}

impl http_body::Body for Tee {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref()
        {
            let mut c = self.capture.lock().unwrap_or_else(PoisonError::into_inner);
            c.seen += data.len();
            let room = c.cap.saturating_sub(c.bytes.len());
            c.bytes.extend_from_slice(&data[..room.min(data.len())]);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// A record on its way to the writer: the request's facts and the raw body copies.
pub struct Pending {
    entry: ScimRequest,
    request: Capture,
    response: Capture,
}

impl Pending {
    fn raw_len(&self) -> usize {
        self.request.lock().unwrap_or_else(PoisonError::into_inner).bytes.len() + BODY_CUT
    }

    /// The record as stored: bodies redacted and cut. A request body that was not read to
    /// its end (over the limit, or never read) is stored only as its size.
    ///
    /// Two fast paths skip parsing: a request that succeeded had a valid JSON body (the
    /// handler parsed it), so when nothing in it can be a secret
    /// ([`scimgate_scim::redact::may_hold_secret`]) its text is kept as it is; and a successful
    /// response is scimgate's own SCIM representation, which never holds a secret (RFC 7643
    /// §7 `returned: never`; passwords are discarded). Error responses are redacted like
    /// requests, as their messages may quote what was sent.
    fn finish(mut self) -> ScimRequest {
        let ok = (200..300).contains(&self.entry.status);
        let request = take(&self.request);
        self.entry.request_body = if request.seen > request.bytes.len() {
            Some(format!("[{} bytes or more: over the body limit, not stored]", request.seen))
        } else if ok && !request.bytes.is_empty() && !may_hold_secret(&request.bytes) {
            let total = request.bytes.len();
            Some(cut_text(request.bytes, total))
        } else {
            loggable_body(&request.bytes, BODY_CUT)
        };
        let response = take(&self.response);
        self.entry.response_body = if response.bytes.is_empty() {
            None
        } else if ok || response.seen > response.bytes.len() {
            Some(cut_text(response.bytes, response.seen))
        } else {
            loggable_body(&response.bytes, BODY_CUT)
        };
        self.entry
    }
}

/// `bytes` as text, cut at [`BODY_CUT`] (at a character boundary, then marked with the
/// `total` size). Valid UTF-8 that needs no cut becomes the text without a copy.
fn cut_text(bytes: Vec<u8>, total: usize) -> String {
    if total <= BODY_CUT && bytes.len() == total {
        return String::from_utf8(bytes)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
    }
    cut_marked(&String::from_utf8_lossy(&bytes), BODY_CUT, total)
}

/// The first `max` characters of `s`, as a `String`.
fn prefix(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    match s.char_indices().nth(max) {
        Some((end, _)) => s[..end].to_string(),
        None => s.to_string(),
    }
}

/// The middleware: on SCIM paths, copies the bodies and queues the record once the response
/// has gone out.
pub async fn record(log: Arc<RequestLog>, clock: Arc<dyn Clock>, req: Request, next: Next) -> Response {
    // Everything read from the request is copied out in this block: no borrow of it (its
    // body is not `Sync`) may live across the `await` below.
    let entry = {
        let path = req.uri().path();
        let Some(account) = path.strip_prefix(SCIM_PREFIX).filter(|_| log.enabled) else {
            return next.run(req).await;
        };
        let header = |name: header::HeaderName| {
            req.headers().get(name).and_then(|v| v.to_str().ok()).map(|v| prefix(v, 512))
        };
        ScimRequest {
            seq: 0,
            account: prefix(account.split('/').next().unwrap_or_default(), 256),
            at: clock.now(),
            method: req.method().as_str().to_string(),
            path: prefix(path, 2048),
            query: prefix(req.uri().query().unwrap_or_default(), 4096),
            status: 0,
            duration_us: 0,
            principal: None,
            credential_id: None,
            user_agent: header(header::USER_AGENT),
            request_id: header(header::HeaderName::from_static("x-request-id")),
            request_body: None,
            response_body: None,
        }
    };
    let mut entry = entry;
    let started = Instant::now();
    let ctx = req.extensions().get::<RequestContext>().cloned();
    let request = capture(log.request_cap, http_body::Body::size_hint(req.body()).exact());
    let req = req.map(|inner| Body::new(Tee { inner, capture: request.clone(), done: None }));
    let res = next.run(req).await;
    entry.status = res.status().as_u16();
    entry.duration_us = i64::try_from(started.elapsed().as_micros()).unwrap_or(i64::MAX);
    if let Some((principal, credential)) = ctx.and_then(|c| c.principal_and_credential()) {
        entry.principal = Some(principal);
        entry.credential_id = credential;
    }
    let response = capture(BODY_CUT + 1, http_body::Body::size_hint(res.body()).exact());
    let pending = Pending { entry, request, response: response.clone() };
    res.map(move |inner| {
        Body::new(Tee { inner, capture: response, done: Some(Box::new(move || log.send(pending))) })
    })
}

/// Writes queued records in batches until `stop`, then writes what is left.
pub async fn write_loop(
    store: Arc<dyn RequestLogStore>,
    log: Arc<RequestLog>,
    mut rx: RequestLogQueue,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let first = tokio::select! {
            p = rx.recv() => p,
            _ = stop.changed() => None,
        };
        let Some(first) = first else { break };
        let mut batch = Vec::with_capacity(BATCH);
        batch.push(first);
        // Whatever is queued comes at once; the timer is armed only when the batch is not
        // full yet (under load, it rarely is).
        let deadline = tokio::time::Instant::now() + FLUSH_AFTER;
        while batch.len() < BATCH {
            if let Ok(p) = rx.try_recv() {
                batch.push(p);
                continue;
            }
            let room = BATCH - batch.len();
            match tokio::time::timeout_at(deadline, rx.recv_many(&mut batch, room)).await {
                Ok(n) if n > 0 => {}
                _ => break,
            }
        }
        write_batch(store.as_ref(), &log, batch).await;
        if *stop.borrow() {
            break;
        }
    }
    // Shutting down: what is queued still goes in.
    let mut rest = Vec::new();
    while let Ok(p) = rx.try_recv() {
        rest.push(p);
    }
    while !rest.is_empty() {
        let chunk: Vec<Pending> = rest.drain(..rest.len().min(BATCH)).collect();
        write_batch(store.as_ref(), &log, chunk).await;
    }
}

async fn write_batch(store: &dyn RequestLogStore, log: &RequestLog, batch: Vec<Pending>) {
    let n = batch.len();
    let bytes: usize = batch.iter().map(Pending::raw_len).sum();
    // Redacting parses every body: CPU work, kept off the async workers.
    let rows =
        match tokio::task::spawn_blocking(move || batch.into_iter().map(Pending::finish).collect::<Vec<_>>())
            .await
        {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(error = %e, "request log: formatting a batch failed");
                Vec::new()
            }
        };
    log.queued_bytes.fetch_sub(bytes.min(log.queued_bytes.load(Ordering::Relaxed)), Ordering::Relaxed);
    log.queued.fetch_sub(n.min(log.queued.load(Ordering::Relaxed)), Ordering::Relaxed);
    match store.insert_scim_requests(&rows).await {
        Ok(()) => metrics::counter!("scimgate_request_log_written_total").increment(rows.len() as u64),
        Err(e) => {
            metrics::counter!("scimgate_request_log_dropped_total").increment(rows.len() as u64);
            tracing::warn!(error = %e, records = rows.len(), "request log: a batch could not be stored");
        }
    }
}
