//! `/api/apis`: the external API registry, its usage and logs, health checks, and calls
//! through the orchestrator.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use trae_agents::{ApiCall, Orchestrator, json_body};
use trae_auth::RequestMeta;
use trae_core::apis::api_endpoint::{ApiEndpointFilter, HealthCheckSpec};
use trae_core::{
    ApiAttempt, ApiAuth, ApiEndpoint, ApiEndpointSpec, ApiLimits, ApiRegistry, ApiUsage, Error,
    HealthStatus, PageRequest, RoutingStrategy,
};

use super::ApiTags;
use super::json_body::JsonBody;
use super::page::Page;
use crate::ApiError;
use crate::credentials::Auth;

/// The external APIs router.
#[derive(Debug, Clone)]
pub struct ApisApi {
    orchestrator: Orchestrator,
}

impl ApisApi {
    /// A router over `orchestrator` (and its registry), which decide who may do what.
    pub fn new(orchestrator: Orchestrator) -> Self {
        Self { orchestrator }
    }

    fn registry(&self) -> &ApiRegistry {
        self.orchestrator.registry()
    }
}

/// How calls authenticate to the endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename = "ApiAuthType", rename_all = "lowercase")]
pub enum AuthType {
    /// No credentials.
    None,
    /// `Authorization: Bearer <secret>`.
    Bearer,
    /// `Authorization: Basic base64(<secret>)`, the secret holding `user:password`.
    Basic,
    /// The secret in the header `name`.
    Header,
    /// The secret in the query parameter `name`.
    Query,
}

/// Credentials for an endpoint, by the name of a vault secret (never the value).
#[derive(Debug, Clone, Object)]
#[oai(rename = "ApiAuth", deny_unknown_fields)]
pub struct AuthBody {
    /// The kind of credentials.
    #[oai(rename = "type")]
    pub kind: AuthType,
    /// The vault secret holding them (all types but `none`).
    pub secret: Option<String>,
    /// The header or query parameter (`header` and `query`).
    pub name: Option<String>,
}

/// Rolling-window call limits; a "day" is any 24 hours.
#[derive(Debug, Clone, Object)]
#[oai(rename = "ApiLimits", deny_unknown_fields)]
pub struct LimitsBody {
    /// Calls in any 60 seconds.
    pub per_minute: Option<u64>,
    /// Calls in any hour.
    pub per_hour: Option<u64>,
    /// Calls in any 24 hours.
    pub per_day: Option<u64>,
}

/// The scheduled health check.
#[derive(Debug, Clone, Object)]
#[oai(rename = "ApiHealthCheck", deny_unknown_fields)]
pub struct HealthCheckBody {
    /// The path a `GET` checks (default `/`); 2xx or 3xx passes.
    pub path: Option<String>,
    /// Seconds between checks (default 60, at least 5).
    pub interval_secs: Option<u32>,
}

/// An endpoint to register or the replacement of one.
#[derive(Debug, Clone, Object)]
#[oai(rename = "ApiEndpointSpec", deny_unknown_fields)]
pub struct SpecBody {
    /// Unique name: 1–128 characters of A-Z, a-z, 0-9, `_`, `.`, `-`.
    pub name: String,
    /// What it does, e.g. `text-generation`.
    pub capability: String,
    /// The http or https URL that call paths are relative to.
    pub base_url: String,
    /// Credentials (default none).
    pub auth: Option<AuthBody>,
    /// Lower is tried first (default 0).
    pub priority: Option<i32>,
    /// Call limits (default none).
    pub limits: Option<LimitsBody>,
    /// The cost of one call (default 0).
    pub cost_per_request: Option<f64>,
    /// Per-attempt timeout, 1–300000 ms (default 30000).
    pub timeout_ms: Option<u32>,
    /// Whether calls may use it (default true).
    pub is_active: Option<bool>,
    /// The scheduled health check.
    pub health_check: Option<HealthCheckBody>,
    /// Labels.
    pub tags: Option<Vec<String>>,
    /// Any JSON object.
    pub metadata: Option<serde_json::Value>,
}

