//! Opening a database: pools, pragmas, migrations, and the services wired to it.

use std::str::FromStr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseConnection, SqlxPostgresConnector, SqlxSqliteConnector};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions, SqliteSynchronous};
use trae_core::{
    AuditLog, BroadcastBus, Clock, DatabaseBackend, EventBus, EventStream, EventStreamOptions,
    Pets, SessionRepository, StoredEventBus, SystemClock, UserRepository,
};

use crate::migration::{self, Direction, MigrationState};
use crate::{
    Error, Result, SqlApiKeyRepository, SqlAuditRepository, SqlPetRepository, SqlRoleRepository,
    SqlSecretRepository, SqlSessionRepository, SqlSharedSettings, SqlTaskRepository,
    SqlUserRepository,
};

/// The source (and topic) migration progress is published under.
pub const MIGRATION_EVENTS: &str = "system";

/// How to open a [`Store`].
#[derive(Clone)]
pub struct StoreOptions {
    /// Apply pending migrations on open (default true).
    pub migrate: bool,
    /// Connections in the read pool (SQLite) or the whole pool (PostgreSQL).
    pub max_connections: u32,
    /// How long a SQLite writer waits for a lock held by another process.
    pub busy_timeout: Duration,
    /// How long to wait for a pooled connection before failing.
    pub acquire_timeout: Duration,
    /// How long a SQLite file's `quick_check` may take on open before it is cut short (the
    /// file is then used unchecked, with a warning); `None` skips the check.
    pub integrity_check: Option<Duration>,
    /// The clock services stamp times with.
    pub clock: Arc<dyn Clock>,
    /// The in-process bus services publish events on; the store also keeps each event in
    /// its event log.
    pub events: Arc<dyn EventBus>,
    /// How the event log is written, kept and followed.
    pub event_stream: EventStreamOptions,
    /// Whether published events are kept in the event log (default true); off, they stay
    /// in-process and [`Store::event_stream`] is `None`.
    pub event_log: bool,
    /// Whether concurrent enqueues on SQLite share a transaction (default true; see
    /// [`SqlTaskRepository::with_grouped_enqueues`]).
    pub group_enqueues: bool,
}

impl std::fmt::Debug for StoreOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreOptions")
            .field("migrate", &self.migrate)
            .field("max_connections", &self.max_connections)
            .field("busy_timeout", &self.busy_timeout)
            .field("acquire_timeout", &self.acquire_timeout)
            .field("integrity_check", &self.integrity_check)
            .field("group_enqueues", &self.group_enqueues)
            .field("event_stream", &self.event_stream)
            .field("event_log", &self.event_log)
            .finish_non_exhaustive()
    }
}

impl Default for StoreOptions {
    fn default() -> Self {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get() as u32);
        Self {
            migrate: true,
            max_connections: (cores * 2).clamp(4, 16),
            busy_timeout: Duration::from_secs(5),
            acquire_timeout: Duration::from_secs(5),
            integrity_check: Some(Duration::from_secs(10)),
            events: Arc::new(BroadcastBus::new(Arc::clone(&clock), 1024)),
            event_stream: EventStreamOptions::default(),
            event_log: true,
            clock,
            group_enqueues: true,
        }
    }
}

