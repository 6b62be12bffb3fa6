//! External API endpoints: what the registry stores about each API trae calls, how a spec is
//! validated, the attempt log and usage, and the [`ApiRepository`] port.
//!
//! An endpoint serves one *capability* (e.g. `text-generation`); the orchestrator picks among
//! the active endpoints of a capability. Credentials are never stored here: [`ApiAuth`] names a
//! secret in the vault.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::identity::secret::{SecretBinding, check_secret_name, check_tags};
pub use crate::monitoring::health::HealthRules;
use crate::{Error, HealthStatus, Page, PageRequest, RateLimitPolicy, Result};

/// The longest per-call timeout an endpoint may have (five minutes).
pub const MAX_TIMEOUT_MS: u32 = 300_000;
/// The timeout when a spec names none.
pub const DEFAULT_TIMEOUT_MS: u32 = 30_000;
/// The shortest health-check interval.
pub const MIN_CHECK_INTERVAL_SECS: u32 = 5;
/// The health-check interval when a spec names none.
pub const DEFAULT_CHECK_INTERVAL_SECS: u32 = 60;

/// How the orchestrator authenticates to an endpoint; each kind names a vault secret.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum ApiAuth {
    /// No credentials.
    #[default]
    None,
    /// `Authorization: Bearer <secret>`.
    Bearer {
        /// The vault secret holding the token.
        secret: String,
    },
    /// `Authorization: Basic base64(<secret>)`; the secret holds `user:password`.
    Basic {
        /// The vault secret holding `user:password`.
        secret: String,
    },
    /// An API key in the header `name`.
    Header {
        /// The vault secret holding the key.
        secret: String,
        /// The header's name, e.g. `X-API-Key`.
        name: String,
    },
    /// An API key in the query parameter `name`.
    Query {
        /// The vault secret holding the key.
        secret: String,
        /// The query parameter's name, e.g. `api_key`.
        name: String,
    },
}

impl ApiAuth {
    /// The vault secret this auth reads, if any.
    pub fn secret(&self) -> Option<&str> {
        match self {
            Self::None => None,
            Self::Bearer { secret }
            | Self::Basic { secret }
            | Self::Header { secret, .. }
            | Self::Query { secret, .. } => Some(secret),
        }
    }

    /// The header this auth sets (lowercase), which a caller's headers may not replace.
    pub fn header_name(&self) -> Option<String> {
        match self {
            Self::None | Self::Query { .. } => None,
            Self::Bearer { .. } | Self::Basic { .. } => Some("authorization".into()),
            Self::Header { name, .. } => Some(name.to_ascii_lowercase()),
        }
    }
}

/// Rolling-window call limits; each is optional.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiLimits {
    /// Calls in any 60 seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_minute: Option<u64>,
    /// Calls in any hour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_hour: Option<u64>,
    /// Calls in any 24 hours (not a calendar day).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_day: Option<u64>,
}

impl ApiLimits {
    /// The limiter policy for these limits.
    pub fn policy(&self) -> Result<RateLimitPolicy> {
        RateLimitPolicy::from_limits(self.per_minute, self.per_hour, self.per_day)
    }
}

/// How an endpoint's health is checked on a schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthCheckSpec {
    /// The path under the base URL that a `GET` checks; a 2xx or 3xx answer passes.
    #[serde(default = "default_check_path")]
    pub path: String,
    /// Seconds between checks (at least [`MIN_CHECK_INTERVAL_SECS`]).
    #[serde(default = "default_check_interval")]
    pub interval_secs: u32,
}

fn default_check_path() -> String {
    "/".into()
}

fn default_check_interval() -> u32 {
    DEFAULT_CHECK_INTERVAL_SECS
}

impl Default for HealthCheckSpec {
    fn default() -> Self {
        Self {
            path: default_check_path(),
            interval_secs: DEFAULT_CHECK_INTERVAL_SECS,
        }
    }
}

