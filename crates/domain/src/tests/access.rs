//! AccessService: paging with built-ins first, validation, the role-assignment rules, token
//! lifetimes and rotation, cascades, and which writes drop the caches.

use std::sync::atomic::Ordering;

use time::Duration;

use super::World;
use crate::access::{Caller, Grants, Permission as P, PermissionSet, Principal, Scope};
use crate::access_service::{RoleInput, ServiceAccountInput, TokenInput, is_valid_email, set_feature_flag};
use crate::account_service::create_account;
use crate::entities::{ApiKey, ApiKeyRef, PageRequest, PrincipalType, ResourceGroup, RoleAssignment, Tags};
use crate::error::DomainError;
use crate::ids::AccountId;
use crate::token::TokenKind;

fn page(index: u64, size: u64) -> PageRequest {
    PageRequest { index, size }
}

fn role(id: &str, perms: &[&str]) -> RoleInput {
    RoleInput {
        identifier: id.into(),
        name: id.into(),
        permissions: perms.iter().map(|p| p.to_string()).collect(),
        ..RoleInput::default()
    }
}

fn assignment(id: &str, role: &str, resource_group: &str, kind: PrincipalType, who: &str) -> RoleAssignment {
    let t = time::OffsetDateTime::UNIX_EPOCH;
    RoleAssignment {
        identifier: id.into(),
        scope: Scope::account(),
        role_identifier: role.into(),
        resource_group_identifier: resource_group.into(),
        principal_type: kind,
        principal_identifier: who.into(),
        disabled: false,
        created: t,
        modified: t,
    }
}

fn sa_input(name: &str) -> ServiceAccountInput {
    ServiceAccountInput { name: name.into(), email: "sa@acme.test".into(), ..ServiceAccountInput::default() }
}

fn key(parent: &str, id: &str, ttl: Option<i64>) -> ApiKey {
    ApiKey {
        api_key_type: TokenKind::ServiceAccount,
        parent_identifier: parent.into(),
        identifier: id.into(),
        name: id.into(),
        description: String::new(),
        tags: Tags::new(),
        default_ttl_ms: ttl,
        created: time::OffsetDateTime::UNIX_EPOCH,
        modified: time::OffsetDateTime::UNIX_EPOCH,
    }
}

fn key_ref(parent: &str, id: &str) -> ApiKeyRef {
    ApiKeyRef {
        api_key_type: TokenKind::ServiceAccount,
        parent_identifier: parent.into(),
        identifier: id.into(),
    }
}

fn names<T>(items: &[T], f: impl Fn(&T) -> &str) -> Vec<String> {
    items.iter().map(|i| f(i).to_string()).collect()
}

#[tokio::test]
async fn roles_page_with_the_built_ins_first() {
    let w = World::new().await;
    let admin = w.admin().await;
    for id in ["c1", "c2", "c3"] {
        w.access.create_role(&admin, role(id, &["core_user_view"])).await.expect("role");
    }
    let ids = |p: &crate::entities::Paged<crate::entities::Role>| names(&p.items, |r| &r.identifier);
    let p0 = w.access.list_roles(&admin, page(0, 2)).await.expect("p0");
    assert_eq!((ids(&p0), p0.total), (vec!["_account_admin".into(), "_account_viewer".into()], 5));
    let p1 = w.access.list_roles(&admin, page(1, 2)).await.expect("p1");
    assert_eq!(ids(&p1), vec!["c1".to_string(), "c2".into()]);
    let p2 = w.access.list_roles(&admin, page(2, 2)).await.expect("p2");
    assert_eq!(ids(&p2), vec!["c3".to_string()]);
    // A page straddling built-ins and custom ones.
    let p = w.access.list_roles(&admin, page(0, 3)).await.expect("p");
    assert_eq!(ids(&p), vec!["_account_admin".to_string(), "_account_viewer".into(), "c1".into()]);
    let p = w.access.list_roles(&admin, page(1, 3)).await.expect("p");
    assert_eq!(ids(&p), vec!["c2".to_string(), "c3".into()]);
}