fn auth_of(body: Option<AuthBody>) -> Result<ApiAuth, ApiError> {
    let Some(body) = body else {
        return Ok(ApiAuth::None);
    };
    let secret = || {
        body.secret.clone().ok_or_else(|| {
            ApiError::from(Error::validation(
                "auth.secret",
                "names the vault secret to send",
            ))
        })
    };
    let name = || {
        body.name.clone().ok_or_else(|| {
            ApiError::from(Error::validation(
                "auth.name",
                "names the header or query parameter",
            ))
        })
    };
    Ok(match body.kind {
        AuthType::None => ApiAuth::None,
        AuthType::Bearer => ApiAuth::Bearer { secret: secret()? },
        AuthType::Basic => ApiAuth::Basic { secret: secret()? },
        AuthType::Header => ApiAuth::Header {
            secret: secret()?,
            name: name()?,
        },
        AuthType::Query => ApiAuth::Query {
            secret: secret()?,
            name: name()?,
        },
    })
}

impl SpecBody {
    fn into_spec(self) -> Result<ApiEndpointSpec, ApiError> {
        let mut spec = ApiEndpointSpec::new(self.name, self.capability, self.base_url);
        spec.auth = auth_of(self.auth)?;
        spec.priority = self.priority.unwrap_or(0);
        if let Some(l) = self.limits {
            spec.limits = ApiLimits {
                per_minute: l.per_minute,
                per_hour: l.per_hour,
                per_day: l.per_day,
            };
        }
        spec.cost_per_request = self.cost_per_request.unwrap_or(0.0);
        if let Some(t) = self.timeout_ms {
            spec.timeout_ms = t;
        }
        spec.is_active = self.is_active.unwrap_or(true);
        if let Some(h) = self.health_check {
            let default = HealthCheckSpec::default();
            spec.health_check = HealthCheckSpec {
                path: h.path.unwrap_or(default.path),
                interval_secs: h.interval_secs.unwrap_or(default.interval_secs),
            };
        }
        spec.tags = self.tags.unwrap_or_default();
        if let Some(m) = self.metadata {
            spec.metadata = m;
        }
        Ok(spec)
    }
}

/// The health scale shared with components.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename = "HealthStatus", rename_all = "lowercase")]
pub enum HealthBody {
    /// Not checked yet.
    Unknown,
    /// Working normally.
    Healthy,
    /// Working, with problems.
    Degraded,
    /// Not working; skipped until a check passes.
    Failing,
    /// Not working, repeatedly.
    Critical,
}

impl From<HealthStatus> for HealthBody {
    fn from(h: HealthStatus) -> Self {
        match h {
            HealthStatus::Unknown => Self::Unknown,
            HealthStatus::Healthy => Self::Healthy,
            HealthStatus::Degraded => Self::Degraded,
            HealthStatus::Failing => Self::Failing,
            HealthStatus::Critical => Self::Critical,
        }
    }
}

