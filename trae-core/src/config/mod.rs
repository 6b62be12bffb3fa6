//! Configuration: `TRAE_*` environment variables over an optional `trae.toml` in the data
//! directory over defaults that work on a fresh machine.
//!
//! | variable | `trae.toml` key | default |
//! |---|---|---|
//! | `TRAE_DATA_DIR` | — | the working directory |
//! | `TRAE_DATABASE_URL` | `database_url` | `sqlite://<data dir>/trae.db?mode=rwc` |
//! | `TRAE_BIND` (host:port) | `bind` | `127.0.0.1:8000` |
//! | `PORT` (port only; yields to `TRAE_BIND`) | — | — |
//! | `TRAE_LOG` | `log` | `info` |
//! | `TRAE_LOG_FORMAT` (`text` or `json`) | `log_format` | `text` |
//! | `TRAE_MAX_BODY_BYTES` | `max_body_bytes` | `1048576` |
//! | `TRAE_JWT_SECRET` | `jwt_secret` | unset |
//! | `TRAE_MASTER_KEY` | `master_key` | unset |
//! | `TRAE_REGISTRATION` (`open` or `closed`) | `registration` | `open` |
//! | `TRAE_ACCESS_TOKEN_TTL_SECS` | `access_token_ttl_secs` | `900` |
//! | `TRAE_REFRESH_TOKEN_TTL_DAYS` | `refresh_token_ttl_days` | `30` |
//! | `TRAE_SESSION_TTL_DAYS` (absolute session lifetime) | `session_ttl_days` | `30` |
//! | `TRAE_SESSION_CACHE_SECS` (0 turns the cache off) | `session_cache_secs` | `5` |
//! | `TRAE_LOCKOUT_MAX_FAILURES` (per account and client address) | `lockout_max_failures` | `5` |
//! | `TRAE_LOCKOUT_ACCOUNT_MAX_FAILURES` (per account, all addresses) | `lockout_account_max_failures` | `100` |
//! | `TRAE_LOCKOUT_WINDOW_SECS` | `lockout_window_secs` | `900` |
//! | `TRAE_LOCKOUT_SECS` | `lockout_secs` | `900` |
//! | `TRAE_PASSWORD_MEMORY_KIB` | `password_memory_kib` | `19456` |
//! | `TRAE_PASSWORD_ITERATIONS` | `password_iterations` | `2` |
//! | `TRAE_PASSWORD_PARALLELISM` | `password_parallelism` | `1` |
//! | `TRAE_PASSWORD_CONCURRENCY` | `password_concurrency` | the number of cores minus one, at least 1 |
//! | `TRAE_TRUSTED_PROXIES` (IPs or CIDRs, comma-separated) | `trusted_proxies` | none |
//! | `TRAE_ADMIN_USERNAME`, `TRAE_ADMIN_PASSWORD`, `TRAE_ADMIN_EMAIL` | — | unset |
//! | `TRAE_TASK_LEASE_SECS` | `task_lease_secs` | `300` |
//! | `TRAE_TASK_RETENTION_HOURS` (finished tasks kept; 0 keeps them forever) | `task_retention_hours` | `168` |
//! | `TRAE_QUEUE_MAX_BACKLOG` (waiting tasks per queue before enqueues are refused with 503; 0: no limit) | `queue_max_backlog` | `100000` |
//! | `TRAE_OUTBOUND_ALLOW_HOSTS` (hosts, `*.domain` patterns, comma-separated) | `outbound_allow_hosts` | none |
//! | `TRAE_OUTBOUND_ALLOW_LOOPBACK` (`true` or `false`) | `outbound_allow_loopback` | `false` |
//! | `TRAE_OUTBOUND_TIMEOUT_MS` (the longest any outbound call may take) | `outbound_timeout_ms` | `30000` |
//! | — | `[[schedules]]` (recurring tasks, see [`ScheduleConfig`]) | none |
//! | `TRAE_REQUEST_HISTORY_PERCENT` (share of requests recorded, 0 turns history off) | `request_history_percent` | `10` (server errors always) |
//! | `TRAE_REQUEST_HISTORY_DAYS` | `request_history_days` | `7` |
//! | `TRAE_REQUEST_HISTORY_MAX_ROWS` | `request_history_max_rows` | `100000` |
//! | `TRAE_EVENT_RETENTION_HOURS` (how long the event stream keeps events) | `event_retention_hours` | `72` |
//! | `TRAE_EVENT_MAX_ROWS` (the most events kept) | `event_max_rows` | `1000000` |
//! | `TRAE_CORS_ORIGINS` (origins such as `https://app.example.com`, comma-separated) | `cors_origins` | none |
//! | `TRAE_RATE_LIMIT` (`on` or `off`; limits on incoming requests, see [`GatewayLimitConfig`]) | `rate_limit` (`true`/`false`) | `on` |
//! | `TRAE_RATE_LIMIT_LOGIN_PER_MINUTE` (per client on login, register, refresh) | `rate_limit_login_per_minute` | `30` |
//! | `TRAE_RATE_LIMIT_LOGIN_PER_HOUR` (0: no hourly window) | `rate_limit_login_per_hour` | `0` |
//! | `TRAE_RATE_LIMIT_PER_MINUTE` (per client on the rest of the API) | `rate_limit_per_minute` | `600` |
//! | `TRAE_RATE_LIMIT_PER_HOUR` (0: no hourly window) | `rate_limit_per_hour` | `0` |
//! | `TRAE_RATE_LIMIT_MAX_CLIENTS` (clients tracked before newcomers share a bucket) | `rate_limit_max_clients` | `100000` |
//! | `TRAE_BACKUP_INTERVAL_HOURS` (scheduled backups by `trae serve`; 0 turns them off) | `backup_interval_hours` | `24` |
//! | `TRAE_BACKUP_KEEP` (scheduled backups kept; older ones are deleted) | `backup_keep` | `7` |
//! | `TRAE_BACKUP_DIR` | `backup_dir` | `<data dir>/backups` |
//! | `TRAE_METRICS_OPEN_TO` (IPs or CIDRs that may read `/metrics` without credentials, for a scraper on a private network) | `metrics_open_to` | none |
//! | `TRAE_HEALTH_DEGRADED_AFTER` (failed checks in a row that make a component degraded) | `health_degraded_after` | `1` |
//! | `TRAE_HEALTH_FAILING_AFTER` (… failing; at least the degraded count) | `health_failing_after` | `3` |
//! | `TRAE_HEALTH_CRITICAL_AFTER` (… critical; at least the failing count) | `health_critical_after` | `10` |
//! | `TRAE_LLM_LOG_CONTENT` (`true` logs prompts and answers of model calls at debug level) | `llm_log_content` | `false` |
//! | `TRAE_AGENT_WORKSPACES` (directories, `:`-separated, under which agents may work on projects) | `agent_workspaces` | none: no project |
//! | `TRAE_AGENT_WRITABLE` (directories, `:`-separated, agents' commands may write besides their working copy) | `agent_writable` | none |

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{Error, HealthRules, Result};

