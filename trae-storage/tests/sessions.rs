//! Sessions with their absolute lifetime, and shared settings' compare-and-swap, on SQLite
//! and PostgreSQL.

use chrono::{Duration, TimeZone, Utc};
use trae_core::{RefreshTokenRecord, Session, User};
use trae_storage::{Store, storage_test};
use uuid::Uuid;

fn user() -> User {
    let now = Utc.with_ymd_and_hms(2026, 2, 1, 8, 0, 0).unwrap();
    User {
        id: Uuid::now_v7(),
        username: "alice".into(),
        email: "alice@example.com".into(),
        full_name: None,
        roles: vec!["user".into()],
        is_active: true,
        created_at: now,
        updated_at: now,
        last_login_at: None,
    }
}

async fn session_of(store: &Store, user: &User, lifetime: Duration) -> Session {
    store.user_repository().insert(user, "hash").await.unwrap();
    let created_at = Utc.with_ymd_and_hms(2026, 2, 1, 9, 0, 0).unwrap();
    let session = Session {
        id: Uuid::now_v7(),
        user_id: user.id,
        created_at,
        revoked_at: None,
        revoked_reason: None,
        expires_at: created_at + lifetime,
    };
    let first = RefreshTokenRecord {
        hash: "h1".into(),
        session_id: session.id,
        issued_at: created_at,
        expires_at: created_at + Duration::days(1),
        used_at: None,
    };
    store
        .session_repository()
        .create(&session, &first)
        .await
        .unwrap();
    session
}

storage_test!(a_session_keeps_its_expiry, |url: String| async move {
    let store = Store::connect(&url).await.unwrap();
    let session = session_of(&store, &user(), Duration::days(7)).await;
    let read = store
        .session_repository()
        .get(session.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read, session);
    assert!(read.is_live(session.created_at + Duration::days(6)));
    assert!(!read.is_live(session.expires_at), "ends at its expiry");
});

storage_test!(
    the_expiry_migration_gives_existing_sessions_thirty_days,
    |url: String| async move {
        let store = Store::connect(&url).await.unwrap();
        let session = session_of(&store, &user(), Duration::days(400)).await;
        let status = store.migration_status().await.unwrap();
        let ours = status
            .iter()
            .position(|m| m.name == "m20261206_000016_session_expiry")
            .expect("the migration is registered");
        let steps = u32::try_from(status.len() - ours).unwrap();
        store.migrate_down(steps).await.unwrap();
        store.migrate_up().await.unwrap();
        let read = store
            .session_repository()
            .get(session.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(read.expires_at, session.created_at + Duration::days(30));
    }
);

storage_test!(
    shared_settings_swap_only_from_the_expected_value,
    |url: String| async move {
        let settings = Store::connect(&url).await.unwrap().shared_settings();
        assert_eq!(settings.get("k").await.unwrap(), None);
        assert!(!settings.compare_and_swap("k", "a", "b").await.unwrap());
        assert_eq!(settings.get_or_insert("k", "a").await.unwrap(), "a");
        assert!(settings.compare_and_swap("k", "a", "b").await.unwrap());
        assert!(
            !settings.compare_and_swap("k", "a", "c").await.unwrap(),
            "stale"
        );
        assert_eq!(settings.get("k").await.unwrap().as_deref(), Some("b"));
    }
);
