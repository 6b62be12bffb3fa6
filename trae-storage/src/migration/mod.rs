//! Schema migrations, applied in order under a lock so that several nodes can start at once.
//!
//! Each migration is one file named `mYYYYMMDD_NNNNNN_name.rs` holding the SQL for SQLite and
//! for PostgreSQL. On SQLite the whole run happens inside one `BEGIN IMMEDIATE` transaction on
//! the single writer connection (other processes wait on the busy timeout); on PostgreSQL it
//! runs on one dedicated connection holding a session advisory lock.

mod m20261125_000001_create_pets;
mod m20261125_000002_create_audit_log;
mod m20261125_000003_create_identity;
mod m20261125_000004_create_sessions;
mod m20261125_000005_create_shared_settings;
mod m20261125_000006_create_api_keys;
mod m20261126_000007_create_tasks;
mod m20261126_000008_create_secrets;
mod m20261126_000009_create_request_history;
mod m20261126_000010_create_api_registry;
mod m20261126_000011_create_api_quota;
mod m20261126_000012_create_monitoring;
mod m20261126_000013_create_content;
mod m20261206_000014_api_secret_bindings;
mod m20261206_000015_task_owners;
mod m20261206_000016_session_expiry;
mod m20261206_000017_login_failures_by_address;
mod m20261206_000018_task_counts;
mod m20261207_000019_task_count_join;
mod m20261207_000020_create_events;
mod m20261207_000021_llm_usage;
mod m20261208_000022_create_tdd_runs;
mod m20261209_000023_create_solo_interviews;

use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection};
use sea_orm_migration::{MigrationTrait, MigratorTrait};

use crate::{Error, Result};

pub use sea_orm_migration::MigrationStatus;

/// The ordered list of trae's migrations.
#[derive(Debug)]
pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261125_000001_create_pets::Migration),
            Box::new(m20261125_000002_create_audit_log::Migration),
            Box::new(m20261125_000003_create_identity::Migration),
            Box::new(m20261125_000004_create_sessions::Migration),
            Box::new(m20261125_000005_create_shared_settings::Migration),
            Box::new(m20261125_000006_create_api_keys::Migration),
            Box::new(m20261126_000007_create_tasks::Migration),
            Box::new(m20261126_000008_create_secrets::Migration),
            Box::new(m20261126_000009_create_request_history::Migration),
            Box::new(m20261126_000010_create_api_registry::Migration),
            Box::new(m20261126_000011_create_api_quota::Migration),
            Box::new(m20261126_000012_create_monitoring::Migration),
            Box::new(m20261126_000013_create_content::Migration),
            Box::new(m20261206_000014_api_secret_bindings::Migration),
            Box::new(m20261206_000015_task_owners::Migration),
            Box::new(m20261206_000016_session_expiry::Migration),
            Box::new(m20261206_000017_login_failures_by_address::Migration),
            Box::new(m20261206_000018_task_counts::Migration),
            Box::new(m20261207_000019_task_count_join::Migration),
            Box::new(m20261207_000020_create_events::Migration),
            Box::new(m20261207_000021_llm_usage::Migration),
            Box::new(m20261208_000022_create_tdd_runs::Migration),
            Box::new(m20261209_000023_create_solo_interviews::Migration),
        ]
    }
}

/// One migration and whether it has been applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationState {
    /// The migration's name, e.g. `m20261125_000001_create_pets`.
    pub name: String,
    /// Whether it is applied.
    pub applied: bool,
}

/// Runs the SQL written for the connection's backend.
pub(crate) async fn execute_for_backend(
    manager: &sea_orm_migration::SchemaManager<'_>,
    sqlite: &str,
    postgres: &str,
) -> std::result::Result<(), sea_orm::DbErr> {
    let db = manager.get_connection();
    let sql = match db.get_database_backend() {
        DatabaseBackend::Postgres => postgres,
        _ => sqlite,
    };
    db.execute_unprepared(sql).await.map(|_| ())
}

/// The advisory lock key trae's migrations take on PostgreSQL ("trae-mig" as bytes).
const PG_MIGRATION_LOCK: i64 = 0x7472_6165_2d6d_6967;

/// Which direction to move the schema.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Direction {
    Up(Option<u32>),
    Down(u32),
}

/// Runs migrations on `conn`, which must be a pool of exactly one connection so the lock and
/// the statements share a session.
pub(crate) async fn run_locked(
    conn: &DatabaseConnection,
    direction: Direction,
    mut applied: impl FnMut(AppliedMigration) + Send,
) -> Result<()> {
    let backend = conn.get_database_backend();
    let (lock, unlock_ok, unlock_err) = match backend {
        DatabaseBackend::Postgres => (
            format!("SELECT pg_advisory_lock({PG_MIGRATION_LOCK})"),
            format!("SELECT pg_advisory_unlock({PG_MIGRATION_LOCK})"),
            format!("SELECT pg_advisory_unlock({PG_MIGRATION_LOCK})"),
        ),
        _ => (
            "BEGIN IMMEDIATE".to_owned(),
            "COMMIT".to_owned(),
            "ROLLBACK".to_owned(),
        ),
    };
    conn.execute_unprepared(&lock)
        .await
        .map_err(|e| Error::Migration(format!("cannot take the migration lock: {e}")))?;
    let outcome = match direction {
        Direction::Up(steps) => up_one_by_one(conn, steps, &mut applied).await,
        Direction::Down(steps) => Migrator::down(conn, Some(steps)).await,
    };
    let release = if outcome.is_ok() {
        unlock_ok
    } else {
        unlock_err
    };
    let released = conn.execute_unprepared(&release).await;
    outcome.map_err(|e| Error::Migration(e.to_string()))?;
    released.map_err(|e| Error::Migration(format!("cannot release the migration lock: {e}")))?;
    Ok(())
}

/// A migration applied, as progress: the `done`th of `total` pending ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedMigration {
    /// The migration's name.
    pub name: String,
    /// How many of this run's migrations are applied, this one included.
    pub done: u32,
    /// How many this run applies.
    pub total: u32,
    /// How long this one took.
    pub millis: u64,
}

/// Applies the pending migrations (at most `steps`) one at a time, reporting each.
async fn up_one_by_one(
    conn: &DatabaseConnection,
    steps: Option<u32>,
    applied: &mut (impl FnMut(AppliedMigration) + Send),
) -> std::result::Result<(), sea_orm::DbErr> {
    let pending = Migrator::get_pending_migrations(conn).await?;
    let total = steps.map_or(pending.len(), |s| pending.len().min(s as usize));
    let total = u32::try_from(total).unwrap_or(u32::MAX);
    for (done, migration) in (1..=total).zip(pending) {
        let started = std::time::Instant::now();
        Migrator::up(conn, Some(1)).await?;
        applied(AppliedMigration {
            name: migration.name().to_owned(),
            done,
            total,
            millis: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        });
    }
    Ok(())
}

/// Every known migration and whether it is applied.
pub(crate) async fn status(conn: &DatabaseConnection) -> Result<Vec<MigrationState>> {
    let migrations = Migrator::get_migration_with_status_read_only(conn)
        .await
        .map_err(|e| Error::Migration(e.to_string()))?;
    Ok(migrations
        .into_iter()
        .map(|m| MigrationState {
            name: m.name().to_owned(),
            applied: m.status() == MigrationStatus::Applied,
        })
        .collect())
}
