//! API keys on SQLite and PostgreSQL.

use std::sync::Arc;

use chrono::Duration;
use trae_auth::{ApiKeys, NewKey, PasswordParams, Rbac};
use trae_core::{Error, ManualClock, Permission, Principal};
use trae_storage::storage_test;

mod support;

struct Fixture {
    keys: ApiKeys,
    rbac: Rbac,
    clock: Arc<ManualClock>,
    alice: Principal,
    bob: Principal,
}

async fn fixture(url: &str) -> Fixture {
    let id = support::identity(url, PasswordParams::INSECURE_FOR_TESTS).await;
    let alice = id
        .accounts
        .register(support::registration("alice"), &meta())
        .await
        .unwrap();
    let bob = id
        .accounts
        .register(support::registration("bob"), &meta())
        .await
        .unwrap();
    Fixture {
        keys: id.keys,
        rbac: id.rbac,
        clock: id.clock,
        alice: support::principal(&alice),
        bob: support::principal(&bob),
    }
}

use support::meta;

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
