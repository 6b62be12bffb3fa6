//! Backups: consistent online copies of a SQLite database (`VACUUM INTO`) or a PostgreSQL
//! database (`pg_dump`), each with a manifest beside it; verification; and restore.
//!
//! A backup `<file>` comes with `<file>.manifest.json` holding
//! `{trae_version, schema_version, created_at, size, sha256, format}`. Backups hold the
//! database only: the secrets master key (`master.key` in the data directory, or
//! `TRAE_MASTER_KEY`) is never in one, so it must be kept safe separately.
//!
//! Restore refuses while a process uses the database. Every `trae serve` and `trae worker`
//! on a SQLite file holds a shared advisory lock (`flock`) on `<db>.lock` for its lifetime
//! ([`DatabaseLock::shared`]); restore takes the exclusive lock without waiting and stops if
//! any holder remains. The kernel releases the lock when a process exits, even on a crash,
//! so a stale lock file never blocks a restore.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm_migration::MigratorTrait;
use sha2::{Digest, Sha256};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{Connection, Row};
use trae_core::DatabaseBackend;

use crate::migration::Migrator;

/// A `Result` whose error is a backup [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong creating, verifying or restoring a backup.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The database URL cannot be backed up or restored (e.g. an in-memory database).
    #[error("{0}")]
    Unsupported(String),
    /// A file could not be read or written.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The database or the backup file could not be read as a database.
    #[error("database error: {0}")]
    Database(String),
    /// The manifest is missing or unreadable.
    #[error("bad manifest {path}: {message}")]
    Manifest {
        /// The manifest's path.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// The backup's size or checksum differs from its manifest.
    #[error("checksum mismatch: {0}")]
    Checksum(String),
    /// `PRAGMA integrity_check` did not say ok.
    #[error("integrity check failed: {0}")]
    Integrity(String),
    /// The backup's schema has migrations this binary does not know.
    #[error(
        "the backup's schema ({0}) is newer than this trae knows; restore it with a newer trae"
    )]
    NewerSchema(String),
    /// A running process (`trae serve`, `trae worker`) uses the database.
    #[error(
        "the database {0} is in use by a running trae serve or trae worker; stop them and retry"
    )]
    InUse(PathBuf),
    /// `pg_dump` failed.
    #[error("{0}")]
    PgDump(String),
    /// `pg_dump` is not installed (or not on `PATH`), so a PostgreSQL database cannot be
    /// backed up.
    #[error(
        "pg_dump is not installed (or not on PATH): install the PostgreSQL client tools \
         (e.g. apt-get install postgresql-client) to back up a PostgreSQL database"
    )]
    PgDumpMissing,
    /// The backup file to write already exists.
    #[error("{} already exists; choose another --out", .0.display())]
    Exists(PathBuf),
    /// Another backup of this database is being taken (by this or another process).
    #[error("a backup is already running; try again when it has finished")]
    Busy,
    /// The backup was taken but its audit entry could not be written.
    #[error("the backup was taken but its audit entry could not be written: {0}")]
    Audit(String),
    /// The caller may not do this (it lacks `backups:admin`), or is not signed in.
    #[error(transparent)]
    Refused(trae_core::Error),
}

impl Error {
    /// A stable machine-readable name of the error, without paths or other host details.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unsupported(_) => "unsupported",
            Self::Io { .. } => "io",
            Self::Database(_) => "database",
            Self::Manifest { .. } => "bad_manifest",
            Self::Checksum(_) => "checksum_mismatch",
            Self::Integrity(_) => "integrity_check_failed",
            Self::NewerSchema(_) => "newer_schema",
            Self::InUse(_) => "in_use",
            Self::PgDump(_) => "pg_dump_failed",
            Self::PgDumpMissing => "pg_dump_missing",
            Self::Exists(_) => "exists",
            Self::Busy => "busy",
            Self::Audit(_) => "audit",
            Self::Refused(refusal) => refusal.code(),
        }
    }
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let context = context.into();
    move |source| Error::Io { context, source }
}

