//! SCIM filter and sort → SQL with bound parameters (RFC 7644 §3.4.2.2, §3.4.2.3).
//!
//! Indexed columns serve `id`, `externalId`, `userName`, `displayName`, `active` and the
//! `meta` timestamps; every other attribute is read from the row's folded document
//! (`doc_folded`) with the database's JSON functions, and multi-valued attributes become
//! `EXISTS` sub-queries. Values are always bound, never spliced: only canonical attribute
//! names from the static schema table appear in the SQL text.
//!
//! Case-insensitive comparisons do not use SQL's `lower()` (but on a Group member's `type`,
//! 'User' or 'Group', which it folds alike everywhere): the shadow
//! columns (`user_name_lower`, `display_name_lower`, `display_name_folded`) and the folded
//! document hold [`fold`]ed values, written in Rust, and the filter value is folded the same
//! way before it is bound, so both backends match alike (SQLite's `lower()` folds ASCII only;
//! PostgreSQL's depends on the collation). `caseExact` attributes are compared as stored: the
//! folded document keeps their strings unchanged.

use scimgate_scim::ScimError;
use scimgate_scim::filter::{AttrPath, CompValue, CompareOp, Filter};
use scimgate_scim::schema::{AttrType, AttributeDef, Resolved, ResourceKind, resolve};
use time::OffsetDateTime;

use crate::fold::fold;
use time::format_description::well_known::Rfc3339;

/// A bound parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    /// Text.
    Text(String),
    /// Integer.
    Int(i64),
    /// Float.
    Float(f64),
}

/// The SQL dialect to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Dialect {
    /// SQLite (JSON1 functions).
    #[default]
    Sqlite,
    /// PostgreSQL and wire-compatible engines (jsonb operators; no extensions).
    Postgres,
}

/// SQL text with its parameters. Placeholders are written `$1`, `$2`, … in bind order,
/// which both SQLite and PostgreSQL accept.
#[derive(Debug, Clone, Default)]
pub struct SqlBuf {
    /// SQL text.
    pub sql: String,
    /// Parameters in order.
    pub params: Vec<Param>,
    /// The dialect the filter writer uses (set by [`write_filter`]).
    pub dialect: Dialect,
}

impl SqlBuf {
    /// Appends SQL text.
    pub fn push(&mut self, s: &str) -> &mut Self {
        self.sql.push_str(s);
        self
    }
    /// Appends a placeholder bound to `p`.
    pub fn bind(&mut self, p: Param) -> &mut Self {
        self.params.push(p);
        self.sql.push_str(&format!("${}", self.params.len()));
        self
    }
}

