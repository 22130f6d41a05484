//! Walks the use-case permission table: every use case, called through its service, is
//! refused without what the table says it needs and gets past the check with exactly that.
//! The match in [`invoke`] is exhaustive, so a new use case does not compile until it is
//! called here.

use serde_json::json;

use scimgate_scim::schema::ResourceKind;

use super::World;
use crate::access::{Caller, Scope};
use crate::access_service::{RoleInput, ServiceAccountInput, TokenInput, set_feature_flag};
use crate::account_service::create_account;
use crate::entities::{ApiKey, ApiKeyRef, PageRequest, PrincipalType, ResourceGroup, RoleAssignment, Tags};
use crate::error::DomainError;
use crate::ids::AccountId;
use crate::scim_service::ReadBack;
use crate::settings_service::{SettingUpdate, UpdateType};
use crate::store::{ListQuery, Page};
use crate::token::TokenKind;
use crate::use_case::{Need, UseCase};

const PAGE: PageRequest = PageRequest { index: 0, size: 10 };

fn sa_key(id: &str) -> ApiKeyRef {
    ApiKeyRef {
        api_key_type: TokenKind::ServiceAccount,
        parent_identifier: "robot".into(),
        identifier: id.into(),
    }
}

fn role_assignment(id: &str) -> RoleAssignment {
    let t = time::OffsetDateTime::UNIX_EPOCH;
    RoleAssignment {
        identifier: id.into(),
        scope: Scope::account(),
        // A role that grants nothing: assigning it passes the escalation rule with only
        // core_roleassignment_edit (that rule has its own tests in tests::access).
        role_identifier: "grants_nothing".into(),
        resource_group_identifier: "_all_account_level_resources".into(),
        principal_type: PrincipalType::ServiceAccount,
        principal_identifier: "robot".into(),
        disabled: false,
        created: t,
        modified: t,
    }
}

fn resource_group(id: &str) -> ResourceGroup {
    let t = time::OffsetDateTime::UNIX_EPOCH;
    ResourceGroup {
        identifier: id.into(),
        name: id.into(),
        description: String::new(),
        include_all: false,
        resource_types: vec!["USER".into()],
        tags: Tags::new(),
        builtin: false,
        created: t,
        modified: t,
    }
}

fn list_query() -> ListQuery {
    ListQuery {
        filter: None,
        sort: None,
        page: Page::Index { start_index: 1, count: 10 },
        include_related: false,
        count_total: true,
    }
}

