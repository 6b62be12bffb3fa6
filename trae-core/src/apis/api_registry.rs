//! The external API registry service: registering endpoints (audited, published on the event
//! bus), their health as calls and checks report it, the attempt log and usage, and the
//! in-memory snapshot the orchestrator routes from.
//!
//! # Snapshot
//!
//! Routing reads endpoints from a snapshot, not the database: it is reloaded after this
//! process changes the registry and at most [`SNAPSHOT_TTL`] after another node does.
//!
//! # Health
//!
//! Every attempt and every health check reports its outcome. [`HealthRules`] turn failures in
//! a row into degraded, failing (skipped by routing until a check passes) and critical. A
//! node keeps the counts in memory and writes the endpoint's row only when its status changes
//! or a check runs, so calls do not write to the database on the hot path.
//!
//! # Attempt log
//!
//! [`ApiRegistry::record_attempt`] never waits: attempts go to a background writer that
//! appends them in batches with their usage totals, and trims attempts older than the
//! retention (at least a day, since restarts restore day limits from them).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::apis::api_endpoint::{
    ApiAttempt, ApiEndpoint, ApiEndpointFilter, ApiEndpointSpec, ApiRepository, ApiUsage,
    HealthRules, HealthUpdate, check_capability,
};
use crate::batch_writer::{BatchSink, BatchWriter};
use crate::identity::permission::{Authorizer, Gate};
use crate::identity::secret::{
    BindingRight, SECRETS_USE, SecretBinding, SecretReader, check_secret_name,
};
use crate::{
    AuditLog, Clock, Error, EventBus, HealthStatus, Outcome, Page, PageRequest, Principal,
    RequestMeta, Result,
};

/// The event source of registry changes and health transitions.
pub const EVENT_SOURCE: &str = "apis";
/// How stale the routing snapshot may get when another node changes the registry.
pub const SNAPSHOT_TTL: Duration = Duration::from_secs(2);
/// Counter of attempts dropped because the attempt writer fell behind.
pub const ATTEMPTS_DROPPED: &str = "trae_api_attempts_dropped_total";
/// Counter of attempts, labelled `endpoint` and `outcome` (`success` or `failure`).
pub const API_ATTEMPTS: &str = "trae_api_attempts_total";
/// Metric: attempts finished in the last minute, labelled by `endpoint`.
pub const API_CALLS: &str = "trae_api_calls_per_minute";
/// Metric: failed attempts in the last minute, labelled by `endpoint`.
pub const API_FAILURES: &str = "trae_api_failures_per_minute";
/// Metric: mean attempt latency over the last minute in milliseconds, labelled by `endpoint`
/// (absent while there were none).
pub const API_LATENCY: &str = "trae_api_latency_ms";

/// How the registry keeps its attempt log.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RegistryOptions {
    /// Attempts older than this are deleted (at least a day).
    pub retention: Duration,
    /// How often queued attempts are written.
    pub flush_every: Duration,
    /// Attempts that may wait for the writer before new ones are dropped.
    pub buffer: usize,
    /// When failures change health.
    pub rules: HealthRules,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        Self {
            retention: Duration::from_secs(7 * 86_400),
            flush_every: Duration::from_millis(250),
            buffer: 10_000,
            rules: HealthRules::default(),
        }
    }
}

/// What an attempt or a check says about an endpoint's health.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observation {
    /// It answered well, in `latency_ms`.
    Success {
        /// Time to the answer.
        latency_ms: u64,
    },
    /// It failed (connection, timeout, 5xx).
    Failure {
        /// Why, without credentials.
        error: String,
    },
}

#[derive(Debug, Clone)]
struct Health {
    status: HealthStatus,
    failures: u32,
    last_error: Option<String>,
    checked_at: Option<DateTime<Utc>>,
}

struct Snapshot {
    loaded: Instant,
    endpoints: Arc<Vec<ApiEndpoint>>,
}

struct Inner {
    repo: Arc<dyn ApiRepository>,
    clock: Arc<dyn Clock>,
    events: Arc<dyn EventBus>,
    audit: Option<AuditLog>,
    rules: HealthRules,
    snapshot: RwLock<Option<Snapshot>>,
    health: Mutex<HashMap<String, Health>>,
    attempts: BatchWriter<ApiAttempt>,
}