/// What a comparison's left side is.
#[derive(Debug, Clone, Copy)]
enum Operand<'a> {
    /// A column or expression holding text; `folded` when it holds [`fold`]ed values.
    Text { expr: &'a str, folded: bool, case_exact: bool },
    /// JSON value at a path of the folded document (text, number or boolean inside): the
    /// strings of case-insensitive attributes are folded there, `caseExact` ones as written.
    Json { expr: &'a str, attr: &'static AttributeDef },
    /// An integer 0/1 column.
    Bool(&'a str),
    /// Microseconds since the epoch.
    Time(&'a str),
    /// A constant string (meta.resourceType).
    Const(&'static str),
}

fn invalid(msg: impl Into<String>) -> ScimError {
    ScimError::invalid_filter(msg)
}

/// Writes the boolean SQL of a filter over the row alias `r` into `buf`, continuing its
/// placeholder numbering.
pub fn write_filter(
    buf: &mut SqlBuf,
    dialect: Dialect,
    kind: ResourceKind,
    f: &Filter,
) -> Result<(), ScimError> {
    buf.dialect = dialect;
    write_node(kind, f, buf)
}

/// A fresh buffer holding just the filter (placeholders from `$1`).
pub fn filter_sql(dialect: Dialect, kind: ResourceKind, f: &Filter) -> Result<SqlBuf, ScimError> {
    let mut out = SqlBuf::default();
    write_filter(&mut out, dialect, kind, f)?;
    Ok(out)
}

fn write_node(kind: ResourceKind, f: &Filter, out: &mut SqlBuf) -> Result<(), ScimError> {
    match f {
        Filter::And(a, b) | Filter::Or(a, b) => {
            out.push("(");
            write_node(kind, a, out)?;
            out.push(if matches!(f, Filter::And(..)) { " AND " } else { " OR " });
            write_node(kind, b, out)?;
            out.push(")");
        }
        Filter::Not(inner) => {
            out.push("(NOT coalesce(");
            write_node(kind, inner, out)?;
            out.push(", FALSE))");
        }
        Filter::Present(path) => write_leaf(kind, path, None, out)?,
        Filter::Compare { path, op, value } => write_leaf(kind, path, Some((*op, value)), out)?,
        Filter::ValuePath { path, filter } => write_value_path(kind, path, filter, out)?,
    }
    Ok(())
}

fn resolve_path(kind: ResourceKind, path: &AttrPath) -> Result<Resolved, ScimError> {
    resolve(kind, path.uri.as_deref(), &path.name, path.sub_attr.as_deref())
        .ok_or_else(|| invalid(format!("'{path}' is not an attribute of {} (see /Schemas)", kind.name())))
}

/// The keys leading to an attribute inside the document.
fn json_keys(r: &Resolved, sub: Option<&AttributeDef>) -> Vec<&'static str> {
    let mut k = Vec::with_capacity(3);
    if let Some(ext) = r.extension {
        k.push(ext.id);
    }
    k.push(r.attr.name);
    if let Some(s) = sub {
        k.push(s.name);
    }
    k
}

/// JSON path of an attribute for SQLite's JSON1 functions: `$."name"."givenName"`.
fn sqlite_path(keys: &[&str]) -> String {
    let mut p = String::from("$");
    for k in keys {
        p.push_str(&format!(".\"{k}\""));
    }
    p
}

/// A PostgreSQL text-array path literal: `'{"name","givenName"}'` (keys are static schema
/// names, never user input).
fn pg_path(keys: &[&str]) -> String {
    let inner: Vec<String> = keys.iter().map(|k| format!("\"{k}\"")).collect();
    format!("'{{{}}}'", inner.join(","))
}

/// The folded document of the row `r` (TEXT in SQLite, JSONB in PostgreSQL): what filters
/// and `sortBy` read instead of the document itself (see the module documentation).
const FOLDED_DOC: &str = "r.doc_folded";

impl Dialect {
    /// The value at `keys` in the row's folded document: typed in SQLite, text in PostgreSQL.
    fn doc_value(self, keys: &[&str]) -> String {
        match self {
            Dialect::Sqlite => format!("json_extract({FOLDED_DOC}, '{}')", sqlite_path(keys)),
            Dialect::Postgres => format!("({FOLDED_DOC} #>> {})", pg_path(keys)),
        }
    }
    /// Whether the value at `keys` exists.
    fn doc_present(self, keys: &[&str]) -> String {
        match self {
            Dialect::Sqlite => format!("(json_extract({FOLDED_DOC}, '{}') IS NOT NULL)", sqlite_path(keys)),
            Dialect::Postgres => format!("({FOLDED_DOC} #> {} IS NOT NULL)", pg_path(keys)),
        }
    }
    /// The array at `keys`, as a row source `e` with `e.value` (and `e.key`, its position).
    fn elements(self, keys: &[&str]) -> String {
        match self {
            Dialect::Sqlite => format!("json_each({FOLDED_DOC}, '{}') e", sqlite_path(keys)),
            Dialect::Postgres => {
                let v = format!("{FOLDED_DOC} #> {}", pg_path(keys));
                format!(
                    "jsonb_array_elements(CASE WHEN jsonb_typeof({v}) = 'array' THEN {v} ELSE '[]'::jsonb END) \
                     WITH ORDINALITY AS e(value, key)"
                )
            }
        }
    }
    /// Whether the array at `keys` has elements.
    fn array_nonempty(self, keys: &[&str]) -> String {
        match self {
            Dialect::Sqlite => {
                format!("coalesce(json_array_length({FOLDED_DOC}, '{}') > 0, FALSE)", sqlite_path(keys))
            }
            Dialect::Postgres => {
                let v = format!("{FOLDED_DOC} #> {}", pg_path(keys));
                format!("coalesce(jsonb_typeof({v}) = 'array' AND jsonb_array_length({v}) > 0, FALSE)")
            }
        }
    }
    /// A sub-attribute of the current element `e`.
    fn elem_value(self, name: &str) -> String {
        match self {
            Dialect::Sqlite => format!("json_extract(e.value, '$.\"{name}\"')"),
            Dialect::Postgres => format!("(e.value ->> '{name}')"),
        }
    }
    /// The current element `e` itself, when it is a scalar.
    fn elem_scalar(self) -> &'static str {
        match self {
            Dialect::Sqlite => "e.value",
            Dialect::Postgres => "(e.value #>> '{}')",
        }
    }
}

fn column(kind: ResourceKind, r: &Resolved) -> Option<Operand<'static>> {
    if r.extension.is_some() {
        return None;
    }
    let text = |expr, folded, case_exact| Some(Operand::Text { expr, folded, case_exact });
    match (kind, r.attr.name, r.sub.map(|s| s.name)) {
        (_, "id", None) => text("r.id", false, true),
        (_, "externalId", None) => text("r.external_id", false, true),
        (ResourceKind::User, "userName", None) => text("r.user_name_lower", true, false),
        (ResourceKind::User, "displayName", None) => text("r.display_name_folded", true, false),
        (ResourceKind::User, "active", None) => Some(Operand::Bool("r.active")),
        (ResourceKind::Group, "displayName", None) => text("r.display_name_lower", true, false),
        (_, "meta", Some("created")) => Some(Operand::Time("r.created_us")),
        (_, "meta", Some("lastModified")) => Some(Operand::Time("r.modified_us")),
        (ResourceKind::User, "meta", Some("resourceType")) => Some(Operand::Const("User")),
        (ResourceKind::Group, "meta", Some("resourceType")) => Some(Operand::Const("Group")),
        _ => None,
    }
}

