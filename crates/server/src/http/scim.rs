//! SCIM 2.0 endpoints (RFC 7644) under `/gateway/ng/api/scim/account/{account}`.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post, put};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

use scimgate_domain::scim_service::{ReadBack, etag, to_representation};
use scimgate_domain::store::{CursorPosition, ListQuery, Page, Sort, StoredResource};
use scimgate_scim::filter::{self, MAX_FILTER_DEPTH, MAX_FILTER_LEN};
use scimgate_scim::projection::Projection;
use scimgate_scim::resource::get_ci;
use scimgate_scim::schema::{ALL_SCHEMAS, ResourceKind};
use scimgate_scim::{LIST_RESPONSE_URN, ScimError, ScimType};

use crate::http::auth::ScimCaller;
use crate::http::body::ScimBody;
use crate::http::error::{SCIM_JSON, ScimApiError};
use crate::http::ng::{Endpoint, ep};
use crate::state::AppState;

/// Default page size.
pub const DEFAULT_PAGE_SIZE: u64 = 100;
/// Largest page size; larger `count` values are lowered to it (RFC 7644 §3.4.2.4).
pub const MAX_PAGE_SIZE: u64 = 1000;

type Result<T> = std::result::Result<T, ScimApiError>;
type Params = Query<Vec<(String, String)>>;

/// Every SCIM endpoint: method, path under the account's base, handler. The router is
/// built from this table and the tests walk it (cross-account isolation on every route).
pub fn endpoints() -> Vec<Endpoint> {
    use ResourceKind::{Group, User};
    use axum::http::Method as M;
    let mut v = Vec::new();
    for (kind, list_path, search_path, one_path) in [
        (User, "/Users", "/Users/.search", "/Users/{id}"),
        (Group, "/Groups", "/Groups/.search", "/Groups/{id}"),
    ] {
        v.push(ep(M::GET, list_path, get(move |s, c, h, q| list(s, c, h, q, kind))));
        v.push(ep(M::POST, list_path, post(move |s, c, h, q, b| create(s, c, h, q, b, kind))));
        v.push(ep(M::POST, search_path, post(move |s, c, h, b| search(s, c, h, b, Some(kind)))));
        v.push(ep(M::GET, one_path, get(move |s, c, h, p, q| get_one(s, c, h, p, q, kind))));
        v.push(ep(M::PUT, one_path, put(move |s, c, h, p, q, b| replace(s, c, h, p, q, b, kind))));
        v.push(ep(M::PATCH, one_path, patch(move |s, c, h, p, q, b| patch_one(s, c, h, p, q, b, kind))));
        v.push(ep(M::DELETE, one_path, delete(move |s, c, h, p| delete_one(s, c, h, p, kind))));
    }
    v.push(ep(M::POST, "/.search", post(|s, c, h, b| search(s, c, h, b, None))));
    v.push(ep(M::POST, "/Bulk", post(crate::http::bulk::bulk)));
    v.push(ep(M::GET, "/ServiceProviderConfig", get(service_provider_config)));
    v.push(ep(M::GET, "/ResourceTypes", get(resource_types)));
    v.push(ep(M::GET, "/ResourceTypes/{id}", get(resource_type)));
    v.push(ep(M::GET, "/Schemas", get(schemas)));
    v.push(ep(M::GET, "/Schemas/{id}", get(schema)));
    v
}

/// The SCIM routes.
pub fn routes() -> Router<AppState> {
    endpoints().into_iter().fold(Router::new(), |r, e| r.route(e.path, e.handler))
}

/// `(method, path)` of every SCIM endpoint, relative to the account's SCIM base.
pub fn route_list() -> Vec<(axum::http::Method, &'static str)> {
    endpoints().into_iter().map(|e| (e.method, e.path)).collect()
}

/// The SCIM base URL of the account, for `meta.location` and `$ref`.
pub fn base_url(headers: &HeaderMap, account: &str) -> String {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    let proto = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .filter(|p| *p == "https" || *p == "http")
        .unwrap_or("http");
    format!("{proto}://{host}/gateway/ng/api/scim/account/{account}")
}

