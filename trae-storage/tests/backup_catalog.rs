//! The backup directory on SQLite and PostgreSQL: manual and scheduled backups, listing,
//! retention of scheduled backups only, one backup at a time, events and audit entries.

use std::path::{Path, PathBuf};

use trae_core::{AuditFilter, BackupConfig, PageRequest, Principal, RequestMeta};
use trae_storage::backup::{self, Error};
use trae_storage::backup_catalog::{self, BackupKind, Backups, EVENT_SOURCE, LOCK_FILE};
use trae_storage::{Store, storage_test};

fn config(dir: &Path, keep: u32) -> BackupConfig {
    BackupConfig {
        interval_hours: 24,
        keep,
        dir: dir.to_path_buf(),
    }
}

/// Whether this database can be backed up here: PostgreSQL needs pg_dump on PATH.
fn can_back_up(url: &str) -> bool {
    if !url.starts_with("postgres") {
        return true;
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path).any(|p| p.join("pg_dump").is_file());
    if !found {
        eprintln!(
            "SKIPPED (PostgreSQL backups): pg_dump is not on PATH; install postgresql-client"
        );
    }
    found
}

fn names(list: &[backup_catalog::BackupInfo]) -> Vec<String> {
    list.iter().map(|b| b.file_name.clone()).collect()
}

storage_test!(
    scheduled_runs_keep_the_newest_scheduled_backups_and_every_manual_one,
    |url: String| async move {
        if !can_back_up(&url) {
            return;
        }
        let store = Store::connect(&url).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let backups = Backups::new(url.clone(), config(dir.path(), 2))
            .with_events(store.events())
            .with_audit(store.audit());

        let manual = backups
            .create(
                &Principal::System,
                BackupKind::Manual,
                &RequestMeta::default(),
                |_, _| {},
            )
            .await
            .unwrap();
        assert_eq!(manual.kind, BackupKind::Manual);
        assert!(
            manual.file_name.starts_with("trae-"),
            "{}",
            manual.file_name
        );
        assert!(!manual.file_name.starts_with("trae-scheduled-"));
        assert_eq!(manual.path, dir.path().join(&manual.file_name));

        let mut runs = Vec::new();
        for _ in 0..4 {
            runs.push(backups.run_scheduled().await.unwrap());
        }
        for run in &runs {
            assert_eq!(run.created.kind, BackupKind::Scheduled);
            assert!(run.created.file_name.starts_with("trae-scheduled-"));
            let ext = if url.starts_with("postgres") {
                ".dump"
            } else {
                ".db"
            };
            assert!(
                run.created.file_name.ends_with(ext),
                "{}",
                run.created.file_name
            );
        }
        // Runs 1 and 2 prune nothing; runs 3 and 4 each delete the oldest scheduled one.
        assert!(runs[0].pruned.is_empty() && runs[1].pruned.is_empty());
        assert_eq!(names(&runs[2].pruned), [runs[0].created.file_name.clone()]);
        assert_eq!(names(&runs[3].pruned), [runs[1].created.file_name.clone()]);

        // Newest first: the two kept scheduled backups, then the manual one; the deleted
        // ones left neither file nor manifest behind.
        let listed = backups.list(&Principal::System).await.unwrap();
        assert_eq!(
            listed,
            [
                runs[3].created.clone(),
                runs[2].created.clone(),
                manual.clone()
            ]
        );
        let mut files: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n != LOCK_FILE)
            .collect();
        files.sort();
        let mut expected: Vec<String> = listed
            .iter()
            .flat_map(|b| {
                [
                    b.file_name.clone(),
                    format!("{}.manifest.json", b.file_name),
                ]
            })
            .collect();
        expected.sort();
        assert_eq!(files, expected);
        for b in &listed {
            assert_eq!(backup::verify(&b.path).await.unwrap(), b.manifest);
        }

        // Every backup is on record as backup.create, by the system, without a host path.
        let audit = store
            .audit()
            .list(
                AuditFilter {
                    action: Some(backup_catalog::AUDIT_ACTION.into()),
                    ..AuditFilter::default()
                },
                PageRequest::default(),
            )
            .await
            .unwrap();
        assert_eq!(audit.total, 5);
        let dir_text = dir.path().display().to_string();
        for entry in &audit.items {
            assert_eq!(entry.actor.kind, trae_core::ActorKind::System);
            assert_eq!(entry.outcome, trae_core::Outcome::Success);
            assert!(entry.target.as_deref().unwrap().starts_with("backup:trae-"));
            let text = serde_json::to_string(&entry.details).unwrap();
            assert!(!text.contains(&dir_text), "{text}");
            assert!(entry.details["size"].as_u64().unwrap() > 0);
        }
        assert_eq!(audit.items[0].details["kind"], "scheduled");
        assert_eq!(audit.items[4].details["kind"], "manual");

        // Each backup published started, then completed, with the file name only.
        let events: Vec<_> = store
            .events()
            .since(0)
            .into_iter()
            .filter(|e| e.source == EVENT_SOURCE)
            .collect();
        let kinds: Vec<&str> = events
            .iter()
            .map(|e| e.kind.as_str())
            .filter(|k| *k != "progress")
            .collect();
        assert_eq!(kinds, ["started", "completed"].repeat(5));
        assert!(events.iter().any(|e| e.kind == "progress"));
        for e in &events {
            assert!(!e.payload.to_string().contains(&dir_text), "{}", e.payload);
        }
        store.close().await;
    }
);

