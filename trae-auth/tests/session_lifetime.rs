//! Every session has an absolute lifetime in the database, and an access token never outlives
//! it nor the configured access-token lifetime, even when someone holding the signing key
//! forges one (issue 19: a stolen backup used to be enough to mint long-lived admin tokens).

use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use trae_auth::PasswordParams;
use trae_core::{Clock, Error};
use trae_storage::storage_test;
use uuid::Uuid;

mod support;

use support::meta;

/// A token signed with the real key for `user` in `session`, valid from `from` to `until`.
fn forge(user: Uuid, session: Uuid, from: DateTime<Utc>, until: DateTime<Utc>) -> String {
    let claims = serde_json::json!({
        "sub": user, "iss": "trae", "aud": "trae-api", "typ": "access",
        "exp": until.timestamp(), "iat": from.timestamp(), "nbf": from.timestamp(),
        "jti": Uuid::new_v4(), "sid": session, "roles": ["admin"],
    });
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(support::KEY),
    )
    .unwrap()
}

fn unauthenticated<T: std::fmt::Debug>(result: Result<T, Error>) {
    match result {
        Err(Error::Unauthenticated(_)) => {}
        other => panic!("expected Unauthenticated, got {other:?}"),
    }
}

storage_test!(
    an_access_token_living_longer_than_the_configured_lifetime_is_refused,
    |url: String| async move {
        let id = support::identity(&url, PasswordParams::INSECURE_FOR_TESTS).await;
        let user = id
            .accounts
            .register(support::registration("alice"), &meta())
            .await
            .unwrap();
        let pair = id.sessions.start(&user).await.unwrap();
        let now = id.clock.now();
        // Well-formed, signed with the real key, naming a real live session: only its
        // lifetime (ten years instead of fifteen minutes) gives it away.
        let forged = forge(user.id, pair.session_id, now, now + Duration::days(3650));
        unauthenticated(id.sessions.authenticate(&forged).await);
        // The same forgery with an honest lifetime would pass: the check above is the
        // lifetime's, not the signature's.
        let honest = forge(user.id, pair.session_id, now, now + Duration::minutes(15));
        id.sessions.authenticate(&honest).await.unwrap();
    }
);

storage_test!(
    a_forged_token_is_refused_once_its_session_expired_in_the_database,
    |url: String| async move {
        let id = support::identity(&url, PasswordParams::INSECURE_FOR_TESTS).await;
        let user = id
            .accounts
            .register(support::registration("alice"), &meta())
            .await
            .unwrap();
        let pair = id.sessions.start(&user).await.unwrap();
        // 31 days on, past the default 30-day session lifetime, a forger signs a token that
        // looks fresh: its own claims are fine, its session is not.
        id.clock.advance(Duration::days(31));
        let now = id.clock.now();
        let forged = forge(user.id, pair.session_id, now, now + Duration::minutes(10));
        unauthenticated(id.sessions.authenticate(&forged).await);
    }
);

storage_test!(
    refreshing_never_extends_a_session_past_its_lifetime,
    |url: String| async move {
        let id = support::identity(&url, PasswordParams::INSECURE_FOR_TESTS).await;
        let user = id
            .accounts
            .register(support::registration("alice"), &meta())
            .await
            .unwrap();
        let mut pair = id.sessions.start(&user).await.unwrap();
        for _ in 0..5 {
            id.clock.advance(Duration::days(5));
            pair = id
                .sessions
                .refresh(&pair.refresh_token, &meta())
                .await
                .unwrap();
        }
        // Day 29 and 23 hours: the session has an hour left, so the access token does too at
        // most, however long the configured lifetime.
        id.clock
            .advance(Duration::days(4) + Duration::hours(23) + Duration::minutes(50));
        let last = id
            .sessions
            .refresh(&pair.refresh_token, &meta())
            .await
            .unwrap();
        assert!(last.expires_in <= 10 * 60, "{}", last.expires_in);
        id.clock.advance(Duration::minutes(11));
        unauthenticated(id.sessions.refresh(&last.refresh_token, &meta()).await);
        unauthenticated(id.sessions.authenticate(&last.access_token).await);
    }
);
