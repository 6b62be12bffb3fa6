//! The event stream service on the event log, on real SQLite files and a real PostgreSQL
//! server: replay then live without a gap or a repeat, resuming under the right epoch, and
//! each topic read under its permission.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use trae_core::identity::permission::{Authorizer, Permission};
use trae_core::{
    Error, EventStream, EventStreamOptions, ManualClock, Principal, Read, Resume, Topic,
};
use trae_storage::{Store, storage_test};
use uuid::Uuid;

/// Roles as the tests need them: `viewer` reads tasks (its own), `operator` reads every
/// task's events and metrics.
struct Roles;

#[async_trait::async_trait]
impl Authorizer for Roles {
    async fn authorize(&self, principal: &Principal, needed: &Permission) -> trae_core::Result<()> {
        let granted: &[&str] = match principal {
            Principal::System => return Ok(()),
            Principal::User { roles, .. } if roles.iter().any(|r| r == "operator") => {
                &["tasks:read", "tasks:read_all", "metrics:read"]
            }
            Principal::User { roles, .. } if roles.iter().any(|r| r == "viewer") => &["tasks:read"],
            _ => &[],
        };
        if granted.contains(&needed.as_str()) {
            Ok(())
        } else {
            Err(Error::Forbidden(format!("needs {}", needed.as_str())))
        }
    }
}

fn user(role: &str) -> (Uuid, Principal) {
    let id = Uuid::now_v7();
    (
        id,
        Principal::User {
            user_id: id,
            username: None,
            session_id: None,
            roles: vec![role.to_owned()],
        },
    )
}

async fn stream(store: &Store) -> EventStream {
    let clock = Arc::new(ManualClock::new(
        chrono::DateTime::parse_from_rfc3339("2026-12-07T09:00:00Z")
            .unwrap()
            .to_utc(),
    ));
    EventStream::start(
        store.event_repository(),
        clock,
        EventStreamOptions::default(),
    )
    .await
    .unwrap()
    .with_authorizer(Arc::new(Roles))
}

/// A store whose own bus keeps nothing in the log, so each test's stream is the only writer.
async fn own_log(url: &str) -> Store {
    let options = trae_storage::StoreOptions {
        event_log: false,
        ..trae_storage::StoreOptions::default()
    };
    Store::connect_with(url, options).await.unwrap()
}

async fn next(sub: &mut trae_core::Subscription) -> Arc<trae_core::StoredEvent> {
    tokio::time::timeout(Duration::from_secs(10), sub.next())
        .await
        .expect("an event within 10 s")
        .unwrap()
}

storage_test!(
    a_subscriber_replays_then_follows_without_gap_or_repeat,
    |url: String| async move {
        let store = own_log(&url).await;
        let events = stream(&store).await;
        for n in 1..=5 {
            events.publish(
                Topic::Health,
                "health",
                "health.transition",
                None,
                json!({"n": n}),
            );
        }
        events.flush().await;
        let position = events.position().await.unwrap();
        assert_eq!(position.last_seq, 5);

        let resume = Resume {
            since: Some(2),
            epoch: Some(position.epoch.clone()),
        };
        let Read::Continued(mut sub) = events
            .subscribe(&Principal::System, &[], &resume)
            .await
            .unwrap()
        else {
            panic!("history is there");
        };
        for expected in 3..=5 {
            assert_eq!(next(&mut sub).await.seq, expected, "replayed from the log");
        }
        for n in 6..=8 {
            events.publish(
                Topic::Health,
                "health",
                "health.transition",
                None,
                json!({"n": n}),
            );
        }
        for expected in 6..=8 {
            let event = next(&mut sub).await;
            assert_eq!(event.seq, expected, "followed live");
            assert_eq!(event.payload, json!({"n": expected}));
        }
        assert_eq!(sub.last_seq(), 8);
        events.close();
        store.close().await;
    }
);

