//! The user repository and the seeded roles on real SQLite files and a real PostgreSQL server.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Duration, TimeZone, Utc};
use sea_orm::{ConnectionTrait, Statement};
use trae_core::identity::lockout::{FailureCount, LoginState};
use trae_core::identity::permission::{BUILT_IN_ROLES, built_in_permissions};
use trae_core::{Error, User};
use trae_storage::{Store, storage_test};
use uuid::Uuid;

fn user(name: &str, roles: &[&str]) -> User {
    let now = Utc.with_ymd_and_hms(2026, 2, 1, 8, 0, 0).unwrap();
    User {
        id: Uuid::now_v7(),
        username: name.to_owned(),
        email: format!("{name}@example.com"),
        full_name: Some(format!("{name} Example")),
        roles: roles.iter().map(|r| (*r).to_owned()).collect(),
        is_active: true,
        created_at: now,
        updated_at: now,
        last_login_at: None,
    }
}

storage_test!(
    users_round_trip_by_id_username_and_email,
    |url: String| async move {
        let users = Store::connect(&url).await.unwrap().user_repository();
        let alice = user("alice", &["user", "developer"]);
        users.insert(&alice, "$argon2id$hash").await.unwrap();
        let by_id = users.get(alice.id).await.unwrap().unwrap();
        let mut expected = alice.clone();
        expected.roles.sort();
        assert_eq!(by_id.user, expected, "roles come back sorted");
        assert_eq!(by_id.password_hash, "$argon2id$hash");
        assert_eq!(
            (by_id.login, by_id.login_version),
            (LoginState::default(), 0)
        );
        assert_eq!(
            users.find_by_login("alice").await.unwrap().unwrap().user.id,
            alice.id
        );
        assert_eq!(
            users
                .find_by_login("alice@example.com")
                .await
                .unwrap()
                .unwrap()
                .user
                .id,
            alice.id
        );
        assert!(users.find_by_login("bob").await.unwrap().is_none());
        assert!(users.get(Uuid::now_v7()).await.unwrap().is_none());
    }
);

storage_test!(
    duplicates_and_unknown_roles_are_refused_whole,
    |url: String| async move {
        let users = Store::connect(&url).await.unwrap().user_repository();
        users.insert(&user("alice", &["user"]), "h").await.unwrap();

        let mut same_name = user("alice", &["user"]);
        same_name.email = "other@example.com".into();
        let err = users.insert(&same_name, "h").await.unwrap_err();
        assert!(
            matches!(err, Error::Conflict(ref m) if m.contains("username")),
            "{err}"
        );

        let mut same_email = user("alice2", &["user"]);
        same_email.email = "alice@example.com".into();
        let err = users.insert(&same_email, "h").await.unwrap_err();
        assert!(
            matches!(err, Error::Conflict(ref m) if m.contains("email")),
            "{err}"
        );

        let ghost = user("ghost", &["user", "wizard"]);
        let err = users.insert(&ghost, "h").await.unwrap_err();
        assert!(
            matches!(err, Error::Validation { ref field, .. } if field == "roles"),
            "{err}"
        );
        assert!(
            users.get(ghost.id).await.unwrap().is_none(),
            "nothing half-written"
        );
    }
);

storage_test!(
    login_state_swaps_only_from_the_expected_version,
    |url: String| async move {
        let users = Store::connect(&url).await.unwrap().user_repository();
        let alice = user("alice", &["user"]);
        users.insert(&alice, "old-hash").await.unwrap();
        let at = Utc.with_ymd_and_hms(2026, 2, 1, 9, 0, 0).unwrap();
        let failed = LoginState {
            failed_logins: 2,
            window_started_at: Some(at),
            locked_until: None,
            by_address: [(
                "192.0.2.1".to_owned(),
                FailureCount {
                    failed: 2,
                    window_started_at: Some(at),
                    locked_until: None,
                },
            )]
            .into(),
        };
        assert!(users.swap_login_state(alice.id, 0, &failed).await.unwrap());
        assert!(
            !users
                .swap_login_state(alice.id, 0, &LoginState::default())
                .await
                .unwrap(),
            "a stale version loses"
        );
        let stored = users.get(alice.id).await.unwrap().unwrap();
        assert_eq!(
            (stored.login, stored.login_version),
            (failed, 1),
            "the per-address counts come back too"
        );

        let locked = LoginState {
            failed_logins: 0,
            window_started_at: None,
            locked_until: Some(at + Duration::minutes(15)),
            by_address: Default::default(),
        };
        assert!(users.swap_login_state(alice.id, 1, &locked).await.unwrap());
        assert_eq!(users.get(alice.id).await.unwrap().unwrap().login, locked);

        users
            .record_login(alice.id, at + Duration::hours(1), Some("new-hash"))
            .await
            .unwrap();
        let stored = users.get(alice.id).await.unwrap().unwrap();
        assert_eq!(stored.login, LoginState::default());
        assert_eq!(stored.login_version, 3);
        assert_eq!(stored.password_hash, "new-hash");
        assert_eq!(stored.user.last_login_at, Some(at + Duration::hours(1)));
        users
            .record_login(alice.id, at + Duration::hours(2), None)
            .await
            .unwrap();
        assert_eq!(
            users.get(alice.id).await.unwrap().unwrap().password_hash,
            "new-hash"
        );
        let err = users
            .record_login(Uuid::now_v7(), at, None)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }));
    }
);

storage_test!(
    seeded_roles_match_the_core_catalogue,
    |url: String| async move {
        Store::connect(&url).await.unwrap();
        let db = sea_orm::Database::connect(url.as_str()).await.unwrap();
        let backend = db.get_database_backend();
        let rows = db
            .query_all_raw(Statement::from_string(
                backend,
                "SELECT role, permission FROM role_permissions",
            ))
            .await
            .unwrap();
        let mut grants: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for row in rows {
            let role: String = row.try_get("", "role").unwrap();
            let permission: String = row.try_get("", "permission").unwrap();
            grants.entry(role).or_default().insert(permission);
        }
        for role in BUILT_IN_ROLES {
            let expected: BTreeSet<String> = if role == "admin" {
                BTreeSet::new() // admin is resolved at check time, never granted rows
            } else {
                built_in_permissions(role)
                    .unwrap()
                    .into_iter()
                    .map(String::from)
                    .collect()
            };
            assert_eq!(grants.remove(role).unwrap_or_default(), expected, "{role}");
        }
        assert!(grants.is_empty(), "no other roles are seeded: {grants:?}");
    }
);
