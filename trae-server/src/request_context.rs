//! Per-request context: the request id (taken from `X-Request-Id` or generated), the client
//! IP (the socket peer, or `X-Forwarded-For` from a trusted proxy), a tracing span carrying
//! the id (and, once credentials resolve, the principal) so every log line of the request
//! names them, an access log line, and the HTTP metrics; it also refuses oversized headers
//! ([`crate::header_limit`]) and sets the [`crate::security_headers`]. Handlers read the id
//! and IP as [`RequestMeta`] request data.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use futures_util::future::Either;
use metrics::{Counter, Histogram};
use poem::http::{HeaderName, HeaderValue, Method, header};
use poem::{Endpoint, IntoResponse, Middleware, PathPattern, Request, Response, Result};
use tracing::Instrument;
use trae_auth::RequestMeta;
use trae_core::Principal;
use trae_core::RequestStats;
use trae_core::apis::client_ip::{client_ip, ip_text};
use trae_core::monitoring::request_history::{RequestRecord, RequestRecorder};
use trae_core::monitoring::telemetry::{HTTP_REQUEST_SECONDS, HTTP_REQUESTS};

/// The header carrying the request id in and out.
pub const REQUEST_ID: &str = "x-request-id";

// Parsed once: a lookup by `&str` parses and validates the name on every call.
const X_REQUEST_ID: HeaderName = HeaderName::from_static(REQUEST_ID);
const X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

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
            metrics: HttpMetrics::default(),
            unmatched: Arc::from(UNMATCHED),
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
    metrics: HttpMetrics,
    unmatched: Arc<str>,
}

/// The route label of a response no route matched.
const UNMATCHED: &str = "unmatched";

/// The HTTP metrics' handles, per route template, method and status.
///
/// Building five label strings per request and looking the series up in the recorder cost
/// 0.4–0.6 µs; with the handles kept here a request finds its series under a read lock and
/// records with atomic adds, about 60 ns in all. Series are few (route templates, not paths)
/// and, as in the recorder, never forgotten. A handle is bound to the recorder installed when
/// its series is first seen, which `trae serve` installs before it serves anything.
#[derive(Debug, Default)]
pub struct HttpMetrics {
    routes: RwLock<HashMap<Box<str>, Vec<MethodSeries>>>,
}

/// One method's series on a route: its latency histogram and a request counter per status.
#[derive(Debug)]
struct MethodSeries {
    method: Method,
    latency: Histogram,
    requests: Vec<(u16, Counter)>,
}

impl HttpMetrics {
    /// Counts one request to the route template `route` and records its latency.
    pub fn record(&self, route: &str, method: &Method, status: u16, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        {
            let routes = self.routes.read().unwrap_or_else(PoisonError::into_inner);
            let series = routes
                .get(route)
                .and_then(|methods| methods.iter().find(|s| s.method == *method));
            if let Some(series) = series
                && let Some((_, requests)) = series.requests.iter().find(|(s, _)| *s == status)
            {
                requests.increment(1);
                series.latency.record(secs);
                return;
            }
        }
        // First sight of this series: register it with the recorder, once.
        let mut routes = self.routes.write().unwrap_or_else(PoisonError::into_inner);
        let methods = routes.entry(route.into()).or_default();
        let i = match methods.iter().position(|s| s.method == *method) {
            Some(i) => i,
            None => {
                let latency = metrics::histogram!(
                    HTTP_REQUEST_SECONDS,
                    "method" => method.as_str().to_owned(),
                    "route" => route.to_owned()
                );
                methods.push(MethodSeries {
                    method: method.clone(),
                    latency,
                    requests: Vec::new(),
                });
                methods.len() - 1
            }
        };
        let series = &mut methods[i];
        let requests = match series.requests.iter().find(|(s, _)| *s == status) {
            Some((_, requests)) => requests.clone(),
            None => {
                let requests = metrics::counter!(
                    HTTP_REQUESTS,
                    "method" => method.as_str().to_owned(),
                    "route" => route.to_owned(),
                    "status" => status.to_string()
                );
                series.requests.push((status, requests.clone()));
                requests
            }
        };
        requests.increment(1);
        series.latency.record(secs);
    }
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

/// The request id a client sent, when it is safe to log and echo.
fn accepted_id(value: &HeaderValue) -> Option<&str> {
    let value = value.to_str().ok()?;
    let ok = !value.is_empty()
        && value.len() <= 128
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
    ok.then_some(value)
}

/// The request id (the client's, or a new one) and the header value echoing it.
fn request_id(req: &Request) -> (String, Option<HeaderValue>) {
    if let Some(value) = req.headers().get(&X_REQUEST_ID)
        && let Some(id) = accepted_id(value)
    {
        return (id.to_owned(), Some(value.clone()));
    }
    let mut buf = uuid::Uuid::encode_buffer();
    let id = uuid::Uuid::new_v4().simple().encode_lower(&mut buf);
    (id.to_owned(), HeaderValue::from_str(id).ok())
}

/// What the context keeps of a request while the inner layers answer it.
struct Begun {
    started: Instant,
    method: Method,
    span: tracing::Span,
    /// Whether a credential checker named the principal (only when credentials came).
    named: Option<Arc<AtomicBool>>,
    /// The `X-Request-Id` to echo.
    id_header: Option<HeaderValue>,
    /// The client and request id, when there is a history to record them in.
    for_history: Option<(String, String)>,
}

impl<E> RequestContextEndpoint<E> {
    /// Names the request (id, client IP, span) and puts [`RequestId`], [`RequestMeta`] and,
    /// when credentials came, [`PrincipalField`] into its data.
    fn begin(&self, req: &mut Request) -> Begun {
        let started = Instant::now();
        let (id, id_header) = request_id(req);
        let method = req.method().clone();
        // Without credential headers no checker runs, so the request is anonymous from the
        // start; naming it up front also spares JSON logs re-serialising the span's fields,
        // which every later `record` costs them.
        let credentials = req.headers().contains_key(header::AUTHORIZATION)
            || req.headers().contains_key(&X_API_KEY);
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
        let ip = req.remote_addr().as_socket_addr().map(|peer| {
            // Only a trusted proxy's header counts, so without any there is none to read.
            let forwarded = if self.trusted_proxies.is_empty() {
                None
            } else {
                req.headers()
                    .get(&X_FORWARDED_FOR)
                    .and_then(|v| v.to_str().ok())
            };
            ip_text(client_ip(peer.ip(), forwarded, &self.trusted_proxies))
        });
        // Copies only for the history, when there is one.
        let for_history = self.history.is_some().then(|| {
            let client = ip.clone().unwrap_or_else(|| "unknown".to_owned());
            (client, id.clone())
        });
        req.set_data(RequestId(id.clone()));
        req.set_data(RequestMeta {
            ip,
            request_id: Some(id),
        });
        Begun {
            started,
            method,
            span,
            named,
            id_header,
            for_history,
        }
    }

