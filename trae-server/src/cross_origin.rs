//! Which cross-origin requests reach the API: the server's own origin and requests without an
//! `Origin` always do; another origin only when `TRAE_CORS_ORIGINS` lists it (poem's CORS
//! middleware, inside this one, then adds the CORS headers or refuses it); with no origins
//! configured, any other origin gets 403.
//!
//! Without this, a server with no origins configured would serve a foreign page's requests
//! and rely on the browser alone to hide the answers; a refusal also stops the side effects
//! of "simple" cross-origin POSTs, which browsers send without a preflight.

use poem::http::{StatusCode, header};
use poem::{Endpoint, Middleware, Request, Result};

use crate::ApiError;

/// Middleware admitting same-origin requests and, when `configured`, leaving other origins to
/// the CORS middleware it wraps.
#[derive(Debug, Clone, Copy)]
pub struct CrossOrigin {
    configured: bool,
}

impl CrossOrigin {
    /// A guard for a server with (`configured`) or without allowed origins.
    pub fn new(configured: bool) -> Self {
        Self { configured }
    }
}

impl<E: Endpoint> Middleware<E> for CrossOrigin {
    type Output = CrossOriginEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        CrossOriginEndpoint {
            inner,
            configured: self.configured,
        }
    }
}

/// The endpoint [`CrossOrigin`] wraps.
#[derive(Debug)]
pub struct CrossOriginEndpoint<E> {
    inner: E,
    configured: bool,
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

impl<E: Endpoint> Endpoint for CrossOriginEndpoint<E> {
    type Output = E::Output;

    async fn call(&self, mut req: Request) -> Result<Self::Output> {
        let Some(origin) = req.headers().get(header::ORIGIN) else {
            return self.inner.call(req).await;
        };
        let same = origin.to_str().is_ok_and(|o| same_origin(&req, o));
        if same {
            // Not a cross-origin request: the CORS middleware, which would refuse an origin
            // it does not list, is not asked.
            req.headers_mut().remove(header::ORIGIN);
        } else if !self.configured {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "cross-origin requests are refused: this origin is not in TRAE_CORS_ORIGINS",
            )
            .into());
        }
        self.inner.call(req).await
    }
}
