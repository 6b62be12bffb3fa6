//! Opening databases and moving their schema, on SQLite and PostgreSQL.

use sea_orm::ConnectionTrait;
use trae_storage::{Error, Store, StoreOptions, storage_test};

storage_test!(connect_applies_every_migration, |url: String| async move {
    let store = Store::connect(&url).await.unwrap();
    let status = store.migration_status().await.unwrap();
    assert!(!status.is_empty());
    assert!(status.iter().all(|m| m.applied), "{status:?}");
    store.ping().await.unwrap();
});

storage_test!(down_then_up_restores_the_schema, |url: String| async move {
    let store = Store::connect(&url).await.unwrap();
    let count = store.migration_status().await.unwrap().len() as u32;
    store.migrate_down(count).await.unwrap();
    assert!(
        store
            .migration_status()
            .await
            .unwrap()
            .iter()
            .all(|m| !m.applied)
    );
    store.migrate_up().await.unwrap();
    assert!(
        store
            .migration_status()
            .await
            .unwrap()
            .iter()
            .all(|m| m.applied)
    );
    let pets = store.pets();
    let page = pets
        .list(
            &trae_core::Principal::System,
            Default::default(),
            Default::default(),
        )
        .await
        .expect("the pets table exists again");
    assert_eq!(page.total, 0);
});

storage_test!(
    without_migrate_the_schema_stays_untouched,
    |url: String| async move {
        let options = StoreOptions {
            migrate: false,
            ..StoreOptions::default()
        };
        let store = Store::connect_with(&url, options).await.unwrap();
        let status = store.migration_status().await.unwrap();
        assert!(status.iter().all(|m| !m.applied), "{status:?}");
    }
);

storage_test!(
    nodes_starting_together_migrate_once,
    |url: String| async move {
        let mut nodes = tokio::task::JoinSet::new();
        for _ in 0..4 {
            let url = url.clone();
            nodes.spawn(async move { Store::connect(&url).await });
        }
        let mut stores = Vec::new();
        while let Some(joined) = nodes.join_next().await {
            stores.push(joined.unwrap().expect("every node starts"));
        }
        for store in &stores {
            assert!(
                store
                    .migration_status()
                    .await
                    .unwrap()
                    .iter()
                    .all(|m| m.applied)
            );
        }
    }
);

#[tokio::test]
async fn sqlite_file_is_created_on_first_use() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fresh.db");
    let store = Store::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    assert!(path.exists());
    store.ping().await.unwrap();
    let raw = sea_orm::Database::connect(format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let row = raw
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DatabaseBackend::Sqlite,
            "PRAGMA journal_mode",
        ))
        .await
        .unwrap()
        .unwrap();
    let mode: String = row.try_get_by_index(0).unwrap();
    assert_eq!(
        mode, "wal",
        "the file is switched to WAL once, for every connection"
    );
}

#[tokio::test]
async fn in_memory_sqlite_works_for_reads_and_writes() {
    let store = Store::connect("sqlite::memory:").await.unwrap();
    let pets = store.pets();
    let pet = pets
        .create(
            &trae_core::Principal::System,
            trae_core::NewPet {
                name: "Rex".into(),
                species: trae_core::Species::Dog,
                age: 1,
                tags: vec![],
            },
        )
        .await
        .unwrap();
    assert_eq!(
        pets.get(&trae_core::Principal::System, pet.id)
            .await
            .unwrap(),
        pet
    );
}

#[tokio::test]
async fn unsupported_urls_are_rejected_clearly() {
    let err = Store::connect("mysql://localhost/x").await.unwrap_err();
    assert!(matches!(err, Error::InvalidUrl(_)), "{err}");
    assert!(err.to_string().contains("sqlite: or postgres://"), "{err}");
}

#[tokio::test]
async fn unreachable_postgres_is_a_connect_error() {
    let options = StoreOptions {
        acquire_timeout: std::time::Duration::from_secs(2),
        ..StoreOptions::default()
    };
    // Port 1 on loopback: nothing listens there.
    let err = Store::connect_with("postgres://nobody@127.0.0.1:1/none", options)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Connect(_)), "{err}");
    let core: trae_core::Error = err.into();
    assert_eq!(core.code(), "unavailable");
}

#[tokio::test]
async fn two_processes_on_one_sqlite_file_write_without_locking_errors() {
    // Two stores on one file stand in for two processes: each has its own writer connection,
    // so they contend on SQLite's file lock and rely on the busy timeout.
    let db = trae_storage::testing::TestDatabase::sqlite();
    let a = Store::connect(&db.url).await.unwrap().pets();
    let b = Store::connect(&db.url).await.unwrap().pets();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..30 {
        let pets = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.spawn(async move {
            pets.create(
                &trae_core::Principal::System,
                trae_core::NewPet {
                    name: format!("p{i}"),
                    species: trae_core::Species::Cat,
                    age: 1,
                    tags: vec![],
                },
            )
            .await
        });
    }
    while let Some(result) = tasks.join_next().await {
        result.unwrap().unwrap();
    }
    let page = a
        .list(
            &trae_core::Principal::System,
            Default::default(),
            Default::default(),
        )
        .await
        .unwrap();
    assert_eq!(page.total, 30);
}

storage_test!(
    task_owners_are_taken_from_created_by,
    |url: String| async move {
        let store = Store::connect(&url).await.unwrap();
        let status = store.migration_status().await.unwrap();
        let from = status
            .iter()
            .position(|m| m.name == "m20261206_000015_task_owners")
            .expect("the task owners migration");
        store
            .migrate_down(u32::try_from(status.len() - from).unwrap())
            .await
            .unwrap();
        let owner = uuid::Uuid::now_v7();
        let raw = sea_orm::Database::connect(&url).await.unwrap();
        let pg = raw.get_database_backend() == sea_orm::DatabaseBackend::Postgres;
        let insert = |id: uuid::Uuid, by: String| {
            let id = if pg {
                format!("'{id}'::uuid")
            } else {
                format!("X'{}'", id.simple())
            };
            format!(
                "INSERT INTO tasks (id, queue, kind, payload, priority, state, max_attempts, \
                 run_at, tags, created_by, created_at) VALUES ({id}, 'default', 'noop', '{{}}', \
                 5, 'available', 5, '2026-11-26T12:00:00Z', '', '{by}', '2026-11-26T12:00:00Z')"
            )
        };
        let (mine, system) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
        raw.execute_unprepared(&insert(mine, format!("user:{owner}")))
            .await
            .unwrap();
        raw.execute_unprepared(&insert(system, "system".into()))
            .await
            .unwrap();
        store.migrate_up().await.unwrap();
        let tasks = store.task_repository();
        let mine = tasks.get(mine).await.unwrap().unwrap();
        assert_eq!(mine.owner_id, Some(owner));
        let system = tasks.get(system).await.unwrap().unwrap();
        assert_eq!(system.owner_id, None);
    }
);
