//! Permissions, principals and the verified caller (docs/contract.md §3, docs/design.md
//! "How a request flows").
//!
//! A handler holds a [`Caller`] once the credential is verified and passes it to a service;
//! the service checks the permission its use case needs (the table in [`crate::use_case`]).
//! The checks are `pub(crate)`: nothing outside the domain can decide who may do what.

use std::fmt;
use std::sync::Arc;

use crate::error::DomainError;
use crate::ids::AccountId;
use crate::token::TokenKind;
use crate::use_case::{Need, UseCase};

macro_rules! permissions {
    ($($variant:ident = $name:literal, $resource:literal;)*) => {
        /// A permission, `core_<resource>_<action>`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Permission { $(#[doc = $name] $variant,)* }

        impl Permission {
            /// Every permission, in contract order.
            pub const ALL: &'static [Permission] = &[$(Permission::$variant,)*];
            /// Wire name.
            pub fn as_str(self) -> &'static str {
                match self { $(Permission::$variant => $name,)* }
            }
            /// The resource type a resource group must include for this permission.
            pub fn resource_type(self) -> &'static str {
                match self { $(Permission::$variant => $resource,)* }
            }
        }
    };
}

permissions! {
    UserView = "core_user_view", "USER";
    UserManage = "core_user_manage", "USER";
    UserInvite = "core_user_invite", "USER";
    UsergroupView = "core_usergroup_view", "USERGROUP";
    UsergroupManage = "core_usergroup_manage", "USERGROUP";
    ServiceaccountView = "core_serviceaccount_view", "SERVICEACCOUNT";
    ServiceaccountEdit = "core_serviceaccount_edit", "SERVICEACCOUNT";
    ServiceaccountDelete = "core_serviceaccount_delete", "SERVICEACCOUNT";
    ServiceaccountManageapikey = "core_serviceaccount_manageapikey", "SERVICEACCOUNT";
    SettingView = "core_setting_view", "SETTING";
    SettingEdit = "core_setting_edit", "SETTING";
    RoleView = "core_role_view", "ROLE";
    RoleEdit = "core_role_edit", "ROLE";
    RoleassignmentView = "core_roleassignment_view", "ROLEASSIGNMENT";
    RoleassignmentEdit = "core_roleassignment_edit", "ROLEASSIGNMENT";
    ResourcegroupView = "core_resourcegroup_view", "RESOURCEGROUP";
    ResourcegroupEdit = "core_resourcegroup_edit", "RESOURCEGROUP";
    OrganizationView = "core_organization_view", "ORGANIZATION";
    OrganizationEdit = "core_organization_edit", "ORGANIZATION";
    ProjectView = "core_project_view", "PROJECT";
    ProjectEdit = "core_project_edit", "PROJECT";
    AccountView = "core_account_view", "ACCOUNT";
    AuditView = "core_audit_view", "AUDIT";
    WebhookView = "core_webhook_view", "WEBHOOK";
    WebhookEdit = "core_webhook_edit", "WEBHOOK";
}

impl Permission {
    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Permission> {
        Permission::ALL.iter().copied().find(|p| p.as_str() == s)
    }
    /// Whether this is a read permission (`_account_viewer` holds all of them).
    pub fn is_view(self) -> bool {
        self.as_str().ends_with("_view")
    }
    fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Resource types a resource group can select.
pub const RESOURCE_TYPES: &[&str] = &[
    "USER",
    "USERGROUP",
    "SERVICEACCOUNT",
    "SETTING",
    "ROLE",
    "ROLEASSIGNMENT",
    "RESOURCEGROUP",
    "ORGANIZATION",
    "PROJECT",
    "ACCOUNT",
    "AUDIT",
    "WEBHOOK",
];

/// A set of permissions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PermissionSet(u32);

impl PermissionSet {
    /// Every permission.
    pub fn all() -> Self {
        Self(Permission::ALL.iter().fold(0, |acc, p| acc | p.bit()))
    }
    /// Adds one.
    pub fn insert(&mut self, p: Permission) {
        self.0 |= p.bit();
    }
    /// Whether it holds `p`.
    pub fn contains(self, p: Permission) -> bool {
        self.0 & p.bit() != 0
    }
    /// Union.
    pub fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }
    /// The permissions, in contract order.
    pub fn iter(self) -> impl Iterator<Item = Permission> {
        Permission::ALL.iter().copied().filter(move |p| self.contains(*p))
    }
}

