//! External APIs: the registry (`store.apis`, blocking `trae.Apis`, asyncio `trae.aio.Apis`),
//! the orchestrator (`store.orchestrator`, `trae.Orchestrator` and `trae.aio.Orchestrator`),
//! and the values they return: `ApiEndpoint`, `ApiUsage`, `ApiAttempt`, `ApiCallResult` and
//! `ApiCallAttempt`.
//!
//! Both pairs of service classes come from one definition each ([`apis_service!`] and
//! [`orchestrator_service!`]), expanded once with [`blocking`] and once with [`awaitable`].
//! Each method converts its arguments, calls one `trae_core::ApiRegistry` or
//! `trae_agents::Orchestrator` method and wraps the answer; every rule (spec validation,
//! routing, limits, retries, failover, credential injection, health) lives in those crates.
//! Calls act as the store's principal (the system, or the user of `store.as_user`), which the
//! registry authorizes as it does for HTTP; changes are audited as the server audits them.
//!
//! The registry starts with the first use of `store.apis` (it runs the attempt-log writer)
//! and needs no credentials. The orchestrator is wired on the first call or check, as
//! `trae serve` wires it (endpoint limits shared with every process on the database): it
//! reads credentials from the vault (so on PostgreSQL it needs `TRAE_MASTER_KEY`, as
//! `store.secrets` does) and the outbound policy from the trae configuration
//! (`TRAE_OUTBOUND_ALLOW_HOSTS`, `TRAE_OUTBOUND_ALLOW_LOOPBACK`, `TRAE_OUTBOUND_TIMEOUT_MS`,
//! or `trae.toml`), read then.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyInt, PyString};
use trae_agents::{ApiCall, ApiResponse, AttemptSummary};
use trae_core::{ApiAuth, ApiEndpointFilter, ApiEndpointSpec, Error, RequestMeta, RoutingStrategy};

use crate::args;
use crate::convert::{json_to_py, py_to_json};
use crate::errors::AgentAnswer;
use crate::handle::{Handle, Nothing, awaitable, blocking};
use crate::types::PageOut;

/// Where a call from Python comes from, for the audit log: nowhere in particular.
fn meta() -> RequestMeta {
    RequestMeta::default()
}

/// The keys of a spec whose value is itself an object of optional keys.
const NESTED: [&str; 3] = ["auth", "limits", "health_check"];

/// An endpoint spec from a dict in the JSON shape (`spec`) and keyword arguments (`fields`,
/// which win); see [`args::json_spec`]. `None` in `auth`, `limits` and `health_check` also
/// means the default; `metadata` is left as given.
fn spec_arg(
    spec: Option<&Bound<'_, PyAny>>,
    fields: Option<&Bound<'_, PyDict>>,
) -> PyResult<trae_core::Result<ApiEndpointSpec>> {
    args::json_spec(spec, fields, &NESTED)
}

/// A registered external API endpoint. Read-only; equal when every field is equal.
///
/// Attributes mirror the spec (`name`, `capability`, `base_url`, `auth` as a dict
/// `{"type", "secret", "name"}` naming a vault secret, never a value, `priority`, `limits` as
/// a dict `{"per_minute", "per_hour", "per_day"}` (`None`: no limit), `cost_per_request`,
/// `timeout_ms`, `is_active`, `health_check` as a dict `{"path", "interval_secs"}`, `tags`,
/// `metadata`) plus what trae learned: `health` ("unknown", "healthy", "degraded", "failing"
/// or "critical"), `consecutive_failures`, `last_check_at`, `last_error`, `created_at` and
/// `updated_at` (timezone-aware UTC datetimes). Dicts and lists are new on each access.
#[pyclass(frozen, eq, hash, module = "trae")]
#[derive(Clone, PartialEq)]
pub(crate) struct ApiEndpoint(trae_core::ApiEndpoint);

impl Hash for ApiEndpoint {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Equal endpoints have equal names and change times, so this agrees with `eq`.
        self.0.spec.name.hash(state);
        self.0.updated_at.hash(state);
    }
}