mod sections;

pub use sections::{
    AuthConfig, BackupConfig, EventConfig, GatewayLimitConfig, MetricsConfig, OutboundConfig,
    RequestHistoryConfig, ScheduleConfig, TaskConfig,
};

/// The name of the optional configuration file in the data directory.
pub const CONFIG_FILE: &str = "trae.toml";

/// A configuration value that must never be printed.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself; call only where it is used.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString(***)")
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

impl LogFormat {
    /// The lowercase name used in configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Json => "json",
        }
    }
}

/// The resolved configuration of a trae process.
#[derive(Clone)]
pub struct Config {
    /// Where trae keeps its files (the default SQLite database, `trae.toml`).
    pub data_dir: PathBuf,
    /// The database to use: `sqlite://...` or `postgres://...`.
    pub database_url: String,
    /// The address `trae serve` listens on.
    pub bind: SocketAddr,
    /// The tracing filter, e.g. `info` or `trae_server=debug,info`.
    pub log: String,
    /// The log line format.
    pub log_format: LogFormat,
    /// The largest request body the server accepts.
    pub max_body_bytes: u64,
    /// The JWT signing secret, when set explicitly.
    pub jwt_secret: Option<SecretString>,
    /// The secrets vault master key, when set explicitly.
    pub master_key: Option<SecretString>,
    /// Identity and access settings.
    pub auth: AuthConfig,
    /// Task queue settings.
    pub tasks: TaskConfig,
    /// Outbound HTTP settings.
    pub outbound: OutboundConfig,
    /// Browser origins allowed to call the API cross-origin (CORS); none by default.
    pub cors_origins: Vec<String>,
    /// How request history is kept.
    pub request_history: RequestHistoryConfig,
    /// How the event stream keeps events.
    pub events: EventConfig,
    /// Rate limits on incoming requests.
    pub rate_limit: GatewayLimitConfig,
    /// Scheduled backups.
    pub backup: BackupConfig,
    /// Metrics exposure.
    pub metrics: MetricsConfig,
    /// When failed checks change a component's status.
    pub health: HealthRules,
    /// Whether prompts and answers of model calls are logged (at debug level); off, only
    /// their sizes are.
    pub llm_log_content: bool,
    /// Directories under which the agents may work on projects (absolute; none: no project
    /// is allowed through the server).
    pub agent_workspaces: Vec<PathBuf>,
    /// Directories the agents' commands may write to besides their working copy (a cargo
    /// home for a project's dependencies, say; none by default).
    pub agent_writable: Vec<PathBuf>,
}

