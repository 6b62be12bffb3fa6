//! Token pairs, rotation, reuse detection and logout on SQLite and PostgreSQL.

use std::sync::Arc;

use chrono::Duration;
use trae_auth::{Accounts, OpaqueToken, PasswordParams, Sessions, TokenPair};
use trae_core::{AuditFilter, Error, ManualClock, PageRequest, User};
use trae_storage::{Store, storage_test};

mod support;

use support::meta;

struct Fixture {
    accounts: Accounts,
    sessions: Sessions,
    store: Store,
    clock: Arc<ManualClock>,
    user: User,
}

async fn fixture(url: &str) -> Fixture {
    let id = support::identity(url, PasswordParams::INSECURE_FOR_TESTS).await;
    let user = id
        .accounts
        .register(support::registration("alice"), &meta())
        .await
        .unwrap();
    Fixture {
        accounts: id.accounts,
        sessions: id.sessions,
        store: id.store,
        clock: id.clock,
        user,
    }
}

fn unauthenticated(result: Result<impl std::fmt::Debug, Error>) {
    match result {
        Err(Error::Unauthenticated(_)) => {}
        other => panic!("expected Unauthenticated, got {other:?}"),
    }
}

storage_test!(
    a_pair_authenticates_and_refresh_rotates,
    |url: String| async move {
        let f = fixture(&url).await;
        let pair = f.sessions.start(&f.user).await.unwrap();
        assert!(pair.refresh_token.starts_with("rt_"));
        assert_eq!(pair.expires_in, 15 * 60);
        let who = f.sessions.authenticate(&pair.access_token).await.unwrap();
        assert_eq!(
            (who.user.id, who.session_id, who.user.roles.clone()),
            (f.user.id, pair.session_id, vec!["user".to_owned()])
        );

        let next = f
            .sessions
            .refresh(&pair.refresh_token, &meta())
            .await
            .unwrap();
        assert_ne!(next.refresh_token, pair.refresh_token);
        assert_eq!(
            next.session_id, pair.session_id,
            "rotation stays in the family"
        );
        f.sessions.authenticate(&next.access_token).await.unwrap();
        let again = f
            .sessions
            .refresh(&next.refresh_token, &meta())
            .await
            .unwrap();
        f.sessions.authenticate(&again.access_token).await.unwrap();
    }
);

storage_test!(
    a_reused_refresh_token_revokes_the_family,
    |url: String| async move {
        let f = fixture(&url).await;
        let first = f.sessions.start(&f.user).await.unwrap();
        let second = f
            .sessions
            .refresh(&first.refresh_token, &meta())
            .await
            .unwrap();
        // The stolen first token comes back: everything in the family dies.
        unauthenticated(f.sessions.refresh(&first.refresh_token, &meta()).await);
        unauthenticated(f.sessions.refresh(&second.refresh_token, &meta()).await);
        unauthenticated(f.sessions.authenticate(&second.access_token).await);
        unauthenticated(f.sessions.authenticate(&first.access_token).await);
        let reuse = f
            .store
            .audit()
            .list(
                AuditFilter {
                    action: Some("auth.refresh_reuse".into()),
                    ..Default::default()
                },
                PageRequest::default(),
            )
            .await
            .unwrap();
        assert_eq!(reuse.total, 1);
        // Other sessions of the same user are untouched.
        let other = f.sessions.start(&f.user).await.unwrap();
        f.sessions.authenticate(&other.access_token).await.unwrap();
    }
);

storage_test!(
    concurrent_refreshes_with_one_token_cannot_both_win,
    |url: String| async move {
        let f = Arc::new(fixture(&url).await);
        let pair = f.sessions.start(&f.user).await.unwrap();
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..4 {
            let f = Arc::clone(&f);
            let token = pair.refresh_token.clone();
            tasks.spawn(async move { f.sessions.refresh(&token, &meta()).await });
        }
        let mut winners: Vec<TokenPair> = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            if let Ok(pair) = joined.unwrap() {
                winners.push(pair);
            }
        }
        assert!(
            winners.len() <= 1,
            "{} refreshes succeeded with one token",
            winners.len()
        );
        // Whoever lost presented a used token: the family is revoked, the winner's pair too.
        for pair in winners {
            unauthenticated(f.sessions.authenticate(&pair.access_token).await);
        }
    }
);

