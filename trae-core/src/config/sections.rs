//! The sections of the configuration, one struct per concern, with their defaults.

use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;

use super::{FileConfig, SecretString, number};
use crate::{Error, Result};

/// Scheduled backups taken by `trae serve`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupConfig {
    /// Hours between scheduled backups (0: none).
    pub interval_hours: u32,
    /// Scheduled backups kept; older ones are deleted after each new one.
    pub keep: u32,
    /// Where backups are written.
    pub dir: PathBuf,
}

/// How metrics are exposed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MetricsConfig {
    /// Clients that may read `/metrics` without credentials (a scraper on a private network).
    pub open_to: Vec<ipnet::IpNet>,
}

/// Rate limits on incoming requests, per client and route group (see
/// [`crate::apis::gateway_limit`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GatewayLimitConfig {
    /// Whether requests are limited at all (`TRAE_RATE_LIMIT`).
    pub enabled: bool,
    /// Requests per minute per client on the sign-in routes (login, register, refresh).
    pub login_per_minute: u32,
    /// Requests per hour per client on the sign-in routes (0: no hourly window).
    pub login_per_hour: u32,
    /// Requests per minute per client on the rest of the API.
    pub per_minute: u32,
    /// Requests per hour per client on the rest of the API (0: no hourly window).
    pub per_hour: u32,
    /// (group, client) buckets tracked at most before newcomers share one per group.
    pub max_clients: u32,
}

impl Default for GatewayLimitConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            login_per_minute: 30,
            login_per_hour: 0,
            per_minute: 600,
            per_hour: 0,
            max_clients: 100_000,
        }
    }
}

impl GatewayLimitConfig {
    pub(super) fn from_sources(
        env: &impl Fn(&str) -> Option<String>,
        file: &FileConfig,
    ) -> Result<Self> {
        const MAX: u32 = 1_000_000_000;
        let d = Self::default();
        Ok(Self {
            enabled: match env("TRAE_RATE_LIMIT").map(|v| v.trim().to_ascii_lowercase()) {
                None => file.rate_limit.unwrap_or(d.enabled),
                Some(v) if matches!(v.as_str(), "on" | "true" | "1" | "yes") => true,
                Some(v) if matches!(v.as_str(), "off" | "false" | "0" | "no") => false,
                Some(other) => {
                    return Err(Error::Config(format!(
                        "TRAE_RATE_LIMIT must be on or off, got {other:?}"
                    )));
                }
            },
            login_per_minute: number(
                env,
                "TRAE_RATE_LIMIT_LOGIN_PER_MINUTE",
                file.rate_limit_login_per_minute,
                d.login_per_minute,
                1..=MAX,
            )?,
            login_per_hour: number(
                env,
                "TRAE_RATE_LIMIT_LOGIN_PER_HOUR",
                file.rate_limit_login_per_hour,
                d.login_per_hour,
                0..=MAX,
            )?,
            per_minute: number(
                env,
                "TRAE_RATE_LIMIT_PER_MINUTE",
                file.rate_limit_per_minute,
                d.per_minute,
                1..=MAX,
            )?,
            per_hour: number(
                env,
                "TRAE_RATE_LIMIT_PER_HOUR",
                file.rate_limit_per_hour,
                d.per_hour,
                0..=MAX,
            )?,
            max_clients: number(
                env,
                "TRAE_RATE_LIMIT_MAX_CLIENTS",
                file.rate_limit_max_clients,
                d.max_clients,
                100..=100_000_000,
            )?,
        })
    }
}

/// How request history is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestHistoryConfig {
    /// Share of requests recorded, in percent (0: none).
    pub percent: u32,
    /// Days a record is kept.
    pub retention_days: u32,
    /// Records kept at most.
    pub max_rows: u32,
}

impl Default for RequestHistoryConfig {
    fn default() -> Self {
        Self {
            // A tenth is plenty for latency and traffic figures and costs a tenth of the
            // writes; server errors are always kept (see RequestRecorder::record).
            percent: 10,
            retention_days: 7,
            max_rows: 100_000,
        }
    }
}

/// How the event stream keeps events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventConfig {
    /// Hours an event is kept.
    pub retention_hours: u32,
    /// Events kept at most.
    pub max_rows: u32,
}

impl Default for EventConfig {
    fn default() -> Self {
        Self {
            retention_hours: 72,
            max_rows: 1_000_000,
        }
    }
}

/// Task queue settings.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskConfig {
    /// How long a worker's claim holds a task without renewal, in seconds.
    pub lease_secs: u32,
    /// How long finished tasks are kept, in hours (0: forever).
    pub retention_hours: u32,
    /// Waiting tasks (scheduled, available, retryable) a queue may hold before enqueues into
    /// it are refused with `Overloaded` (0: no limit).
    pub max_backlog: u32,
    /// Recurring schedules every `trae serve` and `trae worker` enqueues (`[[schedules]]` in
    /// `trae.toml`); each tick is enqueued once however many processes carry it.
    pub schedules: Vec<ScheduleConfig>,
}