/// `repr()` of a Python string.
fn quoted(py: Python<'_>, text: &str) -> PyResult<String> {
    Ok(PyString::new(py, text).repr()?.to_cow()?.into_owned())
}

/// `repr()` of an optional string (`None` when absent).
fn quoted_opt(py: Python<'_>, text: Option<&str>) -> PyResult<String> {
    text.map_or_else(|| Ok("None".to_owned()), |text| quoted(py, text))
}

/// The wire name of an auth kind.
fn auth_type(auth: &ApiAuth) -> &'static str {
    match auth {
        ApiAuth::None => "none",
        ApiAuth::Bearer { .. } => "bearer",
        ApiAuth::Basic { .. } => "basic",
        ApiAuth::Header { .. } => "header",
        ApiAuth::Query { .. } => "query",
    }
}

#[pymethods]
impl ApiEndpoint {
    /// The unique name.
    #[getter]
    fn name(&self) -> &str {
        &self.0.spec.name
    }

    /// The capability it serves, e.g. "text-generation".
    #[getter]
    fn capability(&self) -> &str {
        &self.0.spec.capability
    }

    /// The URL call paths are relative to (without a trailing slash).
    #[getter]
    fn base_url(&self) -> &str {
        &self.0.spec.base_url
    }

    /// How calls authenticate: `{"type", "secret", "name"}`, `None` where a type has none.
    #[getter]
    fn auth<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let auth = &self.0.spec.auth;
        let name = match auth {
            ApiAuth::Header { name, .. } | ApiAuth::Query { name, .. } => Some(name),
            _ => None,
        };
        let dict = PyDict::new(py);
        dict.set_item("type", auth_type(auth))?;
        dict.set_item("secret", auth.secret())?;
        dict.set_item("name", name)?;
        Ok(dict)
    }

    /// Lower is tried first.
    #[getter]
    fn priority(&self) -> i32 {
        self.0.spec.priority
    }

    /// The call limits: `{"per_minute", "per_hour", "per_day"}`, `None` for no limit.
    #[getter]
    fn limits<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let limits = &self.0.spec.limits;
        let dict = PyDict::new(py);
        dict.set_item("per_minute", limits.per_minute)?;
        dict.set_item("per_hour", limits.per_hour)?;
        dict.set_item("per_day", limits.per_day)?;
        Ok(dict)
    }

    /// The cost of one call.
    #[getter]
    fn cost_per_request(&self) -> f64 {
        self.0.spec.cost_per_request
    }

    /// The per-attempt timeout in milliseconds.
    #[getter]
    fn timeout_ms(&self) -> u32 {
        self.0.spec.timeout_ms
    }

    /// Whether calls may pick it.
    #[getter]
    fn is_active(&self) -> bool {
        self.0.spec.is_active
    }

    /// The scheduled health check: `{"path", "interval_secs"}`.
    #[getter]
    fn health_check<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let check = &self.0.spec.health_check;
        let dict = PyDict::new(py);
        dict.set_item("path", &check.path)?;
        dict.set_item("interval_secs", check.interval_secs)?;
        Ok(dict)
    }

    /// The tags, sorted (a new list on each access).
    #[getter]
    fn tags(&self) -> Vec<String> {
        self.0.spec.tags.clone()
    }

    /// The metadata, a new dict on each access.
    #[getter]
    fn metadata<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json_to_py(py, &self.0.spec.metadata)
    }

    /// The health as this process sees it: "unknown", "healthy", "degraded", "failing" or
    /// "critical".
    #[getter]
    fn health(&self) -> &'static str {
        self.0.health.as_str()
    }

    /// Failed calls or checks in a row.
    #[getter]
    fn consecutive_failures(&self) -> u32 {
        self.0.consecutive_failures
    }

    /// When a health check last ran (timezone-aware, UTC), or `None`.
    #[getter]
    fn last_check_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_check_at
    }

    /// The latest failure (never a credential), or `None`.
    #[getter]
    fn last_error(&self) -> Option<&str> {
        self.0.last_error.as_deref()
    }

    /// When it was registered (timezone-aware, UTC).
    #[getter]
    fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// When its spec or health last changed (timezone-aware, UTC).
    #[getter]
    fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }

    /// The spec alone as a new dict in the shape `create` and `update` take, to change and
    /// pass back.
    fn to_spec<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let spec = serde_json::to_value(&self.0.spec)
            .map_err(|e| PyTypeError::new_err(format!("cannot convert the spec: {e}")))?;
        json_to_py(py, &spec)
    }

    /// Every attribute as a new dict, with the same Python types.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let dict = PyDict::new(py);
        dict.set_item("name", self.name())?;
        dict.set_item("capability", self.capability())?;
        dict.set_item("base_url", self.base_url())?;
        dict.set_item("auth", self.auth(py)?)?;
        dict.set_item("priority", self.priority())?;
        dict.set_item("limits", self.limits(py)?)?;
        dict.set_item("cost_per_request", self.cost_per_request())?;
        dict.set_item("timeout_ms", self.timeout_ms())?;
        dict.set_item("is_active", self.is_active())?;
        dict.set_item("health_check", self.health_check(py)?)?;
        dict.set_item("tags", self.tags())?;
        dict.set_item("metadata", self.metadata(py)?)?;
        dict.set_item("health", self.health())?;
        dict.set_item("consecutive_failures", self.consecutive_failures())?;
        dict.set_item("last_check_at", self.last_check_at())?;
        dict.set_item("last_error", self.last_error())?;
        dict.set_item("created_at", self.created_at())?;
        dict.set_item("updated_at", self.updated_at())?;
        Ok(dict)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let s = &self.0.spec;
        Ok(format!(
            "ApiEndpoint(name={}, capability={}, base_url={}, auth={}, priority={}, \
             is_active={}, health={})",
            quoted(py, &s.name)?,
            quoted(py, &s.capability)?,
            quoted(py, &s.base_url)?,
            quoted(py, auth_type(&s.auth))?,
            s.priority,
            if s.is_active { "True" } else { "False" },
            quoted(py, self.0.health.as_str())?,
        ))
    }
}

