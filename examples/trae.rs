//! The composition root from Rust: open every trae service from the configuration, as
//! `trae serve` and `trae.Store` do, and act as the system and as a signed-in user.
//!
//! Run with `cargo run -p trae-agents --example trae`. It uses a fresh data directory under
//! the system's temporary directory, so it touches nothing of yours.

#![allow(clippy::print_stdout)]

use trae_agents::Trae;
use trae_auth::{Credential, Registration, RequestMeta};
use trae_core::{Config, ConfigOverrides, NewPet, PetFilter, Principal, Species};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("trae-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    // The TRAE_* variables and trae.toml apply; what is set here wins over both.
    let config = Config::load_with(&ConfigOverrides {
        data_dir: Some(dir.clone()),
        ..ConfigOverrides::default()
    })?;
    let trae = Trae::open(config).await?;

    // Embedded code acts as the system, which holds every permission.
    let rex = trae
        .pets()
        .create(
            &Principal::System,
            NewPet {
                name: "Rex".into(),
                species: Species::Dog,
                age: 3,
                tags: vec!["good".into()],
            },
        )
        .await?;
    println!("created {} ({})", rex.name, rex.id);

    // A signed-in user acts with their role's permissions: `user` may write pets, a
    // `viewer` only read them. The pets service decides, as it does behind the HTTP API.
    let identity = trae.identity();
    identity
        .users
        .create(
            &Principal::System,
            Registration {
                username: "watcher".into(),
                email: "watcher@example.com".into(),
                password: "correct horse battery".into(),
                full_name: None,
            },
            vec!["viewer".into()],
            &RequestMeta::default(),
        )
        .await?;
    let (_, pair) = identity
        .login("watcher", "correct horse battery", &RequestMeta::default())
        .await?;
    let viewer = identity
        .authenticate(Credential::Bearer(&pair.access_token))
        .await?;
    let seen = trae
        .pets()
        .list(&viewer, PetFilter::default(), Default::default())
        .await?;
    println!("the viewer sees {} pet(s)", seen.total);
    match trae.pets().delete(&viewer, rex.id).await {
        Err(trae_core::Error::Forbidden(why)) => println!("the viewer may not delete: {why}"),
        other => return Err(format!("expected a refusal, got {other:?}").into()),
    }

    trae.close().await;
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
