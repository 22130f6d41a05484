//! SCIM 2.0 endpoints (RFC 7644) under `/gateway/ng/api/scim/account/{account}`.

use axum::Router;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post, put};
use serde_json::{Value, json};

use scimgate_domain::scim_service::ReadBack;
use scimgate_domain::store::{ListQuery, StoredResource};
use scimgate_scim::list::{ListParams, Page, SearchRequest, list_response, query_param};
use scimgate_scim::projection::Projection;
use scimgate_scim::schema::{ALL_SCHEMAS, ResourceKind};
use scimgate_scim::stored::{self, etag, related_attribute, to_representation};
use scimgate_scim::{LIST_RESPONSE_URN, ScimError, patch};

use crate::config::Config;
use crate::http::auth::ScimCaller;
use crate::http::body::ScimBody;
use crate::http::cursor::{CursorScope, CursorSeal};
use crate::http::error::{SCIM_JSON, ScimApiError};
use crate::http::group_stream::{self, GroupAnswer};
use crate::http::product_api::{Endpoint, ep};
use crate::state::AppState;

pub use scimgate_scim::list::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};

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

/// The SCIM base URL of the account, for `Location`, `meta.location` and `$ref` (security
/// review item 12): `--public-url` when set; otherwise the request's `Host` (checked to be a
/// plain host and port) over http, and `X-Forwarded-Proto`/`X-Forwarded-Host` only with
/// `--trust-forwarded-for`.
pub fn base_url(config: &Config, headers: &HeaderMap, account: &str) -> String {
    let path = format!("/gateway/ng/api/scim/account/{account}");
    if let Some(public) = &config.public_url {
        return format!("{}{path}", public.as_str().trim_end_matches('/'));
    }
    let header = |name: &str| headers.get(name).and_then(|h| h.to_str().ok()).map(str::trim);
    // Only a well-formed authority (host and port, no user info, no path) is reflected.
    let authority = |v: &str| {
        v.parse::<axum::http::uri::Authority>()
            .ok()
            .filter(|a| !a.as_str().contains('@'))
            .map(|a| a.to_string())
    };
    let forwarded = config.trust_forwarded_for;
    let proto = header("x-forwarded-proto")
        .filter(|_| forwarded)
        .and_then(|p| p.split(',').next())
        .map(str::trim)
        .filter(|p| *p == "https" || *p == "http")
        .unwrap_or("http");
    let host = header("x-forwarded-host")
        .filter(|_| forwarded)
        .and_then(|h| authority(h.split(',').next().unwrap_or_default().trim()))
        .or_else(|| header(header::HOST.as_str()).and_then(authority))
        .unwrap_or_else(|| config.listen.to_string());
    format!("{proto}://{host}{path}")
}

/// A JSON response with the SCIM media type.
pub fn scim_json(status: StatusCode, body: &Value) -> Response {
    let mut res = (status, body.to_string()).into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
    res
}

fn projection(kind: ResourceKind, params: &[(String, String)]) -> Result<Projection> {
    Ok(Projection::parse(kind, query_param(params, "attributes"), query_param(params, "excludedAttributes"))?)
}

fn if_match(headers: &HeaderMap) -> Result<Option<i64>> {
    let header = headers.get(header::IF_MATCH).map(|h| h.to_str().unwrap_or_default());
    Ok(stored::if_match(header)?)
}

fn render(kind: ResourceKind, r: &StoredResource, base: &str, p: &Projection) -> Value {
    let mut m = to_representation(kind, r, base);
    p.apply(kind, &mut m);
    Value::Object(m)
}

