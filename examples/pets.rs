//! Pets without a server: open a SQLite file with trae-storage, then create, list, update and
//! delete through the trae-core service.
//!
//! Run with `cargo run -p trae-storage --example pets` (pass a database URL to use another).

#![allow(clippy::print_stdout)]

use trae_core::{NewPet, PageRequest, PetFilter, PetPatch, Species};
use trae_storage::Store;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| format!("sqlite://{}?mode=rwc", dir.path().join("pets.db").display()));
    let store = Store::connect(&url).await?;
    let pets = store.pets();

    let rex = pets
        .create(
            &trae_core::Principal::System,
            NewPet {
                name: "Rex".into(),
                species: Species::Dog,
                age: 3,
                tags: vec!["good".into()],
            },
        )
        .await?;
    println!("created {} ({}) at {}", rex.name, rex.id, rex.created_at);

    let rex = pets
        .update(
            &trae_core::Principal::System,
            rex.id,
            PetPatch {
                age: Some(4),
                ..Default::default()
            },
        )
        .await?;
    println!("{} is now {}", rex.name, rex.age);

    let good = pets
        .list(
            &trae_core::Principal::System,
            PetFilter {
                tag: Some("good".into()),
                ..Default::default()
            },
            PageRequest::new(Some(10), None)?,
        )
        .await?;
    println!("{} pet(s) tagged good", good.total);

    // Rules live in trae-core: this fails before anything is written.
    let err = pets
        .create(
            &trae_core::Principal::System,
            NewPet {
                name: "".into(),
                species: Species::Cat,
                age: 1,
                tags: vec![],
            },
        )
        .await
        .unwrap_err();
    println!("rejected: {err} ({})", err.code());

    pets.delete(&trae_core::Principal::System, rex.id).await?;
    println!(
        "deleted; {} left",
        pets.list(
            &trae_core::Principal::System,
            PetFilter::default(),
            PageRequest::default()
        )
        .await?
        .total
    );
    store.close().await;
    Ok(())
}
