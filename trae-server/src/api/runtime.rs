//! `/api/runtime`: what is running, since when, using what, configured how (no secrets).

use chrono::{DateTime, Utc};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use trae_core::{ConfigSummary, MetricSeries};

use super::ApiTags;
use crate::ApiError;
use crate::credentials::Auth;

/// The runtime router.
#[derive(Debug, Clone)]
pub struct RuntimeApi {
    started_at: DateTime<Utc>,
    config: ConfigSummary,
    metrics: MetricSeries,
}

impl RuntimeApi {
    /// A router describing a process started at `started_at` with `config`, to callers
    /// `metrics` lets read operational figures.
    pub fn new(started_at: DateTime<Utc>, config: ConfigSummary, metrics: MetricSeries) -> Self {
        Self {
            started_at,
            config,
            metrics,
        }
    }
}

/// The configuration, without secrets.
#[derive(Debug, Object)]
pub struct RuntimeConfig {
    /// The data directory; `null` unless you hold `backups:admin`.
    pub data_dir: Option<String>,
    /// The database URL with every password masked; `null` unless you hold `backups:admin`.
    pub database_url: Option<String>,
    /// The listen address.
    pub bind: String,
    /// The log filter.
    pub log: String,
    /// `text` or `json`.
    pub log_format: String,
    /// The request body limit in bytes.
    pub max_body_bytes: u64,
    /// Whether a JWT secret is configured (never the secret).
    pub jwt_secret_configured: bool,
    /// Whether a master key is configured (never the key).
    pub master_key_configured: bool,
    /// Whether anyone may register.
    pub registration_open: bool,
    /// Access-token lifetime in seconds.
    pub access_token_ttl_secs: u32,
    /// How long a node trusts a session check (the revocation bound across nodes).
    pub session_cache_secs: u32,
}

/// The running process.
#[derive(Debug, Object)]
pub struct RuntimeInfo {
    /// The trae version.
    pub version: String,
    /// The git commit the binary was built from, or `unknown`.
    pub git_commit: String,
    /// When the process started.
    pub started_at: DateTime<Utc>,
    /// Seconds since start.
    pub uptime_seconds: f64,
    /// The process id.
    pub pid: u32,
    /// Resident memory in bytes.
    pub resident_memory_bytes: u64,
    /// `sqlite` or `postgres`.
    pub database_backend: String,
    /// The configuration summary.
    pub config: RuntimeConfig,
}

/// The commit this binary was built from (set by build.rs).
pub const GIT_COMMIT: &str = env!("TRAE_GIT_COMMIT");

fn resident_memory_bytes(pid: u32) -> u64 {
    use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};
    let pid = Pid::from_u32(pid);
    let Ok(mut system) = System::new() else {
        return 0;
    };
    system.refresh_processes_specifics(
        ProcessesToUpdate::Some(&[pid]),
        true,
        ProcessRefreshKind::nothing().with_memory(),
    );
    system.process(pid).map_or(0, |p| p.memory())
}

#[OpenApi(tag = "ApiTags::Runtime")]
impl RuntimeApi {
    /// Version, uptime, resource use and configuration
    #[oai(path = "/api/runtime", method = "get", operation_id = "runtime")]
    async fn runtime(&self, auth: Auth) -> Result<Json<RuntimeInfo>, ApiError> {
        let config = &self
            .metrics
            .runtime_config(auth.principal(), &self.config)
            .await?;
        let pid = std::process::id();
        Ok(Json(RuntimeInfo {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            git_commit: GIT_COMMIT.to_owned(),
            started_at: self.started_at,
            uptime_seconds: (Utc::now() - self.started_at).as_seconds_f64().max(0.0),
            pid,
            resident_memory_bytes: resident_memory_bytes(pid),
            database_backend: config.database_backend.as_str().to_owned(),
            config: RuntimeConfig {
                data_dir: config.data_dir.clone(),
                database_url: config.database_url.clone(),
                bind: config.bind.clone(),
                log: config.log.clone(),
                log_format: config.log_format.as_str().to_owned(),
                max_body_bytes: config.max_body_bytes,
                jwt_secret_configured: config.jwt_secret_configured,
                master_key_configured: config.master_key_configured,
                registration_open: config.registration_open,
                access_token_ttl_secs: config.access_token_ttl_secs,
                session_cache_secs: config.session_cache_secs,
            },
        }))
    }
}
