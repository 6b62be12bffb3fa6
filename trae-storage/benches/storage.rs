//! Hot paths of trae-storage on a SQLite file: reading one pet, listing a page, creating.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use trae_core::{NewPet, PageRequest, PetFilter, Species};
use trae_storage::Store;

fn pets(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("bench.db").display()
    );
    let pets = runtime.block_on(async {
        let store = Store::connect(&url).await.expect("store");
        store.pets()
    });
    let new_pet = |i: usize| NewPet {
        name: format!("pet {i}"),
        species: Species::ALL[i % 5],
        age: (i % 100) as i32,
        tags: vec![format!("t{}", i % 7)],
    };
    let ids: Vec<_> = runtime.block_on(async {
        let mut ids = Vec::new();
        for i in 0..1000 {
            ids.push(
                pets.create(&trae_core::Principal::System, new_pet(i))
                    .await
                    .expect("create")
                    .id,
            );
        }
        ids
    });

    let mut next = 0usize;
    c.bench_function("sqlite/pets_get", |b| {
        b.to_async(&runtime).iter(|| {
            next = (next + 1) % ids.len();
            let id = ids[next];
            let pets = pets.clone();
            async move {
                black_box(
                    pets.get(&trae_core::Principal::System, id)
                        .await
                        .expect("get"),
                )
            }
        })
    });
    c.bench_function("sqlite/pets_list_50_by_tag", |b| {
        b.to_async(&runtime).iter(|| {
            let pets = pets.clone();
            async move {
                let filter = PetFilter {
                    species: None,
                    tag: Some("t3".into()),
                };
                black_box(
                    pets.list(
                        &trae_core::Principal::System,
                        filter,
                        PageRequest::default(),
                    )
                    .await
                    .expect("list"),
                )
            }
        })
    });
    let mut i = 1000usize;
    c.bench_function("sqlite/pets_create", |b| {
        b.to_async(&runtime).iter(|| {
            i += 1;
            let pets = pets.clone();
            let pet = new_pet(i);
            async move {
                black_box(
                    pets.create(&trae_core::Principal::System, pet)
                        .await
                        .expect("create"),
                )
            }
        })
    });
}

criterion_group!(benches, pets);
criterion_main!(benches);