fn db_err(err: impl std::fmt::Display) -> Error {
    Error::Database(err.to_string())
}

/// The manifest written beside a backup as `<file>.manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Manifest {
    /// The version of trae that wrote the backup.
    pub trae_version: String,
    /// The latest applied migration's name, e.g. `m20261126_000011_create_api_quota`.
    pub schema_version: String,
    /// When the backup was taken.
    pub created_at: DateTime<Utc>,
    /// The backup file's size in bytes.
    pub size: u64,
    /// The lowercase hex SHA-256 of the backup file.
    pub sha256: String,
    /// `sqlite` (a SQLite database file) or `pg_dump` (a `pg_dump --format=custom` archive).
    #[serde(default = "sqlite_format")]
    pub format: String,
}

fn sqlite_format() -> String {
    FORMAT_SQLITE.to_owned()
}

const FORMAT_SQLITE: &str = "sqlite";
const FORMAT_PG_DUMP: &str = "pg_dump";

/// What a restore did.
#[derive(Debug, Clone)]
pub struct RestoreReport {
    /// The restored backup's manifest.
    pub manifest: Manifest,
    /// The database file that was replaced.
    pub database: PathBuf,
    /// Where the previous database file was kept, if there was one.
    pub previous: Option<PathBuf>,
    /// Tasks that were running when the backup was taken, whose leases were released so the
    /// next worker runs them again at once instead of after their old lease.
    pub released_leases: u64,
}

/// The manifest path of a backup file: `<file>.manifest.json`.
pub fn manifest_path(backup: &Path) -> PathBuf {
    let mut name = backup.as_os_str().to_owned();
    name.push(".manifest.json");
    PathBuf::from(name)
}

/// Reads a backup's manifest.
pub fn read_manifest(backup: &Path) -> Result<Manifest> {
    let path = manifest_path(backup);
    let text = std::fs::read_to_string(&path).map_err(|e| Error::Manifest {
        path: path.clone(),
        message: e.to_string(),
    })?;
    serde_json::from_str(&text).map_err(|e| Error::Manifest {
        path,
        message: e.to_string(),
    })
}

/// A default backup file name for `now`: `trae-<YYYYmmddTHHMMSSZ>.db` (`.dump` on PostgreSQL).
pub fn default_file_name(database_url: &str, now: DateTime<Utc>) -> String {
    let ext = match DatabaseBackend::of_url(database_url) {
        Ok(DatabaseBackend::Postgres) => "dump",
        _ => "db",
    };
    format!("trae-{}.{ext}", now.format("%Y%m%dT%H%M%SZ"))
}

/// The SQLite file a URL names, or an error for in-memory databases and other backends.
pub fn sqlite_path(database_url: &str) -> Result<PathBuf> {
    match DatabaseBackend::of_url(database_url) {
        Ok(DatabaseBackend::Sqlite) => {}
        _ => {
            return Err(Error::Unsupported(format!(
                "not a SQLite URL: {}",
                redact(database_url)
            )));
        }
    }
    if database_url.contains(":memory:") || database_url.contains("mode=memory") {
        return Err(Error::Unsupported(
            "an in-memory database cannot be backed up or restored".into(),
        ));
    }
    let options = SqliteConnectOptions::from_str(database_url)
        .map_err(|e| Error::Unsupported(format!("invalid SQLite URL: {e}")))?;
    Ok(options.get_filename().to_path_buf())
}

fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// A shared advisory lock on `<db>.lock` marking a SQLite database as in use; released on
/// drop (or when the process exits).
#[derive(Debug)]
pub struct DatabaseLock {
    _file: File,
    path: PathBuf,
}

impl DatabaseLock {
    /// Takes the shared "in use" lock of the SQLite database at `database_url` for as long
    /// as the guard lives; `None` for PostgreSQL and in-memory databases. Fails while a
    /// restore holds the database.
    pub fn shared(database_url: &str) -> Result<Option<Self>> {
        let Ok(db) = sqlite_path(database_url) else {
            return Ok(None);
        };
        let path = with_suffix(&db, ".lock");
        let file = open_lock_file(&path)?;
        match file.try_lock_shared() {
            Ok(()) => Ok(Some(Self { _file: file, path })),
            Err(std::fs::TryLockError::WouldBlock) => Err(Error::Unsupported(format!(
                "a restore of {} is in progress; start again when it has finished",
                db.display()
            ))),
            Err(std::fs::TryLockError::Error(e)) => {
                Err(io(format!("cannot lock {}", path.display()))(e))
            }
        }
    }

