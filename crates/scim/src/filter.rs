//! The SCIM filter grammar (RFC 7644 §3.4.2.2), PATCH paths (§3.5.2) and attribute lists
//! (§3.4.2.5), with an in-memory evaluator for PATCH value filters.
//!
//! A small recursive-descent parser: the grammar is tiny and SCIM-specific (URN prefixes
//! that contain dots and colons, case-insensitive keywords), and hand-written code gives
//! exact error offsets. Input length and nesting depth are bounded before any recursion can
//! grow, so hostile input cannot exhaust the stack.

use std::cmp::Ordering;
use std::fmt;

use serde_json::Value;

use crate::ScimError;
use crate::schema::{ResourceKind, resolve};

/// Maximum accepted filter / path text length in bytes.
pub const MAX_FILTER_LEN: usize = 4096;
/// Maximum nesting depth (parentheses, `not`, and `[...]` value filters each add one).
pub const MAX_FILTER_DEPTH: usize = 16;
/// Most comparisons (`attr op value` and `attr pr`, inside `[...]` too) in one filter: of a
/// list request, or of a PATCH path's value filter (security review items 2 and 3: each one
/// is work per row, or per element of every operation).
pub const MAX_FILTER_COMPARISONS: usize = 20;
/// Most comparisons or `[filters]` on multi-valued attributes (`emails co "x"`,
/// `emails.value eq "x"`, `emails[type eq "work" and value co "x"]`, `members.value eq`,
/// `schemas eq`: one each) in one list filter: each is an `EXISTS` subquery per candidate row
/// (security review item 3).
pub const MAX_FILTER_MULTI_VALUED: usize = 4;

/// `[uri:]name[.subAttr]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AttrPath {
    /// Schema URN prefix when given (no trailing colon).
    pub uri: Option<String>,
    /// Attribute name as written (callers compare case-insensitively).
    pub name: String,
    /// Sub-attribute, e.g. `givenName` in `name.givenName`.
    pub sub_attr: Option<String>,
}

/// Comparison operators (RFC 7644 Table 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    /// equal
    Eq,
    /// not equal
    Ne,
    /// contains
    Co,
    /// starts with
    Sw,
    /// ends with
    Ew,
    /// greater than
    Gt,
    /// greater than or equal
    Ge,
    /// less than
    Lt,
    /// less than or equal
    Le,
}

impl CompareOp {
    fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Co => "co",
            CompareOp::Sw => "sw",
            CompareOp::Ew => "ew",
            CompareOp::Gt => "gt",
            CompareOp::Ge => "ge",
            CompareOp::Lt => "lt",
            CompareOp::Le => "le",
        }
    }
}

/// A comparison value (`compValue`).
#[derive(Debug, Clone, PartialEq)]
pub enum CompValue {
    /// `null`
    Null,
    /// `true` / `false`
    Bool(bool),
    /// A JSON number.
    Number(serde_json::Number),
    /// A JSON string.
    String(String),
}

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// `attrPath op value`
    Compare {
        /// The attribute.
        path: AttrPath,
        /// The operator.
        op: CompareOp,
        /// The value.
        value: CompValue,
    },
    /// `attrPath pr`
    Present(AttrPath),
    /// `a and b`
    And(Box<Filter>, Box<Filter>),
    /// `a or b`
    Or(Box<Filter>, Box<Filter>),
    /// `not (a)`
    Not(Box<Filter>),
    /// `emails[type eq "work"]`: `filter` is relative to each element.
    ValuePath {
        /// The multi-valued attribute (no sub-attribute).
        path: AttrPath,
        /// The element filter.
        filter: Box<Filter>,
    },
}

/// A PATCH `path`: `attrPath` or `valuePath [ "." subAttr ]`.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    /// The attribute (with its sub-attribute for `name.givenName`).
    pub attr: AttrPath,
    /// The value filter of `emails[type eq "work"]`.
    pub filter: Option<Filter>,
    /// `value` in `emails[type eq "work"].value`.
    pub sub_attr: Option<String>,
}