/// The registry service. Cheap to clone; clones share the snapshot and the attempt writer.
#[derive(Clone)]
pub struct ApiRegistry {
    inner: Arc<Inner>,
    gate: Gate,
    secrets: Arc<dyn SecretReader>,
    urls: Option<Arc<dyn UrlPolicy>>,
}

/// Whether a base URL may be called at all (scheme, host allow-list, loopback and metadata
/// addresses), checked when an endpoint is registered or changed; the outbound client
/// implements it and checks again, with DNS, at call time.
pub trait UrlPolicy: Send + Sync + 'static {
    /// `Ok` when `url` may be called, else why not.
    fn check_url(&self, url: &url::Url) -> std::result::Result<(), String>;
}

/// Binding without a vault: only the system may bind, and nothing can be read.
struct NoVault;

#[async_trait::async_trait]
impl SecretReader for NoVault {
    async fn bind_secret(&self, principal: &Principal, name: &str) -> Result<SecretBinding> {
        match principal {
            Principal::System => Ok(SecretBinding {
                secret: name.to_owned(),
                bound_by: principal.created_by(),
                right: BindingRight::Permission,
            }),
            _ => Err(Error::Forbidden(format!(
                "binding the secret {name} needs {SECRETS_USE}, and no vault is configured"
            ))),
        }
    }

    async fn read_secret(&self, binding: &SecretBinding) -> Result<crate::SecretString> {
        Err(Error::Config(format!(
            "no vault is configured to read the secret {}",
            binding.secret
        )))
    }
}

/// Reading registered endpoints, their usage and attempt logs.
pub const APIS_READ: &str = "apis:read";
/// Registering, changing, deleting and checking endpoints.
pub const APIS_ADMIN: &str = "apis:admin";
/// Calling a capability through the orchestrator.
pub const APIS_CALL: &str = "apis:call";

impl std::fmt::Debug for ApiRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiRegistry").finish_non_exhaustive()
    }
}

impl ApiRegistry {
    /// Starts the registry (and its attempt writer, on the current tokio runtime; the writer
    /// stops when every clone is dropped, writing what is queued first).
    pub fn start(
        repo: Arc<dyn ApiRepository>,
        clock: Arc<dyn Clock>,
        events: Arc<dyn EventBus>,
        options: RegistryOptions,
    ) -> Self {
        let rules = options.rules;
        // Attempts restore day limits after a restart, so the log keeps at least a day.
        let retention =
            chrono::Duration::from_std(options.retention.max(Duration::from_secs(86_400)))
                .unwrap_or(chrono::Duration::MAX);
        let attempts = BatchWriter::start(
            Arc::new(AttemptSink {
                repo: Arc::clone(&repo),
                retention,
            }),
            Arc::clone(&clock),
            options.flush_every,
            options.buffer,
            ATTEMPTS_DROPPED,
        );
        Self {
            inner: Arc::new(Inner {
                repo,
                clock,
                events,
                audit: None,
                rules,
                snapshot: RwLock::new(None),
                health: Mutex::new(HashMap::new()),
                attempts,
            }),
            gate: Gate::default(),
            secrets: Arc::new(NoVault),
            urls: None,
        }
    }

    /// This registry, asking `secrets` whether a principal may bind a secret to an endpoint.
    #[must_use]
    pub fn with_secrets(mut self, secrets: Arc<dyn SecretReader>) -> Self {
        self.secrets = secrets;
        self
    }

    /// This registry, refusing base URLs that `policy` would refuse to call.
    #[must_use]
    pub fn with_url_policy(mut self, policy: Arc<dyn UrlPolicy>) -> Self {
        self.urls = Some(policy);
        self
    }

    /// This registry, deciding who may read, change and call with `authorizer` (by default
    /// only the system may act).
    #[must_use]
    pub fn with_authorizer(mut self, authorizer: Arc<dyn Authorizer>) -> Self {
        self.gate = Gate::new(authorizer);
        self
    }