/// A JSON response with the SCIM media type.
pub fn scim_json(status: StatusCode, body: &Value) -> Response {
    let mut res = (status, body.to_string()).into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
    res
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

fn projection(kind: ResourceKind, params: &[(String, String)]) -> Result<Projection> {
    Ok(Projection::parse(kind, param(params, "attributes"), param(params, "excludedAttributes"))?)
}

/// Parses `If-Match` / `If-None-Match`: `W/"3"`, `"3"` or `*` (None = any).
fn parse_etag(value: &str) -> Option<Option<i64>> {
    let v = value.trim();
    if v == "*" {
        return Some(None);
    }
    let v = v.strip_prefix("W/").unwrap_or(v);
    v.trim_matches('"').parse::<i64>().ok().map(Some)
}

/// The version `If-Match` requires; a tag that can never match is 412 at once.
fn if_match(headers: &HeaderMap) -> Result<Option<i64>> {
    let Some(h) = headers.get(header::IF_MATCH) else { return Ok(None) };
    let text = h.to_str().unwrap_or_default();
    match parse_etag(text) {
        Some(v) => Ok(v),
        None => {
            Err(ScimError::new(412, None, format!("If-Match '{text}' does not match the resource version"))
                .into())
        }
    }
}

fn render(kind: ResourceKind, r: &StoredResource, base: &str, p: &Projection) -> Value {
    let mut m = to_representation(kind, r, base);
    p.apply(kind, &mut m);
    Value::Object(m)
}

fn resource_response(
    status: StatusCode,
    kind: ResourceKind,
    r: &StoredResource,
    base: &str,
    p: &Projection,
) -> Response {
    let body = render(kind, r, base, p);
    let has_meta = body.get("meta").is_some();
    let mut res = scim_json(status, &body);
    // The ETag header repeats meta.version; a response whose `attributes` left out `meta`
    // carries neither (some clients cannot attach a version to a resource without meta).
    if has_meta && let Ok(v) = HeaderValue::from_str(&etag(r.version)) {
        res.headers_mut().insert(header::ETAG, v);
    }
    if status == StatusCode::CREATED
        && let Ok(v) = HeaderValue::from_str(&format!("{base}/{}/{}", kind.endpoint(), r.id))
    {
        res.headers_mut().insert(header::LOCATION, v);
    }
    res
}

async fn create(
    State(st): State<AppState>,
    caller: ScimCaller,
    headers: HeaderMap,
    Query(params): Params,
    ScimBody(body): ScimBody,
    kind: ResourceKind,
) -> Result<Response> {
    let p = projection(kind, &params)?;
    let created = st.scim.create(&caller, kind, &body).await?;
    Ok(resource_response(
        StatusCode::CREATED,
        kind,
        &created,
        &base_url(&headers, caller.account().as_str()),
        &p,
    ))
}

async fn get_one(
    State(st): State<AppState>,
    caller: ScimCaller,
    headers: HeaderMap,
    Path((_, id)): Path<(String, String)>,
    Query(params): Params,
    kind: ResourceKind,
) -> Result<Response> {
    let p = projection(kind, &params)?;
    let related = p.includes(related_attr(kind));
    let r = st.scim.get(&caller, kind, &id, related).await?;
    if let Some(inm) = headers.get(header::IF_NONE_MATCH).and_then(|h| h.to_str().ok())
        && inm.split(',').filter_map(parse_etag).any(|v| v.is_none_or(|v| v == r.version))
    {
        let mut res = StatusCode::NOT_MODIFIED.into_response();
        if let Ok(v) = HeaderValue::from_str(&etag(r.version)) {
            res.headers_mut().insert(header::ETAG, v);
        }
        return Ok(res);
    }
    Ok(resource_response(StatusCode::OK, kind, &r, &base_url(&headers, caller.account().as_str()), &p))
}

fn related_attr(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::User => "groups",
        ResourceKind::Group => "members",
    }
}

