//! The SCIM request log (docs/audit.md "SCIM request log"): what every request on a SCIM path
//! of an account asked and got, so an administrator can see why an identity provider's push
//! failed. The server records requests off the request path, in batches; bodies arrive here
//! already redacted ([`scimgate_scim::redact`]) and cut.

use time::OffsetDateTime;

/// One logged request.
#[derive(Debug, Clone, PartialEq)]
pub struct ScimRequest {
    /// Position in the log (0 before it is stored).
    pub seq: i64,
    /// The account in the path.
    pub account: String,
    /// When it arrived.
    pub at: OffsetDateTime,
    /// HTTP method.
    pub method: String,
    /// Path, without the query.
    pub path: String,
    /// The query string (filters; SCIM puts no secret in it), empty when none.
    pub query: String,
    /// Response status.
    pub status: u16,
    /// How long it took, in microseconds.
    pub duration_us: i64,
    /// `TYPE:id` of the verified caller, when the credential was accepted.
    pub principal: Option<String>,
    /// The API token's id, when the credential was one.
    pub credential_id: Option<String>,
    /// `User-Agent`.
    pub user_agent: Option<String>,
    /// `X-Request-Id`.
    pub request_id: Option<String>,
    /// The request body, redacted and cut.
    pub request_body: Option<String>,
    /// The response body, redacted and cut.
    pub response_body: Option<String>,
}

/// The classes of status a query can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusClass {
    /// 2xx.
    Success,
    /// 4xx.
    ClientError,
    /// 5xx.
    ServerError,
}

impl StatusClass {
    /// Parses `2xx`, `4xx` or `5xx`.
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "2xx" => Some(Self::Success),
            "4xx" => Some(Self::ClientError),
            "5xx" => Some(Self::ServerError),
            _ => None,
        }
    }
    /// The statuses it covers, `[low, high)`.
    pub fn range(self) -> (i64, i64) {
        match self {
            Self::Success => (200, 300),
            Self::ClientError => (400, 500),
            Self::ServerError => (500, 600),
        }
    }
}

/// A query of the request log, newest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScimRequestQuery {
    /// Only this method.
    pub method: Option<String>,
    /// Only this class of status.
    pub status: Option<StatusClass>,
    /// Only paths containing this text.
    pub path_contains: Option<String>,
    /// At or after.
    pub since: Option<OffsetDateTime>,
    /// Before.
    pub until: Option<OffsetDateTime>,
    /// Only entries older than this position (the previous page's cursor).
    pub before: Option<i64>,
    /// Page size.
    pub limit: u32,
}