    /// `Ok` when `principal` holds `needed`: the registry's permission check, shared with the
    /// orchestrator that routes calls from it.
    pub async fn require(&self, principal: &Principal, needed: &'static str) -> Result<()> {
        self.gate.check(principal, needed).await
    }

    /// This registry, recording create, update and delete in `audit`.
    pub fn with_audit(self, audit: AuditLog) -> Self {
        let inner = Arc::try_unwrap(self.inner).unwrap_or_else(|shared| Inner {
            repo: Arc::clone(&shared.repo),
            clock: Arc::clone(&shared.clock),
            events: Arc::clone(&shared.events),
            audit: shared.audit.clone(),
            rules: shared.rules,
            snapshot: RwLock::new(None),
            health: Mutex::new(HashMap::new()),
            attempts: shared.attempts.clone(),
        });
        Self {
            inner: Arc::new(Inner {
                audit: Some(audit),
                ..inner
            }),
            gate: self.gate,
            secrets: self.secrets,
            urls: self.urls,
        }
    }

    /// The clock it timestamps with.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// Registers an endpoint; `Conflict` when the name is taken.
    pub async fn create(
        &self,
        principal: &Principal,
        spec: ApiEndpointSpec,
        meta: &RequestMeta,
    ) -> Result<ApiEndpoint> {
        self.gate.check(principal, APIS_ADMIN).await?;
        let spec = spec.validated()?;
        let secret_binding = self.admit(principal, &spec).await?;
        let now = self.inner.clock.now_micros();
        let endpoint = ApiEndpoint {
            spec,
            secret_binding,
            health: HealthStatus::Unknown,
            consecutive_failures: 0,
            last_check_at: None,
            last_error: None,
            created_at: now,
            updated_at: now,
        };
        self.inner.repo.insert(&endpoint).await?;
        self.changed();
        self.audit(principal, "api.create", &endpoint.spec, meta)
            .await?;
        self.publish("api.created", &endpoint);
        Ok(endpoint)
    }

    /// Replaces an endpoint's spec; the name in `spec` must be `name`. Health is kept.
    pub async fn update(
        &self,
        principal: &Principal,
        name: &str,
        spec: ApiEndpointSpec,
        meta: &RequestMeta,
    ) -> Result<ApiEndpoint> {
        self.gate.check(principal, APIS_ADMIN).await?;
        check_secret_name(name)?;
        if spec.name != name {
            return Err(Error::validation(
                "name",
                "an endpoint cannot be renamed; delete it and register it again",
            ));
        }
        let spec = spec.validated()?;
        let secret_binding = self.admit(principal, &spec).await?;
        let endpoint = self
            .inner
            .repo
            .update_spec(
                &spec,
                secret_binding.as_ref(),
                self.inner.clock.now_micros(),
            )
            .await?;
        self.changed();
        self.audit(principal, "api.update", &endpoint.spec, meta)
            .await?;
        self.publish("api.updated", &endpoint);
        Ok(endpoint)
    }

    /// Checks what registering `spec` would let calls do: its base URL must be one the
    /// outbound policy would call, and whoever binds a secret to it must have the right to
    /// send that secret out (else a registrant could read any secret through its own host).
    async fn admit(
        &self,
        principal: &Principal,
        spec: &ApiEndpointSpec,
    ) -> Result<Option<SecretBinding>> {
        if let Some(policy) = &self.urls {
            let url = url::Url::parse(&spec.base_url)
                .map_err(|e| Error::validation("base_url", format!("not a URL: {e}")))?;
            policy
                .check_url(&url)
                .map_err(|why| Error::validation("base_url", why))?;
        }
        match spec.auth.secret() {
            Some(name) => Ok(Some(self.secrets.bind_secret(principal, name).await?)),
            None => Ok(None),
        }
    }

    /// Removes an endpoint with its attempt log and usage.
    pub async fn delete(
        &self,
        principal: &Principal,
        name: &str,
        meta: &RequestMeta,
    ) -> Result<()> {
        self.gate.check(principal, APIS_ADMIN).await?;
        check_secret_name(name)?;
        let Some(endpoint) = self.inner.repo.get(name).await? else {
            return Err(Error::not_found("api", name));
        };
        if !self.inner.repo.delete(name).await? {
            return Err(Error::not_found("api", name));
        }
        self.lock_health().remove(name);
        self.changed();
        self.audit(principal, "api.delete", &endpoint.spec, meta)
            .await?;
        self.publish("api.deleted", &endpoint);
        Ok(())
    }