storage_test!(
    a_backup_is_busy_while_another_holds_the_directory,
    |url: String| async move {
        if !can_back_up(&url) {
            return;
        }
        let store = Store::connect(&url).await.unwrap();
        store.close().await;
        let dir = tempfile::tempdir().unwrap();
        let backups = Backups::new(url.clone(), config(dir.path(), 1));
        // Another process (or this one) taking a backup holds the lock file.
        let held = std::fs::File::create(dir.path().join(LOCK_FILE)).unwrap();
        held.try_lock().unwrap();
        let err = backups
            .create(
                &Principal::System,
                BackupKind::Manual,
                &RequestMeta::default(),
                |_, _| {},
            )
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Busy), "{err}");
        assert!(err.to_string().contains("already running"), "{err}");
        let err = backups.run_scheduled().await.unwrap_err();
        assert!(matches!(err, Error::Busy), "{err}");
        // A chosen file in the backup directory waits its turn too; one elsewhere does not.
        let inside = dir.path().join("by-hand.db");
        let err = backups
            .create_at(
                &Principal::System,
                &inside,
                &RequestMeta::default(),
                |_, _| {},
            )
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Busy), "{err}");
        assert!(backups.list(&Principal::System).await.unwrap().is_empty());
        let elsewhere = tempfile::tempdir().unwrap();
        let out = elsewhere.path().join("by-hand.db");
        let taken = backups
            .create_at(&Principal::System, &out, &RequestMeta::default(), |_, _| {})
            .await
            .unwrap();
        assert_eq!((taken.kind, taken.path), (BackupKind::Manual, out));
        assert!(
            !elsewhere.path().join(LOCK_FILE).exists(),
            "no lock file left elsewhere"
        );
        drop(held);
        // An interrupted backup's partial file goes with the next scheduled run.
        let stale = dir
            .path()
            .join("trae-scheduled-20260101T000000Z.db.partial");
        std::fs::write(&stale, b"half a copy").unwrap();
        backups.run_scheduled().await.unwrap();
        assert_eq!(backups.list(&Principal::System).await.unwrap().len(), 1);
        assert!(!stale.exists());
    }
);