fn write_leaf(
    kind: ResourceKind,
    path: &AttrPath,
    cmp: Option<(CompareOp, &CompValue)>,
    out: &mut SqlBuf,
) -> Result<(), ScimError> {
    if path.uri.is_none() && path.name.eq_ignore_ascii_case("schemas") && path.sub_attr.is_none() {
        // `schemas eq "urn:..."` (RFC 7644 §3.4.2.2 example): a multi-valued string (URNs
        // are case-insensitive; the folded document holds them folded).
        let d = out.dialect;
        out.push(&format!("EXISTS (SELECT 1 FROM {} WHERE ", d.elements(&["schemas"])));
        let op = Operand::Text { expr: d.elem_scalar(), folded: true, case_exact: false };
        write_compare(op, cmp, path, out)?;
        out.push(")");
        return Ok(());
    }
    let r = resolve_path(kind, path)?;
    if let Some(op) = column(kind, &r) {
        return write_compare(op, cmp, path, out);
    }
    match (kind, r.attr.name) {
        (ResourceKind::User, "groups") => return write_relation(kind, &r, None, cmp, path, out),
        (ResourceKind::Group, "members") => return write_relation(kind, &r, None, cmp, path, out),
        (_, "meta") => return Err(invalid(format!("filtering on '{path}' is not supported"))),
        _ => {}
    }
    if r.attr.multi_valued {
        // `emails co "x"` compares each value's `value` (RFC 7644 §3.4.2.2); `emails.type eq`
        // compares that sub-attribute of each element.
        let sub = match (r.sub, r.attr.attr_type) {
            (Some(s), _) => Some(s),
            (None, AttrType::Complex) => r.attr.sub_attribute("value"),
            (None, _) => None,
        };
        let d = out.dialect;
        if cmp.is_none() && r.sub.is_none() {
            out.push(&d.array_nonempty(&json_keys(&r, None)));
            return Ok(());
        }
        out.push(&format!("EXISTS (SELECT 1 FROM {} WHERE ", d.elements(&json_keys(&r, None))));
        match sub {
            Some(s) => {
                let expr = d.elem_value(s.name);
                write_compare(Operand::Json { expr: &expr, attr: s }, cmp, path, out)?;
            }
            None => write_compare(Operand::Json { expr: d.elem_scalar(), attr: r.attr }, cmp, path, out)?,
        }
        out.push(")");
        return Ok(());
    }
    if r.attr.attr_type == AttrType::Complex && r.sub.is_none() {
        if cmp.is_none() {
            out.push(&out.dialect.doc_present(&json_keys(&r, None)));
            return Ok(());
        }
        return Err(invalid(format!("'{path}' is complex: compare one of its sub-attributes")));
    }
    let expr = out.dialect.doc_value(&json_keys(&r, r.sub));
    write_compare(Operand::Json { expr: &expr, attr: r.target() }, cmp, path, out)
}