    /// One endpoint, with this node's view of its health; needs `apis:read`.
    pub async fn get(&self, principal: &Principal, name: &str) -> Result<ApiEndpoint> {
        self.gate.check(principal, APIS_READ).await?;
        self.find(name).await
    }

    /// One endpoint, for a caller already authorized (the orchestrator, the health checker).
    pub async fn find(&self, name: &str) -> Result<ApiEndpoint> {
        check_secret_name(name)?;
        let endpoint = self
            .inner
            .repo
            .get(name)
            .await?
            .ok_or_else(|| Error::not_found("api", name))?;
        Ok(self.overlay(endpoint))
    }

    /// Endpoints matching `filter`, by priority then name; needs `apis:read`.
    pub async fn list(
        &self,
        principal: &Principal,
        filter: &ApiEndpointFilter,
        page: PageRequest,
    ) -> Result<Page<ApiEndpoint>> {
        self.gate.check(principal, APIS_READ).await?;
        if let Some(c) = &filter.capability {
            check_capability(c)?;
        }
        let mut page = self.inner.repo.list(filter, page).await?;
        page.items = page.items.into_iter().map(|e| self.overlay(e)).collect();
        Ok(page)
    }

    /// The endpoints of `capability` from the snapshot, with this node's health; empty when
    /// no endpoint serves it.
    pub async fn endpoints_for(&self, capability: &str) -> Result<Vec<ApiEndpoint>> {
        check_capability(capability)?;
        let all = self.snapshot().await?;
        Ok(all
            .iter()
            .filter(|e| e.spec.capability == capability)
            .cloned()
            .map(|e| self.overlay(e))
            .collect())
    }

    /// Every endpoint from the snapshot, with this node's health (for the health checker).
    pub async fn all(&self) -> Result<Vec<ApiEndpoint>> {
        let all = self.snapshot().await?;
        Ok(all.iter().cloned().map(|e| self.overlay(e)).collect())
    }

    /// An endpoint's usage totals; needs `apis:read`.
    pub async fn usage(&self, principal: &Principal, name: &str) -> Result<ApiUsage> {
        self.get(principal, name).await?;
        self.inner.repo.usage(name).await
    }

    /// An endpoint's attempts, newest first; needs `apis:read`.
    pub async fn logs(
        &self,
        principal: &Principal,
        name: &str,
        page: PageRequest,
    ) -> Result<Page<ApiAttempt>> {
        self.get(principal, name).await?;
        self.inner.repo.attempts(name, page).await
    }

    /// The finish times of an endpoint's logged attempts in the last `window`.
    pub async fn recent_attempt_times(
        &self,
        name: &str,
        window: Duration,
    ) -> Result<Vec<DateTime<Utc>>> {
        let since = self.inner.clock.now()
            - chrono::Duration::from_std(window).unwrap_or(chrono::Duration::MAX);
        self.inner.repo.attempt_times(name, since).await
    }

    /// Queues an attempt for the log and usage; never waits.
    pub fn record_attempt(&self, attempt: ApiAttempt) {
        let outcome = if attempt.success {
            "success"
        } else {
            "failure"
        };
        metrics::counter!(API_ATTEMPTS, "endpoint" => attempt.endpoint.clone(), "outcome" => outcome)
            .increment(1);
        self.inner.attempts.send(attempt);
    }

    /// Writes every queued attempt (for tests and orderly shutdown).
    pub async fn flush(&self) {
        self.inner.attempts.flush().await;
    }

    /// Records what a call attempt showed about `endpoint`'s health; returns the new status.
    /// The row is written only when the status changes.
    pub async fn observe(&self, endpoint: &ApiEndpoint, observation: Observation) -> HealthStatus {
        self.apply(endpoint, observation, None).await
    }