impl FromIterator<Permission> for PermissionSet {
    fn from_iter<I: IntoIterator<Item = Permission>>(iter: I) -> Self {
        let mut s = Self::default();
        for p in iter {
            s.insert(p);
        }
        s
    }
}

/// Built-in role: every permission.
pub const ACCOUNT_ADMIN_ROLE: &str = "_account_admin";
/// Built-in role: every `*_view` permission.
pub const ACCOUNT_VIEWER_ROLE: &str = "_account_viewer";
/// Built-in resource group: every account-level resource.
pub const ALL_ACCOUNT_RESOURCES: &str = "_all_account_level_resources";

/// The permissions of a built-in role, `None` for other identifiers.
pub fn builtin_role(identifier: &str) -> Option<PermissionSet> {
    match identifier {
        ACCOUNT_ADMIN_ROLE => Some(PermissionSet::all()),
        ACCOUNT_VIEWER_ROLE => Some(Permission::ALL.iter().copied().filter(|p| p.is_view()).collect()),
        _ => None,
    }
}

/// Who a credential acts for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Principal {
    /// A user (SCIM id).
    User(String),
    /// A service account (identifier).
    ServiceAccount(String),
    /// The operator: the CLI and the first start, never a credential.
    System,
}

impl Principal {
    /// The id or identifier (`system` for the operator).
    pub fn id(&self) -> &str {
        match self {
            Principal::User(id) | Principal::ServiceAccount(id) => id,
            Principal::System => "system",
        }
    }
    /// `USER`, `SERVICE_ACCOUNT` or `SYSTEM`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Principal::User(_) => "USER",
            Principal::ServiceAccount(_) => "SERVICE_ACCOUNT",
            Principal::System => "SYSTEM",
        }
    }
}

/// A scope inside an account: the account itself, an organization, or a project.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Scope {
    /// Organization identifier, empty at account scope.
    pub org: String,
    /// Project identifier, empty unless in a project.
    pub project: String,
}

impl Scope {
    /// The account scope.
    pub fn account() -> Self {
        Self::default()
    }
    /// Whether a grant made at `self` applies at `inner` (a scope covers itself and the
    /// scopes below it).
    pub fn covers(&self, inner: &Scope) -> bool {
        (self.org.is_empty() || self.org == inner.org)
            && (self.project.is_empty() || (self.org == inner.org && self.project == inner.project))
    }
}

/// What a principal may do: permission sets per scope, from its enabled role assignments
/// (and, for users, their groups').
#[derive(Debug, Clone, Default)]
pub struct Grants {
    entries: Vec<(Scope, PermissionSet)>,
}

impl Grants {
    /// Adds the permissions granted at a scope.
    pub fn add(&mut self, scope: Scope, perms: PermissionSet) {
        match self.entries.iter_mut().find(|(s, _)| *s == scope) {
            Some((_, p)) => *p = p.union(perms),
            None => self.entries.push((scope, perms)),
        }
    }
    /// The permissions that apply at `scope`.
    pub fn at(&self, scope: &Scope) -> PermissionSet {
        self.entries
            .iter()
            .filter(|(s, _)| s.covers(scope))
            .fold(PermissionSet::default(), |a, (_, p)| a.union(*p))
    }
}

