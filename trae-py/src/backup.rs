//! `trae.backup`: create, verify and restore backups of a trae database, through
//! `trae_storage`'s backup service (the same one `trae serve` and `trae backup` use).

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use pyo3::prelude::*;
use trae_core::{ConfigOverrides, RequestMeta};
use trae_storage::backup::{self, Error as BackupError};
use trae_storage::{BackupInfo, BackupKind};

use crate::aio::AsyncStore;
use crate::handle::{Handle, block_on};
use crate::sync::Store;

/// A backup file and its manifest. Read-only.
///
/// Attributes: `file_name`, `path` (the file's full path), `kind` (`"manual"` or
/// `"scheduled"`), `size` (bytes), `sha256` (lowercase hex), `created_at` (timezone-aware UTC
/// datetime), `schema_version` (the newest migration in it), `format` (`"sqlite"` or
/// `"pg_dump"`) and `trae_version` (the trae that took it).
#[pyclass(frozen, module = "trae.backup", name = "Backup")]
pub(crate) struct Backup(BackupInfo);

#[pymethods]
impl Backup {
    /// The file name, e.g. `trae-20261126T030000Z.db`.
    #[getter]
    fn file_name(&self) -> &str {
        &self.0.file_name
    }

    /// The file's path.
    #[getter]
    fn path(&self) -> PathBuf {
        self.0.path.clone()
    }

    /// `"manual"` or `"scheduled"` (scheduled ones are deleted by retention).
    #[getter]
    fn kind(&self) -> &'static str {
        self.0.kind.as_str()
    }

    /// The file's size in bytes.
    #[getter]
    fn size(&self) -> u64 {
        self.0.manifest.size
    }

    /// The file's SHA-256, lowercase hex.
    #[getter]
    fn sha256(&self) -> &str {
        &self.0.manifest.sha256
    }

    /// When it was taken (timezone-aware, UTC).
    #[getter]
    fn created_at(&self) -> DateTime<Utc> {
        self.0.manifest.created_at
    }

    /// The newest migration applied to the database it holds.
    #[getter]
    fn schema_version(&self) -> &str {
        &self.0.manifest.schema_version
    }

    /// `"sqlite"` (a database file) or `"pg_dump"` (a `pg_dump --format=custom` archive).
    #[getter]
    fn format(&self) -> &str {
        &self.0.manifest.format
    }

    /// The version of trae that took it.
    #[getter]
    fn trae_version(&self) -> &str {
        &self.0.manifest.trae_version
    }

    fn __repr__(&self) -> String {
        format!(
            "Backup(file_name={:?}, kind={:?}, size={}, created_at='{}')",
            self.0.file_name,
            self.0.kind.as_str(),
            self.0.manifest.size,
            self.0.manifest.created_at.to_rfc3339(),
        )
    }
}

/// What a restore did: the backup restored, the database file it replaced, and where the
/// previous file was kept (`None` when there was none). Read-only.
#[pyclass(frozen, module = "trae.backup", name = "RestoreReport")]
pub(crate) struct RestoreReport {
    backup: Py<Backup>,
    database: PathBuf,
    previous: Option<PathBuf>,
}

#[pymethods]
impl RestoreReport {
    /// The backup that was restored.
    #[getter]
    fn backup(&self, py: Python<'_>) -> Py<Backup> {
        self.backup.clone_ref(py)
    }

    /// The database file that now holds the backup.
    #[getter]
    fn database(&self) -> PathBuf {
        self.database.clone()
    }

    /// Where the previous database file was kept, if there was one.
    #[getter]
    fn previous(&self) -> Option<PathBuf> {
        self.previous.clone()
    }

    fn __repr__(&self) -> String {
        format!(
            "RestoreReport(database='{}', previous={})",
            self.database.display(),
            self.previous
                .as_ref()
                .map_or_else(|| "None".to_owned(), |p| format!("'{}'", p.display())),
        )
    }
}

/// The `trae.TraeError` subclass a backup error becomes: a backup that fails its checks is
/// a `ValidationError` on `path`, a database in use or a backup already running a
/// `Conflict`, a missing pg_dump `Unavailable`, an unusable URL `ConfigError`, the rest
/// `TraeError`.
fn core_error(err: BackupError) -> trae_core::Error {
    let message = err.to_string();
    match err {
        BackupError::Manifest { .. }
        | BackupError::Checksum(_)
        | BackupError::Integrity(_)
        | BackupError::NewerSchema(_) => trae_core::Error::validation("path", message),
        BackupError::InUse(_) | BackupError::Busy | BackupError::Exists(_) => {
            trae_core::Error::Conflict(message)
        }
        BackupError::PgDumpMissing => trae_core::Error::Unavailable(message),
        BackupError::Refused(refusal) => refusal,
        BackupError::Unsupported(_) => trae_core::Error::Config(message),
        _ => trae_core::Error::Storage(message),
    }
}

