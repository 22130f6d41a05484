//! List requests and responses (RFC 7644 §3.4.2, §3.4.3) and cursor paging (RFC 9865): the
//! query parameters of a GET or the members of a `SearchRequest`, validated into a filter, a
//! sort and a page; the opaque cursor codec; and the `ListResponse` body.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

use crate::filter::{self, AttrPath, Filter, MAX_FILTER_DEPTH, MAX_FILTER_LEN};
use crate::resource::get_ci;
use crate::{LIST_RESPONSE_URN, SEARCH_REQUEST_URN, ScimError, ScimType};

/// Default page size.
pub const DEFAULT_PAGE_SIZE: u64 = 100;
/// Largest page size; larger `count` values are lowered to it (RFC 7644 §3.4.2.4).
pub const MAX_PAGE_SIZE: u64 = 1000;

/// Sort order.
#[derive(Debug, Clone)]
pub struct Sort {
    /// The attribute to sort by.
    pub path: AttrPath,
    /// `sortOrder=descending`.
    pub descending: bool,
}

/// Paging: by index (RFC 7644 §3.4.2.4) or by cursor (RFC 9865).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Page {
    /// 1-based `startIndex` and `count`.
    Index {
        /// 1-based start.
        start_index: u64,
        /// Page size (0 = only the total).
        count: u64,
    },
    /// Position after a cursor (`None` = first page).
    Cursor {
        /// Decoded cursor.
        after: Option<CursorPosition>,
        /// Page size.
        count: u64,
    },
}

/// What a cursor encodes: the sequence number of the last row of the previous page when
/// the order is the natural one, else an offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CursorPosition {
    /// Keyset position on the insertion order.
    AfterSeq(i64),
    /// Offset into a sorted result.
    Offset(u64),
}

/// The list options as the client sent them (query parameters or `SearchRequest` members),
/// before validation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListParams {
    /// `filter`.
    pub filter: Option<String>,
    /// `sortBy`.
    pub sort_by: Option<String>,
    /// `sortOrder`.
    pub sort_order: Option<String>,
    /// `startIndex`.
    pub start_index: Option<i64>,
    /// `count`.
    pub count: Option<i64>,
    /// `cursor` (RFC 9865).
    pub cursor: Option<String>,
}

/// A validated list request.
#[derive(Debug, Clone)]
pub struct ListRequest {
    /// Filter, parsed and bounded.
    pub filter: Option<Filter>,
    /// Sort.
    pub sort: Option<Sort>,
    /// Paging.
    pub page: Page,
}

/// A `SearchRequest` body (RFC 7644 §3.4.3).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchRequest {
    /// The list options.
    pub params: ListParams,
    /// `attributes`.
    pub attributes: Vec<String>,
    /// `excludedAttributes`.
    pub excluded_attributes: Vec<String>,
}

/// The value of a query parameter, its name compared case-insensitively.
pub fn query_param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

fn parse_int(name: &str, v: Option<&str>) -> Result<Option<i64>, ScimError> {
    match v.map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) => s
            .parse::<i64>()
            .map(Some)
            .map_err(|_| ScimError::invalid_value(format!("'{name}' must be an integer; got '{s}'"))),
    }
}

fn string_list(v: Option<&Value>, name: &str) -> Result<Vec<String>, ScimError> {
    let bad = || ScimError::invalid_value(format!("'{name}' must be an array of strings"));
    match v {
        None | Some(Value::Null) => Ok(vec![]),
        Some(Value::Array(items)) => {
            items.iter().map(|i| i.as_str().map(str::to_string).ok_or_else(bad)).collect()
        }
        Some(Value::String(s)) => Ok(s.split(',').map(|x| x.trim().to_string()).collect()),
        Some(_) => Err(bad()),
    }
}