/// An endpoint's usage since it was registered. Read-only; equal when every field is equal.
///
/// Attributes: `endpoint`, `total`, `successes`, `failures`, `average_latency_ms`,
/// `success_rate` (0 with no attempts), `cost` and `last_used_at` (timezone-aware UTC, or
/// `None`). Attempts reach it in batches a fraction of a second after a call;
/// `store.apis.flush()` writes the queued ones now.
#[pyclass(frozen, eq, module = "trae")]
#[derive(Clone, PartialEq)]
pub(crate) struct ApiUsage(trae_core::ApiUsage);

#[pymethods]
impl ApiUsage {
    /// The endpoint's name.
    #[getter]
    fn endpoint(&self) -> &str {
        &self.0.endpoint
    }

    /// Attempts made.
    #[getter]
    fn total(&self) -> u64 {
        self.0.total
    }

    /// Attempts that succeeded.
    #[getter]
    fn successes(&self) -> u64 {
        self.0.successes
    }

    /// Attempts that failed.
    #[getter]
    fn failures(&self) -> u64 {
        self.0.failures
    }

    /// Mean latency of all attempts, in milliseconds.
    #[getter]
    fn average_latency_ms(&self) -> f64 {
        self.0.average_latency_ms
    }

    /// `successes / total` (0 with no attempts).
    #[getter]
    fn success_rate(&self) -> f64 {
        self.0.success_rate
    }

    /// Total cost of the attempts.
    #[getter]
    fn cost(&self) -> f64 {
        self.0.cost
    }

