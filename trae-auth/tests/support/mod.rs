//! The identity services wired to a fresh database and a manual clock, shared by the tests.

// Each test binary uses a different part of this module.
#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use trae_auth::{
    AccessTokens, Accounts, ApiKeys, PasswordHasher, PasswordParams, Rbac, Registration,
    RequestMeta, Sessions, TokenSettings,
};
use trae_core::lockout::LockoutPolicy;
use trae_core::{ManualClock, Principal, User};
use trae_storage::{Store, StoreOptions};

/// Every identity service over one store.
pub struct Identity {
    pub store: Store,
    pub clock: Arc<ManualClock>,
    pub accounts: Accounts,
    pub sessions: Sessions,
    pub keys: ApiKeys,
    pub rbac: Rbac,
}

/// The services on the database at `url`, hashing with `params`, the clock at 2026-01-01.
pub async fn identity(url: &str, params: PasswordParams) -> Identity {
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 1, 1, 10, 0, 0).unwrap(),
    ));
    let options = StoreOptions {
        clock: clock.clone(),
        ..StoreOptions::default()
    };
    let store = Store::connect_with(url, options).await.unwrap();
    let accounts = Accounts::new(
        store.user_repository(),
        store.session_repository(),
        PasswordHasher::new(params, 2).unwrap(),
        store.audit(),
        clock.clone(),
        LockoutPolicy::default(),
    );
    let tokens = AccessTokens::hs256(
        b"0123456789abcdef0123456789abcdef",
        TokenSettings::default(),
        clock.clone(),
    )
    .unwrap();
    let sessions = Sessions::new(
        store.session_repository(),
        store.user_repository(),
        tokens,
        store.audit(),
        clock.clone(),
        Sessions::DEFAULT_REFRESH_TTL,
    );
    let rbac = Rbac::new(store.role_repository());
    let keys = ApiKeys::new(
        store.api_key_repository(),
        store.user_repository(),
        rbac.clone(),
        store.audit(),
        clock.clone(),
    );
    Identity {
        store,
        clock,
        accounts,
        sessions,
        keys,
        rbac,
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
