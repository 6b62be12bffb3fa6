//! Backups of SQLite databases: online copies under load, verification, restore.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use sqlx::{ConnectOptions, Connection};
use trae_storage::Store;
use trae_storage::backup::{self, DatabaseLock, Error};

fn url_of(path: &Path) -> String {
    format!("sqlite://{}?mode=rwc", path.display())
}

/// A migrated database at `dir/name` with a `probe` table; returns its URL.
async fn database(dir: &Path, name: &str) -> String {
    let url = url_of(&dir.join(name));
    let store = Store::connect(&url).await.unwrap();
    store.close().await;
    let pool = pool(&url).await;
    sqlx::query("CREATE TABLE probe (id INTEGER PRIMARY KEY, body BLOB NOT NULL)")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    url
}

async fn pool(url: &str) -> SqlitePool {
    let options: SqliteConnectOptions = url.parse().unwrap();
    SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(
            options
                .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                .busy_timeout(std::time::Duration::from_secs(10)),
        )
        .await
        .unwrap()
}

async fn insert(pool: &SqlitePool, id: i64) {
    sqlx::query("INSERT INTO probe (id, body) VALUES (?, ?)")
        .bind(id)
        .bind(vec![(id % 251) as u8; 512])
        .execute(pool)
        .await
        .unwrap();
}

/// Opens a file without touching it and returns (integrity_check, probe ids).
async fn inspect(path: &Path) -> (String, Vec<i64>) {
    let mut conn = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .immutable(true)
        .connect()
        .await
        .unwrap();
    let check: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM probe ORDER BY id")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    (check, ids)
}

fn flip_byte(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x5a;
    std::fs::write(path, bytes).unwrap();
}