async fn replace(
    State(st): State<AppState>,
    caller: ScimCaller,
    headers: HeaderMap,
    Path((_, id)): Path<(String, String)>,
    Query(params): Params,
    ScimBody(body): ScimBody,
    kind: ResourceKind,
) -> Result<Response> {
    let p = projection(kind, &params)?;
    let expected = if_match(&headers)?;
    let r = st.scim.replace(&caller, kind, &id, &body, expected).await?;
    Ok(resource_response(StatusCode::OK, kind, &r, &base_url(&headers, caller.account().as_str()), &p))
}

async fn patch_one(
    State(st): State<AppState>,
    caller: ScimCaller,
    headers: HeaderMap,
    Path((_, id)): Path<(String, String)>,
    Query(params): Params,
    ScimBody(body): ScimBody,
    kind: ResourceKind,
) -> Result<Response> {
    let p = projection(kind, &params)?;
    let expected = if_match(&headers)?;
    let wants_body = param(&params, "attributes").is_some() || param(&params, "excludedAttributes").is_some();
    // Users: 200 with the resource. Groups: 204 (no member list to send back) unless the
    // client asks for attributes (docs/interop.md; documented in /ServiceProviderConfig).
    let read_back = if kind == ResourceKind::Group && !wants_body {
        ReadBack::Nothing
    } else {
        ReadBack::Resource(p.includes(related_attr(kind)))
    };
    let outcome = st.scim.patch(&caller, kind, &id, &body, expected, read_back).await?;
    let Some(r) = outcome.resource else {
        let mut res = StatusCode::NO_CONTENT.into_response();
        if let Ok(v) = HeaderValue::from_str(&etag(outcome.version)) {
            res.headers_mut().insert(header::ETAG, v);
        }
        return Ok(res);
    };
    Ok(resource_response(StatusCode::OK, kind, &r, &base_url(&headers, caller.account().as_str()), &p))
}

async fn delete_one(
    State(st): State<AppState>,
    caller: ScimCaller,
    headers: HeaderMap,
    Path((_, id)): Path<(String, String)>,
    kind: ResourceKind,
) -> Result<Response> {
    let expected = if_match(&headers)?;
    st.scim.delete(&caller, kind, &id, expected).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Query options shared by GET and POST /.search.
#[derive(Debug, Default)]
struct ListOptions {
    filter: Option<String>,
    sort_by: Option<String>,
    sort_order: Option<String>,
    start_index: Option<i64>,
    count: Option<i64>,
    cursor: Option<String>,
}

fn parse_int(name: &str, v: Option<&str>) -> Result<Option<i64>> {
    match v.map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) => s
            .parse::<i64>()
            .map(Some)
            .map_err(|_| ScimError::invalid_value(format!("'{name}' must be an integer; got '{s}'")).into()),
    }
}

fn build_query(kind: ResourceKind, o: &ListOptions, include_related: bool) -> Result<ListQuery> {
    let filter = match o.filter.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(f) => Some(filter::parse_filter(f).map_err(|e| {
            ScimError::invalid_filter(format!(
                "invalid filter: {e} (filters are limited to {MAX_FILTER_LEN} bytes and nesting depth {MAX_FILTER_DEPTH})"
            ))
        })?),
    };
    let sort = match o.sort_by.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(s) => {
            let path = filter::parse_attribute_list(s)
                .ok()
                .filter(|l| l.len() == 1)
                .and_then(|mut l| l.pop())
                .ok_or_else(|| ScimError::invalid_value(format!("sortBy '{s}' is not an attribute path")))?;
            let descending = match o.sort_order.as_deref().map(str::trim) {
                None | Some("") => false,
                Some(v) if v.eq_ignore_ascii_case("ascending") => false,
                Some(v) if v.eq_ignore_ascii_case("descending") => true,
                Some(v) => {
                    return Err(ScimError::invalid_value(format!(
                        "sortOrder must be \"ascending\" or \"descending\"; got '{v}'"
                    ))
                    .into());
                }
            };
            Some(Sort { path, descending })
        }
    };
    let count =
        o.count.map_or(DEFAULT_PAGE_SIZE, |c| u64::try_from(c.max(0)).unwrap_or(0)).min(MAX_PAGE_SIZE);
    let page = match &o.cursor {
        Some(c) => Page::Cursor { after: decode_cursor(c)?, count },
        None => {
            // RFC 7644 §3.4.2.4: a startIndex below 1 is interpreted as 1.
            let start = u64::try_from(o.start_index.unwrap_or(1).max(1)).unwrap_or(1);
            Page::Index { start_index: start, count }
        }
    };
    let _ = kind;
    Ok(ListQuery { filter, sort, page, include_related })
}

