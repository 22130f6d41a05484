//! SettingsService: the feature gate, the delegation rule of the JWT group, per-item results,
//! scopes, the audit trail and the cache.

use std::sync::Arc;

use super::World;
use crate::access::{Caller, Grants, Permission as P, Permission, PermissionSet, Principal, Scope};
use crate::access_service::ServiceAccountInput;
use crate::entities::{PageRequest, Tags};
use crate::error::DomainError;
use crate::settings::{JWKS_URL, KEY_FIELD, SERVICE_ACCOUNT_ID};
use crate::settings_service::{SettingUpdate, SettingsChange, SettingsService, SettingsStores, UpdateType};

fn item(id: &str, value: &str) -> SettingUpdate {
    SettingUpdate {
        identifier: id.into(),
        value: Some(value.into()),
        allow_overrides: None,
        update_type: UpdateType::Update,
    }
}

fn org() -> Scope {
    Scope { org: "eng".into(), project: String::new() }
}

async fn value(w: &World, c: &Caller, scope: &Scope, id: &str) -> Option<String> {
    w.settings.get(c, scope, id).await.expect("get").effective.value
}

#[tokio::test]
async fn the_flag_is_checked_before_the_permission() {
    let w = World::new().await;
    crate::access_service::set_feature_flag(
        w.store.as_ref(),
        &Caller::system(w.account.clone()),
        "NG_SETTINGS",
        false,
    )
    .await
    .expect("off");
    w.auth.invalidate(&w.account);
    let nobody = w.caller(&[]);
    let r = w.settings.list(&nobody, &Scope::account(), None, None, false).await;
    assert!(matches!(r, Err(DomainError::FeatureDisabled("NG_SETTINGS"))), "{r:?}");
    let r = w
        .settings
        .update(&w.caller(&[P::SettingEdit]), &Scope::account(), vec![item("enable_notifications", "false")])
        .await;
    assert!(matches!(r, Err(DomainError::FeatureDisabled(_))), "{r:?}");
}

#[tokio::test]
async fn jwt_settings_also_need_the_power_to_act_as_the_service_account() {
    let w = World::new().await;
    let editor = w.caller(&[P::SettingEdit, P::SettingView]);
    let out = w
        .settings
        .update(
            &editor,
            &Scope::account(),
            vec![item(KEY_FIELD, "email"), item("enable_notifications", "false")],
        )
        .await
        .expect("batch");
    assert!(!out[0].ok);
    assert!(
        out[0].error.as_deref().is_some_and(|e| e.contains("core_serviceaccount_manageapikey")),
        "{:?}",
        out[0]
    );
    assert!(out[1].ok, "the other item is stored: {:?}", out[1]);
    assert_eq!(value(&w, &editor, &Scope::account(), "enable_notifications").await.as_deref(), Some("false"));
    let delegate = w.caller(&[P::SettingEdit, P::ServiceaccountManageapikey]);
    let out =
        w.settings.update(&delegate, &Scope::account(), vec![item(KEY_FIELD, "email")]).await.expect("batch");
    assert!(out[0].ok, "{:?}", out[0]);
}

#[tokio::test]
async fn the_hook_is_told_whether_the_jwt_configuration_changed() {
    let w = World::new().await;
    let admin = w.admin().await;
    w.settings.update(&admin, &Scope::account(), vec![item(KEY_FIELD, "email")]).await.expect("jwt");
    w.settings
        .update(&admin, &Scope::account(), vec![item("enable_notifications", "false")])
        .await
        .expect("other");
    let seen = w.settings_changes.lock().expect("lock").clone();
    assert_eq!(seen, vec![SettingsChange::JwtConfiguration, SettingsChange::Other]);
}

#[tokio::test]
async fn each_item_fails_on_its_own() {
    let w = World::new().await;
    let admin = w.admin().await;
    let restore_bad =
        SettingUpdate { update_type: UpdateType::parse("DELETE"), ..item("enable_notifications", "x") };
    let out = w
        .settings
        .update(
            &admin,
            &Scope::account(),
            vec![
                item("no_such_setting", "1"),
                restore_bad,
                item("pipeline_timeout_minutes", "0"),
                item(JWKS_URL, "http://keys.example.com/jwks"),
                item(SERVICE_ACCOUNT_ID, "ghost"),
                item("pipeline_timeout_minutes", "90"),
            ],
        )
        .await
        .expect("batch");
    let oks: Vec<bool> = out.iter().map(|r| r.ok).collect();
    assert_eq!(oks, vec![false, false, false, false, false, true]);
    let msg = |i: usize| out[i].error.clone().unwrap_or_default();
    assert!(msg(0).contains("unknown setting"), "{}", msg(0));
    assert!(msg(1).contains("updateType 'DELETE' is invalid"), "{}", msg(1));
    assert!(msg(3).contains("https"), "{}", msg(3));
    assert!(msg(4).contains("service account 'ghost' does not exist"), "{}", msg(4));
    assert_eq!(value(&w, &admin, &Scope::account(), "pipeline_timeout_minutes").await.as_deref(), Some("90"));
}