    /// When the latest attempt finished (timezone-aware, UTC), or `None`.
    #[getter]
    fn last_used_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_used_at
    }

    /// Every attribute as a new dict, with the same Python types.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let u = &self.0;
        let dict = PyDict::new(py);
        dict.set_item("endpoint", &u.endpoint)?;
        dict.set_item("total", u.total)?;
        dict.set_item("successes", u.successes)?;
        dict.set_item("failures", u.failures)?;
        dict.set_item("average_latency_ms", u.average_latency_ms)?;
        dict.set_item("success_rate", u.success_rate)?;
        dict.set_item("cost", u.cost)?;
        dict.set_item("last_used_at", u.last_used_at)?;
        Ok(dict)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let u = &self.0;
        Ok(format!(
            "ApiUsage(endpoint={}, total={}, successes={}, failures={}, success_rate={:.3}, \
             average_latency_ms={:.1}, cost={:?})",
            quoted(py, &u.endpoint)?,
            u.total,
            u.successes,
            u.failures,
            u.success_rate,
            u.average_latency_ms,
            u.cost,
        ))
    }
}

/// One attempt in an endpoint's request log. Read-only; equal when every field is equal,
/// hashed by id.
///
/// Attributes: `id` (`uuid.UUID`), `endpoint`, `method`, `path` (without its query, which may
/// carry a key), `status` (or `None` when nothing answered), `latency_ms`, `request_bytes`,
/// `response_bytes`, `error` (never a credential), `success`, `cost`, `request_id` and `at`
/// (timezone-aware UTC).
#[pyclass(frozen, eq, hash, module = "trae")]
#[derive(Clone, PartialEq)]
pub(crate) struct ApiAttempt(trae_core::ApiAttempt);

impl Hash for ApiAttempt {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.id.hash(state);
    }
}

#[pymethods]
impl ApiAttempt {
    /// The attempt's identifier (a UUIDv7).
    #[getter]
    fn id(&self) -> uuid::Uuid {
        self.0.id
    }

    /// The endpoint's name.
    #[getter]
    fn endpoint(&self) -> &str {
        &self.0.endpoint
    }

    /// The HTTP method.
    #[getter]
    fn method(&self) -> &str {
        &self.0.method
    }

    /// The path called, relative to the base URL, without its query.
    #[getter]
    fn path(&self) -> &str {
        &self.0.path
    }

    /// The upstream's status, or `None` when it did not answer.
    #[getter]
    fn status(&self) -> Option<u16> {
        self.0.status
    }

    /// Milliseconds to the answer or failure.
    #[getter]
    fn latency_ms(&self) -> u64 {
        self.0.latency_ms
    }

    /// Bytes sent in the body.
    #[getter]
    fn request_bytes(&self) -> u64 {
        self.0.request_bytes
    }

    /// Bytes received in the body.
    #[getter]
    fn response_bytes(&self) -> u64 {
        self.0.response_bytes
    }

    /// Why it failed, or `None`.
    #[getter]
    fn error(&self) -> Option<&str> {
        self.0.error.as_deref()
    }

    /// Whether it counts as a success (2xx–4xx other than 408 and 429).
    #[getter]
    fn success(&self) -> bool {
        self.0.success
    }

    /// The cost charged.
    #[getter]
    fn cost(&self) -> f64 {
        self.0.cost
    }

    /// The request id of the call that made it, or `None`.
    #[getter]
    fn request_id(&self) -> Option<&str> {
        self.0.request_id.as_deref()
    }

    /// When it finished (timezone-aware, UTC).
    #[getter]
    fn at(&self) -> DateTime<Utc> {
        self.0.at
    }

    /// For a language-model call: the model asked for; otherwise `None`.
    #[getter]
    fn model(&self) -> Option<&str> {
        self.0.model.as_deref()
    }

    /// For a language-model call: the tokens of the request; otherwise `None`.
    #[getter]
    fn prompt_tokens(&self) -> Option<u32> {
        self.0.prompt_tokens
    }

