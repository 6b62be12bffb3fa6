//! User administration and policy on SQLite and PostgreSQL: escalation attempts, the
//! last-admin guard, deactivation, unlock, custom roles.

use trae_auth::{AdminChange, NewKey, NewRole, PasswordParams, ProfileChange, RolePatch};
use trae_core::{AuditFilter, Error, PageRequest, Principal, User, UserFilter};
use trae_storage::storage_test;

mod support;

use support::{TestIdentity, meta, principal, registration};

async fn setup(url: &str) -> (TestIdentity, User, User) {
    let id = support::identity(url, PasswordParams::INSECURE_FOR_TESTS).await;
    let root = id
        .users
        .bootstrap_admin(registration("root"), &meta())
        .await
        .unwrap()
        .expect("no admin yet");
    let ada = id
        .accounts
        .register(registration("ada"), &meta())
        .await
        .unwrap();
    (id, root, ada)
}

fn roles(names: &[&str]) -> AdminChange {
    AdminChange {
        roles: Some(names.iter().map(|s| (*s).to_owned()).collect()),
        ..AdminChange::default()
    }
}

storage_test!(bootstrap_creates_one_admin_only, |url: String| async move {
    let (id, root, _) = setup(&url).await;
    assert_eq!(root.roles, ["admin"]);
    let again = id
        .users
        .bootstrap_admin(registration("root2"), &meta())
        .await
        .unwrap();
    assert!(
        again.is_none(),
        "an admin exists, so bootstrap does nothing"
    );
});

storage_test!(users_cannot_escalate_themselves, |url: String| async move {
    let (id, _, ada) = setup(&url).await;
    let me = principal(&ada);
    // Self-service profile edits never touch roles.
    let updated = id
        .users
        .update_me(
            &me,
            ProfileChange {
                full_name: Some(Some("Ada L".into())),
                ..ProfileChange::default()
            },
            &meta(),
        )
        .await
        .unwrap();
    assert_eq!(updated.roles, ["user"]);
    assert_eq!(updated.full_name.as_deref(), Some("Ada L"));
    // Admin operations need users:admin.
    for result in [
        id.users
            .update(&me, ada.id, roles(&["admin"]), &meta())
            .await,
        id.users.get(&me, ada.id).await,
    ] {
        assert!(matches!(result, Err(Error::Forbidden(_))), "{result:?}");
    }
    assert!(matches!(
        id.users
            .list(&me, &UserFilter::default(), PageRequest::default())
            .await,
        Err(Error::Forbidden(_))
    ));
    // A key cannot hold more than its owner, nor be created with more.
    let result = id
        .keys
        .create(
            &me,
            NewKey {
                name: "x".into(),
                scopes: Some(vec!["users:admin".into()]),
                expires_in_days: None,
            },
            &meta(),
        )
        .await;
    assert!(matches!(result, Err(Error::Forbidden(_))), "{result:?}");
});

storage_test!(
    a_helpdesk_role_cannot_grant_or_touch_more_than_it_holds,
    |url: String| async move {
        let (id, root, ada) = setup(&url).await;
        let admin = principal(&root);
        id.policy
            .create_role(
                &admin,
                NewRole {
                    name: "helpdesk".into(),
                    description: "Manages ordinary users".into(),
                    permissions: vec!["users:admin".into(), "pets:read".into()],
                },
                &meta(),
            )
            .await
            .unwrap();
        let bob = id
            .users
            .create(
                &admin,
                registration("bob"),
                vec!["helpdesk".into()],
                &meta(),
            )
            .await
            .unwrap();
        let helpdesk = principal(&bob);
        // Granting "user" would hand out pets:write, which helpdesk lacks.
        let r = id
            .users
            .update(&helpdesk, ada.id, roles(&["viewer"]), &meta())
            .await;
        assert!(matches!(r, Err(Error::Forbidden(_))), "{r:?}");
        let r = id
            .users
            .update(&helpdesk, bob.id, roles(&["admin"]), &meta())
            .await;
        assert!(matches!(r, Err(Error::Forbidden(_))), "{r:?}");
        // Nor may it deactivate the admin.
        let off = AdminChange {
            is_active: Some(false),
            ..AdminChange::default()
        };
        let r = id.users.update(&helpdesk, root.id, off, &meta()).await;
        assert!(matches!(r, Err(Error::Forbidden(_))), "{r:?}");
        // It can list users, which users:admin grants.
        let page = id
            .users
            .list(&helpdesk, &UserFilter::default(), PageRequest::default())
            .await
            .unwrap();
        assert_eq!(page.total, 3);
        // A role cannot be created with permissions the creator lacks.
        id.users
            .update(&admin, bob.id, roles(&["helpdesk", "viewer"]), &meta())
            .await
            .unwrap();
        let r = id
            .policy
            .create_role(
                &principal(&id.users.get(&admin, bob.id).await.unwrap()),
                NewRole {
                    name: "sneaky".into(),
                    description: String::new(),
                    permissions: vec!["policy:admin".into()],
                },
                &meta(),
            )
            .await;
        assert!(matches!(r, Err(Error::Forbidden(_))), "{r:?}");
    }
);

