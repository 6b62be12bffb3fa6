//! Which cross-origin requests reach the API: the server's own origin and requests without an
//! `Origin` always do; another origin only when `TRAE_CORS_ORIGINS` lists it (poem's CORS
//! middleware, held here, then adds the CORS headers or refuses it); with no origins
//! configured, any other origin gets 403.
//!
//! Without this, a server with no origins configured would serve a foreign page's requests
//! and rely on the browser alone to hide the answers; a refusal also stops the side effects
//! of "simple" cross-origin POSTs, which browsers send without a preflight.

use std::sync::Arc;

use futures_util::FutureExt;
use futures_util::future::Either;
use poem::http::{StatusCode, header};
use poem::middleware::{Cors, CorsEndpoint};
use poem::{Endpoint, IntoResponse, Middleware, Request, Response, Result};

use crate::ApiError;

/// Middleware admitting same-origin requests and handing other origins to `cors` when the
/// server lists allowed origins.
pub struct CrossOrigin {
    cors: Option<Cors>,
}

impl std::fmt::Debug for CrossOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CrossOrigin")
            .field("cors", &self.cors.is_some())
            .finish()
    }
}

impl CrossOrigin {
    /// A guard for a server with (`Some`, the CORS policy for the listed origins) or without
    /// allowed origins.
    pub fn new(cors: Option<Cors>) -> Self {
        Self { cors }
    }
}

impl<E: Endpoint> Middleware<E> for CrossOrigin {
    type Output = CrossOriginEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        let inner = Arc::new(inner);
        CrossOriginEndpoint {
            cors: self
                .cors
                .as_ref()
                .map(|cors| cors.transform(Arc::clone(&inner))),
            inner,
        }
    }
}

/// The endpoint [`CrossOrigin`] wraps.
pub struct CrossOriginEndpoint<E> {
    inner: Arc<E>,
    /// The CORS middleware over the same inner endpoint, for origins that are not the
    /// server's own when some are allowed.
    cors: Option<CorsEndpoint<Arc<E>>>,
}

impl<E> std::fmt::Debug for CrossOriginEndpoint<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CrossOriginEndpoint")
            .field("cors", &self.cors.is_some())
            .finish_non_exhaustive()
    }
}

/// Whether `req` comes from the origin it is addressed to: its `Origin`, without the scheme,
/// is the `Host` it was sent to. The scheme is not compared because behind a TLS-terminating
/// proxy the server cannot know it; host and port are what a foreign page cannot fake.
fn same_origin(req: &Request, origin: &str) -> bool {
    let authority = origin
        .split_once("://")
        .map_or(origin, |(_, rest)| rest)
        .trim_end_matches('/');
    req.headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|host| !host.is_empty() && host.eq_ignore_ascii_case(authority))
}

/// Where a request goes.
enum Admission {
    /// Straight to the inner endpoint: no `Origin`, or the server's own.
    Inner,
    /// Through CORS, which allows the listed origins and refuses the rest.
    Cors,
}

impl<E> CrossOriginEndpoint<E> {
    /// Admits `req` (dropping an `Origin` that is its own) or refuses it.
    fn admit(&self, req: &mut Request) -> Result<Admission> {
        let Some(origin) = req.headers().get(header::ORIGIN) else {
            return Ok(Admission::Inner);
        };
        if origin.to_str().is_ok_and(|o| same_origin(req, o)) {
            // Not a cross-origin request: the CORS middleware, which would refuse an origin
            // it does not list, is not asked.
            req.headers_mut().remove(header::ORIGIN);
            return Ok(Admission::Inner);
        }
        if self.cors.is_none() {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "cross-origin requests are refused: this origin is not in TRAE_CORS_ORIGINS",
            )
            .into());
        }
        Ok(Admission::Cors)
    }
}

impl<E: Endpoint> Endpoint for CrossOriginEndpoint<E> {
    type Output = Response;

    // Not an `async fn`: an `async fn` layer holds copies of the request (about 1 KB) in a
    // future that is copied whole when boxed; passing the inner future on adds nothing.
    fn call(&self, mut req: Request) -> impl Future<Output = Result<Self::Output>> + Send {
        match (self.admit(&mut req), &self.cors) {
            (Ok(Admission::Cors), Some(cors)) => Either::Left(cors.call(req)),
            (Ok(_), _) => Either::Right(Either::Left(
                // `E`'s own future: poem's impl for `Arc` is an `async fn` wrapper.
                E::call(&self.inner, req).map(|result| result.map(IntoResponse::into_response)),
            )),
            (Err(refusal), _) => Either::Right(Either::Right(std::future::ready(Err(refusal)))),
        }
    }
}