impl fmt::Debug for Config {
    // Debug output lands in logs, so it shows the redacted summary only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.summary(), f)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    database_url: Option<String>,
    bind: Option<String>,
    log: Option<String>,
    log_format: Option<String>,
    max_body_bytes: Option<u64>,
    jwt_secret: Option<SecretString>,
    master_key: Option<SecretString>,
    registration: Option<String>,
    access_token_ttl_secs: Option<u32>,
    refresh_token_ttl_days: Option<u32>,
    session_ttl_days: Option<u32>,
    session_cache_secs: Option<u32>,
    lockout_max_failures: Option<u32>,
    lockout_account_max_failures: Option<u32>,
    lockout_window_secs: Option<u32>,
    lockout_secs: Option<u32>,
    password_memory_kib: Option<u32>,
    password_iterations: Option<u32>,
    password_parallelism: Option<u32>,
    password_concurrency: Option<u32>,
    trusted_proxies: Option<String>,
    task_lease_secs: Option<u32>,
    task_retention_hours: Option<u32>,
    queue_max_backlog: Option<u32>,
    outbound_allow_hosts: Option<String>,
    outbound_allow_loopback: Option<bool>,
    outbound_timeout_ms: Option<u32>,
    #[serde(default)]
    schedules: Vec<ScheduleConfig>,
    cors_origins: Option<String>,
    request_history_percent: Option<u32>,
    request_history_days: Option<u32>,
    request_history_max_rows: Option<u32>,
    event_retention_hours: Option<u32>,
    event_max_rows: Option<u32>,
    rate_limit: Option<bool>,
    rate_limit_login_per_minute: Option<u32>,
    rate_limit_login_per_hour: Option<u32>,
    rate_limit_per_minute: Option<u32>,
    rate_limit_per_hour: Option<u32>,
    rate_limit_max_clients: Option<u32>,
    backup_interval_hours: Option<u32>,
    backup_keep: Option<u32>,
    backup_dir: Option<String>,
    metrics_open_to: Option<String>,
    health_degraded_after: Option<u32>,
    health_failing_after: Option<u32>,
    health_critical_after: Option<u32>,
    llm_log_content: Option<bool>,
    agent_workspaces: Option<String>,
    agent_writable: Option<String>,
}

/// Absolute directories separated by `:` (`TRAE_AGENT_WORKSPACES`, `TRAE_AGENT_WRITABLE`);
/// blanks skipped.
fn parse_directories(name: &str, raw: &str) -> Result<Vec<PathBuf>> {
    raw.split(':')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            let path = PathBuf::from(p);
            if path.is_absolute() {
                Ok(path)
            } else {
                Err(Error::Config(format!(
                    "{name} entries must be absolute paths, got {p:?}"
                )))
            }
        })
        .collect()
}

/// The database engine a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DatabaseBackend {
    /// An embedded SQLite file (or memory).
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

impl DatabaseBackend {
    /// The backend a database URL names, or a clear error.
    pub fn of_url(url: &str) -> Result<Self> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else {
            Err(Error::Config(format!(
                "database URL must start with sqlite: or postgres://, got {:?}",
                redact_url(url)
            )))
        }
    }

    /// The lowercase name of the backend.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

