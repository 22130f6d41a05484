//! Real JWKS servers on loopback for the JWT tests: plain HTTP (axum) with controllable
//! answers, and HTTPS (rustls) with a certificate from a test CA.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What the server answers.
#[derive(Clone)]
pub enum Answer {
    /// 200 with this JSON and optional Cache-Control and ETag.
    Json { body: Value, cache_control: Option<String>, etag: Option<String> },
    /// Any status and body.
    Raw { status: u16, content_type: String, body: Vec<u8> },
    /// A redirect.
    Redirect(String),
    /// Wait, then answer 200 with `{"keys": []}`.
    Stall(Duration),
    /// A body streamed without Content-Length: `head`, `chunks` times `chunk`, then `tail`.
    Stream { head: Vec<u8>, chunk: Vec<u8>, chunks: usize, tail: Vec<u8> },
}

/// A plain-HTTP JWKS server.
#[derive(Clone)]
pub struct JwksServer {
    pub addr: SocketAddr,
    answer: Arc<Mutex<Answer>>,
    hits: Arc<AtomicUsize>,
    conditional_hits: Arc<AtomicUsize>,
}

impl JwksServer {
    pub async fn start(ip: &str) -> Self {
        let answer =
            Arc::new(Mutex::new(Answer::Json { body: json!({"keys": []}), cache_control: None, etag: None }));
        let hits = Arc::new(AtomicUsize::new(0));
        let conditional_hits = Arc::new(AtomicUsize::new(0));
        let (a, h, c) = (answer.clone(), hits.clone(), conditional_hits.clone());
        let app = axum::Router::new().fallback(move |headers: HeaderMap| {
            let (a, h, c) = (a.clone(), h.clone(), c.clone());
            async move {
                h.fetch_add(1, Ordering::SeqCst);
                let current = a.lock().expect("lock").clone();
                respond(current, &headers, &c).await
            }
        });
        let listener = tokio::net::TcpListener::bind(format!("{ip}:0")).await.expect("bind loopback");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, answer, hits, conditional_hits }
    }

    pub fn url(&self) -> String {
        format!("http://{}/jwks.json", self.addr)
    }
    pub fn set(&self, a: Answer) {
        *self.answer.lock().expect("lock") = a;
    }
    pub fn publish(&self, keys: &[Value]) {
        self.set(Answer::Json { body: json!({"keys": keys}), cache_control: None, etag: None });
    }
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
    pub fn conditional_hits(&self) -> usize {
        self.conditional_hits.load(Ordering::SeqCst)
    }
}

async fn respond(a: Answer, headers: &HeaderMap, conditional: &AtomicUsize) -> Response {
    match a {
        Answer::Json { body, cache_control, etag } => {
            if let (Some(tag), Some(inm)) = (&etag, headers.get(header::IF_NONE_MATCH))
                && inm.to_str().ok() == Some(tag.as_str())
            {
                conditional.fetch_add(1, Ordering::SeqCst);
                return StatusCode::NOT_MODIFIED.into_response();
            }
            let mut res = (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], body.to_string())
                .into_response();
            if let Some(cc) = cache_control {
                res.headers_mut().insert(header::CACHE_CONTROL, cc.parse().expect("header"));
            }
            if let Some(tag) = etag {
                res.headers_mut().insert(header::ETAG, tag.parse().expect("header"));
            }
            res
        }
        Answer::Raw { status, content_type, body } => {
            (StatusCode::from_u16(status).expect("status"), [(header::CONTENT_TYPE, content_type)], body)
                .into_response()
        }
        Answer::Redirect(to) => (StatusCode::FOUND, [(header::LOCATION, to)]).into_response(),
        Answer::Stall(d) => {
            tokio::time::sleep(d).await;
            Json200.into_response()
        }
        Answer::Stream { head, chunk, chunks, tail } => {
            let stream = Repeat { head: Some(head), chunk, left: chunks, tail: Some(tail) };
            Response::builder()
                .status(StatusCode::OK)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from_stream(stream))
                .expect("response")
        }
    }
}

struct Json200;
impl IntoResponse for Json200 {
    fn into_response(self) -> Response {
        (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], r#"{"keys":[]}"#).into_response()
    }
}

/// A head, repeated chunks, a tail.
struct Repeat {
    head: Option<Vec<u8>>,
    chunk: Vec<u8>,
    left: usize,
    tail: Option<Vec<u8>>,
}

impl futures_core::Stream for Repeat {
    type Item = Result<Vec<u8>, std::io::Error>;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        if let Some(head) = self.head.take() {
            return std::task::Poll::Ready(Some(Ok(head)));
        }
        if self.left == 0 {
            return std::task::Poll::Ready(self.tail.take().map(Ok));
        }
        self.left -= 1;
        std::task::Poll::Ready(Some(Ok(self.chunk.clone())))
    }
}

/// An HTTPS JWKS server with a certificate for `localhost` and 127.0.0.1 issued by a test
/// CA; answers every request with `body`.
pub struct TlsJwksServer {
    pub addr: SocketAddr,
    /// PEM of the CA that issued the server's certificate.
    pub ca_pem: String,
    pub hits: Arc<AtomicUsize>,
}

impl TlsJwksServer {
    pub async fn start(body: Value) -> Self {
        let ca_key = rcgen::KeyPair::generate().expect("ca key");
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(rcgen::DnType::CommonName, "scimgate test CA");
        let ca_cert = ca_params.self_signed(&ca_key).expect("ca cert");
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let key = rcgen::KeyPair::generate().expect("key");
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).expect("params");
        params.subject_alt_names.push(rcgen::SanType::IpAddress("127.0.0.1".parse().expect("ip")));
        let cert = params.signed_by(&key, &issuer).expect("cert");
        let der_cert = cert.der().clone();
        let der_key =
            tokio_rustls::rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).expect("key der");
        let provider = Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
        let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(vec![der_cert], der_key)
            .expect("server config");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let hits = Arc::new(AtomicUsize::new(0));
        let h = hits.clone();
        let payload = body.to_string();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                let payload = payload.clone();
                let h = h.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                    let mut buf = vec![0u8; 8192];
                    let mut got = Vec::new();
                    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                        match tls.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => got.extend_from_slice(&buf[..n]),
                        }
                        if got.len() > 64 * 1024 {
                            return;
                        }
                    }
                    h.fetch_add(1, Ordering::SeqCst);
                    let res = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
                        payload.len(),
                        payload
                    );
                    let _ = tls.write_all(res.as_bytes()).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        Self { addr, ca_pem: ca_cert.pem(), hits }
    }
}