#[tokio::test]
async fn the_named_service_account_must_exist() {
    let w = World::new().await;
    let admin = w.admin().await;
    let service_account = ServiceAccountInput {
        name: "SCIM Provisioner (Okta)".into(),
        email: "s@acme.test".into(),
        ..Default::default()
    };
    w.access.create_service_account(&admin, service_account).await.expect("sa");
    let out = w
        .settings
        .update(&admin, &Scope::account(), vec![item(SERVICE_ACCOUNT_ID, "SCIM_Provisioner_Okta")])
        .await;
    assert!(out.expect("batch")[0].ok);
}

#[tokio::test]
async fn empty_and_oversized_batches_are_refused_whole() {
    let w = World::new().await;
    let admin = w.admin().await;
    assert!(matches!(
        w.settings.update(&admin, &Scope::account(), vec![]).await,
        Err(DomainError::Invalid(_))
    ));
    let many = (0..101).map(|_| item("enable_notifications", "true")).collect();
    assert!(matches!(w.settings.update(&admin, &Scope::account(), many).await, Err(DomainError::Invalid(_))));
    assert!(
        w.settings.audit(&admin, PageRequest { index: 0, size: 10 }).await.expect("audit").items.is_empty()
    );
}

#[tokio::test]
async fn restore_falls_back_and_allow_overrides_false_clears_children() {
    let w = World::new().await;
    let admin = w.admin().await;
    w.access.create_org(&admin, "eng", "Eng", "", Tags::new()).await.expect("org");
    w.settings.update(&admin, &org(), vec![item("pipeline_timeout_minutes", "30")]).await.expect("org value");
    assert_eq!(value(&w, &admin, &org(), "pipeline_timeout_minutes").await.as_deref(), Some("30"));
    let locked = SettingUpdate { allow_overrides: Some(false), ..item("pipeline_timeout_minutes", "45") };
    w.settings.update(&admin, &Scope::account(), vec![locked]).await.expect("account value");
    assert_eq!(
        value(&w, &admin, &org(), "pipeline_timeout_minutes").await.as_deref(),
        Some("45"),
        "child override removed"
    );
    let out =
        w.settings.update(&admin, &org(), vec![item("pipeline_timeout_minutes", "10")]).await.expect("batch");
    assert!(!out[0].ok, "a locked parent refuses child writes: {:?}", out[0]);
    let restore = SettingUpdate {
        value: None,
        update_type: UpdateType::Restore,
        ..item("pipeline_timeout_minutes", "")
    };
    w.settings.update(&admin, &Scope::account(), vec![restore]).await.expect("restore");
    assert_eq!(
        value(&w, &admin, &Scope::account(), "pipeline_timeout_minutes").await.as_deref(),
        Some("60"),
        "default"
    );
    // Account-only settings are refused below the account.
    let out =
        w.settings.update(&admin, &org(), vec![item("enable_force_delete", "true")]).await.expect("batch");
    assert!(!out[0].ok);
}

#[tokio::test]
async fn a_scope_that_does_not_exist_is_not_found() {
    let w = World::new().await;
    let admin = w.admin().await;
    let r = w.settings.list(&admin, &org(), None, None, false).await;
    assert!(matches!(r, Err(DomainError::NotFound(_))), "{r:?}");
    let r = w
        .settings
        .get(&admin, &Scope { org: String::new(), project: "p".into() }, "enable_notifications")
        .await;
    assert!(matches!(r, Err(DomainError::Invalid(_))), "{r:?}");
}

#[tokio::test]
async fn the_audit_names_the_actor_and_the_old_and_new_values() {
    let w = World::new().await;
    let admin = w.admin().await;
    w.settings
        .update(&admin, &Scope::account(), vec![item("pipeline_timeout_minutes", "30")])
        .await
        .expect("1");
    w.settings
        .update(&admin, &Scope::account(), vec![item("pipeline_timeout_minutes", "40")])
        .await
        .expect("2");
    let audit = w.settings.audit(&admin, PageRequest { index: 0, size: 10 }).await.expect("audit").items;
    assert_eq!(audit.len(), 2);
    assert_eq!((audit[0].old_value.as_deref(), audit[0].new_value.as_deref()), (Some("30"), Some("40")));
    assert_eq!(audit[0].actor.label(), format!("USER:{}", w.admin_user_id));
    assert_eq!(audit[0].action, "UPDATE");
}