/// `groups.value`, `groups.display` on Users; `members.value`, `members.type` on Groups.
fn write_relation(
    kind: ResourceKind,
    r: &Resolved,
    inner: Option<&Filter>,
    cmp: Option<(CompareOp, &CompValue)>,
    path: &AttrPath,
    out: &mut SqlBuf,
) -> Result<(), ScimError> {
    match kind {
        ResourceKind::User => out.push(
            "EXISTS (SELECT 1 FROM scim_group_members gm JOIN scim_groups g ON g.id = gm.group_id \
             WHERE gm.member_id = r.id AND ",
        ),
        ResourceKind::Group => {
            out.push("EXISTS (SELECT 1 FROM scim_group_members gm WHERE gm.group_id = r.id AND ")
        }
    };
    match inner {
        Some(f) => write_relation_filter(kind, f, out)?,
        None => {
            let sub = r.sub.map(|s| s.name).unwrap_or("value");
            let op = relation_operand(kind, sub).ok_or_else(|| {
                invalid(format!("filtering on '{path}' is not supported; use '{}.value'", r.attr.name))
            })?;
            write_compare(op, cmp, path, out)?;
        }
    }
    out.push(")");
    Ok(())
}

fn relation_operand(kind: ResourceKind, sub: &str) -> Option<Operand<'static>> {
    match (kind, sub) {
        (ResourceKind::User, "value") => {
            Some(Operand::Text { expr: "gm.group_id", folded: false, case_exact: true })
        }
        (ResourceKind::User, "display") => {
            Some(Operand::Text { expr: "g.display_name_lower", folded: true, case_exact: false })
        }
        (ResourceKind::User, "type") => Some(Operand::Const("direct")),
        (ResourceKind::Group, "value") => {
            Some(Operand::Text { expr: "gm.member_id", folded: false, case_exact: true })
        }
        // 'User' or 'Group' (a CHECK constraint): ASCII, which SQL's lower() folds alike on
        // both backends.
        (ResourceKind::Group, "type") => {
            Some(Operand::Text { expr: "gm.member_type", folded: false, case_exact: false })
        }
        _ => None,
    }
}

fn write_relation_filter(kind: ResourceKind, f: &Filter, out: &mut SqlBuf) -> Result<(), ScimError> {
    match f {
        Filter::And(a, b) | Filter::Or(a, b) => {
            out.push("(");
            write_relation_filter(kind, a, out)?;
            out.push(if matches!(f, Filter::And(..)) { " AND " } else { " OR " });
            write_relation_filter(kind, b, out)?;
            out.push(")");
            Ok(())
        }
        Filter::Not(inner) => {
            out.push("(NOT coalesce(");
            write_relation_filter(kind, inner, out)?;
            out.push(", FALSE))");
            Ok(())
        }
        Filter::Compare { path, op, value } => {
            let o = relation_operand(kind, &path.name).ok_or_else(|| {
                invalid(format!("filtering on '{}' inside [...] is not supported", path.name))
            })?;
            write_compare(o, Some((*op, value)), path, out)
        }
        Filter::Present(path) => {
            let o = relation_operand(kind, &path.name).ok_or_else(|| {
                invalid(format!("filtering on '{}' inside [...] is not supported", path.name))
            })?;
            write_compare(o, None, path, out)
        }
        Filter::ValuePath { .. } => Err(invalid("value filters cannot be nested")),
    }
}

