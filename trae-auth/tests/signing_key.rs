//! The access-token signing keys on SQLite and PostgreSQL: shared by every node, sealed by
//! the master key (so a backup alone cannot mint tokens), rotated without signing anyone out.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{Duration, TimeZone, Utc};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use trae_auth::signing_key::{HS256_KEY_SETTING, KeySealer};
use trae_auth::{AccessTokens, Identity, MasterKey, SigningKeys, TokenSettings, Vault};
use trae_core::{AuditFilter, AuthConfig, Clock, Error, ManualClock, PageRequest, Principal};
use trae_storage::{Store, StoreOptions, storage_test};
use uuid::Uuid;

mod support;

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 1, 1, 10, 0, 0).unwrap(),
    ))
}

fn keys(store: &Store, master: &MasterKey, clock: &Arc<ManualClock>) -> SigningKeys {
    SigningKeys::new(
        store.shared_settings(),
        Arc::new(master.clone()),
        clock.clone(),
        Duration::minutes(5),
    )
}

fn tokens(keys: SigningKeys, clock: &Arc<ManualClock>) -> AccessTokens {
    AccessTokens::hs256_from(keys, TokenSettings::default(), clock.clone())
}

async fn stored_ring(store: &Store) -> String {
    store
        .shared_settings()
        .get(HS256_KEY_SETTING)
        .await
        .unwrap()
        .expect("the ring is stored")
}

storage_test!(
    nodes_on_one_database_share_one_sealed_key,
    |url: String| async move {
        let master = MasterKey::generate().unwrap();
        let clock = clock();
        let node_a = Store::connect(&url).await.unwrap();
        let node_b = Store::connect(&url).await.unwrap();
        let (a, b) = (
            keys(&node_a, &master, &clock),
            keys(&node_b, &master, &clock),
        );
        let (ring_a, ring_b) = tokio::join!(a.load(), b.load());
        let (ring_a, ring_b) = (ring_a.unwrap(), ring_b.unwrap());
        let (current_a, current_b) = (ring_a.current().unwrap(), ring_b.current().unwrap());
        assert_eq!(
            current_a.kid, current_b.kid,
            "both nodes ended with the key that won"
        );
        assert_eq!(current_a.secret.len(), 32);

        let (issuer, verifier) = (tokens(a, &clock), tokens(b, &clock));
        issuer.prepare().await.unwrap();
        let (token, _) = issuer.issue(Uuid::now_v7(), Uuid::now_v7(), &[]).unwrap();
        verifier
            .verify_fresh(&token)
            .await
            .expect("a token from node A verifies on node B");
    }
);

storage_test!(
    the_stored_signing_key_is_sealed_by_the_master_key,
    |url: String| async move {
        let master = MasterKey::generate().unwrap();
        let clock = clock();
        let store = Store::connect(&url).await.unwrap();
        let ring = keys(&store, &master, &clock).load().await.unwrap();
        let secret = ring.current().unwrap().secret.clone();
        let stored = stored_ring(&store).await;
        assert!(
            !stored.contains(&URL_SAFE_NO_PAD.encode(&*secret)),
            "{stored}"
        );
        assert!(!stored.contains(&base64::engine::general_purpose::STANDARD.encode(&*secret)));

        // A backup holds the sealed ring only: without the master key it opens nothing.
        let dir = tempfile::tempdir().unwrap();
        let backup = dir.path().join("backup.db");
        trae_storage::backup::create(&url, &backup, |_, _| {})
            .await
            .unwrap();
        let bytes = std::fs::read(&backup).unwrap();
        assert!(
            !bytes.windows(secret.len()).any(|w| w == &secret[..]),
            "the key bytes are not in the backup"
        );
        if url.starts_with("sqlite") {
            let restored = Store::connect(&format!("sqlite://{}", backup.display()))
                .await
                .unwrap();
            let thief = MasterKey::generate().unwrap();
            let err = keys(&restored, &thief, &clock).load().await.unwrap_err();
            assert!(
                matches!(&err, Error::Config(m) if m.contains("sealed under master key")),
                "{err:?}"
            );
            // With the master key (kept apart from backups) the restore works as before.
            let again = keys(&restored, &master, &clock).load().await.unwrap();
            assert_eq!(again.current().unwrap().secret, secret);
        }
    }
);

