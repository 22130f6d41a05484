//! The settings registry and the rules of the account → organization → project hierarchy
//! (docs/contract.md §4). Pure: no I/O.

use time::OffsetDateTime;

use crate::access::Scope;

/// A setting's value type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    /// Free text (or one of the allowed values).
    String,
    /// `true` or `false`.
    Boolean,
    /// A decimal number.
    Number,
}

impl ValueType {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ValueType::String => "String",
            ValueType::Boolean => "Boolean",
            ValueType::Number => "Number",
        }
    }
}

/// A level of the hierarchy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ScopeLevel {
    /// The account.
    Account,
    /// An organization.
    Org,
    /// A project.
    Project,
}

impl ScopeLevel {
    /// The level of a scope.
    pub fn of(scope: &Scope) -> Self {
        if scope.org.is_empty() {
            ScopeLevel::Account
        } else if scope.project.is_empty() {
            ScopeLevel::Org
        } else {
            ScopeLevel::Project
        }
    }
    /// `allowedScopes` wire name.
    pub fn allowed_name(self) -> &'static str {
        match self {
            ScopeLevel::Account => "ACCOUNT",
            ScopeLevel::Org => "ORGANIZATION",
            ScopeLevel::Project => "PROJECT",
        }
    }
    /// `settingSource` wire name.
    pub fn source_name(self) -> &'static str {
        match self {
            ScopeLevel::Account => "ACCOUNT",
            ScopeLevel::Org => "ORG",
            ScopeLevel::Project => "PROJECT",
        }
    }
}

/// A setting definition.
#[derive(Debug, Clone, PartialEq)]
pub struct SettingDef {
    /// Identifier.
    pub identifier: &'static str,
    /// Display name.
    pub name: &'static str,
    /// Category (`SCIM`, `CORE`, …).
    pub category: &'static str,
    /// Group inside the category.
    pub group: &'static str,
    /// Value type.
    pub value_type: ValueType,
    /// The allowed values (empty: any value of the type).
    pub allowed_values: &'static [&'static str],
    /// Default value.
    pub default: Option<&'static str>,
    /// Scopes it can be set at.
    pub allowed_scopes: &'static [ScopeLevel],
    /// Whether child scopes may override it when the parent has not said.
    pub allow_overrides: bool,
    /// Inclusive bounds for numbers.
    pub range: Option<(f64, f64)>,
    /// A secret: the audit trail stores a hash of the value, never the value.
    pub secret: bool,
}

impl SettingDef {
    /// Whether the setting belongs to the SCIM JWT configuration group.
    pub fn is_jwt_configuration(&self) -> bool {
        self.group == SCIM_JWT_GROUP
    }
}

const ACCOUNT_ONLY: &[ScopeLevel] = &[ScopeLevel::Account];
const ALL_SCOPES: &[ScopeLevel] = &[ScopeLevel::Account, ScopeLevel::Org, ScopeLevel::Project];
/// The group of the SCIM JWT settings (docs/contract.md §4): writing any of them decides
/// which JWTs act as which service account.
pub const SCIM_JWT_GROUP: &str = "scim_jwt_token_configuration_g1";

const fn scim_string(identifier: &'static str, name: &'static str) -> SettingDef {
    SettingDef {
        identifier,
        name,
        category: "SCIM",
        group: SCIM_JWT_GROUP,
        value_type: ValueType::String,
        allowed_values: &[],
        default: None,
        allowed_scopes: ACCOUNT_ONLY,
        allow_overrides: false,
        range: None,
        secret: false,
    }
}

/// The JWKS URL setting (validated when written).
pub const JWKS_URL: &str = "scim_jwt_token_jwks_keys_url";
/// The claim name setting.
pub const KEY_FIELD: &str = "scim_jwt_token_key_field";
/// The claim value setting.
pub const VALUE_FIELD: &str = "scim_jwt_token_value_field";
/// The service account setting.
pub const SERVICE_ACCOUNT_ID: &str = "scim_jwt_token_service_account_id";
/// Optional expected issuer.
pub const ISSUER: &str = "scim_jwt_token_issuer";
/// Optional expected audience.
pub const AUDIENCE: &str = "scim_jwt_token_audience";
/// Clock skew allowed on JWT time claims, in seconds.
pub const CLOCK_SKEW: &str = "scim_jwt_token_clock_skew_seconds";
/// Optional longest accepted JWT lifetime (`exp` − `iat`), in seconds.
pub const MAX_LIFETIME: &str = "scim_jwt_token_max_lifetime_seconds";

