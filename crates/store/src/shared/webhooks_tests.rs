//! Tests of the webhook store: leases and progress (loaded by `webhooks.rs` for each backend).

use super::super::fixtures::scim::*;
use super::*;
use scimgate_domain::events::EventType;
use scimgate_domain::store::{EventStore, ScimStore};
use scimgate_scim::schema::ResourceKind;

fn hook(id: &str, at: OffsetDateTime) -> Webhook {
    Webhook {
        identifier: id.into(),
        url: "https://hooks.example.com/x".into(),
        events: EventFilter::Only(vec![EventType::UserCreated]),
        format: WebhookFormat::Standard,
        delivery: WebhookDelivery::Push,
        enabled: true,
        status: WebhookStatus::Active,
        secret: "whsec_c2VjcmV0".into(),
        previous_secret: None,
        cursor: 0,
        attempts: 0,
        first_failure: None,
        next_attempt: at,
        last_error: None,
        created: at,
        modified: at,
    }
}

fn progress(cursor: i64, now: OffsetDateTime) -> WebhookProgress {
    WebhookProgress {
        cursor,
        attempts: 0,
        first_failure: None,
        next_attempt: now,
        status: WebhookStatus::Active,
        last_error: None,
        lease_until: now,
    }
}

#[tokio::test]
async fn one_node_holds_a_lease_and_progress_needs_it() {
    let Some((store, account)) = setup().await else { return };
    let now = t(10);
    // Created after the admin's event: it starts at the newest number and has nothing due.
    let created = store.create_webhook(&account, &hook("h", now), &test_audit()).await.expect("create");
    assert_eq!((created.cursor, created.secret.as_str()), (1, "whsec_c2VjcmV0"));
    assert!(store.claim_webhooks("a", now, t(70), 10).await.expect("claim").is_empty(), "nothing due");
    match store.create_webhook(&account, &hook("h", now), &test_audit()).await {
        Err(DomainError::Conflict(m)) => assert!(m.contains("'h' already exists"), "{m}"),
        other => panic!("expected Conflict, got {other:?}"),
    }
    store
        .create_resource(&account, ResourceKind::User, "u1", &user(1), &[], now, &test_audit())
        .await
        .expect("u1");
    let claimed = store.claim_webhooks("a", now, t(70), 10).await.expect("claim");
    assert_eq!(claimed.len(), 1);
    assert_eq!((claimed[0].0.as_str(), claimed[0].1.identifier.as_str()), ("acme", "h"));
    // Leased: node b gets nothing and cannot write progress.
    assert!(store.claim_webhooks("b", t(20), t(80), 10).await.expect("claim").is_empty());
    assert!(!store.record_progress(&account, "h", "b", &progress(2, t(20)), &[]).await.expect("b"));
    let delivery = Delivery {
        id: 0,
        webhook: "h".into(),
        event_id: "evt_1".into(),
        event_seq: 2,
        event_type: "user.created".into(),
        attempt: 1,
        at: t(20),
        status: Some(200),
        duration_ms: 3,
        ok: true,
        error: None,
        response: Some("ok".into()),
        redelivery: false,
    };
    assert!(
        store
            .record_progress(&account, "h", "a", &progress(2, t(20)), std::slice::from_ref(&delivery))
            .await
            .expect("a")
    );
    let got = store.get_webhook(&account, "h").await.expect("get");
    assert_eq!(got.cursor, 2);
    let log = store.list_deliveries(&account, "h", None, 10).await.expect("log");
    assert_eq!(log.len(), 1);
    assert_eq!(Delivery { id: log[0].id, ..delivery }, log[0]);
    assert_eq!(store.get_delivery(&account, "h", log[0].id).await.expect("one"), log[0]);
    // Released with nothing after its cursor: not claimed again until a new event.
    assert!(store.claim_webhooks("b", t(21), t(81), 10).await.expect("claim").is_empty());
    store
        .create_resource(&account, ResourceKind::User, "u2", &user(2), &[], now, &test_audit())
        .await
        .expect("u2");
    assert_eq!(store.claim_webhooks("b", t(21), t(81), 10).await.expect("claim").len(), 1);
    assert!(!store.record_progress(&account, "h", "a", &progress(3, t(22)), &[]).await.expect("a lost it"));
    assert_eq!(store.latest_event(&account).await.expect("latest"), 3);
}

