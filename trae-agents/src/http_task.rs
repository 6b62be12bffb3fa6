//! The built-in `http.request` task kind: one HTTP call through the [`OutboundClient`], or
//! through the [`Orchestrator`] to a registered API capability.
//!
//! Payload: either `{"url", …}` or `{"capability", "path", …}`, plus `"method"?: "GET",
//! "headers"?: {name: value}, "body"?: string or JSON, "timeout_ms"?` (URL calls only; a
//! capability's endpoints have their own timeouts). Result: `{"status", "headers", "body",
//! "truncated"}` (and `"endpoint"` for capability calls), the body parsed as
//! JSON when the response says it is JSON, text otherwise. A 2xx or 3xx answer completes the
//! task (redirects are not followed); 408, 429 and 5xx, timeouts and connection failures are
//! retried; any other 4xx, a malformed payload or a refused URL fails it at once.

use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use trae_core::{HandlerResult, TaskContext, TaskFailure, TaskHandler};
use url::Url;

use crate::json_body;
use crate::orchestrator::{ApiCall, Orchestrator};
use crate::outbound::OutboundClient;
use crate::{AgentError, Result};

/// The task kind this handler serves.
pub const KIND: &str = "http.request";

/// Headers a task may not set: the transport owns them.
const RESERVED_HEADERS: [&str; 5] = [
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "upgrade",
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Payload {
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    capability: Option<String>,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    headers: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    body: Option<serde_json::Value>,
    #[serde(default)]
    timeout_ms: Option<u64>,
}

/// Where a call goes.
#[derive(Debug, PartialEq, Eq)]
enum Target {
    /// A URL, through the outbound client.
    Url(Url),
    /// A path under a capability's endpoints, through the orchestrator.
    Capability { capability: String, path: String },
}

/// A parsed, checked `http.request` payload.
#[derive(Debug)]
struct Call {
    method: reqwest::Method,
    target: Target,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
    timeout: Option<Duration>,
}

fn parse(payload: &serde_json::Value) -> Result<Call> {
    let p: Payload = serde_json::from_value(payload.clone())
        .map_err(|e| AgentError::invalid("payload", e.to_string()))?;
    let target = match (p.url, p.capability, p.path) {
        (Some(url), None, None) => {
            Target::Url(Url::parse(&url).map_err(|e| AgentError::invalid("url", e.to_string()))?)
        }
        (None, Some(capability), Some(path)) => {
            if p.timeout_ms.is_some() {
                return Err(AgentError::invalid(
                    "timeout_ms",
                    "a capability call uses its endpoints' timeouts",
                ));
            }
            Target::Capability { capability, path }
        }
        _ => {
            return Err(AgentError::invalid(
                "payload",
                "give either url, or capability and path",
            ));
        }
    };
    let method = p.method.as_deref().unwrap_or("GET").to_ascii_uppercase();
    let method = match method.as_str() {
        "GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD" | "OPTIONS" => {
            reqwest::Method::from_bytes(method.as_bytes())
                .map_err(|e| AgentError::invalid("method", e.to_string()))?
        }
        other => {
            return Err(AgentError::invalid(
                "method",
                format!("{other} is not one of GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS"),
            ));
        }
    };
    let mut headers = Vec::with_capacity(p.headers.len());
    for (name, value) in p.headers {
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
        reqwest::header::HeaderValue::from_str(&value).map_err(|_| {
            AgentError::invalid(
                "headers",
                format!("the value of {name} is not a header value"),
            )
        })?;
        headers.push((lower, value));
    }
    let body = json_body::encode(p.body, &mut headers);
    let timeout = match p.timeout_ms {
        Some(0) => return Err(AgentError::invalid("timeout_ms", "must be positive")),
        Some(ms) => Some(Duration::from_millis(ms)),
        None => None,
    };
    Ok(Call {
        method,
        target,
        headers,
        body,
        timeout,
    })
}

/// Runs `http.request` tasks.
#[derive(Debug, Clone)]
pub struct HttpRequestHandler {
    client: OutboundClient,
    orchestrator: Option<Orchestrator>,
}

impl HttpRequestHandler {
    /// A handler calling out through `client` (URL payloads only).
    pub fn new(client: OutboundClient) -> Self {
        Self {
            client,
            orchestrator: None,
        }
    }

    /// This handler, sending capability payloads through `orchestrator`.
    pub fn with_orchestrator(mut self, orchestrator: Orchestrator) -> Self {
        self.orchestrator = Some(orchestrator);
        self
    }
}

fn headers_json(headers: Vec<(String, String)>) -> serde_json::Value {
    headers
        .into_iter()
        .map(|(name, value)| (name, serde_json::Value::String(value)))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// Completes on 2xx and 3xx; retries 408, 429 and 5xx; fails on any other status.
fn settle(status: u16, target: &str, summary: serde_json::Value) -> HandlerResult {
    match status {
        200..=399 => Ok(Some(summary)),
        408 | 429 | 500..=599 => Err(TaskFailure::Retry(format!("{target} answered {status}"))),
        _ => Err(TaskFailure::Fatal(format!("{target} answered {status}"))),
    }
}

#[async_trait]
impl TaskHandler for HttpRequestHandler {
    async fn run(&self, ctx: TaskContext) -> HandlerResult {
        let call = parse(ctx.payload()).map_err(|e| TaskFailure::Fatal(e.to_string()))?;
        match call.target {
            Target::Url(url) => {
                let response = self
                    .client
                    .send(call.method, &url, &call.headers, call.body, call.timeout)
                    .await
                    .map_err(|e| match e {
                        AgentError::Timeout(_)
                        | AgentError::Transport(_)
                        | AgentError::Connect(_) => TaskFailure::Retry(e.to_string()),
                        other => TaskFailure::Fatal(other.to_string()),
                    })?;
                let summary = serde_json::json!({
                    "status": response.status,
                    "body": json_body::decode(&response.headers, &response.body, response.truncated),
                    "headers": headers_json(response.headers),
                    "truncated": response.truncated,
                });
                settle(
                    response.status,
                    url.host_str().unwrap_or("the server"),
                    summary,
                )
            }
            Target::Capability { capability, path } => {
                let Some(orchestrator) = &self.orchestrator else {
                    return Err(TaskFailure::Fatal(
                        "this worker has no API orchestrator; capability calls need one".into(),
                    ));
                };
                let api_call = ApiCall {
                    method: call.method.to_string(),
                    path,
                    headers: call.headers,
                    body: call.body,
                    strategy: None,
                    request_id: Some(format!("task:{}", ctx.task().id)),
                    ..ApiCall::default()
                };
                // The worker runs the task as the system: whoever enqueued it needed
                // tasks:write, and tasks record no owner yet (issue 19).
                let response = orchestrator
                    .call(&trae_core::Principal::System, &capability, api_call)
                    .await
                    .map_err(|e| match e {
                        AgentError::Limited { retry_after, .. } => TaskFailure::Snooze(retry_after),
                        AgentError::Upstream(_) | AgentError::Core(_) => {
                            TaskFailure::Retry(e.to_string())
                        }
                        other => TaskFailure::Fatal(other.to_string()),
                    })?;
                let summary = serde_json::json!({
                    "status": response.status,
                    "body": json_body::decode(&response.headers, &response.body, response.truncated),
                    "headers": headers_json(response.headers),
                    "truncated": response.truncated,
                    "endpoint": response.endpoint,
                });
                settle(response.status, &response.endpoint, summary)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_are_checked_before_any_call() {
        let bad = [
            (serde_json::json!({}), "payload"),
            (
                serde_json::json!({"url": "http://x/", "capability": "c", "path": "/"}),
                "payload",
            ),
            (serde_json::json!({"capability": "c"}), "payload"),
            (
                serde_json::json!({"capability": "c", "path": "/", "timeout_ms": 5}),
                "timeout_ms",
            ),
            (serde_json::json!({"url": "not a url"}), "url"),
            (
                serde_json::json!({"url": "http://x/", "method": "TRACE"}),
                "method",
            ),
            (
                serde_json::json!({"url": "http://x/", "headers": {"Host": "y"}}),
                "headers",
            ),
            (
                serde_json::json!({"url": "http://x/", "headers": {"X": "a\nb"}}),
                "headers",
            ),
            (
                serde_json::json!({"url": "http://x/", "timeout_ms": 0}),
                "timeout_ms",
            ),
            (
                serde_json::json!({"url": "http://x/", "command": "rm -rf /"}),
                "payload",
            ),
        ];
        for (payload, field) in bad {
            match parse(&payload) {
                Err(AgentError::Invalid { field: f, .. }) => assert_eq!(f, field, "{payload}"),
                other => panic!("{payload}: expected invalid {field}, got {other:?}"),
            }
        }
    }

    #[test]
    fn json_bodies_get_a_content_type() {
        let call = parse(&serde_json::json!({
            "url": "http://x/", "method": "post", "body": {"a": 1}
        }))
        .unwrap();
        assert_eq!(call.method, reqwest::Method::POST);
        assert_eq!(call.target, Target::Url(Url::parse("http://x/").unwrap()));
        assert_eq!(call.body.as_deref(), Some(&b"{\"a\":1}"[..]));
        assert!(
            call.headers
                .contains(&("content-type".into(), "application/json".into()))
        );
    }
}