#[tokio::test]
async fn resource_groups_page_with_the_built_in_first() {
    let w = World::new().await;
    let admin = w.admin().await;
    let t = time::OffsetDateTime::UNIX_EPOCH;
    for id in ["g1", "g2"] {
        let resource_group = ResourceGroup {
            identifier: id.into(),
            name: id.into(),
            description: String::new(),
            include_all: false,
            resource_types: vec!["USER".into()],
            tags: Tags::new(),
            builtin: false,
            created: t,
            modified: t,
        };
        w.access.create_resource_group(&admin, resource_group).await.expect("rg");
    }
    let p = w.access.list_resource_groups(&admin, page(0, 2)).await.expect("p");
    assert_eq!(
        names(&p.items, |r| &r.identifier),
        vec!["_all_account_level_resources".to_string(), "g1".into()]
    );
    assert_eq!(p.total, 3);
    let p = w.access.list_resource_groups(&admin, page(1, 2)).await.expect("p");
    assert_eq!(names(&p.items, |r| &r.identifier), vec!["g2".to_string()]);
}

#[tokio::test]
async fn unknown_permissions_are_named_and_built_in_roles_are_read_only() {
    let w = World::new().await;
    let admin = w.admin().await;
    let r = w.access.create_role(&admin, role("r", &["core_user_view", "core_user_fly"])).await;
    assert!(
        matches!(&r, Err(DomainError::Invalid(e)) if e.detail.contains("unknown permissions: core_user_fly") && e.detail.contains("core_account_view")),
        "{r:?}"
    );
    let r = w.access.update_role(&admin, role("_account_admin", &[])).await;
    assert!(matches!(r, Err(DomainError::Invalid(_))), "{r:?}");
    assert!(matches!(w.access.delete_role(&admin, "_account_viewer").await, Err(DomainError::Invalid(_))));
}

#[tokio::test]
async fn a_role_in_use_cannot_be_deleted() {
    let w = World::new().await;
    let admin = w.admin().await;
    w.access.create_role(&admin, role("viewer2", &["core_user_view"])).await.expect("role");
    let a =
        assignment("a1", "viewer2", "_all_account_level_resources", PrincipalType::User, &w.admin_user_id);
    w.access.create_role_assignment(&admin, a).await.expect("ra");
    assert!(matches!(w.access.delete_role(&admin, "viewer2").await, Err(DomainError::Conflict(_))));
    w.access.delete_role_assignment(&admin, "a1").await.expect("delete ra");
    w.access.delete_role(&admin, "viewer2").await.expect("now it can go");
}

#[tokio::test]
async fn an_assignment_needs_an_existing_role_group_scope_and_principal() {
    let w = World::new().await;
    let admin = w.admin().await;
    let uid = w.admin_user_id.clone();
    let all = "_all_account_level_resources";
    let cases = [
        (assignment("a1", "nosuch", all, PrincipalType::User, &uid), "role 'nosuch' does not exist"),
        (assignment("a2", "_account_viewer", "nosuch", PrincipalType::User, &uid), "resource group 'nosuch'"),
        (
            assignment("a3", "_account_viewer", all, PrincipalType::ServiceAccount, "ghost"),
            "principal SERVICE_ACCOUNT 'ghost'",
        ),
        (
            RoleAssignment {
                scope: Scope { org: String::new(), project: "p".into() },
                ..assignment("a4", "_account_viewer", all, PrincipalType::User, &uid)
            },
            "projectIdentifier needs orgIdentifier",
        ),
    ];
    for (role_assignment, want) in cases {
        let r = w.access.create_role_assignment(&admin, role_assignment).await;
        assert!(matches!(&r, Err(DomainError::Invalid(e)) if e.detail.contains(want)), "{want}: {r:?}");
    }
    let dup = assignment("a5", "_account_viewer", all, PrincipalType::User, &uid);
    w.access.create_role_assignment(&admin, dup.clone()).await.expect("first");
    let again = RoleAssignment { identifier: "a6".into(), ..dup };
    assert!(matches!(w.access.create_role_assignment(&admin, again).await, Err(DomainError::Conflict(_))));
}