/// What a client sends to register or replace an endpoint (the JSON shape of the HTTP API).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiEndpointSpec {
    /// Unique name: 1–128 characters of `[A-Za-z0-9_.-]`, not starting with a dot.
    pub name: String,
    /// What it does, e.g. `text-generation`: 1–64 characters of `[a-z0-9_.-]`.
    pub capability: String,
    /// `http` or `https` URL every call's path is relative to.
    pub base_url: String,
    /// How calls authenticate.
    #[serde(default)]
    pub auth: ApiAuth,
    /// Lower is tried first.
    #[serde(default)]
    pub priority: i32,
    /// Call limits.
    #[serde(default)]
    pub limits: ApiLimits,
    /// The cost of one call, in any unit the operator picks.
    #[serde(default)]
    pub cost_per_request: f64,
    /// Per-attempt timeout in milliseconds (1 to [`MAX_TIMEOUT_MS`]).
    #[serde(default = "default_timeout")]
    pub timeout_ms: u32,
    /// Whether calls may pick it.
    #[serde(default = "default_true")]
    pub is_active: bool,
    /// The scheduled health check.
    #[serde(default)]
    pub health_check: HealthCheckSpec,
    /// Free-form labels.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Free-form JSON object.
    #[serde(default = "empty_object")]
    pub metadata: serde_json::Value,
}

fn default_timeout() -> u32 {
    DEFAULT_TIMEOUT_MS
}

fn default_true() -> bool {
    true
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

impl ApiEndpointSpec {
    /// A spec with defaults for everything but the name, capability and base URL.
    pub fn new(
        name: impl Into<String>,
        capability: impl Into<String>,
        base_url: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            capability: capability.into(),
            base_url: base_url.into(),
            auth: ApiAuth::None,
            priority: 0,
            limits: ApiLimits::default(),
            cost_per_request: 0.0,
            timeout_ms: DEFAULT_TIMEOUT_MS,
            is_active: true,
            health_check: HealthCheckSpec::default(),
            tags: Vec::new(),
            metadata: empty_object(),
        }
    }

    /// Checks every rule and returns the spec normalized (base URL without a trailing slash,
    /// tags sorted and unique).
    pub fn validated(mut self) -> Result<Self> {
        check_secret_name(&self.name)?;
        check_capability(&self.capability)?;
        self.base_url = check_base_url(&self.base_url)?;
        match &self.auth {
            ApiAuth::None => {}
            ApiAuth::Bearer { secret } | ApiAuth::Basic { secret } => {
                check_secret_name(secret).map_err(|e| rename(e, "auth.secret"))?;
            }
            ApiAuth::Header { secret, name } => {
                check_secret_name(secret).map_err(|e| rename(e, "auth.secret"))?;
                check_header_name(name)?;
            }
            ApiAuth::Query { secret, name } => {
                check_secret_name(secret).map_err(|e| rename(e, "auth.secret"))?;
                if name.is_empty()
                    || name.len() > 64
                    || !name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
                {
                    return Err(Error::validation(
                        "auth.name",
                        "a query parameter name is 1–64 characters of A-Z, a-z, 0-9, '_', '-', '.'",
                    ));
                }
            }
        }
        for (field, limit) in [
            ("limits.per_minute", self.limits.per_minute),
            ("limits.per_hour", self.limits.per_hour),
            ("limits.per_day", self.limits.per_day),
        ] {
            if limit == Some(0) {
                return Err(Error::validation(
                    field,
                    "must be at least 1 (leave it out for no limit)",
                ));
            }
        }
        self.limits.policy()?;
        if !self.cost_per_request.is_finite() || self.cost_per_request < 0.0 {
            return Err(Error::validation(
                "cost_per_request",
                "must be a finite number ≥ 0",
            ));
        }
        if !(1..=MAX_TIMEOUT_MS).contains(&self.timeout_ms) {
            return Err(Error::validation(
                "timeout_ms",
                format!("must be 1–{MAX_TIMEOUT_MS}"),
            ));
        }
        if !(-1_000_000..=1_000_000).contains(&self.priority) {
            return Err(Error::validation("priority", "must be within ±1000000"));
        }
        if self.health_check.interval_secs < MIN_CHECK_INTERVAL_SECS {
            return Err(Error::validation(
                "health_check.interval_secs",
                format!("must be at least {MIN_CHECK_INTERVAL_SECS}"),
            ));
        }
        check_relative_path(&self.health_check.path).map_err(|e| rename(e, "health_check.path"))?;
        self.tags = check_tags(&self.tags)?;
        if !self.metadata.is_object() {
            return Err(Error::validation("metadata", "must be a JSON object"));
        }
        if self.metadata.to_string().len() > 16 * 1024 {
            return Err(Error::validation("metadata", "must be at most 16 KiB"));
        }
        if self.capability == crate::llm::provider::LLM_CHAT {
            crate::llm::provider::ProviderSettings::from_metadata(&self.metadata)?;
        }
        Ok(self)
    }
}