storage_test!(logout_ends_the_session_at_once, |url: String| async move {
    let f = fixture(&url).await;
    let pair = f.sessions.start(&f.user).await.unwrap();
    let who = f.sessions.authenticate(&pair.access_token).await.unwrap();
    f.sessions.logout(&who, &meta()).await.unwrap();
    unauthenticated(f.sessions.authenticate(&pair.access_token).await);
    unauthenticated(f.sessions.refresh(&pair.refresh_token, &meta()).await);
});

storage_test!(tokens_are_not_interchangeable, |url: String| async move {
    let f = fixture(&url).await;
    let pair = f.sessions.start(&f.user).await.unwrap();
    unauthenticated(f.sessions.authenticate(&pair.refresh_token).await);
    unauthenticated(f.sessions.refresh(&pair.access_token, &meta()).await);
    let api_key = OpaqueToken::generate("trae_").unwrap();
    unauthenticated(f.sessions.authenticate(&api_key.plaintext).await);
    unauthenticated(f.sessions.refresh(&api_key.plaintext, &meta()).await);
    unauthenticated(f.sessions.refresh("", &meta()).await);
});

storage_test!(
    refresh_tokens_expire_after_thirty_days,
    |url: String| async move {
        let f = fixture(&url).await;
        let pair = f.sessions.start(&f.user).await.unwrap();
        f.clock.advance(Duration::days(30));
        unauthenticated(f.sessions.refresh(&pair.refresh_token, &meta()).await);
        unauthenticated(f.sessions.authenticate(&pair.access_token).await);
    }
);

storage_test!(
    revoking_all_but_one_session_keeps_that_one,
    |url: String| async move {
        let f = fixture(&url).await;
        let keep = f.sessions.start(&f.user).await.unwrap();
        let other = f.sessions.start(&f.user).await.unwrap();
        let revoked = f
            .store
            .session_repository()
            .revoke_all_for_user(
                f.user.id,
                Some(keep.session_id),
                trae_core::Clock::now_micros(&*f.clock),
                "password changed",
            )
            .await
            .unwrap();
        assert_eq!(revoked, 1);
        f.sessions.authenticate(&keep.access_token).await.unwrap();
        unauthenticated(f.sessions.authenticate(&other.access_token).await);
    }
);

storage_test!(
    changing_the_password_ends_the_other_sessions,
    |url: String| async move {
        let f = fixture(&url).await;
        let here = f.sessions.start(&f.user).await.unwrap();
        let elsewhere = f.sessions.start(&f.user).await.unwrap();

        let err = f
            .accounts
            .change_password(
                f.user.id,
                Some(here.session_id),
                "not my password",
                "a brand new passphrase",
                &meta(),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::Validation { ref field, .. } if field == "current_password"),
            "{err}"
        );
        let err = f
            .accounts
            .change_password(
                f.user.id,
                Some(here.session_id),
                "correct horse battery",
                "short",
                &meta(),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::Validation { ref field, .. } if field == "password"),
            "{err}"
        );
        f.sessions
            .authenticate(&elsewhere.access_token)
            .await
            .expect("failed changes end nothing");

        f.accounts
            .change_password(
                f.user.id,
                Some(here.session_id),
                "correct horse battery",
                "a brand new passphrase",
                &meta(),
            )
            .await
            .unwrap();
        f.sessions
            .authenticate(&here.access_token)
            .await
            .expect("the current session stays");
        unauthenticated(f.sessions.authenticate(&elsewhere.access_token).await);
        unauthenticated(f.sessions.refresh(&elsewhere.refresh_token, &meta()).await);
        unauthenticated(
            f.accounts
                .sign_in("alice", "correct horse battery", &meta())
                .await,
        );
        f.accounts
            .sign_in("alice", "a brand new passphrase", &meta())
            .await
            .unwrap();
    }
);
