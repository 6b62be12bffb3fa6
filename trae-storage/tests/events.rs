//! The event log on real SQLite files and a real PostgreSQL server: numbering in commit
//! order (no reader ever sees a gap, even with two nodes appending at once), the epoch, and
//! pruning by age and row cap.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, SubsecRound, TimeZone, Utc};
use serde_json::json;
use trae_core::{EventRepository, NewEvent};
use trae_storage::{Store, storage_test};
use uuid::Uuid;

/// The minute events are stamped from, so nothing depends on the day the test runs.
fn base() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 7, 9, 0, 0).unwrap()
}

fn event(minute: i64, topic: &str, kind: &str, owner: Option<Uuid>) -> NewEvent {
    NewEvent {
        id: Uuid::now_v7(),
        ts: base() + chrono::Duration::minutes(minute),
        topic: topic.into(),
        source: topic.into(),
        kind: kind.into(),
        owner_id: owner,
        payload: json!({"minute": minute, "nested": {"ok": true}}),
    }
}

/// A store whose services keep their events in-process, so each test writes the only rows.
async fn log_only(url: &str) -> Store {
    let options = trae_storage::StoreOptions {
        event_log: false,
        ..trae_storage::StoreOptions::default()
    };
    Store::connect_with(url, options).await.unwrap()
}

storage_test!(
    appended_events_come_back_in_order_with_every_field,
    |url: String| async move {
        let store = log_only(&url).await;
        let log = store.event_repository();
        let owner = Uuid::now_v7();
        let batch = vec![
            event(0, "tasks", "task.available", Some(owner)),
            event(1, "health", "health.transition", None),
            event(2, "tasks", "task.completed", Some(owner)),
        ];
        assert_eq!(log.append(&batch).await.unwrap(), vec![1, 2, 3]);
        assert_eq!(log.append(&[]).await.unwrap(), Vec::<u64>::new());

        let all = log.since(0, None, 100).await.unwrap();
        assert_eq!(all.len(), 3);
        for (stored, sent) in all.iter().zip(&batch) {
            assert_eq!(
                (
                    stored.id,
                    stored.ts,
                    &stored.topic,
                    &stored.source,
                    &stored.kind,
                    stored.owner_id,
                    &stored.payload
                ),
                (
                    sent.id,
                    sent.ts,
                    &sent.topic,
                    &sent.source,
                    &sent.kind,
                    sent.owner_id,
                    &sent.payload
                )
            );
        }
        assert_eq!(all.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![1, 2, 3]);
        let after_two = log.since(2, None, 100).await.unwrap();
        assert_eq!(after_two.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![3]);
        let tasks = log
            .since(0, Some(&["tasks".to_owned()]), 100)
            .await
            .unwrap();
        assert_eq!(tasks.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![1, 3]);
        let two_topics = log
            .since(0, Some(&["health".to_owned(), "tasks".to_owned()]), 100)
            .await
            .unwrap();
        assert_eq!(two_topics.len(), 3);
        assert_eq!(log.since(0, None, 2).await.unwrap().len(), 2, "limit");
        assert!(log.since(0, Some(&[]), 100).await.unwrap().is_empty());
        assert!(log.since(3, None, 100).await.unwrap().is_empty());
        store.close().await;
    }
);