/// A verified credential: the account it belongs to, who it acts for and what it may do.
/// The authentication service makes one from a credential; [`Caller::system`] makes the
/// operator's. Every service method takes one and checks the permission its use case
/// needs itself ([`crate::use_case`]).
#[derive(Debug, Clone)]
pub struct Caller {
    account: AccountId,
    principal: Principal,
    token_id: Option<String>,
    grants: Arc<Grants>,
    jwt: Option<Arc<crate::audit::JwtSubject>>,
    request_id: Option<Arc<str>>,
}

impl Caller {
    pub(crate) fn new(
        account: AccountId,
        principal: Principal,
        token_id: Option<String>,
        grants: Arc<Grants>,
    ) -> Self {
        Self { account, principal, token_id, grants, jwt: None, request_id: None }
    }
    /// The same caller, acting through a JWT with these claims (for the audit log).
    pub fn with_jwt(mut self, jwt: crate::audit::JwtSubject) -> Self {
        self.jwt = Some(Arc::new(jwt));
        self
    }
    /// The same caller, within the request with this id (for the audit log).
    pub fn with_request_id(mut self, id: &str) -> Self {
        self.request_id = (!id.is_empty()).then(|| Arc::from(id));
        self
    }
    /// The JWT's identifying claims, when the credential was one.
    pub fn jwt(&self) -> Option<&crate::audit::JwtSubject> {
        self.jwt.as_deref()
    }
    /// The request's id, when the caller acts within a request.
    pub fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }
    /// The operator acting on an account (CLI, first start): every permission, and the only
    /// caller that passes [`Need::Operator`].
    pub fn system(account: AccountId) -> Self {
        let mut grants = Grants::default();
        grants.add(Scope::account(), PermissionSet::all());
        Self {
            account,
            principal: Principal::System,
            token_id: None,
            grants: Arc::new(grants),
            jwt: None,
            request_id: None,
        }
    }
    /// The account.
    pub fn account(&self) -> &AccountId {
        &self.account
    }
    /// Who the credential acts for.
    pub fn principal(&self) -> &Principal {
        &self.principal
    }
    /// The API token's id, when the credential is one.
    pub fn token_id(&self) -> Option<&str> {
        self.token_id.as_deref()
    }
    /// Whether the caller would pass `use_case`'s check at account scope. For what a user
    /// interface shows or offers (the console hides what it cannot do); the services check
    /// for themselves on every call.
    pub fn can(&self, use_case: UseCase) -> bool {
        match use_case.need() {
            Need::Permission(p) | Need::OwnKeysOr(p) => self.holds(p),
            Need::Operator => self.principal == Principal::System,
        }
    }
    /// The names of the permissions the caller holds at account scope (for showing).
    pub fn permission_names(&self) -> Vec<&'static str> {
        self.grants.at(&Scope::account()).iter().map(Permission::as_str).collect()
    }
    /// Whether the caller holds `p` at account scope.
    pub(crate) fn holds(&self, p: Permission) -> bool {
        self.grants.at(&Scope::account()).contains(p)
    }
    /// Checks what `use_case` needs at account scope; on success, the account to act in.
    /// 403 naming the missing permission.
    pub(crate) fn authorize(&self, use_case: UseCase) -> Result<&AccountId, DomainError> {
        self.authorize_at(&Scope::account(), use_case)
    }
    /// Checks what `use_case` needs at a scope (a grant at the account or a parent scope
    /// covers it).
    pub(crate) fn authorize_at(&self, scope: &Scope, use_case: UseCase) -> Result<&AccountId, DomainError> {
        match use_case.need() {
            Need::Permission(p) if self.grants.at(scope).contains(p) => Ok(&self.account),
            Need::Permission(p) => Err(DomainError::Forbidden(p)),
            Need::Operator if self.principal == Principal::System => Ok(&self.account),
            Need::Operator => Err(DomainError::ForbiddenMessage(format!(
                "{} is an operator action (scimgate CLI)",
                use_case.name()
            ))),
            Need::OwnKeysOr(_) => Err(DomainError::Internal(format!(
                "{} needs the key owner: check it with authorize_keys",
                use_case.name()
            ))),
        }
    }
    /// The escalation rule (the one Kubernetes RBAC uses; security review item 5): a caller
    /// may create, edit or assign a role only if it holds, at `scope`, every permission the
    /// role grants. 403 naming the first permission it lacks.
    pub(crate) fn may_grant(
        &self,
        scope: &Scope,
        permissions: impl IntoIterator<Item = Permission>,
    ) -> Result<(), DomainError> {
        let held = self.grants.at(scope);
        match permissions.into_iter().find(|p| !held.contains(*p)) {
            None => Ok(()),
            Some(p) => Err(DomainError::ForbiddenMessage(format!(
                "missing permission {p}: a role that grants {p} can only be created, edited or assigned by \
                 a caller who holds {p} at that scope"
            ))),
        }
    }
    /// Checks an API key or token use case: a service account's keys need the use case's
    /// permission; a user's personal keys only the user itself.
    pub(crate) fn authorize_keys(
        &self,
        use_case: UseCase,
        kind: TokenKind,
        parent: &str,
    ) -> Result<&AccountId, DomainError> {
        let Need::OwnKeysOr(p) = use_case.need() else { return self.authorize(use_case) };
        match kind {
            TokenKind::ServiceAccount if self.holds(p) => Ok(&self.account),
            TokenKind::ServiceAccount => Err(DomainError::Forbidden(p)),
            TokenKind::User => match &self.principal {
                Principal::User(id) if id == parent => Ok(&self.account),
                _ => Err(DomainError::ForbiddenMessage(
                    "personal API keys and tokens can only be managed by the user who owns them".into(),
                )),
            },
        }
    }
}