    /// The lock file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn open_lock_file(path: &Path) -> Result<File> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        // The database's own directory: made only inside an existing one (see database_dir).
        crate::database_dir::prepare(parent).map_err(|e| Error::Unsupported(e.to_string()))?;
    }
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)
        .map_err(io(format!("cannot open {}", path.display())))
}

/// Takes a consistent online backup of the database at `database_url` into `out` (which
/// must not exist) and writes its manifest beside it. `progress(copied, total)` is called as
/// the output grows; the last call has `copied == total`.
///
/// SQLite: `VACUUM INTO` on its own connection, a snapshot that other processes may keep
/// writing during. PostgreSQL: `pg_dump --format=custom` (credentials passed through the
/// environment, never on the command line).
pub async fn create<F>(database_url: &str, out: &Path, progress: F) -> Result<Manifest>
where
    F: FnMut(u64, u64),
{
    if out.exists() {
        return Err(Error::Exists(out.to_path_buf()));
    }
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(io(format!("cannot create {}", parent.display())))?;
    }
    let partial = with_suffix(out, ".partial");
    let _ = std::fs::remove_file(&partial);
    // Removes the partial file on every early return, and when the caller drops this future
    // (a shutdown cancelling a scheduled backup), so no half-written file stays behind.
    let guard = PartialFile(partial.clone());
    let (schema_version, format) = match DatabaseBackend::of_url(database_url) {
        Ok(DatabaseBackend::Postgres) => create_postgres(database_url, &partial, progress).await?,
        _ => create_sqlite(database_url, &partial, progress).await?,
    };
    let (size, sha256) = checksum(&partial).await?;
    let finish = || -> Result<Manifest> {
        std::fs::rename(&partial, out)
            .map_err(io(format!("cannot move the backup to {}", out.display())))?;
        let manifest = Manifest {
            trae_version: env!("CARGO_PKG_VERSION").to_owned(),
            schema_version,
            created_at: Utc::now(),
            size,
            sha256,
            format: format.to_owned(),
        };
        let text = serde_json::to_string_pretty(&manifest).map_err(|e| Error::Manifest {
            path: manifest_path(out),
            message: e.to_string(),
        })?;
        std::fs::write(manifest_path(out), text + "\n")
            .map_err(io(format!("cannot write {}", manifest_path(out).display())))?;
        Ok(manifest)
    };
    let manifest = finish().inspect_err(|_| {
        let _ = std::fs::remove_file(out);
    })?;
    drop(guard);
    Ok(manifest)
}

/// A backup's `.partial` file, removed when dropped (it is gone already once renamed).
struct PartialFile(PathBuf);

impl Drop for PartialFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A running `pg_dump`, killed when dropped before it finished (a cancelled backup).
struct DumpProcess(std::process::Child);

impl Drop for DumpProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