fn encode_cursor(c: CursorPosition) -> String {
    match c {
        CursorPosition::AfterSeq(s) => URL_SAFE_NO_PAD.encode(format!("s{s}")),
        CursorPosition::Offset(o) => URL_SAFE_NO_PAD.encode(format!("o{o}")),
    }
}

fn decode_cursor(c: &str) -> Result<Option<CursorPosition>> {
    let c = c.trim();
    if c.is_empty() {
        return Ok(None);
    }
    let bad = || {
        ScimApiError(ScimError::bad_request(
            ScimType::InvalidCursor,
            format!("cursor '{c}' was not issued by this server"),
        ))
    };
    let raw = URL_SAFE_NO_PAD.decode(c).map_err(|_| bad())?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    let (tag, n) = text.split_at(1.min(text.len()));
    match tag {
        "s" => n.parse().map(|v| Some(CursorPosition::AfterSeq(v))).map_err(|_| bad()),
        "o" => n.parse().map(|v| Some(CursorPosition::Offset(v))).map_err(|_| bad()),
        _ => Err(bad()),
    }
}

fn list_response(
    kind_items: Vec<Value>,
    total: u64,
    query: &ListQuery,
    next: Option<CursorPosition>,
) -> Value {
    let mut out = Map::new();
    out.insert("schemas".into(), json!([LIST_RESPONSE_URN]));
    out.insert("totalResults".into(), json!(total));
    out.insert("itemsPerPage".into(), json!(kind_items.len()));
    match &query.page {
        Page::Index { start_index, .. } => {
            out.insert("startIndex".into(), json!(start_index));
        }
        Page::Cursor { .. } => {
            if let Some(n) = next {
                out.insert("nextCursor".into(), json!(encode_cursor(n)));
            }
        }
    }
    let count_zero = matches!(query.page, Page::Index { count: 0, .. } | Page::Cursor { count: 0, .. });
    if !count_zero {
        out.insert("Resources".into(), Value::Array(kind_items));
    }
    Value::Object(out)
}

async fn list(
    State(st): State<AppState>,
    caller: ScimCaller,
    headers: HeaderMap,
    Query(params): Params,
    kind: ResourceKind,
) -> Result<Response> {
    let p = projection(kind, &params)?;
    let opts = ListOptions {
        filter: param(&params, "filter").map(str::to_string),
        sort_by: param(&params, "sortBy").map(str::to_string),
        sort_order: param(&params, "sortOrder").map(str::to_string),
        start_index: parse_int("startIndex", param(&params, "startIndex"))?,
        count: parse_int("count", param(&params, "count"))?,
        cursor: param(&params, "cursor").map(str::to_string),
    };
    let query = build_query(kind, &opts, p.includes(related_attr(kind)))?;
    let page = st.scim.list(&caller, kind, &query).await?;
    let base = base_url(&headers, caller.account().as_str());
    let items = page.items.iter().map(|r| render(kind, r, &base, &p)).collect();
    Ok(scim_json(StatusCode::OK, &list_response(items, page.total, &query, page.next)))
}

fn string_list(v: Option<&Value>, name: &str) -> Result<Vec<String>> {
    match v {
        None | Some(Value::Null) => Ok(vec![]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_str().map(str::to_string).ok_or_else(|| {
                    ScimError::invalid_value(format!("'{name}' must be an array of strings")).into()
                })
            })
            .collect(),
        Some(Value::String(s)) => Ok(s.split(',').map(|x| x.trim().to_string()).collect()),
        Some(_) => Err(ScimError::invalid_value(format!("'{name}' must be an array of strings")).into()),
    }
}