/// What `/api/runtime` may show of the configuration: no secrets, no passwords. Where the
/// data lives (`data_dir`, `database_url`) is `None` in the view of a caller who may not see
/// it (see `MetricSeries::runtime_config`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConfigSummary {
    /// The data directory.
    pub data_dir: Option<String>,
    /// The database backend.
    pub database_backend: DatabaseBackend,
    /// The database URL with every password replaced by `***`.
    pub database_url: Option<String>,
    /// The listen address.
    pub bind: String,
    /// The log filter.
    pub log: String,
    /// The log format.
    pub log_format: LogFormat,
    /// The request body limit in bytes.
    pub max_body_bytes: u64,
    /// Whether a JWT secret was configured.
    pub jwt_secret_configured: bool,
    /// Whether a master key was configured.
    pub master_key_configured: bool,
    /// Whether anyone may register.
    pub registration_open: bool,
    /// Access-token lifetime in seconds.
    pub access_token_ttl_secs: u32,
    /// How long a node trusts a session check, in seconds.
    pub session_cache_secs: u32,
}

impl Config {
    /// Loads the configuration from the process environment and `trae.toml`.
    pub fn load() -> Result<Self> {
        Self::from_sources(|name| std::env::var(name).ok())
    }

    /// Loads the configuration from the process environment and `trae.toml`, with
    /// `overrides` (values set in code) winning over both.
    pub fn load_with(overrides: &ConfigOverrides) -> Result<Self> {
        Self::from_sources_with(|name| std::env::var(name).ok(), overrides)
    }

    /// Loads the configuration with `env` standing in for the environment (for tests and
    /// embedding).
    pub fn from_sources(env: impl Fn(&str) -> Option<String>) -> Result<Self> {
        Self::from_sources_with(env, &ConfigOverrides::default())
    }

