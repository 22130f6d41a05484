//! The use-case permission table: every use case a service offers and what the caller must
//! hold for it. Services check it themselves ([`Caller::authorize`]); handlers, the CLI and
//! the console never name a permission. A unit test walks [`UseCase::ALL`] and calls each
//! use case through its service with and without the permission, so a use case cannot be
//! added without a row here and a check in its service.
//!
//! [`Caller::authorize`]: crate::access::Caller

use crate::access::Permission;

/// What a use case needs from its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// The permission, at the scope the use case acts in.
    Permission(Permission),
    /// API keys and tokens: for a service account's keys this permission; a user's personal
    /// keys only that user itself (no permission lets anyone else manage them).
    OwnKeysOr(Permission),
    /// Only the operator (the CLI and the first start), through [`Caller::system`].
    ///
    /// [`Caller::system`]: crate::access::Caller::system
    Operator,
}

macro_rules! use_cases {
    ($($variant:ident => $need:expr;)*) => {
        /// A use case of a domain service.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum UseCase { $(#[doc = stringify!($variant)] $variant,)* }

        impl UseCase {
            /// Every use case, in table order.
            pub const ALL: &'static [UseCase] = &[$(UseCase::$variant,)*];
            /// What the caller must hold.
            pub const fn need(self) -> Need {
                use crate::access::Permission as P;
                use Need::{Operator, OwnKeysOr, Permission};
                match self { $(UseCase::$variant => $need,)* }
            }
            /// Name, for logs and test messages.
            pub const fn name(self) -> &'static str {
                match self { $(UseCase::$variant => stringify!($variant),)* }
            }
        }
    };
}

use_cases! {
    // Accounts and feature flags: operator actions.
    CreateAccount => Operator;
    SetFeatureFlag => Operator;
    GetAccount => Permission(P::AccountView);
    // Organizations and projects.
    CreateOrganization => Permission(P::OrganizationEdit);
    GetOrganization => Permission(P::OrganizationView);
    ListOrganizations => Permission(P::OrganizationView);
    UpdateOrganization => Permission(P::OrganizationEdit);
    DeleteOrganization => Permission(P::OrganizationEdit);
    CreateProject => Permission(P::ProjectEdit);
    GetProject => Permission(P::ProjectView);
    ListProjects => Permission(P::ProjectView);
    UpdateProject => Permission(P::ProjectEdit);
    DeleteProject => Permission(P::ProjectEdit);
    // Service accounts.
    CreateServiceAccount => Permission(P::ServiceaccountEdit);
    GetServiceAccount => Permission(P::ServiceaccountView);
    ListServiceAccounts => Permission(P::ServiceaccountView);
    UpdateServiceAccount => Permission(P::ServiceaccountEdit);
    DeleteServiceAccount => Permission(P::ServiceaccountDelete);
    // Roles and resource groups.
    CreateRole => Permission(P::RoleEdit);
    GetRole => Permission(P::RoleView);
    ListRoles => Permission(P::RoleView);
    UpdateRole => Permission(P::RoleEdit);
    DeleteRole => Permission(P::RoleEdit);
    CreateResourceGroup => Permission(P::ResourcegroupEdit);
    GetResourceGroup => Permission(P::ResourcegroupView);
    ListResourceGroups => Permission(P::ResourcegroupView);
    UpdateResourceGroup => Permission(P::ResourcegroupEdit);
    DeleteResourceGroup => Permission(P::ResourcegroupEdit);
    // Role assignments (checked at the assignment's scope).
    CreateRoleAssignment => Permission(P::RoleassignmentEdit);
    GetRoleAssignment => Permission(P::RoleassignmentView);
    ListRoleAssignments => Permission(P::RoleassignmentView);
    UpdateRoleAssignment => Permission(P::RoleassignmentEdit);
    DeleteRoleAssignment => Permission(P::RoleassignmentEdit);
    // API keys and tokens.
    CreateApiKey => OwnKeysOr(P::ServiceaccountManageapikey);
    GetApiKey => OwnKeysOr(P::ServiceaccountView);
    ListApiKeys => OwnKeysOr(P::ServiceaccountView);
    UpdateApiKey => OwnKeysOr(P::ServiceaccountManageapikey);
    DeleteApiKey => OwnKeysOr(P::ServiceaccountManageapikey);
    CreateToken => OwnKeysOr(P::ServiceaccountManageapikey);
    ListTokens => OwnKeysOr(P::ServiceaccountView);
    RotateToken => OwnKeysOr(P::ServiceaccountManageapikey);
    UpdateToken => OwnKeysOr(P::ServiceaccountManageapikey);
    DeleteToken => OwnKeysOr(P::ServiceaccountManageapikey);
    // SCIM (docs/contract.md §3 "SCIM needs").
    CreateUser => Permission(P::UserInvite);
    GetUser => Permission(P::UserView);
    ListUsers => Permission(P::UserView);
    ReplaceUser => Permission(P::UserManage);
    PatchUser => Permission(P::UserManage);
    DeleteUser => Permission(P::UserManage);
    CreateGroup => Permission(P::UsergroupManage);
    GetGroup => Permission(P::UsergroupView);
    ListGroups => Permission(P::UsergroupView);
    ReplaceGroup => Permission(P::UsergroupManage);
    PatchGroup => Permission(P::UsergroupManage);
    DeleteGroup => Permission(P::UsergroupManage);
    // Settings (checked at the scope asked about; the JWT settings also need
    // core_serviceaccount_manageapikey, a rule of the settings service).
    ListSettings => Permission(P::SettingView);
    GetSetting => Permission(P::SettingView);
    UpdateSettings => Permission(P::SettingEdit);
    ListSettingsAudit => Permission(P::SettingView);
    ListAudit => Permission(P::AuditView);
    ListScimRequests => Permission(P::AuditView);
    // Change events and webhooks (docs/events.md).
    ListEvents => Permission(P::WebhookView);
    CreateWebhook => Permission(P::WebhookEdit);
    GetWebhook => Permission(P::WebhookView);
    ListWebhooks => Permission(P::WebhookView);
    UpdateWebhook => Permission(P::WebhookEdit);
    DeleteWebhook => Permission(P::WebhookEdit);
    RotateWebhookSecret => Permission(P::WebhookEdit);
    ListWebhookDeliveries => Permission(P::WebhookView);
    RedeliverWebhook => Permission(P::WebhookEdit);
    // A consumer reading what it is sent (as the feed is read): view.
    PollWebhook => Permission(P::WebhookView);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_every_permission_is_needed_somewhere() {
        let mut names: Vec<_> = UseCase::ALL.iter().map(|u| u.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), UseCase::ALL.len());
        for p in Permission::ALL {
            let used = UseCase::ALL.iter().any(|u| match u.need() {
                Need::Permission(q) | Need::OwnKeysOr(q) => q == *p,
                Need::Operator => false,
            });
            assert!(used, "{p} is needed by no use case");
        }
    }
}
