//! Registration and sign-in on real SQLite files and a real PostgreSQL server.

use std::sync::Arc;

use chrono::Duration;
use trae_auth::accounts::BAD_CREDENTIALS;
use trae_auth::{Accounts, PasswordParams, Registration};
use trae_core::{AuditFilter, Error, ManualClock, Outcome, PageRequest};
use trae_storage::{Store, storage_test};

mod support;

use support::meta;

struct Fixture {
    accounts: Accounts,
    store: Store,
    clock: Arc<ManualClock>,
}

async fn fixture(url: &str, params: PasswordParams) -> Fixture {
    let id = support::identity(url, params).await;
    Fixture {
        accounts: id.accounts,
        store: id.store,
        clock: id.clock,
    }
}

fn alice() -> Registration {
    Registration {
        username: "Alice".into(),
        email: "Alice@Example.com".into(),
        password: "correct horse battery".into(),
        full_name: Some("Alice Liddell".into()),
    }
}

async fn sign_in_err(f: &Fixture, login: &str, password: &str) -> Error {
    f.accounts
        .sign_in(login, password, &meta())
        .await
        .unwrap_err()
}

storage_test!(
    registered_users_sign_in_with_the_user_role_only,
    |url: String| async move {
        let f = fixture(&url, PasswordParams::INSECURE_FOR_TESTS).await;
        let user = f.accounts.register(alice(), &meta()).await.unwrap();
        assert_eq!(
            (user.username.as_str(), user.email.as_str()),
            ("alice", "alice@example.com")
        );
        assert_eq!(user.roles, ["user"]);
        let signed_in = f
            .accounts
            .sign_in("ALICE", "correct horse battery", &meta())
            .await
            .unwrap();
        assert_eq!(signed_in.id, user.id);
        assert_eq!(
            signed_in.last_login_at,
            Some(trae_core::Clock::now_micros(&*f.clock))
        );
        let by_email = f
            .accounts
            .sign_in("alice@example.com", "correct horse battery", &meta())
            .await
            .unwrap();
        assert_eq!(by_email.id, user.id);

        let audit = f
            .store
            .audit()
            .list(AuditFilter::default(), PageRequest::default())
            .await
            .unwrap();
        let actions: Vec<&str> = audit
            .items
            .iter()
            .rev()
            .map(|e| e.action.as_str())
            .collect();
        assert_eq!(actions, ["user.register", "auth.login", "auth.login"]);
        assert!(
            audit
                .items
                .iter()
                .all(|e| e.request_id.as_deref() == Some("req-7"))
        );
        assert!(
            !serde_json::to_string(&audit.items)
                .unwrap()
                .contains("correct horse")
        );
    }
);

storage_test!(bad_registrations_write_nothing, |url: String| async move {
    let f = fixture(&url, PasswordParams::INSECURE_FOR_TESTS).await;
    let cases = [
        (
            Registration {
                username: "al".into(),
                ..alice()
            },
            "username",
        ),
        (
            Registration {
                email: "alice-at-example".into(),
                ..alice()
            },
            "email",
        ),
        (
            Registration {
                password: "short".into(),
                ..alice()
            },
            "password",
        ),
        (
            Registration {
                password: "alice-is-my-password".into(),
                ..alice()
            },
            "password",
        ),
        (
            Registration {
                password: "Password123".into(),
                ..alice()
            },
            "password",
        ),
    ];
    for (input, field) in cases {
        let err = f.accounts.register(input, &meta()).await.unwrap_err();
        assert!(
            matches!(err, Error::Validation { field: ref f, .. } if f == field),
            "{err}"
        );
    }
    f.accounts.register(alice(), &meta()).await.unwrap();
    let twin = Registration {
        username: "ALICE".into(),
        email: "twin@example.com".into(),
        ..alice()
    };
    assert!(matches!(
        f.accounts.register(twin, &meta()).await.unwrap_err(),
        Error::Conflict(_)
    ));
    let audit = f
        .store
        .audit()
        .list(AuditFilter::default(), PageRequest::default())
        .await
        .unwrap();
    assert_eq!(
        audit.total, 1,
        "only the one successful registration is recorded"
    );
});

