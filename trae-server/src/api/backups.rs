//! `/api/admin/backups`: take a backup of the database now, and list the backups in the
//! backup directory (both `backups:admin`).
//!
//! Backups are named by file name only; the backup directory's host path never leaves the
//! server.

use chrono::{DateTime, Utc};
use poem::http::StatusCode;
use poem::web::Data;
use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use trae_auth::RequestMeta;
use trae_core::PageRequest;
use trae_storage::backup::Error as BackupError;
use trae_storage::{BackupInfo, BackupKind, Backups};

use super::ApiTags;
use super::page::Page;
use crate::ApiError;
use crate::credentials::Auth;

/// The backups router.
#[derive(Debug, Clone)]
pub struct BackupsApi {
    backups: Backups,
}

impl BackupsApi {
    /// A router over `backups`, which decides who may take and list them.
    pub fn new(backups: Backups) -> Self {
        Self { backups }
    }
}

/// Why a backup was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename = "BackupKind", rename_all = "lowercase")]
pub enum KindBody {
    /// Taken on purpose; never deleted by retention.
    Manual,
    /// Taken by the schedule; only the newest `TRAE_BACKUP_KEEP` are kept.
    Scheduled,
}

impl From<BackupKind> for KindBody {
    fn from(kind: BackupKind) -> Self {
        match kind {
            BackupKind::Manual => Self::Manual,
            BackupKind::Scheduled => Self::Scheduled,
        }
    }
}

/// A backup in the backup directory: its file name and its manifest.
#[derive(Debug, Clone, Object)]
#[oai(rename = "Backup")]
pub struct BackupBody {
    /// The file name in the backup directory, e.g. `trae-20261126T030000Z.db`.
    pub file_name: String,
    /// Manual or scheduled.
    pub kind: KindBody,
    /// The version of trae that took it.
    pub trae_version: String,
    /// The latest migration applied to the database it holds.
    pub schema_version: String,
    /// When it was taken.
    pub created_at: DateTime<Utc>,
    /// Its size in bytes.
    pub size: u64,
    /// The lowercase hex SHA-256 of the file.
    pub sha256: String,
    /// `sqlite` (a database file) or `pg_dump` (a `pg_dump --format=custom` archive).
    pub format: String,
}

impl From<BackupInfo> for BackupBody {
    fn from(b: BackupInfo) -> Self {
        let m = b.manifest;
        Self {
            file_name: b.file_name,
            kind: b.kind.into(),
            trae_version: m.trae_version,
            schema_version: m.schema_version,
            created_at: m.created_at,
            size: m.size,
            sha256: m.sha256,
            format: m.format,
        }
    }
}

/// A backup that was just taken.
#[derive(Debug, ApiResponse)]
pub enum Created {
    /// Taken, verified against its manifest as written.
    #[oai(status = 201)]
    Created(Json<BackupBody>),
}

/// The HTTP answer to a backup error: 409 while another backup runs, 503 when this server
/// cannot take backups (no pg_dump, an in-memory database); anything else is a 500 whose
/// details (host paths among them) stay in the log.
fn error_of(err: BackupError) -> ApiError {
    match err {
        BackupError::Refused(refusal) => ApiError::from(refusal),
        BackupError::Busy => ApiError::new(StatusCode::CONFLICT, "conflict", err.to_string()),
        BackupError::PgDumpMissing => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            err.to_string(),
        ),
        BackupError::Unsupported(detail) => {
            tracing::warn!(error = %detail, "a backup was asked for but cannot be taken");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "this server's database cannot be backed up (e.g. an in-memory database); \
                 the server log says why",
            )
        }
        other => ApiError::from(trae_core::Error::Storage(format!("backup failed: {other}"))),
    }
}

#[OpenApi(tag = "ApiTags::Backups")]
impl BackupsApi {
    /// Takes a backup of the database now (backups:admin): a consistent online copy (SQLite)
    /// or a `pg_dump` archive (PostgreSQL) with its manifest, in the backup directory;
    /// audited as `backup.create`, with progress on the event stream (source `backups`).
    /// 409 while another backup runs; 503 when pg_dump is missing.
    #[oai(
        path = "/api/admin/backups",
        method = "post",
        operation_id = "create_backup"
    )]
    async fn create(&self, auth: Auth, meta: Data<&RequestMeta>) -> Result<Created, ApiError> {
        let principal = auth.principal().clone();
        let meta = meta.0.clone();
        let backups = self.backups.clone();
        // Its own task, so a client that hangs up does not cancel a backup halfway.
        let taken = tokio::spawn(async move {
            backups
                .create(&principal, BackupKind::Manual, &meta, |_, _| {})
                .await
        })
        .await
        .map_err(|e| ApiError::from(trae_core::Error::Storage(format!("backup task: {e}"))))?
        .map_err(error_of)?;
        Ok(Created::Created(Json(taken.into())))
    }

    /// Lists the backups in the backup directory, newest first (backups:admin); `kind`
    /// keeps manual or scheduled ones only.
    #[oai(
        path = "/api/admin/backups",
        method = "get",
        operation_id = "list_backups"
    )]
    async fn list(
        &self,
        auth: Auth,
        kind: Query<Option<KindBody>>,
        limit: Query<Option<i64>>,
        offset: Query<Option<i64>>,
    ) -> Result<Json<Page<BackupBody>>, ApiError> {
        let page = PageRequest::new(limit.0, offset.0)?;
        let all: Vec<BackupInfo> = self
            .backups
            .list(auth.principal())
            .await
            .map_err(error_of)?
            .into_iter()
            .filter(|b| kind.0.is_none_or(|k| KindBody::from(b.kind) == k))
            .collect();
        let total = all.len() as u64;
        let items = all
            .into_iter()
            .skip(usize::try_from(page.offset()).unwrap_or(usize::MAX))
            .take(page.limit() as usize)
            .map(Into::into)
            .collect();
        Ok(Json(Page {
            items,
            total,
            limit: page.limit(),
            offset: page.offset(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backup_errors_map_to_clear_statuses_without_host_paths() {
        let busy = error_of(BackupError::Busy);
        assert_eq!(
            (busy.status(), busy.code()),
            (StatusCode::CONFLICT, "conflict")
        );
        let missing = error_of(BackupError::PgDumpMissing);
        assert_eq!(missing.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            missing.to_string().contains("pg_dump is not installed"),
            "{missing}"
        );
        let memory = error_of(BackupError::Unsupported(
            "no database at /srv/secret/path/trae.db".into(),
        ));
        assert_eq!(memory.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(!memory.to_string().contains("/srv"), "{memory}");
        let io = error_of(BackupError::Io {
            context: "cannot create /srv/secret/backups".into(),
            source: std::io::Error::other("denied"),
        });
        assert_eq!(io.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!io.to_string().contains("/srv"), "{io}");
    }
}