storage_test!(
    a_plaintext_key_from_before_is_sealed_in_place,
    |url: String| async move {
        let store = Store::connect(&url).await.unwrap();
        let clock = clock();
        // What trae stored before issue 19: the key itself, base64.
        let legacy = [42u8; 32];
        let encoded = URL_SAFE_NO_PAD.encode(legacy);
        store
            .shared_settings()
            .get_or_insert(HS256_KEY_SETTING, &encoded)
            .await
            .unwrap();
        // A token signed with it before the upgrade (no `kid` header then).
        let now = clock.now();
        let claims = serde_json::json!({
            "sub": Uuid::now_v7(), "iss": "trae", "aud": "trae-api", "typ": "access",
            "exp": (now + Duration::minutes(10)).timestamp(), "iat": now.timestamp(),
            "nbf": now.timestamp(), "jti": Uuid::new_v4(), "sid": Uuid::now_v7(), "roles": [],
        });
        let old_token = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(&legacy),
        )
        .unwrap();

        let master = MasterKey::generate().unwrap();
        let tokens = tokens(keys(&store, &master, &clock), &clock);
        tokens
            .verify_fresh(&old_token)
            .await
            .expect("a token in flight survives the upgrade");
        let stored = stored_ring(&store).await;
        assert!(!stored.contains(&encoded), "sealed in place: {stored}");
        let err = keys(&store, &MasterKey::generate().unwrap(), &clock)
            .load()
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Config(_)), "{err:?}");
    }
);

storage_test!(
    a_rotated_key_keeps_verifying_for_its_grace_on_every_node,
    |url: String| async move {
        let master = MasterKey::generate().unwrap();
        let clock = clock();
        let node_a = Store::connect(&url).await.unwrap();
        let node_b = Store::connect(&url).await.unwrap();
        let a = tokens(keys(&node_a, &master, &clock), &clock);
        let b = tokens(keys(&node_b, &master, &clock), &clock);
        a.prepare().await.unwrap();
        b.prepare().await.unwrap();
        let (before, _) = a.issue(Uuid::now_v7(), Uuid::now_v7(), &[]).unwrap();

        let rotation = a.signing_keys().unwrap().rotate().await.unwrap();
        assert!(rotation.retired_kid.is_some());
        a.reload().await.unwrap();
        let (after, _) = a.issue(Uuid::now_v7(), Uuid::now_v7(), &[]).unwrap();
        assert_ne!(
            jsonwebtoken::decode_header(&before).unwrap().kid,
            jsonwebtoken::decode_header(&after).unwrap().kid
        );
        // Node B has not reloaded: it learns the new key from the token naming it.
        b.verify_fresh(&after)
            .await
            .expect("the new key verifies on B");
        b.verify_fresh(&before)
            .await
            .expect("the old key still verifies");
        // Past the grace (5 minutes here) the retired key is refused, the new one is not.
        clock.advance(Duration::minutes(6));
        b.reload().await.unwrap();
        assert!(b.verify_fresh(&before).await.is_err());
        b.verify_fresh(&after).await.unwrap();
    }
);