    /// Records a health check's result; the row is always written. Returns the endpoint as
    /// it now stands.
    pub async fn record_check(
        &self,
        endpoint: &ApiEndpoint,
        observation: Observation,
    ) -> Result<ApiEndpoint> {
        let now = self.inner.clock.now_micros();
        self.apply(endpoint, observation, Some(now)).await;
        self.find(endpoint.name()).await
    }

    async fn apply(
        &self,
        endpoint: &ApiEndpoint,
        observation: Observation,
        checked_at: Option<DateTime<Utc>>,
    ) -> HealthStatus {
        let rules = self.inner.rules;
        let (before, after) = {
            let mut health = self.lock_health();
            let h = health
                .entry(endpoint.name().to_owned())
                .or_insert_with(|| Health {
                    status: endpoint.health,
                    failures: endpoint.consecutive_failures,
                    last_error: endpoint.last_error.clone(),
                    checked_at: endpoint.last_check_at,
                });
            let before = h.status;
            match &observation {
                Observation::Success { latency_ms } => {
                    // A call cannot revive an endpoint routing skips; only a check can (and
                    // a call can still reach one that turned failing while it was in flight).
                    let skipped = matches!(before, HealthStatus::Failing | HealthStatus::Critical);
                    if checked_at.is_some() || !skipped {
                        h.failures = 0;
                        h.status = rules.after_success(*latency_ms, endpoint.spec.timeout_ms);
                    }
                }
                Observation::Failure { error } => {
                    h.failures = h.failures.saturating_add(1);
                    h.status = rules
                        .after_failures(h.failures)
                        .max_severity(before, checked_at);
                    h.last_error = Some(error.clone());
                }
            }
            if checked_at.is_some() {
                h.checked_at = checked_at;
            }
            (before, h.clone())
        };
        if before != after.status || checked_at.is_some() {
            let update = HealthUpdate {
                health: after.status,
                consecutive_failures: after.failures,
                checked_at: after.checked_at,
                last_error: after.last_error.clone(),
            };
            if let Err(e) = self
                .inner
                .repo
                .update_health(endpoint.name(), &update, self.inner.clock.now_micros())
                .await
            {
                tracing::warn!(endpoint = endpoint.name(), error = %e, "recording API health failed");
            }
        }
        if before != after.status {
            tracing::info!(
                endpoint = endpoint.name(),
                from = before.as_str(),
                to = after.status.as_str(),
                "API endpoint health changed"
            );
            self.inner.events.publish(
                EVENT_SOURCE,
                "api.health",
                json!({
                    "name": endpoint.name(),
                    "from": before.as_str(),
                    "to": after.status.as_str(),
                    "consecutive_failures": after.failures,
                }),
            );
        }
        after.status
    }

    fn overlay(&self, mut endpoint: ApiEndpoint) -> ApiEndpoint {
        if let Some(h) = self.lock_health().get(endpoint.name()) {
            endpoint.health = h.status;
            endpoint.consecutive_failures = h.failures;
            endpoint.last_error.clone_from(&h.last_error);
            endpoint.last_check_at = h.checked_at.or(endpoint.last_check_at);
        }
        endpoint
    }

    fn lock_health(&self) -> std::sync::MutexGuard<'_, HashMap<String, Health>> {
        self.inner
            .health
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    async fn snapshot(&self) -> Result<Arc<Vec<ApiEndpoint>>> {
        {
            let snap = self
                .inner
                .snapshot
                .read()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some(s) = snap.as_ref()
                && s.loaded.elapsed() < SNAPSHOT_TTL
            {
                return Ok(Arc::clone(&s.endpoints));
            }
        }
        let endpoints = Arc::new(self.inner.repo.all().await?);
        *self
            .inner
            .snapshot
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(Snapshot {
            loaded: Instant::now(),
            endpoints: Arc::clone(&endpoints),
        });
        Ok(endpoints)
    }

    fn changed(&self) {
        *self
            .inner
            .snapshot
            .write()
            .unwrap_or_else(PoisonError::into_inner) = None;
    }