impl Default for TaskConfig {
    fn default() -> Self {
        Self {
            lease_secs: 300,
            retention_hours: 168,
            max_backlog: 100_000,
            schedules: Vec::new(),
        }
    }
}

/// A recurring schedule as `trae.toml` gives it:
///
/// ```toml
/// [[schedules]]
/// name = "nightly-report"
/// cron = "0 3 * * *"          # UTC; six fields when the first is seconds
/// kind = "http.request"
/// payload = { url = "https://reports.example.com/run", method = "POST" }
/// queue = "default"           # optional, like priority and max_attempts
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    /// Unique name; ticks are recorded under it.
    pub name: String,
    /// The cron pattern (UTC).
    pub cron: String,
    /// The kind of task each tick enqueues.
    pub kind: String,
    /// Its payload.
    #[serde(default)]
    pub payload: Option<serde_json::Value>,
    /// Its queue.
    #[serde(default)]
    pub queue: Option<String>,
    /// Its priority.
    #[serde(default)]
    pub priority: Option<i16>,
    /// Its attempts.
    #[serde(default)]
    pub max_attempts: Option<i32>,
}

impl ScheduleConfig {
    /// The schedule, with every rule checked.
    pub fn schedule(&self) -> Result<crate::tasks::recurring::Schedule> {
        let task = crate::tasks::task::NewTask {
            queue: self.queue.clone(),
            priority: self.priority,
            max_attempts: self.max_attempts,
            payload: self.payload.clone(),
            ..crate::tasks::task::NewTask::new(self.kind.clone(), serde_json::json!({}))
        };
        crate::tasks::recurring::Schedule::new(&self.name, &self.cron, task)
    }
}

/// Where outbound HTTP (tasks, later the API registry and webhooks) may go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundConfig {
    /// Hosts that may be called: exact names or IPs, or `*.example.com` for subdomains.
    pub allow_hosts: Vec<String>,
    /// Whether loopback addresses may be called (names resolving to them included).
    pub allow_loopback: bool,
    /// The longest an outbound call may take, in milliseconds.
    pub timeout_ms: u32,
}

impl Default for OutboundConfig {
    fn default() -> Self {
        Self {
            allow_hosts: Vec::new(),
            allow_loopback: false,
            timeout_ms: 30_000,
        }
    }
}

/// Identity settings: registration, token lifetimes, lockout, password hashing, proxies and
/// the first admin.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthConfig {
    /// Whether anyone may register (`TRAE_REGISTRATION=open`).
    pub registration_open: bool,
    /// Access-token lifetime in seconds.
    pub access_token_ttl_secs: u32,
    /// Refresh-token lifetime in days.
    pub refresh_token_ttl_days: u32,
    /// Absolute session lifetime in days: no refresh extends a session past it, and the
    /// database refuses every token of an older session.
    pub session_ttl_days: u32,
    /// How long a node trusts a session check it made (0: check every request). This bounds
    /// how long a session revoked on another node keeps working here.
    pub session_cache_secs: u32,
    /// Failed logins from one client address that lock the account for that address.
    pub lockout_max_failures: u32,
    /// Failed logins from all addresses together that lock the account for everyone.
    pub lockout_account_max_failures: u32,
    /// The window those failures must fall in, in seconds.
    pub lockout_window_secs: u32,
    /// How long a lock lasts, in seconds.
    pub lockout_secs: u32,
    /// argon2id memory in KiB.
    pub password_memory_kib: u32,
    /// argon2id iterations.
    pub password_iterations: u32,
    /// argon2id lanes.
    pub password_parallelism: u32,
    /// Hashes computed at once (0: the number of cores minus one, at least 1).
    pub password_concurrency: u32,
    /// Peers whose `X-Forwarded-For` is believed: IPs or CIDRs.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The first admin's username, created at start when no admin exists.
    pub admin_username: Option<String>,
    /// The first admin's password.
    pub admin_password: Option<SecretString>,
    /// The first admin's email (default `<username>@trae.local`).
    pub admin_email: Option<String>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            registration_open: true,
            access_token_ttl_secs: 900,
            refresh_token_ttl_days: 30,
            session_ttl_days: 30,
            session_cache_secs: 5,
            lockout_max_failures: 5,
            lockout_account_max_failures: 100,
            lockout_window_secs: 900,
            lockout_secs: 900,
            password_memory_kib: 19 * 1024,
            password_iterations: 2,
            password_parallelism: 1,
            password_concurrency: 0,
            trusted_proxies: Vec::new(),
            admin_username: None,
            admin_password: None,
            admin_email: None,
        }
    }
}

impl fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthConfig")
            .field("registration_open", &self.registration_open)
            .field("access_token_ttl_secs", &self.access_token_ttl_secs)
            .field("refresh_token_ttl_days", &self.refresh_token_ttl_days)
            .field("session_ttl_days", &self.session_ttl_days)
            .field("lockout_max_failures", &self.lockout_max_failures)
            .field(
                "lockout_account_max_failures",
                &self.lockout_account_max_failures,
            )
            .field("session_cache_secs", &self.session_cache_secs)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("admin_username", &self.admin_username)
            .finish_non_exhaustive()
    }
}
