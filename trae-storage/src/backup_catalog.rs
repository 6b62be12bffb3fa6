//! The backup directory of a database: the [`Backups`] service takes backups into it by hand
//! or on a schedule, lists them newest first, and keeps only the latest scheduled ones.
//!
//! Scheduled backups are named `trae-scheduled-<timestamp>.db` (`.dump` on PostgreSQL) and
//! manual ones `trae-<timestamp>.db`, so retention can never delete a backup someone took on
//! purpose. Every backup is listed by its manifest ([`crate::backup::Manifest`]); a file
//! without one is not a backup as far as the catalogue is concerned.
//!
//! One backup runs at a time per directory: the service holds an exclusive advisory lock on
//! [`LOCK_FILE`] in the directory while it works, so `trae serve`'s schedule, a request to
//! `POST /api/admin/backups`, `trae backup create` and Python never copy the database at
//! once; the second one gets [`Error::Busy`] instead of waiting.
//!
//! With an [`EventBus`] the service publishes `started`, `progress` (at most twice a
//! second), `completed` and `failed` under the source [`EVENT_SOURCE`]; with an [`AuditLog`]
//! every backup it takes is recorded as `backup.create`. Neither carries a host path: only
//! the backup's file name.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::json;
use trae_core::identity::permission::{Authorizer, Gate};
use trae_core::{AuditLog, BackupConfig, EventBus, Outcome, Principal, RequestMeta};

use crate::backup::{self, Error, Manifest, Result};

/// The event source of backup progress.
pub const EVENT_SOURCE: &str = "backups";
/// The audit action of a backup taken by the service.
pub const AUDIT_ACTION: &str = "backup.create";
/// The lock file in the backup directory that one running backup holds.
pub const LOCK_FILE: &str = ".trae-backup.lock";
/// How often progress events may be published while a backup runs.
const PROGRESS_EVERY: Duration = Duration::from_millis(500);
/// The file name prefix of scheduled backups.
const SCHEDULED_PREFIX: &str = "trae-scheduled-";
/// The suffix of a backup's manifest file.
const MANIFEST_SUFFIX: &str = ".manifest.json";

/// Why a backup was taken, which decides whether retention may delete it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackupKind {
    /// Taken on purpose (HTTP, CLI, Python); never deleted by retention.
    Manual,
    /// Taken by `trae serve`'s schedule; only the newest `keep` are kept.
    Scheduled,
}

impl BackupKind {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Manual => "manual",
            Self::Scheduled => "scheduled",
        }
    }

    /// The kind a backup file name says: `trae-scheduled-…` is scheduled, anything else manual.
    pub fn of_file_name(name: &str) -> Self {
        if name.starts_with(SCHEDULED_PREFIX) {
            Self::Scheduled
        } else {
            Self::Manual
        }
    }
}

/// A backup in a directory, as its manifest describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupInfo {
    /// The backup's file name, e.g. `trae-scheduled-20261126T030000Z.db`.
    pub file_name: String,
    /// Where the file is (a host path: keep it from clients that need only the name).
    pub path: PathBuf,
    /// Manual or scheduled, from the file name.
    pub kind: BackupKind,
    /// The manifest beside it.
    pub manifest: Manifest,
}

/// What one scheduled run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduledRun {
    /// The backup it took.
    pub created: BackupInfo,
    /// The older scheduled backups it deleted, newest first.
    pub pruned: Vec<BackupInfo>,
}

/// The file name of a new backup of `database_url` taken at `now`:
/// `trae-<YYYYmmddTHHMMSSZ>.db` for manual backups, `trae-scheduled-<…>.db` for scheduled
/// ones (`.dump` on PostgreSQL).
pub fn file_name(database_url: &str, kind: BackupKind, now: DateTime<Utc>) -> String {
    let name = backup::default_file_name(database_url, now);
    match kind {
        BackupKind::Manual => name,
        BackupKind::Scheduled => format!(
            "{SCHEDULED_PREFIX}{}",
            name.strip_prefix("trae-").unwrap_or(&name)
        ),
    }
}

/// The backups in `dir` (those with a readable manifest beside them), newest first; an empty
/// list when the directory does not exist. Unreadable manifests are skipped with a warning.
pub fn list(dir: &Path) -> Result<Vec<BackupInfo>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(Error::Io {
                context: format!("cannot list {}", dir.display()),
                source: e,
            });
        }
    };
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::Io {
            context: format!("cannot list {}", dir.display()),
            source: e,
        })?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(file_name) = name.strip_suffix(MANIFEST_SUFFIX) else {
            continue;
        };
        let path = dir.join(file_name);
        if !path.is_file() {
            continue;
        }
        match backup::read_manifest(&path) {
            Ok(manifest) => found.push(BackupInfo {
                kind: BackupKind::of_file_name(file_name),
                file_name: file_name.to_owned(),
                path,
                manifest,
            }),
            Err(e) => tracing::warn!(error = %e, "skipping a backup with an unreadable manifest"),
        }
    }
    found.sort_by(|a, b| {
        (b.manifest.created_at, &b.file_name).cmp(&(a.manifest.created_at, &a.file_name))
    });
    Ok(found)
}