    async fn audit(
        &self,
        principal: &Principal,
        action: &str,
        spec: &ApiEndpointSpec,
        meta: &RequestMeta,
    ) -> Result<()> {
        let Some(audit) = &self.inner.audit else {
            return Ok(());
        };
        audit
            .record(meta.audit_entry(
                principal.actor(),
                action,
                Some(format!("api:{}", spec.name)),
                Outcome::Success,
                json!({
                    "capability": spec.capability,
                    "base_url": spec.base_url,
                    // The vault entry's name, under a key the audit log does not redact.
                    "auth_type": auth_type(&spec.auth),
                    "auth_vault_name": spec.auth.secret(),
                    "is_active": spec.is_active,
                }),
            ))
            .await
            .map(|_| ())
    }

    fn publish(&self, kind: &str, endpoint: &ApiEndpoint) {
        self.inner.events.publish(
            EVENT_SOURCE,
            kind,
            json!({
                "name": endpoint.spec.name,
                "capability": endpoint.spec.capability,
                "is_active": endpoint.spec.is_active,
            }),
        );
    }
}

fn auth_type(auth: &crate::ApiAuth) -> &'static str {
    match auth {
        crate::ApiAuth::None => "none",
        crate::ApiAuth::Bearer { .. } => "bearer",
        crate::ApiAuth::Basic { .. } => "basic",
        crate::ApiAuth::Header { .. } => "header",
        crate::ApiAuth::Query { .. } => "query",
    }
}

trait MaxSeverity {
    fn max_severity(self, before: HealthStatus, checked_at: Option<DateTime<Utc>>) -> HealthStatus;
}

impl MaxSeverity for HealthStatus {
    /// A failed call never improves health (a failing endpoint stays failing until a check
    /// passes); a failed check sets it from the count alone.
    fn max_severity(self, before: HealthStatus, checked_at: Option<DateTime<Utc>>) -> HealthStatus {
        if checked_at.is_some() {
            return self;
        }
        if before.severity() > self.severity() {
            before
        } else {
            self
        }
    }
}

/// Appends attempts with their usage and trims the log to its retention.
struct AttemptSink {
    repo: Arc<dyn ApiRepository>,
    retention: chrono::Duration,
}

#[async_trait::async_trait]
impl BatchSink<ApiAttempt> for AttemptSink {
    async fn append(&self, batch: &[ApiAttempt]) -> Result<()> {
        self.repo.record_attempts(batch).await
    }

    async fn trim(&self, now: DateTime<Utc>) -> Result<u64> {
        self.repo.trim_attempts(now - self.retention).await
    }
}

/// Every registered endpoint's calls, failures and latency over the last minute, from the
/// attempt log every process writes to (so the figures cover the whole deployment).
#[async_trait::async_trait]
impl crate::monitoring::metric_series::MetricSource for ApiRegistry {
    async fn collect(&self, out: &mut Vec<crate::monitoring::metric_series::Sample>) {
        use crate::monitoring::metric_series::Sample;
        let since = self.inner.clock.now() - chrono::Duration::seconds(60);
        let (endpoints, activity) = match (self.all().await, self.inner.repo.activity(since).await)
        {
            (Ok(endpoints), Ok(activity)) => (endpoints, activity),
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!(error = %e, "external API activity unavailable for metrics");
                return;
            }
        };
        for endpoint in &endpoints {
            let name = endpoint.spec.name.as_str();
            let seen = activity.iter().find(|a| a.endpoint == name);
            let of = |metric, value| Sample::new(metric, value).label("endpoint", name);
            out.push(of(API_CALLS, seen.map_or(0.0, |a| a.calls as f64)));
            out.push(of(API_FAILURES, seen.map_or(0.0, |a| a.failures as f64)));
            if let Some(a) = seen {
                out.push(of(API_LATENCY, a.average_latency_ms));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_call_never_improves_health_but_a_check_decides() {
        let failing = HealthStatus::Failing;
        assert_eq!(
            HealthStatus::Degraded.max_severity(failing, None),
            HealthStatus::Failing
        );
        assert_eq!(
            HealthStatus::Degraded.max_severity(failing, Some(Utc::now())),
            HealthStatus::Degraded
        );
        assert_eq!(
            HealthStatus::Critical.max_severity(HealthStatus::Healthy, None),
            HealthStatus::Critical
        );
    }
}
