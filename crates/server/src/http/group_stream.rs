//! `GET /Groups/{id}` of a large group, written out page by page (docs/performance.md, "Big
//! groups"): memory stays bounded by one page of members whatever the group's size.
//!
//! A group of at most [`MEMBER_PAGE`] members is answered whole, as every other resource.
//! A larger one is answered with the group's JSON up to `"members":[`, then one page of
//! members at a time in member-id order (each page read from the store when the previous
//! one has been handed to the connection), then the rest of the group. Every page is read
//! while the group is still at the version the answer's `ETag` and `meta.version` name; a
//! membership change in the middle (which raises the version) ends the answer early, as a
//! broken chunked body, so a client never takes a mix of two versions for a whole group.
//! The response holds the request's in-flight slot of its account until the last byte.

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use scimgate_domain::store::{Member, StoredResource};
use scimgate_scim::projection::Projection;
use scimgate_scim::schema::ResourceKind;
use scimgate_scim::stored::{etag, member_value, to_representation};

use crate::http::auth::ScimCaller;
use crate::http::error::{SCIM_JSON, ScimApiError};
use crate::state::AppState;

/// Members per page: per statement read, and the most held at once while a group is
/// written out.
pub const MEMBER_PAGE: u32 = 1_000;

/// What [`members`] answers: the group with all its members (small, or read whole after a
/// change under the first page), or the first page and a way to stream the rest.
pub enum GroupAnswer {
    /// The group, members included, for the usual rendering.
    Whole(StoredResource),
    /// A streamed answer.
    Streamed(Response),
}

/// Reads the group `r` (read without members) 's members for an answer with the projection
/// `p`, which includes `members`.
pub async fn members(
    st: AppState,
    caller: ScimCaller,
    mut r: StoredResource,
    base: String,
    p: Projection,
) -> Result<GroupAnswer, ScimApiError> {
    let Some(first) = st.scim.group_members_page(&caller, &r.id, r.version, None, MEMBER_PAGE).await? else {
        // Changed between the two reads: read it again whole.
        return Ok(GroupAnswer::Whole(st.scim.get(&caller, ResourceKind::Group, &r.id, true).await?));
    };
    if first.len() < MEMBER_PAGE as usize {
        r.members = Some(first);
        return Ok(GroupAnswer::Whole(r));
    }
    let mut doc = to_representation(ResourceKind::Group, &r, &base);
    p.apply(ResourceKind::Group, &mut doc);
    let meta = doc.shift_remove("meta");
    let mut head = Value::Object(doc).to_string();
    head.pop(); // the closing brace
    if head.len() > 1 {
        head.push(',');
    }
    head.push_str("\"members\":[");
    let mut tail = String::from("]");
    if let Some(m) = &meta {
        tail.push_str(",\"meta\":");
        tail.push_str(&m.to_string());
    }
    tail.push('}');
    let version = r.version;
    let stream = Pages {
        st,
        caller,
        group_id: r.id,
        version,
        base,
        p,
        after: None,
        written: false,
        head: Some(head),
        tail: Some(tail),
        first: Some(first),
    };
    let body = Body::from_stream(futures_util::stream::unfold(stream, Pages::next));
    let mut res = (StatusCode::OK, body).into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
    if meta.is_some()
        && let Ok(v) = HeaderValue::from_str(&etag(version))
    {
        res.headers_mut().insert(header::ETAG, v);
    }
    Ok(GroupAnswer::Streamed(res))
}

/// The state of a streamed answer between pages.
struct Pages {
    st: AppState,
    caller: ScimCaller,
    group_id: String,
    version: i64,
    base: String,
    p: Projection,
    /// The last member id written.
    after: Option<String>,
    /// Whether a member has been written (the next one needs a comma).
    written: bool,
    head: Option<String>,
    tail: Option<String>,
    /// The page read before the answer started.
    first: Option<Vec<Member>>,
}

impl Pages {
    async fn next(mut self) -> Option<(Result<Bytes, std::io::Error>, Self)> {
        let tail = self.tail.take()?;
        let page = match self.first.take() {
            Some(page) => page,
            None => {
                let read = self
                    .st
                    .scim
                    .group_members_page(
                        &self.caller,
                        &self.group_id,
                        self.version,
                        self.after.as_deref(),
                        MEMBER_PAGE,
                    )
                    .await;
                match read {
                    Ok(Some(page)) => page,
                    Ok(None) => {
                        tracing::warn!(group = %self.group_id, version = self.version,
                            "group changed while its members were written out; answer cut short");
                        return Some((
                            Err(std::io::Error::other("the group changed while it was written out")),
                            self,
                        ));
                    }
                    Err(e) => {
                        tracing::warn!(group = %self.group_id, error = %e, "reading a page of members failed");
                        return Some((Err(std::io::Error::other(e.to_string())), self));
                    }
                }
            }
        };
        let mut out = self.head.take().unwrap_or_default();
        self.write_page(&page, &mut out);
        if page.len() < MEMBER_PAGE as usize {
            out.push_str(&tail);
        } else {
            self.after = page.last().map(|m| m.value.clone());
            self.tail = Some(tail);
        }
        Some((Ok(Bytes::from(out)), self))
    }

    /// Appends the page's members as the projection shows them (it is applied to a group
    /// that holds only this page, which is what it does to each member of the whole).
    fn write_page(&mut self, page: &[Member], out: &mut String) {
        let mut doc = Map::new();
        doc.insert(
            "members".into(),
            Value::Array(page.iter().map(|m| member_value(m, &self.base)).collect()),
        );
        self.p.apply(ResourceKind::Group, &mut doc);
        let Some(Value::Array(list)) = doc.remove("members") else { return };
        for m in list {
            if self.written {
                out.push(',');
            }
            self.written = true;
            out.push_str(&m.to_string());
        }
    }
}