/// An open database with trae's schema, handing out services that use it. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    backend: DatabaseBackend,
    /// All writes: the single SQLite writer, or the PostgreSQL pool.
    writer: DatabaseConnection,
    /// All reads: the SQLite read pool, or the same PostgreSQL pool.
    reader: DatabaseConnection,
    url: String,
    options: StoreOptions,
    /// What services publish on: the in-process bus, and the event log once it is there.
    bus: Arc<StoredEventBus>,
    /// The task repository, made on first use and shared so its wake-ups reach every caller.
    tasks: OnceLock<Arc<SqlTaskRepository>>,
    /// Why writes are refused, once the file was found damaged while running.
    refused: OnceLock<String>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.inner.backend)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens the database at `url` with default options, applying pending migrations.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(url, StoreOptions::default()).await
    }

    /// Opens the database at `url` with `options`.
    pub async fn connect_with(url: &str, options: StoreOptions) -> Result<Self> {
        let backend = DatabaseBackend::of_url(url).map_err(|e| match e {
            trae_core::Error::Config(message) => Error::InvalidUrl(message),
            other => Error::InvalidUrl(other.to_string()),
        })?;
        let (writer, reader) = match backend {
            DatabaseBackend::Sqlite => open_sqlite(url, &options).await?,
            DatabaseBackend::Postgres => {
                let pool = open_postgres(url, &options, options.max_connections).await?;
                (pool.clone(), pool)
            }
        };
        let bus = Arc::new(StoredEventBus::new(Arc::clone(&options.events)));
        let store = Self {
            inner: Arc::new(Inner {
                backend,
                writer,
                reader,
                url: url.to_owned(),
                bus,
                options,
                tasks: OnceLock::new(),
                refused: OnceLock::new(),
            }),
        };
        let applied = if store.inner.options.migrate {
            store.run_migrations(Direction::Up(None)).await?
        } else {
            Vec::new()
        };
        // After migrating: on SQLite the migration's transaction is open on the one writer
        // connection between its statements, and the log's writer must not write in it.
        if store.inner.options.event_log {
            store.attach_event_stream().await;
        }
        store.announce_migrations(&applied);
        Ok(store)
    }

    /// Starts keeping published events in the event log, when the schema has one (a store
    /// opened without migrations on an old database publishes in-process only).
    async fn attach_event_stream(&self) {
        let repo = self.event_repository();
        if let Err(e) = repo.position().await {
            tracing::debug!(error = %e, "no event log: events stay in-process");
            return;
        }
        match EventStream::start(repo, self.clock(), self.inner.options.event_stream).await {
            Ok(stream) => {
                self.inner.bus.attach(stream);
            }
            Err(e) => tracing::warn!(error = %e, "cannot start the event stream"),
        }
    }

    /// The database engine behind this store.
    pub fn backend(&self) -> DatabaseBackend {
        self.inner.backend
    }

    /// The clock services of this store use.
    pub fn clock(&self) -> Arc<dyn Clock> {
        Arc::clone(&self.inner.options.clock)
    }

    /// The event bus services of this store publish on: in-process, and into the event log.
    pub fn events(&self) -> Arc<dyn EventBus> {
        Arc::clone(&self.inner.bus) as Arc<dyn EventBus>
    }

    /// The event stream over this database's event log (`None` when the schema has none).
    /// Only the system principal may read it until `with_authorizer` names a role authority.
    pub fn event_stream(&self) -> Option<EventStream> {
        self.inner.bus.stream().cloned()
    }

    /// The pets service on this database.
    pub fn pets(&self) -> Pets {
        Pets::new(
            Arc::new(SqlPetRepository::new(
                self.inner.writer.clone(),
                self.inner.reader.clone(),
            )),
            self.clock(),
            self.events(),
        )
    }

    /// The audit log on this database, publishing each entry on the event stream.
    pub fn audit(&self) -> AuditLog {
        AuditLog::new(
            Arc::new(SqlAuditRepository::new(
                self.inner.writer.clone(),
                self.inner.reader.clone(),
            )),
            self.clock(),
        )
        .with_events(self.events())
    }

    /// The user repository on this database, for the identity service of trae-auth.
    pub fn user_repository(&self) -> Arc<dyn UserRepository> {
        Arc::new(SqlUserRepository::new(
            self.inner.writer.clone(),
            self.inner.reader.clone(),
        ))
    }

    /// The session repository on this database, for the identity service of trae-auth.
    pub fn session_repository(&self) -> Arc<dyn SessionRepository> {
        Arc::new(SqlSessionRepository::new(
            self.inner.writer.clone(),
            self.inner.reader.clone(),
        ))
    }

    /// The role repository on this database, for authorization decisions in trae-auth.
    pub fn role_repository(&self) -> Arc<dyn trae_core::identity::permission::RoleRepository> {
        Arc::new(SqlRoleRepository::new(
            self.inner.writer.clone(),
            self.inner.reader.clone(),
        ))
    }

    /// Settings every node sharing this database agrees on.
    pub fn shared_settings(&self) -> Arc<dyn trae_core::SharedSettings> {
        Arc::new(SqlSharedSettings::new(self.inner.writer.clone()))
    }

    /// The API key repository on this database.
    pub fn api_key_repository(&self) -> Arc<dyn trae_core::ApiKeyRepository> {
        Arc::new(SqlApiKeyRepository::new(
            self.inner.writer.clone(),
            self.inner.reader.clone(),
        ))
    }

    /// The secrets vault's repository on this database, for trae-auth's `Vault`.
    pub fn secret_repository(&self) -> Arc<dyn trae_core::SecretRepository> {
        Arc::new(SqlSecretRepository::new(
            self.inner.writer.clone(),
            self.inner.reader.clone(),
        ))
    }

    /// The task repository on this database, one per store: every caller shares its wake-ups
    /// (and, on PostgreSQL, its `LISTEN` connection).
    pub fn task_repository(&self) -> Arc<dyn trae_core::TaskRepository> {
        let repo = self.inner.tasks.get_or_init(|| {
            Arc::new(
                SqlTaskRepository::new(&self.inner.writer, &self.inner.reader)
                    .with_grouped_enqueues(self.inner.options.group_enqueues),
            )
        });
        Arc::clone(repo) as Arc<dyn trae_core::TaskRepository>
    }

    /// The task queue service on this database.
    pub fn tasks(&self) -> trae_core::TaskQueue {
        trae_core::TaskQueue::new(self.task_repository(), self.clock(), self.events())
    }

    /// TDD agent runs and their steps on this database, for trae-agents.
    pub fn tdd_repository(&self) -> Arc<dyn trae_core::TddRepository> {
        Arc::new(crate::SqlTddRepository::new(
            &self.inner.writer,
            &self.inner.reader,
        ))
    }

    /// SOLO agent genesis interviews, their turns and specs on this database, for trae-agents.
    pub fn interview_repository(&self) -> Arc<dyn trae_core::InterviewRepository> {
        Arc::new(crate::SqlInterviewRepository::new(
            &self.inner.writer,
            &self.inner.reader,
        ))
    }

    /// Every repository the identity services need.
    pub fn identity_repos(&self) -> trae_core::identity::IdentityRepos {
        trae_core::identity::IdentityRepos {
            users: self.user_repository(),
            sessions: self.session_repository(),
            roles: self.role_repository(),
            api_keys: self.api_key_repository(),
            audit: self.audit(),
        }
    }

    /// The external API registry's repository on this database.
    pub fn api_repository(&self) -> Arc<dyn trae_core::ApiRepository> {
        Arc::new(crate::SqlApiRepository::new(
            &self.inner.writer,
            &self.inner.reader,
        ))
    }

    /// The shared counter of API rate-limit reservations on this database.
    pub fn quota_repository(&self) -> Arc<dyn trae_core::apis::shared_quota::QuotaRepository> {
        Arc::new(crate::SqlQuotaRepository::new(&self.inner.writer))
    }

    /// Metric points on this database.
    pub fn metric_repository(&self) -> Arc<dyn trae_core::MetricRepository> {
        Arc::new(crate::SqlMetricRepository::new(
            &self.inner.writer,
            &self.inner.reader,
        ))
    }

    /// Component health transitions on this database.
    pub fn health_history(&self) -> Arc<dyn trae_core::HealthHistory> {
        Arc::new(crate::SqlHealthHistory::new(
            &self.inner.writer,
            &self.inner.reader,
        ))
    }

    /// Alert rules and alerts on this database.
    pub fn alert_repository(&self) -> Arc<dyn trae_core::AlertRepository> {
        Arc::new(crate::SqlAlertRepository::new(
            &self.inner.writer,
            &self.inner.reader,
        ))
    }

    /// The event log on this database.
    pub fn event_repository(&self) -> Arc<dyn trae_core::EventRepository> {
        Arc::new(crate::SqlEventRepository::new(
            &self.inner.writer,
            &self.inner.reader,
        ))
    }

    /// The request history repository on this database.
    pub fn request_history_repository(
        &self,
    ) -> Arc<dyn trae_core::monitoring::request_history::RequestHistoryRepository> {
        Arc::new(crate::SqlRequestHistoryRepository::new(
            &self.inner.writer,
            &self.inner.reader,
        ))
    }

    /// The channels service on this database.
    pub fn channels(&self) -> trae_core::content::Channels {
        trae_core::content::Channels::new(
            Arc::new(crate::SqlChannelRepository::new(
                &self.inner.writer,
                &self.inner.reader,
            )),
            self.clock(),
            self.events(),
        )
    }

    /// The author personas service on this database.
    pub fn personas(&self) -> trae_core::content::Personas {
        trae_core::content::Personas::new(
            Arc::new(crate::SqlPersonaRepository::new(
                &self.inner.writer,
                &self.inner.reader,
            )),
            Arc::new(crate::SqlChannelRepository::new(
                &self.inner.writer,
                &self.inner.reader,
            )),
            self.clock(),
            self.events(),
        )
    }

    /// The evidence service on this database.
    pub fn evidence(&self) -> trae_core::content::EvidenceLibrary {
        trae_core::content::EvidenceLibrary::new(
            Arc::new(crate::SqlEvidenceRepository::new(
                &self.inner.writer,
                &self.inner.reader,
            )),
            self.clock(),
            self.events(),
        )
    }

    /// The contradiction tracker on this database. Only the system principal may review
    /// until `with_authorizer` names a role authority (trae-auth's `Rbac`).
    pub fn contradictions(&self) -> trae_core::content::Contradictions {
        trae_core::content::Contradictions::new(
            Arc::new(crate::SqlContradictionRepository::new(
                &self.inner.writer,
                &self.inner.reader,
            )),
            Arc::new(crate::SqlEvidenceRepository::new(
                &self.inner.writer,
                &self.inner.reader,
            )),
            self.audit(),
            self.clock(),
            self.events(),
        )
    }

    /// Checks that the database answers a trivial query.
    pub async fn ping(&self) -> Result<()> {
        self.inner
            .reader
            .execute_unprepared("SELECT 1")
            .await
            .map(|_| ())
            .map_err(|e| Error::Connect(e.to_string()))
    }

    /// Applies every pending migration, then publishes `migration.applied` (topic `system`)
    /// for each.
    pub async fn migrate_up(&self) -> Result<()> {
        let applied = self.run_migrations(Direction::Up(None)).await?;
        self.announce_migrations(&applied);
        Ok(())
    }

    /// Reverts the `steps` most recent migrations.
    pub async fn migrate_down(&self, steps: u32) -> Result<()> {
        self.run_migrations(Direction::Down(steps)).await.map(drop)
    }

    /// Publishes what a migration run applied, once it has committed.
    fn announce_migrations(&self, applied: &[migration::AppliedMigration]) {
        let events = self.events();
        for m in applied {
            events.publish(
                MIGRATION_EVENTS,
                "migration.applied",
                serde_json::json!({
                    "name": m.name,
                    "done": m.done,
                    "total": m.total,
                    "millis": m.millis,
                }),
            );
        }
    }

    /// Every known migration and whether it is applied.
    pub async fn migration_status(&self) -> Result<Vec<MigrationState>> {
        migration::status(&self.inner.writer).await
    }

    /// Moves the schema; returns the migrations applied (none going down).
    async fn run_migrations(
        &self,
        direction: Direction,
    ) -> Result<Vec<migration::AppliedMigration>> {
        let mut applied = Vec::new();
        let record = |m| applied.push(m);
        match self.inner.backend {
            // The SQLite writer pool holds exactly one connection already.
            DatabaseBackend::Sqlite => {
                migration::run_locked(&self.inner.writer, direction, record).await?;
            }
            DatabaseBackend::Postgres => {
                let conn = open_postgres(&self.inner.url, &self.inner.options, 1).await?;
                let result = migration::run_locked(&conn, direction, record).await;
                let _ = conn.close().await;
                result?;
            }
        }
        Ok(applied)
    }

    /// Writes and commits a probe row through the writer: fails while the database cannot
    /// take writes (a full disk, a damaged file, writes refused).
    pub async fn probe_write(&self) -> Result<()> {
        if let Some(reason) = self.inner.refused.get() {
            return Err(Error::Damaged(reason.clone()));
        }
        let sql = match self.inner.backend {
            DatabaseBackend::Sqlite => {
                "INSERT INTO shared_settings (key, value) VALUES ('health.write_probe', \
                 strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value"
            }
            DatabaseBackend::Postgres => {
                "INSERT INTO shared_settings (key, value) VALUES ('health.write_probe', \
                 now()::text) ON CONFLICT (key) DO UPDATE SET value = excluded.value"
            }
        };
        self.inner
            .writer
            .execute_unprepared(sql)
            .await
            .map(|_| ())
            .map_err(Error::Query)
    }

    /// Runs SQLite's `quick_check` on the file (for at most the store's integrity-check time,
    /// 10 s when that is off; `Ok` when cut short); `Err(Error::Damaged)` names the file and
    /// what to do. PostgreSQL checks its own pages, so there this is a no-op.
    pub async fn check_integrity(&self) -> Result<()> {
        let budget = self
            .inner
            .options
            .integrity_check
            .unwrap_or(Duration::from_secs(10));
        match (&self.inner.backend, sqlite_file(&self.inner.url)) {
            (DatabaseBackend::Sqlite, Some(path)) => {
                quick_check(&self.inner.url, &path, budget).await
            }
            _ => Ok(()),
        }
    }

    /// Refuses every later write (they fail at once with "unavailable"), keeping reads: used
    /// when the file turns out to be damaged while running, so nothing more is written into it.
    pub async fn refuse_writes(&self, reason: &str) {
        if self.inner.refused.set(reason.to_owned()).is_ok() {
            tracing::error!(
                reason,
                "the database refuses writes until trae is restarted"
            );
            if self.inner.backend == DatabaseBackend::Sqlite && !is_in_memory(&self.inner.url) {
                let _ = self.inner.writer.clone().close().await;
            }
        }
    }

    /// Why writes are refused, if they are.
    pub fn writes_refused(&self) -> Option<&str> {
        self.inner.refused.get().map(String::as_str)
    }

    /// Closes every connection; later calls fail. A SQLite file is checkpointed first, so that
    /// after a clean stop everything committed is in the database file itself (a copy of that
    /// one file is a complete cold backup) and the `-wal` file is empty.
    pub async fn close(&self) {
        if let Some(stream) = self.inner.bus.stream() {
            stream.flush().await;
            stream.close();
        }
        if self.inner.backend == DatabaseBackend::Sqlite && !is_in_memory(&self.inner.url) {
            // Readers first: a checkpoint cannot truncate the log past an open read snapshot.
            let _ = self.inner.reader.clone().close().await;
            if self.inner.refused.get().is_none()
                && let Err(e) = self
                    .inner
                    .writer
                    .execute_unprepared("PRAGMA wal_checkpoint(TRUNCATE)")
                    .await
            {
                tracing::warn!(error = %e, "checkpointing the database on close failed");
            }
        }
        let _ = self.inner.writer.clone().close().await;
        let _ = self.inner.reader.clone().close().await;
    }
}