    /// For a language-model call: the tokens of the answer; otherwise `None`.
    #[getter]
    fn completion_tokens(&self) -> Option<u32> {
        self.0.completion_tokens
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let a = &self.0;
        Ok(format!(
            "ApiAttempt(endpoint={}, method={}, path={}, status={}, latency_ms={}, \
             success={}, error={})",
            quoted(py, &a.endpoint)?,
            quoted(py, &a.method)?,
            quoted(py, &a.path)?,
            a.status
                .map_or_else(|| "None".to_owned(), |s| s.to_string()),
            a.latency_ms,
            if a.success { "True" } else { "False" },
            quoted_opt(py, a.error.as_deref())?,
        ))
    }
}

/// One attempt a call made. Read-only.
///
/// Attributes: `endpoint`, `status` (or `None` when nothing answered), `latency_ms` and
/// `error` (or `None`).
#[pyclass(frozen, eq, module = "trae")]
#[derive(Clone, PartialEq)]
pub(crate) struct ApiCallAttempt(AttemptSummary);

#[pymethods]
impl ApiCallAttempt {
    /// The endpoint tried.
    #[getter]
    fn endpoint(&self) -> &str {
        &self.0.endpoint
    }

    /// Its status, or `None` when it did not answer.
    #[getter]
    fn status(&self) -> Option<u16> {
        self.0.status
    }

    /// Milliseconds to the answer or failure.
    #[getter]
    fn latency_ms(&self) -> u64 {
        self.0.latency_ms
    }

    /// Why it failed, or `None`.
    #[getter]
    fn error(&self) -> Option<&str> {
        self.0.error.as_deref()
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "ApiCallAttempt(endpoint={}, status={}, latency_ms={}, error={})",
            quoted(py, &self.0.endpoint)?,
            self.0
                .status
                .map_or_else(|| "None".to_owned(), |s| s.to_string()),
            self.0.latency_ms,
            quoted_opt(py, self.0.error.as_deref())?,
        ))
    }
}

/// The upstream's answer to `store.orchestrator.call(...)`, whatever its status. Read-only.
///
/// Attributes: `status`, `headers` (a dict, lowercase names), `body` (`bytes`, cut at the
/// outbound cap), `truncated`, `endpoint` (the one that answered) and `attempts` (every
/// attempt as an `ApiCallAttempt`, the answering one last). `text` decodes the body as UTF-8
/// (bad bytes replaced); `json()` parses it.
#[pyclass(frozen, module = "trae")]
pub(crate) struct ApiCallResult(ApiResponse);

#[pymethods]
impl ApiCallResult {
    /// The upstream's own status.
    #[getter]
    fn status(&self) -> u16 {
        self.0.status
    }

    /// Its headers, lowercase names (a new dict on each access; of repeated ones the last).
    #[getter]
    fn headers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let dict = PyDict::new(py);
        for (name, value) in &self.0.headers {
            dict.set_item(name, value)?;
        }
        Ok(dict)
    }

    /// The body as `bytes`.
    #[getter]
    fn body<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.0.body)
    }

    /// The body decoded as UTF-8, with invalid bytes replaced.
    #[getter]
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.body).into_owned()
    }

    /// The body parsed as JSON (`json.loads`); raises `ValueError` when it is not JSON.
    fn json<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        py.import("json")?
            .call_method1("loads", (PyBytes::new(py, &self.0.body),))
    }

    /// Whether the body was cut at the outbound client's cap.
    #[getter]
    fn truncated(&self) -> bool {
        self.0.truncated
    }

    /// The endpoint that answered.
    #[getter]
    fn endpoint(&self) -> &str {
        &self.0.endpoint
    }

    /// Every attempt the call made, the answering one last (a new list on each access).
    #[getter]
    fn attempts(&self) -> Vec<ApiCallAttempt> {
        self.0
            .attempts
            .iter()
            .cloned()
            .map(ApiCallAttempt)
            .collect()
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "ApiCallResult(status={}, endpoint={}, body=<{} bytes{}>, attempts={})",
            self.0.status,
            quoted(py, &self.0.endpoint)?,
            self.0.body.len(),
            if self.0.truncated { ", truncated" } else { "" },
            self.0.attempts.len(),
        ))
    }
}