impl ListParams {
    /// From the query parameters of a GET (names case-insensitive).
    pub fn from_query(params: &[(String, String)]) -> Result<Self, ScimError> {
        let text = |name: &str| query_param(params, name).map(str::to_string);
        Ok(Self {
            filter: text("filter"),
            sort_by: text("sortBy"),
            sort_order: text("sortOrder"),
            start_index: parse_int("startIndex", query_param(params, "startIndex"))?,
            count: parse_int("count", query_param(params, "count"))?,
            cursor: text("cursor"),
        })
    }

    /// The page size asked for, bounded to [`MAX_PAGE_SIZE`] (negative counts are 0).
    pub fn count(&self) -> u64 {
        self.count.map_or(DEFAULT_PAGE_SIZE, |c| u64::try_from(c.max(0)).unwrap_or(0)).min(MAX_PAGE_SIZE)
    }

    /// The 1-based start; below 1 is interpreted as 1 (RFC 7644 §3.4.2.4).
    pub fn start_index(&self) -> u64 {
        u64::try_from(self.start_index.unwrap_or(1).max(1)).unwrap_or(1)
    }

    /// Validates the options into a request.
    pub fn parse(&self) -> Result<ListRequest, ScimError> {
        let filter = match self.filter.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(f) => {
                let f = filter::parse_filter(f).map_err(|e| {
                    ScimError::invalid_filter(format!(
                        "invalid filter: {e} (filters are limited to {MAX_FILTER_LEN} bytes and nesting depth {MAX_FILTER_DEPTH})"
                    ))
                })?;
                // The same filter may run on Users and Groups (root `/.search`).
                filter::check_filter_limits_any_kind(&f)?;
                Some(f)
            }
        };
        let sort = match self.sort_by.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(s) => {
                let path = filter::parse_attribute_list(s)
                    .ok()
                    .filter(|l| l.len() == 1)
                    .and_then(|mut l| l.pop())
                    .ok_or_else(|| {
                        ScimError::invalid_value(format!("sortBy '{s}' is not an attribute path"))
                    })?;
                let descending = match self.sort_order.as_deref().map(str::trim) {
                    None | Some("") => false,
                    Some(v) if v.eq_ignore_ascii_case("ascending") => false,
                    Some(v) if v.eq_ignore_ascii_case("descending") => true,
                    Some(v) => {
                        return Err(ScimError::invalid_value(format!(
                            "sortOrder must be \"ascending\" or \"descending\"; got '{v}'"
                        )));
                    }
                };
                Some(Sort { path, descending })
            }
        };
        let count = self.count();
        let page = match &self.cursor {
            Some(c) => Page::Cursor { after: decode_cursor(c)?, count },
            None => Page::Index { start_index: self.start_index(), count },
        };
        Ok(ListRequest { filter, sort, page })
    }
}

impl SearchRequest {
    /// Parses a `POST .search` body: an object whose `schemas`, when present, names the
    /// SearchRequest URN; member names case-insensitive; wrong types are 400.
    pub fn parse(body: &Value) -> Result<Self, ScimError> {
        let Some(obj) = body.as_object() else {
            return Err(ScimError::invalid_syntax("the search body must be a SearchRequest object"));
        };
        if let Some(s) = get_ci(obj, "schemas") {
            let ok = s.as_array().is_some_and(|l| {
                l.iter().any(|x| x.as_str().is_some_and(|x| x.eq_ignore_ascii_case(SEARCH_REQUEST_URN)))
            });
            if !ok {
                return Err(ScimError::invalid_syntax(format!(
                    "'schemas' must contain '{SEARCH_REQUEST_URN}'"
                )));
            }
        }
        let text = |k: &str| -> Result<Option<String>, ScimError> {
            match get_ci(obj, k) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(ScimError::invalid_value(format!("'{k}' must be a string"))),
            }
        };
        let int = |k: &str| -> Result<Option<i64>, ScimError> {
            match get_ci(obj, k) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::Number(n)) => n
                    .as_i64()
                    .map(Some)
                    .ok_or_else(|| ScimError::invalid_value(format!("'{k}' must be an integer"))),
                Some(_) => Err(ScimError::invalid_value(format!("'{k}' must be an integer"))),
            }
        };
        let params = ListParams {
            filter: text("filter")?,
            sort_by: text("sortBy")?,
            sort_order: text("sortOrder")?,
            start_index: int("startIndex")?,
            count: int("count")?,
            cursor: text("cursor")?,
        };
        Ok(Self {
            params,
            attributes: string_list(get_ci(obj, "attributes"), "attributes")?,
            excluded_attributes: string_list(get_ci(obj, "excludedAttributes"), "excludedAttributes")?,
        })
    }
}