    /// [`Config::from_sources`] with `overrides` winning over `env` and `trae.toml`.
    ///
    /// The data directory is found by one rule, here, for every way in: the override, else
    /// `TRAE_DATA_DIR`, else the directory of the SQLite file the database URL (override or
    /// `TRAE_DATABASE_URL`) names, else the working directory. So `trae serve` and
    /// `trae.Store(url)` on one SQLite file read the same `trae.toml` and master key file.
    pub fn from_sources_with(
        env: impl Fn(&str) -> Option<String>,
        overrides: &ConfigOverrides,
    ) -> Result<Self> {
        let env = |name: &str| {
            let set = match name {
                "TRAE_DATA_DIR" => overrides.data_dir.as_ref().map(|d| d.display().to_string()),
                "TRAE_DATABASE_URL" => overrides.database_url.clone(),
                "TRAE_JWT_SECRET" => overrides.jwt_secret.as_ref().map(|s| s.0.clone()),
                "TRAE_MASTER_KEY" => overrides.master_key.as_ref().map(|s| s.0.clone()),
                _ => None,
            };
            set.or_else(|| env(name)).filter(|v| !v.trim().is_empty())
        };
        let beside_database = || {
            env("TRAE_DATABASE_URL")
                .as_deref()
                .and_then(sqlite_file)
                .and_then(|file| file.parent().map(Path::to_path_buf))
                .filter(|dir| !dir.as_os_str().is_empty())
        };
        let data_dir = match env("TRAE_DATA_DIR")
            .map(PathBuf::from)
            .or_else(beside_database)
        {
            Some(dir) => dir,
            None => std::env::current_dir()
                .map_err(|e| Error::Config(format!("cannot read the working directory: {e}")))?,
        };
        let data_dir = absolute(&data_dir)?;
        let file = read_file(&data_dir.join(CONFIG_FILE))?;
        let health = health_rules(&env, &file)?;
        let auth = auth_config(&env, &file)?;
        let rate_limit = GatewayLimitConfig::from_sources(&env, &file)?;
        let tasks = TaskConfig {
            lease_secs: number(
                &env,
                "TRAE_TASK_LEASE_SECS",
                file.task_lease_secs,
                TaskConfig::default().lease_secs,
                5..=86_400,
            )?,
            retention_hours: number(
                &env,
                "TRAE_TASK_RETENTION_HOURS",
                file.task_retention_hours,
                TaskConfig::default().retention_hours,
                0..=87_600,
            )?,
            max_backlog: number(
                &env,
                "TRAE_QUEUE_MAX_BACKLOG",
                file.queue_max_backlog,
                TaskConfig::default().max_backlog,
                0..=1_000_000_000,
            )?,
            schedules: file.schedules.clone(),
        };
        let mut names = std::collections::BTreeSet::new();
        for s in &tasks.schedules {
            s.schedule().map_err(|e| {
                Error::Config(format!(
                    "{CONFIG_FILE}: schedule {:?}: {}",
                    s.name,
                    inner(&e)
                ))
            })?;
            if !names.insert(s.name.as_str()) {
                return Err(Error::Config(format!(
                    "{CONFIG_FILE}: two schedules are named {:?}",
                    s.name
                )));
            }
        }
        let outbound = OutboundConfig {
            allow_hosts: env("TRAE_OUTBOUND_ALLOW_HOSTS")
                .or_else(|| file.outbound_allow_hosts.clone())
                .map(|raw| {
                    raw.split(',')
                        .map(|h| h.trim().to_ascii_lowercase())
                        .filter(|h| !h.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            allow_loopback: match env("TRAE_OUTBOUND_ALLOW_LOOPBACK").as_deref() {
                None => file.outbound_allow_loopback.unwrap_or(false),
                Some("true" | "1" | "yes") => true,
                Some("false" | "0" | "no") => false,
                Some(other) => {
                    return Err(Error::Config(format!(
                        "TRAE_OUTBOUND_ALLOW_LOOPBACK must be true or false, got {other:?}"
                    )));
                }
            },
            timeout_ms: number(
                &env,
                "TRAE_OUTBOUND_TIMEOUT_MS",
                file.outbound_timeout_ms,
                OutboundConfig::default().timeout_ms,
                100..=600_000,
            )?,
        };

        let database_url = env("TRAE_DATABASE_URL")
            .or(file.database_url)
            .unwrap_or_else(|| default_sqlite_url(&data_dir));
        DatabaseBackend::of_url(&database_url)
            .map_err(|e| Error::Config(format!("TRAE_DATABASE_URL: {}", inner(&e))))?;

        let bind = resolve_bind(env("TRAE_BIND"), env("PORT"), file.bind)?;

        let log = env("TRAE_LOG")
            .or(file.log)
            .unwrap_or_else(|| "info".to_owned());
        let log_format = match env("TRAE_LOG_FORMAT").or(file.log_format).as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(Error::Config(format!(
                    "TRAE_LOG_FORMAT must be text or json, got {other:?}"
                )));
            }
        };
        let max_body_bytes = match env("TRAE_MAX_BODY_BYTES") {
            Some(raw) => raw.trim().parse::<u64>().map_err(|_| {
                Error::Config(format!(
                    "TRAE_MAX_BODY_BYTES must be a positive number of bytes, got {raw:?}"
                ))
            })?,
            None => file.max_body_bytes.unwrap_or(1024 * 1024),
        };
        if max_body_bytes == 0 {
            return Err(Error::Config(
                "TRAE_MAX_BODY_BYTES must be greater than zero".into(),
            ));
        }
        let backup = BackupConfig {
            interval_hours: number(
                &env,
                "TRAE_BACKUP_INTERVAL_HOURS",
                file.backup_interval_hours,
                24,
                0..=24 * 365,
            )?,
            keep: number(&env, "TRAE_BACKUP_KEEP", file.backup_keep, 7, 1..=10_000)?,
            dir: match env("TRAE_BACKUP_DIR").or(file.backup_dir) {
                Some(dir) => absolute(Path::new(&dir))?,
                None => data_dir.join("backups"),
            },
        };
        let metrics = MetricsConfig {
            open_to: env("TRAE_METRICS_OPEN_TO")
                .or(file.metrics_open_to)
                .map(|raw| parse_networks("TRAE_METRICS_OPEN_TO", &raw))
                .transpose()?
                .unwrap_or_default(),
        };
        Ok(Self {
            data_dir,
            database_url,
            bind,
            log,
            log_format,
            max_body_bytes,
            jwt_secret: env("TRAE_JWT_SECRET").map(SecretString).or(file.jwt_secret),
            master_key: env("TRAE_MASTER_KEY").map(SecretString).or(file.master_key),
            auth,
            tasks,
            outbound,
            request_history: RequestHistoryConfig {
                percent: number(
                    &env,
                    "TRAE_REQUEST_HISTORY_PERCENT",
                    file.request_history_percent,
                    RequestHistoryConfig::default().percent,
                    0..=100,
                )?,
                retention_days: number(
                    &env,
                    "TRAE_REQUEST_HISTORY_DAYS",
                    file.request_history_days,
                    RequestHistoryConfig::default().retention_days,
                    1..=3650,
                )?,
                max_rows: number(
                    &env,
                    "TRAE_REQUEST_HISTORY_MAX_ROWS",
                    file.request_history_max_rows,
                    RequestHistoryConfig::default().max_rows,
                    100..=100_000_000,
                )?,
            },
            events: EventConfig {
                retention_hours: number(
                    &env,
                    "TRAE_EVENT_RETENTION_HOURS",
                    file.event_retention_hours,
                    EventConfig::default().retention_hours,
                    1..=87_600,
                )?,
                max_rows: number(
                    &env,
                    "TRAE_EVENT_MAX_ROWS",
                    file.event_max_rows,
                    EventConfig::default().max_rows,
                    1_000..=1_000_000_000,
                )?,
            },
            cors_origins: match env("TRAE_CORS_ORIGINS").or(file.cors_origins) {
                Some(raw) => parse_origins(&raw)?,
                None => Vec::new(),
            },
            rate_limit,
            backup,
            metrics,
            health,
            llm_log_content: match env("TRAE_LLM_LOG_CONTENT").as_deref() {
                None => file.llm_log_content.unwrap_or(false),
                Some("true" | "1" | "yes") => true,
                Some("false" | "0" | "no") => false,
                Some(other) => {
                    return Err(Error::Config(format!(
                        "TRAE_LLM_LOG_CONTENT must be true or false, got {other:?}"
                    )));
                }
            },
            agent_workspaces: match env("TRAE_AGENT_WORKSPACES").or(file.agent_workspaces) {
                Some(raw) => parse_directories("TRAE_AGENT_WORKSPACES", &raw)?,
                None => Vec::new(),
            },
            agent_writable: match env("TRAE_AGENT_WRITABLE").or(file.agent_writable) {
                Some(raw) => parse_directories("TRAE_AGENT_WRITABLE", &raw)?,
                None => Vec::new(),
            },
        })
    }

    /// The database backend in use.
    pub fn database_backend(&self) -> DatabaseBackend {
        // Validated when the configuration was loaded.
        DatabaseBackend::of_url(&self.database_url).unwrap_or(DatabaseBackend::Sqlite)
    }

    /// The configuration without secrets, for display.
    pub fn summary(&self) -> ConfigSummary {
        ConfigSummary {
            data_dir: Some(self.data_dir.display().to_string()),
            database_backend: self.database_backend(),
            database_url: Some(redact_url(&self.database_url)),
            bind: self.bind.to_string(),
            log: self.log.clone(),
            log_format: self.log_format,
            max_body_bytes: self.max_body_bytes,
            jwt_secret_configured: self.jwt_secret.is_some(),
            master_key_configured: self.master_key.is_some(),
            registration_open: self.auth.registration_open,
            access_token_ttl_secs: self.auth.access_token_ttl_secs,
            session_cache_secs: self.auth.session_cache_secs,
        }
    }
}

/// A whole number from the environment (named `var`) or the file, within `range`.
fn number(
    env: &impl Fn(&str) -> Option<String>,
    var: &str,
    file: Option<u32>,
    default: u32,
    range: std::ops::RangeInclusive<u32>,
) -> Result<u32> {
    let value = match env(var) {
        Some(raw) => raw
            .trim()
            .parse::<u32>()
            .map_err(|_| Error::Config(format!("{var} must be a whole number, got {raw:?}")))?,
        None => file.unwrap_or(default),
    };
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(Error::Config(format!(
            "{var} must be between {} and {}, got {value}",
            range.start(),
            range.end()
        )))
    }
}