/// A registered endpoint.
#[derive(Debug, Clone, Object)]
#[oai(rename = "ApiEndpoint")]
pub struct EndpointBody {
    /// Unique name.
    pub name: String,
    /// What it does.
    pub capability: String,
    /// The URL call paths are relative to.
    pub base_url: String,
    /// Credentials, by vault secret name.
    pub auth: AuthBody,
    /// Lower is tried first.
    pub priority: i32,
    /// Call limits.
    pub limits: LimitsBody,
    /// The cost of one call.
    pub cost_per_request: f64,
    /// Per-attempt timeout in ms.
    pub timeout_ms: u32,
    /// Whether calls may use it.
    pub is_active: bool,
    /// The scheduled health check.
    pub health_check: HealthCheckBody,
    /// Labels.
    pub tags: Vec<String>,
    /// Any JSON object.
    pub metadata: serde_json::Value,
    /// Its health as this node sees it.
    pub health: HealthBody,
    /// Failed calls or checks in a row.
    pub consecutive_failures: u32,
    /// When a health check last ran.
    pub last_check_at: Option<DateTime<Utc>>,
    /// The latest failure.
    pub last_error: Option<String>,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<ApiEndpoint> for EndpointBody {
    fn from(e: ApiEndpoint) -> Self {
        let s = e.spec;
        let (kind, secret, name) = match s.auth {
            ApiAuth::None => (AuthType::None, None, None),
            ApiAuth::Bearer { secret } => (AuthType::Bearer, Some(secret), None),
            ApiAuth::Basic { secret } => (AuthType::Basic, Some(secret), None),
            ApiAuth::Header { secret, name } => (AuthType::Header, Some(secret), Some(name)),
            ApiAuth::Query { secret, name } => (AuthType::Query, Some(secret), Some(name)),
        };
        Self {
            name: s.name,
            capability: s.capability,
            base_url: s.base_url,
            auth: AuthBody { kind, secret, name },
            priority: s.priority,
            limits: LimitsBody {
                per_minute: s.limits.per_minute,
                per_hour: s.limits.per_hour,
                per_day: s.limits.per_day,
            },
            cost_per_request: s.cost_per_request,
            timeout_ms: s.timeout_ms,
            is_active: s.is_active,
            health_check: HealthCheckBody {
                path: Some(s.health_check.path),
                interval_secs: Some(s.health_check.interval_secs),
            },
            tags: s.tags,
            metadata: s.metadata,
            health: e.health.into(),
            consecutive_failures: e.consecutive_failures,
            last_check_at: e.last_check_at,
            last_error: e.last_error,
            created_at: e.created_at,
            updated_at: e.updated_at,
        }
    }
}

/// An endpoint's usage since it was registered.
#[derive(Debug, Clone, Object)]
#[oai(rename = "ApiUsage")]
pub struct UsageBody {
    /// The endpoint.
    pub endpoint: String,
    /// Attempts made.
    pub total: u64,
    /// Attempts that succeeded.
    pub successes: u64,
    /// Attempts that failed.
    pub failures: u64,
    /// Mean latency in ms.
    pub average_latency_ms: f64,
    /// successes / total.
    pub success_rate: f64,
    /// Total cost.
    pub cost: f64,
    /// The latest attempt.
    pub last_used_at: Option<DateTime<Utc>>,
}

impl From<ApiUsage> for UsageBody {
    fn from(u: ApiUsage) -> Self {
        Self {
            endpoint: u.endpoint,
            total: u.total,
            successes: u.successes,
            failures: u.failures,
            average_latency_ms: u.average_latency_ms,
            success_rate: u.success_rate,
            cost: u.cost,
            last_used_at: u.last_used_at,
        }
    }
}

/// One attempt in an endpoint's request log.
#[derive(Debug, Clone, Object)]
#[oai(rename = "ApiAttempt")]
pub struct AttemptBody {
    /// Identifier.
    pub id: uuid::Uuid,
    /// The endpoint.
    pub endpoint: String,
    /// HTTP method.
    pub method: String,
    /// The path, without its query.
    pub path: String,
    /// The upstream's status, when it answered.
    pub status: Option<u16>,
    /// Milliseconds to the answer or failure.
    pub latency_ms: u64,
    /// Request body bytes.
    pub request_bytes: u64,
    /// Response body bytes.
    pub response_bytes: u64,
    /// Why it failed.
    pub error: Option<String>,
    /// Whether it succeeded.
    pub success: bool,
    /// Its cost.
    pub cost: f64,
    /// The request id of the call.
    pub request_id: Option<String>,
    /// When it finished.
    pub at: DateTime<Utc>,
    /// For a language-model call: the model asked for.
    pub model: Option<String>,
    /// For a language-model call: the tokens of the request.
    pub prompt_tokens: Option<u32>,
    /// For a language-model call: the tokens of the answer.
    pub completion_tokens: Option<u32>,
}

impl From<ApiAttempt> for AttemptBody {
    fn from(a: ApiAttempt) -> Self {
        Self {
            id: a.id,
            endpoint: a.endpoint,
            method: a.method,
            path: a.path,
            status: a.status,
            latency_ms: a.latency_ms,
            request_bytes: a.request_bytes,
            response_bytes: a.response_bytes,
            error: a.error,
            success: a.success,
            cost: a.cost,
            request_id: a.request_id,
            at: a.at,
            model: a.model,
            prompt_tokens: a.prompt_tokens,
            completion_tokens: a.completion_tokens,
        }
    }
}

/// How to pick among a capability's endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename = "RoutingStrategy", rename_all = "snake_case")]
pub enum StrategyBody {
    /// Lowest priority first.
    Priority,
    /// Fewest calls in flight first.
    LeastLoaded,
    /// Each call starts at the next endpoint.
    RoundRobin,
    /// Lowest recent latency first.
    LowestLatency,
}

impl From<StrategyBody> for RoutingStrategy {
    fn from(s: StrategyBody) -> Self {
        match s {
            StrategyBody::Priority => Self::Priority,
            StrategyBody::LeastLoaded => Self::LeastLoaded,
            StrategyBody::RoundRobin => Self::RoundRobin,
            StrategyBody::LowestLatency => Self::LowestLatency,
        }
    }
}

/// A call to a capability.
#[derive(Debug, Clone, Object)]
#[oai(rename = "ApiCall", deny_unknown_fields)]
pub struct CallBody {
    /// The capability, e.g. `text-generation`.
    pub capability: String,
    /// GET, POST, PUT, PATCH, DELETE, HEAD or OPTIONS (default GET).
    pub method: Option<String>,
    /// The path (and query) under the endpoint's base URL, starting with `/`.
    pub path: String,
    /// Extra headers; they cannot replace the endpoint's credentials.
    pub headers: Option<BTreeMap<String, String>>,
    /// A string is sent as it is; any other JSON is sent as JSON.
    pub body: Option<serde_json::Value>,
    /// The routing strategy (default priority).
    pub strategy: Option<StrategyBody>,
}

/// One attempt a call made.
#[derive(Debug, Clone, Object)]
#[oai(rename = "ApiCallAttempt")]
pub struct CallAttemptBody {
    /// The endpoint tried.
    pub endpoint: String,
    /// Its status, when it answered.
    pub status: Option<u16>,
    /// Milliseconds to the answer or failure.
    pub latency_ms: u64,
    /// Why it failed.
    pub error: Option<String>,
}

/// The upstream's answer.
#[derive(Debug, Clone, Object)]
#[oai(rename = "ApiCallResult")]
pub struct CallResultBody {
    /// The upstream's own status.
    pub status: u16,
    /// Its headers.
    pub headers: BTreeMap<String, String>,
    /// Its body: JSON when it said so, text otherwise.
    pub body: serde_json::Value,
    /// Whether the body was cut at 1 MiB.
    pub truncated: bool,
    /// The endpoint that answered.
    pub endpoint: String,
    /// Every attempt, the answering one last.
    pub attempts: Vec<CallAttemptBody>,
}

/// A registered endpoint, with its location.
#[derive(Debug, ApiResponse)]
pub enum Created {
    /// Registered.
    #[oai(status = 201)]
    Created(Json<EndpointBody>, #[oai(header = "Location")] String),
}

/// Nothing to return.
#[derive(Debug, ApiResponse)]
pub enum Deleted {
    /// Removed, with its log and usage.
    #[oai(status = 204)]
    NoContent,
}

#[OpenApi(tag = "ApiTags::Apis")]
impl ApisApi {
    /// Lists registered endpoints (apis:read), by priority then name.
    #[oai(path = "/api/apis", method = "get", operation_id = "list_apis")]
    async fn list(
        &self,
        auth: Auth,
        capability: Query<Option<String>>,
        is_active: Query<Option<bool>>,
        tag: Query<Option<String>>,
        limit: Query<Option<i64>>,
        offset: Query<Option<i64>>,
    ) -> Result<Json<Page<EndpointBody>>, ApiError> {
        let page = PageRequest::new(limit.0, offset.0)?;
        let filter = ApiEndpointFilter {
            capability: capability.0,
            is_active: is_active.0,
            tag: tag.0,
        };
        let found = self
            .registry()
            .list(auth.principal(), &filter, page)
            .await?;
        Ok(Json(found.into()))
    }