async fn open_sqlite(
    url: &str,
    options: &StoreOptions,
) -> Result<(DatabaseConnection, DatabaseConnection)> {
    let connect = SqliteConnectOptions::from_str(url)
        .map_err(|e| Error::InvalidUrl(e.to_string()))?
        .create_if_missing(true)
        .foreign_keys(true)
        .busy_timeout(options.busy_timeout)
        .synchronous(SqliteSynchronous::Normal);
    let in_memory = is_in_memory(url);
    if !in_memory {
        if let Some(dir) = sqlite_file(url)
            .as_deref()
            .and_then(std::path::Path::parent)
        {
            crate::database_dir::prepare(dir)?;
        }
        enable_wal(&connect, options.busy_timeout).await?;
        if let (Some(budget), Some(path)) = (options.integrity_check, sqlite_file(url)) {
            quick_check(url, &path, budget).await?;
        }
    }
    let writer = SqlitePoolOptions::new()
        .max_connections(1)
        .min_connections(1)
        .acquire_timeout(options.acquire_timeout)
        .test_before_acquire(false)
        // A failed COMMIT (a full disk) can leave sqlx counting a transaction SQLite already
        // rolled back, and every later `BEGIN` on the one writer would fail until a restart.
        // Such a connection is replaced by a fresh one instead.
        .before_acquire(|conn, _meta| {
            Box::pin(async move {
                use sqlx::Connection;
                if !conn.is_in_transaction() {
                    return Ok(true);
                }
                // A rollback queued when the transaction was dropped may not have run yet.
                conn.ping().await?;
                if conn.is_in_transaction() {
                    tracing::warn!("replacing the SQLite writer connection left in a transaction");
                    return Ok(false);
                }
                Ok(true)
            })
        })
        // The one writer connection lives as long as the store: no idle reaping.
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_with(connect.clone())
        .await
        .map_err(|e| Error::Connect(e.to_string()))?;
    let writer = SqlxSqliteConnector::from_sqlx_sqlite_pool(writer);
    if in_memory {
        // Every connection to `:memory:` is its own database, so reads share the writer.
        return Ok((writer.clone(), writer));
    }
    let reader = SqlitePoolOptions::new()
        .max_connections(options.max_connections)
        .acquire_timeout(options.acquire_timeout)
        // A local file does not drop connections; a ping per checkout would double the
        // round trips to SQLite's worker thread on every read.
        .test_before_acquire(false)
        .connect_with(connect.read_only(true))
        .await
        .map_err(|e| Error::Connect(e.to_string()))?;
    Ok((writer, SqlxSqliteConnector::from_sqlx_sqlite_pool(reader)))
}