/// Deletes all but the newest `keep` scheduled backups in `dir`, each file with its manifest;
/// manual backups are never touched. Returns what was deleted, newest first.
pub fn prune(dir: &Path, keep: usize) -> Result<Vec<BackupInfo>> {
    let old: Vec<BackupInfo> = list(dir)?
        .into_iter()
        .filter(|b| b.kind == BackupKind::Scheduled)
        .skip(keep)
        .collect();
    for b in &old {
        // The file first: a manifest left behind by a failure lists nothing, whereas a file
        // without its manifest would be invisible to retention and stay forever.
        for path in [b.path.clone(), backup::manifest_path(&b.path)] {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(Error::Io {
                        context: format!("cannot delete {}", path.display()),
                        source: e,
                    });
                }
            }
        }
    }
    Ok(old)
}

/// Whether two paths name one directory (also when one does not exist yet).
fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => matches!(
            (std::path::absolute(a), std::path::absolute(b)),
            (Ok(a), Ok(b)) if a == b
        ),
    }
}

/// Deletes `*.partial` files in `dir`. Called only under the directory's lock, when no backup
/// into it can be running, so every partial file left is from an interrupted one.
fn remove_stale_partials(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().ends_with(".partial")
            && let Err(e) = std::fs::remove_file(entry.path())
        {
            tracing::warn!(error = %e, "cannot delete the partial file of an interrupted backup");
        }
    }
}

/// The exclusive lock of a backup directory while one backup runs; released on drop.
#[derive(Debug)]
struct RunLock {
    _file: File,
}

impl RunLock {
    fn take(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| Error::Io {
            context: format!("cannot create {}", dir.display()),
            source: e,
        })?;
        let path = dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| Error::Io {
                context: format!("cannot open {}", path.display()),
                source: e,
            })?;
        match file.try_lock() {
            Ok(()) => Ok(Self { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(Error::Busy),
            Err(std::fs::TryLockError::Error(e)) => Err(Error::Io {
                context: format!("cannot lock {}", path.display()),
                source: e,
            }),
        }
    }
}

struct Inner {
    database_url: String,
    config: BackupConfig,
    events: Option<Arc<dyn EventBus>>,
    audit: Option<AuditLog>,
    gate: Gate,
}

/// Taking and listing backups: a backup holds every row of the database.
pub const BACKUPS_ADMIN: &str = trae_core::identity::permission::BACKUPS_ADMIN;

/// Backups of one database into its backup directory: taking them (audited, with progress
/// events), listing them, and the scheduled run with retention. Cheap to clone.
#[derive(Clone)]
pub struct Backups {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Backups {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backups")
            .field("dir", &self.inner.config.dir)
            .finish_non_exhaustive()
    }
}