    /// Registers an endpoint (apis:admin); audited.
    #[oai(path = "/api/apis", method = "post", operation_id = "create_api")]
    async fn create(
        &self,
        auth: Auth,
        meta: Data<&RequestMeta>,
        body: JsonBody<SpecBody>,
    ) -> Result<Created, ApiError> {
        let principal = auth.principal();
        let spec = body.0.into_spec()?;
        let endpoint = self.registry().create(principal, spec, meta.0).await?;
        let location = format!("/api/apis/{}", endpoint.name());
        Ok(Created::Created(Json(endpoint.into()), location))
    }

    /// Calls a capability through the orchestrator (apis:call): 200 with the upstream's own
    /// status inside; 502 when every endpoint failed; 429 with `Retry-After` when every
    /// endpoint is at its rate limit; 404 for an unknown capability.
    #[oai(path = "/api/apis/call", method = "post", operation_id = "call_api")]
    async fn call(
        &self,
        auth: Auth,
        meta: Data<&RequestMeta>,
        body: JsonBody<CallBody>,
    ) -> Result<Json<CallResultBody>, ApiError> {
        let body = body.0;
        let mut headers: Vec<(String, String)> =
            body.headers.unwrap_or_default().into_iter().collect();
        let payload = json_body::encode(body.body, &mut headers);
        let response = self
            .orchestrator
            .call(
                auth.principal(),
                &body.capability,
                ApiCall {
                    method: body.method.unwrap_or_else(|| "GET".into()),
                    path: body.path,
                    headers,
                    body: payload,
                    strategy: body.strategy.map(Into::into),
                    request_id: meta.0.request_id.clone(),
                    ..ApiCall::default()
                },
            )
            .await?;
        let parsed = json_body::decode(&response.headers, &response.body, response.truncated);
        Ok(Json(CallResultBody {
            status: response.status,
            body: parsed,
            headers: response.headers.into_iter().collect(),
            truncated: response.truncated,
            endpoint: response.endpoint,
            attempts: response
                .attempts
                .into_iter()
                .map(|a| CallAttemptBody {
                    endpoint: a.endpoint,
                    status: a.status,
                    latency_ms: a.latency_ms,
                    error: a.error,
                })
                .collect(),
        }))
    }