/// A syntax error with the byte offset where it was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ParseError {
    /// What was expected.
    pub message: String,
    /// Byte offset in the input.
    pub offset: usize,
}

/// Parses a filter (RFC 7644 §3.4.2.2).
pub fn parse_filter(input: &str) -> Result<Filter, ParseError> {
    let mut p = Parser::new(input)?;
    let f = p.or_expr(false)?;
    p.end()?;
    Ok(f)
}

/// Parses a PATCH path (RFC 7644 §3.5.2).
pub fn parse_patch_path(input: &str) -> Result<PatchPath, ParseError> {
    let mut p = Parser::new(input)?;
    p.ws();
    let attr = p.attr_path()?;
    let mut path = PatchPath { attr, filter: None, sub_attr: None };
    if p.peek() == Some(b'[') {
        if path.attr.sub_attr.is_some() {
            return Err(p.err("a [filter] must follow the attribute name, not a sub-attribute"));
        }
        p.pos += 1;
        p.enter()?;
        let f = p.or_expr(true)?;
        p.ws();
        p.expect(b']', "']' closing the value filter")?;
        path.filter = Some(f);
        if p.peek() == Some(b'.') {
            p.pos += 1;
            let start = p.pos;
            let name = p.name_token();
            if !valid_name(name) {
                return Err(ParseError {
                    message: "expected a sub-attribute name after '.'".into(),
                    offset: start,
                });
            }
            path.sub_attr = Some(name.to_string());
        }
    }
    p.end()?;
    Ok(path)
}

/// Parses `attributes` / `excludedAttributes`: comma-separated attribute paths.
pub fn parse_attribute_list(input: &str) -> Result<Vec<AttrPath>, ParseError> {
    if input.len() > MAX_FILTER_LEN {
        return Err(too_long());
    }
    let mut out = Vec::new();
    let mut offset = 0;
    for item in input.split(',') {
        let trimmed = item.trim();
        let lead = item.len() - item.trim_start().len();
        if trimmed.is_empty() {
            return Err(ParseError { message: "empty attribute name in list".into(), offset });
        }
        let path = split_attr_path(trimmed).map_err(|m| ParseError { message: m, offset: offset + lead })?;
        out.push(path);
        offset += item.len() + 1;
    }
    Ok(out)
}

fn too_long() -> ParseError {
    ParseError { message: format!("longer than the limit of {MAX_FILTER_LEN} bytes"), offset: MAX_FILTER_LEN }
}

