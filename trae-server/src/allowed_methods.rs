//! The `Allow` header of 405 answers (RFC 9110, 15.5.6): the methods the spec declares for
//! the path, read from the spec once at start.

use std::sync::Arc;

use futures_util::FutureExt;
use poem::http::{HeaderValue, StatusCode, header};
use poem::{Endpoint, IntoResponse, Middleware, PathPattern, Request, Response, Result};

/// One path template of the spec, split into segments (`None` for a `{parameter}`), and the
/// `Allow` value of its methods.
#[derive(Debug)]
struct PathMethods {
    segments: Vec<Option<String>>,
    allow: HeaderValue,
}

/// Middleware adding `Allow` to 405 answers of the paths in a spec.
#[derive(Debug, Clone)]
pub struct AllowedMethods {
    paths: Arc<[PathMethods]>,
}

impl AllowedMethods {
    /// The methods of every path in `spec` (an OpenAPI document as JSON); `HEAD` comes with
    /// every `GET`, as the router answers it.
    pub fn from_spec(spec: &serde_json::Value) -> Self {
        let mut paths = Vec::new();
        for (path, item) in spec["paths"].as_object().into_iter().flatten() {
            let mut methods: Vec<String> = item
                .as_object()
                .into_iter()
                .flatten()
                .map(|(m, _)| m.to_ascii_uppercase())
                .collect();
            if methods.iter().any(|m| m == "GET") {
                methods.push("HEAD".to_owned());
            }
            let segments = path
                .split('/')
                .map(|s| (!s.starts_with('{')).then(|| s.to_owned()))
                .collect();
            if let Ok(allow) = HeaderValue::from_str(&methods.join(", ")) {
                paths.push(PathMethods { segments, allow });
            }
        }
        Self {
            paths: paths.into(),
        }
    }

    /// The `Allow` value for a request path; literal segments win over parameters, as in
    /// the router (`/api/tasks/stats` before `/api/tasks/{id}`).
    fn allow(&self, path: &str) -> Option<HeaderValue> {
        let parts: Vec<&str> = path.split('/').collect();
        self.paths
            .iter()
            .filter(|p| {
                p.segments.len() == parts.len()
                    && p.segments
                        .iter()
                        .zip(&parts)
                        .all(|(s, part)| s.as_deref().is_none_or(|s| s == *part))
            })
            .max_by_key(|p| p.segments.iter().filter(|s| s.is_some()).count())
            .map(|p| p.allow.clone())
    }
}

impl<E: Endpoint> Middleware<E> for AllowedMethods {
    type Output = AllowedMethodsEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        AllowedMethodsEndpoint {
            inner,
            methods: self.clone(),
        }
    }
}

/// The endpoint [`AllowedMethods`] wraps.
#[derive(Debug)]
pub struct AllowedMethodsEndpoint<E> {
    inner: E,
    methods: AllowedMethods,
}

impl<E: Endpoint> Endpoint for AllowedMethodsEndpoint<E> {
    type Output = Response;

    // Not an `async fn`: the inner future with a closure mapping its answer adds only the
    // URI to the request's future.
    fn call(&self, req: Request) -> impl Future<Output = Result<Self::Output>> + Send {
        // The URI is reference-counted: keeping it costs no copy of the path.
        let uri = req.uri().clone();
        self.inner.call(req).map(move |result| {
            let mut response = match result {
                Ok(output) => output.into_response(),
                Err(err) if err.status() == StatusCode::METHOD_NOT_ALLOWED => {
                    let mut response = crate::error::render(&err);
                    // The route label of the request's metrics and log line comes with it.
                    if let Some(pattern) = err.data::<PathPattern>() {
                        response.set_data(pattern.clone());
                    }
                    response
                }
                Err(err) => return Err(err),
            };
            if response.status() == StatusCode::METHOD_NOT_ALLOWED
                && let Some(allow) = self.methods.allow(uri.path())
            {
                response.headers_mut().insert(header::ALLOW, allow);
            }
            Ok(response)
        })
    }
}