#[tokio::test]
async fn an_assignment_at_an_org_needs_the_permission_there_or_above() {
    let w = World::new().await;
    let admin = w.admin().await;
    w.access.create_org(&admin, "eng", "Eng", "", Tags::new()).await.expect("org");
    w.access.create_org(&admin, "ops", "Ops", "", Tags::new()).await.expect("org");
    let eng = Scope { org: "eng".into(), project: String::new() };
    let mut grants = Grants::default();
    grants.add(eng.clone(), [P::RoleassignmentEdit].into_iter().collect::<PermissionSet>());
    let org_admin =
        Caller::new(w.account.clone(), Principal::User("u".into()), None, std::sync::Arc::new(grants));
    w.access.create_role(&admin, role("nothing", &[])).await.expect("role");
    let at = |org: &str, id: &str| RoleAssignment {
        scope: Scope { org: org.into(), project: String::new() },
        ..assignment(id, "nothing", "_all_account_level_resources", PrincipalType::User, &w.admin_user_id)
    };
    w.access.create_role_assignment(&org_admin, at("eng", "in_eng")).await.expect("own org");
    let r = w.access.create_role_assignment(&org_admin, at("ops", "in_ops")).await;
    assert!(matches!(r, Err(DomainError::Forbidden(P::RoleassignmentEdit))), "{r:?}");
    let r = w.access.create_role_assignment(&org_admin, at("", "at_account")).await;
    assert!(matches!(r, Err(DomainError::Forbidden(P::RoleassignmentEdit))), "{r:?}");
}

#[tokio::test]
async fn only_disabled_changes_on_an_assignment_and_it_drops_the_grants() {
    let w = World::new().await;
    let admin = w.admin().await;
    let a = assignment(
        "a1",
        "_account_viewer",
        "_all_account_level_resources",
        PrincipalType::User,
        &w.admin_user_id,
    );
    w.access.create_role_assignment(&admin, a.clone()).await.expect("ra");
    let other_role = RoleAssignment { role_identifier: "_account_admin".into(), ..a.clone() };
    assert!(matches!(
        w.access.update_role_assignment(&admin, other_role).await,
        Err(DomainError::Invalid(_))
    ));
    let before = w.access_changes.load(Ordering::SeqCst);
    let off =
        w.access.update_role_assignment(&admin, RoleAssignment { disabled: true, ..a }).await.expect("off");
    assert!(off.disabled);
    assert_eq!(w.access_changes.load(Ordering::SeqCst), before + 1);
}

#[tokio::test]
async fn scope_writes_that_do_not_change_grants_keep_the_caches() {
    let w = World::new().await;
    let admin = w.admin().await;
    let before = w.access_changes.load(Ordering::SeqCst);
    w.access.create_org(&admin, "eng", "Eng", "", Tags::new()).await.expect("org");
    w.access.create_service_account(&admin, sa_input("Bot")).await.expect("sa");
    assert_eq!(w.access_changes.load(Ordering::SeqCst), before);
    w.access.delete_org(&admin, "eng").await.expect("delete");
    assert_eq!(w.access_changes.load(Ordering::SeqCst), before + 1, "assignments at the org went with it");
}