fn valid_name(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '$' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Splits `[urn:...:]name[.sub]`. The URN is everything up to the last ':' (attribute names
/// cannot contain ':'; URNs contain dots such as `2.0`).
fn split_attr_path(token: &str) -> Result<AttrPath, String> {
    // Bytes, not `token[..4]`: an attribute list is user text, and byte 4 can fall inside a
    // character (security review item 7).
    let (uri, rest) = if token.len() > 4 && token.as_bytes()[..4].eq_ignore_ascii_case(b"urn:") {
        match token.rfind(':') {
            Some(i) if i > 4 && i + 1 < token.len() => (Some(token[..i].to_string()), &token[i + 1..]),
            _ => return Err(format!("'{token}' is not a valid URN-qualified attribute")),
        }
    } else {
        (None, token)
    };
    let mut parts = rest.split('.');
    let name = parts.next().unwrap_or_default();
    let sub = parts.next();
    if parts.next().is_some() {
        return Err(format!("'{token}' has too many '.' parts (attribute.subAttribute at most)"));
    }
    if !valid_name(name) {
        return Err(format!("'{rest}' is not a valid attribute name"));
    }
    if let Some(s) = sub
        && !valid_name(s)
    {
        return Err(format!("'{s}' is not a valid sub-attribute name"));
    }
    Ok(AttrPath { uri, name: name.to_string(), sub_attr: sub.map(str::to_string) })
}

struct Parser<'a> {
    s: &'a str,
    b: &'a [u8],
    pos: usize,
    depth: usize,
}

impl<'a> Parser<'a> {
    fn new(s: &'a str) -> Result<Self, ParseError> {
        if s.len() > MAX_FILTER_LEN {
            return Err(too_long());
        }
        if s.trim().is_empty() {
            return Err(ParseError { message: "empty".into(), offset: 0 });
        }
        Ok(Self { s, b: s.as_bytes(), pos: 0, depth: 0 })
    }

    /// The input from `pos` on, starting at the character `pos` falls in (the parser steps
    /// over bytes; it must never slice inside a character, security review item 7).
    fn rest(&self) -> &'a str {
        let start = (0..=self.pos.min(self.s.len())).rev().find(|i| self.s.is_char_boundary(*i)).unwrap_or(0);
        self.s.get(start..).unwrap_or_default()
    }

    fn err(&self, what: &str) -> ParseError {
        let found = match self.peek() {
            None => "end of input".to_string(),
            Some(_) => format!("'{}'", self.rest().chars().take(12).collect::<String>()),
        };
        ParseError {
            message: format!("expected {what} at offset {}, found {found}", self.pos),
            offset: self.pos,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn expect(&mut self, c: u8, what: &str) -> Result<(), ParseError> {
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.err(what))
        }
    }

    fn end(&mut self) -> Result<(), ParseError> {
        self.ws();
        if self.pos == self.b.len() { Ok(()) } else { Err(self.err("end of input (or 'and' / 'or')")) }
    }

    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_FILTER_DEPTH {
            return Err(ParseError {
                message: format!("nesting deeper than the limit of {MAX_FILTER_DEPTH}"),
                offset: self.pos,
            });
        }
        Ok(())
    }

    /// A keyword at the current position (case-insensitive, followed by a non-name byte).
    /// Compares bytes: `pos + kw.len()` can fall inside a multi-byte character.
    fn keyword(&self, kw: &str) -> bool {
        let end = self.pos + kw.len();
        end <= self.b.len()
            && self.b[self.pos..end].eq_ignore_ascii_case(kw.as_bytes())
            && !self.b.get(end).is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'-')
    }

    fn or_expr(&mut self, in_value: bool) -> Result<Filter, ParseError> {
        let mut left = self.and_expr(in_value)?;
        loop {
            let save = self.pos;
            self.ws();
            if self.pos > save && self.keyword("or") {
                self.pos += 2;
                self.ws();
                let right = self.and_expr(in_value)?;
                left = Filter::Or(Box::new(left), Box::new(right));
            } else {
                self.pos = save;
                return Ok(left);
            }
        }
    }

    fn and_expr(&mut self, in_value: bool) -> Result<Filter, ParseError> {
        let mut left = self.unary(in_value)?;
        loop {
            let save = self.pos;
            self.ws();
            if self.pos > save && self.keyword("and") {
                self.pos += 3;
                self.ws();
                let right = self.unary(in_value)?;
                left = Filter::And(Box::new(left), Box::new(right));
            } else {
                self.pos = save;
                return Ok(left);
            }
        }
    }

    fn unary(&mut self, in_value: bool) -> Result<Filter, ParseError> {
        self.ws();
        if self.keyword("not") {
            let save = self.pos;
            self.pos += 3;
            self.ws();
            if self.peek() == Some(b'(') {
                self.enter()?;
                let inner = self.group(in_value)?;
                self.depth -= 1;
                return Ok(Filter::Not(Box::new(inner)));
            }
            // `not` is also a valid attribute name (`not pr`, `not.x eq 1`, `not[...]`), and
            // an attribute expression never goes on with '(', so this is not ambiguous.
            self.pos = save;
            let spaced = matches!(self.b.get(save + 3), None | Some(b' ' | b'\t' | b'\n' | b'\r'));
            return match self.attr_expr(in_value) {
                Err(_) if spaced => {
                    self.pos = save;
                    Err(self.err("'(' after 'not'"))
                }
                other => other,
            };
        }
        if self.peek() == Some(b'(') {
            self.enter()?;
            let inner = self.group(in_value)?;
            self.depth -= 1;
            return Ok(inner);
        }
        self.attr_expr(in_value)
    }

    fn group(&mut self, in_value: bool) -> Result<Filter, ParseError> {
        self.expect(b'(', "'('")?;
        let inner = self.or_expr(in_value)?;
        self.ws();
        self.expect(b')', "')'")?;
        Ok(inner)
    }

    fn name_token(&mut self) -> &'a str {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'$' | b':' | b'.') {
                self.pos += 1;
            } else {
                break;
            }
        }
        // Only ASCII bytes were stepped over, so this is a whole-character slice; `get` keeps
        // a start inside a character an empty token (an error) rather than a panic.
        self.s.get(start..self.pos).unwrap_or_default()
    }

    fn attr_path(&mut self) -> Result<AttrPath, ParseError> {
        let start = self.pos;
        let token = self.name_token();
        if token.is_empty() {
            return Err(self.err("an attribute name"));
        }
        split_attr_path(token).map_err(|m| ParseError { message: m, offset: start })
    }

    fn attr_expr(&mut self, in_value: bool) -> Result<Filter, ParseError> {
        let path = self.attr_path()?;
        if self.peek() == Some(b'[') {
            if in_value {
                return Err(self.err("a comparison (value filters cannot be nested)"));
            }
            if path.sub_attr.is_some() {
                return Err(self.err("a comparison operator ([filter] goes after the attribute name)"));
            }
            self.pos += 1;
            self.enter()?;
            let inner = self.or_expr(true)?;
            self.ws();
            self.expect(b']', "']' closing the value filter")?;
            self.depth -= 1;
            return Ok(Filter::ValuePath { path, filter: Box::new(inner) });
        }
        let before = self.pos;
        self.ws();
        if self.pos == before {
            return Err(self.err("a space and an operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr)"));
        }
        let op_start = self.pos;
        let op = ["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "pr"]
            .into_iter()
            .find(|k| self.keyword(k))
            .ok_or_else(|| self.err("a comparison operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr)"))?;
        self.pos += 2;
        let op = match op {
            "pr" => return Ok(Filter::Present(path)),
            "eq" => CompareOp::Eq,
            "ne" => CompareOp::Ne,
            "co" => CompareOp::Co,
            "sw" => CompareOp::Sw,
            "ew" => CompareOp::Ew,
            "gt" => CompareOp::Gt,
            "ge" => CompareOp::Ge,
            "lt" => CompareOp::Lt,
            _ => CompareOp::Le,
        };
        let before = self.pos;
        self.ws();
        if self.pos == before {
            return Err(self.err("a space and a value after the operator"));
        }
        let value_start = self.pos;
        let value = self.comp_value()?;
        let bad = match (op, &value) {
            (CompareOp::Co | CompareOp::Sw | CompareOp::Ew, v) if !matches!(v, CompValue::String(_)) => {
                Some("co, sw and ew need a string value")
            }
            (
                CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le,
                CompValue::Bool(_) | CompValue::Null,
            ) => Some("gt, ge, lt and le cannot compare booleans or null"),
            _ => None,
        };
        if let Some(m) = bad {
            return Err(ParseError {
                message: format!("{m} (operator at offset {op_start})"),
                offset: value_start,
            });
        }
        Ok(Filter::Compare { path, op, value })
    }

    fn comp_value(&mut self) -> Result<CompValue, ParseError> {
        let start = self.pos;
        match self.peek() {
            Some(b'"') => {
                self.pos += 1;
                loop {
                    match self.peek() {
                        None => {
                            return Err(ParseError { message: "unterminated string".into(), offset: start });
                        }
                        Some(b'\\') => self.pos += 2,
                        Some(b'"') => {
                            self.pos += 1;
                            break;
                        }
                        Some(_) => self.pos += 1,
                    }
                }
                if self.pos > self.b.len() {
                    return Err(ParseError { message: "unterminated string".into(), offset: start });
                }
                // Bytes: a backslash can step into a multi-byte character.
                serde_json::from_slice::<String>(&self.b[start..self.pos])
                    .map(CompValue::String)
                    .map_err(|e| ParseError { message: format!("invalid string: {e}"), offset: start })
            }
            Some(c) if c == b'-' || c.is_ascii_digit() => {
                while self
                    .peek()
                    .is_some_and(|c| c.is_ascii_digit() || matches!(c, b'-' | b'+' | b'.' | b'e' | b'E'))
                {
                    self.pos += 1;
                }
                serde_json::from_slice::<serde_json::Number>(&self.b[start..self.pos])
                    .map(CompValue::Number)
                    .map_err(|_| ParseError { message: "invalid number".into(), offset: start })
            }
            _ => {
                for (kw, v) in [
                    ("true", CompValue::Bool(true)),
                    ("false", CompValue::Bool(false)),
                    ("null", CompValue::Null),
                ] {
                    if self.keyword(kw) {
                        self.pos += kw.len();
                        return Ok(v);
                    }
                }
                Err(self.err("a value: a \"string\", a number, true, false or null"))
            }
        }
    }
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(u) = &self.uri {
            write!(f, "{u}:")?;
        }
        f.write_str(&self.name)?;
        if let Some(s) = &self.sub_attr {
            write!(f, ".{s}")?;
        }
        Ok(())
    }
}

