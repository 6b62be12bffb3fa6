//! Identity without a server: wire trae-auth over a SQLite store, make the first admin,
//! register a user, sign in, check permissions, make a scoped API key, and read the audit log.
//!
//! Run with `cargo run -p trae-auth --example identity` (pass a database URL to use another).

#![allow(clippy::print_stdout)]

use trae_auth::{Credential, Identity, MasterKey, NewKey, Registration, RequestMeta};
use trae_core::{AuditFilter, AuthConfig, PageRequest, Permission, Principal};
use trae_storage::Store;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| format!("sqlite://{}?mode=rwc", dir.path().join("id.db").display()));
    let store = Store::connect(&url).await?;
    let config = AuthConfig::default();
    // No TRAE_JWT_SECRET here: the signing key is generated once and kept in the database,
    // sealed by a master key that stays outside it (here a throwaway one; trae keeps it in
    // TRAE_MASTER_KEY or the data directory's master.key).
    let master_key = std::sync::Arc::new(MasterKey::generate()?);
    let identity = Identity::open(
        store.identity_repos(),
        &config,
        None,
        store.shared_settings(),
        master_key,
        store.clock(),
    )?;
    let meta = RequestMeta::default();
    let registration = |name: &str| Registration {
        username: name.into(),
        email: format!("{name}@example.com"),
        password: "correct horse battery".into(),
        full_name: None,
    };

    let root = identity
        .users
        .bootstrap_admin(registration("root"), &meta)
        .await?;
    println!("first admin: {:?}", root.map(|u| u.username));
    let ada = identity
        .accounts
        .register(registration("ada"), &meta)
        .await?;
    println!("registered {} with roles {:?}", ada.username, ada.roles);

    let (_, tokens) = identity
        .login("ada", "correct horse battery", &meta)
        .await?;
    let principal = identity
        .authenticate(Credential::Bearer(&tokens.access_token))
        .await?;
    for permission in ["pets:write", "users:admin"] {
        let allowed = identity
            .authorize(&principal, &permission.parse::<Permission>()?)
            .await
            .is_ok();
        println!("ada may {permission}: {allowed}");
    }

    let key = identity
        .api_keys
        .create(
            &principal,
            NewKey {
                name: "read-only script".into(),
                scopes: Some(vec!["pets:read".into()]),
                expires_in_days: Some(30),
            },
            &meta,
        )
        .await?;
    println!("API key {}… scopes {:?}", key.key.prefix, key.key.scopes);

    let log = identity
        .audit_entries(
            &Principal::System,
            AuditFilter::default(),
            PageRequest::default(),
        )
        .await?;
    for entry in log.items.iter().rev() {
        println!(
            "audit: {} {} {}",
            entry.at,
            entry.action,
            entry.outcome.as_str()
        );
    }
    store.close().await;
    Ok(())
}