/// Switches the file to WAL once, on its own connection, before any pool opens.
///
/// The journal mode is a property of the file, so the pools need not set it; and switching
/// takes an exclusive lock that SQLite's busy timeout does not wait for, so nodes opening a
/// fresh file together retry here instead of failing with "database is locked".
async fn enable_wal(connect: &SqliteConnectOptions, patience: Duration) -> Result<()> {
    use sqlx::{Connection, Row};
    let deadline = std::time::Instant::now() + patience;
    let mut delay = Duration::from_millis(5);
    loop {
        let attempt = async {
            let mut conn = sqlx::SqliteConnection::connect_with(connect).await?;
            let mode: String = sqlx::query("PRAGMA journal_mode=WAL")
                .fetch_one(&mut conn)
                .await?
                .try_get(0)?;
            let _ = conn.close().await;
            Ok::<_, sqlx::Error>(mode)
        }
        .await;
        match attempt {
            Ok(mode) if mode.eq_ignore_ascii_case("wal") => return Ok(()),
            Ok(mode) => {
                return Err(Error::Connect(format!(
                    "SQLite refused WAL mode (journal mode is {mode})"
                )));
            }
            Err(e) if is_busy(&e) && std::time::Instant::now() < deadline => {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_millis(100));
            }
            Err(e) => return Err(Error::Connect(e.to_string())),
        }
    }
}