/// The identifier rule for service accounts (docs/contract.md §3): derive from a name.
pub fn identifier_from_name(name: &str) -> String {
    let mut s = String::new();
    for c in name.trim().chars() {
        let c = match c {
            '.' | '-' => '_',
            c => strip_accent(c),
        };
        if c.is_ascii_alphanumeric() || c == '_' || c == '$' || c == ' ' {
            s.push(c);
        }
    }
    // Each run of spaces becomes one '_'.
    let mut out = String::new();
    let mut in_space = false;
    for c in s.chars() {
        if c == ' ' {
            if !in_space {
                out.push('_');
            }
            in_space = true;
        } else {
            out.push(c);
            in_space = false;
        }
    }
    let out = out.trim_start_matches(|c: char| c.is_ascii_digit() || c == '$');
    out.chars().take(128).collect()
}

/// Reserved words refused as identifiers.
pub const RESERVED_IDENTIFIERS: &[&str] = &[
    "or",
    "and",
    "eq",
    "ne",
    "lt",
    "gt",
    "le",
    "ge",
    "div",
    "mod",
    "not",
    "null",
    "true",
    "false",
    "new",
    "var",
    "return",
    "step",
    "parallel",
    "stepGroup",
    "org",
    "account",
    "class",
];

/// Validates an identifier: `^[a-zA-Z_][0-9a-zA-Z_$]{0,127}$`, not a reserved word.
pub fn validate_identifier(id: &str, what: &str) -> Result<(), DomainError> {
    let mut chars = id.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
    if !first_ok || !rest_ok || id.len() > 128 {
        return Err(DomainError::invalid(format!(
            "{what} identifier '{id}' is invalid: it must match ^[a-zA-Z_][0-9a-zA-Z_$]{{0,127}}$"
        )));
    }
    if RESERVED_IDENTIFIERS.contains(&id) {
        return Err(DomainError::invalid(format!(
            "{what} identifier '{id}' is a reserved word; choose another"
        )));
    }
    Ok(())
}