#[tokio::test]
async fn service_account_identifiers_names_and_emails() {
    let w = World::new().await;
    let admin = w.admin().await;
    let service_account =
        w.access.create_service_account(&admin, sa_input("SCIM Provisioner (Okta)")).await.expect("sa");
    assert_eq!(service_account.identifier, "SCIM_Provisioner_Okta");
    let r = w.access.create_service_account(&admin, sa_input("SCIM Provisioner (Okta)")).await;
    assert!(matches!(r, Err(DomainError::Conflict(_))), "{r:?}");
    let bad = ServiceAccountInput { email: "not an email".into(), ..sa_input("x") };
    assert!(matches!(w.access.create_service_account(&admin, bad).await, Err(DomainError::Invalid(_))));
    assert!(matches!(
        w.access.create_service_account(&admin, sa_input("   ")).await,
        Err(DomainError::Invalid(_))
    ));
    assert!(matches!(
        w.access.create_service_account(&admin, sa_input("%%%")).await,
        Err(DomainError::Invalid(_))
    ));
    let reserved = ServiceAccountInput { identifier: Some("account".into()), ..sa_input("x") };
    assert!(matches!(w.access.create_service_account(&admin, reserved).await, Err(DomainError::Invalid(_))));
    let mut tags = Tags::new();
    for i in 0..65 {
        tags.insert(format!("k{i}"), String::new());
    }
    let many = ServiceAccountInput { tags, ..sa_input("y") };
    assert!(matches!(w.access.create_service_account(&admin, many).await, Err(DomainError::Invalid(_))));
}

#[test]
fn email_rule() {
    for ok in ["a@b.co", "scim@localhost", "x.y+z@sub.example.com"] {
        assert!(is_valid_email(ok), "{ok}");
    }
    for bad in ["", "a", "@b.co", "a@", "a@b", "a@@b.co", "a b@c.co", "a@-b.co", "a@b..co"] {
        assert!(!is_valid_email(bad), "{bad}");
    }
}

#[tokio::test]
async fn token_lifetimes_follow_the_key_and_refuse_the_past() {
    let w = World::new().await;
    let admin = w.admin().await;
    w.access.create_service_account(&admin, sa_input("Bot")).await.expect("sa");
    w.access.create_api_key(&admin, key("Bot", "k", Some(3_600_000))).await.expect("key");
    let now = w.clock_now();
    let (info, token) = w
        .access
        .create_token(
            &admin,
            &key_ref("Bot", "k"),
            TokenInput { identifier: "t1".into(), ..Default::default() },
        )
        .await
        .expect("t1");
    assert_eq!(info.valid_to, Some(now + Duration::hours(1)), "the key's default lifetime");
    assert!(token.starts_with("sat.acme."));
    let past = TokenInput {
        identifier: "t2".into(),
        valid_to: Some(now - Duration::seconds(1)),
        ..Default::default()
    };
    assert!(matches!(
        w.access.create_token(&admin, &key_ref("Bot", "k"), past).await,
        Err(DomainError::Invalid(_))
    ));
    let inverted = TokenInput {
        identifier: "t3".into(),
        valid_from: Some(now + Duration::hours(2)),
        valid_to: Some(now + Duration::hours(1)),
        ..Default::default()
    };
    assert!(matches!(
        w.access.create_token(&admin, &key_ref("Bot", "k"), inverted).await,
        Err(DomainError::Invalid(_))
    ));
    assert!(matches!(
        w.access.create_api_key(&admin, key("Bot", "k0", Some(0))).await,
        Err(DomainError::Invalid(_))
    ));
    // The token works until it expires.
    w.auth.authenticate_token(&token, "acme").await.expect("valid");
    w.clock.advance(Duration::hours(1) + Duration::seconds(1));
    assert!(matches!(w.auth.authenticate_token(&token, "acme").await, Err(DomainError::Unauthenticated(_))));
}

#[tokio::test]
async fn rotation_grace_is_bounded_and_the_old_secret_stops() {
    let w = World::new().await;
    let admin = w.admin().await;
    w.access.create_service_account(&admin, sa_input("Bot")).await.expect("sa");
    w.access.create_api_key(&admin, key("Bot", "k", None)).await.expect("key");
    let k = key_ref("Bot", "k");
    let (_, old) = w
        .access
        .create_token(&admin, &k, TokenInput { identifier: "t".into(), ..Default::default() })
        .await
        .expect("t");
    let now = w.clock_now();
    let r = w.access.rotate_token(&admin, &k, "t", Some(now + Duration::days(31))).await;
    assert!(matches!(&r, Err(DomainError::Invalid(e)) if e.detail.contains("30 days")), "{r:?}");
    let new = w.access.rotate_token(&admin, &k, "t", Some(now + Duration::minutes(5))).await.expect("rotate");
    assert_eq!(new.split('.').nth(2), old.split('.').nth(2), "same token id");
    w.auth.authenticate_token(&new, "acme").await.expect("new works");
    w.auth.authenticate_token(&old, "acme").await.expect("old works during the grace");
    w.clock.advance(Duration::minutes(6));
    assert!(w.auth.authenticate_token(&old, "acme").await.is_err(), "old stops after the grace");
    w.auth.authenticate_token(&new, "acme").await.expect("new still works");
    let newest = w.access.rotate_token(&admin, &k, "t", None).await.expect("rotate at once");
    assert!(
        w.auth.authenticate_token(&new, "acme").await.is_err(),
        "without grace the old one stops at once"
    );
    w.auth.authenticate_token(&newest, "acme").await.expect("newest works");
}