#[tokio::test]
async fn another_node_sees_a_change_when_its_snapshot_expires() {
    let w = World::new().await;
    let admin = w.admin().await;
    let policy = crate::netguard::JwksUrlPolicy {
        allow_hosts: crate::netguard::AllowList::parse("").expect("list"),
        ..Default::default()
    };
    let other = SettingsService::new(
        SettingsStores {
            values: w.store.clone(),
            scopes: w.store.clone(),
            service_accounts: w.store.clone(),
        },
        w.auth.clone(),
        w.clock.clone(),
        std::time::Duration::from_secs(120),
        policy,
        Arc::new(|_, _| {}),
    );
    let read = |s: &SettingsService| {
        let s = s.clone();
        let a = w.account.clone();
        async move { s.effective_value(&a, &Scope::account(), "pipeline_timeout_minutes").await.expect("read") }
    };
    assert_eq!(read(&other).await.as_deref(), Some("60"));
    w.settings
        .update(&admin, &Scope::account(), vec![item("pipeline_timeout_minutes", "30")])
        .await
        .expect("write");
    assert_eq!(read(&w.settings).await.as_deref(), Some("30"), "the writing node at once");
    w.clock.advance(time::Duration::seconds(119));
    assert_eq!(read(&other).await.as_deref(), Some("60"), "the other node within the TTL");
    w.clock.advance(time::Duration::seconds(2));
    assert_eq!(read(&other).await.as_deref(), Some("30"), "and after it");
}

/// Security review item 9: `_account_viewer` held only at org `o1` was refused the SCIM
/// settings at account scope but read the JWKS URL, claim, value and service account by
/// adding `orgIdentifier=o1`. Account-only settings now need the view permission at the
/// account, where their value lives; settings that can be set at the org stay readable there.
#[tokio::test]
async fn review_9_an_org_viewer_cannot_read_account_only_settings_through_its_org() {
    let w = World::new().await;
    let admin = w.admin().await;
    w.access.create_org(&admin, "o1", "O1", "", crate::entities::Tags::new()).await.expect("org");
    let o1 = Scope { org: "o1".into(), project: String::new() };
    let item = |id: &str, v: &str| SettingUpdate {
        identifier: id.into(),
        value: Some(v.into()),
        allow_overrides: None,
        update_type: UpdateType::Update,
    };
    w.settings
        .update(
            &admin,
            &Scope::account(),
            vec![item(KEY_FIELD, "email"), item("default_ticketing_tool", "Jira")],
        )
        .await
        .expect("put");
    let mut grants = Grants::default();
    grants.add(o1.clone(), [Permission::SettingView].into_iter().collect::<PermissionSet>());
    let viewer =
        Caller::new(w.account.clone(), Principal::ServiceAccount("v".into()), None, Arc::new(grants));
    let r = w.settings.get(&viewer, &Scope::account(), KEY_FIELD).await;
    assert!(matches!(r, Err(DomainError::Forbidden(Permission::SettingView))), "{r:?}");
    let r = w.settings.get(&viewer, &o1, KEY_FIELD).await;
    assert!(matches!(r, Err(DomainError::Forbidden(Permission::SettingView))), "through the org: {r:?}");
    let listed = w.settings.list(&viewer, &o1, Some("SCIM"), None, true).await.expect("list");
    assert!(listed.is_empty(), "{:?}", listed.iter().map(|v| v.def.identifier).collect::<Vec<_>>());
    // A setting that can be set at the org is the org's effective value: readable there.
    let v = w.settings.get(&viewer, &o1, "default_ticketing_tool").await.expect("org setting");
    assert_eq!(v.effective.value.as_deref(), Some("Jira"));
    let all = w.settings.list(&viewer, &o1, None, None, true).await.expect("list");
    assert!(all.iter().any(|v| v.def.identifier == "default_ticketing_tool"));
    assert!(all.iter().all(|v| v.def.allows_level(crate::settings::ScopeLevel::Org)));
    // The account admin still reads everything at the org.
    assert_eq!(w.settings.list(&admin, &o1, Some("SCIM"), None, true).await.expect("list").len(), 8);
}