fn sidecars(db: &Path) -> [PathBuf; 2] {
    let name = db.file_name().unwrap().to_string_lossy().into_owned();
    [
        db.with_file_name(format!("{name}-wal")),
        db.with_file_name(format!("{name}-shm")),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_under_continuous_writes_restores_every_row_committed_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let url = database(dir.path(), "live.db").await;
    let writer_pool = pool(&url).await;
    for id in 1..=3000 {
        insert(&writer_pool, id).await;
    }
    let committed = Arc::new(AtomicI64::new(3000));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = tokio::spawn({
        let (committed, stop, pool) = (committed.clone(), stop.clone(), writer_pool.clone());
        async move {
            let mut id = committed.load(Ordering::SeqCst);
            while !stop.load(Ordering::SeqCst) {
                id += 1;
                insert(&pool, id).await;
                committed.store(id, Ordering::SeqCst);
            }
            id
        }
    });
    // Let the writer get going, so the backup starts in the middle of its stream.
    while committed.load(Ordering::SeqCst) < 3100 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let before = committed.load(Ordering::SeqCst);
    let out = dir.path().join("backups").join("live-backup.db");
    let mut calls = Vec::new();
    let manifest = backup::create(&url, &out, |copied, total| calls.push((copied, total)))
        .await
        .unwrap();
    let after_backup = committed.load(Ordering::SeqCst);
    stop.store(true, Ordering::SeqCst);
    let last_written = writer.await.unwrap();
    writer_pool.close().await;
    assert!(
        last_written > before,
        "the writer kept writing during the backup"
    );
    assert!(after_backup >= before);

    // The manifest describes the file.
    assert_eq!(manifest.size, std::fs::metadata(&out).unwrap().len());
    assert_eq!(manifest.sha256.len(), 64);
    assert_eq!(manifest.trae_version, env!("CARGO_PKG_VERSION"));
    assert!(
        manifest.schema_version.starts_with('m'),
        "{}",
        manifest.schema_version
    );
    assert_eq!(backup::read_manifest(&out).unwrap(), manifest);
    assert!(!out.with_extension("db.partial").exists());
    // Progress went up to a final call with copied == total.
    assert!(calls.len() >= 2, "{calls:?}");
    let (copied, total) = *calls.last().unwrap();
    assert_eq!((copied, total), (manifest.size, manifest.size));
    assert!(
        calls
            .windows(2)
            .all(|w| w[0].0 <= w[1].0 || w[1] == (copied, total))
    );

    assert_eq!(backup::verify(&out).await.unwrap(), manifest);

    let target_dir = tempfile::tempdir().unwrap();
    let target = target_dir.path().join("restored.db");
    let report = backup::restore(&out, &url_of(&target)).await.unwrap();
    assert_eq!(report.previous, None);
    assert_eq!(report.database, target);
    let (check, ids) = inspect(&target).await;
    assert_eq!(check, "ok");
    let max = *ids.last().unwrap();
    assert!(
        max >= before,
        "row {before} was committed before the backup began"
    );
    assert_eq!(
        ids,
        (1..=max).collect::<Vec<_>>(),
        "every committed row up to the snapshot"
    );
    // The restored database opens as a trae store.
    let store = Store::connect(&url_of(&target)).await.unwrap();
    assert!(
        store
            .migration_status()
            .await
            .unwrap()
            .iter()
            .all(|m| m.applied)
    );
    store.close().await;
}

#[tokio::test]
async fn verify_detects_a_flipped_byte_and_restore_refuses_it() {
    let dir = tempfile::tempdir().unwrap();
    let url = database(dir.path(), "a.db").await;
    let p = pool(&url).await;
    for id in 1..=200 {
        insert(&p, id).await;
    }
    p.close().await;
    let out = dir.path().join("a-backup.db");
    backup::create(&url, &out, |_, _| {}).await.unwrap();
    backup::verify(&out).await.unwrap();
    flip_byte(&out);
    let err = backup::verify(&out).await.unwrap_err();
    assert!(matches!(err, Error::Checksum(_)), "{err}");
    assert!(err.to_string().contains("checksum mismatch"), "{err}");

    let target = dir.path().join("target.db");
    let target_url = database(dir.path(), "target.db").await;
    let err = backup::restore(&out, &target_url).await.unwrap_err();
    assert!(matches!(err, Error::Checksum(_)), "{err}");
    let (_, ids) = inspect(&target).await;
    assert!(ids.is_empty(), "the target is untouched");
    assert!(std::fs::read_dir(dir.path()).unwrap().all(|e| {
        !e.unwrap()
            .file_name()
            .to_string_lossy()
            .contains("before-restore")
    }));

    // A backup without its manifest is refused too.
    std::fs::remove_file(backup::manifest_path(&out)).unwrap();
    let err = backup::verify(&out).await.unwrap_err();
    assert!(matches!(err, Error::Manifest { .. }), "{err}");
}

#[tokio::test]
async fn a_damaged_database_with_a_matching_manifest_fails_integrity_check() {
    let dir = tempfile::tempdir().unwrap();
    let url = database(dir.path(), "a.db").await;
    let p = pool(&url).await;
    for id in 1..=500 {
        insert(&p, id).await;
    }
    p.close().await;
    let out = dir.path().join("a-backup.db");
    backup::create(&url, &out, |_, _| {}).await.unwrap();
    // Damage a b-tree page of the copy, then rewrite the manifest to match it.
    let mut bytes = std::fs::read(&out).unwrap();
    let page = 4096 * 3;
    bytes[page..page + 64].fill(0xff);
    std::fs::write(&out, &bytes).unwrap();
    let mut manifest = backup::read_manifest(&out).unwrap();
    use sha2::Digest;
    manifest.sha256 = sha2::Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    std::fs::write(
        backup::manifest_path(&out),
        serde_json::to_string(&manifest).unwrap(),
    )
    .unwrap();
    let err = backup::verify(&out).await.unwrap_err();
    assert!(
        matches!(err, Error::Integrity(_) | Error::Database(_)),
        "{err}"
    );
}

#[tokio::test]
async fn restore_refuses_a_schema_newer_than_this_binary() {
    let dir = tempfile::tempdir().unwrap();
    let url = database(dir.path(), "future.db").await;
    let p = pool(&url).await;
    sqlx::query("INSERT INTO seaql_migrations (version, applied_at) VALUES (?, 0)")
        .bind("m29991231_000001_from_the_future")
        .execute(&p)
        .await
        .unwrap();
    p.close().await;
    let out = dir.path().join("future-backup.db");
    let manifest = backup::create(&url, &out, |_, _| {}).await.unwrap();
    assert_eq!(manifest.schema_version, "m29991231_000001_from_the_future");
    backup::verify(&out).await.unwrap();
    let target_url = database(dir.path(), "target.db").await;
    let err = backup::restore(&out, &target_url).await.unwrap_err();
    assert!(matches!(err, Error::NewerSchema(_)), "{err}");
    assert!(err.to_string().contains("newer"), "{err}");
}

#[tokio::test]
async fn restore_keeps_the_previous_file_and_removes_stale_wal_and_shm() {
    let dir = tempfile::tempdir().unwrap();
    let source = database(dir.path(), "source.db").await;
    let p = pool(&source).await;
    for id in 1..=10 {
        insert(&p, id).await;
    }
    p.close().await;
    let out = dir.path().join("source-backup.db");
    backup::create(&source, &out, |_, _| {}).await.unwrap();

    let target = dir.path().join("target.db");
    let target_url = database(dir.path(), "target.db").await;
    let p = pool(&target_url).await;
    insert(&p, 999).await;
    p.close().await;
    let [wal, shm] = sidecars(&target);
    std::fs::write(&wal, b"stale wal").unwrap();
    std::fs::write(&shm, b"stale shm").unwrap();

    let report = backup::restore(&out, &target_url).await.unwrap();
    assert!(!shm.exists(), "stale -shm removed");
    assert!(!wal.exists(), "stale -wal removed");
    let previous = report.previous.expect("the previous file is kept");
    assert!(
        previous
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("target.db.before-restore-"),
        "{}",
        previous.display()
    );
    let (check, ids) = inspect(&previous).await;
    assert_eq!((check.as_str(), ids), ("ok", vec![999]));
    let (check, ids) = inspect(&target).await;
    assert_eq!((check.as_str(), ids), ("ok", (1..=10).collect::<Vec<_>>()));
}

#[tokio::test]
async fn restore_is_refused_while_the_database_is_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let url = database(dir.path(), "busy.db").await;
    let out = dir.path().join("busy-backup.db");
    backup::create(&url, &out, |_, _| {}).await.unwrap();

    let lock = DatabaseLock::shared(&url).unwrap().expect("a SQLite lock");
    // Several users may hold it at once.
    let second = DatabaseLock::shared(&url)
        .unwrap()
        .expect("a second holder");
    let err = backup::restore(&out, &url).await.unwrap_err();
    assert!(matches!(err, Error::InUse(_)), "{err}");
    assert!(err.to_string().contains("in use"), "{err}");
    drop(lock);
    let err = backup::restore(&out, &url).await.unwrap_err();
    assert!(matches!(err, Error::InUse(_)), "{err}");
    drop(second);
    let report = backup::restore(&out, &url).await.unwrap();
    assert!(report.previous.is_some());
}