/// A call from Python arguments, or a validation error. `body`: `bytes` (or `bytearray`) and
/// `str` are sent as they are; any other JSON-serialisable value is sent as JSON, with
/// `content-type: application/json` unless `headers` name one.
fn call_arg(
    method: Option<String>,
    path: String,
    headers: Option<BTreeMap<String, String>>,
    body: Option<&Bound<'_, PyAny>>,
    strategy: Option<&str>,
) -> PyResult<trae_core::Result<ApiCall>> {
    let mut headers: Vec<(String, String)> = headers.unwrap_or_default().into_iter().collect();
    let body = match body {
        None => None,
        Some(value) if value.is_none() => None,
        Some(value) => {
            if let Ok(bytes) = value.cast::<PyBytes>() {
                Some(bytes.as_bytes().to_vec())
            } else if let Ok(bytes) = value.cast::<PyByteArray>() {
                Some(bytes.to_vec())
            } else if let Ok(text) = value.cast::<PyString>() {
                Some(text.to_cow()?.as_bytes().to_vec())
            } else {
                let json = match py_to_json(value) {
                    Ok(json) => json,
                    Err(why) => return Ok(Err(Error::validation("body", why))),
                };
                trae_agents::json_body::encode(Some(json), &mut headers)
            }
        }
    };
    let strategy = match strategy.map(str::parse::<RoutingStrategy>).transpose() {
        Ok(strategy) => strategy,
        Err(e) => return Ok(Err(e)),
    };
    Ok(Ok(ApiCall {
        method: method.unwrap_or_else(|| "GET".into()),
        path,
        headers,
        body,
        strategy,
        ..ApiCall::default()
    }))
}