/// The info of a backup file from its manifest, wherever it is.
fn info_of(path: PathBuf, manifest: backup::Manifest) -> BackupInfo {
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    BackupInfo {
        kind: BackupKind::of_file_name(&file_name),
        file_name,
        path,
        manifest,
    }
}

/// Takes a backup of a trae database (a consistent online copy on SQLite, `pg_dump` on
/// PostgreSQL) with its manifest beside it, as the store's principal (the system, or the
/// user of `store.as_user(...)`, who needs `backups:admin`).
///
/// `target` is a database URL (opened and closed again like `trae.Store(url)`), a
/// `trae.Store` or a `trae.aio.Store`; `None` takes the configured `TRAE_DATABASE_URL`. Every
/// backup is recorded in that database's audit log as `backup.create`. `out` is where to write it (it must not exist); `None` writes a
/// new `trae-<timestamp>.db` (`.dump`) in `TRAE_BACKUP_DIR` (default `<data dir>/backups`).
/// The secrets master key is never in a backup: keep it separately.
///
/// Raises `Conflict` while another backup into the same directory runs or when `out`
/// exists, `Unavailable` when pg_dump is missing, `ConfigError` for a database that cannot be
/// backed up (in-memory).
#[pyfunction]
#[pyo3(name = "backup_create", signature = (target = None, out = None))]
pub(crate) fn create(
    py: Python<'_>,
    target: Option<&Bound<'_, PyAny>>,
    out: Option<PathBuf>,
) -> PyResult<Backup> {
    let given = match target {
        Some(t) => {
            if let Ok(store) = t.cast::<Store>() {
                Some(store.get().handle().clone())
            } else if let Ok(store) = t.cast::<AsyncStore>() {
                Some(store.get().handle().clone())
            } else {
                None
            }
        }
        None => None,
    };
    // A URL (or none: the configured database) is opened here like `trae.Store(url)` and
    // closed again, so every backup goes through the one `Backups` service of a store.
    let (handle, opened_here) = match given {
        Some(handle) => (handle, false),
        None => {
            let database_url = target
                .map(|t| {
                    t.extract::<String>().map_err(|_| {
                        crate::errors::to_py_err(
                            py,
                            trae_core::Error::validation(
                                "target",
                                "must be a database URL, a trae.Store or a trae.aio.Store",
                            ),
                        )
                    })
                })
                .transpose()?;
            let overrides = ConfigOverrides {
                database_url,
                ..ConfigOverrides::default()
            };
            (block_on(py, Handle::connect(overrides))?, true)
        }
    };
    let meta = RequestMeta::default();
    let taken = block_on(py, async {
        let backups = handle.backups()?;
        let principal = handle.principal();
        let taken = match &out {
            Some(out) => backups.create_at(principal, out, &meta, |_, _| {}).await,
            None => {
                backups
                    .create(principal, BackupKind::Manual, &meta, |_, _| {})
                    .await
            }
        };
        if opened_here {
            handle.close().await;
        }
        taken.map_err(core_error)
    })?;
    Ok(Backup(taken))
}

/// Checks a backup against its manifest (size and SHA-256) and, for SQLite backups, runs
/// SQLite's integrity check; returns the backup. Raises `ValidationError` (field `path`)
/// when it fails.
#[pyfunction]
#[pyo3(name = "backup_verify")]
pub(crate) fn verify(py: Python<'_>, path: PathBuf) -> PyResult<Backup> {
    let manifest = block_on(py, async {
        backup::verify(&path).await.map_err(core_error)
    })?;
    Ok(Backup(info_of(path, manifest)))
}

/// Replaces the SQLite database at `url` with a verified backup. The previous file is kept
/// beside it as `<db>.before-restore-<timestamp>`.
///
/// Refused with `Conflict` while any process uses the database (a `trae.Store` here or in
/// another process, `trae serve`, `trae worker`): close them first. A backup that fails
/// verification, or holds a schema newer than this trae, raises `ValidationError`;
/// PostgreSQL dumps are restored with `pg_restore` instead (`ConfigError`).
#[pyfunction]
#[pyo3(name = "backup_restore")]
pub(crate) fn restore(py: Python<'_>, path: PathBuf, url: String) -> PyResult<RestoreReport> {
    let report = block_on(py, async {
        backup::restore(&path, &url).await.map_err(core_error)
    })?;
    Ok(RestoreReport {
        backup: Py::new(py, Backup(info_of(path, report.manifest)))?,
        database: report.database,
        previous: report.previous,
    })
}

/// Adds the backup functions and classes to the native module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Backup>()?;
    m.add_class::<RestoreReport>()?;
    m.add_function(wrap_pyfunction!(create, m)?)?;
    m.add_function(wrap_pyfunction!(verify, m)?)?;
    m.add_function(wrap_pyfunction!(restore, m)?)?;
    Ok(())
}