storage_test!(
    a_resume_from_another_epoch_or_pruned_history_is_told_it_is_lost,
    |url: String| async move {
        let store = own_log(&url).await;
        let events = stream(&store).await;
        for _ in 0..4 {
            events.publish(
                Topic::Health,
                "health",
                "health.transition",
                None,
                json!({}),
            );
        }
        events.flush().await;
        let epoch = events.position().await.unwrap().epoch;

        let stale = Resume {
            since: Some(2),
            epoch: Some("0123456789abcdef0123456789abcdef".into()),
        };
        match events
            .page(&Principal::System, &[], &stale, Some(50))
            .await
            .unwrap()
        {
            Read::Lost(lost) => {
                assert_eq!(lost.position.epoch, epoch);
                assert_eq!(lost.position.last_seq, 4);
                assert!(lost.reason.contains("epoch"), "{}", lost.reason);
            }
            Read::Continued(_) => panic!("another epoch's seq must not be trusted"),
        }
        let future = Resume {
            since: Some(99),
            epoch: Some(epoch.clone()),
        };
        assert!(matches!(
            events
                .page(&Principal::System, &[], &future, Some(50))
                .await
                .unwrap(),
            Read::Lost(_)
        ));

        // Prune the first three (row cap 1): resuming after seq 1 would skip seqs 2 and 3.
        store
            .event_repository()
            .prune(chrono::DateTime::<chrono::Utc>::UNIX_EPOCH, 1)
            .await
            .unwrap();
        let behind = Resume {
            since: Some(1),
            epoch: Some(epoch.clone()),
        };
        assert!(matches!(
            events
                .subscribe(&Principal::System, &[], &behind)
                .await
                .unwrap(),
            Read::Lost(_)
        ));
        let at_edge = Resume {
            since: Some(3),
            epoch: Some(epoch.clone()),
        };
        match events
            .page(&Principal::System, &[], &at_edge, Some(50))
            .await
            .unwrap()
        {
            Read::Continued(page) => {
                assert_eq!(
                    page.events.iter().map(|e| e.seq).collect::<Vec<_>>(),
                    vec![4]
                );
                assert_eq!(page.next, 4);
            }
            Read::Lost(lost) => panic!("seq 4 is kept: {}", lost.reason),
        }
        // A follower that goes on regardless is told what was lost and starts at the end.
        let (lost, mut following) = events
            .follow(&Principal::System, &[Topic::Health], &stale)
            .await
            .unwrap();
        assert_eq!(lost.map(|l| l.position.last_seq), Some(4));
        assert_eq!(
            (following.epoch(), following.last_seq()),
            (epoch.as_str(), 4)
        );
        assert_eq!(following.topics().collect::<Vec<_>>(), [Topic::Health]);
        events.publish(
            Topic::Health,
            "health",
            "health.transition",
            None,
            json!({"n": 5}),
        );
        events.flush().await;
        let next = tokio::time::timeout(Duration::from_secs(10), following.next())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(next.seq, 5);
        let (none_lost, _) = events
            .follow(&Principal::System, &[], &Resume::default())
            .await
            .unwrap();
        assert!(none_lost.is_none());
        events.close();
        store.close().await;
    }
);

storage_test!(
    each_topic_is_read_under_its_permission,
    |url: String| async move {
        let store = own_log(&url).await;
        let events = stream(&store).await;
        let (viewer_id, viewer) = user("viewer");
        let (other_id, _) = user("viewer");
        let (_, operator) = user("operator");
        let (_, nobody) = user("guest");
        events.publish(
            Topic::Tasks,
            "tasks",
            "task.available",
            Some(viewer_id),
            json!({"mine": true}),
        );
        events.publish(
            Topic::Tasks,
            "tasks",
            "task.available",
            Some(other_id),
            json!({"mine": false}),
        );
        events.publish(
            Topic::Health,
            "health",
            "health.transition",
            None,
            json!({}),
        );
        events.publish(Topic::Audit, "audit", "audit.entry", None, json!({}));
        events.flush().await;
        let from_start = Resume {
            since: Some(0),
            epoch: None,
        };
        let kinds = |page: Read<trae_core::EventPage>| match page {
            Read::Continued(page) => {
                assert_eq!(page.next, 4, "hidden events are covered too");
                page.events
                    .iter()
                    .map(|e| (e.topic.clone(), e.owner_id))
                    .collect::<Vec<_>>()
            }
            Read::Lost(lost) => panic!("{}", lost.reason),
        };

        // A viewer asking for everything sees its own task events only.
        let seen = kinds(
            events
                .page(&viewer, &[], &from_start, Some(50))
                .await
                .unwrap(),
        );
        assert_eq!(seen, vec![("tasks".to_owned(), Some(viewer_id))]);
        // An operator sees every task and health, not the audit log.
        let seen = kinds(
            events
                .page(&operator, &[], &from_start, Some(50))
                .await
                .unwrap(),
        );
        assert_eq!(seen.len(), 3);
        assert!(seen.iter().all(|(topic, _)| topic != "audit"));
        // Asking for a topic it may not read is refused, naming the permission.
        for (principal, topic) in [
            (&viewer, Topic::Health),
            (&operator, Topic::Audit),
            (&nobody, Topic::Tasks),
        ] {
            match events
                .page(principal, &[topic], &from_start, Some(50))
                .await
            {
                Err(Error::Forbidden(message)) => {
                    assert!(message.contains(topic.permission()), "{message}")
                }
                other => panic!("{topic:?} must be refused, got {other:?}"),
            }
            assert!(matches!(
                events.subscribe(principal, &[topic], &from_start).await,
                Err(Error::Forbidden(_))
            ));
        }
        // Asking for everything with no topic readable is refused too, not an empty wait.
        assert!(matches!(
            events.page(&nobody, &[], &from_start, Some(50)).await,
            Err(Error::Forbidden(_))
        ));
        assert!(matches!(
            events.subscribe(&nobody, &[], &from_start).await,
            Err(Error::Forbidden(_))
        ));
        // A live subscriber of the viewer never sees the other user's task events.
        let Read::Continued(mut sub) = events
            .subscribe(&viewer, &[Topic::Tasks], &from_start)
            .await
            .unwrap()
        else {
            panic!("history is there");
        };
        assert_eq!(next(&mut sub).await.owner_id, Some(viewer_id));
        events.publish(
            Topic::Tasks,
            "tasks",
            "task.completed",
            Some(other_id),
            json!({}),
        );
        events.publish(
            Topic::Tasks,
            "tasks",
            "task.completed",
            Some(viewer_id),
            json!({}),
        );
        let event = next(&mut sub).await;
        assert_eq!((event.seq, event.owner_id), (6, Some(viewer_id)));
        assert!(Topic::parse("nope").is_err());
        events.close();
        store.close().await;
    }
);