/// Calls the use case through its service with plausible arguments (the walk only looks at
/// whether the permission check passed).
async fn invoke(w: &World, uc: UseCase, c: &Caller, n: usize) -> Result<(), DomainError> {
    use UseCase::*;
    let a = &w.access;
    let id = format!("x{n}");
    let user = json!({"userName": format!("{id}@acme.test")});
    let group = json!({"displayName": id});
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "displayName", "value": "y"}]});
    let key = || ApiKey {
        api_key_type: TokenKind::ServiceAccount,
        parent_identifier: "robot".into(),
        identifier: id.clone(),
        name: id.clone(),
        description: String::new(),
        tags: Tags::new(),
        default_ttl_ms: None,
        created: time::OffsetDateTime::UNIX_EPOCH,
        modified: time::OffsetDateTime::UNIX_EPOCH,
    };
    let role = || RoleInput { identifier: id.clone(), name: id.clone(), ..RoleInput::default() };
    let service_account = || ServiceAccountInput {
        identifier: Some(id.clone()),
        name: id.clone(),
        email: "r@acme.test".into(),
        ..ServiceAccountInput::default()
    };
    let token = || TokenInput { identifier: id.clone(), ..TokenInput::default() };
    let setting = || SettingUpdate {
        identifier: "enable_notifications".into(),
        value: Some("true".into()),
        allow_overrides: None,
        update_type: UpdateType::Update,
    };
    let scope = Scope::account();
    let project = || crate::entities::Project {
        org_identifier: "org1".into(),
        identifier: id.clone(),
        name: id.clone(),
        description: String::new(),
        color: String::new(),
        tags: Tags::new(),
        created: time::OffsetDateTime::UNIX_EPOCH,
        modified: time::OffsetDateTime::UNIX_EPOCH,
    };
    match uc {
        CreateAccount => {
            let other = Caller::system(AccountId::parse(&format!("other{n}"))?);
            let c = if matches!(c.principal(), crate::access::Principal::System) { &other } else { c };
            create_account(w.store.as_ref(), w.clock.as_ref(), c, "a@b.test", None, &[]).await.map(|_| ())
        }
        SetFeatureFlag => set_feature_flag(w.store.as_ref(), c, "NG_SETTINGS", true).await,
        GetAccount => a.get_account(c, "acme").map(|_| ()),
        CreateOrganization => a.create_org(c, &id, "Org", "", Tags::new()).await.map(|_| ()),
        GetOrganization => a.get_org(c, "org1").await.map(|_| ()),
        ListOrganizations => a.list_orgs(c, None, PAGE).await.map(|_| ()),
        UpdateOrganization => a.update_org(c, "org1", "Org", "", Tags::new()).await.map(|_| ()),
        DeleteOrganization => a.delete_org(c, "nosuch").await,
        CreateProject => a.create_project(c, project()).await.map(|_| ()),
        GetProject => a.get_project(c, "org1", "p1").await.map(|_| ()),
        ListProjects => a.list_projects(c, None, None, PAGE).await.map(|_| ()),
        UpdateProject => a.update_project(c, project()).await.map(|_| ()),
        DeleteProject => a.delete_project(c, "org1", "nosuch").await,
        CreateServiceAccount => a.create_service_account(c, service_account()).await.map(|_| ()),
        GetServiceAccount => a.get_service_account(c, "robot").await.map(|_| ()),
        ListServiceAccounts => a.list_service_accounts(c, None, PAGE).await.map(|_| ()),
        UpdateServiceAccount => a.update_service_account(c, "robot", service_account()).await.map(|_| ()),
        DeleteServiceAccount => a.delete_service_account(c, "nosuch").await,
        CreateRole => a.create_role(c, role()).await.map(|_| ()),
        GetRole => a.get_role(c, "_account_viewer").await.map(|_| ()),
        ListRoles => a.list_roles(c, PAGE).await.map(|_| ()),
        UpdateRole => a.update_role(c, role()).await.map(|_| ()),
        DeleteRole => a.delete_role(c, "nosuch").await,
        CreateResourceGroup => a.create_resource_group(c, resource_group(&id)).await.map(|_| ()),
        GetResourceGroup => a.get_resource_group(c, "_all_account_level_resources").await.map(|_| ()),
        ListResourceGroups => a.list_resource_groups(c, PAGE).await.map(|_| ()),
        UpdateResourceGroup => a.update_resource_group(c, resource_group("nosuch")).await.map(|_| ()),
        DeleteResourceGroup => a.delete_resource_group(c, "nosuch").await,
        CreateRoleAssignment => a.create_role_assignment(c, role_assignment(&id)).await.map(|_| ()),
        GetRoleAssignment => a.get_role_assignment(c, "bootstrap_admin").await.map(|_| ()),
        ListRoleAssignments => a.list_role_assignments(c, None, PAGE).await.map(|_| ()),
        UpdateRoleAssignment => a.update_role_assignment(c, role_assignment("nosuch")).await.map(|_| ()),
        DeleteRoleAssignment => a.delete_role_assignment(c, "nosuch").await.map(|_| ()),
        CreateApiKey => a.create_api_key(c, key()).await.map(|_| ()),
        GetApiKey => a.get_api_key(c, &sa_key("k1")).await.map(|_| ()),
        ListApiKeys => a.list_api_keys(c, TokenKind::ServiceAccount, "robot").await.map(|_| ()),
        UpdateApiKey => a.update_api_key(c, key()).await.map(|_| ()),
        DeleteApiKey => a.delete_api_key(c, &sa_key("nosuch")).await,
        CreateToken => a.create_token(c, &sa_key("k1"), token()).await.map(|_| ()),
        ListTokens => a.list_tokens(c, &sa_key("k1"), PAGE).await.map(|_| ()),
        RotateToken => a.rotate_token(c, &sa_key("k1"), "t1", None).await.map(|_| ()),
        UpdateToken => a.update_token(c, &sa_key("k1"), "t1", token()).await.map(|_| ()),
        DeleteToken => a.delete_token(c, &sa_key("k1"), "nosuch").await,
        CreateUser => w.scim.create(c, ResourceKind::User, &user).await.map(|_| ()),
        GetUser => w.scim.get(c, ResourceKind::User, &w.admin_user_id, false).await.map(|_| ()),
        ListUsers => w.scim.list(c, ResourceKind::User, &list_query()).await.map(|_| ()),
        ReplaceUser => w.scim.replace(c, ResourceKind::User, "nosuch", &user, None).await.map(|_| ()),
        PatchUser => {
            w.scim.patch(c, ResourceKind::User, "nosuch", &patch, None, ReadBack::Nothing).await.map(|_| ())
        }
        DeleteUser => w.scim.delete(c, ResourceKind::User, "nosuch", None).await,
        CreateGroup => w.scim.create(c, ResourceKind::Group, &group).await.map(|_| ()),
        GetGroup => w.scim.get(c, ResourceKind::Group, "nosuch", false).await.map(|_| ()),
        ListGroups => w.scim.list(c, ResourceKind::Group, &list_query()).await.map(|_| ()),
        ReplaceGroup => w.scim.replace(c, ResourceKind::Group, "nosuch", &group, None).await.map(|_| ()),
        PatchGroup => {
            w.scim.patch(c, ResourceKind::Group, "nosuch", &patch, None, ReadBack::Nothing).await.map(|_| ())
        }
        DeleteGroup => w.scim.delete(c, ResourceKind::Group, "nosuch", None).await,
        ListSettings => w.settings.list(c, &scope, None, None, false).await.map(|_| ()),
        GetSetting => w.settings.get(c, &scope, "enable_notifications").await.map(|_| ()),
        UpdateSettings => w.settings.update(c, &scope, vec![setting()]).await.map(|_| ()),
        ListSettingsAudit => w.settings.audit(c, PAGE).await.map(|_| ()),
        ListAudit => {
            let q = crate::audit::AuditQuery { limit: 10, ..Default::default() };
            w.audit.list(c, &q).await.map(|_| ())
        }
        ListScimRequests => {
            let q = crate::request_log::ScimRequestQuery { limit: 10, ..Default::default() };
            w.audit.requests(c, &q).await.map(|_| ())
        }
        ListEvents => {
            let q = crate::events::EventQuery { after: None, limit: 10, types: None };
            w.events.list(c, &q).await.map(|_| ())
        }
        CreateWebhook => w.webhooks.create(c, &webhook_input()).await.map(|_| ()),
        GetWebhook => w.webhooks.get(c, "hook").await.map(|_| ()),
        ListWebhooks => w.webhooks.list(c).await.map(|_| ()),
        UpdateWebhook => w.webhooks.update(c, "hook", &webhook_input()).await.map(|_| ()),
        DeleteWebhook => w.webhooks.delete(c, "hook").await.map(|_| ()),
        RotateWebhookSecret => w.webhooks.rotate_secret(c, "hook").await.map(|_| ()),
        ListWebhookDeliveries => w.webhooks.deliveries(c, "hook", None, 10).await.map(|_| ()),
        RedeliverWebhook => w.webhooks.redelivery(c, "hook", 1).await.map(|_| ()),
        PollWebhook => {
            let r = crate::poll::PollRequest::from_json(&serde_json::Value::Null).expect("request");
            w.webhooks.poll(c, "hook", &r).await.map(|_| ())
        }
    }
}