fn is_in_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

/// The file a SQLite URL names, if it names one.
fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    if is_in_memory(url) {
        return None;
    }
    let options = SqliteConnectOptions::from_str(url).ok()?;
    Some(options.get_filename().to_path_buf())
}

/// SQLite's `quick_check` on its own read-only connection, interrupted after `budget` (then
/// the file is used unchecked, with a warning: a start must not wait minutes on a big file).
async fn quick_check(url: &str, path: &std::path::Path, budget: Duration) -> Result<()> {
    use sqlx::{Connection, Row};
    if !path.exists() {
        return Ok(());
    }
    let connect = SqliteConnectOptions::from_str(url)
        .map_err(|e| Error::InvalidUrl(e.to_string()))?
        .read_only(true);
    let damaged = |detail: String| {
        Error::Damaged(format!(
            "the database file {} is damaged ({detail}); stop every trae process using it and \
             restore the last good backup with `trae backup restore <backup file>` (see \
             docs/operations.md), or move the file away to start with an empty database",
            path.display()
        ))
    };
    let mut conn = match sqlx::SqliteConnection::connect_with(&connect).await {
        Ok(conn) => conn,
        Err(e) if crate::database_fault::observe(&e).is_some() => {
            return Err(damaged(e.to_string()));
        }
        Err(e) => return Err(Error::Connect(e.to_string())),
    };
    let started = std::time::Instant::now();
    let deadline = started + budget;
    conn.lock_handle()
        .await
        .map_err(|e| Error::Connect(e.to_string()))?
        .set_progress_handler(10_000, move || std::time::Instant::now() < deadline);
    let rows = sqlx::query("PRAGMA quick_check(5)")
        .fetch_all(&mut conn)
        .await;
    let _ = conn.close().await;
    match rows {
        Ok(rows) => {
            let lines: Vec<String> = rows
                .iter()
                .filter_map(|r| r.try_get::<String, _>(0).ok())
                .collect();
            if lines.len() == 1 && lines[0] == "ok" {
                tracing::debug!(ms = started.elapsed().as_millis() as u64, "quick_check ok");
                Ok(())
            } else {
                Err(damaged(lines.join("; ")))
            }
        }
        Err(sqlx::Error::Database(db)) if db.code().is_some_and(|c| c == "9") => {
            tracing::warn!(
                path = %path.display(),
                seconds = budget.as_secs_f64(),
                "the database's integrity check was cut short; starting unchecked"
            );
            Ok(())
        }
        Err(e) if crate::database_fault::observe(&e).is_some() => Err(damaged(e.to_string())),
        Err(e) => Err(Error::Connect(e.to_string())),
    }
}