storage_test!(
    a_subscriber_takes_the_events_at_hand_together,
    |url: String| async move {
        let store = own_log(&url).await;
        let events = stream(&store).await;
        let (me, viewer) = user("viewer");
        let Read::Continued(mut sub) = events
            .subscribe(&viewer, &[Topic::Tasks], &Resume::default())
            .await
            .unwrap()
        else {
            panic!("a live subscription loses nothing");
        };
        // One append: mine, someone else's, another topic's, interleaved.
        for n in 1..=9u64 {
            let (topic, owner) = match n % 3 {
                0 => (Topic::Tasks, Some(me)),
                1 => (Topic::Tasks, Some(Uuid::now_v7())),
                _ => (Topic::Health, None),
            };
            events.publish(
                topic,
                topic.as_str(),
                "thing.happened",
                owner,
                json!({"n": n}),
            );
        }
        events.flush().await;

        let first = tokio::time::timeout(Duration::from_secs(10), sub.next_batch(2))
            .await
            .unwrap()
            .unwrap();
        let ns = |batch: &[Arc<trae_core::StoredEvent>]| -> Vec<u64> {
            batch
                .iter()
                .map(|e| e.payload["n"].as_u64().unwrap())
                .collect()
        };
        assert_eq!(
            ns(&first),
            [3, 6],
            "no more than asked, only what the viewer sees"
        );
        assert_eq!(
            sub.last_seq(),
            6,
            "hidden events before them are passed over"
        );
        let rest = tokio::time::timeout(Duration::from_secs(10), sub.next_batch(100))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(ns(&rest), [9], "the rest of what was at hand");
        assert_eq!(sub.last_seq(), 9);

        // A batch ends where nothing more is at hand, and later events come in the next.
        events.publish(
            Topic::Tasks,
            "tasks",
            "thing.happened",
            Some(me),
            json!({"n": 10}),
        );
        let later = tokio::time::timeout(Duration::from_secs(10), sub.next_batch(100))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(ns(&later), [10]);
        events.close();
        store.close().await;
    }
);

storage_test!(
    under_load_the_fan_out_sends_what_was_appended_meanwhile_together,
    |url: String| async move {
        let store = own_log(&url).await;
        let options = EventStreamOptions {
            fan_out_every: Duration::from_secs(1),
            ..EventStreamOptions::default()
        };
        let clock = Arc::new(trae_core::SystemClock);
        let events = EventStream::start(store.event_repository(), clock, options)
            .await
            .unwrap();
        let Read::Continued(mut sub) = events
            .subscribe(&Principal::System, &[Topic::Health], &Resume::default())
            .await
            .unwrap()
        else {
            panic!("a live subscription loses nothing");
        };
        let publish = |n: u64| {
            events.publish(
                Topic::Health,
                "health",
                "health.transition",
                None,
                json!({ "n": n }),
            );
        };
        let ns = |batch: Vec<Arc<trae_core::StoredEvent>>| -> Vec<u64> {
            batch
                .iter()
                .map(|e| e.payload["n"].as_u64().unwrap())
                .collect()
        };
        // Live: the log holds nothing to replay, and the follower, which polls every 250 ms,
        // has seen the subscriber (else event 1 would reach it through the log).
        let nothing = tokio::time::timeout(Duration::from_millis(600), sub.next_batch(100)).await;
        assert!(nothing.is_err(), "{nothing:?}");
        assert!(!sub.replaying());
        // After a quiet spell an event goes out on its own.
        publish(1);
        events.flush().await;
        let first = tokio::time::timeout(Duration::from_secs(10), sub.next_batch(100))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(ns(first), [1]);
        // Right after a fan-out, appends wait for the next one and arrive together.
        publish(2);
        events.flush().await;
        let early = tokio::time::timeout(Duration::from_millis(200), sub.next_batch(100)).await;
        assert!(
            early.is_err(),
            "held until a second after the last fan-out: {early:?}"
        );
        publish(3);
        events.flush().await;
        let together = tokio::time::timeout(Duration::from_secs(10), sub.next_batch(100))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(ns(together), [2, 3]);
        events.close();
        store.close().await;
    }
);