async fn create_sqlite<F>(
    database_url: &str,
    partial: &Path,
    mut progress: F,
) -> Result<(String, &'static str)>
where
    F: FnMut(u64, u64),
{
    let db = sqlite_path(database_url)?;
    if !db.exists() {
        return Err(Error::Unsupported(format!(
            "no database at {}",
            db.display()
        )));
    }
    let options = SqliteConnectOptions::new()
        .filename(&db)
        .create_if_missing(false)
        .busy_timeout(Duration::from_secs(30));
    let mut conn = SqliteConnection::connect_with(&options)
        .await
        .map_err(db_err)?;
    let pages: i64 = sqlx::query_scalar("PRAGMA page_count")
        .fetch_one(&mut conn)
        .await
        .map_err(db_err)?;
    let page_size: i64 = sqlx::query_scalar("PRAGMA page_size")
        .fetch_one(&mut conn)
        .await
        .map_err(db_err)?;
    let total = u64::try_from(pages.saturating_mul(page_size)).unwrap_or(0);
    progress(0, total);
    let target = partial.to_string_lossy().into_owned();
    let outcome = {
        let vacuum = sqlx::query("VACUUM INTO ?").bind(target).execute(&mut conn);
        tokio::pin!(vacuum);
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            tokio::select! {
                r = &mut vacuum => break r,
                _ = tick.tick() => progress(file_len(partial).min(total), total),
            }
        }
    };
    let _ = conn.close().await;
    outcome.map_err(|e| Error::Database(format!("VACUUM INTO failed: {e}")))?;
    let schema = sqlite_schema(partial).await?;
    let schema = schema.last().cloned().unwrap_or_default();
    let size = file_len(partial);
    progress(size, size);
    Ok((schema, FORMAT_SQLITE))
}

/// Opens a backup file read-only without touching it (no -wal or -shm is created).
async fn open_backup(path: &Path) -> Result<SqliteConnection> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .immutable(true)
        .create_if_missing(false);
    SqliteConnection::connect_with(&options)
        .await
        .map_err(db_err)
}

/// The applied migrations of a SQLite file, oldest first.
async fn sqlite_schema(path: &Path) -> Result<Vec<String>> {
    let mut conn = open_backup(path).await?;
    let rows = sqlx::query("SELECT version FROM seaql_migrations ORDER BY version")
        .fetch_all(&mut conn)
        .await
        .map_err(|e| Error::Database(format!("cannot read the schema version: {e}")));
    let _ = conn.close().await;
    rows?
        .iter()
        .map(|r| r.try_get::<String, _>(0).map_err(db_err))
        .collect()
}

/// The size and SHA-256 of the file at `path`, read on a blocking thread: a large backup
/// takes seconds to hash, and the server's other requests keep being served meanwhile.
async fn checksum(path: &Path) -> Result<(u64, String)> {
    let owned = path.to_path_buf();
    tokio::task::spawn_blocking(move || checksum_blocking(&owned))
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))
        .map_err(io(format!("cannot hash {}", path.display())))?
}

fn checksum_blocking(path: &Path) -> Result<(u64, String)> {
    let mut file = File::open(path).map_err(io(format!("cannot open {}", path.display())))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = file
            .read(&mut buf)
            .map_err(io(format!("cannot read {}", path.display())))?;
        if n == 0 {
            break;
        }
        size += n as u64;
        hasher.update(&buf[..n]);
    }
    let hex = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok((size, hex))
}

/// Checks a backup: its size and SHA-256 match the manifest and, for SQLite backups,
/// `PRAGMA integrity_check` says ok. Returns the manifest.
pub async fn verify(backup: &Path) -> Result<Manifest> {
    let manifest = read_manifest(backup)?;
    let (size, sha256) = checksum(backup).await?;
    if size != manifest.size || sha256 != manifest.sha256 {
        return Err(Error::Checksum(format!(
            "{} has {size} bytes with sha256 {sha256}; the manifest says {} bytes with sha256 {}",
            backup.display(),
            manifest.size,
            manifest.sha256
        )));
    }
    if manifest.format == FORMAT_SQLITE {
        let mut conn = open_backup(backup).await?;
        let rows: std::result::Result<Vec<String>, _> =
            sqlx::query_scalar("PRAGMA integrity_check")
                .fetch_all(&mut conn)
                .await;
        let _ = conn.close().await;
        let rows = rows.map_err(|e| Error::Integrity(e.to_string()))?;
        if rows != ["ok"] {
            return Err(Error::Integrity(rows.join("; ")));
        }
    }
    Ok(manifest)
}

/// The names of the migrations this binary knows, oldest first.
fn known_migrations() -> Vec<String> {
    Migrator::migrations()
        .iter()
        .map(|m| m.name().to_owned())
        .collect()
}

