//! Authorization decisions over the seeded roles, on SQLite and PostgreSQL.

use std::collections::BTreeSet;

use trae_auth::Rbac;
use trae_core::{Error, Permission, PermissionSet, Principal};
use trae_storage::{Store, storage_test};
use uuid::Uuid;

fn p(name: &str) -> Permission {
    name.parse().unwrap()
}

fn user(roles: &[&str]) -> Principal {
    Principal::User {
        user_id: Uuid::now_v7(),
        username: None,
        session_id: None,
        roles: roles.iter().map(|r| (*r).to_owned()).collect(),
    }
}

async fn allowed(rbac: &Rbac, who: &Principal, permission: &str) -> bool {
    match rbac.authorize(who, &p(permission)).await {
        Ok(()) => true,
        Err(Error::Forbidden(m)) => {
            assert!(m.contains(permission), "{m}");
            false
        }
        Err(other) => panic!("{other}"),
    }
}

storage_test!(
    built_in_roles_grant_what_the_issue_lists,
    |url: String| async move {
        let rbac = Rbac::new(Store::connect(&url).await.unwrap().role_repository());
        let viewer = user(&["viewer"]);
        assert!(allowed(&rbac, &viewer, "pets:read").await);
        assert!(!allowed(&rbac, &viewer, "pets:write").await);
        let member = user(&["user"]);
        assert!(allowed(&rbac, &member, "pets:write").await);
        assert!(allowed(&rbac, &member, "apis:call").await);
        assert!(!allowed(&rbac, &member, "secrets:read").await);
        let developer = user(&["developer"]);
        assert!(allowed(&rbac, &developer, "content:review").await);
        assert!(
            allowed(&rbac, &developer, "pets:read").await,
            "inherits viewer's"
        );
        assert!(!allowed(&rbac, &developer, "users:admin").await);
        let admin = user(&["admin"]);
        for permission in [
            "users:admin",
            "audit:read",
            "secrets:reveal",
            "future:thing",
        ] {
            assert!(allowed(&rbac, &admin, permission).await, "{permission}");
        }
        assert!(allowed(&rbac, &Principal::System, "policy:admin").await);
        assert!(!allowed(&rbac, &user(&[]), "pets:read").await);
        assert!(!allowed(&rbac, &user(&["no-such-role"]), "pets:read").await);
        let both = user(&["viewer", "developer"]);
        assert!(allowed(&rbac, &both, "secrets:write").await);
    }
);

storage_test!(
    api_keys_hold_their_scopes_within_their_owner,
    |url: String| async move {
        let rbac = Rbac::new(Store::connect(&url).await.unwrap().role_repository());
        let key = |owner_roles: &[&str], scopes: &[&str]| Principal::ApiKey {
            key_id: Uuid::now_v7(),
            owner_id: Uuid::now_v7(),
            owner_roles: owner_roles.iter().map(|r| (*r).to_owned()).collect(),
            scopes: scopes.iter().map(|s| p(s)).collect::<BTreeSet<_>>(),
        };
        let read_only = key(&["user"], &["pets:read"]);
        assert!(allowed(&rbac, &read_only, "pets:read").await);
        assert!(
            !allowed(&rbac, &read_only, "pets:write").await,
            "scopes limit the owner"
        );
        let overreach = key(&["viewer"], &["pets:read", "pets:write", "users:admin"]);
        assert!(allowed(&rbac, &overreach, "pets:read").await);
        assert!(
            !allowed(&rbac, &overreach, "pets:write").await,
            "the owner limits the scopes"
        );
        assert!(!allowed(&rbac, &overreach, "users:admin").await);
        let admin_key = key(&["admin"], &["audit:read"]);
        assert!(allowed(&rbac, &admin_key, "audit:read").await);
        assert!(!allowed(&rbac, &admin_key, "users:admin").await);
    }
);

storage_test!(nobody_grants_what_they_lack, |url: String| async move {
    let rbac = Rbac::new(Store::connect(&url).await.unwrap().role_repository());
    let member = user(&["user"]);
    let set = |names: &[&str]| PermissionSet::Only(names.iter().map(|n| p(n)).collect());
    rbac.authorize_grant(&member, &set(&["pets:read", "pets:write"]))
        .await
        .unwrap();
    for granting in [set(&["secrets:read"]), PermissionSet::All] {
        assert!(matches!(
            rbac.authorize_grant(&member, &granting).await,
            Err(Error::Forbidden(_))
        ));
    }
    rbac.authorize_grant(&user(&["admin"]), &PermissionSet::All)
        .await
        .unwrap();
});