#[tokio::test]
async fn deleting_a_service_account_takes_its_tokens_along() {
    let w = World::new().await;
    let admin = w.admin().await;
    w.access.create_service_account(&admin, sa_input("Bot")).await.expect("sa");
    w.access.create_api_key(&admin, key("Bot", "k", None)).await.expect("key");
    let (_, token) = w
        .access
        .create_token(
            &admin,
            &key_ref("Bot", "k"),
            TokenInput { identifier: "t".into(), ..Default::default() },
        )
        .await
        .expect("t");
    w.auth.authenticate_token(&token, "acme").await.expect("works");
    w.access.delete_service_account(&admin, "Bot").await.expect("delete");
    assert!(matches!(w.auth.authenticate_token(&token, "acme").await, Err(DomainError::Unauthenticated(_))));
    assert!(matches!(
        w.access.get_api_key(&admin, &key_ref("Bot", "k")).await,
        Err(DomainError::NotFound(_))
    ));
}

#[tokio::test]
async fn a_key_needs_an_existing_parent() {
    let w = World::new().await;
    let r = w.access.create_api_key(&w.admin().await, key("ghost", "k", None)).await;
    assert!(matches!(r, Err(DomainError::NotFound(ref m)) if m.contains("SERVICE_ACCOUNT 'ghost'")), "{r:?}");
}

#[tokio::test]
async fn the_account_itself_and_operator_actions() {
    let w = World::new().await;
    let admin = w.admin().await;
    assert_eq!(w.access.get_account(&admin, "acme").expect("own").as_str(), "acme");
    assert!(matches!(w.access.get_account(&admin, "globex"), Err(DomainError::Unauthenticated(_))));
    let operator = Caller::system(w.account.clone());
    let r = set_feature_flag(w.store.as_ref(), &operator, "NO_SUCH_FLAG", true).await;
    assert!(matches!(&r, Err(DomainError::Invalid(e)) if e.detail.contains("known flags")), "{r:?}");
    set_feature_flag(w.store.as_ref(), &operator, "PL_SUPPORT_JWT_TOKEN_SCIM_API", true).await.expect("on");
    assert!(w.auth.is_feature_enabled(&w.account, "PL_SUPPORT_JWT_TOKEN_SCIM_API").await.expect("flags"));
}

#[tokio::test]
async fn organizations_and_projects_validate_and_cascade() {
    let w = World::new().await;
    let admin = w.admin().await;
    assert!(matches!(
        w.access.create_org(&admin, "1bad", "x", "", Tags::new()).await,
        Err(DomainError::Invalid(_))
    ));
    w.access.create_org(&admin, "eng", "Eng", "", Tags::new()).await.expect("org");
    assert!(matches!(
        w.access.create_org(&admin, "eng", "Eng", "", Tags::new()).await,
        Err(DomainError::Conflict(_))
    ));
    let t = time::OffsetDateTime::UNIX_EPOCH;
    let p = crate::entities::Project {
        org_identifier: "eng".into(),
        identifier: "web".into(),
        name: "Web".into(),
        description: "d".repeat(1025),
        color: String::new(),
        tags: Tags::new(),
        created: t,
        modified: t,
    };
    assert!(
        matches!(w.access.create_project(&admin, p.clone()).await, Err(DomainError::Invalid(_))),
        "description too long"
    );
    let p = crate::entities::Project { description: String::new(), ..p };
    w.access.create_project(&admin, p.clone()).await.expect("project");
    let orphan = crate::entities::Project { org_identifier: "nosuch".into(), ..p };
    assert!(matches!(w.access.create_project(&admin, orphan).await, Err(DomainError::NotFound(_))));
    w.access.delete_org(&admin, "eng").await.expect("delete org");
    assert!(matches!(w.access.get_project(&admin, "eng", "web").await, Err(DomainError::NotFound(_))));
}

