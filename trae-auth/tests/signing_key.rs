//! The shared signing key on SQLite and PostgreSQL.

use std::sync::Arc;

use trae_auth::signing_key::hs256_key;
use trae_auth::{AccessTokens, TokenSettings};
use trae_core::SystemClock;
use trae_storage::{Store, storage_test};
use uuid::Uuid;

storage_test!(
    nodes_on_one_database_share_one_generated_key,
    |url: String| async move {
        let node_a = Store::connect(&url).await.unwrap();
        let node_b = Store::connect(&url).await.unwrap();
        let (settings_a, settings_b) = (node_a.shared_settings(), node_b.shared_settings());
        let (a, b) = tokio::join!(
            hs256_key(None, settings_a.as_ref()),
            hs256_key(None, settings_b.as_ref()),
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(a, b, "both nodes ended with the key that won");
        assert_eq!(a.len(), 32);
        // A restart reads the same key back.
        let restarted = Store::connect(&url).await.unwrap();
        assert_eq!(
            hs256_key(None, restarted.shared_settings().as_ref())
                .await
                .unwrap(),
            a
        );

        let issuer =
            AccessTokens::hs256(&a, TokenSettings::default(), Arc::new(SystemClock)).unwrap();
        let verifier =
            AccessTokens::hs256(&b, TokenSettings::default(), Arc::new(SystemClock)).unwrap();
        let (token, _) = issuer.issue(Uuid::now_v7(), Uuid::now_v7(), &[]).unwrap();
        verifier
            .verify(&token)
            .expect("a token from node A verifies on node B");
    }
);

storage_test!(
    a_configured_secret_wins_and_is_not_stored,
    |url: String| async move {
        let store = Store::connect(&url).await.unwrap();
        let settings = store.shared_settings();
        let secret = "a configured secret of at least thirty-two bytes";
        let key = hs256_key(Some(secret), settings.as_ref()).await.unwrap();
        assert_eq!(key, secret.as_bytes());
        let generated = hs256_key(None, settings.as_ref()).await.unwrap();
        assert_ne!(
            generated,
            secret.as_bytes(),
            "the configured secret never reached the database"
        );
        let err = hs256_key(Some("short"), settings.as_ref())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("TRAE_JWT_SECRET"), "{err}");
    }
);