fn with_etag(mut res: Response, version: i64) -> Response {
    if let Ok(v) = HeaderValue::from_str(&etag(version)) {
        res.headers_mut().insert(header::ETAG, v);
    }
    res
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
    if has_meta {
        res = with_etag(res, r.version);
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
    let base = base_url(&st.config, &headers, caller.account().as_str());
    Ok(resource_response(StatusCode::CREATED, kind, &created, &base, &p))
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
    let related = p.includes(related_attribute(kind));
    // A group's members are read after the 304 check, page by page (group_stream).
    let members = related && kind == ResourceKind::Group;
    let r = st.scim.get(&caller, kind, &id, related && !members).await?;
    if let Some(inm) = headers.get(header::IF_NONE_MATCH).and_then(|h| h.to_str().ok())
        && stored::if_none_match(inm, r.version)
    {
        return Ok(with_etag(StatusCode::NOT_MODIFIED.into_response(), r.version));
    }
    let base = base_url(&st.config, &headers, caller.account().as_str());
    let r = if members {
        match group_stream::members(st, caller, r, base.clone(), p.clone()).await? {
            GroupAnswer::Whole(r) => r,
            GroupAnswer::Streamed(res) => return Ok(res),
        }
    } else {
        r
    };
    Ok(resource_response(StatusCode::OK, kind, &r, &base, &p))
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
    Ok(resource_response(
        StatusCode::OK,
        kind,
        &r,
        &base_url(&st.config, &headers, caller.account().as_str()),
        &p,
    ))
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
    let asked =
        query_param(&params, "attributes").is_some() || query_param(&params, "excludedAttributes").is_some();
    let read_back = if patch::answers_with_resource(kind, asked) {
        ReadBack::Resource(p.includes(related_attribute(kind)))
    } else {
        ReadBack::Nothing
    };
    let outcome = st.scim.patch(&caller, kind, &id, &body, expected, read_back).await?;
    match outcome.resource {
        Some(r) => Ok(resource_response(
            StatusCode::OK,
            kind,
            &r,
            &base_url(&st.config, &headers, caller.account().as_str()),
            &p,
        )),
        None => Ok(with_etag(StatusCode::NO_CONTENT.into_response(), outcome.version)),
    }
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

async fn list(
    State(st): State<AppState>,
    caller: ScimCaller,
    headers: HeaderMap,
    Query(params): Params,
    kind: ResourceKind,
) -> Result<Response> {
    let p = projection(kind, &params)?;
    let mut list_params = ListParams::from_query(&params)?;
    let sealed = open_cursor(&st, caller.account().as_str(), kind.name(), &mut list_params).await?;
    let query = ListQuery::new(list_params.parse()?, p.includes(related_attribute(kind)));
    let page = st.scim.list(&caller, kind, &query).await?;
    let base = base_url(&st.config, &headers, caller.account().as_str());
    let items = page.items.iter().map(|r| render(kind, r, &base, &p)).collect();
    let mut body = list_response(items, page.total, &query.page, page.next);
    seal_next_cursor(sealed, caller.account().as_str(), kind.name(), &list_params, &mut body);
    Ok(scim_json(StatusCode::OK, &body))
}

/// In cursor mode, replaces the sealed cursor the client sent with the plain position inside
/// it (docs/scim.md "Cursors"); the seal is kept to seal the next one.
async fn open_cursor<'s>(
    st: &'s AppState,
    account: &str,
    endpoint: &str,
    params: &mut ListParams,
) -> Result<Option<&'s CursorSeal>> {
    let Some(sent) = params.cursor.clone() else { return Ok(None) };
    let seal = st.cursors.seal().await?;
    params.cursor = Some(seal.open(&cursor_scope(account, endpoint, params), &sent)?);
    Ok(Some(seal))
}

fn cursor_scope<'a>(account: &'a str, endpoint: &'a str, params: &'a ListParams) -> CursorScope<'a> {
    CursorScope {
        account,
        endpoint,
        filter: params.filter.as_deref(),
        sort_by: params.sort_by.as_deref(),
        sort_order: params.sort_order.as_deref(),
    }
}