/// Security review item 8: the token cache was keyed by token id and tagged with the epoch
/// of the account in the path, so presenting acme's token id through another account's path
/// whose epoch matched acme's later epoch primed an entry that kept a deleted token working
/// until the cache's TTL. Now the cache is keyed by (account, token id) and filled only with
/// the path account's own tokens.
#[tokio::test]
async fn review_8_a_token_primed_through_another_account_stops_when_deleted() {
    let w = World::new().await;
    let admin = w.admin().await;
    let globex = AccountId::parse("globex").expect("id");
    create_account(
        w.store.as_ref(),
        w.clock.as_ref(),
        &Caller::system(globex.clone()),
        "a@globex.test",
        None,
        &[],
    )
    .await
    .expect("globex");
    w.access.create_service_account(&admin, sa_input("Bot")).await.expect("sa");
    w.access.create_api_key(&admin, key("Bot", "k", None)).await.expect("key");
    let token = |id: &str| {
        let w = &w;
        let admin = &admin;
        let id = id.to_string();
        async move {
            let input = TokenInput { identifier: id, ..Default::default() };
            w.access.create_token(admin, &key_ref("Bot", "k"), input).await.expect("token").1
        }
    };
    // How far one deletion moves acme's epoch, measured on a first token.
    let first = token("first").await;
    let before = w.auth.epoch(&w.account);
    w.access.delete_token(&admin, &key_ref("Bot", "k"), "first").await.expect("delete");
    let step = w.auth.epoch(&w.account) - before;
    drop(first);
    // The victim token works; globex's epoch is moved to what acme's will be after deletion.
    let victim = token("victim").await;
    w.auth.authenticate_token(&victim, "acme").await.expect("works");
    let after_delete = w.auth.epoch(&w.account) + step;
    while w.auth.epoch(&globex) < after_delete {
        w.auth.invalidate(&globex);
    }
    assert_eq!(w.auth.epoch(&globex), after_delete);
    // The same token id presented through globex's path: refused, and primes nothing.
    let via_globex = victim.replacen("sat.acme.", "sat.globex.", 1);
    assert_ne!(via_globex, victim);
    assert!(matches!(
        w.auth.authenticate_token(&via_globex, "globex").await,
        Err(DomainError::Unauthenticated(_))
    ));
    w.access.delete_token(&admin, &key_ref("Bot", "k"), "victim").await.expect("delete");
    assert_eq!(w.auth.epoch(&w.account), after_delete);
    let r = w.auth.authenticate_token(&victim, "acme").await;
    assert!(matches!(r, Err(DomainError::Unauthenticated(_))), "a deleted token kept working: {r:?}");
}

