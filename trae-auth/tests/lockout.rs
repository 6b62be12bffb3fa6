//! Lockout counts failures per (account, client address), with a much higher account-wide
//! threshold, and a locked name answers exactly like an unknown one (issue 19: five
//! unauthenticated requests used to lock any account, the only admin's included).

use trae_auth::accounts::BAD_CREDENTIALS;
use trae_auth::{Accounts, PasswordParams, RequestMeta};
use trae_core::{AuditFilter, Error, PageRequest};
use trae_storage::storage_test;

mod support;

const RIGHT: &str = "correct horse battery";

fn from(ip: &str) -> RequestMeta {
    RequestMeta {
        ip: Some(ip.into()),
        request_id: None,
    }
}

async fn fail(accounts: &Accounts, login: &str, ip: &str) -> Error {
    accounts
        .sign_in(login, "wrong password!", &from(ip))
        .await
        .unwrap_err()
}

storage_test!(
    failures_from_one_address_do_not_lock_the_account_for_another,
    |url: String| async move {
        let id = support::identity(&url, PasswordParams::INSECURE_FOR_TESTS).await;
        id.accounts
            .register(support::registration("alice"), &support::meta())
            .await
            .unwrap();
        for _ in 0..6 {
            fail(&id.accounts, "alice", "203.0.113.9").await;
        }
        // The attacker's address is locked out, even with the right password.
        let err = id
            .accounts
            .sign_in("alice", RIGHT, &from("203.0.113.9"))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Unauthenticated(_)), "{err:?}");
        // Alice, from her own address, is not.
        id.accounts
            .sign_in("alice", RIGHT, &from("198.51.100.7"))
            .await
            .expect("another address still signs in");
        let lockouts = id
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
        assert_eq!(lockouts.total, 1, "the (account, address) lock is audited");
    }
);

storage_test!(
    the_account_wide_threshold_locks_from_every_address,
    |url: String| async move {
        let id = support::identity(&url, PasswordParams::INSECURE_FOR_TESTS).await;
        id.accounts
            .register(support::registration("alice"), &support::meta())
            .await
            .unwrap();
        // 100 failures (the default account-wide threshold), four from each of 25 addresses,
        // so no single address reaches its own threshold of 5.
        for n in 0..100 {
            fail(&id.accounts, "alice", &format!("192.0.2.{}", n / 4)).await;
        }
        let err = id
            .accounts
            .sign_in("alice", RIGHT, &from("198.51.100.7"))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Unauthenticated(_)), "{err:?}");
    }
);

storage_test!(
    unknown_and_locked_names_look_identical,
    |url: String| async move {
        let id = support::identity(&url, PasswordParams::INSECURE_FOR_TESTS).await;
        id.accounts
            .register(support::registration("alice"), &support::meta())
            .await
            .unwrap();
        let ip = "203.0.113.9";
        let mut seen = Vec::new();
        for _ in 0..7 {
            let locked = fail(&id.accounts, "alice", ip).await;
            let unknown = fail(&id.accounts, "nobody", ip).await;
            assert_eq!(format!("{locked:?}"), format!("{unknown:?}"));
            seen.push(locked);
        }
        let right = id
            .accounts
            .sign_in("alice", RIGHT, &from(ip))
            .await
            .unwrap_err();
        let unknown = fail(&id.accounts, "nobody", ip).await;
        assert_eq!(format!("{right:?}"), format!("{unknown:?}"));
        assert!(
            seen.iter()
                .all(|e| matches!(e, Error::Unauthenticated(m) if m == BAD_CREDENTIALS)),
            "{seen:?}"
        );
    }
);