#[tokio::test]
async fn unusable_targets_get_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let err = backup::create("sqlite::memory:", &dir.path().join("m.db"), |_, _| {})
        .await
        .unwrap_err();
    assert!(err.to_string().contains("in-memory"), "{err}");
    let missing = url_of(&dir.path().join("missing.db"));
    let err = backup::create(&missing, &dir.path().join("m.db"), |_, _| {})
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no database"), "{err}");
    assert!(!dir.path().join("missing.db").exists());
    assert!(!dir.path().join("m.db").exists());
    assert!(!dir.path().join("m.db.partial").exists());

    let url = database(dir.path(), "x.db").await;
    let out = dir.path().join("x-backup.db");
    backup::create(&url, &out, |_, _| {}).await.unwrap();
    let err = backup::create(&url, &out, |_, _| {}).await.unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    assert!(
        DatabaseLock::shared("postgres://u@localhost/db")
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn restore_releases_the_leases_of_tasks_that_were_running() {
    use trae_core::{ClaimRequest, NewTask, Principal, TaskState};
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("live.db");
    let store = Store::connect(&url_of(&source)).await.unwrap();
    let queue = store.tasks();
    queue
        .enqueue(
            &Principal::System,
            NewTask::new("noop", serde_json::json!({})),
        )
        .await
        .unwrap();
    let now = chrono::Utc::now();
    let claimed = store
        .task_repository()
        .claim(&ClaimRequest {
            worker_id: "gone-worker".into(),
            queues: vec!["default".into()],
            kinds: vec!["noop".into()],
            limit: 1,
            now,
            // A worker with a long lease, which the restore outlives.
            lease_until: now + chrono::Duration::hours(1),
        })
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    let out = dir.path().join("backups").join("b.db");
    backup::create(&url_of(&source), &out, |_, _| {})
        .await
        .unwrap();
    store.close().await;

    let target = dir.path().join("restored.db");
    let report = backup::restore(&out, &url_of(&target)).await.unwrap();
    assert_eq!(report.released_leases, 1);
    let restored = Store::connect(&url_of(&target)).await.unwrap();
    // The first worker to look rescues it now, not an hour from now.
    let rescued = restored
        .task_repository()
        .rescue_expired(chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(rescued.len(), 1);
    assert_eq!(rescued[0].id, claimed[0].id);
    assert_eq!(rescued[0].state, TaskState::Retryable);
    restored.close().await;
}

#[tokio::test]
async fn a_restore_gives_the_event_log_a_new_epoch_and_keeps_its_events() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("live.db");
    let store = Store::connect(&url_of(&source)).await.unwrap();
    let log = store.event_repository();
    let event = trae_core::NewEvent {
        id: uuid::Uuid::now_v7(),
        ts: chrono::Utc::now(),
        topic: "tasks".into(),
        source: "tasks".into(),
        kind: "task.completed".into(),
        owner_id: None,
        payload: serde_json::json!({"n": 1}),
    };
    log.append(std::slice::from_ref(&event)).await.unwrap();
    let before = log.position().await.unwrap();
    let out = dir.path().join("backups").join("b.db");
    backup::create(&url_of(&source), &out, |_, _| {})
        .await
        .unwrap();
    store.close().await;

    let target = dir.path().join("restored.db");
    backup::restore(&out, &url_of(&target)).await.unwrap();
    let restored = Store::connect(&url_of(&target)).await.unwrap();
    let after = restored.event_repository().position().await.unwrap();
    // A client holding seq 1 of the old epoch must be told its history is another one.
    assert_ne!(after.epoch, before.epoch);
    assert_eq!(after.epoch.len(), 32);
    assert_eq!((after.last_seq, after.oldest_seq), (1, Some(1)));
    let kept = restored
        .event_repository()
        .since(0, None, 10)
        .await
        .unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].id, event.id);
    restored.close().await;
}
