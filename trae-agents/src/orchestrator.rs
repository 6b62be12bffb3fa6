//! The API orchestrator: one call to a *capability*, routed to a registered endpoint, with
//! credentials injected from the vault, rate limits, retries, failover, health and an
//! attempt log.
//!
//! # A call
//!
//! 1. The capability's endpoints come from the registry's snapshot; those inactive, failing or
//!    critical are skipped, the rest ordered by the [`RoutingStrategy`].
//! 2. For each endpoint in turn: its rate limits are checked (all windows before any is
//!    charged; a limited endpoint is skipped and costs nothing), its credentials read from the
//!    vault (cached for [`SECRET_CACHE_TTL`]) and injected — the caller's headers cannot
//!    replace them — and the request sent to `base_url + path` within the endpoint's timeout.
//! 3. An attempt fails on a connection error, a timeout, a 5xx, 408 or 429. A failed attempt
//!    is retried on the same endpoint with exponential backoff (a 429's `Retry-After` is
//!    honoured up to [`OrchestratorOptions::retry_after_cap`]; a longer one moves on), then
//!    the next endpoint is tried. A request that is not idempotent (POST, PATCH) is retried
//!    or failed over only when it provably was not sent (no connection was made); otherwise
//!    its outcome is returned as it is.
//! 4. Every attempt is logged with its latency, sizes and cost, and reported to the
//!    registry's health rules.
//!
//! The result is the upstream's own answer (any status), or [`AgentError::NotFound`] (no
//! endpoint has the capability), [`AgentError::Limited`] (every endpoint is at a limit; says
//! when the next call is allowed) or [`AgentError::Upstream`] (every attempt failed).
//!
//! # Day limits across restarts
//!
//! The first time this process calls an endpoint, its limiter is seeded from the attempts
//! logged in the endpoint's longest window (at most a day), so a restart does not reset a
//! daily quota. Limits are kept per process: on a cluster each node enforces them on its own
//! (docs/security.md).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde::Serialize;
use tokio_util::sync::CancellationToken;
use trae_core::apis::api_endpoint::{RESERVED_HEADERS, check_relative_path};
use trae_core::apis::api_routing::EndpointLoads;
use trae_core::apis::shared_quota::SharedQuota;
use trae_core::backoff::Backoff;
use trae_core::{
    APIS_ADMIN, APIS_CALL, ApiAttempt, ApiAuth, ApiEndpoint, ApiRegistry, Decision, Observation,
    Principal, RateLimitPolicy, RateLimiter, RoutingStrategy, SecretBinding, SecretReader,
    SecretString, UsageMark,
};
use url::Url;

use crate::outbound::{MAX_RESPONSE_BYTES, OutboundClient, OutboundResponse};
use crate::{AgentError, Result};

/// How long a credential read from the vault is reused.
pub const SECRET_CACHE_TTL: Duration = Duration::from_secs(30);
/// The longest window whose history is restored after a restart.
const RESTORE_WINDOW: Duration = Duration::from_secs(86_400);

/// How calls are retried and routed.
#[derive(Debug, Clone, PartialEq)]
pub struct OrchestratorOptions {
    /// The strategy when a call names none.
    pub strategy: RoutingStrategy,
    /// Attempts per endpoint before failing over (at least 1).
    pub attempts_per_endpoint: u32,
    /// The wait between attempts on one endpoint.
    pub backoff: Backoff,
    /// The longest `Retry-After` waited for; a longer one moves to the next endpoint.
    pub retry_after_cap: Duration,
}

impl Default for OrchestratorOptions {
    fn default() -> Self {
        Self {
            strategy: RoutingStrategy::Priority,
            attempts_per_endpoint: 3,
            backoff: Backoff {
                base: Duration::from_millis(100),
                factor: 2.0,
                max: Duration::from_secs(2),
                jitter: 0.2,
            },
            retry_after_cap: Duration::from_secs(5),
        }
    }
}