/// POST `/.search` (RFC 7644 §3.4.3). At the root it searches Users, then Groups.
async fn search(
    State(st): State<AppState>,
    caller: ScimCaller,
    headers: HeaderMap,
    ScimBody(body): ScimBody,
    kind: Option<ResourceKind>,
) -> Result<Response> {
    let Some(obj) = body.as_object() else {
        return Err(ScimError::invalid_syntax("the search body must be a SearchRequest object").into());
    };
    if let Some(s) = get_ci(obj, "schemas") {
        let ok = s.as_array().is_some_and(|l| {
            l.iter().any(|x| {
                x.as_str().is_some_and(|x| x.eq_ignore_ascii_case(scimgate_scim::SEARCH_REQUEST_URN))
            })
        });
        if !ok {
            return Err(ScimError::invalid_syntax(format!(
                "'schemas' must contain '{}'",
                scimgate_scim::SEARCH_REQUEST_URN
            ))
            .into());
        }
    }
    let text = |k: &str| -> Result<Option<String>> {
        match get_ci(obj, k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(ScimError::invalid_value(format!("'{k}' must be a string")).into()),
        }
    };
    let int = |k: &str| -> Result<Option<i64>> {
        match get_ci(obj, k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .map(Some)
                .ok_or_else(|| ScimError::invalid_value(format!("'{k}' must be an integer")).into()),
            Some(_) => Err(ScimError::invalid_value(format!("'{k}' must be an integer")).into()),
        }
    };
    let opts = ListOptions {
        filter: text("filter")?,
        sort_by: text("sortBy")?,
        sort_order: text("sortOrder")?,
        start_index: int("startIndex")?,
        count: int("count")?,
        cursor: text("cursor")?,
    };
    let attributes = string_list(get_ci(obj, "attributes"), "attributes")?;
    let excluded = string_list(get_ci(obj, "excludedAttributes"), "excludedAttributes")?;
    let base = base_url(&headers, caller.account().as_str());
    let kinds: Vec<ResourceKind> = match kind {
        Some(k) => vec![k],
        None => {
            if opts.cursor.is_some() {
                return Err(ScimError::invalid_value(
                    "cursor paging is supported on /Users and /Groups, not at the root",
                )
                .into());
            }
            vec![ResourceKind::User, ResourceKind::Group]
        }
    };
    let mut items = Vec::new();
    let mut total = 0u64;
    let mut first_error = None;
    let mut next = None;
    let mut query_shape = None;
    for k in &kinds {
        let p = Projection::from_lists(*k, &attributes, &excluded)?;
        let mut q = match build_query(*k, &opts, p.includes(related_attr(*k))) {
            Ok(q) => q,
            Err(e) => return Err(e),
        };
        // At the root, page over Users then Groups.
        if let Page::Index { start_index, count } = q.page {
            let skip = (start_index - 1).saturating_sub(total);
            let left = count.saturating_sub(items.len() as u64);
            q.page = Page::Index { start_index: skip + 1, count: left };
        }
        match st.scim.list(&caller, *k, &q).await {
            Ok(page) => {
                total += page.total;
                next = page.next;
                items.extend(page.items.iter().map(|r| render(*k, r, &base, &p)));
            }
            Err(scimgate_domain::DomainError::Invalid(e)) if kinds.len() > 1 => {
                // An attribute one type does not have simply matches nothing there.
                first_error.get_or_insert(e);
            }
            Err(e) => return Err(e.into()),
        }
        query_shape = Some(q);
    }
    if let (Some(e), true) = (first_error, total == 0 && kinds.len() > 1) {
        // Neither type understood the filter.
        let both_failed = items.is_empty();
        if both_failed {
            return Err(e.into());
        }
    }
    let mut q = query_shape.ok_or_else(|| ScimApiError(ScimError::new(500, None, "no resource type")))?;
    if let Page::Index { .. } = q.page {
        let start = u64::try_from(opts.start_index.unwrap_or(1).max(1)).unwrap_or(1);
        let count =
            opts.count.map_or(DEFAULT_PAGE_SIZE, |c| u64::try_from(c.max(0)).unwrap_or(0)).min(MAX_PAGE_SIZE);
        q.page = Page::Index { start_index: start, count };
    }
    Ok(scim_json(StatusCode::OK, &list_response(items, total, &q, next)))
}

