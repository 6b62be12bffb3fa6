//! Storage for trae on SQLite and PostgreSQL.
//!
//! [`Store::connect`] takes a `sqlite:` or `postgres://` URL, opens the right pools, applies
//! pending migrations (under a lock, so several nodes may start at once) and hands out the
//! services of `trae-core` wired to repositories on that database.
//!
//! On SQLite the file is created on first use and opened in WAL mode with a busy timeout,
//! foreign keys on and `synchronous=NORMAL`; writes go through one connection and reads through
//! a pool, so writers queue in-process instead of failing with "database is locked".

pub mod alert_repository;
pub mod api_key_repository;
pub mod api_repository;
pub mod audit_repository;
pub mod backup;
pub mod backup_catalog;
pub mod channel_repository;
pub mod component_checks;
pub mod contradiction_repository;
pub mod database_dir;
pub mod database_fault;
#[allow(unreachable_pub, missing_docs)]
mod entity;
pub mod error;
pub mod event_repository;
pub mod evidence_repository;
mod fetch;
pub mod health_repository;
pub mod interview_repository;
pub mod metric_repository;
pub mod migration;
pub mod persona_repository;
pub mod pet_repository;
mod pg_listener;
pub mod process_metrics;
pub mod quota_repository;
pub mod request_history_repository;
pub mod role_repository;
pub mod secret_repository;
pub mod session_repository;
pub mod shared_settings;
mod sql_pools;
pub mod store;
pub mod task_repository;
pub mod tdd_repository;
#[cfg(feature = "testing")]
pub mod testing;
pub mod user_repository;

pub use alert_repository::SqlAlertRepository;
pub use api_key_repository::SqlApiKeyRepository;
pub use api_repository::SqlApiRepository;
pub use audit_repository::SqlAuditRepository;
pub use backup_catalog::{BACKUPS_ADMIN, BackupInfo, BackupKind, Backups, ScheduledRun};
pub use channel_repository::SqlChannelRepository;
pub use component_checks::HealthMonitor;
pub use contradiction_repository::SqlContradictionRepository;
pub use error::{Error, Result};
pub use event_repository::SqlEventRepository;
pub use evidence_repository::SqlEvidenceRepository;
pub use health_repository::SqlHealthHistory;
pub use interview_repository::SqlInterviewRepository;
pub use metric_repository::SqlMetricRepository;
pub use migration::{MigrationState, MigrationStatus};
pub use persona_repository::SqlPersonaRepository;
pub use pet_repository::SqlPetRepository;
pub use process_metrics::ProcessMetrics;
pub use quota_repository::SqlQuotaRepository;
pub use request_history_repository::SqlRequestHistoryRepository;
pub use role_repository::SqlRoleRepository;
pub use secret_repository::SqlSecretRepository;
pub use session_repository::SqlSessionRepository;
pub use shared_settings::SqlSharedSettings;
pub use store::{Store, StoreOptions};
pub use task_repository::SqlTaskRepository;
pub use tdd_repository::SqlTddRepository;
pub use user_repository::SqlUserRepository;