/// Every setting scimgate knows.
pub static REGISTRY: &[SettingDef] = &[
    scim_string(JWKS_URL, "JWKS URL for SCIM JWT authentication"),
    scim_string(KEY_FIELD, "JWT claim name that identifies the caller"),
    scim_string(VALUE_FIELD, "Expected value of that JWT claim"),
    scim_string(SERVICE_ACCOUNT_ID, "Service account the JWT acts as"),
    scim_string(ISSUER, "Expected JWT issuer (iss), optional"),
    scim_string(AUDIENCE, "Expected JWT audience (aud), optional"),
    SettingDef {
        identifier: CLOCK_SKEW,
        name: "Allowed clock skew on JWT time claims (seconds)",
        category: "SCIM",
        group: SCIM_JWT_GROUP,
        value_type: ValueType::Number,
        allowed_values: &[],
        default: Some("60"),
        allowed_scopes: ACCOUNT_ONLY,
        allow_overrides: false,
        range: Some((0.0, 300.0)),
        secret: false,
    },
    SettingDef {
        identifier: MAX_LIFETIME,
        name: "Longest accepted JWT lifetime, exp - iat (seconds), optional",
        category: "SCIM",
        group: SCIM_JWT_GROUP,
        value_type: ValueType::Number,
        allowed_values: &[],
        default: None,
        allowed_scopes: ACCOUNT_ONLY,
        allow_overrides: false,
        range: Some((60.0, 2_592_000.0)),
        secret: false,
    },
    SettingDef {
        identifier: "enable_force_delete",
        name: "Enable force delete of resources in use",
        category: "CORE",
        group: "core_g1",
        value_type: ValueType::Boolean,
        allowed_values: &[],
        default: Some("false"),
        allowed_scopes: ACCOUNT_ONLY,
        allow_overrides: false,
        range: None,
        secret: false,
    },
    SettingDef {
        identifier: "default_ticketing_tool",
        name: "Default ticketing tool",
        category: "CORE",
        group: "core_g1",
        value_type: ValueType::String,
        allowed_values: &["None", "Jira", "ServiceNow"],
        default: Some("None"),
        allowed_scopes: ALL_SCOPES,
        allow_overrides: true,
        range: None,
        secret: false,
    },
    SettingDef {
        identifier: "enable_notifications",
        name: "Send notifications",
        category: "NOTIFICATIONS",
        group: "notifications_g1",
        value_type: ValueType::Boolean,
        allowed_values: &[],
        default: Some("true"),
        allowed_scopes: ALL_SCOPES,
        allow_overrides: true,
        range: None,
        secret: false,
    },
    SettingDef {
        identifier: "pipeline_timeout_minutes",
        name: "Pipeline timeout (minutes)",
        category: "PIPELINE",
        group: "pipeline_g1",
        value_type: ValueType::Number,
        allowed_values: &[],
        default: Some("60"),
        allowed_scopes: ALL_SCOPES,
        allow_overrides: true,
        range: Some((1.0, 43_200.0)),
        secret: false,
    },
];

/// Looks a setting up by identifier.
pub fn find(identifier: &str) -> Option<&'static SettingDef> {
    REGISTRY.iter().find(|d| d.identifier == identifier)
}

/// The longest String value.
pub const MAX_VALUE_LEN: usize = 2048;

