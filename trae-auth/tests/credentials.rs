//! Which credential is accepted where, registration closing, and how long a session revoked
//! on another node keeps working here (the session cache's bound).

use std::time::Duration;

use trae_auth::{Credential, NewKey, PasswordParams};
use trae_core::{AuthConfig, Error, Principal};
use trae_storage::storage_test;

mod support;

use support::{meta, registration};

storage_test!(
    each_credential_is_accepted_only_as_itself,
    |url: String| async move {
        let id = support::identity(&url, PasswordParams::INSECURE_FOR_TESTS).await;
        id.accounts
            .register(registration("ada"), &meta())
            .await
            .unwrap();
        let user = id
            .accounts
            .sign_in("ada", "correct horse battery", &meta())
            .await
            .unwrap();
        let pair = id.sessions.start(&user).await.unwrap();
        let me = id.sessions.authenticate(&pair.access_token).await.unwrap();
        let key = id
            .keys
            .create(
                &me.principal(),
                NewKey {
                    name: "ci".into(),
                    ..NewKey::default()
                },
                &meta(),
            )
            .await
            .unwrap();
        let auth = |c| id.identity.authenticate(c);

        assert!(matches!(
            auth(Credential::Bearer(&pair.access_token)).await.unwrap(),
            Principal::User { .. }
        ));
        assert!(matches!(
            auth(Credential::Bearer(&key.secret)).await.unwrap(),
            Principal::ApiKey { .. }
        ));
        assert!(matches!(
            auth(Credential::ApiKey(&key.secret)).await.unwrap(),
            Principal::ApiKey { .. }
        ));
        for wrong in [
            Credential::Bearer(&pair.refresh_token),
            Credential::ApiKey(&pair.access_token),
            Credential::ApiKey(&pair.refresh_token),
            Credential::Bearer("trae_not-a-real-key"),
            Credential::Bearer(""),
        ] {
            assert!(
                matches!(auth(wrong).await, Err(Error::Unauthenticated(_))),
                "{wrong:?}"
            );
        }
        // An API key or an access token is no refresh token.
        for wrong in [key.secret.as_str(), pair.access_token.as_str()] {
            assert!(matches!(
                id.sessions.refresh(wrong, &meta()).await,
                Err(Error::Unauthenticated(_))
            ));
        }
    }
);

storage_test!(closed_registration_is_forbidden, |url: String| async move {
    let config = AuthConfig {
        registration_open: false,
        ..AuthConfig::default()
    };
    let id = support::identity_with(&url, PasswordParams::INSECURE_FOR_TESTS, &config).await;
    let r = id.accounts.register(registration("ada"), &meta()).await;
    assert!(matches!(r, Err(Error::Forbidden(_))), "{r:?}");
    // Administrators can still create accounts.
    id.users
        .create(
            &Principal::System,
            registration("ada"),
            vec!["viewer".into()],
            &meta(),
        )
        .await
        .unwrap();
});

storage_test!(
    a_session_revoked_on_another_node_dies_within_the_cache_ttl,
    |url: String| async move {
        let config = AuthConfig {
            session_cache_secs: 1,
            ..AuthConfig::default()
        };
        let node_a =
            support::identity_with(&url, PasswordParams::INSECURE_FOR_TESTS, &config).await;
        // Node B shares the database (and the signing key) but not node A's memory.
        let node_b =
            support::identity_with(&url, PasswordParams::INSECURE_FOR_TESTS, &config).await;
        node_a
            .accounts
            .register(registration("ada"), &meta())
            .await
            .unwrap();
        let user = node_a
            .accounts
            .sign_in("ada", "correct horse battery", &meta())
            .await
            .unwrap();
        let pair = node_a.sessions.start(&user).await.unwrap();
        let on_b = node_b
            .sessions
            .authenticate(&pair.access_token)
            .await
            .unwrap();

        node_a.sessions.logout(&on_b, &meta()).await.unwrap();
        assert!(
            node_a
                .sessions
                .authenticate(&pair.access_token)
                .await
                .is_err(),
            "the revoking node refuses at once"
        );
        // Node B may still trust its check for up to the TTL, never longer.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert!(matches!(
            node_b.sessions.authenticate(&pair.access_token).await,
            Err(Error::Unauthenticated(_))
        ));
    }
);
