//! ScimService: PATCH retries and preconditions, read-back, uniqueness, which writes drop
//! the authentication caches, and rendering.

use std::sync::atomic::Ordering;

use serde_json::{Value, json};

use scimgate_scim::schema::ResourceKind::{Group, User};

use super::World;
use crate::access::Permission as P;
use crate::error::DomainError;
use crate::scim_service::ReadBack;
use scimgate_scim::stored::to_representation;

fn replace_op(path: &str, value: Value) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
           "Operations": [{"op": "replace", "path": path, "value": value}]})
}

async fn user(w: &World, name: &str) -> String {
    let admin = w.admin().await;
    w.scim.create(&admin, User, &json!({"userName": name, "active": true})).await.expect("user").id
}

#[tokio::test]
async fn patch_retries_when_another_writer_comes_first() {
    let w = World::new().await;
    let id = user(&w, "ana@acme.test").await;
    let admin = w.admin().await;
    w.store.conflicts.store(3, Ordering::SeqCst);
    w.store.updates.store(0, Ordering::SeqCst);
    let out = w
        .scim
        .patch(&admin, User, &id, &replace_op("displayName", json!("Ana")), None, ReadBack::Resource(false))
        .await
        .expect("patched after retries");
    assert_eq!(w.store.updates.load(Ordering::SeqCst), 4, "three lost races, then the write");
    let r = out.resource.expect("read back");
    assert_eq!(r.doc["displayName"], "Ana");
    assert_eq!(r.version, out.version);
}

#[tokio::test]
async fn a_user_patch_answer_is_one_read_and_one_write() {
    let w = World::new().await;
    let id = user(&w, "ana@acme.test").await;
    let admin = w.admin().await;
    let g = w
        .scim
        .create(&admin, Group, &json!({"displayName": "eng", "members": [{"value": id}]}))
        .await
        .expect("g");
    w.store.reads.store(0, Ordering::SeqCst);
    w.store.updates.store(0, Ordering::SeqCst);
    let out = w
        .scim
        .patch(&admin, User, &id, &replace_op("displayName", json!("Ana")), None, ReadBack::Resource(true))
        .await
        .expect("patch");
    assert_eq!((w.store.reads.load(Ordering::SeqCst), w.store.updates.load(Ordering::SeqCst)), (1, 1));
    let r = out.resource.expect("answer");
    assert_eq!(r.doc["displayName"], "Ana");
    assert_eq!(r.version, out.version);
    assert_eq!(r.groups.expect("groups asked for")[0].value, g.id);
    // The answer is what a read after the write returns.
    let again = w.scim.get(&admin, User, &id, true).await.expect("get");
    assert_eq!((again.doc, again.version, again.last_modified), (r.doc, r.version, r.last_modified));
}

#[tokio::test]
async fn patch_gives_up_after_eight_lost_races() {
    let w = World::new().await;
    let id = user(&w, "ana@acme.test").await;
    w.store.conflicts.store(100, Ordering::SeqCst);
    let r = w
        .scim
        .patch(&w.admin().await, User, &id, &replace_op("displayName", json!("Ana")), None, ReadBack::Nothing)
        .await;
    assert!(matches!(r, Err(DomainError::Internal(ref m)) if m.contains("kept conflicting")), "{r:?}");
}

#[tokio::test]
async fn patch_with_a_stale_if_match_is_412_and_never_retried() {
    let w = World::new().await;
    let id = user(&w, "ana@acme.test").await;
    let admin = w.admin().await;
    w.store.updates.store(0, Ordering::SeqCst);
    let r = w
        .scim
        .patch(&admin, User, &id, &replace_op("displayName", json!("A")), Some(7), ReadBack::Nothing)
        .await;
    assert!(matches!(r, Err(DomainError::PreconditionFailed(ref e)) if e == "W/\"7\""), "{r:?}");
    assert_eq!(w.store.updates.load(Ordering::SeqCst), 0);
    // A conflicting writer under If-Match is a 412 too, not a retry.
    w.store.conflicts.store(1, Ordering::SeqCst);
    let r = w
        .scim
        .patch(&admin, User, &id, &replace_op("displayName", json!("A")), Some(1), ReadBack::Nothing)
        .await;
    assert!(matches!(r, Err(DomainError::PreconditionFailed(_))), "{r:?}");
}