impl fmt::Display for CompValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CompValue::Null => f.write_str("null"),
            CompValue::Bool(b) => write!(f, "{b}"),
            CompValue::Number(n) => write!(f, "{n}"),
            CompValue::String(s) => write!(f, "{}", Value::String(s.clone())),
        }
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Filter::Compare { path, op, value } => write!(f, "{path} {} {value}", op.as_str()),
            Filter::Present(p) => write!(f, "{p} pr"),
            Filter::And(a, b) => write!(f, "({a} and {b})"),
            Filter::Or(a, b) => write!(f, "({a} or {b})"),
            Filter::Not(a) => write!(f, "not ({a})"),
            Filter::ValuePath { path, filter } => write!(f, "{path}[{filter}]"),
        }
    }
}

fn get_ci<'v>(v: &'v Value, key: &str) -> Option<&'v Value> {
    let o = v.as_object()?;
    o.get(key).or_else(|| o.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v))
}

fn container<'v>(value: &'v Value, path: &AttrPath) -> Option<&'v Value> {
    const CORE: &[u8] = b"urn:ietf:params:scim:schemas:core:";
    match &path.uri {
        Some(u) if !u.as_bytes().get(..CORE.len()).is_some_and(|p| p.eq_ignore_ascii_case(CORE)) => {
            get_ci(value, u)
        }
        _ => Some(value),
    }
}