/// Seals the answer's `nextCursor`.
fn seal_next_cursor(
    seal: Option<&CursorSeal>,
    account: &str,
    endpoint: &str,
    params: &ListParams,
    body: &mut Value,
) {
    if let (Some(seal), Some(next)) = (seal, body.get_mut("nextCursor"))
        && let Some(plain) = next.as_str()
    {
        *next = Value::String(seal.seal(&cursor_scope(account, endpoint, params), plain));
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
    let search = SearchRequest::parse(&body)?;
    let kinds: Vec<ResourceKind> = match kind {
        Some(k) => vec![k],
        None if search.params.cursor.is_some() => {
            return Err(ScimError::invalid_value(
                "cursor paging is supported on /Users and /Groups, not at the root",
            )
            .into());
        }
        None => vec![ResourceKind::User, ResourceKind::Group],
    };
    let mut params = search.params.clone();
    let sealed = match kind {
        Some(k) => open_cursor(&st, caller.account().as_str(), k.name(), &mut params).await?,
        None => None,
    };
    let mut queries = Vec::with_capacity(kinds.len());
    for k in kinds {
        let p = Projection::from_lists(k, &search.attributes, &search.excluded_attributes)?;
        let query = ListQuery::new(params.parse()?, p.includes(related_attribute(k)));
        queries.push((k, query, p));
    }
    // The answer's page: as asked (index), or the one type's (cursor).
    let page = match &queries[..] {
        [(_, q, _)] => q.page.clone(),
        _ => Page::Index { start_index: search.params.start_index(), count: search.params.count() },
    };
    let pages = st.scim.search(&caller, queries.iter().map(|(k, q, _)| (*k, q.clone())).collect()).await?;
    let base = base_url(&st.config, &headers, caller.account().as_str());
    let mut items = Vec::new();
    let (mut total, mut next) = (0, None);
    for ((k, _, p), result) in queries.iter().zip(&pages) {
        if let Some(found) = result {
            total += found.total;
            next = found.next;
            items.extend(found.items.iter().map(|r| render(*k, r, &base, p)));
        }
    }
    let mut body = list_response(items, total, &page, next);
    if let Some(k) = kind {
        seal_next_cursor(sealed, caller.account().as_str(), k.name(), &params, &mut body);
    }
    Ok(scim_json(StatusCode::OK, &body))
}

/// Limits advertised in `/ServiceProviderConfig` and enforced by `/Bulk`.
pub const BULK_MAX_OPERATIONS: usize = 1000;

/// Whether a query's `attributes` names `securityEvents`.
fn asks_for_security_events(query: Option<&str>) -> bool {
    const FULL: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig:securityEvents";
    url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()).any(|(k, v)| {
        k == "attributes"
            && v.split(',')
                .map(str::trim)
                .any(|a| a.eq_ignore_ascii_case("securityEvents") || a.eq_ignore_ascii_case(FULL))
    })
}

/// `GET /ServiceProviderConfig`. RFC 9967's `securityEvents` is returned when the request's
/// `attributes` names it (as an attribute with `returned: request`): clients that validate
/// the configuration against RFC 7643 alone refuse attributes they do not know (scim2-models
/// does), and would stop at discovery (docs/events.md "`/ServiceProviderConfig`").
async fn service_provider_config(
    State(st): State<AppState>,
    caller: ScimCaller,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let base = base_url(&st.config, &headers, caller.account().as_str());
    let mut body = json!({
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
    });
    if asks_for_security_events(query.as_deref()) {
        body["securityEvents"] = scimgate_scim::set::service_provider_config();
    }
    scim_json(StatusCode::OK, &body)
}

async fn resource_types(State(st): State<AppState>, caller: ScimCaller, headers: HeaderMap) -> Response {
    let base = base_url(&st.config, &headers, caller.account().as_str());
    let items: Vec<Value> =
        [ResourceKind::User, ResourceKind::Group].iter().map(|k| k.resource_type_json(&base)).collect();
    scim_json(
        StatusCode::OK,
        &json!({"schemas": [LIST_RESPONSE_URN], "totalResults": items.len(), "itemsPerPage": items.len(), "startIndex": 1, "Resources": items}),
    )
}

async fn resource_type(
    State(st): State<AppState>,
    caller: ScimCaller,
    headers: HeaderMap,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response> {
    let base = base_url(&st.config, &headers, caller.account().as_str());
    let kind = [ResourceKind::User, ResourceKind::Group]
        .into_iter()
        .find(|k| k.name().eq_ignore_ascii_case(&id))
        .ok_or_else(|| ScimError::not_found(format!("resource type '{id}' not found")))?;
    Ok(scim_json(StatusCode::OK, &kind.resource_type_json(&base)))
}

async fn schemas(State(st): State<AppState>, caller: ScimCaller, headers: HeaderMap) -> Response {
    let base = base_url(&st.config, &headers, caller.account().as_str());
    let items: Vec<Value> = ALL_SCHEMAS.iter().map(|s| s.to_json(&base)).collect();
    scim_json(
        StatusCode::OK,
        &json!({"schemas": [LIST_RESPONSE_URN], "totalResults": items.len(), "itemsPerPage": items.len(), "startIndex": 1, "Resources": items}),
    )
}

async fn schema(
    State(st): State<AppState>,
    caller: ScimCaller,
    headers: HeaderMap,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response> {
    let base = base_url(&st.config, &headers, caller.account().as_str());
    let s = ALL_SCHEMAS
        .iter()
        .find(|s| s.id.eq_ignore_ascii_case(&id))
        .ok_or_else(|| ScimError::not_found(format!("schema '{id}' not found")))?;
    Ok(scim_json(StatusCode::OK, &s.to_json(&base)))
}