#[tokio::test]
async fn a_patch_that_changes_nothing_writes_nothing() {
    let w = World::new().await;
    let id = user(&w, "ana@acme.test").await;
    let admin = w.admin().await;
    w.store.updates.store(0, Ordering::SeqCst);
    let out = w
        .scim
        .patch(&admin, User, &id, &replace_op("active", json!(true)), None, ReadBack::Nothing)
        .await
        .expect("ok");
    assert_eq!(out.version, 1);
    assert!(out.resource.is_none());
    assert_eq!(w.store.updates.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_member_only_group_patch_is_one_write() {
    let w = World::new().await;
    let admin = w.admin().await;
    let uid = user(&w, "ana@acme.test").await;
    let g = w.scim.create(&admin, Group, &json!({"displayName": "eng"})).await.expect("group");
    w.store.updates.store(0, Ordering::SeqCst);
    let add = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                     "Operations": [{"op": "add", "path": "members", "value": [{"value": uid}]}]});
    let out = w.scim.patch(&admin, Group, &g.id, &add, None, ReadBack::Nothing).await.expect("add");
    assert_eq!(w.store.updates.load(Ordering::SeqCst), 1);
    assert_eq!(out.version, 2);
    let got = w.scim.get(&admin, Group, &g.id, true).await.expect("get");
    assert_eq!(got.members.expect("members")[0].value, uid);
}

#[tokio::test]
async fn replace_and_delete_check_if_match() {
    let w = World::new().await;
    let id = user(&w, "ana@acme.test").await;
    let admin = w.admin().await;
    let r = w.scim.replace(&admin, User, &id, &json!({"userName": "ana@acme.test"}), Some(5)).await;
    assert!(matches!(r, Err(DomainError::PreconditionFailed(_))), "{r:?}");
    let r = w.scim.delete(&admin, User, &id, Some(5)).await;
    assert!(matches!(r, Err(DomainError::PreconditionFailed(_))), "{r:?}");
    let replaced =
        w.scim.replace(&admin, User, &id, &json!({"userName": "ana@acme.test"}), Some(1)).await.expect("put");
    assert_eq!(replaced.version, 2);
    w.scim.delete(&admin, User, &id, Some(2)).await.expect("delete");
    assert!(matches!(w.scim.get(&admin, User, &id, false).await, Err(DomainError::NotFound(_))));
}

#[tokio::test]
async fn user_names_are_unique_case_insensitively() {
    let w = World::new().await;
    user(&w, "Ana@Acme.test").await;
    let r = w.scim.create(&w.admin().await, User, &json!({"userName": "ana@acme.TEST"})).await;
    assert!(matches!(r, Err(DomainError::Conflict(_))), "{r:?}");
}

#[tokio::test]
async fn reading_needs_the_view_permission_whatever_else_is_held() {
    let w = World::new().await;
    let id = user(&w, "ana@acme.test").await;
    let writer = w.caller(&[P::UserManage, P::UserInvite]);
    let r = w.scim.get(&writer, User, &id, false).await;
    assert!(matches!(r, Err(DomainError::Forbidden(P::UserView))), "{r:?}");
    // ...but the PATCH answer is read under the PATCH's own permission.
    let out = w
        .scim
        .patch(&writer, User, &id, &replace_op("displayName", json!("Ana")), None, ReadBack::Resource(false))
        .await
        .expect("patch");
    assert_eq!(out.resource.expect("read back").doc["displayName"], "Ana");
    w.scim.get(&w.caller(&[P::UserView]), User, &id, false).await.expect("viewer reads");
}