/// One call to a capability.
#[derive(Debug, Clone, Default)]
pub struct ApiCall {
    /// HTTP method: GET, POST, PUT, PATCH, DELETE, HEAD or OPTIONS.
    pub method: String,
    /// The path (and query) under the endpoint's base URL, starting with `/`.
    pub path: String,
    /// Extra request headers; they cannot replace injected credentials.
    pub headers: Vec<(String, String)>,
    /// The request body.
    pub body: Option<Vec<u8>>,
    /// The routing strategy; the orchestrator's default when `None`.
    pub strategy: Option<RoutingStrategy>,
    /// The request id to log with each attempt.
    pub request_id: Option<String>,
    /// The body for each endpoint in place of `body`, or `None` from it to pass the endpoint
    /// over (it cannot take this call, e.g. a model it does not serve).
    pub body_for: Option<EndpointBody>,
    /// Whether the call may be sent again once it reached an endpoint although its method is
    /// not idempotent: true for a call whose only effect is its cost, like a chat completion.
    pub replayable: bool,
}

/// Builds a call's body for one endpoint; `None` passes the endpoint over.
#[derive(Clone)]
pub struct EndpointBody(pub Arc<BodyFn>);

/// The function inside an [`EndpointBody`].
pub type BodyFn = dyn Fn(&ApiEndpoint) -> Option<Vec<u8>> + Send + Sync;

impl std::fmt::Debug for EndpointBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EndpointBody(..)")
    }
}

/// What a streamed call used, recorded in the request log when it ends.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CallUsage {
    /// The model asked for.
    pub model: Option<String>,
    /// Tokens of the request.
    pub prompt_tokens: Option<u32>,
    /// Tokens of the answer.
    pub completion_tokens: Option<u32>,
    /// What it cost; the endpoint's `cost_per_request` when `None`.
    pub cost: Option<f64>,
    /// Why the stream ended badly, if it did.
    pub error: Option<String>,
}

/// A call whose answer (2xx) is still arriving: read it with [`OpenCall::chunk`], then
/// [`OpenCall::finish`] it with what it used. Dropping it closes the connection to the
/// endpoint and logs the attempt with what is known.
#[derive(Debug)]
pub struct OpenCall {
    /// The upstream's status.
    pub status: u16,
    /// Its headers (lowercase names).
    pub headers: Vec<(String, String)>,
    /// The endpoint that answered.
    pub endpoint: ApiEndpoint,
    /// Every attempt the call made, the answering one last.
    pub attempts: Vec<AttemptSummary>,
    body: OutboundBody,
    registry: ApiRegistry,
    record: Option<ApiAttempt>,
    started: Instant,
}

type OutboundBody = crate::outbound::OpenResponse;

impl OpenCall {
    /// The next piece of the answer; `None` at its end.
    pub async fn chunk(&mut self) -> Result<Option<bytes::Bytes>> {
        let chunk = self.body.chunk().await?;
        if let (Some(c), Some(record)) = (&chunk, self.record.as_mut()) {
            record.response_bytes += c.len() as u64;
        }
        Ok(chunk)
    }

    /// Logs the attempt with what the call used.
    pub fn finish(mut self, usage: CallUsage) {
        self.log(usage);
    }

    fn log(&mut self, usage: CallUsage) {
        let Some(mut record) = self.record.take() else {
            return;
        };
        record.latency_ms = millis(self.started.elapsed());
        record.at = self.registry.clock().now_micros();
        record.model = usage.model;
        record.prompt_tokens = usage.prompt_tokens;
        record.completion_tokens = usage.completion_tokens;
        if let Some(cost) = usage.cost {
            record.cost = cost;
        }
        if usage.error.is_some() {
            record.error = usage.error;
            record.success = false;
        }
        self.registry.record_attempt(record);
    }
}

impl Drop for OpenCall {
    fn drop(&mut self) {
        self.log(CallUsage::default());
    }
}

/// A call's answer: whole, or (for [`Orchestrator::open`]) still arriving.
enum Reply {
    Whole(ApiResponse),
    Open(Box<OpenCall>),
}

/// One attempt, as a call's result reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttemptSummary {
    /// The endpoint tried.
    pub endpoint: String,
    /// Its status, when it answered.
    pub status: Option<u16>,
    /// Milliseconds to the answer or failure.
    pub latency_ms: u64,
    /// Why it failed.
    pub error: Option<String>,
}

/// The upstream's answer to a call.
#[derive(Debug, Clone)]
pub struct ApiResponse {
    /// The upstream's status.
    pub status: u16,
    /// Its headers (lowercase names).
    pub headers: Vec<(String, String)>,
    /// Its body, cut at the outbound client's cap.
    pub body: Vec<u8>,
    /// Whether the body was cut.
    pub truncated: bool,
    /// The endpoint that answered.
    pub endpoint: String,
    /// Every attempt the call made, the answering one last.
    pub attempts: Vec<AttemptSummary>,
}