fn write_value_path(
    kind: ResourceKind,
    path: &AttrPath,
    inner: &Filter,
    out: &mut SqlBuf,
) -> Result<(), ScimError> {
    let r = resolve_path(kind, path)?;
    match (kind, r.attr.name) {
        (ResourceKind::User, "groups") | (ResourceKind::Group, "members") => {
            return write_relation(kind, &r, Some(inner), None, path, out);
        }
        _ => {}
    }
    if r.attr.attr_type != AttrType::Complex || !r.attr.multi_valued {
        return Err(invalid(format!("'{path}[...]' needs a multi-valued complex attribute")));
    }
    out.push(&format!("EXISTS (SELECT 1 FROM {} WHERE ", out.dialect.elements(&json_keys(&r, None))));
    write_element_filter(r.attr, inner, out)?;
    out.push(")");
    Ok(())
}

fn write_element_filter(attr: &'static AttributeDef, f: &Filter, out: &mut SqlBuf) -> Result<(), ScimError> {
    match f {
        Filter::And(a, b) | Filter::Or(a, b) => {
            out.push("(");
            write_element_filter(attr, a, out)?;
            out.push(if matches!(f, Filter::And(..)) { " AND " } else { " OR " });
            write_element_filter(attr, b, out)?;
            out.push(")");
            Ok(())
        }
        Filter::Not(inner) => {
            out.push("(NOT coalesce(");
            write_element_filter(attr, inner, out)?;
            out.push(", FALSE))");
            Ok(())
        }
        Filter::Compare { path, .. } | Filter::Present(path) => {
            let sub = attr
                .sub_attribute(&path.name)
                .ok_or_else(|| invalid(format!("'{}' has no sub-attribute '{}'", attr.name, path.name)))?;
            let expr = out.dialect.elem_value(sub.name);
            let cmp = match f {
                Filter::Compare { op, value, .. } => Some((*op, value)),
                _ => None,
            };
            write_compare(Operand::Json { expr: &expr, attr: sub }, cmp, path, out)
        }
        Filter::ValuePath { .. } => Err(invalid("value filters cannot be nested")),
    }
}

fn op_sql(op: CompareOp) -> &'static str {
    match op {
        CompareOp::Eq => "=",
        CompareOp::Ne => "<>",
        CompareOp::Gt => ">",
        CompareOp::Ge => ">=",
        CompareOp::Lt => "<",
        CompareOp::Le => "<=",
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => "",
    }
}