#[tokio::test]
async fn failing_disables_and_enabling_starts_over() {
    let Some((store, account)) = setup().await else { return };
    store.create_webhook(&account, &hook("h", t(1)), &test_audit()).await.expect("create");
    store
        .create_resource(&account, ResourceKind::User, "u1", &user(1), &[], t(1), &test_audit())
        .await
        .expect("u1");
    assert_eq!(store.claim_webhooks("a", t(2), t(60), 10).await.expect("claim").len(), 1);
    let failing = WebhookProgress {
        cursor: 1,
        attempts: 80,
        first_failure: Some(t(2)),
        next_attempt: t(100),
        status: WebhookStatus::Failing,
        last_error: Some("status 500".into()),
        lease_until: t(3),
    };
    assert!(store.record_progress(&account, "h", "a", &failing, &[]).await.expect("record"));
    let got = store.get_webhook(&account, "h").await.expect("get");
    assert_eq!((got.status, got.enabled, got.attempts), (WebhookStatus::Failing, false, 80));
    assert!(store.claim_webhooks("a", t(200), t(260), 10).await.expect("claim").is_empty(), "failing waits");
    let input = WebhookInput {
        identifier: "h".into(),
        url: "https://hooks.example.com/y".into(),
        events: EventFilter::All,
        format: WebhookFormat::Standard,
        delivery: WebhookDelivery::Push,
        enabled: true,
    };
    let again = store.update_webhook(&account, &input, t(300), &test_audit()).await.expect("enable");
    assert_eq!(
        (again.status, again.enabled, again.attempts, again.first_failure),
        (WebhookStatus::Active, true, 0, None)
    );
    assert_eq!((again.cursor, again.url.as_str()), (1, "https://hooks.example.com/y"));
    assert_eq!(store.claim_webhooks("a", t(300), t(360), 10).await.expect("claim").len(), 1);
    // Rotation keeps the old secret as the previous one.
    let rotated = store
        .rotate_webhook_secret(&account, "h", "whsec_bmV3", t(400), t(301), &test_audit())
        .await
        .expect("rotate");
    assert_eq!(rotated.secret, "whsec_bmV3");
    assert_eq!(rotated.previous_secret, Some(("whsec_c2VjcmV0".to_string(), t(400))));
    store.delete_webhook(&account, "h", &test_audit()).await.expect("delete");
    assert!(matches!(store.get_webhook(&account, "h").await, Err(DomainError::NotFound(_))));
}

/// Two polls planned from one state: the second write loses, even when the first changed
/// only the out-of-order acknowledgements (nothing in the row itself).
#[tokio::test]
async fn a_poll_that_raced_another_is_refused() {
    let Some((store, account)) = setup().await else { return };
    let now = t(10);
    let polled = Webhook {
        url: String::new(),
        format: WebhookFormat::Set,
        delivery: WebhookDelivery::Poll,
        ..hook("p", now)
    };
    store.create_webhook(&account, &polled, &test_audit()).await.expect("create");
    let start = store.poll_state(&account, "p").await.expect("state");
    let with = |ack: &str| scimgate_domain::poll::PollState {
        acks: [ack.to_string()].into_iter().collect(),
        ..start.clone()
    };
    assert!(store.record_poll(&account, "p", &start, &with("e2"), &[]).await.expect("first"));
    assert!(!store.record_poll(&account, "p", &start, &with("e3"), &[]).await.expect("second"), "raced");
    let stored = store.poll_state(&account, "p").await.expect("state");
    assert_eq!(stored.acks, with("e2").acks, "the first poll's acknowledgement is kept");
    // Planned from the state as it is now, the second goes through.
    let both = scimgate_domain::poll::PollState {
        acks: ["e2".to_string(), "e3".to_string()].into_iter().collect(),
        ..stored.clone()
    };
    assert!(store.record_poll(&account, "p", &stored, &both, &[]).await.expect("again"));
    assert_eq!(store.poll_state(&account, "p").await.expect("state").acks, both.acks);
}