impl Page {
    /// At the root `.search`, resource types are paged one after the other: the part of
    /// this page left for the next type, after `seen` matches of the earlier types of which
    /// `taken` are already on the page.
    pub fn after_earlier_types(&self, seen: u64, taken: usize) -> Page {
        match *self {
            Page::Index { start_index, count } => Page::Index {
                start_index: (start_index - 1).saturating_sub(seen) + 1,
                count: count.saturating_sub(taken as u64),
            },
            ref cursor => cursor.clone(),
        }
    }
}

/// The opaque cursor of a position (RFC 9865).
pub fn encode_cursor(c: CursorPosition) -> String {
    match c {
        CursorPosition::AfterSeq(s) => URL_SAFE_NO_PAD.encode(format!("s{s}")),
        CursorPosition::Offset(o) => URL_SAFE_NO_PAD.encode(format!("o{o}")),
    }
}

/// Decodes a cursor this server issued; an empty one is the first page; anything else is
/// 400 `invalidCursor`.
pub fn decode_cursor(c: &str) -> Result<Option<CursorPosition>, ScimError> {
    let c = c.trim();
    if c.is_empty() {
        return Ok(None);
    }
    let bad = || {
        ScimError::bad_request(ScimType::InvalidCursor, format!("cursor '{c}' was not issued by this server"))
    };
    let raw = URL_SAFE_NO_PAD.decode(c).map_err(|_| bad())?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    // `strip_prefix`, not `split_at(1)`: the decoded text may start with a multi-byte
    // character (security review item 7).
    if let Some(n) = text.strip_prefix('s') {
        n.parse().map(|v| Some(CursorPosition::AfterSeq(v))).map_err(|_| bad())
    } else if let Some(n) = text.strip_prefix('o') {
        n.parse().map(|v| Some(CursorPosition::Offset(v))).map_err(|_| bad())
    } else {
        Err(bad())
    }
}