/// Whether `f` holds for one of the values a path names in `value` (multi-valued attributes
/// flattened). Allocates nothing: PATCH evaluates filters element by element (security
/// review item 2).
fn any_value_at(value: &Value, path: &AttrPath, f: impl FnMut(&Value) -> bool) -> bool {
    let Some(attr) = container(value, path).and_then(|c| get_ci(c, &path.name)) else { return false };
    let items = match attr {
        Value::Array(a) => a.as_slice(),
        other => std::slice::from_ref(other),
    };
    items
        .iter()
        .filter_map(|i| match (&path.sub_attr, i) {
            (Some(s), _) => get_ci(i, s),
            (None, Value::Object(_)) => get_ci(i, "value"),
            (None, other) => Some(other),
        })
        .filter(|v| !v.is_null())
        .any(f)
}

fn is_present(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        _ => true,
    }
}

fn compare_one(actual: &Value, op: CompareOp, want: &CompValue, case_exact: bool) -> bool {
    let ord = |o: Ordering| match op {
        CompareOp::Eq => o == Ordering::Equal,
        CompareOp::Gt => o == Ordering::Greater,
        CompareOp::Ge => o != Ordering::Less,
        CompareOp::Lt => o == Ordering::Less,
        CompareOp::Le => o != Ordering::Greater,
        _ => false,
    };
    match (actual, want) {
        (Value::String(a), CompValue::String(w)) => {
            if case_exact {
                match op {
                    CompareOp::Co => a.contains(w.as_str()),
                    CompareOp::Sw => a.starts_with(w.as_str()),
                    CompareOp::Ew => a.ends_with(w.as_str()),
                    _ => ord(a.as_str().cmp(w.as_str())),
                }
            } else if a.is_ascii() && w.is_ascii() {
                // What `to_lowercase` on both gives, without the two copies.
                let (a, w) = (a.as_bytes(), w.as_bytes());
                match op {
                    CompareOp::Co => w.is_empty() || a.windows(w.len()).any(|x| x.eq_ignore_ascii_case(w)),
                    CompareOp::Sw => a.len() >= w.len() && a[..w.len()].eq_ignore_ascii_case(w),
                    CompareOp::Ew => a.len() >= w.len() && a[a.len() - w.len()..].eq_ignore_ascii_case(w),
                    _ => ord(a.iter().map(u8::to_ascii_lowercase).cmp(w.iter().map(u8::to_ascii_lowercase))),
                }
            } else {
                let (a, w) = (a.to_lowercase(), w.to_lowercase());
                match op {
                    CompareOp::Co => a.contains(&w),
                    CompareOp::Sw => a.starts_with(&w),
                    CompareOp::Ew => a.ends_with(&w),
                    _ => ord(a.cmp(&w)),
                }
            }
        }
        (Value::Number(a), CompValue::Number(w)) => match (a.as_f64(), w.as_f64()) {
            (Some(a), Some(w)) => a.partial_cmp(&w).is_some_and(ord),
            _ => false,
        },
        (Value::Bool(a), CompValue::Bool(w)) => op == CompareOp::Eq && a == w,
        _ => false,
    }
}

