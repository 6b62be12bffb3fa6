//! What several HTTP test binaries share: a server state over a test database, and signed-in
//! users. Each binary includes this module with `mod common;`.

use trae_agents::Trae;
use trae_auth::{Registration, RequestMeta};
use trae_core::{Config, Principal};
use trae_storage::Store;

/// The password of every test user.
pub(crate) const PASSWORD: &str = "correct horse battery";

/// A shared secrets master key, so PostgreSQL stores open their vault.
pub(crate) const MASTER_KEY: &str = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTMyYgo=";

/// The server state over the database at `url`, configured by `env` on top of a fresh data
/// directory (returned, so it lives as long as the test) and `MASTER_KEY`.
pub(crate) async fn state(url: &str, env: &[(&str, &str)]) -> (Trae, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut vars: std::collections::HashMap<String, String> = [
        ("TRAE_DATA_DIR", dir.path().display().to_string()),
        ("TRAE_DATABASE_URL", url.to_owned()),
        ("TRAE_MASTER_KEY", MASTER_KEY.to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    vars.extend(env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    let config = Config::from_sources(|k| vars.get(k).cloned()).unwrap();
    let store = Store::connect(url).await.unwrap();
    let state = Trae::with_store(config, store).await.unwrap();
    (state, dir)
}

/// Creates a user with `roles` through the library and returns an access token for them.
pub(crate) async fn signed_in(state: &Trae, username: &str, roles: &[&str]) -> String {
    let identity = &state.identity();
    identity
        .users
        .create(
            &Principal::System,
            Registration {
                username: username.into(),
                email: format!("{username}@example.com"),
                password: PASSWORD.into(),
                full_name: None,
            },
            roles.iter().map(|r| (*r).to_owned()).collect(),
            &RequestMeta::default(),
        )
        .await
        .unwrap();
    let (_, pair) = identity
        .login(username, PASSWORD, &RequestMeta::default())
        .await
        .unwrap();
    pair.access_token
}