fn rename(e: Error, field: &str) -> Error {
    match e {
        Error::Validation { message, .. } => Error::validation(field, message),
        other => other,
    }
}

/// Checks a capability: 1–64 characters of `[a-z0-9_.-]`.
pub fn check_capability(capability: &str) -> Result<()> {
    let ok = (1..=64).contains(&capability.len())
        && capability.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-')
        });
    if ok {
        Ok(())
    } else {
        Err(Error::validation(
            "capability",
            "must be 1–64 characters of a-z, 0-9, '_', '.', '-'",
        ))
    }
}

fn check_base_url(raw: &str) -> Result<String> {
    let url = url::Url::parse(raw)
        .map_err(|e| Error::validation("base_url", format!("not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Error::validation(
            "base_url",
            "must be an http or https URL",
        ));
    }
    if url.host().is_none() {
        return Err(Error::validation("base_url", "must name a host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::validation(
            "base_url",
            "must not hold credentials; use auth with a vault secret",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::validation(
            "base_url",
            "must not have a query or fragment",
        ));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

fn check_header_name(name: &str) -> Result<()> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'));
    let lower = name.to_ascii_lowercase();
    if !ok || RESERVED_HEADERS.contains(&lower.as_str()) {
        return Err(Error::validation(
            "auth.name",
            "a header name is 1–64 characters of A-Z, a-z, 0-9, '-', '_' and not one the \
             transport sets",
        ));
    }
    Ok(())
}

/// Headers the transport owns: neither callers nor auth may set them.
pub const RESERVED_HEADERS: [&str; 6] = [
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "upgrade",
    "te",
];

/// Checks a path relative to a base URL: starts with `/`, no scheme or authority (`//`), no
/// `.` or `..` segment however it is percent-encoded, no fragment, no whitespace or control
/// characters. A query is allowed.
pub fn check_relative_path(path: &str) -> Result<()> {
    let (only_path, _query) = path.split_once('?').unwrap_or((path, ""));
    let bad = !path.starts_with('/')
        || path.starts_with("//")
        || path.len() > 2048
        || path.contains('#')
        || path.contains('\\')
        || path.chars().any(|c| c.is_whitespace() || c.is_control())
        || leaves_its_base(only_path);
    if bad {
        return Err(Error::validation(
            "path",
            "must be a path under the endpoint's base URL: starting with '/', without '..', \
             '//' at the start, a fragment or whitespace",
        ));
    }
    Ok(())
}

/// Whether a path could climb out of the base URL: the URL parser turns `.%2e` and `%2E.`
/// into `..`, and an upstream may decode `%252e` or `%2f` again, so each segment is decoded
/// until it stops changing and then split on every separator a server might honour.
fn leaves_its_base(path: &str) -> bool {
    path.split('/').any(|segment| {
        let mut decoded = segment.to_owned();
        // Each round shortens the text, so this ends; the bound keeps a hostile input cheap.
        for _ in 0..8 {
            let next = percent_encoding::percent_decode_str(&decoded)
                .decode_utf8_lossy()
                .into_owned();
            if next == decoded {
                break;
            }
            decoded = next;
        }
        decoded
            .split(['/', '\\'])
            .any(|part| part == "." || part == ".." || part.chars().any(char::is_control))
    })
}

/// A registered endpoint: its spec plus what trae learned about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiEndpoint {
    /// What was registered.
    #[serde(flatten)]
    pub spec: ApiEndpointSpec,
    /// Who bound `spec.auth`'s secret and on what right (`None` without a secret, or for an
    /// endpoint registered before bindings were recorded, which must be saved again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_binding: Option<SecretBinding>,
    /// The latest health status.
    pub health: HealthStatus,
    /// Failed calls or checks in a row.
    pub consecutive_failures: u32,
    /// When a health check last ran.
    pub last_check_at: Option<DateTime<Utc>>,
    /// The latest failure, without credentials.
    pub last_error: Option<String>,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
    /// When its spec or health last changed.
    pub updated_at: DateTime<Utc>,
}

impl ApiEndpoint {
    /// Its name.
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// Whether the orchestrator may send it calls: active and not failing or critical.
    pub fn is_callable(&self) -> bool {
        self.spec.is_active
            && !matches!(self.health, HealthStatus::Failing | HealthStatus::Critical)
    }
}

/// What the registry remembers about an endpoint's health after a call or a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthUpdate {
    /// The new status.
    pub health: HealthStatus,
    /// Failures in a row.
    pub consecutive_failures: u32,
    /// Set when this came from a health check.
    pub checked_at: Option<DateTime<Utc>>,
    /// The latest failure.
    pub last_error: Option<String>,
}