/// Security review item 5: a principal holding only `core_role_edit` added
/// `core_roleassignment_edit`, `core_serviceaccount_manageapikey` and `core_setting_edit` to
/// its own role; one holding only `core_roleassignment_edit` assigned `_account_admin` to
/// itself. A role can now be created, edited or assigned only by a caller holding every
/// permission it grants at that scope (Kubernetes RBAC's escalation rule).
#[tokio::test]
async fn review_5_no_permission_short_of_admin_makes_its_holder_admin() {
    let w = World::new().await;
    let admin = w.admin().await;
    w.access.create_service_account(&admin, sa_input("Bot")).await.expect("sa");
    w.access.create_role(&admin, role("editor", &["core_role_edit"])).await.expect("role");
    w.access.create_role(&admin, role("assigner", &["core_roleassignment_edit"])).await.expect("role");
    let caller_with = |perms: &[P]| {
        let mut grants = Grants::default();
        grants.add(Scope::account(), perms.iter().copied().collect::<PermissionSet>());
        Caller::new(
            w.account.clone(),
            Principal::ServiceAccount("Bot".into()),
            None,
            std::sync::Arc::new(grants),
        )
    };
    fn forbidden<T>(r: &Result<T, DomainError>, p: &str) -> bool {
        matches!(r, Err(DomainError::ForbiddenMessage(m)) if m.starts_with(&format!("missing permission {p}")))
    }
    // core_role_edit alone: cannot widen its own role, nor create a wider one.
    let editor = caller_with(&[P::RoleEdit]);
    let widened = role(
        "editor",
        &[
            "core_role_edit",
            "core_roleassignment_edit",
            "core_serviceaccount_manageapikey",
            "core_setting_edit",
        ],
    );
    let r = w.access.update_role(&editor, widened.clone()).await;
    assert!(
        ["core_roleassignment_edit", "core_serviceaccount_manageapikey", "core_setting_edit"]
            .iter()
            .any(|p| forbidden(&r, p)),
        "{r:?}"
    );
    let r = w.access.create_role(&editor, role("wider", &["core_setting_edit"])).await;
    assert!(forbidden(&r, "core_setting_edit"), "{r:?}");
    assert_eq!(
        w.access.get_role(&admin, "editor").await.expect("role").permissions,
        vec![P::RoleEdit],
        "unchanged"
    );
    // What it holds it may grant.
    w.access
        .create_role(&editor, role("same", &["core_role_edit"]))
        .await
        .expect("within its own permissions");
    // core_roleassignment_edit alone: cannot assign _account_admin (or a custom role that
    // grants more) to itself.
    let assigner = caller_with(&[P::RoleassignmentEdit]);
    let to_self = |role: &str, id: &str| {
        assignment(id, role, "_all_account_level_resources", PrincipalType::ServiceAccount, "Bot")
    };
    let r = w.access.create_role_assignment(&assigner, to_self("_account_admin", "a1")).await;
    assert!(
        matches!(r, Err(DomainError::ForbiddenMessage(ref m)) if m.starts_with("missing permission core_")),
        "{r:?}"
    );
    let r = w.access.create_role_assignment(&assigner, to_self("editor", "a2")).await;
    assert!(forbidden(&r, "core_role_edit"), "{r:?}");
    w.access.create_role_assignment(&assigner, to_self("assigner", "a3")).await.expect("what it holds");
    // Nor re-enable a disabled assignment of a wider role.
    let mut disabled = to_self("_account_admin", "a4");
    disabled.disabled = true;
    w.access.create_role_assignment(&admin, disabled.clone()).await.expect("admin may");
    disabled.disabled = false;
    let r = w.access.update_role_assignment(&assigner, disabled).await;
    assert!(matches!(r, Err(DomainError::ForbiddenMessage(_))), "{r:?}");
    // An org-scoped grant does not let it assign at the account.
    w.access.create_org(&admin, "eng", "Eng", "", Tags::new()).await.expect("org");
    let mut grants = Grants::default();
    grants.add(
        Scope { org: "eng".into(), project: String::new() },
        [P::RoleassignmentEdit, P::RoleEdit].into_iter().collect::<PermissionSet>(),
    );
    let org_admin = Caller::new(
        w.account.clone(),
        Principal::ServiceAccount("Bot".into()),
        None,
        std::sync::Arc::new(grants),
    );
    let r = w.access.create_role_assignment(&org_admin, to_self("editor", "a5")).await;
    assert!(matches!(r, Err(DomainError::Forbidden(P::RoleassignmentEdit))), "{r:?}");
    let in_eng = RoleAssignment {
        scope: Scope { org: "eng".into(), project: String::new() },
        ..to_self("editor", "a6")
    };
    w.access.create_role_assignment(&org_admin, in_eng).await.expect("what it holds, where it holds it");
}