fn is_busy(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.code().is_some_and(|c| c == "5" || c == "6"))
}

async fn open_postgres(
    url: &str,
    options: &StoreOptions,
    max_connections: u32,
) -> Result<DatabaseConnection> {
    use sqlx::Connection;
    let connect = PgConnectOptions::from_str(url).map_err(|e| Error::InvalidUrl(e.to_string()))?;
    // One direct attempt first: the pool retries until its timeout and then reports only
    // "pool timed out", hiding a refused connection or a bad password.
    let where_ = format!(
        "PostgreSQL at {}:{}",
        connect.get_host(),
        connect.get_port()
    );
    match tokio::time::timeout(
        options.acquire_timeout,
        sqlx::PgConnection::connect_with(&connect),
    )
    .await
    {
        Ok(Ok(conn)) => {
            let _ = conn.close().await;
        }
        Ok(Err(e)) => {
            return Err(Error::Connect(format!("cannot connect to {where_}: {e}")));
        }
        Err(_) => {
            return Err(Error::Connect(format!(
                "cannot connect to {where_}: no answer within {:.0} s",
                options.acquire_timeout.as_secs_f64()
            )));
        }
    }
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(options.acquire_timeout)
        .connect_with(connect)
        .await
        .map_err(|e| Error::Connect(format!("cannot connect to {where_}: {e}")))?;
    Ok(SqlxPostgresConnector::from_sqlx_postgres_pool(pool))
}