#[tokio::test]
async fn group_writes_and_deactivations_drop_the_caches_other_user_writes_do_not() {
    let w = World::new().await;
    let admin = w.admin().await;
    let id = user(&w, "ana@acme.test").await;
    let before = w.access_changes.load(Ordering::SeqCst);
    w.scim
        .patch(&admin, User, &id, &replace_op("displayName", json!("Ana")), None, ReadBack::Nothing)
        .await
        .expect("p");
    assert_eq!(w.access_changes.load(Ordering::SeqCst), before, "a profile change keeps the caches");
    w.scim
        .patch(&admin, User, &id, &replace_op("active", json!(false)), None, ReadBack::Nothing)
        .await
        .expect("off");
    assert_eq!(w.access_changes.load(Ordering::SeqCst), before + 1, "a deactivation drops them");
    w.scim.create(&admin, Group, &json!({"displayName": "eng"})).await.expect("group");
    assert_eq!(w.access_changes.load(Ordering::SeqCst), before + 2, "a group write drops them");
}

#[tokio::test]
async fn a_deactivated_admin_loses_its_token_at_once() {
    let w = World::new().await;
    let admin = w.admin().await;
    let uid = w.admin_user_id.clone();
    w.scim
        .patch(&admin, User, &uid, &replace_op("active", json!(false)), None, ReadBack::Nothing)
        .await
        .expect("off");
    let r = w.auth.authenticate_token(&w.admin_token, "acme").await;
    assert!(matches!(r, Err(DomainError::Unauthenticated(_))), "{r:?}");
}

#[tokio::test]
async fn a_deleted_group_takes_its_members_roles_with_it() {
    let w = World::new().await;
    let admin = w.admin().await;
    let uid = user(&w, "ana@acme.test").await;
    let g = w
        .scim
        .create(&admin, Group, &json!({"displayName": "viewers", "members": [{"value": uid}]}))
        .await
        .expect("g");
    let t = time::OffsetDateTime::UNIX_EPOCH;
    let role_assignment = crate::entities::RoleAssignment {
        identifier: "viewers".into(),
        scope: crate::access::Scope::account(),
        role_identifier: "_account_viewer".into(),
        resource_group_identifier: "_all_account_level_resources".into(),
        principal_type: crate::entities::PrincipalType::UserGroup,
        principal_identifier: g.id.clone(),
        disabled: false,
        created: t,
        modified: t,
    };
    w.access.create_role_assignment(&admin, role_assignment).await.expect("ra");
    let account = w.account.clone();
    let member = crate::access::Principal::User(uid.clone());
    let c = w.auth.caller_for_principal(&account, member.clone()).await.expect("caller");
    w.scim.list(&c, User, &list()).await.expect("inherits the viewer role");
    w.scim.delete(&admin, Group, &g.id, None).await.expect("delete group");
    let c = w.auth.caller_for_principal(&account, member).await.expect("caller");
    assert!(matches!(w.scim.list(&c, User, &list()).await, Err(DomainError::Forbidden(P::UserView))));
}

fn list() -> crate::store::ListQuery {
    crate::store::ListQuery {
        filter: None,
        sort: None,
        page: crate::store::Page::Index { start_index: 1, count: 10 },
        include_related: false,
        count_total: true,
    }
}

#[tokio::test]
async fn rendering_adds_meta_and_member_references() {
    let w = World::new().await;
    let admin = w.admin().await;
    let uid = user(&w, "ana@acme.test").await;
    let g = w
        .scim
        .create(&admin, Group, &json!({"displayName": "eng", "members": [{"value": uid, "display": "Ana"}]}))
        .await
        .expect("g");
    let out = to_representation(Group, &g, "https://h/scim");
    assert_eq!(out["id"], g.id.as_str());
    assert_eq!(out["meta"]["version"], "W/\"1\"");
    assert_eq!(out["meta"]["location"], format!("https://h/scim/Groups/{}", g.id));
    assert_eq!(out["members"][0]["$ref"], format!("https://h/scim/Users/{uid}"));
    assert_eq!(out["members"][0]["display"], "Ana");
    let keys: Vec<&String> = out.keys().collect();
    assert_eq!(keys.last().map(|k| k.as_str()), Some("meta"), "meta stays last");
}