    /// One endpoint (apis:read).
    #[oai(path = "/api/apis/:name", method = "get", operation_id = "get_api")]
    async fn get(&self, auth: Auth, name: Path<String>) -> Result<Json<EndpointBody>, ApiError> {
        Ok(Json(
            self.registry().get(auth.principal(), &name.0).await?.into(),
        ))
    }

    /// Replaces an endpoint's spec (apis:admin); its health and usage are kept; audited.
    #[oai(path = "/api/apis/:name", method = "put", operation_id = "update_api")]
    async fn update(
        &self,
        auth: Auth,
        meta: Data<&RequestMeta>,
        name: Path<String>,
        body: JsonBody<SpecBody>,
    ) -> Result<Json<EndpointBody>, ApiError> {
        let principal = auth.principal();
        let spec = body.0.into_spec()?;
        Ok(Json(
            self.registry()
                .update(principal, &name.0, spec, meta.0)
                .await?
                .into(),
        ))
    }

    /// Removes an endpoint with its log and usage (apis:admin); audited.
    #[oai(
        path = "/api/apis/:name",
        method = "delete",
        operation_id = "delete_api"
    )]
    async fn delete(
        &self,
        auth: Auth,
        meta: Data<&RequestMeta>,
        name: Path<String>,
    ) -> Result<Deleted, ApiError> {
        let principal = auth.principal();
        self.registry().delete(principal, &name.0, meta.0).await?;
        Ok(Deleted::NoContent)
    }

    /// An endpoint's usage: totals, successes, failures, average latency, success rate and
    /// cost (apis:read).
    #[oai(
        path = "/api/apis/:name/usage",
        method = "get",
        operation_id = "api_usage"
    )]
    async fn usage(&self, auth: Auth, name: Path<String>) -> Result<Json<UsageBody>, ApiError> {
        Ok(Json(
            self.registry()
                .usage(auth.principal(), &name.0)
                .await?
                .into(),
        ))
    }

    /// An endpoint's request log, newest first (apis:read).
    #[oai(
        path = "/api/apis/:name/logs",
        method = "get",
        operation_id = "api_logs"
    )]
    async fn logs(
        &self,
        auth: Auth,
        name: Path<String>,
        limit: Query<Option<i64>>,
        offset: Query<Option<i64>>,
    ) -> Result<Json<Page<AttemptBody>>, ApiError> {
        let page = PageRequest::new(limit.0, offset.0)?;
        let found = self
            .registry()
            .logs(auth.principal(), &name.0, page)
            .await?;
        Ok(Json(found.into()))
    }

    /// Checks an endpoint's health now (apis:admin); a passing check brings a failing
    /// endpoint back into rotation.
    #[oai(
        path = "/api/apis/:name/check",
        method = "post",
        operation_id = "check_api"
    )]
    async fn check(&self, auth: Auth, name: Path<String>) -> Result<Json<EndpointBody>, ApiError> {
        Ok(Json(
            self.orchestrator
                .check(auth.principal(), &name.0)
                .await?
                .into(),
        ))
    }
}
