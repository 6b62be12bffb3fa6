//! The pets repository and service on real SQLite files and a real PostgreSQL server.

use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use trae_core::{
    BroadcastBus, Clock, Error, EventBus, ManualClock, NewPet, PageRequest, PetFilter, PetPatch,
    Species,
};
use trae_storage::{Store, StoreOptions, storage_test};

fn new_pet(name: &str, species: Species, tags: &[&str]) -> NewPet {
    NewPet {
        name: name.to_owned(),
        species,
        age: 3,
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
    }
}

async fn store(url: &str) -> Store {
    Store::connect(url).await.expect("open the test store")
}

storage_test!(
    created_pet_reads_back_identically,
    |url: String| async move {
        let pets = store(&url).await.pets();
        let created = pets
            .create(
                &trae_core::Principal::System,
                new_pet(" Rex ", Species::Dog, &["good", "loud"]),
            )
            .await
            .unwrap();
        assert_eq!(created.name, "Rex", "names are stored trimmed");
        let read = pets
            .get(&trae_core::Principal::System, created.id)
            .await
            .unwrap();
        assert_eq!(
            read, created,
            "every field, times included, survives the round trip"
        );
    }
);

storage_test!(
    missing_pet_is_not_found_everywhere,
    |url: String| async move {
        let pets = store(&url).await.pets();
        let id = uuid::Uuid::now_v7();
        assert!(matches!(
            pets.get(&trae_core::Principal::System, id).await,
            Err(Error::NotFound { .. })
        ));
        assert!(matches!(
            pets.update(
                &trae_core::Principal::System,
                id,
                PetPatch {
                    age: Some(4),
                    ..Default::default()
                }
            )
            .await,
            Err(Error::NotFound { .. })
        ));
        assert!(matches!(
            pets.delete(&trae_core::Principal::System, id).await,
            Err(Error::NotFound { .. })
        ));
    }
);