/// A `ListResponse` (RFC 7644 §3.4.2): `startIndex` in index mode, `nextCursor` in cursor
/// mode when there is a next page, and no `Resources` when `count` was 0.
pub fn list_response(items: Vec<Value>, total: u64, page: &Page, next: Option<CursorPosition>) -> Value {
    let mut out = Map::new();
    out.insert("schemas".into(), json!([LIST_RESPONSE_URN]));
    out.insert("totalResults".into(), json!(total));
    out.insert("itemsPerPage".into(), json!(items.len()));
    match page {
        Page::Index { start_index, .. } => {
            out.insert("startIndex".into(), json!(start_index));
        }
        Page::Cursor { .. } => {
            if let Some(n) = next {
                out.insert("nextCursor".into(), json!(encode_cursor(n)));
            }
        }
    }
    let count_zero = matches!(page, Page::Index { count: 0, .. } | Page::Cursor { count: 0, .. });
    if !count_zero {
        out.insert("Resources".into(), Value::Array(items));
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn query_parameters_are_case_insensitive_and_bounded() {
        let p = ListParams::from_query(&q(&[
            ("FILTER", "userName eq \"a\""),
            ("Count", "5000"),
            ("startindex", "-3"),
        ]))
        .expect("params");
        let r = p.parse().expect("request");
        assert!(r.filter.is_some());
        assert_eq!(r.page, Page::Index { start_index: 1, count: MAX_PAGE_SIZE });
        assert_eq!(
            ListParams::default().parse().expect("defaults").page,
            Page::Index { start_index: 1, count: 100 }
        );
        assert_eq!(ListParams::from_query(&q(&[("count", "-1")])).expect("p").count(), 0);
        let e = ListParams::from_query(&q(&[("count", "ten")])).expect_err("not a number");
        assert!(e.detail.contains("'count' must be an integer"), "{}", e.detail);
    }

    #[test]
    fn bad_filters_sorts_and_cursors_are_400s_with_their_type() {
        let bad_filter = ListParams { filter: Some("userName eq".into()), ..Default::default() };
        assert_eq!(bad_filter.parse().expect_err("filter").scim_type, Some(ScimType::InvalidFilter));
        let bad_sort = ListParams { sort_by: Some("a b".into()), ..Default::default() };
        assert_eq!(bad_sort.parse().expect_err("sort").scim_type, Some(ScimType::InvalidValue));
        let bad_order = ListParams {
            sort_by: Some("userName".into()),
            sort_order: Some("up".into()),
            ..Default::default()
        };
        assert!(bad_order.parse().expect_err("order").detail.contains("sortOrder"));
        let desc = ListParams {
            sort_by: Some("userName".into()),
            sort_order: Some("DESCENDING".into()),
            ..Default::default()
        };
        assert!(desc.parse().expect("sort").sort.expect("sort").descending);
        for c in ["%%%", "eDk", "cQ"] {
            let p = ListParams { cursor: Some(c.into()), ..Default::default() };
            assert_eq!(p.parse().expect_err(c).scim_type, Some(ScimType::InvalidCursor), "{c}");
        }
    }

    #[test]
    fn cursors_round_trip_and_empty_is_the_first_page() {
        for c in [CursorPosition::AfterSeq(42), CursorPosition::Offset(7), CursorPosition::AfterSeq(-1)] {
            assert_eq!(decode_cursor(&encode_cursor(c)).expect("decodes"), Some(c));
        }
        assert_eq!(decode_cursor("  ").expect("empty"), None);
        let p = ListParams { cursor: Some(String::new()), count: Some(2), ..Default::default() };
        assert_eq!(p.parse().expect("first page").page, Page::Cursor { after: None, count: 2 });
    }

    /// Security review item 7 (same class, found in the audit): a cursor that decodes to text
    /// starting with a multi-byte character is 400 `invalidCursor`, not a panic.
    #[test]
    fn a_cursor_starting_with_a_multi_byte_character_is_invalid() {
        for text in ["é1", "€", "𝄞42", "sé", "o€"] {
            let c = URL_SAFE_NO_PAD.encode(text);
            let e = std::panic::catch_unwind(|| decode_cursor(&c))
                .unwrap_or_else(|_| panic!("panicked on {text:?}"))
                .expect_err("not ours");
            assert_eq!(e.scim_type, Some(ScimType::InvalidCursor), "{text:?}");
        }
    }

    /// Security review item 3: a list filter has at most 20 comparisons and at most 4
    /// comparisons or `[filters]` on multi-valued attributes (each is an `EXISTS` subquery);
    /// past either, 400 `invalidFilter` naming the limit.
    #[test]
    fn list_filters_are_limited_in_comparisons_and_multi_valued_terms() {
        let parse = |f: String| ListParams { filter: Some(f), ..Default::default() }.parse();
        let join = |terms: Vec<String>| terms.join(" or ");
        let plain = |n: usize| (0..n).map(|i| format!("userName eq \"u{i}\"")).collect::<Vec<_>>();
        let emails = |n: usize| (0..n).map(|i| format!("emails co \"e{i}\"")).collect::<Vec<_>>();
        let refused = |f: String, wanted: &str| {
            let e = parse(f.clone()).expect_err(&f);
            assert_eq!((e.status, e.scim_type), (400, Some(ScimType::InvalidFilter)), "{f}");
            assert!(e.detail.contains(wanted), "{f}: {}", e.detail);
        };
        assert!(parse(join(plain(20))).is_ok());
        refused(join(plain(21)), "the filter has 21 comparisons; at most 20 are allowed");
        // The review's filters: 50 and 12 `emails co` terms.
        refused(join(emails(50)), "50 comparisons");
        refused(join(emails(12)), "at most 4 are allowed");
        // Four multi-valued terms of any form pass, a fifth does not.
        let four = [
            r#"emails co "a""#,
            r#"emails[type eq "work" and value co "x"]"#,
            r#"phoneNumbers.value eq "1""#,
            r#"urn:ietf:params:scim:schemas:core:2.0:User:addresses.locality eq "x""#,
        ];
        let mut terms: Vec<String> = four.iter().map(|t| t.to_string()).collect();
        terms.extend(plain(10));
        terms.push("name.givenName sw \"a\" and not (title pr)".into());
        assert!(parse(join(terms.clone())).is_ok(), "{}", join(terms.clone()));
        for fifth in [
            r#"emails pr"#,
            r#"groups.value eq "g""#,
            r#"members.value eq "m""#,
            r#"schemas eq "urn:x""#,
            r#"roles[value eq "r"]"#,
            r#"not (ims.type eq "xmpp")"#,
        ] {
            let mut t = terms.clone();
            t.push(fifth.into());
            refused(join(t), "at most 4 are allowed");
        }
    }

    #[test]
    fn search_requests() {
        let body = json!({"schemas": [SEARCH_REQUEST_URN], "filter": "active eq true", "count": 3,
                          "attributes": ["userName"], "excludedAttributes": "emails, name"});
        let s = SearchRequest::parse(&body).expect("search");
        assert_eq!(s.params.count, Some(3));
        assert_eq!(s.attributes, vec!["userName".to_string()]);
        assert_eq!(s.excluded_attributes, vec!["emails".to_string(), "name".into()]);
        assert!(SearchRequest::parse(&json!([])).is_err());
        assert!(SearchRequest::parse(&json!({"schemas": ["urn:x"]})).is_err());
        assert!(SearchRequest::parse(&json!({"count": "3"})).is_err());
        assert!(SearchRequest::parse(&json!({"filter": 1})).is_err());
        assert!(SearchRequest::parse(&json!({"attributes": [1]})).is_err());
    }

    #[test]
    fn root_paging_continues_over_the_next_type() {
        let page = Page::Index { start_index: 8, count: 5 };
        // 10 users seen, 3 of them (8..10) on the page: groups start at their 1st, 2 left.
        assert_eq!(page.after_earlier_types(10, 3), Page::Index { start_index: 1, count: 2 });
        // 5 users seen, none on the page: groups start at their 3rd.
        assert_eq!(page.after_earlier_types(5, 0), Page::Index { start_index: 3, count: 5 });
    }

    #[test]
    fn list_responses() {
        let idx = list_response(vec![json!({"id": "a"})], 9, &Page::Index { start_index: 2, count: 1 }, None);
        assert_eq!(idx["startIndex"], 2);
        assert_eq!(idx["itemsPerPage"], 1);
        assert_eq!(idx["Resources"][0]["id"], "a");
        let cur = list_response(
            vec![],
            9,
            &Page::Cursor { after: None, count: 1 },
            Some(CursorPosition::AfterSeq(3)),
        );
        assert_eq!(cur["nextCursor"], encode_cursor(CursorPosition::AfterSeq(3)));
        assert!(cur.get("startIndex").is_none());
        let zero = list_response(vec![], 9, &Page::Index { start_index: 1, count: 0 }, None);
        assert!(zero.get("Resources").is_none());
        assert_eq!(zero["totalResults"], 9);
    }
}
