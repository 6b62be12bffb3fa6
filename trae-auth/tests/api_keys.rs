//! API keys on SQLite and PostgreSQL.

use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use trae_auth::{
    Accounts, ApiKeys, NewKey, PasswordHasher, PasswordParams, Rbac, Registration, RequestMeta,
};
use trae_core::lockout::LockoutPolicy;
use trae_core::{Error, ManualClock, Permission, Principal, User};
use trae_storage::{Store, StoreOptions, storage_test};

struct Fixture {
    keys: ApiKeys,
    rbac: Rbac,
    clock: Arc<ManualClock>,
    alice: Principal,
    bob: Principal,
}

fn as_principal(user: &User) -> Principal {
    Principal::User {
        user_id: user.id,
        username: Some(user.username.clone()),
        session_id: None,
        roles: user.roles.clone(),
    }
}

async fn fixture(url: &str) -> Fixture {
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 6, 1, 10, 0, 0).unwrap(),
    ));
    let store = Store::connect_with(
        url,
        StoreOptions {
            clock: clock.clone(),
            ..StoreOptions::default()
        },
    )
    .await
    .unwrap();
    let accounts = Accounts::new(
        store.user_repository(),
        store.session_repository(),
        PasswordHasher::new(PasswordParams::INSECURE_FOR_TESTS, 2).unwrap(),
        store.audit(),
        clock.clone(),
        LockoutPolicy::default(),
    );
    let register = |name: &str| Registration {
        username: name.into(),
        email: format!("{name}@example.com"),
        password: "correct horse battery".into(),
        full_name: None,
    };
    let alice = accounts
        .register(register("alice"), &RequestMeta::default())
        .await
        .unwrap();
    let bob = accounts
        .register(register("bob"), &RequestMeta::default())
        .await
        .unwrap();
    let rbac = Rbac::new(store.role_repository());
    let keys = ApiKeys::new(
        store.api_key_repository(),
        store.user_repository(),
        rbac.clone(),
        store.audit(),
        clock.clone(),
    );
    Fixture {
        keys,
        rbac,
        clock,
        alice: as_principal(&alice),
        bob: as_principal(&bob),
    }
}

fn meta() -> RequestMeta {
    RequestMeta::default()
}

fn p(name: &str) -> Permission {
    name.parse().unwrap()
}

storage_test!(
    a_key_authenticates_within_its_scopes,
    |url: String| async move {
        let f = fixture(&url).await;
        let created = f
            .keys
            .create(
                &f.alice,
                NewKey {
                    name: "ci".into(),
                    scopes: Some(vec!["pets:read".into()]),
                    expires_in_days: None,
                },
                &meta(),
            )
            .await
            .unwrap();
        assert!(created.secret.starts_with("trae_"));
        assert_eq!(created.key.prefix, created.secret[..12]);
        let principal = f.keys.authenticate(&created.secret).await.unwrap();
        assert!(matches!(principal, Principal::ApiKey { key_id, .. } if key_id == created.key.id));
        f.rbac.authorize(&principal, &p("pets:read")).await.unwrap();
        assert!(matches!(
            f.rbac.authorize(&principal, &p("pets:write")).await,
            Err(Error::Forbidden(_))
        ));

        let listed = f.keys.list(&f.alice).await.unwrap();
        assert_eq!(listed.len(), 1);
        assert!(listed[0].last_used_at.is_some(), "use is recorded");
        assert!(!format!("{listed:?}").contains(&created.secret));
    }
);

storage_test!(keys_cannot_exceed_their_owner, |url: String| async move {
    let f = fixture(&url).await;
    let err = f
        .keys
        .create(
            &f.alice,
            NewKey {
                name: "sneaky".into(),
                scopes: Some(vec!["users:admin".into()]),
                expires_in_days: None,
            },
            &meta(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Forbidden(_)), "{err}");
    let default = f
        .keys
        .create(
            &f.alice,
            NewKey {
                name: "all mine".into(),
                ..Default::default()
            },
            &meta(),
        )
        .await
        .unwrap();
    assert!(default.key.scopes.contains(&p("pets:write")));
    assert!(!default.key.scopes.contains(&p("secrets:read")));
    for bad in [
        NewKey {
            name: "".into(),
            ..Default::default()
        },
        NewKey {
            name: "x".into(),
            scopes: Some(vec!["not a permission".into()]),
            ..Default::default()
        },
        NewKey {
            name: "x".into(),
            scopes: Some(vec![]),
            ..Default::default()
        },
        NewKey {
            name: "x".into(),
            expires_in_days: Some(0),
            ..Default::default()
        },
    ] {
        assert!(
            matches!(
                f.keys.create(&f.alice, bad.clone(), &meta()).await,
                Err(Error::Validation { .. })
            ),
            "{bad:?}"
        );
    }
    let key_principal = f.keys.authenticate(&default.secret).await.unwrap();
    let err = f
        .keys
        .create(
            &key_principal,
            NewKey {
                name: "child".into(),
                ..Default::default()
            },
            &meta(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Forbidden(_)), "a key cannot mint keys");
});

storage_test!(
    users_see_and_revoke_only_their_own_keys,
    |url: String| async move {
        let f = fixture(&url).await;
        let alices = f
            .keys
            .create(
                &f.alice,
                NewKey {
                    name: "alice's".into(),
                    ..Default::default()
                },
                &meta(),
            )
            .await
            .unwrap();
        assert!(f.keys.list(&f.bob).await.unwrap().is_empty());
        let err = f
            .keys
            .revoke(&f.bob, alices.key.id, &meta())
            .await
            .unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }), "{err}");
        f.keys
            .authenticate(&alices.secret)
            .await
            .expect("still works after bob's attempt");
        f.keys
            .revoke(&f.alice, alices.key.id, &meta())
            .await
            .unwrap();
        assert!(matches!(
            f.keys.authenticate(&alices.secret).await,
            Err(Error::Unauthenticated(_))
        ));
        assert!(matches!(
            f.keys.revoke(&f.alice, alices.key.id, &meta()).await,
            Err(Error::NotFound { .. })
        ));
    }
);

storage_test!(
    expired_and_foreign_secrets_are_refused,
    |url: String| async move {
        let f = fixture(&url).await;
        let short = f
            .keys
            .create(
                &f.alice,
                NewKey {
                    name: "short".into(),
                    expires_in_days: Some(1),
                    ..Default::default()
                },
                &meta(),
            )
            .await
            .unwrap();
        f.keys.authenticate(&short.secret).await.unwrap();
        f.clock.advance(Duration::days(1));
        assert!(matches!(
            f.keys.authenticate(&short.secret).await,
            Err(Error::Unauthenticated(_))
        ));
        for junk in [
            "",
            "trae_",
            "rt_abc",
            "eyJhbGciOiJIUzI1NiJ9.e30.x",
            &format!("{}x", short.secret),
        ] {
            assert!(
                matches!(
                    f.keys.authenticate(junk).await,
                    Err(Error::Unauthenticated(_))
                ),
                "{junk:?}"
            );
        }
    }
);