/// The component health rules: each count at least the one before it.
fn health_rules(env: &impl Fn(&str) -> Option<String>, file: &FileConfig) -> Result<HealthRules> {
    let defaults = HealthRules::default();
    let degraded_after = number(
        env,
        "TRAE_HEALTH_DEGRADED_AFTER",
        file.health_degraded_after,
        defaults.degraded_after,
        1..=1_000,
    )?;
    let failing_after = number(
        env,
        "TRAE_HEALTH_FAILING_AFTER",
        file.health_failing_after,
        defaults.failing_after,
        degraded_after..=1_000,
    )?;
    let critical_after = number(
        env,
        "TRAE_HEALTH_CRITICAL_AFTER",
        file.health_critical_after,
        defaults.critical_after,
        failing_after..=1_000,
    )?;
    Ok(HealthRules {
        degraded_after,
        failing_after,
        critical_after,
        ..defaults
    })
}

fn auth_config(env: &impl Fn(&str) -> Option<String>, file: &FileConfig) -> Result<AuthConfig> {
    let d = AuthConfig::default();
    let registration_open = match env("TRAE_REGISTRATION")
        .or_else(|| file.registration.clone())
        .as_deref()
        .map(str::trim)
    {
        None | Some("open") => true,
        Some("closed") => false,
        Some(other) => {
            return Err(Error::Config(format!(
                "TRAE_REGISTRATION must be open or closed, got {other:?}"
            )));
        }
    };
    let trusted_proxies = env("TRAE_TRUSTED_PROXIES")
        .or_else(|| file.trusted_proxies.clone())
        .map(|raw| parse_proxies(&raw))
        .transpose()?
        .unwrap_or_default();
    Ok(AuthConfig {
        registration_open,
        access_token_ttl_secs: number(
            env,
            "TRAE_ACCESS_TOKEN_TTL_SECS",
            file.access_token_ttl_secs,
            d.access_token_ttl_secs,
            30..=86_400,
        )?,
        refresh_token_ttl_days: number(
            env,
            "TRAE_REFRESH_TOKEN_TTL_DAYS",
            file.refresh_token_ttl_days,
            d.refresh_token_ttl_days,
            1..=365,
        )?,
        session_ttl_days: number(
            env,
            "TRAE_SESSION_TTL_DAYS",
            file.session_ttl_days,
            d.session_ttl_days,
            1..=365,
        )?,
        session_cache_secs: number(
            env,
            "TRAE_SESSION_CACHE_SECS",
            file.session_cache_secs,
            d.session_cache_secs,
            0..=60,
        )?,
        lockout_max_failures: number(
            env,
            "TRAE_LOCKOUT_MAX_FAILURES",
            file.lockout_max_failures,
            d.lockout_max_failures,
            1..=1000,
        )?,
        lockout_account_max_failures: number(
            env,
            "TRAE_LOCKOUT_ACCOUNT_MAX_FAILURES",
            file.lockout_account_max_failures,
            d.lockout_account_max_failures,
            1..=1_000_000,
        )?,
        lockout_window_secs: number(
            env,
            "TRAE_LOCKOUT_WINDOW_SECS",
            file.lockout_window_secs,
            d.lockout_window_secs,
            1..=86_400,
        )?,
        lockout_secs: number(
            env,
            "TRAE_LOCKOUT_SECS",
            file.lockout_secs,
            d.lockout_secs,
            1..=86_400,
        )?,
        // OWASP's minimum is the floor: weaker settings are refused, not silently used.
        password_memory_kib: number(
            env,
            "TRAE_PASSWORD_MEMORY_KIB",
            file.password_memory_kib,
            d.password_memory_kib,
            19 * 1024..=4 * 1024 * 1024,
        )?,
        password_iterations: number(
            env,
            "TRAE_PASSWORD_ITERATIONS",
            file.password_iterations,
            d.password_iterations,
            2..=64,
        )?,
        password_parallelism: number(
            env,
            "TRAE_PASSWORD_PARALLELISM",
            file.password_parallelism,
            d.password_parallelism,
            1..=64,
        )?,
        password_concurrency: number(
            env,
            "TRAE_PASSWORD_CONCURRENCY",
            file.password_concurrency,
            d.password_concurrency,
            0..=1024,
        )?,
        trusted_proxies,
        admin_username: env("TRAE_ADMIN_USERNAME"),
        admin_password: env("TRAE_ADMIN_PASSWORD").map(SecretString),
        admin_email: env("TRAE_ADMIN_EMAIL"),
    })
}

