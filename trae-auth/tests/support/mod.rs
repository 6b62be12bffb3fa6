//! The identity services wired to a fresh database and a manual clock, shared by the tests.

// Each test binary uses a different part of this module.
#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use trae_auth::{
    Accounts, ApiKeys, Identity, PasswordParams, Policy, Rbac, Registration, RequestMeta, Sessions,
    Users,
};
use trae_core::{AuthConfig, ManualClock, Principal, User};
use trae_storage::{Store, StoreOptions};

/// The HS256 key every test signs with.
pub const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

/// Every identity service over one store.
pub struct TestIdentity {
    pub store: Store,
    pub clock: Arc<ManualClock>,
    pub identity: Identity,
    pub accounts: Accounts,
    pub sessions: Sessions,
    pub keys: ApiKeys,
    pub rbac: Rbac,
    pub users: Users,
    pub policy: Policy,
}

/// The services on the database at `url`, hashing with `params`, the clock at 2026-01-01.
pub async fn identity(url: &str, params: PasswordParams) -> TestIdentity {
    identity_with(url, params, &AuthConfig::default()).await
}

/// As [`identity`], configured by `config`.
pub async fn identity_with(url: &str, params: PasswordParams, config: &AuthConfig) -> TestIdentity {
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 1, 1, 10, 0, 0).unwrap(),
    ));
    let options = StoreOptions {
        clock: clock.clone(),
        ..StoreOptions::default()
    };
    let store = Store::connect_with(url, options).await.unwrap();
    let identity =
        Identity::new(store.identity_repos(), config, KEY, params, clock.clone()).unwrap();
    TestIdentity {
        accounts: identity.accounts.clone(),
        sessions: identity.sessions.clone(),
        keys: identity.api_keys.clone(),
        rbac: identity.rbac.clone(),
        users: identity.users.clone(),
        policy: identity.policy.clone(),
        identity,
        store,
        clock,
    }
}

/// A valid registration for `name` with the password "correct horse battery".
pub fn registration(name: &str) -> Registration {
    Registration {
        username: name.into(),
        email: format!("{name}@example.com"),
        password: "correct horse battery".into(),
        full_name: None,
    }
}

/// The principal of a signed-in user.
pub fn principal(user: &User) -> Principal {
    Principal::User {
        user_id: user.id,
        username: Some(user.username.clone()),
        session_id: None,
        roles: user.roles.clone(),
    }
}

/// Request metadata as a test client would send it.
pub fn meta() -> RequestMeta {
    RequestMeta {
        ip: Some("127.0.0.1".into()),
        request_id: Some("req-7".into()),
    }
}