/// One attempt to call an endpoint, as the request log keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiAttempt {
    /// Unique id (UUIDv7).
    pub id: Uuid,
    /// The endpoint's name.
    pub endpoint: String,
    /// HTTP method.
    pub method: String,
    /// The path called, relative to the base URL, without the query (which may carry a key).
    pub path: String,
    /// The upstream's status, when it answered.
    pub status: Option<u16>,
    /// Time to the answer or failure, in milliseconds.
    pub latency_ms: u64,
    /// Bytes sent in the body.
    pub request_bytes: u64,
    /// Bytes received in the body.
    pub response_bytes: u64,
    /// Why it failed, when it did (never a credential).
    pub error: Option<String>,
    /// Whether it counts as a success (2xx–4xx other than 408 and 429).
    pub success: bool,
    /// The cost charged.
    pub cost: f64,
    /// The request id of the call that made it.
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

/// An endpoint's attempts over a recent window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApiActivity {
    /// The endpoint's name.
    pub endpoint: String,
    /// Attempts finished in the window.
    pub calls: u64,
    /// Of those, the ones that failed.
    pub failures: u64,
    /// Their mean latency in milliseconds.
    pub average_latency_ms: f64,
}

/// An endpoint's usage since it was registered.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ApiUsage {
    /// The endpoint's name.
    pub endpoint: String,
    /// Attempts made.
    pub total: u64,
    /// Attempts that succeeded.
    pub successes: u64,
    /// Attempts that failed.
    pub failures: u64,
    /// Mean latency of all attempts, in milliseconds.
    pub average_latency_ms: f64,
    /// `successes / total` (0 with no attempts).
    pub success_rate: f64,
    /// Total cost of the attempts.
    pub cost: f64,
    /// The latest attempt.
    pub last_used_at: Option<DateTime<Utc>>,
}