/// Writes one comparison as an expression that is never NULL, so `not` and `ne` behave as
/// two-valued logic: `ne` matches resources where the attribute is absent.
fn write_compare(
    operand: Operand<'_>,
    cmp: Option<(CompareOp, &CompValue)>,
    path: &AttrPath,
    out: &mut SqlBuf,
) -> Result<(), ScimError> {
    let Some((op, value)) = cmp else {
        // `pr`: present and not empty.
        match operand {
            Operand::Text { expr, .. } => out.push(&format!("coalesce({expr} <> '', FALSE)")),
            Operand::Json { expr, .. } => {
                out.push(&format!("coalesce({expr} IS NOT NULL AND {expr} <> '', FALSE)"))
            }
            Operand::Bool(expr) | Operand::Time(expr) => out.push(&format!("({expr} IS NOT NULL)")),
            Operand::Const(_) => out.push("1"),
        };
        return Ok(());
    };
    if let CompValue::Null = value {
        let (expr, neg) = match operand {
            Operand::Text { expr, .. }
            | Operand::Json { expr, .. }
            | Operand::Bool(expr)
            | Operand::Time(expr) => (expr.to_string(), op == CompareOp::Ne),
            Operand::Const(_) => ("'x'".to_string(), op == CompareOp::Ne),
        };
        return match op {
            CompareOp::Eq | CompareOp::Ne => {
                out.push(&format!("({expr} IS {}NULL)", if neg { "NOT " } else { "" }));
                Ok(())
            }
            _ => Err(invalid(format!("'{path}': null can only be compared with eq or ne"))),
        };
    }
    let negate = op == CompareOp::Ne;
    let op = if negate { CompareOp::Eq } else { op };
    // A comparison with NULL is NULL, which WHERE, AND and OR already treat as false; only
    // NOT needs the NULL turned into false first. Leaving positive comparisons bare keeps
    // them sargable (`r.user_name_lower = ?` can use the index, `coalesce(...)` cannot).
    if negate {
        out.push("(NOT coalesce(");
    }
    match operand {
        Operand::Const(c) => {
            let CompValue::String(s) = value else {
                return Err(invalid(format!("'{path}' is a string; compare it with a string")));
            };
            // A static ASCII name ('User', 'Group', 'direct'), folded here.
            write_text_op(&format!("'{}'", fold(c)), op, fold(s), out);
        }
        Operand::Text { expr, folded, case_exact } => {
            let CompValue::String(s) = value else {
                return Err(invalid(format!("'{path}' is a string; compare it with a string")));
            };
            if case_exact {
                write_text_op(expr, op, s.clone(), out);
            } else if folded {
                write_text_op(expr, op, fold(s), out);
            } else {
                write_text_op(&format!("lower({expr})"), op, fold(s), out);
            }
        }
        Operand::Bool(expr) => write_bool(expr, op, value, path, out)?,
        Operand::Time(expr) => {
            let CompValue::String(s) = value else {
                return Err(invalid(format!("'{path}' is a dateTime; compare it with an RFC 3339 string")));
            };
            let t = OffsetDateTime::parse(s, &Rfc3339)
                .map_err(|_| invalid(format!("'{s}' is not an RFC 3339 date-time (for '{path}')")))?;
            let micros = (t.unix_timestamp_nanos() / 1_000) as i64;
            if matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew) {
                return Err(invalid(format!("'{path}' is a dateTime: use eq, ne, gt, ge, lt or le")));
            }
            out.push(&format!("{expr} {} ", op_sql(op))).bind(Param::Int(micros));
        }
        Operand::Json { expr, attr } => match (attr.attr_type, value) {
            (AttrType::Boolean, _) => write_bool_json(expr, op, value, path, out)?,
            (AttrType::Integer | AttrType::Decimal, CompValue::Number(n)) => {
                if matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew) {
                    return Err(invalid(format!("'{path}' is a number: co, sw and ew need strings")));
                }
                let p = match n.as_i64() {
                    Some(i) => Param::Int(i),
                    None => Param::Float(n.as_f64().unwrap_or(0.0)),
                };
                let lhs = match out.dialect {
                    Dialect::Sqlite => expr.to_string(),
                    Dialect::Postgres => format!("({expr})::numeric"),
                };
                out.push(&format!("{lhs} {} ", op_sql(op))).bind(p);
            }
            (AttrType::Integer | AttrType::Decimal, _) => {
                return Err(invalid(format!("'{path}' is a number; compare it with a number")));
            }
            (AttrType::Complex, _) => {
                return Err(invalid(format!("'{path}' is complex: compare one of its sub-attributes")));
            }
            // Read from the folded document: folded there unless caseExact.
            (_, CompValue::String(s)) => {
                if attr.case_exact {
                    write_text_op(expr, op, s.clone(), out);
                } else {
                    write_text_op(expr, op, fold(s), out);
                }
            }
            _ => return Err(invalid(format!("'{path}' is a string; compare it with a string"))),
        },
    }
    if negate {
        out.push(", FALSE))");
    }
    Ok(())
}

fn write_text_op(lhs: &str, op: CompareOp, value: String, out: &mut SqlBuf) {
    let d = out.dialect;
    match op {
        // instr/strpos and substr instead of LIKE: no wildcard escaping, and SQLite's LIKE
        // ignores ASCII case, which would be wrong for caseExact attributes.
        CompareOp::Co => {
            let f = if d == Dialect::Postgres { "strpos" } else { "instr" };
            out.push(&format!("{f}({lhs}, ")).bind(Param::Text(value)).push(") > 0");
        }
        CompareOp::Sw => {
            let n = value.chars().count();
            out.push(&format!("substr({lhs}, 1, {n}) = ")).bind(Param::Text(value));
        }
        CompareOp::Ew => {
            let n = value.chars().count();
            if n == 0 {
                out.push("TRUE");
            } else if d == Dialect::Postgres {
                out.push(&format!("right({lhs}, {n}) = ")).bind(Param::Text(value));
            } else {
                out.push(&format!("substr({lhs}, -{n}) = ")).bind(Param::Text(value));
            }
        }
        _ => {
            out.push(&format!("{lhs} {} ", op_sql(op))).bind(Param::Text(value));
        }
    }
}

