//! Per-request context: the request id (taken from `X-Request-Id` or generated), the client
//! IP (the socket peer, or `X-Forwarded-For` from a trusted proxy), a tracing span carrying
//! the id (and, once credentials resolve, the principal) so every log line of the request
//! names them, an access log line, and the HTTP metrics. Handlers read the id and IP as
//! [`RequestMeta`] request data.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use poem::http::{HeaderValue, header};
use poem::{Endpoint, IntoResponse, Middleware, PathPattern, Request, Response, Result};
use tracing::Instrument;
use trae_auth::RequestMeta;
use trae_core::Principal;
use trae_core::RequestStats;
use trae_core::client_ip::client_ip;
use trae_core::request_history::{RequestRecord, RequestRecorder};
use trae_core::telemetry::{HTTP_REQUEST_SECONDS, HTTP_REQUESTS};

/// The header carrying the request id in and out.
pub const REQUEST_ID: &str = "x-request-id";

/// Middleware that gives every request an id, a client IP, a span, an access log line and
/// metrics.
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    trusted_proxies: Arc<[ipnet::IpNet]>,
    history: Option<RequestRecorder>,
    stats: Option<RequestStats>,
}

impl RequestContext {
    /// Context that believes `X-Forwarded-For` only from `trusted_proxies`.
    pub fn new(trusted_proxies: &[ipnet::IpNet]) -> Self {
        Self {
            trusted_proxies: trusted_proxies.into(),
            history: None,
            stats: None,
        }
    }

    /// Also counts every request in `stats`, the source of the JSON request series.
    pub fn with_stats(mut self, stats: RequestStats) -> Self {
        self.stats = Some(stats);
        self
    }

    /// Also hands every request to `history` (which skips health and metrics routes).
    pub fn with_history(mut self, history: Option<RequestRecorder>) -> Self {
        self.history = history;
        self
    }
}

impl<E: Endpoint> Middleware<E> for RequestContext {
    type Output = RequestContextEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        RequestContextEndpoint {
            inner,
            trusted_proxies: Arc::clone(&self.trusted_proxies),
            history: self.history.clone(),
            stats: self.stats.clone(),
        }
    }
}

/// The endpoint [`RequestContext`] wraps.
#[derive(Debug)]
pub struct RequestContextEndpoint<E> {
    inner: E,
    trusted_proxies: Arc<[ipnet::IpNet]>,
    history: Option<RequestRecorder>,
    stats: Option<RequestStats>,
}

/// The route template a response came from, for metrics labels that stay few.
fn route_of(pattern: Option<&PathPattern>) -> String {
    pattern.map_or_else(|| "unmatched".to_owned(), |p| p.0.to_string())
}

/// The request id of the current request, available to handlers as request data.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// The `principal` field of the request's span, as request data for the credential checkers.
///
/// The checkers run before the handler, possibly inside other spans, so they record on the
/// request span itself rather than on the current one. The flag tells the access line whether
/// anyone was named, so an unnamed request says `anonymous` without the field being written
/// twice (text logs would show both values).
#[derive(Debug, Clone)]
pub struct PrincipalField {
    span: tracing::Span,
    named: Arc<AtomicBool>,
}

impl PrincipalField {
    /// Names `principal` by kind and id (`user:<id>`, `api_key:<id>`, `system`): never a
    /// credential, and no username (personal data; the audit log maps ids to names).
    pub fn record(&self, principal: &Principal) {
        self.span.record("principal", principal.created_by());
        self.named.store(true, Ordering::Relaxed);
    }
}

fn accepted_id(value: &HeaderValue) -> Option<String> {
    let value = value.to_str().ok()?;
    let ok = !value.is_empty()
        && value.len() <= 128
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
    ok.then(|| value.to_owned())
}

impl<E: Endpoint> Endpoint for RequestContextEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> Result<Self::Output> {
        let started = Instant::now();
        let id = req
            .headers()
            .get(REQUEST_ID)
            .and_then(accepted_id)
            .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
        let method = req.method().clone();
        // Without credential headers no checker runs, so the request is anonymous from the
        // start; naming it up front also spares JSON logs re-serialising the span's fields,
        // which every later `record` costs them.
        let credentials = req.headers().contains_key(header::AUTHORIZATION)
            || req.headers().contains_key("x-api-key");
        let anonymous = (!credentials).then_some("anonymous");
        let span = tracing::info_span!(
            "request",
            id = %id,
            method = %method,
            path = %req.uri().path(),
            principal = anonymous,
        );
        let named = credentials.then(|| {
            let named = Arc::new(AtomicBool::new(false));
            req.set_data(PrincipalField {
                span: span.clone(),
                named: Arc::clone(&named),
            });
            named
        });
        req.set_data(RequestId(id.clone()));
        let ip = req.remote_addr().as_socket_addr().map(|peer| {
            let forwarded = req
                .headers()
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok());
            client_ip(peer.ip(), forwarded, &self.trusted_proxies).to_string()
        });
        let client = ip.clone().unwrap_or_else(|| "unknown".to_owned());
        req.set_data(RequestMeta {
            ip,
            request_id: Some(id.clone()),
        });

        let (mut response, route) = async {
            match self.inner.call(req).await {
                Ok(output) => {
                    let response = output.into_response();
                    let route = route_of(response.data::<PathPattern>());
                    (response, route)
                }
                Err(err) => {
                    let route = route_of(err.data::<PathPattern>());
                    (crate::error::render(&err), route)
                }
            }
        }
        .instrument(span.clone())
        .await;

        let status = response.status();
        let elapsed = started.elapsed();
        if named.is_some_and(|n| !n.load(Ordering::Relaxed)) {
            span.record("principal", "anonymous");
        }
        span.in_scope(|| {
            tracing::info!(
                status = status.as_u16(),
                route = %route,
                latency_us = elapsed.as_micros() as u64,
                "served"
            );
        });
        metrics::counter!(HTTP_REQUESTS, "method" => method.to_string(), "route" => route.clone(), "status" => status.as_u16().to_string()).increment(1);
        metrics::histogram!(HTTP_REQUEST_SECONDS, "method" => method.to_string(), "route" => route.clone())
            .record(elapsed.as_secs_f64());
        if let Some(stats) = &self.stats {
            stats.record(&route, status.as_u16(), elapsed);
        }
        if let Some(history) = &self.history {
            history.record(RequestRecord {
                id: uuid::Uuid::now_v7(),
                at: chrono::Utc::now(),
                method: method.to_string(),
                route,
                status: status.as_u16(),
                latency_us: u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
                client,
                request_id: Some(id.clone()),
            });
        }
        if let Ok(value) = HeaderValue::from_str(&id) {
            response.headers_mut().insert(REQUEST_ID, value);
        }
        Ok(response)
    }
}