/// Running totals added to an endpoint's usage by a batch of attempts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UsageDelta {
    /// Attempts.
    pub total: u64,
    /// Successes.
    pub successes: u64,
    /// Sum of latencies, in milliseconds.
    pub latency_ms_sum: u64,
    /// Cost.
    pub cost: f64,
    /// The latest attempt.
    pub last_at: Option<DateTime<Utc>>,
}

/// Filters for listing endpoints; every field narrows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApiEndpointFilter {
    /// Only this capability.
    pub capability: Option<String>,
    /// Only active (`true`) or inactive (`false`) ones.
    pub is_active: Option<bool>,
    /// Only those with this tag.
    pub tag: Option<String>,
}

/// Where the registry lives. Implemented by trae-storage.
#[async_trait]
pub trait ApiRepository: Send + Sync + 'static {
    /// Inserts a new endpoint; `Conflict` when the name is taken.
    async fn insert(&self, endpoint: &ApiEndpoint) -> Result<()>;
    /// Replaces an endpoint's spec (not its name) and its secret binding; `NotFound` when
    /// absent.
    async fn update_spec(
        &self,
        spec: &ApiEndpointSpec,
        binding: Option<&SecretBinding>,
        updated_at: DateTime<Utc>,
    ) -> Result<ApiEndpoint>;
    /// Records a health change.
    async fn update_health(
        &self,
        name: &str,
        update: &HealthUpdate,
        at: DateTime<Utc>,
    ) -> Result<()>;
    /// Deletes an endpoint with its logs and usage; `false` when absent.
    async fn delete(&self, name: &str) -> Result<bool>;
    /// One endpoint.
    async fn get(&self, name: &str) -> Result<Option<ApiEndpoint>>;
    /// Endpoints matching `filter`, by priority then name.
    async fn list(
        &self,
        filter: &ApiEndpointFilter,
        page: PageRequest,
    ) -> Result<Page<ApiEndpoint>>;
    /// Every endpoint (the orchestrator's snapshot).
    async fn all(&self) -> Result<Vec<ApiEndpoint>>;
    /// Appends attempts and adds them to their endpoints' usage, in one transaction.
    async fn record_attempts(&self, attempts: &[ApiAttempt]) -> Result<()>;
    /// An endpoint's attempts, newest first.
    async fn attempts(&self, name: &str, page: PageRequest) -> Result<Page<ApiAttempt>>;
    /// The finish times of an endpoint's attempts at or after `since` (to restore limits).
    async fn attempt_times(&self, name: &str, since: DateTime<Utc>) -> Result<Vec<DateTime<Utc>>>;
    /// An endpoint's usage totals.
    async fn usage(&self, name: &str) -> Result<ApiUsage>;
    /// Per endpoint with attempts finished at or after `since`: how many, how many failed and
    /// their mean latency; by endpoint name.
    async fn activity(&self, since: DateTime<Utc>) -> Result<Vec<ApiActivity>>;
    /// Deletes attempts finished before `before`; returns how many went.
    async fn trim_attempts(&self, before: DateTime<Utc>) -> Result<u64>;
}

/// Splits usage totals into the reported shape.
pub fn usage_from_totals(
    endpoint: &str,
    total: u64,
    successes: u64,
    latency_ms_sum: u64,
    cost: f64,
    last_used_at: Option<DateTime<Utc>>,
) -> ApiUsage {
    ApiUsage {
        endpoint: endpoint.to_owned(),
        total,
        successes,
        failures: total.saturating_sub(successes),
        average_latency_ms: if total == 0 {
            0.0
        } else {
            latency_ms_sum as f64 / total as f64
        },
        success_rate: if total == 0 {
            0.0
        } else {
            successes as f64 / total as f64
        },
        cost,
        last_used_at,
    }
}

