//! `/api/health`: liveness, readiness and a summary of component health.

use chrono::{DateTime, Utc};
use poem::http::StatusCode;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use trae_core::{ComponentReport, Principal};
use trae_storage::{HealthMonitor, Store};

use super::ApiTags;
use crate::ApiError;
use crate::credentials::{Auth, OptionalAuth};

/// The health router.
#[derive(Debug, Clone)]
pub struct HealthApi {
    store: Store,
    monitor: HealthMonitor,
}

impl HealthApi {
    /// A health router over `monitor` (the components and their checks); components are
    /// shown to holders of `metrics:read`.
    pub fn new(store: Store, monitor: HealthMonitor) -> Self {
        Self { store, monitor }
    }

    /// Checks the database now (cheap, and what callers of the summary care about most).
    async fn check_database(&self) {
        if let Err(e) = self.monitor.check(&Principal::System, "database").await {
            tracing::warn!(error = %e, "recording the database check failed");
        }
    }
}

/// A liveness or readiness answer.
#[derive(Debug, Object)]
pub struct Probe {
    /// `ok` when live, `ready` when ready.
    pub status: String,
}

/// The health of one component.
#[derive(Debug, Object)]
#[oai(rename = "ComponentHealth")]
pub struct ComponentBody {
    /// The component's name.
    pub name: String,
    /// Its status: unknown, healthy, degraded, failing or critical.
    pub status: String,
    /// Whether readiness fails while this component is failing or critical.
    pub required: bool,
    /// When it was last checked.
    pub last_check: Option<DateTime<Utc>>,
    /// When a check last passed.
    pub last_ok: Option<DateTime<Utc>>,
    /// Failed checks in a row.
    pub consecutive_failures: u32,
    /// Checks run since the process started.
    pub total_checks: u64,
    /// Checks failed since the process started.
    pub total_failures: u64,
    /// Percent of the observed last 24 hours spent up (healthy or degraded).
    pub uptime_24h: Option<f64>,
    /// Percent of the observed last 7 days spent up.
    pub uptime_7d: Option<f64>,
    /// Mean time from going down to coming back up, in seconds.
    pub average_recovery_secs: Option<f64>,
    /// The latest failure (never a host path, version or variable).
    pub last_error: Option<String>,
}

impl From<ComponentReport> for ComponentBody {
    fn from(r: ComponentReport) -> Self {
        Self {
            name: r.name,
            status: r.status.as_str().to_owned(),
            required: r.required,
            last_check: r.last_check,
            last_ok: r.last_ok,
            consecutive_failures: r.consecutive_failures,
            total_checks: r.total_checks,
            total_failures: r.total_failures,
            uptime_24h: r.uptime_24h,
            uptime_7d: r.uptime_7d,
            average_recovery_secs: r.average_recovery_secs,
            last_error: r.last_error,
        }
    }
}

/// One status change of a component.
#[derive(Debug, Object)]
#[oai(rename = "HealthTransition")]
pub struct TransitionBody {
    /// The status before.
    pub from: String,
    /// The status after.
    pub to: String,
    /// When.
    pub at: DateTime<Utc>,
    /// The failure that caused it.
    pub error: Option<String>,
}

/// One component's health and its status changes over the last 7 days.
#[derive(Debug, Object)]
#[oai(rename = "ComponentHealthDetail")]
pub struct ComponentDetailBody {
    /// The current health.
    #[oai(flatten)]
    pub current: ComponentBody,
    /// Status changes, newest first (kept across restarts).
    pub history: Vec<TransitionBody>,
}

/// The overall health and each component's.
#[derive(Debug, Object)]
pub struct HealthSummary {
    /// The worst status of the required components (an optional one that is down counts as
    /// degraded).
    pub status: String,
    /// Every component (empty unless the caller holds `metrics:read`).
    pub components: Vec<ComponentBody>,
}

/// The summary, with 503 when the system is not healthy.
#[derive(Debug, ApiResponse)]
pub enum SummaryResponse {
    /// No required component is failing or critical.
    #[oai(status = 200)]
    Healthy(Json<HealthSummary>),
    /// A required component is failing or critical.
    #[oai(status = 503)]
    Unhealthy(Json<HealthSummary>),
}

#[OpenApi(tag = "ApiTags::Health")]
impl HealthApi {
    /// The process is up
    ///
    /// Answers without touching any dependency; use it as a liveness probe.
    #[oai(
        path = "/api/health/live",
        method = "get",
        operation_id = "health_live"
    )]
    async fn live(&self) -> Json<Probe> {
        Json(Probe {
            status: "ok".to_owned(),
        })
    }

    /// The process can serve requests
    ///
    /// 200 when the database answers and no required component is failing or critical; 503
    /// otherwise. Use it as a readiness probe.
    #[oai(
        path = "/api/health/ready",
        method = "get",
        operation_id = "health_ready"
    )]
    async fn ready(&self) -> Result<Json<Probe>, ApiError> {
        self.store.ping().await.map_err(|e| {
            tracing::warn!(error = %e, "readiness check failed");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the database does not answer",
            )
        })?;
        if !self.monitor.health().ready() {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "a required component is failing",
            ));
        }
        Ok(Json(Probe {
            status: "ready".to_owned(),
        }))
    }

    /// Overall and component health
    ///
    /// Open; the components are listed only for callers holding `metrics:read`. The database
    /// is checked on every call, the other components on a schedule.
    #[oai(path = "/api/health", method = "get", operation_id = "health_summary")]
    async fn summary(&self, auth: OptionalAuth) -> SummaryResponse {
        self.check_database().await;
        // Listed for callers the monitor lets see them; the status is open to all.
        let components = match auth.principal() {
            Some(principal) => self
                .monitor
                .reports(principal)
                .await
                .map(|reports| reports.into_iter().map(Into::into).collect())
                .unwrap_or_default(),
            None => Vec::new(),
        };
        let summary = HealthSummary {
            status: self.monitor.health().overall().as_str().to_owned(),
            components,
        };
        if self.monitor.health().ready() {
            SummaryResponse::Healthy(Json(summary))
        } else {
            SummaryResponse::Unhealthy(Json(summary))
        }
    }

    /// Every component's health (metrics:read)
    #[oai(
        path = "/api/health/components",
        method = "get",
        operation_id = "health_components"
    )]
    async fn components(&self, auth: Auth) -> Result<Json<Vec<ComponentBody>>, ApiError> {
        let reports = self.monitor.reports(auth.principal()).await?;
        Ok(Json(reports.into_iter().map(Into::into).collect()))
    }

    /// One component's health: counters, uptime, recovery and its status changes (metrics:read)
    #[oai(
        path = "/api/health/components/:name",
        method = "get",
        operation_id = "health_component"
    )]
    async fn component(
        &self,
        auth: Auth,
        name: Path<String>,
    ) -> Result<Json<ComponentDetailBody>, ApiError> {
        let (report, history) = self.monitor.component(auth.principal(), &name.0).await?;
        Ok(Json(ComponentDetailBody {
            current: report.into(),
            history: history
                .into_iter()
                .map(|t| TransitionBody {
                    from: t.from.as_str().to_owned(),
                    to: t.to.as_str().to_owned(),
                    at: t.at,
                    error: t.error,
                })
                .collect(),
        }))
    }
}