storage_test!(
    unknown_users_and_wrong_passwords_fail_alike,
    |url: String| async move {
        let f = fixture(&url, PasswordParams::INSECURE_FOR_TESTS).await;
        f.accounts.register(alice(), &meta()).await.unwrap();
        let wrong = sign_in_err(&f, "alice", "not the password").await;
        let unknown = sign_in_err(&f, "nobody", "not the password").await;
        assert_eq!(wrong.to_string(), unknown.to_string());
        assert!(matches!(wrong, Error::Unauthenticated(ref m) if m == BAD_CREDENTIALS));
        assert_eq!(wrong.code(), unknown.code());
        let failures = f
            .store
            .audit()
            .list(
                AuditFilter {
                    action: Some("auth.login".into()),
                    ..Default::default()
                },
                PageRequest::default(),
            )
            .await
            .unwrap();
        assert_eq!(failures.total, 2);
        assert!(failures.items.iter().all(|e| e.outcome == Outcome::Failure));
        assert!(
            !serde_json::to_string(&failures.items)
                .unwrap()
                .contains("not the password")
        );
    }
);

storage_test!(
    five_failures_lock_until_the_lock_expires,
    |url: String| async move {
        let f = fixture(&url, PasswordParams::INSECURE_FOR_TESTS).await;
        f.accounts.register(alice(), &meta()).await.unwrap();
        for _ in 0..4 {
            assert!(matches!(
                sign_in_err(&f, "alice", "wrong password!").await,
                Error::Unauthenticated(_)
            ));
        }
        let locking = sign_in_err(&f, "alice", "wrong password!").await;
        assert!(matches!(locking, Error::Unauthenticated(_)), "{locking}");
        f.clock.advance(Duration::minutes(5));
        let err = sign_in_err(&f, "alice", "correct horse battery").await;
        assert!(
            matches!(&err, Error::Unauthenticated(m) if m == BAD_CREDENTIALS),
            "the right password does not open a locked account: {err}"
        );
        f.clock.advance(Duration::minutes(10));
        f.accounts
            .sign_in("alice", "correct horse battery", &meta())
            .await
            .expect("the lock expired");
        let lockouts = f
            .store
            .audit()
            .list(
                AuditFilter {
                    action: Some("auth.lockout".into()),
                    ..Default::default()
                },
                PageRequest::default(),
            )
            .await
            .unwrap();
        assert_eq!(lockouts.total, 1);
    }
);

storage_test!(
    a_success_resets_the_failure_count,
    |url: String| async move {
        let f = fixture(&url, PasswordParams::INSECURE_FOR_TESTS).await;
        f.accounts.register(alice(), &meta()).await.unwrap();
        for _ in 0..4 {
            sign_in_err(&f, "alice", "wrong password!").await;
        }
        f.accounts
            .sign_in("alice", "correct horse battery", &meta())
            .await
            .unwrap();
        for _ in 0..4 {
            assert!(matches!(
                sign_in_err(&f, "alice", "wrong password!").await,
                Error::Unauthenticated(_)
            ));
        }
    }
);

storage_test!(
    hashes_are_upgraded_when_parameters_change,
    |url: String| async move {
        let old = fixture(
            &url,
            PasswordParams {
                m_cost: 16,
                t_cost: 1,
                p_cost: 1,
            },
        )
        .await;
        let user = old.accounts.register(alice(), &meta()).await.unwrap();
        let before = old
            .store
            .user_repository()
            .get(user.id)
            .await
            .unwrap()
            .unwrap()
            .password_hash;
        assert!(before.contains("m=16,t=1,p=1"), "{before}");
        let new = fixture(
            &url,
            PasswordParams {
                m_cost: 32,
                t_cost: 1,
                p_cost: 1,
            },
        )
        .await;
        new.accounts
            .sign_in("alice", "correct horse battery", &meta())
            .await
            .unwrap();
        let after = new
            .store
            .user_repository()
            .get(user.id)
            .await
            .unwrap()
            .unwrap()
            .password_hash;
        assert!(after.contains("m=32,t=1,p=1"), "{after}");
        new.accounts
            .sign_in("alice", "correct horse battery", &meta())
            .await
            .expect("the upgraded hash verifies");
    }
);
