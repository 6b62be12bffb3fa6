//! The top of the URL space: `/api` and everything under it, and `/metrics`, go straight to
//! the API endpoint; the rest (Swagger UI, the spec, the root) to a small router.
//!
//! poem's router would do the same, but a nested endpoint passes through six of poem's
//! `async fn` wrappers (router, box, response mapping, nest, `Arc`, box), each holding copies
//! of the request in a future that is copied whole when boxed, and rebuilds the URI of every
//! request (issue 20, `stack_overhead` bench).

use futures_util::FutureExt;
use futures_util::future::Either;
use poem::endpoint::{BoxEndpoint, DynEndpoint};
use poem::{Endpoint, IntoResponse, Request, Response, Result};

/// The API endpoint and the router for everything else.
pub struct Site<R> {
    /// poem-openapi's endpoint, boxed as poem-openapi builds it.
    api: BoxEndpoint<'static, Response>,
    rest: R,
}

impl<R> std::fmt::Debug for Site<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Site").finish_non_exhaustive()
    }
}

impl<R> Site<R> {
    /// `api` serves `/api`, `/api/…` and `/metrics`; `rest` every other path.
    pub fn new(api: BoxEndpoint<'static, Response>, rest: R) -> Self {
        Self { api, rest }
    }
}

/// Whether `path` belongs to the API endpoint.
fn is_api(path: &str) -> bool {
    path == "/metrics"
        || path
            .strip_prefix("/api")
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

fn into_response<T: IntoResponse>(result: Result<T>) -> Result<Response> {
    result.map(IntoResponse::into_response)
}

impl<R: Endpoint> Endpoint for Site<R> {
    type Output = Response;

    fn call(&self, req: Request) -> impl Future<Output = Result<Self::Output>> + Send {
        if is_api(req.uri().path()) {
            // The boxed endpoint's own future, without the `async fn` poem wraps a box in.
            Either::Left(DynEndpoint::call(self.api.as_ref(), req))
        } else {
            // Boxed: poem's router future is 2 KB, and these paths are rare.
            Either::Right(Box::pin(self.rest.call(req).map(into_response)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_paths_are_the_api_prefix_and_metrics_only() {
        for path in ["/api", "/api/", "/api/health/live", "/metrics"] {
            assert!(is_api(path), "{path}");
        }
        for path in [
            "/",
            "/apis",
            "/apix/y",
            "/docs",
            "/openapi.json",
            "/metrics/x",
            "/x/api",
        ] {
            assert!(!is_api(path), "{path}");
        }
    }
}