/// Parses `https://a.example.com, http://localhost:3000` into normalised origins
/// (`scheme://host[:port]`); anything else, `*` included, is refused.
fn parse_origins(raw: &str) -> Result<Vec<String>> {
    raw.split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(|o| {
            let refuse = || {
                Error::Config(format!(
                    "TRAE_CORS_ORIGINS entries must be origins like https://app.example.com, got {o:?}"
                ))
            };
            let url = url::Url::parse(o).map_err(|_| refuse())?;
            let bare = matches!(url.scheme(), "http" | "https")
                && url.host_str().is_some()
                && url.username().is_empty()
                && url.password().is_none()
                && url.path() == "/"
                && url.query().is_none()
                && url.fragment().is_none();
            if !bare {
                return Err(refuse());
            }
            Ok(url.origin().ascii_serialization())
        })
        .collect()
}

/// Parses `10.0.0.1, 10.1.0.0/16` into networks (a bare IP is a /32 or /128).
fn parse_proxies(raw: &str) -> Result<Vec<ipnet::IpNet>> {
    parse_networks("TRAE_TRUSTED_PROXIES", raw)
}

/// IPs or CIDRs, comma-separated; an error names `var`.
fn parse_networks(var: &str, raw: &str) -> Result<Vec<ipnet::IpNet>> {
    raw.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.parse::<ipnet::IpNet>()
                .or_else(|_| p.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| {
                    Error::Config(format!(
                        "{var} entries must be IP addresses or CIDRs, got {p:?}"
                    ))
                })
        })
        .collect()
}