/// Replaces the SQLite database at `database_url` with `backup`, after [`verify`] passes and
/// the backup's schema is one this binary knows. Refuses while a process holds the
/// database's [`DatabaseLock`]. The previous file is kept as
/// `<db>.before-restore-<timestamp>` (with its `-wal` beside it, if any); stale `-wal` and
/// `-shm` files are removed.
pub async fn restore(backup: &Path, database_url: &str) -> Result<RestoreReport> {
    if let Ok(DatabaseBackend::Postgres) = DatabaseBackend::of_url(database_url) {
        return Err(Error::Unsupported(
            "trae backup restore handles SQLite; restore a PostgreSQL dump with pg_restore \
             (see docs/operations.md, \"Backups\")"
                .into(),
        ));
    }
    let db = sqlite_path(database_url)?;
    let manifest = verify(backup).await?;
    if manifest.format != FORMAT_SQLITE {
        return Err(Error::Unsupported(format!(
            "{} is a {} backup, not a SQLite database",
            backup.display(),
            manifest.format
        )));
    }
    let known = known_migrations();
    if !known.contains(&manifest.schema_version) {
        return Err(Error::NewerSchema(manifest.schema_version));
    }
    if let Some(unknown) = sqlite_schema(backup)
        .await?
        .into_iter()
        .find(|m| !known.contains(m))
    {
        return Err(Error::NewerSchema(unknown));
    }

    let lock_path = with_suffix(&db, ".lock");
    let lock = open_lock_file(&lock_path)?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => return Err(Error::InUse(db)),
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(io(format!("cannot lock {}", lock_path.display()))(e));
        }
    }

    let incoming = with_suffix(&db, ".restore-partial");
    let copy = || -> Result<()> {
        std::fs::copy(backup, &incoming).map_err(io(format!(
            "cannot copy {} to {}",
            backup.display(),
            incoming.display()
        )))?;
        File::open(&incoming)
            .and_then(|f| f.sync_all())
            .map_err(io(format!("cannot sync {}", incoming.display())))
    };
    if let Err(e) = copy() {
        let _ = std::fs::remove_file(&incoming);
        return Err(e);
    }
    let released_leases = match prepare_restored(&incoming).await {
        Ok(n) => n,
        Err(e) => {
            let _ = std::fs::remove_file(&incoming);
            return Err(e);
        }
    };

    let wal = with_suffix(&db, "-wal");
    let shm = with_suffix(&db, "-shm");
    let mut previous = None;
    if db.exists() {
        let kept = with_suffix(
            &db,
            &format!(
                ".before-restore-{}",
                Utc::now().format("%Y%m%dT%H%M%S%.3fZ")
            ),
        );
        std::fs::rename(&db, &kept).map_err(io(format!("cannot move {}", db.display())))?;
        if wal.exists() {
            // The old database's last commits may live in its WAL: keep it with the file.
            std::fs::rename(&wal, with_suffix(&kept, "-wal"))
                .map_err(io(format!("cannot move {}", wal.display())))?;
        }
        previous = Some(kept);
    }
    for stale in [&wal, &shm] {
        match std::fs::remove_file(stale) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(format!("cannot remove {}", stale.display()))(e)),
        }
    }
    std::fs::rename(&incoming, &db).map_err(io(format!(
        "cannot move the restored database to {}",
        db.display()
    )))?;
    drop(lock);
    Ok(RestoreReport {
        manifest,
        database: db,
        previous,
        released_leases,
    })
}