/// Maps a Latin letter with a diacritic to its base letter; other characters unchanged.
fn strip_accent(c: char) -> char {
    const MAP: &[(&str, char)] = &[
        ("àáâãäåāăą", 'a'),
        ("ÀÁÂÃÄÅĀĂĄ", 'A'),
        ("çćĉċč", 'c'),
        ("ÇĆĈĊČ", 'C'),
        ("ďđ", 'd'),
        ("ĎĐ", 'D'),
        ("èéêëēĕėęě", 'e'),
        ("ÈÉÊËĒĔĖĘĚ", 'E'),
        ("ĝğġģ", 'g'),
        ("ĜĞĠĢ", 'G'),
        ("ĥħ", 'h'),
        ("ĤĦ", 'H'),
        ("ìíîïĩīĭįı", 'i'),
        ("ÌÍÎÏĨĪĬĮİ", 'I'),
        ("ĵ", 'j'),
        ("Ĵ", 'J'),
        ("ķ", 'k'),
        ("Ķ", 'K'),
        ("ĺļľŀł", 'l'),
        ("ĹĻĽĿŁ", 'L'),
        ("ñńņňŉ", 'n'),
        ("ÑŃŅŇ", 'N'),
        ("òóôõöøōŏő", 'o'),
        ("ÒÓÔÕÖØŌŎŐ", 'O'),
        ("ŕŗř", 'r'),
        ("ŔŖŘ", 'R'),
        ("śŝşšș", 's'),
        ("ŚŜŞŠȘ", 'S'),
        ("ţťŧț", 't'),
        ("ŢŤŦȚ", 'T'),
        ("ùúûüũūŭůűų", 'u'),
        ("ÙÚÛÜŨŪŬŮŰŲ", 'U'),
        ("ŵ", 'w'),
        ("Ŵ", 'W'),
        ("ýÿŷ", 'y'),
        ("ÝŸŶ", 'Y'),
        ("źżž", 'z'),
        ("ŹŻŽ", 'Z'),
    ];
    if c.is_ascii() {
        return c;
    }
    MAP.iter().find(|(set, _)| set.contains(c)).map(|(_, b)| *b).unwrap_or(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifier_rule() {
        let cases = [
            ("SCIM Provisioner (Okta)", "SCIM_Provisioner_Okta"),
            ("  my.service-account  ", "my_service_account"),
            ("Équipe Öffentlich", "Equipe_Offentlich"),
            ("123 abc", "_abc"),
            ("9$x", "x"),
            ("a   b", "a_b"),
            ("ci/cd bot!", "cicd_bot"),
        ];
        for (name, want) in cases {
            assert_eq!(identifier_from_name(name), want, "{name}");
        }
        assert_eq!(identifier_from_name(&"x".repeat(300)).len(), 128);
        assert!(validate_identifier("SCIM_Provisioner_Okta", "x").is_ok());
        assert!(validate_identifier("account", "x").is_err());
        assert!(validate_identifier("stepGroup", "x").is_err());
        assert!(validate_identifier("1abc", "x").is_err());
        assert!(validate_identifier("a-b", "x").is_err());
        assert!(validate_identifier("a$b", "x").is_ok());
    }

    #[test]
    fn scopes_and_builtins() {
        let acct = Scope::account();
        let org = Scope { org: "o".into(), project: String::new() };
        let proj = Scope { org: "o".into(), project: "p".into() };
        assert!(acct.covers(&org) && acct.covers(&proj) && org.covers(&proj));
        assert!(!org.covers(&acct) && !proj.covers(&org));
        let viewer = builtin_role(ACCOUNT_VIEWER_ROLE).expect("built-in");
        assert!(viewer.contains(Permission::UserView) && !viewer.contains(Permission::UserManage));
        assert_eq!(builtin_role(ACCOUNT_ADMIN_ROLE).expect("built-in").iter().count(), Permission::ALL.len());
        assert_eq!(
            Permission::parse("core_serviceaccount_manageapikey"),
            Some(Permission::ServiceaccountManageapikey)
        );
    }
}