/// The comparisons in a filter (`attr op value` and `attr pr`, inside `[...]` too).
pub fn comparisons(filter: &Filter) -> usize {
    match filter {
        Filter::Compare { .. } | Filter::Present(_) => 1,
        Filter::And(a, b) | Filter::Or(a, b) => comparisons(a) + comparisons(b),
        Filter::Not(a) => comparisons(a),
        Filter::ValuePath { filter, .. } => comparisons(filter),
    }
}

/// Checks a list filter of `kind` against [`MAX_FILTER_COMPARISONS`] and
/// [`MAX_FILTER_MULTI_VALUED`]: 400 `invalidFilter` naming the limit past either.
pub fn check_filter_limits(filter: &Filter, kind: ResourceKind) -> Result<(), ScimError> {
    check_limits(filter, &[kind])
}

/// [`check_filter_limits`] for a filter that may run on every resource type (root
/// `/.search`): an attribute counts as multi-valued when it is in any of them (no attribute
/// name is multi-valued in one and single-valued in another, so this is no stricter for one
/// type). [`crate::list::ListParams::parse`] applies it to every list filter.
pub fn check_filter_limits_any_kind(filter: &Filter) -> Result<(), ScimError> {
    check_limits(filter, &[ResourceKind::User, ResourceKind::Group])
}