fn webhook_input() -> crate::webhooks::WebhookInput {
    crate::webhooks::WebhookInput {
        identifier: "hook".into(),
        url: "https://hooks.example.com/scim".into(),
        events: crate::webhooks::EventFilter::All,
        format: crate::webhooks::WebhookFormat::Standard,
        delivery: crate::webhooks::WebhookDelivery::Push,
        enabled: true,
    }
}

fn is_refusal(r: &Result<(), DomainError>) -> bool {
    matches!(r, Err(DomainError::Forbidden(_) | DomainError::ForbiddenMessage(_)))
}

#[tokio::test]
async fn every_use_case_checks_what_the_table_says() {
    let w = World::new().await;
    let admin = w.admin().await;
    // Something to act on: an organization, a service account with a key and a token.
    w.access.create_org(&admin, "org1", "Org", "", Tags::new()).await.expect("org");
    let nothing =
        RoleInput { identifier: "grants_nothing".into(), name: "Nothing".into(), ..RoleInput::default() };
    w.access.create_role(&admin, nothing).await.expect("role");
    let robot = ServiceAccountInput {
        identifier: Some("robot".into()),
        name: "Robot".into(),
        email: "robot@acme.test".into(),
        ..ServiceAccountInput::default()
    };
    w.access.create_service_account(&admin, robot).await.expect("sa");
    let mut k = ApiKey {
        api_key_type: TokenKind::ServiceAccount,
        parent_identifier: "robot".into(),
        identifier: "k1".into(),
        name: "k1".into(),
        description: String::new(),
        tags: Tags::new(),
        default_ttl_ms: None,
        created: time::OffsetDateTime::UNIX_EPOCH,
        modified: time::OffsetDateTime::UNIX_EPOCH,
    };
    w.access.create_api_key(&admin, k.clone()).await.expect("key");
    k.identifier = "k2".into();
    let t1 = TokenInput { identifier: "t1".into(), ..TokenInput::default() };
    w.access.create_token(&admin, &sa_key("k1"), t1).await.expect("token");

    let nobody = w.caller(&[]);
    for (n, uc) in UseCase::ALL.iter().copied().enumerate() {
        let denied = invoke(&w, uc, &nobody, n).await;
        match uc.need() {
            Need::Permission(p) | Need::OwnKeysOr(p) => {
                assert!(
                    matches!(&denied, Err(DomainError::Forbidden(q)) if *q == p),
                    "{}: without {p} expected 403 naming it, got {denied:?}",
                    uc.name()
                );
                let allowed = invoke(&w, uc, &w.caller(&[p]), n).await;
                assert!(
                    !is_refusal(&allowed),
                    "{}: with exactly {p} expected past the check, got {allowed:?}",
                    uc.name()
                );
            }
            Need::Operator => {
                assert!(
                    is_refusal(&denied),
                    "{}: a credential must not pass an operator action: {denied:?}",
                    uc.name()
                );
                let by_admin = invoke(&w, uc, &admin, n).await;
                assert!(is_refusal(&by_admin), "{}: not even the account admin: {by_admin:?}", uc.name());
                let allowed = invoke(&w, uc, &Caller::system(w.account.clone()), n).await;
                assert!(allowed.is_ok(), "{}: the operator may: {allowed:?}", uc.name());
            }
        }
    }
}