impl SettingDef {
    /// Parses and normalises a value; the error says what is wrong.
    /// Only ASCII whitespace is trimmed (docs/jwt.md "What binds a token to your account"):
    /// U+00A0 or U+3000 around a claim value are part of it.
    pub fn parse_value(&self, raw: &str) -> Result<String, String> {
        let v = crate::jwt_trust::normalize_claim_value(raw);
        let value = match self.value_type {
            ValueType::Boolean => match v.to_ascii_lowercase().as_str() {
                "true" => "true".to_string(),
                "false" => "false".to_string(),
                _ => return Err(format!("'{raw}' is not a Boolean: use true or false")),
            },
            ValueType::Number => {
                let n: f64 = v
                    .parse()
                    .ok()
                    .filter(|n: &f64| n.is_finite())
                    .ok_or_else(|| format!("'{raw}' is not a number"))?;
                if let Some((lo, hi)) = self.range
                    && !(lo..=hi).contains(&n)
                {
                    return Err(format!("{n} is out of range: use a number from {lo} to {hi}"));
                }
                if n.fract() == 0.0 && n.abs() < 1e15 { format!("{}", n as i64) } else { n.to_string() }
            }
            ValueType::String => {
                if v.is_empty() {
                    return Err("the value is empty; use RESTORE to remove a value".into());
                }
                if v.chars().count() > MAX_VALUE_LEN {
                    return Err(format!("the value is longer than {MAX_VALUE_LEN} characters"));
                }
                if v.chars().any(char::is_control) {
                    return Err("the value contains control characters".into());
                }
                v.to_string()
            }
        };
        if !self.allowed_values.is_empty() && !self.allowed_values.contains(&value.as_str()) {
            return Err(format!("'{raw}' is not allowed: use one of {}", self.allowed_values.join(", ")));
        }
        Ok(value)
    }

    /// Whether it can be set at a level.
    pub fn allows_level(&self, level: ScopeLevel) -> bool {
        self.allowed_scopes.contains(&level)
    }
}

/// A stored value at one scope.
#[derive(Debug, Clone, PartialEq)]
pub struct SettingRow {
    /// Scope.
    pub scope: Scope,
    /// Setting identifier.
    pub identifier: String,
    /// Normalised value.
    pub value: String,
    /// Whether child scopes may override it.
    pub allow_overrides: bool,
    /// Last change.
    pub modified: OffsetDateTime,
}

/// A setting's effective state at a scope.
#[derive(Debug, Clone, PartialEq)]
pub struct Effective {
    /// The value (None: no value and no default).
    pub value: Option<String>,
    /// Where it comes from (None: the default).
    pub source: Option<ScopeLevel>,
    /// Whether children of the source may override.
    pub allow_overrides: bool,
    /// When the source row changed (None for the default).
    pub last_modified: Option<OffsetDateTime>,
    /// Whether it can be edited at the scope asked about.
    pub editable: bool,
    /// When not editable: why.
    pub not_editable_reason: Option<String>,
}

/// The chain of scopes from the account down to `scope`.
pub fn chain(scope: &Scope) -> Vec<Scope> {
    let mut v = vec![Scope::account()];
    if !scope.org.is_empty() {
        v.push(Scope { org: scope.org.clone(), project: String::new() });
        if !scope.project.is_empty() {
            v.push(scope.clone());
        }
    }
    v
}

/// Resolves a setting at a scope from the account's rows: the nearest value wins, unless an
/// ancestor forbids overrides, in which case the ancestor's value stands.
pub fn resolve(def: &SettingDef, rows: &[SettingRow], scope: &Scope) -> Effective {
    let mut eff = Effective {
        value: def.default.map(str::to_string),
        source: None,
        allow_overrides: def.allow_overrides,
        last_modified: None,
        editable: true,
        not_editable_reason: None,
    };
    let levels = chain(scope);
    let target = ScopeLevel::of(scope);
    let mut blocked_by: Option<ScopeLevel> = None;
    for s in &levels {
        let level = ScopeLevel::of(s);
        if let Some(b) = blocked_by {
            if level == target {
                eff.editable = false;
                eff.not_editable_reason = Some(format!(
                    "the {} scope does not allow overrides of {}",
                    b.source_name(),
                    def.identifier
                ));
            }
            continue;
        }
        if let Some(row) = rows.iter().find(|r| r.identifier == def.identifier && &r.scope == s) {
            eff.value = Some(row.value.clone());
            eff.source = Some(level);
            eff.allow_overrides = row.allow_overrides;
            eff.last_modified = Some(row.modified);
            if !row.allow_overrides && level != target {
                blocked_by = Some(level);
            }
        }
    }
    if !def.allows_level(target) {
        eff.editable = false;
        eff.not_editable_reason = Some(format!(
            "{} can only be set at {} scope",
            def.identifier,
            def.allowed_scopes.iter().map(|l| l.allowed_name()).collect::<Vec<_>>().join(", ")
        ));
    }
    eff
}