/// Whether a filter compares with a string holding a NUL character: no stored value holds
/// one (they are refused on write, PostgreSQL cannot store them), so it is an error.
fn has_nul(filter: &Filter) -> bool {
    match filter {
        Filter::Compare { value: CompValue::String(s), .. } => s.contains('\0'),
        Filter::Compare { .. } | Filter::Present(_) => false,
        Filter::And(a, b) | Filter::Or(a, b) => has_nul(a) || has_nul(b),
        Filter::Not(a) => has_nul(a),
        Filter::ValuePath { filter, .. } => has_nul(filter),
    }
}

fn check_limits(filter: &Filter, kinds: &[ResourceKind]) -> Result<(), ScimError> {
    if has_nul(filter) {
        return Err(ScimError::invalid_filter("a filter value contains a NUL character (U+0000)"));
    }
    let n = comparisons(filter);
    if n > MAX_FILTER_COMPARISONS {
        return Err(ScimError::invalid_filter(format!(
            "the filter has {n} comparisons; at most {MAX_FILTER_COMPARISONS} are allowed"
        )));
    }
    let m = multi_valued_terms(filter, kinds);
    if m > MAX_FILTER_MULTI_VALUED {
        return Err(ScimError::invalid_filter(format!(
            "the filter has {m} comparisons or [filters] on multi-valued attributes; at most \
             {MAX_FILTER_MULTI_VALUED} are allowed (each is a subquery)"
        )));
    }
    Ok(())
}

/// Comparisons and `[filters]` on multi-valued attributes; a `[filter]` counts once, however
/// many comparisons it holds.
fn multi_valued_terms(filter: &Filter, kinds: &[ResourceKind]) -> usize {
    match filter {
        Filter::ValuePath { .. } => 1,
        Filter::Compare { path, .. } | Filter::Present(path) => usize::from(is_multi_valued(path, kinds)),
        Filter::And(a, b) | Filter::Or(a, b) => multi_valued_terms(a, kinds) + multi_valued_terms(b, kinds),
        Filter::Not(a) => multi_valued_terms(a, kinds),
    }
}

fn is_multi_valued(path: &AttrPath, kinds: &[ResourceKind]) -> bool {
    // `schemas` is in no schema table but is a multi-valued string (the store matches it
    // with a subquery too).
    (path.uri.is_none() && path.name.eq_ignore_ascii_case("schemas"))
        || kinds
            .iter()
            .any(|k| resolve(*k, path.uri.as_deref(), &path.name, None).is_some_and(|r| r.attr.multi_valued))
}

/// Evaluates a filter against a JSON object (a resource, or one element of a multi-valued
/// attribute for PATCH value filters).
pub fn evaluate(filter: &Filter, value: &Value, case_exact: &dyn Fn(&AttrPath) -> bool) -> bool {
    match filter {
        Filter::And(a, b) => evaluate(a, value, case_exact) && evaluate(b, value, case_exact),
        Filter::Or(a, b) => evaluate(a, value, case_exact) || evaluate(b, value, case_exact),
        Filter::Not(a) => !evaluate(a, value, case_exact),
        Filter::Present(p) => any_value_at(value, p, is_present),
        Filter::Compare { path, op, value: want } => {
            let ce = case_exact(path);
            match (op, want) {
                (CompareOp::Eq, CompValue::Null) => !any_value_at(value, path, |_| true),
                (CompareOp::Ne, CompValue::Null) => any_value_at(value, path, |_| true),
                (CompareOp::Ne, w) => !any_value_at(value, path, |a| compare_one(a, CompareOp::Eq, w, ce)),
                (op, w) => any_value_at(value, path, |a| compare_one(a, *op, w, ce)),
            }
        }
        Filter::ValuePath { path, filter } => {
            let Some(attr) = container(value, path).and_then(|c| get_ci(c, &path.name)) else { return false };
            match attr {
                Value::Array(items) => items.iter().any(|i| evaluate(filter, i, case_exact)),
                obj @ Value::Object(_) => evaluate(filter, obj, case_exact),
                _ => false,
            }
        }
    }
}

#[cfg(test)]
mod tests;