storage_test!(
    concurrent_appends_from_two_nodes_never_show_a_reader_a_gap,
    |url: String| async move {
        // Two stores on one database are two nodes: separate pools, separate connections.
        let node_a = log_only(&url).await;
        let node_b = log_only(&url).await;
        let logs: [Arc<dyn EventRepository>; 2] =
            [node_a.event_repository(), node_b.event_repository()];
        const PUBLISHERS: usize = 6;
        const BATCHES: usize = 25;
        let mut publishers = Vec::new();
        for p in 0..PUBLISHERS {
            let log = Arc::clone(&logs[p % 2]);
            publishers.push(tokio::spawn(async move {
                let mut appended = Vec::new();
                for b in 0..BATCHES {
                    let batch: Vec<NewEvent> = (0..1 + (p + b) % 4)
                        .map(|i| event(i64::try_from(i).unwrap(), "tasks", "task.tick", None))
                        .collect();
                    let seqs = log.append(&batch).await.unwrap();
                    appended.extend(batch.iter().map(|e| e.id).zip(seqs));
                    tokio::task::yield_now().await;
                }
                appended
            }));
        }
        let total: usize = (0..PUBLISHERS)
            .map(|p| (0..BATCHES).map(|b| 1 + (p + b) % 4).sum::<usize>())
            .sum();

        // A reader resuming from the last seq it saw, while the appends go on, on the other
        // node's read side: each page must continue exactly where the last one ended.
        let reader = Arc::clone(&logs[1]);
        let read = tokio::spawn(async move {
            let mut seen: Vec<(Uuid, u64)> = Vec::new();
            let mut last = 0;
            while seen.len() < total {
                for e in reader.since(last, None, 7).await.unwrap() {
                    assert_eq!(e.seq, last + 1, "a gap or a repeat after seq {last}");
                    last = e.seq;
                    seen.push((e.id, e.seq));
                }
                tokio::task::yield_now().await;
            }
            seen
        });
        let mut appended: HashMap<Uuid, u64> = HashMap::new();
        for p in publishers {
            appended.extend(p.await.unwrap());
        }
        let seen = tokio::time::timeout(std::time::Duration::from_secs(60), read)
            .await
            .expect("the reader caught up with every append")
            .unwrap();
        assert_eq!(seen.len(), total);
        assert_eq!(appended.len(), total);
        for (id, seq) in &seen {
            assert_eq!(
                appended.get(id),
                Some(seq),
                "read with the seq its append returned"
            );
        }
        let position = logs[0].position().await.unwrap();
        assert_eq!(position.last_seq, u64::try_from(total).unwrap());
        node_a.close().await;
        node_b.close().await;
    }
);

