//! Tests of the event outbox (loaded by `events.rs` for each backend).

use super::super::fixtures::scim::*;
use super::*;
use scimgate_domain::events::{Membership, ResourceData};
use scimgate_domain::store::{ResourceUpdate, ScimStore};
use scimgate_scim::patch::MemberChange;
use scimgate_scim::schema::ResourceKind;

fn all(after: Option<i64>, limit: u32) -> EventQuery {
    EventQuery { after, limit, types: None }
}

fn summary(page: &EventPage) -> Vec<(i64, &'static str, String)> {
    page.events.iter().map(|e| (e.seq, e.event_type.as_str(), e.resource_id.clone())).collect()
}

fn membership(e: &Event) -> &Membership {
    match &e.data {
        EventData::Membership(m) => m,
        other => panic!("expected a membership, got {other:?}"),
    }
}

fn resource(e: &Event) -> &ResourceData {
    match &e.data {
        EventData::Resource(r) => r,
        other => panic!("expected a resource, got {other:?}"),
    }
}

#[tokio::test]
async fn every_write_appends_its_events_in_order() {
    let Some((store, account)) = setup().await else { return };
    let (u, g) = (ResourceKind::User, ResourceKind::Group);
    // The account's admin user is its first event.
    let first = store.list_events(&account, &all(None, 10)).await.expect("feed");
    assert_eq!(summary(&first), vec![(1, "user.created", ADMIN.to_string())]);
    assert_eq!(first.next, 1);

    store.create_resource(&account, u, "u1", &user(1), &[], t(1), &test_audit()).await.expect("u1");
    store.create_resource(&account, u, "u2", &user(2), &[], t(2), &test_audit()).await.expect("u2");
    // A create that fails (userName taken) writes nothing and takes no number.
    store.create_resource(&account, u, "u3", &user(1), &[], t(3), &test_audit()).await.expect_err("dup");
    store
        .create_resource(&account, g, "g1", &group("Eng"), &[member("u1", None, None)], t(4), &test_audit())
        .await
        .expect("g1");
    let mut renamed = user(2);
    renamed.insert("displayName".into(), "Two".into());
    let update = ResourceUpdate {
        doc: Some(&renamed),
        expected_version: Some(1),
        members: &[],
        event: Some(EventType::UserDeactivated),
        created: Some(t(2)),
    };
    store.update_resource(&account, u, "u2", &update, t(5), &test_audit()).await.expect("update");
    let changes =
        [MemberChange::Add(vec![member("u2", None, None)]), MemberChange::Remove(vec!["u1".into()])];
    let members_only =
        ResourceUpdate { doc: None, expected_version: None, members: &changes, event: None, created: None };
    store.update_resource(&account, g, "g1", &members_only, t(6), &test_audit()).await.expect("members");
    // Nothing really changed: no events.
    let again = [MemberChange::Add(vec![member("u2", None, None)])];
    let no_change =
        ResourceUpdate { doc: None, expected_version: None, members: &again, event: None, created: None };
    store.update_resource(&account, g, "g1", &no_change, t(7), &test_audit()).await.expect("no change");
    store.delete_resource(&account, u, "u2", None, &test_audit()).await.expect("delete");

    let page = store.list_events(&account, &all(Some(1), 100)).await.expect("feed");
    let s = |seq, t: &'static str, id: &str| (seq, t, id.to_string());
    assert_eq!(
        summary(&page),
        vec![
            s(2, "user.created", "u1"),
            s(3, "user.created", "u2"),
            s(4, "group.created", "g1"),
            s(5, "group.user_added", "g1"),
            s(6, "user.deactivated", "u2"),
            s(7, "group.user_removed", "g1"),
            s(8, "group.user_added", "g1"),
            s(9, "group.user_removed", "g1"),
            s(10, "user.deleted", "u2"),
        ]
    );
    assert_eq!(page.next, 10);
    let e = &page.events;
    assert_eq!(
        membership(&e[3]),
        &Membership { group_id: "g1".into(), member_id: "u1".into(), member_type: "User".into() }
    );
    assert_eq!(membership(&e[5]).member_id, "u1");
    assert_eq!(membership(&e[6]).member_id, "u2");
    // The deleted user leaves its group first, then is deleted with its last document.
    assert_eq!(
        membership(&e[7]),
        &Membership { group_id: "g1".into(), member_id: "u2".into(), member_type: "User".into() }
    );
    let last = resource(&e[8]);
    assert_eq!((last.id.as_str(), last.version, &last.doc), ("u2", 2, &renamed));
    let updated = resource(&e[4]);
    assert_eq!((updated.version, updated.created_us, updated.modified_us), (2, micros(t(2)), micros(t(5))));
    assert_eq!(resource(&e[0]).doc, user(1));
    assert!(e.iter().all(|e| e.id.starts_with("evt_") && e.account == account));
    let mut ids: Vec<&str> = e.iter().map(|e| e.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), e.len(), "event ids are unique");
    assert_eq!(store.latest_event(&account).await.expect("latest"), 10);
}