#[tokio::test]
async fn a_failed_backup_publishes_failed_audits_the_attempt_and_leaves_nothing() {
    let store = Store::connect("sqlite::memory:").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let missing = format!("sqlite://{}", dir.path().join("missing.db").display());
    let backups = Backups::new(missing, config(&dir.path().join("backups"), 3))
        .with_events(store.events())
        .with_audit(store.audit());
    let err = backups.run_scheduled().await.unwrap_err();
    assert!(err.to_string().contains("no database"), "{err}");
    let kinds: Vec<String> = store
        .events()
        .since(0)
        .iter()
        .filter(|e| e.source == EVENT_SOURCE)
        .map(|e| e.kind.clone())
        .collect();
    assert_eq!(kinds, ["started", "failed"]);
    let failed = store
        .events()
        .since(0)
        .into_iter()
        .rfind(|e| e.source == EVENT_SOURCE)
        .unwrap();
    assert_eq!(failed.payload["code"], "unsupported");
    let audit = store
        .audit()
        .list(AuditFilter::default(), PageRequest::default())
        .await
        .unwrap();
    assert_eq!(audit.total, 1);
    assert_eq!(audit.items[0].outcome, trae_core::Outcome::Failure);
    let left: Vec<PathBuf> = std::fs::read_dir(dir.path().join("backups"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.ends_with(LOCK_FILE))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// Writes a fake backup `name` with a manifest dated `at`.
fn fake_backup(dir: &Path, name: &str, at: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, name.as_bytes()).unwrap();
    let manifest = backup::Manifest {
        trae_version: "0.0.0".into(),
        schema_version: "m20260101_000001_x".into(),
        created_at: at.parse().unwrap(),
        size: name.len() as u64,
        sha256: "00".repeat(32),
        format: "sqlite".into(),
    };
    std::fs::write(
        backup::manifest_path(&path),
        serde_json::to_string(&manifest).unwrap(),
    )
    .unwrap();
    path
}

#[test]
fn listing_reads_manifests_newest_first_and_skips_everything_else() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fake_backup(d, "trae-scheduled-a.db", "2026-01-01T00:00:00Z");
    fake_backup(d, "trae-b.db", "2026-01-03T00:00:00Z");
    fake_backup(d, "nightly.db", "2026-01-02T00:00:00Z");
    // A file without a manifest, a manifest without its file, a broken manifest, the lock.
    std::fs::write(d.join("stray.db"), b"x").unwrap();
    std::fs::write(d.join("gone.db.manifest.json"), b"{}").unwrap();
    std::fs::write(d.join("broken.db"), b"x").unwrap();
    std::fs::write(d.join("broken.db.manifest.json"), b"not json").unwrap();
    std::fs::write(d.join(LOCK_FILE), b"").unwrap();

    let listed = backup_catalog::list(d).unwrap();
    assert_eq!(
        names(&listed),
        ["trae-b.db", "nightly.db", "trae-scheduled-a.db"]
    );
    let kinds: Vec<BackupKind> = listed.iter().map(|b| b.kind).collect();
    assert_eq!(
        kinds,
        [
            BackupKind::Manual,
            BackupKind::Manual,
            BackupKind::Scheduled
        ]
    );
    assert_eq!(listed[0].manifest.size, "trae-b.db".len() as u64);
}

#[test]
fn pruning_deletes_old_scheduled_backups_with_their_manifests_only() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let old = fake_backup(d, "trae-scheduled-1.db", "2026-01-01T00:00:00Z");
    let older_manual = fake_backup(d, "trae-0.db", "2025-01-01T00:00:00Z");
    fake_backup(d, "trae-scheduled-2.db", "2026-01-02T00:00:00Z");
    fake_backup(d, "trae-scheduled-3.db", "2026-01-03T00:00:00Z");

    let pruned = backup_catalog::prune(d, 2).unwrap();
    assert_eq!(names(&pruned), ["trae-scheduled-1.db"]);
    assert!(!old.exists() && !backup::manifest_path(&old).exists());
    assert!(older_manual.exists() && backup::manifest_path(&older_manual).exists());
    assert_eq!(
        names(&backup_catalog::list(d).unwrap()),
        ["trae-scheduled-3.db", "trae-scheduled-2.db", "trae-0.db"]
    );
    assert!(backup_catalog::prune(d, 2).unwrap().is_empty());
}

#[test]
fn the_next_scheduled_backup_follows_the_newest_one() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let now: chrono::DateTime<chrono::Utc> = "2026-02-01T12:00:00Z".parse().unwrap();
    let backups = Backups::new("sqlite:///x.db", config(d, 7));
    // None yet: one interval from now.
    assert_eq!(
        backups.next_scheduled_at(now).unwrap(),
        Some("2026-02-02T12:00:00Z".parse().unwrap())
    );
    fake_backup(d, "trae-scheduled-x.db", "2026-02-01T09:00:00Z");
    // A manual backup does not move the schedule.
    fake_backup(d, "trae-y.db", "2026-02-01T11:00:00Z");
    assert_eq!(
        backups.next_scheduled_at(now).unwrap(),
        Some("2026-02-02T09:00:00Z".parse().unwrap())
    );
    let off = Backups::new(
        "sqlite:///x.db",
        BackupConfig {
            interval_hours: 0,
            ..config(d, 7)
        },
    );
    assert_eq!(off.next_scheduled_at(now).unwrap(), None);
}