/// Credentials to inject into one endpoint's requests.
#[derive(Default)]
struct Credentials {
    header: Option<(String, String)>,
    query: Option<(String, String)>,
}

struct Inner {
    registry: ApiRegistry,
    client: OutboundClient,
    limiter: Arc<RateLimiter>,
    secrets: Arc<dyn SecretReader>,
    options: OrchestratorOptions,
    loads: EndpointLoads,
    quota: Option<SharedQuota>,
    restored: Mutex<HashSet<String>>,
    secret_cache: Mutex<HashMap<SecretBinding, (Instant, SecretString)>>,
    /// Where health checks are also recorded, as components named `api:<name>`.
    components: std::sync::OnceLock<trae_core::ComponentHealth>,
}

/// The orchestrator. Cheap to clone; clones share limits, loads and the credential cache.
#[derive(Clone)]
pub struct Orchestrator {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Orchestrator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Orchestrator")
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

/// What one attempt came to.
enum Outcome {
    /// An answer to return (any status but 408, 429 and 5xx).
    Answered(OutboundResponse),
    /// A 2xx answer still arriving, with its attempt to log when it ends.
    Opened(Box<(OutboundBody, ApiAttempt, Instant)>),
    /// An answer that counts as a failure (408, 429, 5xx).
    FailedAnswer(OutboundResponse),
    /// No answer; `sent` says whether the request may have reached the server.
    Failed { error: AgentError, sent: bool },
}

fn is_idempotent(method: &reqwest::Method) -> bool {
    matches!(
        *method,
        reqwest::Method::GET
            | reqwest::Method::HEAD
            | reqwest::Method::OPTIONS
            | reqwest::Method::PUT
            | reqwest::Method::DELETE
    )
}

fn parse_method(method: &str) -> Result<reqwest::Method> {
    let upper = method.to_ascii_uppercase();
    match upper.as_str() {
        "GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD" | "OPTIONS" => {
            reqwest::Method::from_bytes(upper.as_bytes())
                .map_err(|e| AgentError::invalid("method", e.to_string()))
        }
        other => Err(AgentError::invalid(
            "method",
            format!("{other} is not one of GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS"),
        )),
    }
}

/// Checks caller headers: valid names and values, none the transport owns.
fn check_headers(headers: &[(String, String)]) -> Result<Vec<(String, String)>> {
    headers
        .iter()
        .map(|(name, value)| {
            let lower = name.to_ascii_lowercase();
            if RESERVED_HEADERS.contains(&lower.as_str()) {
                return Err(AgentError::invalid(
                    "headers",
                    format!("{name} is set by the transport"),
                ));
            }
            reqwest::header::HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                AgentError::invalid("headers", format!("{name:?} is not a header name"))
            })?;
            reqwest::header::HeaderValue::from_str(value).map_err(|_| {
                AgentError::invalid(
                    "headers",
                    format!("the value of {name} is not a header value"),
                )
            })?;
            Ok((lower, value.clone()))
        })
        .collect()
}

