//! Request bodies: `application/scim+json` or `application/json`, size-limited, with SCIM
//! errors for every failure (a plain-text error breaks Okta, interop.md).

use axum::extract::{FromRequest, Request};
use axum::http::header;
use http_body_util::{BodyExt, Limited};
use scimgate_scim::ScimError;
use serde_json::Value;

use crate::http::error::ScimApiError;
use crate::state::AppState;

/// A parsed JSON body.
#[derive(Debug)]
pub struct ScimBody(pub Value);

impl FromRequest<AppState> for ScimBody {
    type Rejection = ScimApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        if let Some(ct) = req.headers().get(header::CONTENT_TYPE) {
            let ct = ct.to_str().unwrap_or_default().to_ascii_lowercase();
            if !ct.contains("json") {
                return Err(ScimError::new(
                    415,
                    None,
                    format!(
                        "Content-Type '{ct}' is not supported; send application/scim+json or application/json"
                    ),
                )
                .into());
            }
        }
        let limit = state.config.max_body_bytes;
        let bytes = match Limited::new(req.into_body(), limit).collect().await {
            Ok(c) => c.to_bytes(),
            Err(e) if e.is::<http_body_util::LengthLimitError>() => {
                return Err(ScimError::new(
                    413,
                    Some(scimgate_scim::ScimType::TooMany),
                    format!("the request body exceeds the limit of {limit} bytes"),
                )
                .into());
            }
            Err(_) => return Err(ScimError::invalid_syntax("the request body could not be read").into()),
        };
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(
                ScimError::invalid_syntax("the request body is empty; a JSON object is required").into()
            );
        }
        let value: Value = serde_json::from_slice(&bytes)
            .map_err(|e| ScimError::invalid_syntax(format!("the request body is not valid JSON: {e}")))?;
        Ok(ScimBody(value))
    }
}