storage_test!(
    the_last_active_admin_cannot_be_removed,
    |url: String| async move {
        let (id, root, ada) = setup(&url).await;
        let admin = principal(&root);
        let off = || AdminChange {
            is_active: Some(false),
            ..AdminChange::default()
        };
        for result in [
            id.users
                .update(&admin, root.id, roles(&["user"]), &meta())
                .await,
            id.users.update(&admin, root.id, off(), &meta()).await,
        ] {
            assert!(matches!(result, Err(Error::Conflict(_))), "{result:?}");
        }
        let r = id.users.delete(&admin, root.id, &meta()).await;
        assert!(matches!(r, Err(Error::Conflict(_))), "{r:?}");
        // With a second admin, the first may step down.
        id.users
            .update(&admin, ada.id, roles(&["admin"]), &meta())
            .await
            .unwrap();
        let demoted = id
            .users
            .update(&admin, root.id, roles(&["user"]), &meta())
            .await
            .unwrap();
        assert_eq!(demoted.roles, ["user"]);
        let ada_admin = principal(&id.users.get(&admin, ada.id).await.unwrap());
        let r = id.users.delete(&ada_admin, ada.id, &meta()).await;
        assert!(matches!(r, Err(Error::Conflict(_))), "{r:?}");
        assert_eq!(
            id.store
                .user_repository()
                .count_active_admins()
                .await
                .unwrap(),
            1
        );
    }
);

storage_test!(
    concurrent_demotions_leave_one_admin,
    |url: String| async move {
        let (id, root, ada) = setup(&url).await;
        let admin = principal(&root);
        id.users
            .update(&admin, ada.id, roles(&["admin"]), &meta())
            .await
            .unwrap();
        // Each admin demotes the other at once: exactly one may succeed.
        let ada_admin = principal(&id.users.get(&admin, ada.id).await.unwrap());
        let m = meta();
        let (a, b) = tokio::join!(
            id.users.update(&admin, ada.id, roles(&["user"]), &m),
            id.users.update(&ada_admin, root.id, roles(&["user"]), &m),
        );
        assert_eq!(
            u8::from(a.is_ok()) + u8::from(b.is_ok()),
            1,
            "{a:?} / {b:?}"
        );
        assert_eq!(
            id.store
                .user_repository()
                .count_active_admins()
                .await
                .unwrap(),
            1
        );
    }
);

storage_test!(
    deactivation_ends_sessions_and_keys_and_unlock_reopens,
    |url: String| async move {
        let (id, root, ada) = setup(&url).await;
        let admin = principal(&root);
        let signed_in = id
            .accounts
            .sign_in("ada", "correct horse battery", &meta())
            .await
            .unwrap();
        let pair = id.sessions.start(&signed_in).await.unwrap();
        let me = id.sessions.authenticate(&pair.access_token).await.unwrap();
        let key = id
            .keys
            .create(
                &me.principal(),
                NewKey {
                    name: "k".into(),
                    ..NewKey::default()
                },
                &meta(),
            )
            .await
            .unwrap();
        id.keys.authenticate(&key.secret).await.unwrap();

        let user = id
            .users
            .update(
                &admin,
                ada.id,
                AdminChange {
                    is_active: Some(false),
                    ..AdminChange::default()
                },
                &meta(),
            )
            .await
            .unwrap();
        assert!(!user.is_active);
        assert!(matches!(
            id.sessions.authenticate(&pair.access_token).await,
            Err(Error::Unauthenticated(_))
        ));
        assert!(matches!(
            id.sessions.refresh(&pair.refresh_token, &meta()).await,
            Err(Error::Unauthenticated(_))
        ));
        assert!(matches!(
            id.keys.authenticate(&key.secret).await,
            Err(Error::Unauthenticated(_))
        ));
        let listed = id.keys.list(&me.principal()).await.unwrap();
        assert!(
            listed[0].revoked_at.is_some(),
            "the key is revoked, not just unusable"
        );

        // Lock an account, then unlock it as an admin.
        for _ in 0..5 {
            let _ = id
                .accounts
                .sign_in("root", "wrong password!!", &meta())
                .await;
        }
        assert!(matches!(
            id.accounts
                .sign_in("root", "correct horse battery", &meta())
                .await,
            Err(Error::Unauthenticated(_))
        ));
        id.users
            .update(
                &Principal::System,
                root.id,
                AdminChange {
                    unlock: true,
                    ..AdminChange::default()
                },
                &meta(),
            )
            .await
            .unwrap();
        id.accounts
            .sign_in("root", "correct horse battery", &meta())
            .await
            .unwrap();

        let audit = id
            .identity
            .audit_entries(
                &admin,
                AuditFilter {
                    action: Some("user.update".into()),
                    ..AuditFilter::default()
                },
                PageRequest::default(),
            )
            .await
            .unwrap();
        assert_eq!(audit.total, 2);
        assert!(matches!(
            id.identity
                .audit_entries(
                    &principal(&ada),
                    AuditFilter::default(),
                    PageRequest::default()
                )
                .await,
            Err(Error::Forbidden(_))
        ));
    }
);