/// The value the audit trail records: secrets as a hash, never in clear.
pub fn audit_value(def: &SettingDef, value: Option<&str>) -> Option<String> {
    value.map(|v| audit_text(def.secret, v))
}

/// The audit text of one value: `sha256:<hex>` for a secret, else the value.
pub fn audit_text(secret: bool, value: &str) -> String {
    if secret { format!("sha256:{}", hex(&crate::token::hash_secret(value))) } else { value.to_string() }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// One audit record.
#[derive(Debug, Clone, PartialEq)]
pub struct SettingAudit {
    /// Scope written.
    pub scope: Scope,
    /// Setting.
    pub identifier: String,
    /// `UPDATE` or `RESTORE`.
    pub action: String,
    /// Value before at this scope (filled in by the store, inside the write).
    pub old_value: Option<String>,
    /// Value after at this scope.
    pub new_value: Option<String>,
    /// Who (shown as `USER:<id>` or `SERVICE_ACCOUNT:<id>`, [`crate::audit::Actor::label`]).
    pub actor: crate::audit::Actor,
    /// When.
    pub at: OffsetDateTime,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(scope: Scope, value: &str, allow: bool) -> SettingRow {
        SettingRow {
            scope,
            identifier: "pipeline_timeout_minutes".into(),
            value: value.into(),
            allow_overrides: allow,
            modified: OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn values_parse_per_type() {
        let num = find("pipeline_timeout_minutes").expect("def");
        assert_eq!(num.parse_value(" 90 ").as_deref(), Ok("90"));
        assert_eq!(num.parse_value("90.0").as_deref(), Ok("90"));
        assert_eq!(num.parse_value("1.5").as_deref(), Ok("1.5"));
        assert!(num.parse_value("0").is_err());
        assert!(num.parse_value("NaN").is_err());
        assert!(num.parse_value("ten").is_err());
        let b = find("enable_notifications").expect("def");
        assert_eq!(b.parse_value("TRUE").as_deref(), Ok("true"));
        assert!(b.parse_value("yes").is_err());
        let s = find("default_ticketing_tool").expect("def");
        assert_eq!(s.parse_value("Jira").as_deref(), Ok("Jira"));
        assert!(s.parse_value("Trello").is_err());
        let url = find(JWKS_URL).expect("def");
        assert!(url.parse_value("").is_err());
        assert!(url.parse_value(&"x".repeat(3000)).is_err());
        assert!(url.parse_value("a\u{0}b").is_err());
    }

    #[test]
    fn hierarchy() {
        let def = find("pipeline_timeout_minutes").expect("def");
        let org = Scope { org: "o".into(), project: String::new() };
        let proj = Scope { org: "o".into(), project: "p".into() };
        // Default.
        let e = resolve(def, &[], &proj);
        assert_eq!((e.value.as_deref(), e.source, e.editable), (Some("60"), None, true));
        // Nearest wins.
        let rows = vec![row(Scope::account(), "10", true), row(org.clone(), "20", true)];
        assert_eq!(resolve(def, &rows, &proj).value.as_deref(), Some("20"));
        assert_eq!(resolve(def, &rows, &proj).source, Some(ScopeLevel::Org));
        assert_eq!(resolve(def, &rows, &Scope::account()).value.as_deref(), Some("10"));
        // An ancestor that forbids overrides wins and makes the child not editable.
        let rows = vec![row(Scope::account(), "10", false), row(org.clone(), "20", true)];
        let e = resolve(def, &rows, &proj);
        assert_eq!((e.value.as_deref(), e.editable), (Some("10"), false));
        assert!(e.not_editable_reason.expect("why").contains("ACCOUNT"));
        assert!(resolve(def, &rows, &Scope::account()).editable);
        // Account-only settings are not editable below the account.
        let acct_only = find(JWKS_URL).expect("def");
        assert!(!resolve(acct_only, &[], &org).editable);
    }

    #[test]
    fn secrets_are_hashed_in_the_audit() {
        let mut def = find(VALUE_FIELD).expect("def").clone();
        assert_eq!(audit_value(&def, Some("v")).as_deref(), Some("v"));
        def.secret = true;
        let a = audit_value(&def, Some("hunter2")).expect("value");
        assert!(a.starts_with("sha256:") && !a.contains("hunter2"));
        assert_eq!(audit_value(&def, None), None);
    }
}