/// `Retry-After` as a duration: delta-seconds or an HTTP date.
fn retry_after(response: &OutboundResponse) -> Option<Duration> {
    let value = response
        .headers
        .iter()
        .find(|(n, _)| n == "retry-after")
        .map(|(_, v)| v.trim())?;
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = at.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Orchestrator {
    /// An orchestrator routing through `registry`, calling out with `client`, limiting with
    /// `limiter` and reading credentials from `secrets`.
    pub fn new(
        registry: ApiRegistry,
        client: OutboundClient,
        limiter: Arc<RateLimiter>,
        secrets: Arc<dyn SecretReader>,
        options: OrchestratorOptions,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                registry,
                client,
                limiter,
                secrets,
                options,
                loads: EndpointLoads::default(),
                quota: None,
                restored: Mutex::new(HashSet::new()),
                components: std::sync::OnceLock::new(),
                secret_cache: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// This orchestrator, also keeping every endpoint's limits across all processes on the
    /// database through `quota` (see [`trae_core::apis::shared_quota`]); without it, each process
    /// keeps the limits on its own calls.
    pub fn with_shared_quota(self, quota: SharedQuota) -> Self {
        let inner = Arc::try_unwrap(self.inner).unwrap_or_else(|shared| Inner {
            registry: shared.registry.clone(),
            client: shared.client.clone(),
            limiter: Arc::clone(&shared.limiter),
            secrets: Arc::clone(&shared.secrets),
            options: shared.options.clone(),
            loads: EndpointLoads::default(),
            quota: shared.quota.clone(),
            restored: Mutex::new(HashSet::new()),
            components: std::sync::OnceLock::new(),
            secret_cache: Mutex::new(HashMap::new()),
        });
        Self {
            inner: Arc::new(Inner {
                quota: Some(quota),
                ..inner
            }),
        }
    }

    /// Writes queued attempts and releases unspent shared allowances (for shutdown).
    pub async fn shutdown(&self) {
        if let Some(q) = &self.inner.quota {
            q.release_all().await;
        }
        self.inner.registry.flush().await;
    }

    /// The registry it routes from.
    pub fn registry(&self) -> &ApiRegistry {
        &self.inner.registry
    }

    /// Calls `capability` for `principal`, who needs `apis:call`; see the module documentation.
    pub async fn call(
        &self,
        principal: &Principal,
        capability: &str,
        call: ApiCall,
    ) -> Result<ApiResponse> {
        self.inner.registry.require(principal, APIS_CALL).await?;
        match self.run(capability, call, false).await? {
            Reply::Whole(response) => Ok(response),
            Reply::Open(_) => Err(AgentError::Upstream(
                "an answer arrived as a stream where a whole one was asked for".into(),
            )),
        }
    }

    /// Calls `capability` like [`Orchestrator::call`], for `principal`, who needs
    /// `permission`, returning as soon as a 2xx answer's headers are in: the answer is read
    /// as it arrives, and nothing is retried or failed over after that. Any other answer
    /// comes back whole, as [`Err`] of an [`ApiResponse`] inside `Ok`.
    pub async fn open(
        &self,
        principal: &Principal,
        permission: &'static str,
        capability: &str,
        call: ApiCall,
    ) -> Result<std::result::Result<OpenCall, ApiResponse>> {
        self.inner.registry.require(principal, permission).await?;
        Ok(match self.run(capability, call, true).await? {
            Reply::Open(open) => Ok(*open),
            Reply::Whole(response) => Err(response),
        })
    }

    async fn run(&self, capability: &str, call: ApiCall, streaming: bool) -> Result<Reply> {
        let method = parse_method(&call.method)?;
        check_relative_path(&call.path).map_err(|e| AgentError::invalid("path", e.to_string()))?;
        let headers = check_headers(&call.headers)?;
        let endpoints = self
            .inner
            .registry
            .endpoints_for(capability)
            .await
            .map_err(|e| match e {
                trae_core::Error::Validation { field, message } => {
                    AgentError::Invalid { field, message }
                }
                other => AgentError::Core(other),
            })?;
        if endpoints.is_empty() {
            return Err(AgentError::NotFound(format!(
                "no API endpoint serves the capability {capability}"
            )));
        }
        let mut callable: Vec<ApiEndpoint> = endpoints
            .iter()
            .filter(|e| e.is_callable())
            .cloned()
            .collect();
        if callable.is_empty() {
            let states: Vec<String> = endpoints
                .iter()
                .map(|e| {
                    let state = if e.spec.is_active {
                        e.health.as_str()
                    } else {
                        "inactive"
                    };
                    format!("{} is {state}", e.name())
                })
                .collect();
            return Err(AgentError::Upstream(format!(
                "no endpoint of {capability} can take calls: {}",
                states.join(", ")
            )));
        }
        let strategy = call.strategy.unwrap_or(self.inner.options.strategy);
        self.inner.loads.order(&mut callable, strategy);
        let idempotent = is_idempotent(&method) || call.replayable;
        let mut attempts: Vec<AttemptSummary> = Vec::new();
        let mut soonest: Option<Duration> = None;
        let mut any_tried = false;
        let mut any_taker = false;
        for endpoint in &callable {
            let body = match &call.body_for {
                Some(body_for) => match (body_for.0)(endpoint) {
                    Some(body) => Some(body),
                    None => continue,
                },
                None => call.body.clone(),
            };
            any_taker = true;
            let policy = endpoint.spec.limits.policy()?;
            self.restore_once(endpoint, &policy).await;
            let credentials = match self.credentials(endpoint).await {
                Ok(c) => c,
                Err(e) => {
                    any_tried = true;
                    let error = format!("credentials unavailable: {e}");
                    tracing::warn!(endpoint = endpoint.name(), error = %error, "API call skipped");
                    attempts.push(AttemptSummary {
                        endpoint: endpoint.name().to_owned(),
                        status: None,
                        latency_ms: 0,
                        error: Some(error),
                    });
                    continue;
                }
            };
            let max = self.inner.options.attempts_per_endpoint.max(1);
            for n in 1..=max {
                if let Some(quota) = &self.inner.quota {
                    match quota.acquire(endpoint.name(), &policy).await {
                        Ok(None) => {}
                        Ok(Some(retry_after)) => {
                            soonest = Some(soonest.map_or(retry_after, |s| s.min(retry_after)));
                            break;
                        }
                        // The database is away: each process still keeps its own limits.
                        Err(e) => tracing::warn!(
                            endpoint = endpoint.name(),
                            error = %e,
                            "the shared API quota is unavailable; limiting this process only"
                        ),
                    }
                }
                if let Decision::Limited { retry_after, .. } =
                    self.inner.limiter.check(endpoint.name(), &policy)
                {
                    if let Some(quota) = &self.inner.quota {
                        quota.give_back(endpoint.name());
                    }
                    soonest = Some(soonest.map_or(retry_after, |s| s.min(retry_after)));
                    break;
                }
                any_tried = true;
                let (outcome, summary) = self
                    .attempt(
                        endpoint,
                        &method,
                        &call,
                        body.clone(),
                        &headers,
                        &credentials,
                        streaming,
                    )
                    .await;
                attempts.push(summary);
                let wait = match outcome {
                    Outcome::Opened(opened) => {
                        let (response, record, started) = *opened;
                        return Ok(Reply::Open(Box::new(OpenCall {
                            status: response.status,
                            headers: response.headers.clone(),
                            endpoint: endpoint.clone(),
                            attempts,
                            body: response,
                            registry: self.inner.registry.clone(),
                            record: Some(record),
                            started,
                        })));
                    }
                    Outcome::Answered(response) => {
                        return Ok(Reply::Whole(ApiResponse {
                            status: response.status,
                            headers: response.headers,
                            body: response.body,
                            truncated: response.truncated,
                            endpoint: endpoint.name().to_owned(),
                            attempts,
                        }));
                    }
                    Outcome::FailedAnswer(response) => {
                        if !idempotent {
                            // It reached the server: hand back its answer rather than risk
                            // doing the work twice.
                            return Ok(Reply::Whole(ApiResponse {
                                status: response.status,
                                headers: response.headers,
                                body: response.body,
                                truncated: response.truncated,
                                endpoint: endpoint.name().to_owned(),
                                attempts,
                            }));
                        }
                        match retry_after(&response) {
                            Some(wait) if wait > self.inner.options.retry_after_cap => {
                                soonest = Some(soonest.map_or(wait, |s| s.min(wait)));
                                break;
                            }
                            Some(wait) => wait,
                            None => self.inner.options.backoff.delay_now(n as i32),
                        }
                    }
                    Outcome::Failed { error, sent } => {
                        if sent && !idempotent {
                            return Err(AgentError::Upstream(format!(
                                "{} {} to {} failed and was not retried, since it may have \
                                 been processed: {error}",
                                method,
                                call.path.split('?').next().unwrap_or_default(),
                                endpoint.name()
                            )));
                        }
                        if matches!(
                            error,
                            AgentError::Refused(_)
                                | AgentError::Invalid { .. }
                                | AgentError::Config(_)
                        ) {
                            break;
                        }
                        self.inner.options.backoff.delay_now(n as i32)
                    }
                };
                if n < max {
                    tokio::time::sleep(wait).await;
                }
            }
        }
        if !any_taker {
            return Err(AgentError::NotFound(format!(
                "no endpoint of {capability} can take this call"
            )));
        }
        if !any_tried && let Some(retry_after) = soonest {
            return Err(AgentError::Limited {
                message: format!(
                    "every endpoint of {capability} is at its rate limit; retry in {} s",
                    retry_after.as_secs_f64().ceil()
                ),
                retry_after,
            });
        }
        let tried: Vec<String> = attempts
            .iter()
            .map(|a| {
                format!(
                    "{}: {}",
                    a.endpoint,
                    a.error
                        .clone()
                        .or_else(|| a.status.map(|s| format!("status {s}")))
                        .unwrap_or_default()
                )
            })
            .collect();
        Err(AgentError::Upstream(format!(
            "every endpoint of {capability} failed ({} attempts): {}",
            attempts.len(),
            tried.join("; ")
        )))
    }

    /// Checks `name`'s health now for `principal`, who needs `apis:admin`: a `GET` of its
    /// health-check path with its credentials; a 2xx or 3xx answer passes. Checks do not count
    /// against rate limits.
    pub async fn check(&self, principal: &Principal, name: &str) -> Result<ApiEndpoint> {
        self.inner.registry.require(principal, APIS_ADMIN).await?;
        let endpoint = self.inner.registry.find(name).await?;
        let observation = match self.credentials(&endpoint).await {
            Err(e) => Observation::Failure {
                error: format!("credentials unavailable: {e}"),
            },
            Ok(credentials) => {
                let started = Instant::now();
                let timeout = Duration::from_millis(u64::from(endpoint.spec.timeout_ms));
                let exchange = async {
                    self.open_once(
                        &endpoint,
                        &reqwest::Method::GET,
                        &endpoint.spec.health_check.path,
                        None,
                        &[],
                        &credentials,
                    )
                    .await?
                    .read_to_end(MAX_RESPONSE_BYTES)
                    .await
                };
                let answer = tokio::time::timeout(timeout, exchange)
                    .await
                    .unwrap_or_else(|_| {
                        Err(AgentError::Timeout(format!(
                            "no answer within {} ms",
                            timeout.as_millis()
                        )))
                    });
                match answer {
                    Ok(r) if r.status < 400 => Observation::Success {
                        latency_ms: millis(started.elapsed()),
                    },
                    Ok(r) => Observation::Failure {
                        error: format!("health check answered {}", r.status),
                    },
                    Err(e) => Observation::Failure {
                        error: e.to_string(),
                    },
                }
            }
        };
        if let Some(health) = self.inner.components.get() {
            let outcome = match &observation {
                Observation::Success { .. } => trae_core::CheckOutcome::Ok,
                Observation::Failure { error } => trae_core::CheckOutcome::Failed {
                    error: error.clone(),
                    critical: false,
                },
            };
            health.record(&format!("api:{name}"), outcome).await?;
        }
        Ok(self
            .inner
            .registry
            .record_check(&endpoint, observation)
            .await?)
    }

    /// Also records every health check in `health`, as an optional component named
    /// `api:<endpoint name>`; the first call wins.
    pub fn report_checks_to(&self, health: trae_core::ComponentHealth) {
        // A second call would report to two places; keep the first.
        let _ = self.inner.components.set(health);
    }

    /// Checks every active endpoint whose interval has passed, once a second, until `stop`.
    pub async fn run_health_checks(&self, stop: CancellationToken) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last: HashMap<String, Instant> = HashMap::new();
        let mut trimmed = Instant::now();
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            let endpoints = match self.inner.registry.all().await {
                Ok(e) => e,
                Err(e) => {
                    tracing::warn!(error = %e, "listing API endpoints for health checks failed");
                    continue;
                }
            };
            for endpoint in endpoints.iter().filter(|e| e.spec.is_active) {
                let interval =
                    Duration::from_secs(u64::from(endpoint.spec.health_check.interval_secs));
                let due = last
                    .get(endpoint.name())
                    .is_none_or(|at| at.elapsed() >= interval);
                if !due {
                    continue;
                }
                last.insert(endpoint.name().to_owned(), Instant::now());
                let this = self.clone();
                let name = endpoint.name().to_owned();
                tokio::spawn(async move {
                    if let Err(e) = this.check(&Principal::System, &name).await {
                        tracing::warn!(endpoint = %name, error = %e, "API health check failed to run");
                    }
                });
            }
            last.retain(|name, _| endpoints.iter().any(|e| e.name() == name));
            if let Some(quota) = &self.inner.quota
                && trimmed.elapsed() >= Duration::from_secs(600)
            {
                trimmed = Instant::now();
                if let Err(e) = quota.trim().await {
                    tracing::warn!(error = %e, "trimming the shared API quota failed");
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn attempt(
        &self,
        endpoint: &ApiEndpoint,
        method: &reqwest::Method,
        call: &ApiCall,
        body: Option<Vec<u8>>,
        headers: &[(String, String)],
        credentials: &Credentials,
        streaming: bool,
    ) -> (Outcome, AttemptSummary) {
        let started = Instant::now();
        let request_bytes = body.as_ref().map_or(0, |b| b.len() as u64);
        let result = {
            let _in_flight = self.inner.loads.start(endpoint.name());
            let timeout = Duration::from_millis(u64::from(endpoint.spec.timeout_ms));
            let exchange = async {
                let open = self
                    .open_once(endpoint, method, &call.path, body, headers, credentials)
                    .await?;
                if streaming && (200..300).contains(&open.status) {
                    return Ok(Err(open));
                }
                open.read_to_end(MAX_RESPONSE_BYTES).await.map(Ok)
            };
            tokio::time::timeout(timeout, exchange)
                .await
                .unwrap_or_else(|_| {
                    Err(AgentError::Timeout(format!(
                        "no answer within {} ms",
                        timeout.as_millis()
                    )))
                })
        };
        let latency = started.elapsed();
        let latency_ms = millis(latency);
        self.inner
            .loads
            .observe_latency(endpoint.name(), latency.as_secs_f64() * 1000.0);
        let mut opened = None;
        let outcome = match result {
            Ok(Err(open)) => {
                let status = open.status;
                opened = Some(open);
                Outcome::Answered(OutboundResponse {
                    status,
                    headers: Vec::new(),
                    body: Vec::new(),
                    truncated: false,
                })
            }
            Ok(Ok(r)) if matches!(r.status, 408 | 429 | 500..=599) => Outcome::FailedAnswer(r),
            Ok(Ok(r)) => Outcome::Answered(r),
            Err(error) => {
                let sent = !matches!(
                    error,
                    AgentError::Connect(_)
                        | AgentError::Refused(_)
                        | AgentError::Invalid { .. }
                        | AgentError::Config(_)
                );
                Outcome::Failed { error, sent }
            }
        };
        let (status, response_bytes, error, success) = match &outcome {
            Outcome::Answered(r) => (Some(r.status), r.body.len() as u64, None, true),
            Outcome::FailedAnswer(r) => (
                Some(r.status),
                r.body.len() as u64,
                Some(format!("status {}", r.status)),
                false,
            ),
            Outcome::Failed { error, .. } => (None, 0, Some(error.to_string()), false),
            Outcome::Opened(opened) => (Some(opened.0.status), 0, None, true),
        };
        // 429 is the endpoint protecting itself, not a sign of ill health.
        let health = match &outcome {
            Outcome::Answered(_) => Some(Observation::Success { latency_ms }),
            Outcome::FailedAnswer(r) if r.status == 429 => None,
            _ => Some(Observation::Failure {
                error: error.clone().unwrap_or_default(),
            }),
        };
        if let Some(observation) = health {
            self.inner.registry.observe(endpoint, observation).await;
        }
        let record = ApiAttempt {
            id: uuid::Uuid::now_v7(),
            endpoint: endpoint.name().to_owned(),
            method: method.to_string(),
            path: call.path.split('?').next().unwrap_or_default().to_owned(),
            status,
            latency_ms,
            request_bytes,
            response_bytes,
            error: error.clone(),
            success,
            cost: endpoint.spec.cost_per_request,
            request_id: call.request_id.clone(),
            at: self.inner.registry.clock().now_micros(),
            model: None,
            prompt_tokens: None,
            completion_tokens: None,
        };
        let summary = AttemptSummary {
            endpoint: endpoint.name().to_owned(),
            status,
            latency_ms,
            error,
        };
        match opened {
            // Logged when the answer has arrived, with what it used.
            Some(open) => (Outcome::Opened(Box::new((open, record, started))), summary),
            None => {
                self.inner.registry.record_attempt(record);
                (outcome, summary)
            }
        }
    }

    /// Sends one request to `endpoint` with its credentials, returning at its headers.
    async fn open_once(
        &self,
        endpoint: &ApiEndpoint,
        method: &reqwest::Method,
        path: &str,
        body: Option<Vec<u8>>,
        headers: &[(String, String)],
        credentials: &Credentials,
    ) -> Result<OutboundBody> {
        let mut url = Url::parse(&format!("{}{}", endpoint.spec.base_url, path))
            .map_err(|e| AgentError::invalid("path", e.to_string()))?;
        if let Some((name, value)) = &credentials.query {
            let kept: Vec<(String, String)> = url
                .query_pairs()
                .filter(|(k, _)| k != name.as_str())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            url.query_pairs_mut()
                .clear()
                .extend_pairs(kept)
                .append_pair(name, value);
        }
        let mut all: Vec<(String, String)> = match &credentials.header {
            Some((name, _)) => headers.iter().filter(|(n, _)| n != name).cloned().collect(),
            None => headers.to_vec(),
        };
        if let Some(h) = &credentials.header {
            all.push(h.clone());
        }
        self.inner
            .client
            .open(
                method.clone(),
                &url,
                &all,
                body,
                Some(Duration::from_millis(u64::from(endpoint.spec.timeout_ms))),
            )
            .await
    }

    async fn credentials(&self, endpoint: &ApiEndpoint) -> Result<Credentials> {
        let auth = &endpoint.spec.auth;
        let Some(name) = auth.secret() else {
            return Ok(Credentials::default());
        };
        // The binding is checked again at every read: one made on authorship lapses when
        // someone else sets the secret, and an endpoint saved before bindings were recorded
        // sends nothing until someone who may use the secret saves it again.
        let binding = endpoint
            .secret_binding
            .as_ref()
            .filter(|b| b.secret == name)
            .ok_or_else(|| {
                AgentError::Core(trae_core::Error::Forbidden(format!(
                    "the secret {name} is not bound to {}: it must be saved again by someone \
                     who may use the secret",
                    endpoint.name()
                )))
            })?;
        let secret = self.secret(binding).await?;
        let value = secret.expose();
        Ok(match auth {
            ApiAuth::None => Credentials::default(),
            ApiAuth::Bearer { .. } => Credentials {
                header: Some(("authorization".into(), format!("Bearer {value}"))),
                query: None,
            },
            ApiAuth::Basic { .. } => Credentials {
                header: Some((
                    "authorization".into(),
                    format!(
                        "Basic {}",
                        base64::engine::general_purpose::STANDARD.encode(value)
                    ),
                )),
                query: None,
            },
            ApiAuth::Header { name, .. } => Credentials {
                header: Some((name.to_ascii_lowercase(), value.to_owned())),
                query: None,
            },
            ApiAuth::Query { name, .. } => Credentials {
                header: None,
                query: Some((name.clone(), value.to_owned())),
            },
        })
        .and_then(|c| {
            if let Some((_, v)) = &c.header {
                reqwest::header::HeaderValue::from_str(v).map_err(|_| {
                    AgentError::Config(format!(
                        "the secret {name} cannot be sent in a header (it holds a line break \
                         or other control character)"
                    ))
                })?;
            }
            Ok(c)
        })
    }

    async fn secret(&self, binding: &SecretBinding) -> Result<SecretString> {
        {
            let cache = self
                .inner
                .secret_cache
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some((at, value)) = cache.get(binding)
                && at.elapsed() < SECRET_CACHE_TTL
            {
                return Ok(value.clone());
            }
        }
        let value = self.inner.secrets.read_secret(binding).await?;
        self.inner
            .secret_cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(binding.clone(), (Instant::now(), value.clone()));
        Ok(value)
    }

    async fn restore_once(&self, endpoint: &ApiEndpoint, policy: &RateLimitPolicy) {
        if policy.is_unlimited() {
            return;
        }
        let first = self
            .inner
            .restored
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(endpoint.name().to_owned());
        if !first {
            return;
        }
        let window = policy.longest_window().min(RESTORE_WINDOW);
        match self
            .inner
            .registry
            .recent_attempt_times(endpoint.name(), window)
            .await
        {
            Ok(times) if !times.is_empty() => {
                let marks: Vec<UsageMark> = times
                    .into_iter()
                    .map(|at| UsageMark { at, count: 1 })
                    .collect();
                self.inner.limiter.restore(endpoint.name(), policy, &marks);
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(endpoint = endpoint.name(), error = %e, "restoring API usage failed");
            }
        }
    }
}