impl Backups {
    /// Backups of the database at `database_url` as `config` says (directory, schedule,
    /// retention), without events or audit entries.
    pub fn new(database_url: impl Into<String>, config: BackupConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                database_url: database_url.into(),
                config,
                events: None,
                audit: None,
                gate: Gate::default(),
            }),
        }
    }

    /// This service, publishing progress on `events`.
    pub fn with_events(self, events: Arc<dyn EventBus>) -> Self {
        self.rebuild(|inner| inner.events = Some(events))
    }

    /// This service, recording every backup it takes in `audit`.
    pub fn with_audit(self, audit: AuditLog) -> Self {
        self.rebuild(|inner| inner.audit = Some(audit))
    }

    /// This service, asking `authorizer` whether a principal holds [`BACKUPS_ADMIN`] (without
    /// one, only the system may take or list backups).
    pub fn with_authorizer(self, authorizer: Arc<dyn Authorizer>) -> Self {
        self.rebuild(|inner| inner.gate = Gate::new(authorizer))
    }

    fn rebuild(self, change: impl FnOnce(&mut Inner)) -> Self {
        let mut inner = Arc::try_unwrap(self.inner).unwrap_or_else(|shared| Inner {
            database_url: shared.database_url.clone(),
            config: shared.config.clone(),
            events: shared.events.clone(),
            audit: shared.audit.clone(),
            gate: shared.gate.clone(),
        });
        change(&mut inner);
        Self {
            inner: Arc::new(inner),
        }
    }

    /// The configuration: directory, schedule and retention.
    pub fn config(&self) -> &BackupConfig {
        &self.inner.config
    }

    /// The backup directory.
    pub fn dir(&self) -> &Path {
        &self.inner.config.dir
    }

    /// The backups in the directory, newest first, for a `principal` holding
    /// [`BACKUPS_ADMIN`].
    pub async fn list(&self, principal: &Principal) -> Result<Vec<BackupInfo>> {
        self.allow(principal).await?;
        list(self.dir())
    }

    /// `Ok` when `principal` holds [`BACKUPS_ADMIN`], else [`Error::Refused`].
    async fn allow(&self, principal: &Principal) -> Result<()> {
        self.inner
            .gate
            .check(principal, BACKUPS_ADMIN)
            .await
            .map_err(Error::Refused)
    }

    /// Takes a backup of `kind` into the directory under a fresh name, as `principal`
    /// (who needs [`BACKUPS_ADMIN`]); `progress(copied, total)` follows it. [`Error::Busy`]
    /// while another backup runs.
    pub async fn create<F>(
        &self,
        principal: &Principal,
        kind: BackupKind,
        meta: &RequestMeta,
        progress: F,
    ) -> Result<BackupInfo>
    where
        F: FnMut(u64, u64) + Send,
    {
        self.allow(principal).await?;
        let _lock = RunLock::take(self.dir())?;
        let out = self.fresh_path(kind)?;
        self.create_locked(principal, kind, &out, meta, progress)
            .await
    }

    /// Takes a manual backup into `out` (which must not exist), anywhere, as `principal`
    /// (who needs [`BACKUPS_ADMIN`]).
    /// Into the backup directory it is one backup at a time as ever ([`Error::Busy`] while
    /// another runs); elsewhere it takes no lock, so no lock file lands beside `out`.
    pub async fn create_at<F>(
        &self,
        principal: &Principal,
        out: &Path,
        meta: &RequestMeta,
        progress: F,
    ) -> Result<BackupInfo>
    where
        F: FnMut(u64, u64) + Send,
    {
        self.allow(principal).await?;
        let parent = out
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let _lock = if same_dir(parent, self.dir()) {
            Some(RunLock::take(self.dir())?)
        } else {
            None
        };
        self.create_locked(principal, BackupKind::Manual, out, meta, progress)
            .await
    }

    /// Deletes all but the newest `keep` scheduled backups; see [`prune`].
    pub fn prune(&self) -> Result<Vec<BackupInfo>> {
        prune(self.dir(), self.keep())
    }

    /// The scheduled run: takes a scheduled backup as the system, then deletes scheduled
    /// backups beyond `keep` and the `.partial` files of interrupted backups (a crash or a
    /// kill mid-copy). A failed backup deletes nothing; a failed deletion is logged and
    /// retried on the next run.
    pub async fn run_scheduled(&self) -> Result<ScheduledRun> {
        let _lock = RunLock::take(self.dir())?;
        let out = self.fresh_path(BackupKind::Scheduled)?;
        let created = self
            .create_locked(
                &Principal::System,
                BackupKind::Scheduled,
                &out,
                &RequestMeta::default(),
                |_, _| {},
            )
            .await?;
        remove_stale_partials(self.dir());
        let pruned = match self.prune() {
            Ok(pruned) => pruned,
            Err(e) => {
                tracing::warn!(error = %e, "deleting old scheduled backups failed; retrying next run");
                Vec::new()
            }
        };
        for b in &pruned {
            tracing::info!(backup = %b.file_name, "deleted an old scheduled backup");
        }
        Ok(ScheduledRun { created, pruned })
    }

    /// When the next scheduled backup is due: one interval after the newest scheduled backup
    /// in the directory, so restarts keep the cadence, or one interval after `now` when there
    /// is none. `None` when scheduled backups are off.
    pub fn next_scheduled_at(&self, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>> {
        let hours = self.inner.config.interval_hours;
        if hours == 0 {
            return Ok(None);
        }
        let interval = chrono::Duration::hours(i64::from(hours));
        let newest = list(self.dir())?
            .into_iter()
            .find(|b| b.kind == BackupKind::Scheduled)
            .map(|b| b.manifest.created_at);
        Ok(Some(newest.map_or(now, |at| at.min(now)) + interval))
    }

    fn keep(&self) -> usize {
        usize::try_from(self.inner.config.keep).unwrap_or(usize::MAX)
    }

    /// A name for a new backup that no file in the directory has yet.
    fn fresh_path(&self, kind: BackupKind) -> Result<PathBuf> {
        let name = file_name(&self.inner.database_url, kind, Utc::now());
        let (stem, ext) = name.rsplit_once('.').unwrap_or((&name, ""));
        (0..1000)
            .map(|n| match n {
                0 => name.clone(),
                n => format!("{stem}-{n}.{ext}"),
            })
            .map(|candidate| self.dir().join(candidate))
            .find(|p| !p.exists() && !backup::manifest_path(p).exists())
            .ok_or_else(|| Error::Exists(self.dir().join(&name)))
    }

    async fn create_locked<F>(
        &self,
        principal: &Principal,
        kind: BackupKind,
        out: &Path,
        meta: &RequestMeta,
        mut progress: F,
    ) -> Result<BackupInfo>
    where
        F: FnMut(u64, u64) + Send,
    {
        let file_name = out
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        self.publish(
            "started",
            json!({"file_name": file_name, "kind": kind.as_str()}),
        );
        let mut last_event: Option<Instant> = None;
        let result = backup::create(&self.inner.database_url, out, |copied, total| {
            progress(copied, total);
            if last_event.is_none_or(|at| at.elapsed() >= PROGRESS_EVERY) {
                last_event = Some(Instant::now());
                self.publish(
                    "progress",
                    json!({
                        "file_name": file_name,
                        "kind": kind.as_str(),
                        "copied": copied,
                        "total": total,
                    }),
                );
            }
        })
        .await;
        let manifest = match result {
            Ok(manifest) => manifest,
            Err(e) => {
                tracing::error!(backup = %file_name, error = %e, "backup failed");
                self.publish(
                    "failed",
                    json!({"file_name": file_name, "kind": kind.as_str(), "code": e.code()}),
                );
                // The attempt is on record even when it failed; the cause is in the log.
                let _ = self
                    .audit(
                        principal,
                        meta,
                        &file_name,
                        Outcome::Failure,
                        json!({"kind": kind.as_str(), "error": e.code()}),
                    )
                    .await;
                return Err(e);
            }
        };
        let info = BackupInfo {
            file_name: file_name.clone(),
            path: out.to_path_buf(),
            kind,
            manifest,
        };
        let m = &info.manifest;
        tracing::info!(backup = %file_name, kind = kind.as_str(), size = m.size, "backup taken");
        self.publish(
            "completed",
            json!({
                "file_name": file_name,
                "kind": kind.as_str(),
                "size": m.size,
                "sha256": m.sha256,
                "schema_version": m.schema_version,
                "format": m.format,
                "created_at": m.created_at,
            }),
        );
        self.audit(
            principal,
            meta,
            &file_name,
            Outcome::Success,
            json!({
                "kind": kind.as_str(),
                "size": m.size,
                "sha256": m.sha256,
                "schema_version": m.schema_version,
                "format": m.format,
            }),
        )
        .await?;
        Ok(info)
    }

    fn publish(&self, kind: &str, payload: serde_json::Value) {
        if let Some(events) = &self.inner.events {
            events.publish(EVENT_SOURCE, kind, payload);
        }
    }

    async fn audit(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
        file_name: &str,
        outcome: Outcome,
        details: serde_json::Value,
    ) -> Result<()> {
        let Some(audit) = &self.inner.audit else {
            return Ok(());
        };
        audit
            .record(meta.audit_entry(
                principal.actor(),
                AUDIT_ACTION,
                Some(format!("backup:{file_name}")),
                outcome,
                details,
            ))
            .await
            .map(|_| ())
            .map_err(|e| {
                tracing::error!(backup = %file_name, error = %e, "cannot audit a backup");
                Error::Audit(e.to_string())
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheduled_backups_are_named_apart_from_manual_ones() {
        let now = "2026-11-26T03:00:00Z".parse().unwrap();
        let sqlite = "sqlite:///data/trae.db";
        let pg = "postgres://u@h/db";
        let manual = file_name(sqlite, BackupKind::Manual, now);
        let scheduled = file_name(sqlite, BackupKind::Scheduled, now);
        assert_eq!(manual, "trae-20261126T030000Z.db");
        assert_eq!(scheduled, "trae-scheduled-20261126T030000Z.db");
        assert_eq!(
            file_name(pg, BackupKind::Scheduled, now),
            "trae-scheduled-20261126T030000Z.dump"
        );
        assert_eq!(BackupKind::of_file_name(&manual), BackupKind::Manual);
        assert_eq!(BackupKind::of_file_name(&scheduled), BackupKind::Scheduled);
        assert_eq!(BackupKind::of_file_name("nightly.db"), BackupKind::Manual);
    }

    #[test]
    fn a_missing_directory_lists_nothing() {
        let dir = tempfile::tempdir().unwrap();
        assert!(list(&dir.path().join("none")).unwrap().is_empty());
        assert!(prune(&dir.path().join("none"), 1).unwrap().is_empty());
    }
}
