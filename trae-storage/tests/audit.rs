//! The audit log on real SQLite files and a real PostgreSQL server.

use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use sea_orm::ConnectionTrait;
use serde_json::json;
use trae_core::{
    ActorKind, ActorRef, AuditFilter, Error, ManualClock, NewAuditEntry, Outcome, PageRequest,
};
use trae_storage::{Store, StoreOptions, storage_test};
use uuid::Uuid;

fn entry(actor: ActorRef, action: &str, outcome: Outcome) -> NewAuditEntry {
    NewAuditEntry {
        actor,
        action: action.to_owned(),
        target: Some("user:42".to_owned()),
        outcome,
        ip: Some("127.0.0.1".to_owned()),
        request_id: Some("req-1".to_owned()),
        details: json!({"password": "hunter2hunter2", "reason": "test"}),
    }
}

fn user(name: &str, id: Uuid) -> ActorRef {
    ActorRef {
        kind: ActorKind::User,
        id: Some(id),
        name: Some(name.to_owned()),
    }
}

storage_test!(
    entries_round_trip_redacted_and_newest_first,
    |url: String| async move {
        let clock = Arc::new(ManualClock::new(
            Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap(),
        ));
        let options = StoreOptions {
            clock: clock.clone(),
            ..StoreOptions::default()
        };
        let audit = Store::connect_with(&url, options).await.unwrap().audit();
        let alice = Uuid::now_v7();
        let first = audit
            .record(entry(user("alice", alice), "auth.login", Outcome::Success))
            .await
            .unwrap();
        clock.advance(Duration::seconds(1));
        let second = audit
            .record(entry(
                ActorRef {
                    kind: ActorKind::Anonymous,
                    id: None,
                    name: Some("mallory".into()),
                },
                "auth.login",
                Outcome::Failure,
            ))
            .await
            .unwrap();
        clock.advance(Duration::seconds(1));
        let third = audit
            .record(entry(ActorRef::system(), "user.create", Outcome::Success))
            .await
            .unwrap();

        let page = audit
            .list(AuditFilter::default(), PageRequest::default())
            .await
            .unwrap();
        assert_eq!(page.total, 3);
        assert_eq!(
            page.items,
            vec![third.clone(), second.clone(), first.clone()],
            "newest first, every field intact"
        );
        assert_eq!(first.details["password"], "[redacted]");
        assert!(
            !serde_json::to_string(&page.items)
                .unwrap()
                .contains("hunter2")
        );

        let by_name = audit
            .list(
                AuditFilter {
                    actor: Some("alice".into()),
                    ..Default::default()
                },
                PageRequest::default(),
            )
            .await
            .unwrap();
        assert_eq!(by_name.items, vec![first.clone()]);
        let by_id = audit
            .list(
                AuditFilter {
                    actor: Some(alice.to_string()),
                    ..Default::default()
                },
                PageRequest::default(),
            )
            .await
            .unwrap();
        assert_eq!(by_id.items, vec![first.clone()]);
        let logins = audit
            .list(
                AuditFilter {
                    action: Some("auth.login".into()),
                    ..Default::default()
                },
                PageRequest::default(),
            )
            .await
            .unwrap();
        assert_eq!(logins.total, 2);
        let window = audit
            .list(
                AuditFilter {
                    since: Some(second.at),
                    until: Some(third.at),
                    ..Default::default()
                },
                PageRequest::default(),
            )
            .await
            .unwrap();
        assert_eq!(
            window.items,
            vec![second],
            "since is inclusive, until exclusive"
        );
        let paged = audit
            .list(
                AuditFilter::default(),
                PageRequest::new(Some(1), Some(2)).unwrap(),
            )
            .await
            .unwrap();
        assert_eq!((paged.total, paged.items), (3, vec![first]));
    }
);

storage_test!(
    entries_cannot_be_changed_or_deleted,
    |url: String| async move {
        let store = Store::connect(&url).await.unwrap();
        let audit = store.audit();
        audit
            .record(entry(ActorRef::system(), "user.create", Outcome::Success))
            .await
            .unwrap();
        // Straight through a connection, bypassing trae: the database itself refuses.
        let raw = sea_orm::Database::connect(url.as_str()).await.unwrap();
        for sql in [
            "UPDATE audit_log SET outcome = 'denied'",
            "DELETE FROM audit_log",
        ] {
            let err = raw.execute_unprepared(sql).await.unwrap_err();
            assert!(err.to_string().contains("append-only"), "{sql}: {err}");
        }
        let page = audit
            .list(AuditFilter::default(), PageRequest::default())
            .await
            .unwrap();
        assert_eq!((page.total, page.items[0].outcome), (1, Outcome::Success));
    }
);

storage_test!(
    bad_entries_and_filters_are_rejected,
    |url: String| async move {
        let audit = Store::connect(&url).await.unwrap().audit();
        let err = audit
            .record(entry(ActorRef::system(), "Not An Action", Outcome::Success))
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::Validation { ref field, .. } if field == "action"),
            "{err}"
        );
        let now = Utc::now();
        let err = audit
            .list(
                AuditFilter {
                    since: Some(now),
                    until: Some(now - Duration::hours(1)),
                    ..Default::default()
                },
                PageRequest::default(),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Validation { .. }));
        assert_eq!(
            audit
                .list(AuditFilter::default(), PageRequest::default())
                .await
                .unwrap()
                .total,
            0
        );
    }
);
