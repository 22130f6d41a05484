//! Request bodies: `application/scim+json` or `application/json`, size-limited, with SCIM
//! errors for every failure (a plain-text error breaks Okta, docs/interop.md).

use axum::extract::{FromRequest, Request};
use axum::http::header;
use http_body_util::{BodyExt, Limited};
use scimgate_scim::ScimError;
use serde_json::Value;

use crate::http::error::ScimApiError;
use crate::state::AppState;

/// Why a JSON request body was refused. Each API answers it in its own error format.
#[derive(Debug)]
pub enum BodyError {
    /// The Content-Type is not JSON (lower-cased value).
    UnsupportedType(String),
    /// Longer than the limit (bytes).
    TooLarge(usize),
    /// The body could not be read.
    Unreadable,
    /// Empty or only whitespace.
    Empty,
    /// Not valid JSON (the parser's message).
    NotJson(String),
}

/// Reads a JSON request body: the Content-Type (when sent) must be a JSON type, the body at
/// most `limit` bytes, not empty, valid JSON.
pub async fn read_json(req: Request, limit: usize) -> Result<Value, BodyError> {
    if let Some(ct) = req.headers().get(header::CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or_default().to_ascii_lowercase();
        if !ct.contains("json") {
            return Err(BodyError::UnsupportedType(ct));
        }
    }
    let bytes = match Limited::new(req.into_body(), limit).collect().await {
        Ok(c) => c.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => return Err(BodyError::TooLarge(limit)),
        Err(_) => return Err(BodyError::Unreadable),
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(BodyError::Empty);
    }
    serde_json::from_slice(&bytes).map_err(|e| BodyError::NotJson(e.to_string()))
}

/// A parsed JSON body.
#[derive(Debug)]
pub struct ScimBody(pub Value);

impl FromRequest<AppState> for ScimBody {
    type Rejection = ScimApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        read_json(req, state.config.max_body_bytes).await.map(ScimBody).map_err(|e| {
            ScimApiError(match e {
                BodyError::UnsupportedType(ct) => ScimError::new(
                    415,
                    None,
                    format!(
                        "Content-Type '{ct}' is not supported; send application/scim+json or application/json"
                    ),
                ),
                BodyError::TooLarge(limit) => ScimError::new(
                    413,
                    Some(scimgate_scim::ScimType::TooMany),
                    format!("the request body exceeds the limit of {limit} bytes"),
                ),
                BodyError::Unreadable => ScimError::invalid_syntax("the request body could not be read"),
                BodyError::Empty => {
                    ScimError::invalid_syntax("the request body is empty; a JSON object is required")
                }
                BodyError::NotJson(e) => {
                    ScimError::invalid_syntax(format!("the request body is not valid JSON: {e}"))
                }
            })
        })
    }
}