#[tokio::test]
async fn pages_have_no_gaps_or_duplicates_and_filters_move_the_cursor() {
    let Some((store, account)) = setup().await else { return };
    for i in 1..=7 {
        store
            .create_resource(
                &account,
                ResourceKind::User,
                &format!("u{i}"),
                &user(i),
                &[],
                t(i),
                &test_audit(),
            )
            .await
            .expect("create");
    }
    store
        .create_resource(&account, ResourceKind::Group, "g", &group("G"), &[], t(9), &test_audit())
        .await
        .expect("group");
    // Pages of 3 from the start: 1-3, 4-6, 7-9, then nothing.
    let mut seen = vec![];
    let mut after = None;
    loop {
        let page = store.list_events(&account, &all(after, 3)).await.expect("page");
        if page.events.is_empty() {
            assert_eq!(Some(page.next), after, "an empty page keeps the cursor");
            break;
        }
        seen.extend(page.events.iter().map(|e| e.seq));
        after = Some(page.next);
    }
    assert_eq!(seen, (1..=9).collect::<Vec<_>>());
    // Only groups: one event, and the cursor moves to the newest number, past the users.
    let groups = EventQuery { after: Some(0), limit: 5, types: Some(vec![EventType::GroupCreated]) };
    let page = store.list_events(&account, &groups).await.expect("groups");
    assert_eq!(summary(&page), vec![(9, "group.created", "g".to_string())]);
    assert_eq!(page.next, 9);
    // A cursor past the newest event is refused; another account's numbers are its own.
    match store.list_events(&account, &all(Some(10), 5)).await {
        Err(DomainError::Invalid(e)) => {
            assert!(e.detail.contains("past this account's newest event (9)"), "{e:?}")
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
    let other = AccountId::parse("other").expect("id");
    assert_eq!(store.latest_event(&other).await.expect("latest"), 0);
    assert_eq!(store.list_events(&other, &all(None, 5)).await.expect("empty").events, vec![]);
}

#[tokio::test]
async fn retention_prunes_oldest_and_old_cursors_are_gone() {
    let Some((store, account)) = setup().await else { return };
    // The admin's event (1) was written now; four users' events (2-5) an hour apart after it.
    let now = time::OffsetDateTime::now_utc();
    let hour = |i: i64| now + time::Duration::hours(i);
    for i in 1..=4 {
        let mut audit = test_audit();
        audit.at = hour(i);
        store
            .create_resource(&account, ResourceKind::User, &format!("u{i}"), &user(i), &[], t(i), &audit)
            .await
            .expect("create");
    }
    // Before 2.5 hours from now: events 1, 2 and 3, in batches of two.
    let before = now + time::Duration::minutes(150);
    assert_eq!(store.prune_events(before, 2).await.expect("prune"), 2);
    assert_eq!(store.prune_events(before, 2).await.expect("prune"), 1);
    assert_eq!(store.prune_events(before, 2).await.expect("prune"), 0);
    // Without a cursor the feed starts at the oldest kept event.
    let page = store.list_events(&account, &all(None, 10)).await.expect("feed");
    assert_eq!(page.events.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![4, 5]);
    // A cursor at the edge still works; one before it lost events: Gone, saying where to restart.
    assert_eq!(store.list_events(&account, &all(Some(3), 10)).await.expect("edge").events.len(), 2);
    match store.list_events(&account, &all(Some(1), 10)).await {
        Err(DomainError::Gone(m)) => {
            assert!(m.contains("events 2 to 3 are no longer kept") && m.contains("after=3"), "{m}")
        }
        other => panic!("expected Gone, got {other:?}"),
    }
    // Everything pruned: numbering goes on after the watermark.
    assert_eq!(store.prune_events(hour(5), 10).await.expect("prune all"), 2);
    assert_eq!(store.latest_event(&account).await.expect("latest"), 5);
    store
        .create_resource(&account, ResourceKind::User, "u9", &user(9), &[], t(9), &test_audit())
        .await
        .expect("u9");
    let page = store.list_events(&account, &all(None, 10)).await.expect("feed");
    assert_eq!(page.events.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![6]);
}

#[tokio::test]
async fn an_update_writes_its_event_with_or_without_the_creation_time() {
    let Some((store, account)) = setup().await else { return };
    let u = ResourceKind::User;
    store.create_resource(&account, u, "u1", &user(1), &[], t(1), &test_audit()).await.expect("u1");
    let mut renamed = user(1);
    renamed.insert("displayName".into(), "One".into());
    let update = |expected_version, created| ResourceUpdate {
        doc: Some(&renamed),
        expected_version,
        members: &[],
        event: Some(EventType::UserUpdated),
        created,
    };
    // Known creation time but a stale version: nothing is written, no number taken.
    let stale = update(Some(7), Some(t(1)));
    let err = store.update_resource(&account, u, "u1", &stale, t(2), &test_audit()).await.expect_err("stale");
    assert!(matches!(err, DomainError::VersionMismatch), "{err:?}");
    assert_eq!(store.latest_event(&account).await.expect("latest"), 2);
    // Without the creation time the store reads it back.
    store.update_resource(&account, u, "u1", &update(None, None), t(3), &test_audit()).await.expect("update");
    store
        .update_resource(&account, u, "u1", &update(Some(2), Some(t(1))), t(4), &test_audit())
        .await
        .expect("again");
    let page = store.list_events(&account, &all(Some(2), 10)).await.expect("feed");
    let got: Vec<(i64, i64, i64)> = page
        .events
        .iter()
        .map(|e| {
            let r = resource(e);
            (r.version, r.created_us, r.modified_us)
        })
        .collect();
    assert_eq!(got, vec![(2, micros(t(1)), micros(t(3))), (3, micros(t(1)), micros(t(4)))]);
}