fn write_bool(
    expr: &str,
    op: CompareOp,
    value: &CompValue,
    path: &AttrPath,
    out: &mut SqlBuf,
) -> Result<(), ScimError> {
    let b = bool_operand(op, value, path)?;
    out.push(&format!("{expr} = ")).bind(Param::Int(i64::from(b)));
    Ok(())
}

/// The boolean a comparison names (`ne` was already turned into `not eq`).
fn bool_operand(op: CompareOp, value: &CompValue, path: &AttrPath) -> Result<bool, ScimError> {
    let b = match value {
        CompValue::Bool(b) => *b,
        // Lenient: some clients quote booleans, as Entra ID does in PATCH.
        CompValue::String(s) if s.eq_ignore_ascii_case("true") => true,
        CompValue::String(s) if s.eq_ignore_ascii_case("false") => false,
        _ => return Err(invalid(format!("'{path}' is a boolean; compare it with true or false"))),
    };
    if op != CompareOp::Eq {
        return Err(invalid(format!("'{path}' is a boolean: use eq or ne")));
    }
    Ok(b)
}

/// A boolean inside the JSON document: SQLite's json_extract gives 1/0, PostgreSQL's `#>>`
/// gives the text `true`/`false`.
fn write_bool_json(
    expr: &str,
    op: CompareOp,
    value: &CompValue,
    path: &AttrPath,
    out: &mut SqlBuf,
) -> Result<(), ScimError> {
    if out.dialect == Dialect::Sqlite {
        return write_bool(expr, op, value, path, out);
    }
    let b = bool_operand(op, value, path)?;
    out.push(&format!("{expr} = ")).bind(Param::Text(b.to_string()));
    Ok(())
}

/// `ORDER BY` expression for `sortBy` (RFC 7644 §3.4.2.3).
pub fn sort_expr(dialect: Dialect, kind: ResourceKind, path: &AttrPath) -> Result<String, ScimError> {
    let r = resolve(kind, path.uri.as_deref(), &path.name, path.sub_attr.as_deref()).ok_or_else(|| {
        ScimError::invalid_value(format!(
            "sortBy '{path}' is not an attribute of {} (see /Schemas)",
            kind.name()
        ))
    })?;
    // Case-insensitive strings sort by their folded values: the shadow columns and the folded
    // document hold them.
    if let Some(op) = column(kind, &r) {
        return Ok(match op {
            Operand::Text { expr, folded: false, case_exact: false } => format!("lower({expr})"),
            Operand::Text { expr, .. } | Operand::Bool(expr) | Operand::Time(expr) => expr.to_string(),
            Operand::Json { expr, .. } => expr.to_string(),
            Operand::Const(c) => format!("'{c}'"),
        });
    }
    if r.attr.multi_valued {
        // Multi-valued: sort by the primary value, else the first (RFC 7644 §3.4.2.3).
        let sub = r
            .sub
            .or_else(|| r.attr.sub_attribute("value"))
            .ok_or_else(|| ScimError::invalid_value(format!("sortBy '{path}' cannot be sorted")))?;
        let inner = dialect.elem_value(sub.name);
        let primary = match dialect {
            Dialect::Sqlite => "coalesce(json_extract(e.value, '$.\"primary\"'), 0)".to_string(),
            Dialect::Postgres => "coalesce((e.value ->> 'primary') = 'true', FALSE)".to_string(),
        };
        return Ok(format!(
            "(SELECT {inner} FROM {} ORDER BY {primary} DESC, e.key LIMIT 1)",
            dialect.elements(&json_keys(&r, None))
        ));
    }
    if r.attr.attr_type == AttrType::Complex && r.sub.is_none() {
        return Err(ScimError::invalid_value(format!("sortBy '{path}' is complex: name a sub-attribute")));
    }
    let value = dialect.doc_value(&json_keys(&r, r.sub));
    Ok(match (dialect, r.target().attr_type) {
        (Dialect::Postgres, AttrType::Integer | AttrType::Decimal) => format!("({value})::numeric"),
        _ => value,
    })
}