/// Limits advertised in `/ServiceProviderConfig` and enforced by `/Bulk`.
pub const BULK_MAX_OPERATIONS: usize = 1000;

async fn service_provider_config(
    State(st): State<AppState>,
    caller: ScimCaller,
    headers: HeaderMap,
) -> Response {
    let base = base_url(&headers, caller.account().as_str());
    scim_json(
        StatusCode::OK,
        &json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
            "documentationUri": "https://github.com/scimgate/scimgate/blob/main/docs/scim.md",
            "patch": {"supported": true},
            "bulk": {"supported": true, "maxOperations": BULK_MAX_OPERATIONS, "maxPayloadSize": st.config.max_body_bytes},
            "filter": {"supported": true, "maxResults": MAX_PAGE_SIZE},
            "changePassword": {"supported": false},
            "sort": {"supported": true},
            "etag": {"supported": true},
            "pagination": {
                "cursor": true,
                "index": true,
                "defaultPaginationMethod": "index",
                "defaultPageSize": DEFAULT_PAGE_SIZE,
                "maxPageSize": MAX_PAGE_SIZE,
                "cursorTimeout": 86400
            },
            "authenticationSchemes": [{
                "type": "oauthbearertoken",
                "name": "Bearer token",
                "description": "Authorization: Bearer <API token (pat./sat.)>, or a JWT signed by the account's identity provider when JWT authentication is configured",
                "primary": true
            }],
            "meta": {"resourceType": "ServiceProviderConfig", "location": format!("{base}/ServiceProviderConfig")}
        }),
    )
}

async fn resource_types(caller: ScimCaller, headers: HeaderMap) -> Response {
    let base = base_url(&headers, caller.account().as_str());
    let items: Vec<Value> =
        [ResourceKind::User, ResourceKind::Group].iter().map(|k| k.resource_type_json(&base)).collect();
    scim_json(
        StatusCode::OK,
        &json!({"schemas": [LIST_RESPONSE_URN], "totalResults": items.len(), "itemsPerPage": items.len(), "startIndex": 1, "Resources": items}),
    )
}

async fn resource_type(
    caller: ScimCaller,
    headers: HeaderMap,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response> {
    let base = base_url(&headers, caller.account().as_str());
    let kind = [ResourceKind::User, ResourceKind::Group]
        .into_iter()
        .find(|k| k.name().eq_ignore_ascii_case(&id))
        .ok_or_else(|| ScimError::not_found(format!("resource type '{id}' not found")))?;
    Ok(scim_json(StatusCode::OK, &kind.resource_type_json(&base)))
}

async fn schemas(caller: ScimCaller, headers: HeaderMap) -> Response {
    let base = base_url(&headers, caller.account().as_str());
    let items: Vec<Value> = ALL_SCHEMAS.iter().map(|s| s.to_json(&base)).collect();
    scim_json(
        StatusCode::OK,
        &json!({"schemas": [LIST_RESPONSE_URN], "totalResults": items.len(), "itemsPerPage": items.len(), "startIndex": 1, "Resources": items}),
    )
}

async fn schema(
    caller: ScimCaller,
    headers: HeaderMap,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response> {
    let base = base_url(&headers, caller.account().as_str());
    let s = ALL_SCHEMAS
        .iter()
        .find(|s| s.id.eq_ignore_ascii_case(&id))
        .ok_or_else(|| ScimError::not_found(format!("schema '{id}' not found")))?;
    Ok(scim_json(StatusCode::OK, &s.to_json(&base)))
}