fn inner(e: &Error) -> String {
    match e {
        Error::Config(m) => m.clone(),
        other => other.to_string(),
    }
}

fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path).map_err(|e| {
        Error::Config(format!(
            "TRAE_DATA_DIR {:?} cannot be resolved: {e}",
            path.display()
        ))
    })
}

fn read_file(path: &Path) -> Result<FileConfig> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(FileConfig::default()),
        Err(e) => {
            return Err(Error::Config(format!(
                "cannot read {}: {e}",
                path.display()
            )));
        }
    };
    toml::from_str(&text).map_err(|e| Error::Config(format!("{}: {}", path.display(), e.message())))
}

/// The file a SQLite URL names (`sqlite://path`, `sqlite:path`, with or without options);
/// `None` for an in-memory database and for other engines.
pub fn sqlite_file(database_url: &str) -> Option<PathBuf> {
    let rest = database_url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let in_memory = path.is_empty()
        || path == ":memory:"
        || query.split('&').any(|option| option == "mode=memory");
    (!in_memory).then(|| PathBuf::from(path))
}

/// Values set in code that win over the environment and `trae.toml` (e.g. the URL given to
/// `trae.Store(url)`).
#[derive(Debug, Clone, Default)]
pub struct ConfigOverrides {
    /// The database URL.
    pub database_url: Option<String>,
    /// The data directory.
    pub data_dir: Option<PathBuf>,
    /// The access-token signing secret.
    pub jwt_secret: Option<SecretString>,
    /// The secrets vault master key.
    pub master_key: Option<SecretString>,
}

/// The default database: `trae.db` in the data directory, created on first use.
pub fn default_sqlite_url(data_dir: &Path) -> String {
    format!("sqlite://{}?mode=rwc", data_dir.join("trae.db").display())
}

fn resolve_bind(
    env_bind: Option<String>,
    env_port: Option<String>,
    file_bind: Option<String>,
) -> Result<SocketAddr> {
    if let Some(bind) = env_bind {
        return parse_bind("TRAE_BIND", &bind);
    }
    let mut addr = match file_bind {
        Some(bind) => parse_bind("bind in trae.toml", &bind)?,
        None => SocketAddr::from(([127, 0, 0, 1], 8000)),
    };
    if let Some(port) = env_port {
        let port = port.trim().parse::<u16>().map_err(|_| {
            Error::Config(format!("PORT must be a port number 0–65535, got {port:?}"))
        })?;
        addr.set_port(port);
    }
    Ok(addr)
}

fn parse_bind(source: &str, value: &str) -> Result<SocketAddr> {
    let value = value.trim();
    let value = value
        .strip_prefix("localhost:")
        .map_or_else(|| value.to_owned(), |port| format!("127.0.0.1:{port}"));
    value.parse::<SocketAddr>().map_err(|_| {
        Error::Config(format!(
            "{source} must be host:port with an IP address, e.g. 127.0.0.1:8000 or [::1]:8000; got {value:?}"
        ))
    })
}

/// The URL with every password replaced by `***`: the one in the user information and any
/// query parameter whose name ends in `password` (libpq reads `password` and `sslpassword`
/// from the query too). The user name stays, so an operator can tell which account is used.
pub fn redact_url(raw: &str) -> String {
    let Ok(mut url) = url::Url::parse(raw) else {
        return "<unparseable URL>".to_owned();
    };
    let mut changed = false;
    if url.password().is_some() {
        let _ = url.set_password(Some("***"));
        changed = true;
    }
    let secret = |name: &str| name.to_ascii_lowercase().ends_with("password");
    if url.query_pairs().any(|(name, _)| secret(&name)) {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(name, value)| {
                let value = if secret(&name) { "***".into() } else { value };
                (name.into_owned(), value.into_owned())
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
        changed = true;
    }
    // Unchanged URLs are shown as written (the parser would normalise them).
    if changed {
        url.to_string()
    } else {
        raw.to_owned()
    }
}

#[cfg(test)]
mod tests;