/// Defines an API registry service class, each method running its work with `$run`.
macro_rules! apis_service {
    (
        run: $run:path,
        module: $module:tt,
        class: $Apis:ident,
        doc: $doc:tt $(,)?
    ) => {
        #[doc = concat!(
            "The external API registry of a store (`store.apis`)", $doc, "\n\n",
            "Calls act as the store's principal; create, update and delete are audited. Only `check` ",
            "needs credentials (it opens the vault, like `store.orchestrator`)."
        )]
        #[pyclass(frozen, name = "Apis", module = $module)]
        pub(crate) struct $Apis {
            pub(crate) handle: Arc<Handle>,
        }

        #[pymethods]
        impl $Apis {
            /// Registers an endpoint and returns it as an `ApiEndpoint`.
            ///
            /// `spec` is a dict in the JSON shape of the HTTP API (`name`, `capability` and
            /// `base_url` required; `auth`, `priority`, `limits`, `cost_per_request`,
            /// `timeout_ms`, `is_active`, `health_check`, `tags`, `metadata`); keyword
            /// arguments add to it or replace its keys. `None` means the default. Unknown
            /// keys, wrong types and broken rules raise `ValidationError`; a taken name
            /// `Conflict`.
            #[pyo3(signature = (spec = None, /, **fields))]
            fn create<'py>(
                &self,
                py: Python<'py>,
                spec: Option<&Bound<'py, PyAny>>,
                fields: Option<&Bound<'py, PyDict>>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let spec = spec_arg(spec, fields)?;
                let handle = Arc::clone(&self.handle);
                $run(py, async move {
                    let registry = handle.apis()?;
                    let principal = handle.principal().clone();
                    registry
                        .create(&principal, spec?, &meta())
                        .await
                        .map(ApiEndpoint)
                })
            }

            /// Replaces the spec of the endpoint `name` (the spec's `name` must be it; an
            /// endpoint cannot be renamed) and returns it; its health, usage and log are
            /// kept. The arguments of `create` apply; raises `NotFound` when there is none.
            #[pyo3(signature = (name, spec = None, /, **fields))]
            fn update<'py>(
                &self,
                py: Python<'py>,
                name: String,
                spec: Option<&Bound<'py, PyAny>>,
                fields: Option<&Bound<'py, PyDict>>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let spec = spec_arg(spec, fields)?;
                let handle = Arc::clone(&self.handle);
                $run(py, async move {
                    let registry = handle.apis()?;
                    let principal = handle.principal().clone();
                    registry
                        .update(&principal, &name, spec?, &meta())
                        .await
                        .map(ApiEndpoint)
                })
            }

            /// Removes an endpoint with its log and usage. Raises `NotFound` when there is
            /// none.
            fn delete<'py>(&self, py: Python<'py>, name: String) -> PyResult<Bound<'py, PyAny>> {
                let handle = Arc::clone(&self.handle);
                $run(py, async move {
                    let principal = handle.principal().clone();
                    handle.apis()?.delete(&principal, &name, &meta()).await?;
                    Ok(Nothing)
                })
            }

            /// The endpoint `name` as an `ApiEndpoint`; raises `NotFound` when there is none.
            fn get<'py>(&self, py: Python<'py>, name: String) -> PyResult<Bound<'py, PyAny>> {
                let handle = Arc::clone(&self.handle);
                $run(py, async move { handle.apis()?.get(handle.principal(), &name).await.map(ApiEndpoint) })
            }

            /// One `Page` of endpoints, by priority then name.
            ///
            /// `capability`, `is_active` and `tag` filter; `limit` (1–500) and `offset`
            /// choose the page.
            #[pyo3(
                signature = (*, capability = None, is_active = None, tag = None, limit = None,
                             offset = None),
                text_signature = "($self, *, capability=None, is_active=None, tag=None, \
                                  limit=50, offset=0)"
            )]
            fn list<'py>(
                &self,
                py: Python<'py>,
                capability: Option<String>,
                is_active: Option<bool>,
                tag: Option<String>,
                limit: Option<&Bound<'py, PyInt>>,
                offset: Option<&Bound<'py, PyInt>>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let page = args::page(limit, offset);
                let filter = ApiEndpointFilter {
                    capability,
                    is_active,
                    tag,
                };
                let handle = Arc::clone(&self.handle);
                $run(py, async move {
                    let page = handle.apis()?.list(handle.principal(), &filter, page?).await?;
                    Ok(PageOut(page.map(ApiEndpoint)))
                })
            }

            /// The endpoint's usage totals as an `ApiUsage`; raises `NotFound` when there is
            /// none. Attempts are written in batches: `flush()` first to count the latest.
            fn usage<'py>(&self, py: Python<'py>, name: String) -> PyResult<Bound<'py, PyAny>> {
                let handle = Arc::clone(&self.handle);
                $run(py, async move { handle.apis()?.usage(handle.principal(), &name).await.map(ApiUsage) })
            }

            /// One `Page` of the endpoint's request log (`ApiAttempt`s), newest first; raises
            /// `NotFound` when there is no such endpoint. `flush()` first to see the latest.
            #[pyo3(
                signature = (name, *, limit = None, offset = None),
                text_signature = "($self, name, *, limit=50, offset=0)"
            )]
            fn logs<'py>(
                &self,
                py: Python<'py>,
                name: String,
                limit: Option<&Bound<'py, PyInt>>,
                offset: Option<&Bound<'py, PyInt>>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let page = args::page(limit, offset);
                let handle = Arc::clone(&self.handle);
                $run(py, async move {
                    let page = handle.apis()?.logs(handle.principal(), &name, page?).await?;
                    Ok(PageOut(page.map(ApiAttempt)))
                })
            }

            /// Checks the endpoint's health now (a `GET` of its health-check path with its
            /// credentials; 2xx or 3xx passes) and returns it with the new health. A passing
            /// check brings a failing endpoint back into rotation. Opens the orchestrator:
            /// raises `ConfigError` on PostgreSQL without `TRAE_MASTER_KEY`.
            fn check<'py>(&self, py: Python<'py>, name: String) -> PyResult<Bound<'py, PyAny>> {
                let handle = Arc::clone(&self.handle);
                $run(py, async move {
                    let orchestrator = handle.orchestrator().await?;
                    Ok(AgentAnswer(orchestrator.check(handle.principal(), &name).await.map(ApiEndpoint)))
                })
            }

            /// Writes the attempts still queued for the request log and usage (they are
            /// otherwise written every quarter of a second).
            fn flush<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
                let handle = Arc::clone(&self.handle);
                $run(py, async move {
                    handle.apis()?.flush().await;
                    Ok(Nothing)
                })
            }

            fn __repr__(&self) -> String {
                format!("<{}.Apis backend='{}'>", $module, self.handle.backend())
            }
        }
    };
}