/// Sums attempts per endpoint.
pub fn usage_deltas(attempts: &[ApiAttempt]) -> BTreeMap<&str, UsageDelta> {
    let mut deltas: BTreeMap<&str, UsageDelta> = BTreeMap::new();
    for a in attempts {
        let d = deltas.entry(a.endpoint.as_str()).or_default();
        d.total += 1;
        d.successes += u64::from(a.success);
        d.latency_ms_sum += a.latency_ms;
        d.cost += a.cost;
        d.last_at = Some(d.last_at.map_or(a.at, |t| t.max(a.at)));
    }
    deltas
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ApiEndpointSpec {
        ApiEndpointSpec::new("openai", "text-generation", "https://api.example.com/v1/")
    }

    #[test]
    fn the_json_shape_round_trips_with_defaults() {
        let json = serde_json::json!({
            "name": "openai",
            "capability": "text-generation",
            "base_url": "https://api.example.com/v1",
            "auth": {"type": "header", "secret": "OPENAI_KEY", "name": "X-API-Key"},
            "priority": 1,
            "limits": {"per_minute": 60, "per_day": 1000},
            "cost_per_request": 0.002,
            "timeout_ms": 5000,
            "is_active": true,
            "tags": ["llm"],
            "metadata": {"region": "eu"}
        });
        let spec: ApiEndpointSpec = serde_json::from_value(json).unwrap();
        let spec = spec.validated().unwrap();
        assert_eq!(spec.limits.per_hour, None);
        assert_eq!(spec.health_check, HealthCheckSpec::default());
        assert_eq!(spec.auth.header_name().as_deref(), Some("x-api-key"));
        let minimal: ApiEndpointSpec = serde_json::from_value(serde_json::json!({
            "name": "a", "capability": "c", "base_url": "http://h"
        }))
        .unwrap();
        let minimal = minimal.validated().unwrap();
        assert_eq!(minimal.auth, ApiAuth::None);
        assert_eq!(minimal.timeout_ms, DEFAULT_TIMEOUT_MS);
        assert!(minimal.is_active);
        assert_eq!(minimal.base_url, "http://h");
        let unknown = serde_json::from_value::<ApiEndpointSpec>(serde_json::json!({
            "name": "a", "capability": "c", "base_url": "http://h", "secret_value": "x"
        }));
        assert!(unknown.is_err());
    }

    #[test]
    fn specs_break_rules_with_a_field_named() {
        type Change = Box<dyn Fn(&mut ApiEndpointSpec)>;
        let cases: Vec<(Change, &str)> = vec![
            (Box::new(|s| s.name = ".x".into()), "name"),
            (Box::new(|s| s.capability = "Text Gen".into()), "capability"),
            (Box::new(|s| s.base_url = "ftp://h".into()), "base_url"),
            (
                Box::new(|s| s.base_url = "https://u:p@h".into()),
                "base_url",
            ),
            (
                Box::new(|s| s.base_url = "https://h/?k=1".into()),
                "base_url",
            ),
            (Box::new(|s| s.base_url = "nonsense".into()), "base_url"),
            (
                Box::new(|s| {
                    s.auth = ApiAuth::Bearer {
                        secret: "bad name".into(),
                    }
                }),
                "auth.secret",
            ),
            (
                Box::new(|s| {
                    s.auth = ApiAuth::Header {
                        secret: "k".into(),
                        name: "Host".into(),
                    }
                }),
                "auth.name",
            ),
            (
                Box::new(|s| {
                    s.auth = ApiAuth::Query {
                        secret: "k".into(),
                        name: "a&b".into(),
                    }
                }),
                "auth.name",
            ),
            (
                Box::new(|s| s.limits.per_minute = Some(0)),
                "limits.per_minute",
            ),
            (Box::new(|s| s.cost_per_request = -1.0), "cost_per_request"),
            (
                Box::new(|s| s.cost_per_request = f64::NAN),
                "cost_per_request",
            ),
            (Box::new(|s| s.timeout_ms = 0), "timeout_ms"),
            (
                Box::new(|s| s.timeout_ms = MAX_TIMEOUT_MS + 1),
                "timeout_ms",
            ),
            (
                Box::new(|s| s.health_check.interval_secs = 1),
                "health_check.interval_secs",
            ),
            (
                Box::new(|s| s.health_check.path = "http://evil/".into()),
                "health_check.path",
            ),
            (
                Box::new(|s| s.metadata = serde_json::json!([1])),
                "metadata",
            ),
            (Box::new(|s| s.tags = vec!["a b".into()]), "tags"),
        ];
        for (change, field) in cases {
            let mut s = spec();
            change(&mut s);
            match s.clone().validated() {
                Err(Error::Validation { field: f, .. }) => assert_eq!(f, field, "{s:?}"),
                other => panic!("{s:?}: expected a validation error on {field}, got {other:?}"),
            }
        }
        assert_eq!(
            spec().validated().unwrap().base_url,
            "https://api.example.com/v1"
        );
    }

    #[test]
    fn relative_paths_stay_under_the_base_url() {
        for good in ["/", "/v1/chat", "/search?q=a%20b", "/a.b/c", "/x..y"] {
            assert!(check_relative_path(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "v1",
            "//evil.example/x",
            "/../admin",
            "/a/../../b",
            "/a/%2E%2E/b",
            "/a#frag",
            "/a b",
            "/a\\b",
            "http://evil/",
            "/./a",
            // Every spelling of `..` the URL parser or an upstream normalises.
            "/v1/.%2e/admin",
            "/v1/%2e./admin",
            "/v1/.%2E/.%2e/admin",
            "/v1/%2E%2e/admin",
            "/v1/%2e/admin",
            "/v1/%252e%252e/admin",
            "/v1/%25252E%25252E/admin",
            "/v1/a%2f..%2fb",
            "/v1/a%5c..%5cb",
            "/v1/..%2fadmin",
            "/v1/%2e%2e%2fadmin",
            "/v1/x%00",
        ] {
            assert!(check_relative_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn health_follows_failures_in_a_row_and_slowness() {
        let rules = HealthRules::default();
        assert_eq!(rules.after_failures(0), HealthStatus::Healthy);
        assert_eq!(rules.after_failures(1), HealthStatus::Degraded);
        assert_eq!(rules.after_failures(2), HealthStatus::Degraded);
        assert_eq!(rules.after_failures(3), HealthStatus::Failing);
        assert_eq!(rules.after_failures(10), HealthStatus::Critical);
        assert_eq!(rules.after_success(100, 1000), HealthStatus::Healthy);
        assert_eq!(rules.after_success(800, 1000), HealthStatus::Degraded);
    }

    #[test]
    fn usage_sums_per_endpoint() {
        let at = Utc::now();
        let attempt = |endpoint: &str, success: bool, latency_ms: u64| ApiAttempt {
            id: Uuid::now_v7(),
            endpoint: endpoint.into(),
            method: "GET".into(),
            path: "/".into(),
            status: Some(200),
            latency_ms,
            request_bytes: 0,
            response_bytes: 0,
            error: None,
            success,
            cost: 0.5,
            request_id: None,
            at,
            model: None,
            prompt_tokens: None,
            completion_tokens: None,
        };
        let batch = [
            attempt("a", true, 10),
            attempt("a", false, 30),
            attempt("b", true, 5),
        ];
        let deltas = usage_deltas(&batch);
        assert_eq!(deltas["a"].total, 2);
        assert_eq!(deltas["a"].successes, 1);
        assert_eq!(deltas["a"].latency_ms_sum, 40);
        let usage = usage_from_totals("a", 2, 1, 40, 1.0, Some(at));
        assert_eq!(usage.failures, 1);
        assert!((usage.average_latency_ms - 20.0).abs() < 1e-9);
        assert!((usage.success_rate - 0.5).abs() < 1e-9);
        assert_eq!(usage_from_totals("z", 0, 0, 0, 0.0, None).success_rate, 0.0);
    }
}