#[tokio::test]
async fn personal_keys_only_by_their_owner_whatever_the_permissions() {
    let w = World::new().await;
    let owner = w.admin_user_id.clone();
    let mine = ApiKeyRef {
        api_key_type: TokenKind::User,
        parent_identifier: owner.clone(),
        identifier: "mine".into(),
    };
    let key = ApiKey {
        api_key_type: TokenKind::User,
        parent_identifier: owner.clone(),
        identifier: "mine".into(),
        name: "mine".into(),
        description: String::new(),
        tags: Tags::new(),
        default_ttl_ms: None,
        created: time::OffsetDateTime::UNIX_EPOCH,
        modified: time::OffsetDateTime::UNIX_EPOCH,
    };
    // Every permission, but another principal: refused.
    let everything = w.caller(crate::access::Permission::ALL);
    let r = w.access.create_api_key(&everything, key.clone()).await;
    assert!(
        matches!(r, Err(DomainError::ForbiddenMessage(ref m)) if m.contains("user who owns them")),
        "{r:?}"
    );
    assert!(matches!(
        w.access.list_api_keys(&w.user("someone"), TokenKind::User, &owner).await,
        Err(DomainError::ForbiddenMessage(_))
    ));
    // The owner, without any permission: allowed.
    let me = w.user(&owner);
    w.access.create_api_key(&me, key).await.expect("own key");
    let (_, pat) = w
        .access
        .create_token(&me, &mine, TokenInput { identifier: "t".into(), ..TokenInput::default() })
        .await
        .expect("own token");
    assert!(pat.starts_with("pat.acme."));
    assert_eq!(w.access.list_api_keys(&me, TokenKind::User, &owner).await.expect("list").len(), 1);
}