storage_test!(
    rotation_is_the_operators_and_audited,
    |url: String| async move {
        let store = Store::connect_with(
            &url,
            StoreOptions {
                clock: clock(),
                ..StoreOptions::default()
            },
        )
        .await
        .unwrap();
        let master: Arc<dyn KeySealer> = Arc::new(MasterKey::generate().unwrap());
        let identity = Identity::open(
            store.identity_repos(),
            &AuthConfig::default(),
            None,
            store.shared_settings(),
            master,
            store.clock(),
        )
        .unwrap();
        let user = identity
            .accounts
            .register(support::registration("alice"), &support::meta())
            .await
            .unwrap();
        let pair = identity.sessions.start(&user).await.unwrap();
        let err = identity
            .rotate_signing_key(&support::principal(&user), &support::meta())
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Forbidden(_)), "{err:?}");

        let rotation = identity
            .rotate_signing_key(&Principal::System, &support::meta())
            .await
            .unwrap();
        identity
            .sessions
            .authenticate(&pair.access_token)
            .await
            .expect("nobody is signed out by a rotation");
        let fresh = identity
            .sessions
            .refresh(&pair.refresh_token, &support::meta())
            .await
            .unwrap();
        let kid = jsonwebtoken::decode_header(&fresh.access_token)
            .unwrap()
            .kid;
        assert_eq!(kid.as_deref(), Some(rotation.new_kid.as_str()));
        let audit = store
            .audit()
            .list(
                AuditFilter {
                    action: Some("auth.signing_key_rotate".into()),
                    ..Default::default()
                },
                PageRequest::default(),
            )
            .await
            .unwrap();
        let outcomes: Vec<&str> = audit.items.iter().map(|e| e.outcome.as_str()).collect();
        assert_eq!(outcomes, ["success", "denied"]);
        assert!(
            !serde_json::to_string(&audit.items)
                .unwrap()
                .contains("sealed")
        );
    }
);

storage_test!(
    a_configured_secret_is_never_stored_nor_rotated,
    |url: String| async move {
        let store = Store::connect(&url).await.unwrap();
        let identity = Identity::open(
            store.identity_repos(),
            &AuthConfig::default(),
            Some("a configured secret of at least thirty-two bytes"),
            store.shared_settings(),
            Arc::new(MasterKey::generate().unwrap()),
            store.clock(),
        )
        .unwrap();
        let user = identity
            .accounts
            .register(support::registration("alice"), &support::meta())
            .await
            .unwrap();
        identity.sessions.start(&user).await.unwrap();
        assert_eq!(
            store
                .shared_settings()
                .get(HS256_KEY_SETTING)
                .await
                .unwrap(),
            None
        );
        let err = identity
            .rotate_signing_key(&Principal::System, &support::meta())
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::Config(m) if m.contains("TRAE_JWT_SECRET")),
            "{err:?}"
        );
        let short = Identity::open(
            store.identity_repos(),
            &AuthConfig::default(),
            Some("short"),
            store.shared_settings(),
            Arc::new(MasterKey::generate().unwrap()),
            store.clock(),
        );
        assert!(short.is_err());
    }
);

storage_test!(
    a_master_key_rotation_reseals_the_signing_keys,
    |url: String| async move {
        let store = Store::connect(&url).await.unwrap();
        let clock = clock();
        let old = MasterKey::generate().unwrap();
        let new = MasterKey::generate().unwrap();
        let signing = keys(&store, &old, &clock);
        let before = signing.load().await.unwrap();
        let vault = Vault::open_with_key(store.secret_repository(), old.clone(), store.clock())
            .await
            .unwrap()
            .with_signing_keys(signing.clone());
        let report = vault
            .rotate_master_key(&Principal::System, new.clone(), &support::meta())
            .await
            .unwrap();
        // During the overlap both keys open the ring; after the retirement only the new one.
        for master in [&old, &new] {
            let ring = keys(&store, master, &clock).load().await.unwrap();
            assert_eq!(ring.current().unwrap().kid, before.current().unwrap().kid);
        }
        vault
            .retire_master_key(&Principal::System, &report.from, &support::meta())
            .await
            .unwrap();
        keys(&store, &new, &clock).load().await.unwrap();
        assert!(keys(&store, &old, &clock).load().await.is_err());
    }
);