apis_service! {
    run: blocking,
    module: "trae",
    class: Apis,
    doc: ".",
}

apis_service! {
    run: awaitable,
    module: "trae.aio",
    class: AsyncApis,
    doc: "; the methods of `trae.Apis`, each returning an awaitable.",
}

/// Defines an orchestrator service class, each method running its work with `$run`.
macro_rules! orchestrator_service {
    (
        run: $run:path,
        module: $module:tt,
        class: $Orchestrator:ident,
        doc: $doc:tt $(,)?
    ) => {
        #[doc = concat!(
            "Calls to external APIs by capability (`store.orchestrator`)", $doc, "\n\n",
            "Wired on first use: credentials come from the vault (on PostgreSQL that needs ",
            "`TRAE_MASTER_KEY`, else `ConfigError`), the outbound policy from the trae ",
            "configuration (`TRAE_OUTBOUND_ALLOW_HOSTS`, `TRAE_OUTBOUND_ALLOW_LOOPBACK`, ",
            "`TRAE_OUTBOUND_TIMEOUT_MS`), read then."
        )]
        #[pyclass(frozen, name = "Orchestrator", module = $module)]
        pub(crate) struct $Orchestrator {
            pub(crate) handle: Arc<Handle>,
        }

        #[pymethods]
        impl $Orchestrator {
            /// Calls `capability` at `path` (and query) under a registered endpoint's base URL
            /// and returns the upstream's answer, whatever its status, as an `ApiCallResult`.
            ///
            /// The orchestrator picks endpoints by `strategy` ("priority", the default,
            /// "least_loaded", "round_robin" or "lowest_latency"), skips those inactive,
            /// failing or at a limit, injects credentials (`headers` cannot replace them),
            /// retries and fails over. `body`: `bytes` or `str` as they are, any other
            /// JSON-serialisable value as JSON. Raises `NotFound` for a capability no endpoint
            /// serves, `RateLimitedError` (with `retry_after`) when every endpoint is at a
            /// limit, `UpstreamError` when every attempt failed, `ValidationError` for a bad
            /// method, path, header or body.
            #[pyo3(signature = (capability, path, method = None, headers = None, body = None,
                                strategy = None),
                   text_signature = "($self, capability, path, method='GET', headers=None, \
                                     body=None, strategy=None)")]
            #[allow(clippy::too_many_arguments)]
            fn call<'py>(
                &self,
                py: Python<'py>,
                capability: String,
                path: String,
                method: Option<String>,
                headers: Option<BTreeMap<String, String>>,
                body: Option<&Bound<'py, PyAny>>,
                strategy: Option<&str>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let call = call_arg(method, path, headers, body, strategy)?;
                let handle = Arc::clone(&self.handle);
                $run(py, async move {
                    let call = call?;
                    let orchestrator = handle.orchestrator().await?;
                    Ok(AgentAnswer(
                        orchestrator.call(handle.principal(), &capability, call).await.map(ApiCallResult),
                    ))
                })
            }

            fn __repr__(&self) -> String {
                format!("<{}.Orchestrator backend='{}'>", $module, self.handle.backend())
            }
        }
    };
}

orchestrator_service! {
    run: blocking,
    module: "trae",
    class: Orchestrator,
    doc: ".",
}

orchestrator_service! {
    run: awaitable,
    module: "trae.aio",
    class: AsyncOrchestrator,
    doc: "; the methods of `trae.Orchestrator`, each returning an awaitable.",
}