storage_test!(
    the_epoch_is_made_with_the_log_and_renewed_on_demand,
    |url: String| async move {
        let store = log_only(&url).await;
        let log = store.event_repository();
        let fresh = log.position().await.unwrap();
        assert_eq!(fresh.epoch.len(), 32);
        assert!(fresh.epoch.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!((fresh.last_seq, fresh.oldest_seq), (0, None));
        log.append(&[event(0, "alerts", "alert.firing", None)])
            .await
            .unwrap();
        store.close().await;

        let again = log_only(&url).await;
        let log = again.event_repository();
        let reopened = log.position().await.unwrap();
        assert_eq!(reopened.epoch, fresh.epoch, "an epoch outlives restarts");
        assert_eq!((reopened.last_seq, reopened.oldest_seq), (1, Some(1)));
        let renewed = log.renew_epoch().await.unwrap();
        assert_ne!(renewed, fresh.epoch);
        assert_eq!(log.position().await.unwrap().epoch, renewed);
        again.close().await;
    }
);

storage_test!(
    pruning_drops_the_old_and_the_surplus_and_numbering_goes_on,
    |url: String| async move {
        let store = log_only(&url).await;
        let log = store.event_repository();
        let batch: Vec<NewEvent> = (0..10)
            .map(|m| event(m, "tasks", "task.tick", None))
            .collect();
        log.append(&batch).await.unwrap();

        // By age: minutes 0-4 are before the cut.
        let cut = base() + chrono::Duration::minutes(5);
        assert_eq!(log.prune(cut, 100).await.unwrap(), 5);
        let kept = log.since(0, None, 100).await.unwrap();
        assert_eq!(kept.first().map(|e| e.seq), Some(6));
        assert_eq!(log.position().await.unwrap().oldest_seq, Some(6));

        // By row cap: the newest three stay.
        assert_eq!(log.prune(base(), 3).await.unwrap(), 2);
        assert_eq!(
            log.since(0, None, 100)
                .await
                .unwrap()
                .iter()
                .map(|e| e.seq)
                .collect::<Vec<_>>(),
            vec![8, 9, 10]
        );
        assert_eq!(
            log.prune(base(), 3).await.unwrap(),
            0,
            "nothing more to prune"
        );

        // Pruning never renumbers: the next event follows the last one ever appended.
        assert_eq!(
            log.append(&[event(11, "tasks", "task.tick", None)])
                .await
                .unwrap(),
            vec![11]
        );
        // Everything too old goes, however many rows the cap allows.
        assert_eq!(
            log.prune(base() + chrono::Duration::hours(1), 1000)
                .await
                .unwrap(),
            4
        );
        let position = log.position().await.unwrap();
        assert_eq!((position.last_seq, position.oldest_seq), (11, None));
        store.close().await;
    }
);

storage_test!(
    services_publish_into_the_log_and_migrations_report_progress,
    |url: String| async move {
        let local = Arc::new(trae_core::BroadcastBus::new(
            Arc::new(trae_core::SystemClock),
            4096,
        ));
        let mut heard = trae_core::EventBus::subscribe(local.as_ref());
        let options = trae_storage::StoreOptions {
            events: local.clone(),
            ..trae_storage::StoreOptions::default()
        };
        let store = Store::connect_with(&url, options).await.unwrap();
        // Each migration of a fresh database, as it was applied, numbered.
        let mut applied = Vec::new();
        while let Ok(Ok(event)) =
            tokio::time::timeout(std::time::Duration::from_millis(100), heard.recv()).await
        {
            if event.kind == "migration.applied" {
                assert_eq!(event.source, "system");
                applied.push(event.payload.clone());
            }
        }
        let status = store.migration_status().await.unwrap();
        assert_eq!(applied.len(), status.len(), "one event per migration");
        for (i, (event, state)) in applied.iter().zip(&status).enumerate() {
            assert_eq!(event["name"], json!(state.name));
            assert_eq!(event["done"], json!(i + 1));
            assert_eq!(event["total"], json!(status.len()));
        }

        // A service's event reaches the log through the store's bus, with its owner; a source
        // that is no topic stays in-process.
        let stream = store.event_stream().expect("the log is attached");
        stream.flush().await;
        // The same migrations are in the log, on topic system, once they committed.
        let logged: Vec<_> = store
            .event_repository()
            .since(0, None, 100)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.kind == "migration.applied")
            .collect();
        assert_eq!(logged.len(), status.len(), "{logged:?}");
        assert!(logged.iter().all(|e| e.topic == "system"));
        assert_eq!(logged.last().unwrap().payload["done"], json!(status.len()));
        let before = stream.position().await.unwrap().last_seq;
        let owner = Uuid::now_v7();
        let bus = store.events();
        let published = bus.publish_owned("tasks", "task.completed", Some(owner), json!({"n": 1}));
        bus.publish("my_app", "custom.thing", json!({}));
        stream.flush().await;
        let stored = store
            .event_repository()
            .since(before, None, 10)
            .await
            .unwrap();
        assert_eq!(stored.len(), 1, "{stored:?}");
        assert_eq!(stored[0].id, published.id);
        assert_eq!(stored[0].ts, published.ts.trunc_subsecs(6));
        assert_eq!(stored[0].owner_id, Some(owner));
        assert_eq!(stored[0].topic, "tasks");

        // Without the log, events stay in-process.
        let dir = tempfile::tempdir().unwrap();
        let off = Store::connect_with(
            &format!("sqlite://{}?mode=rwc", dir.path().join("off.db").display()),
            trae_storage::StoreOptions {
                event_log: false,
                ..trae_storage::StoreOptions::default()
            },
        )
        .await
        .unwrap();
        assert!(off.event_stream().is_none());
        off.close().await;
        store.close().await;
    }
);

storage_test!(
    a_store_closes_right_after_an_append_notifies,
    |url: String| async move {
        // On PostgreSQL the append's NOTIFY wakes the listener just as the pool closes: the
        // close must not wait on the listener's connection.
        for n in 0..20 {
            let store = Store::connect(&url).await.unwrap();
            store
                .events()
                .publish("pets", "pet.created", json!({ "n": n }));
            tokio::time::timeout(std::time::Duration::from_secs(20), store.close())
                .await
                .unwrap_or_else(|_| panic!("close {n} hung"));
        }
    }
);