    /// Renders the inner layers' answer, logs it, counts it, and sets the response headers.
    fn finish<T: IntoResponse>(&self, begun: Begun, result: Result<T>) -> Response {
        let Begun {
            started,
            method,
            span,
            named,
            id_header,
            for_history,
        } = begun;
        // In the span still: rendering an error may log.
        let (mut response, route) = span.in_scope(|| match result {
            Ok(output) => {
                let response = output.into_response();
                let route = response.data::<PathPattern>().map(|p| Arc::clone(&p.0));
                (response, route)
            }
            Err(err) => {
                let route = err.data::<PathPattern>().map(|p| Arc::clone(&p.0));
                (crate::error::render(&err), route)
            }
        });
        let route = route.unwrap_or_else(|| Arc::clone(&self.unmatched));

        let status = response.status().as_u16();
        let elapsed = started.elapsed();
        if named.is_some_and(|n| !n.load(Ordering::Relaxed)) {
            span.record("principal", "anonymous");
        }
        span.in_scope(|| {
            tracing::info!(
                status,
                route = %route,
                latency_us = elapsed.as_micros() as u64,
                "served"
            );
        });
        self.metrics.record(&route, &method, status, elapsed);
        if let Some(stats) = &self.stats {
            stats.record(&route, status, elapsed);
        }
        if let (Some(history), Some((client, request_id))) = (&self.history, for_history) {
            history.record_with(&route, status, |id| RequestRecord {
                id,
                at: chrono::Utc::now(),
                method: method.to_string(),
                route: route.to_string(),
                status,
                latency_us: u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
                client,
                request_id: Some(request_id),
            });
        }
        let headers = response.headers_mut();
        if let Some(value) = id_header {
            headers.insert(X_REQUEST_ID, value);
        }
        crate::security_headers::apply(headers);
        response
    }
}

impl<E: Endpoint> Endpoint for RequestContextEndpoint<E> {
    type Output = Response;

    // Not an `async fn`: the work before and after is synchronous, so the future is the
    // inner one in the request's span plus what `finish` needs. As an `async fn` it held
    // copies of the request (2.3 KB in all), copied whole wherever the future was boxed.
    fn call(&self, mut req: Request) -> impl Future<Output = Result<Self::Output>> + Send {
        let begun = self.begin(&mut req);
        // Before anything reads a header: credentials, rate-limit keys, CORS.
        let inner = match crate::header_limit::check(&req) {
            Ok(()) => Either::Left(self.inner.call(req)),
            Err(refusal) => Either::Right(std::future::ready(Err(refusal))),
        };
        inner
            .instrument(begun.span.clone())
            .map(move |result| Ok(self.finish(begun, result)))
    }
}

#[cfg(test)]
mod tests {
    use metrics_exporter_prometheus::PrometheusBuilder;

    use super::*;

    #[test]
    fn each_route_method_and_status_counts_in_its_own_series() {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let metrics = HttpMetrics::default();
        let ms = Duration::from_millis(1);
        metrics::with_local_recorder(&recorder, || {
            for (route, method, status) in [
                ("/api/pets", Method::GET, 200),
                ("/api/pets", Method::GET, 200),
                ("/api/pets", Method::GET, 404),
                ("/api/pets", Method::POST, 200),
                ("/api/tasks", Method::GET, 200),
            ] {
                metrics.record(route, &method, status, ms);
            }
        });
        let text = handle.render();
        let count = |labels: &str| {
            let prefix = format!("{HTTP_REQUESTS}{{{labels}}} ");
            text.lines()
                .find_map(|l| l.strip_prefix(prefix.as_str()))
                .unwrap_or_else(|| panic!("no {prefix} in {text}"))
                .to_owned()
        };
        assert_eq!(count(r#"method="GET",route="/api/pets",status="200""#), "2");
        assert_eq!(count(r#"method="GET",route="/api/pets",status="404""#), "1");
        assert_eq!(
            count(r#"method="POST",route="/api/pets",status="200""#),
            "1"
        );
        assert_eq!(
            count(r#"method="GET",route="/api/tasks",status="200""#),
            "1"
        );
        let latency =
            format!(r#"{HTTP_REQUEST_SECONDS}_count{{method="GET",route="/api/pets"}} 3"#);
        assert!(text.lines().any(|l| l == latency), "{text}");
    }
}