/// Readies a restored file before it replaces the database: expires the leases of the tasks
/// it holds as running (the workers that held them are gone, or hold them in the database
/// being replaced, so the first worker to look rescues them at once) and gives its event log
/// a new epoch (the `seq`s clients hold name events of the database being replaced). Returns
/// the leases released.
async fn prepare_restored(file: &Path) -> Result<u64> {
    let options = SqliteConnectOptions::new()
        .filename(file)
        .busy_timeout(Duration::from_secs(30));
    let mut conn = SqliteConnection::connect_with(&options)
        .await
        .map_err(db_err)?;
    let released = sqlx::query(
        "UPDATE tasks SET lease_expires_at = ? WHERE state = 'running' \
         AND lease_expires_at IS NOT NULL",
    )
    .bind(chrono::DateTime::<Utc>::UNIX_EPOCH)
    .execute(&mut conn)
    .await
    .map_err(db_err)?
    .rows_affected();
    // A backup from before the event log has no `event_stream`: its migration makes one,
    // with a new epoch, when the restored database is next opened.
    let has_log: Option<i64> = sqlx::query_scalar(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'event_stream'",
    )
    .fetch_optional(&mut conn)
    .await
    .map_err(db_err)?;
    if has_log.is_some() {
        sqlx::query("UPDATE event_stream SET epoch = ?")
            .bind(uuid::Uuid::new_v4().simple().to_string())
            .execute(&mut conn)
            .await
            .map_err(db_err)?;
    }
    conn.close().await.map_err(db_err)?;
    Ok(released)
}

/// Whether `program` is an executable file on `PATH`.
fn on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

async fn create_postgres<F>(
    database_url: &str,
    partial: &Path,
    mut progress: F,
) -> Result<(String, &'static str)>
where
    F: FnMut(u64, u64),
{
    let Some(pg_dump) = on_path("pg_dump") else {
        return Err(Error::PgDumpMissing);
    };
    let url = url::Url::parse(database_url)
        .map_err(|e| Error::Unsupported(format!("invalid PostgreSQL URL: {e}")))?;
    let mut conn = sqlx::PgConnection::connect(database_url)
        .await
        .map_err(db_err)?;
    let total: i64 = sqlx::query_scalar("SELECT pg_database_size(current_database())")
        .fetch_one(&mut conn)
        .await
        .map_err(db_err)?;
    let schema: Option<String> = sqlx::query_scalar("SELECT max(version) FROM seaql_migrations")
        .fetch_one(&mut conn)
        .await
        .map_err(|e| Error::Database(format!("cannot read the schema version: {e}")))?;
    let _ = conn.close().await;
    let total = u64::try_from(total).unwrap_or(0);
    progress(0, total);

    let decode = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    let mut command = std::process::Command::new(pg_dump);
    command
        .arg("--format=custom")
        .arg("--no-password")
        .arg("--file")
        .arg(partial)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    if let Some(host) = url.host_str() {
        command.env("PGHOST", host.trim_start_matches('[').trim_end_matches(']'));
    }
    if let Some(port) = url.port() {
        command.env("PGPORT", port.to_string());
    }
    if !url.username().is_empty() {
        command.env("PGUSER", decode(url.username()));
    }
    if let Some(password) = url.password() {
        command.env("PGPASSWORD", decode(password));
    }
    let dbname = decode(url.path().trim_start_matches('/'));
    if !dbname.is_empty() {
        command.env("PGDATABASE", dbname);
    }
    for (key, value) in url.query_pairs() {
        let var = match key.as_ref() {
            "sslmode" => "PGSSLMODE",
            "sslrootcert" => "PGSSLROOTCERT",
            "sslcert" => "PGSSLCERT",
            "sslkey" => "PGSSLKEY",
            "application_name" => "PGAPPNAME",
            "options" => "PGOPTIONS",
            _ => continue,
        };
        command.env(var, value.as_ref());
    }
    let mut child = DumpProcess(
        command
            .spawn()
            .map_err(|e| Error::PgDump(format!("cannot run pg_dump: {e}")))?,
    );
    let status = loop {
        match child.0.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {
                progress(file_len(partial).min(total), total);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => return Err(Error::PgDump(format!("cannot wait for pg_dump: {e}"))),
        }
    };
    if !status.success() {
        let mut stderr = String::new();
        if let Some(mut pipe) = child.0.stderr.take() {
            let _ = pipe.read_to_string(&mut stderr);
        }
        return Err(Error::PgDump(format!(
            "pg_dump failed ({status}): {}",
            stderr.trim()
        )));
    }
    let size = file_len(partial);
    progress(size, size);
    Ok((schema.unwrap_or_default(), FORMAT_PG_DUMP))
}
