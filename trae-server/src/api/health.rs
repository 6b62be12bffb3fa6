//! `/api/health`: liveness, readiness and a summary of component health.

use std::time::Instant;

use poem::http::StatusCode;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use trae_auth::Identity;
use trae_core::HealthStatus;
use trae_storage::Store;

use super::ApiTags;
use crate::ApiError;
use crate::credentials::OptionalAuth;

/// The health router.
#[derive(Debug, Clone)]
pub struct HealthApi {
    store: Store,
    identity: Identity,
}

impl HealthApi {
    /// A health router checking `store`; components are shown to holders of `metrics:read`.
    pub fn new(store: Store, identity: Identity) -> Self {
        Self { store, identity }
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
pub struct ComponentHealth {
    /// The component's name.
    pub name: String,
    /// Its status.
    pub status: String,
    /// Whether the system is unusable while this component fails.
    pub required: bool,
    /// How long the check took, in milliseconds.
    pub latency_ms: f64,
}

/// The overall health and each component's.
#[derive(Debug, Object)]
pub struct HealthSummary {
    /// The worst status of any required component.
    pub status: String,
    /// Every checked component (empty unless the caller holds `metrics:read`).
    pub components: Vec<ComponentHealth>,
}

/// The summary, with 503 when the system is not healthy.
#[derive(Debug, ApiResponse)]
pub enum SummaryResponse {
    /// Every required component is healthy.
    #[oai(status = 200)]
    Healthy(Json<HealthSummary>),
    /// A required component is failing.
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
    /// 200 only when the database answers; 503 otherwise. Use it as a readiness probe.
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
        Ok(Json(Probe {
            status: "ready".to_owned(),
        }))
    }

    /// Overall and component health
    ///
    /// Open; the components are listed only for callers holding `metrics:read`.
    #[oai(path = "/api/health", method = "get", operation_id = "health_summary")]
    async fn summary(&self, auth: OptionalAuth) -> SummaryResponse {
        let started = Instant::now();
        let database = match self.store.ping().await {
            Ok(()) => HealthStatus::Healthy,
            Err(e) => {
                tracing::warn!(error = %e, "database health check failed");
                HealthStatus::Critical
            }
        };
        let components = if auth.holds(&self.identity, "metrics:read").await {
            vec![ComponentHealth {
                name: "database".to_owned(),
                status: database.as_str().to_owned(),
                required: true,
                latency_ms: started.elapsed().as_secs_f64() * 1000.0,
            }]
        } else {
            Vec::new()
        };
        let summary = HealthSummary {
            status: database.as_str().to_owned(),
            components,
        };
        if database == HealthStatus::Healthy {
            SummaryResponse::Healthy(Json(summary))
        } else {
            SummaryResponse::Unhealthy(Json(summary))
        }
    }
}