storage_test!(
    listing_filters_by_query_role_and_status,
    |url: String| async move {
        let (id, root, _) = setup(&url).await;
        let admin = principal(&root);
        for name in ["ada_1", "ada%2", "bob"] {
            id.accounts.register(registration(name), &meta()).await.ok();
        }
        let list = |filter: UserFilter| {
            let users = id.users.clone();
            let admin = admin.clone();
            async move {
                users
                    .list(&admin, &filter, PageRequest::default())
                    .await
                    .unwrap()
                    .items
                    .into_iter()
                    .map(|u| u.username)
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(
            list(UserFilter {
                query: Some("ADA".into()),
                ..UserFilter::default()
            })
            .await,
            ["ada", "ada_1"]
        );
        assert_eq!(
            list(UserFilter {
                query: Some("a_".into()),
                ..UserFilter::default()
            })
            .await,
            ["ada_1"],
            "LIKE wildcards are literal"
        );
        assert_eq!(
            list(UserFilter {
                role: Some("admin".into()),
                ..UserFilter::default()
            })
            .await,
            ["root"]
        );
        assert_eq!(
            list(UserFilter {
                is_active: Some(false),
                ..UserFilter::default()
            })
            .await,
            Vec::<String>::new()
        );
    }
);

storage_test!(custom_roles_round_trip, |url: String| async move {
    let (id, root, ada) = setup(&url).await;
    let admin = principal(&root);
    let bad = id
        .policy
        .create_role(
            &admin,
            NewRole {
                name: "x".into(),
                description: String::new(),
                permissions: vec![],
            },
            &meta(),
        )
        .await;
    assert!(matches!(bad, Err(Error::Validation { .. })), "{bad:?}");
    let bad = id
        .policy
        .create_role(
            &admin,
            NewRole {
                name: "auditor".into(),
                description: String::new(),
                permissions: vec!["audit:raed".into()],
            },
            &meta(),
        )
        .await;
    assert!(matches!(bad, Err(Error::Validation { .. })), "{bad:?}");
    let role = id
        .policy
        .create_role(
            &admin,
            NewRole {
                name: "auditor".into(),
                description: "Reads the audit log".into(),
                permissions: vec!["audit:read".into()],
            },
            &meta(),
        )
        .await
        .unwrap();
    assert!(!role.built_in);
    let dup = id
        .policy
        .create_role(
            &admin,
            NewRole {
                name: "auditor".into(),
                ..NewRole::default()
            },
            &meta(),
        )
        .await;
    assert!(matches!(dup, Err(Error::Conflict(_))), "{dup:?}");

    id.users
        .update(&admin, ada.id, roles(&["auditor", "user"]), &meta())
        .await
        .unwrap();
    let ada_now = principal(&id.users.get(&admin, ada.id).await.unwrap());
    id.identity
        .audit_entries(&ada_now, AuditFilter::default(), PageRequest::default())
        .await
        .unwrap();
    // Taking the permission away takes effect at once on this node.
    let patched = id
        .policy
        .update_role(
            &admin,
            "auditor",
            RolePatch {
                permissions: Some(vec!["metrics:read".into()]),
                description: None,
            },
            &meta(),
        )
        .await
        .unwrap();
    assert_eq!(patched.description, "Reads the audit log");
    assert!(matches!(
        id.identity
            .audit_entries(&ada_now, AuditFilter::default(), PageRequest::default())
            .await,
        Err(Error::Forbidden(_))
    ));
    let in_use = id.policy.delete_role(&admin, "auditor", &meta()).await;
    assert!(matches!(in_use, Err(Error::Conflict(_))), "{in_use:?}");
    for built_in in ["admin", "user"] {
        let r = id.policy.delete_role(&admin, built_in, &meta()).await;
        assert!(matches!(r, Err(Error::Conflict(_))), "{r:?}");
        let r = id
            .policy
            .update_role(&admin, built_in, RolePatch::default(), &meta())
            .await;
        assert!(matches!(r, Err(Error::Conflict(_))), "{r:?}");
    }
    id.users
        .update(&admin, ada.id, roles(&["user"]), &meta())
        .await
        .unwrap();
    id.policy
        .delete_role(&admin, "auditor", &meta())
        .await
        .unwrap();
    assert!(matches!(
        id.policy.role(&admin, "auditor").await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        id.policy.roles(&principal(&ada)).await,
        Err(Error::Forbidden(_))
    ));
});