storage_test!(list_filters_by_species_and_tag, |url: String| async move {
    let pets = store(&url).await.pets();
    pets.create(
        &trae_core::Principal::System,
        new_pet("Rex", Species::Dog, &["good"]),
    )
    .await
    .unwrap();
    pets.create(
        &trae_core::Principal::System,
        new_pet("Tom", Species::Cat, &["good", "sly"]),
    )
    .await
    .unwrap();
    pets.create(
        &trae_core::Principal::System,
        new_pet("Fido", Species::Dog, &["sly"]),
    )
    .await
    .unwrap();
    // A tag that looks like SQL or JSON must match literally.
    pets.create(
        &trae_core::Principal::System,
        new_pet("Odd", Species::Fish, &["a\"b' OR 1=1 --"]),
    )
    .await
    .unwrap();

    let names = |page: trae_core::Page<trae_core::Pet>| {
        page.items.into_iter().map(|p| p.name).collect::<Vec<_>>()
    };
    let all = pets
        .list(
            &trae_core::Principal::System,
            PetFilter::default(),
            PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(all.total, 4);

    let dogs = pets
        .list(
            &trae_core::Principal::System,
            PetFilter {
                species: Some(Species::Dog),
                tag: None,
            },
            PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        (dogs.total, names(dogs)),
        (2, vec!["Rex".to_owned(), "Fido".to_owned()])
    );

    let sly = pets
        .list(
            &trae_core::Principal::System,
            PetFilter {
                species: None,
                tag: Some("sly".into()),
            },
            PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(names(sly), ["Tom", "Fido"]);

    let sly_dogs = pets
        .list(
            &trae_core::Principal::System,
            PetFilter {
                species: Some(Species::Dog),
                tag: Some("sly".into()),
            },
            PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        (sly_dogs.total, names(sly_dogs)),
        (1, vec!["Fido".to_owned()])
    );

    let odd = pets
        .list(
            &trae_core::Principal::System,
            PetFilter {
                species: None,
                tag: Some("a\"b' OR 1=1 --".into()),
            },
            PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(names(odd), ["Odd"]);

    let none = pets
        .list(
            &trae_core::Principal::System,
            PetFilter {
                species: None,
                tag: Some("goo".into()),
            },
            PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(none.total, 0, "tags match whole, not by prefix");
});

storage_test!(
    pages_partition_the_list_in_a_stable_order,
    |url: String| async move {
        // Every pet gets the same timestamp, so the order must fall back to the id.
        let clock = Arc::new(ManualClock::new(
            Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
        ));
        let options = StoreOptions {
            clock: clock.clone(),
            ..StoreOptions::default()
        };
        let pets = Store::connect_with(&url, options).await.unwrap().pets();
        let mut created = Vec::new();
        for i in 0..7 {
            created.push(
                pets.create(
                    &trae_core::Principal::System,
                    new_pet(&format!("p{i}"), Species::Other, &[]),
                )
                .await
                .unwrap()
                .id,
            );
        }
        created.sort();
        let mut seen = Vec::new();
        for offset in (0..7).step_by(3) {
            let page = pets
                .list(
                    &trae_core::Principal::System,
                    PetFilter::default(),
                    PageRequest::new(Some(3), Some(offset)).unwrap(),
                )
                .await
                .unwrap();
            assert_eq!(page.total, 7);
            assert_eq!((page.limit, page.offset), (3, offset as u64));
            seen.extend(page.items.into_iter().map(|p| p.id));
        }
        assert_eq!(
            seen, created,
            "pages cover every pet once, ordered by (created_at, id)"
        );
        let past_end = pets
            .list(
                &trae_core::Principal::System,
                PetFilter::default(),
                PageRequest::new(Some(3), Some(50)).unwrap(),
            )
            .await
            .unwrap();
        assert!(past_end.items.is_empty());
        assert_eq!(past_end.total, 7);
    }
);

storage_test!(
    update_changes_only_the_given_fields,
    |url: String| async move {
        let clock = Arc::new(ManualClock::new(
            Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
        ));
        let options = StoreOptions {
            clock: clock.clone(),
            ..StoreOptions::default()
        };
        let pets = Store::connect_with(&url, options).await.unwrap().pets();
        let pet = pets
            .create(
                &trae_core::Principal::System,
                new_pet("Rex", Species::Dog, &["a"]),
            )
            .await
            .unwrap();
        clock.advance(Duration::seconds(30));

        let updated = pets
            .update(
                &trae_core::Principal::System,
                pet.id,
                PetPatch {
                    age: Some(9),
                    tags: Some(vec![]),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(
            (updated.name.as_str(), updated.species, updated.age),
            ("Rex", Species::Dog, 9)
        );
        assert!(updated.tags.is_empty());
        assert_eq!(updated.created_at, pet.created_at);
        assert_eq!(updated.updated_at, pet.created_at + Duration::seconds(30));
        assert_eq!(
            pets.get(&trae_core::Principal::System, pet.id)
                .await
                .unwrap(),
            updated
        );

        let unchanged = pets
            .update(&trae_core::Principal::System, pet.id, PetPatch::default())
            .await
            .unwrap();
        assert_eq!(unchanged, updated, "an empty patch changes nothing");
    }
);

storage_test!(invalid_input_writes_nothing, |url: String| async move {
    let pets = store(&url).await.pets();
    let pet = pets
        .create(
            &trae_core::Principal::System,
            new_pet("Rex", Species::Dog, &[]),
        )
        .await
        .unwrap();
    let too_old = NewPet {
        age: 101,
        ..new_pet("Old", Species::Cat, &[])
    };
    let err = pets
        .create(&trae_core::Principal::System, too_old)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Validation { ref field, .. } if field == "age"),
        "{err}"
    );
    let err = pets
        .update(
            &trae_core::Principal::System,
            pet.id,
            PetPatch {
                name: Some("ok".into()),
                age: Some(-1),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Validation { .. }), "{err}");

    let all = pets
        .list(
            &trae_core::Principal::System,
            PetFilter::default(),
            PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(all.total, 1);
    assert_eq!(
        all.items[0], pet,
        "the failed update left the pet as it was"
    );
});

storage_test!(delete_removes_the_pet, |url: String| async move {
    let pets = store(&url).await.pets();
    let pet = pets
        .create(
            &trae_core::Principal::System,
            new_pet("Rex", Species::Dog, &[]),
        )
        .await
        .unwrap();
    pets.delete(&trae_core::Principal::System, pet.id)
        .await
        .unwrap();
    assert!(matches!(
        pets.get(&trae_core::Principal::System, pet.id).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        pets.delete(&trae_core::Principal::System, pet.id).await,
        Err(Error::NotFound { .. })
    ));
});

storage_test!(changes_are_published_as_events, |url: String| async move {
    let clock: Arc<dyn Clock> = Arc::new(trae_core::SystemClock);
    let bus = Arc::new(BroadcastBus::new(clock.clone(), 64));
    let options = StoreOptions {
        events: bus.clone(),
        clock,
        ..StoreOptions::default()
    };
    let pets = Store::connect_with(&url, options).await.unwrap().pets();
    let mut sub = bus.subscribe();
    let pet = pets
        .create(
            &trae_core::Principal::System,
            new_pet("Rex", Species::Dog, &[]),
        )
        .await
        .unwrap();
    pets.update(
        &trae_core::Principal::System,
        pet.id,
        PetPatch {
            age: Some(4),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    pets.delete(&trae_core::Principal::System, pet.id)
        .await
        .unwrap();
    let _ = pets
        .create(
            &trae_core::Principal::System,
            NewPet {
                age: 500,
                ..new_pet("Bad", Species::Dog, &[])
            },
        )
        .await;

    let mut kinds = Vec::new();
    for _ in 0..3 {
        let event = sub.recv().await.unwrap();
        assert_eq!(event.source, "pets");
        assert_eq!(event.payload["id"], pet.id.to_string());
        kinds.push(event.kind.clone());
    }
    assert_eq!(kinds, ["pet.created", "pet.updated", "pet.deleted"]);
    let pet_events = bus.since(0).iter().filter(|e| e.source == "pets").count();
    assert_eq!(pet_events, 3, "a rejected create publishes nothing");
});

storage_test!(concurrent_writers_all_succeed, |url: String| async move {
    let pets = store(&url).await.pets();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..40 {
        let pets = pets.clone();
        tasks.spawn(async move {
            let pet = pets
                .create(
                    &trae_core::Principal::System,
                    new_pet(&format!("p{i}"), Species::Bird, &[]),
                )
                .await?;
            pets.update(
                &trae_core::Principal::System,
                pet.id,
                PetPatch {
                    age: Some(i % 100),
                    ..Default::default()
                },
            )
            .await?;
            pets.get(&trae_core::Principal::System, pet.id).await
        });
    }
    while let Some(result) = tasks.join_next().await {
        result
            .unwrap()
            .expect("no writer sees 'database is locked'");
    }
    let all = pets
        .list(
            &trae_core::Principal::System,
            PetFilter::default(),
            PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(all.total, 40);
});
